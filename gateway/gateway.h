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
 *                                                 are taken from Redis in leases of up to
 *                                                 rate/20 (ratelimit.c)
 *   ACCOLADE_GATEWAY_MAX_STREAMS                  open streams per member (5)
 *   ACCOLADE_REDIS                                the rate limiter (fails open when down)
 *   ACCOLADE_<SERVICE>_ADDR                       upstreams; several comma-separated
 *                                                 addresses are balanced round-robin
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

/* ratelimit_check spends a token of the member's and of the org's bucket
 * (ratelimit.c): RPC_OK, or RESOURCE_EXHAUSTED naming the limit. */
int ratelimit_check(rpc_ctx *ctx, const gateway *g, const identity *id);

#endif
