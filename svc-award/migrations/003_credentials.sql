-- Open Badges 3.0 credentials (credential.c).

-- The nomination's evidence links, carried into the credential's evidence.
ALTER TABLE award ADD COLUMN evidence text[] NOT NULL DEFAULT '{}';

-- Fixed the first time the award is exported, so every export of one award
-- names the recipient with the same salted hash and the same status bit.
ALTER TABLE award ADD COLUMN credential_salt text;
ALTER TABLE award ADD COLUMN status_index bigint;
CREATE UNIQUE INDEX award_status_index ON award (org, status_index) WHERE status_index IS NOT NULL;

-- The next free bit of each org's revocation status list.
CREATE TABLE credential_status_next (
  org   text PRIMARY KEY,
  next  bigint NOT NULL
);

-- The org as an issuer; no row: the defaults (credential.c).
CREATE TABLE issuer (
  org         text PRIMARY KEY,
  url         text NOT NULL,
  name        text NOT NULL,
  image_url   text NOT NULL DEFAULT '',
  email       text NOT NULL DEFAULT '',
  updated_at  timestamptz NOT NULL DEFAULT now()
);

-- A member's consent: no row means export allowed.
CREATE TABLE credential_pref (
  org              text NOT NULL,
  member           text NOT NULL,
  export_disabled  boolean NOT NULL,
  updated_at       timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (org, member)
);
