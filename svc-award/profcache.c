/* profcache.c - see profcache.h. A fixed table of buckets, one lock each,
 * of WAYS copies each (members whose hashes collide share a bucket; the
 * oldest copy gives way); the bytes held are counted, and a clock over the
 * copies drops them to make room. */
#include "profcache.h"

#include <openssl/rand.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "hash.h"
#include "hex.h"
#include "redis.h"
#include "clock.h"

#define BUCKETS 4096
#define WAYS 4
#define TOKEN_TTL_S "604800"   /* 7 days */

typedef struct copy {
  char *key;      /* "org\nmember", then the copy's bytes (buf) */
  profcache_tokens tok;
  uint8_t *buf;
  size_t len, size;   /* size: what it counts against the budget */
  int64_t expires_us;
} copy;

typedef struct bucket {
  pthread_mutex_t mu;
  copy c[WAYS];
} bucket;

static bucket g_buckets[BUCKETS];
static atomic_size_t g_bytes, g_hand;
static size_t g_budget = 16u << 20;
static int64_t g_ttl_us = 60 * 1000000LL;


static pthread_once_t g_once = PTHREAD_ONCE_INIT;

static void init_locks(void) {
  for (int i = 0; i < BUCKETS; i++) pthread_mutex_init(&g_buckets[i].mu, NULL);
}

void profcache_config(size_t bytes, int64_t ttl_ms) {
  pthread_once(&g_once, init_locks);
  g_budget = bytes;
  g_ttl_us = ttl_ms > 0 ? ttl_ms * 1000 : 0;
}

void profcache_init(const config *cfg) {
  const char *b = config_str(cfg, "redis", "ACCOLADE_REDIS", NULL) ? getenv("ACCOLADE_AWARD_PROFILE_CACHE_BYTES") : "0";
  const char *ms = getenv("ACCOLADE_AWARD_PROFILE_CACHE_MS");
  profcache_config(b ? (size_t)strtoull(b, NULL, 10) : g_budget, ms ? atoll(ms) : g_ttl_us / 1000);
}

size_t profcache_bytes(void) { return atomic_load(&g_bytes); }

static int enabled(void) { return g_budget > 0 && g_ttl_us > 0; }

/* --------------------------------------------------------------- tokens */

static void member_key(char *out, size_t cap, const char *org, const char *member) {
  snprintf(out, cap, "aw:{%s}:pv:%s", org, member);
}
static void org_key(char *out, size_t cap, const char *org) { snprintf(out, cap, "aw:{%s}:pv", org); }

/* A fresh token: 128 random bits (openssl), in hex. Tokens must never
 * repeat, also across a Redis that lost its keys and counts again. */
static void new_token(char out[33]) {
  unsigned char b[16];
  if (RAND_bytes(b, sizeof b) != 1) hex_random(out, 16);   /* not expected; still unlikely to repeat */
  else hex_encode(out, b, sizeof b);
}

static int copy_token(const redisReply *r, char out[33]) {
  if (!r || r->type != REDIS_REPLY_STRING || r->len == 0 || r->len > 32) return -1;
  memcpy(out, r->str, r->len);
  out[r->len] = '\0';
  return 0;
}

/* Both keys as they are, a missing one set to a fresh token first (NX: a
 * token set meanwhile by a write wins). One slot: the {org} tag. */
static redis_script make_tokens = {
    .source = "local r = {}\n"
              "for i, k in ipairs(KEYS) do\n"
              "  r[i] = redis.call('GET', k)\n"
              "  if not r[i] then r[i] = ARGV[i]; redis.call('SET', k, r[i], 'EX', ARGV[3]) end\n"
              "end\n"
              "return r\n",
};

static int tokens_from(const redisReply *r, profcache_tokens *t) {
  if (!r || r->type != REDIS_REPLY_ARRAY || r->elements != 2) return -1;
  return copy_token(r->element[0], t->org) || copy_token(r->element[1], t->member) ? -1 : 0;
}

int profcache_tokens_get(const char *org, const char *member, profcache_tokens *t) {
  if (!enabled()) return -1;
  char ko[300], km[450];
  org_key(ko, sizeof ko, org);
  member_key(km, sizeof km, org, member);
  redisReply *r = redis_cmd("MGET %s %s", ko, km);
  int rc = tokens_from(r, t);
  if (r) freeReplyObject(r);
  if (rc == 0) return 0;
  char fresh[2][33];
  new_token(fresh[0]);
  new_token(fresh[1]);
  const char *argv[] = {ko, km, fresh[0], fresh[1], TOKEN_TTL_S};
  r = redis_eval(&make_tokens, 2, 5, argv);
  rc = tokens_from(r, t);
  if (r) freeReplyObject(r);
  return rc;
}

/* touch_keys sets each of |keys| (one slot) to a fresh token, one round trip. */
typedef struct set_cmd {
  char tok[33];
  const char *argv[5];
} set_cmd;

static int touch_keys(int n, char **keys) {
  set_cmd *c = calloc((size_t)n, sizeof *c);
  const char *const **argv = calloc((size_t)n, sizeof *argv);
  int *argc = calloc((size_t)n, sizeof *argc);
  redisReply **out = calloc((size_t)n, sizeof *out);
  int rc = -1;
  if (c && argv && argc && out) {
    for (int i = 0; i < n; i++) {
      new_token(c[i].tok);
      const char *a[] = {"SET", keys[i], c[i].tok, "EX", TOKEN_TTL_S};
      memcpy(c[i].argv, a, sizeof a);
      argv[i] = c[i].argv;
      argc[i] = 5;
    }
    rc = redis_pipeline(n, argc, argv, out);
    for (int i = 0; rc == 0 && i < n; i++)
      if (!out[i] || out[i]->type != REDIS_REPLY_STATUS) rc = -1;
    for (int i = 0; i < n; i++)
      if (out[i]) freeReplyObject(out[i]);
  }
  free(c);
  free(argv);
  free(argc);
  free(out);
  return rc;
}

int profcache_touch_members(const char *org, const char *const *members, size_t n) {
  if (!enabled() || n == 0) return 0;
  char **keys = calloc(n, sizeof *keys);
  int rc = keys ? 0 : -1;
  for (size_t i = 0; rc == 0 && i < n; i++) {
    size_t cap = strlen(org) + strlen(members[i]) + 16;
    if (!(keys[i] = malloc(cap))) rc = -1;
    else member_key(keys[i], cap, org, members[i]);
  }
  if (rc == 0) rc = touch_keys((int)n, keys);
  for (size_t i = 0; keys && i < n; i++) free(keys[i]);
  free(keys);
  return rc;
}

int profcache_touch_org(const char *org) {
  if (!enabled()) return 0;
  char k[300];
  org_key(k, sizeof k, org);
  char *keys[] = {k};
  return touch_keys(1, keys);
}

/* --------------------------------------------------------------- copies */

static bucket *bucket_of(const char *org, const char *member) {
  return &g_buckets[hash_str(hash_str(hash_str(HASH_INIT, org), "\n"), member) % BUCKETS];
}

/* find: |org|/|member|'s copy in |b| (its lock held), or NULL. */
static copy *find(bucket *b, const char *org, const char *member) {
  size_t lo = strlen(org);
  for (int i = 0; i < WAYS; i++) {
    const char *k = b->c[i].key;
    if (k && strncmp(k, org, lo) == 0 && k[lo] == '\n' && strcmp(k + lo + 1, member) == 0) return &b->c[i];
  }
  return NULL;
}

/* copy_drop frees |c| (its bucket's lock held). */
static void copy_drop(copy *c) {
  if (!c || !c->key) return;
  atomic_fetch_sub(&g_bytes, c->size);
  free(c->key);   /* and the bytes after it */
  *c = (copy){0};
}

int profcache_get(const char *org, const char *member, const profcache_tokens *t, arena *a, const uint8_t **buf,
                  size_t *len) {
  if (!enabled()) return 0;
  bucket *b = bucket_of(org, member);
  int hit = 0;
  pthread_mutex_lock(&b->mu);
  copy *c = find(b, org, member);
  if (c && c->expires_us > clock_now_us() && !strcmp(c->tok.org, t->org) && !strcmp(c->tok.member, t->member)) {
    uint8_t *out = arena_alloc(a, c->len ? c->len : 1);
    memcpy(out, c->buf, c->len);
    *buf = out;
    *len = c->len;
    hit = 1;
  } else {
    copy_drop(c);   /* outdated for good: its tokens never come back */
  }
  pthread_mutex_unlock(&b->mu);
  return hit;
}

/* make_room drops copies on the clock until |need| more bytes fit, looking
 * at each copy once at most. A bucket another thread holds is passed over. */
static void make_room(size_t need) {
  for (int i = 0; i < BUCKETS * WAYS && atomic_load(&g_bytes) + need > g_budget; i++) {
    size_t at = atomic_fetch_add(&g_hand, 1) % (BUCKETS * WAYS);
    bucket *b = &g_buckets[at / WAYS];
    if (pthread_mutex_trylock(&b->mu) != 0) continue;
    copy_drop(&b->c[at % WAYS]);
    pthread_mutex_unlock(&b->mu);
  }
}

void profcache_put(const char *org, const char *member, const profcache_tokens *t, const uint8_t *buf, size_t len) {
  size_t klen = strlen(org) + 1 + strlen(member) + 1;
  size_t size = len + klen + sizeof(copy);
  if (!enabled() || size > g_budget / 64) return;
  char *k = malloc(klen + len);   /* the key, then the bytes: one allocation */
  if (!k) return;
  snprintf(k, klen, "%s\n%s", org, member);
  uint8_t *bytes = (uint8_t *)k + klen;
  memcpy(bytes, buf, len);
  bucket *b = bucket_of(org, member);
  pthread_mutex_lock(&b->mu);
  copy_drop(find(b, org, member));
  pthread_mutex_unlock(&b->mu);
  make_room(size);
  pthread_mutex_lock(&b->mu);
  copy *c = find(b, org, member);   /* another thread's copy may have come meanwhile */
  for (int i = 0; !c && i < WAYS; i++)
    if (!b->c[i].key) c = &b->c[i];
  if (!c) {   /* else the oldest gives way */
    c = &b->c[0];
    for (int i = 1; i < WAYS; i++)
      if (b->c[i].expires_us < c->expires_us) c = &b->c[i];
  }
  copy_drop(c);
  *c = (copy){.key = k, .tok = *t, .buf = bytes, .len = len, .size = size, .expires_us = clock_now_us() + g_ttl_us};
  atomic_fetch_add(&g_bytes, size);
  pthread_mutex_unlock(&b->mu);
}
