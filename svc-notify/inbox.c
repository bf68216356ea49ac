/* inbox.c - ListInbox, MarkRead, Subscribe and preferences. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "notify.h"
#include "pg.h"
#include "pg_status.h"
#include "store.h"

int inbox_list(rpc_ctx *ctx, const void *req, void *resp) {
  const Accolade__V1__ListInboxRequest *r = req;
  Accolade__V1__ListInboxResponse *out = resp;
  int limit, has;
  int64_t before = 0;
  char *unused;
  if (rpc_require(ctx, ANY_ROLE) || page_size(ctx, r->page_size, 50, 200, &limit) ||
      page_token_parse(ctx, r->page_token, &has, &before, &unused))
    return ctx->code;
  size_t n;
  int rc = store_inbox_page(ctx->arena, ctx->id.org, ctx->id.user, has ? before : INT64_MAX, r->unread_only, limit + 1,
                            &out->notifications, &n);
  if (!rc) {
    if (page_more(&n, limit)) out->next_page_token = page_token_make(ctx, out->notifications[n - 1]->id, "");
    out->n_notifications = n;
    rc = store_unread(ctx->id.org, ctx->id.user, &out->unread_count);
  }
  if (rc) return pg_fail(ctx, rc, "list inbox");
  return RPC_OK;
}

int inbox_mark_read(rpc_ctx *ctx, const void *req, void *resp) {
  const Accolade__V1__MarkReadRequest *r = req;
  Accolade__V1__MarkReadResponse *out = resp;
  if (rpc_require(ctx, ANY_ROLE)) return ctx->code;
  if (!r->all && (r->n_ids < 1 || r->n_ids > 500))
    return rpc_fail(ctx, RPC_INVALID_ARGUMENT, "ids: between 1 and 500, or set all");
  int rc = store_mark_read(ctx->id.org, ctx->id.user, r->all, r->ids, r->n_ids, &out->marked);
  if (!rc) rc = store_unread(ctx->id.org, ctx->id.user, &out->unread_count);
  if (rc) return pg_fail(ctx, rc, "mark read");
  return RPC_OK;
}

/* A Subscribe stream's state across its steps. */
typedef struct sub_state {
  int started;
  int more;              /* the last query filled its page: query again at once */
  int64_t cursor;        /* the last id sent */
  int64_t heartbeat_ms;
  int64_t last_sent;     /* a message or a heartbeat */
  int64_t queried;       /* when the inbox was last read */
  uint64_t seen;         /* live_version before that read */
  const char *org, *user;
} sub_state;

static int sub_moved(void *arg) {
  const sub_state *st = arg;
  return live_version(st->org, st->user) != st->seen;
}

/* inbox_subscribe, a step: what is new in the member's inbox since the
 * cursor, then a sleep until the inbox may have changed (live.c), a
 * heartbeat is due, or the safety-net read is due. Between steps the
 * stream holds no thread and no Postgres connection. */
int inbox_subscribe(rpc_ctx *ctx, const void *req, rpc_stream *s) {
  const Accolade__V1__SubscribeRequest *r = req;
  sub_state *st = rpc_stream_state(s, sizeof *st);
  if (!st->started) {
    if (rpc_require(ctx, ANY_ROLE) || check_range(ctx, "after_id", r->after_id, 0, INT64_MAX) ||
        check_range(ctx, "heartbeat_seconds", r->heartbeat_seconds, 0, 300))
      return ctx->code;
    st->cursor = r->after_id;
    if (!st->cursor && !r->from_start) {
      /* Only what arrives from now on. */
      if (store_inbox_last_id(ctx->id.org, ctx->id.user, &st->cursor) != RPC_OK)
        return rpc_fail(ctx, RPC_UNAVAILABLE, "subscribe: postgres unavailable, retry later");
    }
    st->heartbeat_ms = (r->heartbeat_seconds ? r->heartbeat_seconds : 15) * 1000LL;
    st->last_sent = rpc_now_ms();
    st->org = ctx->id.org;
    st->user = ctx->id.user;
    st->started = 1;
    st->more = 1;
  }
  if (rpc_stream_closed(s)) return RPC_OK;
  int64_t now = rpc_now_ms();
  if (st->more || sub_moved(st) || now - st->queried >= LIVE_FALLBACK_MS) {
    /* Read the version before the query: a row committed during it moves the
     * version, so the next step comes at once and its query sees it. */
    st->seen = live_version(st->org, st->user);
    st->queried = now;
    arena a;   /* one batch's rows; the stream may run for hours */
    arena_init(&a);
    Accolade__V1__Notification **rows;
    size_t n;
    if (store_inbox_after(&a, st->org, st->user, st->cursor, 100, &rows, &n) != RPC_OK) {
      arena_free(&a);
      return rpc_fail(ctx, RPC_UNAVAILABLE, "subscribe: postgres unavailable; resume after id %lld",
                      (long long)st->cursor);
    }
    for (size_t i = 0; i < n; i++) {
      if (rpc_stream_send(s, rows[i]) != 0) {
        arena_free(&a);
        return RPC_OK;   /* the client left; it resumes from its last id */
      }
      st->cursor = rows[i]->id;
      st->last_sent = now;
    }
    arena_free(&a);
    st->more = n == 100;
    if (st->more) return RPC_STREAM_AGAIN;   /* the next page once these are sent */
  }
  if (now - st->last_sent >= st->heartbeat_ms) {
    Accolade__V1__Notification hb = ACCOLADE__V1__NOTIFICATION__INIT;
    hb.heartbeat = 1;
    hb.id = st->cursor;
    if (rpc_stream_send(s, &hb) != 0) return RPC_OK;
    st->last_sent = now;
  }
  int64_t next = st->last_sent + st->heartbeat_ms;
  if (st->queried + LIVE_FALLBACK_MS < next) next = st->queried + LIVE_FALLBACK_MS;
  rpc_stream_sleep(s, (int)(next > now ? next - now : 0), sub_moved, st);
  return RPC_STREAM_AGAIN;
}

int prefs_get(rpc_ctx *ctx, const void *req, void *resp) {
  (void)req;
  if (rpc_require(ctx, ANY_ROLE)) return ctx->code;
  int rc = store_prefs_get(ctx->arena, ctx->id.org, ctx->id.user, resp);
  if (rc) return pg_fail(ctx, rc, "get preferences");
  return RPC_OK;
}

/* The one list of event kinds: what inbox rows, channel deliveries and
 * muted kinds name (intake.c), and "digest" (digest.c). */
static const char *const kinds[] = {"nomination_created", "nomination_approved", "nomination_rejected",
                                    "review_overdue", "award_granted", "award_revoked", "nudge",
                                    "recognition_prompt", "digest"};
#define NKINDS (sizeof kinds / sizeof kinds[0])

int notify_check_kinds(rpc_ctx *ctx, const char *field, char *const *list, size_t n) {
  if (n > NKINDS) return rpc_fail(ctx, RPC_INVALID_ARGUMENT, "%s: at most %zu", field, NKINDS);
  for (size_t i = 0; i < n; i++) {
    int ok = 0;
    for (size_t k = 0; k < NKINDS; k++) ok |= !strcmp(list[i], kinds[k]);
    if (!ok)
      return rpc_fail(ctx, RPC_INVALID_ARGUMENT,
                      "%s[%zu]: unknown kind '%.40s' (nomination_created, nomination_approved, nomination_rejected, "
                      "review_overdue, award_granted, award_revoked, nudge, recognition_prompt, digest)",
                      field, i, list[i]);
  }
  return RPC_OK;
}

int prefs_update(rpc_ctx *ctx, const void *req, void *resp) {
  const Accolade__V1__UpdatePreferencesRequest *r = req;
  if (rpc_require(ctx, ANY_ROLE)) return ctx->code;
  if (!r->preferences) return rpc_fail(ctx, RPC_INVALID_ARGUMENT, "preferences: required");
  const Accolade__V1__Preferences *pr = r->preferences;
  if (notify_check_kinds(ctx, "preferences.muted_kinds", pr->muted_kinds, pr->n_muted_kinds)) return ctx->code;
  int rc = store_prefs_put(ctx->arena, ctx->id.org, ctx->id.user, pr);
  if (rc) return pg_fail(ctx, rc, "update preferences");
  *(Accolade__V1__Preferences *)resp = *pr;
  return RPC_OK;
}
