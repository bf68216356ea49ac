-- The runtime's outbox: calls to other services, written in the same
-- transaction as the state change they announce (see common/outbox.h).
CREATE TABLE IF NOT EXISTS outbox (
  id              bigserial PRIMARY KEY,
  event_id        uuid NOT NULL UNIQUE DEFAULT gen_random_uuid(),
  target          text NOT NULL,
  method          text NOT NULL,
  org             text NOT NULL,
  payload         bytea NOT NULL,
  created_at      timestamptz NOT NULL DEFAULT now(),
  next_attempt_at timestamptz NOT NULL DEFAULT now(),
  attempts        integer NOT NULL DEFAULT 0,
  last_error      text,
  delivered_at    timestamptz,
  dead_at         timestamptz
);
CREATE INDEX IF NOT EXISTS outbox_due ON outbox (next_attempt_at, id)
  WHERE delivered_at IS NULL AND dead_at IS NULL;
