/* Faults on the whole suite: recognitions approved through the gateway while
 * each service is killed with SIGKILL and restarted, Postgres is restarted,
 * and Redis is flushed and restarted. Afterwards every count is exact in
 * every store: each approval gives one award, one ledger row, the right
 * points on the leaderboard and one notification - nothing lost, nothing
 * twice, and the Redis boards equal a rebuild from the ledger. Each kill
 * comes with outbox rows still undelivered (checked; see hold()). Runs
 * alone: it stops the shared Postgres and Redis. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "accolade/v1/award.pb-c.h"
#include "accolade/v1/leaderboard.pb-c.h"
#include "accolade/v1/nomination.pb-c.h"
#include "accolade/v1/notify.pb-c.h"
#include "harness.h"

#define SECRET "fault-secret"
#define NO "/accolade.v1.NominationService/"
#define MEMBERS 5
#define ROUNDS 6          /* faults */
#define PER_ROUND 4       /* approvals around each fault */
#define POINTS 50         /* deal-closer's default */
#define GIVERS 8          /* each may nominate 5 times a month */

static th_suite suite;
static char org[64];

/* call retries while the suite is recovering (UNAVAILABLE, deadline). */
static int call(const char *user, const char *role, const char *method, const void *req,
                const ProtobufCMessageDescriptor *d, arena *a, void **out, rpc_status *st) {
  int rc = RPC_UNAVAILABLE;
  for (int i = 0; i < 120; i++) {
    rc = th_via_as(suite.gateway.addr, SECRET, org, user, role, "", 5000, method, req, d, a, out, st);
    if (rc != RPC_UNAVAILABLE && rc != RPC_DEADLINE_EXCEEDED) return rc;
    usleep(250 * 1000);
  }
  return rc;
}

static int approved;

/* recognize nominates member |k| and approves it; the request id makes a
 * retried create idempotent, and a retried review that finds the nomination
 * already approved (its first try committed) is fine. */
static void recognize(arena *a, int k) {
  static int seq;
  char who[16], rid[32], giver[16];
  snprintf(who, sizeof who, "m%d", k % MEMBERS);
  snprintf(giver, sizeof giver, "g%d", (k / 4) % GIVERS);
  snprintf(rid, sizeof rid, "fault-%d", seq++);
  Accolade__V1__CreateNominationRequest cn = ACCOLADE__V1__CREATE_NOMINATION_REQUEST__INIT;
  cn.badge_id = "deal-closer";
  char *nominees[] = {who};
  cn.nominee_ids = nominees;
  cn.n_nominee_ids = 1;
  cn.justification = "Closed a renewal early by pairing with support on every blocker, during an outage.";
  cn.request_id = rid;
  Accolade__V1__Nomination *n;
  rpc_status st;
  int rc = call(giver, "member", NO "CreateNomination", &cn, &accolade__v1__nomination__descriptor, a,
                (void **)&n, &st);
  cr_assert_eq(rc, RPC_OK, "create %s: %s %s", rid, rpc_code_name(rc), st.message);
  Accolade__V1__ReviewNominationRequest rr = ACCOLADE__V1__REVIEW_NOMINATION_REQUEST__INIT;
  rr.nomination_id = n->id;
  rr.approve = 1;
  void *out;
  rc = call("mgr", "manager", NO "ReviewNomination", &rr, &accolade__v1__nomination__descriptor, a, &out, &st);
  cr_assert(rc == RPC_OK || rc == RPC_FAILED_PRECONDITION, "review %s: %s %s", rid, rpc_code_name(rc), st.message);
  approved++;
}

static long long count(const char *sql) {
  char *v = th_sql(suite.dsn, sql);
  long long n = v ? atoll(v) : -1;
  free(v);
  return n;
}

/* ---- The backlog at a kill ----
 * A kill tests recovery only if work was left undelivered when it came. So
 * before a round's kill the outbox rows its victim must send (its own
 * outbox: |schema|) or receive (rows to |target|) are held: a trigger makes
 * them due in an hour instead of at once. The test checks they are there,
 * kills, then releases them for the restarted processes to deliver. */

static const char *const outboxes[] = {"nomination", "award"};   /* the services with an outbox */

static void hold(const char *schema, const char *target) {
  char sql[1024];
  snprintf(sql, sizeof sql,
           "CREATE OR REPLACE FUNCTION public.fault_hold() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
           "IF NEW.org = '%s' AND (TG_TABLE_SCHEMA = '%s' OR NEW.target = '%s') THEN "
           "NEW.next_attempt_at := now() + interval '1 hour'; END IF; RETURN NEW; END $$",
           org, schema, target);
  free(th_sql(suite.dsn, sql));
  for (size_t i = 0; i < sizeof outboxes / sizeof outboxes[0]; i++) {
    snprintf(sql, sizeof sql,
             "CREATE TRIGGER fault_hold BEFORE INSERT ON %s.outbox FOR EACH ROW EXECUTE FUNCTION public.fault_hold()",
             outboxes[i]);
    free(th_sql(suite.dsn, sql));
  }
}

/* held: the undelivered rows of the org that |schema| sends or |target| receives. */
static long long held(const char *schema, const char *target) {
  char sql[512];
  snprintf(sql, sizeof sql,
           "SELECT (SELECT count(*) FROM nomination.outbox WHERE org = '%s' AND delivered_at IS NULL "
           "AND ('nomination' = '%s' OR target = '%s')) + (SELECT count(*) FROM award.outbox WHERE org = '%s' "
           "AND delivered_at IS NULL AND ('award' = '%s' OR target = '%s'))",
           org, schema, target, org, schema, target);
  char *v = th_sql(suite.dsn, sql);
  long long n = v ? atoll(v) : -1;
  free(v);
  return n;
}

/* release drops the trigger and makes the held rows due now. */
static void release(void) {
  char sql[256];
  for (size_t i = 0; i < sizeof outboxes / sizeof outboxes[0]; i++) {
    snprintf(sql, sizeof sql, "DROP TRIGGER IF EXISTS fault_hold ON %s.outbox", outboxes[i]);
    free(th_sql(suite.dsn, sql));
    snprintf(sql, sizeof sql,
             "UPDATE %s.outbox SET next_attempt_at = now() WHERE org = '%s' AND delivered_at IS NULL "
             "AND dead_at IS NULL",
             outboxes[i], org);
    free(th_sql(suite.dsn, sql));
  }
}

/* settled: every store agrees with |approved| approvals. */
/* live_prefix: the key prefix of the org's live board generation
 * (svc-leaderboard/gen.h): lb:{org}, or lb:{org}:g<n> after a rebuild. */
static void live_prefix(char *out, size_t cap) {
  char cmd[256], gen[32] = "";
  snprintf(cmd, sizeof cmd, "redis-cli -p %d get 'lb:{%s}:gen'", th_redis_port(), org);
  FILE *f = popen(cmd, "r");
  if (f && fgets(gen, sizeof gen, f)) gen[strcspn(gen, "\r\n")] = 0;
  if (f) pclose(f);
  if (gen[0] >= '1' && gen[0] <= '9')
    snprintf(out, cap, "lb:{%s}:g%s", org, gen);
  else
    snprintf(out, cap, "lb:{%s}", org);
}

static int settled(char *why, size_t cap) {
  char q[512];
  long long want = approved;
  snprintf(q, sizeof q, "SELECT count(*) FROM award.award WHERE org = '%s'", org);
  long long awards = count(q);
  snprintf(q, sizeof q, "SELECT count(*) FROM leaderboard.ledger WHERE org = '%s'", org);
  long long ledger = count(q);
  snprintf(q, sizeof q, "SELECT count(*) FROM notify.inbox WHERE org = '%s' AND kind = 'award_granted'", org);
  long long inbox = count(q);
  char cmd[512], prefix[160];
  live_prefix(prefix, sizeof prefix);
  snprintf(cmd, sizeof cmd, "redis-cli -p %d zrange '%s:members:all:all' 0 -1 withscores", th_redis_port(), prefix);
  FILE *f = popen(cmd, "r");
  long long points = 0;
  char line[256];
  int odd = 0;
  while (f && fgets(line, sizeof line, f))
    if (odd++ % 2) points += (long long)(atof(line) / 1073741824.0);   /* score = points * 2^30 + tie-break */
  if (f) pclose(f);
  snprintf(why, cap, "approved %lld: awards %lld, ledger %lld, inbox %lld, leaderboard points %lld (want %lld)",
           want, awards, ledger, inbox, points, want * POINTS);
  return awards == want && ledger == want && inbox == want && points == want * POINTS;
}

/* board_dump: a board's members and exact scores, as redis-cli prints them. */
static void board_dump(const char *board, char *out, size_t cap) {
  char cmd[512], prefix[160];
  live_prefix(prefix, sizeof prefix);
  snprintf(cmd, sizeof cmd, "redis-cli -p %d zrange '%s:%s' 0 -1 withscores", th_redis_port(), prefix, board);
  FILE *f = popen(cmd, "r");
  size_t n = f ? fread(out, 1, cap - 1, f) : 0;
  out[n] = '\0';
  if (f) pclose(f);
}

static void wait_settled(const char *after) {
  char why[512] = "";
  for (int i = 0; i < 240; i++) {
    if (settled(why, sizeof why)) {
      fprintf(stderr, "after %s: %s\n", after, why);
      return;
    }
    usleep(250 * 1000);
  }
  cr_assert_fail("after %s the stores did not agree: %s", after, why);
}

Test(fault, kills_and_outages_lose_nothing_and_double_nothing, .timeout = 600) {
  th_init();
  snprintf(org, sizeof org, "fault-%d", getpid());
  const char *extra[] = {"ACCOLADE_HEALTH_INTERVAL_MS=200", NULL};
  th_suite_start(&suite, "fault", SECRET, extra);
  arena a;
  arena_init(&a);
  enum { PEOPLE = MEMBERS + 1 + GIVERS };
  Accolade__V1__Member m[PEOPLE], *mp[PEOPLE];
  char ids[PEOPLE][16];
  for (int i = 0; i < PEOPLE; i++) {
    accolade__v1__member__init(&m[i]);
    if (i < MEMBERS) snprintf(ids[i], sizeof ids[i], "m%d", i);
    else if (i == MEMBERS) snprintf(ids[i], sizeof ids[i], "mgr");
    else snprintf(ids[i], sizeof ids[i], "g%d", i - MEMBERS - 1);
    m[i].member_id = ids[i];
    m[i].manager_id = i == MEMBERS ? "" : "mgr";
    m[i].team = "east";
    m[i].active = 1;
    mp[i] = &m[i];
  }
  Accolade__V1__UpsertMembersRequest ur = ACCOLADE__V1__UPSERT_MEMBERS_REQUEST__INIT;
  ur.members = mp;
  ur.n_members = PEOPLE;
  void *out;
  rpc_status st;
  cr_assert_eq(call("ada", "admin", NO "UpsertMembers", &ur, &accolade__v1__upsert_members_response__descriptor, &a,
                    &out, &st), RPC_OK, "%s", st.message);

  th_proc *victims[] = {&suite.award, &suite.lb, &suite.notify, &suite.nomination};
  const char *names[] = {"svc-award", "svc-leaderboard", "svc-notify", "svc-nomination"};
  /* What each victim leaves undelivered: svc-award and svc-nomination their
   * own outbox, the others the rows sent to them. */
  const char *held_schema[] = {"award", "-", "-", "nomination"};
  const char *held_target[] = {"-", "leaderboard", "notify", "-"};
  int k = 0;
  for (int round = 0; round < ROUNDS; round++) {
    if (round < 4) hold(held_schema[round], held_target[round]);
    for (int i = 0; i < PER_ROUND / 2; i++) recognize(&a, k++);
    char what[64];
    if (round < 4) {
      /* SIGKILL right after approvals, with their deliveries still to make. */
      snprintf(what, sizeof what, "kill -9 %s", names[round]);
      long long backlog = 0;
      for (int i = 0; i < 200 && (backlog = held(held_schema[round], held_target[round])) <= 0; i++)
        usleep(50 * 1000);
      cr_assert_gt(backlog, 0, "%s: no undelivered outbox rows at the kill: it would test no recovery", what);
      fprintf(stderr, "%s with %lld outbox rows undelivered\n", what, backlog);
      th_kill(victims[round]);
      release();
      for (int i = 0; i < PER_ROUND / 2 && round != 3; i++) recognize(&a, k++);   /* nomination is the way in */
      cr_assert_eq(th_suite_restart(&suite, victims[round]), 0, "%s did not come back", names[round]);
      if (round == 3)
        for (int i = 0; i < PER_ROUND / 2; i++) recognize(&a, k++);
    } else if (round == 4) {
      snprintf(what, sizeof what, "a postgres restart");
      cr_assert_eq(system(th_env("ACCOLADE_TEST_PG_STOP")), 0);
      sleep(1);
      int started = system(th_env("ACCOLADE_TEST_PG_START"));
      cr_assert_eq(started, 0, "could not restart postgres");
      for (int i = 0; i < PER_ROUND / 2; i++) recognize(&a, k++);
    } else {
      snprintf(what, sizeof what, "redis FLUSHALL and restart");
      char cmd[128];
      snprintf(cmd, sizeof cmd, "redis-cli -p %d flushall >/dev/null", th_redis_port());
      cr_assert_eq(system(cmd), 0);
      cr_assert_eq(system(th_env("ACCOLADE_TEST_REDIS_STOP")), 0);
      for (int i = 0; i < PER_ROUND / 2; i++) recognize(&a, k++);   /* redis down: boards catch up later */
      cr_assert_eq(system(th_env("ACCOLADE_TEST_REDIS_START")), 0);
    }
    wait_settled(what);
  }
  /* Per member too: the leaderboard agrees with the awards. */
  for (int i = 0; i < MEMBERS; i++) {
    char q[256];
    snprintf(q, sizeof q, "SELECT count(*) FROM award.award WHERE org = '%s' AND recipient_id = 'm%d'", org, i);
    long long n = count(q);
    Accolade__V1__GetRankRequest gr = ACCOLADE__V1__GET_RANK_REQUEST__INIT;
    gr.subject_id = ids[i];
    Accolade__V1__GetRankResponse *rank;
    cr_assert_eq(call(ids[i], "member", "/accolade.v1.LeaderboardService/GetRank", &gr,
                      &accolade__v1__get_rank_response__descriptor, &a, (void **)&rank, &st), RPC_OK, "%s", st.message);
    cr_expect_eq(rank->ranked ? rank->entry->points : 0, n * POINTS, "m%d: %lld awards", i, n);
  }
  /* The boards equal a rebuild from the ledger, scores and tie-breaks included. */
  const char *boards[] = {"members:all:all", "teams:all:all", "members:all:all:badge:deal-closer"};
  char before[3][4096], after[3][4096];
  for (int i = 0; i < 3; i++) board_dump(boards[i], before[i], sizeof before[i]);
  Accolade__V1__RebuildLeaderboardsRequest rb = ACCOLADE__V1__REBUILD_LEADERBOARDS_REQUEST__INIT;
  Accolade__V1__RebuildLeaderboardsResponse *rbr;
  cr_assert_eq(call("ada", "admin", "/accolade.v1.LeaderboardService/RebuildLeaderboards", &rb,
                    &accolade__v1__rebuild_leaderboards_response__descriptor, &a, (void **)&rbr, &st), RPC_OK, "%s",
               st.message);
  cr_expect_eq(rbr->awards, approved);
  for (int i = 0; i < 3; i++) {
    board_dump(boards[i], after[i], sizeof after[i]);
    cr_expect(before[i][0] != '\0', "%s is empty", boards[i]);
    cr_expect_str_eq(after[i], before[i], "%s differs from its rebuild", boards[i]);
  }
  arena_free(&a);
  th_suite_stop(&suite);
  th_fini();
}
