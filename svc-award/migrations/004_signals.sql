-- svc-award: signals (CRM and enablement events) and milestone rules over them.

CREATE TABLE signal (
  id              uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  org             text NOT NULL,
  source          text NOT NULL,
  external_id     text NOT NULL,
  member_id       text NOT NULL,
  kind            smallint NOT NULL,               -- SignalKind
  occurred_at     timestamptz NOT NULL,
  opportunity_id  text NOT NULL DEFAULT '',
  account         text NOT NULL DEFAULT '',
  amount_minor    bigint NOT NULL DEFAULT 0,
  currency        text NOT NULL DEFAULT '',
  cycle_days      integer NOT NULL DEFAULT 0,
  collaborators   text[] NOT NULL DEFAULT '{}',
  title           text NOT NULL DEFAULT '',
  link            text NOT NULL DEFAULT '',
  score           integer NOT NULL DEFAULT 0,
  period          text NOT NULL DEFAULT '',
  percent         double precision NOT NULL DEFAULT 0,
  start_date      date,
  ingested_at     timestamptz NOT NULL DEFAULT clock_timestamp(),
  -- A re-sent batch lands once: the idempotency of IngestSignals rests on this.
  UNIQUE (org, source, external_id)
);
CREATE INDEX signal_feed ON signal (org, occurred_at DESC, id DESC);
CREATE INDEX signal_member ON signal (org, member_id, kind, occurred_at DESC);

CREATE TABLE signal_rule (
  id                uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  org               text NOT NULL,
  name              text NOT NULL,
  signal_kind       smallint NOT NULL,
  aggregate         smallint NOT NULL,             -- 1 count, 2 sum of amount_minor
  threshold         bigint NOT NULL,
  period            smallint NOT NULL DEFAULT 0,   -- 0 none, 1 month, 2 quarter, 3 year
  window_days       integer NOT NULL DEFAULT 0,    -- rolling window when period = 0
  min_amount_minor  bigint NOT NULL DEFAULT 0,
  currency          text NOT NULL DEFAULT '',
  account           text NOT NULL DEFAULT '',
  grant_badge_id    text NOT NULL,
  created_at        timestamptz NOT NULL DEFAULT clock_timestamp(),
  deleted_at        timestamptz,
  FOREIGN KEY (org, grant_badge_id) REFERENCES badge (org, id)
);
CREATE INDEX signal_rule_org ON signal_rule (org, created_at, id) WHERE deleted_at IS NULL;
