/* rpc_client.c - unary and server-streaming calls to other services.
 * Over 600 lines on purpose: the decoded, raw, asynchronous and streaming
 * calls share one channel table, one way to build a call (deadline, identity,
 * request id, retries) and one completion path; apart, each would need them
 * exported through rpc_internal.h. */
#include "rpc_client.h"

#include <grpc/byte_buffer.h>
#include <grpc/grpc.h>
#include <grpc/grpc_security.h>
#include <grpc/support/alloc.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "blocking.h"
#include "log.h"
#include "rpc_internal.h"
#include "tls.h"

#define MAX_CHANNELS 64

typedef struct chan {
  char target[128];
  grpc_channel *ch;
} chan;

static chan g_chans[MAX_CHANNELS];
static int g_nchans;
static pthread_mutex_t g_mu = PTHREAD_MUTEX_INITIALIZER;

grpc_channel *rpc_channel_for(const char *target) {
  pthread_mutex_lock(&g_mu);
  for (int i = 0; i < g_nchans; i++) {
    if (strcmp(g_chans[i].target, target) == 0) {
      grpc_channel *ch = g_chans[i].ch;
      pthread_mutex_unlock(&g_mu);
      return ch;
    }
  }
  grpc_channel *ch = NULL;
  if (g_nchans < MAX_CHANNELS && strlen(target) < sizeof g_chans[0].target) {
    /* Reconnect quickly after a peer restarts (the default backoff starts
     * at 1 s and grows past 5 s), and keep the channel our own. gRPC core
     * takes the "min reconnect backoff" as the time one connection attempt
     * (TCP, then the server's SETTINGS) may take: at 100 ms a busy server,
     * or a loaded machine, failed attempts that were merely slow, and calls
     * then failed UNAVAILABLE until the next one. 2 s; a refused connect
     * fails at once either way. */
    grpc_arg args[9];
    memset(args, 0, sizeof args);
    args[0].type = GRPC_ARG_INTEGER;
    args[0].key = GRPC_ARG_MAX_RECEIVE_MESSAGE_LENGTH;
    args[0].value.integer = 16 << 20;
    args[1].type = GRPC_ARG_INTEGER;
    args[1].key = GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS;
    args[1].value.integer = 100;
    args[2].type = GRPC_ARG_INTEGER;
    args[2].key = GRPC_ARG_MIN_RECONNECT_BACKOFF_MS;
    args[2].value.integer = 2000;
    args[3].type = GRPC_ARG_INTEGER;
    args[3].key = GRPC_ARG_MAX_RECONNECT_BACKOFF_MS;
    args[3].value.integer = 2000;
    args[4].type = GRPC_ARG_INTEGER;
    args[4].key = GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL;
    args[4].value.integer = 1;
    /* Several addresses ("ipv4:a:1,b:2", or a DNS name with several records):
     * spread calls round-robin over the connected ones, skipping any that is
     * down, so services scale out by adding processes. */
    args[5].type = GRPC_ARG_STRING;
    args[5].key = GRPC_ARG_SERVICE_CONFIG;
    args[5].value.string = "{\"loadBalancingConfig\":[{\"round_robin\":{}}]}";
    /* A "dns:///name:port" target (a headless Service: one record per pod)
     * is resolved again when a connection drops or a server sends GOAWAY
     * (max connection age); at most every 2 s rather than every 30 s. */
    args[6].type = GRPC_ARG_INTEGER;
    args[6].key = GRPC_ARG_DNS_MIN_TIME_BETWEEN_RESOLUTIONS_MS;
    args[6].value.integer = 2000;
    /* No channelz counters on every call: no channelz service reads them. */
    args[7].type = GRPC_ARG_INTEGER;
    args[7].key = GRPC_ARG_ENABLE_CHANNELZ;
    args[7].value.integer = 0;
    grpc_channel_args ca = {8, args};
    if (tls_target_name()) {   /* check the servers' certificates for this name */
      args[8].type = GRPC_ARG_STRING;
      args[8].key = GRPC_SSL_TARGET_NAME_OVERRIDE_ARG;
      args[8].value.string = (char *)tls_target_name();
      ca.num_args = 9;
    }
    grpc_channel_credentials *creds = tls_channel_credentials();
    ch = grpc_channel_create(target, creds, &ca);
    grpc_channel_credentials_release(creds);
    snprintf(g_chans[g_nchans].target, sizeof g_chans[0].target, "%s", target);
    g_chans[g_nchans].ch = ch;
    g_nchans++;
  } else {
    log_error("rpc_client: too many targets (%d) or target too long: %s", g_nchans, target);
  }
  pthread_mutex_unlock(&g_mu);
  return ch;
}

void rpc_client_shutdown(void) {
  pthread_mutex_lock(&g_mu);
  for (int i = 0; i < g_nchans; i++) grpc_channel_destroy(g_chans[i].ch);
  g_nchans = 0;
  pthread_mutex_unlock(&g_mu);
}

void rpc_service_identity(identity *out, const char *service_name, const char *org) {
  char user[IDENTITY_FIELD_MAX];
  snprintf(user, sizeof user, "svc:%s", service_name);
  if (identity_make(out, org, user, "service", "") != 0) memset(out, 0, sizeof *out);
}

void rpc_ctx_background(rpc_ctx *ctx, arena *a, const char *service_name, const char *org) {
  arena_init(a);
  memset(ctx, 0, sizeof *ctx);
  ctx->arena = a;
  ctx->deadline_ms = INT64_MAX;   /* none: 0 would make every child call late before it starts */
  rpc_service_identity(&ctx->id, service_name, org);
}

/* Outgoing metadata: identity (6) + request id. */
typedef struct out_md {
  grpc_metadata md[7 + 8];
  size_t n;
  char ts[24];
  char sig[65];
} out_md;

static void md_add(out_md *o, const char *k, const char *v) {
  o->md[o->n].key = grpc_slice_from_static_string(k);
  o->md[o->n].value = grpc_slice_from_copied_string(v);
  o->n++;
}

static void md_build(out_md *o, const rpc_call_opts *opts, const char *request_id) {
  o->n = 0;
  if (opts && opts->as && opts->as->valid) {
    const identity *id = opts->as;
    long long now = (long long)time(NULL);
    snprintf(o->ts, sizeof o->ts, "%lld", now);
    identity_sign(id, now, o->sig);
    md_add(o, "x-accolade-org", id->org);
    md_add(o, "x-accolade-user", id->user);
    md_add(o, "x-accolade-role", identity_role_name(id->role));
    md_add(o, "x-accolade-team", id->team);
    md_add(o, "x-accolade-ts", o->ts);
    md_add(o, "x-accolade-sig", o->sig);
  }
  if (request_id && *request_id) md_add(o, "x-request-id", request_id);
  for (int i = 0; opts && opts->metadata && opts->metadata[i] && opts->metadata[i + 1] && i < 16; i += 2)
    md_add(o, opts->metadata[i], opts->metadata[i + 1]);
}

static void md_free(out_md *o) {
  for (size_t i = 0; i < o->n; i++) grpc_slice_unref(o->md[i].value);
  o->n = 0;
}

static int64_t call_deadline_ms(const rpc_call_opts *opts) {
  int timeout = opts && opts->timeout_ms > 0 ? opts->timeout_ms : 5000;
  int64_t d = rpc_now_ms() + timeout;
  if (opts && opts->parent && opts->parent->deadline_ms < d) d = opts->parent->deadline_ms;
  return d;
}

static const char *call_request_id(const rpc_call_opts *opts) {
  if (opts && opts->request_id) return opts->request_id;
  if (opts && opts->parent) return opts->parent->request_id;
  return NULL;
}

static void copy_status(rpc_status *st, arena *a, int code, grpc_slice details,
                        grpc_metadata_array *trailers) {
  if (!st) return;
  memset(st, 0, sizeof *st);
  st->code = code;
  st->message = rpc_slice_dup(a, details);
  for (size_t i = 0; i < trailers->count && st->ntrailers < RPC_MAX_TRAILERS; i++) {
    st->trailer_keys[st->ntrailers] = rpc_slice_dup(a, trailers->metadata[i].key);
    st->trailer_values[st->ntrailers] = rpc_slice_dup(a, trailers->metadata[i].value);
    st->ntrailers++;
  }
}

static void set_status(rpc_status *st, arena *a, int code, const char *msg) {
  if (!st) return;
  memset(st, 0, sizeof *st);
  st->code = code;
  st->message = arena_strdup(a, msg);
}

/* The state of one outgoing call on its own pluck queue, shared by unary
 * and streaming calls: open it, add its ops, wait, close it. */
typedef struct client_call {
  grpc_completion_queue *cq;
  int own_cq;   /* created for this call (streams); else the thread's */
  grpc_call *call;
  out_md md;
  grpc_byte_buffer *send;
  grpc_metadata_array init_md, trailers;
  grpc_status_code code;
  grpc_slice details;
  const char *err_str;
} client_call;

/* A unary call waits on its thread's pluck queue, made once per thread:
 * creating, shutting down and draining a queue per call cost a measurable
 * share of a forwarded call in the gateway. */
static pthread_key_t g_cq_key;
static pthread_once_t g_cq_once = PTHREAD_ONCE_INIT;

static void thread_cq_free(void *p) {
  grpc_completion_queue *cq = p;
  grpc_completion_queue_shutdown(cq);
  grpc_completion_queue_pluck(cq, NULL, gpr_inf_future(GPR_CLOCK_REALTIME), NULL);
  grpc_completion_queue_destroy(cq);
}

static void thread_cq_key(void) { pthread_key_create(&g_cq_key, thread_cq_free); }

static grpc_completion_queue *thread_cq(void) {
  pthread_once(&g_cq_once, thread_cq_key);
  grpc_completion_queue *cq = pthread_getspecific(g_cq_key);
  if (!cq) {
    cq = grpc_completion_queue_create_for_pluck(NULL);
    pthread_setspecific(g_cq_key, cq);
  }
  return cq;
}

/* call_open_on starts |cc| on |cq| (not owned: call_close leaves it). */
static void call_open_on(client_call *cc, grpc_channel *ch, const char *method, const rpc_call_opts *opts,
                         int64_t deadline_ms, const uint8_t *req, size_t req_len, grpc_completion_queue *cq,
                         grpc_call *parent);

static void call_open(client_call *cc, grpc_channel *ch, const char *method, const rpc_call_opts *opts,
                      int64_t deadline_ms, const uint8_t *req, size_t req_len, int own_cq) {
  call_open_on(cc, ch, method, opts, deadline_ms, req, req_len,
               own_cq ? grpc_completion_queue_create_for_pluck(NULL) : thread_cq(), NULL);
  cc->own_cq = own_cq;
}

/* |parent| (a server call, may be NULL): its cancellation reaches this call. */
static void call_open_on(client_call *cc, grpc_channel *ch, const char *method, const rpc_call_opts *opts,
                         int64_t deadline_ms, const uint8_t *req, size_t req_len, grpc_completion_queue *cq,
                         grpc_call *parent) {
  cc->own_cq = 0;
  cc->cq = cq;
  grpc_slice mslice = grpc_slice_from_copied_string(method);
  cc->call = grpc_channel_create_call(ch, parent, GRPC_PROPAGATE_DEFAULTS, cc->cq, mslice, NULL,
                                      rpc_ms_to_deadline(deadline_ms), NULL);
  grpc_slice_unref(mslice);
  md_build(&cc->md, opts, call_request_id(opts));
  cc->send = rpc_byte_buffer_from(req, req_len);
  grpc_metadata_array_init(&cc->init_md);
  grpc_metadata_array_init(&cc->trailers);
  cc->code = GRPC_STATUS_UNKNOWN;
  cc->details = grpc_empty_slice();
  cc->err_str = NULL;
}

/* send_ops fills the first four ops of every call (metadata, the request,
 * half-close, the reply's metadata) and returns 4. */
static size_t send_ops(client_call *cc, grpc_op *ops) {
  memset(ops, 0, 4 * sizeof *ops);
  ops[0].op = GRPC_OP_SEND_INITIAL_METADATA;
  ops[0].data.send_initial_metadata.count = cc->md.n;
  ops[0].data.send_initial_metadata.metadata = cc->md.md;
  ops[1].op = GRPC_OP_SEND_MESSAGE;
  ops[1].data.send_message.send_message = cc->send;
  ops[2].op = GRPC_OP_SEND_CLOSE_FROM_CLIENT;
  ops[3].op = GRPC_OP_RECV_INITIAL_METADATA;
  ops[3].data.recv_initial_metadata.recv_initial_metadata = &cc->init_md;
  return 4;
}

static void status_op(client_call *cc, grpc_op *op) {
  memset(op, 0, sizeof *op);
  op->op = GRPC_OP_RECV_STATUS_ON_CLIENT;
  op->data.recv_status_on_client.status = &cc->code;
  op->data.recv_status_on_client.status_details = &cc->details;
  op->data.recv_status_on_client.trailing_metadata = &cc->trailers;
  op->data.recv_status_on_client.error_string = &cc->err_str;
}

static void call_close(client_call *cc) {
  grpc_byte_buffer_destroy(cc->send);
  grpc_metadata_array_destroy(&cc->init_md);
  grpc_metadata_array_destroy(&cc->trailers);
  grpc_slice_unref(cc->details);
  if (cc->err_str) gpr_free((void *)cc->err_str);
  md_free(&cc->md);
  grpc_call_unref(cc->call);
  if (!cc->own_cq) return;
  grpc_completion_queue_shutdown(cc->cq);
  grpc_completion_queue_pluck(cc->cq, NULL, gpr_inf_future(GPR_CLOCK_REALTIME), NULL);
  grpc_completion_queue_destroy(cc->cq);
}

/* unary_ops fills the one batch of a unary call: the four send ops, the
 * reply's message into |*recv|, the status. Returns the number of ops (6). */
static size_t unary_ops(client_call *cc, grpc_byte_buffer **recv, grpc_op *ops) {
  size_t n = send_ops(cc, ops);
  memset(&ops[n], 0, sizeof ops[n]);
  ops[n].op = GRPC_OP_RECV_MESSAGE;
  ops[n].data.recv_message.recv_message = recv;
  status_op(cc, &ops[n + 1]);
  return n + 2;
}

/* unary_outcome reads a completed unary call's status into |st| and, when
 * OK, its reply into |*out| (all in |a|); destroys |recv|. Returns the code. */
static int unary_outcome(client_call *cc, grpc_byte_buffer *recv, arena *a, uint8_t **out, size_t *out_len,
                         rpc_status *st) {
  int rc = (int)cc->code;
  copy_status(st, a, rc, cc->details, &cc->trailers);
  if (rc == RPC_OK) {
    if (recv) {
      *out = rpc_byte_buffer_read(a, recv, out_len);
    } else {
      *out = arena_alloc(a, 1);
      *out_len = 0;
    }
  }
  if (recv) grpc_byte_buffer_destroy(recv);
  return rc;
}

/* One attempt of a unary call. */
static int unary_once(grpc_channel *ch, const char *method, const uint8_t *req, size_t req_len,
                      const rpc_call_opts *opts, int64_t deadline_ms, arena *a, uint8_t **out,
                      size_t *out_len, rpc_status *st) {
  client_call cc;
  call_open(&cc, ch, method, opts, deadline_ms, req, req_len, 0);
  grpc_byte_buffer *recv = NULL;
  grpc_op ops[6];
  size_t n = unary_ops(&cc, &recv, ops);
  int tag;
  int rc;
  if (grpc_call_start_batch(cc.call, ops, n, &tag, NULL) != GRPC_CALL_OK) {
    set_status(st, a, RPC_INTERNAL, "client: cannot start call");
    rc = RPC_INTERNAL;
  } else {
    blocking_enter();
    grpc_completion_queue_pluck(cc.cq, &tag, gpr_inf_future(GPR_CLOCK_REALTIME), NULL);
    rc = unary_outcome(&cc, recv, a, out, out_len, st);
  }
  call_close(&cc);
  return rc;
}

int rpc_call_raw(const char *target, const char *method, const uint8_t *req, size_t req_len,
                 const rpc_call_opts *opts, arena *a, uint8_t **out, size_t *out_len,
                 rpc_status *st) {
  grpc_channel *ch = target ? rpc_channel_for(target) : NULL;
  if (!ch) {
    set_status(st, a, RPC_UNAVAILABLE, "client: no channel to target");
    return RPC_UNAVAILABLE;
  }
  int64_t deadline = call_deadline_ms(opts);
  int idempotent = opts && opts->idempotent;
  int attempts = opts && opts->max_attempts > 0 ? opts->max_attempts : (idempotent ? 4 : 1);
  int backoff_ms = 50;
  int rc = RPC_UNAVAILABLE;
  for (int i = 0; i < attempts; i++) {
    if (rpc_now_ms() >= deadline) {
      if (i == 0 || rc == RPC_UNAVAILABLE) {
        set_status(st, a, RPC_DEADLINE_EXCEEDED, "client: deadline exceeded before the call");
        rc = RPC_DEADLINE_EXCEEDED;
      }
      break;
    }
    rc = unary_once(ch, method, req, req_len, opts, deadline, a, out, out_len, st);
    if (rc != RPC_UNAVAILABLE || !idempotent || i + 1 == attempts) break;
    /* Exponential backoff with jitter, never past the deadline. */
    int sleep_ms = backoff_ms / 2 + rand() % (backoff_ms / 2 + 1);
    if (rpc_now_ms() + sleep_ms >= deadline) break;
    usleep((useconds_t)sleep_ms * 1000);
    backoff_ms *= 2;
  }
  return rc;
}

/* An asynchronous unary call: its one batch completes on a server worker's
 * queue, where on_async_event (the tag) hands the outcome to |done|. */
typedef struct async_call {
  rpc_tag tag;   /* first */
  client_call cc;
  grpc_byte_buffer *recv;
  rpc_ctx *parent;
  rpc_async_done done;
  void *arg;
} async_call;

static void on_async_event(rpc_tag *t, int ok) {
  async_call *ac = (async_call *)t;
  (void)ok;   /* a failed batch still carries its status */
  rpc_status st;
  uint8_t *out = NULL;
  size_t out_len = 0;
  int code = unary_outcome(&ac->cc, ac->recv, ac->parent->arena, &out, &out_len, &st);
  call_close(&ac->cc);
  rpc_async_done done = ac->done;
  rpc_ctx *parent = ac->parent;
  void *arg = ac->arg;
  free(ac);
  done(parent, code, out, out_len, &st, arg);
}

int rpc_call_raw_async(const char *target, const char *method, const uint8_t *req, size_t req_len,
                       const rpc_call_opts *opts, rpc_ctx *parent, rpc_async_done done, void *arg) {
  grpc_channel *ch = target ? rpc_channel_for(target) : NULL;
  if (!ch) return RPC_UNAVAILABLE;
  int64_t deadline = call_deadline_ms(opts);
  if (rpc_now_ms() >= deadline) return RPC_DEADLINE_EXCEEDED;
  async_call *ac = calloc(1, sizeof *ac);
  if (!ac) return RPC_RESOURCE_EXHAUSTED;
  ac->tag.on_event = on_async_event;
  ac->parent = parent;
  ac->done = done;
  ac->arg = arg;
  /* a child of the server call: the caller going away, or the server's
   * shutdown cancelling it, cancels this call too */
  call_open_on(&ac->cc, ch, method, opts, deadline, req, req_len, rpc_ctx_cq(parent), rpc_ctx_call(parent));
  grpc_op ops[6];
  size_t n = unary_ops(&ac->cc, &ac->recv, ops);
  rpc_defer(parent);   /* before the batch: it may complete (and finish) at once */
  if (grpc_call_start_batch(ac->cc.call, ops, n, ac, NULL) != GRPC_CALL_OK) {
    rpc_undefer(parent);
    call_close(&ac->cc);
    free(ac);
    return RPC_INTERNAL;
  }
  return RPC_OK;
}

/* ---- Relays: a server stream fed by an upstream stream ---- */

typedef struct relay relay;
typedef struct relay_tag {
  rpc_tag tag;   /* first */
  relay *r;
} relay_tag;

struct relay {
  relay_tag start, msg, status;
  pthread_mutex_t mu;   /* the upstream's events may run on several workers */
  client_call cc;
  grpc_byte_buffer *recv;
  rpc_stream *down;
  int pending;          /* upstream batches out */
  int done;
  arena a;              /* the upstream's status, kept until the stream ends */
  rpc_status st;
  void (*on_end)(void *arg);
  void *on_end_arg;
};

/* relay_recv_next asks for the upstream's next message (lock held). */
static void relay_recv_next(relay *r) {
  grpc_op op;
  memset(&op, 0, sizeof op);
  op.op = GRPC_OP_RECV_MESSAGE;
  op.data.recv_message.recv_message = &r->recv;
  if (grpc_call_start_batch(r->cc.call, &op, 1, &r->msg, NULL) == GRPC_CALL_OK) r->pending++;
}

/* relay_closed: the downstream call is over; end the upstream too. */
static void relay_closed(void *arg) {
  relay *r = arg;
  pthread_mutex_lock(&r->mu);
  if (!r->done) grpc_call_cancel(r->cc.call, NULL);
  pthread_mutex_unlock(&r->mu);
}

/* relay_end runs when the downstream stream is freed. */
static void relay_end(void *arg) {
  relay *r = arg;
  if (r->on_end) r->on_end(r->on_end_arg);
  arena_free(&r->a);
  pthread_mutex_destroy(&r->mu);
  free(r);
}

static void relay_event(rpc_tag *t, int ok) {
  (void)ok;
  relay_tag *rt = (relay_tag *)t;
  relay *r = rt->r;
  pthread_mutex_lock(&r->mu);
  r->pending--;
  if (rt == &r->msg && r->recv) {
    arena tmp;
    arena_init(&tmp);
    size_t len = 0;
    uint8_t *buf = rpc_byte_buffer_read(&tmp, r->recv, &len);
    grpc_byte_buffer_destroy(r->recv);
    r->recv = NULL;
    if (rpc_stream_send_raw(r->down, buf, len) != 0)
      grpc_call_cancel(r->cc.call, NULL);   /* the client is gone or not reading */
    else
      relay_recv_next(r);
    arena_free(&tmp);
  } else if (rt == &r->status) {
    copy_status(&r->st, &r->a, (int)r->cc.code, r->cc.details, &r->cc.trailers);
  }
  int done = r->pending == 0;
  if (done) r->done = 1;
  pthread_mutex_unlock(&r->mu);
  if (!done) return;
  rpc_stream_finish(r->down, r->st.code, r->st.message ? r->st.message : "", r->st.ntrailers, r->st.trailer_keys,
                    r->st.trailer_values);
  call_close(&r->cc);
  rpc_stream_unref(r->down);   /* may free the stream, and |r| with it */
}

int rpc_call_stream_relay(const char *target, const char *method, const uint8_t *req, size_t req_len,
                          const rpc_call_opts *opts, rpc_ctx *parent, rpc_stream *down,
                          void (*on_end)(void *arg), void *arg) {
  grpc_channel *ch = target ? rpc_channel_for(target) : NULL;
  if (!ch) return RPC_UNAVAILABLE;
  int64_t deadline = INT64_MAX;
  if (opts && opts->timeout_ms > 0) deadline = rpc_now_ms() + opts->timeout_ms;
  if (parent->deadline_ms < deadline) deadline = parent->deadline_ms;
  relay *r = calloc(1, sizeof *r);
  if (!r) return RPC_RESOURCE_EXHAUSTED;
  relay_tag *tags[] = {&r->start, &r->msg, &r->status};
  for (int i = 0; i < 3; i++) *tags[i] = (relay_tag){{relay_event}, r};
  pthread_mutex_init(&r->mu, NULL);
  arena_init(&r->a);
  r->down = down;
  r->on_end = on_end;
  r->on_end_arg = arg;
  r->st.code = RPC_UNKNOWN;
  /* a child of the server call, completing on its worker's queue */
  call_open_on(&r->cc, ch, method, opts, deadline, req, req_len, rpc_ctx_cq(parent), rpc_ctx_call(parent));
  grpc_op ops[4], sop;
  size_t n = send_ops(&r->cc, ops);
  status_op(&r->cc, &sop);
  pthread_mutex_lock(&r->mu);
  if (grpc_call_start_batch(r->cc.call, ops, n, &r->start, NULL) != GRPC_CALL_OK) {
    pthread_mutex_unlock(&r->mu);
    call_close(&r->cc);
    arena_free(&r->a);
    pthread_mutex_destroy(&r->mu);
    free(r);
    return RPC_INTERNAL;
  }
  r->pending++;
  rpc_stream_ref(down);
  rpc_stream_on_end(down, relay_end, r);
  rpc_stream_on_close(down, relay_closed, r);
  if (grpc_call_start_batch(r->cc.call, &sop, 1, &r->status, NULL) == GRPC_CALL_OK) r->pending++;
  relay_recv_next(r);
  pthread_mutex_unlock(&r->mu);
  return RPC_OK;
}

int rpc_call(const char *target, const char *method, const ProtobufCMessage *req,
             const ProtobufCMessageDescriptor *resp_desc, const rpc_call_opts *opts, arena *a,
             void **out, rpc_status *st) {
  size_t n = protobuf_c_message_get_packed_size(req);
  uint8_t *buf = arena_alloc(a, n ? n : 1);
  protobuf_c_message_pack(req, buf);
  uint8_t *resp = NULL;
  size_t resp_len = 0;
  int rc = rpc_call_raw(target, method, buf, n, opts, a, &resp, &resp_len, st);
  if (rc != RPC_OK) return rc;
  void *m = protobuf_c_message_unpack(resp_desc, &a->pb, resp_len, resp);
  if (!m) {
    set_status(st, a, RPC_INTERNAL, "client: cannot decode the reply");
    return RPC_INTERNAL;
  }
  *out = m;
  return RPC_OK;
}

int rpc_call_stream_raw(const char *target, const char *method, const uint8_t *req,
                        size_t req_len, const rpc_call_opts *opts, arena *a,
                        int (*on_message)(void *arg, const uint8_t *buf, size_t len), void *arg,
                        rpc_stream *parent_stream, rpc_status *st) {
  grpc_channel *ch = target ? rpc_channel_for(target) : NULL;
  if (!ch) {
    set_status(st, a, RPC_UNAVAILABLE, "client: no channel to target");
    return RPC_UNAVAILABLE;
  }
  int64_t deadline = INT64_MAX;
  if (opts && opts->timeout_ms > 0) deadline = rpc_now_ms() + opts->timeout_ms;
  if (opts && opts->parent && opts->parent->deadline_ms < deadline) deadline = opts->parent->deadline_ms;
  client_call cc;
  call_open(&cc, ch, method, opts, deadline, req, req_len, 1);
  int start_tag, status_tag, msg_tag;
  grpc_op ops[4], sop;
  size_t n = send_ops(&cc, ops);
  status_op(&cc, &sop);
  int rc = RPC_INTERNAL;
  grpc_call *call = cc.call;
  grpc_completion_queue *cq = cc.cq;
  if (grpc_call_start_batch(call, ops, n, &start_tag, NULL) != GRPC_CALL_OK) goto done;
  if (grpc_call_start_batch(call, &sop, 1, &status_tag, NULL) != GRPC_CALL_OK) goto done;
  grpc_completion_queue_pluck(cq, &start_tag, gpr_inf_future(GPR_CLOCK_REALTIME), NULL);
  int cancelled = 0;
  for (;;) {
    grpc_byte_buffer *recv = NULL;
    grpc_op rop;
    memset(&rop, 0, sizeof rop);
    rop.op = GRPC_OP_RECV_MESSAGE;
    rop.data.recv_message.recv_message = &recv;
    if (grpc_call_start_batch(call, &rop, 1, &msg_tag, NULL) != GRPC_CALL_OK) break;
    grpc_event ev;
    for (;;) {
      ev = grpc_completion_queue_pluck(cq, &msg_tag, rpc_ms_to_deadline(rpc_now_ms() + 200), NULL);
      if (ev.type != GRPC_QUEUE_TIMEOUT) break;
      if (!cancelled && parent_stream && rpc_stream_closed(parent_stream)) {
        grpc_call_cancel(call, NULL);
        cancelled = 1;
      }
    }
    if (!recv) break;   /* end of stream */
    size_t len = 0;
    arena tmp;
    arena_init(&tmp);
    uint8_t *buf = rpc_byte_buffer_read(&tmp, recv, &len);
    grpc_byte_buffer_destroy(recv);
    int stop = on_message(arg, buf, len);
    arena_free(&tmp);
    if (stop && !cancelled) {
      grpc_call_cancel(call, NULL);
      cancelled = 1;
    }
  }
  grpc_completion_queue_pluck(cq, &status_tag, gpr_inf_future(GPR_CLOCK_REALTIME), NULL);
  rc = (int)cc.code;
  copy_status(st, a, rc, cc.details, &cc.trailers);
done:
  if (rc == RPC_INTERNAL && (!st || !st->message)) set_status(st, a, RPC_INTERNAL, "client: cannot start stream");
  call_close(&cc);
  return rc;
}
