/* store.h - svc-nomination's SQL. Codes as in pg.h; messages in ctx->arena. */
#ifndef NOMINATION_STORE_H
#define NOMINATION_STORE_H

#include <libpq-fe.h>
#include <stdint.h>

#include "accolade/v1/nomination.pb-c.h"
#include "rpc.h"

int store_settings(rpc_ctx *ctx, const char *org, Accolade__V1__OrgSettings **out);
int store_settings_put(const char *org, const Accolade__V1__OrgSettings *s);
/* store_time_zone_known: whether Postgres knows |tz| (pg_timezone_names). */
int store_time_zone_known(const char *tz, int *known);

int store_member_upsert(const char *org, const Accolade__V1__Member *m);
int store_member_get(rpc_ctx *ctx, const char *org, const char *user, Accolade__V1__Member **out);
/* store_members_get: the members |users| (n of them) in one query, (*out)[i]
 * for users[i], NULL where there is none. */
int store_members_get(rpc_ctx *ctx, const char *org, const char *const *users, size_t n,
                      Accolade__V1__Member ***out);
/* store_members_later queues the same read (pg_query_later: its rows come
 * with the transaction's next read); store_members_of makes them the
 * members as store_members_get gives them, and frees |r|. */
int store_members_later(rpc_ctx *ctx, const char *org, const char *const *users, size_t n, PGresult **out);
int store_members_of(rpc_ctx *ctx, PGresult *r, size_t n, Accolade__V1__Member ***out);
int store_member_list(rpc_ctx *ctx, const char *org, const char *team, int include_inactive,
                      const char *after, int limit, Accolade__V1__Member ***out, size_t *n);
/* store_member_set_active (de)activates a member: NOT_FOUND when there is none. */
int store_member_set_active(rpc_ctx *ctx, const char *org, const char *user, int active,
                            Accolade__V1__Member **out);

int store_lock_nominator(const char *org, const char *user);
int store_nomination_get(rpc_ctx *ctx, const char *org, const char *id, int for_update,
                         Accolade__V1__Nomination **out);
/* What a new nomination is checked against, read in one query (under the
 * nominator's lock): the nomination already made with the request id (its
 * id, "" if none), whether an identical one is open, the org's allowance and
 * pair cap, the nominations used this month (and when that resets) and, for
 * each of the nominees, how often they were nominated by the nominator this
 * quarter. */
typedef struct nom_checks {
  const char *replay_id;
  int duplicate, allowance, pair_cap, used;
  int64_t resets_ms;
  int *pairs;   /* one per nominee */
} nom_checks;
int store_nomination_checks(rpc_ctx *ctx, const char *org, const char *nominator, const char *request_id,
                            const char *badge, const char *nominee_key, const char *const *nominees, size_t n,
                            nom_checks *out);
/* store_used_this_month: the nominations counted against the allowance in
 * the current UTC month. */
int store_used_this_month(const char *org, const char *nominator, int *used, int64_t *resets_ms);

typedef struct nom_new {
  const char *request_id, *nominator, *nominator_team, *badge_id, *badge_name, *justification;
  const char *const *evidence;
  size_t nevidence;
  int public_;
  const char *nominee_key;
  const char *const *nominees, *const *nominee_teams;
  size_t nnominees;
} nom_new;
int store_nomination_insert(rpc_ctx *ctx, const char *org, const nom_new *n, Accolade__V1__Nomination **out);
/* store_nomination_not_awarded notes that |user| got no award from the
 * approval of nomination |id| (idempotent). */
int store_nomination_not_awarded(const char *org, const char *id, const char *user);
/* store_nomination_decide decides nomination |id|; the UPDATE goes with the
 * transaction's next statement (pg_exec_later). */
int store_nomination_decide(const char *org, const char *id, int status, const char *reviewer,
                            const char *comment);
/* store_decision_people_later queues (pg_query_later) the read of the
 * people a decision on nomination |id| names: its nominator, its nominees
 * and |reviewer|, and the transaction's time; store_decision_people makes
 * of its rows, for nomination |n| as read in the same transaction, the
 * members as store_members_get gives them for the nominator, the nominees
 * (in |n|'s order) and the reviewer (NULL where there is none), the
 * nominees' teams recorded on the nomination, and the decision's time
 * (what store_nomination_decide writes), and frees |r|. */
int store_decision_people_later(const char *org, const char *id, const char *reviewer, PGresult **out);
int store_decision_people(rpc_ctx *ctx, PGresult *r, const Accolade__V1__Nomination *n, Accolade__V1__Member ***ms,
                          char ***teams, int64_t *now_ms);
/* store_nomination_settle decides nomination |id| (|status|: approved or
 * rejected) and reads back, in one statement, its decision time and its
 * nominees' teams (at nomination, in user id order; n of them). */
int store_nomination_settle(rpc_ctx *ctx, const char *org, const char *id, int status, const char *reviewer,
                            const char *comment, int64_t *decided_ms, char ***teams, size_t *n);
int store_nomination_list(rpc_ctx *ctx, const char *org, const char *user, int role, int status,
                          const char *badge, int64_t after_us, const char *after_id, int limit,
                          Accolade__V1__Nomination ***out, int64_t **cursors, size_t *n);
int store_endorse(const char *org, const char *id, const char *user, const char *comment, int64_t *count);
int store_reflect(const char *org, const char *id, const char *user, const char *text);
/* store_reflections: the reflections on those of |ids| (n of them) that are
 * approved nominations, public ones only unless |include_private|, oldest first. */
int store_reflections(rpc_ctx *ctx, const char *org, const char *const *ids, size_t n, int include_private,
                      Accolade__V1__Reflection ***out, size_t *nout);
/* store_index_doc (re)indexes an approved public nomination for search. */
int store_index_doc(const char *org, const char *id);
/* store_index_approved indexes a public nomination being approved, whose
 * document is its |justification| (reflections come after an approval):
 * one VALUES row, nothing read or planned beyond it. */
int store_index_approved(const char *org, const char *id, const char *justification);
int store_search(rpc_ctx *ctx, const char *org, const Accolade__V1__SearchRecognitionsRequest *r, int limit,
                 Accolade__V1__SearchHit ***out, size_t *n);

/* The scheduler's (scheduler.c). store_overdue_due: up to 100 pending
 * nominations past their org's overdue_days with no reminder yet (in |a|). */
typedef struct store_overdue {
  const char *id, *org;
  int64_t days;   /* pending this many days */
} store_overdue;
int store_overdue_due(arena *a, store_overdue **out, size_t *n);
/* store_overdue_claim records the reminder of nomination |id| (in the
 * caller's transaction): |*fresh| is 0 when it was recorded before. */
int store_overdue_claim(const char *id, int *fresh);
/* store_nudges_due: the orgs not yet nudged this ISO week whose nudge_after_weeks
 * is on, each with the active members (up to 500, by id) who have not
 * nominated anyone for that many weeks (in |a|). */
typedef struct store_nudge {
  const char *org, *week;
  int64_t weeks_quiet;
  char **members;
  size_t nmembers;
} store_nudge;
int store_nudges_due(arena *a, store_nudge **out, size_t *n);
/* store_nudge_sent records the org's nudge of |week| (PG_DUPLICATE: sent). */
int store_nudge_sent(const char *org, const char *week, size_t members);

/* store_participation: the raw counts of GetParticipationStats over the
 * nominations created in [start_ms, end_ms) of |org| (|team|'s members when
 * not ""), and the nominations per week; stats.c makes the shares. */
typedef struct store_participation_counts {
  int64_t nominations, active_members, nominators, nominees, approved, decided, reciprocal_pairs, never_recognized;
  int64_t cross_team, with_teams;                 /* cross-team nominee pairs, of those with both teams */
  int64_t remote_recognized, recognized, remote_members;
  double median_hours_to_review;
  char **never_recognized_sample;                 /* up to 50, by id */
  size_t n_never_recognized_sample;
  Accolade__V1__PeriodCount **weekly;
  size_t n_weekly;
} store_participation_counts;
int store_participation(rpc_ctx *ctx, const char *org, int64_t start_ms, int64_t end_ms, const char *team,
                        store_participation_counts *out);

#endif
