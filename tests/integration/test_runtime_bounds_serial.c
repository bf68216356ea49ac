/* The runtime under attack and load, on real processes: calls that never send
 * their message hold no worker and are ended at the bound, a stream over the
 * process's cap is refused, and small requests from many threads on one
 * connection reach the handler intact. Serial: it loads the machine. */
#include <criterion/criterion.h>
#include <grpc/grpc.h>
#include <grpc/grpc_security.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "accolade/test/v1/test.pb-c.h"
#include "accolade/v1/award.pb-c.h"
#include "accolade/v1/events.pb-c.h"
#include "accolade/v1/notify.pb-c.h"
#include "harness.h"
#include "rpc_internal.h"

#define SECRET "bounds-test-secret"
#define ECHO "/accolade.test.v1.TestService/Echo"

/* ---- Calls that send headers and never a message ---- */

typedef struct idle_call {
  grpc_call *call;
  grpc_metadata_array init_md, trailers;
  grpc_status_code code;
  grpc_slice details;
  int done;
} idle_call;

static grpc_channel *channel_own(const char *addr) {
  grpc_arg arg = {.type = GRPC_ARG_INTEGER, .key = GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, .value.integer = 1};
  grpc_channel_args args = {1, &arg};
  grpc_channel_credentials *creds = grpc_insecure_credentials_create();
  grpc_channel *ch = grpc_channel_create(addr, creds, &args);
  grpc_channel_credentials_release(creds);
  return ch;
}

/* idle_open starts a call to |method| on |ch| that sends its headers (no
 * authorization) and nothing else, and waits for its status on |cq|. */
static void idle_open(idle_call *ic, grpc_channel *ch, grpc_completion_queue *cq, const char *method) {
  memset(ic, 0, sizeof *ic);
  grpc_slice m = grpc_slice_from_copied_string(method);
  ic->call = grpc_channel_create_call(ch, NULL, GRPC_PROPAGATE_DEFAULTS, cq, m, NULL,
                                      gpr_inf_future(GPR_CLOCK_REALTIME), NULL);
  grpc_slice_unref(m);
  grpc_metadata_array_init(&ic->init_md);
  grpc_metadata_array_init(&ic->trailers);
  grpc_op ops[3];
  memset(ops, 0, sizeof ops);
  ops[0].op = GRPC_OP_SEND_INITIAL_METADATA;
  ops[1].op = GRPC_OP_RECV_INITIAL_METADATA;
  ops[1].data.recv_initial_metadata.recv_initial_metadata = &ic->init_md;
  ops[2].op = GRPC_OP_RECV_STATUS_ON_CLIENT;
  ops[2].data.recv_status_on_client.status = &ic->code;
  ops[2].data.recv_status_on_client.status_details = &ic->details;
  ops[2].data.recv_status_on_client.trailing_metadata = &ic->trailers;
  cr_assert_eq(grpc_call_start_batch(ic->call, ops, 3, ic, NULL), GRPC_CALL_OK);
}

/* idle_collect takes the statuses that arrive before |until_ms| (monotonic). */
static int idle_collect(grpc_completion_queue *cq, int64_t until_ms) {
  int n = 0;
  for (;;) {
    grpc_event ev = grpc_completion_queue_next(cq, rpc_ms_to_deadline(until_ms), NULL);
    if (ev.type != GRPC_OP_COMPLETE) break;
    ((idle_call *)ev.tag)->done = 1;
    n++;
  }
  return n;
}

static void idle_close(idle_call *ic) {
  if (!ic->done) grpc_call_cancel(ic->call, NULL);
  grpc_metadata_array_destroy(&ic->init_md);
  grpc_metadata_array_destroy(&ic->trailers);
  grpc_slice_unref(ic->details);
  grpc_call_unref(ic->call);
}

/* health_ms: how long Health.Check on a fresh connection to |addr| takes;
 * the test fails if it does not answer SERVING. */
static int64_t health_ms(const char *addr) {
  int64_t t0 = rpc_now_ms();
  int h = th_health(addr);
  int64_t ms = rpc_now_ms() - t0;
  cr_assert_eq(h, 1, "%s: Health.Check answered %d after %lld ms", addr, h, (long long)ms);
  return ms;
}

enum { IDLE_PER_MODE = 200 };

/* hold_idle opens 200 message-less calls to |method| on one connection and
 * 200 on 200 connections, then checks that Health.Check still answers fast.
 * Returns how many of the 400 had ended by |bound_ms| + 3 s, each with |want|. */
static int hold_idle(const char *addr, const char *method, int bound_ms, grpc_status_code want) {
  static idle_call calls[2 * IDLE_PER_MODE];
  static grpc_channel *chans[IDLE_PER_MODE + 1];
  grpc_completion_queue *cq = grpc_completion_queue_create_for_next(NULL);
  chans[0] = channel_own(addr);
  for (int i = 0; i < IDLE_PER_MODE; i++) idle_open(&calls[i], chans[0], cq, method);
  for (int i = 0; i < IDLE_PER_MODE; i++) {
    chans[i + 1] = channel_own(addr);
    idle_open(&calls[IDLE_PER_MODE + i], chans[i + 1], cq, method);
  }
  int64_t opened = rpc_now_ms();
  usleep(300 * 1000);   /* let them all reach the server */
  /* Idle calls that held threads would hold every check until their bound
   * (seconds). One check slowed by the machine (ASan on two busy cores,
   * seen at 100-200 ms) is not that: the median must be quick, the worst
   * well under the bound. */
  int64_t ms[5];
  for (int k = 0; k < 5; k++) {
    ms[k] = health_ms(addr);
    for (int j = k; j > 0 && ms[j] < ms[j - 1]; j--) {
      int64_t t = ms[j];
      ms[j] = ms[j - 1];
      ms[j - 1] = t;
    }
  }
  cr_expect_lt(ms[2], 100, "%s: Health.Check took %lld ms (median of 5) beside 400 idle calls", addr,
               (long long)ms[2]);
  cr_expect_lt(ms[4], 1000, "%s: Health.Check took %lld ms (worst of 5) beside 400 idle calls", addr,
               (long long)ms[4]);
  int ended = 0;
  if (bound_ms > 0) {
    ended = idle_collect(cq, opened + bound_ms + 3000);
    for (int i = 0; i < 2 * IDLE_PER_MODE; i++)
      if (calls[i].done)
        cr_expect_eq(calls[i].code, want, "%s: idle call %d ended %d", addr, i, (int)calls[i].code);
  }
  for (int i = 0; i < 2 * IDLE_PER_MODE; i++) idle_close(&calls[i]);
  idle_collect(cq, rpc_now_ms() + 2000);
  for (int i = 0; i <= IDLE_PER_MODE; i++) grpc_channel_destroy(chans[i]);
  grpc_completion_queue_shutdown(cq);
  while (grpc_completion_queue_next(cq, gpr_inf_future(GPR_CLOCK_REALTIME), NULL).type != GRPC_QUEUE_SHUTDOWN) {
  }
  grpc_completion_queue_destroy(cq);
  return ended;
}

Test(bounds, message_less_calls_hold_no_worker_and_end_at_the_bound, .timeout = 240) {
  th_init();
  th_suite s;
  const char *extra[] = {"ACCOLADE_FIRST_MESSAGE_MS=1500", NULL};
  th_suite_start(&s, th_new_database("bounds_idle"), SECRET, extra);
  /* The gateway: any method name, no token. An unknown name waits in the
   * generic path, ended at the bound; a public method's name waits in gRPC
   * core for its message, holding no worker either. */
  cr_expect_eq(hold_idle(s.gateway.addr, "/evil.Anything/AtAll", 1500, GRPC_STATUS_DEADLINE_EXCEEDED),
               2 * IDLE_PER_MODE, "every idle call to the gateway ended at the bound");
  hold_idle(s.gateway.addr, "/accolade.v1.AwardService/ListBadges", 0, GRPC_STATUS_OK);
  /* Each service, on one of its own methods. */
  const th_proc *svcs[] = {&s.nomination, &s.award, &s.lb, &s.notify};
  const char *methods[] = {"/accolade.v1.NominationService/CreateNomination",
                           "/accolade.v1.AwardService/GetBadge", "/accolade.v1.LeaderboardService/GetTop",
                           "/accolade.v1.NotifyService/ListInbox"};
  for (int i = 0; i < 4; i++) hold_idle(svcs[i]->addr, methods[i], 0, GRPC_STATUS_OK);
  /* And every process still serves real calls. */
  for (int i = 0; i < 4; i++) health_ms(svcs[i]->addr);
  th_suite_stop(&s);
  th_fini();
}

/* ---- Streams over the process's cap ---- */

typedef struct stream_arg {
  const char *addr;
  int code;
} stream_arg;

static int ignore_msg(void *arg, const uint8_t *buf, size_t len) {
  (void)arg; (void)buf; (void)len;
  return 0;
}

static int stream_call(const char *addr, int sleep_ms) {
  arena a;
  arena_init(&a);
  Accolade__Test__V1__EchoRequest req = ACCOLADE__TEST__V1__ECHO_REQUEST__INIT;
  req.text = "s";
  req.count = 1;
  req.sleep_ms = sleep_ms;
  size_t n = protobuf_c_message_get_packed_size(&req.base);
  uint8_t buf[64];
  protobuf_c_message_pack(&req.base, buf);
  rpc_call_opts o = {.timeout_ms = 10000};
  rpc_status st;
  int rc = rpc_call_stream_raw(addr, "/accolade.test.v1.TestService/Stream", buf, n, &o, &a, ignore_msg, NULL,
                               NULL, &st);
  arena_free(&a);
  return rc;
}

static void *stream_main(void *p) {
  stream_arg *sa = p;
  sa->code = stream_call(sa->addr, 2500);
  return NULL;
}

Test(bounds, a_stream_over_the_process_cap_is_resource_exhausted, .timeout = 60) {
  th_init();
  th_proc svc;
  const char *env[] = {"ACCOLADE_MAX_STREAMS=2", NULL};
  cr_assert_eq(th_start(&svc, th_bin("accolade-testsvc"), env), 0);
  pthread_t t[2];
  stream_arg sa[2] = {{svc.addr, -1}, {svc.addr, -1}};
  for (int i = 0; i < 2; i++) pthread_create(&t[i], NULL, stream_main, &sa[i]);
  usleep(800 * 1000);
  int64_t t0 = rpc_now_ms();
  cr_expect_eq(stream_call(svc.addr, 0), RPC_RESOURCE_EXHAUSTED, "a third stream is refused");
  cr_expect_lt(rpc_now_ms() - t0, 1000, "refused at once, not queued");
  for (int i = 0; i < 2; i++) {
    pthread_join(t[i], NULL);
    cr_expect_eq(sa[i].code, RPC_OK, "the streams within the cap completed");
  }
  cr_expect_eq(stream_call(svc.addr, 0), RPC_OK, "room again once they ended");
  cr_assert_eq(th_stop(&svc), 0);
  th_fini();
}

/* ---- Small requests from many threads on one connection ---- */

enum { THREADS = 32 };

typedef struct load_arg {
  const char *addr;
  const char *bearer;   /* NULL: straight to the service */
  int id, calls;
  atomic_int *bad;
  char first_bad[160];
} load_arg;

/* echo_load: Echo with a short text distinct per call (small requests are
 * the ones gRPC keeps inline in their slice); the reply must carry it back. */
static void *echo_load(void *p) {
  load_arg *la = p;
  arena a;
  arena_init(&a);
  const char *md[] = {"authorization", la->bearer, NULL};
  for (int i = 0; i < la->calls; i++) {
    char text[24];
    snprintf(text, sizeof text, "t%d.%d", la->id, i);
    Accolade__Test__V1__EchoRequest req = ACCOLADE__TEST__V1__ECHO_REQUEST__INIT;
    req.text = text;
    Accolade__Test__V1__EchoResponse *out = NULL;
    rpc_status st;
    rpc_call_opts o = {.timeout_ms = 20000, .metadata = la->bearer ? md : NULL};
    int rc = rpc_call(la->addr, ECHO, &req.base, &accolade__test__v1__echo_response__descriptor, &o, &a,
                      (void **)&out, &st);
    if (rc != RPC_OK || strcmp(out->text, text) != 0) {
      if (atomic_fetch_add(la->bad, 1) == 0)
        snprintf(la->first_bad, sizeof la->first_bad, "%s: %d %s (sent %s, got %s)", la->addr, rc,
                 rc ? st.message : "", text, rc ? "-" : out->text);
    }
    if (i % 64 == 63) {
      arena_free(&a);
      arena_init(&a);
    }
  }
  arena_free(&a);
  return NULL;
}

/* badges_load: ListBadges with page_size 1..5 through the gateway's
 * registered path to svc-award; the reply must hold exactly that many. */
static void *badges_load(void *p) {
  load_arg *la = p;
  arena a;
  arena_init(&a);
  const char *md[] = {"authorization", la->bearer, NULL};
  for (int i = 0; i < la->calls; i++) {
    Accolade__V1__ListBadgesRequest req = ACCOLADE__V1__LIST_BADGES_REQUEST__INIT;
    req.page_size = 1 + (la->id + i) % 5;
    Accolade__V1__ListBadgesResponse *out = NULL;
    rpc_status st;
    rpc_call_opts o = {.timeout_ms = 20000, .metadata = md};
    int rc = rpc_call(la->addr, "/accolade.v1.AwardService/ListBadges", &req.base,
                      &accolade__v1__list_badges_response__descriptor, &o, &a, (void **)&out, &st);
    if (rc != RPC_OK || (int)out->n_badges != req.page_size) {
      if (atomic_fetch_add(la->bad, 1) == 0)
        snprintf(la->first_bad, sizeof la->first_bad, "ListBadges: %d %s (page_size %d, got %d)", rc,
                 rc ? st.message : "", req.page_size, rc ? -1 : (int)out->n_badges);
    }
    if (i % 64 == 63) {
      arena_free(&a);
      arena_init(&a);
    }
  }
  arena_free(&a);
  return NULL;
}

static int run_load(void *(*fn)(void *), const char *addr, const char *bearer, int total, char *why, size_t cap) {
  pthread_t t[THREADS];
  static load_arg la[THREADS];
  atomic_int bad = 0;
  for (int i = 0; i < THREADS; i++) {
    la[i] = (load_arg){.addr = addr, .bearer = bearer, .id = i, .calls = total / THREADS, .bad = &bad};
    pthread_create(&t[i], NULL, fn, &la[i]);
  }
  for (int i = 0; i < THREADS; i++) pthread_join(t[i], NULL);
  why[0] = '\0';
  for (int i = 0; i < THREADS && !why[0]; i++) snprintf(why, cap, "%s", la[i].first_bad);
  return atomic_load(&bad);
}

Test(bounds, small_calls_from_32_threads_on_one_connection_arrive_intact, .timeout = 300) {
  th_init();
  th_suite s;
  th_proc testsvc;
  cr_assert_eq(th_start(&testsvc, th_bin("accolade-testsvc"), NULL), 0);
  static char route[160];
  snprintf(route, sizeof route, "ACCOLADE_GATEWAY_TEST_ROUTE=/accolade.test.v1.TestService/=%s", testsvc.addr);
  const char *extra[] = {route, "ACCOLADE_GATEWAY_RATE_MEMBER=0", "ACCOLADE_GATEWAY_RATE_ORG=0",
                         "ACCOLADE_LOG_LEVEL=error", NULL};
  th_suite_start(&s, th_new_database("bounds_load"), SECRET, extra);
  static char bearer[1200];
  snprintf(bearer, sizeof bearer, "Bearer %s", th_jwt(SECRET, "loadorg", "ada", "admin", "east", 3600));
  char why[160];
  /* rpc_client keeps one channel, so one connection, per target. */
  int bad = run_load(echo_load, testsvc.addr, NULL, 50016, why, sizeof why);
  cr_expect_eq(bad, 0, "%d of 50016 echoes straight to the service came back wrong; first: %s", bad, why);
  bad = run_load(echo_load, s.gateway.addr, bearer, 20000, why, sizeof why);
  cr_expect_eq(bad, 0, "%d of 20000 echoes through the gateway came back wrong; first: %s", bad, why);
  bad = run_load(badges_load, s.gateway.addr, bearer, 10016, why, sizeof why);
  cr_expect_eq(bad, 0, "%d of 10016 ListBadges through the gateway went wrong; first: %s", bad, why);
  th_suite_stop(&s);
  cr_assert_eq(th_stop(&testsvc), 0);
  th_fini();
}

/* ---- 2,000 live streams hold no thread and no connection each ---- */

enum { NSTREAMS = 2000, NCHANNELS = 4 };

typedef struct sub_call {
  grpc_call *call;
  grpc_metadata_array init_md, trailers;
  grpc_byte_buffer *msg;
  grpc_status_code code;
  grpc_slice details;
  int got_event;    /* a notification (not a heartbeat) arrived */
  int ended;
  struct { rpc_tag tag; struct sub_call *c; int which; } t_start, t_msg, t_status;
} sub_call;

static long proc_status(pid_t pid, const char *field) {
  char path[64], line[256];
  snprintf(path, sizeof path, "/proc/%d/status", (int)pid);
  FILE *f = fopen(path, "r");
  long v = -1;
  size_t fl = strlen(field);
  while (f && fgets(line, sizeof line, f))
    if (strncmp(line, field, fl) == 0 && line[fl] == ':') v = atol(line + fl + 1);
  if (f) fclose(f);
  return v;
}

static long pg_sessions(const char *dsn) {
  char *n = th_sql(dsn, "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()");
  long v = n ? atol(n) : -1;
  free(n);
  return v;
}

/* sub_open starts a Subscribe through the gateway with |bearer|. */
static void sub_open(sub_call *sc, grpc_channel *ch, grpc_completion_queue *cq, grpc_metadata *md) {
  memset(sc, 0, sizeof *sc);
  grpc_slice m = grpc_slice_from_static_string("/accolade.v1.NotifyService/Subscribe");
  sc->call = grpc_channel_create_call(ch, NULL, GRPC_PROPAGATE_DEFAULTS, cq, m, NULL,
                                      gpr_inf_future(GPR_CLOCK_REALTIME), NULL);
  grpc_metadata_array_init(&sc->init_md);
  grpc_metadata_array_init(&sc->trailers);
  Accolade__V1__SubscribeRequest req = ACCOLADE__V1__SUBSCRIBE_REQUEST__INIT;
  req.from_start = 1;
  req.heartbeat_seconds = 300;
  uint8_t buf[32];
  size_t n = protobuf_c_message_pack(&req.base, buf);
  grpc_byte_buffer *bb = rpc_byte_buffer_from(buf, n);
  grpc_op ops[5];
  memset(ops, 0, sizeof ops);
  ops[0].op = GRPC_OP_SEND_INITIAL_METADATA;
  ops[0].data.send_initial_metadata.count = 1;
  ops[0].data.send_initial_metadata.metadata = md;
  ops[1].op = GRPC_OP_SEND_MESSAGE;
  ops[1].data.send_message.send_message = bb;
  ops[2].op = GRPC_OP_SEND_CLOSE_FROM_CLIENT;
  ops[3].op = GRPC_OP_RECV_INITIAL_METADATA;
  ops[3].data.recv_initial_metadata.recv_initial_metadata = &sc->init_md;
  sc->t_start.c = sc->t_msg.c = sc->t_status.c = sc;
  sc->t_msg.which = 1;
  sc->t_status.which = 2;
  cr_assert_eq(grpc_call_start_batch(sc->call, ops, 4, &sc->t_start, NULL), GRPC_CALL_OK);
  grpc_byte_buffer_destroy(bb);
  memset(ops, 0, sizeof ops);
  ops[0].op = GRPC_OP_RECV_STATUS_ON_CLIENT;
  ops[0].data.recv_status_on_client.status = &sc->code;
  ops[0].data.recv_status_on_client.status_details = &sc->details;
  ops[0].data.recv_status_on_client.trailing_metadata = &sc->trailers;
  cr_assert_eq(grpc_call_start_batch(sc->call, ops, 1, &sc->t_status, NULL), GRPC_CALL_OK);
  memset(ops, 0, sizeof ops);
  ops[0].op = GRPC_OP_RECV_MESSAGE;
  ops[0].data.recv_message.recv_message = &sc->msg;
  cr_assert_eq(grpc_call_start_batch(sc->call, ops, 1, &sc->t_msg, NULL), GRPC_CALL_OK);
}

/* sub_pump handles the events of the streams until |until_ms|, or until
 * |want| streams have had a notification (want > 0). Returns that count. */
static int sub_pump(grpc_completion_queue *cq, sub_call *subs, int nsubs, int want, int64_t until_ms) {
  for (;;) {
    int got = 0;
    for (int i = 0; i < nsubs; i++) got += subs[i].got_event;
    if (want > 0 && got >= want) return got;
    grpc_event ev = grpc_completion_queue_next(cq, rpc_ms_to_deadline(until_ms), NULL);
    if (ev.type != GRPC_OP_COMPLETE) return got;
    struct { rpc_tag tag; sub_call *c; int which; } *t = ev.tag;
    sub_call *sc = t->c;
    if (t->which == 2) {
      sc->ended = 1;
    } else if (t->which == 1 && sc->msg) {
      size_t len = 0;
      arena a;
      arena_init(&a);
      uint8_t *buf = rpc_byte_buffer_read(&a, sc->msg, &len);
      Accolade__V1__Notification *n = accolade__v1__notification__unpack(NULL, len, buf);
      if (n && !n->heartbeat && n->id > 0) sc->got_event = 1;
      if (n) accolade__v1__notification__free_unpacked(n, NULL);
      arena_free(&a);
      grpc_byte_buffer_destroy(sc->msg);
      sc->msg = NULL;
      grpc_op op;
      memset(&op, 0, sizeof op);
      op.op = GRPC_OP_RECV_MESSAGE;
      op.data.recv_message.recv_message = &sc->msg;
      grpc_call_start_batch(sc->call, &op, 1, &sc->t_msg, NULL);
    }
  }
}

static int publish_to(const th_suite *s, const char *org, const char *user, const char *event_id) {
  arena a;
  arena_init(&a);
  Accolade__V1__AwardRecord rec = ACCOLADE__V1__AWARD_RECORD__INIT;
  rec.award_id = (char *)event_id;
  rec.org = (char *)org;
  rec.badge_id = "deal-closer";
  rec.badge_name = "Deal Closer";
  rec.points = 10;
  rec.granted_at_ms = 1767225600000;
  rec.recipient_id = (char *)user;
  rec.recipient_team = "east";
  rec.public_ = 1;
  rec.justification = "Closed Northwind";
  rec.source_id = (char *)event_id;
  Accolade__V1__Event ev = ACCOLADE__V1__EVENT__INIT;
  ev.event_id = (char *)event_id;
  ev.org = (char *)org;
  ev.kind_case = ACCOLADE__V1__EVENT__KIND_AWARD_GRANTED;
  ev.award_granted = &rec;
  identity svc;
  th_as(&svc, org, "svc:award", "service", "");
  Accolade__V1__PublishEventResponse *out;
  rpc_status st;
  int rc = th_call(s->notify.addr, "/accolade.v1.NotifyService/PublishEvent", &ev,
                   &accolade__v1__publish_event_response__descriptor, &svc, &a, (void **)&out, &st);
  arena_free(&a);
  return rc;
}

Test(bounds, two_thousand_streams_hold_no_thread_and_no_connection_each, .timeout = 300) {
  th_init();
  th_suite s;
  const char *extra[] = {"ACCOLADE_MAX_STREAMS=2000", "ACCOLADE_GATEWAY_MAX_STREAMS=5000", "ACCOLADE_PG_POOL=10",
                         "ACCOLADE_GATEWAY_RATE_MEMBER=0", "ACCOLADE_GATEWAY_RATE_ORG=0", "ACCOLADE_LOG_LEVEL=error", NULL};
  th_suite_start(&s, th_new_database("bounds_streams"), SECRET, extra);
  long nt0 = proc_status(s.notify.pid, "Threads"), gt0 = proc_status(s.gateway.pid, "Threads");
  long pg0 = pg_sessions(s.dsn);
  static char bearer[1200];
  snprintf(bearer, sizeof bearer, "Bearer %s", th_jwt(SECRET, "streamorg", "ann", "member", "east", 3600));
  grpc_metadata md = {.key = grpc_slice_from_static_string("authorization"),
                      .value = grpc_slice_from_static_string(bearer)};
  grpc_completion_queue *cq = grpc_completion_queue_create_for_next(NULL);
  grpc_channel *chans[NCHANNELS];
  for (int i = 0; i < NCHANNELS; i++) chans[i] = channel_own(s.gateway.addr);
  static sub_call subs[NSTREAMS + 1];
  for (int i = 0; i < NSTREAMS; i++) {
    sub_open(&subs[i], chans[i % NCHANNELS], cq, &md);
    if (i % 200 == 199) sub_pump(cq, subs, i + 1, 0, rpc_now_ms() + 200);
  }
  sub_pump(cq, subs, NSTREAMS, 0, rpc_now_ms() + 3000);   /* all open, each has had its first step */
  int ended = 0;
  for (int i = 0; i < NSTREAMS; i++) ended += subs[i].ended;
  cr_assert_eq(ended, 0, "%d streams ended early (first code %d)", ended, (int)subs[0].code);
  long nt1 = proc_status(s.notify.pid, "Threads"), gt1 = proc_status(s.gateway.pid, "Threads");
  long pg1 = pg_sessions(s.dsn);
  cr_log_info("2000 streams: svc-notify threads %ld -> %ld, RSS %ld kB; gateway threads %ld -> %ld, RSS %ld kB; "
              "postgres sessions %ld -> %ld",
              nt0, nt1, proc_status(s.notify.pid, "VmRSS"), gt0, gt1, proc_status(s.gateway.pid, "VmRSS"), pg0, pg1);
  printf("2000 streams: svc-notify threads %ld -> %ld, RSS %ld kB; gateway threads %ld -> %ld, RSS %ld kB; "
         "postgres sessions %ld -> %ld\n",
         nt0, nt1, proc_status(s.notify.pid, "VmRSS"), gt0, gt1, proc_status(s.gateway.pid, "VmRSS"), pg0, pg1);
  cr_expect_leq(nt1 - nt0, 4, "svc-notify threads grew with streams: %ld -> %ld", nt0, nt1);
  cr_expect_leq(gt1 - gt0, 4, "gateway threads grew with streams: %ld -> %ld", gt0, gt1);
  cr_expect_leq(pg1 - pg0, 4, "postgres sessions grew with streams: %ld -> %ld", pg0, pg1);
  /* One more is over svc-notify's cap (and the gateway's). */
  sub_open(&subs[NSTREAMS], chans[0], cq, &md);
  int64_t until = rpc_now_ms() + 5000;
  while (!subs[NSTREAMS].ended && rpc_now_ms() < until) sub_pump(cq, subs, NSTREAMS + 1, 0, rpc_now_ms() + 100);
  cr_expect(subs[NSTREAMS].ended, "the stream over the cap was not refused");
  cr_expect_eq(subs[NSTREAMS].code, GRPC_STATUS_RESOURCE_EXHAUSTED, "over the cap: %d", (int)subs[NSTREAMS].code);
  /* An event for ann reaches every stream. */
  cr_assert_eq(publish_to(&s, "streamorg", "ann", "award-streams-1"), RPC_OK);
  int got = sub_pump(cq, subs, NSTREAMS, NSTREAMS, rpc_now_ms() + 60000);
  cr_expect_eq(got, NSTREAMS, "the event reached %d of %d streams", got, NSTREAMS);
  /* svc-notify's own connections never passed its pool (LISTEN ones aside). */
  char *np = th_sql(s.dsn, "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'accolade-notify'");
  cr_expect(np && atol(np) <= 10, "svc-notify holds %s connections, over its pool of 10", np ? np : "?");
  free(np);
  for (int i = 0; i <= NSTREAMS; i++) grpc_call_cancel(subs[i].call, NULL);
  sub_pump(cq, subs, NSTREAMS + 1, 0, rpc_now_ms() + 2000);
  for (int i = 0; i <= NSTREAMS; i++) {
    grpc_metadata_array_destroy(&subs[i].init_md);
    grpc_metadata_array_destroy(&subs[i].trailers);
    grpc_slice_unref(subs[i].details);
    if (subs[i].msg) grpc_byte_buffer_destroy(subs[i].msg);
    grpc_call_unref(subs[i].call);
  }
  for (int i = 0; i < NCHANNELS; i++) grpc_channel_destroy(chans[i]);
  grpc_completion_queue_shutdown(cq);
  while (grpc_completion_queue_next(cq, gpr_inf_future(GPR_CLOCK_REALTIME), NULL).type != GRPC_QUEUE_SHUTDOWN) {
  }
  grpc_completion_queue_destroy(cq);
  th_suite_stop(&s);
  th_fini();
}
