/* The batch receivers, RecordAwards (svc-leaderboard) and PublishEvents
 * (svc-notify), over real gRPC against real Postgres and Redis: a batch is
 * applied once even when sent again, an event applied before is not applied
 * again, and a bad event fails alone, whether its checks refuse it or its
 * statements fail inside the batch's transaction. */
#include <criterion/criterion.h>
#include <hiredis/hiredis.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "accolade/v1/leaderboard.pb-c.h"
#include "accolade/v1/notify.pb-c.h"
#include "harness.h"

#define LB "/accolade.v1.LeaderboardService/"
#define NT "/accolade.v1.NotifyService/"
#define DEC31_2026 1798718400000LL

static th_proc lb, nt;
static const char *dsn;
static char org[64], other[64];
static identity svc, svc_other, member;
static arena mem;   /* a test's requests */

static void setup(void) {
  th_init();
  dsn = th_new_database("batches");
  static char lpg[600], npg[600], redis[64], aw[64], no[64], lbaddr[64];
  snprintf(lpg, sizeof lpg, "ACCOLADE_LEADERBOARD_PG=%s", dsn);
  snprintf(npg, sizeof npg, "ACCOLADE_NOTIFY_PG=%s", dsn);
  snprintf(redis, sizeof redis, "ACCOLADE_REDIS=127.0.0.1:%d", th_redis_port());
  snprintf(aw, sizeof aw, "ACCOLADE_AWARD_ADDR=127.0.0.1:%d", th_free_port());
  snprintf(no, sizeof no, "ACCOLADE_NOMINATION_ADDR=127.0.0.1:%d", th_free_port());
  snprintf(lbaddr, sizeof lbaddr, "ACCOLADE_LEADERBOARD_ADDR=127.0.0.1:%d", th_free_port());
  const char *lenv[] = {lpg, redis, NULL}, *nenv[] = {npg, aw, no, lbaddr, NULL};
  cr_assert_eq(th_start(&lb, th_bin("svc-leaderboard"), lenv), 0, "svc-leaderboard did not start");
  cr_assert_eq(th_start(&nt, th_bin("svc-notify"), nenv), 0, "svc-notify did not start");
  snprintf(org, sizeof org, "bt-%d", getpid());
  snprintf(other, sizeof other, "bt-other-%d", getpid());
  th_as(&svc, org, "svc:award", "service", "");
  th_as(&svc_other, other, "svc:award", "service", "");
  th_as(&member, org, "mia", "member", "east");
  arena_init(&mem);
}

static void teardown(void) {
  arena_free(&mem);
  cr_assert_eq(th_stop(&nt), 0);
  cr_assert_eq(th_stop(&lb), 0);
  th_fini();
}

TestSuite(batches, .init = setup, .fini = teardown, .timeout = 120);

/* ---------------------------------------------------------- RecordAwards */

static Accolade__V1__AwardRecord *award(arena *a, const char *in_org, const char *id, const char *who, int64_t points) {
  Accolade__V1__AwardRecord *r = ARENA_NEW(a, Accolade__V1__AwardRecord);
  accolade__v1__award_record__init(r);
  r->award_id = arena_strdup(a, id);
  r->org = (char *)in_org;
  r->recipient_id = (char *)who;
  r->recipient_team = "east";
  r->badge_id = "deal-closer";
  r->category = "sales";
  r->points = points;
  r->granted_at_ms = DEC31_2026;
  return r;
}

/* call_batch makes one batch call and renders its results as
 * "code/applied,..." ("0/1,3/0"), or the call's status. Both batch replies
 * are a list of BatchItemResult as field 1, so one struct reads either. */
static char *call_batch(const char *addr, const char *method, const ProtobufCMessage *req,
                        const ProtobufCMessageDescriptor *desc, const identity *as, char *buf, size_t cap) {
  arena a;
  arena_init(&a);
  Accolade__V1__RecordAwardsResponse *out;
  rpc_status st;
  int rc = th_call(addr, method, req, desc, as, &a, (void **)&out, &st);
  size_t k = (size_t)snprintf(buf, cap, "%s", rc == RPC_OK ? "" : rpc_code_name(rc));
  for (size_t i = 0; rc == RPC_OK && i < out->n_results; i++)
    k += (size_t)snprintf(buf + k, cap - k, "%s%d/%d", i ? "," : "", out->results[i]->code, out->results[i]->applied);
  arena_free(&a);
  return buf;
}

static char *record_awards(const identity *as, Accolade__V1__AwardRecord **awards, size_t n, char *buf, size_t cap) {
  Accolade__V1__RecordAwardsRequest r = ACCOLADE__V1__RECORD_AWARDS_REQUEST__INIT;
  r.awards = awards;
  r.n_awards = n;
  return call_batch(lb.addr, LB "RecordAwards", &r.base, &accolade__v1__record_awards_response__descriptor, as, buf,
                    cap);
}

/* board: the org's all-time members board, "id=points,..." */
static char *board(char *buf, size_t cap) {
  arena a;
  arena_init(&a);
  Accolade__V1__BoardSpec b = ACCOLADE__V1__BOARD_SPEC__INIT;
  b.window = ACCOLADE__V1__WINDOW__ALL_TIME;
  Accolade__V1__GetTopRequest r = ACCOLADE__V1__GET_TOP_REQUEST__INIT;
  r.board = &b;
  r.page_size = 100;
  Accolade__V1__GetTopResponse *out;
  rpc_status st;
  cr_assert_eq(th_call(lb.addr, LB "GetTop", &r, &accolade__v1__get_top_response__descriptor, &member, &a,
                       (void **)&out, &st),
               RPC_OK, "%s", st.message);
  size_t k = 0;
  buf[0] = 0;
  for (size_t i = 0; i < out->n_entries; i++)
    k += (size_t)snprintf(buf + k, cap - k, "%s%s=%lld", i ? "," : "", out->entries[i]->subject_id,
                          (long long)out->entries[i]->points);
  arena_free(&a);
  return buf;
}

Test(batches, record_awards_applies_a_batch_once_even_when_it_is_sent_again) {
  Accolade__V1__AwardRecord *v[] = {award(&mem, org, "b1", "alice", 10), award(&mem, org, "b2", "bob", 20),
                                    award(&mem, org, "b3", "alice", 5)};
  char buf[256], b[256];
  cr_expect_str_eq(record_awards(&svc, v, 3, buf, sizeof buf), "0/1,0/1,0/1");
  cr_expect_str_eq(record_awards(&svc, v, 3, buf, sizeof buf), "0/0,0/0,0/0", "a replayed batch applied again");
  cr_expect_str_eq(board(b, sizeof b), "bob=20,alice=15");
  /* The same award twice in one batch counts once too. */
  Accolade__V1__AwardRecord *twice[] = {award(&mem, org, "b4", "carl", 7), award(&mem, org, "b4", "carl", 7)};
  cr_expect_str_eq(record_awards(&svc, twice, 2, buf, sizeof buf), "0/1,0/0");
  cr_expect_str_eq(board(b, sizeof b), "bob=20,alice=15,carl=7");
}

/* pending: how many awards of |org| wait in the "applied to the boards, not
 * yet in the ledger" marker set (0 once each batch is done). */
static long long pending(void) {
  redisReply *r = th_redis_cmd(th_redis_port(), "SCARD lb:{%s}:pending:add", org);
  cr_assert(r && r->type == REDIS_REPLY_INTEGER);
  long long n = r->integer;
  freeReplyObject(r);
  return n;
}

/* A batch's awards go to Redis in one pipeline of the boards script; one that
 * Redis answers NOSCRIPT (its scripts flushed, or a new node) goes again
 * alone, loading the script. */
Test(batches, record_awards_lands_a_batch_when_redis_has_forgotten_the_script) {
  char buf[256], b[256];
  Accolade__V1__AwardRecord *first[] = {award(&mem, org, "s1", "alice", 10)};
  cr_assert_str_eq(record_awards(&svc, first, 1, buf, sizeof buf), "0/1");
  redisReply *r = th_redis_cmd(th_redis_port(), "SCRIPT FLUSH");
  cr_assert(r && r->type == REDIS_REPLY_STATUS);
  freeReplyObject(r);
  Accolade__V1__AwardRecord *v[] = {award(&mem, org, "s2", "bob", 20), award(&mem, org, "s3", "alice", 5),
                                    award(&mem, org, "s4", "carl", 1)};
  cr_expect_str_eq(record_awards(&svc, v, 3, buf, sizeof buf), "0/1,0/1,0/1");
  cr_expect_str_eq(board(b, sizeof b), "bob=20,alice=15,carl=1");
  cr_expect_eq(pending(), 0, "the markers of the applied awards are gone");
  char q[256];
  snprintf(q, sizeof q, "SELECT count(*) FROM leaderboard.ledger WHERE org = '%s' AND applied AND award_id LIKE 's%%'",
           org);
  char *applied = th_sql(dsn, q);
  cr_expect_str_eq(applied, "4", "every award marked applied in the ledger");
  free(applied);
}

Test(batches, record_awards_skips_an_award_recorded_before_and_applies_the_rest) {
  char buf[256], b[256];
  Accolade__V1__AwardRecord *first[] = {award(&mem, org, "c1", "alice", 10)};
  cr_assert_str_eq(record_awards(&svc, first, 1, buf, sizeof buf), "0/1");
  Accolade__V1__AwardRecord *v[] = {award(&mem, org, "c2", "bob", 20), award(&mem, org, "c1", "alice", 10),
                                    award(&mem, org, "c3", "alice", 1)};
  cr_expect_str_eq(record_awards(&svc, v, 3, buf, sizeof buf), "0/1,0/0,0/1");
  cr_expect_str_eq(board(b, sizeof b), "bob=20,alice=11");
}

Test(batches, record_awards_a_bad_award_fails_alone) {
  char buf[256], b[256];
  /* Refused by its checks: negative points, another org's award. */
  Accolade__V1__AwardRecord *v[] = {award(&mem, org, "d1", "alice", 10), award(&mem, org, "d2", "bob", -5),
                                    award(&mem, other, "d3", "bob", 5), award(&mem, org, "d4", "carl", 3)};
  cr_expect_str_eq(record_awards(&svc, v, 4, buf, sizeof buf), "0/1,3/0,7/0,0/1");
  cr_expect_str_eq(board(b, sizeof b), "alice=10,carl=3");
  /* Failing inside the shared transaction: an award id another org owns.
   * The others are applied anyway (each alone), and once. */
  Accolade__V1__AwardRecord *theirs[] = {award(&mem, other, "d5", "zed", 1)};
  cr_assert_str_eq(record_awards(&svc_other, theirs, 1, buf, sizeof buf), "0/1");
  Accolade__V1__AwardRecord *w[] = {award(&mem, org, "d6", "alice", 2), award(&mem, org, "d5", "bob", 9),
                                    award(&mem, org, "d7", "dora", 4)};
  cr_expect_str_eq(record_awards(&svc, w, 3, buf, sizeof buf), "0/1,6/0,0/1");
  cr_expect_str_eq(board(b, sizeof b), "alice=12,dora=4,carl=3");
  cr_expect_str_eq(record_awards(&svc, w, 3, buf, sizeof buf), "0/0,6/0,0/0");
  cr_expect_str_eq(board(b, sizeof b), "alice=12,dora=4,carl=3");
  /* The batch as a whole: a service's call, 1..100 awards. */
  cr_expect_str_eq(record_awards(&member, v, 1, buf, sizeof buf), "PERMISSION_DENIED");
  cr_expect_str_eq(record_awards(&svc, v, 0, buf, sizeof buf), "INVALID_ARGUMENT");
}

/* --------------------------------------------------------- PublishEvents */

static Accolade__V1__Event *event(arena *a, const char *in_org, const char *id, const char *who) {
  Accolade__V1__AwardRecord *rec = award(a, in_org, id, who, 10);
  rec->badge_name = "Deal Closer";
  rec->public_ = 1;
  rec->justification = "Closed Northwind";
  Accolade__V1__Event *ev = ARENA_NEW(a, Accolade__V1__Event);
  accolade__v1__event__init(ev);
  ev->event_id = arena_printf(a, "award-granted:%s", id);
  ev->org = (char *)in_org;
  ev->kind_case = ACCOLADE__V1__EVENT__KIND_AWARD_GRANTED;
  ev->award_granted = rec;
  return ev;
}

static char *publish_events(const identity *as, Accolade__V1__Event **events, size_t n, char *buf, size_t cap) {
  Accolade__V1__PublishEventsRequest r = ACCOLADE__V1__PUBLISH_EVENTS_REQUEST__INIT;
  r.events = events;
  r.n_events = n;
  return call_batch(nt.addr, NT "PublishEvents", &r.base, &accolade__v1__publish_events_response__descriptor, as,
                    buf, cap);
}

/* count: how many of the org's rows notify's |table| holds (a static buffer). */
static const char *count(const char *table) {
  static char out[32];
  char q[200];
  snprintf(q, sizeof q, "SELECT count(*) FROM notify.%s WHERE org = '%s'", table, org);
  char *v = th_sql(dsn, q);
  snprintf(out, sizeof out, "%s", v ? v : "?");
  free(v);
  return out;
}

/* inboxes: "user:rows,..." of the org's inboxes. */
static char *inboxes(void) {
  char q[300];
  snprintf(q, sizeof q,
           "SELECT COALESCE(string_agg(user_id || ':' || n, ',' ORDER BY user_id), '') FROM "
           "(SELECT user_id, count(*) n FROM notify.inbox WHERE org = '%s' GROUP BY user_id) s",
           org);
  return th_sql(dsn, q);
}

Test(batches, publish_events_takes_a_batch_once_even_when_it_is_sent_again) {
  char buf[256];
  Accolade__V1__Event *v[] = {event(&mem, org, "e1", "alice"), event(&mem, org, "e2", "bob"),
                              event(&mem, org, "e3", "alice")};
  cr_expect_str_eq(publish_events(&svc, v, 3, buf, sizeof buf), "0/1,0/1,0/1");
  cr_expect_str_eq(publish_events(&svc, v, 3, buf, sizeof buf), "0/0,0/0,0/0", "a replayed batch taken again");
  char *in = inboxes();
  cr_expect_str_eq(in, "alice:2,bob:1");
  free(in);
  cr_expect_str_eq(count("recognition"), "3", "the digest's feed has each public award once");
  cr_expect_str_eq(count("delivery"), "0", "no channel, nothing queued");
}

Test(batches, publish_events_queues_a_delivery_per_event_for_each_channel) {
  char buf[256], q[300];
  snprintf(q, sizeof q,
           "INSERT INTO notify.channel (org, url, secret) VALUES ('%s', 'http://127.0.0.1:1/a', 's'), "
           "('%s', 'http://127.0.0.1:1/b', 's') RETURNING 1", org, org);
  free(th_sql(dsn, q));
  Accolade__V1__Event *v[] = {event(&mem, org, "g1", "alice"), event(&mem, org, "g2", "bob")};
  cr_expect_str_eq(publish_events(&svc, v, 2, buf, sizeof buf), "0/1,0/1");
  cr_expect_str_eq(publish_events(&svc, v, 2, buf, sizeof buf), "0/0,0/0");
  cr_expect_str_eq(count("delivery"), "4", "two events to two channels, once");
}

Test(batches, publish_events_skips_an_event_taken_before_and_a_bad_event_fails_alone) {
  char buf[256];
  Accolade__V1__Event *first[] = {event(&mem, org, "f1", "alice")};
  cr_assert_str_eq(publish_events(&svc, first, 1, buf, sizeof buf), "0/1");
  Accolade__V1__Event *nokind = event(&mem, org, "f3", "bob");
  nokind->kind_case = ACCOLADE__V1__EVENT__KIND__NOT_SET;
  Accolade__V1__Event *v[] = {event(&mem, org, "f2", "bob"), event(&mem, org, "f1", "alice"), nokind,
                              event(&mem, other, "f4", "carl"), event(&mem, org, "f5", "carl")};
  cr_expect_str_eq(publish_events(&svc, v, 5, buf, sizeof buf), "0/1,0/0,3/0,7/0,0/1");
  char *in = inboxes();
  cr_expect_str_eq(in, "alice:1,bob:1,carl:1");
  free(in);
  cr_expect_str_eq(publish_events(&member, v, 1, buf, sizeof buf), "PERMISSION_DENIED");
  cr_expect_str_eq(publish_events(&svc, v, 0, buf, sizeof buf), "INVALID_ARGUMENT");
}
