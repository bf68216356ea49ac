/* suggest.c - SuggestRecognitions: colleagues a member has reason to
 * recognize now, from recent signals (see signal.h for the decisions). */
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
#include "store.h"

#define DAY_MS INT64_C(86400000)

static const char *ago(rpc_ctx *ctx, int64_t as_of, int64_t t) {
  int64_t days = (as_of - t) / DAY_MS;
  if (days <= 0) return "today";
  if (days == 1) return "1 day ago";
  return arena_printf(ctx->arena, "%lld days ago", (long long)days);
}

/* name_of: the directory's display name of |id| among |m|, else the id. */
static const char *name_of(Accolade__V1__Member **m, size_t n, const char *id) {
  for (size_t i = 0; i < n; i++)
    if (!strcmp(m[i]->member_id, id) && *m[i]->display_name) return m[i]->display_name;
  return id;
}

/* explain fills the reason and the suggested badge's id of one candidate. */
static void explain(rpc_ctx *ctx, const sig_candidate *c, const char *who, int64_t as_of, Accolade__V1__Suggestion *s) {
  const Accolade__V1__Signal *x = c->signal;
  const char *when = ago(ctx, as_of, x->occur_time_ms);
  if (!strcmp(c->relation, "collaborator")) {
    s->suggested_badge_id = "deal-closer";
    s->reason = arena_printf(ctx->arena, "%s's %s deal closed %s; you were a collaborator", who, x->account, when);
  } else if (!strcmp(c->relation, "helped")) {
    s->suggested_badge_id = "collaboration-leader";
    s->reason = arena_printf(ctx->arena, "%s helped close your %s deal %s", who, x->account, when);
  } else {
    switch (x->kind) {
      case ACCOLADE__V1__SIGNAL_KIND__PLAYBOOK_PUBLISHED:
        s->suggested_badge_id = "knowledge-sharer";
        s->reason = arena_printf(ctx->arena, "%s published the playbook \"%s\" %s (your team)", who, x->title, when);
        break;
      case ACCOLADE__V1__SIGNAL_KIND__TRAINING_COMPLETED:
        s->suggested_badge_id = "knowledge-sharer";
        s->reason = arena_printf(ctx->arena, "%s completed training%s%s %s (your team)", who, *x->title ? " " : "",
                                 x->title, when);
        break;
      case ACCOLADE__V1__SIGNAL_KIND__NPS_RECEIVED:
        s->suggested_badge_id = "customer-champion";
        s->reason = arena_printf(ctx->arena, "%s received an NPS of %d from %s %s (your team)", who, x->score,
                                 x->account, when);
        break;
      case ACCOLADE__V1__SIGNAL_KIND__QUOTA_ATTAINMENT:
        s->suggested_badge_id = "deal-closer";
        s->reason = arena_printf(ctx->arena, "%s reached %.0f%% of quota for %s (your team)", who, x->percent, x->period);
        break;
      default:
        s->suggested_badge_id = "deal-closer";
        s->reason = arena_printf(ctx->arena, "%s closed the %s deal %s (your team)", who, x->account, when);
    }
  }
}

int signals_suggest(rpc_ctx *ctx, const void *req, void *resp) {
  const Accolade__V1__SuggestRecognitionsRequest *r = req;
  Accolade__V1__SuggestRecognitionsResponse *out = resp;
  if (award_begin(ctx, ROLE_MEMBER | ROLE_MANAGER | ROLE_ADMIN)) return ctx->code;
  const char *member = r->member_id;   /* "" or "me": the caller */
  if (check_member_id(ctx, "member_id", &member, 1) || check_range(ctx, "limit", r->limit, 0, 20) ||
      check_range(ctx, "window_days", r->window_days, 0, 90) ||
      check_range(ctx, "as_of_ms", r->as_of_ms, 0, INT64_C(253402300799000)))
    return ctx->code;
  if (strcmp(member, ctx->id.user) && ctx->id.role != ROLE_ADMIN) {
    if (ctx->id.role != ROLE_MANAGER) return rpc_fail(ctx, RPC_PERMISSION_DENIED, "member_id: only your own suggestions");
    if (signals_check_report(ctx, member)) return ctx->code;
  }
  int64_t as_of = r->as_of_ms;
  if (!as_of) {
    struct timespec t;
    clock_gettime(CLOCK_REALTIME, &t);
    as_of = (int64_t)t.tv_sec * 1000 + t.tv_nsec / 1000000;
  }
  int window = r->window_days ? r->window_days : 30, limit = r->limit ? r->limit : 5;
  /* The member's team and its members, from the directory. */
  Accolade__V1__Member *me = NULL, **team = NULL;
  size_t nteam = 0;
  int rc = dir_get(ctx, 0, "member_id", member, &me);
  if (rc && rc != RPC_NOT_FOUND) return rc;
  if (me && *me->team && dir_list(ctx, "member_id", me->team, &team, &nteam)) return ctx->code;
  const char **ids = ARENA_ARRAY(ctx->arena, const char *, nteam + 1);
  for (size_t i = 0; i < nteam; i++) ids[i] = team[i]->member_id;
  sig_candidate *c;
  size_t n;
  rc = sig_store_suggest(ctx, ctx->id.org, member, ids, nteam, as_of - window * DAY_MS, as_of + 1, limit, &c, &n);
  if (rc) return pg_fail(ctx, rc, "suggest recognitions");
  out->suggestions = ARENA_ARRAY(ctx->arena, Accolade__V1__Suggestion *, n + 1);
  for (size_t i = 0; i < n; i++) {
    Accolade__V1__Suggestion *s = ARENA_NEW(ctx->arena, Accolade__V1__Suggestion);
    accolade__v1__suggestion__init(s);
    s->colleague_id = (char *)c[i].colleague;
    const char *who = name_of(team, nteam, c[i].colleague);
    s->colleague_name = strcmp(who, c[i].colleague) ? (char *)who : "";
    explain(ctx, &c[i], who, as_of, s);
    Accolade__V1__Badge *b;
    rc = store_badge_get(ctx, ctx->id.org, s->suggested_badge_id, &b);
    if (rc && rc != RPC_NOT_FOUND) return pg_fail(ctx, rc, "suggest recognitions");
    if (rc == RPC_OK && b->active) s->suggested_badge_name = b->name;
    else s->suggested_badge_id = "";   /* the org retired it: no suggestion of a badge */
    s->signal_id = c[i].signal->id;
    s->signal_kind = c[i].signal->kind;
    s->occur_time_ms = c[i].signal->occur_time_ms;
    s->closeness = c[i].closeness;
    out->suggestions[out->n_suggestions++] = s;
  }
  return RPC_OK;
}
