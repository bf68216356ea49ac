/* replay.c - stored first answers of calls keyed by request_id. */
#include "replay.h"

#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "hex.h"
#include "log.h"
#include "pg.h"
#include "pg_status.h"

#define KEEP "7 days"

const char *replay_key(const ProtobufCMessage *req) {
  const ProtobufCFieldDescriptor *f = protobuf_c_message_descriptor_get_field_by_name(req->descriptor, "request_id");
  if (!f || f->type != PROTOBUF_C_TYPE_STRING || f->label == PROTOBUF_C_LABEL_REPEATED) return NULL;
  const char *v = *(char *const *)((const char *)req + f->offset);
  return v ? v : "";
}

static int hexv(char c) { return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1; }

/* stored looks the answer up; when there is one (*found) it is made the
 * call's reply. RPC_OK, or a failure code set on the call. */
static int stored(rpc_ctx *ctx, const char *key, int *found) {
  const char *p[] = {ctx->id.org, ctx->id.user, ctx->method, key};
  PGresult *r;
  int rc = pg_query(&r,
                    "SELECT encode(reply, 'hex') FROM request_reply WHERE org=$1 AND caller=$2 AND method=$3 "
                    "AND request_id=$4 AND created_at > now() - interval '" KEEP "'",
                    4, p);
  if (rc) return pg_fail(ctx, rc, "replay");
  *found = PQntuples(r) > 0;
  if (*found) {
    const char *h = PQgetvalue(r, 0, 0);
    size_t n = strlen(h) / 2;
    uint8_t *buf = arena_alloc(ctx->arena, n + 1);
    for (size_t i = 0; i < n; i++) buf[i] = (uint8_t)(hexv(h[2 * i]) << 4 | hexv(h[2 * i + 1]));
    rpc_reply_encoded(ctx, buf, n);
  }
  PQclear(r);
  return RPC_OK;
}

/* keep_tx writes the reply; |arg| is store's five parameters. */
static int keep_tx(void *arg) {
  /* Not waiting for this commit's flush: a reply lost to a crash is the
   * case above (the retry is the handler's), so the caller does not pay a
   * second durable commit. Both statements go with the COMMIT. */
  int rc = pg_exec_later("SET LOCAL synchronous_commit = off", 0, NULL, NULL, NULL);
  if (!rc)
    rc = pg_exec_later("INSERT INTO request_reply (org, caller, method, request_id, reply) "
                       "VALUES ($1, $2, $3, $4, decode($5, 'hex')) ON CONFLICT (org, caller, method, request_id) "
                       "DO UPDATE SET reply = EXCLUDED.reply, created_at = now() "
                       "WHERE request_reply.created_at <= now() - interval '" KEEP "'",
                       5, arg, NULL, NULL);
  return rc;
}

/* store keeps the answer, in one round trip; a failure here costs only a
 * future replay. */
static void store(rpc_ctx *ctx, const char *key, const void *resp) {
  const uint8_t *bytes = ctx->reply_bytes;
  size_t n = ctx->reply_len;
  if (!bytes) {
    n = protobuf_c_message_get_packed_size(resp);
    uint8_t *b = arena_alloc(ctx->arena, n + 1);
    protobuf_c_message_pack(resp, b);
    bytes = b;
  }
  char *h = arena_alloc(ctx->arena, 2 * n + 1);
  hex_encode(h, bytes, n);
  const char *p[] = {ctx->id.org, ctx->id.user, ctx->method, key, h};
  int rc = pg_tx(keep_tx, p);
  if (rc) log_warn("%s: the answer to request %s was not kept for a retry (%s)", ctx->method, key, rpc_code_name(rc));
  if (rand() % 512 == 0) pg_exec("DELETE FROM request_reply WHERE created_at < now() - interval '" KEEP "'", 0, NULL);
}

int replay_run(rpc_ctx *ctx, const void *req, void *resp, rpc_unary_fn fn) {
  const char *key = replay_key(req);
  if (!key || !*key || !ctx->id.valid) return fn(ctx, req, resp);
  if (check_id(ctx, "request_id", key, 128)) return ctx->code;
  int found;
  if (stored(ctx, key, &found)) return ctx->code;
  if (found) return RPC_OK;
  int code = fn(ctx, req, resp);
  if (code == RPC_OK) store(ctx, key, resp);
  return code;
}
