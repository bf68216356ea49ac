/* token.c - HS256 JWTs (RFC 7519) signed with openssl's HMAC. */
#include "token.h"

#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <stdio.h>
#include <string.h>

size_t token_b64url(const uint8_t *in, size_t n, char *out) {
  static const char tbl[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
  size_t o = 0;
  for (size_t i = 0; i < n; i += 3) {
    uint32_t v = (uint32_t)in[i] << 16;
    if (i + 1 < n) v |= (uint32_t)in[i + 1] << 8;
    if (i + 2 < n) v |= in[i + 2];
    out[o++] = tbl[(v >> 18) & 63];
    out[o++] = tbl[(v >> 12) & 63];
    if (i + 1 < n) out[o++] = tbl[(v >> 6) & 63];
    if (i + 2 < n) out[o++] = tbl[v & 63];
  }
  out[o] = '\0';
  return o;
}

static int plain(const char *s) { return s && !strpbrk(s, "\"\\\n\r"); }

int token_mint(const char *secret, const char *sub, const char *org, const char *role,
               const char *team, int64_t iat, int64_t exp, char *out, size_t cap) {
  if (!plain(sub) || !plain(org) || !plain(role) || (team && !plain(team))) return -1;
  const char *header = "{\"alg\":\"HS256\",\"typ\":\"JWT\"}";
  char payload[1024];
  int n = snprintf(payload, sizeof payload,
                   "{\"sub\":\"%s\",\"org\":\"%s\",\"role\":\"%s\",\"team\":\"%s\",\"iat\":%lld,\"exp\":%lld}",
                   sub, org, role, team ? team : "", (long long)iat, (long long)exp);
  if (n < 0 || (size_t)n >= sizeof payload) return -1;
  size_t need = (strlen(header) + (size_t)n) * 4 / 3 + 64 + 8;
  if (cap < need) return -1;
  size_t o = token_b64url((const uint8_t *)header, strlen(header), out);
  out[o++] = '.';
  o += token_b64url((const uint8_t *)payload, (size_t)n, out + o);
  unsigned char mac[EVP_MAX_MD_SIZE];
  unsigned int mac_len = 0;
  HMAC(EVP_sha256(), secret, (int)strlen(secret), (const unsigned char *)out, o, mac, &mac_len);
  out[o++] = '.';
  o += token_b64url(mac, mac_len, out + o);
  out[o] = '\0';
  return 0;
}
