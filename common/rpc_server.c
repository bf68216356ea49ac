/* rpc_server.c - the gRPC server loop over gRPC core: the unary path, the
 * worker loop and the server's life (rpc_call.h lists the rest).
 *
 * A completion queue per core, each polled by one thread, with requests
 * posted ahead per registered method (plus generic ones for unknown methods);
 * the thread that takes a call runs its handler, and a spare thread polls
 * the queue while a handler blocks (rpc_pool.c), so no quick call is handed
 * from thread to thread. No worker ever waits on a client. A call
 * moves through a small state machine driven by its tags:
 *
 *   unary (registered):   REQUESTED -> handler -> REPLYING -> freed
 *   stream (registered):  REQUESTED -> stepped by the stream workers, its
 *                         batches' completions back on the queue -> freed
 *                         (bidirectional: a thread of its own)
 *   generic (unknown):    REQUESTED -> READING (the message awaited on the
 *                         queue, under the first-message bound) -> raw
 *                         handler, a stepped stream, or UNIMPLEMENTED
 *                         -> REPLYING -> freed
 *
 * The life of one call (context, replies, the access line) is rpc_call.c's;
 * this file, rpc_stream.c and rpc_generic.c drive calls through it. */
#include <errno.h>
#include <grpc/byte_buffer.h>
#include <grpc/byte_buffer_reader.h>
#include <grpc/grpc.h>
#include <grpc/grpc_security.h>
#include <grpc/support/alloc.h>
#include <grpc/support/time.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "clock.h"
#include "health.h"
#include "hex.h"
#include "metrics.h"
#include "pbwire.h"
#include "replay.h"
#include "reflection.h"
#include "log.h"
#include "tls.h"
#include "rpc_call.h"

/* The deadline of the call whose handler this thread runs. */
static _Thread_local int64_t t_deadline_ms = INT64_MAX;

int64_t rpc_thread_remaining_ms(void) {
  return t_deadline_ms == INT64_MAX ? INT64_MAX : t_deadline_ms - rpc_now_ms();
}

/* ------------------------------------------------------------------ */
/* Calls                                                                */

static void call_on_event(rpc_tag *t, int ok);
static void post_request(worker *w, method_entry *me);

call *call_new(worker *w, method_entry *me) {
  call *c = calloc(1, sizeof *c);
  if (!c) abort();
  c->tag.on_event = call_on_event;
  c->w = w;
  c->me = me;
  grpc_metadata_array_init(&c->md);
  grpc_call_details_init(&c->details);
  arena_init(&c->arena);
  return c;
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
    hex_random(x->request_id, 8);
  const char *why = NULL;
  identity_verify(md_str(c, "x-accolade-org"), md_str(c, "x-accolade-user"),
                  md_str(c, "x-accolade-role"), md_str(c, "x-accolade-team"),
                  md_str(c, "x-accolade-ts"), md_str(c, "x-accolade-sig"), (int64_t)time(NULL),
                  &x->id, &why);
  if (why && md_find(c, "x-accolade-sig"))
    log_warn("rejected identity on %s from %s: %s", method, x->peer, why);
}

/* ------------------------------------------------------------------ */
/* The worker loop                                                      */


static int (*g_replay)(rpc_ctx *, const void *, void *, rpc_unary_fn);
void rpc_set_replay(int (*fn)(rpc_ctx *ctx, const void *req, void *resp, rpc_unary_fn handler)) { g_replay = fn; }

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
    call_raw_outcome(c, code);
  } else if (buf) {
    void *req = call_decode(c, m->request, buf, len);
    if (req) {
      void *resp = arena_alloc(&c->arena, m->response->sizeof_message);
      protobuf_c_message_init(m->response, resp);
      int code = g_replay && !m->own_replay && replay_key(req) ? g_replay(&c->ctx, req, resp, m->unary) : m->unary(&c->ctx, req, resp);
      if (code == RPC_OK)
        c->reply = c->ctx.reply_bytes ? rpc_byte_buffer_from(c->ctx.reply_bytes, c->ctx.reply_len)
                                      : rpc_byte_buffer_pack(resp);
      call_outcome(c, code);
    }
  }
  call_reply_start(c);
}

/* stream_arrived: a registered stream's call is here with its request
 * (bidirectional ones read theirs as they come). */
static void stream_arrived(call *c) {
  const rpc_method *m = c->me->m;
  if (m->bidi) {
    stream_begin(c, 1);
    return;
  }
  if (!c->payload) {
    rpc_fail(&c->ctx, RPC_INVALID_ARGUMENT, "request: missing message");
    call_reply_start(c);
    return;
  }
  size_t len = 0;
  uint8_t *buf = rpc_byte_buffer_read(&c->arena, c->payload, &len);
  c->req = call_decode(c, m->request, buf, len);
  if (!c->req) {
    call_reply_start(c);
    return;
  }
  stream_begin(c, 0);
}

static void call_on_event(rpc_tag *t, int ok) {
  call *c = (call *)t;
  worker *w = c->w;
  rpc_server *s = w->srv;
  if (c->phase == CALL_REPLYING) {
    call_access_log(c);
    call_free(c);
    return;
  }
  if (c->phase == CALL_READING) {
    server_handler_begin(s);
    t_deadline_ms = c->ctx.deadline_ms;
    generic_read(c, ok);
    t_deadline_ms = INT64_MAX;
    server_handler_end(s);
    return;
  }
  /* CALL_REQUESTED */
  if (!ok) {   /* the server is shutting down: do not re-post */
    call_free(c);
    return;
  }
  if (!atomic_load(&s->stopping)) post_request(w, c->me);
  c->start_us = rpc_now_us();
  if (c->me) {
    ctx_init(c, c->me->m->path);
    if (c->me->m->stream) {
      stream_arrived(c);
    } else {
      server_handler_begin(s);
      t_deadline_ms = c->ctx.deadline_ms;
      unary_run(c);   /* the reply's completion frees the call */
      t_deadline_ms = INT64_MAX;
      server_handler_end(s);
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
  } else if (!me->m->bidi) {   /* a stepped stream: its batches complete here too */
    e = grpc_server_request_registered_call(s->server, me->handle, &c->call, &c->deadline, &c->md,
                                            &c->payload, w->cq, w->cq, c);
  } else {   /* a bidirectional stream: its thread waits on its own queue */
    c->own_cq = grpc_completion_queue_create_for_next(NULL);
    e = grpc_server_request_registered_call(s->server, me->handle, &c->call, &c->deadline, &c->md, NULL,
                                            c->own_cq, w->cq, c);
  }
  if (e != GRPC_CALL_OK) {
    if (!atomic_load(&s->stopping)) log_error("request_call failed: %d", (int)e);
    call_free(c);
  }
}

/* Requests kept posted per unary method and queue. A call that finds no
 * request waiting is parked in core's pending list under the server's lock
 * until one is posted; with several waiting it is matched on the spot.
 * Each costs a call record (~1 KB) per method and queue. At 8 the test
 * service's CPU per Health.Check fell about 10% under h2load -c 50 -m 10
 * (bench/README.md); gRPC's C++ qps server keeps more still. Streams keep
 * one each: a bidirectional one holds a completion queue of its own. */
#define UNARY_REQUESTS_AHEAD 8

void server_post_requests(worker *w) {
  rpc_server *s = w->srv;
  for (int i = 0; i < s->nentries; i++) {
    method_entry *me = &s->entries[i];
    int ahead = me->m->unary ? UNARY_REQUESTS_AHEAD : 1;
    for (int k = 0; k < ahead; k++) post_request(w, me);
  }
  post_request(w, NULL);
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
  /* A queue per core, each polled by one thread; the other threads are
   * spares for a queue whose poller blocks in a handler (rpc_pool.c). */
  s->ncqs = cfg->pollers > 0 ? cfg->pollers : (int)cores;
  s->nworkers = cfg->threads > 0 ? cfg->threads : (int)cores * 2 + 2;
  if (s->ncqs > s->nworkers) s->ncqs = s->nworkers;

  if (s->cfg.shutdown_grace_ms <= 0) s->cfg.shutdown_grace_ms = 10000;
  if (s->cfg.max_message_bytes <= 0) s->cfg.max_message_bytes = 4 << 20;
  if (s->cfg.max_streams <= 0) s->cfg.max_streams = 1000;
  if (s->cfg.first_message_ms <= 0) s->cfg.first_message_ms = 10000;
  if (s->cfg.max_connection_streams <= 0) s->cfg.max_connection_streams = 4096;
  if (s->cfg.keepalive_ms <= 0) s->cfg.keepalive_ms = 60000;
  if (s->cfg.idle_ms <= 0) s->cfg.idle_ms = 600000;
  if (s->cfg.stream_workers <= 0) s->cfg.stream_workers = 2;
  pthread_mutex_init(&s->mu, NULL);
  pthread_cond_init(&s->cv, NULL);
  pthread_mutex_init(&s->watch_mu, NULL);
  pthread_cond_init(&s->watch_cv, NULL);

  /* The caps gRPC core enforces per connection: message size, concurrent
   * streams (HTTP/2 SETTINGS), keepalive pings that find dead peers, and
   * connections with no call for a long time closed (clients reconnect), and
 * connections older than the maximum age told to go away (clients connect
 * again, re-resolving the name: new replicas get their share). */
  struct { const char *key; int value; } ints[] = {
      {GRPC_ARG_MAX_RECEIVE_MESSAGE_LENGTH, s->cfg.max_message_bytes},
      {GRPC_ARG_ALLOW_REUSEPORT, 0},
      {GRPC_ARG_MAX_CONCURRENT_STREAMS, s->cfg.max_connection_streams},
      {GRPC_ARG_KEEPALIVE_TIME_MS, s->cfg.keepalive_ms},
      {GRPC_ARG_KEEPALIVE_TIMEOUT_MS, 20000},
      {GRPC_ARG_MAX_CONNECTION_IDLE_MS, s->cfg.idle_ms},
      {GRPC_ARG_MAX_CONNECTION_AGE_MS, s->cfg.max_connection_age_ms > 0 ? s->cfg.max_connection_age_ms : INT_MAX},
      /* Two of core's defaults that cost every call and serve nothing here:
       * channelz's per-call counters (no channelz service is exposed), and
       * the flow-control window probes (pings whenever data arrives, which
       * grow the receive window for large uploads over long links; the
       * messages here are small and the default window holds them). Off,
       * the server's CPU per Health.Check fell 3-7% in paired runs under
       * h2load (14.3 to 13.8 us in four alternating rounds). */
      {GRPC_ARG_ENABLE_CHANNELZ, 0},
      {GRPC_ARG_HTTP2_BDP_PROBE, 0},
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
  s->workers = calloc((size_t)s->ncqs, sizeof *s->workers);
  for (int i = 0; i < nmethods; i++)
    if (add_method(s, &methods[i]) != 0) goto err;
  for (int i = 0; i < 2; i++)
    if (add_method(s, &health_methods[i]) != 0 || add_method(s, &reflection_methods[i]) != 0)
      goto err;
  /* a raw handler serves the whole contract: reflection lists all of it */
  if (cfg->raw) s->more_services = reflection_all_services;
  for (int i = 0; i < s->ncqs; i++) {
    s->workers[i].srv = s;
    s->workers[i].cq = grpc_completion_queue_create_for_next(NULL);
    grpc_server_register_completion_queue(s->server, s->workers[i].cq, NULL);
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
  for (int i = 0; i < s->ncqs; i++)
    if (s->workers[i].cq) grpc_completion_queue_destroy(s->workers[i].cq);
  free(s->workers);
  free(s->entries);
  free(s);
  return NULL;
}

int rpc_server_port(const rpc_server *s) { return s->port; }

int rpc_server_start(rpc_server *s) {
  grpc_server_start(s->server);
  s->started = 1;
  if (pool_start(s) != 0) return -1;
  if (streams_start(s) != 0 || generic_reaper_start(s) != 0) return -1;
  log_info("%s serving gRPC on port %d: %d threads over %d completion queues", s->name, s->port,
           s->nworkers, s->ncqs);
  return 0;
}

void rpc_server_stop(rpc_server *s) {
  if (!s) return;
  atomic_store(&s->stopping, 1);
  if (s->started) streams_wake_all(s);   /* their steps see the server stopping and end */
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
    idle = atomic_load(&s->handlers) == 0 && s->active_streams == 0 ? idle + 1 : 0;
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
  while (s->active_streams > 0 || atomic_load(&s->handlers) > 0) pthread_cond_wait(&s->cv, &s->mu);
  pthread_mutex_unlock(&s->mu);
  if (s->started) streams_stop(s);
  for (int i = 0; i < s->ncqs; i++) grpc_completion_queue_shutdown(s->workers[i].cq);
  if (s->started) pool_stop(s);
  log_debug("%s: workers joined", s->name);
  generic_reaper_stop(s);
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
