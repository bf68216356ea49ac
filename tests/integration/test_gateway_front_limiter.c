/* The front's rate limiter while Redis does not answer: calls that need a
 * lease wait for one of the limiter's threads, first come first served, and
 * at most ACCOLADE_GATEWAY_LIMITER_QUEUE of them wait; the rest are refused
 * at once (UNAVAILABLE, naming the limiter) instead of piling up. Those let
 * in go through once Redis times out (the limits fail open). "Redis" here
 * is a socket that accepts connections into its backlog and never answers. */
#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "accolade/v1/award.pb-c.h"
#include "harness.h"

#define SECRET "front-limiter-secret"
#define CALLS 24
#define QUEUE 4

typedef struct caller {
  const char *addr;
  char token[2048];
  int code;
  int64_t ms;
  char msg[256];
} caller;

static void *call(void *arg) {
  caller *c = arg;
  arena a;
  arena_init(&a);
  Accolade__V1__ListBadgesRequest req = ACCOLADE__V1__LIST_BADGES_REQUEST__INIT;
  void *out;
  rpc_status st;
  int64_t t0 = rpc_now_ms();
  c->code = th_via(c->addr, c->token, 20000, "/accolade.v1.AwardService/ListBadges", &req,
                   &accolade__v1__list_badges_response__descriptor, &a, &out, &st);
  c->ms = rpc_now_ms() - t0;
  snprintf(c->msg, sizeof c->msg, "%s", st.message ? st.message : "");
  arena_free(&a);
  return NULL;
}

Test(gateway_front_limiter, calls_past_the_limiters_queue_are_refused_at_once_while_redis_hangs, .timeout = 120) {
  th_init();
  /* A Redis that never answers: connections wait in the listen backlog. */
  int mute = socket(AF_INET, SOCK_STREAM, 0);
  struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
  socklen_t sl = sizeof sa;
  cr_assert_eq(bind(mute, (struct sockaddr *)&sa, sizeof sa), 0);
  cr_assert_eq(listen(mute, 1024), 0);
  cr_assert_eq(getsockname(mute, (struct sockaddr *)&sa, &sl), 0);

  static char pg[600], award_addr[128], redis[64];
  snprintf(pg, sizeof pg, "ACCOLADE_AWARD_PG=%s", th_new_database("limiter"));
  const char *aenv[] = {pg, "ACCOLADE_LEADERBOARD_ADDR=127.0.0.1:1", "ACCOLADE_NOTIFY_ADDR=127.0.0.1:1", NULL};
  th_proc award, gw;
  cr_assert_eq(th_start(&award, th_bin("svc-award"), aenv), 0, "svc-award did not start");
  snprintf(award_addr, sizeof award_addr, "ACCOLADE_AWARD_ADDR=%s", award.addr);
  snprintf(redis, sizeof redis, "ACCOLADE_REDIS=127.0.0.1:%d", ntohs(sa.sin_port));
  const char *genv[] = {award_addr, redis, "ACCOLADE_JWT_HS256_SECRET=" SECRET,
                        "ACCOLADE_NOMINATION_ADDR=127.0.0.1:1", "ACCOLADE_LEADERBOARD_ADDR=127.0.0.1:1",
                        "ACCOLADE_NOTIFY_ADDR=127.0.0.1:1", "ACCOLADE_GATEWAY_LIMITER_QUEUE=4", NULL};
  cr_assert_eq(th_start(&gw, th_bin("gateway"), genv), 0, "gateway did not start");

  /* Distinct members: each call needs a lease of its own from Redis. */
  static caller c[CALLS];
  pthread_t t[CALLS];
  for (int i = 0; i < CALLS; i++) {
    char user[32];
    snprintf(user, sizeof user, "m%02d", i);
    c[i].addr = gw.addr;
    snprintf(c[i].token, sizeof c[i].token, "%s", th_jwt(SECRET, "limiter", user, "member", "", 300));
  }
  for (int i = 0; i < CALLS; i++) cr_assert_eq(pthread_create(&t[i], NULL, call, &c[i]), 0);
  for (int i = 0; i < CALLS; i++) pthread_join(t[i], NULL);

  int refused = 0, passed = 0;
  for (int i = 0; i < CALLS; i++) {
    if (c[i].code == RPC_UNAVAILABLE) {
      refused++;
      cr_expect(strstr(c[i].msg, "rate limiter"), "call %d: %s", i, c[i].msg);
      cr_expect_lt(c[i].ms, 1500, "call %d refused after %lld ms, not at once", i, (long long)c[i].ms);
    } else {
      cr_expect_eq(c[i].code, RPC_OK, "call %d: %d %s", i, c[i].code, c[i].msg);
      passed += c[i].code == RPC_OK;
    }
  }
  /* Four limiter threads stuck on Redis and four calls queued let at most
   * eight in; the others are refused. */
  cr_expect_geq(refused, CALLS - 2 * QUEUE - 4, "refused %d of %d", refused, CALLS);
  cr_expect_geq(passed, 1, "the calls let in go through once Redis times out (fail open)");
  cr_assert_eq(th_stop(&gw), 0, "gateway exit status (sanitizers clean)");
  cr_assert_eq(th_stop(&award), 0);
  close(mute);
  th_fini();
}

/* metric: the value of counter |name| (no labels) on the gateway's metrics
 * port, 0 when not counted yet. */
static long metric(int port, const char *name) {
  char *body = th_http_get(port, "/metrics"), pat[128];
  snprintf(pat, sizeof pat, "\n%s{} ", name);
  const char *m = strstr(body, pat);
  long v = m ? atol(m + strlen(pat)) : 0;
  free(body);
  return v;
}

/* A member calling steadily finds tokens on hand: the call that leaves its
 * lease at half asks for a refill in the background and goes on, so only
 * the first call of the run waits for Redis, not one call per lease; and a
 * lease spent fast is followed by bigger ones (10, 20, 40, then 50, half a
 * second of the member's rate), so the run takes a few round trips, not one
 * per ten calls. */
Test(gateway_front_limiter, a_steady_members_lease_is_topped_up_before_it_runs_out, .timeout = 120) {
  th_init();
  static char pg[600], award_addr[128], redis[64], metrics[64];
  snprintf(pg, sizeof pg, "ACCOLADE_AWARD_PG=%s", th_new_database("refill"));
  const char *aenv[] = {pg, "ACCOLADE_LEADERBOARD_ADDR=127.0.0.1:1", "ACCOLADE_NOTIFY_ADDR=127.0.0.1:1", NULL};
  th_proc award, gw;
  cr_assert_eq(th_start(&award, th_bin("svc-award"), aenv), 0, "svc-award did not start");
  int mport = th_free_port();
  snprintf(award_addr, sizeof award_addr, "ACCOLADE_AWARD_ADDR=%s", award.addr);
  snprintf(redis, sizeof redis, "ACCOLADE_REDIS=127.0.0.1:%d", th_redis_port());
  snprintf(metrics, sizeof metrics, "ACCOLADE_GATEWAY_METRICS_PORT=%d", mport);
  /* member: 100/s, burst 400 -> leases of 10 tokens; the org's far larger */
  const char *genv[] = {award_addr, redis, metrics, "ACCOLADE_JWT_HS256_SECRET=" SECRET,
                        "ACCOLADE_NOMINATION_ADDR=127.0.0.1:1", "ACCOLADE_LEADERBOARD_ADDR=127.0.0.1:1",
                        "ACCOLADE_NOTIFY_ADDR=127.0.0.1:1", "ACCOLADE_GATEWAY_RATE_MEMBER=100",
                        "ACCOLADE_GATEWAY_BURST_MEMBER=400", "ACCOLADE_GATEWAY_RATE_ORG=100000",
                        "ACCOLADE_GATEWAY_BURST_ORG=100000", NULL};
  cr_assert_eq(th_start(&gw, th_bin("gateway"), genv), 0, "gateway did not start");

  caller c = {.addr = gw.addr};
  char org[48];
  snprintf(org, sizeof org, "refill-%d", (int)getpid());
  snprintf(c.token, sizeof c.token, "%s", th_jwt(SECRET, org, "steady", "member", "", 300));
  /* 100 calls one after another, about 2 ms apart: 100 tokens. */
  for (int i = 0; i < 100; i++) {
    call(&c);
    cr_assert_eq(c.code, RPC_OK, "call %d: %s", i, c.msg);
    usleep(2000);
  }
  long trips = metric(mport, "accolade_gateway_ratelimit_redis_calls_total");
  long refills = metric(mport, "accolade_gateway_ratelimit_refills_total");
  cr_expect_leq(trips, 6, "100 calls took %ld Redis round trips (leases of 10 that never grow: 10)", trips);
  cr_expect_geq(refills, 2, "%ld of the %ld round trips were refills in the background", refills, trips);
  cr_expect_leq(trips - refills, 3, "%ld calls waited for a lease (without refills: one per lease)",
                trips - refills);
  cr_assert_eq(th_stop(&gw), 0, "gateway exit status (sanitizers clean)");
  cr_assert_eq(th_stop(&award), 0);
  th_fini();
}
