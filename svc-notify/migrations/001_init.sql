-- svc-notify: inbox, preferences, channels and webhook deliveries.
CREATE TABLE event_seen (
  org       text NOT NULL,
  event_id  text NOT NULL,
  seen_at   timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (org, event_id)
);

CREATE TABLE inbox (
  id          bigserial PRIMARY KEY,
  org         text NOT NULL,
  user_id     text NOT NULL,
  event_id    text NOT NULL,
  kind        text NOT NULL,
  title       text NOT NULL,
  body        text NOT NULL,
  created_at  timestamptz NOT NULL DEFAULT now(),
  read_at     timestamptz,
  UNIQUE (org, user_id, event_id)
);
CREATE INDEX inbox_user ON inbox (org, user_id, id);
CREATE INDEX inbox_unread ON inbox (org, user_id) WHERE read_at IS NULL;

CREATE TABLE preferences (
  org            text NOT NULL,
  user_id        text NOT NULL,
  muted_kinds    text[] NOT NULL DEFAULT '{}',
  weekly_digest  boolean NOT NULL DEFAULT true,
  PRIMARY KEY (org, user_id)
);

CREATE TABLE channel (
  id          uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  org         text NOT NULL,
  url         text NOT NULL,
  secret      text NOT NULL,
  kinds       text[] NOT NULL DEFAULT '{}',
  team        text NOT NULL DEFAULT '',
  created_at  timestamptz NOT NULL DEFAULT clock_timestamp(),
  deleted_at  timestamptz
);
CREATE INDEX channel_org ON channel (org) WHERE deleted_at IS NULL;

CREATE TABLE delivery (
  id               bigserial PRIMARY KEY,
  org              text NOT NULL,
  channel_id       uuid NOT NULL REFERENCES channel (id),
  event_id         text NOT NULL,
  body             text NOT NULL,
  status           text NOT NULL DEFAULT 'pending',   -- pending, delivered, dead
  attempts         integer NOT NULL DEFAULT 0,
  next_attempt_at  timestamptz NOT NULL DEFAULT now(),
  last_error       text NOT NULL DEFAULT '',
  created_at       timestamptz NOT NULL DEFAULT now(),
  delivered_at     timestamptz,
  UNIQUE (channel_id, event_id)
);
CREATE INDEX delivery_due ON delivery (next_attempt_at) WHERE status = 'pending';
