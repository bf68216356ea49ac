/* emit.c - an award announced: the outbox rows of a grant (RecordAward for
 * svc-leaderboard, AwardGranted for svc-notify) and of a revocation, and the
 * grant no one reviews (milestones, signal rules). Shared by grant.c,
 * rules.c and signal_rules.c, so none of them calls another's grant path. */
#include <string.h>

#include "accolade/v1/events.pb-c.h"
#include "accolade/v1/leaderboard.pb-c.h"
#include "accolade/v1/notify.pb-c.h"
#include "award.h"
#include "outbox.h"
#include "store.h"

static void to_record(const char *org, const Accolade__V1__Award *a, Accolade__V1__AwardRecord *rec) {
  accolade__v1__award_record__init(rec);
  rec->award_id = a->id;
  rec->org = (char *)org;
  rec->badge_id = a->badge_id;
  rec->badge_name = a->badge_name;
  rec->category = a->category;
  rec->points = a->points;
  rec->recipient_id = a->recipient_id;
  rec->recipient_team = a->recipient_team;
  rec->recipient_name = a->recipient_name;
  rec->giver_id = a->giver_id;
  rec->giver_team = a->giver_team;
  rec->source_id = a->source_id;
  rec->granted_at_ms = a->grant_time_ms;
  rec->public_ = a->public_;
  rec->justification = a->justification;
  rec->milestone = a->milestone;
}

int emit_granted_many(rpc_ctx *ctx, Accolade__V1__Award *const *a, size_t n) {
  const char *org = ctx->id.org;
  Accolade__V1__AwardRecord *rec = ARENA_ARRAY(ctx->arena, Accolade__V1__AwardRecord, n + 1);
  Accolade__V1__Event *ev = ARENA_ARRAY(ctx->arena, Accolade__V1__Event, n + 1);
  const ProtobufCMessage **recs = ARENA_ARRAY(ctx->arena, const ProtobufCMessage *, n + 1);
  const ProtobufCMessage **evs = ARENA_ARRAY(ctx->arena, const ProtobufCMessage *, n + 1);
  for (size_t i = 0; i < n; i++) {
    to_record(org, a[i], &rec[i]);
    accolade__v1__event__init(&ev[i]);
    ev[i].event_id = arena_printf(ctx->arena, "award-granted:%s", a[i]->id);
    ev[i].org = (char *)org;
    ev[i].occurred_at_ms = a[i]->grant_time_ms;
    ev[i].kind_case = ACCOLADE__V1__EVENT__KIND_AWARD_GRANTED;
    ev[i].award_granted = &rec[i];
    recs[i] = &rec[i].base;
    evs[i] = &ev[i].base;
  }
  int rc = outbox_enqueue_many(&accolade__v1__leaderboard_service__descriptor, "RecordAward", org, recs, n);
  if (rc) return rc;
  return outbox_enqueue_many(&accolade__v1__notify_service__descriptor, "PublishEvent", org, evs, n);
}

int emit_granted(rpc_ctx *ctx, Accolade__V1__Award *a) { return emit_granted_many(ctx, &a, 1); }

int emit_auto_grant(rpc_ctx *ctx, const award_new *an, Accolade__V1__Award **out) {
  Accolade__V1__Badge *b;
  int rc = store_badge_get(ctx, ctx->id.org, an->badge_id, &b);
  if (rc) return rc;
  if (!b->active) return RPC_FAILED_PRECONDITION;
  if ((rc = store_award_insert(ctx, ctx->id.org, an, out))) return rc;
  return emit_granted(ctx, *out);
}

int emit_revoked(rpc_ctx *ctx, const Accolade__V1__Award *a, const char *reason) {
  Accolade__V1__RetractAwardRequest rr = ACCOLADE__V1__RETRACT_AWARD_REQUEST__INIT;
  rr.award_id = a->id;
  rr.org = ctx->id.org;
  rr.reason = (char *)reason;
  int rc = outbox_enqueue(&accolade__v1__leaderboard_service__descriptor, "RetractAward", ctx->id.org, &rr.base);
  if (rc) return rc;
  Accolade__V1__AwardRecord rec;
  to_record(ctx->id.org, a, &rec);
  Accolade__V1__AwardRevokedEvent rev = ACCOLADE__V1__AWARD_REVOKED_EVENT__INIT;
  rev.award = &rec;
  rev.reason = (char *)reason;
  Accolade__V1__Event ev = ACCOLADE__V1__EVENT__INIT;
  ev.event_id = arena_printf(ctx->arena, "award-revoked:%s", a->id);
  ev.org = ctx->id.org;
  ev.occurred_at_ms = a->revoke_time_ms;
  ev.kind_case = ACCOLADE__V1__EVENT__KIND_AWARD_REVOKED;
  ev.award_revoked = &rev;
  return outbox_enqueue(&accolade__v1__notify_service__descriptor, "PublishEvent", ctx->id.org, &ev.base);
}

int emit_rule_award(rpc_ctx *ctx, const char *badge, const char *member, const char *team, const char *source,
                    const char *justification, const char *milestone_rule_id, Accolade__V1__Award **out) {
  award_new an = {
      .badge_id = badge,
      .recipient_id = member,
      .recipient_team = team,
      .giver_id = "",
      .giver_team = "",
      .source_id = source,
      .justification = justification,
      .public = 1,
      .milestone_rule_id = milestone_rule_id,
  };
  *out = NULL;
  int rc = emit_auto_grant(ctx, &an, out);
  /* Granted before, or a retired badge: nothing to grant. */
  if (rc == RPC_ALREADY_EXISTS || rc == RPC_FAILED_PRECONDITION) {
    *out = NULL;
    return RPC_OK;
  }
  return rc;
}

void award_list_push(rpc_ctx *ctx, Accolade__V1__Award *a, Accolade__V1__Award ***out, size_t *n, size_t *cap) {
  if (*n == *cap) {
    size_t ncap = *cap ? *cap * 2 : 4;
    Accolade__V1__Award **grown = ARENA_ARRAY(ctx->arena, Accolade__V1__Award *, ncap);
    if (*n) memcpy(grown, *out, *n * sizeof *grown);
    *out = grown;
    *cap = ncap;
  }
  (*out)[(*n)++] = a;
}
