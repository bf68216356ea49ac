/* channels.c - webhook channels (admin) and their deliveries. */
#include <stdio.h>
#include <string.h>

#include "check.h"
#include "notify.h"
#include "pg.h"
#include "pg_status.h"
#include "store.h"

/* channel_not_made fails a CreateChannel whose store call failed with |rc|. */
static int channel_not_made(rpc_ctx *ctx, int rc) {
  if (rc == PG_NO_ROW)
    return rpc_fail(ctx, RPC_RESOURCE_EXHAUSTED,
                    "channel: an org has at most %d channels (delete one first) and makes at most %d a day",
                    NOTIFY_MAX_CHANNELS, NOTIFY_MAX_CHANNELS_A_DAY);
  return pg_fail(ctx, rc, "create channel");
}

/* create_email_channel: a list address ("mailto:team@example.com") that gets
 * the digest by email; no secret (nothing is signed). */
static int create_email_channel(rpc_ctx *ctx, const Accolade__V1__Channel *c, void *resp) {
  const char *addr = c->url + 7, *at = strchr(addr, '@');
  if (strncmp(c->url, "mailto:", 7) || !at || at == addr || !at[1] || strchr(at + 1, '@') || strlen(addr) > 254 ||
      strpbrk(addr, " <>,;:\"\\()[]\r\n\t"))
    return rpc_fail(ctx, RPC_INVALID_ARGUMENT, "channel.url: an email channel's url is mailto:list@example.com");
  if (*c->team && check_id(ctx, "channel.team", c->team, 128)) return ctx->code;
  for (size_t i = 0; i < c->n_kinds; i++)
    if (strcmp(c->kinds[i], "digest")) return rpc_fail(ctx, RPC_INVALID_ARGUMENT, "channel.kinds: an email channel takes only digest");
  Accolade__V1__Channel made_in = *c;
  made_in.secret = "";
  Accolade__V1__Channel *made;
  int rc = store_channel_create(ctx->arena, ctx->id.org, &made_in, &made);
  if (rc) return channel_not_made(ctx, rc);
  *(Accolade__V1__Channel *)resp = *made;
  return RPC_OK;
}

int channels_create(rpc_ctx *ctx, const void *req, void *resp) {
  const Accolade__V1__CreateChannelRequest *r = req;
  if (rpc_require(ctx, ROLE_ADMIN)) return ctx->code;
  if (!r->channel) return rpc_fail(ctx, RPC_INVALID_ARGUMENT, "channel: required");
  const Accolade__V1__Channel *c = r->channel;
  int email = !strcmp(c->format, "email");
  if (*c->format && strcmp(c->format, "json") && strcmp(c->format, "slack") && strcmp(c->format, "teams") && !email)
    return rpc_fail(ctx, RPC_INVALID_ARGUMENT, "channel.format: json, slack, teams or email");
  if (email) return create_email_channel(ctx, c, resp);
  if (check_len(ctx, "channel.url", c->url, 1, 500) || check_url(ctx, "channel.url", c->url, 500) ||
      check_len(ctx, "channel.secret", c->secret, 16, 256) || (*c->team && check_id(ctx, "channel.team", c->team, 128)))
    return ctx->code;
  if (notify_check_kinds(ctx, "channel.kinds", c->kinds, c->n_kinds)) return ctx->code;
  char resolve[600];
  const char *why;
  if (webhook_url_allowed(c->url, webhook_allow_private(), resolve, sizeof resolve, &why) != 0)
    return rpc_fail(ctx, RPC_INVALID_ARGUMENT, "channel.url: %s", why);
  Accolade__V1__Channel *made;
  int rc = store_channel_create(ctx->arena, ctx->id.org, c, &made);
  if (rc) return channel_not_made(ctx, rc);
  *(Accolade__V1__Channel *)resp = *made;
  return RPC_OK;
}

int channels_list(rpc_ctx *ctx, const void *req, void *resp) {
  const Accolade__V1__ListChannelsRequest *r = req;
  Accolade__V1__ListChannelsResponse *out = resp;
  int limit, has;
  int64_t after = 0, *cursors;
  char *unused;
  if (rpc_require(ctx, ROLE_ADMIN) || page_size(ctx, r->page_size, 50, 200, &limit) ||
      page_token_parse(ctx, r->page_token, &has, &after, &unused))
    return ctx->code;
  size_t n;
  int rc = store_channel_page(ctx->arena, ctx->id.org, after, limit + 1, &out->channels, &cursors, &n);
  if (rc) return pg_fail(ctx, rc, "list channels");
  if (page_more(&n, limit)) out->next_page_token = page_token_make(ctx, cursors[n - 1], "");
  out->n_channels = n;
  return RPC_OK;
}

static int no_channel(rpc_ctx *ctx, const char *id) {
  return rpc_fail(ctx, RPC_NOT_FOUND, "channel_id: no channel '%s'", id);
}

int channels_delete(rpc_ctx *ctx, const void *req, void *resp) {
  const Accolade__V1__DeleteChannelRequest *r = req;
  (void)resp;
  if (rpc_require(ctx, ROLE_ADMIN) || check_uuid(ctx, "channel_id", r->channel_id)) return ctx->code;
  int found;
  int rc = store_channel_delete(ctx->id.org, r->channel_id, &found);
  if (rc) return pg_fail(ctx, rc, "delete channel");
  return found ? RPC_OK : no_channel(ctx, r->channel_id);
}

int channels_test(rpc_ctx *ctx, const void *req, void *resp) {
  const Accolade__V1__TestChannelRequest *r = req;
  Accolade__V1__TestChannelResponse *out = resp;
  if (rpc_require(ctx, ROLE_ADMIN) || check_uuid(ctx, "channel_id", r->channel_id)) return ctx->code;
  char *event = arena_printf(ctx->arena, "test:%s:%lld", r->channel_id, (long long)rpc_now_ms()), *to;
  int rc = store_channel_mail_to(ctx->arena, ctx->id.org, r->channel_id, &to);
  if (rc) return pg_fail(ctx, rc, "test channel");
  const char *body = "{\"text\":\"Accolade test message: this channel is connected.\",\"kind\":\"test\"}";
  if (to) body = mail_test_message(ctx->arena, to, event);   /* an email list gets an email */
  rc = store_delivery_test(ctx->id.org, r->channel_id, event, body, &out->delivery_id);
  if (rc) return pg_fail(ctx, rc, "test channel");
  return out->delivery_id ? RPC_OK : no_channel(ctx, r->channel_id);
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
  size_t n;
  int rc = store_delivery_page(ctx->arena, ctx->id.org, r->channel_id, has ? before : INT64_MAX, limit + 1,
                               &out->deliveries, &n);
  if (rc) return pg_fail(ctx, rc, "list deliveries");
  if (n == 0 && *r->channel_id) {   /* nothing: an empty channel, or none of this org's */
    int found;
    if ((rc = store_channel_exists(ctx->id.org, r->channel_id, &found))) return pg_fail(ctx, rc, "list deliveries");
    return found ? RPC_OK : no_channel(ctx, r->channel_id);
  }
  if (page_more(&n, limit)) out->next_page_token = page_token_make(ctx, out->deliveries[n - 1]->id, "");
  out->n_deliveries = n;
  return RPC_OK;
}
