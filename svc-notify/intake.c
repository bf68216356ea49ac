/* intake.c - PublishEvent: inbox rows, live subscribers (via the inbox) and
 * webhook deliveries, once per event id. */
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "batch.h"
#include "check.h"
#include "notify.h"
#include "pg.h"
#include "pg_status.h"
#include "render.h"
#include "store.h"

typedef struct rendered {
  const char *kind, *title, *body, *team;
  char *const *to;
  size_t nto;
  render_shout shout;   /* the same, for chat channels */
} rendered;

/* arena_join: |v| joined with ", ". */
static const char *arena_join(arena *a, char *const *v, size_t n) {
  size_t len = 1;
  for (size_t i = 0; i < n; i++) len += strlen(v[i]) + 2;
  char *out = arena_alloc(a, len), *p = out;
  *p = 0;
  for (size_t i = 0; i < n; i++) p += sprintf(p, "%s%s", i ? ", " : "", v[i]);
  return out;
}

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
    case ACCOLADE__V1__EVENT__KIND_RECOGNITION_PROMPT:
      out->kind = "recognition_prompt";
      out->title = ev->recognition_prompt->text;
      out->to = &ev->recognition_prompt->member_id;
      out->nto = 1;
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
  out->shout = (render_shout){.kind = out->kind ? out->kind : "", .title = out->title ? out->title : "", .who = "",
                              .badge = n ? n->badge_name : a ? a->badge_name : "", .justification = out->body,
                              .source_id = n ? n->nomination_id : a ? a->source_id : "", .points = a ? a->points : 0};
  if (a) out->shout.who = *a->recipient_name ? a->recipient_name : a->recipient_id;
  if (n && ev->kind_case != ACCOLADE__V1__EVENT__KIND_NOMINATION_CREATED &&
      ev->kind_case != ACCOLADE__V1__EVENT__KIND_REVIEW_OVERDUE)
    out->shout.who = arena_join(ctx->arena, n->nominee_ids, n->n_nominee_ids);
  if (a && strncmp(a->source_id, "rule:", 5) == 0) out->shout.source_id = "";   /* a milestone: no nomination */
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
  /* In a batch: the rows it writes at its end (claimed at its start:
   * |accepted| is set), and whether the org has channels. */
  store_intake_rows *rows;
  int channels;
} publish_tx;

static int publish_run(void *arg) {
  publish_tx *t = arg;
  rpc_ctx *ctx = t->ctx;
  const char *org = ctx->id.org;
  const Accolade__V1__Event *ev = t->ev;
  store_intake_rows *w = t->rows;
  int rc = w ? RPC_OK : store_event_claim(org, ev->event_id, &t->accepted);
  if (rc || !t->accepted) return rc;   /* seen before: nothing again */
  for (size_t i = 0; i < t->r.nto && !rc; i++) {
    if (!*t->r.to[i]) continue;
    if (!w) {
      rc = store_inbox_add(org, t->r.to[i], ev->event_id, t->r.kind, t->r.title, t->r.body);
      continue;
    }
    size_t k = w->n_inbox++;
    w->user[k] = t->r.to[i];
    w->event_id[k] = ev->event_id;
    w->kind[k] = t->r.kind;
    w->title[k] = t->r.title;
    w->body[k] = t->r.body;
  }
  if (rc) return rc;
  if (ev->kind_case == ACCOLADE__V1__EVENT__KIND_RECOGNITION_PROMPT) return RPC_OK;   /* private: no channels */
  int64_t when = ev->occurred_at_ms ? ev->occurred_at_ms : (int64_t)time(NULL) * 1000;
  if (ev->kind_case == ACCOLADE__V1__EVENT__KIND_NOMINATION_APPROVED && ev->nomination_approved->public_ &&
      ev->nomination_approved->endorsements > 0 &&
      (rc = store_endorsed_add(ctx->arena, org, ev->nomination_approved, when)))
    return rc;
  if (ev->kind_case == ACCOLADE__V1__EVENT__KIND_AWARD_GRANTED) {
    const Accolade__V1__AwardRecord *a = ev->award_granted;
    if (!a->public_) return RPC_OK;   /* private awards: no feed, no channels */
    int64_t ms = a->granted_at_ms ? a->granted_at_ms : when;
    if (w) {
      w->recog[w->n_recog] = a;
      w->recog_ms[w->n_recog++] = arena_printf(ctx->arena, "%lld", (long long)ms);
    } else if ((rc = store_recognition_add(org, a, ms))) {
      return rc;
    }
  }
  if (ev->kind_case == ACCOLADE__V1__EVENT__KIND_AWARD_REVOKED && ev->award_revoked->award &&
      (rc = store_recognition_revoke(org, ev->award_revoked->award->award_id)))
    return rc;
  if (w && !t->channels) return RPC_OK;   /* nothing to deliver to */
  store_bodies bodies = {
      .json = webhook_body(ctx, ev, &t->r),
      .slack = notify_adopt(ctx->arena, render_slack(&t->r.shout, digest_link_base())),
      .teams = notify_adopt(ctx->arena, render_teams(&t->r.shout, digest_link_base())),
  };
  return store_deliveries_queue(org, ev->event_id, &bodies, t->r.kind, t->r.team);
}

/* check_event checks an event (PublishEvent's, or one of PublishEvents')
 * and renders it into |t|. */
static int check_event(rpc_ctx *ctx, const Accolade__V1__Event *ev, publish_tx *t) {
  *t = (publish_tx){.ctx = ctx, .ev = ev};
  if (strcmp(ev->org, ctx->id.org) != 0) return rpc_fail(ctx, RPC_PERMISSION_DENIED, "org: must be the caller's org");
  if (check_len(ctx, "event_id", ev->event_id, 1, 200)) return ctx->code;
  render(ctx, ev, &t->r);
  if (!t->r.kind) return rpc_fail(ctx, RPC_INVALID_ARGUMENT, "kind: an event kind is required");
  return RPC_OK;
}

int intake_publish(rpc_ctx *ctx, const void *req, void *resp) {
  const Accolade__V1__Event *ev = req;
  Accolade__V1__PublishEventResponse *out = resp;
  if (rpc_require(ctx, ROLE_SERVICE)) return ctx->code;
  publish_tx t;
  if (check_event(ctx, ev, &t)) return ctx->code;
  int rc = pg_tx(publish_run, &t);
  if (rc) return pg_fail(ctx, rc, "publish event");
  out->accepted = t.accepted;
  return RPC_OK;
}

/* PublishEvents: the batch (batch.h). Its first statement takes the inbox
 * locks of every recipient in one order (batches that share recipients
 * cannot deadlock) and claims the events; the events' inbox rows and
 * recognitions are written by one statement each at its end. */
typedef struct publish_many {
  rpc_ctx *ctx;
  Accolade__V1__Event **events;
  publish_tx *items;
  store_intake_rows rows;
} publish_many;

static int publish_check(void *arg, size_t i) {
  publish_many *m = arg;
  return check_event(m->ctx, m->events[i], &m->items[i]);
}

static int publish_begin(void *arg, const size_t *run, size_t n) {
  publish_many *m = arg;
  arena *a = m->ctx->arena;
  size_t nusers = 0;
  for (size_t k = 0; k < n; k++) nusers += m->items[run[k]].r.nto;
  const char **users = ARENA_ARRAY(a, const char *, nusers + 1), **ids = ARENA_ARRAY(a, const char *, n + 1);
  int **accepted = ARENA_ARRAY(a, int *, n + 1);
  nusers = 0;
  for (size_t k = 0; k < n; k++) {
    publish_tx *t = &m->items[run[k]];
    for (size_t j = 0; j < t->r.nto; j++)
      if (*t->r.to[j]) users[nusers++] = t->r.to[j];
    ids[k] = t->ev->event_id;
    accepted[k] = &t->accepted;
    t->rows = &m->rows;
  }
  store_intake_rows_init(a, &m->rows, nusers + n);
  int channels = 1, rc = store_intake_begin(a, m->ctx->id.org, users, nusers, &channels);
  for (size_t k = 0; k < n; k++) m->items[run[k]].channels = channels;
  return rc ? rc : store_events_claim_many(a, m->ctx->id.org, ids, n, accepted);
}

static int publish_item(void *arg, size_t i, int *applied) {
  publish_tx *t = &((publish_many *)arg)->items[i];
  int rc = publish_run(t);
  *applied = t->accepted;
  return rc;
}

static int publish_end(void *arg, const size_t *run, size_t n) {
  (void)run;
  (void)n;
  publish_many *m = arg;
  return store_intake_rows_write(m->ctx->arena, m->ctx->id.org, &m->rows);
}

static const char *publish_key(void *arg, size_t i) { return ((publish_many *)arg)->events[i]->event_id; }

int intake_publish_many(rpc_ctx *ctx, const void *req, void *resp) {
  const Accolade__V1__PublishEventsRequest *r = req;
  Accolade__V1__PublishEventsResponse *out = resp;
  if (rpc_require(ctx, ROLE_SERVICE)) return ctx->code;
  publish_many m = {ctx, r->events, ARENA_ARRAY(ctx->arena, publish_tx, r->n_events + 1), {0}};
  batch_spec spec = {.what = "publish event", .check = publish_check, .begin = publish_begin, .end = publish_end,
                     .item = publish_item, .key = publish_key, .arg = &m};
  if (!(out->results = batch_serve(ctx, "events", r->n_events, &spec))) return ctx->code;
  out->n_results = r->n_events;
  return RPC_OK;
}
