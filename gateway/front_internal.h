/* front_internal.h - shared between the front's files; not for the rest of
 * the gateway, which sees only front.h.
 *
 * The front's parts, lowest first; each calls only into those above it in
 * this list (and the inline helpers below):
 *   front_mem.c     byte buffers, header lists, nghttp2's memory
 *   front_stream.c  a proxied stream: its lists, the bytes held for its caller
 *                   and handed on, its reuse, a refusal, the end of either side
 *   front_tls.c     TLS on callers' connections: the server's context, a
 *                   connection's handshake, its reads and writes
 *   front_conn.c    a connection: its socket (or its TLS) and session, reads,
 *                   the gathered write, closing
 *   front_names.c   the services' addresses, looked up on a thread of their own
 *   front_up.c      the services' side: addresses, connections, client sessions
 *   front_admit.c   a call's admission: the checks, the limiter threads, the
 *                   HEADERS rewritten for the service
 *   front_down.c    the caller's side: server sessions
 *   front_loop.c    the event loops, callers' connections accepted and dealt
 *                   to them, start and stop (front.h)
 */
#ifndef GATEWAY_FRONT_INTERNAL_H
#define GATEWAY_FRONT_INTERNAL_H

#include <nghttp2/nghttp2.h>
#include <pthread.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <unistd.h>

#include "authz.h"
#include "front.h"
#include "identity.h"
#include "tls.h"

#define NSERVICES 4
#define INNER NSERVICES   /* the gateway's own gRPC server */
#define MAX_ADDRS 16      /* connections per service per loop */
/* Connections per service address per loop. gRPC core reads a connection's
 * frames one batch at a time and hands its calls to one completion queue
 * first, so a service behind one connection per loop works on fewer cores
 * than it has: bench/gateway.sh, 2026-12-01, 1 / 2 / 4 connections, gateway
 * against HAProxy 1.03 / 1.08 / 1.12x at -c 50 -m 10 and 0.87 / 0.97 / 0.85x
 * at -c 4 -m 25 (one run each; HAProxy itself moved by 10% between runs). */
#define UP_CONNS 2
#define MAX_NAMES (MAX_ADDRS / UP_CONNS)   /* addresses kept per service */
#define LIMITERS 4        /* threads waiting on Redis for rate-limit leases */
#define CONN_WINDOW (16 << 20)   /* a connection's window (a stream's: 1 MiB) */
#define CALLER_HELD_MAX (32 << 20)   /* the most bytes held for one caller's connection */
#define MAX_CALLERS 16384 /* callers' connections at once, all loops together */
#define OUT_GATHER 65536  /* a connection's frames gathered for one write */
#define ACCEPT_PAUSE_MS 100   /* no accepting for this long once out of descriptors */
/* k_services: the upstreams' names, by index (front_names.c). */
extern const char *const k_services[NSERVICES];

/* ---- buffers, connections and proxied streams ------------------------ */

typedef struct buf {
  uint8_t *p;
  size_t off, len, cap;
} buf;

#define MAX_HDRS 32
typedef struct hdrs {
  nghttp2_nv nv[MAX_HDRS];
  int n;
  buf store;   /* names and values; nv points into it once sealed */
  size_t at[MAX_HDRS][2];
} hdrs;

typedef struct loop loop;
typedef struct pstream pstream;

typedef struct conn {
  int fd;
  int upstream;        /* 1: our client session to a service */
  struct ssl_st *tls;  /* a caller's TLS (front_tls.c); NULL: plaintext */
  int tls_ready;       /* its handshake is done, h2 chosen */
  int tls_wait;        /* TLS_READ_WANTS_OUT, TLS_WRITE_WANTS_IN */
  nghttp2_session *s;
  loop *lp;
  buf out;             /* bytes nghttp2 gave us that the socket did not take */
  int dirty, want_out, dead, goaway, kill;
  int64_t last_ms;     /* the last bytes read (before a TLS handshake is
                          done: when the connection was taken) */
  struct conn *next_dirty, *next_all;
  pstream *streams;    /* the proxied streams on this connection */
  size_t held;         /* a caller's: bytes held for it (requests not yet
                          forwarded, answers not yet taken), all streams */
  char peer[64];
} conn;

struct pstream {
  conn *down, *up;
  int32_t down_id, up_id;
  pstream *next[2], *prev[2];   /* on its connections' lists (ps_link) */
  int refs;
  char path[192], timeout[32], reqid[80], enc[32], accept_enc[64];
  char *auth;
  int req_eof, resp_eof, responded, code, logged, slot, dropped;
  int inner;                /* passed through to the gateway's own server, which counts, logs and limits it */
  size_t req_bytes;
  size_t held;              /* its part of down->held */
  const authz_rule *rule;   /* while it waits for the rate limiter */
  const char *limited;      /* the limiter's answer: NULL allowed */
  pstream *next_job;        /* the limiter's queues; the loop's pool */
  loop *lp;                 /* the caller's loop (ps->down is the loop's to change) */
  char message[160];
  identity id;
  int64_t start_us;
  /* Kept, emptied, when the loop reuses the stream (ps_new): */
  hdrs qh;                  /* the caller's headers, for a path passed through whole */
  hdrs rh, tr;              /* the upstream's headers and trailers */
  buf req, resp;
};

/* The addresses of one upstream, each with this loop's connection to it. */
typedef struct upset {
  struct sockaddr_storage addr[MAX_ADDRS];
  socklen_t alen[MAX_ADDRS];
  conn *c[MAX_ADDRS];
  int n, next;
  unsigned gen;   /* of the addresses taken (names_take) */
} upset;

struct loop {
  int ep;
  int listening;         /* the shared listening socket is in |ep| */
  upset ups[NSERVICES + 1];
  conn *dirty, *all;
  pthread_t th;
  int efd;               /* the limiter's "answers ready" (eventfd) */
  pstream *pool;         /* ended streams, for reuse */
  int npool;
  pthread_mutex_t mu;
  pstream *answered;     /* streams the limiter answered, under mu */
  struct handed *handed; /* callers' connections another loop accepted for this one, under mu */
  int64_t accept_at_ms;  /* out of descriptors: accepting again at this time (0: accepting) */
};

/* A caller's connection accepted by one loop for another. */
typedef struct handed {
  int fd;
  char peer[64];
  struct handed *next;
} handed;

/* front_cfg: what front_start was given and made (front_loop.c), set
 * before the loops start and only read while they run. */
typedef struct front_config {
  gateway *gw;
  char inner[108];   /* the gateway's gRPC server: an abstract unix socket's name */
  size_t max_msg;    /* the largest request message taken, as gRPC core's limit */
  int limiter_queue; /* calls waiting for a rate-limit lease, at most */
  nghttp2_session_callbacks *down_cbs, *up_cbs;
  nghttp2_option *opt;
} front_config;
extern front_config front_cfg;

/* mark: |c| has something to write; its loop writes it once, at the end of
 * the turn (after every frame read). */
static inline void mark(conn *c) {
  if (c && !c->dirty && !c->dead) {
    c->dirty = 1;
    c->next_dirty = c->lp->dirty;
    c->lp->dirty = c;
  }
}

/* resume: stream |id| of |c| (NULL: none) has bytes, or its end, to send;
 * nghttp2 asks its data provider again at the loop's write. */
static inline void resume(conn *c, int32_t id) {
  if (!c) return;
  nghttp2_session_resume_data(c->s, id);
  mark(c);
}

/* loop_kick wakes |lp| from another thread: something waits on its lists
 * (the limiter's answers, connections handed to it). */
static inline void loop_kick(loop *lp) {
  uint64_t one = 1;
  ssize_t w = write(lp->efd, &one, sizeof one);
  (void)w;
}

/* NV: an nghttp2 header of a literal name and a string value. */
#define NV(n, v) {(uint8_t *)(n), (uint8_t *)(v), sizeof(n) - 1, strlen(v), NGHTTP2_NV_FLAG_NONE}
/* NV_ONCE: a header whose value is new on every call (a request id, a
 * deadline): sent as a literal, never entered in the peer's HPACK table,
 * where each would evict a value that does repeat. */
#define NV_ONCE(n, v) {(uint8_t *)(n), (uint8_t *)(v), sizeof(n) - 1, strlen(v), NGHTTP2_NV_FLAG_NO_INDEX}

/* ---- front_mem.c ------------------------------------------------------ */

void front_buf_put(buf *b, const uint8_t *d, size_t n);
/* front_buf_take moves up to |max| bytes of |b| to |out|: how many. */
size_t front_buf_take(buf *b, uint8_t *out, size_t max);
/* front_hdrs_add copies a header (at most MAX_HDRS; more are dropped). */
void front_hdrs_add(hdrs *h, const uint8_t *name, size_t nlen, const uint8_t *value, size_t vlen);
void front_hdrs_clear(hdrs *h);
nghttp2_nv *hdrs_seal(hdrs *h);
/* front_copy_value copies a header's value to |dst| as a string, cut to |cap|. */
void front_copy_value(char *dst, size_t cap, const uint8_t *v, size_t vlen);
/* front_mem: the allocator of every session of the front; mem_drain frees
 * what the calling loop's thread kept of it. */
extern nghttp2_mem front_mem;
void front_mem_drain(void);

/* ---- front_stream.c --------------------------------------------------- */

/* A stream is on two connections' lists of streams, its caller's (DOWN) and
 * its service's (UP), through next[side] and prev[side]; ps_link puts it on
 * one (its down or up already set). */
enum { DOWN, UP };
void front_ps_link(pstream *ps, int side);
/* front_held_add counts |n| more bytes held for |ps|'s caller. */
void front_held_add(pstream *ps, size_t n);
/* The data providers: the service's bytes for the caller (resp_read) and
 * the caller's bytes for the service (req_read). */
ssize_t front_resp_read(nghttp2_session *s, int32_t sid, uint8_t *out, size_t len, uint32_t *flags,
                  nghttp2_data_source *src, void *ud);
ssize_t front_req_read(nghttp2_session *s, int32_t sid, uint8_t *out, size_t len, uint32_t *flags,
                 nghttp2_data_source *src, void *ud);
pstream *front_ps_new(loop *lp);
/* front_unref drops a reference; the last puts the stream in its loop's pool. */
void front_unref(pstream *ps);
/* front_pool_free frees the streams |lp| keeps for reuse. */
void front_pool_free(loop *lp);
void front_ps_refuse(pstream *ps, int code, const char *msg);
/* front_down_gone / front_up_gone: the caller's / the service's side of |ps| ended. */
void front_down_gone(pstream *ps, uint32_t error);
void front_up_gone(pstream *ps);

/* ---- front_tls.c ------------------------------------------------------ */

/* What a caller's TLS waits for besides the obvious (conn.tls_wait): a read
 * that must write first (the handshake's answer), a write that must read
 * first (the handshake not done yet). */
enum { TLS_READ_WANTS_OUT = 1, TLS_WRITE_WANTS_IN = 2 };
/* front_tls_start makes the context of callers' TLS from |files| (PEM;
 * NULL or no certificate: plaintext, nothing made): 0, or -1 with the file
 * and OpenSSL's reason logged. front_tls_stop frees it, once no loop runs. */
int front_tls_start(const tls_files *files);
void front_tls_stop(void);
/* front_tls_on: 1 when callers' connections take TLS. */
int front_tls_on(void);
/* front_tls_attach gives the caller's connection |c| its TLS, the handshake
 * to come (nothing when TLS is off); front_tls_detach sends close_notify if
 * the handshake was done and frees it (conn_close). */
void front_tls_attach(conn *c);
void front_tls_detach(conn *c);
/* front_tls_read / front_tls_write are read(2) and write(2) through |c|'s
 * TLS, the handshake first: -1 with errno EAGAIN while waiting (c->tls_wait
 * says when it waits for the other direction); front_tls_read returns 0 at
 * the caller's end or a failed handshake (counted), front_tls_write -1 with
 * EPIPE on a failure. */
ssize_t front_tls_read(conn *c, uint8_t *p, size_t n);
ssize_t front_tls_write(conn *c, const uint8_t *p, size_t n);
/* front_tls_pending: 1 when OpenSSL holds bytes of |c|'s already read from
 * the socket, which epoll will not report. */
int front_tls_pending(const conn *c);
/* front_tls_wants_out: whether |c| needs EPOLLOUT, |pending| being whether
 * it has bytes to write: not while its write waits for a read (EPOLLOUT
 * would wake the loop at once, for nothing), but while a read waits to write. */
int front_tls_wants_out(const conn *c, int pending);
/* front_tls_failed counts a caller's failed handshake under |reason| (a
 * constant: "timeout", "alpn", ...); logged at debug only, for anyone can
 * make one. */
void front_tls_failed(conn *c, const char *reason);

/* ---- front_conn.c ----------------------------------------------------- */

/* conn_new: a connection on |fd| for |lp|, a client session to a service
 * when |up|, else a server session for a caller. */
conn *conn_new(loop *lp, int fd, int up);
void conn_close(conn *c);
void conn_flush(conn *c);
void conn_readable(conn *c);
/* conn_writable: |c|'s socket takes bytes again (EPOLLOUT). */
void conn_writable(conn *c);

/* ---- front_names.c ---------------------------------------------------- */

/* The distinct addresses of a service, as last looked up. */
typedef struct names {
  struct sockaddr_storage addr[MAX_NAMES];
  socklen_t alen[MAX_NAMES];
  int n;
} names;
/* front_names_start looks every service up (before it returns) and again every
 * |every_ms| on a thread of its own: 0, or -1. */
int front_names_start(int every_ms);
void front_names_stop(void);
/* front_names_take: 1 and service |s|'s addresses in |out| if they changed since
 * generation |*gen| (then updated); else 0. */
int front_names_take(int s, unsigned *gen, names *out);
/* front_names_ask: none of service |s|'s addresses answers; look it up again soon. */
void front_names_ask(int s);
/* front_host_port splits |hp| ("host:port", "[v6]:port") in place: the host
 * (brackets gone, "" when none was given) with |*port| after it, or NULL
 * when there is no port. */
char *front_host_port(char *hp, const char **port);

/* ---- front_up.c ------------------------------------------------------- */

conn *front_upstream(loop *lp, int service);
/* front_submit sends |ps| to the service on |up| with the headers |nv|: 0, or -1. */
int front_submit(pstream *ps, conn *up, const nghttp2_nv *nv, size_t n);
/* up_callbacks_new: the client sessions' callbacks (the caller frees them) */
nghttp2_session_callbacks *up_callbacks_new(void);

/* ---- front_admit.c ---------------------------------------------------- */

/* front_forward: |ps|'s HEADERS are in; it is checked, then sent on or refused. */
void front_forward(pstream *ps);
/* limiter_answered goes on with the streams (a list through next_job) the
 * limiter has answered, on their loop. */
void limiter_answered(pstream *ps);
void limiter_start(void);
/* limiter_stop ends the limiter's threads once its queue is empty. */
void limiter_stop(void);

/* ---- front_down.c ----------------------------------------------------- */

/* down_callbacks_new: the server sessions' callbacks (the caller frees them) */
nghttp2_session_callbacks *down_callbacks_new(void);

#endif
