/* identity.c - HMAC-SHA256 signed identity metadata. */
#include "identity.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hex.h"

static char g_key[256] = "accolade-dev-internal-key";
static size_t g_key_len = 25;

static atomic_uint g_key_gen;   /* moves with the key: remembered MACs are of the old one */

void identity_set_key(const char *key) {
  snprintf(g_key, sizeof g_key, "%s", key ? key : "");
  g_key_len = strlen(g_key);
  atomic_fetch_add(&g_key_gen, 1);
}

static const char *const role_names[] = {"member", "manager", "admin", "service", "integration"};
#define NROLES (int)(sizeof role_names / sizeof role_names[0])

identity_role identity_role_parse(const char *s) {
  if (!s) return ROLE_NONE;
  for (int i = 0; i < NROLES; i++)
    if (strcmp(s, role_names[i]) == 0) return (identity_role)(1 << i);
  return ROLE_NONE;
}

const char *identity_role_name(identity_role r) {
  for (int i = 0; i < NROLES; i++)
    if (r == (identity_role)(1 << i)) return role_names[i];
  return "";
}

static int field_ok(const char *s, int required) {
  if (!s) return !required;
  size_t n = strlen(s);
  if (required && n == 0) return 0;
  if (n >= IDENTITY_FIELD_MAX) return 0;
  return strpbrk(s, "\r\n") == NULL;
}

int identity_make(identity *id, const char *org, const char *user, const char *role,
                  const char *team) {
  memset(id, 0, sizeof *id);
  identity_role r = identity_role_parse(role);
  if (!field_ok(org, 1) || !field_ok(user, 1) || !field_ok(team, 0) || r == ROLE_NONE) return -1;
  id->valid = 1;
  id->role = r;
  /* field_ok bounded every field to IDENTITY_FIELD_MAX - 1 bytes */
  if (!team) team = "";
  memcpy(id->org, org, strlen(org) + 1);
  memcpy(id->user, user, strlen(user) + 1);
  memcpy(id->team, team, strlen(team) + 1);
  return 0;
}

/* The MACs a thread computed last, by their input: a caller signs or
 * checks the same identity, with the same second, over and over, so it is
 * computed about once per identity per second (a new key forgets them). */
#define MAC_CACHE 4
typedef struct mac_memo {
  char in[4 * IDENTITY_FIELD_MAX + 64];
  int len;   /* 0: empty */
  unsigned gen;
  char hex[65];
} mac_memo;
static _Thread_local mac_memo t_macs[MAC_CACHE];
static _Thread_local unsigned t_mac_next;

static void mac_hex(const char *org, const char *user, const char *role, const char *team,
                    long long ts, char out_hex[65]) {
  char buf[4 * IDENTITY_FIELD_MAX + 64];
  int n = snprintf(buf, sizeof buf, "v1\n%s\n%s\n%s\n%s\n%lld\n", org, user, role, team, ts);
  if (n < 0 || (size_t)n >= sizeof buf) n = (int)sizeof buf - 1;
  unsigned gen = atomic_load(&g_key_gen);
  for (int i = 0; i < MAC_CACHE; i++)
    if (t_macs[i].len == n && t_macs[i].gen == gen && memcmp(t_macs[i].in, buf, (size_t)n) == 0) {
      memcpy(out_hex, t_macs[i].hex, 65);
      return;
    }
  unsigned char mac[EVP_MAX_MD_SIZE];
  unsigned int mac_len = 0;
  HMAC(EVP_sha256(), g_key, (int)g_key_len, (const unsigned char *)buf, (size_t)n, mac, &mac_len);
  hex_encode(out_hex, mac, 32);
  mac_memo *m = &t_macs[t_mac_next++ % MAC_CACHE];
  memcpy(m->in, buf, (size_t)n);
  m->len = n;
  m->gen = gen;
  memcpy(m->hex, out_hex, 65);
}

void identity_sign(const identity *id, int64_t ts, char out_hex[65]) {
  mac_hex(id->org, id->user, identity_role_name(id->role), id->team, (long long)ts, out_hex);
}

int identity_verify(const char *org, const char *user, const char *role, const char *team,
                    const char *ts, const char *sig_hex, int64_t now, identity *out,
                    const char **why) {
  const char *reason = NULL;
  memset(out, 0, sizeof *out);
  if (!sig_hex) {
    reason = "no identity signature";
  } else if (!org || !user || !role || !ts) {
    reason = "identity metadata incomplete";
  } else if (strlen(sig_hex) != 64) {
    reason = "malformed identity signature";
  } else {
    char *end;
    long long t = strtoll(ts, &end, 10);
    if (end == ts || *end != '\0') {
      reason = "malformed identity timestamp";
    } else if (t < now - IDENTITY_MAX_SKEW_S || t > now + IDENTITY_MAX_SKEW_S) {
      reason = "identity signature expired";
    } else {
      identity tmp;
      if (identity_make(&tmp, org, user, role, team) != 0) {
        reason = "invalid identity fields";
      } else {
        char want[65];
        mac_hex(org, user, role, team ? team : "", t, want);
        if (CRYPTO_memcmp(want, sig_hex, 64) != 0) {
          reason = "identity signature does not verify";
        } else {
          *out = tmp;
        }
      }
    }
  }
  if (why) *why = reason;
  return reason ? -1 : 0;
}
