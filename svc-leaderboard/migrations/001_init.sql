-- svc-leaderboard: the ledger, the source of truth the boards derive from.
CREATE TABLE ledger (
  award_id         text PRIMARY KEY,
  org              text NOT NULL,
  recipient_id     text NOT NULL DEFAULT '',
  recipient_team   text NOT NULL DEFAULT '',
  badge_id         text NOT NULL DEFAULT '',
  category         text NOT NULL DEFAULT '',
  points           bigint NOT NULL DEFAULT 0,
  granted_at_ms    bigint NOT NULL DEFAULT 0,
  recorded         boolean NOT NULL DEFAULT true,   -- false: a retraction arrived first
  retracted_at     timestamptz,
  applied          boolean NOT NULL DEFAULT false,  -- counted on the Redis boards
  retract_applied  boolean NOT NULL DEFAULT false,  -- taken off the Redis boards
  created_at       timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX ledger_org ON ledger (org);
CREATE INDEX ledger_pending ON ledger (org)
  WHERE recorded AND (NOT applied OR (retracted_at IS NOT NULL AND NOT retract_applied));
