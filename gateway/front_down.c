/* front_down.c - the callers' side of the front: the server sessions'
 * callbacks. A stream's HEADERS are copied and its admission started
 * (front_admit.c); its DATA is held for the service, up to the largest
 * message; a stream whose answer is complete is reset if the caller keeps
 * its half open. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "front_internal.h"

static int down_begin_headers(nghttp2_session *s, const nghttp2_frame *f, void *ud) {
  conn *c = ud;
  if (f->hd.type != NGHTTP2_HEADERS || f->headers.cat != NGHTTP2_HCAT_REQUEST) return 0;
  pstream *ps = front_ps_new(c->lp);
  if (!ps) return NGHTTP2_ERR_CALLBACK_FAILURE;
  ps->down = c;
  ps->lp = c->lp;
  ps->down_id = f->hd.stream_id;
  ps->refs = 1;
  ps->start_us = clock_now_us();
  front_ps_link(ps, DOWN);
  nghttp2_session_set_stream_user_data(s, f->hd.stream_id, ps);
  return 0;
}

static int down_header(nghttp2_session *s, const nghttp2_frame *f, const uint8_t *name, size_t nlen,
                       const uint8_t *value, size_t vlen, uint8_t flags, void *ud) {
  (void)flags;
  (void)ud;
  if (f->hd.type != NGHTTP2_HEADERS || f->headers.cat != NGHTTP2_HCAT_REQUEST) return 0;
  pstream *ps = nghttp2_session_get_stream_user_data(s, f->hd.stream_id);
  if (!ps) return 0;
  front_hdrs_add(&ps->qh, name, nlen, value, vlen);
#define IS(lit) (nlen == sizeof(lit) - 1 && !memcmp(name, lit, nlen))
  if (IS(":path")) front_copy_value(ps->path, sizeof ps->path, value, vlen);
  else if (IS("authorization") && !ps->auth) ps->auth = strndup((const char *)value, vlen);
  else if (IS("grpc-timeout")) front_copy_value(ps->timeout, sizeof ps->timeout, value, vlen);
  else if (IS("x-request-id")) front_copy_value(ps->reqid, sizeof ps->reqid, value, vlen);
  else if (IS("grpc-encoding")) front_copy_value(ps->enc, sizeof ps->enc, value, vlen);
  else if (IS("grpc-accept-encoding")) front_copy_value(ps->accept_enc, sizeof ps->accept_enc, value, vlen);
#undef IS
  return 0;
}

static int down_frame(nghttp2_session *s, const nghttp2_frame *f, void *ud) {
  (void)ud;
  pstream *ps = nghttp2_session_get_stream_user_data(s, f->hd.stream_id);
  if (!ps) return 0;
  if (f->hd.type == NGHTTP2_HEADERS && f->headers.cat == NGHTTP2_HCAT_REQUEST) {
    if (ps->auth && strlen(ps->auth) > JWT_MAX_TOKEN + 7) {
      ps->id.valid = 0;
      front_ps_refuse(ps, RPC_UNAUTHENTICATED, "authorization: token too large");
    } else {
      front_forward(ps);
    }
  }
  if ((f->hd.type == NGHTTP2_HEADERS || f->hd.type == NGHTTP2_DATA) && (f->hd.flags & NGHTTP2_FLAG_END_STREAM)) {
    ps->req_eof = 1;
    resume(ps->up, ps->up_id);
  }
  return 0;
}

static int down_data(nghttp2_session *s, uint8_t flags, int32_t sid, const uint8_t *data, size_t len, void *ud) {
  (void)flags;
  nghttp2_session_consume_connection(s, len);   /* as up_data */
  mark(ud);
  pstream *ps = nghttp2_session_get_stream_user_data(s, sid);
  if (!ps || ps->dropped) {   /* refused: its bytes go nowhere, the window comes back */
    nghttp2_session_consume_stream(s, sid, len);
    return 0;
  }
  ps->req_bytes += len;
  /* A method of the table takes one message: its bytes are bounded here. A
   * path passed through may stream many (reflection), each bounded by the
   * inner server's own limit, and what waits here by the stream's window. */
  if (!ps->inner && ps->req_bytes > front_cfg.max_msg + 5) {   /* one message and its 5-byte prefix */
    char msg[128];
    snprintf(msg, sizeof msg, "request message larger than max (%zu vs. %zu)", ps->req_bytes - 5, front_cfg.max_msg);
    if (ps->up) {
      nghttp2_submit_rst_stream(ps->up->s, NGHTTP2_FLAG_NONE, ps->up_id, NGHTTP2_CANCEL);
      mark(ps->up);
    }
    if (!ps->responded) front_ps_refuse(ps, RPC_RESOURCE_EXHAUSTED, msg);
    ps->dropped = 1;
    nghttp2_session_consume_stream(s, sid, len);
    return 0;
  }
  front_buf_put(&ps->req, data, len);   /* kept while the limiter answers */
  front_held_add(ps, len);
  resume(ps->up, ps->up_id);
  return 0;
}

/* down_sent: once the caller has the whole answer (END_STREAM sent) but has
 * not ended its own half, the stream is reset (NO_ERROR, as gRPC core does):
 * else a caller that never ends its half, token or not, would keep the
 * stream and its state here until the connection closed, up to 4096 of
 * them a connection. */
static int down_sent(nghttp2_session *s, const nghttp2_frame *f, void *ud) {
  if ((f->hd.type == NGHTTP2_HEADERS || f->hd.type == NGHTTP2_DATA) && (f->hd.flags & NGHTTP2_FLAG_END_STREAM) &&
      !nghttp2_session_get_stream_remote_close(s, f->hd.stream_id)) {
    nghttp2_submit_rst_stream(s, NGHTTP2_FLAG_NONE, f->hd.stream_id, NGHTTP2_NO_ERROR);
    mark(ud);
  }
  return 0;
}

static int down_close(nghttp2_session *s, int32_t sid, uint32_t error, void *ud) {
  (void)ud;
  pstream *ps = nghttp2_session_get_stream_user_data(s, sid);
  if (ps) front_down_gone(ps, error);
  return 0;
}

nghttp2_session_callbacks *down_callbacks_new(void) {
  nghttp2_session_callbacks *cbs;
  nghttp2_session_callbacks_new(&cbs);
  nghttp2_session_callbacks_set_on_begin_headers_callback(cbs, down_begin_headers);
  nghttp2_session_callbacks_set_on_header_callback(cbs, down_header);
  nghttp2_session_callbacks_set_on_frame_recv_callback(cbs, down_frame);
  nghttp2_session_callbacks_set_on_data_chunk_recv_callback(cbs, down_data);
  nghttp2_session_callbacks_set_on_stream_close_callback(cbs, down_close);
  nghttp2_session_callbacks_set_on_frame_send_callback(cbs, down_sent);
  return cbs;
}
