/* reads.c - ListAwards (feeds and filters) and GetProfile. */
#include <stdio.h>
#include <string.h>

#include "award.h"
#include "check.h"
#include "pg.h"
#include "pg_status.h"
#include "signal.h"
#include "store.h"

int reads_list_awards(rpc_ctx *ctx, const void *req, void *resp) {
  const Accolade__V1__ListAwardsRequest *r = req;
  Accolade__V1__ListAwardsResponse *out = resp;
  if (award_begin(ctx, ANY_ROLE)) return ctx->code;
  int limit;
  award_filter f = {
      .recipient_id = r->recipient_id,
      .badge_id = r->badge_id,
      .category = r->category,
      .team = r->team,
      .start_ms = r->start_time_ms,
      .end_ms = r->end_time_ms,
      .include_revoked = r->include_revoked,
      .public_only = r->public_only,
  };
  char *cursor_id = NULL;
  if (page_size(ctx, r->page_size, 50, 200, &limit) ||
      page_token_parse(ctx, r->page_token, &f.has_cursor, &f.cursor_us, &cursor_id) ||
      (*f.recipient_id && check_member_id(ctx, "recipient_id", &f.recipient_id, 0)) ||
      (*r->badge_id && check_slug(ctx, "badge_id", r->badge_id)) ||
      check_len(ctx, "category", r->category, 0, 60) ||
      (*r->team && check_id(ctx, "team", r->team, 128)) ||
      check_time_range(ctx, r->start_time_ms, r->end_time_ms))
    return ctx->code;
  if (f.has_cursor && check_uuid(ctx, "page_token", cursor_id)) return ctx->code;
  f.cursor_id = cursor_id;
  Accolade__V1__Award **awards;
  int64_t *cursors;
  size_t n;
  int rc = store_award_list(ctx, ctx->id.org, &f, limit + 1, &awards, &cursors, &n);
  if (rc) return pg_fail(ctx, rc, "list awards");
  if (page_more(&n, limit)) out->next_page_token = page_token_make(ctx, cursors[n - 1], awards[n - 1]->id);
  out->awards = awards;
  out->n_awards = n;
  return RPC_OK;
}

int reads_get_profile(rpc_ctx *ctx, const void *req, void *resp) {
  const Accolade__V1__GetProfileRequest *r = req;
  Accolade__V1__Profile *out = resp;
  if (award_begin(ctx, ANY_ROLE)) return ctx->code;
  const char *member = r->member_id;   /* "" or "me": the caller */
  if (check_member_id(ctx, "member_id", &member, 1)) return ctx->code;
  const char *org = ctx->id.org;
  out->member_id = (char *)member;
  profile_has has;
  int rc = store_profile_read(ctx, org, member, 10, 100, out, &has);
  Accolade__V1__Rule **rules = NULL;
  size_t nrules = 0;
  if (!rc && has.rules) rc = store_rule_list(ctx, org, 0, NULL, 1000, &rules, NULL, &nrules);
  if (rc) return pg_fail(ctx, rc, "get profile");
  out->progress = ARENA_ARRAY(ctx->arena, Accolade__V1__RuleProgress *, nrules + 1);
  for (size_t i = 0; i < nrules; i++) {
    const Accolade__V1__Rule *x = rules[i];
    Accolade__V1__RuleProgress *p = ARENA_NEW(ctx->arena, Accolade__V1__RuleProgress);
    accolade__v1__rule_progress__init(p);
    p->rule_id = x->id;
    p->rule_name = x->name;
    p->threshold = x->threshold;
    if ((rc = store_rule_progress(org, x, member, &p->current))) return pg_fail(ctx, rc, "get profile");
    for (size_t k = 0; k < out->n_milestones; k++)
      if (!strncmp(out->milestones[k]->source_id, "rule:", 5) &&
          !strcmp(out->milestones[k]->source_id + 5, x->id))
        p->earned = 1;
    const char *what = x->kind == ACCOLADE__V1__RULE_KIND__BADGE_COUNT      ? x->badge_id
                       : x->kind == ACCOLADE__V1__RULE_KIND__CATEGORY_COUNT ? x->category
                                                                            : "points";
    if (x->kind == ACCOLADE__V1__RULE_KIND__BADGE_COUNT) {
      Accolade__V1__Badge *b;
      if (store_badge_get(ctx, org, x->badge_id, &b) == RPC_OK) what = b->name;
    }
    int64_t shown = p->current < x->threshold ? p->current : x->threshold;
    p->text = arena_printf(ctx->arena, "%lld of %lld %s", (long long)shown, (long long)x->threshold, what);
    out->progress[out->n_progress++] = p;
  }
  if (has.signal_rules && (rc = signal_rules_profile(ctx, member, out))) return pg_fail(ctx, rc, "get profile");
  if (has.journeys && journeys_profile(ctx, member, out)) return ctx->code;
  return RPC_OK;
}
