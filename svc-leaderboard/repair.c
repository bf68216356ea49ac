/* repair.c - the repair thread: rebuilds every org when Redis lost its
 * data (the epoch key is gone) or a Redis Cluster failover was seen, applies pending ledger rows (record.c) when
 * Redis is back, and drops a generation a stopped process left (rebuild.c). */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#include "lb.h"
#include "log.h"
#include "pg.h"
#include "redis.h"
#include "store.h"

static pthread_t g_thread;

/* rebuild_all rebuilds every org's boards from the ledger; 0, or -1 when
 * one failed (Redis or Postgres unreachable). */
static int rebuild_all(int *orgs_out) {
  char **orgs;
  int n;
  if (store_orgs(&orgs, &n) != RPC_OK) return -1;
  int rc = 0;
  for (int i = 0; i < n; i++) {
    int64_t awards, boards;
    if (rc == 0 && lb_rebuild_org(orgs[i], &awards, &boards) != RPC_OK) rc = -1;
    free(orgs[i]);
  }
  free(orgs);
  *orgs_out = n;
  return rc;
}

/* ensure_epoch: a missing epoch key means Redis lost its data (flush,
 * restart without persistence): rebuild every org from the ledger. */
static int ensure_epoch(void) {
  redisReply *r = redis_cmd("EXISTS %s", LB_EPOCH_KEY);
  if (!r) return -1;
  int exists = r->type == REDIS_REPLY_INTEGER && r->integer == 1;
  freeReplyObject(r);
  if (exists) return 0;
  int n = 0;
  int rc = rebuild_all(&n);
  if (rc == 0) {
    r = redis_cmd("SET %s %lld", LB_EPOCH_KEY, (long long)time(NULL));
    if (r) freeReplyObject(r);
    if (n) log_warn("leaderboards were missing from Redis: rebuilt %d org(s) from the ledger", n);
  }
  return rc;
}

/* after_failover: a Redis Cluster replica promoted to master may lack the
 * last writes its master acknowledged (replication is asynchronous): the
 * boards are rebuilt from the ledger once per failover seen. */
static void after_failover(long *seen) {
  long now = redis_failovers();
  if (now == *seen) return;
  int n = 0;
  if (rebuild_all(&n) == 0) {
    log_warn("redis failover: rebuilt %d org(s) from the ledger", n);
    *seen = now;
  }
}

static void *repair_main(void *arg) {
  (void)arg;
  int leftovers_done = 0;
  long failovers = redis_failovers();
  while (!lb_stopping()) {
    if (ensure_epoch() == 0) {
      after_failover(&failovers);
      lb_apply_pending();
      /* once per start: an old generation a stopped process left */
      if (!leftovers_done) leftovers_done = lb_drop_leftovers() == 0;
    }
    pg_release();   /* not held while it sleeps */
    for (int i = 0; i < 10 && !lb_stopping(); i++) usleep(100 * 1000);
  }
  return NULL;
}

void lb_repair_start(void) {
  lb_set_stopping(0);
  pthread_create(&g_thread, NULL, repair_main, NULL);
}

void lb_repair_stop(void) {
  lb_set_stopping(1);
  pthread_join(g_thread, NULL);
  lb_rebuild_wait_drops();   /* they stop early now: the next rebuild finishes them */
}
