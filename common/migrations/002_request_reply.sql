-- The first answer of each mutating call a client sent with a request_id
-- (common/replay.h), so that its retry is answered the same.
CREATE TABLE IF NOT EXISTS request_reply (
  org        text NOT NULL,
  caller     text NOT NULL,
  method     text NOT NULL,
  request_id text NOT NULL,
  reply      bytea NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (org, caller, method, request_id)
);
CREATE INDEX IF NOT EXISTS request_reply_age ON request_reply (created_at);
