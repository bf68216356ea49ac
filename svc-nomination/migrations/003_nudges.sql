-- Nudges: members who have not recognised anyone for nudge_after_weeks get
-- one nudge a week (0 turns them off).
ALTER TABLE org_settings ADD COLUMN nudge_after_weeks integer NOT NULL DEFAULT 4;
CREATE TABLE nudge_sent (
  org      text NOT NULL,
  week     text NOT NULL,
  members  integer NOT NULL,
  sent_at  timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (org, week)
);
