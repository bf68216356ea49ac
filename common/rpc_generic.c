/* rpc_generic.c - calls to methods outside the table.
 *
 * Their message is awaited on the worker's queue (the call's READING phase),
 * never on a worker: a caller who sends headers and nothing else holds no
 * thread. The reaper ends those whose message has not come within
 * first_message_ms (DEADLINE_EXCEEDED). Once the message is here the raw
 * handler runs (the gateway forwards it, deferred) or a stepped stream
 * starts; without a raw handler the call is UNIMPLEMENTED.
 */
#include <stdio.h>
#include <string.h>

#include "log.h"
#include "rpc_call.h"

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
    struct timespec ts = rpc_deadline_after(wait < 10 ? 10 : wait);
    rpc_cond_wait(&s->watch_cv, &s->watch_mu, &ts);
  }
  pthread_mutex_unlock(&s->watch_mu);
  return NULL;
}

/* generic_start: a call to a method not in the table has arrived. Without a
 * raw handler it is UNIMPLEMENTED; else its message is awaited on the
 * worker's queue (generic_read), under the first-message bound. */
void generic_start(call *c) {
  rpc_server *s = c->w->srv;
  if (!s->cfg.raw) {
    rpc_fail(&c->ctx, RPC_UNIMPLEMENTED, "unknown method %s", c->ctx.method);
    call_reply_start(c);
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
    call_reply_start(c);
  }
}

/* generic_read: the message of a generic call came (or the call ended). A
 * stream is stepped by the stream workers; a unary call runs the raw handler,
 * which may defer its reply (the gateway's forwarding). */
void generic_read(call *c, int ok) {
  rpc_server *s = c->w->srv;
  const rpc_raw_handler *raw = s->cfg.raw;
  int expired = watch_remove(s, c);
  if (!ok || !c->payload) {
    if (expired)
      rpc_fail(&c->ctx, RPC_DEADLINE_EXCEEDED, "request: no message within %d ms", s->cfg.first_message_ms);
    else
      rpc_fail(&c->ctx, ok ? RPC_INVALID_ARGUMENT : RPC_CANCELLED, "request: missing message");
    call_reply_start(c);
    return;
  }
  size_t len = 0;
  uint8_t *buf = rpc_byte_buffer_read(&c->arena, c->payload, &len);
  if (raw->is_stream && raw->stream && raw->is_stream(s->cfg.app, c->ctx.method)) {
    c->raw_req = buf;
    c->raw_len = len;
    stream_begin(c, 0);
    return;
  }
  uint8_t *out = NULL;
  size_t out_len = 0;
  int code = raw->unary(&c->ctx, buf, len, &out, &out_len);
  if (code == RPC_DEFERRED) return;   /* rpc_finish replies; the call may be gone */
  if (code == RPC_OK && out) rpc_reply_encoded(&c->ctx, out, out_len);
  call_raw_outcome(c, code);
  call_reply_start(c);
}

int generic_reaper_start(rpc_server *s) {
  if (pthread_create(&s->reaper, NULL, reaper_main, s) != 0) return -1;
  s->reaper_started = 1;
  return 0;
}

void generic_reaper_stop(rpc_server *s) {
  if (!s->reaper_started) return;
  pthread_mutex_lock(&s->watch_mu);
  pthread_cond_broadcast(&s->watch_cv);
  pthread_mutex_unlock(&s->watch_mu);
  pthread_join(s->reaper, NULL);
  s->reaper_started = 0;
}
