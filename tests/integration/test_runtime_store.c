/* The runtime's Postgres pieces against a real Postgres: migrations once each
 * and in order, transactions, and the outbox delivering over real gRPC. */
#include <criterion/criterion.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "accolade/test/v1/test.pb-c.h"
#include "harness.h"
#include "migrate.h"
#include "outbox.h"
#include "pg.h"

static char mdir[64];

static void remove_tmp(void) {
  char cmd[128];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", mdir);
  if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", mdir);
}

static void write_file(const char *name, const char *sql) {
  char p[256];
  snprintf(p, sizeof p, "%s/%s", mdir, name);
  FILE *f = fopen(p, "w");
  cr_assert_not_null(f);
  fputs(sql, f);
  fclose(f);
}

static void make_migrations(void) {
  snprintf(mdir, sizeof mdir, "/tmp/acc-mig-XXXXXX");
  cr_assert_not_null(mkdtemp(mdir));
  atexit(remove_tmp);
  write_file("1_create.sql", "CREATE TABLE item (id int PRIMARY KEY, v text);");
  write_file("2_seed.sql", "INSERT INTO item VALUES (1, 'one');");
  write_file("10_more.sql", "INSERT INTO item SELECT 2, v || '+' FROM item WHERE id = 1;");
}

Test(store, migrations_apply_once_each_in_numeric_order) {
  th_init();
  const char *dsn = th_new_database("migrate");
  pg_setup(dsn, "mtest");
  make_migrations();
  cr_assert_eq(migrate_run(mdir), 0);
  /* 10 ran after 2: it copied the seeded row. */
  char *v = th_sql(dsn, "SELECT v FROM mtest.item WHERE id = 2");
  cr_assert_not_null(v);
  cr_assert_str_eq(v, "one+");
  free(v);
  /* A second run applies nothing again (the INSERTs would fail on the key). */
  cr_assert_eq(migrate_run(mdir), 0);
  char *n = th_sql(dsn, "SELECT count(*) FROM mtest.schema_migrations");
  cr_assert_str_eq(n, "6");   /* common/1 to 3 + 3 service files */
  free(n);
  /* A new file is picked up later. */
  write_file("11_late.sql", "INSERT INTO item VALUES (3, 'late');");
  cr_assert_eq(migrate_run(mdir), 0);
  char *c = th_sql(dsn, "SELECT count(*) FROM mtest.item");
  cr_assert_str_eq(c, "3");
  free(c);
  pg_disconnect();
  th_fini();
}

Test(store, failed_migration_is_rolled_back_and_not_recorded) {
  th_init();
  const char *dsn = th_new_database("migfail");
  pg_setup(dsn, "mfail");
  make_migrations();
  write_file("3_broken.sql", "CREATE TABLE half (id int); SELECT no_such_function();");
  cr_assert_eq(migrate_run(mdir), -1);
  char *half = th_sql(dsn, "SELECT count(*) FROM pg_tables WHERE tablename = 'half'");
  cr_assert_str_eq(half, "0");
  free(half);
  char *rec = th_sql(dsn, "SELECT count(*) FROM mfail.schema_migrations WHERE stream = 'service' AND version = 3");
  cr_assert_str_eq(rec, "0");
  free(rec);
  pg_disconnect();
  th_fini();
}

/* Statements queued with pg_exec_later inside pg_tx. */
typedef struct {
  int dup;        /* queue the same key twice */
  int read;       /* then read (the queue goes with it) */
  int seen;       /* what the read saw */
  int read_rc;    /* and what it returned */
} later_arg;

static int later_tx(void *p) {
  later_arg *a = p;
  const char *one[] = {"1", "first"}, *two[] = {a->dup ? "1" : "2", "second"};
  const char *sql = "INSERT INTO item (id, v) VALUES ($1::int, $2)";
  if (pg_exec_later(sql, 2, one, NULL, NULL) || pg_exec_later(sql, 2, two, NULL, NULL)) return RPC_INTERNAL;
  if (!a->read) return RPC_OK;
  PGresult *r;
  a->read_rc = pg_query(&r, "SELECT count(*), string_agg(v, ',' ORDER BY id) FROM item", 0, NULL);
  if (a->read_rc) return a->read_rc;
  a->seen = (int)pg_int(r, 0, 0);
  PQclear(r);
  return RPC_OK;
}

static const char *later_db(void) {
  th_init();
  const char *dsn = th_new_database("later");
  pg_setup(dsn, "later");
  cr_assert_eq(migrate_run(NULL), 0);
  cr_assert_eq(pg_exec("CREATE TABLE item (id int PRIMARY KEY, v text)", 0, NULL), PG_OK);
  return dsn;
}

Test(store, queued_statements_run_in_order_before_the_next_read_and_commit_with_it) {
  const char *dsn = later_db();
  later_arg a = {.read = 1};
  cr_assert_eq(pg_tx(later_tx, &a), PG_OK);
  cr_assert_eq(a.seen, 2, "the read saw the two queued rows: %d", a.seen);
  char *v = th_sql(dsn, "SELECT string_agg(v, ',' ORDER BY id) FROM later.item");
  cr_assert_str_eq(v, "first,second");
  free(v);
  /* Queued and nothing read: they go with the COMMIT. */
  cr_assert_eq(pg_exec("DELETE FROM item", 0, NULL), PG_OK);
  later_arg b = {0};
  cr_assert_eq(pg_tx(later_tx, &b), PG_OK);
  cr_assert_eq(th_sql_int(dsn, "SELECT count(*) FROM later.item"), 2);
  pg_disconnect();
  th_fini();
}

Test(store, a_queued_statement_that_fails_fails_its_transaction_and_nothing_of_it_commits) {
  const char *dsn = later_db();
  /* Failing with the read: the read returns the queued INSERT's code. */
  later_arg a = {.dup = 1, .read = 1};
  cr_assert_eq(pg_tx(later_tx, &a), PG_DUPLICATE);
  cr_assert_eq(a.read_rc, PG_DUPLICATE);
  cr_assert_eq(th_sql_int(dsn, "SELECT count(*) FROM later.item"), 0);
  /* Failing with the COMMIT. */
  later_arg b = {.dup = 1};
  cr_assert_eq(pg_tx(later_tx, &b), PG_DUPLICATE);
  cr_assert_eq(th_sql_int(dsn, "SELECT count(*) FROM later.item"), 0);
  /* The connection is whole after it: out of the failed transaction and
   * out of pipeline mode (a plain statement and a transaction run). */
  PGconn *c = pg_conn();
  cr_assert_not_null(c);
  cr_assert_eq(PQtransactionStatus(c), PQTRANS_IDLE);
  cr_assert_eq(PQpipelineStatus(c), PQ_PIPELINE_OFF);
  later_arg ok = {.read = 1};
  cr_assert_eq(pg_tx(later_tx, &ok), PG_OK);
  cr_assert_eq(th_sql_int(dsn, "SELECT count(*) FROM later.item"), 2);
  pg_disconnect();
  th_fini();
}

typedef struct {
  int fail;                 /* the read after the queued one fails */
  int before, after;        /* rows of the queued read: before and after the next read */
  long long value;          /* its value */
  int rc;                   /* the next read's code */
} query_later_arg;

/* query_later_tx queues a read of the items, then reads something else:
 * the queued rows arrive with that read. */
static int query_later_tx(void *p) {
  query_later_arg *a = p;
  PGresult *queued, *r = NULL;
  int rc = pg_query_later(&queued, "SELECT count(*) + 40 FROM item", 0, NULL);
  if (rc) return rc;
  a->before = queued != NULL;
  a->rc = pg_query(&r, a->fail ? "SELECT 1 / 0" : "SELECT 1", 0, NULL);
  a->after = queued != NULL;
  if (queued) a->value = pg_int(queued, 0, 0);
  PQclear(queued);
  PQclear(r);
  return a->rc;
}

Test(store, a_queued_read_comes_back_with_the_next_read_and_not_when_it_fails) {
  later_db();
  cr_assert_eq(pg_exec("INSERT INTO item VALUES (1, 'a'), (2, 'b')", 0, NULL), PG_OK);
  query_later_arg a = {0};
  cr_assert_eq(pg_tx(query_later_tx, &a), PG_OK);
  cr_assert_eq(a.before, 0, "rows before the round trip");
  cr_assert_eq(a.after, 1, "no rows after it");
  cr_assert_eq(a.value, 42);
  query_later_arg b = {.fail = 1};
  cr_assert_neq(pg_tx(query_later_tx, &b), PG_OK);
  cr_assert_neq(b.rc, PG_OK);
  cr_assert_eq(b.after, 0, "rows kept from a round trip that failed");
  /* Outside a transaction it runs at once. */
  PGresult *r;
  cr_assert_eq(pg_query_later(&r, "SELECT count(*) FROM item", 0, NULL), PG_OK);
  cr_assert_not_null(r);
  cr_assert_eq(pg_int(r, 0, 0), 2);
  PQclear(r);
  pg_disconnect();
  th_fini();
}

static atomic_int g_after_runs;
static void after_one(void) { atomic_fetch_add(&g_after_runs, 1); }

static int after_tx(void *p) {
  int runs = atomic_load(&g_after_runs);
  pg_after_commit(after_one);
  pg_after_commit(after_one);   /* once per transaction */
  cr_assert_eq(atomic_load(&g_after_runs), runs, "ran before the commit");
  return pg_exec_later("INSERT INTO item VALUES (9, 'x')", 0, NULL, NULL, NULL) ? -1 : *(int *)p;
}

Test(store, after_commit_work_runs_once_when_the_transaction_commits_and_not_when_it_rolls_back) {
  later_db();
  int fail = RPC_ABORTED + 100, ok = RPC_OK;
  cr_assert_neq(pg_tx(after_tx, &fail), PG_OK);
  cr_assert_eq(atomic_load(&g_after_runs), 0, "ran for a rolled-back transaction");
  cr_assert_eq(pg_tx(after_tx, &ok), PG_OK);
  cr_assert_eq(atomic_load(&g_after_runs), 1);
  /* The row's COMMIT failing (a duplicate): nothing runs. */
  cr_assert_neq(pg_tx(after_tx, &ok), PG_OK);
  cr_assert_eq(atomic_load(&g_after_runs), 1, "ran though the commit failed");
  pg_disconnect();
  th_fini();
}

Test(store, outside_a_transaction_a_queued_statement_runs_at_once) {
  const char *dsn = later_db();
  const char *p[] = {"7", "now"};
  cr_assert_eq(pg_exec_later("INSERT INTO item (id, v) VALUES ($1::int, $2)", 2, p, NULL, NULL), PG_OK);
  cr_assert_eq(th_sql_int(dsn, "SELECT count(*) FROM later.item WHERE id = 7"), 1);
  cr_assert_eq(pg_exec_later("INSERT INTO item (id, v) VALUES ($1::int, $2)", 2, p, NULL, NULL), PG_DUPLICATE);
  pg_disconnect();
  th_fini();
}

static int ob_target_port;
static char ob_target[64];

static const char *resolve(const char *target) {
  return strcmp(target, "test") == 0 ? ob_target : NULL;
}

typedef struct {
  const char *text;
  int fail;
} enq_arg;

static int enqueue_tx(void *p) {
  enq_arg *e = p;
  Accolade__Test__V1__EchoRequest req = ACCOLADE__TEST__V1__ECHO_REQUEST__INIT;
  req.text = (char *)e->text;
  int rc = outbox_enqueue(&accolade__test__v1__test_service__descriptor, "Echo", "acme", &req.base);
  if (rc != RPC_OK) return rc;
  return e->fail ? RPC_ABORTED + 100 : RPC_OK;   /* a failing business step */
}

Test(store, outbox_rows_exist_only_when_the_transaction_commits) {
  th_init();
  const char *dsn = th_new_database("outbox_tx");
  pg_setup(dsn, "obtx");
  cr_assert_eq(migrate_run(NULL), 0);
  enq_arg fail = {"lost", 1};
  cr_assert_neq(pg_tx(enqueue_tx, &fail), RPC_OK);
  char *n = th_sql(dsn, "SELECT count(*) FROM obtx.outbox");
  cr_assert_str_eq(n, "0");
  free(n);
  enq_arg ok = {"kept", 0};
  cr_assert_eq(pg_tx(enqueue_tx, &ok), RPC_OK);
  n = th_sql(dsn, "SELECT count(*) FROM obtx.outbox");
  cr_assert_str_eq(n, "1");
  free(n);
  pg_disconnect();
  th_fini();
}

Test(store, outbox_retries_until_the_target_is_up_then_delivers_once) {
  th_init();
  const char *dsn = th_new_database("outbox_dl");
  pg_setup(dsn, "obdl");
  cr_assert_eq(migrate_run(NULL), 0);
  ob_target_port = th_free_port();
  snprintf(ob_target, sizeof ob_target, "127.0.0.1:%d", ob_target_port);
  enq_arg ok = {"hello", 0};
  cr_assert_eq(pg_tx(enqueue_tx, &ok), RPC_OK);
  /* Nobody listens yet: the attempt fails and is scheduled again. */
  cr_assert_eq(outbox_dispatch_once("test", resolve), 1);
  char *att = th_sql(dsn, "SELECT attempts || ':' || (delivered_at IS NULL) || ':' || (last_error LIKE 'UNAVAILABLE%') FROM obdl.outbox");
  cr_assert_str_eq(att, "1:true:true");
  free(att);
  /* Start the target on that port and wait for the retry to come due. */
  th_proc p;
  pid_t pid = th_spawn(th_bin("accolade-testsvc"), ob_target_port, NULL, 0);
  p.pid = pid;
  cr_assert_eq(th_wait_health(ob_target, 1, 20000), 0);
  int delivered = 0;
  for (int i = 0; i < 50 && !delivered; i++) {
    usleep(100 * 1000);
    outbox_dispatch_once("test", resolve);
    char *d = th_sql(dsn, "SELECT count(*) FROM obdl.outbox WHERE delivered_at IS NOT NULL");
    delivered = d && strcmp(d, "1") == 0;
    free(d);
  }
  cr_assert(delivered, "the outbox row was not delivered once the target was up");
  /* Delivered rows are not sent again. */
  cr_assert_eq(outbox_dispatch_once("test", resolve), 0);
  th_stop(&p);
  pg_disconnect();
  th_fini();
}

static const char *resolve_nowhere(const char *t) { (void)t; return "127.0.0.1:1"; }

/* ob_stack: a new database |db| with the outbox under |schema| on this
 * thread's connection, and the test service started as the target "test". */
static const char *ob_stack(const char *db, const char *schema, th_proc *svc) {
  th_init();
  const char *dsn = th_new_database(db);
  pg_setup(dsn, schema);
  cr_assert_eq(migrate_run(NULL), 0);
  cr_assert_eq(th_start(svc, th_bin("accolade-testsvc"), NULL), 0);
  snprintf(ob_target, sizeof ob_target, "%s", svc->addr);
  return dsn;
}

Test(store, outbox_dead_letters_permanent_errors) {
  th_proc p;
  const char *dsn = ob_stack("outbox_dead", "obdead", &p);
  /* A method the target does not have: UNIMPLEMENTED is retried (a newer
   * target may have it); a bad request (INVALID_ARGUMENT) is dead at once. */
  const char *pp[] = {"test", "/accolade.test.v1.TestService/Echo", "acme"};
  cr_assert_eq(pg_exec("INSERT INTO outbox(target, method, org, payload) VALUES ($1, $2, $3, '\\x0affffffff0f01'::bytea)", 3, pp), RPC_OK);
  cr_assert_eq(outbox_dispatch_once("test", resolve), 1);
  char *d = th_sql(dsn, "SELECT (dead_at IS NOT NULL) || ':' || last_error FROM obdead.outbox");
  cr_assert_not_null(d);
  cr_assert(strncmp(d, "true:INVALID_ARGUMENT", 21) == 0, "%s", d);
  free(d);
  (void)resolve_nowhere;
  th_stop(&p);
  pg_disconnect();
  th_fini();
}

static atomic_int hook_calls;
static int failing_hook(const char *org, const uint8_t *req, size_t req_len, const uint8_t *reply, size_t reply_len) {
  (void)org; (void)req; (void)req_len; (void)reply; (void)reply_len;
  atomic_fetch_add(&hook_calls, 1);
  return -1;
}

Test(store, outbox_a_failing_reply_hook_counts_attempts_and_dead_letters_once) {
  th_proc p;
  const char *dsn = ob_stack("outbox_hook", "obhook", &p);
  outbox_on_reply(&accolade__test__v1__test_service__descriptor, "Echo", failing_hook);
  outbox_set_max_attempts(3);
  enq_arg ok = {"hooked", 0};
  cr_assert_eq(pg_tx(enqueue_tx, &ok), RPC_OK);
  for (int i = 0; i < 6; i++) {
    outbox_dispatch_once("test", resolve);
    pg_exec("UPDATE outbox SET next_attempt_at = now()", 0, NULL);   /* no waiting for the backoff */
  }
  cr_expect_eq(atomic_load(&hook_calls), 3, "the hook ran once per attempt, three attempts");
  char *d = th_sql(dsn, "SELECT attempts || ':' || (dead_at IS NOT NULL) || ':' || (delivered_at IS NULL) || ':' || "
                        "(last_error LIKE 'reply hook%') FROM obhook.outbox");
  cr_expect_str_eq(d, "3:true:true:true");
  free(d);
  cr_expect_eq(outbox_dispatch_once("test", resolve), 0, "a dead row is not sent again");
  th_stop(&p);
  pg_disconnect();
  th_fini();
}

typedef struct {
  const char *dsn;
  int idle_in_tx;
} watch_arg;

static void *watch_sessions(void *arg) {
  watch_arg *w = arg;
  usleep(700 * 1000);   /* the receiver is sleeping on the call by now */
  char *n = th_sql(w->dsn, "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                           "AND state LIKE 'idle in transaction%'");
  w->idle_in_tx = n ? atoi(n) : -1;
  free(n);
  return NULL;
}

static int enqueue_slow_tx(void *p) {
  (void)p;
  Accolade__Test__V1__EchoRequest req = ACCOLADE__TEST__V1__ECHO_REQUEST__INIT;
  req.text = "slow";
  req.sleep_ms = 2000;
  return outbox_enqueue(&accolade__test__v1__test_service__descriptor, "Echo", "acme", &req.base);
}

Test(store, outbox_holds_no_transaction_while_a_receiver_hangs) {
  th_proc p;
  const char *dsn = ob_stack("outbox_lease", "oblease", &p);
  cr_assert_eq(pg_tx(enqueue_slow_tx, NULL), RPC_OK);
  watch_arg w = {dsn, -1};
  pthread_t t;
  pthread_create(&t, NULL, watch_sessions, &w);
  cr_assert_eq(outbox_dispatch_once("test", resolve), 1);
  pthread_join(t, NULL);
  cr_expect_eq(w.idle_in_tx, 0, "a session idled in a transaction while the receiver hung");
  char *d = th_sql(dsn, "SELECT count(*) FROM oblease.outbox WHERE delivered_at IS NOT NULL");
  cr_expect_str_eq(d, "1");
  free(d);
  th_stop(&p);
  pg_disconnect();
  th_fini();
}

static int enqueue_wave_tx(void *p) {
  (void)p;
  for (int i = 0; i < 64; i++) {
    Accolade__Test__V1__EchoRequest req = ACCOLADE__TEST__V1__ECHO_REQUEST__INIT;
    req.text = "wave";
    req.sleep_ms = 500;
    int rc = outbox_enqueue(&accolade__test__v1__test_service__descriptor, "Echo", "acme", &req.base);
    if (rc != RPC_OK) return rc;
  }
  return RPC_OK;
}

typedef struct {
  const char *dsn;
  char *leases;   /* distinct leases : first : last lease, in s from the claim */
} lease_arg;

static void *watch_leases(void *arg) {
  lease_arg *w = arg;
  usleep(300 * 1000);   /* claimed, and the first wave in its calls */
  w->leases = th_sql(w->dsn, "SELECT count(DISTINCT leased_until) || ':' || "
                             "round(extract(epoch FROM min(leased_until) - min(created_at))) || ':' || "
                             "round(extract(epoch FROM max(leased_until) - min(created_at))) "
                             "FROM obwave.outbox WHERE leased_until IS NOT NULL");
  return NULL;
}

/* A round of 64 rows goes 16 at a time: each row's lease is the wave it
 * travels in (one call's longest time, 6 s, per wave), so a replica killed
 * mid-round holds its last rows 24 s, not 64 calls' time (384 s). */
Test(store, outbox_leases_a_round_by_the_wave_each_row_travels_in) {
  th_proc p;
  const char *dsn = ob_stack("outbox_wave", "obwave", &p);
  cr_assert_eq(pg_tx(enqueue_wave_tx, NULL), RPC_OK);
  lease_arg w = {dsn, NULL};
  pthread_t t;
  pthread_create(&t, NULL, watch_leases, &w);
  cr_assert_eq(outbox_dispatch_once("test", resolve), 64);
  pthread_join(t, NULL);
  cr_expect_str_eq(w.leases, "4:6:24", "leases (waves:first s:last s)");
  free(w.leases);
  char *d = th_sql(dsn, "SELECT count(*) FROM obwave.outbox WHERE delivered_at IS NOT NULL AND leased_until IS NULL");
  cr_expect_str_eq(d, "64");
  free(d);
  th_stop(&p);
  pg_disconnect();
  th_fini();
}

/* A dispatcher's claim, and the record of a round's deliveries, run on one
 * plan per connection, made once: under load Postgres had planned the claim
 * afresh at every round (as many plans as calls in pg_stat_statements),
 * costing more than running it. Left to itself, Postgres plans the first
 * five calls on a connection for their values. */
static int enqueue_two_tx(void *p) {
  (void)p;
  enq_arg e = {"two", 0};
  int rc = enqueue_tx(&e);
  return rc ? rc : enqueue_tx(&e);
}

static char *plans_of(const char *like) {
  PGresult *r = NULL;   /* the same connection: the test's thread takes the pool's first */
  const char *p[] = {like};
  cr_assert_eq(pg_query(&r,
                        "SELECT string_agg(generic_plans || ':' || custom_plans, ',') FROM pg_prepared_statements "
                        "WHERE statement LIKE $1",
                        1, p),
               PG_OK);
  char *out = strdup(PQgetvalue(r, 0, 0));
  PQclear(r);
  return out;
}

Test(store, outbox_claims_and_records_run_on_a_plan_made_once) {
  th_proc svc;
  ob_stack("outbox_plan", "obplan", &svc);
  for (int i = 0; i < 8; i++) {
    cr_assert_eq(pg_tx(enqueue_two_tx, NULL), RPC_OK);
    cr_assert_eq(outbox_dispatch_once("test", resolve), 2);
  }
  char *claims = plans_of("WITH claimed AS%"), *records = plans_of("UPDATE outbox SET delivered_at%ANY%");
  cr_expect_str_eq(claims, "8:0", "claims on the one plan : planned for their values");
  cr_expect_str_eq(records, "8:0", "records of delivered rows on the one plan : planned for their values");
  free(claims);
  free(records);
  th_stop(&svc);
  pg_disconnect();
  th_fini();
}

/* A hook that refuses the reply to the request "refused" and counts the
 * others' texts (r<i>: slot i). */
static atomic_int picky_seen[32];
static int picky_hook(const char *org, const uint8_t *req, size_t req_len, const uint8_t *reply, size_t reply_len) {
  (void)org; (void)reply; (void)reply_len;
  Accolade__Test__V1__EchoRequest *r = accolade__test__v1__echo_request__unpack(NULL, req_len, req);
  if (!r) return -1;
  int refuse = !strcmp(r->text, "refused"), i = -1;
  if (sscanf(r->text, "r%d", &i) == 1 && i >= 0 && i < 32) atomic_fetch_add(&picky_seen[i], 1);
  accolade__test__v1__echo_request__free_unpacked(r, NULL);
  return refuse ? -1 : 0;
}

static int enqueue_round_tx(void *p) {
  (void)p;
  for (int i = 0; i < 16; i++) {
    Accolade__Test__V1__EchoRequest req = ACCOLADE__TEST__V1__ECHO_REQUEST__INIT;
    char text[16];
    snprintf(text, sizeof text, "r%d", i);
    req.text = i == 7 ? "refused" : text;
    req.sleep_ms = 400;
    int rc = outbox_enqueue(&accolade__test__v1__test_service__descriptor, "Echo", "acme", &req.base);
    if (rc != RPC_OK) return rc;
  }
  return RPC_OK;
}

Test(store, outbox_sends_a_round_at_once_and_a_refused_reply_fails_only_its_row) {
  th_proc p;
  const char *dsn = ob_stack("outbox_round", "obround", &p);
  outbox_on_reply(&accolade__test__v1__test_service__descriptor, "Echo", picky_hook);
  cr_assert_eq(pg_tx(enqueue_round_tx, NULL), RPC_OK);
  /* 16 calls of 400 ms each: one after another they would take 6.4 s. */
  int64_t t0 = rpc_now_ms();
  cr_assert_eq(outbox_dispatch_once("test", resolve), 16);
  int64_t took = rpc_now_ms() - t0;
  cr_expect_lt(took, 3000, "the round's calls went one after another (%lld ms)", (long long)took);
  /* The refused reply rolled back the round's shared record; each row was
   * then recorded alone: 15 delivered once, the refused one retried. */
  char *d = th_sql(dsn, "SELECT count(*) FILTER (WHERE delivered_at IS NOT NULL AND attempts = 1) || ':' || "
                        "count(*) FILTER (WHERE delivered_at IS NULL AND attempts = 1 AND last_error LIKE 'reply hook%') "
                        "FROM obround.outbox");
  cr_expect_str_eq(d, "15:1");
  free(d);
  for (int i = 0; i < 16; i++)
    if (i != 7) cr_expect_geq(atomic_load(&picky_seen[i]), 1, "no hook ran for r%d", i);
  /* Only the refused row comes back. */
  pg_exec("UPDATE outbox SET next_attempt_at = now()", 0, NULL);
  cr_expect_eq(outbox_dispatch_once("test", resolve), 1);
  d = th_sql(dsn, "SELECT count(*) FROM obround.outbox WHERE delivered_at IS NOT NULL");
  cr_expect_str_eq(d, "15");
  free(d);
  th_stop(&p);
  pg_disconnect();
  th_fini();
}

/* notified waits up to |ms| on |l| for a notification, returning 1 if one came. */
static int notified(PGconn *l, int ms) {
  int64_t until = rpc_now_ms() + ms;
  while (rpc_now_ms() < until) {
    PQconsumeInput(l);
    PGnotify *n = PQnotifies(l);
    if (n) {
      PQfreemem(n);
      return 1;
    }
    usleep(20 * 1000);
  }
  return 0;
}

typedef struct {
  const char *dsn;
  int seen_inside;
} notify_arg;

/* enqueue_then_look enqueues, then (its transaction still open) looks from
 * another connection whether the dispatchers were woken already. */
static int enqueue_then_look(void *p) {
  notify_arg *a = p;
  enq_arg e = {"after commit", 0};
  int rc = enqueue_tx(&e);
  PGconn *l = PQconnectdb(a->dsn);
  PQclear(PQexec(l, "LISTEN accolade_outbox_obnotify"));
  a->seen_inside = notified(l, 300);
  PQfinish(l);
  return rc;
}

Test(store, outbox_wakes_its_dispatchers_after_the_commit_and_not_on_rollback) {
  th_init();
  const char *dsn = th_new_database("outbox_notify");
  pg_setup(dsn, "obnotify");
  cr_assert_eq(migrate_run(NULL), 0);
  PGconn *l = PQconnectdb(dsn);
  cr_assert_eq(PQstatus(l), CONNECTION_OK);
  PQclear(PQexec(l, "LISTEN accolade_outbox_obnotify"));
  enq_arg fail = {"lost", 1};
  cr_assert_neq(pg_tx(enqueue_tx, &fail), RPC_OK);
  cr_expect_eq(notified(l, 300), 0, "a rolled-back enqueue woke the dispatchers");
  notify_arg a = {dsn, -1};
  cr_assert_eq(pg_tx(enqueue_then_look, &a), RPC_OK);
  cr_expect_eq(a.seen_inside, 0, "woken before the row was committed");
  cr_expect_eq(notified(l, 2000), 1, "the commit woke nobody");
  PQfinish(l);
  pg_disconnect();
  th_fini();
}

static int cmp_ll(const void *a, const void *b) {
  long long x = *(const long long *)a, y = *(const long long *)b;
  return x < y ? -1 : x > y;
}

Test(store, a_process_with_dispatchers_wakes_its_own_after_the_commit_without_a_notify) {
  th_proc svc;
  const char *dsn = ob_stack("outbox_local", "oblocal", &svc);
  cr_assert_eq(outbox_start("test", resolve, 1), 0);
  PGconn *l = PQconnectdb(dsn);
  cr_assert_eq(PQstatus(l), CONNECTION_OK);
  PQclear(PQexec(l, "LISTEN accolade_outbox_oblocal"));
  /* One row at a time, each after the dispatcher has gone idle: from the
   * commit to delivered. Woken by the commit it is a call's time; left to its
   * 250 ms poll, half of them would take over 125 ms. */
  long long took[10];
  for (int i = 0; i < 10; i++) {
    usleep(300 * 1000);
    enq_arg e = {"woken", 0};
    int64_t t0 = rpc_now_ms();
    cr_assert_eq(pg_tx(enqueue_tx, &e), RPC_OK);
    long long done = 0;
    while (!done && rpc_now_ms() - t0 < 5000) {
      done = th_sql_int(dsn, "SELECT count(*) FROM oblocal.outbox WHERE delivered_at IS NULL") == 0;
      if (!done) usleep(2 * 1000);
    }
    cr_assert(done, "row %d not delivered within 5 s", i);
    took[i] = rpc_now_ms() - t0;
  }
  qsort(took, 10, sizeof took[0], cmp_ll);
  cr_expect_lt(took[5], 60, "median %lld ms from commit to delivered (slowest %lld ms)", took[5], took[9]);
  cr_expect_eq(notified(l, 100), 0, "the commit sent a NOTIFY though this process's own dispatchers take the rows");
  outbox_stop();
  PQfinish(l);
  th_stop(&svc);
  pg_disconnect();
  th_fini();
}
