/* rpc_client.h - calling other services.
 *
 * One channel per target, shared by every thread. A call propagates the
 * caller's remaining deadline, signs the identity it acts as, and retries
 * UNAVAILABLE with exponential backoff when the call is idempotent.
 */
#ifndef ACCOLADE_RPC_CLIENT_H
#define ACCOLADE_RPC_CLIENT_H

#include <stddef.h>
#include <stdint.h>

#include <protobuf-c/protobuf-c.h>

#include "arena.h"
#include "identity.h"
#include "rpc.h"

typedef struct rpc_call_opts {
  const rpc_ctx *parent;       /* propagate its deadline and request id; may be NULL */
  const identity *as;          /* signed onto the call; NULL sends no identity */
  int timeout_ms;              /* 0: 5000, capped by the parent's remaining time */
  int idempotent;              /* retry UNAVAILABLE with backoff */
  int max_attempts;            /* 0: 4 when idempotent, else 1 */
  const char *request_id;      /* NULL: the parent's; with neither, none is sent
                                  and the server makes one up for its logs */
  const char *const *metadata; /* extra "key", "value" pairs, NULL-terminated (at
                                  most 8 pairs), e.g. {"authorization", "Bearer x", NULL} */
} rpc_call_opts;

/* The outcome of a call: code, message (owned by the arena passed in). */
typedef struct rpc_status {
  int code;
  const char *message;
  int ntrailers;                       /* trailing metadata (arena memory) */
  const char *trailer_keys[RPC_MAX_TRAILERS];
  const char *trailer_values[RPC_MAX_TRAILERS];
} rpc_status;

/* rpc_call_stream_raw starts a server-streaming call and calls |on_message|
 * with each reply's bytes until the stream ends, |on_message| returns non-zero
 * (the call is then cancelled), or the parent's client goes away (when
 * |parent_stream| is given, checked between messages). Returns the status code. */
int rpc_call_stream_raw(const char *target, const char *method, const uint8_t *req,
                        size_t req_len, const rpc_call_opts *opts, arena *a,
                        int (*on_message)(void *arg, const uint8_t *buf, size_t len), void *arg,
                        rpc_stream *parent_stream, rpc_status *st);

/* rpc_call_raw sends |req_len| request bytes to |method| on |target|
 * ("127.0.0.1:50052"). On RPC_OK, |*out| / |*out_len| hold the reply bytes in
 * |a|. Returns the status code; |st| (may be NULL) gets the message. */
int rpc_call_raw(const char *target, const char *method, const uint8_t *req, size_t req_len,
                 const rpc_call_opts *opts, arena *a, uint8_t **out, size_t *out_len,
                 rpc_status *st);

/* rpc_call_raw_async starts a unary call for a server handler that then
 * returns RPC_DEFERRED: the call completes on the queue of the worker serving
 * |parent|, and |done| runs there with its code, the reply bytes and the status
 * (all in |parent|'s arena); |done| replies and calls rpc_finish. One attempt,
 * no retries (the caller's client retries). Returns RPC_OK when started, else
 * the code of a call that could not start (|done| is then not called). */
typedef void (*rpc_async_done)(rpc_ctx *parent, int code, const uint8_t *reply, size_t len, const rpc_status *st,
                               void *arg);
int rpc_call_raw_async(const char *target, const char *method, const uint8_t *req, size_t req_len,
                       const rpc_call_opts *opts, rpc_ctx *parent, rpc_async_done done, void *arg);

/* rpc_call_stream_relay starts a server-streaming call whose messages are
 * queued on |down|, the server stream of |parent| (the gateway's
 * passthrough), as they come: a child of |parent|'s call, completing on its
 * worker's queue, so no thread waits on it. The upstream's status becomes
 * |down|'s; |down| ending first cancels the upstream. |on_end| (may be NULL)
 * runs with |arg| when |down| is freed. Returns RPC_OK when started. */
int rpc_call_stream_relay(const char *target, const char *method, const uint8_t *req, size_t req_len,
                          const rpc_call_opts *opts, rpc_ctx *parent, rpc_stream *down,
                          void (*on_end)(void *arg), void *arg);

/* rpc_call packs |req|, calls, and unpacks the reply as |resp_desc| into |a|. */
int rpc_call(const char *target, const char *method, const ProtobufCMessage *req,
             const ProtobufCMessageDescriptor *resp_desc, const rpc_call_opts *opts, arena *a,
             void **out, rpc_status *st);

/* rpc_service_identity: the identity of this process acting as a service for
 * |org| (role "service", user "svc:<name>"). */
void rpc_service_identity(identity *out, const char *service_name, const char *org);

/* rpc_ctx_background readies |ctx| for work a process does on its own (a
 * scheduler, a weekly job) for |org|: memory from |a|, which it initialises
 * (the caller frees it), and the identity of |service_name| acting for |org|. */
void rpc_ctx_background(rpc_ctx *ctx, arena *a, const char *service_name, const char *org);

/* rpc_client_shutdown releases every cached channel (at exit). */
void rpc_client_shutdown(void);

#endif
