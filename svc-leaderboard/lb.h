/* lb.h - svc-leaderboard's handlers and shared pieces.
 *
 * Decisions:
 * - The Postgres ledger (unique on award_id) is the truth; Redis holds boards
 *   derived from it. RecordAward commits the ledger row and applies the award
 *   to every board with one Lua script in the same transaction, under a shared
 *   per-org advisory lock that RebuildLeaderboards takes exclusively: an award
 *   recorded during a rebuild waits for it (the outbox retries on a timeout),
 *   so nothing is lost or counted twice.
 * - RecordAwards (svc-award's outbox batches, batch.h): the same for many
 *   awards in one transaction, new ones inserted by one statement and marked
 *   applied by one; the awards in id order, so batches sharing one cannot
 *   deadlock.
 * - The script is idempotent by itself: it records the award id in a per-org
 *   marker set until the ledger says "applied", so a crash between Redis and
 *   the commit cannot double-count.
 * - Redis down: the ledger row commits with applied = false and the call
 *   succeeds; a repair thread applies pending rows when Redis is back, and
 *   rebuilds every org when it finds Redis was flushed (the epoch key is gone).
 * - A retraction that arrives before its award leaves a tombstone; the award,
 *   when it comes, is then recorded as already retracted.
 * - Rebuild (rebuild.c): the ledger in memory (tally.h), every board written
 *   as a new generation of keys and switched to with one SET (gen.h), so
 *   Redis is never held for the length of a big org's swap.
 * - Ties: see boards.h. Retraction keeps an entry's tie-break time.
 * - The rolling 30 days: see boards.h; reads materialize a window from its
 *   day buckets once (one Lua script), and every write after that updates
 *   the materialized window too, so it never goes stale.
 * - Display data: each award carries the recipient's name; the latest is
 *   kept per org in one hash (lb:{org}:who, "team\tname") that GetTop reads.
 * - Reads answer UNAVAILABLE while Redis is unreachable.
 */
#ifndef LEADERBOARD_LB_H
#define LEADERBOARD_LB_H

#include "accolade/v1/events.pb-c.h"
#include "accolade/v1/leaderboard.pb-c.h"
#include "rpc.h"

#define LB_EPOCH_KEY "accolade:lb:epoch"

int lb_record(rpc_ctx *ctx, const void *req, void *resp);
int lb_record_many(rpc_ctx *ctx, const void *req, void *resp);   /* RecordAwards */
int lb_retract(rpc_ctx *ctx, const void *req, void *resp);
int lb_get_top(rpc_ctx *ctx, const void *req, void *resp);
int lb_get_rank(rpc_ctx *ctx, const void *req, void *resp);
int lb_get_around(rpc_ctx *ctx, const void *req, void *resp);
int lb_rebuild(rpc_ctx *ctx, const void *req, void *resp);

/* settings.c. lb_config_load reads the retention settings (ACCOLADE_LEADERBOARD_
 * RETENTION_DAYS for windowed boards, default 400; ..._DAY_RETENTION_DAYS for
 * the daily buckets, default 62, at least 30). */
void lb_config_load(void);
/* lb_board_ttl: seconds a board of |window| lives after its last write (0: forever). */
long lb_board_ttl(int window);

/* lb_rebuild_org recomputes one org's boards (in its own transaction). */
int lb_rebuild_org(const char *org, int64_t *awards, int64_t *boards);
/* lb_drop_leftovers drops, for every org, what is left of the generation
 * before the live one (a process stopped while dropping it). 0, or -1 when
 * Redis or Postgres is unreachable. */
int lb_drop_leftovers(void);
/* lb_rebuild_wait_drops waits (up to 2 s) for old generations being
 * dropped in the background (a stopping process). */
void lb_rebuild_wait_drops(void);
/* lb_repair_start / stop: the thread applying pending ledger rows. */
void lb_repair_start(void);
/* lb_stopping: the process is shutting down (a rebuild gives up);
 * lb_set_stopping is the repair thread's (settings.c). */
int lb_stopping(void);
void lb_set_stopping(int stopping);
void lb_repair_stop(void);
/* lb_apply_pending applies every pending ledger row once; returns how many
 * rows were handled or -1 (Redis or Postgres unreachable). */
int lb_apply_pending(void);

#endif
