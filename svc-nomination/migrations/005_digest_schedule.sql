-- When svc-notify sends an org's weekly digest: a local day and hour in the
-- org's time zone (the defaults keep it at the start of the week, UTC).
ALTER TABLE org_settings ADD COLUMN time_zone text NOT NULL DEFAULT 'UTC';
ALTER TABLE org_settings ADD COLUMN digest_weekday integer NOT NULL DEFAULT 1;
ALTER TABLE org_settings ADD COLUMN digest_hour integer NOT NULL DEFAULT 0;
