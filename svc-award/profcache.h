/* profcache.h - profiles kept in the process, checked against Redis at each
 * read, so that a grant or a revoke shows at the next read on every replica.
 *
 * What is kept is a profile's stored part (store_profile_read: totals by
 * badge, recent awards, milestones, and whether the org has rules, signal
 * rules or journeys), encoded. It changes only when one of the member's
 * awards is granted or revoked, or when the org's catalog changes (a badge's
 * name or category; rules, signal rules or journeys coming or going). Each
 * such write, after its commit and before its call returns, sets a fresh
 * random token in Redis: the member's (aw:{org}:pv:<member>) or the org's
 * (aw:{org}:pv). A read asks both tokens in one MGET (one slot, the {org}
 * tag) and uses a copy only if it was kept under the same two tokens; a copy
 * is kept under the tokens read before its rows were. So a copy outlives no
 * write that returned, whichever replica took the write or keeps the copy.
 * Rule, signal-rule and journey progress is never kept (it moves with
 * signals and the clock): reads.c computes it at each read.
 *
 * Failures: Redis unreachable at a read, that read goes to Postgres. A write
 * whose token cannot be set fails UNAVAILABLE after its commit (every such
 * write repeats safely: the outbox repeats GrantAward, a repeat sets the
 * token again). Copies expire after ACCOLADE_AWARD_PROFILE_CACHE_MS (default
 * 60000; 0 is off, as a budget of 0), which bounds what a failed write whose caller gives up leaves, and
 * what a change made behind the API's back (SQL by hand) leaves; tokens
 * expire after 7 days (a missing token is made anew: a miss).
 *
 * On when svc-award is told where Redis is (--redis or ACCOLADE_REDIS, as
 * scripts/run, compose.yaml and deploy/k8s do); without one, no cache and
 * no tokens. Memory: ACCOLADE_AWARD_PROFILE_CACHE_BYTES (default 16 MiB; 0
 * turns the cache and the tokens off - give every replica the same setting)
 * bounds the copies, in 4096 buckets of 4 (members whose hashes collide
 * share one; the oldest copy gives way); a copy larger than 1/64 of it is
 * not kept; copies taken in turn on a clock are dropped to make room.
 */
#ifndef AWARD_PROFCACHE_H
#define AWARD_PROFCACHE_H

#include <stddef.h>
#include <stdint.h>

#include "arena.h"
#include "config.h"

typedef struct profcache_tokens {
  char org[33], member[33];
} profcache_tokens;

/* profcache_init reads the settings (above) from |cfg| and the
 * environment; call before serving. */
void profcache_init(const config *cfg);
/* profcache_config sets the bounds directly (tests): |bytes| 0 turns it off. */
void profcache_config(size_t bytes, int64_t ttl_ms);
/* profcache_bytes: the bytes the copies hold now. */
size_t profcache_bytes(void);

/* profcache_tokens_get reads (or makes) the org's and the member's tokens:
 * 0, or -1 when the cache is off or Redis did not answer (no cache for this
 * read). */
int profcache_tokens_get(const char *org, const char *member, profcache_tokens *t);

/* profcache_get copies into |a| the copy kept for |org|/|member| under
 * exactly the tokens |t|, unexpired: 1 (*buf, *len set), else 0. */
int profcache_get(const char *org, const char *member, const profcache_tokens *t, arena *a, const uint8_t **buf,
                  size_t *len);
/* profcache_put keeps a copy of |buf| under |t| (read before its rows). */
void profcache_put(const char *org, const char *member, const profcache_tokens *t, const uint8_t *buf, size_t len);

/* profcache_touch_members gives each of |members| of |org| a fresh token, in
 * one round trip; profcache_touch_org the org's. 0, or -1 when Redis did not
 * take them (the caller fails UNAVAILABLE; its write is committed). 0 when
 * the cache is off. */
int profcache_touch_members(const char *org, const char *const *members, size_t n);
int profcache_touch_org(const char *org);

#endif
