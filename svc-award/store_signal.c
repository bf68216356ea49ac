/* store_signal.c - the SQL of signals and signal rules. */
#include "store_signal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pg.h"

/* --------------------------------------------------------------- signals */

#define SIGNAL_COLS                                                                                   \
  "id, source, external_id, member_id, kind, (extract(epoch from occurred_at) * 1000)::bigint, "      \
  "opportunity_id, account, amount_minor, currency, cycle_days, array_to_string(collaborators, ','), " \
  "title, link, score, period, percent, coalesce(to_char(start_date, 'YYYY-MM-DD'), ''), "            \
  "(extract(epoch from ingested_at) * 1000)::bigint, (extract(epoch from occurred_at) * 1000000)::bigint"

/* signal_row_at reads SIGNAL_COLS starting at column |c0|. */
static Accolade__V1__Signal *signal_row_at(rpc_ctx *ctx, PGresult *r, int i, int c0) {
  Accolade__V1__Signal *s = ARENA_NEW(ctx->arena, Accolade__V1__Signal);
  accolade__v1__signal__init(s);
  s->id = arena_strdup(ctx->arena, pg_str(r, i, c0 + 0));
  s->source = arena_strdup(ctx->arena, pg_str(r, i, c0 + 1));
  s->external_id = arena_strdup(ctx->arena, pg_str(r, i, c0 + 2));
  s->member_id = arena_strdup(ctx->arena, pg_str(r, i, c0 + 3));
  s->kind = (Accolade__V1__SignalKind)pg_int(r, i, c0 + 4);
  s->occur_time_ms = pg_int(r, i, c0 + 5);
  s->opportunity_id = arena_strdup(ctx->arena, pg_str(r, i, c0 + 6));
  s->account = arena_strdup(ctx->arena, pg_str(r, i, c0 + 7));
  s->amount_minor = pg_int(r, i, c0 + 8);
  s->currency = arena_strdup(ctx->arena, pg_str(r, i, c0 + 9));
  s->cycle_days = (int32_t)pg_int(r, i, c0 + 10);
  const char *collab = pg_str(r, i, c0 + 11);
  if (*collab) {
    char *copy = arena_strdup(ctx->arena, collab);
    size_t n = 1;
    for (const char *p = copy; *p; p++) n += *p == ',';
    s->collaborators = ARENA_ARRAY(ctx->arena, char *, n);
    for (char *save = NULL, *t = strtok_r(copy, ",", &save); t; t = strtok_r(NULL, ",", &save))
      s->collaborators[s->n_collaborators++] = t;
  }
  s->title = arena_strdup(ctx->arena, pg_str(r, i, c0 + 12));
  s->link = arena_strdup(ctx->arena, pg_str(r, i, c0 + 13));
  s->score = (int32_t)pg_int(r, i, c0 + 14);
  s->period = arena_strdup(ctx->arena, pg_str(r, i, c0 + 15));
  s->percent = atof(pg_str(r, i, c0 + 16));
  s->start_date = arena_strdup(ctx->arena, pg_str(r, i, c0 + 17));
  s->ingest_time_ms = pg_int(r, i, c0 + 18);
  return s;
}

static Accolade__V1__Signal *signal_row(rpc_ctx *ctx, PGresult *r, int i) { return signal_row_at(ctx, r, i, 0); }
static void *signal_item(void *arg, PGresult *r, int i) { return signal_row(arg, r, i); }

int sig_store_lock_member(const char *org, const char *member) {
  const char *p[] = {org, member};
  return pg_exec("SELECT pg_advisory_xact_lock(hashtext('award.signal'), hashtext($1 || '/' || $2))", 2, p);
}

int sig_store_insert(rpc_ctx *ctx, const char *org, const Accolade__V1__Signal *s, char **id, int *created) {
  char kind[8], at[24], amount[24], cycle[16], score[16], percent[32];
  snprintf(kind, sizeof kind, "%d", (int)s->kind);
  snprintf(at, sizeof at, "%lld", (long long)s->occur_time_ms);
  snprintf(amount, sizeof amount, "%lld", (long long)s->amount_minor);
  snprintf(cycle, sizeof cycle, "%d", s->cycle_days);
  snprintf(score, sizeof score, "%d", s->score);
  snprintf(percent, sizeof percent, "%.6f", s->percent);
  const char *p[] = {org,          s->source,   s->external_id, s->member_id, kind,
                     at,           s->opportunity_id, s->account, amount,     s->currency,
                     cycle,        pg_text_array(ctx->arena, (const char *const *)s->collaborators, s->n_collaborators),
                     s->title,     s->link,     score,          s->period,    percent,
                     *s->start_date ? s->start_date : NULL};
  PGresult *r;
  int rc = pg_query(&r,
                    "INSERT INTO signal (org, source, external_id, member_id, kind, occurred_at, opportunity_id, "
                    "account, amount_minor, currency, cycle_days, collaborators, title, link, score, period, "
                    "percent, start_date) VALUES ($1, $2, $3, $4, $5, to_timestamp($6::bigint / 1000.0), $7, $8, "
                    "$9, $10, $11, $12::text[], $13, $14, $15, $16, $17, $18::date) "
                    "ON CONFLICT (org, source, external_id) DO NOTHING RETURNING id",
                    18, p);
  if (rc) return rc;
  *created = PQntuples(r) == 1;
  if (!*created) {   /* ingested before: its id */
    PQclear(r);
    rc = pg_query(&r, "SELECT id FROM signal WHERE org = $1 AND source = $2 AND external_id = $3", 3, p);
    if (rc) return rc;
    if (PQntuples(r) != 1) {   /* the conflicting row cannot vanish inside the lock */
      PQclear(r);
      return RPC_INTERNAL;
    }
  }
  *id = arena_strdup(ctx->arena, pg_str(r, 0, 0));
  PQclear(r);
  return RPC_OK;
}

int sig_store_list(rpc_ctx *ctx, const char *org, const sig_filter *f, int limit,
                   Accolade__V1__Signal ***out, int64_t **cursors, size_t *n) {
  char lim[16], kind[8], start[24], end[24], cur[24];
  snprintf(lim, sizeof lim, "%d", limit);
  snprintf(kind, sizeof kind, "%d", f->kind);
  snprintf(start, sizeof start, "%lld", (long long)f->start_ms);
  snprintf(end, sizeof end, "%lld", (long long)f->end_ms);
  snprintf(cur, sizeof cur, "%lld", (long long)f->cursor_us);
  const char *p[] = {org,
                     f->member_id ? f->member_id : "",
                     f->n_members ? "true" : "false",
                     pg_text_array(ctx->arena, f->members, f->n_members),
                     kind,
                     start,
                     end,
                     f->has_cursor ? "true" : "false",
                     cur,
                     f->has_cursor ? f->cursor_id : "00000000-0000-0000-0000-000000000000",
                     lim};
  return pg_page(ctx->arena,
                 "SELECT " SIGNAL_COLS " FROM signal WHERE org = $1 AND ($2 = '' OR member_id = $2) "
                 "AND (NOT $3::boolean OR member_id = ANY ($4::text[])) AND ($5::int = 0 OR kind = $5::int) "
                 "AND ($6::bigint = 0 OR occurred_at >= to_timestamp($6::bigint / 1000.0)) "
                 "AND ($7::bigint = 0 OR occurred_at < to_timestamp($7::bigint / 1000.0)) "
                 "AND (NOT $8::boolean OR ((extract(epoch from occurred_at) * 1000000)::bigint, id) < ($9::bigint, $10::uuid)) "
                 "ORDER BY (extract(epoch from occurred_at) * 1000000)::bigint DESC, id DESC LIMIT $11",
                 11, p, signal_item, ctx, out, 19, cursors, n);
}

/* ----------------------------------------------------------------- rules */

#define RULE_COLS                                                                                   \
  "id, name, signal_kind, aggregate, threshold, period, window_days, min_amount_minor, currency, "  \
  "account, grant_badge_id, (extract(epoch from created_at) * 1000)::bigint, "                       \
  "(extract(epoch from created_at) * 1000000)::bigint"

static Accolade__V1__SignalRule *rule_row(rpc_ctx *ctx, PGresult *r, int i) {
  Accolade__V1__SignalRule *x = ARENA_NEW(ctx->arena, Accolade__V1__SignalRule);
  accolade__v1__signal_rule__init(x);
  x->id = arena_strdup(ctx->arena, pg_str(r, i, 0));
  x->name = arena_strdup(ctx->arena, pg_str(r, i, 1));
  x->signal_kind = (Accolade__V1__SignalKind)pg_int(r, i, 2);
  x->aggregate = (Accolade__V1__SignalAggregate)pg_int(r, i, 3);
  x->threshold = pg_int(r, i, 4);
  x->period = (Accolade__V1__SignalPeriod)pg_int(r, i, 5);
  x->window_days = (int32_t)pg_int(r, i, 6);
  x->min_amount_minor = pg_int(r, i, 7);
  x->currency = arena_strdup(ctx->arena, pg_str(r, i, 8));
  x->account = arena_strdup(ctx->arena, pg_str(r, i, 9));
  x->grant_badge_id = arena_strdup(ctx->arena, pg_str(r, i, 10));
  x->create_time_ms = pg_int(r, i, 11);
  return x;
}
static void *rule_item(void *arg, PGresult *r, int i) { return rule_row(arg, r, i); }

int sig_store_rule_insert(rpc_ctx *ctx, const char *org, const Accolade__V1__SignalRule *x,
                          Accolade__V1__SignalRule **out) {
  char kind[8], agg[8], thr[24], period[8], win[16], min[24];
  snprintf(kind, sizeof kind, "%d", (int)x->signal_kind);
  snprintf(agg, sizeof agg, "%d", (int)x->aggregate);
  snprintf(thr, sizeof thr, "%lld", (long long)x->threshold);
  snprintf(period, sizeof period, "%d", (int)x->period);
  snprintf(win, sizeof win, "%d", x->window_days);
  snprintf(min, sizeof min, "%lld", (long long)x->min_amount_minor);
  const char *p[] = {org, x->name, kind, agg, thr, period, win, min, x->currency, x->account, x->grant_badge_id};
  PGresult *r;
  int rc = pg_query(&r,
                    "INSERT INTO signal_rule (org, name, signal_kind, aggregate, threshold, period, window_days, "
                    "min_amount_minor, currency, account, grant_badge_id) "
                    "VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11) RETURNING " RULE_COLS,
                    11, p);
  if (rc) return rc;
  *out = rule_row(ctx, r, 0);
  PQclear(r);
  return RPC_OK;
}

int sig_store_rule_list(rpc_ctx *ctx, const char *org, int kind, int64_t after_us, const char *after_id,
                        int limit, Accolade__V1__SignalRule ***out, int64_t **cursors, size_t *n) {
  char lim[16], after[24], k[8];
  snprintf(lim, sizeof lim, "%d", limit);
  snprintf(after, sizeof after, "%lld", (long long)after_us);
  snprintf(k, sizeof k, "%d", kind);
  const char *p[] = {org, after, after_id ? after_id : "00000000-0000-0000-0000-000000000000", lim, k};
  return pg_page(ctx->arena,
                 "SELECT " RULE_COLS " FROM signal_rule WHERE org = $1 AND deleted_at IS NULL "
                 "AND ($5::int = 0 OR signal_kind = $5::int) "
                 "AND ((extract(epoch from created_at) * 1000000)::bigint, id) > ($2::bigint, $3::uuid) "
                 "ORDER BY (extract(epoch from created_at) * 1000000)::bigint, id LIMIT $4",
                 5, p, rule_item, ctx, out, 12, cursors, n);
}

int sig_store_rule_delete(const char *org, const char *id) {
  const char *p[] = {org, id};
  return pg_one("UPDATE signal_rule SET deleted_at = now() WHERE org = $1 AND id = $2::uuid "
                "AND deleted_at IS NULL RETURNING id",
                2, p, NULL, NULL, NULL);
}

/* The signals a rule counts, for alias |a|: $1 org, $2 member, $4 kind, $5
 * minimum amount, $6 currency, $7 account. */
#define RULE_MATCH(a)                                                                                   \
  a ".org = $1 AND " a ".member_id = $2 AND " a ".kind = $4::int AND " a ".amount_minor >= $5::bigint " \
  "AND ($6 = '' OR " a ".currency = $6) AND ($7 = '' OR " a ".account = $7)"

/* Calendar periods of the UTC time $3 (ms); $8 is 'month', 'quarter' or 'year'. */
#define PERIOD_START "date_trunc($8, to_timestamp($3::bigint / 1000.0) AT TIME ZONE 'UTC')"
#define PERIOD_LEN                                                                             \
  "(CASE $8 WHEN 'month' THEN interval '1 month' WHEN 'quarter' THEN interval '3 months' " \
  "ELSE interval '1 year' END)"
#define PERIOD_KEY                                                                                 \
  "to_char(" PERIOD_START ", CASE $8 WHEN 'month' THEN 'YYYY-MM' WHEN 'quarter' THEN 'YYYY-\"Q\"Q' " \
  "ELSE 'YYYY' END)"

static const char *period_unit(int period) {
  switch (period) {
    case ACCOLADE__V1__SIGNAL_PERIOD__SIGNAL_MONTH: return "month";
    case ACCOLADE__V1__SIGNAL_PERIOD__SIGNAL_QUARTER: return "quarter";
    case ACCOLADE__V1__SIGNAL_PERIOD__SIGNAL_YEAR: return "year";
    default: return NULL;
  }
}

/* rule_value runs the query of |x|'s window. |rolling_now|: the rolling
 * window ending at $3 instead of the best one holding $3. */
static int rule_value(rpc_ctx *ctx, const char *org, const Accolade__V1__SignalRule *x, const char *member,
                      int64_t at_ms, int rolling_now, int64_t *value, char **key) {
  char at[24], kind[8], min[24], win[16];
  snprintf(at, sizeof at, "%lld", (long long)at_ms);
  snprintf(kind, sizeof kind, "%d", (int)x->signal_kind);
  snprintf(min, sizeof min, "%lld", (long long)x->min_amount_minor);
  snprintf(win, sizeof win, "%d", x->window_days);
  const char *unit = period_unit(x->period);
  const char *p[] = {org, member, at, kind, min, x->currency, x->account, unit ? unit : win};
  int sum = x->aggregate == ACCOLADE__V1__SIGNAL_AGGREGATE__SIGNAL_SUM_AMOUNT;
  const char *sql;
  if (unit) {
    sql = sum ? "SELECT coalesce(sum(s.amount_minor), 0), " PERIOD_KEY " FROM signal s WHERE " RULE_MATCH("s")
                " AND s.occurred_at >= (" PERIOD_START ") AT TIME ZONE 'UTC' "
                "AND s.occurred_at < (" PERIOD_START " + " PERIOD_LEN ") AT TIME ZONE 'UTC'"
              : "SELECT count(*), " PERIOD_KEY " FROM signal s WHERE " RULE_MATCH("s")
                " AND s.occurred_at >= (" PERIOD_START ") AT TIME ZONE 'UTC' "
                "AND s.occurred_at < (" PERIOD_START " + " PERIOD_LEN ") AT TIME ZONE 'UTC'";
  } else if (x->window_days == 0) {
    sql = sum ? "SELECT coalesce(sum(s.amount_minor), 0), 'all' FROM signal s WHERE " RULE_MATCH("s")
                " AND $3::bigint = $3::bigint AND $8 = $8"
              : "SELECT count(*), 'all' FROM signal s WHERE " RULE_MATCH("s")
                " AND $3::bigint = $3::bigint AND $8 = $8";
  } else if (rolling_now) {
    /* The window of $8 days ending at $3. */
    sql = sum ? "SELECT coalesce(sum(s.amount_minor), 0), 'all' FROM signal s WHERE " RULE_MATCH("s")
                " AND s.occurred_at > to_timestamp($3::bigint / 1000.0) - make_interval(days => $8::int) "
                "AND s.occurred_at <= to_timestamp($3::bigint / 1000.0)"
              : "SELECT count(*), 'all' FROM signal s WHERE " RULE_MATCH("s")
                " AND s.occurred_at > to_timestamp($3::bigint / 1000.0) - make_interval(days => $8::int) "
                "AND s.occurred_at <= to_timestamp($3::bigint / 1000.0)";
  } else {
    /* Every window of $8 days that holds $3 ends at or after it, and the
     * fullest ends at one of the signals within $8 days after it. */
    sql = sum ? "SELECT coalesce(max((SELECT sum(x.amount_minor) FROM signal x WHERE " RULE_MATCH("x")
                " AND x.occurred_at > e.occurred_at - make_interval(days => $8::int) "
                "AND x.occurred_at <= e.occurred_at)), 0), 'all' FROM signal e WHERE " RULE_MATCH("e")
                " AND e.occurred_at >= to_timestamp($3::bigint / 1000.0) "
                "AND e.occurred_at < to_timestamp($3::bigint / 1000.0) + make_interval(days => $8::int)"
              : "SELECT coalesce(max((SELECT count(*) FROM signal x WHERE " RULE_MATCH("x")
                " AND x.occurred_at > e.occurred_at - make_interval(days => $8::int) "
                "AND x.occurred_at <= e.occurred_at)), 0), 'all' FROM signal e WHERE " RULE_MATCH("e")
                " AND e.occurred_at >= to_timestamp($3::bigint / 1000.0) "
                "AND e.occurred_at < to_timestamp($3::bigint / 1000.0) + make_interval(days => $8::int)";
  }
  PGresult *r;
  int rc = pg_query(&r, sql, 8, p);
  if (rc) return rc;
  *value = pg_int(r, 0, 0);
  *key = arena_strdup(ctx->arena, pg_str(r, 0, 1));
  PQclear(r);
  return RPC_OK;
}

int sig_store_rule_value(rpc_ctx *ctx, const char *org, const Accolade__V1__SignalRule *r,
                         const char *member, int64_t at_ms, int64_t *value, char **key) {
  return rule_value(ctx, org, r, member, at_ms, 0, value, key);
}

int sig_store_rule_value_now(rpc_ctx *ctx, const char *org, const Accolade__V1__SignalRule *r,
                             const char *member, int64_t *value, char **key) {
  PGresult *res;
  int rc = pg_query(&res, "SELECT (extract(epoch from now()) * 1000)::bigint", 0, NULL);
  if (rc) return rc;
  int64_t now = pg_int(res, 0, 0);
  PQclear(res);
  return rule_value(ctx, org, r, member, now, 1, value, key);
}

int sig_store_member_team(rpc_ctx *ctx, const char *org, const char *member, char **team) {
  const char *p[] = {org, member};
  PGresult *r;
  int rc = pg_query(&r,
                    "SELECT recipient_team FROM award WHERE org = $1 AND recipient_id = $2 "
                    "ORDER BY granted_at DESC LIMIT 1",
                    2, p);
  if (rc) return rc;
  *team = arena_strdup(ctx->arena, PQntuples(r) ? pg_str(r, 0, 0) : "");
  PQclear(r);
  return RPC_OK;
}

int sig_store_is_hired(const char *org, const char *member, int *yes) {
  const char *p[] = {org, member};
  PGresult *r;
  int rc = pg_query(&r, "SELECT EXISTS (SELECT 1 FROM signal WHERE org = $1 AND member_id = $2 AND kind = 9)", 2, p);
  if (rc) return rc;
  *yes = !strcmp(pg_str(r, 0, 0), "t");
  PQclear(r);
  return RPC_OK;
}

int sig_store_new_hire_first_deal(rpc_ctx *ctx, const char *org, const char *member, const char *signal_id,
                                  int *yes, char **start) {
  const char *p[] = {org, member, signal_id};
  PGresult *r;
  /* kind 1 DEAL_WON, 9 MEMBER_HIRED */
  int rc = pg_query(&r,
                    "WITH d AS (SELECT occurred_at, id FROM signal WHERE org = $1 AND id = $3::uuid), "
                    "h AS (SELECT start_date FROM signal WHERE org = $1 AND member_id = $2 AND kind = 9 "
                    "      ORDER BY occurred_at DESC, id DESC LIMIT 1) "
                    "SELECT to_char(h.start_date, 'YYYY-MM-DD'), "
                    "  h.start_date <= (d.occurred_at AT TIME ZONE 'UTC')::date "
                    "  AND (d.occurred_at AT TIME ZONE 'UTC')::date < h.start_date + 365 "
                    "  AND NOT EXISTS (SELECT 1 FROM signal e WHERE e.org = $1 AND e.member_id = $2 AND e.kind = 1 "
                    "                  AND (e.occurred_at, e.id) < (d.occurred_at, d.id)) "
                    "FROM d, h",
                    3, p);
  if (rc) return rc;
  *yes = PQntuples(r) == 1 && !strcmp(pg_str(r, 0, 1), "t");
  *start = arena_strdup(ctx->arena, PQntuples(r) ? pg_str(r, 0, 0) : "");
  PQclear(r);
  return RPC_OK;
}

/* The signals SuggestRecognitions looks at, with their colleague: $1 org, $2
 * member, $3 the member's team, $4..$5 the window (ms). */
#define SUGGEST_WINDOW                                                                         \
  " AND occurred_at >= to_timestamp($4::bigint / 1000.0) AND occurred_at < to_timestamp($5::bigint / 1000.0)"

int sig_store_suggest(rpc_ctx *ctx, const char *org, const char *member, const char *const *team, size_t nteam,
                      int64_t start_ms, int64_t end_ms, int limit, sig_candidate **out, size_t *n) {
  char s[24], e[24], lim[16];
  snprintf(s, sizeof s, "%lld", (long long)start_ms);
  snprintf(e, sizeof e, "%lld", (long long)end_ms);
  snprintf(lim, sizeof lim, "%d", limit);
  const char *p[] = {org, member, pg_text_array(ctx->arena, team, nteam), s, e, lim};
  PGresult *r;
  /* kinds: 1 DEAL_WON, 5 PLAYBOOK_PUBLISHED, 6 TRAINING_COMPLETED, 7 NPS_RECEIVED, 8 QUOTA_ATTAINMENT */
  int rc = pg_query(
      &r,
      "WITH q AS ("
      "  SELECT member_id AS colleague, 2 AS closeness, 'collaborator' AS relation, * FROM signal "
      "  WHERE org = $1 AND kind = 1 AND $2 = ANY (collaborators) AND member_id <> $2" SUGGEST_WINDOW
      "  UNION ALL "
      "  SELECT c, 2, 'helped', signal.* FROM signal, unnest(collaborators) c "
      "  WHERE org = $1 AND member_id = $2 AND kind = 1" SUGGEST_WINDOW
      "  UNION ALL "
      "  SELECT member_id, 1, 'team', * FROM signal "
      "  WHERE org = $1 AND member_id = ANY ($3::text[]) AND member_id <> $2 AND kind IN (1, 5, 6, 7, 8) "
      "  AND (kind <> 7 OR score >= 9) AND (kind <> 8 OR percent >= 100)" SUGGEST_WINDOW
      "), best AS ("
      "  SELECT DISTINCT ON (q.colleague) * FROM q WHERE NOT EXISTS (SELECT 1 FROM award a WHERE a.org = $1 "
      "    AND a.giver_id = $2 AND a.recipient_id = q.colleague AND a.revoked_at IS NULL "
      "    AND a.granted_at >= q.occurred_at) "
      "  ORDER BY q.colleague, q.closeness DESC, q.occurred_at DESC, q.id) "
      "SELECT colleague, closeness, relation, " SIGNAL_COLS " FROM best "
      "ORDER BY closeness DESC, occurred_at DESC, colleague LIMIT $6",
      6, p);
  if (rc) return rc;
  *n = (size_t)PQntuples(r);
  *out = ARENA_ARRAY(ctx->arena, sig_candidate, *n + 1);
  for (size_t i = 0; i < *n; i++) {
    sig_candidate *c = &(*out)[i];
    c->colleague = arena_strdup(ctx->arena, pg_str(r, (int)i, 0));
    c->closeness = (int)pg_int(r, (int)i, 1);
    c->relation = arena_strdup(ctx->arena, pg_str(r, (int)i, 2));
    c->signal = signal_row_at(ctx, r, (int)i, 3);
  }
  PQclear(r);
  return RPC_OK;
}

/* ---------------------------------------------------------------- outcomes */

/* $1 org, $2 has members, $3 members, $4..$5 the period (ms), $6 badge,
 * $7 category, $8 currency, $9 days (ramp). */
#define OUTCOME_POP                                                                                        \
  "pop AS (SELECT DISTINCT member_id AS m FROM signal WHERE org = $1 "                                     \
  "  AND (NOT $2::boolean OR member_id = ANY ($3::text[]))) "
#define OUTCOME_AWARD_MATCH                                                                                \
  "a.org = $1 AND a.revoked_at IS NULL AND ($6 = '' OR a.badge_id = $6) AND ($7 = '' OR b.category = $7)"
#define OUTCOME_START "to_timestamp($4::bigint / 1000.0)"
#define OUTCOME_END "to_timestamp($5::bigint / 1000.0)"

static int outcome_query(PGresult **r, const char *sql, const char *org, const outcome_filter *f, int days) {
  char s[24], e[24], d[16];
  snprintf(s, sizeof s, "%lld", (long long)f->start_ms);
  snprintf(e, sizeof e, "%lld", (long long)f->end_ms);
  snprintf(d, sizeof d, "%d", days);
  arena a;
  arena_init(&a);
  const char *p[] = {org, f->has_members ? "true" : "false", pg_text_array(&a, f->members, f->n_members), s, e,
                     f->badge_id, f->category, f->currency, d};
  int rc = pg_query(r, sql, 9, p);
  arena_free(&a);
  return rc;
}

int sig_store_outcome_windows(const char *org, const outcome_filter *f, outcome_window out[4]) {
  PGresult *r;
  /* kinds: 1 DEAL_WON, 2 DEAL_LOST, 3 MEETING_BOOKED, 5 PLAYBOOK_PUBLISHED */
  int rc = outcome_query(
      &r,
      "WITH " OUTCOME_POP ", rec AS (SELECT a.recipient_id AS m, min(a.granted_at) AS t FROM award a "
      "  JOIN badge b ON b.org = a.org AND b.id = a.badge_id WHERE " OUTCOME_AWARD_MATCH
      "  AND a.granted_at >= " OUTCOME_START " AND a.granted_at < " OUTCOME_END " GROUP BY 1), "
      "grp AS (SELECT pop.m, rec.t IS NOT NULL AS recognized, "
      "  coalesce(rec.t, to_timestamp(($4::bigint + $5::bigint) / 2000.0)) AS t FROM pop LEFT JOIN rec ON rec.m = pop.m) "
      "SELECT g.recognized, w.after, count(DISTINCT g.m), "
      "  count(s.id) FILTER (WHERE s.kind = 1 AND s.currency = $8), "
      "  count(s.id) FILTER (WHERE s.kind = 2 AND s.currency = $8), "
      "  coalesce(avg(s.amount_minor) FILTER (WHERE s.kind = 1 AND s.currency = $8), 0), "
      "  coalesce(avg(s.cycle_days) FILTER (WHERE s.kind = 1 AND s.currency = $8), 0), "
      "  count(s.id) FILTER (WHERE s.kind = 5), count(s.id) FILTER (WHERE s.kind = 3) "
      "FROM grp g CROSS JOIN (VALUES (false), (true)) AS w(after) "
      "LEFT JOIN signal s ON s.org = $1 AND s.member_id = g.m AND CASE WHEN w.after "
      "  THEN s.occurred_at >= g.t AND s.occurred_at < g.t + interval '90 days' "
      "  ELSE s.occurred_at >= g.t - interval '90 days' AND s.occurred_at < g.t END "
      "WHERE $9::int = $9::int GROUP BY 1, 2",
      org, f, 0);
  if (rc) return rc;
  memset(out, 0, 4 * sizeof *out);
  for (int i = 0; i < PQntuples(r); i++) {
    outcome_window *w = &out[(!strcmp(pg_str(r, i, 0), "t")) * 2 + !strcmp(pg_str(r, i, 1), "t")];
    w->members = pg_int(r, i, 2);
    w->won = pg_int(r, i, 3);
    w->lost = pg_int(r, i, 4);
    w->avg_amount = atof(pg_str(r, i, 5));
    w->avg_cycle = atof(pg_str(r, i, 6));
    w->playbooks = pg_int(r, i, 7);
    w->meetings = pg_int(r, i, 8);
  }
  PQclear(r);
  return RPC_OK;
}

int sig_store_outcome_ramp(const char *org, const outcome_filter *f, int days, outcome_ramp out[2]) {
  PGresult *r;
  /* kinds: 1 DEAL_WON, 9 MEMBER_HIRED */
  int rc = outcome_query(
      &r,
      "WITH hires AS (SELECT DISTINCT ON (member_id) member_id AS m, start_date FROM signal "
      "  WHERE org = $1 AND kind = 9 AND start_date IS NOT NULL AND (NOT $2::boolean OR member_id = ANY ($3::text[])) "
      "  ORDER BY member_id, occurred_at DESC, id DESC), "
      "h AS (SELECT hires.m, hires.start_date, "
      "  (SELECT min((s.occurred_at AT TIME ZONE 'UTC')::date) FROM signal s WHERE s.org = $1 AND s.member_id = hires.m "
      "   AND s.kind = 1 AND (s.occurred_at AT TIME ZONE 'UTC')::date >= hires.start_date) AS first_win, "
      "  (SELECT count(*) FROM award a JOIN badge b ON b.org = a.org AND b.id = a.badge_id WHERE " OUTCOME_AWARD_MATCH
      "   AND a.recipient_id = hires.m AND a.granted_at >= hires.start_date::timestamp AT TIME ZONE 'UTC' "
      "   AND a.granted_at < (hires.start_date + $9::int)::timestamp AT TIME ZONE 'UTC') AS recs "
      "  FROM hires WHERE hires.start_date >= (" OUTCOME_START " AT TIME ZONE 'UTC')::date "
      "  AND hires.start_date < (" OUTCOME_END " AT TIME ZONE 'UTC')::date) "
      "SELECT recs > 0, count(*), count(first_win), coalesce(avg(first_win - start_date), 0) FROM h "
      "WHERE $8 = $8 GROUP BY 1",
      org, f, days);
  if (rc) return rc;
  memset(out, 0, 2 * sizeof *out);
  for (int i = 0; i < PQntuples(r); i++) {
    outcome_ramp *x = &out[!strcmp(pg_str(r, i, 0), "t")];
    x->hires = pg_int(r, i, 1);
    x->with_win = pg_int(r, i, 2);
    x->avg_days = atof(pg_str(r, i, 3));
  }
  PQclear(r);
  return RPC_OK;
}

int sig_store_outcome_departures(const char *org, const outcome_filter *f, outcome_departures out[2]) {
  PGresult *r;
  /* kind 10: MEMBER_DEPARTED */
  int rc = outcome_query(
      &r,
      "WITH " OUTCOME_POP ", dep AS (SELECT member_id AS m, min(occurred_at) AS t FROM signal WHERE org = $1 "
      "  AND kind = 10 AND occurred_at >= " OUTCOME_START " AND occurred_at < " OUTCOME_END " GROUP BY 1) "
      "SELECT EXISTS (SELECT 1 FROM award a JOIN badge b ON b.org = a.org AND b.id = a.badge_id WHERE "
      OUTCOME_AWARD_MATCH " AND a.recipient_id = pop.m AND a.granted_at < coalesce(dep.t, " OUTCOME_END ")), "
      "  count(*), count(dep.m) FROM pop LEFT JOIN dep ON dep.m = pop.m WHERE $8 = $8 AND $9::int = $9::int GROUP BY 1",
      org, f, 0);
  if (rc) return rc;
  memset(out, 0, 2 * sizeof *out);
  for (int i = 0; i < PQntuples(r); i++) {
    outcome_departures *x = &out[!strcmp(pg_str(r, i, 0), "t")];
    x->members = pg_int(r, i, 1);
    x->departed = pg_int(r, i, 2);
  }
  PQclear(r);
  return RPC_OK;
}
