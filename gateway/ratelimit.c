/* ratelimit.c - token buckets per member and per org, kept in Redis (shared
 * by every gateway), taken in leases.
 *
 * A call spends a token from this process's lease for its member and its
 * org; only a lease that is empty or stale makes the gateway go to Redis, and
 * then only for that bucket, taking rate/10 tokens at first (at least 1, at
 * most a tenth of the burst), and twice as many each time the lease was
 * spent within half its life, up to half a second of the rate (at most a
 * quarter of the burst); a lease gone stale starts small again. A busy
 * member costs one Redis round trip per lease instead of one per call; a
 * quiet one (rate 5) still takes one token at a time, so small limits hold
 * exactly. Every token leased is taken from the shared bucket, so bigger
 * leases admit no more than the limit. (bench/gateway.sh, 1,000 members at
 * the default limits: leases of rate/20 had the front at 0.83x HAProxy's
 * rate, 1.04-1.10x with the limits off: its Redis round trips, not its
 * waits; rate/10, 0.96x; growing leases, 9,000 -> 4,000-4,300 round trips
 * per 40,000 calls.) Tokens left in a lease when it goes stale (LEASE_MS
 * after its last fetch) are dropped: a gateway never hoards. Redis
 * unreachable: fail open, as before.
 *
 * A lease is topped up before it runs out: the call that takes it to half
 * or below is let through and asks for a refill (ratelimit_refill, on the
 * front's limiter threads), so a member calling steadily finds tokens on
 * hand and waits for Redis only when the refill falls behind. */
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "gateway.h"
#include "hash.h"
#include "metrics.h"
#include "redis.h"

#define LEASE_MS 1000
#define LEASE_BUCKETS 2048
#define LEASE_WAYS 4

/* Takes up to ARGV[5] tokens from KEYS[1] (rate ARGV[1], burst ARGV[2]) and
 * up to ARGV[6] from KEYS[2] (ARGV[3], ARGV[4]); a want of 0 leaves that
 * bucket alone (this gateway still holds a lease of it). At least one token
 * from each bucket asked, or none: returns {member tokens, org tokens}, or
 * -1 member / -2 org limited. The clock is Redis's. */
static redis_script lease_script = {.source =
    "local t = redis.call('TIME')\n"
    "local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)\n"
    "local function level(key, rate, burst)\n"
    "  local b = redis.call('HMGET', key, 't', 'ts')\n"
    "  local tokens = tonumber(b[1]) or burst\n"
    "  local ts = tonumber(b[2]) or now\n"
    "  return math.min(burst, tokens + (now - ts) * rate / 1000)\n"
    "end\n"
    "local wm, wo = tonumber(ARGV[5]), tonumber(ARGV[6])\n"
    "local m, o = 0, 0\n"
    "if wm > 0 then m = level(KEYS[1], tonumber(ARGV[1]), tonumber(ARGV[2])) end\n"
    "if wo > 0 then o = level(KEYS[2], tonumber(ARGV[3]), tonumber(ARGV[4])) end\n"
    "if wm > 0 and m < 1 then return -1 end\n"
    "if wo > 0 and o < 1 then return -2 end\n"
    "local gm, go = 0, 0\n"
    "if wm > 0 then\n"
    "  gm = math.min(math.floor(m), wm)\n"
    "  redis.call('HSET', KEYS[1], 't', m - gm, 'ts', now)\n"
    "  redis.call('PEXPIRE', KEYS[1], 120000)\n"
    "end\n"
    "if wo > 0 then\n"
    "  go = math.min(math.floor(o), wo)\n"
    "  redis.call('HSET', KEYS[2], 't', o - go, 'ts', now)\n"
    "  redis.call('PEXPIRE', KEYS[2], 120000)\n"
    "end\n"
    "return {gm, go}\n"};

typedef struct lease {
  char key[300];   /* "m:<org>/<user>" or "o:<org>" */
  long tokens;
  long size;       /* what the next fetch asks for; 0: the base size */
  int64_t until_ms;
  int64_t refill_until_ms;   /* a refill was asked and is not due back before this */
} lease;

static lease g_lease[LEASE_BUCKETS][LEASE_WAYS];
static pthread_mutex_t g_mu = PTHREAD_MUTEX_INITIALIZER;

static int live(const lease *l, int64_t now) { return l->tokens > 0 && l->until_ms > now; }

/* bucket: the ways |key|'s lease may take; found: its lease among them, or
 * NULL when this process holds none. */
static lease *bucket(const char *key) { return g_lease[hash_str(HASH_INIT, key) % LEASE_BUCKETS]; }

static lease *found(lease *b, const char *key) {
  for (int i = 0; i < LEASE_WAYS; i++)
    if (!strcmp(b[i].key, key)) return &b[i];
  return NULL;
}

/* slot finds |key|'s lease in its bucket, or gives it the place of a spent
 * or stale one, or else of the live one that goes stale first (never
 * |keep|'s). Each live lease given up drops tokens taken from Redis: with
 * one lease per slot, 1,000 members and 50 orgs in 4,096 slots collided so
 * often (an org's lease of 50 tokens dropped at each call of a member
 * sharing its slot) that orgs well under their limit were refused
 * (bench/gateway.sh: 25 of 40,000 calls). */
static lease *slot(const char *key, int64_t now, const lease *keep) {
  lease *b = bucket(key), *l = found(b, key);
  if (l) return l;
  for (int i = 0; i < LEASE_WAYS; i++) {
    if (&b[i] == keep) continue;
    if (!live(&b[i], now)) {
      l = &b[i];
      break;
    }
    if (!l || b[i].until_ms < l->until_ms) l = &b[i];
  }
  snprintf(l->key, sizeof l->key, "%s", key);
  l->tokens = 0;
  l->size = 0;
  l->until_ms = 0;
  l->refill_until_ms = 0;
  return l;
}

/* A bucket's leases: |base| tokens at first, doubled while its caller
 * spends them fast, up to |cap|. */
typedef struct sizing {
  long base, cap;
} sizing;

/* lease_sizing: the base is rate/10 (at least 1, at most a tenth of the
 * burst); the cap half a second of the rate, at most a quarter of the
 * burst. Bigger leases admit no more than the bucket holds (their tokens
 * are taken from it): they cost what a lease left unspent costs, dropped
 * when stale, and a member calling through several gateways finds more of
 * its bucket held by the others. */
static sizing lease_sizing(double rate, double burst) {
  double base = rate / 10, cap = rate / 2;
  if (base > burst / 10) base = burst / 10;
  if (cap > burst / 4) cap = burst / 4;
  sizing z = {base < 1 ? 1 : (long)base, 0};
  z.cap = cap < (double)z.base ? z.base : (long)cap;
  return z;
}

static long size_of(const lease *l, sizing z) { return l->size ? l->size : z.base; }

/* grow doubles |l|'s next lease (up to the cap): it was spent, or half
 * spent, within half a lease's life. Leases of one token never grow: a
 * small limit is taken a token at a time, exactly. */
static void grow(lease *l, sizing z, int64_t now) {
  int64_t filled = l->until_ms - LEASE_MS;
  if (z.base < 2 || now - filled >= LEASE_MS / 2) return;
  long n = size_of(l, z) * 2;
  l->size = n > z.cap ? z.cap : n;
}

/* low: |l| is at half its size or below and no refill of it is out; the
 * refill is then counted as out (for LEASE_MS at most: a refill that never
 * comes back does not stop the next). Leases of one token are never topped
 * up. */
static int low(lease *l, sizing z, int64_t now) {
  long size = size_of(l, z);
  if (size < 2 || l->tokens * 2 > size || l->refill_until_ms > now) return 0;
  grow(l, z, now);
  l->refill_until_ms = now + LEASE_MS;
  return 1;
}

/* take spends one token of each lease if both hold one; else says which
 * must be fetched. With |refill|, a lease left low after the take is
 * marked in it (RL_MEMBER, RL_ORG) for ratelimit_refill. */
static int take(const gateway *g, const char *mkey, const char *okey, int64_t now, int *need_m, int *need_o,
                int *refill) {
  pthread_mutex_lock(&g_mu);
  lease *m = slot(mkey, now, NULL), *o = slot(okey, now, m);
  sizing zm = lease_sizing(g->member_rate, g->member_burst), zo = lease_sizing(g->org_rate, g->org_burst);
  *need_m = !live(m, now);
  *need_o = !live(o, now);
  int ok = !*need_m && !*need_o;
  if (ok) {
    m->tokens--;
    o->tokens--;
    if (refill) {
      *refill = 0;
      if (low(m, zm, now)) *refill |= RL_MEMBER;
      if (low(o, zo, now)) *refill |= RL_ORG;
    }
  }
  /* An empty lease still fresh was outpaced: the next is bigger. */
  if (*need_m && m->until_ms > now) grow(m, zm, now);
  if (*need_o && o->until_ms > now) grow(o, zo, now);
  pthread_mutex_unlock(&g_mu);
  return ok;
}

/* add puts |tokens| into |key|'s lease (to what it holds, if still fresh:
 * concurrent fetches add up, nothing taken from Redis is thrown away early). */
static void add(const char *key, long tokens, int64_t now) {
  pthread_mutex_lock(&g_mu);
  lease *l = slot(key, now, NULL);
  if (l->until_ms <= now) l->size = 0;   /* stale: its caller paused; start small again */
  l->tokens = l->until_ms > now ? l->tokens + tokens : tokens;
  l->until_ms = now + LEASE_MS;
  l->refill_until_ms = 0;
  pthread_mutex_unlock(&g_mu);
}

/* refilled: a refill of |key| came back with nothing (its bucket is empty,
 * or Redis failed); the next low take may ask again. A lease given up
 * meanwhile has no mark left to clear (and no other lease is given up for
 * it). */
static void refilled(const char *key) {
  pthread_mutex_lock(&g_mu);
  lease *l = found(bucket(key), key);
  if (l) l->refill_until_ms = 0;
  pthread_mutex_unlock(&g_mu);
}

/* want: the size of |key|'s next lease. */
static long want(const char *key, sizing z) {
  pthread_mutex_lock(&g_mu);
  lease *l = found(bucket(key), key);
  long n = l ? size_of(l, z) : z.base;
  pthread_mutex_unlock(&g_mu);
  return n;
}

/* The lease keys of |id|'s member and org buckets. */
static void lease_keys(const identity *id, char mkey[300], char okey[300]) {
  snprintf(mkey, 300, "m:%s/%s", id->org, id->user);
  snprintf(okey, 300, "o:%s", id->org);
}

int ratelimit_take_local(const gateway *g, const identity *id, int *refill) {
  *refill = 0;
  if (g->member_rate <= 0 && g->org_rate <= 0) return 1;   /* limits off */
  char mkey[300], okey[300];
  int need_m, need_o;
  lease_keys(id, mkey, okey);
  return take(g, mkey, okey, rpc_now_ms(), &need_m, &need_o, refill);
}

/* fetch asks Redis for a lease of the member's bucket (|want_m|) and of the
 * org's (|want_o|) and adds what it grants to the leases held. Returns 1
 * when granted, 0 when Redis failed (fail open), -1 / -2 when the member's
 * / the org's bucket is empty. */
static int fetch(const gateway *g, const identity *id, const char *mkey, const char *okey, int want_m,
                 int want_o, int64_t now) {
  char mk[300], ok[200], a[6][32];
  snprintf(mk, sizeof mk, "rl:{%s}:member:%s", id->org, id->user);
  snprintf(ok, sizeof ok, "rl:{%s}:org", id->org);
  snprintf(a[0], sizeof a[0], "%g", g->member_rate);
  snprintf(a[1], sizeof a[1], "%g", g->member_burst);
  snprintf(a[2], sizeof a[2], "%g", g->org_rate);
  snprintf(a[3], sizeof a[3], "%g", g->org_burst);
  snprintf(a[4], sizeof a[4], "%ld", want_m ? want(mkey, lease_sizing(g->member_rate, g->member_burst)) : 0L);
  snprintf(a[5], sizeof a[5], "%ld", want_o ? want(okey, lease_sizing(g->org_rate, g->org_burst)) : 0L);
  const char *argv[] = {mk, ok, a[0], a[1], a[2], a[3], a[4], a[5]};
  metrics_count("accolade_gateway_ratelimit_redis_calls_total", "", 1);
  redisReply *r = redis_eval(&lease_script, 2, 8, argv);
  if (!r || (r->type != REDIS_REPLY_INTEGER && (r->type != REDIS_REPLY_ARRAY || r->elements != 2))) {
    if (r) freeReplyObject(r);
    return 0;
  }
  if (r->type == REDIS_REPLY_INTEGER) {
    int v = r->integer == -1 ? -1 : -2;
    freeReplyObject(r);
    return v;
  }
  if (want_m) add(mkey, (long)r->element[0]->integer, now);
  if (want_o) add(okey, (long)r->element[1]->integer, now);
  freeReplyObject(r);
  return 1;
}

const char *ratelimit_take(const gateway *g, const identity *id) {
  if (g->member_rate <= 0 && g->org_rate <= 0) return NULL;   /* limits off */
  char mkey[300], okey[300];
  lease_keys(id, mkey, okey);
  /* Another thread may spend what we fetched before we do: try again. */
  for (int attempt = 0; attempt < 4; attempt++) {
    int64_t now = rpc_now_ms();
    int need_m, need_o;
    if (take(g, mkey, okey, now, &need_m, &need_o, NULL)) return NULL;
    int got = fetch(g, id, mkey, okey, need_m, need_o, now);
    /* Fail open: an unreachable rate limiter must not take the API down. */
    if (got == 0) return NULL;
    if (got == -1) return "rate limit: too many requests for this member, slow down";
    if (got == -2) return "rate limit: too many requests for this org, slow down";
  }
  return NULL;   /* still contended after four leases: let this one through */
}

void ratelimit_refill(const gateway *g, const identity *id, int refill) {
  char mkey[300], okey[300];
  lease_keys(id, mkey, okey);
  int64_t now = rpc_now_ms();
  metrics_count("accolade_gateway_ratelimit_refills_total", "", 1);
  if (fetch(g, id, mkey, okey, refill & RL_MEMBER, refill & RL_ORG, now) == 1) return;
  /* An empty bucket or no Redis: the leases run out and the next call
   * fetches (and is refused, or let through) as before. */
  if (refill & RL_MEMBER) refilled(mkey);
  if (refill & RL_ORG) refilled(okey);
}

int ratelimit_check(rpc_ctx *ctx, const gateway *g, const identity *id) {
  const char *why = ratelimit_take(g, id);
  return why ? rpc_fail(ctx, RPC_RESOURCE_EXHAUSTED, "%s", why) : RPC_OK;
}
