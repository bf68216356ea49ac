/* reads.c - ListAwards (feeds and filters) and GetProfile. */
#include <stdio.h>
#include <string.h>

#include "award.h"
#include "check.h"
#include "pg.h"
#include "pg_status.h"
#include "profcache.h"
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

int award_touched(rpc_ctx *ctx, int rc) {
  if (rc == 0) return RPC_OK;
  return rpc_fail(ctx, RPC_UNAVAILABLE, "profiles: the change is made but the profile caches could not be "
                  "told (Redis did not answer): repeat the call");
}

int award_org_changed(rpc_ctx *ctx) { return award_touched(ctx, profcache_touch_org(ctx->id.org)); }

enum { HAS_RULES = 1, HAS_SIGNAL_RULES = 2, HAS_JOURNEYS = 4 };

/* profile_stored fills the stored part of |out| (store_profile_read) from
 * this process's copy when the tokens say it is current, else from Postgres,
 * keeping a copy (profcache.h): one byte of HAS_* bits, then the encoded
 * Profile. When the org has no rules, signal rules or journeys that is the
 * whole reply: *reply and *reply_len are then set to its bytes. */
static int profile_stored(rpc_ctx *ctx, const char *member, Accolade__V1__Profile *out, profile_has *has,
                          const uint8_t **reply, size_t *reply_len) {
  const char *org = ctx->id.org;
  profcache_tokens tok;
  int cache = profcache_tokens_get(org, member, &tok) == 0;
  const uint8_t *buf;
  size_t len;
  int hit = cache && profcache_get(org, member, &tok, ctx->arena, &buf, &len);
  Accolade__V1__Profile *kept;
  if (hit && !buf[0]) {
    /* the whole reply as kept */
  } else if (hit && (kept = accolade__v1__profile__unpack(&ctx->arena->pb, len - 1, buf + 1))) {
    *out = *kept;
  } else {
    int rc = store_profile_read(ctx, org, member, 10, 100, out, has);
    if (rc) return rc;
    len = accolade__v1__profile__get_packed_size(out) + 1;
    uint8_t *b = arena_alloc(ctx->arena, len);
    b[0] = (uint8_t)((has->rules ? HAS_RULES : 0) | (has->signal_rules ? HAS_SIGNAL_RULES : 0) |
                     (has->journeys ? HAS_JOURNEYS : 0));
    accolade__v1__profile__pack(out, b + 1);
    if (cache) profcache_put(org, member, &tok, b, len);
    buf = b;
  }
  *has = (profile_has){.rules = !!(buf[0] & HAS_RULES), .signal_rules = !!(buf[0] & HAS_SIGNAL_RULES),
                       .journeys = !!(buf[0] & HAS_JOURNEYS)};
  if (!buf[0]) *reply = buf + 1, *reply_len = len - 1;
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
  const uint8_t *reply = NULL;
  size_t reply_len = 0;
  int rc = profile_stored(ctx, member, out, &has, &reply, &reply_len);
  if (!rc && reply) {
    rpc_reply_encoded(ctx, reply, reply_len);
    return RPC_OK;
  }
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
