/* rpc_internal.h - shared between the runtime's rpc_*.c files; not for services. */
#ifndef ACCOLADE_RPC_INTERNAL_H
#define ACCOLADE_RPC_INTERNAL_H

#include <grpc/grpc.h>
#include <grpc/support/time.h>

#include "rpc.h"

/* rpc_channel_for returns the cached channel to |target| (created on first use). */
grpc_channel *rpc_channel_for(const char *target);

/* Conversions between gRPC's and the runtime's clocks. */
int64_t rpc_deadline_to_ms(gpr_timespec deadline);
gpr_timespec rpc_ms_to_deadline(int64_t mono_ms);

/* rpc_slice_dup copies a slice into the arena as a NUL-terminated string. */
char *rpc_slice_dup(arena *a, grpc_slice s);

/* rpc_byte_buffer_read copies a received byte buffer into the arena. */
uint8_t *rpc_byte_buffer_read(arena *a, grpc_byte_buffer *bb, size_t *len);
/* rpc_byte_buffer_pack encodes |msg| into a new byte buffer (caller destroys). */
grpc_byte_buffer *rpc_byte_buffer_pack(const ProtobufCMessage *msg);
grpc_byte_buffer *rpc_byte_buffer_from(const uint8_t *buf, size_t len);

/* Every tag on a server worker's completion queue starts with an rpc_tag: the
 * worker calls its on_event with the event's success. Server calls are tags;
 * so are the asynchronous client calls that complete on a worker's queue. */
typedef struct rpc_tag {
  void (*on_event)(struct rpc_tag *t, int ok);
} rpc_tag;

/* rpc_ctx_cq: the completion queue of the worker serving |ctx|'s call. */
grpc_completion_queue *rpc_ctx_cq(const rpc_ctx *ctx);
/* rpc_ctx_call: the server call of |ctx|. */
grpc_call *rpc_ctx_call(const rpc_ctx *ctx);
/* rpc_defer: |ctx|'s call will be finished by rpc_finish (call before the
 * work that finishes it starts); rpc_undefer if that work could not start. */
void rpc_defer(rpc_ctx *ctx);
void rpc_undefer(rpc_ctx *ctx);


#endif
