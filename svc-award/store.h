/* store.h - svc-award's SQL, the only place that knows the schema: badges,
 * awards, milestone rules, credentials and analytics here; signals in
 * store_signal.h, journeys in store_journey.h (store_*.c: every file that
 * holds SQL says so by its name).
 *
 * Functions return pg codes (RPC_OK, RPC_NOT_FOUND, RPC_ALREADY_EXISTS,
 * RPC_UNAVAILABLE, ...). Messages they fill come from ctx->arena. Every query
 * is scoped by org. Transactions are the caller's (pg_tx).
 */
#ifndef AWARD_STORE_H
#define AWARD_STORE_H

#include <stddef.h>
#include <stdint.h>

#include "accolade/v1/award.pb-c.h"
#include "accolade/v1/credential.pb-c.h"
#include "rpc.h"

/* store_ensure_org creates the org's default badges the first time it is seen. */
int store_ensure_org(const char *org);

int store_badge_get(rpc_ctx *ctx, const char *org, const char *id, Accolade__V1__Badge **out);
int store_badge_insert(rpc_ctx *ctx, const char *org, const Accolade__V1__Badge *b,
                       Accolade__V1__Badge **out);
/* store_badge_update writes every mutable field of |b| (already merged). */
int store_badge_update(rpc_ctx *ctx, const char *org, const Accolade__V1__Badge *b,
                       Accolade__V1__Badge **out);
int store_badge_list(rpc_ctx *ctx, const char *org, const char *after_id, int include_retired,
                     const char *category, int limit, Accolade__V1__Badge ***out, size_t *n);

/* store_lock_badges serialises grants of each of the |n| |badges| of one
 * org until commit (so scarcity caps hold under concurrency), and
 * store_lock_recipients grants to each of the |n| |recipients| (so a
 * milestone rule sees every award counted toward them). Each takes its locks
 * in one statement, in one global order (of their keys; a name listed twice
 * once), so transactions locking overlapping sets wait for each other
 * rather than deadlock. Badges first, then recipients. */
int store_lock_badges(arena *a, const char *org, const char *const *badges, size_t n);
int store_lock_recipients(arena *a, const char *org, const char *const *recipients, size_t n);
int store_award_find(rpc_ctx *ctx, const char *org, const char *source_id,
                     const char *recipient_id, Accolade__V1__Award **out);
/* store_cap_count counts unrevoked awards of |badge_id| in the current
 * |period| (CapPeriod) for a recipient, or for a team when |team| is set. */
int store_cap_count(const char *org, const char *badge_id, const char *recipient_id,
                    const char *team, int period, int64_t *count);

typedef struct award_new {
  const char *badge_id;
  const char *recipient_id, *recipient_team;
  const char *recipient_name;      /* NULL or "": the last known */
  const char *giver_id, *giver_team;
  const char *source_id;
  const char *justification;
  int public;
  const char *milestone_rule_id;   /* NULL unless a milestone */
  const char *const *evidence;     /* links, |nevidence| of them */
  size_t nevidence;
} award_new;

/* store_award_insert returns RPC_ALREADY_EXISTS when (source, recipient) has one. */
int store_award_insert(rpc_ctx *ctx, const char *org, const award_new *a, Accolade__V1__Award **out);
/* store_award_insert_many inserts the |n| awards |a| in one statement, in
 * their order: |out[i]| the award made of |a[i]|, or NULL when (source,
 * recipient) already had one (a pair listed twice: the first). */
int store_award_insert_many(rpc_ctx *ctx, const char *org, const award_new *a, size_t n, Accolade__V1__Award **out);
/* store_award_find_many: |out[i]| the award of (|sources[i]|,
 * |recipients[i]|), or NULL, for each of the |n| pairs, in one query. */
int store_award_find_many(rpc_ctx *ctx, const char *org, const char *const *sources, const char *const *recipients,
                          size_t n, Accolade__V1__Award **out);
int store_award_get(rpc_ctx *ctx, const char *org, const char *id, Accolade__V1__Award **out);
/* store_award_revoke: RPC_NOT_FOUND, or RPC_FAILED_PRECONDITION if already
 * revoked (*out the award as it is). */
int store_award_revoke(rpc_ctx *ctx, const char *org, const char *id, const char *reason,
                       Accolade__V1__Award **out);

typedef struct award_filter {
  const char *recipient_id, *badge_id, *category, *team;
  int64_t start_ms, end_ms;
  int include_revoked, public_only, milestones_only;
  int has_cursor;
  int64_t cursor_us;
  const char *cursor_id;
} award_filter;

/* store_award_list: newest first, keyset paged; |cursors| get each row's
 * position (granted_at in microseconds) for the next page token. */
int store_award_list(rpc_ctx *ctx, const char *org, const award_filter *f, int limit,
                     Accolade__V1__Award ***out, int64_t **cursors, size_t *n);

int store_rule_insert(rpc_ctx *ctx, const char *org, const Accolade__V1__Rule *r,
                      Accolade__V1__Rule **out);
/* store_rule_get / store_rule_update (every field of |r|, by r->id): a
 * deleted rule is NOT_FOUND. */
int store_rule_get(rpc_ctx *ctx, const char *org, const char *id, Accolade__V1__Rule **out);
int store_rule_update(rpc_ctx *ctx, const char *org, const Accolade__V1__Rule *r, Accolade__V1__Rule **out);
int store_rule_list(rpc_ctx *ctx, const char *org, int64_t after_us, const char *after_id, int limit,
                    Accolade__V1__Rule ***out, int64_t **cursors, size_t *n);
/* store_rule_delete soft-deletes: earned milestones keep their rule. */
int store_rule_delete(const char *org, const char *id);
/* store_rule_progress: the member's count (or points) toward |r| now. */
int store_rule_progress(const char *org, const Accolade__V1__Rule *r, const char *member,
                        int64_t *current);

/* store_profile_read fills the stored part of |out| in one round trip
 * (migration 007): the member's live awards by badge (from the totals the
 * award table's trigger keeps, migration 006), most awarded first, with
 * their sums; the |recent| latest live awards and up to |milestones| live
 * milestones, newest first; and in |has| whether the org has milestone
 * rules, signal rules and journeys at all (the rest of a profile). */
typedef struct profile_has {
  int rules, signal_rules, journeys;
} profile_has;
int store_profile_read(rpc_ctx *ctx, const char *org, const char *member, int recent, int milestones,
                       Accolade__V1__Profile *out, profile_has *has);

/* Award analytics over [start_ms, end_ms), optionally one team. */
/* store_stats_by: awards and points per badge, category or recipient team. */
typedef enum store_stats_group { STATS_BY_BADGE, STATS_BY_CATEGORY, STATS_BY_TEAM } store_stats_group;
int store_stats_by(rpc_ctx *ctx, const char *org, store_stats_group by, int64_t start_ms,
                   int64_t end_ms, const char *team, Accolade__V1__CountBy ***out, size_t *n);
int store_stats_weekly(rpc_ctx *ctx, const char *org, int64_t start_ms, int64_t end_ms,
                       const char *team, Accolade__V1__WeekCount ***out, size_t *n);
/* store_stats_points: points per recipient (for inequality), totals, cross-team share. */
int store_stats_points(rpc_ctx *ctx, const char *org, int64_t start_ms, int64_t end_ms,
                       const char *team, double **points, size_t *n, int64_t *awards,
                       int64_t *cross, int64_t *with_giver_team);

/* Credentials. store_issuer_get: RPC_NOT_FOUND when the org set no profile. */
int store_issuer_get(rpc_ctx *ctx, const char *org, Accolade__V1__IssuerProfile **out);
int store_issuer_put(const char *org, const Accolade__V1__IssuerProfile *p);
/* store_credential_slot: the award's recipient salt and status-list bit, fixed
 * by the first call (which stores |new_salt| and takes the org's next bit, in
 * a transaction of its own); RPC_NOT_FOUND for no such award. */
int store_credential_slot(rpc_ctx *ctx, const char *org, const char *award_id, const char *new_salt, char **salt,
                          int64_t *index);
/* store_status_revoked: the bits of revoked awards (ascending) and the next
 * free bit of the org's status list. */
int store_status_revoked(rpc_ctx *ctx, const char *org, int64_t **idx, size_t *n, int64_t *next);
/* store_pref_get: 0 (export allowed) when the member set nothing. */
int store_pref_get(const char *org, const char *member, int *export_disabled);
int store_pref_put(const char *org, const char *member, int export_disabled);

#endif
