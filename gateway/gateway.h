/* gateway.h - the one public entry point.
 *
 * Settings (env; flags of the same name in lower case with dashes):
 *   ACCOLADE_JWT_HS256_SECRET   shared secret for HS256 tokens (kid "" matches)
 *   ACCOLADE_JWT_KEYS           "kid:RS256:/path.pem,kid2:ES256:/path2.pem" public keys
 *   ACCOLADE_JWT_ISSUER / ACCOLADE_JWT_AUDIENCE   checked when set
 *   ACCOLADE_JWT_LEEWAY_S       clock leeway, default 30
 *   ACCOLADE_GATEWAY_RATE_MEMBER / _BURST_MEMBER  requests per second per member (50 / 100)
 *   ACCOLADE_GATEWAY_RATE_ORG / _BURST_ORG        per org (1000 / 2000); both rates 0:
 *                                                 no limits, no Redis round trip. Tokens
 *                                                 are taken from Redis in leases of rate/10,
 *                                                 growing while spent fast (ratelimit.c)
 *   ACCOLADE_GATEWAY_MAX_STREAMS                  open streams per member (5)
 *   ACCOLADE_REDIS                                the rate limiter (fails open when down)
 *   ACCOLADE_<SERVICE>_ADDR                       upstreams; several comma-separated
 *                                                 addresses are balanced round-robin
 *   ACCOLADE_GATEWAY_FRONT       1 (default): the public port is served by the
 *                                frame-level front (front.h), which also takes
 *                                the public port's TLS (ACCOLADE_TLS_*); 0: by
 *                                gRPC core (as it was; also whenever
 *                                ACCOLADE_UPSTREAM_TLS_CA is set: the front
 *                                speaks plaintext to the services)
 *   ACCOLADE_GATEWAY_TLS_HANDSHAKE_MS  a caller's TLS handshake on the front
 *                                must be done within it, or its connection is
 *                                closed (10000; checked every second)
 *   ACCOLADE_GATEWAY_LOOPS       the front's event loops (one per two cores)
 *
 * The public hop, decided from a measured prototype (issue 15). Forwarding
 * through gRPC core makes two full calls per hop: a server call in, a client
 * call out, each through core's completion queues, the message copied into
 * and out of byte buffers, the metadata into core's tables and out again.
 * perf on the gateway under bench/gateway.sh: libgrpc 49.7% of its samples,
 * the kernel 23.6%, libc 12.7%, absl's mutexes 6.8%, the gateway's own code
 * 1.8%: nothing of ours left to remove. HAProxy forwards at the HTTP/2
 * frame level and did the same hop at 2.6x the gateway's rate. The front
 * (front.h, libnghttp2) does what the gateway does per call (JWT,
 * authorization, rate limits, signed identity, request id, deadline, access
 * line, metrics) on the HEADERS and passes the DATA through; everything
 * outside the authorization table still reaches the gRPC-core server behind
 * it. The prototype, first measured in one run of bench/gateway.sh 20000 1
 * (cached GetTop, limits off, other work on the 2 cores): 30.2k req/s at
 * h2load -c 50 -m 10 against HAProxy's 22.0k and the gRPC-core gateway's
 * 16.2k; 31.8k at -c 4 -m 25 against HAProxy's 32.3k and 14.8k. So the
 * front serves the public port. As it now runs (bench/gateway.sh 40000 3,
 * quiet machine, 2026-12-01 11:20 UTC, one loop on the 2 cores): 57.0k req/s
 * against HAProxy's 51.4k (1.11x) at -c 50 -m 10, p99 16.7 ms against 18.3;
 * 56.8k against 49.0k (1.16x) at -c 4 -m 25, p99 3.6 ms against 4.5; the
 * gRPC-core path 0.40x and 0.44x. (Percentiles printed before 11:03 that
 * day pooled every earlier h2load run of the script: h2load appends to its
 * log. Rates were right: 1.15-1.31x and 0.99-1.27x in six runs.) From
 * 1,000 members' tokens at the default rate limits, 0.83x HAProxy, which
 * limits nothing, then; with leases that grow while spent fast
 * (ratelimit.c), 0.98x and 1.03x in two runs (16:40, 16:43 UTC); limits
 * off, 0.97-1.04x. bench/README.md has the tables.
 *
 * Decisions (tested in tests/integration/test_gateway_security.c):
 *   - Authentication comes before routing: an anonymous caller gets
 *     UNAUTHENTICATED for every method, known or not, and learns nothing
 *     about the table. Authenticated: unknown method UNIMPLEMENTED, internal
 *     method or wrong role PERMISSION_DENIED.
 *   - Tokens over JWT_MAX_TOKEN (4 KiB) are UNAUTHENTICATED "token too large";
 *     larger headers are refused by gRPC core's 8 KiB metadata limit first.
 *   - Only the identity from the verified token is signed onto the forwarded
 *     call; the caller's own x-accolade-* metadata is never passed on.
 *   - The rate limiter fails open when Redis is unreachable: losing Redis
 *     must not take the public API down (health still reports it).
 */
#ifndef GATEWAY_H
#define GATEWAY_H

#include "jwt.h"
#include "rpc.h"

typedef struct gateway {
  jwt_config jwt;
  double member_rate, member_burst, org_rate, org_burst;
  int max_streams;
} gateway;

int gateway_is_stream(void *app, const char *method);
/* gateway_route_outside: the upstream of a method outside the authz table,
 * asked only once the table has no rule for it. The production gateway has
 * none (route_none.c: NULL); the test build (bin/gateway-test) links
 * tests/support/gateway_test_route.c instead, which routes one test service
 * to any role (ACCOLADE_GATEWAY_TEST_ROUTE="/accolade.test.<...>=<addr>")
 * and sets *stream for its streaming methods. */
const char *gateway_route_outside(const char *method, int *stream);
/* gateway_unary_async forwards without holding the worker: RPC_DEFERRED, and
 * the upstream's completion replies (rpc_finish), or a failure code now. */
int gateway_unary_async(rpc_ctx *ctx, const uint8_t *req, size_t len);
int gateway_stream(rpc_ctx *ctx, const uint8_t *req, size_t len, rpc_stream *s);

/* gateway_admit checks the bearer token |auth| (the header's value, NULL if
 * none), fills |id| from it, finds |method|'s rule (NULL for the test route)
 * and checks the role (admit.c); the rate limits are the caller's next step.
 * Returns RPC_OK, or the code with the reason in |msg|. */
struct authz_rule;
int gateway_admit(const gateway *g, const char *method, const char *auth, int64_t now, identity *id,
                  const struct authz_rule **rule, char *msg, size_t cap);

/* Open streams per member (forward.c): gateway_stream_enter takes one of
 * |id|'s at most |max| slots (0: none left), gateway_stream_leave gives it back. */
int gateway_stream_enter(const identity *id, int max);
void gateway_stream_leave(const identity *id);

/* ratelimit_check spends a token of the member's and of the org's bucket
 * (ratelimit.c): RPC_OK, or RESOURCE_EXHAUSTED naming the limit. */
int ratelimit_check(rpc_ctx *ctx, const gateway *g, const identity *id);
/* ratelimit_take is the same without a call: NULL when allowed, else the
 * reason (a static string). It may wait for Redis (one round trip a lease). */
const char *ratelimit_take(const gateway *g, const identity *id);
/* ratelimit_take_local spends a token of the leases this process holds,
 * without waiting: 1 when both leases held one, 0 when one of them must be
 * fetched first (ratelimit_take, on a thread that may wait). |refill| gets
 * RL_MEMBER and RL_ORG for the leases this take left low: the caller asks
 * ratelimit_refill for them, on a thread that may wait, and goes on. */
enum { RL_MEMBER = 1, RL_ORG = 2 };
int ratelimit_take_local(const gateway *g, const identity *id, int *refill);
/* ratelimit_refill tops up the leases marked in |refill| from Redis. */
void ratelimit_refill(const gateway *g, const identity *id, int refill);

#endif
