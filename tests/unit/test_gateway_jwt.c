/* JWT verification: every attack the gateway must refuse, and the good paths. */
#include <criterion/criterion.h>
#include <openssl/ec.h>
#include <openssl/ecdsa.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/pem.h>
#include <stdio.h>
#include <string.h>

#include "harness.h"
#include "jwt.h"

#define NOW 1800000000LL

#define b64url th_b64url

/* unsigned_part builds "b64(header).b64(payload)". */
static void unsigned_part(const char *header, const char *payload, char *out) {
  char h[1024], p[2048];
  b64url((const unsigned char *)header, strlen(header), h);
  b64url((const unsigned char *)payload, strlen(payload), p);
  sprintf(out, "%s.%s", h, p);
}

static void hs256(const char *secret, const char *header, const char *payload, char *out) {
  unsigned_part(header, payload, out);
  unsigned char mac[32];
  unsigned int ml;
  HMAC(EVP_sha256(), secret, (int)strlen(secret), (unsigned char *)out, strlen(out), mac, &ml);
  char s[64];
  b64url(mac, ml, s);
  strcat(out, ".");
  strcat(out, s);
}

static void sign_pkey(EVP_PKEY *k, int es, const char *header, const char *payload, char *out) {
  unsigned_part(header, payload, out);
  unsigned char sig[512];
  size_t sl = sizeof sig;
  EVP_MD_CTX *md = EVP_MD_CTX_new();
  cr_assert_eq(EVP_DigestSignInit(md, NULL, EVP_sha256(), NULL, k), 1);
  cr_assert_eq(EVP_DigestSign(md, sig, &sl, (unsigned char *)out, strlen(out)), 1);
  EVP_MD_CTX_free(md);
  unsigned char raw[64];
  if (es) {   /* DER -> JOSE r || s */
    const unsigned char *p = sig;
    ECDSA_SIG *e = d2i_ECDSA_SIG(NULL, &p, (long)sl);
    const BIGNUM *r, *s;
    ECDSA_SIG_get0(e, &r, &s);
    BN_bn2binpad(r, raw, 32);
    BN_bn2binpad(s, raw + 32, 32);
    ECDSA_SIG_free(e);
    memcpy(sig, raw, 64);
    sl = 64;
  }
  char s64[1024];
  b64url(sig, sl, s64);
  strcat(out, ".");
  strcat(out, s64);
}

static void pubkey_pem(EVP_PKEY *k, char *out, size_t cap) {
  BIO *b = BIO_new(BIO_s_mem());
  PEM_write_bio_PUBKEY(b, k);
  int n = BIO_read(b, out, (int)cap - 1);
  out[n > 0 ? n : 0] = 0;
  BIO_free(b);
}

static const char *GOOD = "{\"sub\":\"alice\",\"org\":\"acme\",\"role\":\"manager\",\"team\":\"east\",\"exp\":1800000600}";
static const char *HS = "{\"alg\":\"HS256\",\"typ\":\"JWT\"}";

static int verify(jwt_config *c, const char *tok, const char **why) {
  jwt_claims cl;
  return jwt_verify(c, tok, NOW, &cl, why);
}

Test(gateway_jwt, hs256_token_verifies_and_yields_claims) {
  jwt_config c = {.leeway_s = 30};
  jwt_add_hs256(&c, "", "s3cret");
  char tok[4096];
  hs256("s3cret", HS, GOOD, tok);
  jwt_claims cl;
  const char *why;
  cr_assert_eq(jwt_verify(&c, tok, NOW, &cl, &why), 0, "%s", why);
  cr_assert_str_eq(cl.sub, "alice");
  cr_assert_str_eq(cl.org, "acme");
  cr_assert_str_eq(cl.role, "manager");
  cr_assert_str_eq(cl.team, "east");
}

Test(gateway_jwt, attacks_are_refused_with_a_reason) {
  jwt_config c = {.leeway_s = 30};
  jwt_add_hs256(&c, "", "s3cret");
  char tok[4096];
  const char *why;
  /* alg none, unsigned */
  unsigned_part("{\"alg\":\"none\"}", GOOD, tok);
  strcat(tok, ".");
  cr_assert_neq(verify(&c, tok, &why), 0);
  cr_assert_str_eq(why, "unsigned tokens (alg none) are not accepted");
  /* wrong secret */
  hs256("guess", HS, GOOD, tok);
  cr_assert_neq(verify(&c, tok, &why), 0);
  cr_assert_str_eq(why, "bad signature");
  /* tampered payload, original signature */
  char good[4096], evil[4096];
  hs256("s3cret", HS, GOOD, good);
  hs256("s3cret", HS, "{\"sub\":\"alice\",\"org\":\"acme\",\"role\":\"admin\",\"exp\":1800000600}", evil);
  char *sig = strrchr(good, '.');
  *strrchr(evil, '.') = 0;
  strcat(evil, sig);
  cr_assert_neq(verify(&c, evil, &why), 0);
  /* expired, beyond the leeway */
  hs256("s3cret", HS, "{\"sub\":\"a\",\"org\":\"o\",\"role\":\"member\",\"exp\":1799999960}", tok);
  cr_assert_neq(verify(&c, tok, &why), 0);
  cr_assert_str_eq(why, "token expired");
  /* within the leeway */
  hs256("s3cret", HS, "{\"sub\":\"a\",\"org\":\"o\",\"role\":\"member\",\"exp\":1799999990}", tok);
  cr_assert_eq(verify(&c, tok, &why), 0);
  /* not valid yet */
  hs256("s3cret", HS, "{\"sub\":\"a\",\"org\":\"o\",\"role\":\"member\",\"exp\":1800009999,\"nbf\":1800000100}", tok);
  cr_assert_neq(verify(&c, tok, &why), 0);
  cr_assert_str_eq(why, "token not valid yet (nbf)");
  /* no exp */
  hs256("s3cret", HS, "{\"sub\":\"a\",\"org\":\"o\",\"role\":\"member\"}", tok);
  cr_assert_neq(verify(&c, tok, &why), 0);
  /* unknown role, missing org */
  hs256("s3cret", HS, "{\"sub\":\"a\",\"org\":\"o\",\"role\":\"service\",\"exp\":1800000600}", tok);
  cr_assert_neq(verify(&c, tok, &why), 0, "the service role is never granted by a token");
  hs256("s3cret", HS, "{\"sub\":\"a\",\"role\":\"member\",\"exp\":1800000600}", tok);
  cr_assert_neq(verify(&c, tok, &why), 0);
  /* malformed */
  cr_assert_neq(verify(&c, "abc", &why), 0);
  cr_assert_neq(verify(&c, "a.b.c.d", &why), 0);
  cr_assert_neq(verify(&c, "!!!.???.***", &why), 0);
  cr_assert_neq(verify(&c, "", &why), 0);
  /* too large */
  static char big[JWT_MAX_TOKEN + 100];
  memset(big, 'a', sizeof big - 1);
  cr_assert_neq(verify(&c, big, &why), 0);
  cr_assert_str_eq(why, "token too large");
}

Test(gateway_jwt, issuer_and_audience_are_checked_when_configured) {
  jwt_config c = {.leeway_s = 30};
  jwt_add_hs256(&c, "", "s3cret");
  strcpy(c.issuer, "https://idp.example");
  strcpy(c.audience, "accolade");
  char tok[4096];
  const char *why;
  hs256("s3cret", HS, GOOD, tok);
  cr_assert_neq(verify(&c, tok, &why), 0);
  cr_assert_str_eq(why, "wrong issuer");
  hs256("s3cret", HS,
        "{\"sub\":\"a\",\"org\":\"o\",\"role\":\"member\",\"exp\":1800000600,\"iss\":\"https://idp.example\","
        "\"aud\":[\"other\",\"accolade\"]}",
        tok);
  cr_assert_eq(verify(&c, tok, &why), 0, "%s", why);
  hs256("s3cret", HS,
        "{\"sub\":\"a\",\"org\":\"o\",\"role\":\"member\",\"exp\":1800000600,\"iss\":\"https://idp.example\","
        "\"aud\":\"other\"}",
        tok);
  cr_assert_neq(verify(&c, tok, &why), 0);
  cr_assert_str_eq(why, "wrong audience");
}

Test(gateway_jwt, rs256_and_es256_with_kid_and_no_algorithm_confusion) {
  EVP_PKEY *rsa = EVP_RSA_gen(2048);
  EVP_PKEY *ec = EVP_EC_gen("P-256");
  cr_assert_not_null(rsa);
  cr_assert_not_null(ec);
  char rpem[4096], epem[4096];
  pubkey_pem(rsa, rpem, sizeof rpem);
  pubkey_pem(ec, epem, sizeof epem);
  jwt_config c = {.leeway_s = 30};
  cr_assert_eq(jwt_add_pem(&c, "r1", JWT_RS256, rpem, strlen(rpem)), 0);
  cr_assert_eq(jwt_add_pem(&c, "e1", JWT_ES256, epem, strlen(epem)), 0);
  cr_assert_neq(jwt_add_pem(&c, "bad", JWT_ES256, rpem, strlen(rpem)), 0, "an RSA key is not an ES256 key");
  char tok[8192];
  const char *why;
  sign_pkey(rsa, 0, "{\"alg\":\"RS256\",\"kid\":\"r1\"}", GOOD, tok);
  cr_assert_eq(verify(&c, tok, &why), 0, "%s", why);
  sign_pkey(ec, 1, "{\"alg\":\"ES256\",\"kid\":\"e1\"}", GOOD, tok);
  cr_assert_eq(verify(&c, tok, &why), 0, "%s", why);
  /* Right key material, wrong kid: the EC signature does not verify with r1. */
  sign_pkey(ec, 1, "{\"alg\":\"ES256\",\"kid\":\"r1\"}", GOOD, tok);
  cr_assert_neq(verify(&c, tok, &why), 0);
  sign_pkey(rsa, 0, "{\"alg\":\"RS256\",\"kid\":\"nope\"}", GOOD, tok);
  cr_assert_neq(verify(&c, tok, &why), 0);
  cr_assert_str_eq(why, "unknown key id");
  /* Algorithm confusion: an HS256 token "signed" with the RSA public key. */
  hs256(rpem, "{\"alg\":\"HS256\",\"kid\":\"r1\"}", GOOD, tok);
  cr_assert_neq(verify(&c, tok, &why), 0);
  jwt_config_free(&c);
  EVP_PKEY_free(rsa);
  EVP_PKEY_free(ec);
}

/* exp and nbf are attacker-chosen numbers: extreme values must be judged, not
 * overflow (UBSan aborts this test on signed overflow). */
Test(gateway_jwt, extreme_exp_and_nbf_do_not_overflow) {
  jwt_config c = {.leeway_s = 30};
  jwt_add_hs256(&c, "", "s3cret");
  char tok[4096];
  const char *why;
  hs256("s3cret", HS, "{\"sub\":\"a\",\"org\":\"o\",\"role\":\"member\",\"exp\":9223372036854775807}", tok);
  cr_assert_eq(verify(&c, tok, &why), 0, "%s", why ? why : "");
  hs256("s3cret", HS, "{\"sub\":\"a\",\"org\":\"o\",\"role\":\"member\",\"exp\":-9223372036854775808}", tok);
  cr_assert_neq(verify(&c, tok, &why), 0);
  cr_assert_str_eq(why, "token expired");
  hs256("s3cret", HS,
        "{\"sub\":\"a\",\"org\":\"o\",\"role\":\"member\",\"exp\":1800000600,\"nbf\":-9223372036854775808}", tok);
  cr_assert_eq(verify(&c, tok, &why), 0, "%s", why ? why : "");
  hs256("s3cret", HS,
        "{\"sub\":\"a\",\"org\":\"o\",\"role\":\"member\",\"exp\":1800000600,\"nbf\":9223372036854775807}", tok);
  cr_assert_neq(verify(&c, tok, &why), 0);
  cr_assert_str_eq(why, "token not valid yet (nbf)");
  hs256("s3cret", HS, "{\"sub\":\"a\",\"org\":\"o\",\"role\":\"member\",\"exp\":1e300}", tok);
  cr_assert_eq(verify(&c, tok, &why), 0, "a huge double saturates: %s", why ? why : "");
  hs256("s3cret", HS, "{\"sub\":\"a\",\"org\":\"o\",\"role\":\"member\",\"exp\":\"1800000600\"}", tok);
  cr_assert_neq(verify(&c, tok, &why), 0);
  cr_assert_str_eq(why, "exp is not a number");
}
