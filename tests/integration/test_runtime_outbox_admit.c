/* The outbox's admission (outbox_admit) with real dispatchers, a real
 * Postgres and the test service over gRPC: a call waits while a row has been
 * due too long with no dispatcher free to take it, at most the admission
 * wait, never past its deadline and never more calls at once than allowed,
 * and not at all for rows waiting out a retry's backoff or once the backlog
 * is gone. */
#include <criterion/criterion.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "accolade/test/v1/test.pb-c.h"
#include "harness.h"
#include "migrate.h"
#include "outbox.h"
#include "pg.h"

static char target[64];
static const char *dsn;

static const char *resolve(const char *t) { return strcmp(t, "test") == 0 ? target : NULL; }

/* One Echo row; the test service sleeps |sleep_ms| before answering it. */
static int enqueue_echo(void *p) {
  Accolade__Test__V1__EchoRequest req = ACCOLADE__TEST__V1__ECHO_REQUEST__INIT;
  req.text = "admit";
  req.sleep_ms = *(int *)p;
  return outbox_enqueue(&accolade__test__v1__test_service__descriptor, "Echo", "acme", &req.base);
}

static void *admit_thread(void *out) {
  *(int64_t *)out = outbox_admit(INT64_MAX);
  return NULL;
}

static void sql(const char *q) {
  char s[512];
  snprintf(s, sizeof s, "SET search_path = obadmit; %s", q);
  free(th_sql(dsn, s));
}

Test(outbox_admit, a_call_waits_while_rows_wait_for_a_dispatcher_and_only_then, .timeout = 60) {
  th_init();
  dsn = th_new_database("obadmit");
  pg_setup(dsn, "obadmit");
  cr_assert_eq(migrate_run(NULL), 0);
  th_proc svc;
  cr_assert_eq(th_start(&svc, th_bin("accolade-testsvc"), NULL), 0);
  snprintf(target, sizeof target, "%s", svc.addr);
  outbox_set_admission(250, 1000, 1);
  cr_assert_eq(outbox_start("test", resolve, 1), 0);
  /* Nothing due: no wait. */
  cr_assert_lt(outbox_admit(INT64_MAX), 50);

  /* The one dispatcher busy for 4.5 s with a slow call (under the outbox's
   * 5 s call timeout), and a second row due for 2 s that nobody can take:
   * behind. */
  int slow = 4500, quick = 0;
  cr_assert_eq(pg_tx(enqueue_echo, &slow), RPC_OK);
  for (int i = 0; i < 200; i++) {   /* until the dispatcher holds it */
    char *n = th_sql(dsn, "SELECT count(*) FROM obadmit.outbox WHERE leased_until IS NOT NULL");
    int held = atoi(n);
    free(n);
    if (held) break;
    usleep(10 * 1000);
  }
  cr_assert_eq(pg_tx(enqueue_echo, &quick), RPC_OK);
  sql("UPDATE outbox SET next_attempt_at = now() - interval '2 seconds' WHERE leased_until IS NULL RETURNING 1");
  usleep(200 * 1000);   /* the lag measured (every 50 ms) */
  int64_t waited = outbox_admit(INT64_MAX);
  cr_assert(waited >= 900 && waited < 1500, "waited %lld ms with the dispatchers behind (at most 1000)",
            (long long)waited);
  /* One call at a time may wait here (waiters 1): a second goes on at once. */
  int64_t first = -1;
  pthread_t th;
  cr_assert_eq(pthread_create(&th, NULL, admit_thread, &first), 0);
  usleep(100 * 1000);
  int64_t second = outbox_admit(INT64_MAX);
  pthread_join(th, NULL);
  cr_assert(first >= 900 && second < 50, "with one waiter allowed: %lld and %lld ms", (long long)first,
            (long long)second);
  /* A caller with 300 ms left waits nine tenths of it, not the whole wait. */
  waited = outbox_admit(300);
  cr_assert(waited >= 200 && waited < 400, "waited %lld ms with 300 ms left", (long long)waited);

  /* The row waiting out a retry's backoff instead: not due, no wait. */
  sql("UPDATE outbox SET next_attempt_at = now() + interval '1 minute' WHERE leased_until IS NULL RETURNING 1");
  usleep(200 * 1000);
  waited = outbox_admit(INT64_MAX);
  cr_assert_lt(waited, 50, "waited %lld ms for a row in backoff", (long long)waited);

  /* Due again: once the slow call ends the dispatcher takes it, and a call
   * that was waiting goes on before its longest wait. */
  sql("UPDATE outbox SET next_attempt_at = now() - interval '2 seconds' WHERE leased_until IS NULL RETURNING 1");
  usleep(200 * 1000);
  int held_back = 0;
  while (held_back < 10 && outbox_admit(INT64_MAX) >= 900) held_back++;   /* until the slow call is over */
  cr_assert_lt(held_back, 10, "still behind 10 s after the slow call began");
  int left = -1;
  for (int i = 0; i < 200 && left != 0; i++) {
    char *n = th_sql(dsn, "SELECT count(*) FROM obadmit.outbox WHERE delivered_at IS NULL");
    left = atoi(n);
    free(n);
    if (left) usleep(10 * 1000);
  }
  cr_assert_eq(left, 0, "rows left undelivered once the admission let calls through");
  usleep(200 * 1000);
  cr_assert_lt(outbox_admit(INT64_MAX), 50);

  outbox_stop();
  th_stop(&svc);
  pg_disconnect();
  th_fini();
}
