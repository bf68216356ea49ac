/* jws.h - JSON Web Signatures (RFC 7515, compact form) and public JWKs
 * (RFC 7517, 7518), RS256 and ES256, with openssl and json-c.
 *
 * Signing is for issuers (svc-award's credentials); verification takes a JWK
 * Set, as an offline verifier has it (the CLI's `credential verify`). ES256
 * signatures are JOSE's raw r || s (64 bytes), never DER. Keys are openssl
 * EVP_PKEYs the caller owns. Strings these functions return are malloc'd:
 * the caller frees them.
 */
#ifndef ACCOLADE_JWS_H
#define ACCOLADE_JWS_H

#include <stddef.h>

#include <json-c/json.h>
#include <openssl/evp.h>

typedef enum { JWS_ALG_NONE = 0, JWS_RS256 = 1, JWS_ES256 = 2 } jws_alg;

/* jws_alg_name: "RS256", "ES256" or NULL. */
const char *jws_alg_name(jws_alg alg);

/* jws_key_alg: the algorithm |key| signs with: RS256 for RSA of 2048 bits or
 * more, ES256 for EC on P-256, JWS_ALG_NONE for anything else. */
jws_alg jws_key_alg(EVP_PKEY *key);

/* jws_b64url_encode writes base64url without padding of |n| bytes and a NUL
 * into |out| (room for 4 * ceil(n / 3) + 1); returns the length written. */
size_t jws_b64url_encode(const unsigned char *in, size_t n, char *out);
/* jws_b64url_decode decodes |n| characters (padding optional) into |out|;
 * returns the length, or -1 on a bad character or too small an |out|. */
long jws_b64url_decode(const char *in, size_t n, unsigned char *out, size_t cap);

/* jws_sign returns "header.payload.signature" over the |len| bytes of
 * |payload|, the header being {"alg", "kid", "typ" (may be NULL), "cty" (may
 * be NULL)}; NULL when |key| has no supported algorithm or openssl fails. */
char *jws_sign(EVP_PKEY *key, const char *kid, const char *typ, const char *cty, const char *payload,
               size_t len);

/* jws_verify_sig checks |sig| (JOSE form) over |data| with |key| for |alg|:
 * 1 valid, 0 not. */
int jws_verify_sig(EVP_PKEY *key, jws_alg alg, const unsigned char *data, size_t data_len,
                   const unsigned char *sig, size_t sig_len);

/* jws_public_jwk: a new JSON object, the public JWK of |key| with "kid",
 * "alg" and "use": "sig"; NULL for an unsupported key. The caller puts it. */
json_object *jws_public_jwk(EVP_PKEY *key, const char *kid);
/* jws_jwk_key: the public key of JWK |jwk| (RSA, or EC on P-256), or NULL. The
 * caller frees it with EVP_PKEY_free. */
EVP_PKEY *jws_jwk_key(json_object *jwk);

/* jws_verify checks compact |token| against the JWK Set |jwks| ({"keys":
 * [...]}), choosing the key by the header's kid (and alg; "none" and
 * algorithms other than RS256 and ES256 are refused). Returns 0 with the
 * decoded payload in |*payload| (NUL-terminated, |*len| bytes) and the kid in
 * |*kid| (both malloc'd, freed by the caller; either may be NULL), or -1 with
 * a reason in |*why| (static text). */
int jws_verify(const char *token, json_object *jwks, char **payload, size_t *len, char **kid,
               const char **why);

#endif
