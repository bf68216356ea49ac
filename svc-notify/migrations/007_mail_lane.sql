-- Emails get a lane of their own (webhook.c): member mails (no channel) and
-- email channels' deliveries. Each lane's claim walks its own due rows: a
-- week's digest mails waiting do not lie in the webhooks' way.
CREATE INDEX delivery_webhook_due ON delivery (next_attempt_at) WHERE status = 'pending' AND channel_id IS NOT NULL;
CREATE INDEX delivery_mail_due ON delivery (next_attempt_at) WHERE status = 'pending' AND channel_id IS NULL;
