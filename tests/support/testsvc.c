/* testsvc.c - the small service the runtime's integration tests run against.
 *
 * Echo: echoes text and what the runtime saw (identity, request id, time
 * left); can sleep first or fail with a given code, message and a trailer.
 * Stream: |count| replies, 20 ms apart, as long as the client listens.
 * EchoBatch: a result per item, its fail_code and fail_message, and when
 * that is 0 Echo's reply (the shape of the outbox's batches); Echo's seq
 * says how many EchoBatch calls came. ACCOLADE_TESTSVC_NO_BATCH leaves
 * EchoBatch out (an older receiver); ACCOLADE_TESTSVC_NO_ITEM_REPLY leaves
 * the replies out of its results.
 * Relay: calls Echo on ACCOLADE_TESTSVC_RELAY_TARGET as the same caller,
 * propagating the deadline (to test the client side).
 * With ACCOLADE_TESTSVC_PG set it uses Postgres (schema testsvc), so its
 * health follows the database.
 */
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "accolade/test/v1/test.pb-c.h"
#include "rpc_client.h"
#include "svc.h"

static int fill(rpc_ctx *ctx, const Accolade__Test__V1__EchoRequest *r,
                Accolade__Test__V1__EchoResponse *out) {
  if (r->need_identity && rpc_require(ctx, ROLE_MEMBER | ROLE_MANAGER | ROLE_ADMIN | ROLE_SERVICE))
    return ctx->code;
  out->text = arena_strdup(ctx->arena, r->text);
  out->org = arena_strdup(ctx->arena, ctx->id.valid ? ctx->id.org : "");
  out->user = arena_strdup(ctx->arena, ctx->id.valid ? ctx->id.user : "");
  out->role = arena_strdup(ctx->arena, identity_role_name(ctx->id.role));
  out->request_id = arena_strdup(ctx->arena, ctx->request_id);
  int64_t rem = rpc_remaining_ms(ctx);
  out->remaining_ms = rem == INT64_MAX ? -1 : rem;
  return RPC_OK;
}

static atomic_int batch_calls;

static int echo(rpc_ctx *ctx, const void *req, void *resp) {
  const Accolade__Test__V1__EchoRequest *r = req;
  if (r->sleep_ms < 0 || r->sleep_ms > 60000)
    return rpc_fail(ctx, RPC_INVALID_ARGUMENT, "sleep_ms: must be between 0 and 60000");
  if (r->sleep_ms) usleep((useconds_t)r->sleep_ms * 1000);
  if (r->fail_code) {
    rpc_add_trailer(ctx, "x-test-trailer", "present");
    return rpc_fail(ctx, r->fail_code, "%s", r->fail_message);
  }
  ((Accolade__Test__V1__EchoResponse *)resp)->seq = atomic_load(&batch_calls);
  return fill(ctx, r, resp);
}

static int echo_batch(rpc_ctx *ctx, const void *req, void *resp) {
  const Accolade__Test__V1__EchoBatchRequest *r = req;
  Accolade__Test__V1__EchoBatchResponse *out = resp;
  atomic_fetch_add(&batch_calls, 1);
  out->n_results = r->n_items;
  out->results = ARENA_ARRAY(ctx->arena, Accolade__Test__V1__EchoItemResult *, r->n_items + 1);
  for (size_t i = 0; i < r->n_items; i++) {
    out->results[i] = ARENA_NEW(ctx->arena, Accolade__Test__V1__EchoItemResult);
    accolade__test__v1__echo_item_result__init(out->results[i]);
    out->results[i]->code = r->items[i]->fail_code;
    out->results[i]->message = r->items[i]->fail_message;
    if (r->items[i]->fail_code || getenv("ACCOLADE_TESTSVC_NO_ITEM_REPLY")) continue;
    Accolade__Test__V1__EchoResponse *reply = ARENA_NEW(ctx->arena, Accolade__Test__V1__EchoResponse);
    accolade__test__v1__echo_response__init(reply);
    if (fill(ctx, r->items[i], reply) == RPC_OK) out->results[i]->response = reply;
    ctx->code = RPC_OK;   /* an item's refusal is its own */
    ctx->message = NULL;
  }
  return RPC_OK;
}

/* stream, a step: |count| replies, |sleep_ms| apart (and after the last). */
static int stream(rpc_ctx *ctx, const void *req, rpc_stream *s) {
  const Accolade__Test__V1__EchoRequest *r = req;
  if (r->count < 0 || r->count > 100000)
    return rpc_fail(ctx, RPC_INVALID_ARGUMENT, "count: must be between 0 and 100000");
  int *sent = rpc_stream_state(s, sizeof *sent);
  if (rpc_stream_closed(s)) return rpc_fail(ctx, RPC_CANCELLED, "client went away");
  /* Without a pause, a step sends a batch of 64 before the next. */
  for (int k = 0; k < 64 && *sent < r->count; k++) {
    Accolade__Test__V1__EchoResponse out = ACCOLADE__TEST__V1__ECHO_RESPONSE__INIT;
    if (fill(ctx, r, &out) != RPC_OK) return ctx->code;
    out.seq = *sent;
    if (rpc_stream_send(s, &out) != 0) return rpc_fail(ctx, RPC_CANCELLED, "client went away");
    (*sent)++;
    if (r->sleep_ms) {
      rpc_stream_sleep(s, r->sleep_ms, NULL, NULL);
      return RPC_STREAM_AGAIN;
    }
  }
  return *sent < r->count ? RPC_STREAM_AGAIN : RPC_OK;
}

static int relay(rpc_ctx *ctx, const void *req, void *resp) {
  const char *target = getenv("ACCOLADE_TESTSVC_RELAY_TARGET");
  if (!target) return rpc_fail(ctx, RPC_FAILED_PRECONDITION, "no relay target configured");
  Accolade__Test__V1__EchoResponse *out = NULL;
  rpc_call_opts o = {.parent = ctx, .as = ctx->id.valid ? &ctx->id : NULL, .idempotent = 1};
  rpc_status st;
  int rc = rpc_call(target, "/accolade.test.v1.TestService/Echo", req,
                    &accolade__test__v1__echo_response__descriptor, &o, ctx->arena, (void **)&out, &st);
  if (rc != RPC_OK) return rpc_fail(ctx, rc, "relay: %s", st.message);
  *(Accolade__Test__V1__EchoResponse *)resp = *out;
  return RPC_OK;
}

static const rpc_method methods[] = {
    RPC_UNARY("/accolade.test.v1.TestService/Echo", accolade__test__v1__echo_request,
              accolade__test__v1__echo_response, echo),
    RPC_STREAM("/accolade.test.v1.TestService/Stream", accolade__test__v1__echo_request,
               accolade__test__v1__echo_response, stream),
    RPC_UNARY("/accolade.test.v1.TestService/Relay", accolade__test__v1__echo_request,
              accolade__test__v1__echo_response, relay),
    RPC_UNARY("/accolade.test.v1.TestService/EchoBatch", accolade__test__v1__echo_batch_request,
              accolade__test__v1__echo_batch_response, echo_batch),   /* last: see main */
};

int main(int argc, char **argv) {
  int with_pg = getenv("ACCOLADE_TESTSVC_PG") != NULL;
  svc_def def = {
      .name = "accolade-testsvc",
      .env = "TESTSVC",
      .port = 50099,
      .schema = with_pg ? "testsvc" : NULL,
      .migrations = NULL,
      .methods = methods,
      .nmethods = (int)(sizeof methods / sizeof methods[0]) - (getenv("ACCOLADE_TESTSVC_NO_BATCH") != NULL),
  };
  return svc_main(argc, argv, &def);
}
