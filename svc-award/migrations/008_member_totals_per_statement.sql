-- A grant's totals added once per statement, not once per row.
--
-- The row trigger of 006 ran a PL/pgSQL function and, from it, a SQL
-- function (with its own search_path) for every award inserted: a batch of
-- grants paid one upsert per award. On the same Postgres, pgbench inserting
-- 26 awards a statement ran 300-330 statements a second with it, 840-860
-- with no trigger, and 540 with this one: the statement's new rows summed by
-- member and badge, then one upsert in key order (so two batches touching the
-- same members lock their totals in the same order). Revokes and deletes
-- (one row each) keep the row trigger: transition tables cannot be had for
-- an UPDATE OF a column list.
DROP TRIGGER award_totals ON award;
CREATE TRIGGER award_totals AFTER DELETE OR UPDATE OF revoked_at, points, recipient_id, badge_id, org
  ON award FOR EACH ROW EXECUTE FUNCTION award_totals();

CREATE FUNCTION award_totals_added() RETURNS trigger
LANGUAGE plpgsql SET search_path FROM CURRENT AS $$
BEGIN
  INSERT INTO member_badge_total AS t (org, member_id, badge_id, awards, points)
  SELECT org, recipient_id, badge_id, count(*), sum(points) FROM added WHERE revoked_at IS NULL
  GROUP BY 1, 2, 3 ORDER BY 1, 2, 3
  ON CONFLICT (org, member_id, badge_id) DO UPDATE SET awards = t.awards + EXCLUDED.awards,
    points = t.points + EXCLUDED.points;
  RETURN NULL;
END
$$;

CREATE TRIGGER award_totals_added AFTER INSERT ON award REFERENCING NEW TABLE AS added
  FOR EACH STATEMENT EXECUTE FUNCTION award_totals_added();
