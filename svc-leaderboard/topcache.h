/* topcache.h - a short-lived in-process cache of encoded GetTop replies.
 *
 * Hot boards (the org's all-time and weekly top ten) are read far more often
 * than they change. A reply is kept for ACCOLADE_LEADERBOARD_CACHE_MS
 * (default 250, 0 turns the cache off) and dropped at once when this process
 * writes any board; writes through another replica show within that time.
 */
#ifndef LEADERBOARD_TOPCACHE_H
#define LEADERBOARD_TOPCACHE_H

#include <stddef.h>
#include <stdint.h>

#include "arena.h"

void topcache_init(void);
/* topcache_get copies the live reply under |key| into |a|: 1 hit, 0 miss. */
int topcache_get(const char *key, arena *a, const uint8_t **buf, size_t *len);
/* topcache_gen is read before computing a reply and handed to topcache_put,
 * so that a reply computed before a write is never stored as current. */
unsigned topcache_gen(void);
void topcache_put(const char *key, unsigned gen, const uint8_t *buf, size_t len);
/* topcache_invalidate drops every entry (a board changed). */
void topcache_invalidate(void);

#endif
