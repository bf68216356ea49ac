/* tokens.c - a bounded, striped cache of verified tokens (see tokens.h). */
#include "tokens.h"

#include <openssl/sha.h>
#include <pthread.h>
#include <string.h>

#define STRIPES 64

typedef struct entry {
  unsigned char digest[SHA256_DIGEST_LENGTH];
  int64_t not_after;   /* 0: empty */
  jwt_claims claims;
} entry;

static entry g_slots[TOKENS_SLOTS];
static pthread_mutex_t g_locks[STRIPES] = {[0 ... STRIPES - 1] = PTHREAD_MUTEX_INITIALIZER};

/* slot_of: the token's digest, and the slot and lock it maps to. */
static size_t slot_of(const char *token, unsigned char digest[SHA256_DIGEST_LENGTH]) {
  SHA256((const unsigned char *)token, strlen(token), digest);
  uint32_t h;
  memcpy(&h, digest, sizeof h);
  return h % TOKENS_SLOTS;
}

int tokens_get(const char *token, int64_t now, jwt_claims *out) {
  unsigned char d[SHA256_DIGEST_LENGTH];
  size_t i = slot_of(token, d);
  pthread_mutex_t *mu = &g_locks[i % STRIPES];
  pthread_mutex_lock(mu);
  entry *e = &g_slots[i];
  int hit = e->not_after && now <= e->not_after && memcmp(e->digest, d, sizeof d) == 0;
  if (hit) *out = e->claims;
  pthread_mutex_unlock(mu);
  return hit;
}

void tokens_put(const char *token, const jwt_claims *claims, int64_t not_after) {
  unsigned char d[SHA256_DIGEST_LENGTH];
  size_t i = slot_of(token, d);
  pthread_mutex_t *mu = &g_locks[i % STRIPES];
  pthread_mutex_lock(mu);
  entry *e = &g_slots[i];
  memcpy(e->digest, d, sizeof d);
  e->claims = *claims;
  e->not_after = not_after;
  pthread_mutex_unlock(mu);
}
