/* stats.c - participation analytics: who takes part, how reviews flow, and
 * the signs of popularity contests (reciprocal pairs) and of people the
 * programme misses (never recognised, remote vs office). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "check.h"
#include "nom.h"
#include "pg_status.h"
#include "store.h"

#define DAY_MS (24LL * 3600 * 1000)

static double share(int64_t a, int64_t b) { return b ? (double)a / (double)b : 0.0; }

int stats_participation(rpc_ctx *ctx, const void *req, void *resp) {
  const Accolade__V1__GetParticipationStatsRequest *r = req;
  Accolade__V1__ParticipationStats *out = resp;
  /* svc-notify's digest reads it as a service */
  if (rpc_require(ctx, ROLE_MANAGER | ROLE_ADMIN | ROLE_SERVICE) ||
      check_time_range(ctx, r->start_time_ms, r->end_time_ms) ||
      (*r->team && check_id(ctx, "team", r->team, 128)))
    return ctx->code;
  struct timespec now;
  clock_gettime(CLOCK_REALTIME, &now);
  int64_t end = r->end_time_ms ? r->end_time_ms : (int64_t)now.tv_sec * 1000 + now.tv_nsec / 1000000 + 1;
  int64_t start = r->start_time_ms ? r->start_time_ms : end - 30 * DAY_MS;
  if (start >= end) return rpc_fail(ctx, RPC_INVALID_ARGUMENT, "start_time_ms: must be before end_time_ms");
  if (end - start > 3 * 366 * DAY_MS) return rpc_fail(ctx, RPC_INVALID_ARGUMENT, "start_time_ms: at most 3 years");
  store_participation_counts c = {0};
  int rc = store_participation(ctx, ctx->id.org, start, end, r->team, &c);
  if (rc) return pg_fail(ctx, rc, "participation stats");
  out->nominations = c.nominations;
  out->active_members = c.active_members;
  out->unique_nominators = c.nominators;
  out->unique_nominees = c.nominees;
  out->nominator_share = share(out->unique_nominators, out->active_members);
  out->nominee_share = share(out->unique_nominees, out->active_members);
  out->approval_rate = share(c.approved, c.decided);
  out->median_hours_to_review = c.median_hours_to_review;
  out->reciprocal_pairs = c.reciprocal_pairs;
  out->never_recognized = c.never_recognized;
  out->never_recognized_sample = c.never_recognized_sample;
  out->n_never_recognized_sample = c.n_never_recognized_sample;
  out->cross_team_share = share(c.cross_team, c.with_teams);
  out->remote_share_of_recognitions = share(c.remote_recognized, c.recognized);
  out->remote_share_of_members = share(c.remote_members, out->active_members);
  out->weekly = c.weekly;
  out->n_weekly = c.n_weekly;
  return RPC_OK;
}
