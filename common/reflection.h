/* reflection.h - gRPC server reflection, registered by rpc_server_new on
 * every server (grpc.reflection.v1alpha and grpc.reflection.v1), answering
 * from the descriptor set of proto/ embedded at build time. */
#ifndef ACCOLADE_REFLECTION_H
#define ACCOLADE_REFLECTION_H

#include "rpc.h"

extern const rpc_method reflection_methods[2];

/* reflection_all_services lists every service in the contract. */
int reflection_all_services(const char **out, int cap);
/* reflection_service_known: 1 if the contract defines service |name|. */
int reflection_service_known(const char *name);

/* rpc_server_services (rpc_call.c) lists the services the calling server
 * offers: those of its method table, or the whole contract for a server with
 * a raw handler (the gateway). */
int rpc_server_services(rpc_ctx *ctx, const char **out, int cap);

#endif
