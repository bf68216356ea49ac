/* stats.c - participation analytics: who takes part, how reviews flow, and
 * the signs of popularity contests (reciprocal pairs) and of people the
 * programme misses (never recognised, remote vs office). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "check.h"
#include "nom.h"
#include "pg.h"
#include "pg_status.h"

#define DAY_MS (24LL * 3600 * 1000)

/* All figures over nominations created in [$2, $3) of org $1, members of
 * team $4 when set (as nominees for recognition figures). */
static const char *stats_sql =
    "WITH w AS (SELECT * FROM nomination n WHERE n.org = $1 "
    "  AND n.created_at >= to_timestamp($2::bigint / 1000.0) AND n.created_at < to_timestamp($3::bigint / 1000.0) "
    "  AND n.status <> 4 AND ($4 = '' OR EXISTS (SELECT 1 FROM nominee e JOIN member m ON m.org = e.org "
    "  AND m.user_id = e.user_id WHERE e.nomination_id = n.id AND m.team = $4))), "
    "e AS (SELECT w.*, x.user_id AS nominee, x.team AS nominee_team FROM w JOIN nominee x ON x.nomination_id = w.id), "
    "act AS (SELECT * FROM member WHERE org = $1 AND active AND ($4 = '' OR team = $4)), "
    "rec AS (SELECT DISTINCT nominee FROM e WHERE status = 2) "
    "SELECT (SELECT count(*) FROM w), (SELECT count(*) FROM act), "
    "  (SELECT count(DISTINCT nominator_id) FROM w), (SELECT count(DISTINCT nominee) FROM e), "
    "  (SELECT count(*) FILTER (WHERE status = 2) FROM w), (SELECT count(*) FILTER (WHERE status IN (2, 3)) FROM w), "
    "  (SELECT coalesce(percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch from decided_at - created_at) / 3600), 0) "
    "     FROM w WHERE status IN (2, 3)), "
    "  (SELECT count(*) FROM (SELECT DISTINCT least(a.nominator_id, a.nominee), greatest(a.nominator_id, a.nominee) "
    "     FROM e a JOIN e b ON a.nominator_id = b.nominee AND a.nominee = b.nominator_id) p), "
    "  (SELECT count(*) FROM act WHERE user_id NOT IN (SELECT nominee FROM rec)), "
    "  (SELECT coalesce(string_agg(user_id, ',' ORDER BY user_id), '') FROM (SELECT user_id FROM act "
    "     WHERE user_id NOT IN (SELECT nominee FROM rec) ORDER BY user_id LIMIT 50) s), "
    "  (SELECT count(*) FILTER (WHERE nominator_team <> '' AND nominee_team <> '' AND nominator_team <> nominee_team) FROM e), "
    "  (SELECT count(*) FILTER (WHERE nominator_team <> '' AND nominee_team <> '') FROM e), "
    "  (SELECT count(*) FILTER (WHERE m.remote) FROM e JOIN member m ON m.org = $1 AND m.user_id = e.nominee WHERE e.status = 2), "
    "  (SELECT count(*) FROM e WHERE status = 2), "
    "  (SELECT count(*) FILTER (WHERE remote) FROM act)";

static double share(int64_t a, int64_t b) { return b ? (double)a / (double)b : 0.0; }

int stats_participation(rpc_ctx *ctx, const void *req, void *resp) {
  const Accolade__V1__GetParticipationStatsRequest *r = req;
  Accolade__V1__ParticipationStats *out = resp;
  /* svc-notify's digest reads it as a service */
  if (rpc_require(ctx, ROLE_MANAGER | ROLE_ADMIN | ROLE_SERVICE) ||
      check_range(ctx, "start_time_ms", r->start_time_ms, 0, INT64_C(253402300799000)) ||
      check_range(ctx, "end_time_ms", r->end_time_ms, 0, INT64_C(253402300799000)) ||
      (*r->team && check_id(ctx, "team", r->team, 128)))
    return ctx->code;
  struct timespec now;
  clock_gettime(CLOCK_REALTIME, &now);
  int64_t end = r->end_time_ms ? r->end_time_ms : (int64_t)now.tv_sec * 1000 + now.tv_nsec / 1000000 + 1;
  int64_t start = r->start_time_ms ? r->start_time_ms : end - 30 * DAY_MS;
  if (start >= end) return rpc_fail(ctx, RPC_INVALID_ARGUMENT, "start_time_ms: must be before end_time_ms");
  if (end - start > 3 * 366 * DAY_MS) return rpc_fail(ctx, RPC_INVALID_ARGUMENT, "start_time_ms: at most 3 years");
  char s[24], e[24];
  snprintf(s, sizeof s, "%lld", (long long)start);
  snprintf(e, sizeof e, "%lld", (long long)end);
  const char *p[] = {ctx->id.org, s, e, r->team};
  PGresult *res;
  int rc = pg_query(&res, stats_sql, 4, p);
  if (rc) return pg_fail(ctx, rc, "participation stats");
  out->nominations = pg_int(res, 0, 0);
  out->active_members = pg_int(res, 0, 1);
  out->unique_nominators = pg_int(res, 0, 2);
  out->unique_nominees = pg_int(res, 0, 3);
  out->nominator_share = share(out->unique_nominators, out->active_members);
  out->nominee_share = share(out->unique_nominees, out->active_members);
  out->approval_rate = share(pg_int(res, 0, 4), pg_int(res, 0, 5));
  out->median_hours_to_review = strtod(pg_str(res, 0, 6), NULL);
  out->reciprocal_pairs = pg_int(res, 0, 7);
  out->never_recognized = pg_int(res, 0, 8);
  char *sample = arena_strdup(ctx->arena, pg_str(res, 0, 9)), *save = NULL;
  out->never_recognized_sample = ARENA_ARRAY(ctx->arena, char *, 51);
  for (char *t = strtok_r(sample, ",", &save); t; t = strtok_r(NULL, ",", &save))
    out->never_recognized_sample[out->n_never_recognized_sample++] = t;
  out->cross_team_share = share(pg_int(res, 0, 10), pg_int(res, 0, 11));
  out->remote_share_of_recognitions = share(pg_int(res, 0, 12), pg_int(res, 0, 13));
  out->remote_share_of_members = share(pg_int(res, 0, 14), out->active_members);
  PQclear(res);
  rc = pg_query(&res,
                "SELECT (extract(epoch from w) * 1000)::bigint, (SELECT count(*) FROM nomination n WHERE n.org = $1 "
                "AND n.status <> 4 AND n.created_at >= w AND n.created_at < w + interval '1 week' "
                "AND ($4 = '' OR EXISTS (SELECT 1 FROM nominee e JOIN member m ON m.org = e.org AND m.user_id = e.user_id "
                "WHERE e.nomination_id = n.id AND m.team = $4))) FROM generate_series(date_trunc('week', "
                "to_timestamp($2::bigint / 1000.0)), to_timestamp($3::bigint / 1000.0) - interval '1 microsecond', "
                "interval '1 week') w ORDER BY w",
                4, p);
  if (rc) return pg_fail(ctx, rc, "participation stats");
  out->n_weekly = (size_t)PQntuples(res);
  out->weekly = ARENA_ARRAY(ctx->arena, Accolade__V1__PeriodCount *, out->n_weekly + 1);
  for (size_t i = 0; i < out->n_weekly; i++) {
    Accolade__V1__PeriodCount *c = ARENA_NEW(ctx->arena, Accolade__V1__PeriodCount);
    accolade__v1__period_count__init(c);
    c->week_start_ms = pg_int(res, (int)i, 0);
    c->nominations = pg_int(res, (int)i, 1);
    out->weekly[i] = c;
  }
  PQclear(res);
  return RPC_OK;
}
