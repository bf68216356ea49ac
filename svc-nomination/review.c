/* review.c - ReviewNomination, EndorseNomination, AddReflection, and the
 * commands and events they send through the outbox. */
#include <stdio.h>
#include <string.h>

#include "accolade/v1/award.pb-c.h"
#include "accolade/v1/events.pb-c.h"
#include "accolade/v1/notify.pb-c.h"
#include "check.h"
#include "log.h"
#include "nom.h"
#include "outbox.h"
#include "pg.h"
#include "pg_status.h"
#include "store.h"


static int event_of(rpc_ctx *ctx, const Accolade__V1__Nomination *n, const char *kind, int64_t days) {
  Accolade__V1__NominationEvent ne = ACCOLADE__V1__NOMINATION_EVENT__INIT;
  ne.nomination_id = n->id;
  ne.badge_id = n->badge_id;
  ne.badge_name = n->badge_name;
  ne.nominator_id = n->nominator_id;
  ne.nominee_ids = n->nominee_ids;
  ne.n_nominee_ids = n->n_nominee_ids;
  ne.reviewer_ids = n->reviewer_ids;
  ne.n_reviewer_ids = n->n_reviewer_ids;
  ne.justification = n->justification;
  ne.comment = n->review_comment;
  ne.public_ = n->visibility != ACCOLADE__V1__VISIBILITY__PRIVATE;
  ne.pending_days = days;
  ne.endorsements = n->endorsements;
  Accolade__V1__Event ev = ACCOLADE__V1__EVENT__INIT;
  ev.event_id = arena_printf(ctx->arena, "nomination-%s:%s", kind, n->id);
  ev.org = ctx->id.org;
  ev.occurred_at_ms = n->decide_time_ms ? n->decide_time_ms : n->create_time_ms;
  if (!strcmp(kind, "created")) {
    ev.kind_case = ACCOLADE__V1__EVENT__KIND_NOMINATION_CREATED;
    ev.nomination_created = &ne;
  } else if (!strcmp(kind, "overdue")) {
    ev.kind_case = ACCOLADE__V1__EVENT__KIND_REVIEW_OVERDUE;
    ev.review_overdue = &ne;
    ne.nominator_id = "";   /* reminders do not say who nominated */
  } else if (!strcmp(kind, "approved")) {
    ev.kind_case = ACCOLADE__V1__EVENT__KIND_NOMINATION_APPROVED;
    ev.nomination_approved = &ne;
  } else {
    ev.kind_case = ACCOLADE__V1__EVENT__KIND_NOMINATION_REJECTED;
    ev.nomination_rejected = &ne;
  }
  return outbox_enqueue(&accolade__v1__notify_service__descriptor, "PublishEvent", ctx->id.org, &ev.base);
}

int nom_event(rpc_ctx *ctx, const Accolade__V1__Nomination *n, const char *kind) { return event_of(ctx, n, kind, 0); }

int nom_event_overdue(rpc_ctx *ctx, const Accolade__V1__Nomination *n, int64_t days) {
  return event_of(ctx, n, "overdue", days);
}

int nom_on_grant_reply(const char *org, const uint8_t *req, size_t req_len, const uint8_t *reply,
                       size_t reply_len) {
  Accolade__V1__GrantAwardRequest *g = accolade__v1__grant_award_request__unpack(NULL, req_len, req);
  Accolade__V1__GrantAwardResponse *r = accolade__v1__grant_award_response__unpack(NULL, reply_len, reply);
  int rc = 0;
  for (size_t i = 0; g && r && rc == 0 && i < r->n_outcomes; i++)
    if (r->outcomes[i]->result == ACCOLADE__V1__GRANT_OUTCOME__RESULT__CAP_REACHED) {
      log_info("nomination %s: no award for %s, the badge's cap was reached", g->source_id,
               r->outcomes[i]->recipient_id);
      rc = store_nomination_not_awarded(org, g->source_id, r->outcomes[i]->recipient_id);
    }
  if (!g || !r) log_error("GrantAward reply for org %s: cannot decode it", org);   /* not worth a retry */
  if (g) accolade__v1__grant_award_request__free_unpacked(g, NULL);
  if (r) accolade__v1__grant_award_response__free_unpacked(r, NULL);
  return rc;
}

/* giver_and_nominees: |n|'s nominator, then its nominees, as members (NULL
 * where unknown), in one query. */
static int giver_and_nominees(rpc_ctx *ctx, const Accolade__V1__Nomination *n, Accolade__V1__Member ***ms) {
  const char **who = ARENA_ARRAY(ctx->arena, const char *, n->n_nominee_ids + 1);
  who[0] = n->nominator_id;
  memcpy(who + 1, n->nominee_ids, n->n_nominee_ids * sizeof *who);
  return store_members_get(ctx, ctx->id.org, who, n->n_nominee_ids + 1, ms);
}

/* approve, |n| settled as approved (its decide_time_ms set; |teams| its
 * nominees' teams recorded on it, |nteams| of them), sends GrantAward to
 * svc-award in the same transaction (idempotent there on the nomination
 * id); |ms| as giver_and_nominees gives them (names shown on the
 * leaderboards). */
static int approve(rpc_ctx *ctx, Accolade__V1__Nomination *n, const char *reviewer, const char *comment,
                   Accolade__V1__Member **ms, char **teams, size_t nteams) {
  const char *org = ctx->id.org;
  int rc;
  Accolade__V1__GrantAwardRequest g = ACCOLADE__V1__GRANT_AWARD_REQUEST__INIT;
  g.source_id = n->id;
  g.badge_id = n->badge_id;
  g.giver_id = n->nominator_id;
  g.justification = n->justification;
  g.evidence_links = n->evidence_links;   /* carried into Open Badges credentials */
  g.n_evidence_links = n->n_evidence_links;
  g.public_ = n->visibility != ACCOLADE__V1__VISIBILITY__PRIVATE;
  g.giver_team = ms[0] ? ms[0]->team : "";
  g.n_recipients = n->n_nominee_ids;
  g.recipients = ARENA_ARRAY(ctx->arena, Accolade__V1__Recipient *, n->n_nominee_ids);
  for (size_t i = 0; i < n->n_nominee_ids; i++) {
    g.recipients[i] = ARENA_NEW(ctx->arena, Accolade__V1__Recipient);
    accolade__v1__recipient__init(g.recipients[i]);
    g.recipients[i]->member_id = n->nominee_ids[i];
    g.recipients[i]->team = i < nteams ? teams[i] : "";   /* both sorted by user id */
    if (ms[i + 1]) g.recipients[i]->display_name = ms[i + 1]->display_name;
  }
  if ((rc = outbox_enqueue(&accolade__v1__award_service__descriptor, "GrantAward", org, &g.base))) return rc;
  if (n->visibility != ACCOLADE__V1__VISIBILITY__PRIVATE && (rc = store_index_approved(org, n->id, n->justification)))
    return rc;
  n->status = ACCOLADE__V1__NOMINATION_STATUS__APPROVED;
  n->reviewer_id = (char *)reviewer;
  n->review_comment = (char *)comment;
  return nom_event(ctx, n, "approved");
}

int nom_approve(rpc_ctx *ctx, Accolade__V1__Nomination *n, const char *reviewer, const char *comment) {
  Accolade__V1__Member **ms;
  char **teams;
  size_t nteams;
  int rc = giver_and_nominees(ctx, n, &ms);
  if (!rc)
    rc = store_nomination_settle(ctx, ctx->id.org, n->id, ACCOLADE__V1__NOMINATION_STATUS__APPROVED, reviewer, comment,
                                 &n->decide_time_ms, &teams, &nteams);
  return rc ? rc : approve(ctx, n, reviewer, comment, ms, teams, nteams);
}

typedef struct review_tx {
  rpc_ctx *ctx;
  const Accolade__V1__ReviewNominationRequest *req;
  Accolade__V1__Nomination *n;
} review_tx;

static int review_run(void *arg) {
  review_tx *t = arg;
  rpc_ctx *ctx = t->ctx;
  const char *org = ctx->id.org;
  /* The nomination, locked, and the people a decision names (the reviewer,
   * the giver and the nominees: an approval's names), in one round trip. */
  PGresult *people;
  int rc = store_decision_people_later(org, t->req->nomination_id, ctx->id.user, &people);
  if (!rc) rc = store_nomination_get(ctx, org, t->req->nomination_id, 1, &t->n);
  if (rc) {
    PQclear(people);
    return rc;
  }
  Accolade__V1__Nomination *n = t->n;
  Accolade__V1__Member **ms;
  char **teams;
  int64_t decided_ms;
  if ((rc = store_decision_people(ctx, people, n, &ms, &teams, &decided_ms))) return rc;
  int routed = 0;
  for (size_t i = 0; i < n->n_reviewer_ids; i++) routed |= !strcmp(n->reviewer_ids[i], ctx->id.user);
  if (!routed && ctx->id.role != ROLE_ADMIN)
    return nom_visible(ctx, n, 0) ? rpc_fail(ctx, RPC_PERMISSION_DENIED,
                                             "nomination_id: not routed to you for review (reviewers: its nominees' managers, or admins)")
                                  : RPC_NOT_FOUND;
  if (!strcmp(n->nominator_id, ctx->id.user))
    return rpc_fail(ctx, RPC_PERMISSION_DENIED, "nomination_id: you cannot review your own nomination");
  for (size_t i = 0; i < n->n_nominee_ids; i++)
    if (!strcmp(n->nominee_ids[i], ctx->id.user))
      return rpc_fail(ctx, RPC_PERMISSION_DENIED, "nomination_id: you cannot review a nomination of yourself");
  Accolade__V1__Member *me = ms[n->n_nominee_ids + 1];
  if (me && !me->active)
    return rpc_fail(ctx, RPC_PERMISSION_DENIED, "nomination_id: deactivated members cannot review");
  int status = t->req->approve ? ACCOLADE__V1__NOMINATION_STATUS__APPROVED : ACCOLADE__V1__NOMINATION_STATUS__REJECTED;
  if (n->status != ACCOLADE__V1__NOMINATION_STATUS__PENDING) {
    /* The same decision by the same reviewer again (a retry whose first reply
     * was lost): the nomination as it stands, nothing done twice. */
    if ((int)n->status == status && !strcmp(n->reviewer_id, ctx->id.user)) return RPC_OK;
    return rpc_fail(ctx, RPC_FAILED_PRECONDITION, "nomination_id: the nomination is not pending (it is %s)",
                    nom_status_name(n->status));
  }
  /* The UPDATE goes with the COMMIT; its decided_at is the time read above. */
  if ((rc = store_nomination_decide(org, n->id, status, ctx->id.user, t->req->comment))) return rc;
  n->decide_time_ms = decided_ms;
  if (t->req->approve) return approve(ctx, n, ctx->id.user, t->req->comment, ms, teams, n->n_nominee_ids);
  n->status = ACCOLADE__V1__NOMINATION_STATUS__REJECTED;
  n->reviewer_id = ctx->id.user;
  n->review_comment = (char *)t->req->comment;
  return nom_event(ctx, n, "rejected");
}

int review_decide(rpc_ctx *ctx, const void *req, void *resp) {
  const Accolade__V1__ReviewNominationRequest *r = req;
  if (rpc_require(ctx, ROLE_MANAGER | ROLE_ADMIN) || check_uuid(ctx, "nomination_id", r->nomination_id) ||
      check_len(ctx, "comment", r->comment, 0, 2000))
    return ctx->code;
  outbox_admit(rpc_remaining_ms(ctx));   /* its award and notices go through the outbox */
  review_tx t = {ctx, r, NULL};
  int rc = pg_tx(review_run, &t);
  if (rc == RPC_NOT_FOUND) return rpc_fail(ctx, RPC_NOT_FOUND, "nomination_id: no nomination '%s'", r->nomination_id);
  if (rc) return ctx->code ? ctx->code : pg_fail(ctx, rc, "review");
  *(Accolade__V1__Nomination *)resp = *t.n;   /* as the transaction left it */
  return RPC_OK;
}

int review_endorse(rpc_ctx *ctx, const void *req, void *resp) {
  const Accolade__V1__EndorseNominationRequest *r = req;
  Accolade__V1__EndorseNominationResponse *out = resp;
  if (rpc_require(ctx, ANY_ROLE) || check_uuid(ctx, "nomination_id", r->nomination_id) ||
      check_len(ctx, "comment", r->comment, 0, 500))
    return ctx->code;
  Accolade__V1__Nomination *n;
  int rc = store_nomination_get(ctx, ctx->id.org, r->nomination_id, 0, &n);
  if (rc == RPC_NOT_FOUND || (!rc && !nom_visible(ctx, n, 0)))
    return rpc_fail(ctx, RPC_NOT_FOUND, "nomination_id: no nomination '%s'", r->nomination_id);
  if (rc) return pg_fail(ctx, rc, "endorse");
  if (!strcmp(n->nominator_id, ctx->id.user))
    return rpc_fail(ctx, RPC_FAILED_PRECONDITION, "nomination_id: the nominator cannot endorse their own nomination");
  for (size_t i = 0; i < n->n_nominee_ids; i++)
    if (!strcmp(n->nominee_ids[i], ctx->id.user))
      return rpc_fail(ctx, RPC_FAILED_PRECONDITION, "nomination_id: nominees cannot endorse their own nomination");
  if (n->status != ACCOLADE__V1__NOMINATION_STATUS__PENDING)
    return rpc_fail(ctx, RPC_FAILED_PRECONDITION, "nomination_id: only a pending nomination can be endorsed");
  rc = store_endorse(ctx->id.org, r->nomination_id, ctx->id.user, r->comment, &out->endorsements);
  if (rc == RPC_ALREADY_EXISTS) return rpc_fail(ctx, RPC_ALREADY_EXISTS, "nomination_id: you already endorsed it");
  if (rc) return pg_fail(ctx, rc, "endorse");
  return RPC_OK;
}

typedef struct reflect_tx {
  rpc_ctx *ctx;
  const Accolade__V1__AddReflectionRequest *req;
} reflect_tx;

static int reflect_run(void *arg) {
  reflect_tx *t = arg;
  rpc_ctx *ctx = t->ctx;
  Accolade__V1__Nomination *n;
  int rc = store_nomination_get(ctx, ctx->id.org, t->req->nomination_id, 0, &n);
  if (rc) return rc;
  int nominee = 0;
  for (size_t i = 0; i < n->n_nominee_ids; i++) nominee |= !strcmp(n->nominee_ids[i], ctx->id.user);
  if (!nominee)
    return nom_visible(ctx, n, 0) ? rpc_fail(ctx, RPC_PERMISSION_DENIED, "nomination_id: only a nominee may reflect")
                                  : RPC_NOT_FOUND;
  if (n->status != ACCOLADE__V1__NOMINATION_STATUS__APPROVED)
    return rpc_fail(ctx, RPC_FAILED_PRECONDITION, "nomination_id: reflections follow an approval");
  rc = store_reflect(ctx->id.org, t->req->nomination_id, ctx->id.user, t->req->text);
  if (rc == RPC_ALREADY_EXISTS) return rpc_fail(ctx, RPC_ALREADY_EXISTS, "nomination_id: you already reflected on it");
  if (rc) return rc;
  return store_index_doc(ctx->id.org, t->req->nomination_id);
}

int review_reflections(rpc_ctx *ctx, const void *req, void *resp) {
  const Accolade__V1__ListReflectionsRequest *r = req;
  Accolade__V1__ListReflectionsResponse *out = resp;
  if (rpc_require(ctx, ANY_ROLE | ROLE_SERVICE)) return ctx->code;   /* svc-notify's digest reads them */
  if (r->n_nomination_ids < 1 || r->n_nomination_ids > 20)
    return rpc_fail(ctx, RPC_INVALID_ARGUMENT, "nomination_ids: 1 to 20 ids");
  for (size_t i = 0; i < r->n_nomination_ids; i++)
    if (check_uuid(ctx, "nomination_ids", r->nomination_ids[i])) return ctx->code;
  /* Members read private nominations' reflections where they may see the
   * nomination; services (the digest) public ones only. */
  int member = ctx->id.role != ROLE_SERVICE;
  const char **ids = ARENA_ARRAY(ctx->arena, const char *, r->n_nomination_ids);
  size_t n = 0;
  for (size_t i = 0; i < r->n_nomination_ids; i++) {
    Accolade__V1__Nomination *nom;
    int rc = member ? store_nomination_get(ctx, ctx->id.org, r->nomination_ids[i], 0, &nom) : RPC_OK;
    if (rc && rc != RPC_NOT_FOUND) return pg_fail(ctx, rc, "list reflections");
    if (!rc && (!member || nom_visible(ctx, nom, 0))) ids[n++] = r->nomination_ids[i];
  }
  int rc = store_reflections(ctx, ctx->id.org, ids, n, member, &out->reflections, &out->n_reflections);
  if (rc) return pg_fail(ctx, rc, "list reflections");
  return RPC_OK;
}

int review_reflect(rpc_ctx *ctx, const void *req, void *resp) {
  const Accolade__V1__AddReflectionRequest *r = req;
  (void)resp;
  if (rpc_require(ctx, ANY_ROLE) || check_uuid(ctx, "nomination_id", r->nomination_id) ||
      check_len(ctx, "text", r->text, 20, 4000))
    return ctx->code;
  reflect_tx t = {ctx, r};
  int rc = pg_tx(reflect_run, &t);
  if (rc == RPC_NOT_FOUND) return rpc_fail(ctx, RPC_NOT_FOUND, "nomination_id: no nomination '%s'", r->nomination_id);
  if (rc) return ctx->code ? ctx->code : pg_fail(ctx, rc, "reflect");
  return RPC_OK;
}
