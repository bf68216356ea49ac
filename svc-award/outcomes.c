/* outcomes.c - GetOutcomeStats: recognized members' signals next to others'
 * (see signal.h and store_signal.h for the definitions). */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "award.h"
#include "check.h"
#include "directory.h"
#include "pg.h"
#include "pg_status.h"
#include "signal.h"
#include "store_signal.h"

#define DAY_MS INT64_C(86400000)
#define MAX_MS INT64_C(253402300799000)

static void figure(rpc_ctx *ctx, Accolade__V1__OutcomeStats *out, const char *group, const char *metric, double value,
                   int64_t n, int always) {
  Accolade__V1__OutcomeFigure *f = ARENA_NEW(ctx->arena, Accolade__V1__OutcomeFigure);
  accolade__v1__outcome_figure__init(f);
  f->group = (char *)group;
  f->metric = (char *)metric;
  f->n = n;
  f->enough = always || n >= OUTCOME_MIN_N;
  f->value = f->enough ? value : 0;
  f->text = f->enough ? arena_printf(ctx->arena, "%.2f (n = %lld)", value, (long long)n)
                      : arena_printf(ctx->arena, "n = %lld: fewer than %d, too few to show", (long long)n,
                                     OUTCOME_MIN_N);
  out->figures[out->n_figures++] = f;
}

static double ratio(int64_t a, int64_t b) { return b ? (double)a / (double)b : 0; }

/* scope fills the filter's members for a team (the directory), checking who may ask. */
static int scope(rpc_ctx *ctx, const char *team, outcome_filter *f) {
  if (ctx->id.role == ROLE_MANAGER) {
    if (!*ctx->id.team) return rpc_fail(ctx, RPC_PERMISSION_DENIED, "team: managers see their own team; yours is not known");
    if (!*team) team = ctx->id.team;
    if (strcmp(team, ctx->id.team)) return rpc_fail(ctx, RPC_PERMISSION_DENIED, "team: managers see their own team only");
  }
  if (!*team) return RPC_OK;
  Accolade__V1__Member **m;
  size_t n;
  if (dir_list(ctx, "team", team, &m, &n)) return ctx->code;
  const char **ids = ARENA_ARRAY(ctx->arena, const char *, n + 1);
  for (size_t i = 0; i < n; i++) ids[i] = m[i]->member_id;
  f->has_members = 1;
  f->members = ids;
  f->n_members = n;
  return RPC_OK;
}

int signals_outcomes(rpc_ctx *ctx, const void *req, void *resp) {
  const Accolade__V1__GetOutcomeStatsRequest *r = req;
  Accolade__V1__OutcomeStats *out = resp;
  if (award_begin(ctx, ROLE_MANAGER | ROLE_ADMIN)) return ctx->code;
  if (check_time_range(ctx, r->start_time_ms, r->end_time_ms) ||
      (*r->badge_id && check_slug(ctx, "badge_id", r->badge_id)) || check_len(ctx, "category", r->category, 0, 60) ||
      (*r->team && check_id(ctx, "team", r->team, 128)))
    return ctx->code;
  if (*r->currency && (strlen(r->currency) != 3 || strspn(r->currency, "ABCDEFGHIJKLMNOPQRSTUVWXYZ") != 3))
    return rpc_fail(ctx, RPC_INVALID_ARGUMENT, "currency: an ISO 4217 code such as USD");
  outcome_filter f = {.badge_id = r->badge_id, .category = r->category, .currency = *r->currency ? r->currency : "USD"};
  f.end_ms = r->end_time_ms;
  if (!f.end_ms) {
    struct timespec t;
    clock_gettime(CLOCK_REALTIME, &t);
    f.end_ms = (int64_t)t.tv_sec * 1000 + t.tv_nsec / 1000000;
  }
  f.start_ms = r->start_time_ms ? r->start_time_ms : f.end_ms - 180 * DAY_MS;
  if (f.start_ms >= f.end_ms) return rpc_fail(ctx, RPC_INVALID_ARGUMENT, "start_time_ms: must be before end_time_ms");
  if (f.end_ms - f.start_ms > 3660 * DAY_MS)
    return rpc_fail(ctx, RPC_INVALID_ARGUMENT, "start_time_ms: a period of at most 3660 days");
  if (scope(ctx, r->team, &f)) return ctx->code;
  outcome_window w[4];
  outcome_ramp ramp30[2], ramp60[2];
  outcome_departures dep[2];
  int rc = sig_store_outcome_windows(ctx->id.org, &f, w);
  if (!rc) rc = sig_store_outcome_ramp(ctx->id.org, &f, 30, ramp30);
  if (!rc) rc = sig_store_outcome_ramp(ctx->id.org, &f, 60, ramp60);
  if (!rc) rc = sig_store_outcome_departures(ctx->id.org, &f, dep);
  if (rc) return pg_fail(ctx, rc, "outcome stats");
  out->note = "Correlations, not causes: recognized members may differ from the others in ways these figures do not "
              "capture. Each figure carries its n; rates and averages with n < 30 are not shown.";
  out->start_time_ms = f.start_ms;
  out->end_time_ms = f.end_ms;
  out->currency = (char *)f.currency;
  out->recognized_members = w[2].members;
  out->other_members = w[0].members;
  out->figures = ARENA_ARRAY(ctx->arena, Accolade__V1__OutcomeFigure *, 40);
  static const char *const groups[4] = {"not_recognized_before", "not_recognized_after", "recognized_before",
                                        "recognized_after"};
  for (int g = 0; g < 4; g++) {
    const outcome_window *x = &w[g];
    figure(ctx, out, groups[g], "win_rate_percent", 100 * ratio(x->won, x->won + x->lost), x->won + x->lost, 0);
    figure(ctx, out, groups[g], "avg_deal_size_minor", x->avg_amount, x->won, 0);
    figure(ctx, out, groups[g], "avg_cycle_days", x->avg_cycle, x->won, 0);
    figure(ctx, out, groups[g], "playbooks_per_member", ratio(x->playbooks, x->members), x->members, 0);
    figure(ctx, out, groups[g], "meetings_per_member", ratio(x->meetings, x->members), x->members, 0);
  }
  static const char *const ramp_groups[4] = {"hires_not_recognized_first_30_days", "hires_recognized_first_30_days",
                                             "hires_not_recognized_first_60_days", "hires_recognized_first_60_days"};
  for (int g = 0; g < 4; g++) {
    const outcome_ramp *x = g < 2 ? &ramp30[g] : &ramp60[g - 2];
    figure(ctx, out, ramp_groups[g], "hires", (double)x->hires, x->hires, 1);
    figure(ctx, out, ramp_groups[g], "avg_days_to_first_win", x->avg_days, x->with_win, 0);
  }
  static const char *const dep_groups[2] = {"never_recognized", "recognized"};
  for (int g = 0; g < 2; g++) {
    figure(ctx, out, dep_groups[g], "departures", (double)dep[g].departed, dep[g].members, 1);
    figure(ctx, out, dep_groups[g], "departure_rate_percent", 100 * ratio(dep[g].departed, dep[g].members),
           dep[g].members, 0);
  }
  return RPC_OK;
}
