/* jwt.h - verifying bearer tokens (RFC 7519) with openssl and json-c.
 *
 * Algorithms: HS256 (shared secret), RS256 and ES256 (public keys from PEM).
 * Several keys at once, chosen by the header's "kid" (rotation); a key only
 * verifies tokens of its own algorithm, so "alg": "none" and algorithm
 * confusion (an HS256 token signed with an RSA public key) are refused.
 * Claims: sub, org, role (member|manager|admin), team (optional), exp
 * (required), nbf and iat (optional), iss and aud checked when configured.
 * RSA keys must have 2048 bits or more. Signatures and base64url are
 * common/jws.h's.
 */
#ifndef GATEWAY_JWT_H
#define GATEWAY_JWT_H

#include <stddef.h>
#include <stdint.h>

#define JWT_MAX_TOKEN 4096   /* under gRPC core's 8 KiB metadata limit, so the gateway says why */
#define JWT_MAX_KEYS 16

typedef enum { JWT_HS256 = 1, JWT_RS256 = 2, JWT_ES256 = 3 } jwt_alg;

typedef struct jwt_key {
  char kid[64];          /* "" matches tokens without a kid */
  jwt_alg alg;
  unsigned char secret[256];
  size_t secret_len;
  void *pkey;            /* EVP_PKEY * for RS256 / ES256 */
} jwt_key;

typedef struct jwt_config {
  jwt_key keys[JWT_MAX_KEYS];
  int nkeys;
  char issuer[256];      /* "" : not checked */
  char audience[256];    /* "" : not checked */
  int leeway_s;
} jwt_config;

typedef struct jwt_claims {
  char sub[128], org[128], role[16], team[128];
  int64_t exp;
} jwt_claims;

/* jwt_add_hs256 / jwt_add_pem add a key; 0 or -1 (bad PEM or too many keys). */
int jwt_add_hs256(jwt_config *c, const char *kid, const char *secret);
int jwt_add_pem(jwt_config *c, const char *kid, jwt_alg alg, const char *pem, size_t len);
void jwt_config_free(jwt_config *c);

/* jwt_verify checks |token| at time |now|. Returns 0 and fills |out|, or -1
 * with a reason in |why| that never includes key material. */
int jwt_verify(const jwt_config *c, const char *token, int64_t now, jwt_claims *out, const char **why);

#endif
