/* store.h - svc-leaderboard's SQL (the ledger). Codes as in pg.h. */
#ifndef LEADERBOARD_STORE_H
#define LEADERBOARD_STORE_H

#include <stdint.h>

#include <libpq-fe.h>

#include "accolade/v1/events.pb-c.h"
#include "arena.h"
#include "rpc.h"

typedef struct ledger_row {
  char award_id[130];
  char org[130];
  char recipient[130];
  char team[130];
  char badge[130];
  char category[130];
  char name[124];   /* the recipient's display name, "" if unknown */
  int64_t points;
  int64_t granted_ms;
  int recorded, applied, retracted, retract_applied;
} ledger_row;

/* store_lock_org takes the per-org lock for this transaction: shared for
 * recording, exclusive for a rebuild. */
int store_lock_org(const char *org, int exclusive);
/* store_ledger_record inserts |a| (or completes a tombstone); |*row| is the
 * row afterwards and |*inserted| whether this call created it. */
int store_ledger_record(const Accolade__V1__AwardRecord *a, ledger_row *row, int *inserted);
/* store_ledger_retract marks the award retracted (or leaves a tombstone);
 * |*row| is the row before the change, |*changed| 0 if already retracted. */
int store_ledger_retract(const char *org, const char *award_id, ledger_row *row, int *changed);
int store_ledger_set(const char *award_id, const char *column);   /* "applied" | "retract_applied" */
/* store_ledger_insert_many inserts |n| awards in one statement, those whose
 * ids are new: |*inserted[i]| says whether award i's row was created by it
 * (the first of equal ids), and |*rows[i]| is then the row. The others (seen
 * before, tombstones, another org's ids) are for store_ledger_record. */
int store_ledger_insert_many(arena *ar, const Accolade__V1__AwardRecord *const *a, size_t n, ledger_row **rows,
                             int **inserted);
/* store_ledger_applied_many marks |n| awards applied in one statement. */
int store_ledger_applied_many(arena *ar, const char *const *ids, size_t n);
/* store_pending returns up to |cap| rows waiting for Redis. */
int store_pending(ledger_row *rows, int cap, int *n);
/* store_orgs lists every org in the ledger (malloc'd strings, caller frees). */
int store_orgs(char ***orgs, int *n);
/* store_mark_all_applied after a rebuild of |org|. */
int store_mark_all_applied(const char *org);

/* The rebuild's transaction (rebuild.c drives it). */
int store_begin(void);
int store_end(int commit);
/* store_ledger_read calls |row| with each recorded ledger row of |org|
 * (a binary COPY, see pg_copy_out): recipient, team, badge, category,
 * points (bigint), granted_at_ms (bigint), recipient name, whether it counts
 * (boolean: not retracted). Returns pg codes, or |row|'s first non-zero
 * return. */
int store_ledger_read(const char *org, int (*row)(void *arg, char **fields, const int *lens, int n), void *arg);

#endif
