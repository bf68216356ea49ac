/* admit.c - what every call through the gateway passes before it reaches a
 * service, whichever path carries it (forward.c on gRPC core, front_admit.c at
 * the frame level): the bearer token verified (or found in the cache of
 * verified tokens), the identity made from its claims, the method found in
 * the authorization table and the role checked. The rate limits come next,
 * each path taking them its own way (ratelimit.c). */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "authz.h"
#include "gateway.h"
#include "tokens.h"

static int refuse(char *msg, size_t cap, int code, const char *fmt, ...) __attribute__((format(printf, 4, 5)));
static int refuse(char *msg, size_t cap, int code, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, cap, fmt, ap);
  va_end(ap);
  return code;
}

int gateway_admit(const gateway *g, const char *method, const char *auth, int64_t now, identity *id,
                  const authz_rule **rule, char *msg, size_t cap) {
  *rule = NULL;
  memset(id, 0, sizeof *id);
  if (!auth) return refuse(msg, cap, RPC_UNAUTHENTICATED, "authorization: missing bearer token");
  if (strncasecmp(auth, "Bearer ", 7) != 0)
    return refuse(msg, cap, RPC_UNAUTHENTICATED, "authorization: expected 'Bearer <token>'");
  jwt_claims cl;
  const char *why;
  if (!tokens_get(auth + 7, now, &cl)) {   /* a token seen before skips its verification */
    if (jwt_verify(&g->jwt, auth + 7, now, &cl, &why) != 0)
      return refuse(msg, cap, RPC_UNAUTHENTICATED, "authorization: %s", why);
    /* exp is the token's own number: keep the sum from overflowing */
    tokens_put(auth + 7, &cl, cl.exp > INT64_MAX - g->jwt.leeway_s ? INT64_MAX : cl.exp + g->jwt.leeway_s);
  }
  if (identity_make(id, cl.org, cl.sub, cl.role, cl.team) != 0)
    return refuse(msg, cap, RPC_UNAUTHENTICATED, "authorization: claims are too long or malformed");
  const authz_rule *r = authz_find(method);
  int stream;
  if (!r) {
    if (!gateway_route_outside(method, &stream))   /* the test build's route only */
      return refuse(msg, cap, RPC_UNIMPLEMENTED, "unknown method %s", method);
  } else {
    if (r->roles == AZ_INTERNAL) return refuse(msg, cap, RPC_PERMISSION_DENIED, "%s is internal to Accolade", method);
    if (!(r->roles & authz_role_bit(cl.role)))
      return refuse(msg, cap, RPC_PERMISSION_DENIED, "role %s may not call %s", cl.role, method);
    *rule = r;
  }
  return RPC_OK;
}
