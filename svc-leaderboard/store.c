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

int store_ledger_insert_many(arena *ar, const Accolade__V1__AwardRecord *const *a, size_t n, ledger_row **rows,
                             int **inserted) {
  const char **col[9];
  for (int c = 0; c < 9; c++) col[c] = ARENA_ARRAY(ar, const char *, n + 1);
  for (size_t i = 0; i < n; i++) {
    *inserted[i] = 0;
    const char *v[9] = {a[i]->award_id, a[i]->org, a[i]->recipient_id, a[i]->recipient_team, a[i]->badge_id,
                        a[i]->category, arena_printf(ar, "%lld", (long long)a[i]->points),
                        arena_printf(ar, "%lld", (long long)a[i]->granted_at_ms), a[i]->recipient_name};
    for (int c = 0; c < 9; c++) col[c][i] = v[c];
  }
  const char *p[9];
  for (int c = 0; c < 9; c++) p[c] = pg_text_array(ar, col[c], n);
  PGresult *r;
  /* WITH ORDINALITY keeps the batch's order: its rows are locked in it. */
  int rc = pg_query(&r,
                    "INSERT INTO ledger (award_id, org, recipient_id, recipient_team, badge_id, category, points, "
                    "granted_at_ms, recipient_name) SELECT i, o, r, t, b, c, p::bigint, g::bigint, nm FROM "
                    "unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[], "
                    "$8::text[], $9::text[]) WITH ORDINALITY AS u(i, o, r, t, b, c, p, g, nm, k) ORDER BY k "
                    "ON CONFLICT (award_id) DO NOTHING RETURNING " ROW_COLS,
                    9, p);
  if (rc) return rc;
  for (int k = 0; k < PQntuples(r); k++)
    for (size_t i = 0; i < n; i++)
      if (!*inserted[i] && !strcmp(a[i]->award_id, pg_str(r, k, 0))) {
        read_row(r, k, rows[i]);
        *inserted[i] = 1;
        break;
      }
  PQclear(r);
  return RPC_OK;
}

int store_ledger_applied_many(arena *ar, const char *const *ids, size_t n) {
  if (!n) return RPC_OK;
  const char *p[] = {pg_text_array(ar, ids, n)};
  return pg_exec("UPDATE ledger SET applied = true WHERE award_id = ANY ($1::text[])", 1, p);
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

/* ---- rebuild ---- */

int store_ledger_read(const char *org, int (*row)(void *arg, char **fields, const int *lens, int n), void *arg) {
  /* COPY takes no parameters: the org goes in as a transaction-local setting. */
  const char *p[] = {org};
  int rc = pg_exec("SELECT set_config('accolade.rebuild_org', $1, true)", 1, p);
  if (rc) return rc;
  return pg_copy_out("COPY (SELECT recipient_id, recipient_team, badge_id, category, points, granted_at_ms, "
                     "recipient_name, retracted_at IS NULL FROM ledger "
                     "WHERE org = current_setting('accolade.rebuild_org') AND recorded) TO STDOUT (FORMAT binary)",
                     row, arg);
}

int store_begin(void) { return pg_exec("BEGIN", 0, NULL); }

int store_end(int commit) { return pg_exec(commit ? "COMMIT" : "ROLLBACK", 0, NULL); }
