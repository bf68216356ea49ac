-- One ReviewOverdue reminder per nomination.
CREATE TABLE overdue_reminder (
  nomination_id  uuid PRIMARY KEY REFERENCES nomination (id),
  sent_at        timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX nomination_pending_age ON nomination (created_at) WHERE status = 1;
