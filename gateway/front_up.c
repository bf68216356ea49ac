/* front_up.c - the services' side of the front: each loop's connections to
 * every address of a service (names resolved again every RESOLVE_MS), a
 * call's stream on one of them, and the client sessions' callbacks that
 * pass the service's headers, DATA and trailers back to the caller. */
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "clock.h"
#include "front_internal.h"
#include "svc.h"

const char *const k_services[NSERVICES] = {"award", "nomination", "leaderboard", "notify"};

/* ---- upstream connections -------------------------------------------- */

/* resolve fills |u| with the addresses of |target| ("host:port", several
 * comma-separated, "ipv4:" or "dns:///" in front, every record of a name),
 * keeping the connections of addresses still there. */
static void resolve(loop *lp, upset *u, const char *target) {
  upset fresh = {0};
  char list[512];
  snprintf(list, sizeof list, "%s", target);
  char *t = list;
  if (!strncmp(t, "ipv4:", 5)) t += 5;
  if (!strncmp(t, "dns:///", 7)) t += 7;
  for (char *save = NULL, *hp = strtok_r(t, ",", &save); hp && fresh.n < MAX_ADDRS; hp = strtok_r(NULL, ",", &save)) {
    char *colon = strrchr(hp, ':');
    if (!colon) continue;
    *colon = '\0';
    struct addrinfo hints = {.ai_family = AF_INET, .ai_socktype = SOCK_STREAM}, *ai = NULL;
    if (getaddrinfo(hp, colon + 1, &hints, &ai) != 0) continue;
    for (struct addrinfo *a = ai; a && fresh.n < MAX_ADDRS; a = a->ai_next)
      for (int k = 0; k < UP_CONNS && fresh.n < MAX_ADDRS; k++) {
        memcpy(&fresh.addr[fresh.n], a->ai_addr, a->ai_addrlen);
        fresh.alen[fresh.n++] = a->ai_addrlen;
      }
    freeaddrinfo(ai);
  }
  for (int i = 0; i < fresh.n; i++)
    for (int j = 0; j < u->n; j++)
      if (u->c[j] && u->alen[j] == fresh.alen[i] && !memcmp(&u->addr[j], &fresh.addr[i], fresh.alen[i])) {
        fresh.c[i] = u->c[j];
        u->c[j] = NULL;
      }
  /* Connections to addresses gone: no new streams; they end with their last. */
  for (int j = 0; j < u->n; j++)
    if (u->c[j] && !u->c[j]->dead) {
      nghttp2_session_terminate_session(u->c[j]->s, NGHTTP2_NO_ERROR);
      mark(u->c[j]);
    }
  (void)lp;
  fresh.resolved_ms = clock_now_us() / 1000;
  fresh.next = u->next;
  *u = fresh;
}

/* upstream: this loop's connection for the next call to |service|, round
 * robin over its addresses; a connection is made (non-blocking) when needed. */
conn *upstream(loop *lp, int service) {
  upset *u = &lp->ups[service];
  if (service != INNER && (u->n == 0 || clock_now_us() / 1000 - u->resolved_ms > RESOLVE_MS))
    resolve(lp, u, svc_addr(k_services[service]));
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
  /* Nothing answers: look the name up again in a second, not on every call
   * (the lookup runs on the loop, and a service down is no reason to ask DNS
   * once per call while it is). */
  if (service != INNER) u->resolved_ms = clock_now_us() / 1000 - RESOLVE_MS + 1000;
  return NULL;
}

int submit(pstream *ps, conn *up, const nghttp2_nv *nv, size_t n) {
  nghttp2_data_provider prd = {.source.ptr = ps, .read_callback = req_read};
  int32_t id = nghttp2_submit_request(up->s, NULL, nv, n, &prd, ps);
  if (id < 0) return -1;
  ps->up = up;
  ps->up_id = id;
  ps->refs++;
  ps_link(ps, UP);
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
  if (nlen == 12 && !memcmp(name, "grpc-message", 12)) copy_value(ps->message, sizeof ps->message, value, vlen);
  hdrs_add(f->headers.cat == NGHTTP2_HCAT_HEADERS ? &ps->tr : &ps->rh, name, nlen, value, vlen);
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
      nghttp2_data_provider prd = {.source.ptr = ps, .read_callback = resp_read};
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
  buf_put(&ps->resp, data, len);
  held_add(ps, len);
  resume(ps->down, ps->down_id);
  return 0;
}

static int up_close(nghttp2_session *s, int32_t sid, uint32_t error, void *ud) {
  (void)error;
  (void)ud;
  pstream *ps = nghttp2_session_get_stream_user_data(s, sid);
  if (ps) up_gone(ps);
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
