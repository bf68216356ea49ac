-- Public awards as svc-notify saw them, for the weekly digest.
CREATE TABLE recognition (
  org             text NOT NULL,
  award_id        text NOT NULL,
  recipient_id    text NOT NULL,
  recipient_team  text NOT NULL DEFAULT '',
  badge_id        text NOT NULL,
  badge_name      text NOT NULL,
  points          bigint NOT NULL,
  justification   text NOT NULL DEFAULT '',
  granted_at      timestamptz NOT NULL,
  revoked         boolean NOT NULL DEFAULT false,
  PRIMARY KEY (org, award_id)
);
CREATE INDEX recognition_week ON recognition (org, granted_at);
CREATE INDEX recognition_holder ON recognition (org, recipient_id, badge_id, granted_at);

CREATE TABLE digest_sent (
  org      text NOT NULL,
  week     text NOT NULL,
  sent_at  timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (org, week)
);
