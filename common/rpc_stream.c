/* rpc_stream.c - server streams.
 *
 * A server stream holds no thread. Its handler is a step: a few stream
 * workers (stream_workers, 2 by default) run the steps of every stream, one
 * at a time each. A step queues messages (rpc_stream_send never waits on
 * the client), says when it wants to run again (rpc_stream_sleep: after a
 * time, or sooner once a condition holds, re-checked whenever something
 * calls rpc_streams_kick and every SCAN_MS), and returns RPC_STREAM_AGAIN, or
 * its final status. Sends go out one batch at a time from the queue; their
 * completions, the client's close and the final status come back to the
 * server's workers as events (stream_event). A stream runs its next step
 * only once its queue has drained, so a slow client slows only itself, and
 * a client that stops reading fills its queue and loses the stream.
 *
 * A stream may also be finished from outside its steps (rpc_stream_finish,
 * the gateway's relay when its upstream ends), kept alive by references
 * (rpc_stream_ref) while something outside it still points at it.
 *
 * Bidirectional streams (server reflection) read their requests as they
 * come and run on a thread of their own with their own queue, as before.
 * Both kinds count against max_streams.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "rpc_call.h"

#define SCAN_MS 50              /* waiting streams' conditions re-checked this often */
#define STREAM_QUEUE_MAX 1024   /* messages queued for a client before it loses the stream */

/* ------------------------------------------------------------------ */
/* Bidirectional streams: a thread and a queue of their own             */

/* own_wait waits on the call's own queue for the batch |which| (or until
 * |deadline_ms|, monotonic; INT64_MAX forever). Returns 1 ok, 0 failed, -1
 * timed out. The client's close is recorded whenever it arrives. */
static int own_wait(call *c, int which, int64_t deadline_ms) {
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
    if (ev.tag == &c->st[which]) return ev.success ? 1 : 0;
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

static int own_post_close(call *c) {
  grpc_op op;
  memset(&op, 0, sizeof op);
  op.op = GRPC_OP_RECV_CLOSE_ON_SERVER;
  op.data.recv_close_on_server.cancelled = &c->client_cancelled;
  return grpc_call_start_batch(c->call, &op, 1, &c->st[T_CLOSE], NULL) == GRPC_CALL_OK;
}

/* own_end sends the final status, waits for the close and frees the call
 * (counting out an admitted stream when |counted|). */
static void own_end(call *c, int counted) {
  rpc_server *s = c->w->srv;
  if (atomic_load(&c->closed) && c->ctx.code == RPC_OK) c->ctx.code = RPC_CANCELLED;
  grpc_op ops[4];
  size_t n = call_reply_ops(c, ops, 0, 0);
  own_batch(c, ops, n, T_STATUS);
  if (!atomic_load(&c->closed)) own_wait(c, T_CLOSE, INT64_MAX);
  call_access_log(c);
  call_free(c);
  if (counted) server_stream_end(s);
}

int rpc_stream_recv(rpc_stream *s, void **out) {
  call *c = s->c;
  if (!c->own_cq || atomic_load(&c->closed)) return -1;
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

static void *bidi_thread(void *arg) {
  call *c = arg;
  own_post_close(c);
  call_outcome(c, c->me->m->stream(&c->ctx, NULL, &c->stream));
  own_end(c, 1);
  return NULL;
}

/* ------------------------------------------------------------------ */
/* Stepped streams: the scheduler                                       */

static pthread_mutex_t g_servers_mu = PTHREAD_MUTEX_INITIALIZER;
static rpc_server *g_servers[8];

static void list_unlink(stream_sched *q, call *c) {
  if (c->sstate == SS_READY) {
    if (c->sprev) c->sprev->snext = c->snext;
    else q->ready_head = c->snext;
    if (c->snext) c->snext->sprev = c->sprev;
    else q->ready_tail = c->sprev;
  } else if (c->sstate == SS_WAITING) {
    if (c->sprev) c->sprev->snext = c->snext;
    else q->waiting = c->snext;
    if (c->snext) c->snext->sprev = c->sprev;
  }
  c->snext = c->sprev = NULL;
}

static void push_ready(stream_sched *q, call *c) {
  list_unlink(q, c);
  c->sstate = SS_READY;
  c->sprev = q->ready_tail;
  c->snext = NULL;
  if (q->ready_tail) q->ready_tail->snext = c;
  else q->ready_head = c;
  q->ready_tail = c;
  pthread_cond_signal(&q->cv);
}

static void push_waiting(stream_sched *q, call *c) {
  list_unlink(q, c);
  c->sstate = SS_WAITING;
  c->sprev = NULL;
  c->snext = q->waiting;
  if (q->waiting) q->waiting->sprev = c;
  q->waiting = c;
}

static int drained(const call *c) { return !c->sending && !c->q_head; }

/* due: a waiting stream may step again: its queue has drained and its time
 * has come or its condition holds (or the server is stopping). */
static int due(const call *c, int64_t now) {
  if (!drained(c)) return 0;
  if (atomic_load(&c->w->srv->stopping) || c->wake_at <= now) return 1;
  return c->ready && c->ready(c->ready_arg);
}

/* The batches, always started under the scheduler's lock, so never two at
 * once on one call. */

/* message_ops fills |ops| (2) with a send of |bb|, preceded by the initial
 * metadata the first time; returns their number. */
static size_t message_ops(call *c, grpc_op *ops, grpc_byte_buffer *bb) {
  memset(ops, 0, 2 * sizeof *ops);
  size_t n = call_initial_md_op(c, &ops[0]);
  ops[n].op = GRPC_OP_SEND_MESSAGE;
  ops[n].data.send_message.send_message = bb;
  return n + 1;
}

/* send_next starts the next queued message, if none is out. */
static void send_next(call *c) {
  if (c->sending || !c->q_head) return;
  grpc_op ops[2];
  size_t n = message_ops(c, ops, c->q_head->bb);
  if (grpc_call_start_batch(c->call, ops, n, &c->st[T_SEND], NULL) == GRPC_CALL_OK) {
    c->sending = 1;
    c->pending++;
    return;
  }
  log_error("stream send on %s: cannot start the batch", c->ctx.method);
  while (c->q_head) {   /* the call is broken: drop what waits */
    queued_msg *m = c->q_head;
    c->q_head = m->next;
    grpc_byte_buffer_destroy(m->bb);
    free(m);
  }
  c->q_tail = NULL;
  c->q_len = 0;
}

/* status_start sends the final status once it is decided and the queue has
 * drained. */
static void status_start(call *c) {
  if (!c->finished || c->status_sent || !drained(c)) return;
  if (atomic_load(&c->closed) && c->ctx.code == RPC_OK) c->ctx.code = RPC_CANCELLED;
  grpc_op ops[4];
  size_t n = call_reply_ops(c, ops, 0, 0);
  c->status_sent = 1;
  if (grpc_call_start_batch(c->call, ops, n, &c->st[T_STATUS], NULL) == GRPC_CALL_OK)
    c->pending++;
  else
    log_error("stream status on %s: cannot start the batch", c->ctx.method);
}

/* finish decides the stream's status (the first decision stands). */
static void finish(call *c, int code) {
  if (c->finished) return;
  call_outcome(c, code);
  c->finished = 1;
}

static int can_free(const call *c) {
  return c->status_sent && c->pending == 0 && c->refs == 0 && c->sstate != SS_RUNNING;
}

/* stream_free ends a stream whose last event has come (no lock held). */
static void stream_free(call *c) {
  rpc_server *s = c->w->srv;
  if (c->on_end) c->on_end(c->on_end_arg);
  call_access_log(c);
  call_free(c);
  server_stream_end(s);
}

/* end_waiting: a stream that waits is ended with |code| (client gone). */
static void end_waiting(stream_sched *q, call *c, int code) {
  list_unlink(q, c);
  c->sstate = SS_ENDING;
  finish(c, code);
  status_start(c);
}

/* stream_event: a batch of a stepped stream completed, on a worker. */
static void stream_event(rpc_tag *t, int ok) {
  stream_tag *st = (stream_tag *)t;
  call *c = st->c;
  stream_sched *q = &c->w->srv->sched;
  int which = (int)(st - c->st);
  pthread_mutex_lock(&q->mu);
  c->pending--;
  if (which == T_SEND) {
    queued_msg *m = c->q_head;
    c->q_head = m->next;
    if (!c->q_head) c->q_tail = NULL;
    c->q_len--;
    grpc_byte_buffer_destroy(m->bb);
    free(m);
    c->sending = 0;
    if (!ok) atomic_store(&c->closed, 1);   /* the call is gone */
    send_next(c);
  }
  /* The call is over (the client left, or its status went out): whatever
   * still holds the stream is told, holding a reference meanwhile. */
  void (*on_close)(void *) = NULL;
  void *on_close_arg = NULL;
  if (which == T_CLOSE) {
    atomic_store(&c->closed, 1);
    if (c->on_close && c->refs > 0) {
      on_close = c->on_close;
      on_close_arg = c->on_close_arg;
      c->refs++;
    }
  }
  if (atomic_load(&c->closed) && c->sstate == SS_WAITING) end_waiting(q, c, RPC_CANCELLED);
  if (c->sstate == SS_WAITING && due(c, rpc_now_ms())) push_ready(q, c);
  status_start(c);
  int fr = can_free(c);
  pthread_mutex_unlock(&q->mu);
  if (on_close) {
    on_close(on_close_arg);
    rpc_stream_unref(&c->stream);
  } else if (fr) {
    stream_free(c);
  }
}

/* scan moves the waiting streams that are due to the ready list. */
static void scan(stream_sched *q) {
  int64_t now = rpc_now_ms();
  call *next;
  for (call *c = q->waiting; c; c = next) {
    next = c->snext;
    if (due(c, now)) push_ready(q, c);
  }
}

/* after_step files a stream by its step's |code| (lock held). */
static void after_step(stream_sched *q, call *c, int code) {
  rpc_server *s = c->w->srv;
  c->sstate = SS_NONE;
  int gone = atomic_load(&c->closed) || atomic_load(&s->stopping);
  if (code == RPC_STREAM_AGAIN && !gone && !c->finished) {
    push_waiting(q, c);
    if (due(c, rpc_now_ms())) push_ready(q, c);
    return;
  }
  if (code == RPC_STREAM_AGAIN && !c->finished)
    code = atomic_load(&c->closed) ? RPC_CANCELLED : rpc_fail(&c->ctx, RPC_UNAVAILABLE, "server: shutting down");
  c->sstate = SS_ENDING;
  finish(c, code);
  status_start(c);
}

static void run_step(call *c) {
  rpc_server *s = c->w->srv;
  c->wake_at = 0;   /* unless the step says otherwise: again once drained */
  c->ready = NULL;
  int code = c->me ? c->me->m->stream(&c->ctx, c->req, &c->stream)
                   : s->cfg.raw->stream(&c->ctx, c->raw_req, c->raw_len, &c->stream);
  stream_sched *q = &s->sched;
  pthread_mutex_lock(&q->mu);
  after_step(q, c, code);
  int fr = can_free(c);
  pthread_mutex_unlock(&q->mu);
  if (fr) stream_free(c);
}

static void *stream_worker(void *arg) {
  rpc_server *s = arg;
  stream_sched *q = &s->sched;
  int64_t last_scan = 0;
  pthread_mutex_lock(&q->mu);
  while (!q->stop) {
    int64_t now = rpc_now_ms();
    if (q->kicked || now - last_scan >= SCAN_MS) {
      q->kicked = 0;
      last_scan = now;
      scan(q);
    }
    call *c = q->ready_head;
    if (!c) {
      struct timespec ts = rpc_deadline_after(SCAN_MS);
      rpc_cond_wait(&q->cv, &q->mu, &ts);
      continue;
    }
    list_unlink(q, c);
    c->sstate = SS_RUNNING;
    pthread_mutex_unlock(&q->mu);
    run_step(c);
    server_after_call();
    pthread_mutex_lock(&q->mu);
  }
  pthread_mutex_unlock(&q->mu);
  return NULL;
}

int streams_start(rpc_server *s) {
  stream_sched *q = &s->sched;
  pthread_mutex_init(&q->mu, NULL);
  pthread_cond_init(&q->cv, NULL);
  int n = s->cfg.stream_workers;
  q->threads = calloc((size_t)n, sizeof *q->threads);
  for (q->nthreads = 0; q->threads && q->nthreads < n; q->nthreads++)
    if (pthread_create(&q->threads[q->nthreads], NULL, stream_worker, s) != 0) return -1;
  pthread_mutex_lock(&g_servers_mu);
  for (size_t i = 0; i < sizeof g_servers / sizeof g_servers[0]; i++)
    if (!g_servers[i]) {
      g_servers[i] = s;
      break;
    }
  pthread_mutex_unlock(&g_servers_mu);
  return 0;
}

void streams_wake_all(rpc_server *s) {
  stream_sched *q = &s->sched;
  pthread_mutex_lock(&q->mu);
  call *next;
  for (call *c = q->waiting; c; c = next) {
    next = c->snext;
    if (drained(c)) push_ready(q, c);
  }
  pthread_cond_broadcast(&q->cv);
  pthread_mutex_unlock(&q->mu);
}

void streams_stop(rpc_server *s) {
  stream_sched *q = &s->sched;
  pthread_mutex_lock(&g_servers_mu);
  for (size_t i = 0; i < sizeof g_servers / sizeof g_servers[0]; i++)
    if (g_servers[i] == s) g_servers[i] = NULL;
  pthread_mutex_unlock(&g_servers_mu);
  pthread_mutex_lock(&q->mu);
  q->stop = 1;
  pthread_cond_broadcast(&q->cv);
  pthread_mutex_unlock(&q->mu);
  for (int i = 0; i < q->nthreads; i++) pthread_join(q->threads[i], NULL);
  free(q->threads);
  pthread_mutex_destroy(&q->mu);
  pthread_cond_destroy(&q->cv);
}

void rpc_streams_kick(void) {
  pthread_mutex_lock(&g_servers_mu);
  for (size_t i = 0; i < sizeof g_servers / sizeof g_servers[0]; i++) {
    rpc_server *s = g_servers[i];
    if (!s) continue;
    pthread_mutex_lock(&s->sched.mu);
    s->sched.kicked = 1;
    pthread_cond_signal(&s->sched.cv);
    pthread_mutex_unlock(&s->sched.mu);
  }
  pthread_mutex_unlock(&g_servers_mu);
}

/* ------------------------------------------------------------------ */
/* Starting a stream                                                    */

void stream_begin(call *c, int bidi) {
  rpc_server *s = c->w->srv;
  c->stream.c = c;
  if (!server_stream_admit(s)) {
    rpc_fail(&c->ctx, RPC_RESOURCE_EXHAUSTED, "server: at most %d concurrent streams (ACCOLADE_MAX_STREAMS)",
             s->cfg.max_streams);
    if (bidi) {   /* its batches complete on its own queue */
      own_post_close(c);
      own_end(c, 0);
      return;
    }
    call_reply_start(c);
    return;
  }
  if (bidi) {
    pthread_t t;
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    pthread_attr_setstacksize(&attr, 256 * 1024);
    int e = pthread_create(&t, &attr, bidi_thread, c);
    pthread_attr_destroy(&attr);
    if (e == 0) return;
    log_error("cannot start a thread for %s", c->ctx.method);
    rpc_fail(&c->ctx, RPC_RESOURCE_EXHAUSTED, "server: cannot start a stream now, retry later");
    own_post_close(c);
    own_end(c, 1);
    return;
  }
  for (int i = 0; i < T_COUNT; i++) {
    c->st[i].tag.on_event = stream_event;
    c->st[i].c = c;
  }
  stream_sched *q = &s->sched;
  pthread_mutex_lock(&q->mu);
  grpc_op op;
  memset(&op, 0, sizeof op);
  op.op = GRPC_OP_RECV_CLOSE_ON_SERVER;
  op.data.recv_close_on_server.cancelled = &c->client_cancelled;
  if (grpc_call_start_batch(c->call, &op, 1, &c->st[T_CLOSE], NULL) == GRPC_CALL_OK) c->pending++;
  push_ready(q, c);
  pthread_mutex_unlock(&q->mu);
}

/* ------------------------------------------------------------------ */
/* The handler's side                                                   */

int rpc_stream_closed(rpc_stream *s) {
  call *c = s->c;
  if (c->own_cq && !atomic_load(&c->closed)) own_wait(c, T_CLOSE, rpc_now_ms());   /* collect a close */
  return atomic_load(&c->closed) || atomic_load(&c->w->srv->stopping);
}

int rpc_stream_send_raw(rpc_stream *s, const uint8_t *buf, size_t len) {
  call *c = s->c;
  if (rpc_stream_closed(s)) return -1;
  grpc_byte_buffer *bb = rpc_byte_buffer_from(buf, len);
  if (c->own_cq) {   /* a bidirectional stream's thread: send and wait */
    grpc_op ops[2];
    size_t n = message_ops(c, ops, bb);
    int ok = own_batch(c, ops, n, T_SEND);
    grpc_byte_buffer_destroy(bb);
    return ok ? 0 : -1;
  }
  queued_msg *m = malloc(sizeof *m);
  if (!m) {
    grpc_byte_buffer_destroy(bb);
    return -1;
  }
  m->bb = bb;
  m->next = NULL;
  stream_sched *q = &c->w->srv->sched;
  pthread_mutex_lock(&q->mu);
  int full = c->q_len >= STREAM_QUEUE_MAX;
  int refused = full || atomic_load(&c->closed) || c->finished;
  if (!refused) {
    if (c->q_tail) c->q_tail->next = m;
    else c->q_head = m;
    c->q_tail = m;
    c->q_len++;
    send_next(c);
  }
  pthread_mutex_unlock(&q->mu);
  if (refused) {
    if (full) log_warn("%s: the client reads too slowly; its stream ends", c->ctx.method);
    grpc_byte_buffer_destroy(bb);
    free(m);
    return -1;
  }
  return 0;
}

int rpc_stream_send(rpc_stream *s, const void *msg) {
  size_t n = protobuf_c_message_get_packed_size(msg);
  uint8_t stackbuf[512];
  uint8_t *buf = n <= sizeof stackbuf ? stackbuf : malloc(n);
  if (!buf) return -1;
  protobuf_c_message_pack(msg, buf);
  int rc = rpc_stream_send_raw(s, buf, n);
  if (buf != stackbuf) free(buf);
  return rc;
}

void rpc_stream_sleep(rpc_stream *s, int ms, int (*ready)(void *arg), void *arg) {
  call *c = s->c;
  c->wake_at = ms < 0 ? INT64_MAX : rpc_now_ms() + ms;
  c->ready = ready;
  c->ready_arg = arg;
}

void *rpc_stream_state(rpc_stream *s, size_t size) {
  call *c = s->c;
  if (!c->state) {
    c->state = arena_alloc(&c->arena, size);
    memset(c->state, 0, size);
  }
  return c->state;
}

void rpc_stream_ref(rpc_stream *s) {
  call *c = s->c;
  pthread_mutex_lock(&c->w->srv->sched.mu);
  c->refs++;
  pthread_mutex_unlock(&c->w->srv->sched.mu);
}

void rpc_stream_unref(rpc_stream *s) {
  call *c = s->c;
  stream_sched *q = &c->w->srv->sched;
  pthread_mutex_lock(&q->mu);
  c->refs--;
  int fr = can_free(c);
  pthread_mutex_unlock(&q->mu);
  if (fr) stream_free(c);
}

void rpc_stream_on_end(rpc_stream *s, void (*fn)(void *arg), void *arg) {
  s->c->on_end = fn;
  s->c->on_end_arg = arg;
}

void rpc_stream_on_close(rpc_stream *s, void (*fn)(void *arg), void *arg) {
  stream_sched *q = &s->c->w->srv->sched;
  pthread_mutex_lock(&q->mu);
  s->c->on_close = fn;
  s->c->on_close_arg = arg;
  pthread_mutex_unlock(&q->mu);
}

void rpc_stream_finish(rpc_stream *s, int code, const char *message, int ntrailers, const char *const *keys,
                       const char *const *values) {
  call *c = s->c;
  stream_sched *q = &c->w->srv->sched;
  pthread_mutex_lock(&q->mu);
  if (!c->finished) {
    c->ctx.code = code;
    c->ctx.message = (char *)message;
    for (int i = 0; i < ntrailers && c->ctx.ntrailers < RPC_MAX_TRAILERS; i++) {
      c->ctx.trailer_keys[c->ctx.ntrailers] = keys[i];
      c->ctx.trailer_values[c->ctx.ntrailers] = values[i];
      c->ctx.ntrailers++;
    }
    c->finished = 1;
    if (c->sstate == SS_WAITING || c->sstate == SS_READY) {
      list_unlink(q, c);
      c->sstate = SS_ENDING;
    }
    if (c->sstate != SS_RUNNING) status_start(c);   /* else when its step returns */
  }
  pthread_mutex_unlock(&q->mu);
}
