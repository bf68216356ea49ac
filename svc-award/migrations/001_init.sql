-- svc-award: the badge catalog, awards and milestone rules.

-- Orgs whose default badges exist (seeded once, lazily, on first use).
CREATE TABLE org_seeded (
  org        text PRIMARY KEY,
  seeded_at  timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE badge (
  org               text NOT NULL,
  id                text NOT NULL,
  name              text NOT NULL,
  description       text NOT NULL DEFAULT '',
  category          text NOT NULL DEFAULT '',
  criteria          text NOT NULL DEFAULT '',
  points            bigint NOT NULL DEFAULT 10,
  approval_policy   smallint NOT NULL DEFAULT 1,   -- 1 MANAGER_REVIEW, 2 AUTO
  active            boolean NOT NULL DEFAULT true,
  image_url         text NOT NULL DEFAULT '',
  cap_per_recipient integer NOT NULL DEFAULT 0,
  cap_per_team      integer NOT NULL DEFAULT 0,
  cap_period        smallint NOT NULL DEFAULT 0,   -- 0 none, 1 week, 2 month, 3 quarter, 4 year
  created_at        timestamptz NOT NULL DEFAULT now(),
  updated_at        timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (org, id)
);

CREATE TABLE rule (
  id              uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  org             text NOT NULL,
  name            text NOT NULL,
  kind            smallint NOT NULL,                -- 1 badge count, 2 category count, 3 points
  badge_id        text NOT NULL DEFAULT '',
  category        text NOT NULL DEFAULT '',
  threshold       bigint NOT NULL,
  window_days     integer NOT NULL DEFAULT 0,      -- 0: all time
  grant_badge_id  text NOT NULL,
  created_at      timestamptz NOT NULL DEFAULT clock_timestamp(),
  deleted_at      timestamptz,
  FOREIGN KEY (org, grant_badge_id) REFERENCES badge (org, id)
);
CREATE INDEX rule_org ON rule (org, created_at, id) WHERE deleted_at IS NULL;

CREATE TABLE award (
  id                 uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  org                text NOT NULL,
  badge_id           text NOT NULL,
  recipient_id       text NOT NULL,
  recipient_team     text NOT NULL DEFAULT '',
  giver_id           text NOT NULL DEFAULT '',
  giver_team         text NOT NULL DEFAULT '',
  source_id          text NOT NULL,               -- nomination id, or rule:<id> for milestones
  justification      text NOT NULL DEFAULT '',
  public             boolean NOT NULL DEFAULT true,
  points             bigint NOT NULL,
  milestone_rule_id  uuid REFERENCES rule (id),
  granted_at         timestamptz NOT NULL DEFAULT clock_timestamp(),
  revoked_at         timestamptz,
  revoke_reason      text,
  -- Exactly one award per (source, recipient), ever: the idempotency of GrantAward
  -- and the "a milestone is never granted twice" rule both rest on this.
  UNIQUE (org, source_id, recipient_id),
  FOREIGN KEY (org, badge_id) REFERENCES badge (org, id)
);
CREATE INDEX award_feed ON award (org, granted_at DESC, id DESC);
CREATE INDEX award_recipient ON award (org, recipient_id, granted_at DESC);
CREATE INDEX award_badge ON award (org, badge_id, granted_at DESC);
CREATE INDEX award_team ON award (org, recipient_team, granted_at DESC);
