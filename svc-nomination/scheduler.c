/* scheduler.c - ReviewOverdue reminders: a nomination pending longer than its
 * org's overdue_days gets one reminder to its reviewers, through the outbox
 * (one per nomination, recorded in overdue_reminder in the same transaction).
 * Nudges: once per org and ISO week, one event naming the members who have
 * not nominated anyone for nudge_after_weeks. */
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "accolade/v1/events.pb-c.h"
#include "accolade/v1/notify.pb-c.h"
#include "log.h"
#include "outbox.h"
#include "nom.h"
#include "pg.h"
#include "rpc_client.h"
#include "store.h"

static atomic_int g_stop;
static pthread_t g_thread;
static long g_scan_ms = 60000;

typedef struct remind_tx {
  rpc_ctx *ctx;
  const char *id;
  int64_t days;
} remind_tx;

static int remind_run(void *arg) {
  remind_tx *t = arg;
  int fresh;
  int rc = store_overdue_claim(t->id, &fresh);
  if (rc || !fresh) return rc;
  Accolade__V1__Nomination *n;
  if ((rc = store_nomination_get(t->ctx, t->ctx->id.org, t->id, 0, &n))) return rc;
  n->decide_time_ms = 0;
  return nom_event_overdue(t->ctx, n, t->days);
}

/* scan_once reminds for every overdue nomination; returns how many. */
int scheduler_scan_once(void) {
  arena scratch;
  arena_init(&scratch);
  store_overdue *due;
  size_t n;
  if (store_overdue_due(&scratch, &due, &n) != RPC_OK) {
    arena_free(&scratch);
    return -1;
  }
  for (size_t i = 0; i < n; i++) {
    arena a;
    rpc_ctx ctx;
    rpc_ctx_background(&ctx, &a, "scheduler", due[i].org);
    remind_tx t = {&ctx, due[i].id, due[i].days};
    if (pg_tx(remind_run, &t) != RPC_OK) log_warn("overdue reminder for %s failed; will retry", t.id);
    arena_free(&a);
  }
  arena_free(&scratch);
  return (int)n;
}

/* nudge_run records the org's nudge of the week and, if anyone has been
 * quiet, enqueues its event: both or neither. */
static int nudge_run(void *arg) {
  const store_nudge *x = arg;
  int rc = store_nudge_sent(x->org, x->week, x->nmembers);
  if (rc || !x->nmembers) return rc;
  arena a;
  arena_init(&a);
  Accolade__V1__Nudge nudge = ACCOLADE__V1__NUDGE__INIT;
  nudge.member_ids = x->members;
  nudge.n_member_ids = x->nmembers;
  nudge.weeks_quiet = x->weeks_quiet;
  nudge.text = arena_printf(&a, "Who helped you win lately? You have not recognised anyone for %lld weeks.",
                            (long long)x->weeks_quiet);
  Accolade__V1__Event ev = ACCOLADE__V1__EVENT__INIT;
  ev.event_id = arena_printf(&a, "nudge:%s", x->week);
  ev.org = (char *)x->org;
  ev.kind_case = ACCOLADE__V1__EVENT__KIND_NUDGE;
  ev.nudge = &nudge;
  rc = outbox_enqueue(&accolade__v1__notify_service__descriptor, "PublishEvent", x->org, &ev.base);
  arena_free(&a);
  return rc;
}

/* nudge_once: once per org and ISO week, one Nudge event naming the active
 * members who have not nominated anyone for the org's nudge_after_weeks. */
int scheduler_nudge_once(void) {
  arena scratch;
  arena_init(&scratch);
  store_nudge *due;
  size_t n;
  if (store_nudges_due(&scratch, &due, &n) != RPC_OK) {
    arena_free(&scratch);
    return -1;
  }
  for (size_t i = 0; i < n; i++) pg_tx(nudge_run, &due[i]);
  arena_free(&scratch);
  return (int)n;
}

static void *scheduler_main(void *arg) {
  (void)arg;
  while (!atomic_load(&g_stop)) {
    scheduler_scan_once();
    scheduler_nudge_once();
    pg_release();   /* not held while it sleeps */
    for (long waited = 0; waited < g_scan_ms && !atomic_load(&g_stop); waited += 50) usleep(50 * 1000);
  }
  return NULL;
}

void scheduler_start(void) {
  const char *ms = getenv("ACCOLADE_NOMINATION_OVERDUE_SCAN_MS");
  if (ms && atol(ms) > 0) g_scan_ms = atol(ms);
  atomic_store(&g_stop, 0);
  pthread_create(&g_thread, NULL, scheduler_main, NULL);
}

void scheduler_stop(void) {
  atomic_store(&g_stop, 1);
  pthread_join(g_thread, NULL);
}
