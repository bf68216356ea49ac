/* delivery.c - claim with a lease, deliver with no transaction open, record
 * each row's outcome. */
#include "delivery.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
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

/* One row of a round on its way: its scratch memory, verdict and error. */
typedef struct round_row {
  delivery_row row;
  arena a;
  delivery_verdict v;
  char err[512];
} round_row;

typedef struct round {
  const delivery_engine *e;
  round_row *rows;
  int n;
  atomic_int next;
} round;

/* send_rows delivers the round's rows not yet taken, one at a time. */
static void *send_rows(void *arg) {
  round *rd = arg;
  for (int i; (i = atomic_fetch_add(&rd->next, 1)) < rd->n;) {
    round_row *x = &rd->rows[i];
    x->v = rd->e->deliver(rd->e->arg, &x->row, x->err, sizeof x->err);
  }
  return NULL;
}

/* send_round delivers every row of |rd|, |parallel| at a time: helper
 * threads beside the calling one (if a thread cannot start, fewer). */
static void send_round(round *rd, int parallel) {
  pthread_t th[DELIVERY_MAX_PARALLEL];
  int nth = 0;
  if (parallel > DELIVERY_MAX_PARALLEL) parallel = DELIVERY_MAX_PARALLEL;
  while (nth + 1 < parallel && nth + 1 < rd->n && pthread_create(&th[nth], NULL, send_rows, rd) == 0) nth++;
  send_rows(rd);
  for (int i = 0; i < nth; i++) pthread_join(th[i], NULL);
}

typedef struct many_tx {
  const delivery_engine *e;
  round_row *rows;
  int n;
  arena *a;
} many_tx;

/* mark_many: the round's delivered rows and their |on_delivered| in one
 * transaction. */
static int mark_many(void *arg) {
  many_tx *t = arg;
  const char **ids = arena_alloc(t->a, sizeof *ids * (size_t)t->n);
  int k = 0;
  for (int i = 0; i < t->n; i++) {
    if (t->rows[i].v != DELIVERY_OK) continue;
    if (t->e->on_delivered && t->e->on_delivered(t->e->arg, &t->rows[i].row) != 0) return PG_ERROR;
    ids[k++] = t->rows[i].row.id;
  }
  const char *p[] = {pg_text_array(t->a, ids, (size_t)k)};
  return pg_exec(t->e->delivered_many_sql, 1, p);
}

/* record_one records the outcome of one delivered or failed row. */
static void record_one(const delivery_engine *e, round_row *x) {
  if (x->v != DELIVERY_OK) {
    record_failure(e, &x->row, x->v == DELIVERY_DEAD, x->err[0] ? x->err : "failed");
    return;
  }
  delivered_tx t = {e, &x->row};
  int rc = pg_tx(mark_delivered, &t);
  if (rc == PG_OK) {
    count(e, "delivered");
    return;
  }
  snprintf(x->err, sizeof x->err, "%s after delivery: %s", e->on_delivered ? "reply hook or record" : "record",
           pg_code_name(rc));
  record_failure(e, &x->row, 0, x->err);
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
  round_row *rows = calloc((size_t)(n ? n : 1), sizeof *rows);
  if (!rows) {   /* the leases bring the rows back */
    PQclear(r);
    return -1;
  }
  for (int i = 0; i < n; i++) {
    arena_init(&rows[i].a);
    rows[i].row = (delivery_row){r, i, PQgetvalue(r, i, 0), (int)pg_int(r, i, 1), &rows[i].a, NULL};
  }
  round rd = {.e = e, .rows = rows, .n = n};
  atomic_init(&rd.next, 0);
  send_round(&rd, e->parallel > 1 ? e->parallel : 1);
  /* Outcomes: the delivered rows together when the engine can, else (or if
   * that fails) each on its own. */
  int ok = 0, together = 0;
  for (int i = 0; i < n; i++) ok += rows[i].v == DELIVERY_OK;
  if (e->delivered_many_sql && ok > 1) {
    arena a;
    arena_init(&a);
    many_tx t = {e, rows, n, &a};
    together = pg_tx(mark_many, &t) == PG_OK;
    arena_free(&a);
    if (together)
      for (int i = 0; i < ok; i++) count(e, "delivered");
  }
  for (int i = 0; i < n; i++) {
    if (!together || rows[i].v != DELIVERY_OK) record_one(e, &rows[i]);
    pg_release();
    arena_free(&rows[i].a);
  }
  free(rows);
  PQclear(r);
  return n;
}
