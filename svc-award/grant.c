/* grant.c - GrantAward, GrantAwards (many grants, one transaction) and
 * RevokeAward; their outbox events are emit.c's. */
#include <stdio.h>
#include <string.h>

#include "award.h"
#include "batch.h"
#include "check.h"
#include "outbox.h"
#include "pg.h"
#include "pg_status.h"
#include "profcache.h"
#include "signal.h"
#include "store.h"

/* One grant on its way: its request, its badge (looked up before any
 * transaction) and its reply. */
typedef struct grant_tx {
  rpc_ctx *ctx;
  const Accolade__V1__GrantAwardRequest *req;
  Accolade__V1__GrantAwardResponse *out;
  Accolade__V1__Badge *badge;
  size_t milestones_cap;
  int granted;   /* recipients granted now */
  /* In a batch, what its statements (grants_begin) learnt for each
   * recipient: |found[i]| the award it had already (else NULL), |made[i]|
   * the award they made (announced by grants_end; else NULL); and |rules|,
   * whether the org has milestone rules (-1: not known). Outside a batch
   * found and made are NULL and each grant asks for itself. */
  Accolade__V1__Award **found, **made;
  int rules;
} grant_tx;

/* grant_award_new: the award |g| makes for its recipient |i|. */
static award_new grant_award_new(const grant_tx *g, size_t i) {
  const Accolade__V1__Recipient *rcp = g->req->recipients[i];
  return (award_new){
      .badge_id = g->badge->id,
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
}

static int capped(const Accolade__V1__Badge *b) { return b->cap_per_recipient || b->cap_per_team; }

/* grant_cap_reached: has |rcp| (or their team) as many awards of |b| this
 * period as its caps allow? */
static int grant_cap_reached(const char *org, const Accolade__V1__Badge *b, const Accolade__V1__Recipient *rcp,
                             int *reached) {
  int64_t n = 0;
  int rc = RPC_OK;
  *reached = 0;
  if (b->cap_per_recipient && !(rc = store_cap_count(org, b->id, rcp->member_id, NULL, b->cap_period, &n)))
    *reached = n >= b->cap_per_recipient;
  if (!rc && !*reached && b->cap_per_team && *rcp->team &&
      !(rc = store_cap_count(org, b->id, NULL, rcp->team, b->cap_period, &n)))
    *reached = n >= b->cap_per_team;
  return rc;
}

/* grant_one grants |g| to its recipient |i|, outcome in |o|. */
static int grant_one(grant_tx *g, size_t i, Accolade__V1__GrantOutcome *o) {
  rpc_ctx *ctx = g->ctx;
  const char *org = ctx->id.org;
  const Accolade__V1__Recipient *rcp = g->req->recipients[i];
  o->recipient_id = rcp->member_id;
  Accolade__V1__Award *a = g->found ? g->found[i] : NULL;
  int rc = a ? RPC_OK : g->found ? RPC_NOT_FOUND : store_award_find(ctx, org, g->req->source_id, rcp->member_id, &a);
  if (rc == RPC_OK) {
    o->result = ACCOLADE__V1__GRANT_OUTCOME__RESULT__ALREADY_GRANTED;
    o->award = a;
    return RPC_OK;
  }
  if (rc != RPC_NOT_FOUND) return rc;
  if (!(a = g->made ? g->made[i] : NULL)) {
    int reached = 0;
    if (capped(g->badge) && (rc = grant_cap_reached(org, g->badge, rcp, &reached))) return rc;
    if (reached) {
      o->result = ACCOLADE__V1__GRANT_OUTCOME__RESULT__CAP_REACHED;
      return RPC_OK;
    }
    award_new an = grant_award_new(g, i);
    rc = store_award_insert(ctx, org, &an, &a);
    if (rc == RPC_ALREADY_EXISTS) {   /* a concurrent identical grant won (or one before it in the batch) */
      rc = store_award_find(ctx, org, g->req->source_id, rcp->member_id, &a);
      if (rc) return rc;
      o->result = ACCOLADE__V1__GRANT_OUTCOME__RESULT__ALREADY_GRANTED;
      o->award = a;
      return RPC_OK;
    }
    if (rc || (rc = emit_granted(ctx, a))) return rc;
  }
  o->result = ACCOLADE__V1__GRANT_OUTCOME__RESULT__GRANTED;
  o->award = a;
  g->granted++;
  if (!g->rules) return RPC_OK;
  return rules_evaluate(ctx, rcp->member_id, rcp->team, 0, &g->out->milestones, &g->out->n_milestones,
                        &g->milestones_cap);
}

/* grant_apply grants |g| inside the caller's transaction (its locks taken),
 * its reply made afresh: it runs again if the transaction is retried. */
static int grant_apply(grant_tx *g) {
  g->out->n_milestones = 0;
  g->milestones_cap = 0;
  g->granted = 0;
  int rc = RPC_OK;
  for (size_t i = 0; rc == RPC_OK && i < g->req->n_recipients; i++) {
    accolade__v1__grant_outcome__init(g->out->outcomes[i]);
    rc = grant_one(g, i, g->out->outcomes[i]);
  }
  return rc;
}

/* grant_members: the recipients of the |n| grants |run| of |gs|, |*m| of
 * them, in the call's arena. */
static const char **grant_members(rpc_ctx *ctx, const grant_tx *gs, const size_t *run, size_t n, size_t *m) {
  size_t cap = 0;
  for (size_t k = 0; k < n; k++) cap += gs[run[k]].req->n_recipients;
  const char **members = ARENA_ARRAY(ctx->arena, const char *, cap + 1);
  *m = 0;
  for (size_t k = 0; k < n; k++)
    for (size_t i = 0; i < gs[run[k]].req->n_recipients; i++) members[(*m)++] = gs[run[k]].req->recipients[i]->member_id;
  return members;
}

/* grant_lock takes, for the |n| grants |run| of |gs|, the locks their
 * transaction needs: the capped badges' (so concurrent grants cannot pass a
 * cap), then every recipient's (milestone rules count their awards). */
static int grant_lock(rpc_ctx *ctx, const grant_tx *gs, const size_t *run, size_t n) {
  const char **badges = ARENA_ARRAY(ctx->arena, const char *, n + 1);
  size_t nb = 0, nm;
  for (size_t k = 0; k < n; k++)
    if (capped(gs[run[k]].badge)) badges[nb++] = gs[run[k]].badge->id;
  int rc = store_lock_badges(ctx->arena, ctx->id.org, badges, nb);
  const char **members = grant_members(ctx, gs, run, n, &nm);
  return rc ? rc : store_lock_recipients(ctx->arena, ctx->id.org, members, nm);
}

/* The one grant of a GrantAward, as a run of grants (grant_lock, grant_touch). */
static const size_t alone[1] = {0};

static int grant_run(void *arg) {
  grant_tx *g = arg;
  int rc = grant_lock(g->ctx, g, alone, 1);
  return rc ? rc : grant_apply(g);
}

/* grant_check: GrantAward's checks of |r| (the caller's role aside), failing
 * the call with a message that names the field. */
static int grant_check(rpc_ctx *ctx, const Accolade__V1__GrantAwardRequest *r) {
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
  return RPC_OK;
}

/* grant_prepare checks |r| and readies |g| to grant it: its badge (|known|,
 * when not NULL, is one already looked up for this call: it is used if it is
 * the same), which must be active, and its reply's outcomes. Fails the call
 * naming the field. */
static int grant_prepare(rpc_ctx *ctx, const Accolade__V1__GrantAwardRequest *r, Accolade__V1__Badge *known,
                         grant_tx *g) {
  *g = (grant_tx){.ctx = ctx, .req = r, .rules = -1};
  if (grant_check(ctx, r)) return ctx->code;
  int rc = RPC_OK;
  if (known && !strcmp(known->id, r->badge_id)) g->badge = known;
  else rc = store_badge_get(ctx, ctx->id.org, r->badge_id, &g->badge);
  if (rc == RPC_NOT_FOUND) return rpc_fail(ctx, RPC_NOT_FOUND, "badge_id: no badge '%s'", r->badge_id);
  if (rc) return pg_fail(ctx, rc, "grant award");
  if (!g->badge->active)
    return rpc_fail(ctx, RPC_FAILED_PRECONDITION, "badge_id: '%s' is retired", r->badge_id);
  g->out = ARENA_NEW(ctx->arena, Accolade__V1__GrantAwardResponse);
  accolade__v1__grant_award_response__init(g->out);
  g->out->n_outcomes = r->n_recipients;
  g->out->outcomes = ARENA_ARRAY(ctx->arena, Accolade__V1__GrantOutcome *, r->n_recipients);
  for (size_t i = 0; i < r->n_recipients; i++) {
    g->out->outcomes[i] = ARENA_NEW(ctx->arena, Accolade__V1__GrantOutcome);
    accolade__v1__grant_outcome__init(g->out->outcomes[i]);
  }
  return RPC_OK;
}

/* grant_touch tells the profile caches of the recipients of the |n| grants
 * |run| of |gs|: every recipient, also when already granted, as a repeat
 * after a failed touch makes it. RPC_OK, or as award_touched. */
static int grant_touch(rpc_ctx *ctx, const grant_tx *gs, const size_t *run, size_t n) {
  size_t m;
  const char **members = grant_members(ctx, gs, run, n, &m);
  return award_touched(ctx, profcache_touch_members(ctx->id.org, members, m));
}

int grant_award(rpc_ctx *ctx, const void *req, void *resp) {
  const Accolade__V1__GrantAwardRequest *r = req;
  grant_tx g;
  if (award_begin(ctx, ROLE_SERVICE | ROLE_ADMIN) || grant_prepare(ctx, r, NULL, &g)) return ctx->code;
  outbox_admit(rpc_remaining_ms(ctx));   /* the boards and the inbox hear of it through the outbox */
  int rc = pg_tx(grant_run, &g);
  if (rc) return ctx->code ? ctx->code : pg_fail(ctx, rc, "grant award");
  *(Accolade__V1__GrantAwardResponse *)resp = *g.out;
  return grant_touch(ctx, &g, alone, 1);
}

/* ------------------------------------------------------------ GrantAwards */

/* GrantAwards: the batch (batch.h). Each grant is checked and its badge
 * looked up before the transaction, then all of them run in one: the locks
 * of every grant and one statement per kind of row for all of them first
 * (grants_begin), then each grant as GrantAward would, with what those
 * statements learnt, and the new awards' outbox rows together at the end
 * (grants_end). */
typedef struct grants_tx {
  rpc_ctx *ctx;
  const Accolade__V1__GrantAwardsRequest *req;
  grant_tx *items;
} grants_tx;

static int grants_check(void *arg, size_t i) {
  grants_tx *t = arg;
  /* Grants of one batch mostly share a badge: the last one looked up. */
  Accolade__V1__Badge *known = NULL;
  for (size_t k = i; k-- > 0 && !known;) known = t->items[k].badge;
  return grant_prepare(t->ctx, t->req->grants[i], known, &t->items[i]);
}

/* grants_begin takes the locks of the |n| grants |run|, then finds in one
 * query the awards any of them made before, makes in one statement the new
 * ones of badges without caps (those with caps are counted grant by grant),
 * and asks once whether the org has milestone rules. */
static int grants_begin(void *arg, const size_t *run, size_t n) {
  grants_tx *t = arg;
  rpc_ctx *ctx = t->ctx;
  int rc = grant_lock(ctx, t->items, run, n);
  size_t m, nnew = 0;
  const char **members = grant_members(ctx, t->items, run, n, &m);
  const char **sources = ARENA_ARRAY(ctx->arena, const char *, m + 1);
  Accolade__V1__Award **found = ARENA_ARRAY(ctx->arena, Accolade__V1__Award *, m + 1);
  Accolade__V1__Award **made = ARENA_ARRAY(ctx->arena, Accolade__V1__Award *, m + 1);
  for (size_t k = 0, j = 0; k < n; k++)
    for (size_t i = 0; i < t->items[run[k]].req->n_recipients; i++) sources[j++] = t->items[run[k]].req->source_id;
  if (rc || (rc = store_award_find_many(ctx, ctx->id.org, sources, members, m, found))) return rc;
  award_new *news = ARENA_ARRAY(ctx->arena, award_new, m + 1);
  size_t *slot = ARENA_ARRAY(ctx->arena, size_t, m + 1);
  for (size_t k = 0, j = 0; k < n; k++) {
    grant_tx *g = &t->items[run[k]];
    g->found = found + j;
    g->made = made + j;
    for (size_t i = 0; i < g->req->n_recipients; i++, j++)
      if (!found[j] && !capped(g->badge)) {
        news[nnew] = grant_award_new(g, i);
        slot[nnew++] = j;
      }
  }
  Accolade__V1__Award **ins = ARENA_ARRAY(ctx->arena, Accolade__V1__Award *, nnew + 1);
  if ((rc = store_award_insert_many(ctx, ctx->id.org, news, nnew, ins))) return rc;
  for (size_t q = 0; q < nnew; q++) made[slot[q]] = ins[q];
  int rules = -1;
  if (nnew) {
    Accolade__V1__Rule **any;
    size_t nrules;
    if ((rc = store_rule_list(ctx, ctx->id.org, 0, NULL, 1, &any, NULL, &nrules))) return rc;
    rules = nrules > 0;
  }
  for (size_t k = 0; k < n; k++) t->items[run[k]].rules = rules;
  return RPC_OK;
}

/* grants_end announces, in one statement per receiver, the awards that
 * grants_begin made. */
static int grants_end(void *arg, const size_t *run, size_t n) {
  grants_tx *t = arg;
  size_t m = 0, cap = 0;
  for (size_t k = 0; k < n; k++) cap += t->items[run[k]].req->n_recipients;
  Accolade__V1__Award **made = ARENA_ARRAY(t->ctx->arena, Accolade__V1__Award *, cap + 1);
  for (size_t k = 0; k < n; k++)
    for (size_t i = 0; i < t->items[run[k]].req->n_recipients; i++)
      if (t->items[run[k]].made[i]) made[m++] = t->items[run[k]].made[i];
  return emit_granted_many(t->ctx, made, m);
}

static int grants_item(void *arg, size_t i, int *applied) {
  grant_tx *g = &((grants_tx *)arg)->items[i];
  int rc = grant_apply(g);
  *applied = g->granted > 0;
  return rc;
}

static const char *grants_key(void *arg, size_t i) { return ((grants_tx *)arg)->req->grants[i]->source_id; }

int grant_awards(rpc_ctx *ctx, const void *req, void *resp) {
  const Accolade__V1__GrantAwardsRequest *r = req;
  Accolade__V1__GrantAwardsResponse *out = resp;
  if (award_begin(ctx, ROLE_SERVICE | ROLE_ADMIN)) return ctx->code;
  outbox_admit(rpc_remaining_ms(ctx));   /* the boards and the inbox hear of them through the outbox */
  grants_tx t = {ctx, r, ARENA_ARRAY(ctx->arena, grant_tx, r->n_grants + 1)};
  batch_spec spec = {.what = "grant award", .check = grants_check, .begin = grants_begin, .end = grants_end,
                     .item = grants_item, .key = grants_key, .arg = &t};
  Accolade__V1__BatchItemResult **res = batch_serve(ctx, "grants", r->n_grants, &spec);
  if (!res) return ctx->code;
  size_t *ok = ARENA_ARRAY(ctx->arena, size_t, r->n_grants), nok = 0;
  for (size_t i = 0; i < r->n_grants; i++)
    if (res[i]->code == RPC_OK) ok[nok++] = i;
  /* The profile caches, for every grant that is in: if they cannot be told,
   * each of those grants fails as GrantAward would (made; repeat it). */
  const char *untold = NULL;
  if (nok && grant_touch(ctx, t.items, ok, nok)) {
    untold = ctx->message;
    ctx->code = RPC_OK;
    ctx->message = NULL;
  }
  out->n_results = r->n_grants;
  out->results = ARENA_ARRAY(ctx->arena, Accolade__V1__GrantAwardResult *, r->n_grants);
  for (size_t i = 0; i < r->n_grants; i++) {
    Accolade__V1__GrantAwardResult *x = out->results[i] = ARENA_NEW(ctx->arena, Accolade__V1__GrantAwardResult);
    accolade__v1__grant_award_result__init(x);
    x->code = res[i]->code;
    x->message = res[i]->message;
    x->applied = res[i]->applied;
    if (x->code == RPC_OK && untold) {
      x->code = RPC_UNAVAILABLE;
      x->message = (char *)untold;
      x->applied = 0;
    }
    if (x->code == RPC_OK) x->response = t.items[i].out;
  }
  return RPC_OK;
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
