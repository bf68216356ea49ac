/* inbox.c - ListInbox, MarkRead, Subscribe and preferences. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "notify.h"
#include "pg.h"

#define INBOX_COLS \
  "id, kind, title, body, event_id, (extract(epoch from created_at) * 1000)::bigint, read_at IS NOT NULL"

static Accolade__V1__Notification *row(rpc_ctx *ctx, PGresult *r, int i) {
  Accolade__V1__Notification *n = ARENA_NEW(ctx->arena, Accolade__V1__Notification);
  accolade__v1__notification__init(n);
  n->id = pg_int(r, i, 0);
  n->kind = arena_strdup(ctx->arena, pg_str(r, i, 1));
  n->title = arena_strdup(ctx->arena, pg_str(r, i, 2));
  n->body = arena_strdup(ctx->arena, pg_str(r, i, 3));
  n->event_id = arena_strdup(ctx->arena, pg_str(r, i, 4));
  n->create_time_ms = pg_int(r, i, 5);
  n->read = pg_str(r, i, 6)[0] == 't';
  return n;
}

static int unread(rpc_ctx *ctx, int64_t *out) {
  const char *p[] = {ctx->id.org, ctx->id.user};
  PGresult *r;
  int rc = pg_query(&r, "SELECT count(*) FROM inbox WHERE org=$1 AND user_id=$2 AND read_at IS NULL", 2, p);
  if (rc) return rc;
  *out = pg_int(r, 0, 0);
  PQclear(r);
  return RPC_OK;
}

int inbox_list(rpc_ctx *ctx, const void *req, void *resp) {
  const Accolade__V1__ListInboxRequest *r = req;
  Accolade__V1__ListInboxResponse *out = resp;
  int limit, has;
  int64_t before = 0;
  char *unused;
  if (rpc_require(ctx, ANY_ROLE) || page_size(ctx, r->page_size, 50, 200, &limit) ||
      page_token_parse(ctx, r->page_token, &has, &before, &unused))
    return ctx->code;
  char b[24], lim[16];
  snprintf(b, sizeof b, "%lld", (long long)(has ? before : INT64_MAX));
  snprintf(lim, sizeof lim, "%d", limit + 1);
  const char *p[] = {ctx->id.org, ctx->id.user, b, r->unread_only ? "true" : "false", lim};
  PGresult *res;
  int rc = pg_query(&res,
                    "SELECT " INBOX_COLS " FROM inbox WHERE org=$1 AND user_id=$2 AND id < $3::bigint "
                    "AND (NOT $4::boolean OR read_at IS NULL) ORDER BY id DESC LIMIT $5",
                    5, p);
  if (!rc) {
    size_t n = (size_t)PQntuples(res);
    out->notifications = ARENA_ARRAY(ctx->arena, Accolade__V1__Notification *, n + 1);
    for (size_t i = 0; i < n && i < (size_t)limit; i++) out->notifications[out->n_notifications++] = row(ctx, res, (int)i);
    if (n > (size_t)limit)
      out->next_page_token = page_token_make(ctx, out->notifications[limit - 1]->id, "");
    PQclear(res);
    rc = unread(ctx, &out->unread_count);
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
  /* The ids as an int8[] literal. */
  char *arr = arena_alloc(ctx->arena, 24 * (r->n_ids + 1) + 3);
  size_t k = 0;
  arr[k++] = '{';
  for (size_t i = 0; i < r->n_ids; i++) k += (size_t)sprintf(arr + k, "%s%lld", i ? "," : "", (long long)r->ids[i]);
  arr[k++] = '}';
  arr[k] = 0;
  const char *p[] = {ctx->id.org, ctx->id.user, r->all ? "true" : "false", arr};
  PGresult *res;
  int rc = pg_query(&res,
                    "UPDATE inbox SET read_at = now() WHERE org=$1 AND user_id=$2 AND read_at IS NULL "
                    "AND ($3::boolean OR id = ANY ($4::int8[])) RETURNING id",
                    4, p);
  if (!rc) {
    out->marked = PQntuples(res);
    PQclear(res);
    rc = unread(ctx, &out->unread_count);
  }
  if (rc) return pg_fail(ctx, rc, "mark read");
  return RPC_OK;
}

int inbox_subscribe(rpc_ctx *ctx, const void *req, rpc_stream *s) {
  const Accolade__V1__SubscribeRequest *r = req;
  if (rpc_require(ctx, ANY_ROLE) || check_range(ctx, "after_id", r->after_id, 0, INT64_MAX) ||
      check_range(ctx, "heartbeat_seconds", r->heartbeat_seconds, 0, 300))
    return ctx->code;
  int64_t cursor = r->after_id;
  if (!cursor && !r->from_start) {
    /* Only what arrives from now on. */
    PGresult *res;
    const char *p[] = {ctx->id.org, ctx->id.user};
    if (pg_query(&res, "SELECT coalesce(max(id), 0) FROM inbox WHERE org=$1 AND user_id=$2", 2, p) != RPC_OK)
      return rpc_fail(ctx, RPC_UNAVAILABLE, "subscribe: postgres unavailable, retry later");
    cursor = pg_int(res, 0, 0);
    PQclear(res);
  }
  int64_t heartbeat_ms = (r->heartbeat_seconds ? r->heartbeat_seconds : 15) * 1000LL;
  int64_t last_sent = rpc_now_ms();
  for (;;) {
    /* Read the version before the query: a row committed during it moves the
     * version, so the wait below returns at once and the next query sees it. */
    uint64_t seen = live_version(ctx->id.org, ctx->id.user);
    int64_t queried = rpc_now_ms();
    char c[24];
    snprintf(c, sizeof c, "%lld", (long long)cursor);
    const char *p[] = {ctx->id.org, ctx->id.user, c};
    PGresult *res;
    if (pg_query(&res,
                 "SELECT " INBOX_COLS " FROM inbox WHERE org=$1 AND user_id=$2 AND id > $3::bigint ORDER BY id LIMIT 100",
                 3, p) != RPC_OK)
      return rpc_fail(ctx, RPC_UNAVAILABLE, "subscribe: postgres unavailable; resume after id %lld", (long long)cursor);
    int n = PQntuples(res);
    for (int i = 0; i < n; i++) {
      arena a;
      arena_init(&a);
      arena *keep = ctx->arena;
      ctx->arena = &a;
      Accolade__V1__Notification *note = row(ctx, res, i);
      ctx->arena = keep;
      int sent = rpc_stream_send(s, note);
      if (sent == 0) cursor = note->id;
      arena_free(&a);
      if (sent != 0) {
        PQclear(res);
        return RPC_OK;   /* the client left; it resumes from its last id */
      }
      last_sent = rpc_now_ms();
    }
    PQclear(res);
    if (n == 100) continue;
    /* Sleep until this member's inbox may have changed, a heartbeat is due,
     * the safety-net query is due, or the client leaves. */
    for (;;) {
      if (rpc_stream_closed(s)) return RPC_OK;
      int64_t now = rpc_now_ms();
      if (now - last_sent >= heartbeat_ms) {
        Accolade__V1__Notification hb = ACCOLADE__V1__NOTIFICATION__INIT;
        hb.heartbeat = 1;
        hb.id = cursor;
        if (rpc_stream_send(s, &hb) != 0) return RPC_OK;
        last_sent = now;
      }
      if (now - queried >= LIVE_FALLBACK_MS) break;
      /* 200 ms steps: a client that leaves is noticed that soon */
      if (live_wait(ctx->id.org, ctx->id.user, seen, 200) != seen) break;
    }
  }
}

int prefs_get(rpc_ctx *ctx, const void *req, void *resp) {
  (void)req;
  Accolade__V1__Preferences *out = resp;
  if (rpc_require(ctx, ANY_ROLE)) return ctx->code;
  const char *p[] = {ctx->id.org, ctx->id.user};
  PGresult *r;
  int rc = pg_query(&r, "SELECT array_to_string(muted_kinds, ','), weekly_digest FROM preferences WHERE org=$1 AND user_id=$2",
                    2, p);
  if (rc) return pg_fail(ctx, rc, "get preferences");
  out->weekly_digest = 1;
  if (PQntuples(r)) {
    char *s = arena_strdup(ctx->arena, pg_str(r, 0, 0)), *save = NULL;
    out->muted_kinds = ARENA_ARRAY(ctx->arena, char *, 16);
    for (char *t = strtok_r(s, ",", &save); t && out->n_muted_kinds < 16; t = strtok_r(NULL, ",", &save))
      out->muted_kinds[out->n_muted_kinds++] = t;
    out->weekly_digest = pg_str(r, 0, 1)[0] == 't';
  }
  PQclear(r);
  return RPC_OK;
}

static const char *const kinds[] = {"nomination_created", "nomination_approved", "nomination_rejected",
                                    "review_overdue", "award_granted", "award_revoked", "nudge"};

int prefs_update(rpc_ctx *ctx, const void *req, void *resp) {
  const Accolade__V1__UpdatePreferencesRequest *r = req;
  if (rpc_require(ctx, ANY_ROLE)) return ctx->code;
  if (!r->preferences) return rpc_fail(ctx, RPC_INVALID_ARGUMENT, "preferences: required");
  const Accolade__V1__Preferences *pr = r->preferences;
  if (pr->n_muted_kinds > 7) return rpc_fail(ctx, RPC_INVALID_ARGUMENT, "preferences.muted_kinds: at most 7");
  char arr[512] = "{";
  for (size_t i = 0; i < pr->n_muted_kinds; i++) {
    int ok = 0;
    for (size_t k = 0; k < sizeof kinds / sizeof kinds[0]; k++) ok |= !strcmp(pr->muted_kinds[i], kinds[k]);
    if (!ok)
      return rpc_fail(ctx, RPC_INVALID_ARGUMENT, "preferences.muted_kinds[%zu]: unknown kind '%.40s'", i,
                      pr->muted_kinds[i]);
    strcat(arr, i ? "," : "");
    strcat(arr, pr->muted_kinds[i]);
  }
  strcat(arr, "}");
  const char *p[] = {ctx->id.org, ctx->id.user, arr, pr->weekly_digest ? "true" : "false"};
  int rc = pg_exec("INSERT INTO preferences VALUES ($1, $2, $3::text[], $4) ON CONFLICT (org, user_id) "
                   "DO UPDATE SET muted_kinds = $3::text[], weekly_digest = $4",
                   4, p);
  if (rc) return pg_fail(ctx, rc, "update preferences");
  *(Accolade__V1__Preferences *)resp = *pr;
  return RPC_OK;
}
