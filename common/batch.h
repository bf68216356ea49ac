/* batch.h - the receiving side of a batch of events (RecordAwards,
 * PublishEvents): many items in one call, one transaction for all of them
 * (one commit, so one flush of the WAL for the lot), a result per item.
 *
 * An item is idempotent on its own id, as in the single call, so a batch
 * sent again, or holding items applied before, applies each at most once.
 * A bad item does not hold the others back: one refused by its checks gets
 * the status they gave (INVALID_ARGUMENT, PERMISSION_DENIED) and is left
 * out; one whose statements fail rolls
 * the shared transaction back, and each item then runs again in a
 * transaction of its own, with a result of its own.
 */
#ifndef ACCOLADE_BATCH_H
#define ACCOLADE_BATCH_H

#include <stddef.h>

#include "accolade/v1/events.pb-c.h"
#include "rpc.h"

#define BATCH_MAX_ITEMS 100

typedef struct batch_spec {
  const char *what;                     /* "record award": messages of failed items */
  /* check (may be NULL) checks item |i| before any transaction; a failure
   * it sets on the call (rpc_fail, check.h) becomes the item's result. */
  int (*check)(void *arg, size_t i);
  /* begin (may be NULL) runs first in each transaction (a lock, statements
   * for all its items at once), end (may be NULL) last; |items| are the
   * indices of the |n| items that run in it, in the order they run. */
  int (*begin)(void *arg, const size_t *items, size_t n);
  int (*end)(void *arg, const size_t *items, size_t n);
  /* item runs item |i| inside the transaction and returns a pg code (or a
   * status), with |*applied| 0 when the item was there before. It sets its
   * own outputs afresh each time: it runs again alone if the shared
   * transaction rolls back. */
  int (*item)(void *arg, size_t i, int *applied);
  /* key (may be NULL): the items run in the order of their keys (their ids),
   * so two batches that share items take their rows' locks in one order. */
  const char *(*key)(void *arg, size_t i);
  void *arg;
} batch_spec;

/* batch_serve serves a batch of |n| items: checks its size (1 to
 * BATCH_MAX_ITEMS, else the call fails INVALID_ARGUMENT naming |field|),
 * checks each item, runs the others as above, and returns a result per item
 * for the reply (in the call's arena), or NULL when the call failed. */
Accolade__V1__BatchItemResult **batch_serve(rpc_ctx *ctx, const char *field, size_t n, const batch_spec *spec);

#endif
