/* tokens.c - a bounded, striped cache of verified tokens (see tokens.h). */
#include "tokens.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "hash.h"

#define STRIPES 64

typedef struct entry {
  char *token;         /* a copy of the token's bytes */
  size_t len;
  int64_t not_after;   /* 0: empty */
  jwt_claims claims;
} entry;

static entry g_slots[TOKENS_SLOTS];
static pthread_mutex_t g_locks[STRIPES] = {[0 ... STRIPES - 1] = PTHREAD_MUTEX_INITIALIZER};

/* slot_of: from the token's length and its last 32 bytes, in a JWT its
 * signature's (the whole token is compared on a hit). */
static size_t slot_of(const char *token, size_t len) {
  size_t tail = len > 32 ? 32 : len;
  return hash_mem(HASH_INIT ^ (uint32_t)len, token + len - tail, tail) % TOKENS_SLOTS;
}

int tokens_get(const char *token, int64_t now, jwt_claims *out) {
  size_t len = strlen(token), i = slot_of(token, len);
  pthread_mutex_t *mu = &g_locks[i % STRIPES];
  pthread_mutex_lock(mu);
  entry *e = &g_slots[i];
  int hit = e->not_after && now <= e->not_after && e->len == len && memcmp(e->token, token, len) == 0;
  if (hit) *out = e->claims;
  pthread_mutex_unlock(mu);
  return hit;
}

void tokens_put(const char *token, const jwt_claims *claims, int64_t not_after) {
  size_t len = strlen(token);
  if (len > TOKENS_MAX_BYTES) return;
  size_t i = slot_of(token, len);
  char *copy = malloc(len);
  if (!copy) return;
  memcpy(copy, token, len);
  pthread_mutex_t *mu = &g_locks[i % STRIPES];
  pthread_mutex_lock(mu);
  entry *e = &g_slots[i];
  char *old = e->token;
  e->token = copy;
  e->len = len;
  e->claims = *claims;
  e->not_after = not_after;
  pthread_mutex_unlock(mu);
  free(old);
}
