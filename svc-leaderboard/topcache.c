/* topcache.c - see topcache.h. A fixed table of slots, one lock each; an
 * entry is live while unexpired and of the current generation. */
#include "topcache.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "hash.h"
#include "clock.h"

#define SLOTS 512

typedef struct slot {
  pthread_mutex_t mu;
  char *key;
  uint8_t *buf;
  size_t len;
  int64_t expires_us;
  unsigned gen;
} slot;

static slot g_slots[SLOTS];
static atomic_uint g_gen;
static int64_t g_ttl_us = 250 * 1000;

static slot *slot_of(const char *key) {
  return &g_slots[hash_str(HASH_INIT, key) % SLOTS];
}

void topcache_init(void) {
  const char *ms = getenv("ACCOLADE_LEADERBOARD_CACHE_MS");
  if (ms) g_ttl_us = atol(ms) > 0 ? atol(ms) * 1000 : 0;
  for (int i = 0; i < SLOTS; i++) pthread_mutex_init(&g_slots[i].mu, NULL);
}

int topcache_get(const char *key, arena *a, const uint8_t **buf, size_t *len) {
  if (!g_ttl_us) return 0;
  slot *s = slot_of(key);
  int hit = 0;
  pthread_mutex_lock(&s->mu);
  if (s->key && s->gen == atomic_load(&g_gen) && s->expires_us > clock_now_us() && strcmp(s->key, key) == 0) {
    uint8_t *copy = arena_alloc(a, s->len ? s->len : 1);
    memcpy(copy, s->buf, s->len);
    *buf = copy;
    *len = s->len;
    hit = 1;
  }
  pthread_mutex_unlock(&s->mu);
  return hit;
}

unsigned topcache_gen(void) { return atomic_load(&g_gen); }

void topcache_put(const char *key, unsigned gen, const uint8_t *buf, size_t len) {
  if (!g_ttl_us || gen != atomic_load(&g_gen)) return;
  slot *s = slot_of(key);
  char *k = strdup(key);
  uint8_t *b = malloc(len ? len : 1);
  if (!k || !b) {
    free(k);
    free(b);
    return;
  }
  memcpy(b, buf, len);
  pthread_mutex_lock(&s->mu);
  free(s->key);
  free(s->buf);
  s->key = k;
  s->buf = b;
  s->len = len;
  s->gen = gen;
  s->expires_us = clock_now_us() + g_ttl_us;
  pthread_mutex_unlock(&s->mu);
}

void topcache_invalidate(void) { atomic_fetch_add(&g_gen, 1); }
