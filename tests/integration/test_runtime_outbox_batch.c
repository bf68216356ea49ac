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
    int rc = outbox_enqueue(&accolade__test__v1__test_service__descriptor, "Echo", e->org, &req.base, NULL);
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
  th_stop(&p);
  pg_disconnect();
  th_fini();
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
  th_stop(&p);
  pg_disconnect();
  th_fini();
}
