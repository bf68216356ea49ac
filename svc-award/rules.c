/* rules.c - milestone rules: CreateRule, GetRule, UpdateRule, ListRules, DeleteRule and their
 * evaluation inside a grant's transaction. */
#include <stdio.h>
#include <string.h>

#include "award.h"
#include "check.h"
#include "pg.h"
#include "pg_status.h"
#include "store.h"

int rules_evaluate(rpc_ctx *ctx, const char *member, const char *team, int depth,
                   Accolade__V1__Award ***out, size_t *n, size_t *cap) {
  if (depth >= MILESTONE_DEPTH) return RPC_OK;   /* chains are bounded */
  const char *org = ctx->id.org;
  Accolade__V1__Rule **rules;
  size_t nrules;
  int rc = store_rule_list(ctx, org, 0, NULL, 1000, &rules, NULL, &nrules);
  if (rc) return rc;
  for (size_t i = 0; i < nrules; i++) {
    const Accolade__V1__Rule *x = rules[i];
    Accolade__V1__Award *have;
    const char *source = arena_printf(ctx->arena, "rule:%s", x->id);
    rc = store_award_find(ctx, org, source, member, &have);
    if (rc == RPC_OK) continue;   /* earned before: never twice */
    if (rc != RPC_NOT_FOUND) return rc;
    int64_t current;
    if ((rc = store_rule_progress(org, x, member, &current))) return rc;
    if (current < x->threshold) continue;
    Accolade__V1__Award *a;
    if ((rc = emit_rule_award(ctx, x->grant_badge_id, member, team, source,
                              arena_printf(ctx->arena, "Milestone: %s", x->name), x->id, &a)))
      return rc;
    if (!a) continue;
    award_list_push(ctx, a, out, n, cap);
    /* A milestone may complete another rule (points, category, ...). */
    if ((rc = rules_evaluate(ctx, member, team, depth + 1, out, n, cap))) return rc;
  }
  return RPC_OK;
}

/* rule_check validates |x| as a rule of the org (its badges exist) and
 * writes it, with the fields its kind does not use cleared, to |clean|. */
static int rule_check(rpc_ctx *ctx, const Accolade__V1__Rule *x, Accolade__V1__Rule *clean) {
  if (check_len(ctx, "rule.name", x->name, 1, 120) ||
      check_enum(ctx, "rule.kind", x->kind, 1, 3) ||
      check_range(ctx, "rule.threshold", x->threshold, 1, 1000000) ||
      check_range(ctx, "rule.window_days", x->window_days, 0, 3660) ||
      check_slug(ctx, "rule.grant_badge_id", x->grant_badge_id))
    return ctx->code;
  *clean = *x;
  Accolade__V1__Badge *b;
  if (x->kind == ACCOLADE__V1__RULE_KIND__BADGE_COUNT) {
    if (check_slug(ctx, "rule.badge_id", x->badge_id)) return ctx->code;
    int rc = store_badge_get(ctx, ctx->id.org, x->badge_id, &b);
    if (rc == RPC_NOT_FOUND) return rpc_fail(ctx, RPC_NOT_FOUND, "rule.badge_id: no badge '%s'", x->badge_id);
    if (rc) return pg_fail(ctx, rc, "check rule");
    clean->category = "";
  } else if (x->kind == ACCOLADE__V1__RULE_KIND__CATEGORY_COUNT) {
    if (check_len(ctx, "rule.category", x->category, 1, 60)) return ctx->code;
    clean->badge_id = "";
  } else {
    clean->badge_id = "";
    clean->category = "";
  }
  int rc = store_badge_get(ctx, ctx->id.org, x->grant_badge_id, &b);
  if (rc == RPC_NOT_FOUND)
    return rpc_fail(ctx, RPC_NOT_FOUND, "rule.grant_badge_id: no badge '%s'", x->grant_badge_id);
  if (rc) return pg_fail(ctx, rc, "check rule");
  if (x->kind == ACCOLADE__V1__RULE_KIND__BADGE_COUNT && !strcmp(x->badge_id, x->grant_badge_id))
    return rpc_fail(ctx, RPC_INVALID_ARGUMENT, "rule.grant_badge_id: must differ from rule.badge_id");
  return RPC_OK;
}

int rules_create(rpc_ctx *ctx, const void *req, void *resp) {
  const Accolade__V1__CreateRuleRequest *r = req;
  if (award_begin(ctx, ROLE_ADMIN)) return ctx->code;
  if (!r->rule) return rpc_fail(ctx, RPC_INVALID_ARGUMENT, "rule: required");
  Accolade__V1__Rule clean, *out;
  if (rule_check(ctx, r->rule, &clean)) return ctx->code;
  int rc = store_rule_insert(ctx, ctx->id.org, &clean, &out);
  if (rc) return pg_fail(ctx, rc, "create rule");
  *(Accolade__V1__Rule *)resp = *out;
  return award_org_changed(ctx);
}

/* rule_load: the org's live rule |id|, or NOT_FOUND naming |field|. */
static int rule_load(rpc_ctx *ctx, const char *field, const char *id, Accolade__V1__Rule **out) {
  if (check_uuid(ctx, field, id)) return ctx->code;
  int rc = store_rule_get(ctx, ctx->id.org, id, out);
  if (rc == RPC_NOT_FOUND) return rpc_fail(ctx, RPC_NOT_FOUND, "%s: no rule '%s'", field, id);
  if (rc) return pg_fail(ctx, rc, "get rule");
  return RPC_OK;
}

int rules_get(rpc_ctx *ctx, const void *req, void *resp) {
  const Accolade__V1__GetRuleRequest *r = req;
  Accolade__V1__Rule *x;
  if (award_begin(ctx, ANY_ROLE) || rule_load(ctx, "rule_id", r->rule_id, &x)) return ctx->code;
  *(Accolade__V1__Rule *)resp = *x;
  return RPC_OK;
}

static int masked(const Accolade__V1__UpdateRuleRequest *r, const char *field) {
  for (size_t i = 0; i < r->n_update_mask; i++)
    if (!strcmp(r->update_mask[i], field)) return 1;
  return r->n_update_mask == 0;
}

int rules_update(rpc_ctx *ctx, const void *req, void *resp) {
  const Accolade__V1__UpdateRuleRequest *r = req;
  if (award_begin(ctx, ROLE_ADMIN)) return ctx->code;
  if (!r->rule) return rpc_fail(ctx, RPC_INVALID_ARGUMENT, "rule: required");
  static const char *const fields[] = {"name", "kind", "badge_id", "category", "threshold", "window_days",
                                       "grant_badge_id"};
  if (check_mask(ctx, r->update_mask, r->n_update_mask, fields, sizeof fields / sizeof fields[0])) return ctx->code;
  Accolade__V1__Rule *cur, clean, *out;
  if (rule_load(ctx, "rule.id", r->rule->id, &cur)) return ctx->code;
  const Accolade__V1__Rule *in = r->rule;
  Accolade__V1__Rule x = *cur;
  if (masked(r, "name")) x.name = in->name;
  if (masked(r, "kind")) x.kind = in->kind;
  if (masked(r, "badge_id")) x.badge_id = in->badge_id;
  if (masked(r, "category")) x.category = in->category;
  if (masked(r, "threshold")) x.threshold = in->threshold;
  if (masked(r, "window_days")) x.window_days = in->window_days;
  if (masked(r, "grant_badge_id")) x.grant_badge_id = in->grant_badge_id;
  if (rule_check(ctx, &x, &clean)) return ctx->code;
  int rc = store_rule_update(ctx, ctx->id.org, &clean, &out);
  if (rc == RPC_NOT_FOUND) return rpc_fail(ctx, RPC_NOT_FOUND, "rule.id: no rule '%s'", in->id);
  if (rc) return pg_fail(ctx, rc, "update rule");
  *(Accolade__V1__Rule *)resp = *out;
  return award_org_changed(ctx);
}

int award_page(rpc_ctx *ctx, int32_t size, const char *token, award_keyset *out) {
  int has;
  char *after_id = NULL;
  out->after_us = 0;
  out->after_id = NULL;
  if (page_size(ctx, size, 50, 200, &out->limit) || page_token_parse(ctx, token, &has, &out->after_us, &after_id))
    return ctx->code;
  if (!has) out->after_us = 0;
  else if (check_uuid(ctx, "page_token", after_id)) return ctx->code;
  else out->after_id = after_id;
  return RPC_OK;
}

int rules_list(rpc_ctx *ctx, const void *req, void *resp) {
  const Accolade__V1__ListRulesRequest *r = req;
  Accolade__V1__ListRulesResponse *out = resp;
  if (award_begin(ctx, ANY_ROLE)) return ctx->code;
  award_keyset k;
  if (award_page(ctx, r->page_size, r->page_token, &k)) return ctx->code;
  int64_t *cursors;
  size_t n;
  int rc = store_rule_list(ctx, ctx->id.org, k.after_us, k.after_id, k.limit + 1, &out->rules, &cursors, &n);
  if (rc) return pg_fail(ctx, rc, "list rules");
  if (page_more(&n, k.limit)) out->next_page_token = page_token_make(ctx, cursors[n - 1], out->rules[n - 1]->id);
  out->n_rules = n;
  return RPC_OK;
}

int rules_delete(rpc_ctx *ctx, const void *req, void *resp) {
  const Accolade__V1__DeleteRuleRequest *r = req;
  (void)resp;
  if (award_begin(ctx, ROLE_ADMIN)) return ctx->code;
  if (check_uuid(ctx, "rule_id", r->rule_id)) return ctx->code;
  int rc = store_rule_delete(ctx->id.org, r->rule_id);
  if (rc == RPC_NOT_FOUND) return rpc_fail(ctx, RPC_NOT_FOUND, "rule_id: no rule '%s'", r->rule_id);
  if (rc) return pg_fail(ctx, rc, "delete rule");
  return award_org_changed(ctx);
}
