/* signal_rules.c - milestone rules over signals: CreateSignalRule,
 * ListSignalRules, DeleteSignalRule, their evaluation as signals arrive and
 * their progress on profiles (see signal.h for the decisions). */
#include <stdio.h>
#include <string.h>

#include "award.h"
#include "check.h"
#include "pg.h"
#include "pg_status.h"
#include "signal.h"
#include "store_signal.h"
#include "store.h"

#define RULES_MAX 1000   /* rules of one org evaluated and shown */

/* matches: whether |s| passes |x|'s filters (only then can it change the value). */
static int matches(const Accolade__V1__SignalRule *x, const Accolade__V1__Signal *s) {
  return x->signal_kind == s->kind && s->amount_minor >= x->min_amount_minor &&
         (!*x->currency || !strcmp(x->currency, s->currency)) && (!*x->account || !strcmp(x->account, s->account));
}

static void ids_push(rpc_ctx *ctx, char *id, char ***ids, size_t *n, size_t *cap) {
  if (*n == *cap) {
    size_t ncap = *cap ? *cap * 2 : 4;
    char **grown = ARENA_ARRAY(ctx->arena, char *, ncap);
    if (*n) memcpy(grown, *ids, *n * sizeof *grown);
    *ids = grown;
    *cap = ncap;
  }
  (*ids)[(*n)++] = id;
}

const char *signal_kind_name(int kind) {
  const ProtobufCEnumValue *v = protobuf_c_enum_descriptor_get_value(&accolade__v1__signal_kind__descriptor, kind);
  return v ? v->name : "?";
}

int signal_rules_load(rpc_ctx *ctx, signal_rule_set *out) {
  return sig_store_rule_list(ctx, ctx->id.org, 0, 0, NULL, RULES_MAX, &out->rules, NULL, &out->n);
}

int signal_rules_evaluate(rpc_ctx *ctx, const signal_rule_set *rules, const Accolade__V1__Signal *s, char ***ids,
                          size_t *n, size_t *cap) {
  const char *org = ctx->id.org;
  char *team = NULL;
  int rc;
  for (size_t i = 0; i < rules->n; i++) {
    const Accolade__V1__SignalRule *x = rules->rules[i];
    if (!matches(x, s)) continue;
    int64_t value;
    char *key;
    if ((rc = sig_store_rule_value(ctx, org, x, s->member_id, s->occur_time_ms, &value, &key))) return rc;
    if (value < x->threshold) continue;
    const char *source = arena_printf(ctx->arena, SIGNAL_SOURCE_PREFIX "%s:%s", x->id, key);
    Accolade__V1__Award *have;
    rc = store_award_find(ctx, org, source, s->member_id, &have);
    if (rc == RPC_OK) continue;   /* this period's award is granted: never twice */
    if (rc != RPC_NOT_FOUND) return rc;
    if (!team && (rc = sig_store_member_team(ctx, org, s->member_id, &team))) return rc;
    const char *why = strcmp(key, "all") ? arena_printf(ctx->arena, "Signal rule: %s (%s)", x->name, key)
                                         : arena_printf(ctx->arena, "Signal rule: %s", x->name);
    Accolade__V1__Award *a;
    if ((rc = emit_rule_award(ctx, x->grant_badge_id, s->member_id, team, source, why, NULL, &a))) return rc;
    if (!a) continue;
    ids_push(ctx, a->id, ids, n, cap);
    /* The new award may complete an award milestone rule ("5 Deal Closer ..."). */
    Accolade__V1__Award **more = NULL;
    size_t nmore = 0, capmore = 0;
    if ((rc = rules_evaluate(ctx, s->member_id, team, 1, &more, &nmore, &capmore))) return rc;
    for (size_t k = 0; k < nmore; k++) ids_push(ctx, more[k]->id, ids, n, cap);
  }
  return RPC_OK;
}

/* ----------------------------------------------------------------- CRUD */

int signal_rules_create(rpc_ctx *ctx, const void *req, void *resp) {
  const Accolade__V1__CreateSignalRuleRequest *r = req;
  if (award_begin(ctx, ROLE_ADMIN)) return ctx->code;
  if (!r->rule) return rpc_fail(ctx, RPC_INVALID_ARGUMENT, "rule: required");
  Accolade__V1__SignalRule clean = *r->rule;
  const Accolade__V1__SignalRule *x = &clean;
  if (!clean.aggregate) clean.aggregate = ACCOLADE__V1__SIGNAL_AGGREGATE__SIGNAL_COUNT;
  if (check_len(ctx, "rule.name", x->name, 1, 120) ||
      check_enum(ctx, "rule.signal_kind", x->signal_kind, 1, ACCOLADE__V1__SIGNAL_KIND__MEMBER_DEPARTED) ||
      check_enum(ctx, "rule.aggregate", x->aggregate, 1, 2) ||
      check_range(ctx, "rule.threshold", x->threshold, 1, INT64_C(100000000000000)) ||
      check_enum(ctx, "rule.period", x->period, 0, 3) || check_range(ctx, "rule.window_days", x->window_days, 0, 3660) ||
      check_range(ctx, "rule.min_amount_minor", x->min_amount_minor, 0, INT64_C(100000000000000)) ||
      check_len(ctx, "rule.account", x->account, 0, 200) || check_slug(ctx, "rule.grant_badge_id", x->grant_badge_id))
    return ctx->code;
  if (*x->currency && (strlen(x->currency) != 3 || strspn(x->currency, "ABCDEFGHIJKLMNOPQRSTUVWXYZ") != 3))
    return rpc_fail(ctx, RPC_INVALID_ARGUMENT, "rule.currency: an ISO 4217 code such as USD");
  if (x->period && x->window_days)
    return rpc_fail(ctx, RPC_INVALID_ARGUMENT, "rule.window_days: give a calendar period or a rolling window, not both");
  int deal = x->signal_kind == ACCOLADE__V1__SIGNAL_KIND__DEAL_WON || x->signal_kind == ACCOLADE__V1__SIGNAL_KIND__DEAL_LOST;
  if (!deal && (x->aggregate == ACCOLADE__V1__SIGNAL_AGGREGATE__SIGNAL_SUM_AMOUNT || x->min_amount_minor || *x->currency))
    return rpc_fail(ctx, RPC_INVALID_ARGUMENT, "rule.%s: amounts apply to DEAL_WON and DEAL_LOST only",
                    x->aggregate == ACCOLADE__V1__SIGNAL_AGGREGATE__SIGNAL_SUM_AMOUNT ? "aggregate"
                    : x->min_amount_minor                                             ? "min_amount_minor"
                                                                                      : "currency");
  Accolade__V1__Badge *b;
  int rc = store_badge_get(ctx, ctx->id.org, x->grant_badge_id, &b);
  if (rc == RPC_NOT_FOUND)
    return rpc_fail(ctx, RPC_NOT_FOUND, "rule.grant_badge_id: no badge '%s'", x->grant_badge_id);
  if (rc) return pg_fail(ctx, rc, "create signal rule");
  Accolade__V1__SignalRule *out;
  rc = sig_store_rule_insert(ctx, ctx->id.org, x, &out);
  if (rc) return pg_fail(ctx, rc, "create signal rule");
  *(Accolade__V1__SignalRule *)resp = *out;
  return award_org_changed(ctx);
}

int signal_rules_list(rpc_ctx *ctx, const void *req, void *resp) {
  const Accolade__V1__ListSignalRulesRequest *r = req;
  Accolade__V1__ListSignalRulesResponse *out = resp;
  if (award_begin(ctx, ROLE_MEMBER | ROLE_MANAGER | ROLE_ADMIN)) return ctx->code;
  award_keyset k;
  if (award_page(ctx, r->page_size, r->page_token, &k)) return ctx->code;
  int64_t *cursors;
  size_t n;
  int rc = sig_store_rule_list(ctx, ctx->id.org, 0, k.after_us, k.after_id, k.limit + 1, &out->rules, &cursors, &n);
  if (rc) return pg_fail(ctx, rc, "list signal rules");
  if (page_more(&n, k.limit)) out->next_page_token = page_token_make(ctx, cursors[n - 1], out->rules[n - 1]->id);
  out->n_rules = n;
  return RPC_OK;
}

int signal_rules_delete(rpc_ctx *ctx, const void *req, void *resp) {
  const Accolade__V1__DeleteSignalRuleRequest *r = req;
  (void)resp;
  if (award_begin(ctx, ROLE_ADMIN)) return ctx->code;
  if (check_uuid(ctx, "rule_id", r->rule_id)) return ctx->code;
  int rc = sig_store_rule_delete(ctx->id.org, r->rule_id);
  if (rc == RPC_NOT_FOUND) return rpc_fail(ctx, RPC_NOT_FOUND, "rule_id: no signal rule '%s'", r->rule_id);
  if (rc) return pg_fail(ctx, rc, "delete signal rule");
  return award_org_changed(ctx);
}

/* --------------------------------------------------------------- profile */

/* what_text: "DEAL_WON of at least 50000.00 USD" and the like. */
static const char *what_text(rpc_ctx *ctx, const Accolade__V1__SignalRule *x) {
  const char *what = signal_kind_name(x->signal_kind);
  if (x->aggregate == ACCOLADE__V1__SIGNAL_AGGREGATE__SIGNAL_SUM_AMOUNT)
    what = arena_printf(ctx->arena, "minor units of %s%s%s", what, *x->currency ? " in " : "", x->currency);
  if (x->min_amount_minor)
    what = arena_printf(ctx->arena, "%s of at least %lld.%02lld%s%s", what, (long long)(x->min_amount_minor / 100),
                        (long long)(x->min_amount_minor % 100), *x->currency ? " " : "", x->currency);
  if (*x->account) what = arena_printf(ctx->arena, "%s with %s", what, x->account);
  return what;
}

int signal_rule_progress(rpc_ctx *ctx, const char *member, const Accolade__V1__SignalRule *x,
                         Accolade__V1__RuleProgress *g) {
  const char *org = ctx->id.org;
  g->rule_id = x->id;
  g->rule_name = x->name;
  g->threshold = x->threshold;
  char *key;
  int rc = sig_store_rule_value_now(ctx, org, x, member, &g->current, &key);
  if (rc) return rc;
  Accolade__V1__Award *have;
  rc = store_award_find(ctx, org, arena_printf(ctx->arena, SIGNAL_SOURCE_PREFIX "%s:%s", x->id, key), member, &have);
  if (rc != RPC_OK && rc != RPC_NOT_FOUND) return rc;
  g->earned = rc == RPC_OK;
  int64_t shown = g->current < x->threshold ? g->current : x->threshold;
  const char *when = x->period ? arena_printf(ctx->arena, " in %s", key)
                     : x->window_days ? arena_printf(ctx->arena, " in %d days", x->window_days)
                                      : "";
  g->text = arena_printf(ctx->arena, "%lld of %lld %s%s", (long long)shown, (long long)x->threshold,
                         what_text(ctx, x), when);
  return RPC_OK;
}

int signal_rules_profile(rpc_ctx *ctx, const char *member, Accolade__V1__Profile *p) {
  const char *org = ctx->id.org;
  Accolade__V1__SignalRule **rules;
  size_t nrules;
  int rc = sig_store_rule_list(ctx, org, 0, 0, NULL, RULES_MAX, &rules, NULL, &nrules);
  if (rc) return rc;
  if (!nrules) return RPC_OK;
  Accolade__V1__RuleProgress **all = ARENA_ARRAY(ctx->arena, Accolade__V1__RuleProgress *, p->n_progress + nrules);
  if (p->n_progress) memcpy(all, p->progress, p->n_progress * sizeof *all);
  p->progress = all;
  for (size_t i = 0; i < nrules; i++) {
    Accolade__V1__RuleProgress *g = ARENA_NEW(ctx->arena, Accolade__V1__RuleProgress);
    accolade__v1__rule_progress__init(g);
    if ((rc = signal_rule_progress(ctx, member, rules[i], g))) return rc;
    p->progress[p->n_progress++] = g;
  }
  return RPC_OK;
}
