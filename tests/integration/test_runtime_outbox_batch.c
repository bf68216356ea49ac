/* The outbox's batches (outbox_batch_as) over real gRPC to the test service:
 * a round's rows for one receiver and org as one call, a status per row
 * recorded as if each had gone alone, and a receiver without the batch
 * method served one call per row. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "accolade/test/v1/test.pb-c.h"
#include "harness.h"
#include "migrate.h"
#include "outbox.h"
#include "pg.h"

static char target[64];
static const char *dsn, *schema;

static const char *resolve(const char *t) { return strcmp(t, "test") == 0 ? target : NULL; }

typedef struct {
  const char *org;
  int n, fail_at, fail_code;   /* row fail_at fails with fail_code */
} rows_arg;

static int enqueue_rows(void *p) {
  const rows_arg *e = p;
  for (int i = 0; i < e->n; i++) {
    Accolade__Test__V1__EchoRequest req = ACCOLADE__TEST__V1__ECHO_REQUEST__INIT;
    char text[32];
    snprintf(text, sizeof text, "%s-%d", e->org, i);
    req.text = text;
    if (i == e->fail_at) {
      req.fail_code = e->fail_code;
      req.fail_message = "refused by the test";
    }
    int rc = outbox_enqueue(&accolade__test__v1__test_service__descriptor, "Echo", e->org, &req.base);
    if (rc != RPC_OK) return rc;
  }
  return RPC_OK;
}

static void start(th_proc *p, const char *name, const char *const *env) {
  th_init();
  dsn = th_new_database(name);
  schema = name;
  pg_setup(dsn, schema);
  cr_assert_eq(migrate_run(NULL), 0);
  cr_assert_eq(th_start(p, th_bin("accolade-testsvc"), env), 0);
  snprintf(target, sizeof target, "%s", p->addr);
  cr_assert_eq(outbox_batch_as(&accolade__test__v1__test_service__descriptor, "Echo", "EchoBatch"), 0);
}

static void stop(th_proc *p) {
  th_stop(p);
  pg_disconnect();
  th_fini();
}

/* batch_calls: how many EchoBatch calls the test service has served. */
static int batch_calls(const char *addr) {
  Accolade__Test__V1__EchoRequest req = ACCOLADE__TEST__V1__ECHO_REQUEST__INIT;
  Accolade__Test__V1__EchoResponse *out = NULL;
  arena a;
  arena_init(&a);
  rpc_status st;
  cr_assert_eq(th_call(addr, "/accolade.test.v1.TestService/Echo", &req, &accolade__test__v1__echo_response__descriptor,
                       NULL, &a, (void **)&out, &st),
               RPC_OK);
  int n = out->seq;
  arena_free(&a);
  return n;
}

/* sql: one value of |q|, in the test's schema. */
static char *sql(const char *q) {
  char with_path[1024];
  snprintf(with_path, sizeof with_path, "SET search_path = %s; %s", schema, q);
  return th_sql(dsn, with_path);
}

Test(outbox_batch, a_rounds_rows_travel_as_one_call_per_org_and_each_row_keeps_its_own_status) {
  th_proc p;
  start(&p, "obbatch", NULL);
  rows_arg acme = {"acme", 8, 3, RPC_INVALID_ARGUMENT}, retry = {"acme", 1, 0, RPC_UNAVAILABLE},
           globex = {"globex", 3, -1, 0};
  cr_assert_eq(pg_tx(enqueue_rows, &acme), RPC_OK);
  cr_assert_eq(pg_tx(enqueue_rows, &retry), RPC_OK);
  cr_assert_eq(pg_tx(enqueue_rows, &globex), RPC_OK);
  cr_assert_eq(outbox_dispatch_once("test", resolve), 12);
  cr_expect_eq(batch_calls(p.addr), 2, "one batch for acme's 9 rows and one for globex's 3");
  /* Each row as if it had gone alone: 10 delivered, the refused one dead at
   * once, the unavailable one due again. */
  char *d = sql("SELECT count(*) FILTER (WHERE delivered_at IS NOT NULL AND attempts = 1) || ':' || "
                "count(*) FILTER (WHERE dead_at IS NOT NULL AND last_error LIKE 'INVALID_ARGUMENT: refused by the test%') "
                "|| ':' || count(*) FILTER (WHERE delivered_at IS NULL AND dead_at IS NULL AND attempts = 1 "
                "AND last_error LIKE 'UNAVAILABLE%') FROM outbox");
  cr_expect_str_eq(d, "10:1:1");
  free(d);
  /* Only the unavailable row comes back; alone, it goes as a single call. */
  pg_exec("UPDATE outbox SET next_attempt_at = now()", 0, NULL);
  cr_expect_eq(outbox_dispatch_once("test", resolve), 1);
  cr_expect_eq(batch_calls(p.addr), 2);
  d = sql("SELECT attempts FROM outbox WHERE dead_at IS NULL AND delivered_at IS NULL");
  cr_expect_str_eq(d, "2");
  free(d);
  stop(&p);
}

Test(outbox_batch, a_receiver_without_the_batch_method_gets_the_rows_one_call_each) {
  th_proc p;
  const char *env[] = {"ACCOLADE_TESTSVC_NO_BATCH=1", NULL};
  start(&p, "obnobatch", env);
  rows_arg acme = {"acme", 5, 2, RPC_NOT_FOUND};
  cr_assert_eq(pg_tx(enqueue_rows, &acme), RPC_OK);
  cr_assert_eq(outbox_dispatch_once("test", resolve), 5);
  char *d = sql("SELECT count(*) FILTER (WHERE delivered_at IS NOT NULL AND attempts = 1) || ':' || "
                "count(*) FILTER (WHERE dead_at IS NOT NULL AND last_error LIKE 'NOT_FOUND%') FROM outbox");
  cr_expect_str_eq(d, "4:1");
  free(d);
  cr_expect_eq(batch_calls(p.addr), 0);
  stop(&p);
}

/* ------------------------------------------------- batches and reply hooks */

/* hook_saw: the reply hook of these tests notes what it saw, in the
 * delivery's transaction: the request's text and its reply's. */
static int hook_saw(const char *org, const uint8_t *req, size_t req_len, const uint8_t *reply, size_t reply_len) {
  Accolade__Test__V1__EchoRequest *q = accolade__test__v1__echo_request__unpack(NULL, req_len, req);
  Accolade__Test__V1__EchoResponse *r = accolade__test__v1__echo_response__unpack(NULL, reply_len, reply);
  int rc = RPC_INTERNAL;
  if (q && r) {
    const char *p[] = {org, q->text, r->text};
    rc = pg_exec("INSERT INTO hooked (org, req, reply) VALUES ($1, $2, $3)", 3, p);
  }
  if (q) accolade__test__v1__echo_request__free_unpacked(q, NULL);
  if (r) accolade__test__v1__echo_response__free_unpacked(r, NULL);
  return rc;
}

/* start_hooked: start() with the hook on Echo and its table. */
static void start_hooked(th_proc *p, const char *name, const char *const *env) {
  outbox_on_reply(&accolade__test__v1__test_service__descriptor, "Echo", hook_saw);
  start(p, name, env);
  cr_assert_eq(pg_exec("CREATE TABLE hooked (org text, req text, reply text)", 0, NULL), RPC_OK);
}

/* hooked: "org:req=reply,..." in order, what the hook saw. */
static char *hooked(void) {
  return sql("SELECT COALESCE(string_agg(org || ':' || req || '=' || reply, ',' ORDER BY req), '') FROM hooked");
}

Test(outbox_batch, a_method_with_a_reply_hook_travels_in_a_batch_and_its_hook_runs_per_row) {
  th_proc p;
  start_hooked(&p, "obhook", NULL);
  rows_arg acme = {"acme", 4, 2, RPC_INVALID_ARGUMENT}, globex = {"globex", 2, -1, 0};
  cr_assert_eq(pg_tx(enqueue_rows, &acme), RPC_OK);
  cr_assert_eq(pg_tx(enqueue_rows, &globex), RPC_OK);
  cr_assert_eq(outbox_dispatch_once("test", resolve), 6);
  cr_expect_eq(batch_calls(p.addr), 2, "one batch per org, the hook notwithstanding");
  /* Each delivered row's hook saw its own request and its own reply; the
   * refused row is dead and its hook never ran. */
  char *h = hooked();
  cr_expect_str_eq(h, "acme:acme-0=acme-0,acme:acme-1=acme-1,acme:acme-3=acme-3,globex:globex-0=globex-0,"
                      "globex:globex-1=globex-1");
  free(h);
  char *d = sql("SELECT count(*) FILTER (WHERE delivered_at IS NOT NULL) || ':' || "
                "count(*) FILTER (WHERE dead_at IS NOT NULL) FROM outbox");
  cr_expect_str_eq(d, "5:1");
  free(d);
  stop(&p);
}

Test(outbox_batch, a_batch_reply_without_the_rows_replies_sends_a_hooked_method_one_call_each) {
  th_proc p;
  const char *env[] = {"ACCOLADE_TESTSVC_NO_ITEM_REPLY=1", NULL};
  start_hooked(&p, "obnoreply", env);
  rows_arg acme = {"acme", 3, -1, 0};
  cr_assert_eq(pg_tx(enqueue_rows, &acme), RPC_OK);
  cr_assert_eq(outbox_dispatch_once("test", resolve), 3);
  cr_expect_eq(batch_calls(p.addr), 1, "the batch was tried");
  /* Its replies were not there: each row again alone, and each hook once. */
  char *h = hooked();
  cr_expect_str_eq(h, "acme:acme-0=acme-0,acme:acme-1=acme-1,acme:acme-2=acme-2");
  free(h);
  char *d = sql("SELECT count(*) FROM outbox WHERE delivered_at IS NOT NULL AND attempts = 1");
  cr_expect_str_eq(d, "3");
  free(d);
  stop(&p);
}
