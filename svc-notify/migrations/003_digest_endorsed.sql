-- The digest's "most endorsed": public nominations as approved (with the
-- endorsements they gathered), and which nomination each award came from, so
-- a team's digest can pick the nominations of its members.
ALTER TABLE recognition ADD COLUMN source_id text NOT NULL DEFAULT '';
CREATE INDEX recognition_source ON recognition (org, source_id);

CREATE TABLE endorsed (
  org            text NOT NULL,
  nomination_id  text NOT NULL,
  badge_name     text NOT NULL,
  nominee_ids    text[] NOT NULL,
  endorsements   bigint NOT NULL,
  justification  text NOT NULL DEFAULT '',
  approved_at    timestamptz NOT NULL,
  PRIMARY KEY (org, nomination_id)
);
CREATE INDEX endorsed_week ON endorsed (org, approved_at);
