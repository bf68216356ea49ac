/* front_up.c - the services' side of the front: each loop's connections to
 * every address of a service (as front_names.c last found them), a
 * call's stream on one of them, and the client sessions' callbacks that
 * pass the service's headers, DATA and trailers back to the caller. */
#include <errno.h>
#include <netinet/in.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "front_internal.h"

/* ---- upstream connections -------------------------------------------- */

/* adopt makes |names| the addresses of |u|, each UP_CONNS times, keeping
 * the connections to addresses still there (each connection once). */
static void adopt(upset *u, const names *fresh) {
  upset next = {0};
  for (int i = 0; i < fresh->n; i++)
    for (int k = 0; k < UP_CONNS && next.n < MAX_ADDRS; k++) {
      next.addr[next.n] = fresh->addr[i];
      next.alen[next.n++] = fresh->alen[i];
    }
  for (int i = 0; i < next.n; i++)
    for (int j = 0; j < u->n; j++)
      if (u->c[j] && u->alen[j] == next.alen[i] && !memcmp(&u->addr[j], &next.addr[i], next.alen[i])) {
        next.c[i] = u->c[j];
        u->c[j] = NULL;
        break;
      }
  /* Connections to addresses gone: no new streams; they end with their last. */
  for (int j = 0; j < u->n; j++)
    if (u->c[j] && !u->c[j]->dead) {
      nghttp2_session_terminate_session(u->c[j]->s, NGHTTP2_NO_ERROR);
      mark(u->c[j]);
    }
  next.gen = u->gen;
  next.next = u->next;
  *u = next;
}

/* front_upstream: this loop's connection for the next call to |service|, round
 * robin over its addresses; a connection is made (non-blocking) when needed. */
conn *front_upstream(loop *lp, int service) {
  upset *u = &lp->ups[service];
  names fresh;
  if (service != INNER && front_names_take(service, &u->gen, &fresh)) adopt(u, &fresh);
  if (service == INNER && u->n == 0) {
    struct sockaddr_un *sa = (struct sockaddr_un *)&u->addr[0];
    sa->sun_family = AF_UNIX;
    size_t len = strlen(front_cfg.inner);   /* abstract: a NUL, then the name */
    memcpy(sa->sun_path + 1, front_cfg.inner, len);
    u->alen[0] = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + 1 + len);
    u->n = 1;
  }
  for (int tries = 0; tries < u->n; tries++) {
    int i = u->next++ % u->n;
    if (u->c[i] && !u->c[i]->dead && !u->c[i]->goaway) return u->c[i];
    int fd = socket(u->addr[i].ss_family, SOCK_STREAM | SOCK_NONBLOCK, 0);
    if (fd < 0) continue;
    if (connect(fd, (struct sockaddr *)&u->addr[i], u->alen[i]) != 0 && errno != EINPROGRESS) {
      close(fd);
      continue;
    }
    u->c[i] = conn_new(lp, fd, 1);
    return u->c[i];
  }
  /* Nothing answers: the name may have moved (a service's pods replaced). */
  if (service != INNER) front_names_ask(service);
  return NULL;
}

int front_submit(pstream *ps, conn *up, const nghttp2_nv *nv, size_t n) {
  nghttp2_data_provider prd = {.source.ptr = ps, .read_callback = front_req_read};
  int32_t id = nghttp2_submit_request(up->s, NULL, nv, n, &prd, ps);
  if (id < 0) return -1;
  ps->up = up;
  ps->up_id = id;
  ps->refs++;
  front_ps_link(ps, UP);
  mark(up);
  return 0;
}

/* ---- the services' side (client sessions) ---------------------------- */

static int up_header(nghttp2_session *s, const nghttp2_frame *f, const uint8_t *name, size_t nlen,
                     const uint8_t *value, size_t vlen, uint8_t flags, void *ud) {
  (void)flags;
  (void)ud;
  if (f->hd.type != NGHTTP2_HEADERS) return 0;
  pstream *ps = nghttp2_session_get_stream_user_data(s, f->hd.stream_id);
  if (!ps) return 0;
  if (nlen == 11 && !memcmp(name, "grpc-status", 11)) ps->code = atoi((const char *)value);
  if (nlen == 12 && !memcmp(name, "grpc-message", 12)) front_copy_value(ps->message, sizeof ps->message, value, vlen);
  front_hdrs_add(f->headers.cat == NGHTTP2_HCAT_HEADERS ? &ps->tr : &ps->rh, name, nlen, value, vlen);
  return 0;
}

static int up_frame(nghttp2_session *s, const nghttp2_frame *f, void *ud) {
  conn *c = ud;
  if (f->hd.type == NGHTTP2_GOAWAY) c->goaway = 1;   /* no new streams on it */
  pstream *ps = f->hd.stream_id ? nghttp2_session_get_stream_user_data(s, f->hd.stream_id) : NULL;
  if (!ps) return 0;
  int end = (f->hd.flags & NGHTTP2_FLAG_END_STREAM) != 0;
  if (f->hd.type == NGHTTP2_HEADERS && f->headers.cat == NGHTTP2_HCAT_RESPONSE) {
    if (end) ps->resp_eof = 1;
    if (ps->down && !ps->responded) {
      ps->responded = 1;
      nghttp2_data_provider prd = {.source.ptr = ps, .read_callback = front_resp_read};
      /* Trailers-only (an error, or an empty stream): its headers end it. */
      nghttp2_submit_response(ps->down->s, ps->down_id, hdrs_seal(&ps->rh), (size_t)ps->rh.n, end ? NULL : &prd);
      mark(ps->down);
    }
  } else if (end) {   /* trailers, or the last DATA */
    ps->resp_eof = 1;
    resume(ps->down, ps->down_id);
  }
  return 0;
}

static int up_data(nghttp2_session *s, uint8_t flags, int32_t sid, const uint8_t *data, size_t len, void *ud) {
  (void)flags;
  /* A connection's window comes back at once, so that one stream's caller
   * that does not read cannot stall the connection's other streams; each
   * stream's window comes back only as its bytes leave. */
  nghttp2_session_consume_connection(s, len);
  mark(ud);
  pstream *ps = nghttp2_session_get_stream_user_data(s, sid);
  if (!ps || !ps->down) {
    nghttp2_session_consume_stream(s, sid, len);
    return 0;
  }
  front_buf_put(&ps->resp, data, len);
  front_held_add(ps, len);
  resume(ps->down, ps->down_id);
  return 0;
}

static int up_close(nghttp2_session *s, int32_t sid, uint32_t error, void *ud) {
  (void)error;
  (void)ud;
  pstream *ps = nghttp2_session_get_stream_user_data(s, sid);
  if (ps) front_up_gone(ps);
  return 0;
}

nghttp2_session_callbacks *up_callbacks_new(void) {
  nghttp2_session_callbacks *cbs;
  nghttp2_session_callbacks_new(&cbs);
  nghttp2_session_callbacks_set_on_header_callback(cbs, up_header);
  nghttp2_session_callbacks_set_on_frame_recv_callback(cbs, up_frame);
  nghttp2_session_callbacks_set_on_data_chunk_recv_callback(cbs, up_data);
  nghttp2_session_callbacks_set_on_stream_close_callback(cbs, up_close);
  return cbs;
}
