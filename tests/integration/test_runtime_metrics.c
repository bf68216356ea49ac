/* Prometheus metrics over HTTP from a real process. */
#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "accolade/test/v1/test.pb-c.h"
#include "harness.h"

Test(metrics, calls_are_counted_by_method_and_code_with_latency) {
  th_init();
  int mport = th_free_port();
  char env[64];
  snprintf(env, sizeof env, "ACCOLADE_TESTSVC_METRICS_PORT=%d", mport);
  const char *envs[] = {env, NULL};
  th_proc p;
  cr_assert_eq(th_start(&p, th_bin("accolade-testsvc"), envs), 0);
  arena a;
  arena_init(&a);
  for (int i = 0; i < 4; i++) {
    Accolade__Test__V1__EchoRequest req = ACCOLADE__TEST__V1__ECHO_REQUEST__INIT;
    if (i == 3) req.fail_code = RPC_NOT_FOUND;
    Accolade__Test__V1__EchoResponse *out;
    rpc_status st;
    th_call(p.addr, "/accolade.test.v1.TestService/Echo", &req,
            &accolade__test__v1__echo_response__descriptor, NULL, &a, (void **)&out, &st);
  }
  arena_free(&a);
  char *body = th_http_get(mport, "/metrics");
  cr_assert(strstr(body, "HTTP/1.0 200") || strstr(body, "HTTP/1.1 200"), "%.200s", body);
  cr_assert(strstr(body, "accolade_rpc_requests_total{method=\"/accolade.test.v1.TestService/Echo\",code=\"OK\"} 3\n"),
            "%s", body);
  cr_assert(strstr(body, "accolade_rpc_requests_total{method=\"/accolade.test.v1.TestService/Echo\",code=\"NOT_FOUND\"} 1\n"));
  cr_assert(strstr(body, "accolade_rpc_latency_seconds_count{method=\"/accolade.test.v1.TestService/Echo\"} 4\n"));
  cr_assert(strstr(body, "accolade_rpc_latency_seconds_bucket{method=\"/accolade.test.v1.TestService/Echo\",le=\"+Inf\"} 4\n"));
  cr_assert(strstr(body, "accolade_serving 1\n"));
  free(body);
  char *nf = th_http_get(mport, "/other");
  cr_assert(strstr(nf, " 404 "), "%.100s", nf);
  free(nf);
  cr_assert_eq(th_stop(&p), 0);
  th_fini();
}
