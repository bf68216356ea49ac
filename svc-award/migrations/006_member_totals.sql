-- Per-member totals of live awards by badge, kept by a trigger on award (a
-- grant adds, a revoke or a delete takes away, in the same transaction), so
-- a profile reads one member's totals with one indexed lookup instead of
-- aggregating all their awards.
CREATE TABLE member_badge_total (
  org        text NOT NULL,
  member_id  text NOT NULL,
  badge_id   text NOT NULL,
  awards     bigint NOT NULL DEFAULT 0,
  points     bigint NOT NULL DEFAULT 0,
  PRIMARY KEY (org, member_id, badge_id)
);

CREATE FUNCTION member_badge_total_add(o text, m text, b text, n bigint, p bigint) RETURNS void
LANGUAGE sql SET search_path FROM CURRENT AS $$
  INSERT INTO member_badge_total AS t (org, member_id, badge_id, awards, points) VALUES (o, m, b, n, p)
  ON CONFLICT (org, member_id, badge_id) DO UPDATE SET awards = t.awards + n, points = t.points + p
$$;

CREATE FUNCTION award_totals() RETURNS trigger
LANGUAGE plpgsql SET search_path FROM CURRENT AS $$
BEGIN
  IF TG_OP <> 'INSERT' AND OLD.revoked_at IS NULL THEN
    PERFORM member_badge_total_add(OLD.org, OLD.recipient_id, OLD.badge_id, -1, -OLD.points);
  END IF;
  IF TG_OP <> 'DELETE' AND NEW.revoked_at IS NULL THEN
    PERFORM member_badge_total_add(NEW.org, NEW.recipient_id, NEW.badge_id, 1, NEW.points);
  END IF;
  RETURN NULL;
END
$$;

CREATE TRIGGER award_totals AFTER INSERT OR DELETE OR UPDATE OF revoked_at, points, recipient_id, badge_id, org
  ON award FOR EACH ROW EXECUTE FUNCTION award_totals();

INSERT INTO member_badge_total (org, member_id, badge_id, awards, points)
SELECT org, recipient_id, badge_id, count(*), sum(points) FROM award WHERE revoked_at IS NULL GROUP BY 1, 2, 3;
