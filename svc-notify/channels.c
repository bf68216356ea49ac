/* channels.c - webhook channels (admin) and their deliveries. */
#include <stdio.h>
#include <string.h>

#include "check.h"
#include "notify.h"
#include "pg.h"

#define CHANNEL_COLS \
  "id, url, array_to_string(kinds, ','), team, (extract(epoch from created_at) * 1000)::bigint"

static Accolade__V1__Channel *channel_row(rpc_ctx *ctx, PGresult *r, int i) {
  Accolade__V1__Channel *c = ARENA_NEW(ctx->arena, Accolade__V1__Channel);
  accolade__v1__channel__init(c);
  c->id = arena_strdup(ctx->arena, pg_str(r, i, 0));
  c->url = arena_strdup(ctx->arena, pg_str(r, i, 1));
  char *k = arena_strdup(ctx->arena, pg_str(r, i, 2)), *save = NULL;
  c->kinds = ARENA_ARRAY(ctx->arena, char *, 8);
  for (char *t = strtok_r(k, ",", &save); t && c->n_kinds < 8; t = strtok_r(NULL, ",", &save)) c->kinds[c->n_kinds++] = t;
  c->team = arena_strdup(ctx->arena, pg_str(r, i, 3));
  c->create_time_ms = pg_int(r, i, 4);
  return c;   /* the secret is write-only */
}

int channels_create(rpc_ctx *ctx, const void *req, void *resp) {
  const Accolade__V1__CreateChannelRequest *r = req;
  if (rpc_require(ctx, ROLE_ADMIN)) return ctx->code;
  if (!r->channel) return rpc_fail(ctx, RPC_INVALID_ARGUMENT, "channel: required");
  const Accolade__V1__Channel *c = r->channel;
  if (check_len(ctx, "channel.url", c->url, 1, 500) || check_url(ctx, "channel.url", c->url, 500) ||
      check_len(ctx, "channel.secret", c->secret, 16, 256) || (*c->team && check_id(ctx, "channel.team", c->team, 128)))
    return ctx->code;
  if (c->n_kinds > 7) return rpc_fail(ctx, RPC_INVALID_ARGUMENT, "channel.kinds: at most 7");
  char kinds[400] = "{";
  for (size_t i = 0; i < c->n_kinds; i++) {
    if (check_id(ctx, "channel.kinds", c->kinds[i], 40)) return ctx->code;
    strcat(kinds, i ? "," : "");
    strcat(kinds, c->kinds[i]);
  }
  strcat(kinds, "}");
  char resolve[600];
  const char *why;
  if (webhook_url_allowed(c->url, webhook_allow_private(), resolve, sizeof resolve, &why) != 0)
    return rpc_fail(ctx, RPC_INVALID_ARGUMENT, "channel.url: %s", why);
  const char *p[] = {ctx->id.org, c->url, c->secret, kinds, c->team};
  PGresult *res;
  int rc = pg_query(&res, "INSERT INTO channel (org, url, secret, kinds, team) VALUES ($1, $2, $3, $4::text[], $5) "
                          "RETURNING " CHANNEL_COLS, 5, p);
  if (rc) return pg_fail(ctx, rc, "create channel");
  *(Accolade__V1__Channel *)resp = *channel_row(ctx, res, 0);
  PQclear(res);
  return RPC_OK;
}

int channels_list(rpc_ctx *ctx, const void *req, void *resp) {
  const Accolade__V1__ListChannelsRequest *r = req;
  Accolade__V1__ListChannelsResponse *out = resp;
  int limit, has;
  int64_t after = 0;
  char *unused;
  if (rpc_require(ctx, ROLE_ADMIN) || page_size(ctx, r->page_size, 50, 200, &limit) ||
      page_token_parse(ctx, r->page_token, &has, &after, &unused))
    return ctx->code;
  char a[24], lim[16];
  snprintf(a, sizeof a, "%lld", (long long)after);
  snprintf(lim, sizeof lim, "%d", limit + 1);
  const char *p[] = {ctx->id.org, a, lim};
  PGresult *res;
  int rc = pg_query(&res, "SELECT " CHANNEL_COLS ", (extract(epoch from created_at) * 1000000)::bigint FROM channel "
                          "WHERE org = $1 AND deleted_at IS NULL AND (extract(epoch from created_at) * 1000000)::bigint > $2::bigint "
                          "ORDER BY created_at LIMIT $3", 3, p);
  if (rc) return pg_fail(ctx, rc, "list channels");
  size_t n = (size_t)PQntuples(res);
  out->channels = ARENA_ARRAY(ctx->arena, Accolade__V1__Channel *, n + 1);
  for (size_t i = 0; i < n && i < (size_t)limit; i++) out->channels[out->n_channels++] = channel_row(ctx, res, (int)i);
  if (n > (size_t)limit) out->next_page_token = page_token_make(ctx, pg_int(res, limit - 1, 5), "");
  PQclear(res);
  return RPC_OK;
}

int channels_delete(rpc_ctx *ctx, const void *req, void *resp) {
  const Accolade__V1__DeleteChannelRequest *r = req;
  (void)resp;
  if (rpc_require(ctx, ROLE_ADMIN) || check_uuid(ctx, "channel_id", r->channel_id)) return ctx->code;
  const char *p[] = {ctx->id.org, r->channel_id};
  PGresult *res;
  int rc = pg_query(&res, "UPDATE channel SET deleted_at = now() WHERE org=$1 AND id=$2::uuid AND deleted_at IS NULL "
                          "RETURNING id", 2, p);
  if (rc) return pg_fail(ctx, rc, "delete channel");
  int found = PQntuples(res);
  PQclear(res);
  if (!found) return rpc_fail(ctx, RPC_NOT_FOUND, "channel_id: no channel '%s'", r->channel_id);
  return RPC_OK;
}

int channels_test(rpc_ctx *ctx, const void *req, void *resp) {
  const Accolade__V1__TestChannelRequest *r = req;
  Accolade__V1__TestChannelResponse *out = resp;
  if (rpc_require(ctx, ROLE_ADMIN) || check_uuid(ctx, "channel_id", r->channel_id)) return ctx->code;
  char *event = arena_printf(ctx->arena, "test:%s:%lld", r->channel_id, (long long)rpc_now_ms());
  const char *p[] = {ctx->id.org, r->channel_id, event,
                     "{\"text\":\"Accolade test message: this channel is connected.\",\"kind\":\"test\"}"};
  PGresult *res;
  int rc = pg_query(&res, "INSERT INTO delivery (org, channel_id, event_id, body) SELECT $1, id, $3, $4 FROM channel "
                          "WHERE org = $1 AND id = $2::uuid AND deleted_at IS NULL RETURNING id", 4, p);
  if (rc) return pg_fail(ctx, rc, "test channel");
  int found = PQntuples(res);
  if (found) out->delivery_id = pg_int(res, 0, 0);
  PQclear(res);
  if (!found) return rpc_fail(ctx, RPC_NOT_FOUND, "channel_id: no channel '%s'", r->channel_id);
  pg_exec("NOTIFY accolade_inbox", 0, NULL);
  return RPC_OK;
}

int channels_deliveries(rpc_ctx *ctx, const void *req, void *resp) {
  const Accolade__V1__ListDeliveriesRequest *r = req;
  Accolade__V1__ListDeliveriesResponse *out = resp;
  int limit, has;
  int64_t before = 0;
  char *unused;
  if (rpc_require(ctx, ROLE_ADMIN) || (*r->channel_id && check_uuid(ctx, "channel_id", r->channel_id)) ||
      page_size(ctx, r->page_size, 50, 200, &limit) || page_token_parse(ctx, r->page_token, &has, &before, &unused))
    return ctx->code;
  char b[24], lim[16];
  snprintf(b, sizeof b, "%lld", (long long)(has ? before : INT64_MAX));
  snprintf(lim, sizeof lim, "%d", limit + 1);
  const char *p[] = {ctx->id.org, r->channel_id, b, lim};
  PGresult *res;
  int rc = pg_query(&res,
                    "SELECT id, channel_id, event_id, status, attempts, last_error, "
                    "(extract(epoch from created_at) * 1000)::bigint, coalesce((extract(epoch from delivered_at) * 1000)::bigint, 0) "
                    "FROM delivery WHERE org = $1 AND ($2 = '' OR channel_id::text = $2) AND id < $3::bigint "
                    "ORDER BY id DESC LIMIT $4", 4, p);
  if (rc) return pg_fail(ctx, rc, "list deliveries");
  size_t n = (size_t)PQntuples(res);
  if (n == 0 && *r->channel_id) {   /* nothing: an empty channel, or none of this org's */
    PQclear(res);
    const char *q[] = {ctx->id.org, r->channel_id};
    if ((rc = pg_query(&res, "SELECT 1 FROM channel WHERE org = $1 AND id = $2::uuid", 2, q)))
      return pg_fail(ctx, rc, "list deliveries");
    int found = PQntuples(res);
    PQclear(res);
    if (!found) return rpc_fail(ctx, RPC_NOT_FOUND, "channel_id: no channel '%s'", r->channel_id);
    return RPC_OK;
  }
  out->deliveries = ARENA_ARRAY(ctx->arena, Accolade__V1__Delivery *, n + 1);
  for (size_t i = 0; i < n && i < (size_t)limit; i++) {
    Accolade__V1__Delivery *d = ARENA_NEW(ctx->arena, Accolade__V1__Delivery);
    accolade__v1__delivery__init(d);
    d->id = pg_int(res, (int)i, 0);
    d->channel_id = arena_strdup(ctx->arena, pg_str(res, (int)i, 1));
    d->event_id = arena_strdup(ctx->arena, pg_str(res, (int)i, 2));
    d->status = arena_strdup(ctx->arena, pg_str(res, (int)i, 3));
    d->attempts = (int32_t)pg_int(res, (int)i, 4);
    d->last_error = arena_strdup(ctx->arena, pg_str(res, (int)i, 5));
    d->create_time_ms = pg_int(res, (int)i, 6);
    d->deliver_time_ms = pg_int(res, (int)i, 7);
    out->deliveries[out->n_deliveries++] = d;
  }
  if (n > (size_t)limit) out->next_page_token = page_token_make(ctx, out->deliveries[limit - 1]->id, "");
  PQclear(res);
  return RPC_OK;
}
