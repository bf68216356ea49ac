/* front_loop.c - the gateway's public hop at the HTTP/2 frame level.
 *
 * Per call it does what the gateway's gRPC-core path (forward.c) does, through
 * the same admit.c: the bearer token verified (or found in the cache of
 * verified tokens), the method found in the authorization table and the role
 * checked, the rate limits taken; then the caller's identity signed onto the
 * upstream call (MACs memoized per second), a request id passed on or made,
 * the deadline (grpc-timeout) passed on, one access line and the per-method
 * metrics. What it does not do is parse a gRPC message or make a second gRPC
 * call: it reads the HEADERS, rewrites them, and passes the DATA frames'
 * bytes through as they come, both ways, the upstream's headers and trailers
 * copied back; one HTTP/2 stream in, one out (as HAProxy and Envoy forward).
 * A path that is not in the table (health, reflection, the test route, an
 * unknown method) goes through untouched to the gateway's own gRPC server
 * on an internal socket, which answers it as before.
 *
 * Shape: event loops (epoll; one per two cores by default) sharing one
 * listening socket (IPv4, or both families on [::]), callers' connections
 * dealt to the loops in turn, each loop with its own HTTP/2 connections
 * to each service address, and libnghttp2 sessions on both sides. Output is
 * gathered per connection and written once per loop turn. With TLS set,
 * the loops terminate it on callers' connections (front_tls.c), the
 * handshake included; the services are spoken to in plaintext.
 *
 * Limits: streams per connection 4096 (as the runtime); open streams per
 * member as the gateway's (gateway_stream_enter); MAX_CALLERS connections;
 * a stream's bytes wait here at most up to the HTTP/2 windows (1 MiB a
 * stream, 16 MiB a connection): windows are given back only as the other
 * side takes the bytes. Answers whose upstream stream ended wait outside
 * any window; a caller leaving more than CALLER_HELD_MAX (32 MiB) of them
 * unread has its connection closed. A call
 * whose rate-limit lease must come from Redis waits for it on a limiter
 * thread, not on the loop (the loop is told by an eventfd).
 *
 * Files: this one runs the loops (front.h's functions); the rest are listed,
 * lowest first, in front_internal.h.
 */
#include "front.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include "clock.h"
#include "front_internal.h"
#include "log.h"

front_config front_cfg;

/* The loops and what they share. */
static struct {
  loop *loops;
  int nloops;
  int lfd;           /* the listening socket, in every loop's epoll (EPOLLEXCLUSIVE) */
  atomic_int stopping, stop;
  int idle_ms;       /* a caller's connection without calls is closed after this */
  int handshake_ms;  /* and one without a TLS session after this */
  atomic_int callers;   /* callers' connections open, all loops */
  atomic_uint next_loop;   /* the loop the next accepted connection goes to */
  atomic_llong refused_log_s;   /* when a refused connection was last logged */
} g;

/* answers: the streams the limiter let through go on, the others are
 * refused; connections handed over by other loops are taken. */
static void answers(loop *lp) {
  uint64_t n;
  ssize_t r = read(lp->efd, &n, sizeof n);
  (void)r;
  pthread_mutex_lock(&lp->mu);
  pstream *ps = lp->answered;
  lp->answered = NULL;
  handed *h = lp->handed;
  lp->handed = NULL;
  pthread_mutex_unlock(&lp->mu);
  while (h) {
    handed *next = h->next;
    if (!g.stopping) {
      snprintf(conn_new(lp, h->fd, 0)->peer, sizeof h->peer, "%s", h->peer);
    } else {   /* no new callers once stopping */
      close(h->fd);
      atomic_fetch_sub(&g.callers, 1);
    }
    free(h);
    h = next;
  }
  limiter_answered(ps);
}

/* refusal_log_due: 1 at most once a second, for the loops together: a
 * refused connection is logged, not every one of a flood. */
static int refusal_log_due(void) {
  long long now_s = clock_now_us() / 1000000, was = atomic_load(&g.refused_log_s);
  return now_s != was && atomic_compare_exchange_strong(&g.refused_log_s, &was, now_s);
}

/* peer_name writes |sa| as gRPC core names peers: "ipv4:1.2.3.4:5",
 * "ipv6:[::1]:5". */
static void peer_name(const struct sockaddr_storage *sa, char *out, size_t cap) {
  char ip[INET6_ADDRSTRLEN] = "?";
  if (sa->ss_family == AF_INET6) {
    const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)sa;
    inet_ntop(AF_INET6, &s6->sin6_addr, ip, sizeof ip);
    snprintf(out, cap, "ipv6:[%s]:%d", ip, ntohs(s6->sin6_port));
  } else {
    const struct sockaddr_in *s4 = (const struct sockaddr_in *)sa;
    if (sa->ss_family == AF_INET) inet_ntop(AF_INET, &s4->sin_addr, ip, sizeof ip);
    snprintf(out, cap, "ipv4:%s:%d", ip, ntohs(s4->sin_port));
  }
}

static void accept_all(loop *lp) {
  struct sockaddr_storage sa;
  socklen_t sl = sizeof sa;
  int fd;
  while ((fd = accept4(g.lfd, (struct sockaddr *)&sa, &sl, SOCK_NONBLOCK)) >= 0) {
    if (atomic_fetch_add(&g.callers, 1) >= MAX_CALLERS) {   /* each holds sessions and buffers */
      atomic_fetch_sub(&g.callers, 1);
      close(fd);
      if (refusal_log_due()) log_warn("front: %d callers' connections open; refusing more", MAX_CALLERS);
      sl = sizeof sa;
      continue;
    }
    char peer[64];
    peer_name(&sa, peer, sizeof peer);
    sl = sizeof sa;
    /* The kernel spreads connections over the loops' sockets by a hash of
     * their addresses: with few callers (a backend's 4 connections) one
     * loop may get them all. Connections go to the loops in turn instead. */
    loop *to = &g.loops[atomic_fetch_add(&g.next_loop, 1) % (unsigned)g.nloops];
    if (to == lp) {
      snprintf(conn_new(lp, fd, 0)->peer, sizeof peer, "%s", peer);
      continue;
    }
    handed *h = malloc(sizeof *h);
    if (!h) abort();
    h->fd = fd;
    snprintf(h->peer, sizeof h->peer, "%s", peer);
    pthread_mutex_lock(&to->mu);
    h->next = to->handed;
    to->handed = h;
    pthread_mutex_unlock(&to->mu);
    loop_kick(to);
  }
  int err = errno;   /* accept4's */
  if (err == EMFILE || err == ENFILE || err == ENOBUFS || err == ENOMEM) {
    /* Out of descriptors or memory: the listening socket stays readable and
     * accepting again at once would spin the loop. Callers wait in the
     * backlog meanwhile, as nginx makes them. */
    epoll_ctl(lp->ep, EPOLL_CTL_DEL, g.lfd, NULL);
    lp->accept_at_ms = clock_now_us() / 1000 + ACCEPT_PAUSE_MS;
    if (refusal_log_due())
      log_warn("front: cannot accept a connection: %s; accepting again in %d ms", strerror(err), ACCEPT_PAUSE_MS);
  }
}

/* listen_here adds the listening socket to |lp|'s epoll: one loop is woken
 * per new connection, not all. */
static int listen_here(loop *lp) {
  struct epoll_event ev = {.events = EPOLLIN | EPOLLEXCLUSIVE, .data.ptr = NULL};
  return epoll_ctl(lp->ep, EPOLL_CTL_ADD, g.lfd, &ev);
}

/* accept_again: the pause after running out of descriptors is over. */
static void accept_again(loop *lp, int64_t now_ms) {
  if (!lp->accept_at_ms || now_ms < lp->accept_at_ms || !lp->listening) return;
  lp->accept_at_ms = 0;
  listen_here(lp);
  accept_all(lp);
}

/* begin_stop: no new calls (GOAWAY), the listening socket closed. */
static void begin_stop(loop *lp) {
  epoll_ctl(lp->ep, EPOLL_CTL_DEL, g.lfd, NULL);
  lp->listening = 0;
  /* Refuses new connections at once, for every loop; the descriptor stays
   * open (no other socket takes its number while loops may still use it)
   * until loops_free. */
  shutdown(g.lfd, SHUT_RDWR);
  for (conn *c = lp->all; c; c = c->next_all)
    if (!c->dead && !c->upstream) {
      nghttp2_submit_goaway(c->s, NGHTTP2_FLAG_NONE, nghttp2_session_get_last_proc_stream_id(c->s),
                            NGHTTP2_NO_ERROR, NULL, 0);
      mark(c);
    }
}

/* close_idle: a caller's connection with no call for idle_ms gets GOAWAY;
 * one whose TLS handshake is not done within handshake_ms is closed (the
 * idle bound is far too long for a connection that costs a handshake and
 * has proved nothing). */
static void close_idle(loop *lp, int64_t now_ms) {
  for (conn *c = lp->all; c; c = c->next_all)
    if (c->tls && !c->tls_ready && !c->dead && now_ms - c->last_ms > g.handshake_ms) {
      front_tls_failed(c, "timeout");
      conn_close(c);
    } else if (!c->dead && !c->upstream && !c->streams && !c->goaway && now_ms - c->last_ms > g.idle_ms) {
      c->goaway = 1;
      nghttp2_session_terminate_session(c->s, NGHTTP2_NO_ERROR);
      mark(c);
    }
}

static int callers_busy(loop *lp) {
  for (conn *c = lp->all; c; c = c->next_all)
    if (!c->dead && !c->upstream && c->streams) return 1;
  return 0;
}

static void *loop_run(void *arg) {
  loop *lp = arg;
  struct epoll_event evs[128];
  int stopping = 0;
  int64_t idle_check = 0;
  while (!g.stop && !(stopping && !callers_busy(lp))) {
    if (g.stopping && !stopping) {
      stopping = 1;
      begin_stop(lp);
    }
    int n = epoll_wait(lp->ep, evs, 128, 100);
    int64_t now_ms = clock_now_us() / 1000;
    accept_again(lp, now_ms);
    if (now_ms - idle_check > 1000) {
      idle_check = now_ms;
      close_idle(lp, now_ms);
    }
    for (int i = 0; i < n; i++) {
      conn *c = evs[i].data.ptr;
      if (!c) {
        accept_all(lp);
        continue;
      }
      if (c == (conn *)lp) {
        answers(lp);
        continue;
      }
      if (c->dead) continue;
      if (evs[i].events & (EPOLLIN | EPOLLHUP | EPOLLERR)) conn_readable(c);
      if (!c->dead && (evs[i].events & EPOLLOUT)) conn_writable(c);
    }
    /* One write per connection per turn, after every frame read. */
    while (lp->dirty) {
      conn *c = lp->dirty;
      lp->dirty = c->next_dirty;
      c->dirty = 0;
      if (c->kill) conn_close(c);
      else conn_flush(c);
    }
    for (conn **pp = &lp->all; *pp;) {   /* the connections that died this turn */
      conn *c = *pp;
      if (!c->dead) {
        pp = &c->next_all;
        continue;
      }
      *pp = c->next_all;
      for (int s = 0; s <= NSERVICES; s++)
        for (int j = 0; j < lp->ups[s].n; j++)
          if (lp->ups[s].c[j] == c) lp->ups[s].c[j] = NULL;
      if (!c->upstream) atomic_fetch_sub(&g.callers, 1);
      free(c->out.p);
      free(c);
    }
  }
  for (conn *c = lp->all; c; c = c->next_all) conn_close(c);
  while (lp->all) {
    conn *c = lp->all;
    lp->all = c->next_all;
    if (!c->upstream) atomic_fetch_sub(&g.callers, 1);
    free(c->out.p);
    free(c);
  }
  front_pool_free(lp);
  front_mem_drain();
  return NULL;
}

/* listen_on binds |addr| ("host:port", "[v6]:port", ":port"): an empty host
 * or 0.0.0.0 is every IPv4 address, [::] every address of both families. */
static int listen_on(const char *addr) {
  char host[128];
  snprintf(host, sizeof host, "%s", addr);
  const char *port, *h = front_host_port(host, &port);
  if (!h) {
    errno = EINVAL;
    return -1;
  }
  if (!*h) h = "0.0.0.0";
  if (!strcmp(h, "localhost")) h = "127.0.0.1";
  struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM, .ai_flags = AI_PASSIVE | AI_NUMERICSERV},
                  *ai = NULL;
  if (getaddrinfo(h, port, &hints, &ai) != 0) {
    errno = EADDRNOTAVAIL;
    return -1;
  }
  int fd = socket(ai->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0), one = 1, zero = 0;
  if (fd >= 0) {
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (ai->ai_family == AF_INET6) setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &zero, sizeof zero);
    if (bind(fd, ai->ai_addr, ai->ai_addrlen) != 0 || listen(fd, 4096) != 0) {
      int err = errno;
      close(fd);
      fd = -1;
      errno = err;
    }
  }
  int err = errno;
  freeaddrinfo(ai);
  errno = err;
  return fd;
}

const char *front_inner_address(void) {
  static char addr[128];
  if (!front_cfg.inner[0])
    snprintf(front_cfg.inner, sizeof front_cfg.inner, "accolade-gateway-%d", (int)getpid());
  snprintf(addr, sizeof addr, "unix-abstract:%s", front_cfg.inner);
  return addr;
}

/* loops_free closes the first |made| loops' descriptors and frees the loops,
 * once no loop thread runs (front_stop, or front_start's failure). */
static void loops_free(int made) {
  for (int i = 0; i < made; i++) {
    loop *lp = &g.loops[i];
    if (lp->efd >= 0) close(lp->efd);
    if (lp->ep >= 0) close(lp->ep);
    pthread_mutex_destroy(&lp->mu);
  }
  free(g.loops);
  g.loops = NULL;
  g.nloops = 0;
  if (g.lfd >= 0) close(g.lfd);
  g.lfd = -1;
  nghttp2_session_callbacks_del(front_cfg.down_cbs);
  nghttp2_session_callbacks_del(front_cfg.up_cbs);
  nghttp2_option_del(front_cfg.opt);
  front_cfg.down_cbs = front_cfg.up_cbs = NULL;
  front_cfg.opt = NULL;
  front_tls_stop();
}

int front_start(gateway *gw, const char *listen, int loops, int idle_ms, size_t max_msg, int resolve_ms,
                int limiter_queue, const tls_files *tls, int handshake_ms) {
  /* A file that cannot be read stops the start before anything is made. */
  if (front_tls_start(tls) != 0) return -1;
  front_inner_address();
  front_cfg.gw = gw;
  g.idle_ms = idle_ms;
  g.handshake_ms = handshake_ms;
  front_cfg.max_msg = max_msg;
  front_cfg.limiter_queue = limiter_queue > 0 ? limiter_queue : 4096;
  nghttp2_option_new(&front_cfg.opt);
  nghttp2_option_set_no_auto_window_update(front_cfg.opt, 1);
  /* "Bearer " with its space must reach admit.c and be refused with a
   * reason, as gRPC core lets it, not reset the stream. */
  nghttp2_option_set_no_rfc9113_leading_and_trailing_ws_validation(front_cfg.opt, 1);
  nghttp2_option_set_no_closed_streams(front_cfg.opt, 1);
  front_cfg.down_cbs = down_callbacks_new();
  front_cfg.up_cbs = up_callbacks_new();
  g.nloops = loops > 0 ? loops : 1;
  g.loops = calloc((size_t)g.nloops, sizeof *g.loops);
  if (!g.loops) abort();
  /* One listening socket for all loops, without SO_REUSEPORT: a second
   * gateway started on a port in use fails here instead of silently taking
   * a share of its connections. */
  g.lfd = listen_on(listen);
  if (g.lfd < 0) {
    log_error("front: cannot listen on %s: %s", listen, strerror(errno));
    loops_free(0);
    return -1;
  }
  for (int i = 0; i < g.nloops; i++) {
    loop *lp = &g.loops[i];
    lp->ep = epoll_create1(EPOLL_CLOEXEC);
    lp->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    pthread_mutex_init(&lp->mu, NULL);
    struct epoll_event eev = {.events = EPOLLIN, .data.ptr = lp};   /* the loop itself marks its eventfd */
    if (lp->ep < 0 || lp->efd < 0 || listen_here(lp) != 0 || epoll_ctl(lp->ep, EPOLL_CTL_ADD, lp->efd, &eev) != 0) {
      log_error("front: cannot set up loop %d: %s", i, strerror(errno));
      loops_free(i + 1);
      return -1;
    }
    lp->listening = 1;
  }
  if (front_names_start(resolve_ms) != 0) {
    loops_free(g.nloops);
    return -1;
  }
  limiter_start();
  for (int i = 0; i < g.nloops; i++) pthread_create(&g.loops[i].th, NULL, loop_run, &g.loops[i]);
  log_info("serving on %s: HTTP/2 frame-level front, %d loops%s", listen, g.nloops,
           !front_tls_on()                         ? ""
           : tls->client_ca && *tls->client_ca ? ", TLS with client certificates"
                                               : ", TLS");
  return 0;
}

void front_stop(int grace_ms) {
  if (!g.loops) return;
  g.stopping = 1;   /* GOAWAY; the loops end when their callers' calls have */
  int64_t until = clock_now_us() + (int64_t)grace_ms * 1000;
  int *joined = calloc((size_t)g.nloops, sizeof *joined);
  for (int i = 0; i < g.nloops; i++)
    while (!(joined[i] = pthread_tryjoin_np(g.loops[i].th, NULL) == 0) && clock_now_us() < until) usleep(10000);
  g.stop = 1;        /* the loops still running end at their next turn */
  limiter_stop();    /* its threads end once their queue is empty */
  front_names_stop();
  for (int i = 0; i < g.nloops; i++) {
    if (!joined[i]) pthread_join(g.loops[i].th, NULL);
    answers(&g.loops[i]);   /* the limiter's last answers: their references */
    front_pool_free(&g.loops[i]);
  }
  free(joined);
  loops_free(g.nloops);
}
