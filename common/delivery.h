/* delivery.h - the one delivery engine: rows of a table sent out at least
 * once, with no transaction open while they travel.
 *
 * A round claims due rows (as many as |claim_sql|'s LIMIT) with a lease, in
 * one statement (their next attempt pushed past the lease, SKIP LOCKED, so
 * replicas share the work and a crash mid-round leaves the rest due again
 * when the lease ends). The rows go one after another, or |parallel| at a
 * time: the row at place p (from 1) is in flight by wave ceil(p / parallel),
 * so that is its lease in |lease_ms| (one delivery's longest time). After a
 * crash the first wave is due again within one delivery's time, the last
 * within the round's longest time (not the sum of its deliveries' times: a
 * replica killed mid-round must not hold its rows for minutes). Each row is
 * delivered with no transaction open, and its outcome recorded: delivered
 * (with |on_delivered| in the same transaction, if given; with
 * |delivered_many_sql| the round's delivered rows together),
 * or a failed attempt, counted, then retried after a backoff (base doubling
 * per attempt, up to max) or dead-lettered: a permanent failure, or the last
 * of |max_attempts|. A failing |on_delivered| is a failed attempt like any
 * other. Outcomes are counted in accolade_<name>_deliveries_total{outcome}.
 *
 * Rows may also travel in groups: the rows of a round that |group_key| gives
 * one key go as one call of |deliver_group| (a batch RPC), which sets each
 * row's own outcome; each is then recorded as if it had gone alone.
 *
 * The outbox (outbox.c) and svc-notify's webhooks and emails run on it.
 */
#ifndef ACCOLADE_DELIVERY_H
#define ACCOLADE_DELIVERY_H

#include <libpq-fe.h>
#include <stddef.h>
#include <stdint.h>

#include "arena.h"

/* The most rows of a round that travel at once. */
#define DELIVERY_MAX_PARALLEL 32

typedef enum { DELIVERY_OK, DELIVERY_RETRY, DELIVERY_DEAD } delivery_verdict;

/* One claimed row: the claim's columns (id first, attempts second, then the
 * engine's own), and scratch memory freed once its outcome is recorded. */
typedef struct delivery_row {
  const PGresult *r;
  int row;
  const char *id;
  int attempts;       /* before this one */
  arena *a;
  void *data;         /* for |deliver| to hand to |on_delivered| */
} delivery_row;

/* A row's outcome, as |deliver_group| reports it. */
typedef struct delivery_outcome {
  delivery_verdict v;
  char err[512];      /* why, for RETRY and DEAD */
} delivery_outcome;

typedef struct delivery_engine {
  const char *name;            /* "outbox", "webhook": logs and metrics */
  /* $1 lease per wave (an interval), $2 rows per wave (the lease of the row
   * at place p, from 1, is $1 * ((p - 1) / $2 + 1)); rows id, attempts, ...,
   * in the order of places. Its LIMIT, the most rows a round takes, is
   * written in the SQL: the claim runs on a plan made once per connection
   * (delivery.c), and a plan made for LIMIT $n would be made for a limit
   * unknown. */
  const char *claim_sql;
  const char *delivered_sql;   /* $1 id */
  /* delivered_many_sql (may be NULL): $1 the ids of several rows (a text[]
   * literal), marked delivered together with their |on_delivered| in one
   * transaction, one commit for the round's deliveries. If that transaction
   * fails, each row is recorded on its own as without it. */
  const char *delivered_many_sql;
  /* parallel: how many of a round's rows travel at once (0 or 1: one after
   * another). |deliver| then runs on helper threads that hold no Postgres
   * connection and must not query. */
  int parallel;
  const char *failed_sql;      /* $1 id, $2 error, $3 next attempt in (an interval), $4 dead (bool) */
  int lease_ms;                /* per wave of |parallel| rows in the round */
  int max_attempts;
  int retry_base_ms, retry_max_ms;
  /* deliver sends one row (no transaction open): DELIVERY_OK, or RETRY /
   * DEAD (permanent) with |err| set. */
  delivery_verdict (*deliver)(void *arg, delivery_row *row, char *err, size_t cap);
  /* on_delivered (may be NULL) runs in the transaction that marks the row
   * delivered; non-zero rolls both back and counts a failed attempt. */
  int (*on_delivered)(void *arg, delivery_row *row);
  /* group_key (may be NULL) names the group a row travels in (a string in
   * the row's arena), or NULL for a row that goes alone through |deliver|.
   * Two or more rows of a round with one key go together (|group_max| at
   * most, 0: no limit), as one call of |deliver_group| (on a helper thread,
   * like |deliver|), which sets each of |out[0..n-1]|. */
  const char *(*group_key)(void *arg, delivery_row *row);
  void (*deliver_group)(void *arg, delivery_row **rows, delivery_outcome **out, int n);
  int group_max;
  void *arg;
} delivery_engine;

/* delivery_round runs one round on the calling thread: the number of rows
 * claimed, or -1 when Postgres is unreachable. */
int delivery_round(const delivery_engine *e);

#endif
