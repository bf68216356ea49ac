/* svc-leaderboard when Redis is flushed or down. Runs alone: it flushes and
 * stops the shared test Redis. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "accolade/v1/leaderboard.pb-c.h"
#include "harness.h"

#define SVC "/accolade.v1.LeaderboardService/"
#define T0 1798718400000LL

static th_proc lb;
static char org[64];
static identity svc, member;

static void setup(void) {
  th_init();
  const char *dsn = th_new_database("lbredis");
  static char pg[600], redis[64];
  snprintf(pg, sizeof pg, "ACCOLADE_LEADERBOARD_PG=%s", dsn);
  snprintf(redis, sizeof redis, "ACCOLADE_REDIS=127.0.0.1:%d", th_redis_port());
  const char *env[] = {pg, redis, "ACCOLADE_HEALTH_INTERVAL_MS=200", NULL};
  cr_assert_eq(th_start(&lb, th_bin("svc-leaderboard"), env), 0);
  snprintf(org, sizeof org, "lbr-%d", getpid());
  th_as(&svc, org, "svc:award", "service", "");
  th_as(&member, org, "mia", "member", "");
}

static void teardown(void) {
  cr_assert_eq(th_stop(&lb), 0);
  th_fini();
}

TestSuite(leaderboard_redis, .init = setup, .fini = teardown, .timeout = 120);

static int record(const char *id, const char *who, int64_t points, int64_t ms) {
  arena a;
  arena_init(&a);
  Accolade__V1__AwardRecord r = ACCOLADE__V1__AWARD_RECORD__INIT;
  r.award_id = (char *)id;
  r.org = org;
  r.recipient_id = (char *)who;
  r.recipient_team = "east";
  r.badge_id = "deal-closer";
  r.category = "sales";
  r.points = points;
  r.granted_at_ms = ms;
  Accolade__V1__RecordAwardResponse *out;
  rpc_status st;
  int rc = th_call(lb.addr, SVC "RecordAward", &r, &accolade__v1__record_award_response__descriptor, &svc, &a,
                   (void **)&out, &st);
  arena_free(&a);
  return rc;
}

/* board renders the all-time members board, or returns NULL when the call fails. */
static int board(char *buf, size_t cap, Accolade__V1__Window w, const char *period) {
  arena a;
  arena_init(&a);
  Accolade__V1__BoardSpec b = ACCOLADE__V1__BOARD_SPEC__INIT;
  b.window = w;
  b.period = (char *)period;
  Accolade__V1__GetTopRequest r = ACCOLADE__V1__GET_TOP_REQUEST__INIT;
  r.board = &b;
  r.page_size = 100;
  Accolade__V1__GetTopResponse *out;
  rpc_status st;
  int rc = th_call(lb.addr, SVC "GetTop", &r, &accolade__v1__get_top_response__descriptor, &member, &a,
                   (void **)&out, &st);
  size_t k = 0;
  buf[0] = 0;
  for (size_t i = 0; rc == RPC_OK && i < out->n_entries; i++)
    k += (size_t)snprintf(buf + k, cap - k, "%s%s=%lld", i ? "," : "", out->entries[i]->subject_id,
                          (long long)out->entries[i]->points);
  arena_free(&a);
  return rc;
}

static int wait_board(const char *want, Accolade__V1__Window w, const char *period, int ms) {
  char buf[512];
  for (int t = 0; t < ms; t += 100) {
    if (board(buf, sizeof buf, w, period) == RPC_OK && strcmp(buf, want) == 0) return 0;
    usleep(100 * 1000);
  }
  board(buf, sizeof buf, w, period);
  fprintf(stderr, "board is '%s', wanted '%s'\n", buf, want);
  return -1;
}

Test(leaderboard_redis, flushall_is_repaired_from_the_ledger_without_manual_steps) {
  cr_assert_eq(record("f1", "ann", 50, T0), RPC_OK);
  cr_assert_eq(record("f2", "bob", 50, T0 + 1000), RPC_OK);
  cr_assert_eq(record("f3", "cat", 20, T0 + 2000), RPC_OK);
  char before[512], week[512];
  cr_assert_eq(board(before, sizeof before, ACCOLADE__V1__WINDOW__ALL_TIME, ""), RPC_OK);
  cr_assert_eq(board(week, sizeof week, ACCOLADE__V1__WINDOW__WEEK, "2026-W53"), RPC_OK);
  cr_assert_str_eq(before, "ann=50,bob=50,cat=20");
  char cmd[128];
  snprintf(cmd, sizeof cmd, "redis-cli -p %d flushall >/dev/null", th_redis_port());
  cr_assert_eq(system(cmd), 0);
  cr_assert_eq(wait_board(before, ACCOLADE__V1__WINDOW__ALL_TIME, "", 10000), 0, "not repaired after FLUSHALL");
  cr_assert_eq(wait_board(week, ACCOLADE__V1__WINDOW__WEEK, "2026-W53", 1000), 0);
}

Test(leaderboard_redis, with_redis_down_writes_land_in_the_ledger_and_boards_catch_up) {
  cr_assert_eq(record("d1", "ann", 50, T0), RPC_OK);
  cr_assert_eq(system(th_env("ACCOLADE_TEST_REDIS_STOP")), 0);
  int down = th_wait_health(lb.addr, 2, 10000);
  int rc_write = record("d2", "bob", 70, T0 + 1000);
  char buf[512];
  int rc_read = board(buf, sizeof buf, ACCOLADE__V1__WINDOW__ALL_TIME, "");
  int started = system(th_env("ACCOLADE_TEST_REDIS_START"));
  cr_assert_eq(down, 0, "health did not turn NOT_SERVING with Redis down");
  cr_assert_eq(rc_write, RPC_OK, "writes must land in the ledger with Redis down");
  cr_assert_eq(rc_read, RPC_UNAVAILABLE);
  cr_assert_eq(started, 0);
  cr_assert_eq(th_wait_health(lb.addr, 1, 10000), 0);
  /* Redis came back empty: the boards are rebuilt, including the award
   * recorded while it was down. */
  cr_assert_eq(wait_board("bob=70,ann=50", ACCOLADE__V1__WINDOW__ALL_TIME, "", 10000), 0);
}
