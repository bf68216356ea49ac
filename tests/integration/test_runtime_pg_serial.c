/* Health follows Postgres: stop it, NOT_SERVING; start it, SERVING again.
 * Runs alone (it stops the shared test Postgres). */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <pthread.h>

#include <stdatomic.h>

#include "accolade/test/v1/test.pb-c.h"
#include "accolade/v1/award.pb-c.h"
#include "grpc/health/v1/health.pb-c.h"
#include "harness.h"

/* A Health.Watch client recording every status it is sent. */
typedef struct {
  const char *addr;
  int statuses[16];
  int n;
  int code;
} watch_log;

static int on_status(void *arg, const uint8_t *buf, size_t len) {
  watch_log *w = arg;
  Grpc__Health__V1__HealthCheckResponse *m = grpc__health__v1__health_check_response__unpack(NULL, len, buf);
  if (!m) return 1;
  if (w->n < 16) w->statuses[w->n++] = m->status;
  grpc__health__v1__health_check_response__free_unpacked(m, NULL);
  /* Stop after SERVING, NOT_SERVING, SERVING. */
  return w->n >= 3;
}

static void *watch(void *arg) {
  watch_log *w = arg;
  arena a;
  arena_init(&a);
  uint8_t empty[1];
  rpc_call_opts o = {.timeout_ms = 60000};
  rpc_status st;
  w->code = rpc_call_stream_raw(w->addr, "/grpc.health.v1.Health/Watch", empty, 0, &o, &a, on_status,
                                w, NULL, &st);
  arena_free(&a);
  return NULL;
}

Test(pg_health, postgres_down_is_not_serving_and_back_is_serving, .timeout = 180) {
  th_init();
  const char *dsn = th_new_database("pghealth");
  char pgenv[600];
  snprintf(pgenv, sizeof pgenv, "ACCOLADE_TESTSVC_PG=%s", dsn);
  const char *env[] = {pgenv, "ACCOLADE_HEALTH_INTERVAL_MS=200", NULL};
  th_proc p;
  cr_assert_eq(th_start(&p, th_bin("accolade-testsvc"), env), 0);
  cr_assert_eq(th_health(p.addr), 1);
  watch_log w = {.addr = p.addr};
  pthread_t wt;
  pthread_create(&wt, NULL, watch, &w);
  usleep(300 * 1000);

  cr_assert_eq(system(th_env("ACCOLADE_TEST_PG_STOP")), 0, "could not stop postgres");
  int down = th_wait_health(p.addr, 2, 10000);
  int restarted = system(th_env("ACCOLADE_TEST_PG_START"));
  cr_assert_eq(down, 0, "health did not turn NOT_SERVING with postgres down");
  cr_assert_eq(restarted, 0, "could not restart postgres");
  cr_assert_eq(th_wait_health(p.addr, 1, 15000), 0, "health did not come back to SERVING");
  pthread_join(wt, NULL);
  cr_assert_eq(w.n, 3, "Watch sent %d statuses", w.n);
  cr_assert_eq(w.statuses[0], 1);
  cr_assert_eq(w.statuses[1], 2);
  cr_assert_eq(w.statuses[2], 1);
  cr_assert_eq(w.code, RPC_CANCELLED, "the watcher cancelled: %d", w.code);
  /* Serving calls again. */
  arena a;
  arena_init(&a);
  Accolade__Test__V1__EchoRequest req = ACCOLADE__TEST__V1__ECHO_REQUEST__INIT;
  req.text = "after";
  Accolade__Test__V1__EchoResponse *out;
  rpc_status st;
  cr_assert_eq(th_call(p.addr, "/accolade.test.v1.TestService/Echo", &req,
                       &accolade__test__v1__echo_response__descriptor, NULL, &a, (void **)&out, &st),
               RPC_OK);
  arena_free(&a);
  cr_assert_eq(th_stop(&p), 0);
  th_fini();
}

/* ---- After a restart of Postgres no caller sees a stale connection ---- */

static const char *g_award_addr;
static identity g_admin;

/* badges_burst: 8 threads x 10 ListBadges at once, so every worker of the
 * service runs some; returns how many failed (first failure in |why|). */
static char g_why[200];
static atomic_int g_failed;

static void *badges_calls(void *arg) {
  (void)arg;
  arena a;
  arena_init(&a);
  for (int i = 0; i < 10; i++) {
    Accolade__V1__ListBadgesRequest req = ACCOLADE__V1__LIST_BADGES_REQUEST__INIT;
    Accolade__V1__ListBadgesResponse *out;
    rpc_status st;
    int rc = th_call(g_award_addr, "/accolade.v1.AwardService/ListBadges", &req,
                     &accolade__v1__list_badges_response__descriptor, &g_admin, &a, (void **)&out, &st);
    if (rc != RPC_OK && atomic_fetch_add(&g_failed, 1) == 0) snprintf(g_why, sizeof g_why, "%d %s", rc, st.message);
  }
  arena_free(&a);
  return NULL;
}

static int badges_burst(void) {
  pthread_t t[8];
  atomic_store(&g_failed, 0);
  g_why[0] = '\0';
  for (int i = 0; i < 8; i++) pthread_create(&t[i], NULL, badges_calls, NULL);
  for (int i = 0; i < 8; i++) pthread_join(t[i], NULL);
  return atomic_load(&g_failed);
}

Test(pg_health, after_a_restart_no_worker_fails_on_a_stale_connection, .timeout = 180) {
  th_init();
  const char *dsn = th_new_database("pgrestart");
  char pgenv[600];
  snprintf(pgenv, sizeof pgenv, "ACCOLADE_AWARD_PG=%s", dsn);
  /* A pool of 3 for 8 callers, the outbox and health: callers wait their turn. */
  const char *env[] = {pgenv, "ACCOLADE_HEALTH_INTERVAL_MS=200", "ACCOLADE_LEADERBOARD_ADDR=127.0.0.1:1",
                       "ACCOLADE_NOTIFY_ADDR=127.0.0.1:1", "ACCOLADE_PG_POOL=3", NULL};
  th_proc p;
  cr_assert_eq(th_start(&p, th_bin("svc-award"), env), 0);
  g_award_addr = p.addr;
  th_as(&g_admin, "pgr", "ada", "admin", "");
  cr_assert_eq(badges_burst(), 0, "before the restart: %s", g_why);   /* every worker holds a connection */
  cr_assert_eq(system(th_env("ACCOLADE_TEST_PG_STOP")), 0, "could not stop postgres");
  int restarted = system(th_env("ACCOLADE_TEST_PG_START"));
  cr_assert_eq(restarted, 0, "could not restart postgres");
  cr_assert_eq(th_wait_health(p.addr, 1, 15000), 0, "health did not come back to SERVING");
  cr_expect_eq(badges_burst(), 0, "calls failed after the restart; first: %s", g_why);
  char *held = th_sql(dsn, "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'accolade-award'");
  cr_expect(held && atol(held) <= 3, "svc-award holds %s connections, over its pool of 3", held ? held : "?");
  free(held);
  cr_assert_eq(th_stop(&p), 0);
  th_fini();
}
