-- The digest by email. A delivery goes to a channel (webhook, or an email
-- channel's list address) or, with no channel, to one member's address:
-- at most one per member, event ("digest:<week>") and org. digest_mailed
-- records the week an org's member mails were queued, once across replicas.
ALTER TABLE delivery ALTER COLUMN channel_id DROP NOT NULL;
ALTER TABLE delivery ADD COLUMN mail_to text NOT NULL DEFAULT '';
ALTER TABLE delivery ADD COLUMN user_id text NOT NULL DEFAULT '';
CREATE UNIQUE INDEX delivery_member_mail ON delivery (org, user_id, event_id) WHERE channel_id IS NULL;

CREATE TABLE digest_mailed (
  org        text NOT NULL,
  week       text NOT NULL,
  mailed_at  timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (org, week)
);
