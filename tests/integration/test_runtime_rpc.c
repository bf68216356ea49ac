/* The runtime over real gRPC: the test service as a real process. */
#include <criterion/criterion.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "accolade/test/v1/test.pb-c.h"
#include "harness.h"
#include "rpc_client.h"
#include "svc.h"

#define ECHO "/accolade.test.v1.TestService/Echo"
#define STREAM "/accolade.test.v1.TestService/Stream"
#define RELAY "/accolade.test.v1.TestService/Relay"

static th_proc svc;

static void setup(void) {
  th_init();
  cr_assert_eq(th_start(&svc, th_bin("accolade-testsvc"), NULL), 0, "test service did not start");
}

static void teardown(void) {
  cr_assert_eq(th_stop(&svc), 0, "test service did not exit cleanly");
  th_fini();
}

TestSuite(rpc, .init = setup, .fini = teardown, .timeout = 120);

static int echo(const Accolade__Test__V1__EchoRequest *req, const identity *as, int timeout_ms,
                arena *a, Accolade__Test__V1__EchoResponse **out, rpc_status *st) {
  rpc_call_opts o = {.as = as, .timeout_ms = timeout_ms};
  return rpc_call(svc.addr, ECHO, &req->base, &accolade__test__v1__echo_response__descriptor, &o, a,
                  (void **)out, st);
}

Test(rpc, unary_call_returns_reply_and_signed_identity) {
  arena a;
  arena_init(&a);
  identity id;
  th_as(&id, "acme", "alice", "manager", "east");
  Accolade__Test__V1__EchoRequest req = ACCOLADE__TEST__V1__ECHO_REQUEST__INIT;
  req.text = "hello";
  Accolade__Test__V1__EchoResponse *out;
  rpc_status st;
  cr_assert_eq(echo(&req, &id, 5000, &a, &out, &st), RPC_OK, "%s", st.message);
  cr_assert_str_eq(out->text, "hello");
  cr_assert_str_eq(out->org, "acme");
  cr_assert_str_eq(out->user, "alice");
  cr_assert_str_eq(out->role, "manager");
  cr_assert_eq(strlen(out->request_id), 16);
  cr_assert(out->remaining_ms > 3000 && out->remaining_ms <= 5000, "remaining %ld", (long)out->remaining_ms);
  arena_free(&a);
}

Test(rpc, unsigned_call_has_no_identity) {
  arena a;
  arena_init(&a);
  Accolade__Test__V1__EchoRequest req = ACCOLADE__TEST__V1__ECHO_REQUEST__INIT;
  req.need_identity = 1;
  Accolade__Test__V1__EchoResponse *out;
  rpc_status st;
  cr_assert_eq(echo(&req, NULL, 5000, &a, &out, &st), RPC_UNAUTHENTICATED);
  arena_free(&a);
}

Test(rpc, identity_signed_with_another_key_is_refused) {
  arena a;
  arena_init(&a);
  identity id;
  th_as(&id, "acme", "mallory", "admin", "");
  identity_set_key("not-the-internal-key");
  Accolade__Test__V1__EchoRequest req = ACCOLADE__TEST__V1__ECHO_REQUEST__INIT;
  req.need_identity = 1;
  Accolade__Test__V1__EchoResponse *out;
  rpc_status st;
  cr_assert_eq(echo(&req, &id, 5000, &a, &out, &st), RPC_UNAUTHENTICATED);
  arena_free(&a);
}

Test(rpc, error_status_carries_message_and_trailers) {
  arena a;
  arena_init(&a);
  Accolade__Test__V1__EchoRequest req = ACCOLADE__TEST__V1__ECHO_REQUEST__INIT;
  req.fail_code = RPC_FAILED_PRECONDITION;
  req.fail_message = "nomination: not pending";
  Accolade__Test__V1__EchoResponse *out = NULL;
  rpc_status st;
  cr_assert_eq(echo(&req, NULL, 5000, &a, &out, &st), RPC_FAILED_PRECONDITION);
  cr_assert_str_eq(st.message, "nomination: not pending");
  int found = 0;
  for (int i = 0; i < st.ntrailers; i++)
    if (strcmp(st.trailer_keys[i], "x-test-trailer") == 0 && strcmp(st.trailer_values[i], "present") == 0)
      found = 1;
  cr_assert(found, "trailer x-test-trailer missing");
  arena_free(&a);
}

Test(rpc, handler_validation_names_the_field) {
  arena a;
  arena_init(&a);
  Accolade__Test__V1__EchoRequest req = ACCOLADE__TEST__V1__ECHO_REQUEST__INIT;
  req.sleep_ms = -5;
  Accolade__Test__V1__EchoResponse *out;
  rpc_status st;
  cr_assert_eq(echo(&req, NULL, 5000, &a, &out, &st), RPC_INVALID_ARGUMENT);
  cr_assert(strstr(st.message, "sleep_ms") != NULL, "%s", st.message);
  arena_free(&a);
}

Test(rpc, unknown_method_is_unimplemented) {
  arena a;
  arena_init(&a);
  uint8_t *out;
  size_t len;
  rpc_status st;
  rpc_call_opts o = {.timeout_ms = 3000};
  int64_t t0 = rpc_now_ms();
  cr_assert_eq(rpc_call_raw(svc.addr, "/accolade.v1.Nope/Missing", (const uint8_t *)"", 0, &o, &a,
                            &out, &len, &st),
               RPC_UNIMPLEMENTED);
  cr_assert_lt(rpc_now_ms() - t0, 2000, "UNIMPLEMENTED must not wait for the deadline");
  cr_assert(strstr(st.message, "/accolade.v1.Nope/Missing") != NULL, "%s", st.message);
  arena_free(&a);
}

Test(rpc, garbage_bytes_are_invalid_argument) {
  arena a;
  arena_init(&a);
  const uint8_t junk[] = {0x0a, 0xff, 0xff, 0xff, 0xff, 0x0f, 0x01};
  uint8_t *out;
  size_t len;
  rpc_status st;
  rpc_call_opts o = {.timeout_ms = 3000};
  cr_assert_eq(rpc_call_raw(svc.addr, ECHO, junk, sizeof junk, &o, &a, &out, &len, &st),
               RPC_INVALID_ARGUMENT);
  cr_assert(strstr(st.message, "request") != NULL, "%s", st.message);
  /* The server is still fine afterwards. */
  cr_assert_eq(th_health(svc.addr), 1);
  arena_free(&a);
}

Test(rpc, slow_handler_hits_the_deadline) {
  arena a;
  arena_init(&a);
  Accolade__Test__V1__EchoRequest req = ACCOLADE__TEST__V1__ECHO_REQUEST__INIT;
  req.sleep_ms = 1500;
  Accolade__Test__V1__EchoResponse *out;
  rpc_status st;
  int64_t t0 = rpc_now_ms();
  cr_assert_eq(echo(&req, NULL, 200, &a, &out, &st), RPC_DEADLINE_EXCEEDED);
  cr_assert_lt(rpc_now_ms() - t0, 1000);
  arena_free(&a);
}

Test(rpc, relay_propagates_the_remaining_deadline) {
  /* A second instance relays to the first. */
  th_proc relay;
  char env[96];
  snprintf(env, sizeof env, "ACCOLADE_TESTSVC_RELAY_TARGET=%s", svc.addr);
  const char *envs[] = {env, NULL};
  cr_assert_eq(th_start(&relay, th_bin("accolade-testsvc"), envs), 0);
  arena a;
  arena_init(&a);
  identity id;
  th_as(&id, "acme", "bob", "member", "");
  Accolade__Test__V1__EchoRequest req = ACCOLADE__TEST__V1__ECHO_REQUEST__INIT;
  req.text = "via relay";
  req.need_identity = 1;
  Accolade__Test__V1__EchoResponse *out;
  rpc_status st;
  rpc_call_opts o = {.as = &id, .timeout_ms = 800};
  cr_assert_eq(rpc_call(relay.addr, RELAY, &req.base, &accolade__test__v1__echo_response__descriptor,
                        &o, &a, (void **)&out, &st),
               RPC_OK, "%s", st.message);
  cr_assert_str_eq(out->text, "via relay");
  cr_assert_str_eq(out->user, "bob");
  cr_assert(out->remaining_ms > 0 && out->remaining_ms <= 800, "downstream saw %ld ms", (long)out->remaining_ms);
  /* The deadline also bounds the downstream call. */
  req.sleep_ms = 2000;
  int64_t t0 = rpc_now_ms();
  cr_assert_eq(rpc_call(relay.addr, RELAY, &req.base, &accolade__test__v1__echo_response__descriptor,
                        &o, &a, (void **)&out, &st),
               RPC_DEADLINE_EXCEEDED);
  cr_assert_lt(rpc_now_ms() - t0, 1500);
  arena_free(&a);
  cr_assert_eq(th_stop(&relay), 0);
}

typedef struct {
  int ok;
  int seq_sum;
} stream_acc;

static int on_msg(void *arg, const uint8_t *buf, size_t len) {
  stream_acc *acc = arg;
  Accolade__Test__V1__EchoResponse *m = accolade__test__v1__echo_response__unpack(NULL, len, buf);
  if (!m) return 1;
  acc->ok++;
  acc->seq_sum += m->seq;
  accolade__test__v1__echo_response__free_unpacked(m, NULL);
  return 0;
}

Test(rpc, server_stream_delivers_every_message_in_order) {
  arena a;
  arena_init(&a);
  Accolade__Test__V1__EchoRequest req = ACCOLADE__TEST__V1__ECHO_REQUEST__INIT;
  req.count = 50;
  uint8_t buf[64];
  size_t n = accolade__test__v1__echo_request__pack(&req, buf);
  stream_acc acc = {0};
  rpc_status st;
  rpc_call_opts o = {.timeout_ms = 10000};
  cr_assert_eq(rpc_call_stream_raw(svc.addr, STREAM, buf, n, &o, &a, on_msg, &acc, NULL, &st), RPC_OK,
               "%s", st.message);
  cr_assert_eq(acc.ok, 50);
  cr_assert_eq(acc.seq_sum, 49 * 50 / 2);
  arena_free(&a);
}

typedef struct {
  const char *addr;
  int ok;
} conc_arg;

static void *conc_worker(void *p) {
  conc_arg *c = p;
  arena a;
  arena_init(&a);
  for (int i = 0; i < 10; i++) {
    Accolade__Test__V1__EchoRequest req = ACCOLADE__TEST__V1__ECHO_REQUEST__INIT;
    char text[32];
    snprintf(text, sizeof text, "m%d", i);
    req.text = text;
    req.sleep_ms = 5;
    Accolade__Test__V1__EchoResponse *out;
    rpc_status st;
    rpc_call_opts o = {.timeout_ms = 20000};
    if (rpc_call(c->addr, ECHO, &req.base, &accolade__test__v1__echo_response__descriptor, &o, &a,
                 (void **)&out, &st) == RPC_OK &&
        strcmp(out->text, text) == 0)
      c->ok++;
  }
  arena_free(&a);
  return NULL;
}

Test(rpc, two_hundred_concurrent_calls_all_succeed) {
  enum { N = 200 };
  pthread_t t[N];
  conc_arg args[N];
  for (int i = 0; i < N; i++) {
    args[i] = (conc_arg){svc.addr, 0};
    cr_assert_eq(pthread_create(&t[i], NULL, conc_worker, &args[i]), 0);
  }
  int ok = 0;
  for (int i = 0; i < N; i++) {
    pthread_join(t[i], NULL);
    ok += args[i].ok;
  }
  cr_assert_eq(ok, N * 10, "only %d of %d calls succeeded", ok, N * 10);
}

static void *slow_call(void *p) {
  conc_arg *c = p;
  arena a;
  arena_init(&a);
  Accolade__Test__V1__EchoRequest req = ACCOLADE__TEST__V1__ECHO_REQUEST__INIT;
  req.text = "in flight";
  req.sleep_ms = 700;
  Accolade__Test__V1__EchoResponse *out;
  rpc_status st;
  rpc_call_opts o = {.timeout_ms = 10000};
  if (rpc_call(c->addr, ECHO, &req.base, &accolade__test__v1__echo_response__descriptor, &o, &a,
               (void **)&out, &st) == RPC_OK)
    c->ok = 1;
  arena_free(&a);
  return NULL;
}

Test(rpc, shutdown_lets_calls_in_flight_finish_and_refuses_new_ones) {
  th_proc p;
  cr_assert_eq(th_start(&p, th_bin("accolade-testsvc"), NULL), 0);
  enum { N = 4 };
  pthread_t t[N];
  conc_arg args[N];
  for (int i = 0; i < N; i++) {
    args[i] = (conc_arg){p.addr, 0};
    pthread_create(&t[i], NULL, slow_call, &args[i]);
  }
  usleep(250 * 1000);
  pid_t pid = p.pid;
  kill(pid, SIGTERM);
  usleep(150 * 1000);
  /* Shutting down: a new call is not served. */
  arena a;
  arena_init(&a);
  Accolade__Test__V1__EchoRequest req = ACCOLADE__TEST__V1__ECHO_REQUEST__INIT;
  Accolade__Test__V1__EchoResponse *out;
  rpc_status st;
  rpc_call_opts o = {.timeout_ms = 2000};
  int rc = rpc_call(p.addr, ECHO, &req.base, &accolade__test__v1__echo_response__descriptor, &o, &a,
                    (void **)&out, &st);
  cr_assert_neq(rc, RPC_OK, "a call after SIGTERM was served");
  arena_free(&a);
  for (int i = 0; i < N; i++) {
    pthread_join(t[i], NULL);
    cr_assert_eq(args[i].ok, 1, "in-flight call %d was not completed", i);
  }
  cr_assert_eq(th_stop(&p), 0, "did not exit with status 0");
}

static void *slow_1500(void *p) {
  conc_arg *c = p;
  arena a;
  arena_init(&a);
  Accolade__Test__V1__EchoRequest req = ACCOLADE__TEST__V1__ECHO_REQUEST__INIT;
  req.sleep_ms = 1500;
  Accolade__Test__V1__EchoResponse *out;
  rpc_status st;
  rpc_call_opts o = {.timeout_ms = 10000};
  c->ok = rpc_call(c->addr, ECHO, &req.base, &accolade__test__v1__echo_response__descriptor, &o, &a,
                   (void **)&out, &st) == RPC_OK;
  arena_free(&a);
  return NULL;
}

Test(rpc, slow_handlers_do_not_delay_calls_queued_behind_them) {
  enum { SLOW = 3 };
  pthread_t t[SLOW];
  conc_arg args[SLOW];
  for (int i = 0; i < SLOW; i++) {
    args[i] = (conc_arg){svc.addr, 0};
    pthread_create(&t[i], NULL, slow_1500, &args[i]);
  }
  usleep(100 * 1000);
  arena a;
  arena_init(&a);
  int64_t worst = 0;
  for (int i = 0; i < 40; i++) {
    Accolade__Test__V1__EchoRequest req = ACCOLADE__TEST__V1__ECHO_REQUEST__INIT;
    Accolade__Test__V1__EchoResponse *out;
    rpc_status st;
    int64_t t0 = rpc_now_ms();
    cr_assert_eq(echo(&req, NULL, 5000, &a, &out, &st), RPC_OK);
    int64_t took = rpc_now_ms() - t0;
    if (took > worst) worst = took;
  }
  arena_free(&a);
  for (int i = 0; i < SLOW; i++) {
    pthread_join(t[i], NULL);
    cr_assert(args[i].ok);
  }
  cr_assert_lt(worst, 500, "a fast call waited %ld ms behind slow ones", (long)worst);
}

Test(rpc, idempotent_calls_retry_unavailable_until_the_server_is_up) {
  /* Nothing listens yet on this port; a server starts there 300 ms later. */
  int port = th_free_port();
  char addr[64];
  snprintf(addr, sizeof addr, "127.0.0.1:%d", port);
  pid_t pid = th_spawn(th_bin("accolade-testsvc"), port, NULL, 300);
  arena a;
  arena_init(&a);
  Accolade__Test__V1__EchoRequest req = ACCOLADE__TEST__V1__ECHO_REQUEST__INIT;
  req.text = "eventually";
  Accolade__Test__V1__EchoResponse *out;
  rpc_status st;
  rpc_call_opts once = {.timeout_ms = 5000};
  cr_assert_eq(rpc_call(addr, ECHO, &req.base, &accolade__test__v1__echo_response__descriptor, &once,
                        &a, (void **)&out, &st),
               RPC_UNAVAILABLE, "a non-idempotent call is tried once");
  rpc_call_opts retry = {.timeout_ms = 8000, .idempotent = 1, .max_attempts = 8};
  cr_assert_eq(rpc_call(addr, ECHO, &req.base, &accolade__test__v1__echo_response__descriptor, &retry,
                        &a, (void **)&out, &st),
               RPC_OK, "%s", st.message);
  cr_assert_str_eq(out->text, "eventually");
  arena_free(&a);
  th_proc p = {.pid = pid, .port = port};
  cr_assert_eq(th_stop(&p), 0);
}

Test(rpc, several_addresses_are_balanced_and_a_dead_one_is_skipped) {
  th_proc b;
  cr_assert_eq(th_start(&b, th_bin("accolade-testsvc"), NULL), 0);
  int dead = th_free_port();
  char env[160];
  snprintf(env, sizeof env, "ACCOLADE_BALANCED_ADDR=127.0.0.1:%d,127.0.0.1:%d,127.0.0.1:%d", svc.port,
           b.port, dead);
  putenv(env);
  const char *target = svc_addr("balanced");
  cr_assert(strncmp(target, "ipv4:", 5) == 0, "%s", target);
  arena a;
  arena_init(&a);
  int ok = 0;
  for (int i = 0; i < 30; i++) {
    Accolade__Test__V1__EchoRequest req = ACCOLADE__TEST__V1__ECHO_REQUEST__INIT;
    Accolade__Test__V1__EchoResponse *out;
    rpc_status st;
    rpc_call_opts o = {.timeout_ms = 3000, .idempotent = 1};
    if (rpc_call(target, ECHO, &req.base, &accolade__test__v1__echo_response__descriptor, &o, &a,
                 (void **)&out, &st) == RPC_OK)
      ok++;
  }
  arena_free(&a);
  cr_assert_eq(ok, 30, "only %d of 30 calls succeeded with one address down", ok);
  cr_assert_eq(th_stop(&b), 0);
}
