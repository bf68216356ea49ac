/* nominate.c - CreateNomination, GetNomination, ListNominations,
 * WithdrawNomination, GetAllowance. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "accolade/v1/award.pb-c.h"
#include "check.h"
#include "nom.h"
#include "outbox.h"
#include "pg.h"
#include "pg_status.h"
#include "rpc_client.h"
#include "store.h"
#include "svc.h"

/* ------------------------------------------------ badges from svc-award */

#define BADGE_CACHE 256
#define BADGE_TTL_MS 30000

typedef struct cached_badge {
  char org[128], id[64], name[96];
  int active, auto_approve;
  int64_t at_ms;
} cached_badge;

static cached_badge g_badges[BADGE_CACHE];
static pthread_mutex_t g_badges_mu = PTHREAD_MUTEX_INITIALIZER;

/* badge_lookup asks svc-award (briefly cached), failing the call on error. */
static int badge_lookup(rpc_ctx *ctx, const char *id, cached_badge *out) {
  int64_t now = rpc_now_ms();
  pthread_mutex_lock(&g_badges_mu);
  for (int i = 0; i < BADGE_CACHE; i++) {
    cached_badge *b = &g_badges[i];
    if (b->at_ms && now - b->at_ms < BADGE_TTL_MS && !strcmp(b->org, ctx->id.org) && !strcmp(b->id, id)) {
      *out = *b;
      pthread_mutex_unlock(&g_badges_mu);
      return RPC_OK;
    }
  }
  pthread_mutex_unlock(&g_badges_mu);
  Accolade__V1__GetBadgeRequest req = ACCOLADE__V1__GET_BADGE_REQUEST__INIT;
  req.badge_id = (char *)id;
  identity as;
  rpc_service_identity(&as, svc_name(), ctx->id.org);
  rpc_call_opts o = {.parent = ctx, .as = &as, .timeout_ms = 3000, .idempotent = 1};
  Accolade__V1__Badge *b;
  rpc_status st;
  int rc = rpc_call(svc_addr("award"), "/accolade.v1.AwardService/GetBadge", &req.base,
                    &accolade__v1__badge__descriptor, &o, ctx->arena, (void **)&b, &st);
  if (rc == RPC_NOT_FOUND) return rpc_fail(ctx, RPC_NOT_FOUND, "badge_id: no badge '%s'", id);
  if (rc) return rpc_fail(ctx, rc == RPC_DEADLINE_EXCEEDED ? rc : RPC_UNAVAILABLE, "badge_id: the badge catalog is unavailable (%s)", st.message);
  memset(out, 0, sizeof *out);
  snprintf(out->org, sizeof out->org, "%s", ctx->id.org);
  snprintf(out->id, sizeof out->id, "%s", b->id);
  snprintf(out->name, sizeof out->name, "%s", b->name);
  out->active = b->active;
  out->auto_approve = b->approval_policy == ACCOLADE__V1__APPROVAL_POLICY__AUTO;
  out->at_ms = now;
  pthread_mutex_lock(&g_badges_mu);
  g_badges[(unsigned)(now / 7 + (int64_t)strlen(id)) % BADGE_CACHE] = *out;
  pthread_mutex_unlock(&g_badges_mu);
  return RPC_OK;
}

/* ------------------------------------------------------------- create */

static int cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

typedef struct create_tx {
  rpc_ctx *ctx;
  const Accolade__V1__CreateNominationRequest *req;
  cached_badge badge;
  nom_new nn;
  Accolade__V1__Nomination *out;
  int replay;
  const char **who;      /* the nominees (sorted), then the nominator */
  const char **teams;    /* the nominees' teams, filled in here */
} create_tx;

/* nominees_take checks the nominees are active members and fills in their
 * teams and the nominator's (|ms| as store_members_of gives them for
 * t->who). */
static int nominees_take(create_tx *t, Accolade__V1__Member **ms) {
  rpc_ctx *ctx = t->ctx;
  size_t n = t->nn.nnominees;
  for (size_t i = 0; i < n; i++) {
    if (!ms[i]) return rpc_fail(ctx, RPC_NOT_FOUND, "nominee_ids: no member '%s'", t->who[i]);
    if (!ms[i]->active)
      return rpc_fail(ctx, RPC_FAILED_PRECONDITION, "nominee_ids: '%s' is not an active member of this org", t->who[i]);
    t->teams[i] = ms[i]->team;
  }
  t->nn.nominator_team = ms[n] ? ms[n]->team : ctx->id.team;
  return RPC_OK;
}

static int create_run(void *arg) {
  create_tx *t = arg;
  rpc_ctx *ctx = t->ctx;
  const char *org = ctx->id.org, *me = ctx->id.user;
  /* The nominees and the nominator as members, the nominator's lock and the
   * checks: one round trip. */
  PGresult *people;
  int rc = store_members_later(ctx, org, t->who, t->nn.nnominees + 1, &people);
  if (!rc) rc = store_lock_nominator(org, me);
  nom_checks k;
  if (!rc)
    rc = store_nomination_checks(ctx, org, me, t->req->request_id, t->nn.badge_id, t->nn.nominee_key, t->nn.nominees,
                                 t->nn.nnominees, &k);
  if (rc) {
    PQclear(people);
    return rc;
  }
  if (*k.replay_id) {   /* the same request again: the same nomination */
    PQclear(people);
    t->replay = 1;
    return store_nomination_get(ctx, org, k.replay_id, 0, &t->out);
  }
  Accolade__V1__Member **ms;
  if ((rc = store_members_of(ctx, people, t->nn.nnominees + 1, &ms)) || (rc = nominees_take(t, ms))) return rc;
  if (k.duplicate)
    return rpc_fail(ctx, RPC_ALREADY_EXISTS, "nominee_ids: an identical nomination for this badge is already open");
  if (k.used >= k.allowance) {
    time_t rs = (time_t)(k.resets_ms / 1000);
    struct tm tm;
    gmtime_r(&rs, &tm);
    char when[32];
    strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%SZ", &tm);
    return rpc_fail(ctx, RPC_RESOURCE_EXHAUSTED, "allowance: %d of %d nominations used this month; resets at %s", k.used,
                    k.allowance, when);
  }
  for (size_t i = 0; i < t->nn.nnominees; i++)
    if (k.pairs[i] >= k.pair_cap)
      return rpc_fail(ctx, RPC_RESOURCE_EXHAUSTED,
                      "nominee_ids[%zu]: you have nominated %s %d times this quarter (the limit); try someone else",
                      i, t->nn.nominees[i], k.pairs[i]);
  if ((rc = store_nomination_insert(ctx, org, &t->nn, &t->out))) return rc;
  if ((rc = nom_event(ctx, t->out, "created"))) return rc;
  if (t->badge.auto_approve) return nom_approve(ctx, t->out, "auto", "AUTO badge");
  return RPC_OK;
}

int nominate_create(rpc_ctx *ctx, const void *req, void *resp) {
  const Accolade__V1__CreateNominationRequest *r = req;
  if (rpc_require(ctx, ANY_ROLE)) return ctx->code;
  if (check_slug(ctx, "badge_id", r->badge_id) || check_text(ctx, "justification", r->justification, 40, 4000, "must be specific") ||
      check_id(ctx, "request_id", r->request_id, 128) || check_enum(ctx, "visibility", r->visibility, 0, 2))
    return ctx->code;
  if (r->n_nominee_ids < 1 || r->n_nominee_ids > MAX_NOMINEES)
    return rpc_fail(ctx, RPC_INVALID_ARGUMENT, "nominee_ids: between 1 and %d (got %zu)", MAX_NOMINEES, r->n_nominee_ids);
  if (r->n_evidence_links > MAX_EVIDENCE)
    return rpc_fail(ctx, RPC_INVALID_ARGUMENT, "evidence_links: at most %d (got %zu)", MAX_EVIDENCE, r->n_evidence_links);
  for (size_t i = 0; i < r->n_evidence_links; i++) {
    char f[40];
    snprintf(f, sizeof f, "evidence_links[%zu]", i);
    if (check_len(ctx, f, r->evidence_links[i], 1, 500) || check_url(ctx, f, r->evidence_links[i], 500)) return ctx->code;
  }
  outbox_admit(rpc_remaining_ms(ctx));   /* the reviewer's notice goes through the outbox */
  create_tx t = {.ctx = ctx, .req = r};
  /* Nominees: valid, distinct, not me, active members; teams for the award. */
  char **sorted = ARENA_ARRAY(ctx->arena, char *, r->n_nominee_ids);
  const char **teams = ARENA_ARRAY(ctx->arena, const char *, r->n_nominee_ids);
  for (size_t i = 0; i < r->n_nominee_ids; i++) {
    char f[40];
    snprintf(f, sizeof f, "nominee_ids[%zu]", i);
    if (check_id(ctx, f, r->nominee_ids[i], 128)) return ctx->code;
    if (!strcmp(r->nominee_ids[i], ctx->id.user))
      return rpc_fail(ctx, RPC_INVALID_ARGUMENT, "%s: you cannot nominate yourself", f);
    for (size_t k = 0; k < i; k++)
      if (!strcmp(r->nominee_ids[k], r->nominee_ids[i]))
        return rpc_fail(ctx, RPC_INVALID_ARGUMENT, "%s: '%s' is listed twice", f, r->nominee_ids[i]);
    sorted[i] = r->nominee_ids[i];
  }
  qsort(sorted, r->n_nominee_ids, sizeof *sorted, cmp_str);
  /* The nominees and the nominator, read as members in the transaction. */
  t.who = ARENA_ARRAY(ctx->arena, const char *, r->n_nominee_ids + 1);
  memcpy(t.who, sorted, r->n_nominee_ids * sizeof *t.who);
  t.who[r->n_nominee_ids] = ctx->id.user;
  t.teams = teams;
  if (badge_lookup(ctx, r->badge_id, &t.badge)) return ctx->code;
  if (!t.badge.active) return rpc_fail(ctx, RPC_FAILED_PRECONDITION, "badge_id: '%s' is retired", r->badge_id);
  size_t keylen = 1;
  for (size_t i = 0; i < r->n_nominee_ids; i++) keylen += strlen(sorted[i]) + 1;
  char *key = arena_alloc(ctx->arena, keylen);
  for (size_t i = 0; i < r->n_nominee_ids; i++) {
    if (i) strcat(key, ",");
    strcat(key, sorted[i]);
  }
  t.nn = (nom_new){
      .request_id = r->request_id,
      .nominator = ctx->id.user,
      .badge_id = r->badge_id,
      .badge_name = t.badge.name,
      .justification = r->justification,
      .evidence = (const char *const *)r->evidence_links,
      .nevidence = r->n_evidence_links,
      .public_ = r->visibility != ACCOLADE__V1__VISIBILITY__PRIVATE,
      .nominee_key = key,
      .nominees = (const char *const *)sorted,
      .nominee_teams = teams,
      .nnominees = r->n_nominee_ids,
  };
  int rc = pg_tx(create_run, &t);
  if (rc) return ctx->code ? ctx->code : pg_fail(ctx, rc, "create nomination");
  *(Accolade__V1__Nomination *)resp = *t.out;
  return RPC_OK;
}

/* ---------------------------------------------------------------- reads */

int nominate_get(rpc_ctx *ctx, const void *req, void *resp) {
  const Accolade__V1__GetNominationRequest *r = req;
  if (rpc_require(ctx, ANY_ROLE) || check_uuid(ctx, "nomination_id", r->nomination_id)) return ctx->code;
  Accolade__V1__Nomination *n;
  Accolade__V1__OrgSettings *s;
  int rc = store_nomination_get(ctx, ctx->id.org, r->nomination_id, 0, &n);
  if (!rc) rc = store_settings(ctx, ctx->id.org, &s);
  if (rc == RPC_NOT_FOUND || (!rc && !nom_visible(ctx, n, s->blind_review)))
    return rpc_fail(ctx, RPC_NOT_FOUND, "nomination_id: no nomination '%s'", r->nomination_id);
  if (rc) return pg_fail(ctx, rc, "get nomination");
  *(Accolade__V1__Nomination *)resp = *n;
  return RPC_OK;
}

int nominate_list(rpc_ctx *ctx, const void *req, void *resp) {
  const Accolade__V1__ListNominationsRequest *r = req;
  Accolade__V1__ListNominationsResponse *out = resp;
  int limit, has;
  int64_t after_us = INT64_MAX;
  char *after_id = "ffffffff-ffff-ffff-ffff-ffffffffffff";
  if (rpc_require(ctx, ANY_ROLE) || page_size(ctx, r->page_size, 50, 200, &limit) ||
      check_enum(ctx, "role", r->role, 0, 3) || check_enum(ctx, "status", r->status, 0, 4) ||
      (*r->badge_id && check_slug(ctx, "badge_id", r->badge_id)) ||
      page_token_parse(ctx, r->page_token, &has, &after_us, &after_id))
    return ctx->code;
  if (!has) after_us = INT64_MAX;
  if (has && check_uuid(ctx, "page_token", after_id)) return ctx->code;
  if (!has) after_id = "ffffffff-ffff-ffff-ffff-ffffffffffff";
  Accolade__V1__OrgSettings *s;
  int64_t *cursors;
  size_t n;
  int rc = store_settings(ctx, ctx->id.org, &s);
  if (!rc)
    rc = store_nomination_list(ctx, ctx->id.org, ctx->id.user, r->role, r->status, r->badge_id, after_us, after_id,
                               limit + 1, &out->nominations, &cursors, &n);
  if (rc) return pg_fail(ctx, rc, "list nominations");
  if (page_more(&n, limit)) out->next_page_token = page_token_make(ctx, cursors[n - 1], out->nominations[n - 1]->id);
  for (size_t i = 0; i < n; i++) nom_visible(ctx, out->nominations[i], s->blind_review);
  out->n_nominations = n;
  return RPC_OK;
}

typedef struct withdraw_tx {
  rpc_ctx *ctx;
  const char *id;
  Accolade__V1__Nomination *n;
} withdraw_tx;

static int withdraw_run(void *arg) {
  withdraw_tx *t = arg;
  rpc_ctx *ctx = t->ctx;
  int rc = store_nomination_get(ctx, ctx->id.org, t->id, 1, &t->n);
  if (rc) return rc;
  if (strcmp(t->n->nominator_id, ctx->id.user) != 0)
    return nom_visible(ctx, t->n, 0) ? rpc_fail(ctx, RPC_PERMISSION_DENIED, "nomination_id: only the nominator may withdraw")
                                     : RPC_NOT_FOUND;
  if (t->n->status == ACCOLADE__V1__NOMINATION_STATUS__WITHDRAWN) return RPC_OK;   /* again: as it stands */
  if (t->n->status != ACCOLADE__V1__NOMINATION_STATUS__PENDING)
    return rpc_fail(ctx, RPC_FAILED_PRECONDITION, "nomination_id: only a pending nomination can be withdrawn (it is %s)",
                    nom_status_name(t->n->status));
  if ((rc = store_nomination_decide(ctx->id.org, t->id, ACCOLADE__V1__NOMINATION_STATUS__WITHDRAWN, ctx->id.user, "")))
    return rc;
  return store_nomination_get(ctx, ctx->id.org, t->id, 0, &t->n);
}

int nominate_withdraw(rpc_ctx *ctx, const void *req, void *resp) {
  const Accolade__V1__WithdrawNominationRequest *r = req;
  if (rpc_require(ctx, ANY_ROLE) || check_uuid(ctx, "nomination_id", r->nomination_id)) return ctx->code;
  withdraw_tx t = {ctx, r->nomination_id, NULL};
  int rc = pg_tx(withdraw_run, &t);
  if (rc == RPC_NOT_FOUND) return rpc_fail(ctx, RPC_NOT_FOUND, "nomination_id: no nomination '%s'", r->nomination_id);
  if (rc) return ctx->code ? ctx->code : pg_fail(ctx, rc, "withdraw");
  *(Accolade__V1__Nomination *)resp = *t.n;
  return RPC_OK;
}

const char *nom_status_name(int status) {
  const ProtobufCEnumValue *v =
      protobuf_c_enum_descriptor_get_value(&accolade__v1__nomination_status__descriptor, status);
  return v ? v->name : "UNKNOWN";
}

int nominate_allowance(rpc_ctx *ctx, const void *req, void *resp) {
  (void)req;
  Accolade__V1__Allowance *out = resp;
  if (rpc_require(ctx, ANY_ROLE)) return ctx->code;
  Accolade__V1__OrgSettings *s;
  int used;
  int rc = store_settings(ctx, ctx->id.org, &s);
  if (!rc) rc = store_used_this_month(ctx->id.org, ctx->id.user, &used, &out->resets_at_ms);
  if (rc) return pg_fail(ctx, rc, "allowance");
  out->used = used;
  out->per_month = s->allowance_per_month;
  out->left = used < s->allowance_per_month ? s->allowance_per_month - used : 0;
  return RPC_OK;
}
