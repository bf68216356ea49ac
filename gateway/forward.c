/* forward.c - the gateway's raw handler: authenticate the bearer token,
 * authorize the method, rate-limit, then forward the undecoded request to
 * the owning service with the signed identity, the caller's deadline and
 * request id, and hand back the upstream's status, message and trailers. */
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "authz.h"
#include "gateway.h"
#include "log.h"
#include "rpc_client.h"
#include "svc.h"
#include "tokens.h"

/* route admits the call (admit.c), takes the rate limits and finds its
 * upstream. */
static int route(rpc_ctx *ctx, identity *id, const char **addr, int *stream) {
  const authz_rule *rule;
  char msg[300];
  int code = gateway_admit(ctx->app, ctx->method, rpc_metadata(ctx, "authorization"), (int64_t)time(NULL), id, &rule,
                           msg, sizeof msg);
  if (id->valid) ctx->id = *id;   /* for the access log */
  if (code != RPC_OK) return rpc_fail(ctx, code, "%s", msg);
  if (ratelimit_check(ctx, ctx->app, id) != RPC_OK) return ctx->code;
  *addr = rule ? svc_addr(rule->service) : gateway_route_outside(ctx->method, stream);
  if (rule) *stream = rule->stream;
  return RPC_OK;
}

static void copy_back(rpc_ctx *ctx, const rpc_status *st) {
  for (int i = 0; i < st->ntrailers; i++) rpc_add_trailer(ctx, st->trailer_keys[i], st->trailer_values[i]);
}

int gateway_is_stream(void *app, const char *method) {
  (void)app;
  const authz_rule *r = authz_find(method);
  if (r) return r->stream;
  int stream = 0;
  return gateway_route_outside(method, &stream) ? stream : 0;
}

/* forwarded: the upstream's answer, on a worker, becomes the caller's. */
static void forwarded(rpc_ctx *ctx, int code, const uint8_t *reply, size_t len, const rpc_status *st, void *arg) {
  (void)arg;
  if (code == RPC_OK) {
    rpc_reply_encoded(ctx, reply, len);
  } else {
    copy_back(ctx, st);
    rpc_fail(ctx, code, "%s", st->message ? st->message : "");
  }
  rpc_finish(ctx, code);
}

int gateway_unary_async(rpc_ctx *ctx, const uint8_t *req, size_t len) {
  identity id;
  const char *addr = NULL;
  int stream = 0;
  if (route(ctx, &id, &addr, &stream)) return ctx->code;
  rpc_call_opts o = {.parent = ctx, .as = &id, .timeout_ms = 30000, .request_id = ctx->request_id};
  int rc = rpc_call_raw_async(addr, ctx->method, req, len, &o, ctx, forwarded, NULL);
  if (rc != RPC_OK) return rpc_fail(ctx, rc, "%s: cannot reach the service", rpc_code_name(rc));
  return RPC_DEFERRED;
}

/* Concurrent streams per member. */
typedef struct stream_count {
  char key[260];
  int n;
} stream_count;
static stream_count g_streams[1024];
static pthread_mutex_t g_streams_mu = PTHREAD_MUTEX_INITIALIZER;

int gateway_stream_enter(const identity *id, int max) {
  char key[260];
  snprintf(key, sizeof key, "%s/%s", id->org, id->user);
  pthread_mutex_lock(&g_streams_mu);
  stream_count *slot = NULL, *free_slot = NULL;
  for (size_t i = 0; i < sizeof g_streams / sizeof g_streams[0] && !slot; i++) {
    if (g_streams[i].n && !strcmp(g_streams[i].key, key)) slot = &g_streams[i];
    else if (!g_streams[i].n && !free_slot) free_slot = &g_streams[i];
  }
  int ok = 0;
  if (!slot && free_slot) {
    slot = free_slot;
    snprintf(slot->key, sizeof slot->key, "%s", key);
  }
  if (slot && slot->n < max) {
    slot->n++;
    ok = 1;
  }
  pthread_mutex_unlock(&g_streams_mu);
  return ok;
}

void gateway_stream_leave(const identity *id) {
  char key[260];
  snprintf(key, sizeof key, "%s/%s", id->org, id->user);
  pthread_mutex_lock(&g_streams_mu);
  for (size_t i = 0; i < sizeof g_streams / sizeof g_streams[0]; i++)
    if (g_streams[i].n && !strcmp(g_streams[i].key, key)) {
      g_streams[i].n--;
      break;
    }
  pthread_mutex_unlock(&g_streams_mu);
}

/* The state of a forwarded stream; the member's slot is given back when the
 * stream ends. */
typedef struct fwd_stream {
  int started;
  identity id;
} fwd_stream;

static void fwd_stream_end(void *arg) { gateway_stream_leave(&((fwd_stream *)arg)->id); }

/* gateway_stream, a step: authenticate, take a slot of the member's, and
 * relay the upstream's stream (rpc_call_stream_relay). Its messages are
 * queued as they come; the upstream's end finishes the stream. */
int gateway_stream(rpc_ctx *ctx, const uint8_t *req, size_t len, rpc_stream *s) {
  gateway *g = ctx->app;
  fwd_stream *fs = rpc_stream_state(s, sizeof *fs);
  if (fs->started) {   /* the relay finishes it */
    rpc_stream_sleep(s, -1, NULL, NULL);
    return RPC_STREAM_AGAIN;
  }
  fs->started = 1;
  const char *addr = NULL;
  int stream = 0;
  if (route(ctx, &fs->id, &addr, &stream)) return ctx->code;
  if (!gateway_stream_enter(&fs->id, g->max_streams))
    return rpc_fail(ctx, RPC_RESOURCE_EXHAUSTED, "streams: at most %d open streams per member", g->max_streams);
  rpc_call_opts o = {.parent = ctx, .as = &fs->id, .request_id = ctx->request_id};
  int rc = rpc_call_stream_relay(addr, ctx->method, req, len, &o, ctx, s, fwd_stream_end, fs);
  if (rc != RPC_OK) {
    gateway_stream_leave(&fs->id);
    return rpc_fail(ctx, rc, "%s: cannot reach the service", rpc_code_name(rc));
  }
  rpc_stream_sleep(s, -1, NULL, NULL);
  return RPC_STREAM_AGAIN;
}
