/* intake.c - PublishEvent: inbox rows, live subscribers (via the inbox) and
 * webhook deliveries, once per event id. */
#include <json-c/json.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "check.h"
#include "notify.h"
#include "pg.h"

typedef struct rendered {
  const char *kind, *title, *body, *team;
  char *const *to;
  size_t nto;
} rendered;

static void render(rpc_ctx *ctx, const Accolade__V1__Event *ev, rendered *out) {
  memset(out, 0, sizeof *out);
  out->team = "";
  const Accolade__V1__NominationEvent *n = NULL;
  const Accolade__V1__AwardRecord *a = NULL;
  switch (ev->kind_case) {
    case ACCOLADE__V1__EVENT__KIND_NOMINATION_CREATED:
      n = ev->nomination_created;
      out->kind = "nomination_created";
      out->title = arena_printf(ctx->arena, "New nomination for %s to review", n->badge_name);
      out->to = n->reviewer_ids;
      out->nto = n->n_reviewer_ids;
      break;
    case ACCOLADE__V1__EVENT__KIND_NOMINATION_APPROVED:
      n = ev->nomination_approved;
      out->kind = "nomination_approved";
      out->title = arena_printf(ctx->arena, "Your %s nomination was approved", n->badge_name);
      out->to = &n->nominator_id;
      out->nto = *n->nominator_id ? 1 : 0;
      break;
    case ACCOLADE__V1__EVENT__KIND_NOMINATION_REJECTED:
      n = ev->nomination_rejected;
      out->kind = "nomination_rejected";
      out->title = arena_printf(ctx->arena, "Your %s nomination was not approved", n->badge_name);
      out->to = &n->nominator_id;
      out->nto = *n->nominator_id ? 1 : 0;
      break;
    case ACCOLADE__V1__EVENT__KIND_REVIEW_OVERDUE:
      n = ev->review_overdue;
      out->kind = "review_overdue";
      out->title = arena_printf(ctx->arena, "A %s nomination has waited %lld days for your review", n->badge_name,
                                (long long)n->pending_days);
      out->to = n->reviewer_ids;
      out->nto = n->n_reviewer_ids;
      break;
    case ACCOLADE__V1__EVENT__KIND_AWARD_GRANTED:
      a = ev->award_granted;
      out->kind = "award_granted";
      out->title = arena_printf(ctx->arena, "%s earned %s (+%lld points)", a->recipient_id, a->badge_name,
                                (long long)a->points);
      out->to = &a->recipient_id;
      out->nto = 1;
      out->team = a->recipient_team;
      break;
    case ACCOLADE__V1__EVENT__KIND_AWARD_REVOKED:
      a = ev->award_revoked && ev->award_revoked->award ? ev->award_revoked->award : NULL;
      out->kind = "award_revoked";
      out->title = a ? arena_printf(ctx->arena, "An award of %s was revoked", a->badge_name) : "An award was revoked";
      if (a) {
        out->to = &a->recipient_id;
        out->nto = 1;
        out->team = a->recipient_team;
      }
      break;
    case ACCOLADE__V1__EVENT__KIND_NUDGE:
      out->kind = "nudge";
      out->title = *ev->nudge->text ? ev->nudge->text : "Recognise a colleague this week";
      out->to = ev->nudge->member_ids;
      out->nto = ev->nudge->n_member_ids;
      break;
    default:
      break;
  }
  out->body = n ? n->justification : a ? a->justification : "";
}

/* webhook_body: JSON a Slack-style incoming webhook accepts ("text"), with the
 * structured fields beside it. */
static char *webhook_body(rpc_ctx *ctx, const Accolade__V1__Event *ev, const rendered *r) {
  json_object *o = json_object_new_object();
  json_object_object_add(o, "text", json_object_new_string(r->title));
  json_object_object_add(o, "kind", json_object_new_string(r->kind));
  json_object_object_add(o, "event_id", json_object_new_string(ev->event_id));
  json_object_object_add(o, "org", json_object_new_string(ev->org));
  json_object_object_add(o, "occurred_at_ms", json_object_new_int64(ev->occurred_at_ms));
  json_object_object_add(o, "detail", json_object_new_string(r->body));
  char *out = arena_strdup(ctx->arena, json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN));
  json_object_put(o);
  return out;
}

typedef struct publish_tx {
  rpc_ctx *ctx;
  const Accolade__V1__Event *ev;
  rendered r;
  int accepted;
} publish_tx;

static int publish_run(void *arg) {
  publish_tx *t = arg;
  rpc_ctx *ctx = t->ctx;
  const char *org = ctx->id.org;
  const char *p[] = {org, t->ev->event_id};
  PGresult *res;
  int rc = pg_query(&res, "INSERT INTO event_seen (org, event_id) VALUES ($1, $2) ON CONFLICT DO NOTHING RETURNING 1", 2, p);
  if (rc) return rc;
  t->accepted = PQntuples(res) == 1;
  PQclear(res);
  if (!t->accepted) return RPC_OK;   /* seen before: nothing again */
  for (size_t i = 0; i < t->r.nto; i++) {
    if (!*t->r.to[i]) continue;
    /* One writer per inbox at a time: ids then commit in order, so a
     * Subscribe cursor can never pass a row that commits later. */
    const char *l[] = {org, t->r.to[i]};
    if ((rc = pg_exec("SELECT pg_advisory_xact_lock(hashtext('notify.inbox'), hashtext($1 || '/' || $2))", 2, l)))
      return rc;
    const char *q[] = {org, t->r.to[i], t->ev->event_id, t->r.kind, t->r.title, t->r.body};
    rc = pg_exec("INSERT INTO inbox (org, user_id, event_id, kind, title, body) "
                 "SELECT $1, $2, $3, $4, $5, $6 WHERE NOT EXISTS (SELECT 1 FROM preferences "
                 "WHERE org = $1 AND user_id = $2 AND $4 = ANY (muted_kinds)) ON CONFLICT DO NOTHING",
                 6, q);
    /* wakes this member's Subscribe streams at commit (live.c) */
    if (!rc) rc = pg_exec("SELECT pg_notify('" LIVE_CHANNEL "', $1 || '/' || $2)", 2, l);
    if (rc) return rc;
  }
  if (!strcmp(t->r.kind, "nomination_approved") && t->ev->nomination_approved->public_ &&
      t->ev->nomination_approved->endorsements > 0) {
    const Accolade__V1__NominationEvent *n = t->ev->nomination_approved;
    char cnt[24], ms[24];
    snprintf(cnt, sizeof cnt, "%lld", (long long)n->endorsements);
    snprintf(ms, sizeof ms, "%lld", (long long)(t->ev->occurred_at_ms ? t->ev->occurred_at_ms : (int64_t)time(NULL) * 1000));
    const char *q[] = {org, n->nomination_id, n->badge_name, pg_text_array(ctx->arena, (const char *const *)n->nominee_ids, n->n_nominee_ids),
                       cnt, n->justification, ms};
    rc = pg_exec("INSERT INTO endorsed (org, nomination_id, badge_name, nominee_ids, endorsements, justification, "
                 "approved_at) VALUES ($1, $2, $3, $4::text[], $5, $6, to_timestamp($7::bigint / 1000.0)) "
                 "ON CONFLICT DO NOTHING",
                 7, q);
    if (rc) return rc;
  }
  if (!strcmp(t->r.kind, "award_granted") && t->ev->award_granted->public_) {
    const Accolade__V1__AwardRecord *a = t->ev->award_granted;
    char pts[24], ms[24];
    snprintf(pts, sizeof pts, "%lld", (long long)a->points);
    int64_t when = a->granted_at_ms ? a->granted_at_ms : t->ev->occurred_at_ms;
    snprintf(ms, sizeof ms, "%lld", (long long)(when ? when : (int64_t)time(NULL) * 1000));
    const char *q[] = {org, a->award_id, a->recipient_id, a->recipient_team, a->badge_id, a->badge_name, pts,
                       a->justification, ms, a->source_id};
    rc = pg_exec("INSERT INTO recognition (org, award_id, recipient_id, recipient_team, badge_id, badge_name, points, "
                 "justification, granted_at, source_id) VALUES ($1,$2,$3,$4,$5,$6,$7,$8, to_timestamp($9::bigint / 1000.0), "
                 "$10) ON CONFLICT DO NOTHING",
                 10, q);
    if (rc) return rc;
  }
  if (!strcmp(t->r.kind, "award_revoked") && t->ev->award_revoked->award) {
    const char *q[] = {org, t->ev->award_revoked->award->award_id};
    if ((rc = pg_exec("UPDATE recognition SET revoked = true WHERE org = $1 AND award_id = $2", 2, q))) return rc;
  }
  if (!strcmp(t->r.kind, "award_granted") && !t->ev->award_granted->public_) return RPC_OK;
  const char *q[] = {org, t->ev->event_id, webhook_body(ctx, t->ev, &t->r), t->r.kind, t->r.team};
  rc = pg_exec("INSERT INTO delivery (org, channel_id, event_id, body) SELECT $1, id, $2, $3 FROM channel "
               "WHERE org = $1 AND deleted_at IS NULL AND (cardinality(kinds) = 0 OR $4 = ANY (kinds)) "
               "AND (team = '' OR team = $5) ON CONFLICT DO NOTHING",
               5, q);
  return rc;
}

int intake_publish(rpc_ctx *ctx, const void *req, void *resp) {
  const Accolade__V1__Event *ev = req;
  Accolade__V1__PublishEventResponse *out = resp;
  if (rpc_require(ctx, ROLE_SERVICE)) return ctx->code;
  if (strcmp(ev->org, ctx->id.org) != 0) return rpc_fail(ctx, RPC_PERMISSION_DENIED, "org: must be the caller's org");
  if (check_len(ctx, "event_id", ev->event_id, 1, 200)) return ctx->code;
  publish_tx t = {.ctx = ctx, .ev = ev};
  render(ctx, ev, &t.r);
  if (!t.r.kind) return rpc_fail(ctx, RPC_INVALID_ARGUMENT, "kind: an event kind is required");
  int rc = pg_tx(publish_run, &t);
  if (rc) return pg_fail(ctx, rc, "publish event");
  out->accepted = t.accepted;
  return RPC_OK;
}
