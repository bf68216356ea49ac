/* The whole suite on a real Redis Cluster: six redis-server processes
 * (three masters, three replicas) on loopback, every service and the
 * gateway given their addresses as seeds. Orgs spread over all three
 * masters go through the recognition flow (rate limits, boards, GetTop
 * cache); a slot is migrated under load (MIGRATING/IMPORTING + MIGRATE),
 * and a master is killed under load and its replica promoted: no call
 * fails beyond a retry, and every board ends equal to the ledger. */
#include <criterion/criterion.h>
#include <hiredis/hiredis.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "accolade/v1/leaderboard.pb-c.h"
#include "flow.h"
#include "redis.h"

#define SECRET "cluster-secret"
#define ORGS 6        /* two per master */
#define MEMBERS 6
#define GIVERS 11

static th_redis_cluster cl;
static th_suite suite;
static th_gw gw;
static char orgs[ORGS][40];
static int org_slot[ORGS];
static long recognized[ORGS];

static int org_owner(int i) { return th_redis_cluster_owner(&cl, org_slot[i]); }

/* start: the cluster, orgs two per master, the suite on the cluster. */
static void start(void) {
  th_init();
  cr_assert_eq(th_redis_cluster_start(&cl), 0, "the redis cluster did not form");
  int per[TH_CLUSTER_NODES] = {0}, n = 0;
  for (int i = 0; n < ORGS && i < 10000; i++) {
    char name[40];
    snprintf(name, sizeof name, "cl%d-%d", (int)getpid() % 100000, i);
    int slot = (int)redis_key_slot(name, strlen(name)), owner = th_redis_cluster_owner(&cl, slot);
    if (owner < 0 || per[owner] == ORGS / 3) continue;
    per[owner]++;
    snprintf(orgs[n], sizeof orgs[n], "%s", name);
    org_slot[n++] = slot;
  }
  cr_assert_eq(n, ORGS);
  static char redis[300];
  snprintf(redis, sizeof redis, "ACCOLADE_REDIS=%s", cl.seeds);
  const char *extra[] = {redis, "ACCOLADE_GATEWAY_RATE_MEMBER=100000", "ACCOLADE_GATEWAY_BURST_MEMBER=100000",
                         "ACCOLADE_GATEWAY_RATE_ORG=1000000", "ACCOLADE_GATEWAY_BURST_ORG=1000000", NULL};
  th_suite_start(&suite, "cluster", SECRET, extra);
  gw = (th_gw){.addr = {suite.gateway.addr}, .n = 1, .secret = SECRET};
  for (int i = 0; i < ORGS; i++) th_org_setup(&gw, orgs[i], MEMBERS, GIVERS);
  memset(recognized, 0, sizeof recognized);
}

static void stop(void) {
  th_suite_stop(&suite);
  th_redis_cluster_stop(&cl);
  th_fini();
}

/* wait_boards: every org's board equals its ledger (60 s at most). */
static void wait_boards(const char *after) {
  char why[4096] = "";
  for (int i = 0; i < ORGS; i++) {
    int ok = 0;
    for (int t = 0; t < 240 && !ok; t++)
      if (!(ok = th_board_matches_ledger(&gw, suite.dsn, orgs[i], recognized[i], why, sizeof why))) usleep(250 * 1000);
    cr_assert(ok, "after %s: %s", after, why);
  }
}

/* ---- load from a thread of its own ---------------------------------- */

static atomic_int g_stop, g_failed, g_retries, g_calls;

static int g_tries, g_orgs;   /* the load's tries per call, and orgs 0..g_orgs-1 */

/* load: recognitions round the orgs and a GetTop after each, each call
 * tried up to g_tries times. */
static void *load(void *arg) {
  (void)arg;
  int tries = g_tries;
  arena a;
  for (int k = 0; !atomic_load(&g_stop); k++) {
    int o = k % g_orgs, retries = 0;
    int rc = th_recognize(&gw, orgs[o], (int)recognized[o], MEMBERS, GIVERS, tries, &retries);
    if (rc == RPC_OK) recognized[o]++;
    else atomic_fetch_add(&g_failed, 1);
    arena_init(&a);
    Accolade__V1__GetTopRequest tr = ACCOLADE__V1__GET_TOP_REQUEST__INIT;
    void *out;
    rpc_status st;
    rc = th_gw_call(&gw, k, orgs[o], "m0", "member", "/accolade.v1.LeaderboardService/GetTop", &tr,
                    &accolade__v1__get_top_response__descriptor, tries, &retries, &a, &out, &st);
    if (rc != RPC_OK) {
      fprintf(stderr, "GetTop %s: %s %s\n", orgs[o], rpc_code_name(rc), st.message ? st.message : "");
      atomic_fetch_add(&g_failed, 1);
    }
    arena_free(&a);
    atomic_fetch_add(&g_retries, retries);
    atomic_fetch_add(&g_calls, 3);
  }
  return NULL;
}

static pthread_t load_start(int tries, int norgs) {
  g_tries = tries;
  g_orgs = norgs;
  atomic_store(&g_stop, 0);
  atomic_store(&g_failed, 0);
  atomic_store(&g_retries, 0);
  atomic_store(&g_calls, 0);
  pthread_t t;
  cr_assert_eq(pthread_create(&t, NULL, load, NULL), 0);
  return t;
}

static void load_stop(pthread_t t) {
  atomic_store(&g_stop, 1);
  pthread_join(t, NULL);
}

static void node_id(int node, char *out, size_t cap) {
  redisReply *r = th_redis_cmd(cl.node[node].port, "CLUSTER MYID");
  cr_assert(r && r->type == REDIS_REPLY_STRING);
  snprintf(out, cap, "%s", r->str);
  freeReplyObject(r);
}

static long long keys_in_slot(int node, int slot) {
  redisReply *r = th_redis_cmd(cl.node[node].port, "CLUSTER COUNTKEYSINSLOT %d", slot);
  long long n = r && r->type == REDIS_REPLY_INTEGER ? r->integer : -1;
  if (r) freeReplyObject(r);
  return n;
}

Test(redis_cluster, orgs_on_all_three_masters_keep_exact_boards_through_a_slot_migration_under_load,
     .timeout = 400) {
  start();
  /* The flow, with no retries: each org's keys, and its rate-limit
   * buckets, live on the master its slot names. */
  for (int round = 0; round < 4; round++)
    for (int i = 0; i < ORGS; i++) {
      cr_assert_eq(th_recognize(&gw, orgs[i], (int)recognized[i], MEMBERS, GIVERS, 1, NULL), RPC_OK);
      recognized[i]++;
    }
  wait_boards("the flow");
  int masters[TH_CLUSTER_NODES] = {0}, distinct = 0;
  for (int i = 0; i < ORGS; i++) {
    int owner = org_owner(i);
    cr_assert(owner >= 0);
    distinct += masters[owner]++ == 0;
    cr_assert_gt(keys_in_slot(owner, org_slot[i]), 2, "org %s has no keys on its master", orgs[i]);
    char rl[300];
    snprintf(rl, sizeof rl, "rl:{%s}:org", orgs[i]);
    redisReply *r = th_redis_cmd(cl.node[owner].port, "EXISTS %s", rl);
    cr_assert(r && r->type == REDIS_REPLY_INTEGER && r->integer == 1, "%s is not on the org's master", rl);
    freeReplyObject(r);
  }
  cr_assert_eq(distinct, 3, "the orgs are on %d masters, not all three", distinct);

  /* Org 0's slot moves to another master while the load runs. */
  int from = org_owner(0), to = org_owner(2) == from ? org_owner(4) : org_owner(2), slot = org_slot[0];
  cr_assert_neq(from, to);
  char from_id[64], to_id[64];
  node_id(from, from_id, sizeof from_id);
  node_id(to, to_id, sizeof to_id);
  long long before = keys_in_slot(from, slot);
  /* Only org 0, so that its calls meet the slot half moved; a call may be
   * retried once (what every client of ours does on UNAVAILABLE). */
  pthread_t t = load_start(2, 1);
  usleep(500 * 1000);
  redisReply *r = th_redis_cmd(cl.node[to].port, "CLUSTER SETSLOT %d IMPORTING %s", slot, from_id);
  cr_assert(r && r->type == REDIS_REPLY_STATUS, "IMPORTING: %s", r ? r->str : "no reply");
  freeReplyObject(r);
  r = th_redis_cmd(cl.node[from].port, "CLUSTER SETSLOT %d MIGRATING %s", slot, to_id);
  cr_assert(r && r->type == REDIS_REPLY_STATUS, "MIGRATING: %s", r ? r->str : "no reply");
  freeReplyObject(r);
  int moved = 0;
  for (;;) {   /* a few keys at a time, so the load meets a half-moved slot */
    r = th_redis_cmd(cl.node[from].port, "CLUSTER GETKEYSINSLOT %d 3", slot);
    cr_assert(r && r->type == REDIS_REPLY_ARRAY);
    size_t n = r->elements;
    if (n) {
      const char *argv[5 + 1 + 5 + 1];
      int k = 0;
      char port[16];
      snprintf(port, sizeof port, "%d", cl.node[to].port);
      argv[k++] = "MIGRATE";
      argv[k++] = "127.0.0.1";
      argv[k++] = port;
      argv[k++] = "";
      argv[k++] = "0";
      argv[k++] = "5000";
      argv[k++] = "KEYS";
      for (size_t i = 0; i < n; i++) argv[k++] = r->element[i]->str;
      redisContext *c = redisConnect("127.0.0.1", cl.node[from].port);
      redisReply *m = redisCommandArgv(c, k, argv, NULL);
      cr_assert(m && m->type == REDIS_REPLY_STATUS, "MIGRATE: %s", m ? m->str : c->errstr);
      freeReplyObject(m);
      redisFree(c);
      moved += (int)n;
    }
    freeReplyObject(r);
    if (!n) break;
    usleep(100 * 1000);
  }
  for (int i = 0; i < TH_CLUSTER_NODES; i++) {   /* the slot is the new master's */
    r = th_redis_cmd(cl.node[i].port, "CLUSTER SETSLOT %d NODE %s", slot, to_id);
    if (r) freeReplyObject(r);
  }
  usleep(1500 * 1000);
  load_stop(t);
  fprintf(stderr, "slot %d: %d keys moved (%lld before); load: %d calls, %d retried, %d failed\n", slot, moved,
          before, atomic_load(&g_calls), atomic_load(&g_retries), atomic_load(&g_failed));
  cr_assert_gt(moved, 2);
  cr_assert_eq(atomic_load(&g_failed), 0, "calls failed beyond a retry during the migration");
  cr_assert_eq(keys_in_slot(from, slot), 0);
  wait_boards("the slot migration");
  cr_assert_gt(keys_in_slot(to, slot), 2, "org %s's keys are not on the new master", orgs[0]);
  stop();
}

Test(redis_cluster, a_master_killed_under_load_fails_over_and_every_board_repairs_to_the_ledger, .timeout = 400) {
  start();
  for (int i = 0; i < ORGS; i++) {
    cr_assert_eq(th_recognize(&gw, orgs[i], (int)recognized[i], MEMBERS, GIVERS, 1, NULL), RPC_OK);
    recognized[i]++;
  }
  int dead = org_owner(0);
  /* Retries enough to ride out the failover (node timeout 1 s). */
  pthread_t t = load_start(100, ORGS);
  usleep(1000 * 1000);
  th_kill(&cl.node[dead]);
  int64_t t0 = rpc_now_ms();
  cr_assert_eq(th_redis_cluster_wait_ok(&cl, 30000), 0, "no replica took over");
  fprintf(stderr, "failover in %lld ms\n", (long long)(rpc_now_ms() - t0));
  usleep(2000 * 1000);
  load_stop(t);
  fprintf(stderr, "load: %d calls, %d retried, %d failed\n", atomic_load(&g_calls), atomic_load(&g_retries),
          atomic_load(&g_failed));
  cr_assert_eq(atomic_load(&g_failed), 0);
  int owner = org_owner(0);
  cr_assert(owner >= 0 && owner != dead);
  /* Reads and writes resume on the promoted replica: no retries now. */
  for (int i = 0; i < ORGS; i++) {
    cr_assert_eq(th_recognize(&gw, orgs[i], (int)recognized[i], MEMBERS, GIVERS, 1, NULL), RPC_OK);
    recognized[i]++;
  }
  wait_boards("the failover");
  stop();
}
