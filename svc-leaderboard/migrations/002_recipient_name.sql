-- Display data for the boards: the recipient's name as of each award.
ALTER TABLE ledger ADD COLUMN recipient_name text NOT NULL DEFAULT '';
