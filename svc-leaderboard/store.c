/* store.c - svc-leaderboard's SQL. */
#include "store.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pg.h"

#define ROW_COLS                                                                          \
  "award_id, org, recipient_id, recipient_team, badge_id, category, points, granted_at_ms, " \
  "recorded, applied, retracted_at IS NOT NULL, retract_applied, recipient_name"

static void read_row(PGresult *r, int i, ledger_row *x) {
  snprintf(x->award_id, sizeof x->award_id, "%s", pg_str(r, i, 0));
  snprintf(x->org, sizeof x->org, "%s", pg_str(r, i, 1));
  snprintf(x->recipient, sizeof x->recipient, "%s", pg_str(r, i, 2));
  snprintf(x->team, sizeof x->team, "%s", pg_str(r, i, 3));
  snprintf(x->badge, sizeof x->badge, "%s", pg_str(r, i, 4));
  snprintf(x->category, sizeof x->category, "%s", pg_str(r, i, 5));
  x->points = pg_int(r, i, 6);
  x->granted_ms = pg_int(r, i, 7);
  x->recorded = pg_str(r, i, 8)[0] == 't';
  x->applied = pg_str(r, i, 9)[0] == 't';
  x->retracted = pg_str(r, i, 10)[0] == 't';
  x->retract_applied = pg_str(r, i, 11)[0] == 't';
  snprintf(x->name, sizeof x->name, "%s", pg_str(r, i, 12));
}

int store_lock_org(const char *org, int exclusive) {
  const char *p[] = {org};
  return pg_exec(exclusive ? "SELECT pg_advisory_xact_lock(hashtext('lb.org'), hashtext($1))"
                           : "SELECT pg_advisory_xact_lock_shared(hashtext('lb.org'), hashtext($1))",
                 1, p);
}

int store_ledger_record(const Accolade__V1__AwardRecord *a, ledger_row *row, int *inserted) {
  char pts[24], ms[24];
  snprintf(pts, sizeof pts, "%lld", (long long)a->points);
  snprintf(ms, sizeof ms, "%lld", (long long)a->granted_at_ms);
  const char *p[] = {a->award_id, a->org, a->recipient_id, a->recipient_team, a->badge_id,
                     a->category, pts, ms, a->recipient_name};
  PGresult *r;
  int rc = pg_query(&r,
                    "INSERT INTO ledger (award_id, org, recipient_id, recipient_team, badge_id, category, "
                    "points, granted_at_ms, recipient_name) VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9) "
                    "ON CONFLICT (award_id) DO NOTHING RETURNING " ROW_COLS,
                    9, p);
  if (rc) return rc;
  *inserted = PQntuples(r) == 1;
  if (*inserted) {
    read_row(r, 0, row);
    PQclear(r);
    return RPC_OK;
  }
  PQclear(r);
  /* Seen before; a tombstone (retracted first) gets its details, and counts
   * as applied and retracted: it never reaches the boards. */
  rc = pg_query(&r,
                "UPDATE ledger SET recipient_id=$3, recipient_team=$4, badge_id=$5, category=$6, "
                "points=$7, granted_at_ms=$8, recipient_name=$9, recorded=true, applied=true, "
                "retract_applied=true WHERE award_id=$1 AND org=$2 AND NOT recorded RETURNING " ROW_COLS,
                9, p);
  if (rc) return rc;
  if (PQntuples(r) == 1) {
    read_row(r, 0, row);
    *inserted = 1;
    PQclear(r);
    return RPC_OK;
  }
  PQclear(r);
  const char *q[] = {a->award_id, a->org};
  rc = pg_query(&r, "SELECT " ROW_COLS " FROM ledger WHERE award_id=$1 AND org=$2", 2, q);
  if (rc) return rc;
  rc = PQntuples(r) ? RPC_OK : RPC_ALREADY_EXISTS;   /* the id exists in another org */
  if (rc == RPC_OK) read_row(r, 0, row);
  PQclear(r);
  return rc;
}

int store_ledger_retract(const char *org, const char *award_id, ledger_row *row, int *changed) {
  const char *p[] = {award_id, org};
  PGresult *r;
  int rc = pg_query(&r, "SELECT " ROW_COLS " FROM ledger WHERE award_id=$1 AND org=$2 FOR UPDATE", 2, p);
  if (rc) return rc;
  int found = PQntuples(r) == 1;
  if (found) read_row(r, 0, row);
  PQclear(r);
  if (found && row->retracted) {
    *changed = 0;
    return RPC_OK;
  }
  *changed = 1;
  if (!found) {
    memset(row, 0, sizeof *row);
    return pg_exec("INSERT INTO ledger (award_id, org, recorded, retracted_at, applied, retract_applied) "
                   "VALUES ($1, $2, false, now(), true, true) ON CONFLICT (award_id) DO NOTHING",
                   2, p);
  }
  return pg_exec("UPDATE ledger SET retracted_at = now() WHERE award_id=$1 AND org=$2", 2, p);
}

int store_ledger_set(const char *award_id, const char *column) {
  const char *p[] = {award_id};
  return pg_exec(strcmp(column, "applied") == 0
                     ? "UPDATE ledger SET applied = true WHERE award_id = $1"
                     : "UPDATE ledger SET retract_applied = true WHERE award_id = $1",
                 1, p);
}

int store_pending(ledger_row *rows, int cap, int *n) {
  char lim[16];
  snprintf(lim, sizeof lim, "%d", cap);
  const char *p[] = {lim};
  PGresult *r;
  int rc = pg_query(&r,
                    "SELECT " ROW_COLS " FROM ledger WHERE recorded AND (NOT applied OR "
                    "(retracted_at IS NOT NULL AND NOT retract_applied)) ORDER BY created_at LIMIT $1",
                    1, p);
  if (rc) return rc;
  *n = PQntuples(r);
  for (int i = 0; i < *n; i++) read_row(r, i, &rows[i]);
  PQclear(r);
  return RPC_OK;
}

int store_orgs(char ***orgs, int *n) {
  PGresult *r;
  int rc = pg_query(&r, "SELECT DISTINCT org FROM ledger", 0, NULL);
  if (rc) return rc;
  *n = PQntuples(r);
  *orgs = calloc((size_t)*n + 1, sizeof(char *));
  for (int i = 0; i < *n; i++) (*orgs)[i] = strdup(pg_str(r, i, 0));
  PQclear(r);
  return RPC_OK;
}

int store_mark_all_applied(const char *org) {
  const char *p[] = {org};
  return pg_exec("UPDATE ledger SET applied = true, retract_applied = (retracted_at IS NOT NULL) "
                 "WHERE org = $1 AND (NOT applied OR (retracted_at IS NOT NULL AND NOT retract_applied))",
                 1, p);
}

int store_count_awards(const char *org, int64_t *n) {
  const char *p[] = {org};
  PGresult *r;
  int rc = pg_query(&r, "SELECT count(*) FROM ledger WHERE org = $1 AND recorded AND retracted_at IS NULL", 1, p);
  if (rc) return rc;
  *n = pg_int(r, 0, 0);
  PQclear(r);
  return RPC_OK;
}

/* ---- rebuild ---- */

/* $1 org, $2 now (ms), $3 retention of windowed boards (ms), $4 of day
 * buckets (ms). A window's rows are read only from the period holding its
 * retention cutoff on (periods sort as text). */
static const char *const aggregate_sql =
    "DECLARE lb_rebuild NO SCROLL CURSOR FOR "
    "WITH r AS (SELECT recipient_id, recipient_team, badge_id, category, points, granted_at_ms, "
    "  to_timestamp(granted_at_ms / 1000.0) AT TIME ZONE 'UTC' AS ts FROM ledger "
    "  WHERE org = $1 AND recorded AND retracted_at IS NULL), "
    "w AS (SELECT win, fmt, to_char(to_timestamp(($2::bigint - CASE win WHEN 7 THEN $4::bigint "
    "  ELSE $3::bigint END) / 1000.0) AT TIME ZONE 'UTC', fmt) AS since FROM (VALUES (1, 'IYYY-\"W\"IW'), "
    "  (2, 'YYYY-MM'), (3, 'YYYY-\"Q\"Q'), (4, 'YYYY'), (7, 'YYYY-MM-DD')) v(win, fmt)), "
    "p AS (SELECT w.win, to_char(r.ts, w.fmt) AS period, r.* FROM r JOIN w ON to_char(r.ts, w.fmt) >= w.since "
    "  UNION ALL SELECT 5, 'all', r.* FROM r), "
    /* One pass, one hash table per (subject, scope): GROUPING() tells the
     * sets apart (a bit per column left out: recipient, team, badge, category). */
    "g AS (SELECT win, period, GROUPING(recipient_id, recipient_team, badge_id, category) AS g, "
    "  recipient_id, recipient_team, badge_id, category, sum(points) AS pts, max(granted_at_ms) AS last "
    "  FROM p GROUP BY win, period, GROUPING SETS ((recipient_id), (recipient_id, recipient_team), "
    "  (recipient_id, badge_id), (recipient_id, category), (recipient_team), (recipient_team, badge_id), "
    "  (recipient_team, category))), "
    "x AS (SELECT win, period, CASE WHEN g IN (7, 3, 5, 6) THEN 1 ELSE 2 END AS subj, "
    "  CASE g WHEN 7 THEN 1 WHEN 11 THEN 1 WHEN 3 THEN 2 WHEN 5 THEN 3 WHEN 9 THEN 3 ELSE 4 END AS scope, "
    "  CASE g WHEN 3 THEN recipient_team WHEN 5 THEN badge_id WHEN 9 THEN badge_id WHEN 6 THEN category "
    "  WHEN 10 THEN category ELSE '' END AS scope_id, "
    "  CASE WHEN g IN (7, 3, 5, 6) THEN recipient_id ELSE recipient_team END AS member, pts, last FROM g) "
    "SELECT win, period, subj, scope, scope_id, member, pts, last FROM x "
    "WHERE member <> '' AND (scope = 1 OR scope_id <> '') ORDER BY 1, 2, 3, 4, 5";

int store_begin(void) { return pg_exec("BEGIN", 0, NULL); }

int store_end(int commit) { return pg_exec(commit ? "COMMIT" : "ROLLBACK", 0, NULL); }

int store_rebuild_open(const char *org, int64_t now_ms, int64_t ttl_ms, int64_t day_ttl_ms) {
  char nows[24], ttl[24], day_ttl[24];
  snprintf(nows, sizeof nows, "%lld", (long long)now_ms);
  snprintf(ttl, sizeof ttl, "%lld", (long long)ttl_ms);
  snprintf(day_ttl, sizeof day_ttl, "%lld", (long long)day_ttl_ms);
  const char *p[] = {org, nows, ttl, day_ttl};
  return pg_exec(aggregate_sql, 4, p);
}

int store_display_open(const char *org) {
  const char *p[] = {org};
  return pg_exec("DECLARE lb_who NO SCROLL CURSOR FOR SELECT DISTINCT ON (recipient_id) recipient_id, "
                 "recipient_team || chr(9) || recipient_name FROM ledger WHERE org = $1 AND recorded "
                 "AND recipient_name <> '' ORDER BY recipient_id, granted_at_ms DESC",
                 1, p);
}

int store_cursor_fetch(const char *cursor, int rows, PGresult **out) {
  char sql[96];
  snprintf(sql, sizeof sql, "FETCH %d FROM %s", rows, cursor);
  return pg_query(out, sql, 0, NULL);
}

int store_cursor_close(const char *cursor) {
  char sql[96];
  snprintf(sql, sizeof sql, "CLOSE %s", cursor);
  return pg_exec(sql, 0, NULL);
}
