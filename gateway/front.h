/* front.h - the gateway's public hop at the HTTP/2 frame level (front_loop.c;
 * its parts are listed in front_internal.h), TLS included when it is set.
 *
 * Decision (issue 15, measured by bench/gateway.sh, figures in gateway.h):
 * the public port is served by this front, which checks each call's
 * HEADERS and passes its DATA through, instead of gRPC core making two full
 * calls per hop. Paths outside the authorization table go to the gateway's
 * own gRPC server (health, reflection, refusals of unknown methods, the
 * test route) on an abstract unix socket, untouched.
 */
#ifndef GATEWAY_FRONT_H
#define GATEWAY_FRONT_H

#include "gateway.h"
#include "tls.h"

/* front_inner_address: where the gateway's own gRPC server listens for
 * what the front passes through ("unix-abstract:accolade-gateway-<pid>"). */
const char *front_inner_address(void);
/* front_start listens on |listen| ("host:port", "[v6]:port"; "[::]" takes
 * both families) with |loops| event loops (the gateway gives one per two
 * cores: bench/gateway.sh measured a worse tail with one per core); a caller's connection without a call for
 * |idle_ms| is closed (GOAWAY); a request message over |max_msg| bytes is
 * RESOURCE_EXHAUSTED, as gRPC core refuses it; the services' names are
 * looked up again every |resolve_ms|; at most |limiter_queue| calls wait
 * for a rate-limit lease from Redis (more are UNAVAILABLE at once). With a
 * certificate in |tls| (NULL: none) callers speak TLS 1.2 or later with
 * ALPN h2 only (with a client CA, a certificate it signed is required), and
 * a connection whose handshake is not done within |handshake_ms| is
 * closed; the gateway's own server behind stays plaintext. 0, or -1 if it
 * cannot listen or a TLS file is refused (logged). */
int front_start(gateway *gw, const char *listen, int loops, int idle_ms, size_t max_msg, int resolve_ms,
                int limiter_queue, const tls_files *tls, int handshake_ms);
/* front_stop: GOAWAY to every caller, the calls in flight given up to
 * |grace_ms| to end, then every connection closed and the TLS context freed. */
void front_stop(int grace_ms);

#endif
