/* jwt.c - JWT verification: HS256, RS256, ES256. */
#include "jwt.h"

#include <json-c/json.h>
#include <openssl/bio.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/pem.h>
#include <stdio.h>
#include <string.h>

#include "jws.h"

int jwt_add_hs256(jwt_config *c, const char *kid, const char *secret) {
  size_t n = strlen(secret);
  if (c->nkeys == JWT_MAX_KEYS || n == 0 || n > sizeof c->keys[0].secret) return -1;
  jwt_key *k = &c->keys[c->nkeys++];
  memset(k, 0, sizeof *k);
  snprintf(k->kid, sizeof k->kid, "%s", kid ? kid : "");
  k->alg = JWT_HS256;
  memcpy(k->secret, secret, n);
  k->secret_len = n;
  return 0;
}

int jwt_add_pem(jwt_config *c, const char *kid, jwt_alg alg, const char *pem, size_t len) {
  if (c->nkeys == JWT_MAX_KEYS || (alg != JWT_RS256 && alg != JWT_ES256)) return -1;
  BIO *b = BIO_new_mem_buf(pem, (int)len);
  EVP_PKEY *pk = b ? PEM_read_bio_PUBKEY(b, NULL, NULL, NULL) : NULL;
  BIO_free(b);
  if (!pk) return -1;
  if (jws_key_alg(pk) != (alg == JWT_RS256 ? JWS_RS256 : JWS_ES256)) {   /* RSA 2048+, EC P-256 */
    EVP_PKEY_free(pk);
    return -1;
  }
  jwt_key *k = &c->keys[c->nkeys++];
  memset(k, 0, sizeof *k);
  snprintf(k->kid, sizeof k->kid, "%s", kid ? kid : "");
  k->alg = alg;
  k->pkey = pk;
  return 0;
}

void jwt_config_free(jwt_config *c) {
  for (int i = 0; i < c->nkeys; i++)
    if (c->keys[i].pkey) EVP_PKEY_free(c->keys[i].pkey);
  c->nkeys = 0;
}

static json_object *parse_part(const char *s, size_t n) {
  unsigned char buf[JWT_MAX_TOKEN];
  long len = jws_b64url_decode(s, n, buf, sizeof buf - 1);
  if (len <= 0) return NULL;
  buf[len] = '\0';
  if (memchr(buf, '\0', (size_t)len)) return NULL;
  json_object *o = json_tokener_parse((const char *)buf);
  if (o && !json_object_is_type(o, json_type_object)) {
    json_object_put(o);
    return NULL;
  }
  return o;
}

static const char *get_str(json_object *o, const char *key) {
  json_object *v;
  if (!json_object_object_get_ex(o, key, &v) || !json_object_is_type(v, json_type_string)) return NULL;
  return json_object_get_string(v);
}

static int get_num(json_object *o, const char *key, int64_t *out) {
  json_object *v;
  if (!json_object_object_get_ex(o, key, &v)) return 0;
  if (!json_object_is_type(v, json_type_int) && !json_object_is_type(v, json_type_double)) return -1;
  *out = json_object_get_int64(v);
  return 1;
}

static int verify_sig(const jwt_key *k, const char *signed_part, size_t signed_len,
                      const unsigned char *sig, size_t sig_len) {
  if (k->alg == JWT_HS256) {
    unsigned char mac[EVP_MAX_MD_SIZE];
    unsigned int mac_len = 0;
    HMAC(EVP_sha256(), k->secret, (int)k->secret_len, (const unsigned char *)signed_part, signed_len, mac,
         &mac_len);
    return mac_len == sig_len && CRYPTO_memcmp(mac, sig, sig_len) == 0;
  }
  return jws_verify_sig(k->pkey, k->alg == JWT_RS256 ? JWS_RS256 : JWS_ES256, (const unsigned char *)signed_part,
                        signed_len, sig, sig_len);
}

static int aud_ok(json_object *payload, const char *want) {
  json_object *v;
  if (!json_object_object_get_ex(payload, "aud", &v)) return 0;
  if (json_object_is_type(v, json_type_string)) return strcmp(json_object_get_string(v), want) == 0;
  if (!json_object_is_type(v, json_type_array)) return 0;
  for (size_t i = 0; i < json_object_array_length(v); i++) {
    json_object *e = json_object_array_get_idx(v, i);
    if (json_object_is_type(e, json_type_string) && !strcmp(json_object_get_string(e), want)) return 1;
  }
  return 0;
}

static int copy_claim(char *out, size_t cap, const char *v, int required) {
  if (!v) {
    out[0] = '\0';
    return required ? -1 : 0;
  }
  size_t n = strlen(v);
  if ((required && n == 0) || n >= cap || strpbrk(v, "\r\n")) return -1;
  memcpy(out, v, n + 1);
  return 0;
}

/* find_key: the key named |kid| (any, when the token names none) for |a|;
 * NULL with the reason in |*why| when there is none. */
static const jwt_key *find_key(const jwt_config *c, jwt_alg a, const char *kid, const char **why) {
  int kid_known = 0;
  for (int i = 0; i < c->nkeys; i++) {
    const jwt_key *k = &c->keys[i];
    if (kid && strcmp(k->kid, kid) != 0) continue;
    kid_known = 1;
    if (k->alg == a) return k;
  }
  *why = kid && !kid_known ? "unknown key id" : "no key for this algorithm";
  return NULL;
}

int jwt_verify(const jwt_config *c, const char *token, int64_t now, jwt_claims *out, const char **why) {
  memset(out, 0, sizeof *out);
  *why = NULL;
  size_t tl = token ? strlen(token) : 0;
  if (tl == 0) return *why = "missing token", -1;
  if (tl > JWT_MAX_TOKEN) return *why = "token too large", -1;
  const char *d1 = strchr(token, '.'), *d2 = d1 ? strchr(d1 + 1, '.') : NULL;
  if (!d1 || !d2 || strchr(d2 + 1, '.')) return *why = "malformed token (want header.payload.signature)", -1;
  json_object *hdr = parse_part(token, (size_t)(d1 - token));
  json_object *pl = hdr ? parse_part(d1 + 1, (size_t)(d2 - d1 - 1)) : NULL;
  int rc = -1;
  if (!hdr || !pl) {
    *why = "malformed token (header or payload is not base64url JSON)";
    goto out;
  }
  const char *alg = get_str(hdr, "alg"), *kid = get_str(hdr, "kid");
  jwt_alg a = !alg ? 0 : !strcmp(alg, "HS256") ? JWT_HS256 : !strcmp(alg, "RS256") ? JWT_RS256
                        : !strcmp(alg, "ES256") ? JWT_ES256 : 0;
  if (!a) {
    *why = alg && !strcasecmp(alg, "none") ? "unsigned tokens (alg none) are not accepted" : "unsupported alg";
    goto out;
  }
  const jwt_key *key = find_key(c, a, kid, why);
  if (!key) goto out;
  unsigned char sig[512];
  long sl = jws_b64url_decode(d2 + 1, strlen(d2 + 1), sig, sizeof sig);
  if (sl <= 0 || !verify_sig(key, token, (size_t)(d2 - token), sig, (size_t)sl)) {
    *why = "bad signature";
    goto out;
  }
  int64_t exp = 0, nbf = 0;
  int has_exp = get_num(pl, "exp", &exp), has_nbf = get_num(pl, "nbf", &nbf);
  if (has_exp <= 0) {
    *why = has_exp < 0 ? "exp is not a number" : "token has no exp";
    goto out;
  }
  /* Compare on |now|'s side: exp is attacker-chosen, exp + leeway could overflow. */
  if (exp < now - c->leeway_s) {
    *why = "token expired";
    goto out;
  }
  if (has_nbf < 0 || (has_nbf && now + c->leeway_s < nbf)) {
    *why = "token not valid yet (nbf)";
    goto out;
  }
  if (c->issuer[0] && (!get_str(pl, "iss") || strcmp(get_str(pl, "iss"), c->issuer))) {
    *why = "wrong issuer";
    goto out;
  }
  if (c->audience[0] && !aud_ok(pl, c->audience)) {
    *why = "wrong audience";
    goto out;
  }
  const char *role = get_str(pl, "role");
  if (copy_claim(out->sub, sizeof out->sub, get_str(pl, "sub"), 1) ||
      copy_claim(out->org, sizeof out->org, get_str(pl, "org"), 1) ||
      copy_claim(out->team, sizeof out->team, get_str(pl, "team"), 0) || !role ||
      (strcmp(role, "member") && strcmp(role, "manager") && strcmp(role, "admin") &&
       strcmp(role, "integration"))) {
    *why = "claims sub, org and role (member, manager, admin or integration) are required";
    goto out;
  }
  snprintf(out->role, sizeof out->role, "%s", role);
  out->exp = exp;
  rc = 0;
out:
  if (hdr) json_object_put(hdr);
  if (pl) json_object_put(pl);
  if (rc) memset(out, 0, sizeof *out);
  return rc;
}
