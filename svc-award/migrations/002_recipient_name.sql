-- The recipient's display name when granted, carried to the leaderboards.
ALTER TABLE award ADD COLUMN recipient_name text NOT NULL DEFAULT '';
