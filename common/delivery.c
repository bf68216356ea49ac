/* delivery.c - claim with a lease, deliver with no transaction open, record
 * each row's outcome. */
#include "delivery.h"

#include <stdio.h>
#include <string.h>

#include "log.h"
#include "metrics.h"
#include "pg.h"

static void count(const delivery_engine *e, const char *outcome) {
  char name[96], labels[48];
  snprintf(name, sizeof name, "accolade_%s_deliveries_total", e->name);
  snprintf(labels, sizeof labels, "outcome=\"%s\"", outcome);
  metrics_count(name, labels, 1);
}

typedef struct delivered_tx {
  const delivery_engine *e;
  delivery_row *row;
} delivered_tx;

/* mark_delivered: |on_delivered| and the row's delivery commit together. */
static int mark_delivered(void *arg) {
  delivered_tx *t = arg;
  if (t->e->on_delivered && t->e->on_delivered(t->e->arg, t->row) != 0) return PG_ERROR;
  const char *p[] = {t->row->id};
  return pg_exec(t->e->delivered_sql, 1, p);
}

/* record_failure counts a failed attempt of |row| and schedules the next
 * one, or dead-letters the row. */
static void record_failure(const delivery_engine *e, const delivery_row *row, int permanent, const char *err) {
  int dead = permanent || row->attempts + 1 >= e->max_attempts;
  int64_t ms = e->retry_base_ms;
  for (int i = 0; i < row->attempts && ms < e->retry_max_ms; i++) ms *= 2;
  if (ms > e->retry_max_ms) ms = e->retry_max_ms;
  char delay[40];
  snprintf(delay, sizeof delay, "%lld milliseconds", (long long)ms);
  const char *p[] = {row->id, err, delay, dead ? "t" : "f"};
  count(e, dead ? "dead" : "retry");
  if (dead)
    log_error("%s: %s dead-lettered after %d attempts: %s", e->name, row->id, row->attempts + 1, err);
  else   /* the first failure and every tenth are worth a warning; the rest is noise */
    log_msg(row->attempts % 10 == 0 ? LOG_WARN : LOG_DEBUG, "%s: %s failed (attempt %d): %s", e->name, row->id,
            row->attempts + 1, err);
  int rc = pg_exec(e->failed_sql, 4, p);
  if (rc != PG_OK)
    log_warn("%s: cannot record the outcome of %s (%s); its lease will bring it back", e->name, row->id,
             pg_code_name(rc));
}

int delivery_round(const delivery_engine *e) {
  char lim[16], lease[40];
  snprintf(lim, sizeof lim, "%d", e->batch);
  snprintf(lease, sizeof lease, "%d milliseconds", e->lease_ms);
  const char *lp[] = {lim, lease};
  PGresult *r = NULL;
  if (pg_query(&r, e->claim_sql, 2, lp) != PG_OK) return -1;
  pg_release();   /* no connection held while the rows travel */
  int n = PQntuples(r);
  for (int i = 0; i < n; i++) {
    arena a;
    arena_init(&a);
    delivery_row row = {r, i, PQgetvalue(r, i, 0), (int)pg_int(r, i, 1), &a, NULL};
    char err[512] = "";
    delivery_verdict v = e->deliver(e->arg, &row, err, sizeof err);
    if (v == DELIVERY_OK) {
      delivered_tx t = {e, &row};
      int rc = pg_tx(mark_delivered, &t);
      if (rc == PG_OK) {
        count(e, "delivered");
      } else {
        snprintf(err, sizeof err, "%s after delivery: %s", e->on_delivered ? "reply hook or record" : "record",
                 pg_code_name(rc));
        record_failure(e, &row, 0, err);
      }
    } else {
      record_failure(e, &row, v == DELIVERY_DEAD, err[0] ? err : "failed");
    }
    pg_release();
    arena_free(&a);
  }
  PQclear(r);
  return n;
}
