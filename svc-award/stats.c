/* stats.c - GetAwardStats: distribution, trend, and the signs of badge
 * inflation (weekly trend) and popularity contests (concentration: top-10%
 * share and Gini of points across recipients; cross-team share). */
#include "award.h"
#include "check.h"
#include "pg.h"
#include "pg_status.h"
#include "rpc.h"
#include "stats_math.h"
#include "store.h"

#include <time.h>

#define WEEK_MS (7LL * 24 * 3600 * 1000)

int stats_get(rpc_ctx *ctx, const void *req, void *resp) {
  const Accolade__V1__GetAwardStatsRequest *r = req;
  Accolade__V1__AwardStats *out = resp;
  if (award_begin(ctx, ROLE_MANAGER | ROLE_ADMIN)) return ctx->code;
  struct timespec now;
  clock_gettime(CLOCK_REALTIME, &now);
  int64_t end = r->end_time_ms ? r->end_time_ms : (int64_t)now.tv_sec * 1000 + now.tv_nsec / 1000000 + 1;
  int64_t start = r->start_time_ms ? r->start_time_ms : end - 12 * WEEK_MS;
  if (check_time_range(ctx, r->start_time_ms, r->end_time_ms) ||
      (*r->team && check_id(ctx, "team", r->team, 128)))
    return ctx->code;
  if (start >= end) return rpc_fail(ctx, RPC_INVALID_ARGUMENT, "start_time_ms: must be before end_time_ms");
  if (end - start > 3 * 366 * 24 * 3600 * 1000LL)
    return rpc_fail(ctx, RPC_INVALID_ARGUMENT, "start_time_ms: the range may span at most 3 years");
  const char *org = ctx->id.org;
  int rc = store_stats_by(ctx, org, STATS_BY_BADGE, start, end, r->team, &out->by_badge, &out->n_by_badge);
  if (!rc) rc = store_stats_by(ctx, org, STATS_BY_CATEGORY, start, end, r->team, &out->by_category, &out->n_by_category);
  if (!rc) rc = store_stats_by(ctx, org, STATS_BY_TEAM, start, end, r->team, &out->by_team, &out->n_by_team);
  if (!rc) rc = store_stats_weekly(ctx, org, start, end, r->team, &out->weekly, &out->n_weekly);
  double *points = NULL;
  size_t n = 0;
  int64_t cross = 0, with_teams = 0;
  if (!rc) rc = store_stats_points(ctx, org, start, end, r->team, &points, &n, &out->total_awards, &cross, &with_teams);
  if (rc) return pg_fail(ctx, rc, "award stats");
  out->unique_recipients = (int64_t)n;
  for (size_t i = 0; i < n; i++) out->total_points += (int64_t)points[i];
  out->gini = stats_gini(points, n);
  out->top_decile_points_share = stats_top_share(points, n, 0.10);
  out->cross_team_share = with_teams ? (double)cross / (double)with_teams : 0.0;
  return RPC_OK;
}
