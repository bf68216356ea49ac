-- Fewer index entries per outbox row.
--
-- A row is written, leased and marked delivered: three versions of it, and
-- each version whose indexed columns changed is a new entry in every index.
-- The lease moved the row in outbox_due (it pushed next_attempt_at), so the
-- three versions made eight index entries (the key, event_id's, and the due
-- index twice), and the claims walked the lease's dead entries until
-- vacuum.
--
-- event_id: nothing reads it (a delivered call's idempotence is the event id
-- in its payload), so it loses its unique index and its default; the column
-- stays, NULL from now on, for binaries of the previous release that still
-- name it during a rolling upgrade.
ALTER TABLE outbox DROP CONSTRAINT IF EXISTS outbox_event_id_key;
ALTER TABLE outbox ALTER COLUMN event_id DROP NOT NULL, ALTER COLUMN event_id DROP DEFAULT;

-- The lease: a column of its own, in no index, so leasing a row is a
-- heap-only update when its page has room (fillfactor 70 leaves it some).
-- A leased row is not claimed again before leased_until; a failed delivery
-- clears it (its next attempt waits on next_attempt_at, as before).
ALTER TABLE outbox ADD COLUMN IF NOT EXISTS leased_until timestamptz;
ALTER TABLE outbox SET (fillfactor = 70);
