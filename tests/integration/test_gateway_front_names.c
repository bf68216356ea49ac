/* The gateway's front looks the services' names up again on a thread of its
 * own (every ACCOLADE_GATEWAY_RESOLVE_MS), and keeps its connections to the
 * addresses it finds again: however many lookups, a loop holds UP_CONNS (2)
 * connections to an address, each kept or closed, none left behind. Counted
 * from the gateway's own sockets (/proc/PID/fd and /proc/net/tcp). */
#include <criterion/criterion.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "accolade/v1/award.pb-c.h"
#include "harness.h"

#define SECRET "front-names-secret"

/* connections_to: the established TCP connections of process |pid| whose
 * far end is port |port| of loopback. */
static int connections_to(pid_t pid, int port) {
  char path[64];
  snprintf(path, sizeof path, "/proc/%d/fd", (int)pid);
  DIR *d = opendir(path);
  cr_assert(d, "%s", path);
  unsigned long inodes[1024];
  int n = 0;
  for (struct dirent *e; (e = readdir(d)) && n < 1024;) {
    char link[384], target[64];
    snprintf(link, sizeof link, "%s/%s", path, e->d_name);
    ssize_t len = readlink(link, target, sizeof target - 1);
    if (len <= 0) continue;
    target[len] = '\0';
    if (sscanf(target, "socket:[%lu]", &inodes[n]) == 1) n++;
  }
  closedir(d);
  FILE *f = fopen("/proc/net/tcp", "r");
  cr_assert(f);
  char line[512];
  int found = 0;
  while (fgets(line, sizeof line, f)) {
    unsigned rem_ip, rem_port, state;
    unsigned long inode;
    if (sscanf(line, " %*d: %*x:%*x %x:%x %x %*x:%*x %*x:%*x %*x %*d %*d %lu", &rem_ip, &rem_port, &state,
               &inode) != 4)
      continue;
    if ((int)rem_port != port || state != 1 /* ESTABLISHED */) continue;
    for (int i = 0; i < n; i++) found += inodes[i] == inode;
  }
  fclose(f);
  return found;
}

Test(gateway_front_names, lookups_every_100_ms_keep_two_connections_to_a_service_and_leave_none_behind,
     .timeout = 180) {
  th_init();
  th_suite s;
  /* One loop: every call of the test goes through the same two connections. */
  const char *extra[] = {"ACCOLADE_GATEWAY_RESOLVE_MS=100", "ACCOLADE_GATEWAY_LOOPS=1", NULL};
  th_suite_start(&s, "frontnames", SECRET, extra);
  char org[64];
  snprintf(org, sizeof org, "names-%d", (int)getpid());
  int64_t until = rpc_now_ms() + 2000;
  int calls = 0;
  while (rpc_now_ms() < until) {   /* about 20 lookups while calls go through */
    arena a;
    arena_init(&a);
    Accolade__V1__ListBadgesRequest req = ACCOLADE__V1__LIST_BADGES_REQUEST__INIT;
    void *out;
    rpc_status st;
    cr_assert_eq(th_via_as(s.gateway.addr, SECRET, org, "ann", "member", "", 5000,
                           "/accolade.v1.AwardService/ListBadges", &req,
                           &accolade__v1__list_badges_response__descriptor, &a, &out, &st),
                 RPC_OK, "%s", st.message);
    arena_free(&a);
    calls++;
    usleep(20 * 1000);
  }
  int conns = connections_to(s.gateway.pid, s.award.port);
  cr_expect_gt(conns, 0, "the front's connections to svc-award (%d calls made)", calls);
  cr_expect_leq(conns, 2, "the front holds %d connections to svc-award after ~20 lookups", conns);
  th_suite_stop(&s);
  th_fini();
}
