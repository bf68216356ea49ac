/* rpc.h - the gRPC server runtime every Accolade process stands on.
 *
 * A service describes its methods in a table and the runtime does the rest:
 * a completion queue per core and the threads serving them; decoding the request; identity;
 * deadlines; encoding the reply; the access log; health; graceful shutdown.
 * Handlers never see gRPC core.
 *
 *   static int get_badge(rpc_ctx *ctx, const void *req, void *resp) {
 *     const Accolade__V1__GetBadgeRequest *r = req;
 *     if (!*r->badge_id) return rpc_fail(ctx, RPC_INVALID_ARGUMENT, "badge_id: required");
 *     ...fill resp from ctx->arena...
 *     return RPC_OK;
 *   }
 *   static const rpc_method methods[] = {
 *     RPC_UNARY("/accolade.v1.AwardService/GetBadge", accolade__v1__get_badge_request,
 *               accolade__v1__badge, get_badge),
 *   };
 *
 * Threading: a completion queue per core, each polled by one thread that
 * runs unary handlers where the call arrives (no hand-off: as gRPC's own
 * C++ server runs); the other worker threads (more than cores: handlers
 * block on Postgres) are spares, one of which polls a queue while its
 * poller's handler blocks (rpc_pool.c), so a slow handler delays other
 * calls only when every worker is busy. Server streams hold no thread: their handlers are steps,
 * run by a few stream workers (stream_workers), at most max_streams streams
 * at once. No worker ever waits on a client: a call to a method outside the
 * table waits for its message on the queue, and is ended if it does not
 * come within first_message_ms.
 */
#ifndef ACCOLADE_RPC_H
#define ACCOLADE_RPC_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include <protobuf-c/protobuf-c.h>

#include "arena.h"
#include "identity.h"

/* gRPC status codes (same values as grpc_status_code). */
typedef enum {
  RPC_OK = 0,
  RPC_CANCELLED = 1,
  RPC_UNKNOWN = 2,
  RPC_INVALID_ARGUMENT = 3,
  RPC_DEADLINE_EXCEEDED = 4,
  RPC_NOT_FOUND = 5,
  RPC_ALREADY_EXISTS = 6,
  RPC_PERMISSION_DENIED = 7,
  RPC_RESOURCE_EXHAUSTED = 8,
  RPC_FAILED_PRECONDITION = 9,
  RPC_ABORTED = 10,
  RPC_OUT_OF_RANGE = 11,
  RPC_UNIMPLEMENTED = 12,
  RPC_INTERNAL = 13,
  RPC_UNAVAILABLE = 14,
  RPC_DATA_LOSS = 15,
  RPC_UNAUTHENTICATED = 16,
} rpc_code;

/* rpc_code_name: "INVALID_ARGUMENT", ... ("UNKNOWN" outside 0..16). Inline, so
 * that modules below the server (metrics, logs) can name codes. */
static inline const char *rpc_code_name(int code) {
  static const char *const names[] = {
      "OK", "CANCELLED", "UNKNOWN", "INVALID_ARGUMENT", "DEADLINE_EXCEEDED", "NOT_FOUND",
      "ALREADY_EXISTS", "PERMISSION_DENIED", "RESOURCE_EXHAUSTED", "FAILED_PRECONDITION",
      "ABORTED", "OUT_OF_RANGE", "UNIMPLEMENTED", "INTERNAL", "UNAVAILABLE", "DATA_LOSS",
      "UNAUTHENTICATED"};
  return code >= 0 && code <= 16 ? names[code] : "UNKNOWN";
}

#define RPC_MAX_TRAILERS 8
#define RPC_REQUEST_ID_MAX 64

/* The context of one call, owned by the runtime; valid during the handler. */
typedef struct rpc_ctx {
  arena *arena;                  /* scratch memory freed when the call ends */
  identity id;                   /* id.valid == 0 when unsigned or forged */
  int64_t deadline_ms;           /* CLOCK_MONOTONIC ms; INT64_MAX when none */
  char request_id[RPC_REQUEST_ID_MAX];
  const char *method;            /* "/accolade.v1.X/Y" */
  const char *peer;              /* "ipv4:127.0.0.1:1234", unauthenticated */
  void *app;                     /* the service's state, from rpc_server_config */
  /* The failure, set by rpc_fail. */
  int code;
  char *message;
  int ntrailers;
  const char *trailer_keys[RPC_MAX_TRAILERS];
  const char *trailer_values[RPC_MAX_TRAILERS];
  /* Set by rpc_reply_encoded: the reply's bytes, already encoded. */
  const uint8_t *reply_bytes;
  size_t reply_len;
  void *call_state;              /* the runtime's; do not touch */
} rpc_ctx;

/* rpc_reply_encoded makes |buf| (an encoded response message, living at
 * least as long as the call's arena) the reply of a unary handler that
 * returns RPC_OK; the handler's |resp| is then not used. For caches of
 * encoded responses. */
static inline void rpc_reply_encoded(rpc_ctx *ctx, const uint8_t *buf, size_t len) {
  ctx->reply_bytes = buf;
  ctx->reply_len = len;
}

typedef struct rpc_stream rpc_stream;

/* A unary handler fills |resp| (already initialised, of the method's response
 * type) and returns RPC_OK, or returns rpc_fail(...). Memory for |resp|'s
 * fields comes from ctx->arena. |req| is read-only and lives in the arena. */
typedef int (*rpc_unary_fn)(rpc_ctx *ctx, const void *req, void *resp);
/* A stream handler is a step (see "Streams" below): it queues messages with
 * rpc_stream_send, and returns RPC_STREAM_AGAIN to be stepped again, or a
 * final status like a unary handler. A bidirectional handler (RPC_BIDI) runs
 * once, on a thread of its own, reading with rpc_stream_recv. */
typedef int (*rpc_stream_fn)(rpc_ctx *ctx, const void *req, rpc_stream *stream);

typedef struct rpc_method {
  const char *path;
  const ProtobufCMessageDescriptor *request;
  const ProtobufCMessageDescriptor *response;
  rpc_unary_fn unary;    /* exactly one of unary and stream is set */
  rpc_stream_fn stream;
  int nonblocking;       /* the handler never blocks (informational) */
  int bidi;              /* client streaming too: |stream| gets req NULL and reads
                            each request with rpc_stream_recv */
  int own_replay;        /* the handler answers a retry of its request_id itself,
                            inside its own transaction: the runtime's stored
                            replies (rpc_set_replay) are not consulted */
} rpc_method;

#define RPC_UNARY(path, req, resp, fn) {(path), &req##__descriptor, &resp##__descriptor, (fn), NULL, 0, 0, 0}
/* The same, for a handler that keys its writes by the request's request_id
 * (a unique constraint read in its transaction) and answers a retry itself. */
#define RPC_UNARY_OWN_REPLAY(path, req, resp, fn) {(path), &req##__descriptor, &resp##__descriptor, (fn), NULL, 0, 0, 1}
/* A raw unary method (request and response descriptors NULL): the handler's
 * |req| is a const rpc_raw_request * holding the bytes as they came, |resp| is
 * NULL, and it replies with rpc_reply_encoded. The gateway forwards this way. */
typedef struct rpc_raw_request {
  const uint8_t *data;
  size_t len;
} rpc_raw_request;
#define RPC_RAW_UNARY(path, fn) {(path), NULL, NULL, (fn), NULL, 0, 0, 0}
/* A raw unary handler may return RPC_DEFERRED: it has started work that will
 * complete on the server's workers (rpc_call_raw_async) and then reply with
 * rpc_reply_encoded / rpc_fail and rpc_finish. The worker is free meanwhile.
 * Once that work has started the handler must not touch ctx again: the reply
 * may already be on its way on another worker. */
#define RPC_DEFERRED (-2)
/* rpc_finish sends the reply of a deferred call with |code| (call it once,
 * from the completion running on a worker). */
void rpc_finish(rpc_ctx *ctx, int code);
#define RPC_STREAM(path, req, resp, fn) {(path), &req##__descriptor, &resp##__descriptor, NULL, (fn), 0, 0, 0}
#define RPC_BIDI(path, req, resp, fn) {(path), &req##__descriptor, &resp##__descriptor, NULL, (fn), 0, 1, 0}

/* rpc_fail records a status and a message (printf-style; name the field:
 * "justification: must be at least 40 characters") and returns |code|. */
int rpc_fail(rpc_ctx *ctx, int code, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* rpc_add_trailer attaches trailing metadata to the reply (key lowercase;
 * both strings must live until the call ends, e.g. in ctx->arena). */
void rpc_add_trailer(rpc_ctx *ctx, const char *key, const char *value);

/* rpc_require checks that the caller has a verified identity and one of the
 * roles in |roles| (a mask of identity_role). Returns RPC_OK, or fails the
 * call with UNAUTHENTICATED / PERMISSION_DENIED and returns that code. */
int rpc_require(rpc_ctx *ctx, unsigned roles);

/* rpc_remaining_ms: milliseconds left before the caller's deadline (may be
 * <= 0; INT64_MAX when the caller set none). */
int64_t rpc_remaining_ms(const rpc_ctx *ctx);
/* rpc_thread_remaining_ms: the same for the call the calling thread is
 * running a handler for (INT64_MAX when none), so that stores can bound
 * their work by it without a ctx (pg_tx does). */
int64_t rpc_thread_remaining_ms(void);
int64_t rpc_now_ms(void);   /* CLOCK_MONOTONIC in ms */
/* rpc_deadline_after: CLOCK_MONOTONIC |ms| from now, for rpc_cond_wait. */
struct timespec rpc_deadline_after(int64_t ms);
/* rpc_cond_wait: pthread_cond_timedwait against an rpc_deadline_after
 * deadline (the monotonic clock: a step of the wall clock moves nothing). */
int rpc_cond_wait(pthread_cond_t *cv, pthread_mutex_t *mu, const struct timespec *deadline);

/* ---- Streams ----
 * A stream's handler is called in steps by the stream workers, so a stream
 * holds no thread while it waits. A step:
 *   - keeps what it needs across steps in rpc_stream_state (zeroed at first);
 *   - queues messages with rpc_stream_send (it never waits on the client);
 *   - says when it wants its next step with rpc_stream_sleep;
 *   - returns RPC_STREAM_AGAIN, or the stream's final status.
 * The next step comes once the queued messages are sent and the sleep is
 * over (no sleep: at once), or the client has gone (rpc_stream_closed). A
 * step must not block for long: every stream shares the few workers. */
#define RPC_STREAM_AGAIN (-3)

/* rpc_stream_send encodes and queues |msg| (of the method's response type).
 * Returns 0, or -1 once the client has gone away, the server is stopping, or
 * the client has left over 1024 messages unread. */
int rpc_stream_send(rpc_stream *s, const void *msg);
/* rpc_stream_sleep: the next step after |ms| milliseconds (< 0: no time), or
 * sooner once |ready|(|arg|) is true (may be NULL). |ready| is called under
 * the scheduler's lock, whenever rpc_streams_kick is called and every 50 ms:
 * it must be quick and never block (an atomic comparison). */
void rpc_stream_sleep(rpc_stream *s, int ms, int (*ready)(void *arg), void *arg);
/* rpc_streams_kick: something sleeping streams may wait for has changed
 * (any thread). */
void rpc_streams_kick(void);
/* rpc_stream_state: |size| bytes kept for the stream's life, zeroed the
 * first time. */
void *rpc_stream_state(rpc_stream *s, size_t size);
int rpc_stream_closed(rpc_stream *s);
/* From outside the steps (the gateway's relay): rpc_stream_ref keeps the
 * stream from being freed until rpc_stream_unref; rpc_stream_finish decides
 * its status (strings must live until the stream ends: rpc_stream_on_end's
 * |fn| runs then, on any thread). */
void rpc_stream_ref(rpc_stream *s);
void rpc_stream_unref(rpc_stream *s);
void rpc_stream_finish(rpc_stream *s, int code, const char *message, int ntrailers, const char *const *keys,
                       const char *const *values);
void rpc_stream_on_end(rpc_stream *s, void (*fn)(void *arg), void *arg);
/* rpc_stream_on_close: |fn| runs (on a worker) when the call ends while a
 * reference is held: the client left, or the stream's status went out. */
void rpc_stream_on_close(rpc_stream *s, void (*fn)(void *arg), void *arg);
/* rpc_stream_recv (bidi methods) reads the next request into ctx->arena.
 * Returns 1 with |*out| set, 0 when the client has finished sending, -1 on a
 * broken or cancelled call or undecodable bytes. */
int rpc_stream_recv(rpc_stream *s, void **out);

/* rpc_metadata returns the value of the incoming metadata |key| (lowercase),
 * copied into the arena, or NULL when absent. */
const char *rpc_metadata(rpc_ctx *ctx, const char *key);

/* ---- Raw calls: the gateway's forwarding path ----
 * A server given a raw handler passes every method that is not in its table
 * (nor Health) to it, undecoded, instead of answering UNIMPLEMENTED. */
typedef struct rpc_raw_handler {
  /* is_stream says whether |method| is server-streaming (may be NULL: none are). */
  int (*is_stream)(void *app, const char *method);
  /* unary: answer with |*out| / |*out_len| (arena memory) or fail, or return
   * RPC_DEFERRED and reply later with rpc_finish, as a raw method may. */
  int (*unary)(rpc_ctx *ctx, const uint8_t *req, size_t len, uint8_t **out, size_t *out_len);
  /* stream: a step, as a stream handler (send with rpc_stream_send_raw). */
  int (*stream)(rpc_ctx *ctx, const uint8_t *req, size_t len, rpc_stream *s);
} rpc_raw_handler;

/* rpc_stream_send_raw sends already-encoded message bytes. */
int rpc_stream_send_raw(rpc_stream *s, const uint8_t *buf, size_t len);

/* ---- The server ---- */

typedef struct rpc_server rpc_server;

typedef struct rpc_server_config {
  const char *name;          /* "svc-award": logs and the health service name */
  const char *listen;        /* "0.0.0.0:50052"; port 0 picks a free one */
  int threads;               /* worker threads, spares included; 0 = 2 x cores + 2 */
  int pollers;               /* completion queues, one thread polling each; 0 = one per core */
  int max_streams;           /* concurrent streaming calls in the process; 0 = 1000.
                                One more is answered RESOURCE_EXHAUSTED. */
  int stream_workers;        /* threads stepping every stream; 0 = 2 */
  int shutdown_grace_ms;     /* in-flight calls get this long; 0 = 10000 */
  int max_message_bytes;     /* request size limit; 0 = 4 MiB */
  int first_message_ms;      /* a generic call's message must come within this;
                                0 = 10000. Else DEADLINE_EXCEEDED. */
  int max_connection_streams;  /* HTTP/2 concurrent streams per connection; 0 = 4096 */
  int keepalive_ms;          /* ping an idle connection this often; 0 = 60000 */
  int idle_ms;               /* close a connection with no call this long; 0 = 600000 */
  /* Send a connection GOAWAY this long after it opened (its calls finish on
   * it); 0 = never. Clients then connect again and re-resolve the name, so
   * the gateway finds new pods behind a headless Service. */
  int max_connection_age_ms;
  void *app;                 /* copied to every rpc_ctx */
  const rpc_raw_handler *raw;  /* optional: handles methods not in the table */
  /* Optional TLS (PEM files, see tls.h): certificate and key, and a CA that
   * client certificates must be signed by (mutual TLS). */
  const char *tls_cert, *tls_key, *tls_client_ca;
} rpc_server_config;

/* rpc_server_new binds the port and registers |methods| (the table must live
 * as long as the server) plus grpc.health.v1.Health. Returns NULL with a log
 * line when the port cannot be bound. Call grpc_init-free: the runtime does. */
rpc_server *rpc_server_new(const rpc_server_config *cfg, const rpc_method *methods,
                           int nmethods);
/* rpc_server_port: the bound port. */
int rpc_server_port(const rpc_server *s);
/* rpc_server_start starts the worker threads and returns. */
int rpc_server_start(rpc_server *s);
/* rpc_server_stop refuses new calls, lets in-flight calls finish for up to the
 * grace period, cancels the rest, joins every thread and frees the server. */
void rpc_server_stop(rpc_server *s);

/* rpc_signals_block blocks SIGINT and SIGTERM in the calling thread (call it
 * first in main, before any thread starts); rpc_signals_wait then waits for
 * one and returns its number. */
void rpc_signals_block(void);
int rpc_signals_wait(void);

/* rpc_set_after_call: |fn| runs on a server thread after each handler or
 * stream step it ran (svc.c gives pooled connections back with it). */
void rpc_set_after_call(void (*fn)(void));

/* rpc_set_replay: |fn| runs each unary handler whose request type has a
 * request_id field, in its place (svc.c sets replay_run, replay.h), unless
 * the method answers its retries itself (own_replay). */
void rpc_set_replay(int (*fn)(rpc_ctx *ctx, const void *req, void *resp, rpc_unary_fn handler));

/* rpc_runtime_init / rpc_runtime_shutdown wrap grpc_init / grpc_shutdown. */
void rpc_runtime_init(void);
void rpc_runtime_shutdown(void);

#endif
