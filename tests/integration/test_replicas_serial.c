/* Several replicas of everything: two of each service and two gateways,
 * each a real process on its own loopback port, each caller told every
 * replica of the services it calls (round-robin). 2,000 approvals spread
 * over both gateways give every award exactly once (award, ledger, board,
 * inbox) with calls served by both replicas of each service, also when one
 * replica of each is killed with SIGKILL half-way; the scheduled jobs
 * (overdue reminders, weekly nudges, the weekly digest) run once across the
 * replicas; replicas started together apply each migration once. Runs alone: ten processes under load would starve the tests
 * beside it on a small machine. */
#include <criterion/criterion.h>
#include <dirent.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "accolade/v1/nomination.pb-c.h"
#include "accolade/v1/notify.pb-c.h"
#include "flow.h"

#define SECRET "fleet-secret"
#define APPROVALS 2000
#define MEMBERS 10
#define GIVERS 41      /* 2000 / 41 < 100 a month each; lcm(41, 10) > THREADS */
#define THREADS 4

static th_fleet fleet;
static th_gw gw;
static char org[40];
static atomic_int g_next, g_done, g_failed;

static void *worker(void *arg) {
  (void)arg;
  for (int k; (k = atomic_fetch_add(&g_next, 1)) < APPROVALS;) {
    /* 100 tries 100 ms apart: a call caught by a replica's death is retried
     * (by request id: a create that committed comes back as it was). */
    if (th_recognize(&gw, org, k, MEMBERS, GIVERS, 100, NULL) != RPC_OK) atomic_fetch_add(&g_failed, 1);
    atomic_fetch_add(&g_done, 1);
  }
  return NULL;
}

/* q: the count a query on the fleet's database returns; '%s' is the org. */
__attribute__((format(printf, 1, 2))) static long long qf(const char *fmt, ...) {
  char sql[600];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(sql, sizeof sql, fmt, ap);
  va_end(ap);
  return th_count(fleet.dsn, sql);
}
#define q(fmt) qf(fmt, org)

/* served: the calls to accolade.v1 methods replica |r| of service |i| answered. */
static long long served(int i, int r) {
  return th_metric_sum(fleet.svc_metrics[i][r], "accolade_rpc_requests_total", "accolade.v1.");
}

/* jobs_ran_once: a nomination left pending past the org's overdue days gets
 * one reminder, the org one nudge for the week and one weekly digest to its
 * channel, though both replicas of svc-nomination and of svc-notify scan
 * every 200 ms. */
static void jobs_ran_once(void) {
  arena a;
  arena_init(&a);
  /* A digest channel (nothing listens there: only what is queued counts). */
  char *kinds[] = {"digest"};
  Accolade__V1__Channel c = ACCOLADE__V1__CHANNEL__INIT;
  c.url = "http://127.0.0.1:9/digest";
  c.secret = "fleet-channel-secret";
  c.kinds = kinds;
  c.n_kinds = 1;
  Accolade__V1__CreateChannelRequest cc = ACCOLADE__V1__CREATE_CHANNEL_REQUEST__INIT;
  cc.channel = &c;
  void *ch;
  rpc_status cst;
  cr_assert_eq(th_gw_call(&gw, 0, org, "ada", "admin", "/accolade.v1.NotifyService/CreateChannel", &cc,
                          &accolade__v1__channel__descriptor, 20, NULL, &a, &ch, &cst),
               RPC_OK, "%s", cst.message);
  Accolade__V1__Nomination *n;
  cr_assert_eq(th_nominate(&gw, 0, org, "g1", "m1", "knowledge-sharer", "overdue-1", 20, NULL, &a, &n), RPC_OK);
  char sql[300];
  snprintf(sql, sizeof sql,
           "UPDATE nomination.nomination SET created_at = now() - interval '30 days' WHERE id = '%s' RETURNING 1", n->id);
  free(th_sql(fleet.dsn, sql));
  snprintf(sql, sizeof sql, "SELECT count(*) FROM nomination.overdue_reminder WHERE nomination_id = '%s'", n->id);
  for (int i = 0; i < 100 && th_count(fleet.dsn, sql) < 1; i++) usleep(100 * 1000);
  usleep(1500 * 1000);   /* several more scans by each replica */
  cr_assert_eq(th_count(fleet.dsn, sql), 1, "overdue reminders for one nomination");
  for (int i = 0; i < 100 && q("SELECT count(*) FROM notify.inbox WHERE org = '%s' AND kind = 'review_overdue'") < 1; i++)
    usleep(100 * 1000);
  cr_assert_eq(q("SELECT count(*) FROM notify.inbox WHERE org = '%s' AND kind = 'review_overdue'"), 1);
  cr_assert_eq(q("SELECT count(*) FROM nomination.nudge_sent WHERE org = '%s'"), 1, "nudges this week");
  long long named = q("SELECT members FROM nomination.nudge_sent WHERE org = '%s'");
  cr_assert_gt(named, 0);
  for (int i = 0; i < 100 && q("SELECT count(*) FROM notify.inbox WHERE org = '%s' AND kind = 'nudge'") < named; i++)
    usleep(100 * 1000);
  cr_assert_eq(q("SELECT count(*) FROM notify.inbox WHERE org = '%s' AND kind = 'nudge'"), named);
  cr_assert_eq(q("SELECT count(DISTINCT user_id) FROM notify.inbox WHERE org = '%s' AND kind = 'nudge'"), named);
  for (int i = 0; i < 100 && q("SELECT count(*) FROM notify.digest_sent WHERE org = '%s'") < 1; i++)
    usleep(100 * 1000);
  cr_assert_eq(q("SELECT count(*) FROM notify.digest_sent WHERE org = '%s'"), 1, "digests this week");
  cr_assert_eq(q("SELECT count(*) FROM notify.delivery WHERE org = '%s' AND event_id LIKE 'digest:%%'"), 1,
               "digest deliveries queued");
  arena_free(&a);
}

Test(replicas, approvals_over_two_gateways_land_once_while_a_replica_of_each_service_dies, .timeout = 580) {
  th_init();
  snprintf(org, sizeof org, "fleet-%d", (int)getpid());
  const char *extra[] = {"ACCOLADE_GATEWAY_RATE_MEMBER=100000", "ACCOLADE_GATEWAY_BURST_MEMBER=100000",
                         "ACCOLADE_GATEWAY_RATE_ORG=1000000", "ACCOLADE_GATEWAY_BURST_ORG=1000000",
                         "ACCOLADE_NOMINATION_OVERDUE_SCAN_MS=200", "ACCOLADE_NOTIFY_DIGEST_SCAN_MS=200",
                         "ACCOLADE_NOTIFY_ALLOW_PRIVATE=1", "ACCOLADE_PG_POOL=12", NULL};
  th_fleet_start(&fleet, "fleet", SECRET, extra);
  gw = (th_gw){.addr = {fleet.gateway[0].addr, fleet.gateway[1].addr}, .n = 2, .secret = SECRET};
  /* The target form the deployments use (a name resolving to every pod),
   * through the same channel setup as every caller's. */
  char dns[64];
  snprintf(dns, sizeof dns, "dns:///localhost:%d", fleet.svc[0][0].port);
  cr_assert_eq(th_health(dns), 1, "%s does not answer", dns);
  th_org_setup(&gw, org, MEMBERS, GIVERS);
  jobs_ran_once();

  pthread_t t[THREADS];
  for (int i = 0; i < THREADS; i++) cr_assert_eq(pthread_create(&t[i], NULL, worker, NULL), 0);
  while (atomic_load(&g_done) < APPROVALS * 2 / 5) usleep(50 * 1000);
  /* Both replicas of every service have answered calls by now. */
  static const char *const names[] = {"svc-leaderboard", "svc-notify", "svc-award", "svc-nomination"};
  for (int i = 0; i < 4; i++)
    for (int r = 0; r < TH_FLEET_REPLICAS; r++) {
      long long n = served(i, r);
      fprintf(stderr, "%s replica %d: %lld calls\n", names[i], r, n);
      cr_assert_gt(n, 0, "%s replica %d served no call", names[i], r);
    }
  for (int i = 0; i < 4; i++) th_kill(&fleet.svc[i][1]);
  fprintf(stderr, "killed one replica of each service after %d approvals\n", atomic_load(&g_done));
  for (int i = 0; i < THREADS; i++) pthread_join(t[i], NULL);
  cr_assert_eq(atomic_load(&g_failed), 0, "approvals failed");

  /* Every award exactly once, everywhere. */
  char why[4096] = "";
  int ok = 0;
  for (int i = 0; i < 480 && !ok; i++) {
    ok = q("SELECT count(*) FROM award.award WHERE org = '%s'") == APPROVALS &&
         q("SELECT count(*) FROM notify.inbox WHERE org = '%s' AND kind = 'award_granted'") == APPROVALS &&
         th_board_matches_ledger(&gw, fleet.dsn, org, APPROVALS, why, sizeof why);
    if (!ok) usleep(250 * 1000);
  }
  if (!ok) {   /* where the missing ones wait */
    char *o = th_sql(fleet.dsn, "SELECT count(*) || ' waiting, ' || count(*) FILTER (WHERE dead_at IS NOT NULL) || "
                                "' dead, lease ends in ' || coalesce(round(extract(epoch FROM max(leased_until) - now())), 0) "
                                "|| ' s, most attempts ' || coalesce(max(attempts), 0) "
                                "FROM nomination.outbox WHERE delivered_at IS NULL");
    fprintf(stderr, "svc-nomination's outbox: %s; approved: %lld\n", o ? o : "?",
            q("SELECT count(*) FROM nomination.nomination WHERE org = '%s' AND status = 2"));
    free(o);
  }
  cr_assert(ok, "awards %lld, inbox %lld, %s", q("SELECT count(*) FROM award.award WHERE org = '%s'"),
            q("SELECT count(*) FROM notify.inbox WHERE org = '%s' AND kind = 'award_granted'"), why);
  cr_assert_eq(q("SELECT count(DISTINCT source_id) FROM award.award WHERE org = '%s'"), APPROVALS);
  cr_assert_eq(q("SELECT sum(points) FROM leaderboard.ledger WHERE org = '%s'"), (long long)APPROVALS * TH_FLOW_POINTS);
  usleep(1000 * 1000);   /* nothing arrives late, twice */
  cr_assert_eq(q("SELECT count(*) FROM award.award WHERE org = '%s'"), APPROVALS);
  cr_assert_eq(q("SELECT count(*) FROM notify.inbox WHERE org = '%s' AND kind = 'award_granted'"), APPROVALS);
  cr_assert_eq(q("SELECT count(*) FROM leaderboard.ledger WHERE org = '%s'"), APPROVALS);
  cr_assert_eq(q("SELECT count(*) FROM nomination.nudge_sent WHERE org = '%s'"), 1, "nudges this week");
  cr_assert_eq(q("SELECT count(*) FROM notify.digest_sent WHERE org = '%s'"), 1, "digests this week");
  th_fleet_stop(&fleet);
  th_fini();
}

/* ---- replicas starting together --------------------------------------- */

typedef struct starter {
  th_proc p;
  const char *bin;
  const char *const *env;
  atomic_int rc, stop_rc, stop;
} starter;

/* replica starts a process and stops it when told: the thread lives as
 * long as its child (which gets SIGKILL when the thread that forked it ends). */
static void *replica(void *arg) {
  starter *s = arg;
  /* 1 started, 2 not (the caller waits for either) */
  atomic_store(&s->rc, th_start(&s->p, s->bin, s->env) == 0 ? 1 : 2);
  while (!atomic_load(&s->stop)) usleep(20 * 1000);
  atomic_store(&s->stop_rc, th_stop(&s->p));
  return NULL;
}

/* Three svc-award replicas started at the same moment on an empty database
 * all come up, and each migration is applied once (the advisory lock). */
Test(replicas, replicas_started_together_apply_each_migration_once, .timeout = 300) {
  th_init();
  static char pg[600];
  snprintf(pg, sizeof pg, "ACCOLADE_PG=%s", th_new_database("together"));
  const char *dsn = pg + strlen("ACCOLADE_PG=");
  static char redis[64];
  snprintf(redis, sizeof redis, "ACCOLADE_REDIS=127.0.0.1:%d", th_redis_port());
  const char *env[] = {pg, redis, NULL};
  const char *bin = th_bin("svc-award");
  starter s[3];
  pthread_t t[3];
  for (int i = 0; i < 3; i++) {
    memset(&s[i], 0, sizeof s[i]);
    s[i].bin = bin;
    s[i].env = env;
    cr_assert_eq(pthread_create(&t[i], NULL, replica, &s[i]), 0);
  }
  for (int i = 0; i < 3; i++) {
    while (!atomic_load(&s[i].rc)) usleep(20 * 1000);
    cr_assert_eq(atomic_load(&s[i].rc), 1, "replica %d did not start", i);
  }
  /* Every file of common/migrations and svc-award/migrations, once. */
  long long files = 0;
  const char *dirs[] = {ACCOLADE_SOURCE_DIR "/common/migrations", ACCOLADE_SOURCE_DIR "/svc-award/migrations"};
  for (int i = 0; i < 2; i++) {
    DIR *d = opendir(dirs[i]);
    cr_assert(d, "%s", dirs[i]);
    for (struct dirent *e; (e = readdir(d));) files += strstr(e->d_name, ".sql") != NULL;
    closedir(d);
  }
  cr_assert_eq(th_count(dsn, "SELECT count(*) FROM award.schema_migrations"), files);
  for (int i = 0; i < 3; i++) atomic_store(&s[i].stop, 1);
  for (int i = 0; i < 3; i++) {
    pthread_join(t[i], NULL);
    cr_expect_eq(atomic_load(&s[i].stop_rc), 0, "replica %d did not stop cleanly", i);
  }
  th_fini();
}
