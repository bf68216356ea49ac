-- Nominees an approval did not turn into an award (the badge's cap was reached).
ALTER TABLE nomination ADD COLUMN not_awarded_ids text[] NOT NULL DEFAULT '{}';
