/* rpc_call.c - the life of one server call, below the loops that drive it:
 * its context for handlers (rpc_fail, trailers, roles), decoding, the reply
 * and status batch, the access line, and the server's counts of running
 * handlers and streams; plus the clock, deadline and byte buffer helpers.
 * rpc_server.c (the unary path and workers), rpc_stream.c and rpc_generic.c
 * drive calls through these (rpc_call.h), and none of them is called back. */
#include <grpc/byte_buffer.h>
#include <grpc/byte_buffer_reader.h>
#include <grpc/grpc.h>
#include <grpc/support/time.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "identity.h"
#include "log.h"
#include "metrics.h"
#include "pbwire.h"
#include "rpc_call.h"

int64_t rpc_deadline_to_ms(gpr_timespec d) {
  if (gpr_time_cmp(d, gpr_inf_future(d.clock_type)) == 0) return INT64_MAX;
  gpr_timespec m = gpr_convert_clock_type(d, GPR_CLOCK_MONOTONIC);
  return (int64_t)m.tv_sec * 1000 + m.tv_nsec / 1000000;
}

gpr_timespec rpc_ms_to_deadline(int64_t ms) {
  if (ms == INT64_MAX) return gpr_inf_future(GPR_CLOCK_MONOTONIC);
  gpr_timespec t;
  t.clock_type = GPR_CLOCK_MONOTONIC;
  t.tv_sec = ms / 1000;
  t.tv_nsec = (int32_t)((ms % 1000) * 1000000);
  return t;
}

int64_t rpc_now_ms(void) {
  gpr_timespec t = gpr_now(GPR_CLOCK_MONOTONIC);
  return (int64_t)t.tv_sec * 1000 + t.tv_nsec / 1000000;
}

struct timespec rpc_deadline_after(int64_t ms) { return clock_deadline_after(ms); }
int rpc_cond_wait(pthread_cond_t *cv, pthread_mutex_t *mu, const struct timespec *deadline) {
  return clock_cond_wait(cv, mu, deadline);
}

int64_t rpc_now_us(void) {
  gpr_timespec t = gpr_now(GPR_CLOCK_MONOTONIC);
  return (int64_t)t.tv_sec * 1000000 + t.tv_nsec / 1000;
}

int64_t rpc_remaining_ms(const rpc_ctx *ctx) {
  if (ctx->deadline_ms == INT64_MAX) return INT64_MAX;
  return ctx->deadline_ms - rpc_now_ms();
}

char *rpc_slice_dup(arena *a, grpc_slice s) {
  return arena_strndup(a, (const char *)GRPC_SLICE_START_PTR(s), GRPC_SLICE_LENGTH(s));
}

uint8_t *rpc_byte_buffer_read(arena *a, grpc_byte_buffer *bb, size_t *len) {
  grpc_byte_buffer_reader r;
  if (!grpc_byte_buffer_reader_init(&r, bb)) {
    *len = 0;
    return NULL;
  }
  grpc_slice all = grpc_byte_buffer_reader_readall(&r);
  grpc_byte_buffer_reader_destroy(&r);
  size_t n = GRPC_SLICE_LENGTH(all);
  uint8_t *p = arena_alloc(a, n ? n : 1);
  if (n) memcpy(p, GRPC_SLICE_START_PTR(all), n);
  grpc_slice_unref(all);
  *len = n;
  return p;
}

grpc_byte_buffer *rpc_byte_buffer_from(const uint8_t *buf, size_t len) {
  grpc_slice s = grpc_slice_from_copied_buffer((const char *)buf, len);
  grpc_byte_buffer *bb = grpc_raw_byte_buffer_create(&s, 1);
  grpc_slice_unref(s);
  return bb;
}

grpc_byte_buffer *rpc_byte_buffer_pack(const ProtobufCMessage *msg) {
  size_t n = protobuf_c_message_get_packed_size(msg);
  grpc_slice s = grpc_slice_malloc(n);
  if (n) protobuf_c_message_pack(msg, GRPC_SLICE_START_PTR(s));
  grpc_byte_buffer *bb = grpc_raw_byte_buffer_create(&s, 1);
  grpc_slice_unref(s);
  return bb;
}

int rpc_fail(rpc_ctx *ctx, int code, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  ctx->message = arena_vprintf(ctx->arena, fmt, ap);
  va_end(ap);
  ctx->code = code;
  return code;
}

void rpc_add_trailer(rpc_ctx *ctx, const char *key, const char *value) {
  if (ctx->ntrailers == RPC_MAX_TRAILERS) return;
  ctx->trailer_keys[ctx->ntrailers] = key;
  ctx->trailer_values[ctx->ntrailers] = value;
  ctx->ntrailers++;
}

int rpc_require(rpc_ctx *ctx, unsigned roles) {
  if (!ctx->id.valid) return rpc_fail(ctx, RPC_UNAUTHENTICATED, "no verified caller identity");
  if (!(ctx->id.role & roles))
    return rpc_fail(ctx, RPC_PERMISSION_DENIED, "role %s may not call %s",
                    identity_role_name(ctx->id.role), ctx->method);
  return RPC_OK;
}

void call_free(call *c) {
  if (c->call) grpc_call_unref(c->call);
  grpc_metadata_array_destroy(&c->md);
  grpc_call_details_destroy(&c->details);
  if (c->payload) grpc_byte_buffer_destroy(c->payload);
  if (c->reply) grpc_byte_buffer_destroy(c->reply);
  if (c->have_status_slice) grpc_slice_unref(c->status_slice);
  for (int i = 0; i < c->ntrailers; i++) {
    grpc_slice_unref(c->trailers[i].key);
    grpc_slice_unref(c->trailers[i].value);
  }
  if (c->sent_initial) {
    grpc_slice_unref(c->init_md[0].key);
    grpc_slice_unref(c->init_md[0].value);
  }
  if (c->own_cq) {
    grpc_completion_queue_shutdown(c->own_cq);
    while (grpc_completion_queue_next(c->own_cq, gpr_inf_future(GPR_CLOCK_REALTIME), NULL).type !=
           GRPC_QUEUE_SHUTDOWN) {
    }
    grpc_completion_queue_destroy(c->own_cq);
  }
  while (c->q_head) {   /* messages a stream never sent */
    queued_msg *m = c->q_head;
    c->q_head = m->next;
    grpc_byte_buffer_destroy(m->bb);
    free(m);
  }
  arena_free(&c->arena);
  free(c);
}

/* initial_md_op fills |op| with the call's initial metadata (its request id)
 * the first time and returns 1; afterwards it returns 0. */
size_t call_initial_md_op(call *c, grpc_op *op) {
  if (c->sent_initial) return 0;
  c->init_md[0].key = grpc_slice_from_static_string("x-request-id");
  c->init_md[0].value = grpc_slice_from_copied_string(c->ctx.request_id);
  op->op = GRPC_OP_SEND_INITIAL_METADATA;
  op->data.send_initial_metadata.count = 1;
  op->data.send_initial_metadata.metadata = c->init_md;
  c->sent_initial = 1;
  return 1;
}

/* fill_reply_ops builds the reply batch into |ops| and returns its length;
 * the call's code is final here, so it is counted in the metrics.
 * |with_close| adds RECV_CLOSE_ON_SERVER (not for streams, which posted it). */
size_t call_reply_ops(call *c, grpc_op *ops, int with_message, int with_close) {
  size_t n = 0;
  memset(ops, 0, sizeof(grpc_op) * 4);
  n += call_initial_md_op(c, &ops[n]);
  if (with_message && c->reply) {
    ops[n].op = GRPC_OP_SEND_MESSAGE;
    ops[n].data.send_message.send_message = c->reply;
    n++;
  }
  int code = c->ctx.code;
  const char *msg = c->ctx.message ? c->ctx.message : "";
  /* Count the call now, not when the batch completes: the client may hold
   * the status (and scrape /metrics) before this server sees the completion. */
  c->latency_us = rpc_now_us() - c->start_us;
  metrics_observe_rpc(c->ctx.method, code, c->latency_us);
  c->status_slice = grpc_slice_from_copied_string(msg);
  c->have_status_slice = 1;
  for (int i = 0; i < c->ctx.ntrailers; i++) {
    c->trailers[i].key = grpc_slice_from_copied_string(c->ctx.trailer_keys[i]);
    c->trailers[i].value = grpc_slice_from_copied_string(c->ctx.trailer_values[i]);
  }
  c->ntrailers = c->ctx.ntrailers;
  ops[n].op = GRPC_OP_SEND_STATUS_FROM_SERVER;
  ops[n].data.send_status_from_server.status = (grpc_status_code)code;
  ops[n].data.send_status_from_server.status_details = &c->status_slice;
  ops[n].data.send_status_from_server.trailing_metadata_count = (size_t)c->ntrailers;
  ops[n].data.send_status_from_server.trailing_metadata = c->trailers;
  n++;
  if (with_close) {
    ops[n].op = GRPC_OP_RECV_CLOSE_ON_SERVER;
    ops[n].data.recv_close_on_server.cancelled = &c->client_cancelled;
    n++;
  }
  return n;
}

void call_access_log(call *c) {
  rpc_ctx *x = &c->ctx;
  int64_t us = c->latency_us ? c->latency_us : rpc_now_us() - c->start_us;
  log_access(x->method, x->code, x->message, us, x->peer, x->request_id,
             x->id.valid ? x->id.org : NULL, x->id.valid ? x->id.user : NULL);
}

/* decode unpacks the request or fails the call with INVALID_ARGUMENT. */
void *call_decode(call *c, const ProtobufCMessageDescriptor *d, const uint8_t *buf,
                    size_t len) {
  /* Strings are read from the wire first: a NUL inside one would otherwise
   * cut it short in C, and bytes that are not UTF-8 are no proto3 string. */
  char field[256];
  const char *why;
  if (pbwire_check_strings(d, buf, len, field, sizeof field, &why) != 0) {
    rpc_fail(&c->ctx, RPC_INVALID_ARGUMENT, "%s: %s", field, why);
    return NULL;
  }
  void *m = protobuf_c_message_unpack(d, &c->arena.pb, len, buf);
  if (!m) rpc_fail(&c->ctx, RPC_INVALID_ARGUMENT, "request: cannot decode bytes as %s", d->name);
  return m;
}

/* reply_start sends a unary call's reply; its completion frees the call. */
void call_reply_start(call *c) {
  grpc_op ops[4];
  size_t n = call_reply_ops(c, ops, c->ctx.code == RPC_OK, 1);
  c->phase = CALL_REPLYING;
  grpc_call_error e = grpc_call_start_batch(c->call, ops, n, c, NULL);
  if (e != GRPC_CALL_OK) {
    log_error("reply batch on %s failed: %d", c->ctx.method, (int)e);
    call_access_log(c);
    call_free(c);
  }
}

void call_outcome(call *c, int code) {
  if (code == RPC_OK)
    c->ctx.code = RPC_OK;
  else if (c->ctx.code == RPC_OK)
    rpc_fail(&c->ctx, code, "%s", rpc_code_name(code));
}

/* raw_outcome: a raw handler's |code|, and on success the bytes it gave
 * rpc_reply_encoded, become the call's reply. */
void call_raw_outcome(call *c, int code) {
  if (code == RPC_OK)
    c->reply = rpc_byte_buffer_from(c->ctx.reply_bytes ? c->ctx.reply_bytes : (const uint8_t *)"",
                                    c->ctx.reply_bytes ? c->ctx.reply_len : 0);
  call_outcome(c, code);
}

/* A deferred call counts as a running handler from before its work starts
 * until rpc_finish, so shutdown waits for it. */
void rpc_defer(rpc_ctx *ctx) { server_handler_begin(((call *)ctx->call_state)->w->srv); }

void rpc_undefer(rpc_ctx *ctx) { server_handler_end(((call *)ctx->call_state)->w->srv); }

void rpc_finish(rpc_ctx *ctx, int code) {
  call *c = ctx->call_state;
  rpc_server *s = c->w->srv;
  call_raw_outcome(c, code);
  call_reply_start(c);   /* may free the call: |s| was read before */
  server_handler_end(s);   /* counted by rpc_defer */
}

int server_stream_admit(rpc_server *s) {
  pthread_mutex_lock(&s->mu);
  int room = s->active_streams < s->cfg.max_streams;
  if (room) s->active_streams++;
  pthread_mutex_unlock(&s->mu);
  return room;
}

void server_stream_end(rpc_server *s) {
  pthread_mutex_lock(&s->mu);
  s->active_streams--;
  pthread_cond_broadcast(&s->cv);   /* rpc_server_stop waits on streams and handlers */
  pthread_mutex_unlock(&s->mu);
}

int rpc_server_services(rpc_ctx *ctx, const char **out, int cap) {
  call *c = ctx->call_state;
  rpc_server *s = c->w->srv;
  int n = 0;
  if (s->more_services) n = s->more_services(out, cap);
  for (int i = 0; i < s->nentries && n < cap; i++) {
    /* "/pkg.Service/Method" -> "pkg.Service" */
    const char *path = s->entries[i].m->path + 1;
    const char *slash = strchr(path, '/');
    if (!slash) continue;
    char *name = arena_strndup(ctx->arena, path, (size_t)(slash - path));
    int dup = 0;
    for (int k = 0; k < n && !dup; k++) dup = strcmp(out[k], name) == 0;
    if (!dup) out[n++] = name;
  }
  return n;
}

grpc_completion_queue *rpc_ctx_cq(const rpc_ctx *ctx) { return ((const call *)ctx->call_state)->w->cq; }
grpc_call *rpc_ctx_call(const rpc_ctx *ctx) { return ((const call *)ctx->call_state)->call; }

/* handler_begin / handler_end bracket a handler running on a worker, so that
 * shutdown never closes the queues under a handler whose call was already
 * cancelled (by its deadline, say) and which will still start its reply. */
void server_handler_begin(rpc_server *s) { atomic_fetch_add(&s->handlers, 1); }

/* The count is atomic (two locks per call were contended across the
 * queues' threads); the last handler out wakes rpc_server_stop under the
 * lock it waits with, so the wake cannot fall between its check and its wait. */
void server_handler_end(rpc_server *s) {
  if (atomic_fetch_sub(&s->handlers, 1) != 1) return;
  pthread_mutex_lock(&s->mu);
  pthread_cond_broadcast(&s->cv);
  pthread_mutex_unlock(&s->mu);
}

/* after_call: what runs on a server thread after each handler or stream
 * step (svc.c gives the Postgres connection back). */
static void (*g_after_call)(void);
void rpc_set_after_call(void (*fn)(void)) { g_after_call = fn; }
void server_after_call(void) {
  if (g_after_call) g_after_call();
}
