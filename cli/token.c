/* token.c - HS256 JWTs (RFC 7519) signed with openssl's HMAC. */
#include "token.h"

#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <stdio.h>
#include <string.h>

#include "jws.h"

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
  size_t o = jws_b64url_encode((const uint8_t *)header, strlen(header), out);
  out[o++] = '.';
  o += jws_b64url_encode((const uint8_t *)payload, (size_t)n, out + o);
  unsigned char mac[EVP_MAX_MD_SIZE];
  unsigned int mac_len = 0;
  HMAC(EVP_sha256(), secret, (int)strlen(secret), (const unsigned char *)out, o, mac, &mac_len);
  out[o++] = '.';
  o += jws_b64url_encode(mac, mac_len, out + o);
  out[o] = '\0';
  return 0;
}
