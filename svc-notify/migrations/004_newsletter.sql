-- The rendered newsletter and chat formats: each recognition keeps its badge's
-- category (the digest's chart of badges by category) and the recipient's
-- name as granted, each channel the
-- payload format it wants (json, slack, teams).
ALTER TABLE recognition ADD COLUMN category text NOT NULL DEFAULT '';
ALTER TABLE recognition ADD COLUMN recipient_name text NOT NULL DEFAULT '';
ALTER TABLE channel ADD COLUMN format text NOT NULL DEFAULT 'json';
