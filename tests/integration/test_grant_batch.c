/* GrantAwards, the batch form of GrantAward, on a real svc-award and
 * Postgres, and svc-nomination's outbox sending approvals in it: a batch
 * lands each grant once, a replayed batch doubles nothing, a bad grant fails
 * alone with a status naming its field while the others land (whether its
 * checks refuse it or its statements fail inside the batch's transaction),
 * and the outbox's reply hook still runs for each approval of a batch. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "accolade/v1/award.pb-c.h"
#include "accolade/v1/nomination.pb-c.h"
#include "harness.h"

#define AW "/accolade.v1.AwardService/"
#define NOM "/accolade.v1.NominationService/"
#define JUST "Ran the Q3 pricing workshop and wrote the objection-handling playbook the team now uses."

static th_proc award, nom;
static char award_dsn[600];
static char org[64];
static identity admin, service, member, manager;
static arena mem;   /* a test's requests and replies */

static void ids(const char *prefix) {
  snprintf(org, sizeof org, "%s-%d", prefix, getpid());
  th_as(&admin, org, "ada", "admin", "ops");
  th_as(&service, org, "svc:nomination", "service", "");
  th_as(&member, org, "mia", "member", "east");
  th_as(&manager, org, "mgr", "manager", "east");
  arena_init(&mem);
}

static void setup(void) {
  th_init();
  snprintf(award_dsn, sizeof award_dsn, "%s", th_new_database("grants"));
  static char pg[700];
  snprintf(pg, sizeof pg, "ACCOLADE_AWARD_PG=%s", award_dsn);
  /* Nobody listens for svc-award's outbox: its rows stay for inspection. */
  const char *env[] = {pg, "ACCOLADE_LEADERBOARD_ADDR=127.0.0.1:1", "ACCOLADE_NOTIFY_ADDR=127.0.0.1:1", NULL};
  cr_assert_eq(th_start(&award, th_bin("svc-award"), env), 0, "svc-award did not start");
  ids("gb");
}

static void teardown(void) {
  arena_free(&mem);
  cr_assert_eq(th_stop(&award), 0);
  th_fini();
}

TestSuite(grants, .init = setup, .fini = teardown, .timeout = 120);

/* grant_req: a grant of |badge| under |source| to the comma-separated |who|. */
static Accolade__V1__GrantAwardRequest *grant_req(const char *source, const char *badge, const char *who) {
  Accolade__V1__GrantAwardRequest *g = ARENA_NEW(&mem, Accolade__V1__GrantAwardRequest);
  accolade__v1__grant_award_request__init(g);
  g->source_id = arena_strdup(&mem, source);
  g->badge_id = arena_strdup(&mem, badge);
  g->giver_id = "gus";
  g->giver_team = "west";
  g->justification = JUST;
  g->public_ = 1;
  g->recipients = ARENA_ARRAY(&mem, Accolade__V1__Recipient *, 20);
  char *list = arena_strdup(&mem, who), *save = NULL;
  for (char *m = strtok_r(list, ",", &save); m; m = strtok_r(NULL, ",", &save)) {
    Accolade__V1__Recipient *r = g->recipients[g->n_recipients++] = ARENA_NEW(&mem, Accolade__V1__Recipient);
    accolade__v1__recipient__init(r);
    r->member_id = m;
    r->team = "east";
  }
  return g;
}

/* grant_awards makes one GrantAwards call and renders its results as
 * "code/applied/outcomes,..." (outcomes: G granted, A already granted, C cap
 * reached, one letter per recipient), or the call's status; the reply in
 * |*out| (may be NULL). */
static const char *grant_awards(const identity *as, Accolade__V1__GrantAwardRequest **g, size_t n,
                                Accolade__V1__GrantAwardsResponse **out) {
  Accolade__V1__GrantAwardsRequest r = ACCOLADE__V1__GRANT_AWARDS_REQUEST__INIT;
  r.grants = g;
  r.n_grants = n;
  Accolade__V1__GrantAwardsResponse *o = NULL;
  rpc_status st;
  int rc = th_call(award.addr, AW "GrantAwards", &r, &accolade__v1__grant_awards_response__descriptor, as, &mem,
                   (void **)&o, &st);
  if (out) *out = o;
  if (rc != RPC_OK) return rpc_code_name(rc);
  char *buf = arena_alloc(&mem, 64 * o->n_results + 1);
  size_t k = 0;
  for (size_t i = 0; i < o->n_results; i++) {
    const Accolade__V1__GrantAwardResult *x = o->results[i];
    k += (size_t)sprintf(buf + k, "%s%d/%d/", i ? "," : "", x->code, x->applied);
    for (size_t j = 0; x->response && j < x->response->n_outcomes; j++)
      buf[k++] = "?GAC"[x->response->outcomes[j]->result];
    buf[k] = 0;
  }
  return buf;
}

/* award_of: the id of result |i|'s award for its recipient |j|. */
static const char *award_of(const Accolade__V1__GrantAwardsResponse *o, size_t i, size_t j) {
  cr_assert(o->results[i]->response && o->results[i]->response->n_outcomes > j);
  cr_assert_not_null(o->results[i]->response->outcomes[j]->award);
  return o->results[i]->response->outcomes[j]->award->id;
}

/* count: how many of this test's org's rows of award's |table| match |where|. */
static long long count(const char *table, const char *where) {
  char q[512];
  snprintf(q, sizeof q, "SELECT count(*) FROM award.%s WHERE org = '%s' AND %s", table, org, where);
  return th_sql_int(award_dsn, q);
}

/* admin_call makes |method| of svc-award as the org's admin; the test fails
 * unless it is OK. */
static void admin_call(const char *method, const void *req, const ProtobufCMessageDescriptor *reply) {
  void *out;
  rpc_status st;
  cr_assert_eq(th_call(award.addr, method, req, reply, &admin, &mem, &out, &st), RPC_OK, "%s: %s", method, st.message);
}

/* make_badge: a badge |id| that a member may receive |cap| times a year (0: no cap). */
static void make_badge(const char *id, int cap) {
  Accolade__V1__Badge b = ACCOLADE__V1__BADGE__INIT;
  b.id = (char *)id;
  b.name = (char *)id;
  b.category = "sales";
  b.points = 10;
  b.approval_policy = ACCOLADE__V1__APPROVAL_POLICY__MANAGER_REVIEW;
  b.active = 1;
  b.cap_per_recipient = cap;
  b.cap_period = cap ? ACCOLADE__V1__CAP_PERIOD__CAP_YEAR : 0;
  Accolade__V1__CreateBadgeRequest cb = ACCOLADE__V1__CREATE_BADGE_REQUEST__INIT;
  cb.badge = &b;
  admin_call(AW "CreateBadge", &cb, &accolade__v1__badge__descriptor);
}

Test(grants, a_batch_lands_each_grant_once_and_a_replayed_batch_doubles_nothing) {
  Accolade__V1__GrantAwardRequest *g[] = {grant_req("g1", "deal-closer", "ann,bob"),
                                          grant_req("g2", "knowledge-sharer", "cy"),
                                          grant_req("g3", "knowledge-sharer", "ann")};
  Accolade__V1__GrantAwardsResponse *first, *again;
  cr_assert_str_eq(grant_awards(&service, g, 3, &first), "0/1/GG,0/1/G,0/1/G");
  cr_expect_eq(count("award", "true"), 4);
  cr_expect_eq(count("outbox", "true"), 8, "each award announced once to the leaderboard and to notify");
  cr_assert_str_eq(grant_awards(&service, g, 3, &again), "0/0/AA,0/0/A,0/0/A", "a replayed batch granted again");
  for (size_t i = 0; i < 3; i++)
    for (size_t j = 0; j < g[i]->n_recipients; j++)
      cr_expect_str_eq(award_of(again, i, j), award_of(first, i, j), "grant %zu: the replay names the same award", i);
  cr_expect_eq(count("award", "true"), 4);
  cr_expect_eq(count("outbox", "true"), 8);
  /* GrantAward and GrantAwards share the idempotency key. */
  Accolade__V1__GrantAwardResponse *one;
  rpc_status st;
  cr_assert_eq(th_call(award.addr, AW "GrantAward", g[1], &accolade__v1__grant_award_response__descriptor, &service,
                       &mem, (void **)&one, &st), RPC_OK, "%s", st.message);
  cr_expect_eq(one->outcomes[0]->result, ACCOLADE__V1__GRANT_OUTCOME__RESULT__ALREADY_GRANTED);
  cr_expect_str_eq(one->outcomes[0]->award->id, award_of(first, 1, 0));
  /* The same grant twice in one batch lands once. */
  Accolade__V1__GrantAwardRequest *twice[] = {grant_req("g4", "deal-closer", "dee"), grant_req("g4", "deal-closer", "dee")};
  Accolade__V1__GrantAwardsResponse *t;
  cr_assert_str_eq(grant_awards(&service, twice, 2, &t), "0/1/G,0/0/A");
  cr_expect_str_eq(award_of(t, 0, 0), award_of(t, 1, 0));
  cr_expect_eq(count("award", "recipient_id = 'dee'"), 1);
  cr_expect_eq(count("outbox", "true"), 10);
  /* One badge twice to one member in one batch (one INSERT): the member's
   * totals count both, as the awards themselves do. */
  Accolade__V1__GrantAwardRequest *pair[] = {grant_req("g5", "deal-closer", "ann,cy"),
                                             grant_req("g6", "deal-closer", "ann")};
  cr_assert_str_eq(grant_awards(&service, pair, 2, &t), "0/1/GG,0/1/G");
  cr_expect_eq(count("member_badge_total t",
                     "member_id = 'ann' AND badge_id = 'deal-closer' AND awards = 3 AND (awards, points) = "
                     "(SELECT count(*), sum(points) FROM award.award a WHERE a.org = t.org AND a.recipient_id = 'ann' "
                     "AND a.badge_id = 'deal-closer' AND a.revoked_at IS NULL)"),
               1, "ann's deal-closer totals");
  cr_expect_eq(count("member_badge_total", "member_id = 'cy' AND badge_id = 'deal-closer' AND awards = 1"), 1);
}

Test(grants, a_bad_grant_fails_alone_with_a_status_naming_its_field) {
  make_badge("old-badge", 0);
  Accolade__V1__RetireBadgeRequest rb = ACCOLADE__V1__RETIRE_BADGE_REQUEST__INIT;
  rb.badge_id = "old-badge";
  admin_call(AW "RetireBadge", &rb, &accolade__v1__badge__descriptor);
  Accolade__V1__GrantAwardRequest *g[] = {
      grant_req("b1", "deal-closer", "ann"),   grant_req("", "deal-closer", "bob"),
      grant_req("b3", "no-such-badge", "bob"), grant_req("b4", "deal-closer", "bad id!"),
      grant_req("b5", "old-badge", "bob"),     grant_req("rule:b6", "deal-closer", "bob"),
      grant_req("b7", "deal-closer", "bob"),
  };
  Accolade__V1__GrantAwardsResponse *o;
  cr_assert_str_eq(grant_awards(&service, g, 7, &o), "0/1/G,3/0/,5/0/,3/0/,9/0/,3/0/,0/1/G");
  const char *why[] = {NULL, "source_id: ", "badge_id: no badge 'no-such-badge'", "recipients[0].member_id: ",
                       "badge_id: 'old-badge' is retired", "source_id: the prefix 'rule:' is reserved", NULL};
  for (size_t i = 0; i < 7; i++) {
    if (!why[i]) continue;
    cr_expect(strncmp(o->results[i]->message, why[i], strlen(why[i])) == 0, "grant %zu: '%s', want '%s...'", i,
              o->results[i]->message, why[i]);
    cr_expect_null(o->results[i]->response, "grant %zu: a failed grant has no reply", i);
  }
  cr_expect_eq(count("award", "true"), 2, "the good grants landed");
  /* A grant whose statements fail inside the batch's transaction (a trigger
   * refuses one recipient): the batch rolls back, each grant runs again
   * alone, and the others land once. */
  free(th_sql(award_dsn, "CREATE FUNCTION award.refuse_boom() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
                         "IF NEW.recipient_id = 'boom' THEN RAISE EXCEPTION 'refused by the test'; END IF; "
                         "RETURN NEW; END $$"));
  free(th_sql(award_dsn, "CREATE TRIGGER refuse_boom BEFORE INSERT ON award.award FOR EACH ROW "
                         "EXECUTE FUNCTION award.refuse_boom()"));
  Accolade__V1__GrantAwardRequest *h[] = {grant_req("h1", "deal-closer", "dee"), grant_req("h2", "deal-closer", "boom"),
                                          grant_req("h3", "knowledge-sharer", "eve")};
  cr_expect_str_eq(grant_awards(&service, h, 3, &o), "0/1/G,13/0/,0/1/G");
  cr_expect_str_eq(grant_awards(&service, h, 3, &o), "0/0/A,13/0/,0/0/A");
  cr_expect_eq(count("award", "recipient_id IN ('dee', 'eve')"), 2);
  cr_expect_eq(count("award", "recipient_id = 'boom'"), 0);
  cr_expect_eq(count("outbox", "true"), 8, "four awards, each announced once");
}

Test(grants, a_batch_is_for_grant_awards_callers_and_holds_1_to_100_grants) {
  Accolade__V1__GrantAwardRequest *g[101];
  for (int i = 0; i < 101; i++) {
    char source[16];
    snprintf(source, sizeof source, "p%d", i);
    g[i] = grant_req(source, "deal-closer", "ann");
  }
  cr_expect_str_eq(grant_awards(&member, g, 1, NULL), "PERMISSION_DENIED");
  cr_expect_str_eq(grant_awards(&manager, g, 1, NULL), "PERMISSION_DENIED");
  cr_expect_str_eq(grant_awards(NULL, g, 1, NULL), "UNAUTHENTICATED");
  cr_expect_str_eq(grant_awards(&service, g, 0, NULL), "INVALID_ARGUMENT");
  cr_expect_str_eq(grant_awards(&service, g, 101, NULL), "INVALID_ARGUMENT");
  cr_expect_eq(count("award", "true"), 0);
  cr_expect_str_eq(grant_awards(&admin, g, 2, NULL), "0/1/G,0/1/G", "admins grant as with GrantAward");
  const char *r = grant_awards(&service, g, 100, NULL);
  cr_expect(strncmp(r, "0/0/A,0/0/A,0/1/G,", 18) == 0, "%.40s", r);
  cr_expect_eq(count("award", "true"), 100);
}

Test(grants, caps_and_milestone_rules_count_the_other_grants_of_the_batch) {
  make_badge("rare-gem", 1);
  make_badge("mentor", 0);
  Accolade__V1__Rule x = ACCOLADE__V1__RULE__INIT;
  x.name = "Mentor";
  x.kind = ACCOLADE__V1__RULE_KIND__BADGE_COUNT;
  x.badge_id = "knowledge-sharer";
  x.threshold = 2;
  x.grant_badge_id = "mentor";
  Accolade__V1__CreateRuleRequest cr = ACCOLADE__V1__CREATE_RULE_REQUEST__INIT;
  cr.rule = &x;
  admin_call(AW "CreateRule", &cr, &accolade__v1__rule__descriptor);
  Accolade__V1__GrantAwardRequest *g[] = {grant_req("c1", "rare-gem", "tom"), grant_req("c2", "rare-gem", "tom"),
                                          grant_req("m1", "knowledge-sharer", "kim"),
                                          grant_req("m2", "knowledge-sharer", "kim")};
  Accolade__V1__GrantAwardsResponse *o;
  cr_assert_str_eq(grant_awards(&service, g, 4, &o), "0/1/G,0/0/C,0/1/G,0/1/G");
  /* The batch's two Knowledge Sharer awards earn Mentor, once; the rules
   * see every award of the batch, so either grant may carry it. */
  Accolade__V1__GrantAwardResponse *m1 = o->results[2]->response, *m2 = o->results[3]->response;
  cr_assert_eq(m1->n_milestones + m2->n_milestones, 1, "Mentor once");
  cr_expect_str_eq((m1->n_milestones ? m1 : m2)->milestones[0]->badge_id, "mentor");
  cr_assert_str_eq(grant_awards(&service, g, 4, &o), "0/0/A,0/0/C,0/0/A,0/0/A");
  cr_expect_eq(o->results[3]->response->n_milestones, 0, "a milestone is never granted twice");
  cr_expect_eq(count("award", "recipient_id = 'kim'"), 3);
  cr_expect_eq(count("award", "recipient_id = 'tom'"), 1);
}

/* ------------------------------------------- svc-nomination's outbox */

static int award_port, award_metrics, nom_port;
static const char *award_env[8], *nom_env[8];
static char nom_dsn[600];

static void start_award(void) {
  cr_assert_eq(th_start_on(&award, award_port, th_bin("svc-award"), award_env), 0, "svc-award did not start");
}
static void start_nom(void) {
  cr_assert_eq(th_start_on(&nom, nom_port, th_bin("svc-nomination"), nom_env), 0, "svc-nomination did not start");
}

static void flow_setup(void) {
  th_init();
  static char apg[700], npg[700], aaddr[64], metrics[64];
  snprintf(award_dsn, sizeof award_dsn, "%s", th_new_database("grantflowaward"));
  snprintf(apg, sizeof apg, "ACCOLADE_AWARD_PG=%s", award_dsn);
  snprintf(nom_dsn, sizeof nom_dsn, "%s", th_new_database("grantflownom"));
  snprintf(npg, sizeof npg, "ACCOLADE_NOMINATION_PG=%s", nom_dsn);
  award_port = th_free_port();
  nom_port = th_free_port();
  award_metrics = th_free_port();
  snprintf(aaddr, sizeof aaddr, "ACCOLADE_AWARD_ADDR=127.0.0.1:%d", award_port);
  snprintf(metrics, sizeof metrics, "ACCOLADE_AWARD_METRICS_PORT=%d", award_metrics);
  const char *aenv[] = {apg, metrics, "ACCOLADE_LEADERBOARD_ADDR=127.0.0.1:1", "ACCOLADE_NOTIFY_ADDR=127.0.0.1:1", NULL};
  /* One dispatcher: the rows due at once are one round, so one batch. */
  const char *nenv[] = {npg, aaddr, "ACCOLADE_NOTIFY_ADDR=127.0.0.1:1", "ACCOLADE_OUTBOX_THREADS=1", NULL};
  memcpy(award_env, aenv, sizeof aenv);
  memcpy(nom_env, nenv, sizeof nenv);
  start_award();
  start_nom();
  ids("gf");
}

static void flow_teardown(void) {
  arena_free(&mem);
  cr_expect_eq(th_stop(&nom), 0);
  cr_expect_eq(th_stop(&award), 0);
  th_fini();
}

TestSuite(grant_flow, .init = flow_setup, .fini = flow_teardown, .timeout = 120);

static Accolade__V1__Nomination *nominate(const identity *as, const char *req_id, const char *badge,
                                          const char *nominee) {
  Accolade__V1__CreateNominationRequest r = ACCOLADE__V1__CREATE_NOMINATION_REQUEST__INIT;
  char *who[] = {(char *)nominee};
  r.badge_id = (char *)badge;
  r.nominee_ids = who;
  r.n_nominee_ids = 1;
  r.justification = JUST;
  r.request_id = (char *)req_id;
  Accolade__V1__Nomination *n;
  rpc_status st;
  cr_assert_eq(th_call(nom.addr, NOM "CreateNomination", &r, &accolade__v1__nomination__descriptor, as, &mem,
                       (void **)&n, &st), RPC_OK, "%s", st.message);
  return n;
}

static void approve(const Accolade__V1__Nomination *n) {
  Accolade__V1__ReviewNominationRequest r = ACCOLADE__V1__REVIEW_NOMINATION_REQUEST__INIT;
  r.nomination_id = n->id;
  r.approve = 1;
  r.comment = "Well deserved";
  r.request_id = arena_printf(&mem, "review-%s", n->id);
  void *out;
  rpc_status st;
  cr_assert_eq(th_call(nom.addr, NOM "ReviewNomination", &r, &accolade__v1__nomination__descriptor, &manager, &mem,
                       &out, &st), RPC_OK, "%s", st.message);
}

/* not_awarded: the nomination's not_awarded_ids, comma-separated. */
static const char *not_awarded(const Accolade__V1__Nomination *n) {
  Accolade__V1__GetNominationRequest g = ACCOLADE__V1__GET_NOMINATION_REQUEST__INIT;
  g.nomination_id = n->id;
  Accolade__V1__Nomination *seen;
  rpc_status st;
  cr_assert_eq(th_call(nom.addr, NOM "GetNomination", &g, &accolade__v1__nomination__descriptor, &manager, &mem,
                       (void **)&seen, &st), RPC_OK, "%s", st.message);
  char *out = arena_alloc(&mem, 256);
  size_t k = 0;
  out[0] = 0;
  for (size_t i = 0; i < seen->n_not_awarded_ids; i++)
    k += (size_t)snprintf(out + k, 256 - k, "%s%s", i ? "," : "", seen->not_awarded_ids[i]);
  return out;
}

/* grants_delivered waits (up to 10 s) until svc-nomination's outbox has
 * delivered |n| GrantAward rows; their count. */
static long long grants_delivered(long long n) {
  long long got = -1;
  for (int i = 0; i < 100 && got != n; i++) {
    if (i) usleep(100 * 1000);
    got = th_sql_int(nom_dsn, "SELECT count(*) FROM nomination.outbox WHERE method LIKE '%/GrantAward' "
                              "AND delivered_at IS NOT NULL");
  }
  return got;
}

static long long calls_of(const char *method) {
  char label[128];
  snprintf(label, sizeof label, "method=\"" AW "%s\"", method);
  return th_metric_sum(award_metrics, "accolade_rpc_requests_total", label);
}

Test(grant_flow, approvals_due_together_go_as_one_batch_and_each_reply_reaches_its_nomination) {
  Accolade__V1__Member m[5], *mp[5];
  const char *who[] = {"mgr", "ann", "bob", "cy", "dan"};
  for (int i = 0; i < 5; i++) {
    accolade__v1__member__init(&m[i]);
    m[i].member_id = (char *)who[i];
    m[i].display_name = (char *)who[i];
    m[i].team = "east";
    m[i].manager_id = i ? "mgr" : "";
    mp[i] = &m[i];
  }
  Accolade__V1__UpsertMembersRequest ur = ACCOLADE__V1__UPSERT_MEMBERS_REQUEST__INIT;
  ur.members = mp;
  ur.n_members = 5;
  ur.request_id = "members-1";
  void *out;
  rpc_status st;
  cr_assert_eq(th_call(nom.addr, NOM "UpsertMembers", &ur, &accolade__v1__upsert_members_response__descriptor, &admin,
                       &mem, &out, &st), RPC_OK, "%s", st.message);
  make_badge("once-a-year", 1);
  identity cy, dan, ann;
  th_as(&cy, org, "cy", "member", "east");
  th_as(&dan, org, "dan", "member", "east");
  th_as(&ann, org, "ann", "member", "east");
  /* Two nominations of ann for a badge she may hold once: one of them is
   * capped, and only its nomination may say so. */
  Accolade__V1__Nomination *n[] = {nominate(&cy, "n1", "once-a-year", "ann"), nominate(&dan, "n2", "once-a-year", "ann"),
                                   nominate(&ann, "n3", "knowledge-sharer", "bob"),
                                   nominate(&cy, "n4", "once-a-year", "bob")};
  /* Approved while svc-award is away; then, svc-nomination stopped, every
   * grant is made due at once and its other rows put off. */
  cr_assert_eq(th_stop(&award), 0);
  for (int i = 0; i < 4; i++) approve(n[i]);
  cr_assert_eq(th_stop(&nom), 0);
  cr_assert_eq(th_sql_int(nom_dsn, "WITH u AS (UPDATE nomination.outbox SET next_attempt_at = CASE WHEN method "
                                   "LIKE '%/GrantAward' THEN now() ELSE now() + interval '1 hour' END "
                                   "WHERE delivered_at IS NULL AND dead_at IS NULL RETURNING method) "
                                   "SELECT count(*) FILTER (WHERE method LIKE '%/GrantAward') FROM u"),
               4);
  start_award();
  start_nom();
  cr_assert_eq(grants_delivered(4), 4, "the approvals became grants");
  cr_expect_eq(calls_of("GrantAwards"), 1, "the four grants went as one batch");
  cr_expect_eq(calls_of("GrantAward"), 0, "no grant went alone");
  /* The reply hook ran for each approval with its own reply. */
  const char *capped[] = {not_awarded(n[0]), not_awarded(n[1])};
  cr_expect(!strcmp(capped[0], "ann") != !strcmp(capped[1], "ann"), "exactly one of ann's two is capped: '%s', '%s'",
            capped[0], capped[1]);
  cr_expect(!*capped[0] || !*capped[1], "'%s', '%s'", capped[0], capped[1]);
  cr_expect_str_eq(not_awarded(n[2]), "");
  cr_expect_str_eq(not_awarded(n[3]), "");
  char q[300];
  snprintf(q, sizeof q, "SELECT source_id FROM award.award WHERE org = '%s' AND recipient_id = 'ann'", org);
  char *src = th_sql(award_dsn, q);
  cr_expect_str_eq(src ? src : "", *capped[0] ? n[1]->id : n[0]->id, "ann's award is from the uncapped nomination");
  free(src);
  cr_expect_eq(count("award", "recipient_id = 'bob'"), 2);
  cr_expect_eq(count("award", "true"), 3);
  /* The outbox sends the batch again (its delivery lost, say): nothing
   * doubles, and the hook's notes stay as they were. */
  cr_assert_eq(th_sql_int(nom_dsn, "WITH u AS (UPDATE nomination.outbox SET delivered_at = NULL, next_attempt_at = "
                                   "now() WHERE method LIKE '%/GrantAward' RETURNING 1) SELECT count(*) FROM u"),
               4);
  cr_assert_eq(grants_delivered(4), 4);
  cr_expect_eq(calls_of("GrantAwards"), 2);
  cr_expect_eq(calls_of("GrantAward"), 0);
  cr_expect_eq(count("award", "true"), 3, "a replayed batch doubled an award");
  cr_expect_str_eq(not_awarded(n[0]), capped[0]);
  cr_expect_str_eq(not_awarded(n[1]), capped[1]);
}
