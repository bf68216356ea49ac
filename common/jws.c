/* jws.c - compact JWS and JWKs, RS256 and ES256 (openssl 3, json-c). */
#include "jws.h"

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ecdsa.h>
#include <openssl/param_build.h>
#include <stdlib.h>
#include <string.h>

#define ES256_HALF 32
#define MAX_SIG 1024   /* RSA up to 8192 bits */

const char *jws_alg_name(jws_alg alg) {
  return alg == JWS_RS256 ? "RS256" : alg == JWS_ES256 ? "ES256" : NULL;
}

static jws_alg alg_by_name(const char *name) {
  if (!name) return JWS_ALG_NONE;
  if (!strcmp(name, "RS256")) return JWS_RS256;
  if (!strcmp(name, "ES256")) return JWS_ES256;
  return JWS_ALG_NONE;
}

jws_alg jws_key_alg(EVP_PKEY *key) {
  if (!key) return JWS_ALG_NONE;
  if (EVP_PKEY_is_a(key, "RSA")) return EVP_PKEY_get_bits(key) >= 2048 ? JWS_RS256 : JWS_ALG_NONE;
  if (!EVP_PKEY_is_a(key, "EC")) return JWS_ALG_NONE;
  char group[64];
  size_t glen = 0;
  if (EVP_PKEY_get_utf8_string_param(key, OSSL_PKEY_PARAM_GROUP_NAME, group, sizeof group, &glen) != 1)
    return JWS_ALG_NONE;
  return !strcmp(group, "prime256v1") || !strcmp(group, "P-256") ? JWS_ES256 : JWS_ALG_NONE;
}

size_t jws_b64url_encode(const unsigned char *in, size_t n, char *out) {
  static const char abc[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
  size_t o = 0, i = 0;
  for (; i + 3 <= n; i += 3) {
    unsigned long v = (unsigned long)in[i] << 16 | (unsigned long)in[i + 1] << 8 | in[i + 2];
    out[o++] = abc[v >> 18 & 63];
    out[o++] = abc[v >> 12 & 63];
    out[o++] = abc[v >> 6 & 63];
    out[o++] = abc[v & 63];
  }
  if (n - i == 1) {
    out[o++] = abc[in[i] >> 2];
    out[o++] = abc[(in[i] & 3) << 4];
  } else if (n - i == 2) {
    out[o++] = abc[in[i] >> 2];
    out[o++] = abc[((in[i] & 3) << 4) | in[i + 1] >> 4];
    out[o++] = abc[(in[i + 1] & 15) << 2];
  }
  out[o] = '\0';
  return o;
}

static int b64_value(char c) {
  if (c >= 'A' && c <= 'Z') return c - 'A';
  if (c >= 'a' && c <= 'z') return c - 'a' + 26;
  if (c >= '0' && c <= '9') return c - '0' + 52;
  if (c == '-') return 62;
  if (c == '_') return 63;
  return -1;
}

long jws_b64url_decode(const char *in, size_t n, unsigned char *out, size_t cap) {
  while (n > 0 && in[n - 1] == '=') n--;
  if (n % 4 == 1) return -1;
  unsigned long acc = 0;
  int bits = 0;
  size_t o = 0;
  for (size_t i = 0; i < n; i++) {
    int v = b64_value(in[i]);
    if (v < 0) return -1;
    acc = (acc << 6 | (unsigned long)v) & 0xffffff;
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      if (o == cap) return -1;
      out[o++] = (unsigned char)(acc >> bits);
    }
  }
  return (long)o;
}

/* ---- Signatures ---- */

/* es256_der_to_raw turns openssl's DER ECDSA signature into r || s. */
static int es256_der_to_raw(const unsigned char *der, size_t len, unsigned char raw[2 * ES256_HALF]) {
  const unsigned char *p = der;
  ECDSA_SIG *s = d2i_ECDSA_SIG(NULL, &p, (long)len);
  if (!s) return -1;
  const BIGNUM *r, *ss;
  ECDSA_SIG_get0(s, &r, &ss);
  int ok = BN_bn2binpad(r, raw, ES256_HALF) == ES256_HALF && BN_bn2binpad(ss, raw + ES256_HALF, ES256_HALF) == ES256_HALF;
  ECDSA_SIG_free(s);
  return ok ? 0 : -1;
}

/* es256_raw_to_der: the reverse; returns the DER length or -1. */
static int es256_raw_to_der(const unsigned char *raw, unsigned char *der, size_t cap) {
  ECDSA_SIG *s = ECDSA_SIG_new();
  BIGNUM *r = BN_bin2bn(raw, ES256_HALF, NULL), *ss = BN_bin2bn(raw + ES256_HALF, ES256_HALF, NULL);
  if (!s || !r || !ss || ECDSA_SIG_set0(s, r, ss) != 1) {
    BN_free(r);
    BN_free(ss);
    ECDSA_SIG_free(s);
    return -1;
  }
  int n = i2d_ECDSA_SIG(s, NULL);
  unsigned char *p = der;
  if (n <= 0 || (size_t)n > cap || i2d_ECDSA_SIG(s, &p) != n) n = -1;
  ECDSA_SIG_free(s);
  return n;
}

int jws_verify_sig(EVP_PKEY *key, jws_alg alg, const unsigned char *data, size_t data_len,
                   const unsigned char *sig, size_t sig_len) {
  if (alg == JWS_ALG_NONE || jws_key_alg(key) != alg) return 0;
  unsigned char der[128];
  if (alg == JWS_ES256) {
    if (sig_len != 2 * ES256_HALF) return 0;
    int n = es256_raw_to_der(sig, der, sizeof der);
    if (n < 0) return 0;
    sig = der;
    sig_len = (size_t)n;
  }
  EVP_MD_CTX *md = EVP_MD_CTX_new();
  int ok = md && EVP_DigestVerifyInit(md, NULL, EVP_sha256(), NULL, key) == 1 &&
           EVP_DigestVerify(md, sig, sig_len, data, data_len) == 1;
  EVP_MD_CTX_free(md);
  return ok;
}

char *jws_sign(EVP_PKEY *key, const char *kid, const char *typ, const char *cty, const char *payload,
               size_t len) {
  jws_alg alg = jws_key_alg(key);
  if (alg == JWS_ALG_NONE) return NULL;
  json_object *h = json_object_new_object();
  json_object_object_add(h, "alg", json_object_new_string(jws_alg_name(alg)));
  if (kid) json_object_object_add(h, "kid", json_object_new_string(kid));
  if (typ) json_object_object_add(h, "typ", json_object_new_string(typ));
  if (cty) json_object_object_add(h, "cty", json_object_new_string(cty));
  const char *hs = json_object_to_json_string_ext(h, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE);
  size_t hl = strlen(hs);
  size_t cap = (hl + 2) / 3 * 4 + (len + 2) / 3 * 4 + (MAX_SIG + 2) / 3 * 4 + 8;
  char *out = malloc(cap);
  size_t o = jws_b64url_encode((const unsigned char *)hs, hl, out);
  json_object_put(h);
  out[o++] = '.';
  o += jws_b64url_encode((const unsigned char *)payload, len, out + o);
  unsigned char sig[MAX_SIG];
  size_t sl = sizeof sig;
  EVP_MD_CTX *md = EVP_MD_CTX_new();
  int ok = md && EVP_DigestSignInit(md, NULL, EVP_sha256(), NULL, key) == 1 &&
           EVP_DigestSign(md, sig, &sl, (const unsigned char *)out, o) == 1;
  EVP_MD_CTX_free(md);
  unsigned char raw[2 * ES256_HALF];
  if (ok && alg == JWS_ES256) {
    ok = es256_der_to_raw(sig, sl, raw) == 0;
    memcpy(sig, raw, sizeof raw);
    sl = sizeof raw;
  }
  if (!ok) {
    free(out);
    return NULL;
  }
  out[o++] = '.';
  jws_b64url_encode(sig, sl, out + o);
  return out;
}

/* ---- JWKs ---- */

static void add_b64(json_object *o, const char *name, const unsigned char *b, size_t n) {
  char *s = malloc(n / 3 * 4 + 8);
  jws_b64url_encode(b, n, s);
  json_object_object_add(o, name, json_object_new_string(s));
  free(s);
}

/* add_bn adds |param| of |key| as a base64url big-endian number, |pad| bytes
 * long (0: as short as it is). */
static int add_bn(json_object *o, const char *name, EVP_PKEY *key, const char *param, int pad) {
  BIGNUM *bn = NULL;
  if (EVP_PKEY_get_bn_param(key, param, &bn) != 1) return -1;
  int n = pad ? pad : BN_num_bytes(bn);
  unsigned char *b = malloc((size_t)n + 1);
  int ok = BN_bn2binpad(bn, b, n) == n;
  if (ok) add_b64(o, name, b, (size_t)n);
  free(b);
  BN_free(bn);
  return ok ? 0 : -1;
}

json_object *jws_public_jwk(EVP_PKEY *key, const char *kid) {
  jws_alg alg = jws_key_alg(key);
  if (alg == JWS_ALG_NONE) return NULL;
  json_object *o = json_object_new_object();
  int rc;
  if (alg == JWS_RS256) {
    json_object_object_add(o, "kty", json_object_new_string("RSA"));
    rc = add_bn(o, "n", key, OSSL_PKEY_PARAM_RSA_N, 0) | add_bn(o, "e", key, OSSL_PKEY_PARAM_RSA_E, 0);
  } else {
    json_object_object_add(o, "kty", json_object_new_string("EC"));
    json_object_object_add(o, "crv", json_object_new_string("P-256"));
    rc = add_bn(o, "x", key, OSSL_PKEY_PARAM_EC_PUB_X, ES256_HALF) |
         add_bn(o, "y", key, OSSL_PKEY_PARAM_EC_PUB_Y, ES256_HALF);
  }
  json_object_object_add(o, "kid", json_object_new_string(kid ? kid : ""));
  json_object_object_add(o, "alg", json_object_new_string(jws_alg_name(alg)));
  json_object_object_add(o, "use", json_object_new_string("sig"));
  if (rc) {
    json_object_put(o);
    return NULL;
  }
  return o;
}

static const char *str_of(json_object *o, const char *key) {
  json_object *v;
  if (!o || !json_object_object_get_ex(o, key, &v) || !json_object_is_type(v, json_type_string)) return NULL;
  return json_object_get_string(v);
}

/* b64_field decodes |key| of |o| into |out| (exactly |want| bytes unless 0). */
static long b64_field(json_object *o, const char *key, unsigned char *out, size_t cap, size_t want) {
  const char *s = str_of(o, key);
  if (!s) return -1;
  long n = jws_b64url_decode(s, strlen(s), out, cap);
  if (n <= 0 || (want && (size_t)n != want)) return -1;
  return n;
}

static EVP_PKEY *from_params(const char *type, OSSL_PARAM_BLD *bld) {
  OSSL_PARAM *params = OSSL_PARAM_BLD_to_param(bld);
  EVP_PKEY_CTX *pc = EVP_PKEY_CTX_new_from_name(NULL, type, NULL);
  EVP_PKEY *k = NULL;
  if (!params || !pc || EVP_PKEY_fromdata_init(pc) != 1 ||
      EVP_PKEY_fromdata(pc, &k, EVP_PKEY_PUBLIC_KEY, params) != 1)
    k = NULL;
  EVP_PKEY_CTX_free(pc);
  OSSL_PARAM_free(params);
  return k;
}

EVP_PKEY *jws_jwk_key(json_object *jwk) {
  const char *kty = str_of(jwk, "kty");
  if (!kty) return NULL;
  OSSL_PARAM_BLD *bld = OSSL_PARAM_BLD_new();
  EVP_PKEY *k = NULL;
  if (!strcmp(kty, "RSA")) {
    unsigned char n[MAX_SIG], e[16];
    long nl = b64_field(jwk, "n", n, sizeof n, 0), el = b64_field(jwk, "e", e, sizeof e, 0);
    BIGNUM *bn = nl > 0 ? BN_bin2bn(n, (int)nl, NULL) : NULL, *be = el > 0 ? BN_bin2bn(e, (int)el, NULL) : NULL;
    if (bn && be && OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_N, bn) == 1 &&
        OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_E, be) == 1)
      k = from_params("RSA", bld);
    BN_free(bn);
    BN_free(be);
  } else if (!strcmp(kty, "EC") && str_of(jwk, "crv") && !strcmp(str_of(jwk, "crv"), "P-256")) {
    unsigned char pt[1 + 2 * ES256_HALF];
    pt[0] = 4;   /* uncompressed point */
    if (b64_field(jwk, "x", pt + 1, ES256_HALF, ES256_HALF) > 0 &&
        b64_field(jwk, "y", pt + 1 + ES256_HALF, ES256_HALF, ES256_HALF) > 0 &&
        OSSL_PARAM_BLD_push_utf8_string(bld, OSSL_PKEY_PARAM_GROUP_NAME, "prime256v1", 0) == 1 &&
        OSSL_PARAM_BLD_push_octet_string(bld, OSSL_PKEY_PARAM_PUB_KEY, pt, sizeof pt) == 1)
      k = from_params("EC", bld);
  }
  OSSL_PARAM_BLD_free(bld);
  return k;
}

/* ---- Verification ---- */

static json_object *decode_json(const char *s, size_t n, char **raw, size_t *raw_len) {
  unsigned char *buf = malloc(n / 4 * 3 + 4);
  long len = jws_b64url_decode(s, n, buf, n / 4 * 3 + 3);
  json_object *o = NULL;
  if (len > 0 && !memchr(buf, '\0', (size_t)len)) {
    buf[len] = '\0';
    json_tokener *tok = json_tokener_new();
    o = json_tokener_parse_ex(tok, (const char *)buf, (int)len);
    if (o && (json_tokener_get_error(tok) != json_tokener_success || !json_object_is_type(o, json_type_object))) {
      json_object_put(o);
      o = NULL;
    }
    json_tokener_free(tok);
  }
  if (o && raw) {
    *raw = (char *)buf;
    *raw_len = (size_t)len;
  } else {
    free(buf);
  }
  return o;
}

int jws_verify(const char *token, json_object *jwks, char **payload, size_t *len, char **kid_out,
               const char **why) {
  const char *d1 = strchr(token, '.'), *d2 = d1 ? strchr(d1 + 1, '.') : NULL;
  if (!d1 || !d2 || strchr(d2 + 1, '.')) return *why = "not a compact JWS (want header.payload.signature)", -1;
  json_object *hdr = decode_json(token, (size_t)(d1 - token), NULL, NULL);
  if (!hdr) return *why = "the header is not base64url JSON", -1;
  int rc = -1;
  char *body = NULL;
  size_t body_len = 0;
  EVP_PKEY *key = NULL;
  jws_alg alg = alg_by_name(str_of(hdr, "alg"));
  const char *kid = str_of(hdr, "kid");
  json_object *keys;
  if (alg == JWS_ALG_NONE) {
    *why = "unsupported alg (RS256 or ES256 only)";
    goto out;
  }
  if (!json_object_object_get_ex(jwks, "keys", &keys) || !json_object_is_type(keys, json_type_array)) {
    *why = "the JWKS has no \"keys\" array";
    goto out;
  }
  for (size_t i = 0; i < json_object_array_length(keys) && !key; i++) {
    json_object *k = json_object_array_get_idx(keys, i);
    const char *kk = str_of(k, "kid"), *ka = str_of(k, "alg");
    if ((kid && (!kk || strcmp(kk, kid))) || (ka && alg_by_name(ka) != alg)) continue;
    key = jws_jwk_key(k);
    if (key && jws_key_alg(key) != alg) {
      EVP_PKEY_free(key);
      key = NULL;
    }
  }
  if (!key) {
    *why = "no key in the JWKS for this kid and alg";
    goto out;
  }
  unsigned char sig[MAX_SIG];
  long sl = jws_b64url_decode(d2 + 1, strlen(d2 + 1), sig, sizeof sig);
  if (sl <= 0 || !jws_verify_sig(key, alg, (const unsigned char *)token, (size_t)(d2 - token), sig, (size_t)sl)) {
    *why = "bad signature";
    goto out;
  }
  json_object *pl = decode_json(d1 + 1, (size_t)(d2 - d1 - 1), &body, &body_len);
  if (!pl) {
    *why = "the payload is not base64url JSON";
    goto out;
  }
  json_object_put(pl);
  if (payload) {
    *payload = body;
    body = NULL;
  }
  if (len) *len = body_len;
  if (kid_out) *kid_out = strdup(kid ? kid : "");
  rc = 0;
out:
  free(body);
  EVP_PKEY_free(key);
  json_object_put(hdr);
  return rc;
}
