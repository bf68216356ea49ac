/* front_stream.c - a proxied stream: one HTTP/2 stream of a caller's, and
 * the stream it became on a service's connection. Its place on both
 * connections' lists, the bytes held for it and handed on (the windows given
 * back as they leave), its reuse, a refusal, and the end of either side,
 * which the other side learns of here. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "front_internal.h"
#include "log.h"
#include "metrics.h"

/* ---- a connection's streams ------------------------------------------ */

void front_ps_link(pstream *ps, int side) {
  conn *c = side == DOWN ? ps->down : ps->up;
  ps->next[side] = c->streams;
  if (ps->next[side]) ps->next[side]->prev[side] = ps;
  c->streams = ps;
}
static void ps_unlink(pstream *ps, int side) {
  conn *c = side == DOWN ? ps->down : ps->up;
  if (ps->prev[side]) ps->prev[side]->next[side] = ps->next[side];
  else if (c) c->streams = ps->next[side];
  if (ps->next[side]) ps->next[side]->prev[side] = ps->prev[side];
  ps->next[side] = ps->prev[side] = NULL;
}

/* ---- bytes held for the caller, and handed on ------------------------ */

/* front_held_add / held_sub count bytes buffered here for a stream's caller. A
 * stream holds at most its window (1 MiB) while both sides are open, but
 * streams are many (4096 a connection), and an answer whose upstream ended
 * waits outside any window: a caller holding more than CALLER_HELD_MAX
 * (one that opens streams and never reads) has its connection closed. */
void front_held_add(pstream *ps, size_t n) {
  conn *c = ps->down;
  if (!c) return;
  ps->held += n;
  c->held += n;
  if (c->held > CALLER_HELD_MAX && !c->kill) {
    log_warn("front: %s holds over %d MiB unread; closing its connection", c->peer, CALLER_HELD_MAX >> 20);
    c->goaway = c->kill = 1;   /* closed at the loop's next write */
    mark(c);
  }
}
static void held_sub(pstream *ps, size_t n) {
  if (!ps->down) return;
  if (n > ps->held) n = ps->held;
  ps->held -= n;
  ps->down->held -= n;
}

/* hand_on takes up to |len| of the bytes |b| holds for |ps| into |out|; the
 * window of the stream they came on (|from|'s |from_id|, if it is still
 * there) is given back as they leave. */
static size_t hand_on(pstream *ps, buf *b, uint8_t *out, size_t len, conn *from, int32_t from_id) {
  size_t n = front_buf_take(b, out, len);
  held_sub(ps, n);
  if (n && from) {
    nghttp2_session_consume_stream(from->s, from_id, n);
    mark(from);
  }
  return n;
}

/* The upstream's bytes for the caller; the upstream's stream window is given
 * back as they leave (its connection window was at once: up_data). */
ssize_t front_resp_read(nghttp2_session *s, int32_t sid, uint8_t *out, size_t len, uint32_t *flags,
                  nghttp2_data_source *src, void *ud) {
  (void)ud;
  pstream *ps = src->ptr;
  size_t n = hand_on(ps, &ps->resp, out, len, ps->up, ps->up_id);
  if (ps->resp.off == ps->resp.len) {
    if (!ps->resp_eof) return n ? (ssize_t)n : NGHTTP2_ERR_DEFERRED;
    *flags |= NGHTTP2_DATA_FLAG_EOF;
    if (ps->tr.n) {
      *flags |= NGHTTP2_DATA_FLAG_NO_END_STREAM;
      nghttp2_submit_trailer(s, sid, hdrs_seal(&ps->tr), (size_t)ps->tr.n);
    }
  }
  return (ssize_t)n;
}

/* The caller's bytes for the upstream; the caller's window is given back as
 * they leave. */
ssize_t front_req_read(nghttp2_session *s, int32_t sid, uint8_t *out, size_t len, uint32_t *flags,
                 nghttp2_data_source *src, void *ud) {
  (void)s;
  (void)sid;
  (void)ud;
  pstream *ps = src->ptr;
  size_t n = hand_on(ps, &ps->req, out, len, ps->down, ps->down_id);
  if (ps->req.off == ps->req.len) {
    if (ps->req_eof) *flags |= NGHTTP2_DATA_FLAG_EOF;
    else if (!n) return NGHTTP2_ERR_DEFERRED;
  }
  return (ssize_t)n;
}

/* ---- reuse ----------------------------------------------------------- */

#define POOL_MAX 512   /* ended streams a loop keeps for reuse */

/* front_ps_new: a stream for |lp|, reused from its pool when it can (a call's
 * state and buffers without a malloc each). */
pstream *front_ps_new(loop *lp) {
  pstream *ps = lp->pool;
  if (!ps) return calloc(1, sizeof *ps);
  lp->pool = ps->next_job;
  lp->npool--;
  memset(ps, 0, offsetof(pstream, qh));
  front_hdrs_clear(&ps->qh);
  front_hdrs_clear(&ps->rh);
  front_hdrs_clear(&ps->tr);
  ps->req.off = ps->req.len = ps->resp.off = ps->resp.len = 0;
  ps->held = 0;
  return ps;
}

static void ps_free(pstream *ps) {
  free(ps->req.p);
  free(ps->resp.p);
  free(ps->qh.store.p);
  free(ps->rh.store.p);
  free(ps->tr.store.p);
  free(ps);
}

void front_pool_free(loop *lp) {
  while (lp->pool) {
    pstream *ps = lp->pool;
    lp->pool = ps->next_job;
    ps_free(ps);
  }
  lp->npool = 0;
}

void front_unref(pstream *ps) {
  if (--ps->refs > 0) return;
  if (ps->slot) gateway_stream_leave(&ps->id);
  free(ps->auth);
  ps->auth = NULL;
  loop *lp = ps->lp;
  if (lp && lp->npool < POOL_MAX && ps->req.cap <= 65536 && ps->resp.cap <= 65536) {
    ps->next_job = lp->pool;
    lp->pool = ps;
    lp->npool++;
  } else {
    ps_free(ps);
  }
}

/* ---- answering the caller -------------------------------------------- */

/* front_ps_refuse answers the call now with |code| and |msg| (trailers only). */
void front_ps_refuse(pstream *ps, int code, const char *msg) {
  snprintf(ps->message, sizeof ps->message, "%s", msg);
  ps->code = code;
  ps->responded = 1;
  ps->dropped = 1;   /* what the caller still sends goes nowhere */
  char status[8], enc[3 * sizeof ps->message];
  snprintf(status, sizeof status, "%d", code);
  size_t j = 0;   /* grpc-message is percent-encoded */
  for (const char *p = ps->message; *p && j + 4 < sizeof enc; p++) {
    unsigned char ch = (unsigned char)*p;
    if (ch >= 0x20 && ch < 0x7f && ch != '%') enc[j++] = (char)ch;
    else j += (size_t)snprintf(enc + j, 4, "%%%02X", ch);
  }
  enc[j] = '\0';
  nghttp2_nv nv[] = {NV(":status", "200"), NV("content-type", "application/grpc"), NV("grpc-status", status),
                     NV("grpc-message", enc)};
  if (ps->down) {
    nghttp2_submit_response(ps->down->s, ps->down_id, nv, 4, NULL);
    mark(ps->down);
  }
}

/* ---- the end of either side ------------------------------------------ */

static void finish_log(pstream *ps) {
  if (ps->logged || ps->inner) return;
  ps->logged = 1;
  int64_t us = clock_now_us() - ps->start_us;
  metrics_observe_rpc(ps->path, ps->code, us);
  log_access(ps->path, ps->code, ps->code ? ps->message : NULL, us, ps->down ? ps->down->peer : NULL, ps->reqid,
             ps->id.valid ? ps->id.org : NULL, ps->id.valid ? ps->id.user : NULL);
}

/* The caller's stream ended: logged; an upstream call still going is
 * cancelled. */
void front_down_gone(pstream *ps, uint32_t error) {
  if (error && !ps->resp_eof && ps->code == 0) {
    ps->code = RPC_CANCELLED;
    snprintf(ps->message, sizeof ps->message, "cancelled by the caller");
  }
  finish_log(ps);
  held_sub(ps, ps->held);
  ps_unlink(ps, DOWN);
  ps->down = NULL;
  if (ps->up && !ps->resp_eof) {
    nghttp2_submit_rst_stream(ps->up->s, NGHTTP2_FLAG_NONE, ps->up_id, NGHTTP2_CANCEL);
    mark(ps->up);
  }
  front_unref(ps);
}

/* The upstream's stream ended: if the caller has not had the whole answer,
 * it gets UNAVAILABLE (in trailers if the headers went). */
void front_up_gone(pstream *ps) {
  ps_unlink(ps, UP);
  ps->up = NULL;
  if (ps->down && !ps->resp_eof) {
    if (!ps->responded) {
      front_ps_refuse(ps, RPC_UNAVAILABLE, "UNAVAILABLE: the service ended the call");
    } else {
      ps->code = RPC_UNAVAILABLE;
      snprintf(ps->message, sizeof ps->message, "UNAVAILABLE: the service ended the call");
      front_hdrs_clear(&ps->tr);
      front_hdrs_add(&ps->tr, (const uint8_t *)"grpc-status", 11, (const uint8_t *)"14", 2);
      front_hdrs_add(&ps->tr, (const uint8_t *)"grpc-message", 12, (const uint8_t *)ps->message, strlen(ps->message));
      ps->resp_eof = 1;
      resume(ps->down, ps->down_id);
    }
  }
  front_unref(ps);
}
