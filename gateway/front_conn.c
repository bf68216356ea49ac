/* front_conn.c - one HTTP/2 connection of the front's, a caller's or one to
 * a service: its socket (through TLS for a caller when the front takes it,
 * front_tls.c) and nghttp2 session, what is read from it, the output
 * gathered and written once per loop turn, and its closing. */
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "clock.h"
#include "front_internal.h"

void conn_close(conn *c) {
  if (c->dead) return;
  c->dead = 1;
  epoll_ctl(c->lp->ep, EPOLL_CTL_DEL, c->fd, NULL);
  front_tls_detach(c);
  close(c->fd);
  /* nghttp2_session_del calls no stream-close callback: end ours here. */
  while (c->streams) {
    if (c->upstream) front_up_gone(c->streams);
    else front_down_gone(c->streams, NGHTTP2_CANCEL);
  }
  nghttp2_session_del(c->s);
  c->s = NULL;
  /* freed by the loop at the end of its turn (lists may still hold it) */
}

/* conn_flush writes what nghttp2 has for the socket, gathered. */
void conn_flush(conn *c) {
  while (!c->dead) {
    if (c->out.len > c->out.off) {
      /* After EAGAIN the same bytes are written again (as TLS asks): the
       * buffer is only gathered into once empty. */
      const uint8_t *p = c->out.p + c->out.off;
      size_t n = c->out.len - c->out.off;
      ssize_t w = c->tls ? front_tls_write(c, p, n) : write(c->fd, p, n);
      if (w < 0 && (errno == EAGAIN || errno == EINTR)) break;
      if (w < 0) return conn_close(c);
      c->out.off += (size_t)w;
      if (c->out.off < c->out.len) break;
      c->out.off = c->out.len = 0;
    }
    /* The session's frames, gathered straight into the output buffer (up to
     * OUT_GATHER a write), then written at once. */
    const uint8_t *d;
    ssize_t k = 0;
    while (c->out.len < OUT_GATHER && (k = nghttp2_session_mem_send(c->s, &d)) > 0) front_buf_put(&c->out, d, (size_t)k);
    if (c->out.len < OUT_GATHER && k < 0) return conn_close(c);
    if (c->out.len == c->out.off) break;
  }
  if (c->dead) return;
  int pending = c->out.len > c->out.off, want = front_tls_wants_out(c, pending);
  if (want != c->want_out) {
    struct epoll_event ev = {.events = EPOLLIN | (want ? EPOLLOUT : 0), .data.ptr = c};
    epoll_ctl(c->lp->ep, EPOLL_CTL_MOD, c->fd, &ev);
    c->want_out = want;
  }
  if (!nghttp2_session_want_read(c->s) && !nghttp2_session_want_write(c->s) && !pending) conn_close(c);
}

conn *conn_new(loop *lp, int fd, int up) {
  conn *c = calloc(1, sizeof *c);
  if (!c) abort();
  c->fd = fd;
  c->lp = lp;
  c->upstream = up;
  c->last_ms = clock_now_us() / 1000;
  int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);   /* fails harmlessly on unix sockets */
  if (up) nghttp2_session_client_new3(&c->s, front_cfg.up_cbs, c, front_cfg.opt, &front_mem);
  else nghttp2_session_server_new3(&c->s, front_cfg.down_cbs, c, front_cfg.opt, &front_mem);
  /* No RFC 7540 priority tree: gRPC has no use for it, and nghttp2 then
   * keeps no closed stream for it (a connection's memory is its open
   * streams'). No change in bench/gateway.sh's rates (one run). */
  nghttp2_settings_entry iv[] = {{NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS, 4096},
                                 {NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE, 1 << 20},   /* a stream's window */
                                 {NGHTTP2_SETTINGS_NO_RFC7540_PRIORITIES, 1}};
  nghttp2_submit_settings(c->s, NGHTTP2_FLAG_NONE, iv, 3);
  nghttp2_session_set_local_window_size(c->s, NGHTTP2_FLAG_NONE, 0, CONN_WINDOW);
  if (!up) front_tls_attach(c);
  struct epoll_event ev = {.events = EPOLLIN, .data.ptr = c};
  epoll_ctl(lp->ep, EPOLL_CTL_ADD, fd, &ev);
  c->next_all = lp->all;
  lp->all = c;
  mark(c);
  return c;
}

void conn_readable(conn *c) {
  uint8_t in[65536];
  for (;;) {
    ssize_t r = c->tls ? front_tls_read(c, in, sizeof in) : read(c->fd, in, sizeof in);
    if (r < 0 && errno == EINTR) continue;
    if (r < 0 && errno == EAGAIN) break;
    if (r <= 0) return conn_close(c);
    c->last_ms = clock_now_us() / 1000;
    if (nghttp2_session_mem_recv(c->s, in, (size_t)r) < 0) return conn_close(c);
    mark(c);
    /* TLS gives a record at a time, and may hold more already read. */
    if ((size_t)r < sizeof in && !front_tls_pending(c)) break;
  }
}

void conn_writable(conn *c) {
  if (c->tls_wait & TLS_READ_WANTS_OUT) conn_readable(c);   /* a TLS read waited to write */
  if (!c->dead) mark(c);
}
