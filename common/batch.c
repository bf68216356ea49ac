/* batch.c - many items, one transaction, a result per item (batch.h). */
#include "batch.h"

#include <string.h>

#include "pg.h"
#include "pg_status.h"

/* take_failure moves the failure set on the call (ctx->code, ctx->message)
 * into |res| and clears it from the call, which goes on with the next item. */
static void take_failure(rpc_ctx *ctx, Accolade__V1__BatchItemResult *res) {
  if (ctx->code == RPC_OK) return;
  res->code = ctx->code;
  res->message = ctx->message ? ctx->message : (char *)"";
  res->applied = 0;
  ctx->code = RPC_OK;
  ctx->message = NULL;
}

typedef struct batch_tx {
  Accolade__V1__BatchItemResult **res;
  size_t n, only;    /* only: one item (< n), or all of them (n) */
  const size_t *order;
  size_t *runs;      /* room for n: the items of this transaction */
  const batch_spec *spec;
} batch_tx;

static int batch_tx_run(void *arg) {
  batch_tx *t = arg;
  const batch_spec *s = t->spec;
  size_t m = 0;
  for (size_t k = 0; k < t->n; k++) {
    size_t i = t->order[k];
    if ((t->only == t->n || t->only == i) && t->res[i]->code == RPC_OK) t->runs[m++] = i;
  }
  int rc = s->begin ? s->begin(s->arg, t->runs, m) : PG_OK;
  for (size_t k = 0; k < m && rc == PG_OK; k++) {
    int applied = 0;
    rc = s->item(s->arg, t->runs[k], &applied);
    t->res[t->runs[k]]->applied = rc == PG_OK && applied;
  }
  if (rc == PG_OK && s->end) rc = s->end(s->arg, t->runs, m);
  return rc;
}

/* batch_order: the items' indices in the order of their keys (insertion
 * sort: a batch is small). */
static size_t *batch_order(rpc_ctx *ctx, size_t n, const batch_spec *spec) {
  size_t *order = ARENA_ARRAY(ctx->arena, size_t, n);
  for (size_t i = 0; i < n; i++) {
    size_t k = i;
    for (; spec->key && k > 0 && strcmp(spec->key(spec->arg, order[k - 1]), spec->key(spec->arg, i)) > 0; k--)
      order[k] = order[k - 1];
    order[k] = i;
  }
  return order;
}

/* batch_run runs the items whose results are still OK in one transaction,
 * else each in its own, and records how each went. */
static void batch_run(rpc_ctx *ctx, Accolade__V1__BatchItemResult **res, size_t n, const batch_spec *spec) {
  batch_tx t = {res, n, n, batch_order(ctx, n, spec), ARENA_ARRAY(ctx->arena, size_t, n), spec};
  int rc = pg_tx(batch_tx_run, &t);
  if (rc == PG_OK) return;
  /* Postgres away or the deadline spent: no item would fare better alone. */
  int alone = rc != PG_UNAVAILABLE && rc != PG_TIMEOUT;
  for (size_t i = 0; i < n; i++) {
    if (res[i]->code != RPC_OK) continue;
    t.only = i;
    int one = alone ? pg_tx(batch_tx_run, &t) : rc;
    if (one == PG_OK) continue;
    pg_fail(ctx, one, spec->what);
    take_failure(ctx, res[i]);
  }
}

Accolade__V1__BatchItemResult **batch_serve(rpc_ctx *ctx, const char *field, size_t n, const batch_spec *spec) {
  if (n < 1 || n > BATCH_MAX_ITEMS) {
    rpc_fail(ctx, RPC_INVALID_ARGUMENT, "%s: 1 to %d items (got %zu)", field, BATCH_MAX_ITEMS, n);
    return NULL;
  }
  Accolade__V1__BatchItemResult **res = ARENA_ARRAY(ctx->arena, Accolade__V1__BatchItemResult *, n);
  for (size_t i = 0; i < n; i++) {
    res[i] = ARENA_NEW(ctx->arena, Accolade__V1__BatchItemResult);
    accolade__v1__batch_item_result__init(res[i]);
    if (spec->check) {
      spec->check(spec->arg, i);
      take_failure(ctx, res[i]);
    }
  }
  batch_run(ctx, res, n, spec);
  return res;
}
