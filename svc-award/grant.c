/* grant.c - GrantAward and RevokeAward; their outbox events are emit.c's. */
#include <stdio.h>
#include <string.h>

#include "award.h"
#include "check.h"
#include "pg.h"
#include "pg_status.h"
#include "profcache.h"
#include "signal.h"
#include "store.h"

typedef struct grant_tx {
  rpc_ctx *ctx;
  const Accolade__V1__GrantAwardRequest *req;
  Accolade__V1__GrantAwardResponse *out;
  Accolade__V1__Badge *badge;
  size_t milestones_cap;
} grant_tx;

static int grant_one(grant_tx *g, const Accolade__V1__Recipient *rcp, Accolade__V1__GrantOutcome *o) {
  rpc_ctx *ctx = g->ctx;
  const char *org = ctx->id.org;
  o->recipient_id = rcp->member_id;
  Accolade__V1__Award *a;
  int rc = store_award_find(ctx, org, g->req->source_id, rcp->member_id, &a);
  if (rc == RPC_OK) {
    o->result = ACCOLADE__V1__GRANT_OUTCOME__RESULT__ALREADY_GRANTED;
    o->award = a;
    return RPC_OK;
  }
  if (rc != RPC_NOT_FOUND) return rc;
  const Accolade__V1__Badge *b = g->badge;
  if (b->cap_per_recipient || b->cap_per_team) {
    int64_t n = 0;
    if (b->cap_per_recipient) {
      rc = store_cap_count(org, b->id, rcp->member_id, NULL, b->cap_period, &n);
      if (rc) return rc;
      if (n >= b->cap_per_recipient) {
        o->result = ACCOLADE__V1__GRANT_OUTCOME__RESULT__CAP_REACHED;
        return RPC_OK;
      }
    }
    if (b->cap_per_team && *rcp->team) {
      rc = store_cap_count(org, b->id, NULL, rcp->team, b->cap_period, &n);
      if (rc) return rc;
      if (n >= b->cap_per_team) {
        o->result = ACCOLADE__V1__GRANT_OUTCOME__RESULT__CAP_REACHED;
        return RPC_OK;
      }
    }
  }
  award_new an = {
      .badge_id = b->id,
      .recipient_id = rcp->member_id,
      .recipient_team = rcp->team,
      .recipient_name = rcp->display_name,
      .giver_id = g->req->giver_id,
      .giver_team = g->req->giver_team,
      .source_id = g->req->source_id,
      .justification = g->req->justification,
      .public = g->req->public_,
      .evidence = (const char *const *)g->req->evidence_links,
      .nevidence = g->req->n_evidence_links,
  };
  rc = store_award_insert(ctx, org, &an, &a);
  if (rc == RPC_ALREADY_EXISTS) {   /* a concurrent identical grant won */
    rc = store_award_find(ctx, org, g->req->source_id, rcp->member_id, &a);
    if (rc) return rc;
    o->result = ACCOLADE__V1__GRANT_OUTCOME__RESULT__ALREADY_GRANTED;
    o->award = a;
    return RPC_OK;
  }
  if (rc) return rc;
  o->result = ACCOLADE__V1__GRANT_OUTCOME__RESULT__GRANTED;
  o->award = a;
  if ((rc = emit_granted(ctx, a))) return rc;
  return rules_evaluate(ctx, rcp->member_id, rcp->team, 0, &g->out->milestones, &g->out->n_milestones,
                        &g->milestones_cap);
}

static int grant_run(void *arg) {
  grant_tx *g = arg;
  g->out->n_milestones = 0;
  g->milestones_cap = 0;
  /* Grants of one badge wait for each other only where its caps need it;
   * grants to one member always (milestone rules count their awards). */
  const Accolade__V1__Badge *b = g->badge;
  int rc = b->cap_per_recipient || b->cap_per_team ? store_lock_badge(g->ctx->id.org, b->id) : RPC_OK;
  for (size_t i = 0; rc == RPC_OK && i < g->req->n_recipients; i++)
    rc = store_lock_recipient(g->ctx->id.org, g->req->recipients[i]->member_id);
  for (size_t i = 0; rc == RPC_OK && i < g->req->n_recipients; i++)
    rc = grant_one(g, g->req->recipients[i], g->out->outcomes[i]);
  return rc;
}

int grant_award(rpc_ctx *ctx, const void *req, void *resp) {
  const Accolade__V1__GrantAwardRequest *r = req;
  Accolade__V1__GrantAwardResponse *out = resp;
  if (award_begin(ctx, ROLE_SERVICE | ROLE_ADMIN)) return ctx->code;
  if (check_len(ctx, "source_id", r->source_id, 1, 128) ||
      check_slug(ctx, "badge_id", r->badge_id) ||
      check_len(ctx, "justification", r->justification, 0, 4000) ||
      (*r->giver_id && check_id(ctx, "giver_id", r->giver_id, 128)) ||
      (*r->giver_team && check_id(ctx, "giver_team", r->giver_team, 128)))
    return ctx->code;
  if (strncmp(r->source_id, "rule:", 5) == 0)
    return rpc_fail(ctx, RPC_INVALID_ARGUMENT, "source_id: the prefix 'rule:' is reserved for milestones");
  if (strncmp(r->source_id, SIGNAL_SOURCE_PREFIX, strlen(SIGNAL_SOURCE_PREFIX)) == 0)
    return rpc_fail(ctx, RPC_INVALID_ARGUMENT, "source_id: the prefix '" SIGNAL_SOURCE_PREFIX
                    "' is reserved for signal rules");
  if (r->n_recipients < 1 || r->n_recipients > GRANT_MAX_RECIPIENTS)
    return rpc_fail(ctx, RPC_INVALID_ARGUMENT, "recipients: between 1 and %d (got %zu)",
                    GRANT_MAX_RECIPIENTS, r->n_recipients);
  for (size_t i = 0; i < r->n_recipients; i++) {
    char field[48];
    snprintf(field, sizeof field, "recipients[%zu].member_id", i);
    if (check_id(ctx, field, r->recipients[i]->member_id, 128)) return ctx->code;
    snprintf(field, sizeof field, "recipients[%zu].team", i);
    if (*r->recipients[i]->team && check_id(ctx, field, r->recipients[i]->team, 128)) return ctx->code;
    snprintf(field, sizeof field, "recipients[%zu].display_name", i);
    if (check_len(ctx, field, r->recipients[i]->display_name, 0, 120)) return ctx->code;
    for (size_t k = 0; k < i; k++)
      if (!strcmp(r->recipients[k]->member_id, r->recipients[i]->member_id))
        return rpc_fail(ctx, RPC_INVALID_ARGUMENT, "recipients: '%s' is listed twice",
                        r->recipients[i]->member_id);
  }
  if (r->n_evidence_links > GRANT_MAX_EVIDENCE)
    return rpc_fail(ctx, RPC_INVALID_ARGUMENT, "evidence_links: at most %d (got %zu)", GRANT_MAX_EVIDENCE,
                    r->n_evidence_links);
  for (size_t i = 0; i < r->n_evidence_links; i++) {
    char field[48];
    snprintf(field, sizeof field, "evidence_links[%zu]", i);
    if (check_len(ctx, field, r->evidence_links[i], 1, 500) || check_url(ctx, field, r->evidence_links[i], 500))
      return ctx->code;
  }
  grant_tx g = {.ctx = ctx, .req = r, .out = out};
  int rc = store_badge_get(ctx, ctx->id.org, r->badge_id, &g.badge);
  if (rc == RPC_NOT_FOUND) return rpc_fail(ctx, RPC_NOT_FOUND, "badge_id: no badge '%s'", r->badge_id);
  if (rc) return pg_fail(ctx, rc, "grant award");
  if (!g.badge->active)
    return rpc_fail(ctx, RPC_FAILED_PRECONDITION, "badge_id: '%s' is retired", r->badge_id);
  out->n_outcomes = r->n_recipients;
  out->outcomes = ARENA_ARRAY(ctx->arena, Accolade__V1__GrantOutcome *, r->n_recipients);
  for (size_t i = 0; i < r->n_recipients; i++) {
    out->outcomes[i] = ARENA_NEW(ctx->arena, Accolade__V1__GrantOutcome);
    accolade__v1__grant_outcome__init(out->outcomes[i]);
  }
  rc = pg_tx(grant_run, &g);
  if (rc) return ctx->code ? ctx->code : pg_fail(ctx, rc, "grant award");
  /* Every recipient, also when already granted: a repeat after a failed
   * touch makes it. */
  const char **members = ARENA_ARRAY(ctx->arena, const char *, r->n_recipients);
  for (size_t i = 0; i < r->n_recipients; i++) members[i] = r->recipients[i]->member_id;
  return award_touched(ctx, profcache_touch_members(ctx->id.org, members, r->n_recipients));
}

typedef struct revoke_tx {
  rpc_ctx *ctx;
  const Accolade__V1__RevokeAwardRequest *req;
  Accolade__V1__Award *award;
} revoke_tx;

static int revoke_run(void *arg) {
  revoke_tx *t = arg;
  rpc_ctx *ctx = t->ctx;
  int rc = store_award_revoke(ctx, ctx->id.org, t->req->award_id, t->req->reason, &t->award);
  if (rc) return rc;
  return emit_revoked(ctx, t->award, t->req->reason);
}

int grant_revoke(rpc_ctx *ctx, const void *req, void *resp) {
  const Accolade__V1__RevokeAwardRequest *r = req;
  if (award_begin(ctx, ROLE_ADMIN)) return ctx->code;
  if (check_uuid(ctx, "award_id", r->award_id) || check_len(ctx, "reason", r->reason, 1, 1000))
    return ctx->code;
  revoke_tx t = {.ctx = ctx, .req = r};
  int rc = pg_tx(revoke_run, &t);
  if (rc == RPC_NOT_FOUND) return rpc_fail(ctx, RPC_NOT_FOUND, "award_id: no award '%s'", r->award_id);
  /* Revoked, now or before (a repeat after a failed touch makes it). */
  const char *member = t.award ? t.award->recipient_id : "";
  if ((rc == RPC_OK || rc == RPC_FAILED_PRECONDITION) &&
      award_touched(ctx, profcache_touch_members(ctx->id.org, &member, 1)))
    return ctx->code;
  if (rc == RPC_FAILED_PRECONDITION)
    return rpc_fail(ctx, RPC_FAILED_PRECONDITION, "award_id: '%s' is already revoked", r->award_id);
  if (rc) return pg_fail(ctx, rc, "revoke award");
  *(Accolade__V1__Award *)resp = *t.award;
  return RPC_OK;
}
