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

/* What follows in the transaction runs on the plan Postgres made once per
 * connection (a generic plan), not on one made for each call's values. */
#define ONE_PLAN "SET LOCAL plan_cache_mode = force_generic_plan"

/* One row of a round on its way: its scratch memory and outcome. */
typedef struct round_row {
  delivery_row row;
  arena a;
  delivery_outcome o;
} round_row;

/* What travels as one call: one row, or a group of rows with one key. */
typedef struct round_unit {
  const char *key;
  int n;
  round_row **rows;
} round_unit;

typedef struct round {
  const delivery_engine *e;
  round_unit *units;
  int nunits;
  atomic_int next;
} round;

/* send_units delivers the round's units not yet taken, one at a time. */
static void *send_units(void *arg) {
  round *rd = arg;
  const delivery_engine *e = rd->e;
  for (int i; (i = atomic_fetch_add(&rd->next, 1)) < rd->nunits;) {
    round_unit *u = &rd->units[i];
    if (u->n == 1) {
      round_row *x = u->rows[0];
      x->o.v = e->deliver(e->arg, &x->row, x->o.err, sizeof x->o.err);
      continue;
    }
    delivery_row **rows = ARENA_ARRAY(&u->rows[0]->a, delivery_row *, (size_t)u->n);
    delivery_outcome **out = ARENA_ARRAY(&u->rows[0]->a, delivery_outcome *, (size_t)u->n);
    for (int k = 0; k < u->n; k++) {
      rows[k] = &u->rows[k]->row;
      out[k] = &u->rows[k]->o;
    }
    e->deliver_group(e->arg, rows, out, u->n);
  }
  return NULL;
}

/* parallel_of: how many of a round's calls are in flight at once. */
static int parallel_of(const delivery_engine *e) {
  return e->parallel <= 1 ? 1 : e->parallel > DELIVERY_MAX_PARALLEL ? DELIVERY_MAX_PARALLEL : e->parallel;
}

/* send_round delivers every unit of |rd|, |parallel| at a time: helper
 * threads beside the calling one (if a thread cannot start, fewer). */
static void send_round(round *rd, int parallel) {
  pthread_t th[DELIVERY_MAX_PARALLEL];
  int nth = 0;
  while (nth + 1 < parallel && nth + 1 < rd->nunits && pthread_create(&th[nth], NULL, send_units, rd) == 0) nth++;
  send_units(rd);
  for (int i = 0; i < nth; i++) pthread_join(th[i], NULL);
}

/* group_rows puts each of the |n| rows in its unit: alone, or with the
 * round's other rows of its group key (|group_max| a unit); each unit's rows lie side by side in
 * |slots|, in the round's order. |units|, |slots| and |unit_of| have room for
 * |n|. Returns the number of units. */
static int group_rows(const delivery_engine *e, round_row *rows, int n, round_unit *units, round_row **slots,
                      int *unit_of) {
  int nunits = 0;
  for (int i = 0; i < n; i++) {
    const char *key = e->group_key && e->deliver_group ? e->group_key(e->arg, &rows[i].row) : NULL;
    int u = nunits;
    for (int k = 0; key && k < nunits && u == nunits; k++)
      if (units[k].key && !strcmp(units[k].key, key) && (e->group_max <= 0 || units[k].n < e->group_max)) u = k;
    if (u == nunits) units[nunits++] = (round_unit){key, 0, NULL};
    units[u].n++;
    unit_of[i] = u;
  }
  for (int u = 0, used = 0; u < nunits; used += units[u].n, units[u].n = 0, u++) units[u].rows = slots + used;
  for (int i = 0; i < n; i++) {
    round_unit *u = &units[unit_of[i]];
    u->rows[u->n++] = &rows[i];
  }
  return nunits;
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
    if (t->rows[i].o.v != DELIVERY_OK) continue;
    if (t->e->on_delivered && t->e->on_delivered(t->e->arg, &t->rows[i].row) != 0) return PG_ERROR;
    ids[k++] = t->rows[i].row.id;
  }
  const char *p[] = {pg_text_array(t->a, ids, (size_t)k)};
  /* On one plan too, for any number of ids (Postgres planned it afresh at
   * about every other call). Set after the hooks' statements, it holds for
   * this one and the COMMIT. */
  int rc = pg_exec_later(ONE_PLAN, 0, NULL, NULL, NULL);
  return rc ? rc : pg_exec(t->e->delivered_many_sql, 1, p);
}

/* record_one records the outcome of one delivered or failed row. */
static void record_one(const delivery_engine *e, round_row *x) {
  if (x->o.v != DELIVERY_OK) {
    record_failure(e, &x->row, x->o.v == DELIVERY_DEAD, x->o.err[0] ? x->o.err : "failed");
    return;
  }
  delivered_tx t = {e, &x->row};
  int rc = pg_tx(mark_delivered, &t);
  if (rc == PG_OK) {
    count(e, "delivered");
    return;
  }
  snprintf(x->o.err, sizeof x->o.err, "%s after delivery: %s",
           e->on_delivered ? "reply hook or record" : "record", pg_code_name(rc));
  record_failure(e, &x->row, 0, x->o.err);
}

typedef struct claim_tx {
  const delivery_engine *e;
  const char *const *params;
  PGresult *r;
} claim_tx;

/* claim: the round's rows, leased. Planned once per connection, not per
 * round: Postgres kept planning the claim afresh at every call under load
 * (pg_stat_statements: as many plans as calls, 0.34 ms each, more than its
 * execution), so it runs under force_generic_plan, which a transaction
 * scopes (the SET goes with the claim, one round trip; the COMMIT is a
 * second). */
static int claim(void *arg) {
  claim_tx *t = arg;
  PQclear(t->r);   /* a retried transaction's */
  t->r = NULL;
  int rc = pg_exec_later(ONE_PLAN, 0, NULL, NULL, NULL);
  return rc ? rc : pg_query(&t->r, t->e->claim_sql, 2, t->params);
}

int delivery_round(const delivery_engine *e) {
  char lease[40], wave[16];
  snprintf(lease, sizeof lease, "%d milliseconds", e->lease_ms);
  snprintf(wave, sizeof wave, "%d", parallel_of(e));
  const char *lp[] = {lease, wave};
  claim_tx ct = {e, lp, NULL};
  if (pg_tx(claim, &ct) != PG_OK) {
    PQclear(ct.r);
    return -1;
  }
  PGresult *r = ct.r;
  pg_release();   /* no connection held while the rows travel */
  int n = PQntuples(r);
  size_t cap = (size_t)(n ? n : 1);
  round_row *rows = calloc(cap, sizeof *rows);
  round_unit *units = calloc(cap, sizeof *units);
  round_row **slots = calloc(cap, sizeof *slots);
  int *unit_of = calloc(cap, sizeof *unit_of);
  if (!rows || !units || !slots || !unit_of) {   /* the leases bring the rows back */
    n = -1;
    goto out;
  }
  for (int i = 0; i < n; i++) {
    arena_init(&rows[i].a);
    rows[i].row = (delivery_row){r, i, PQgetvalue(r, i, 0), (int)pg_int(r, i, 1), &rows[i].a, NULL};
  }
  round rd = {.e = e, .units = units, .nunits = group_rows(e, rows, n, units, slots, unit_of)};
  atomic_init(&rd.next, 0);
  send_round(&rd, parallel_of(e));
  /* Outcomes: the delivered rows together when the engine can, else (or if
   * that fails) each on its own. */
  int ok = 0, together = 0;
  for (int i = 0; i < n; i++) ok += rows[i].o.v == DELIVERY_OK;
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
    if (!together || rows[i].o.v != DELIVERY_OK) record_one(e, &rows[i]);
    pg_release();
    arena_free(&rows[i].a);
  }
out:
  free(rows);
  free(units);
  free(slots);
  free(unit_of);
  PQclear(r);
  return n;
}
