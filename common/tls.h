/* tls.h - optional TLS, for the public port and between processes.
 *
 * Server side (any process): ACCOLADE_TLS_CERT and ACCOLADE_TLS_KEY (PEM
 * files) switch its port to TLS; ACCOLADE_TLS_CLIENT_CA also requires and
 * verifies a client certificate signed by that CA (mutual TLS, for service
 * ports that only the gateway and the other services call).
 * Client side (calls to other services): ACCOLADE_UPSTREAM_TLS_CA makes every
 * outgoing channel TLS, verified against that CA; ACCOLADE_UPSTREAM_TLS_CERT
 * and _KEY present a client certificate; ACCOLADE_UPSTREAM_TLS_NAME checks
 * the servers' certificates against that name instead of the address's host.
 * Unset, everything is plaintext (loopback, a service mesh doing mTLS).
 */
#ifndef ACCOLADE_TLS_H
#define ACCOLADE_TLS_H

#include <grpc/grpc.h>
#include <grpc/grpc_security.h>
#include <stddef.h>

/* tls_files: a server's PEM files, as set (ACCOLADE_TLS_CERT, _KEY,
 * _CLIENT_CA); no certificate (NULL or ""): plaintext. Strings not owned. */
typedef struct tls_files {
  const char *cert, *key, *client_ca;
} tls_files;

/* tls_server_credentials: TLS credentials from the files, insecure ones when
 * |cert| is NULL, or NULL with |err| filled when a file is unreadable. */
grpc_server_credentials *tls_server_credentials(const char *cert, const char *key, const char *client_ca,
                                                char *err, size_t cap);

/* tls_client_setup configures the credentials of every later channel
 * (|ca| NULL: plaintext). Returns 0, or -1 with |err| filled. */
int tls_client_setup(const char *ca, const char *cert, const char *key, const char *name, char *err,
                     size_t cap);
/* tls_channel_credentials: new credentials for a channel (caller releases). */
grpc_channel_credentials *tls_channel_credentials(void);
/* tls_target_name: the name to check servers' certificates against, or NULL. */
const char *tls_target_name(void);

#endif
