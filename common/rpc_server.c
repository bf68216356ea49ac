/* rpc_server.c - the gRPC server loop over gRPC core.
 *
 * Worker threads share a few completion queues (one per 4 cores by default),
 * and every worker keeps one request posted per registered method (plus one
 * generic request for unknown methods) on its queue. Any idle worker of a
 * queue takes the next event of that queue, so a handler blocked on Postgres
 * delays nothing while another worker of its queue is free, and no call is
 * handed from thread to thread. A call moves through a small state machine
 * driven by its tag:
 *
 *   unary (registered):   REQUESTED -> handler -> REPLYING -> freed
 *   stream (registered):  REQUESTED -> own thread with its own CQ -> freed
 *   generic (unknown):    REQUESTED -> READING (the message is awaited on
 *                         the worker's queue; no worker waits) -> raw handler,
 *                         a stream thread, or UNIMPLEMENTED -> REPLYING -> freed
 *
 * A generic call whose message has not come within first_message_ms is
 * cancelled by the reaper thread (DEADLINE_EXCEEDED), so no caller can hold
 * anything of the server by sending headers alone. Streams count against
 * max_streams; one over it is RESOURCE_EXHAUSTED. A stream thread of a
 * generic call waits for its batches on a condition variable that the
 * worker seeing the completion signals (sync_tag).
 */
#include <errno.h>
#include <grpc/byte_buffer.h>
#include <grpc/byte_buffer_reader.h>
#include <grpc/grpc.h>
#include <grpc/grpc_security.h>
#include <grpc/support/alloc.h>
#include <grpc/support/time.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "health.h"
#include "hex.h"
#include "metrics.h"
#include "reflection.h"
#include "log.h"
#include "tls.h"
#include "rpc_internal.h"

/* ------------------------------------------------------------------ */
/* Small shared helpers                                                 */

static const char *const code_names[] = {
    "OK", "CANCELLED", "UNKNOWN", "INVALID_ARGUMENT", "DEADLINE_EXCEEDED", "NOT_FOUND",
    "ALREADY_EXISTS", "PERMISSION_DENIED", "RESOURCE_EXHAUSTED", "FAILED_PRECONDITION",
    "ABORTED", "OUT_OF_RANGE", "UNIMPLEMENTED", "INTERNAL", "UNAVAILABLE", "DATA_LOSS",
    "UNAUTHENTICATED"};

const char *rpc_code_name(int code) {
  return code >= 0 && code <= 16 ? code_names[code] : "UNKNOWN";
}

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

struct timespec rpc_realtime_after(int64_t ms) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  ts.tv_sec += (time_t)(ms / 1000);
  ts.tv_nsec += (long)(ms % 1000) * 1000000L;
  if (ts.tv_nsec >= 1000000000L) {
    ts.tv_sec++;
    ts.tv_nsec -= 1000000000L;
  }
  return ts;
}

static int64_t now_us(void) {
  gpr_timespec t = gpr_now(GPR_CLOCK_MONOTONIC);
  return (int64_t)t.tv_sec * 1000000 + t.tv_nsec / 1000;
}

int64_t rpc_remaining_ms(const rpc_ctx *ctx) {
  if (ctx->deadline_ms == INT64_MAX) return INT64_MAX;
  return ctx->deadline_ms - rpc_now_ms();
}

/* The deadline of the call whose handler this thread runs. */
static _Thread_local int64_t t_deadline_ms = INT64_MAX;

int64_t rpc_thread_remaining_ms(void) {
  return t_deadline_ms == INT64_MAX ? INT64_MAX : t_deadline_ms - rpc_now_ms();
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

/* ------------------------------------------------------------------ */
/* Handler-facing API                                                   */

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

/* ------------------------------------------------------------------ */
/* Server state                                                         */

typedef struct method_entry {
  const rpc_method *m;
  void *handle;          /* from grpc_server_register_method */
} method_entry;

typedef struct worker {
  struct rpc_server *srv;
  grpc_completion_queue *cq;
  pthread_t thread;
} worker;



struct rpc_server {
  rpc_server_config cfg;
  char name[64];
  grpc_server *server;
  int port;
  int nworkers;
  int ncqs;          /* workers[0..ncqs) own the queues; the rest share them */
  worker *workers;
  method_entry *entries;
  int nentries;
  atomic_int stopping;
  /* Generic calls waiting for their first message, oldest first; the
   * reaper cancels those past their bound. */
  pthread_mutex_t watch_mu;
  pthread_cond_t watch_cv;
  struct call *watch_head, *watch_tail;
  pthread_t reaper;
  int reaper_started;
  pthread_mutex_t mu;
  pthread_cond_t cv;
  int active_streams;   /* threads running streams */
  int handlers;         /* unary and generic handlers running on workers */
  int started;
};

typedef enum { CALL_REQUESTED, CALL_READING, CALL_REPLYING } call_phase;

/* The batches a stream thread waits for. */
enum { T_SEND, T_RECV, T_CLOSE, T_COUNT };

/* A batch's tag. On a call with its own queue it is only an address; on a
 * call bound to a worker's queue, the worker runs sync_on_event, which wakes
 * the stream thread waiting for it. */
typedef struct sync_tag {
  rpc_tag tag;   /* first */
  struct call *c;
  int done, ok;
} sync_tag;

typedef struct call {
  rpc_tag tag;               /* first: the call is its own tag */
  call_phase phase;
  worker *w;
  method_entry *me;          /* NULL for a generic call */
  grpc_call *call;
  gpr_timespec deadline;
  grpc_metadata_array md;
  grpc_byte_buffer *payload;
  grpc_call_details details;
  grpc_completion_queue *own_cq;   /* streams and generic calls */
  int64_t start_us;
  int64_t latency_us;   /* set when the reply is built */
  arena arena;
  rpc_ctx ctx;
  /* Reply resources, kept until the reply batch completes. */
  grpc_byte_buffer *reply;
  grpc_slice status_slice;
  int have_status_slice;
  grpc_metadata init_md[1];
  grpc_metadata trailers[RPC_MAX_TRAILERS];
  int ntrailers;
  int client_cancelled;
  /* Stream bookkeeping: the batches' tags, and for a call bound to a
   * worker's queue the lock and condition its stream thread waits on. */
  sync_tag st[T_COUNT];
  pthread_mutex_t smu;
  pthread_cond_t scv;
  int sync_init;
  atomic_int closed;
  int sent_initial;
  /* The reaper's list (generic calls awaiting their message). */
  struct call *wnext, *wprev;
  int64_t first_msg_deadline;
  int watched;
  int expired;
  /* A raw stream's request, read before it moves to its own thread. */
  uint8_t *raw_req;
  size_t raw_len;
} call;

struct rpc_stream {
  call *c;
};

static void call_on_event(rpc_tag *t, int ok);
static void post_request(worker *w, method_entry *me);
static void spawn(call *c, void *(*fn)(void *));
static void *raw_stream_thread(void *arg);

static void sync_on_event(rpc_tag *t, int ok);

static call *call_new(worker *w, method_entry *me) {
  call *c = calloc(1, sizeof *c);
  if (!c) abort();
  c->tag.on_event = call_on_event;
  c->w = w;
  c->me = me;
  for (int i = 0; i < T_COUNT; i++) {
    c->st[i].tag.on_event = sync_on_event;
    c->st[i].c = c;
  }
  grpc_metadata_array_init(&c->md);
  grpc_call_details_init(&c->details);
  arena_init(&c->arena);
  return c;
}

static void call_free(call *c) {
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
  if (c->sync_init) {
    pthread_mutex_destroy(&c->smu);
    pthread_cond_destroy(&c->scv);
  }
  arena_free(&c->arena);
  free(c);
}

/* md_find returns the value slice of |key| in the call's metadata, or NULL. */
static const grpc_slice *md_find(const call *c, const char *key) {
  size_t kl = strlen(key);
  for (size_t i = 0; i < c->md.count; i++) {
    const grpc_slice *k = &c->md.metadata[i].key;
    if (GRPC_SLICE_LENGTH(*k) == kl && memcmp(GRPC_SLICE_START_PTR(*k), key, kl) == 0)
      return &c->md.metadata[i].value;
  }
  return NULL;
}

const char *rpc_metadata(rpc_ctx *ctx, const char *key) {
  const grpc_slice *v = md_find(ctx->call_state, key);
  return v ? rpc_slice_dup(ctx->arena, *v) : NULL;
}

static const char *md_str(call *c, const char *key) {
  const grpc_slice *v = md_find(c, key);
  return v ? rpc_slice_dup(&c->arena, *v) : NULL;
}

static void random_hex(char *out, size_t nbytes) {
  unsigned char b[32];
  if (nbytes > sizeof b) nbytes = sizeof b;
  static _Thread_local unsigned long long state;
  if (!state) state = (unsigned long long)now_us() ^ ((unsigned long long)pthread_self() << 1);
  for (size_t i = 0; i < nbytes; i++) {
    state ^= state << 13;
    state ^= state >> 7;
    state ^= state << 17;
    b[i] = (unsigned char)(state >> 24);
  }
  hex_encode(out, b, nbytes);
}

/* ctx_init fills the handler's view of the call: identity, deadline, ids. */
static void ctx_init(call *c, const char *method) {
  rpc_ctx *x = &c->ctx;
  x->arena = &c->arena;
  x->app = c->w->srv->cfg.app;
  x->method = method;
  x->deadline_ms = rpc_deadline_to_ms(c->deadline);
  x->call_state = c;
  char *peer = grpc_call_get_peer(c->call);
  x->peer = arena_strdup(&c->arena, peer);
  gpr_free(peer);
  const char *rid = md_str(c, "x-request-id");
  if (rid && *rid && strlen(rid) < RPC_REQUEST_ID_MAX && !strpbrk(rid, "\"\\\r\n"))
    snprintf(x->request_id, sizeof x->request_id, "%s", rid);
  else
    random_hex(x->request_id, 8);
  const char *why = NULL;
  identity_verify(md_str(c, "x-accolade-org"), md_str(c, "x-accolade-user"),
                  md_str(c, "x-accolade-role"), md_str(c, "x-accolade-team"),
                  md_str(c, "x-accolade-ts"), md_str(c, "x-accolade-sig"), (int64_t)time(NULL),
                  &x->id, &why);
  if (why && md_find(c, "x-accolade-sig"))
    log_warn("rejected identity on %s from %s: %s", method, x->peer, why);
}

/* initial_md_op fills |op| with the call's initial metadata (its request id)
 * the first time and returns 1; afterwards it returns 0. */
static size_t initial_md_op(call *c, grpc_op *op) {
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
static size_t fill_reply_ops(call *c, grpc_op *ops, int with_message, int with_close) {
  size_t n = 0;
  memset(ops, 0, sizeof(grpc_op) * 4);
  n += initial_md_op(c, &ops[n]);
  if (with_message && c->reply) {
    ops[n].op = GRPC_OP_SEND_MESSAGE;
    ops[n].data.send_message.send_message = c->reply;
    n++;
  }
  int code = c->ctx.code;
  const char *msg = c->ctx.message ? c->ctx.message : "";
  /* Count the call now, not when the batch completes: the client may hold
   * the status (and scrape /metrics) before this server sees the completion. */
  c->latency_us = now_us() - c->start_us;
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

static void access_log(call *c) {
  rpc_ctx *x = &c->ctx;
  int64_t us = c->latency_us ? c->latency_us : now_us() - c->start_us;
  log_access(x->method, x->code, x->message, us, x->peer, x->request_id,
             x->id.valid ? x->id.org : NULL, x->id.valid ? x->id.user : NULL);
}

/* decode unpacks the request or fails the call with INVALID_ARGUMENT. */
static void *decode(call *c, const ProtobufCMessageDescriptor *d, const uint8_t *buf,
                    size_t len) {
  void *m = protobuf_c_message_unpack(d, &c->arena.pb, len, buf);
  if (!m) rpc_fail(&c->ctx, RPC_INVALID_ARGUMENT, "request: cannot decode bytes as %s", d->name);
  return m;
}

/* ------------------------------------------------------------------ */
/* Calls on their own completion queue (streams, generic)               */

/* sync_on_event: a stream batch of a call bound to a worker's queue has
 * completed; wake the stream thread. Nothing of |c| is touched after the
 * unlock: the stream thread may free it at once. */
static void sync_on_event(rpc_tag *t, int ok) {
  sync_tag *st = (sync_tag *)t;
  call *c = st->c;
  pthread_mutex_lock(&c->smu);
  if (st == &c->st[T_CLOSE]) {
    atomic_store(&c->closed, 1);
  } else {
    st->done = 1;
    st->ok = ok;
  }
  pthread_cond_broadcast(&c->scv);
  pthread_mutex_unlock(&c->smu);
}

/* sync_prepare readies a worker-bound call for a stream thread's waits. */
static void sync_prepare(call *c) {
  if (c->own_cq || c->sync_init) return;
  pthread_mutex_init(&c->smu, NULL);
  pthread_cond_init(&c->scv, NULL);
  c->sync_init = 1;
}

/* own_wait waits for the batch |which| (or for |deadline_ms|, monotonic;
 * INT64_MAX forever). Returns 1 ok, 0 failed, -1 timed out. The close
 * notification is recorded whenever it arrives. */
static int own_wait(call *c, int which, int64_t deadline_ms) {
  sync_tag *want = &c->st[which];
  if (!c->own_cq) {   /* bound to a worker's queue: a worker signals us */
    int r;
    pthread_mutex_lock(&c->smu);
    for (;;) {
      if (which == T_CLOSE ? atomic_load(&c->closed) : want->done) {
        r = which == T_CLOSE ? 1 : want->ok;
        want->done = 0;
        break;
      }
      if (deadline_ms == INT64_MAX) {
        pthread_cond_wait(&c->scv, &c->smu);
        continue;
      }
      int64_t left = deadline_ms - rpc_now_ms();
      if (left <= 0) {
        r = -1;
        break;
      }
      struct timespec ts = rpc_realtime_after(left);
      pthread_cond_timedwait(&c->scv, &c->smu, &ts);
    }
    pthread_mutex_unlock(&c->smu);
    return r;
  }
  for (;;) {
    gpr_timespec d = deadline_ms == INT64_MAX ? gpr_inf_future(GPR_CLOCK_MONOTONIC)
                                              : rpc_ms_to_deadline(deadline_ms);
    grpc_event ev = grpc_completion_queue_next(c->own_cq, d, NULL);
    if (ev.type == GRPC_QUEUE_TIMEOUT) return -1;
    if (ev.type != GRPC_OP_COMPLETE) return 0;
    if (ev.tag == &c->st[T_CLOSE]) {
      atomic_store(&c->closed, 1);
      if (which == T_CLOSE) return 1;
      continue;
    }
    if (ev.tag == want) return ev.success ? 1 : 0;
  }
}

static int own_batch(call *c, const grpc_op *ops, size_t n, int which) {
  grpc_call_error e = grpc_call_start_batch(c->call, ops, n, &c->st[which], NULL);
  if (e != GRPC_CALL_OK) {
    log_error("start_batch on %s: error %d", c->ctx.method, (int)e);
    return 0;
  }
  return own_wait(c, which, INT64_MAX) == 1;
}

/* own_finish sends the final status and waits for the close. */
static void own_finish(call *c, int with_message) {
  grpc_op ops[4];
  size_t n = fill_reply_ops(c, ops, with_message, 0);
  own_batch(c, ops, n, T_SEND);
  if (!atomic_load(&c->closed)) own_wait(c, T_CLOSE, INT64_MAX);
}

static int own_post_close(call *c) {
  grpc_op op;
  memset(&op, 0, sizeof op);
  op.op = GRPC_OP_RECV_CLOSE_ON_SERVER;
  op.data.recv_close_on_server.cancelled = &c->client_cancelled;
  return grpc_call_start_batch(c->call, &op, 1, &c->st[T_CLOSE], NULL) == GRPC_CALL_OK;
}

int rpc_stream_closed(rpc_stream *s) {
  call *c = s->c;
  if (!atomic_load(&c->closed)) {
    /* Collect a close that may have arrived, without blocking. */
    own_wait(c, T_CLOSE, rpc_now_ms());
  }
  return atomic_load(&c->closed) || atomic_load(&c->w->srv->stopping);
}

int rpc_stream_send_raw(rpc_stream *s, const uint8_t *buf, size_t len) {
  call *c = s->c;
  if (rpc_stream_closed(s)) return -1;
  grpc_op ops[2];
  memset(ops, 0, sizeof ops);
  size_t n = 0;
  n += initial_md_op(c, &ops[n]);
  grpc_byte_buffer *bb = rpc_byte_buffer_from(buf, len);
  ops[n].op = GRPC_OP_SEND_MESSAGE;
  ops[n].data.send_message.send_message = bb;
  n++;
  int ok = own_batch(c, ops, n, T_SEND);
  grpc_byte_buffer_destroy(bb);
  return ok ? 0 : -1;
}

int rpc_stream_send(rpc_stream *s, const void *msg) {
  call *c = s->c;
  if (rpc_stream_closed(s)) return -1;
  size_t n = protobuf_c_message_get_packed_size(msg);
  arena tmp;
  arena_init(&tmp);
  uint8_t *buf = arena_alloc(&tmp, n ? n : 1);
  protobuf_c_message_pack(msg, buf);
  int rc = rpc_stream_send_raw(s, buf, n);
  arena_free(&tmp);
  (void)c;
  return rc;
}

int rpc_stream_wait(rpc_stream *s, int ms) {
  call *c = s->c;
  int64_t until = rpc_now_ms() + ms;
  while (!atomic_load(&c->closed) && !atomic_load(&c->w->srv->stopping)) {
    int64_t step = rpc_now_ms() + 200;   /* notice shutdown within 200 ms */
    if (step > until) step = until;
    own_wait(c, T_CLOSE, step);
    if (rpc_now_ms() >= until) break;
  }
  return (atomic_load(&c->closed) || atomic_load(&c->w->srv->stopping)) ? -1 : 0;
}

static void stream_end(rpc_server *s) {
  pthread_mutex_lock(&s->mu);
  s->active_streams--;
  pthread_cond_broadcast(&s->cv);   /* rpc_server_stop waits on streams and handlers */
  pthread_mutex_unlock(&s->mu);
}

/* call_outcome makes a handler's return |code| the call's status: OK, or a
 * failure keeping the message rpc_fail recorded (the code's name if none). */
static void call_outcome(call *c, int code) {
  if (code == RPC_OK)
    c->ctx.code = RPC_OK;
  else if (c->ctx.code == RPC_OK)
    rpc_fail(&c->ctx, code, "%s", rpc_code_name(code));
}

/* A registered streaming method, on its own thread. */
int rpc_stream_recv(rpc_stream *s, void **out) {
  call *c = s->c;
  if (atomic_load(&c->closed)) return -1;
  grpc_byte_buffer *bb = NULL;
  grpc_op op;
  memset(&op, 0, sizeof op);
  op.op = GRPC_OP_RECV_MESSAGE;
  op.data.recv_message.recv_message = &bb;
  if (!own_batch(c, &op, 1, T_RECV)) return -1;
  if (!bb) return 0;   /* half-closed by the client */
  size_t len = 0;
  uint8_t *buf = rpc_byte_buffer_read(&c->arena, bb, &len);
  grpc_byte_buffer_destroy(bb);
  *out = protobuf_c_message_unpack(c->me->m->request, &c->arena.pb, len, buf);
  return *out ? 1 : -1;
}

/* stream_done ends a stream thread's call: status, close, log, free. */
static void stream_done(call *c) {
  rpc_server *s = c->w->srv;
  if (atomic_load(&c->closed) && c->ctx.code == RPC_OK) c->ctx.code = RPC_CANCELLED;
  own_finish(c, 0);
  access_log(c);
  call_free(c);
  stream_end(s);
}

static void *stream_thread(void *arg) {
  call *c = arg;
  rpc_stream st = {c};
  own_post_close(c);
  const rpc_method *m = c->me->m;
  size_t len = 0;
  uint8_t *buf = c->payload ? rpc_byte_buffer_read(&c->arena, c->payload, &len) : NULL;
  void *req = NULL;
  if (m->bidi)
    req = (void *)1;   /* the handler reads its requests */
  else if (!c->payload)
    rpc_fail(&c->ctx, RPC_INVALID_ARGUMENT, "request: missing message");
  else
    req = decode(c, m->request, buf, len);
  if (req) call_outcome(c, m->stream(&c->ctx, m->bidi ? NULL : req, &st));
  stream_done(c);
  return NULL;
}

static void *raw_stream_thread(void *arg) {
  call *c = arg;
  rpc_stream st = {c};
  own_post_close(c);
  call_outcome(c, c->w->srv->cfg.raw->stream(&c->ctx, c->raw_req, c->raw_len, &st));
  stream_done(c);
  return NULL;
}

static void reply_start(call *c);
static void raw_outcome(call *c, int code);

/* spawn runs |fn| on a thread of its own for a streaming call, within the
 * server's cap on concurrent streams; a call over the cap, or one no thread
 * can be made for, is answered RESOURCE_EXHAUSTED at once. */
static void spawn(call *c, void *(*fn)(void *)) {
  rpc_server *s = c->w->srv;
  pthread_mutex_lock(&s->mu);
  int room = s->active_streams < s->cfg.max_streams;
  if (room) s->active_streams++;
  pthread_mutex_unlock(&s->mu);
  if (room) {
    sync_prepare(c);
    pthread_t t;
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    pthread_attr_setstacksize(&attr, 256 * 1024);
    int e = pthread_create(&t, &attr, fn, c);
    pthread_attr_destroy(&attr);
    if (e == 0) return;
    log_error("cannot start a thread for %s", c->ctx.method);
    stream_end(s);
    rpc_fail(&c->ctx, RPC_RESOURCE_EXHAUSTED, "server: cannot start a stream now, retry later");
  } else {
    rpc_fail(&c->ctx, RPC_RESOURCE_EXHAUSTED, "server: at most %d concurrent streams (ACCOLADE_MAX_STREAMS)",
             s->cfg.max_streams);
  }
  if (c->own_cq) {   /* a registered stream: its batches complete on its own queue */
    own_post_close(c);
    own_finish(c, 0);
    access_log(c);
    call_free(c);
  } else {
    reply_start(c);   /* completes on the worker's queue, which frees it */
  }
}

/* ------------------------------------------------------------------ */
/* Generic calls: methods not in the table                              */

/* watch_add puts a generic call on the reaper's list until its message
 * comes; watch_remove takes it off and says whether the reaper had ended it. */
static void watch_add(rpc_server *s, call *c) {
  c->first_msg_deadline = rpc_now_ms() + s->cfg.first_message_ms;
  pthread_mutex_lock(&s->watch_mu);
  c->wprev = s->watch_tail;
  c->wnext = NULL;
  if (s->watch_tail) s->watch_tail->wnext = c;
  else s->watch_head = c;
  s->watch_tail = c;
  c->watched = 1;
  pthread_mutex_unlock(&s->watch_mu);
}

static void watch_unlink(rpc_server *s, call *c) {
  if (c->wprev) c->wprev->wnext = c->wnext;
  else s->watch_head = c->wnext;
  if (c->wnext) c->wnext->wprev = c->wprev;
  else s->watch_tail = c->wprev;
  c->wnext = c->wprev = NULL;
  c->watched = 0;
}

static int watch_remove(rpc_server *s, call *c) {
  pthread_mutex_lock(&s->watch_mu);
  if (c->watched) watch_unlink(s, c);
  int expired = c->expired;
  pthread_mutex_unlock(&s->watch_mu);
  return expired;
}

/* reaper_main cancels the generic calls whose message is overdue. The list
 * is in arrival order and the bound is one for all, so the head is the
 * oldest. A call is cancelled under the lock, so it cannot be freed
 * meanwhile: its worker takes it off the list (watch_remove) first. */
static void *reaper_main(void *arg) {
  rpc_server *s = arg;
  pthread_mutex_lock(&s->watch_mu);
  while (!atomic_load(&s->stopping)) {
    int64_t now = rpc_now_ms();
    while (s->watch_head && s->watch_head->first_msg_deadline <= now) {
      call *c = s->watch_head;
      watch_unlink(s, c);
      c->expired = 1;
      grpc_call_cancel_with_status(c->call, GRPC_STATUS_DEADLINE_EXCEEDED, "request: no message in time", NULL);
    }
    int64_t wait = s->watch_head ? s->watch_head->first_msg_deadline - now : 1000;
    if (wait > 1000) wait = 1000;
    struct timespec ts = rpc_realtime_after(wait < 10 ? 10 : wait);
    pthread_cond_timedwait(&s->watch_cv, &s->watch_mu, &ts);
  }
  pthread_mutex_unlock(&s->watch_mu);
  return NULL;
}

/* generic_start: a call to a method not in the table has arrived. Without a
 * raw handler it is UNIMPLEMENTED; else its message is awaited on the
 * worker's queue (generic_read), under the first-message bound. */
static void generic_start(call *c) {
  rpc_server *s = c->w->srv;
  if (!s->cfg.raw) {
    rpc_fail(&c->ctx, RPC_UNIMPLEMENTED, "unknown method %s", c->ctx.method);
    reply_start(c);
    return;
  }
  grpc_op op;
  memset(&op, 0, sizeof op);
  op.op = GRPC_OP_RECV_MESSAGE;
  op.data.recv_message.recv_message = &c->payload;
  c->phase = CALL_READING;
  watch_add(s, c);
  if (grpc_call_start_batch(c->call, &op, 1, c, NULL) != GRPC_CALL_OK) {
    watch_remove(s, c);
    rpc_fail(&c->ctx, RPC_INTERNAL, "server: cannot read the request");
    reply_start(c);
  }
}

/* generic_read: the message of a generic call came (or the call ended). A
 * stream goes to a thread of its own; a unary call runs the raw handler,
 * which may defer its reply (the gateway's forwarding). */
static void generic_read(call *c, int ok) {
  rpc_server *s = c->w->srv;
  const rpc_raw_handler *raw = s->cfg.raw;
  int expired = watch_remove(s, c);
  if (!ok || !c->payload) {
    if (expired)
      rpc_fail(&c->ctx, RPC_DEADLINE_EXCEEDED, "request: no message within %d ms", s->cfg.first_message_ms);
    else
      rpc_fail(&c->ctx, ok ? RPC_INVALID_ARGUMENT : RPC_CANCELLED, "request: missing message");
    reply_start(c);
    return;
  }
  size_t len = 0;
  uint8_t *buf = rpc_byte_buffer_read(&c->arena, c->payload, &len);
  if (raw->is_stream && raw->stream && raw->is_stream(s->cfg.app, c->ctx.method)) {
    c->raw_req = buf;
    c->raw_len = len;
    spawn(c, raw_stream_thread);
    return;
  }
  uint8_t *out = NULL;
  size_t out_len = 0;
  int code = raw->unary(&c->ctx, buf, len, &out, &out_len);
  if (code == RPC_DEFERRED) return;   /* rpc_finish replies; the call may be gone */
  if (code == RPC_OK && out) rpc_reply_encoded(&c->ctx, out, out_len);
  raw_outcome(c, code);
  reply_start(c);
}

/* ------------------------------------------------------------------ */
/* The worker loop                                                      */

static void handler_begin(rpc_server *s);
static void handler_end(rpc_server *s);

/* reply_start sends a unary call's reply; its completion frees the call. */
static void reply_start(call *c) {
  grpc_op ops[4];
  size_t n = fill_reply_ops(c, ops, c->ctx.code == RPC_OK, 1);
  c->phase = CALL_REPLYING;
  grpc_call_error e = grpc_call_start_batch(c->call, ops, n, c, NULL);
  if (e != GRPC_CALL_OK) {
    log_error("reply batch on %s failed: %d", c->ctx.method, (int)e);
    access_log(c);
    call_free(c);
  }
}

/* raw_outcome: a raw handler's |code|, and on success the bytes it gave
 * rpc_reply_encoded, become the call's reply. */
static void raw_outcome(call *c, int code) {
  if (code == RPC_OK)
    c->reply = rpc_byte_buffer_from(c->ctx.reply_bytes ? c->ctx.reply_bytes : (const uint8_t *)"",
                                    c->ctx.reply_bytes ? c->ctx.reply_len : 0);
  call_outcome(c, code);
}

static void unary_run(call *c) {
  const rpc_method *m = c->me->m;
  const uint8_t *buf = NULL;
  size_t len = 0;
  if (!c->payload) {
    rpc_fail(&c->ctx, RPC_INVALID_ARGUMENT, "request: missing message");
  } else if (c->payload->type == GRPC_BB_RAW && c->payload->data.raw.compression == GRPC_COMPRESS_NONE &&
             c->payload->data.raw.slice_buffer.count == 1) {
    /* Fast path: a single-slice buffer is read in place. The slice is
     * addressed where the buffer keeps it, never copied: a small slice holds
     * its bytes inline, and a copy's bytes die with the copy. */
    const grpc_slice *sl = &c->payload->data.raw.slice_buffer.slices[0];
    buf = GRPC_SLICE_START_PTR(*sl);
    len = GRPC_SLICE_LENGTH(*sl);
    if (!buf) buf = (const uint8_t *)"";
  } else {
    grpc_byte_buffer_reader r;
    if (grpc_byte_buffer_reader_init(&r, c->payload)) {
      grpc_byte_buffer_reader_destroy(&r);
      buf = rpc_byte_buffer_read(&c->arena, c->payload, &len);
    } else {
      rpc_fail(&c->ctx, RPC_INVALID_ARGUMENT, "request: cannot read message");
    }
  }
  if (buf && !m->request) {   /* a raw method: the bytes as they came */
    rpc_raw_request raw = {buf, len};
    int code = m->unary(&c->ctx, &raw, NULL);
    /* Deferred: rpc_finish replies from a worker, maybe already has - the
     * call may be gone, so touch nothing (rpc_defer counted it). */
    if (code == RPC_DEFERRED) return;
    raw_outcome(c, code);
  } else if (buf) {
    void *req = decode(c, m->request, buf, len);
    if (req) {
      void *resp = arena_alloc(&c->arena, m->response->sizeof_message);
      protobuf_c_message_init(m->response, resp);
      int code = m->unary(&c->ctx, req, resp);
      if (code == RPC_OK)
        c->reply = c->ctx.reply_bytes ? rpc_byte_buffer_from(c->ctx.reply_bytes, c->ctx.reply_len)
                                      : rpc_byte_buffer_pack(resp);
      call_outcome(c, code);
    }
  }
  reply_start(c);
}

grpc_completion_queue *rpc_ctx_cq(const rpc_ctx *ctx) { return ((const call *)ctx->call_state)->w->cq; }
grpc_call *rpc_ctx_call(const rpc_ctx *ctx) { return ((const call *)ctx->call_state)->call; }

/* A deferred call counts as a running handler from before its work starts
 * until rpc_finish, so shutdown waits for it. */
void rpc_defer(rpc_ctx *ctx) { handler_begin(((call *)ctx->call_state)->w->srv); }
void rpc_undefer(rpc_ctx *ctx) { handler_end(((call *)ctx->call_state)->w->srv); }

void rpc_finish(rpc_ctx *ctx, int code) {
  call *c = ctx->call_state;
  rpc_server *s = c->w->srv;
  raw_outcome(c, code);
  reply_start(c);   /* may free the call: |s| was read before */
  handler_end(s);   /* counted by rpc_defer */
}

/* handler_begin / handler_end bracket a handler running on a worker, so that
 * shutdown never closes the queues under a handler whose call was already
 * cancelled (by its deadline, say) and which will still start its reply. */
static void handler_begin(rpc_server *s) {
  pthread_mutex_lock(&s->mu);
  s->handlers++;
  pthread_mutex_unlock(&s->mu);
}

static void handler_end(rpc_server *s) {
  pthread_mutex_lock(&s->mu);
  if (--s->handlers == 0) pthread_cond_broadcast(&s->cv);
  pthread_mutex_unlock(&s->mu);
}

static void call_on_event(rpc_tag *t, int ok) {
  call *c = (call *)t;
  worker *w = c->w;
  rpc_server *s = w->srv;
  if (c->phase == CALL_REPLYING) {
    access_log(c);
    call_free(c);
    return;
  }
  if (c->phase == CALL_READING) {
    handler_begin(s);
    t_deadline_ms = c->ctx.deadline_ms;
    generic_read(c, ok);
    t_deadline_ms = INT64_MAX;
    handler_end(s);
    return;
  }
  /* CALL_REQUESTED */
  if (!ok) {   /* the server is shutting down: do not re-post */
    call_free(c);
    return;
  }
  if (!atomic_load(&s->stopping)) post_request(w, c->me);
  c->start_us = now_us();
  if (c->me) {
    ctx_init(c, c->me->m->path);
    if (c->me->m->stream) {
      spawn(c, stream_thread);
    } else {
      handler_begin(s);
      t_deadline_ms = c->ctx.deadline_ms;
      unary_run(c);   /* the reply's completion frees the call */
      t_deadline_ms = INT64_MAX;
      handler_end(s);
    }
  } else {
    c->deadline = c->details.deadline;
    ctx_init(c, rpc_slice_dup(&c->arena, c->details.method));
    generic_start(c);
  }
}

static void post_request(worker *w, method_entry *me) {
  rpc_server *s = w->srv;
  call *c = call_new(w, me);
  grpc_call_error e;
  if (!me) {   /* generic: bound to the worker's queue, driven by its events */
    e = grpc_server_request_call(s->server, &c->call, &c->details, &c->md, w->cq, w->cq, c);
  } else if (me->m->unary) {
    e = grpc_server_request_registered_call(s->server, me->handle, &c->call, &c->deadline, &c->md,
                                            &c->payload, w->cq, w->cq, c);
  } else {
    c->own_cq = grpc_completion_queue_create_for_next(NULL);
    e = grpc_server_request_registered_call(s->server, me->handle, &c->call, &c->deadline,
                                            &c->md, me->m->bidi ? NULL : &c->payload,
                                            c->own_cq, w->cq, c);
  }
  if (e != GRPC_CALL_OK) {
    if (!atomic_load(&s->stopping)) log_error("request_call failed: %d", (int)e);
    call_free(c);
  }
}

static void *worker_main(void *arg) {
  worker *w = arg;
  rpc_server *s = w->srv;
  for (int i = 0; i < s->nentries; i++) post_request(w, &s->entries[i]);
  post_request(w, NULL);
  for (;;) {
    grpc_event ev = grpc_completion_queue_next(w->cq, gpr_inf_future(GPR_CLOCK_REALTIME), NULL);
    if (ev.type == GRPC_QUEUE_SHUTDOWN) break;
    if (ev.type != GRPC_OP_COMPLETE) continue;
    rpc_tag *t = ev.tag;
    t->on_event(t, ev.success);
  }
  return NULL;
}

/* ------------------------------------------------------------------ */
/* Lifecycle                                                            */

void rpc_runtime_init(void) {
  /* Client connections are polled only while a call waits on them; between
   * calls gRPC core falls back to a backup poller, every 5 s by default. At
   * that pace an idle client notices a server's GOAWAY (and a reconnect
   * completes) only seconds later, which holds up the peer's graceful
   * shutdown. Poll every 100 ms instead, unless the operator set it. */
  setenv("GRPC_CLIENT_CHANNEL_BACKUP_POLL_INTERVAL_MS", "100", 0);
  grpc_init();
}
void rpc_runtime_shutdown(void) { grpc_shutdown(); }

void rpc_signals_block(void) {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &set, NULL);
  signal(SIGPIPE, SIG_IGN);
}

int rpc_signals_wait(void) {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  int sig = 0;
  while (sigwait(&set, &sig) != 0) {
  }
  return sig;
}

static int add_method(rpc_server *s, const rpc_method *m) {
  void *h = grpc_server_register_method(s->server, m->path, NULL,
                                        m->bidi ? GRPC_SRM_PAYLOAD_NONE
                                                : GRPC_SRM_PAYLOAD_READ_INITIAL_BYTE_BUFFER,
                                        0);
  if (!h) {
    log_error("cannot register %s (registered twice?)", m->path);
    return -1;
  }
  metrics_register_method(m->path);
  s->entries[s->nentries].m = m;
  s->entries[s->nentries].handle = h;
  s->nentries++;
  return 0;
}

rpc_server *rpc_server_new(const rpc_server_config *cfg, const rpc_method *methods,
                           int nmethods) {
  rpc_server *s = calloc(1, sizeof *s);
  if (!s) return NULL;
  s->cfg = *cfg;
  snprintf(s->name, sizeof s->name, "%s", cfg->name ? cfg->name : "accolade");
  s->cfg.name = s->name;
  long cores = sysconf(_SC_NPROCESSORS_ONLN);
  if (cores < 1) cores = 1;
  /* All threads of a queue take its calls, so a slow handler delays a call
   * only when every thread of that queue is busy: few queues, many threads
   * each. A queue per 4 cores keeps queue contention low on big machines. */
  s->ncqs = cfg->pollers > 0 ? cfg->pollers : (int)(cores + 3) / 4;
  s->nworkers = cfg->threads > 0 ? cfg->threads : (int)cores * 2 + 2;
  if (s->ncqs > s->nworkers) s->ncqs = s->nworkers;

  if (s->cfg.shutdown_grace_ms <= 0) s->cfg.shutdown_grace_ms = 10000;
  if (s->cfg.max_message_bytes <= 0) s->cfg.max_message_bytes = 4 << 20;
  if (s->cfg.max_streams <= 0) s->cfg.max_streams = 1000;
  if (s->cfg.first_message_ms <= 0) s->cfg.first_message_ms = 10000;
  if (s->cfg.max_connection_streams <= 0) s->cfg.max_connection_streams = 1000;
  if (s->cfg.keepalive_ms <= 0) s->cfg.keepalive_ms = 60000;
  if (s->cfg.idle_ms <= 0) s->cfg.idle_ms = 600000;
  pthread_mutex_init(&s->mu, NULL);
  pthread_cond_init(&s->cv, NULL);
  pthread_mutex_init(&s->watch_mu, NULL);
  pthread_cond_init(&s->watch_cv, NULL);

  /* The caps gRPC core enforces per connection: message size, concurrent
   * streams (HTTP/2 SETTINGS), keepalive pings that find dead peers, and
   * connections with no call for a long time closed (clients reconnect). */
  struct { const char *key; int value; } ints[] = {
      {GRPC_ARG_MAX_RECEIVE_MESSAGE_LENGTH, s->cfg.max_message_bytes},
      {GRPC_ARG_ALLOW_REUSEPORT, 0},
      {GRPC_ARG_MAX_CONCURRENT_STREAMS, s->cfg.max_connection_streams},
      {GRPC_ARG_KEEPALIVE_TIME_MS, s->cfg.keepalive_ms},
      {GRPC_ARG_KEEPALIVE_TIMEOUT_MS, 20000},
      {GRPC_ARG_MAX_CONNECTION_IDLE_MS, s->cfg.idle_ms},
  };
  enum { NARGS = sizeof ints / sizeof ints[0] };
  grpc_arg args[NARGS];
  memset(args, 0, sizeof args);
  for (int i = 0; i < NARGS; i++) {
    args[i].type = GRPC_ARG_INTEGER;
    args[i].key = (char *)ints[i].key;
    args[i].value.integer = ints[i].value;
  }
  grpc_channel_args ca = {NARGS, args};
  s->server = grpc_server_create(&ca, NULL);
  s->entries = calloc((size_t)nmethods + 4, sizeof *s->entries);
  s->workers = calloc((size_t)s->nworkers, sizeof *s->workers);
  for (int i = 0; i < nmethods; i++)
    if (add_method(s, &methods[i]) != 0) goto err;
  for (int i = 0; i < 2; i++)
    if (add_method(s, &health_methods[i]) != 0 || add_method(s, &reflection_methods[i]) != 0)
      goto err;
  for (int i = 0; i < s->nworkers; i++) {
    s->workers[i].srv = s;
    if (i < s->ncqs) {
      s->workers[i].cq = grpc_completion_queue_create_for_next(NULL);
      grpc_server_register_completion_queue(s->server, s->workers[i].cq, NULL);
    } else {
      s->workers[i].cq = s->workers[i % s->ncqs].cq;   /* threads share the queue */
    }
  }
  char err[256];
  grpc_server_credentials *creds =
      tls_server_credentials(cfg->tls_cert, cfg->tls_key, cfg->tls_client_ca, err, sizeof err);
  if (!creds) {
    log_error("%s", err);
    goto err;
  }
  s->port = grpc_server_add_http2_port(s->server, cfg->listen, creds);
  grpc_server_credentials_release(creds);
  if (s->port == 0) {
    log_error("cannot listen on %s", cfg->listen);
    goto err;
  }
  if (cfg->tls_cert && *cfg->tls_cert)
    log_info("TLS on %s%s", cfg->listen, cfg->tls_client_ca && *cfg->tls_client_ca ? ", client certificates required" : "");
  return s;
err:
  grpc_server_destroy(s->server);
  for (int i = 0; i < s->ncqs && i < s->nworkers; i++)
    if (s->workers[i].cq) grpc_completion_queue_destroy(s->workers[i].cq);
  free(s->workers);
  free(s->entries);
  free(s);
  return NULL;
}

int rpc_server_port(const rpc_server *s) { return s->port; }

int rpc_server_services(rpc_ctx *ctx, const char **out, int cap) {
  call *c = ctx->call_state;
  rpc_server *s = c->w->srv;
  int n = 0;
  if (s->cfg.raw) n = reflection_all_services(out, cap);
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

int rpc_server_start(rpc_server *s) {
  grpc_server_start(s->server);
  for (int i = 0; i < s->nworkers; i++)
    if (pthread_create(&s->workers[i].thread, NULL, worker_main, &s->workers[i]) != 0) return -1;
  s->started = 1;
  if (pthread_create(&s->reaper, NULL, reaper_main, s) == 0) s->reaper_started = 1;
  log_info("%s serving gRPC on port %d: %d threads over %d completion queues", s->name, s->port,
           s->nworkers, s->ncqs);
  return 0;
}

void rpc_server_stop(rpc_server *s) {
  if (!s) return;
  atomic_store(&s->stopping, 1);
  grpc_completion_queue *scq = grpc_completion_queue_create_for_pluck(NULL);
  int tag;
  grpc_server_shutdown_and_notify(s->server, scq, &tag);
  /* Wait for the calls in flight, up to the grace period. gRPC core may also
   * hold a call that arrived as the shutdown began and never reached a
   * handler, until its deadline: once no handler, deferred call or stream has
   * been running for IDLE_CHECKS checks in a row, what is left is such calls,
   * and they are cancelled rather than waited for. */
  enum { CHECK_MS = 50, IDLE_CHECKS = 4 };
  int64_t until = rpc_now_ms() + s->cfg.shutdown_grace_ms;
  int idle = 0;
  for (;;) {
    int64_t step = rpc_now_ms() + CHECK_MS;
    grpc_event ev = grpc_completion_queue_pluck(scq, &tag, rpc_ms_to_deadline(step < until ? step : until), NULL);
    if (ev.type == GRPC_OP_COMPLETE) break;
    pthread_mutex_lock(&s->mu);
    idle = s->handlers == 0 && s->active_streams == 0 ? idle + 1 : 0;
    pthread_mutex_unlock(&s->mu);
    int late = rpc_now_ms() >= until;
    if (late || idle >= IDLE_CHECKS) {
      if (late)
        log_warn("%s: calls still running after %d ms, cancelling them", s->name, s->cfg.shutdown_grace_ms);
      else
        log_debug("%s: no handler is running; cancelling calls that never reached one", s->name);
      grpc_server_cancel_all_calls(s->server);
      grpc_completion_queue_pluck(scq, &tag, gpr_inf_future(GPR_CLOCK_REALTIME), NULL);
      break;
    }
  }
  log_debug("%s: server shutdown complete", s->name);
  grpc_completion_queue_shutdown(scq);
  grpc_completion_queue_pluck(scq, NULL, gpr_inf_future(GPR_CLOCK_REALTIME), NULL);
  grpc_completion_queue_destroy(scq);
  /* Stream threads end once their calls are done (shutdown waited for them);
   * a handler whose call was cancelled may still be running: let it finish. */
  pthread_mutex_lock(&s->mu);
  while (s->active_streams > 0 || s->handlers > 0) pthread_cond_wait(&s->cv, &s->mu);
  pthread_mutex_unlock(&s->mu);
  for (int i = 0; i < s->ncqs; i++) grpc_completion_queue_shutdown(s->workers[i].cq);
  if (s->started)
    for (int i = 0; i < s->nworkers; i++) pthread_join(s->workers[i].thread, NULL);
  log_debug("%s: workers joined", s->name);
  if (s->reaper_started) {
    pthread_mutex_lock(&s->watch_mu);
    pthread_cond_broadcast(&s->watch_cv);
    pthread_mutex_unlock(&s->watch_mu);
    pthread_join(s->reaper, NULL);
  }
  grpc_server_destroy(s->server);
  for (int i = 0; i < s->ncqs; i++) grpc_completion_queue_destroy(s->workers[i].cq);
  log_info("%s stopped", s->name);
  pthread_mutex_destroy(&s->mu);
  pthread_cond_destroy(&s->cv);
  pthread_mutex_destroy(&s->watch_mu);
  pthread_cond_destroy(&s->watch_cv);
  free(s->workers);
  free(s->entries);
  free(s);
}
