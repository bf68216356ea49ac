/* store.c - svc-nomination's SQL. */
#include "store.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pg.h"

static char *dup(rpc_ctx *ctx, PGresult *r, int i, int c) { return arena_strdup(ctx->arena, pg_str(r, i, c)); }
static int is_true(PGresult *r, int i, int c) { return pg_str(r, i, c)[0] == 't'; }

/* ------------------------------------------------------------ settings */

int store_settings(rpc_ctx *ctx, const char *org, Accolade__V1__OrgSettings **out) {
  const char *p[] = {org};
  PGresult *r;
  int rc = pg_query(&r,
                    "SELECT allowance_per_month, pair_cap_per_quarter, blind_review, overdue_days, nudge_after_weeks, "
                    "time_zone, digest_weekday, digest_hour FROM "
                    "(SELECT * FROM org_settings WHERE org = $1 UNION ALL "
                    " SELECT $1, 5, 3, false, 7, 4, 'UTC', 1, 0) s LIMIT 1",
                    1, p);
  if (rc) return rc;
  Accolade__V1__OrgSettings *s = ARENA_NEW(ctx->arena, Accolade__V1__OrgSettings);
  accolade__v1__org_settings__init(s);
  s->allowance_per_month = (int32_t)pg_int(r, 0, 0);
  s->pair_cap_per_quarter = (int32_t)pg_int(r, 0, 1);
  s->blind_review = is_true(r, 0, 2);
  s->overdue_days = (int32_t)pg_int(r, 0, 3);
  s->nudge_after_weeks = (int32_t)pg_int(r, 0, 4);
  s->time_zone = dup(ctx, r, 0, 5);
  s->digest_weekday = (int32_t)pg_int(r, 0, 6);
  s->digest_hour = (int32_t)pg_int(r, 0, 7);
  PQclear(r);
  *out = s;
  return RPC_OK;
}

int store_settings_put(const char *org, const Accolade__V1__OrgSettings *s) {
  char a[16], b[16], d[16], w[16], wd[16], h[16];
  snprintf(a, sizeof a, "%d", s->allowance_per_month);
  snprintf(b, sizeof b, "%d", s->pair_cap_per_quarter);
  snprintf(d, sizeof d, "%d", s->overdue_days);
  snprintf(w, sizeof w, "%d", s->nudge_after_weeks);
  snprintf(wd, sizeof wd, "%d", s->digest_weekday ? s->digest_weekday : 1);
  snprintf(h, sizeof h, "%d", s->digest_hour);
  const char *p[] = {org, a, b, s->blind_review ? "true" : "false", d, w, *s->time_zone ? s->time_zone : "UTC", wd, h};
  return pg_exec("INSERT INTO org_settings (org, allowance_per_month, pair_cap_per_quarter, blind_review, overdue_days, "
                 "nudge_after_weeks, time_zone, digest_weekday, digest_hour) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) "
                 "ON CONFLICT (org) DO UPDATE SET allowance_per_month = $2, pair_cap_per_quarter = $3, blind_review = $4, "
                 "overdue_days = $5, nudge_after_weeks = $6, time_zone = $7, digest_weekday = $8, digest_hour = $9",
                 9, p);
}

int store_time_zone_known(const char *tz, int *known) {
  const char *p[] = {tz};
  PGresult *r;
  int rc = pg_query(&r, "SELECT 1 FROM pg_timezone_names WHERE name = $1", 1, p);
  if (rc) return rc;
  *known = PQntuples(r) > 0;
  PQclear(r);
  return RPC_OK;
}

/* ------------------------------------------------------------- members */

#define MEMBER_COLS "user_id, display_name, email, team, manager_id, remote, active"
/* The same columns of a member table named m (in a join), for member_row. */
#define MEMBER_COLS_M "m.user_id, m.display_name, m.email, m.team, m.manager_id, m.remote, m.active"

static Accolade__V1__Member *member_row(rpc_ctx *ctx, PGresult *r, int i) {
  Accolade__V1__Member *m = ARENA_NEW(ctx->arena, Accolade__V1__Member);
  accolade__v1__member__init(m);
  m->member_id = dup(ctx, r, i, 0);
  m->display_name = dup(ctx, r, i, 1);
  m->email = dup(ctx, r, i, 2);
  m->team = dup(ctx, r, i, 3);
  m->manager_id = dup(ctx, r, i, 4);
  m->remote = is_true(r, i, 5);
  m->active = is_true(r, i, 6);
  m->deactivated = !m->active;
  return m;
}
static void *member_item(void *arg, PGresult *r, int i) { return member_row(arg, r, i); }

int store_member_upsert(const char *org, const Accolade__V1__Member *m) {
  /* Active unless deactivated: proto3's default is an active member (Member.active is for answers). */
  const char *p[] = {org, m->member_id, m->display_name, m->email, m->team, m->manager_id,
                     m->remote ? "true" : "false", m->deactivated ? "false" : "true"};
  return pg_exec("INSERT INTO member (org, " MEMBER_COLS ") VALUES ($1,$2,$3,$4,$5,$6,$7,$8) "
                 "ON CONFLICT (org, user_id) DO UPDATE SET display_name=$3, email=$4, team=$5, manager_id=$6, "
                 "remote=$7, active=$8, updated_at=now()",
                 8, p);
}

static int member_one(rpc_ctx *ctx, const char *sql, const char *org, const char *user, Accolade__V1__Member **out) {
  const char *p[] = {org, user};
  return pg_one(sql, 2, p, member_item, ctx, out);
}

int store_member_get(rpc_ctx *ctx, const char *org, const char *user, Accolade__V1__Member **out) {
  return member_one(ctx, "SELECT " MEMBER_COLS " FROM member WHERE org=$1 AND user_id=$2", org, user, out);
}

#define MEMBERS_SQL \
  "SELECT " MEMBER_COLS ", u.i FROM unnest($2::text[]) WITH ORDINALITY u(id, i) JOIN member ON org = $1 AND user_id = u.id"

int store_members_get(rpc_ctx *ctx, const char *org, const char *const *users, size_t n,
                      Accolade__V1__Member ***out) {
  const char *p[] = {org, pg_text_array(ctx->arena, users, n)};
  PGresult *r;
  int rc = pg_query(&r, MEMBERS_SQL, 2, p);
  if (rc) return rc;
  return store_members_of(ctx, r, n, out);
}

int store_members_later(rpc_ctx *ctx, const char *org, const char *const *users, size_t n, PGresult **out) {
  const char *p[] = {org, pg_text_array(ctx->arena, users, n)};
  return pg_query_later(out, MEMBERS_SQL, 2, p);
}

int store_members_of(rpc_ctx *ctx, PGresult *r, size_t n, Accolade__V1__Member ***out) {
  if (!r) return RPC_INTERNAL;
  *out = ARENA_ARRAY(ctx->arena, Accolade__V1__Member *, n + 1);
  for (size_t i = 0; i < n; i++) (*out)[i] = NULL;
  for (int i = 0; i < PQntuples(r); i++) {
    long long k = pg_int(r, i, 7) - 1;
    if (k >= 0 && (size_t)k < n) (*out)[k] = member_row(ctx, r, i);
  }
  PQclear(r);
  return PG_OK;
}

int store_member_set_active(rpc_ctx *ctx, const char *org, const char *user, int active,
                            Accolade__V1__Member **out) {
  return member_one(ctx,
                    active ? "UPDATE member SET active=true, updated_at=now() WHERE org=$1 AND user_id=$2 "
                             "RETURNING " MEMBER_COLS
                           : "UPDATE member SET active=false, updated_at=now() WHERE org=$1 AND user_id=$2 "
                             "RETURNING " MEMBER_COLS,
                    org, user, out);
}

int store_member_list(rpc_ctx *ctx, const char *org, const char *team, int include_inactive, const char *after,
                      int limit, Accolade__V1__Member ***out, size_t *n) {
  char lim[16];
  snprintf(lim, sizeof lim, "%d", limit);
  const char *p[] = {org, team, include_inactive ? "true" : "false", after, lim};
  return pg_page(ctx->arena,
                 "SELECT " MEMBER_COLS " FROM member WHERE org=$1 AND ($2='' OR team=$2) AND (active OR $3::boolean) "
                 "AND user_id > $4 ORDER BY user_id LIMIT $5",
                 5, p, member_item, ctx, out, -1, NULL, n);
}

/* --------------------------------------------------------- nominations */

#define NOM_COLS                                                                                     \
  "n.id, n.badge_id, n.badge_name, n.nominator_id, "                                                  \
  "(SELECT coalesce(array_to_string(array_agg(user_id ORDER BY user_id), ','), '') FROM nominee WHERE nomination_id = n.id), " \
  "n.justification, array_to_string(n.evidence, ' '), n.public, n.status, "                          \
  "(SELECT coalesce(array_to_string(array_agg(user_id ORDER BY user_id), ','), '') FROM reviewer WHERE nomination_id = n.id), " \
  "n.reviewer_id, n.review_comment, (SELECT count(*) FROM endorsement e WHERE e.nomination_id = n.id), " \
  "(extract(epoch from n.created_at) * 1000)::bigint, coalesce((extract(epoch from n.decided_at) * 1000)::bigint, 0), " \
  "n.request_id, (extract(epoch from n.created_at) * 1000000)::bigint, array_to_string(n.not_awarded_ids, ',')"

static char **split_in(arena *a, const char *s, const char *sep, size_t *n) {
  *n = 0;
  if (!*s) return NULL;
  size_t cap = 1;
  for (const char *p = s; *p; p++) cap += *p == sep[0];
  char **out = ARENA_ARRAY(a, char *, cap);
  char *copy = arena_strdup(a, s), *save = NULL;
  for (char *t = strtok_r(copy, sep, &save); t; t = strtok_r(NULL, sep, &save)) out[(*n)++] = t;
  return out;
}

static char **split(rpc_ctx *ctx, const char *s, const char *sep, size_t *n) { return split_in(ctx->arena, s, sep, n); }

static Accolade__V1__Nomination *nom_row(rpc_ctx *ctx, PGresult *r, int i) {
  Accolade__V1__Nomination *n = ARENA_NEW(ctx->arena, Accolade__V1__Nomination);
  accolade__v1__nomination__init(n);
  n->id = dup(ctx, r, i, 0);
  n->badge_id = dup(ctx, r, i, 1);
  n->badge_name = dup(ctx, r, i, 2);
  n->nominator_id = dup(ctx, r, i, 3);
  n->nominee_ids = split(ctx, pg_str(r, i, 4), ",", &n->n_nominee_ids);
  n->justification = dup(ctx, r, i, 5);
  n->evidence_links = split(ctx, pg_str(r, i, 6), " ", &n->n_evidence_links);
  n->visibility = is_true(r, i, 7) ? ACCOLADE__V1__VISIBILITY__PUBLIC : ACCOLADE__V1__VISIBILITY__PRIVATE;
  n->status = (Accolade__V1__NominationStatus)pg_int(r, i, 8);
  n->reviewer_ids = split(ctx, pg_str(r, i, 9), ",", &n->n_reviewer_ids);
  n->reviewer_id = dup(ctx, r, i, 10);
  n->review_comment = dup(ctx, r, i, 11);
  n->endorsements = pg_int(r, i, 12);
  n->create_time_ms = pg_int(r, i, 13);
  n->decide_time_ms = pg_int(r, i, 14);
  n->request_id = dup(ctx, r, i, 15);
  n->not_awarded_ids = split(ctx, pg_str(r, i, 17), ",", &n->n_not_awarded_ids);
  return n;
}
static void *nom_item(void *arg, PGresult *r, int i) { return nom_row(arg, r, i); }

static int nom_one(rpc_ctx *ctx, const char *sql, int np, const char *const *p, Accolade__V1__Nomination **out) {
  return pg_one(sql, np, p, nom_item, ctx, out);
}

int store_lock_nominator(const char *org, const char *user) {
  const char *p[] = {org, user};
  /* Taken with the checks that follow it, in their round trip. */
  return pg_exec_later("SELECT pg_advisory_xact_lock(hashtext('nom.nominator'), hashtext($1 || '/' || $2))", 2, p, NULL, NULL);
}

int store_nomination_get(rpc_ctx *ctx, const char *org, const char *id, int for_update,
                         Accolade__V1__Nomination **out) {
  const char *p[] = {org, id};
  return nom_one(ctx,
                 for_update ? "SELECT " NOM_COLS " FROM nomination n WHERE n.org=$1 AND n.id=$2::uuid FOR UPDATE"
                            : "SELECT " NOM_COLS " FROM nomination n WHERE n.org=$1 AND n.id=$2::uuid",
                 2, p, out);
}

static int count_since(const char *sql, int np, const char *const *p, int *n, int64_t *resets_ms) {
  PGresult *r;
  int rc = pg_query(&r, sql, np, p);
  if (rc) return rc;
  *n = (int)pg_int(r, 0, 0);
  *resets_ms = pg_int(r, 0, 1);
  PQclear(r);
  return RPC_OK;
}

int store_used_this_month(const char *org, const char *nominator, int *used, int64_t *resets_ms) {
  const char *p[] = {org, nominator};
  return count_since("SELECT count(*), (extract(epoch from date_trunc('month', now()) + interval '1 month') * 1000)::bigint "
                     "FROM nomination WHERE org=$1 AND nominator_id=$2 AND status <> 4 "
                     "AND created_at >= date_trunc('month', now())",
                     2, p, used, resets_ms);
}

int store_nomination_checks(rpc_ctx *ctx, const char *org, const char *nominator, const char *request_id,
                            const char *badge, const char *nominee_key, const char *const *nominees, size_t n,
                            nom_checks *out) {
  const char *p[] = {org, nominator, request_id, badge, nominee_key, pg_text_array(ctx->arena, nominees, n)};
  PGresult *r;
  /* Planned once, not per call: Postgres judged its one plan dearer than
   * one made for the values and planned it for every call, most of the
   * 4.1 s of planning over bench/writepath.sh's 3,000 nominations
   * (pg_stat_statements; 0.95 s with this), though every part of it is an
   * equality lookup on an index made for it. The plan is made again after
   * each ANALYZE of the tables it reads, as they grow (autovacuum_naptime,
   * scripts/lib.sh). Both SETs travel with the statements around them
   * (pg_exec_later). */
  int rc = pg_exec_later("SET LOCAL plan_cache_mode = force_generic_plan", 0, NULL, NULL, NULL);
  if (!rc)
    rc = pg_query(&r,
                    "SELECT (SELECT id::text FROM nomination WHERE org = $1 AND nominator_id = $2 AND request_id = $3), "
                    "EXISTS (SELECT 1 FROM nomination WHERE org = $1 AND nominator_id = $2 AND badge_id = $4 "
                    "  AND nominee_key = $5 AND status = 1), "
                    "s.allowance_per_month, s.pair_cap_per_quarter, "
                    "(SELECT count(*) FROM nomination WHERE org = $1 AND nominator_id = $2 AND status <> 4 "
                    "  AND created_at >= date_trunc('month', now())), "
                    "(extract(epoch from date_trunc('month', now()) + interval '1 month') * 1000)::bigint, "
                    "(SELECT array_to_string(array_agg((SELECT count(*) FROM nomination n JOIN nominee e "
                    "  ON e.nomination_id = n.id WHERE n.org = $1 AND n.nominator_id = $2 AND e.user_id = u.id "
                    "  AND n.status <> 4 AND n.created_at >= date_trunc('quarter', now())) ORDER BY u.i), ',') "
                    "  FROM unnest($6::text[]) WITH ORDINALITY u(id, i)) "
                    "FROM (SELECT allowance_per_month, pair_cap_per_quarter FROM org_settings WHERE org = $1 "
                    "  UNION ALL SELECT 5, 3 LIMIT 1) s",
                    6, p);
  if (rc) return rc;
  if ((rc = pg_exec_later("SET LOCAL plan_cache_mode TO DEFAULT", 0, NULL, NULL, NULL))) {
    PQclear(r);
    return rc;
  }
  out->replay_id = dup(ctx, r, 0, 0);
  out->duplicate = is_true(r, 0, 1);
  out->allowance = (int)pg_int(r, 0, 2);
  out->pair_cap = (int)pg_int(r, 0, 3);
  out->used = (int)pg_int(r, 0, 4);
  out->resets_ms = pg_int(r, 0, 5);
  out->pairs = ARENA_ARRAY(ctx->arena, int, n + 1);
  const char *c = pg_str(r, 0, 6);
  for (size_t i = 0; i < n; i++) {
    char *end;
    out->pairs[i] = (int)strtol(c, &end, 10);
    c = *end == ',' ? end + 1 : end;
  }
  PQclear(r);
  return RPC_OK;
}

int store_nomination_insert(rpc_ctx *ctx, const char *org, const nom_new *x, Accolade__V1__Nomination **out) {
  const char *arr = pg_text_array(ctx->arena, x->evidence, x->nevidence);
  const char *p[] = {org, x->request_id, x->nominator, x->nominator_team, x->badge_id, x->badge_name,
                     x->justification, arr, x->public_ ? "true" : "false", x->nominee_key,
                     pg_text_array(ctx->arena, x->nominees, x->nnominees),
                     pg_text_array(ctx->arena, x->nominee_teams, x->nnominees)};
  /* One statement: the nomination, its nominees and its reviewers (the
   * nominees' managers, when they are active members), read back from what
   * the statement wrote (its own rows are not visible to its SELECT). The
   * manager check is a semi-join driven from the nominees: joining member
   * twice let the planner loop over every member of the org for each of them
   * (312 ms per nomination at 700 members). */
  return nom_one(ctx,
                 "WITH n AS (INSERT INTO nomination (org, request_id, nominator_id, nominator_team, badge_id, "
                 "  badge_name, justification, evidence, public, nominee_key) "
                 "  VALUES ($1,$2,$3,$4,$5,$6,$7,$8::text[],$9,$10) RETURNING *), "
                 "e AS (INSERT INTO nominee SELECT n.id, $1, u.id, u.team FROM n, "
                 "  unnest($11::text[], $12::text[]) u(id, team) RETURNING user_id), "
                 "v AS (INSERT INTO reviewer SELECT DISTINCT n.id, $1, m.manager_id FROM n, member m "
                 "  WHERE m.org = $1 AND m.user_id = ANY ($11::text[]) AND m.manager_id <> '' AND EXISTS "
                 "  (SELECT 1 FROM member mgr WHERE mgr.org = m.org AND mgr.user_id = m.manager_id AND mgr.active) "
                 "  RETURNING user_id) "
                 "SELECT n.id, n.badge_id, n.badge_name, n.nominator_id, "
                 "(SELECT coalesce(string_agg(user_id, ',' ORDER BY user_id), '') FROM e), "
                 "n.justification, array_to_string(n.evidence, ' '), n.public, n.status, "
                 "(SELECT coalesce(string_agg(user_id, ',' ORDER BY user_id), '') FROM v), "
                 "n.reviewer_id, n.review_comment, 0, (extract(epoch from n.created_at) * 1000)::bigint, 0, "
                 "n.request_id, (extract(epoch from n.created_at) * 1000000)::bigint, "
                 "array_to_string(n.not_awarded_ids, ',') FROM n",
                 12, p, out);
}

int store_nomination_decide(const char *org, const char *id, int status, const char *reviewer, const char *comment) {
  char st[8];
  snprintf(st, sizeof st, "%d", status);
  const char *p[] = {org, id, st, reviewer, comment};
  /* Nothing reads it back in the same statement: with the next one. */
  return pg_exec_later("UPDATE nomination SET status=$3, reviewer_id=$4, review_comment=$5, decided_at=now() "
                       "WHERE org=$1 AND id=$2::uuid",
                       5, p, NULL, NULL);
}

int store_decision_people_later(const char *org, const char *id, const char *reviewer, PGresult **out) {
  const char *p[] = {org, id, reviewer};
  /* Roles: 0 the nominator, 1 a nominee (with the team recorded on the
   * nomination), 2 the reviewer; a member's columns are NULL when there is
   * no such member. now() is the transaction's time: the decided_at that
   * store_nomination_decide writes. */
  return pg_query_later(out,
                        "SELECT " MEMBER_COLS_M ", w.role, w.user_id, w.team, (extract(epoch from now()) * 1000)::bigint FROM "
                        "(SELECT 0 AS role, nominator_id AS user_id, '' AS team FROM nomination "
                        "  WHERE org = $1 AND id = $2::uuid "
                        " UNION ALL SELECT 1, user_id, team FROM nominee WHERE nomination_id = $2::uuid "
                        " UNION ALL SELECT 2, $3, '') w LEFT JOIN member m ON m.org = $1 AND m.user_id = w.user_id",
                        3, p);
}

int store_decision_people(rpc_ctx *ctx, PGresult *r, const Accolade__V1__Nomination *n, Accolade__V1__Member ***ms,
                          char ***teams, int64_t *now_ms) {
  if (!r) return RPC_INTERNAL;
  *ms = ARENA_ARRAY(ctx->arena, Accolade__V1__Member *, n->n_nominee_ids + 2);
  *teams = ARENA_ARRAY(ctx->arena, char *, n->n_nominee_ids + 1);
  for (size_t i = 0; i < n->n_nominee_ids + 2; i++) (*ms)[i] = NULL;
  for (size_t i = 0; i < n->n_nominee_ids; i++) (*teams)[i] = "";
  *now_ms = 0;
  for (int k = 0; k < PQntuples(r); k++) {
    Accolade__V1__Member *m = pg_isnull(r, k, 0) ? NULL : member_row(ctx, r, k);
    long long role = pg_int(r, k, 7);
    const char *user = pg_str(r, k, 8);
    *now_ms = pg_int(r, k, 10);
    if (role == 0) (*ms)[0] = m;
    if (role == 2) (*ms)[n->n_nominee_ids + 1] = m;
    for (size_t i = 0; role == 1 && i < n->n_nominee_ids; i++)
      if (!strcmp(n->nominee_ids[i], user)) {
        (*ms)[i + 1] = m;
        (*teams)[i] = dup(ctx, r, k, 9);
      }
  }
  PQclear(r);
  return RPC_OK;
}

int store_nomination_settle(rpc_ctx *ctx, const char *org, const char *id, int status, const char *reviewer,
                            const char *comment, int64_t *decided_ms, char ***teams, size_t *n) {
  char st[8];
  snprintf(st, sizeof st, "%d", status);
  const char *p[] = {org, id, reviewer, comment, st};
  PGresult *r;
  int rc = pg_query(&r,
                    "WITH d AS (UPDATE nomination SET status = $5::smallint, reviewer_id = $3, review_comment = $4, "
                    "  decided_at = now() WHERE org = $1 AND id = $2::uuid RETURNING decided_at) "
                    "SELECT (extract(epoch from d.decided_at) * 1000)::bigint, e.team FROM d "
                    "LEFT JOIN nominee e ON e.org = $1 AND e.nomination_id = $2::uuid ORDER BY e.user_id",
                    5, p);
  if (rc) return rc;
  if (!PQntuples(r)) {
    PQclear(r);
    return RPC_NOT_FOUND;
  }
  *decided_ms = pg_int(r, 0, 0);
  *n = pg_isnull(r, 0, 1) ? 0 : (size_t)PQntuples(r);
  *teams = ARENA_ARRAY(ctx->arena, char *, *n + 1);
  for (size_t i = 0; i < *n; i++) (*teams)[i] = dup(ctx, r, (int)i, 1);
  PQclear(r);
  return RPC_OK;
}

int store_nomination_list(rpc_ctx *ctx, const char *org, const char *user, int role, int status, const char *badge,
                          int64_t after_us, const char *after_id, int limit, Accolade__V1__Nomination ***out,
                          int64_t **cursors, size_t *n) {
  const char *who;
  switch (role) {
    case ACCOLADE__V1__LIST_NOMINATIONS_REQUEST__ROLE__NOMINEE:
      who = "EXISTS (SELECT 1 FROM nominee e WHERE e.nomination_id = n.id AND e.user_id = $2)";
      break;
    case ACCOLADE__V1__LIST_NOMINATIONS_REQUEST__ROLE__REVIEWER:
      /* Routed to me, or (for admins: $7) routed to nobody. */
      who = "(EXISTS (SELECT 1 FROM reviewer v WHERE v.nomination_id = n.id AND v.user_id = $2) OR "
            "($7::boolean AND NOT EXISTS (SELECT 1 FROM reviewer v WHERE v.nomination_id = n.id)))";
      break;
    default:
      who = "n.nominator_id = $2";
  }
  /* $7 (the caller is an admin) is used only by the reviewer filter; the
   * "($7::boolean OR true)" below keeps it in every variant, since Postgres
   * refuses a parameter whose type no part of the statement says. */
  char sql[2400], st[8], lim[16], after[24];
  snprintf(sql, sizeof sql,
           "SELECT " NOM_COLS " FROM nomination n WHERE n.org = $1 AND %s AND ($3::int = 0 OR n.status = $3::int) "
           "AND ($4 = '' OR n.badge_id = $4) AND ((extract(epoch from n.created_at) * 1000000)::bigint, n.id) < "
           "($5::bigint, $6::uuid) AND ($7::boolean OR true) "
           "ORDER BY (extract(epoch from n.created_at) * 1000000)::bigint DESC, n.id DESC LIMIT $8",
           who);
  snprintf(st, sizeof st, "%d", status);
  snprintf(lim, sizeof lim, "%d", limit);
  snprintf(after, sizeof after, "%lld", (long long)after_us);
  const char *p[] = {org, user, st, badge, after, after_id,
                     ctx->id.role == ROLE_ADMIN ? "true" : "false", lim};
  return pg_page(ctx->arena, sql, 8, p, nom_item, ctx, out, 16, cursors, n);
}

int store_endorse(const char *org, const char *id, const char *user, const char *comment, int64_t *count) {
  const char *p[] = {id, org, user, comment};
  int rc = pg_exec("INSERT INTO endorsement (nomination_id, org, user_id, comment) VALUES ($1::uuid, $2, $3, $4)", 4, p);
  if (rc) return rc;
  PGresult *r;
  rc = pg_query(&r, "SELECT count(*) FROM endorsement WHERE nomination_id = $1::uuid", 1, p);
  if (rc) return rc;
  *count = pg_int(r, 0, 0);
  PQclear(r);
  return RPC_OK;
}

int store_reflect(const char *org, const char *id, const char *user, const char *text) {
  const char *p[] = {id, org, user, text};
  return pg_exec("INSERT INTO reflection (nomination_id, org, user_id, text) VALUES ($1::uuid, $2, $3, $4)", 4, p);
}

int store_reflections(rpc_ctx *ctx, const char *org, const char *const *ids, size_t n, int include_private,
                      Accolade__V1__Reflection ***out, size_t *nout) {
  const char *p[] = {org, pg_text_array(ctx->arena, ids, n), include_private ? "true" : "false"};
  PGresult *r;
  int rc = pg_query(&r,
                    "SELECT r.nomination_id, r.user_id, r.text, (extract(epoch from r.created_at) * 1000)::bigint "
                    "FROM reflection r JOIN nomination n ON n.id = r.nomination_id AND n.org = r.org "
                    "WHERE r.org = $1 AND r.nomination_id = ANY ($2::uuid[]) AND n.status = 2 AND (n.public OR $3::boolean) "
                    "ORDER BY r.created_at, r.user_id",
                    3, p);
  if (rc) return rc;
  *nout = (size_t)PQntuples(r);
  *out = ARENA_ARRAY(ctx->arena, Accolade__V1__Reflection *, *nout + 1);
  for (size_t i = 0; i < *nout; i++) {
    Accolade__V1__Reflection *x = ARENA_NEW(ctx->arena, Accolade__V1__Reflection);
    accolade__v1__reflection__init(x);
    x->nomination_id = dup(ctx, r, (int)i, 0);
    x->member_id = dup(ctx, r, (int)i, 1);
    x->text = dup(ctx, r, (int)i, 2);
    x->create_time_ms = pg_int(r, (int)i, 3);
    (*out)[i] = x;
  }
  PQclear(r);
  return RPC_OK;
}

int store_index_doc(const char *org, const char *id) {
  const char *p[] = {org, id};
  /* Nothing in the transaction reads it back: with its next statement or COMMIT. */
  return pg_exec_later(
      "INSERT INTO recognition_doc (nomination_id, org, body, doc) "
      "SELECT n.id, n.org, b.body, to_tsvector('english', b.body) FROM nomination n, LATERAL "
      "(SELECT n.justification || coalesce(' ' || string_agg(r.text, ' '), '') AS body FROM reflection r "
      " WHERE r.nomination_id = n.id) b WHERE n.org = $1 AND n.id = $2::uuid AND n.status = 2 AND n.public "
      "ON CONFLICT (nomination_id) DO UPDATE SET body = EXCLUDED.body, doc = EXCLUDED.doc",
      2, p, NULL, NULL);
}

int store_index_approved(const char *org, const char *id, const char *justification) {
  const char *p[] = {org, id, justification};
  return pg_exec_later("INSERT INTO recognition_doc (nomination_id, org, body, doc) "
                       "VALUES ($2::uuid, $1, $3, to_tsvector('english', $3)) "
                       "ON CONFLICT (nomination_id) DO UPDATE SET body = EXCLUDED.body, doc = EXCLUDED.doc",
                       3, p, NULL, NULL);
}

int store_search(rpc_ctx *ctx, const char *org, const Accolade__V1__SearchRecognitionsRequest *q, int limit,
                 Accolade__V1__SearchHit ***out, size_t *n) {
  char lim[16], s[24], e[24];
  snprintf(lim, sizeof lim, "%d", limit);
  snprintf(s, sizeof s, "%lld", (long long)q->start_time_ms);
  snprintf(e, sizeof e, "%lld", (long long)q->end_time_ms);
  const char *p[] = {org, q->query, q->badge_id, q->team, s, e, lim};
  PGresult *r;
  int rc = pg_query(
      &r,
      "SELECT d.nomination_id, n.badge_id, (SELECT string_agg(user_id, ',' ORDER BY user_id) FROM nominee "
      "WHERE nomination_id = n.id), ts_headline('english', d.body, q, 'StartSel=<b>, StopSel=</b>, MaxWords=30, MinWords=10'), "
      "ts_rank(d.doc, q), coalesce((extract(epoch from n.decided_at) * 1000)::bigint, 0) "
      "FROM recognition_doc d JOIN nomination n ON n.id = d.nomination_id, websearch_to_tsquery('english', $2) q "
      "WHERE d.org = $1 AND d.doc @@ q AND ($3 = '' OR n.badge_id = $3) "
      "AND ($4 = '' OR EXISTS (SELECT 1 FROM nominee e WHERE e.nomination_id = n.id AND e.team = $4)) "
      "AND ($5::bigint = 0 OR n.decided_at >= to_timestamp($5::bigint / 1000.0)) "
      "AND ($6::bigint = 0 OR n.decided_at < to_timestamp($6::bigint / 1000.0)) "
      "ORDER BY ts_rank(d.doc, q) DESC, n.decided_at DESC LIMIT $7",
      7, p);
  if (rc) return rc;
  *n = (size_t)PQntuples(r);
  *out = ARENA_ARRAY(ctx->arena, Accolade__V1__SearchHit *, *n + 1);
  for (size_t i = 0; i < *n; i++) {
    Accolade__V1__SearchHit *h = ARENA_NEW(ctx->arena, Accolade__V1__SearchHit);
    accolade__v1__search_hit__init(h);
    h->nomination_id = dup(ctx, r, (int)i, 0);
    h->badge_id = dup(ctx, r, (int)i, 1);
    h->nominee_ids = split(ctx, pg_str(r, (int)i, 2), ",", &h->n_nominee_ids);
    h->snippet = dup(ctx, r, (int)i, 3);
    h->rank = strtod(pg_str(r, (int)i, 4), NULL);
    h->decide_time_ms = pg_int(r, (int)i, 5);
    (*out)[i] = h;
  }
  PQclear(r);
  return RPC_OK;
}

int store_nomination_not_awarded(const char *org, const char *id, const char *user) {
  const char *p[] = {org, id, user};
  return pg_exec("UPDATE nomination SET not_awarded_ids = array_append(not_awarded_ids, $3) "
                 "WHERE org = $1 AND id::text = $2 AND NOT ($3 = ANY (not_awarded_ids))",
                 3, p);
}

/* ------------------------------------------------------------ scheduler */

int store_overdue_due(arena *a, store_overdue **out, size_t *n) {
  PGresult *r;
  int rc = pg_query(&r,
                    "SELECT n.id, n.org, extract(day from now() - n.created_at)::bigint FROM nomination n "
                    "LEFT JOIN org_settings s ON s.org = n.org WHERE n.status = 1 "
                    "AND n.created_at < now() - make_interval(days => coalesce(s.overdue_days, 7)) "
                    "AND NOT EXISTS (SELECT 1 FROM overdue_reminder o WHERE o.nomination_id = n.id) LIMIT 100",
                    0, NULL);
  if (rc) return rc;
  *n = (size_t)PQntuples(r);
  *out = ARENA_ARRAY(a, store_overdue, *n + 1);
  for (size_t i = 0; i < *n; i++)
    (*out)[i] = (store_overdue){arena_strdup(a, pg_str(r, (int)i, 0)), arena_strdup(a, pg_str(r, (int)i, 1)),
                                pg_int(r, (int)i, 2)};
  PQclear(r);
  return RPC_OK;
}

int store_overdue_claim(const char *id, int *fresh) {
  const char *p[] = {id};
  PGresult *r;
  int rc = pg_query(&r, "INSERT INTO overdue_reminder (nomination_id) VALUES ($1::uuid) ON CONFLICT DO NOTHING RETURNING 1",
                    1, p);
  if (rc) return rc;
  *fresh = PQntuples(r) == 1;
  PQclear(r);
  return RPC_OK;
}

int store_nudges_due(arena *a, store_nudge **out, size_t *n) {
  PGresult *r;
  int rc = pg_query(&r,
               "SELECT o.org, to_char(now(), 'IYYY-\"W\"IW'), coalesce(s.nudge_after_weeks, 4), "
               "(SELECT string_agg(m.user_id, ',' ORDER BY m.user_id) FROM (SELECT user_id FROM member m WHERE m.org = o.org "
               " AND m.active AND NOT EXISTS (SELECT 1 FROM nomination n WHERE n.org = m.org AND n.nominator_id = m.user_id "
               " AND n.created_at >= now() - make_interval(weeks => coalesce(s.nudge_after_weeks, 4))) "
               " ORDER BY user_id LIMIT 500) m) "
               "FROM (SELECT DISTINCT org FROM member) o LEFT JOIN org_settings s ON s.org = o.org "
               "WHERE coalesce(s.nudge_after_weeks, 4) > 0 AND NOT EXISTS (SELECT 1 FROM nudge_sent x "
               "WHERE x.org = o.org AND x.week = to_char(now(), 'IYYY-\"W\"IW'))",
               0, NULL);
  if (rc) return rc;
  *n = (size_t)PQntuples(r);
  *out = ARENA_ARRAY(a, store_nudge, *n + 1);
  for (size_t i = 0; i < *n; i++) {
    store_nudge *x = &(*out)[i];
    x->org = arena_strdup(a, pg_str(r, (int)i, 0));
    x->week = arena_strdup(a, pg_str(r, (int)i, 1));
    x->weeks_quiet = pg_int(r, (int)i, 2);
    x->members = split_in(a, pg_str(r, (int)i, 3), ",", &x->nmembers);
  }
  PQclear(r);
  return RPC_OK;
}

int store_nudge_sent(const char *org, const char *week, size_t members) {
  char cnt[24];
  snprintf(cnt, sizeof cnt, "%zu", members);
  const char *p[] = {org, week, cnt};
  return pg_exec("INSERT INTO nudge_sent (org, week, members) VALUES ($1, $2, $3)", 3, p);
}

/* ------------------------------------------------------------ participation */

/* All figures over nominations created in [$2, $3) of org $1, members of
 * team $4 when set (as nominees for recognition figures). */
static const char *participation_sql =
    "WITH w AS (SELECT * FROM nomination n WHERE n.org = $1 "
    "  AND n.created_at >= to_timestamp($2::bigint / 1000.0) AND n.created_at < to_timestamp($3::bigint / 1000.0) "
    "  AND n.status <> 4 AND ($4 = '' OR EXISTS (SELECT 1 FROM nominee e JOIN member m ON m.org = e.org "
    "  AND m.user_id = e.user_id WHERE e.nomination_id = n.id AND m.team = $4))), "
    "e AS (SELECT w.*, x.user_id AS nominee, x.team AS nominee_team FROM w JOIN nominee x ON x.nomination_id = w.id), "
    "act AS (SELECT * FROM member WHERE org = $1 AND active AND ($4 = '' OR team = $4)), "
    "rec AS (SELECT DISTINCT nominee FROM e WHERE status = 2) "
    "SELECT (SELECT count(*) FROM w), (SELECT count(*) FROM act), "
    "  (SELECT count(DISTINCT nominator_id) FROM w), (SELECT count(DISTINCT nominee) FROM e), "
    "  (SELECT count(*) FILTER (WHERE status = 2) FROM w), (SELECT count(*) FILTER (WHERE status IN (2, 3)) FROM w), "
    "  (SELECT coalesce(percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch from decided_at - created_at) / 3600), 0) "
    "     FROM w WHERE status IN (2, 3)), "
    "  (SELECT count(*) FROM (SELECT DISTINCT least(a.nominator_id, a.nominee), greatest(a.nominator_id, a.nominee) "
    "     FROM e a JOIN e b ON a.nominator_id = b.nominee AND a.nominee = b.nominator_id) p), "
    "  (SELECT count(*) FROM act WHERE user_id NOT IN (SELECT nominee FROM rec)), "
    "  (SELECT coalesce(string_agg(user_id, ',' ORDER BY user_id), '') FROM (SELECT user_id FROM act "
    "     WHERE user_id NOT IN (SELECT nominee FROM rec) ORDER BY user_id LIMIT 50) s), "
    "  (SELECT count(*) FILTER (WHERE nominator_team <> '' AND nominee_team <> '' AND nominator_team <> nominee_team) FROM e), "
    "  (SELECT count(*) FILTER (WHERE nominator_team <> '' AND nominee_team <> '') FROM e), "
    "  (SELECT count(*) FILTER (WHERE m.remote) FROM e JOIN member m ON m.org = $1 AND m.user_id = e.nominee WHERE e.status = 2), "
    "  (SELECT count(*) FROM e WHERE status = 2), "
    "  (SELECT count(*) FILTER (WHERE remote) FROM act)";

int store_participation(rpc_ctx *ctx, const char *org, int64_t start_ms, int64_t end_ms, const char *team,
                        store_participation_counts *out) {
  char s[24], e[24];
  snprintf(s, sizeof s, "%lld", (long long)start_ms);
  snprintf(e, sizeof e, "%lld", (long long)end_ms);
  const char *p[] = {org, s, e, team};
  PGresult *r;
  int rc = pg_query(&r, participation_sql, 4, p);
  if (rc) return rc;
  int64_t *fields[] = {&out->nominations, &out->active_members, &out->nominators, &out->nominees, &out->approved,
                       &out->decided, NULL, &out->reciprocal_pairs, &out->never_recognized, NULL,
                       &out->cross_team, &out->with_teams, &out->remote_recognized, &out->recognized,
                       &out->remote_members};
  for (int c = 0; c < (int)(sizeof fields / sizeof fields[0]); c++)
    if (fields[c]) *fields[c] = pg_int(r, 0, c);
  out->median_hours_to_review = strtod(pg_str(r, 0, 6), NULL);
  out->never_recognized_sample = split(ctx, pg_str(r, 0, 9), ",", &out->n_never_recognized_sample);
  PQclear(r);
  rc = pg_query(&r,
                "SELECT (extract(epoch from w) * 1000)::bigint, (SELECT count(*) FROM nomination n WHERE n.org = $1 "
                "AND n.status <> 4 AND n.created_at >= w AND n.created_at < w + interval '1 week' "
                "AND ($4 = '' OR EXISTS (SELECT 1 FROM nominee e JOIN member m ON m.org = e.org AND m.user_id = e.user_id "
                "WHERE e.nomination_id = n.id AND m.team = $4))) FROM generate_series(date_trunc('week', "
                "to_timestamp($2::bigint / 1000.0)), to_timestamp($3::bigint / 1000.0) - interval '1 microsecond', "
                "interval '1 week') w ORDER BY w",
                4, p);
  if (rc) return rc;
  out->n_weekly = (size_t)PQntuples(r);
  out->weekly = ARENA_ARRAY(ctx->arena, Accolade__V1__PeriodCount *, out->n_weekly + 1);
  for (size_t i = 0; i < out->n_weekly; i++) {
    Accolade__V1__PeriodCount *c = ARENA_NEW(ctx->arena, Accolade__V1__PeriodCount);
    accolade__v1__period_count__init(c);
    c->week_start_ms = pg_int(r, (int)i, 0);
    c->nominations = pg_int(r, (int)i, 1);
    out->weekly[i] = c;
  }
  PQclear(r);
  return RPC_OK;
}
