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

/* start_with_metrics starts the test service serving /metrics on a free
 * port, and returns that port. */
static int start_with_metrics(th_proc *p) {
  th_init();
  int mport = th_free_port();
  static char env[64];
  snprintf(env, sizeof env, "ACCOLADE_TESTSVC_METRICS_PORT=%d", mport);
  const char *envs[] = {env, NULL};
  cr_assert_eq(th_start(p, th_bin("accolade-testsvc"), envs), 0);
  return mport;
}

Test(metrics, calls_are_counted_by_method_and_code_with_latency) {
  th_proc p;
  int mport = start_with_metrics(&p);
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

Test(metrics, a_forged_method_name_never_becomes_a_series) {
  th_proc p;
  int mport = start_with_metrics(&p);
  arena a;
  arena_init(&a);
  /* 300 names, more than the table holds, each trying to forge a line. */
  for (int i = 0; i < 300; i++) {
    char method[96];
    snprintf(method, sizeof method, "/evil%d\",code=\"OK\"} 999 #", i);
    uint8_t *out;
    size_t out_len;
    rpc_status st;
    rpc_call_opts o = {.timeout_ms = 2000};
    cr_assert_eq(rpc_call_raw(p.addr, method, (const uint8_t *)"", 0, &o, &a, &out, &out_len, &st),
                 RPC_UNIMPLEMENTED);
  }
  Accolade__Test__V1__EchoRequest req = ACCOLADE__TEST__V1__ECHO_REQUEST__INIT;
  Accolade__Test__V1__EchoResponse *out;
  rpc_status st;
  cr_assert_eq(th_call(p.addr, "/accolade.test.v1.TestService/Echo", &req,
                       &accolade__test__v1__echo_response__descriptor, NULL, &a, (void **)&out, &st), RPC_OK);
  arena_free(&a);
  char *body = th_http_get(mport, "/metrics");
  cr_assert_null(strstr(body, "evil"), "a caller's method name reached /metrics");
  cr_assert(strstr(body, "accolade_rpc_requests_total{method=\"unknown\",code=\"UNIMPLEMENTED\"} 300\n"), "%s", body);
  cr_assert(strstr(body, "accolade_rpc_requests_total{method=\"/accolade.test.v1.TestService/Echo\",code=\"OK\"} 1\n"),
            "a real method is still counted after them");
  free(body);
  cr_assert_eq(th_stop(&p), 0);
  th_fini();
}
