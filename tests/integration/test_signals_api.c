/* SignalService through the real gateway, svc-award and svc-nomination (the
 * directory behind managers' reports), on a real Postgres: idempotent intake
 * with per-row results, who sees whose signals, and rules over signals that
 * award exactly once per member and period. Leaderboard and notify are not
 * running: award outbox rows stay in award.outbox for inspection. */
#include <criterion/criterion.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "accolade/v1/award.pb-c.h"
#include "accolade/v1/nomination.pb-c.h"
#include "accolade/v1/notify.pb-c.h"
#include "accolade/v1/signal.pb-c.h"
#include "harness.h"

#define SECRET "signals-secret"
#define SG "/accolade.v1.SignalService/"
#define DAY INT64_C(86400000)
/* 2025-07-01T00:00:00Z and 2025-04-01T00:00:00Z: the starts of Q3 and Q2. */
#define Q3 INT64_C(1751328000000)
#define Q2 INT64_C(1743465600000)

static th_proc award, nom, gw, notify;
static const char *dsn;
static char org[64], other[64];

/* start runs svc-award, svc-nomination and the gateway, and svc-notify when
 * |with_notify| (else its address is a closed port). */
static void start(int with_notify) {
  th_init();
  static char pg[600], a_addr[96], o_addr[96], redis[64], t_addr[96];
  dsn = th_new_database("signals");
  snprintf(pg, sizeof pg, "ACCOLADE_PG=%s", dsn);
  snprintf(redis, sizeof redis, "ACCOLADE_REDIS=127.0.0.1:%d", th_redis_port());
  snprintf(t_addr, sizeof t_addr, "ACCOLADE_NOTIFY_ADDR=127.0.0.1:1");
  if (with_notify) {
    const char *tenv[] = {pg, redis, "ACCOLADE_LEADERBOARD_ADDR=127.0.0.1:1", NULL};
    cr_assert_eq(th_start(&notify, th_bin("svc-notify"), tenv), 0);
    snprintf(t_addr, sizeof t_addr, "ACCOLADE_NOTIFY_ADDR=%s", notify.addr);
  }
  int nom_port = th_free_port();
  snprintf(o_addr, sizeof o_addr, "ACCOLADE_NOMINATION_ADDR=127.0.0.1:%d", nom_port);
  const char *aenv[] = {pg, o_addr, "ACCOLADE_LEADERBOARD_ADDR=127.0.0.1:1", t_addr, NULL};
  cr_assert_eq(th_start(&award, th_bin("svc-award"), aenv), 0);
  snprintf(a_addr, sizeof a_addr, "ACCOLADE_AWARD_ADDR=%s", award.addr);
  const char *nenv[] = {pg, a_addr, t_addr, NULL};
  cr_assert_eq(th_start_on(&nom, nom_port, th_bin("svc-nomination"), nenv), 0);
  const char *genv[] = {a_addr, o_addr, t_addr, redis, "ACCOLADE_JWT_HS256_SECRET=" SECRET, NULL};
  cr_assert_eq(th_start(&gw, th_bin("gateway"), genv), 0);
  snprintf(org, sizeof org, "sig-%d", getpid());
  snprintf(other, sizeof other, "sig-other-%d", getpid());
}

static void setup(void) { start(0); }
static void setup_notify(void) { start(1); }

static void teardown(void) {
  cr_expect_eq(th_stop(&gw), 0);
  cr_expect_eq(th_stop(&nom), 0);
  cr_expect_eq(th_stop(&award), 0);
  if (notify.pid) cr_expect_eq(th_stop(&notify), 0);
  th_fini();
}

TestSuite(signals, .init = setup, .fini = teardown, .timeout = 180);
TestSuite(prompts, .init = setup_notify, .fini = teardown, .timeout = 180);

/* via calls |method| through the gateway as |user| of |o| with |role|. */
static int via(const char *o, const char *user, const char *role, const char *method, const void *req,
               const ProtobufCMessageDescriptor *d, arena *a, void **out, rpc_status *st) {
  return th_via_as(gw.addr, SECRET, o, user, role, "east", 10000, method, req, d, a, out, st);
}

/* count runs a count query built printf-style. */
static long long count(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static long long count(const char *fmt, ...) {
  char sql[768];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(sql, sizeof sql, fmt, ap);
  va_end(ap);
  char *v = th_sql(dsn, sql);
  long long n = v ? atoll(v) : -1;
  free(v);
  return n;
}

static Accolade__V1__Signal *deal(arena *a, const char *ext, const char *member, int64_t at, int64_t amount,
                                  const char *account) {
  Accolade__V1__Signal *s = ARENA_NEW(a, Accolade__V1__Signal);
  accolade__v1__signal__init(s);
  s->source = "salesforce";
  s->external_id = (char *)ext;
  s->member_id = (char *)member;
  s->kind = ACCOLADE__V1__SIGNAL_KIND__DEAL_WON;
  s->occur_time_ms = at;
  s->opportunity_id = arena_printf(a, "opp-%s", ext);
  s->account = (char *)account;
  s->amount_minor = amount;
  s->currency = "USD";
  s->cycle_days = 40;
  return s;
}

static Accolade__V1__Signal *simple(arena *a, const char *ext, const char *member, int kind, int64_t at) {
  Accolade__V1__Signal *s = ARENA_NEW(a, Accolade__V1__Signal);
  accolade__v1__signal__init(s);
  s->source = "gong";
  s->external_id = (char *)ext;
  s->member_id = (char *)member;
  s->kind = (Accolade__V1__SignalKind)kind;
  s->occur_time_ms = at;
  if (kind == ACCOLADE__V1__SIGNAL_KIND__PLAYBOOK_PUBLISHED) {
    s->title = arena_printf(a, "Playbook %s", ext);
    s->link = arena_printf(a, "https://wiki.example.com/%s", ext);
  }
  return s;
}

static Accolade__V1__IngestSignalsResponse *ingest(arena *a, const char *o, const char *role,
                                                   Accolade__V1__Signal **s, size_t n) {
  Accolade__V1__IngestSignalsRequest req = ACCOLADE__V1__INGEST_SIGNALS_REQUEST__INIT;
  req.signals = s;
  req.n_signals = n;
  Accolade__V1__IngestSignalsResponse *out = NULL;
  rpc_status st;
  int rc = via(o, "crm", role, SG "IngestSignals", &req, &accolade__v1__ingest_signals_response__descriptor, a,
               (void **)&out, &st);
  cr_assert_eq(rc, RPC_OK, "ingest: %s %s", rpc_code_name(rc), st.message);
  return out;
}

static Accolade__V1__SignalRule *rule(arena *a, const char *name, int kind, int64_t threshold, int period,
                                      int window, int64_t min_amount, const char *badge) {
  Accolade__V1__SignalRule r = ACCOLADE__V1__SIGNAL_RULE__INIT;
  r.name = (char *)name;
  r.signal_kind = (Accolade__V1__SignalKind)kind;
  r.threshold = threshold;
  r.period = (Accolade__V1__SignalPeriod)period;
  r.window_days = window;
  r.min_amount_minor = min_amount;
  r.currency = min_amount ? "USD" : "";
  r.grant_badge_id = (char *)badge;
  Accolade__V1__CreateSignalRuleRequest req = ACCOLADE__V1__CREATE_SIGNAL_RULE_REQUEST__INIT;
  req.rule = &r;
  Accolade__V1__SignalRule *out = NULL;
  rpc_status st;
  int rc = via(org, "ada", "admin", SG "CreateSignalRule", &req, &accolade__v1__signal_rule__descriptor, a,
               (void **)&out, &st);
  cr_assert_eq(rc, RPC_OK, "create rule: %s", st.message);
  return out;
}

static long long awards_of(const char *member, const char *badge) {
  return count("SELECT count(*) FROM award.award WHERE org = '%s' AND recipient_id = '%s' AND badge_id = '%s' "
               "AND source_id LIKE 'signal-rule:%%'",
               org, member, badge);
}

Test(signals, a_batch_sent_twice_lands_once_and_bad_rows_are_named) {
  arena a;
  arena_init(&a);
  Accolade__V1__Signal *s[4];
  s[0] = deal(&a, "006A1", "lena", Q3 + 2 * DAY, 5200000, "Initech");
  s[1] = simple(&a, "call-1", "jun", ACCOLADE__V1__SIGNAL_KIND__CALL_SHADOWED, Q3 + 3 * DAY);
  s[2] = simple(&a, "mtg-1", "jun", ACCOLADE__V1__SIGNAL_KIND__MEETING_BOOKED, Q3 + 4 * DAY);
  s[2]->amount_minor = 100;   /* a meeting has no amount */
  s[3] = deal(&a, "006A2", "lena", Q3 + 5 * DAY, -5, "Initech");
  Accolade__V1__IngestSignalsResponse *r = ingest(&a, org, "integration", s, 4);
  cr_assert_eq(r->n_results, 4);
  cr_expect_eq(r->created, 2);
  cr_expect_eq(r->invalid, 2);
  cr_expect_eq(r->results[0]->status, ACCOLADE__V1__SIGNAL_RESULT__STATUS__CREATED);
  cr_expect_eq(r->results[2]->status, ACCOLADE__V1__SIGNAL_RESULT__STATUS__INVALID);
  cr_expect(strstr(r->results[2]->error, "signals[2].amount_minor") != NULL, "%s", r->results[2]->error);
  cr_expect(strstr(r->results[3]->error, "signals[3].amount_minor") != NULL, "%s", r->results[3]->error);
  char *first_id = r->results[0]->signal_id;
  /* The same batch again (the bad rows fixed): the old rows are duplicates, same ids. */
  s[2]->amount_minor = 0;
  s[3]->amount_minor = 900000;
  r = ingest(&a, org, "admin", s, 4);
  cr_expect_eq(r->created, 2);
  cr_expect_eq(r->duplicates, 2);
  cr_expect_eq(r->invalid, 0);
  cr_expect_str_eq(r->results[0]->signal_id, first_id);
  r = ingest(&a, org, "integration", s, 4);
  cr_expect_eq(r->created, 0);
  cr_expect_eq(r->duplicates, 4);
  cr_expect_eq(count("SELECT count(*) FROM award.signal WHERE org = '%s'", org), 4);
  /* Collaborators, and what an empty or oversized batch is. */
  Accolade__V1__Signal *c = deal(&a, "006A3", "lena", Q3 + 6 * DAY, 100, "Acme");
  char *collab[] = {"jun", "lena"};
  c->collaborators = collab;
  c->n_collaborators = 2;
  r = ingest(&a, org, "admin", &c, 1);
  cr_expect(strstr(r->results[0]->error, "signals[0].collaborators[1]") != NULL, "%s", r->results[0]->error);
  Accolade__V1__IngestSignalsRequest empty = ACCOLADE__V1__INGEST_SIGNALS_REQUEST__INIT;
  void *out;
  rpc_status st;
  cr_expect_eq(via(org, "ada", "admin", SG "IngestSignals", &empty, &accolade__v1__ingest_signals_response__descriptor,
                   &a, &out, &st), RPC_INVALID_ARGUMENT);
  cr_expect(strstr(st.message, "signals") != NULL, "%s", st.message);
  Accolade__V1__Signal **many = ARENA_ARRAY(&a, Accolade__V1__Signal *, 1001);
  for (int i = 0; i < 1001; i++) many[i] = s[1];
  Accolade__V1__IngestSignalsRequest big = ACCOLADE__V1__INGEST_SIGNALS_REQUEST__INIT;
  big.signals = many;
  big.n_signals = 1001;
  cr_expect_eq(via(org, "ada", "admin", SG "IngestSignals", &big, &accolade__v1__ingest_signals_response__descriptor,
                   &a, &out, &st), RPC_INVALID_ARGUMENT);
  /* Roles: members and managers may not push; the integration role reaches nothing else. */
  cr_expect_eq(via(org, "bob", "member", SG "IngestSignals", &empty, &accolade__v1__ingest_signals_response__descriptor,
                   &a, &out, &st), RPC_PERMISSION_DENIED);
  cr_expect_eq(via(org, "max", "manager", SG "IngestSignals", &empty,
                   &accolade__v1__ingest_signals_response__descriptor, &a, &out, &st), RPC_PERMISSION_DENIED);
  Accolade__V1__ListSignalsRequest lr = ACCOLADE__V1__LIST_SIGNALS_REQUEST__INIT;
  cr_expect_eq(via(org, "crm", "integration", SG "ListSignals", &lr, &accolade__v1__list_signals_response__descriptor,
                   &a, &out, &st), RPC_PERMISSION_DENIED);
  Accolade__V1__ListBadgesRequest lb = ACCOLADE__V1__LIST_BADGES_REQUEST__INIT;
  cr_expect_eq(via(org, "crm", "integration", "/accolade.v1.AwardService/ListBadges", &lb,
                   &accolade__v1__list_badges_response__descriptor, &a, &out, &st), RPC_PERMISSION_DENIED);
  /* Another org's batch with the same external ids is its own. */
  r = ingest(&a, other, "integration", s, 4);
  cr_expect_eq(r->created, 4);
  cr_expect_eq(count("SELECT count(*) FROM award.signal WHERE org = '%s'", org), 4);
  arena_free(&a);
}

/* upsert puts |n| members in the directory (|mgrs|, |names| may be NULL). */
static void upsert(arena *a, const char *const *ids, const char *const *mgrs, const char *const *teams,
                   const char *const *names, int n) {
  Accolade__V1__Member m[8], *mp[8];
  for (int i = 0; i < n; i++) {
    accolade__v1__member__init(&m[i]);
    m[i].member_id = (char *)ids[i];
    m[i].manager_id = mgrs ? (char *)mgrs[i] : "";
    m[i].team = (char *)teams[i];
    m[i].display_name = names ? (char *)names[i] : "";
    m[i].active = 1;
    mp[i] = &m[i];
  }
  Accolade__V1__UpsertMembersRequest ur = ACCOLADE__V1__UPSERT_MEMBERS_REQUEST__INIT;
  ur.members = mp;
  ur.n_members = (size_t)n;
  void *out;
  rpc_status st;
  cr_assert_eq(via(org, "ada", "admin", "/accolade.v1.NominationService/UpsertMembers", &ur,
                   &accolade__v1__upsert_members_response__descriptor, a, &out, &st), RPC_OK, "%s", st.message);
}

/* directory: max manages lena and jun; zoe and omar report to no one here;
 * zoe is in west, the others in east. */
static void directory(arena *a) {
  const char *ids[] = {"max", "lena", "jun", "zoe", "omar"}, *mgrs[] = {"", "max", "max", "", ""};
  const char *teams[] = {"east", "east", "east", "west", "east"}, *names[] = {"", "", "", "", "Omar Haddad"};
  upsert(a, ids, mgrs, teams, names, 5);
}

typedef struct racer {
  const char *bearer;
  Accolade__V1__Signal **signals;
  size_t n;
  int rc;
  size_t awards;
} racer;

static void *race(void *arg) {
  racer *x = arg;
  arena a;
  arena_init(&a);
  Accolade__V1__IngestSignalsRequest req = ACCOLADE__V1__INGEST_SIGNALS_REQUEST__INIT;
  req.signals = x->signals;
  req.n_signals = x->n;
  const char *md[] = {"authorization", x->bearer, NULL};
  rpc_call_opts opts = {.timeout_ms = 10000, .metadata = md};
  Accolade__V1__IngestSignalsResponse *out = NULL;
  rpc_status st;
  x->rc = rpc_call(gw.addr, SG "IngestSignals", &req.base, &accolade__v1__ingest_signals_response__descriptor, &opts,
                   &a, (void **)&out, &st);
  x->awards = out ? out->n_award_ids : 0;
  arena_free(&a);
  return NULL;
}

Test(signals, concurrent_batches_that_complete_a_rule_award_once) {
  arena a;
  arena_init(&a);
  enum { RACERS = 10 };
  rule(&a, "Ten deals in a quarter", ACCOLADE__V1__SIGNAL_KIND__DEAL_WON, RACERS,
       ACCOLADE__V1__SIGNAL_PERIOD__SIGNAL_QUARTER, 0, 0, "deal-closer");
  static char bearer[2100];
  snprintf(bearer, sizeof bearer, "Bearer %s", th_jwt(SECRET, org, "crm", "integration", "", 300));
  /* Each racer sends one deal of its own at the same moment: whichever commits
   * last must see the others' (none may miss them), and only one may grant. */
  racer r[RACERS];
  pthread_t th[RACERS];
  enum { FILLER = 300 };   /* meetings of others after the deal: long, overlapping transactions */
  for (int i = 0; i < RACERS; i++) {
    r[i] = (racer){.bearer = bearer, .n = 1 + FILLER};
    r[i].signals = ARENA_ARRAY(&a, Accolade__V1__Signal *, 1 + FILLER);
    r[i].signals[0] = deal(&a, arena_printf(&a, "own-%d", i), "lena", Q3 + (1 + i) * DAY, 100, "Acme");
    for (int k = 1; k <= FILLER; k++)
      r[i].signals[k] = simple(&a, arena_printf(&a, "fill-%d-%d", i, k), arena_printf(&a, "rep-%d", i),
                               ACCOLADE__V1__SIGNAL_KIND__MEETING_BOOKED, Q3 + k * 60000);
  }
  for (int i = 0; i < RACERS; i++) pthread_create(&th[i], NULL, race, &r[i]);
  size_t awards = 0;
  for (int i = 0; i < RACERS; i++) {
    pthread_join(th[i], NULL);
    cr_expect_eq(r[i].rc, RPC_OK, "racer %d: %s", i, rpc_code_name(r[i].rc));
    awards += r[i].awards;
  }
  cr_expect_eq(awards, 1, "one racer's batch completed the rule");
  cr_expect_eq(awards_of("lena", "deal-closer"), 1);
  cr_expect_eq(count("SELECT count(*) FROM award.signal WHERE org = '%s'", org), RACERS * (1 + FILLER));
  arena_free(&a);
}

Test(signals, who_sees_whose_signals_with_keyset_paging) {
  arena a;
  arena_init(&a);
  void *out;
  rpc_status st;
  directory(&a);
  Accolade__V1__Signal *s[7];
  for (int i = 0; i < 5; i++)
    s[i] = simple(&a, arena_printf(&a, "lena-%d", i), "lena", ACCOLADE__V1__SIGNAL_KIND__MEETING_BOOKED, Q3 + i * DAY);
  s[5] = simple(&a, "jun-1", "jun", ACCOLADE__V1__SIGNAL_KIND__CALL_SHADOWED, Q3 + 10 * DAY);
  s[6] = simple(&a, "zoe-1", "zoe", ACCOLADE__V1__SIGNAL_KIND__CALL_SHADOWED, Q3 + 11 * DAY);
  ingest(&a, org, "integration", s, 7);
  const ProtobufCMessageDescriptor *d = &accolade__v1__list_signals_response__descriptor;
  Accolade__V1__ListSignalsRequest lr = ACCOLADE__V1__LIST_SIGNALS_REQUEST__INIT;
  Accolade__V1__ListSignalsResponse *l;
  /* A member: their own, newest first, in pages of two. */
  lr.page_size = 2;
  int seen = 0;
  int64_t last = INT64_MAX;
  do {
    cr_assert_eq(via(org, "lena", "member", SG "ListSignals", &lr, d, &a, (void **)&l, &st), RPC_OK, "%s", st.message);
    for (size_t i = 0; i < l->n_signals; i++) {
      cr_expect_str_eq(l->signals[i]->member_id, "lena");
      cr_expect_lt(l->signals[i]->occur_time_ms, last, "newest first");
      last = l->signals[i]->occur_time_ms;
      seen++;
    }
    lr.page_token = l->next_page_token;
  } while (*lr.page_token && seen < 20);
  cr_expect_eq(seen, 5);
  lr.page_token = "";
  lr.page_size = 0;
  lr.member_id = "jun";
  cr_expect_eq(via(org, "lena", "member", SG "ListSignals", &lr, d, &a, &out, &st), RPC_PERMISSION_DENIED);
  /* A manager: their reports' (and their own), not others'. */
  lr.member_id = "";
  cr_assert_eq(via(org, "max", "manager", SG "ListSignals", &lr, d, &a, (void **)&l, &st), RPC_OK, "%s", st.message);
  cr_expect_eq(l->n_signals, 6);
  for (size_t i = 0; i < l->n_signals; i++) cr_expect_str_neq(l->signals[i]->member_id, "zoe");
  lr.member_id = "jun";
  cr_assert_eq(via(org, "max", "manager", SG "ListSignals", &lr, d, &a, (void **)&l, &st), RPC_OK, "%s", st.message);
  cr_expect_eq(l->n_signals, 1);
  lr.member_id = "zoe";
  cr_expect_eq(via(org, "max", "manager", SG "ListSignals", &lr, d, &a, &out, &st), RPC_PERMISSION_DENIED);
  /* An admin: anyone's, with a kind filter; another org's admin: none of these. */
  lr.member_id = "";
  lr.kind = ACCOLADE__V1__SIGNAL_KIND__CALL_SHADOWED;
  cr_assert_eq(via(org, "ada", "admin", SG "ListSignals", &lr, d, &a, (void **)&l, &st), RPC_OK, "%s", st.message);
  cr_expect_eq(l->n_signals, 2);
  lr.kind = 0;
  cr_assert_eq(via(other, "ada", "admin", SG "ListSignals", &lr, d, &a, (void **)&l, &st), RPC_OK, "%s", st.message);
  cr_expect_eq(l->n_signals, 0);
  lr.page_token = "not-a-token";
  cr_expect_eq(via(org, "ada", "admin", SG "ListSignals", &lr, d, &a, &out, &st), RPC_INVALID_ARGUMENT);
  arena_free(&a);
}

Test(signals, a_rule_over_signals_awards_once_per_member_and_period) {
  arena a;
  arena_init(&a);
  /* 3 deals won of at least 50,000 USD in a quarter: Deal Closer. */
  Accolade__V1__SignalRule *closer = rule(&a, "Three big deals in a quarter", ACCOLADE__V1__SIGNAL_KIND__DEAL_WON, 3,
                                          ACCOLADE__V1__SIGNAL_PERIOD__SIGNAL_QUARTER, 0, 5000000, "deal-closer");
  Accolade__V1__Signal *s[8];
  s[0] = deal(&a, "q3-1", "lena", Q3 + 1 * DAY, 5200000, "Initech");
  s[1] = deal(&a, "q3-2", "lena", Q3 + 20 * DAY, 7000000, "Globex");
  s[2] = deal(&a, "q3-small", "lena", Q3 + 30 * DAY, 4999999, "Hooli");   /* under the minimum */
  s[3] = deal(&a, "q2-1", "lena", Q2 + 10 * DAY, 6000000, "Acme");        /* another quarter */
  Accolade__V1__IngestSignalsResponse *r = ingest(&a, org, "integration", s, 4);
  cr_expect_eq(r->n_award_ids, 0);
  cr_expect_eq(awards_of("lena", "deal-closer"), 0);
  /* The third big deal of Q3 completes it: one award, in the batch's reply. */
  s[4] = deal(&a, "q3-3", "lena", Q3 + 60 * DAY, 5000000, "Umbrella");
  r = ingest(&a, org, "integration", &s[4], 1);
  cr_expect_eq(r->n_award_ids, 1);
  cr_expect_eq(awards_of("lena", "deal-closer"), 1);
  /* The same batches again, and a fourth big deal in Q3: still one. */
  r = ingest(&a, org, "integration", s, 5);
  cr_expect_eq(r->created, 0);
  cr_expect_eq(r->n_award_ids, 0);
  s[5] = deal(&a, "q3-4", "lena", Q3 + 70 * DAY, 9000000, "Initech");
  r = ingest(&a, org, "integration", &s[5], 1);
  cr_expect_eq(r->n_award_ids, 0);
  cr_expect_eq(awards_of("lena", "deal-closer"), 1);
  /* Two more in Q2 (sent late, out of order): Q2 is its own period. */
  s[6] = deal(&a, "q2-2", "lena", Q2 + 40 * DAY, 6000000, "Acme");
  s[7] = deal(&a, "q2-3", "lena", Q2 + 41 * DAY, 6000000, "Acme");
  r = ingest(&a, org, "integration", &s[6], 2);
  cr_expect_eq(r->n_award_ids, 1, "one award for the batch that completes Q2, not one per row");
  cr_expect_eq(awards_of("lena", "deal-closer"), 2);
  cr_expect_eq(count("SELECT count(*) FROM award.award WHERE org = '%s' AND source_id IN ('signal-rule:%s:2025-Q3', "
                     "'signal-rule:%s:2025-Q2')",
                     org, closer->id, closer->id),
               2, "keyed by rule and quarter");
  /* Each award went to the outbox like any other (leaderboard and notify). */
  cr_expect_eq(count("SELECT count(*) FROM award.outbox WHERE org = '%s' AND method LIKE '%%RecordAward'", org), 2);
  /* Another member's deals count for them alone. */
  Accolade__V1__Signal *j[3];
  for (int i = 0; i < 3; i++) j[i] = deal(&a, arena_printf(&a, "jun-%d", i), "jun", Q3 + (10 + i) * DAY, 5000000, "Acme");
  r = ingest(&a, org, "integration", j, 3);
  cr_expect_eq(r->n_award_ids, 1);
  cr_expect_eq(awards_of("jun", "deal-closer"), 1);
  cr_expect_eq(awards_of("lena", "deal-closer"), 2);

  /* Two playbooks within 30 days: Knowledge Sharer, once; the first shadowed call: once. */
  rule(&a, "Two playbooks in 30 days", ACCOLADE__V1__SIGNAL_KIND__PLAYBOOK_PUBLISHED, 2, 0, 30, 0, "knowledge-sharer");
  rule(&a, "First shadowed call", ACCOLADE__V1__SIGNAL_KIND__CALL_SHADOWED, 1, 0, 0, 0, "collaboration-leader");
  Accolade__V1__Signal *p[4];
  p[0] = simple(&a, "pb-1", "mia", ACCOLADE__V1__SIGNAL_KIND__PLAYBOOK_PUBLISHED, Q2);
  p[1] = simple(&a, "pb-2", "mia", ACCOLADE__V1__SIGNAL_KIND__PLAYBOOK_PUBLISHED, Q2 + 45 * DAY);   /* 45 days on */
  r = ingest(&a, org, "integration", p, 2);
  cr_expect_eq(awards_of("mia", "knowledge-sharer"), 0, "45 days apart is not within 30");
  /* A back-dated playbook between them completes a 30-day window. */
  p[2] = simple(&a, "pb-3", "mia", ACCOLADE__V1__SIGNAL_KIND__PLAYBOOK_PUBLISHED, Q2 + 20 * DAY);
  p[3] = simple(&a, "pb-4", "mia", ACCOLADE__V1__SIGNAL_KIND__PLAYBOOK_PUBLISHED, Q2 + 25 * DAY);
  r = ingest(&a, org, "integration", &p[2], 2);
  cr_expect_eq(awards_of("mia", "knowledge-sharer"), 1);
  Accolade__V1__Signal *c[2];
  c[0] = simple(&a, "shadow-1", "mia", ACCOLADE__V1__SIGNAL_KIND__CALL_SHADOWED, Q3);
  c[1] = simple(&a, "shadow-2", "mia", ACCOLADE__V1__SIGNAL_KIND__CALL_SHADOWED, Q3 + DAY);
  ingest(&a, org, "integration", c, 2);
  cr_expect_eq(awards_of("mia", "collaboration-leader"), 1);

  /* The profile shows the progress, earned or not. */
  Accolade__V1__GetProfileRequest gp = ACCOLADE__V1__GET_PROFILE_REQUEST__INIT;
  gp.member_id = "mia";
  Accolade__V1__Profile *prof;
  rpc_status st;
  cr_assert_eq(via(org, "mia", "member", "/accolade.v1.AwardService/GetProfile", &gp, &accolade__v1__profile__descriptor,
                   &a, (void **)&prof, &st), RPC_OK, "%s", st.message);
  int found = 0;
  for (size_t i = 0; i < prof->n_progress; i++) {
    Accolade__V1__RuleProgress *g = prof->progress[i];
    if (!strcmp(g->rule_name, "First shadowed call")) {
      found++;
      cr_expect(g->earned);
      cr_expect_eq(g->current, 2);
      cr_expect_str_eq(g->text, "1 of 1 CALL_SHADOWED");
    } else if (!strcmp(g->rule_name, "Three big deals in a quarter")) {
      found++;
      cr_expect_not(g->earned);
      cr_expect_eq(g->current, 0);
      cr_expect(strstr(g->text, "0 of 3 DEAL_WON of at least 50000.00 USD in ") == g->text, "%s", g->text);
    }
  }
  cr_expect_eq(found, 2);
  /* Rules: admins only, checked, org-scoped. */
  Accolade__V1__DeleteSignalRuleRequest del = ACCOLADE__V1__DELETE_SIGNAL_RULE_REQUEST__INIT;
  del.rule_id = closer->id;
  void *out;
  cr_expect_eq(via(other, "ada", "admin", SG "DeleteSignalRule", &del, &accolade__v1__delete_signal_rule_response__descriptor,
                   &a, &out, &st), RPC_NOT_FOUND, "another org's rule");
  cr_expect_eq(via(org, "lena", "member", SG "DeleteSignalRule", &del,
                   &accolade__v1__delete_signal_rule_response__descriptor, &a, &out, &st), RPC_PERMISSION_DENIED);
  cr_expect_eq(via(org, "ada", "admin", SG "DeleteSignalRule", &del, &accolade__v1__delete_signal_rule_response__descriptor,
                   &a, &out, &st), RPC_OK, "%s", st.message);
  Accolade__V1__SignalRule bad = ACCOLADE__V1__SIGNAL_RULE__INIT;
  bad.name = "sum of meetings";
  bad.signal_kind = ACCOLADE__V1__SIGNAL_KIND__MEETING_BOOKED;
  bad.aggregate = ACCOLADE__V1__SIGNAL_AGGREGATE__SIGNAL_SUM_AMOUNT;
  bad.threshold = 5;
  bad.grant_badge_id = "deal-closer";
  Accolade__V1__CreateSignalRuleRequest cr = ACCOLADE__V1__CREATE_SIGNAL_RULE_REQUEST__INIT;
  cr.rule = &bad;
  cr_expect_eq(via(org, "ada", "admin", SG "CreateSignalRule", &cr, &accolade__v1__signal_rule__descriptor, &a, &out,
                   &st), RPC_INVALID_ARGUMENT);
  cr_expect(strstr(st.message, "rule.aggregate") != NULL, "%s", st.message);
  bad.aggregate = 0;
  bad.grant_badge_id = "no-such-badge";
  cr_expect_eq(via(org, "ada", "admin", SG "CreateSignalRule", &cr, &accolade__v1__signal_rule__descriptor, &a, &out,
                   &st), RPC_NOT_FOUND);
  arena_free(&a);
}

static Accolade__V1__SuggestRecognitionsResponse *suggest(arena *a, const char *user, const char *role,
                                                           const char *member, int limit, int64_t as_of, int *rc) {
  Accolade__V1__SuggestRecognitionsRequest req = ACCOLADE__V1__SUGGEST_RECOGNITIONS_REQUEST__INIT;
  req.member_id = (char *)member;
  req.limit = limit;
  req.as_of_ms = as_of;
  Accolade__V1__SuggestRecognitionsResponse *out = NULL;
  rpc_status st;
  *rc = via(org, user, role, SG "SuggestRecognitions", &req, &accolade__v1__suggest_recognitions_response__descriptor,
            a, (void **)&out, &st);
  return out;
}

Test(signals, suggestions_name_the_right_colleagues_with_reasons) {
  arena a;
  arena_init(&a);
  directory(&a);
  int64_t now = (int64_t)time(NULL) * 1000, hour = 3600000;
  Accolade__V1__Signal *s[7];
  char *lena[] = {"lena"}, *zoe[] = {"zoe"};
  s[0] = deal(&a, "jun-init", "jun", now - 2 * DAY - hour, 5200000, "Initech");   /* lena helped jun */
  s[0]->collaborators = lena;
  s[0]->n_collaborators = 1;
  s[1] = deal(&a, "lena-glob", "lena", now - 5 * DAY - hour, 6400000, "Globex");  /* zoe helped lena */
  s[1]->collaborators = zoe;
  s[1]->n_collaborators = 1;
  s[2] = simple(&a, "pb-o", "omar", ACCOLADE__V1__SIGNAL_KIND__PLAYBOOK_PUBLISHED, now - DAY - hour);   /* teammate */
  s[3] = simple(&a, "nps-max", "max", ACCOLADE__V1__SIGNAL_KIND__NPS_RECEIVED, now - DAY);   /* an NPS of 7: no */
  s[3]->account = "Acme";
  s[3]->score = 7;
  s[4] = simple(&a, "pb-old", "max", ACCOLADE__V1__SIGNAL_KIND__PLAYBOOK_PUBLISHED, now - 40 * DAY);   /* too old */
  s[5] = simple(&a, "pb-zoe", "zoe", ACCOLADE__V1__SIGNAL_KIND__PLAYBOOK_PUBLISHED, now - hour);   /* west */
  s[6] = simple(&a, "mtg-omar", "omar", ACCOLADE__V1__SIGNAL_KIND__MEETING_BOOKED, now - hour);   /* not a reason */
  ingest(&a, org, "integration", s, 7);
  int rc;
  Accolade__V1__SuggestRecognitionsResponse *r = suggest(&a, "lena", "member", "", 0, now, &rc);
  cr_assert_eq(rc, RPC_OK);
  cr_assert_eq(r->n_suggestions, 3);
  const char *want_id[] = {"jun", "zoe", "omar"};
  const char *want_badge[] = {"Deal Closer", "Collaboration Leader", "Knowledge Sharer"};
  const char *want_reason[] = {"jun's Initech deal closed 2 days ago; you were a collaborator",
                               "zoe helped close your Globex deal 5 days ago",
                               "Omar Haddad published the playbook \"Playbook pb-o\" 1 day ago (your team)"};
  for (int i = 0; i < 3; i++) {
    cr_expect_str_eq(r->suggestions[i]->colleague_id, want_id[i]);
    cr_expect_str_eq(r->suggestions[i]->suggested_badge_name, want_badge[i]);
    cr_expect_str_eq(r->suggestions[i]->reason, want_reason[i]);
  }
  cr_expect_eq(r->suggestions[0]->closeness, 2);
  cr_expect_eq(r->suggestions[2]->closeness, 1);
  /* Once lena recognizes jun, jun is no longer suggested. */
  const char *users[] = {"jun"};
  Accolade__V1__GrantAwardRequest g = ACCOLADE__V1__GRANT_AWARD_REQUEST__INIT;
  Accolade__V1__Recipient rcp = ACCOLADE__V1__RECIPIENT__INIT, *rp = &rcp;
  rcp.member_id = (char *)users[0];
  g.source_id = "nomination-1";
  g.badge_id = "deal-closer";
  g.recipients = &rp;
  g.n_recipients = 1;
  g.giver_id = "lena";
  g.justification = "Closed Initech with me.";
  void *out;
  rpc_status st;
  cr_assert_eq(via(org, "ada", "admin", "/accolade.v1.AwardService/GrantAward", &g,
                   &accolade__v1__grant_award_response__descriptor, &a, &out, &st), RPC_OK, "%s", st.message);
  r = suggest(&a, "lena", "member", "", 1, now, &rc);
  cr_assert_eq(rc, RPC_OK);
  cr_assert_eq(r->n_suggestions, 1, "the limit");
  cr_expect_str_eq(r->suggestions[0]->colleague_id, "zoe");
  /* Whose suggestions: your own; a manager a report's; an admin anyone's. */
  suggest(&a, "lena", "member", "jun", 0, now, &rc);
  cr_expect_eq(rc, RPC_PERMISSION_DENIED);
  r = suggest(&a, "max", "manager", "lena", 0, now, &rc);
  cr_expect_eq(rc, RPC_OK);
  cr_expect_eq(r ? r->n_suggestions : 0, 2);
  suggest(&a, "max", "manager", "zoe", 0, now, &rc);
  cr_expect_eq(rc, RPC_PERMISSION_DENIED);
  r = suggest(&a, "ada", "admin", "jun", 0, now, &rc);
  cr_expect_eq(rc, RPC_OK);
  cr_assert_eq(r ? r->n_suggestions : 0, 2, "jun: lena helped on Initech, and omar's playbook");
  cr_expect_str_eq(r->suggestions[0]->reason, "lena helped close your Initech deal 2 days ago");
  suggest(&a, "lena", "member", "", 21, now, &rc);
  cr_expect_eq(rc, RPC_INVALID_ARGUMENT);
  arena_free(&a);
}

static int grant_to(arena *a, const char *member, const char *badge, const char *source) {
  Accolade__V1__GrantAwardRequest g = ACCOLADE__V1__GRANT_AWARD_REQUEST__INIT;
  Accolade__V1__Recipient rcp = ACCOLADE__V1__RECIPIENT__INIT, *rp = &rcp;
  rcp.member_id = (char *)member;
  g.source_id = (char *)source;
  g.badge_id = (char *)badge;
  g.recipients = &rp;
  g.n_recipients = 1;
  g.justification = "For the journey.";
  void *out;
  rpc_status st;
  return via(org, "ada", "admin", "/accolade.v1.AwardService/GrantAward", &g,
             &accolade__v1__grant_award_response__descriptor, a, &out, &st);
}

static Accolade__V1__Profile *profile(arena *a, const char *member) {
  Accolade__V1__GetProfileRequest gp = ACCOLADE__V1__GET_PROFILE_REQUEST__INIT;
  gp.member_id = (char *)member;
  Accolade__V1__Profile *p = NULL;
  rpc_status st;
  cr_assert_eq(via(org, member, "member", "/accolade.v1.AwardService/GetProfile", &gp,
                   &accolade__v1__profile__descriptor, a, (void **)&p, &st), RPC_OK, "%s", st.message);
  return p;
}

Test(signals, a_journeys_progress_advances_on_the_profile) {
  arena a;
  arena_init(&a);
  directory(&a);
  Accolade__V1__SignalRule *first_call = rule(&a, "First shadowed call", ACCOLADE__V1__SIGNAL_KIND__CALL_SHADOWED, 1, 0,
                                              0, 0, "collaboration-leader");
  Accolade__V1__JourneyStep st0 = ACCOLADE__V1__JOURNEY_STEP__INIT, st1 = ACCOLADE__V1__JOURNEY_STEP__INIT,
                            st2 = ACCOLADE__V1__JOURNEY_STEP__INIT;
  st0.badge_id = "knowledge-sharer";
  st0.title = "Share a playbook";
  st1.signal_rule_id = first_call->id;
  st2.badge_id = "deal-closer";
  Accolade__V1__JourneyStep *steps[] = {&st0, &st1, &st2};
  Accolade__V1__Journey j = ACCOLADE__V1__JOURNEY__INIT;
  j.name = "First 90 days in east";
  j.team = "east";
  j.max_tenure_days = 90;
  j.steps = steps;
  j.n_steps = 3;
  Accolade__V1__CreateJourneyRequest cj = ACCOLADE__V1__CREATE_JOURNEY_REQUEST__INIT;
  cj.journey = &j;
  Accolade__V1__Journey *made;
  rpc_status st;
  void *out;
  const ProtobufCMessageDescriptor *jd = &accolade__v1__journey__descriptor;
  cr_expect_eq(via(org, "lena", "member", SG "CreateJourney", &cj, jd, &a, &out, &st), RPC_PERMISSION_DENIED);
  cr_assert_eq(via(org, "ada", "admin", SG "CreateJourney", &cj, jd, &a, (void **)&made, &st), RPC_OK, "%s", st.message);
  cr_expect_eq(made->n_steps, 3);
  cr_expect_str_eq(made->steps[1]->signal_rule_id, first_call->id);
  /* jun started 10 days ago; omar has no start date; zoe is in west. */
  char start[16];
  time_t ten = time(NULL) - 10 * 86400;
  strftime(start, sizeof start, "%Y-%m-%d", gmtime(&ten));
  Accolade__V1__Signal *hire = simple(&a, "hire-jun", "jun", ACCOLADE__V1__SIGNAL_KIND__MEMBER_HIRED, (int64_t)ten * 1000);
  hire->start_date = start;
  ingest(&a, org, "integration", &hire, 1);
  cr_expect_eq(profile(&a, "omar")->n_journeys, 0, "no start date: outside a tenure band");
  cr_expect_eq(profile(&a, "zoe")->n_journeys, 0, "another team");
  Accolade__V1__Profile *p = profile(&a, "jun");
  cr_assert_eq(p->n_journeys, 1);
  Accolade__V1__JourneyProgress *g = p->journeys[0];
  cr_expect_eq(g->steps_done, 0);
  cr_expect_eq(g->steps_total, 3);
  cr_expect_eq(g->next_step, 0);
  cr_expect_str_eq(g->next_text, "Next: Share a playbook (0 of 1 Knowledge Sharer)");
  cr_expect_str_eq(g->steps[1]->title, "First shadowed call");
  /* A shadowed call: the signal rule grants, the journey's second step is done. */
  Accolade__V1__Signal *call = simple(&a, "call-jun", "jun", ACCOLADE__V1__SIGNAL_KIND__CALL_SHADOWED, (int64_t)ten * 1000);
  ingest(&a, org, "integration", &call, 1);
  g = profile(&a, "jun")->journeys[0];
  cr_expect_eq(g->steps_done, 1);
  cr_expect(g->steps[1]->done);
  cr_expect_eq(g->next_step, 0, "the first step is still open");
  cr_assert_eq(grant_to(&a, "jun", "knowledge-sharer", "nom-ks-1"), RPC_OK);
  g = profile(&a, "jun")->journeys[0];
  cr_expect_eq(g->steps_done, 2);
  cr_expect_eq(g->next_step, 2);
  cr_expect_str_eq(g->next_text, "Next: Deal Closer (0 of 1 Deal Closer)");
  cr_assert_eq(grant_to(&a, "jun", "deal-closer", "nom-dc-1"), RPC_OK);
  g = profile(&a, "jun")->journeys[0];
  cr_expect_eq(g->steps_done, 3);
  cr_expect_eq(g->next_step, -1);
  /* Checked input; other orgs' journeys are not found; retiring hides it. */
  st1.badge_id = "deal-closer";
  cr_expect_eq(via(org, "ada", "admin", SG "CreateJourney", &cj, jd, &a, &out, &st), RPC_INVALID_ARGUMENT);
  cr_expect(strstr(st.message, "journey.steps[1]") != NULL, "%s", st.message);
  st1.badge_id = "";
  st0.badge_id = "no-such-badge";
  cr_expect_eq(via(org, "ada", "admin", SG "CreateJourney", &cj, jd, &a, &out, &st), RPC_NOT_FOUND);
  Accolade__V1__UpdateJourneyRequest uj = ACCOLADE__V1__UPDATE_JOURNEY_REQUEST__INIT;
  Accolade__V1__Journey retire = ACCOLADE__V1__JOURNEY__INIT;
  retire.id = made->id;
  uj.journey = &retire;
  char *mask[] = {"active"};
  uj.update_mask = mask;
  uj.n_update_mask = 1;
  cr_expect_eq(via(other, "ada", "admin", SG "UpdateJourney", &uj, jd, &a, &out, &st), RPC_NOT_FOUND);
  Accolade__V1__Journey *upd;
  cr_assert_eq(via(org, "ada", "admin", SG "UpdateJourney", &uj, jd, &a, (void **)&upd, &st), RPC_OK, "%s", st.message);
  cr_expect_not(upd->active);
  cr_expect_eq(upd->n_steps, 3, "steps kept: not in the mask");
  cr_expect_eq(profile(&a, "jun")->n_journeys, 0);
  Accolade__V1__ListJourneysRequest lj = ACCOLADE__V1__LIST_JOURNEYS_REQUEST__INIT;
  Accolade__V1__ListJourneysResponse *l;
  lj.include_inactive = 1;
  cr_assert_eq(via(org, "lena", "member", SG "ListJourneys", &lj, &accolade__v1__list_journeys_response__descriptor, &a,
                   (void **)&l, &st), RPC_OK, "%s", st.message);
  cr_expect_eq(l->n_journeys, 1);
  arena_free(&a);
}

/* ---- Outcome analytics against an independent count ---- */

typedef struct seeded {
  const char *member;
  int kind;
  int64_t at;
  int64_t amount;
  int cycle;
  const char *currency;
} seeded;

static seeded g_seed[400];
static int g_nseed;

static Accolade__V1__Signal *seed(arena *a, const char *member, int kind, int64_t at, int64_t amount, int cycle,
                                  const char *currency) {
  Accolade__V1__Signal *s;
  const char *ext = arena_printf(a, "out-%d", g_nseed);
  if (kind == ACCOLADE__V1__SIGNAL_KIND__DEAL_WON || kind == ACCOLADE__V1__SIGNAL_KIND__DEAL_LOST) {
    s = deal(a, ext, member, at, amount, "Acme");
    s->kind = (Accolade__V1__SignalKind)kind;
    s->cycle_days = cycle;
    s->currency = (char *)currency;
  } else {
    s = simple(a, ext, member, kind, at);
    if (kind == ACCOLADE__V1__SIGNAL_KIND__MEETING_BOOKED) s->account = "Acme";
  }
  g_seed[g_nseed++] = (seeded){member, kind, at, amount, cycle, currency};
  return s;
}

/* The expected window figures, counted here from what was seeded. */
typedef struct expect_window {
  int64_t members, won, lost, playbooks, meetings, amount, cycle;
} expect_window;

static const Accolade__V1__OutcomeFigure *fig(const Accolade__V1__OutcomeStats *o, const char *group, const char *metric) {
  for (size_t i = 0; i < o->n_figures; i++)
    if (!strcmp(o->figures[i]->group, group) && !strcmp(o->figures[i]->metric, metric)) return o->figures[i];
  cr_assert_fail("no figure %s/%s", group, metric);
  return NULL;
}

static void expect_fig(const Accolade__V1__OutcomeStats *o, const char *group, const char *metric, double value,
                       int64_t n) {
  const Accolade__V1__OutcomeFigure *f = fig(o, group, metric);
  cr_expect_eq(f->n, n, "%s/%s: n %lld, want %lld", group, metric, (long long)f->n, (long long)n);
  if (n >= 30) {
    cr_expect(f->enough, "%s/%s shown", group, metric);
    cr_expect(f->value > value - 1e-6 && f->value < value + 1e-6, "%s/%s: %f, want %f", group, metric, f->value, value);
  } else {
    cr_expect_not(f->enough, "%s/%s: n < 30 is not shown", group, metric);
    cr_expect_eq(f->value, 0);
    cr_expect(strstr(f->text, "fewer than 30") != NULL, "%s", f->text);
  }
}

Test(signals, outcome_figures_equal_an_independent_count, .timeout = 240) {
  arena a;
  arena_init(&a);
  g_nseed = 0;
  const char *rec[] = {"r0", "r1", "r2", "r3", "h0", "d0"};   /* granted an award in the period */
  int64_t before_grant = (int64_t)time(NULL) * 1000;
  for (int i = 0; i < 6; i++)
    cr_assert_eq(grant_to(&a, rec[i], "deal-closer", arena_printf(&a, "nom-out-%d", i)), RPC_OK);
  int64_t now = (int64_t)time(NULL) * 1000 + 1000;   /* just after every grant */
  int64_t end = now + 10 * 60000, start = end - 180 * DAY, mid = (start + end) / 2;
  Accolade__V1__Signal **s = ARENA_ARRAY(&a, Accolade__V1__Signal *, 400);
  int n = 0;
  const int W = ACCOLADE__V1__SIGNAL_KIND__DEAL_WON, L = ACCOLADE__V1__SIGNAL_KIND__DEAL_LOST;
  for (int i = 0; i < 36; i++)   /* recognized, before: 24 won, 12 lost */
    s[n++] = seed(&a, rec[i % 4], i % 3 ? W : L, now - (1 + 2 * i) * DAY, 1000000 + i * 12345, 20 + i, "USD");
  for (int i = 0; i < 3; i++)   /* another currency: not counted */
    s[n++] = seed(&a, rec[i], W, now - 3 * DAY, 99900000, 5, "EUR");
  for (int i = 0; i < 32; i++)   /* recognized, after (within the 5 minutes the future allows) */
    s[n++] = seed(&a, rec[i % 4], i % 4 ? W : L, now + 60000 + i * 5000, 2000000 + i * 777, 10 + i % 7, "USD");
  const char *others[] = {"n0", "n1", "n2"};
  for (int i = 0; i < 20; i++)   /* not recognized, before the midpoint */
    s[n++] = seed(&a, others[i % 3], i % 2 ? W : L, mid - (2 + 3 * i) * DAY, 500000 + i * 1000, 30 + i, "USD");
  for (int i = 0; i < 40; i++)   /* not recognized, after it */
    s[n++] = seed(&a, others[i % 3], i % 5 ? W : L, mid + (1 + 2 * i) * DAY, 700000 + i * 333, 40 - i % 9, "USD");
  for (int i = 0; i < 6; i++)
    s[n++] = seed(&a, rec[i % 2], ACCOLADE__V1__SIGNAL_KIND__PLAYBOOK_PUBLISHED, now - (5 + i) * DAY, 0, 0, "");
  for (int i = 0; i < 2; i++)
    s[n++] = seed(&a, rec[2], ACCOLADE__V1__SIGNAL_KIND__PLAYBOOK_PUBLISHED, now + 100000 + i * 1000, 0, 0, "");
  for (int i = 0; i < 10; i++)
    s[n++] = seed(&a, rec[i % 4], ACCOLADE__V1__SIGNAL_KIND__MEETING_BOOKED, now - (3 + i) * DAY, 0, 0, "");
  for (int i = 0; i < 9; i++)
    s[n++] = seed(&a, others[i % 3], ACCOLADE__V1__SIGNAL_KIND__MEETING_BOOKED, mid + (3 + i) * DAY, 0, 0, "");
  /* New hires: h0 recognized in their first 30 days, h1 and h2 not; h2 has not won yet. */
  int64_t today = now / DAY * DAY;
  const char *hires[] = {"h0", "h1", "h2"};
  const int64_t starts[] = {today - 10 * DAY, today - 40 * DAY, today - 20 * DAY};
  const int64_t first_win[] = {now + 200000, now - 30 * DAY, 0};
  for (int i = 0; i < 3; i++) {
    char date[16];
    time_t t = (time_t)(starts[i] / 1000);
    strftime(date, sizeof date, "%Y-%m-%d", gmtime(&t));
    Accolade__V1__Signal *h = seed(&a, hires[i], ACCOLADE__V1__SIGNAL_KIND__MEMBER_HIRED, starts[i], 0, 0, "");
    h->start_date = arena_strdup(&a, date);
    s[n++] = h;
    if (first_win[i]) s[n++] = seed(&a, hires[i], W, first_win[i], 300000, 12, "USD");
  }
  /* Departures: d0 after being recognized, d1 never recognized. */
  s[n++] = seed(&a, "d0", ACCOLADE__V1__SIGNAL_KIND__MEMBER_DEPARTED, now + 230000, 0, 0, "");
  s[n++] = seed(&a, "d1", ACCOLADE__V1__SIGNAL_KIND__MEMBER_DEPARTED, now - 5 * DAY, 0, 0, "");
  Accolade__V1__IngestSignalsResponse *r = ingest(&a, org, "admin", s, (size_t)n);
  cr_assert_eq(r->created, n, "%d of %d", r->created, n);

  /* Count what the figures should be: members of each group, their signals in the 90 days before / after. */
  const char *members[16];
  int nm = 0;
  for (int i = 0; i < g_nseed; i++) {
    int k = 0;
    while (k < nm && strcmp(members[k], g_seed[i].member)) k++;
    if (k == nm) members[nm++] = g_seed[i].member;
  }
  expect_window e[4] = {{0}};
  for (int k = 0; k < nm; k++) {
    int is_rec = 0;
    for (int i = 0; i < 6; i++) is_rec |= !strcmp(rec[i], members[k]);
    int64_t t = is_rec ? before_grant : mid;   /* the grant happened in [before_grant, now) */
    for (int after = 0; after < 2; after++) {
      expect_window *x = &e[is_rec * 2 + after];
      x->members++;
      for (int i = 0; i < g_nseed; i++) {
        const seeded *q = &g_seed[i];
        if (strcmp(q->member, members[k])) continue;
        int in = after ? q->at >= t && q->at < t + 90 * DAY : q->at >= t - 90 * DAY && q->at < t;
        if (!in) continue;
        int usd = q->currency && !strcmp(q->currency, "USD");
        if (q->kind == W && usd) x->won++, x->amount += q->amount, x->cycle += q->cycle;
        if (q->kind == L && usd) x->lost++;
        if (q->kind == ACCOLADE__V1__SIGNAL_KIND__PLAYBOOK_PUBLISHED) x->playbooks++;
        if (q->kind == ACCOLADE__V1__SIGNAL_KIND__MEETING_BOOKED) x->meetings++;
      }
    }
  }
  Accolade__V1__GetOutcomeStatsRequest q = ACCOLADE__V1__GET_OUTCOME_STATS_REQUEST__INIT;
  q.start_time_ms = start;
  q.end_time_ms = end;
  Accolade__V1__OutcomeStats *o;
  rpc_status st;
  const ProtobufCMessageDescriptor *od = &accolade__v1__outcome_stats__descriptor;
  cr_assert_eq(via(org, "ada", "admin", SG "GetOutcomeStats", &q, od, &a, (void **)&o, &st), RPC_OK, "%s", st.message);
  cr_expect(strstr(o->note, "Correlations, not causes") == o->note, "%s", o->note);
  cr_expect_eq(o->recognized_members, 6);
  cr_expect_eq(o->other_members, nm - 6);
  static const char *const groups[4] = {"not_recognized_before", "not_recognized_after", "recognized_before",
                                        "recognized_after"};
  for (int g = 0; g < 4; g++) {
    const expect_window *x = &e[g];
    expect_fig(o, groups[g], "win_rate_percent", x->won + x->lost ? 100.0 * (double)x->won / (double)(x->won + x->lost) : 0,
               x->won + x->lost);
    expect_fig(o, groups[g], "avg_deal_size_minor", x->won ? (double)x->amount / (double)x->won : 0, x->won);
    expect_fig(o, groups[g], "avg_cycle_days", x->won ? (double)x->cycle / (double)x->won : 0, x->won);
    expect_fig(o, groups[g], "playbooks_per_member", (double)x->playbooks / (double)x->members, x->members);
    expect_fig(o, groups[g], "meetings_per_member", (double)x->meetings / (double)x->members, x->members);
  }
  /* The seeding is meant to show some cells: make sure it does. */
  cr_expect(e[2].won + e[2].lost >= 30 && e[3].won + e[3].lost >= 30 && e[1].won + e[1].lost >= 30);
  cr_expect(e[0].won + e[0].lost < 30);
  /* Ramp: h0 recognized in the first 30 (and 60) days, h1 and h2 not; h2 has no win. */
  /* Counts are always shown, with their n; averages of fewer than 30 are not. */
  cr_expect(fig(o, "hires_recognized_first_30_days", "hires")->enough);
  cr_expect_eq(fig(o, "hires_recognized_first_30_days", "hires")->value, 1);
  expect_fig(o, "hires_recognized_first_30_days", "avg_days_to_first_win", 0, 1);
  cr_expect_eq(fig(o, "hires_not_recognized_first_30_days", "hires")->value, 2);
  expect_fig(o, "hires_not_recognized_first_60_days", "avg_days_to_first_win", 0, 1);
  cr_expect_eq(fig(o, "hires_not_recognized_first_60_days", "hires")->value, 2);
  /* Departures: 6 recognized members (d0 left), 8 never recognized (d1 left). */
  cr_expect_eq(fig(o, "recognized", "departures")->value, 1);
  cr_expect_eq(fig(o, "recognized", "departures")->n, 6);
  cr_expect_eq(fig(o, "never_recognized", "departures")->value, 1);
  cr_expect_eq(fig(o, "never_recognized", "departures")->n, nm - 6);
  expect_fig(o, "recognized", "departure_rate_percent", 0, 6);
  /* A badge filter nobody holds: nobody is recognized. */
  q.badge_id = "mentor-x";
  cr_assert_eq(via(org, "ada", "admin", SG "GetOutcomeStats", &q, od, &a, (void **)&o, &st), RPC_OK, "%s", st.message);
  cr_expect_eq(o->recognized_members, 0);
  q.badge_id = "";
  /* Managers: their own team only (r0, r1 and n0 are in east). */
  const char *east[] = {"r0", "r1", "n0"}, *teams[] = {"east", "east", "east"};
  upsert(&a, east, NULL, teams, NULL, 3);
  void *out;
  cr_assert_eq(via(org, "max", "manager", SG "GetOutcomeStats", &q, od, &a, (void **)&o, &st), RPC_OK, "%s", st.message);
  cr_expect_eq(o->recognized_members, 2);
  cr_expect_eq(o->other_members, 1);
  q.team = "west";
  cr_expect_eq(via(org, "max", "manager", SG "GetOutcomeStats", &q, od, &a, &out, &st), RPC_PERMISSION_DENIED);
  cr_expect_eq(via(org, "lena", "member", SG "GetOutcomeStats", &q, od, &a, &out, &st), RPC_PERMISSION_DENIED);
  q.team = "";
  q.start_time_ms = end;
  cr_expect_eq(via(org, "ada", "admin", SG "GetOutcomeStats", &q, od, &a, &out, &st), RPC_INVALID_ARGUMENT);
  arena_free(&a);
}

/* drained waits until svc-award's outbox has delivered every PublishEvent
 * (svc-notify has then taken each event, whatever it did with it). */
static void drained(void) {
  for (int tries = 0; tries < 100; tries++) {
    if (count("SELECT count(*) FROM award.outbox WHERE org = '%s' AND method LIKE '%%PublishEvent' "
              "AND delivered_at IS NULL",
              org) == 0)
      return;
    usleep(50 * 1000);
  }
  cr_assert_fail("the outbox did not drain");
}

/* prompts_of: the recognition prompts in |user|'s inbox, newest first, once
 * the outbox has drained (one call: the gateway limits each member's rate). */
static Accolade__V1__ListInboxResponse *prompts_of(arena *a, const char *user) {
  drained();
  Accolade__V1__ListInboxRequest req = ACCOLADE__V1__LIST_INBOX_REQUEST__INIT;
  req.page_size = 100;
  Accolade__V1__ListInboxResponse *l = NULL;
  rpc_status st;
  cr_assert_eq(via(org, user, "member", "/accolade.v1.NotifyService/ListInbox", &req,
                   &accolade__v1__list_inbox_response__descriptor, a, (void **)&l, &st), RPC_OK, "%s", st.message);
  size_t k = 0;
  for (size_t i = 0; i < l->n_notifications; i++)
    if (!strcmp(l->notifications[i]->kind, "recognition_prompt")) l->notifications[k++] = l->notifications[i];
  l->n_notifications = k;
  return l;
}

Test(prompts, a_won_deal_with_two_collaborators_prompts_its_owner_once) {
  arena a;
  arena_init(&a);
  directory(&a);
  Accolade__V1__Signal *s[3];
  char *collab[] = {"jun", "omar"};
  s[0] = deal(&a, "006B1", "lena", Q3 + DAY, 5200000, "Initech");
  s[0]->collaborators = collab;
  s[0]->n_collaborators = 2;
  s[1] = deal(&a, "006B2", "lena", Q3 + 2 * DAY, 900000, "Globex");   /* no collaborators: no prompt */
  ingest(&a, org, "integration", s, 2);
  Accolade__V1__ListInboxResponse *l = prompts_of(&a, "lena");
  cr_assert_eq(l->n_notifications, 1);
  const char *title = l->notifications[0]->title;
  cr_expect(strstr(title, "Initech") && strstr(title, "jun and omar") && strstr(title, "Deal Closer"), "%s", title);
  /* The batch again, and the same opportunity under another record id: still one. */
  s[2] = deal(&a, "006B1-resent", "lena", Q3 + DAY, 5200000, "Initech");
  s[2]->opportunity_id = s[0]->opportunity_id;
  s[2]->collaborators = collab;
  s[2]->n_collaborators = 2;
  ingest(&a, org, "integration", s, 3);
  cr_expect_eq(count("SELECT count(*) FROM award.outbox WHERE org = '%s' AND method LIKE '%%PublishEvent'", org), 2,
               "svc-award sent the resent opportunity's prompt again; svc-notify takes it once");
  cr_expect_eq(prompts_of(&a, "lena")->n_notifications, 1, "once per deal");
  cr_expect_eq(prompts_of(&a, "jun")->n_notifications, 0, "collaborators are not prompted");

  /* A new hire's first won deal prompts their manager, once. */
  Accolade__V1__Signal *h[3];
  h[0] = simple(&a, "hire-jun", "jun", ACCOLADE__V1__SIGNAL_KIND__MEMBER_HIRED, Q2 + 60 * DAY);
  h[0]->source = "workday";
  h[0]->start_date = "2025-06-01";
  h[1] = deal(&a, "jun-first", "jun", Q3 + 9 * DAY, 1800000, "Hooli");
  h[2] = deal(&a, "jun-second", "jun", Q3 + 30 * DAY, 2500000, "Acme");
  ingest(&a, org, "integration", h, 3);
  l = prompts_of(&a, "max");
  cr_assert_eq(l->n_notifications, 1);
  cr_expect(strstr(l->notifications[0]->title, "jun won their first deal since starting on 2025-06-01: Hooli"), "%s",
            l->notifications[0]->title);
  Accolade__V1__Signal *later = deal(&a, "jun-third", "jun", Q3 + 40 * DAY, 2500000, "Acme");
  ingest(&a, org, "integration", &later, 1);
  cr_expect_eq(prompts_of(&a, "max")->n_notifications, 1, "the first deal only");
  cr_expect_eq(prompts_of(&a, "lena")->n_notifications, 1, "lena is no new hire");

  /* Preferences apply: a member who muted prompts gets none. */
  Accolade__V1__Preferences pr = ACCOLADE__V1__PREFERENCES__INIT;
  char *muted[] = {"recognition_prompt"};
  pr.muted_kinds = muted;
  pr.n_muted_kinds = 1;
  Accolade__V1__UpdatePreferencesRequest up = ACCOLADE__V1__UPDATE_PREFERENCES_REQUEST__INIT;
  up.preferences = &pr;
  void *out;
  rpc_status st;
  cr_assert_eq(via(org, "zoe", "member", "/accolade.v1.NotifyService/UpdatePreferences", &up,
                   &accolade__v1__preferences__descriptor, &a, &out, &st), RPC_OK, "%s", st.message);
  Accolade__V1__Signal *z = deal(&a, "zoe-1", "zoe", Q3 + DAY, 5200000, "Initech");
  z->collaborators = collab;
  z->n_collaborators = 2;
  ingest(&a, org, "integration", &z, 1);
  drained();
  cr_assert_eq(count("SELECT count(*) FROM notify.event_seen WHERE org = '%s' AND event_id = "
                     "'prompt:deal:salesforce:zoe:opp-zoe-1'", org), 1, "svc-notify took zoe's prompt");
  cr_expect_eq(prompts_of(&a, "zoe")->n_notifications, 0);
  arena_free(&a);
}

