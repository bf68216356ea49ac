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

/* rpc_stream_cancel_check is used by the client's stream relay. */
int rpc_stream_closed(rpc_stream *s);

#endif
