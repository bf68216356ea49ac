/* The gateway's front listens where it is told: on [::] it takes callers over
 * IPv6 and IPv4 alike, and a second gateway told a port the first holds
 * exits with an error instead of quietly sharing the port (the front's one
 * listening socket has no SO_REUSEPORT). */
#include <criterion/criterion.h>
#include <signal.h>
#include <stdio.h>
#include <sys/wait.h>
#include <unistd.h>

#include "accolade/v1/award.pb-c.h"
#include "harness.h"

#define SECRET "front-listen-secret"

/* list_badges: a ListBadges call through the gateway at |addr|. */
static int list_badges(const char *addr, rpc_status *st) {
  arena a;
  arena_init(&a);
  Accolade__V1__ListBadgesRequest req = ACCOLADE__V1__LIST_BADGES_REQUEST__INIT;
  void *out = NULL;
  int rc = th_via_as(addr, SECRET, "listen-org", "ann", "member", "", 5000, "/accolade.v1.AwardService/ListBadges",
                     &req, &accolade__v1__list_badges_response__descriptor, &a, &out, st);
  arena_free(&a);
  return rc;
}

/* exit_status waits up to |ms| for |pid| to exit: its exit code, or -1 if it
 * still runs (then it is killed). */
static int exit_status(pid_t pid, int ms) {
  int status = 0;
  for (int waited = 0; waited < ms; waited += 50) {
    if (waitpid(pid, &status, WNOHANG) == pid) return WIFEXITED(status) ? WEXITSTATUS(status) : 128;
    usleep(50 * 1000);
  }
  kill(pid, SIGKILL);
  waitpid(pid, &status, 0);
  return -1;
}

Test(gateway_front_listen, serves_ipv6_and_ipv4_on_any_address_and_refuses_a_port_in_use, .timeout = 180) {
  th_init();
  th_suite s;
  th_suite_start(&s, "frontlisten", SECRET, NULL);

  /* A second gateway, with the suite's settings, on [::]. */
  int port = th_free_port();
  char any[64], v6[64], v4[64];
  snprintf(any, sizeof any, "[::]:%d", port);
  snprintf(v6, sizeof v6, "ipv6:[::1]:%d", port);
  snprintf(v4, sizeof v4, "127.0.0.1:%d", port);
  pid_t gw = th_spawn_listen(th_bin("gateway"), any, s.env[4], 0);
  cr_assert_gt(gw, 0);
  cr_assert_eq(th_wait_health(v6, 1, 30000), 0, "the gateway on %s answers health over IPv6", any);

  rpc_status st;
  cr_expect_eq(list_badges(v6, &st), RPC_OK, "over IPv6: %s", st.message);
  cr_expect_eq(list_badges(v4, &st), RPC_OK, "over IPv4 on [::]: %s", st.message);

  /* The suite's gateway holds its port: a third one told that port fails. */
  pid_t dup = th_spawn_listen(th_bin("gateway"), s.gateway.addr, s.env[4], 0);
  cr_assert_gt(dup, 0);
  int code = exit_status(dup, 20000);
  cr_expect(code > 0, "a gateway on a port in use exits with an error (got %d; -1: it kept running)", code);
  cr_expect_eq(list_badges(s.gateway.addr, &st), RPC_OK, "the first gateway still serves: %s", st.message);

  kill(gw, SIGTERM);
  cr_expect_eq(exit_status(gw, 20000), 0, "the gateway on [::] stops cleanly");
  th_suite_stop(&s);
  th_fini();
}
