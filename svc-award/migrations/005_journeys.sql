-- svc-award: badge journeys, ordered steps shown on profiles.

CREATE TABLE journey (
  id               uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  org              text NOT NULL,
  name             text NOT NULL,
  description      text NOT NULL DEFAULT '',
  team             text NOT NULL DEFAULT '',
  min_tenure_days  integer NOT NULL DEFAULT 0,
  max_tenure_days  integer NOT NULL DEFAULT 0,
  active           boolean NOT NULL DEFAULT true,
  created_at       timestamptz NOT NULL DEFAULT clock_timestamp(),
  updated_at       timestamptz NOT NULL DEFAULT clock_timestamp()
);
CREATE INDEX journey_org ON journey (org, created_at, id);

CREATE TABLE journey_step (
  journey_id      uuid NOT NULL REFERENCES journey (id) ON DELETE CASCADE,
  position        integer NOT NULL,
  badge_id        text NOT NULL DEFAULT '',
  rule_id         text NOT NULL DEFAULT '',
  signal_rule_id  text NOT NULL DEFAULT '',
  title           text NOT NULL DEFAULT '',
  PRIMARY KEY (journey_id, position)
);
