-- A profile in one round trip, planned once per connection.
--
-- The sessions run with plan_cache_mode = force_custom_plan (common/pg.c),
-- so each execution of the two profile queries was planned again: under
-- GetProfile load pg_stat_statements had 1.7 ms of planning against 0.4 ms
-- of execution per profile, and pgbench ran the awards query at 4 600 tps
-- custom-planned against 20 400 generic on the same data. Their plans do not
-- depend on the values (an index lookup of one member in one org), so this
-- function runs them, as one statement, with a cached generic plan, the SET
-- below holding only while it runs.
--
-- Rows, in the order of the branches of one UNION ALL (an Append of tiny
-- index scans: never a parallel one), each kind in its own order (as the
-- two queries before it did), told apart by the column "kind":
--   'f' one row: awards = 1 rules | 2 signal rules | 4 journeys (the org has any);
--   't' the member's totals by badge (member_badge_total), most awarded first:
--       badge_id, badge_name, points, awards;
--   'r' the |nrecent| latest live awards, 'm' up to |nms| live milestones:
--       the award's columns, as store.c's AWARD_COLS.
CREATE FUNCTION profile_read(o text, m text, nrecent int, nms int)
RETURNS TABLE (id uuid, badge_id text, badge_name text, category text, points bigint, recipient_id text,
               recipient_team text, giver_id text, giver_team text, source_id text, justification text,
               public boolean, milestone boolean, granted_ms bigint, revoked boolean, revoke_reason text,
               revoked_ms bigint, granted_us bigint, recipient_name text, evidence text, kind "char",
               awards bigint)
LANGUAGE plpgsql STABLE SET search_path FROM CURRENT SET plan_cache_mode = force_generic_plan AS $$
#variable_conflict use_column
BEGIN
  RETURN QUERY (SELECT NULL::uuid, NULL, NULL, NULL, NULL::bigint, NULL, NULL, NULL, NULL, NULL, NULL, NULL::boolean,
    NULL::boolean, NULL::bigint, NULL::boolean, NULL, NULL::bigint, NULL::bigint, NULL, NULL, 'f'::"char",
    ((EXISTS (SELECT 1 FROM rule r WHERE r.org = o AND r.deleted_at IS NULL))::int
    | (EXISTS (SELECT 1 FROM signal_rule s WHERE s.org = o AND s.deleted_at IS NULL))::int * 2
    | (EXISTS (SELECT 1 FROM journey j WHERE j.org = o AND j.active))::int * 4)::bigint)
  UNION ALL (SELECT NULL::uuid, t.badge_id, b.name, NULL, t.points, NULL, NULL, NULL, NULL, NULL, NULL,
    NULL::boolean, NULL::boolean, NULL::bigint, NULL::boolean, NULL, NULL::bigint, NULL::bigint, NULL, NULL,
    't'::"char", t.awards
    FROM member_badge_total t JOIN badge b ON b.org = t.org AND b.id = t.badge_id
    WHERE t.org = o AND t.member_id = m AND t.awards > 0 ORDER BY t.awards DESC, t.badge_id)
  UNION ALL (SELECT x.* FROM (VALUES ('r'::"char", nrecent), ('m'::"char", nms)) k (kind, lim)
    CROSS JOIN LATERAL (SELECT a.id, a.badge_id, b.name, b.category, a.points, a.recipient_id, a.recipient_team,
      a.giver_id, a.giver_team, a.source_id, a.justification, a.public, a.milestone_rule_id IS NOT NULL,
      (extract(epoch from a.granted_at) * 1000)::bigint, a.revoked_at IS NOT NULL, coalesce(a.revoke_reason, ''),
      coalesce((extract(epoch from a.revoked_at) * 1000)::bigint, 0), (extract(epoch from a.granted_at) * 1000000)::bigint,
      a.recipient_name, array_to_string(a.evidence, ' '), k.kind, NULL::bigint
      FROM award a JOIN badge b ON b.org = a.org AND b.id = a.badge_id
      WHERE a.org = o AND a.recipient_id = m AND a.revoked_at IS NULL
        AND (k.kind = 'r' OR a.milestone_rule_id IS NOT NULL)
      ORDER BY a.granted_at DESC, a.id DESC LIMIT k.lim) x);
END
$$;
