/* svc-award over real gRPC against a real Postgres. */
#include <criterion/criterion.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "accolade/v1/award.pb-c.h"
#include "harness.h"

#define SVC "/accolade.v1.AwardService/"

static th_proc award;
static const char *dsn;
static char org[64];
static identity admin, member, service, manager;

static void setup(void) {
  th_init();
  dsn = th_new_database("award");
  static char pg[600];
  snprintf(pg, sizeof pg, "ACCOLADE_AWARD_PG=%s", dsn);
  /* Nobody listens for the outbox: rows stay in award.outbox for inspection. */
  const char *env[] = {pg, "ACCOLADE_LEADERBOARD_ADDR=127.0.0.1:1", "ACCOLADE_NOTIFY_ADDR=127.0.0.1:1", NULL};
  cr_assert_eq(th_start(&award, th_bin("svc-award"), env), 0, "svc-award did not start");
  snprintf(org, sizeof org, "org-%d", getpid());
  th_as(&admin, org, "ada", "admin", "ops");
  th_as(&member, org, "mia", "member", "east");
  th_as(&manager, org, "max", "manager", "east");
  th_as(&service, org, "svc:nomination", "service", "");
}

static void teardown(void) {
  cr_assert_eq(th_stop(&award), 0);
  th_fini();
}

TestSuite(award, .init = setup, .fini = teardown, .timeout = 120);

static int call(const char *m, const void *req, const ProtobufCMessageDescriptor *d, const identity *as,
                arena *a, void **out, rpc_status *st) {
  char path[128];
  snprintf(path, sizeof path, SVC "%s", m);
  return th_call(award.addr, path, req, d, as, a, out, st);
}

/* count runs a count query; "%s" in it is replaced by this test's org and
 * "%%" by "%". */
static long long count(const char *sql_fmt) {
  char sql[512];
  size_t k = 0;
  for (const char *p = sql_fmt; *p && k + 80 < sizeof sql; p++) {
    if (p[0] == '%' && p[1] == 's') {
      k += (size_t)snprintf(sql + k, sizeof sql - k, "%s", org);
      p++;
    } else if (p[0] == '%' && p[1] == '%') {
      sql[k++] = '%';
      p++;
    } else {
      sql[k++] = *p;
    }
  }
  sql[k] = '\0';
  return th_sql_int(dsn, sql);
}

static Accolade__V1__GrantAwardResponse *grant(arena *a, const identity *as, const char *source,
                                               const char *badge, const char **users, int n, int *rc,
                                               rpc_status *st) {
  Accolade__V1__GrantAwardRequest req = ACCOLADE__V1__GRANT_AWARD_REQUEST__INIT;
  req.source_id = (char *)source;
  req.badge_id = (char *)badge;
  req.giver_id = "gus";
  req.giver_team = "west";
  req.justification = "Closed the Northwind renewal two weeks early by pairing with support.";
  req.public_ = 1;
  Accolade__V1__Recipient *rs[20], rv[20];
  for (int i = 0; i < n; i++) {
    accolade__v1__recipient__init(&rv[i]);
    rv[i].member_id = (char *)users[i];
    rv[i].team = "east";
    rs[i] = &rv[i];
  }
  req.n_recipients = (size_t)n;
  req.recipients = rs;
  Accolade__V1__GrantAwardResponse *out = NULL;
  *rc = call("GrantAward", &req, &accolade__v1__grant_award_response__descriptor, as, a, (void **)&out, st);
  return out;
}

Test(award, new_org_has_the_five_default_badges) {
  arena a;
  arena_init(&a);
  Accolade__V1__ListBadgesRequest req = ACCOLADE__V1__LIST_BADGES_REQUEST__INIT;
  Accolade__V1__ListBadgesResponse *out;
  rpc_status st;
  cr_assert_eq(call("ListBadges", &req, &accolade__v1__list_badges_response__descriptor, &member, &a,
                    (void **)&out, &st), RPC_OK, "%s", st.message);
  cr_assert_eq(out->n_badges, 5);
  const char *want[] = {"collaboration-leader", "customer-champion", "deal-closer", "innovation-driver",
                        "knowledge-sharer"};
  for (int i = 0; i < 5; i++) cr_assert_str_eq(out->badges[i]->id, want[i]);
  arena_free(&a);
}

typedef struct {
  const identity *as;
  int rc;
  char ids[3][40];
} conc;

static void *conc_grant(void *p) {
  conc *c = p;
  arena a;
  arena_init(&a);
  const char *users[] = {"rita", "raj", "rosa"};
  rpc_status st;
  Accolade__V1__GrantAwardResponse *out = grant(&a, c->as, "nom-concurrent", "deal-closer", users, 3, &c->rc, &st);
  if (c->rc == RPC_OK)
    for (int i = 0; i < 3; i++) snprintf(c->ids[i], 40, "%s", out->outcomes[i]->award->id);
  arena_free(&a);
  return NULL;
}

Test(award, ten_concurrent_identical_grants_make_one_award_per_recipient) {
  enum { N = 10 };
  pthread_t t[N];
  conc c[N];
  for (int i = 0; i < N; i++) {
    c[i] = (conc){.as = &service};
    pthread_create(&t[i], NULL, conc_grant, &c[i]);
  }
  for (int i = 0; i < N; i++) pthread_join(t[i], NULL);
  for (int i = 0; i < N; i++) {
    cr_assert_eq(c[i].rc, RPC_OK, "call %d: %d", i, c[i].rc);
    for (int k = 0; k < 3; k++) cr_assert_str_eq(c[i].ids[k], c[0].ids[k], "every retry sees the same award");
  }
  cr_assert_eq(count("SELECT count(*) FROM award.award WHERE org = '%s'"), 3);
  /* Two events per award (leaderboard, notify), written once. */
  cr_assert_eq(count("SELECT count(*) FROM award.outbox WHERE org = '%s'"), 6);
}

Test(award, retry_reports_already_granted) {
  arena a;
  arena_init(&a);
  const char *users[] = {"ann"};
  int rc;
  rpc_status st;
  Accolade__V1__GrantAwardResponse *o1 = grant(&a, &service, "nom-1", "knowledge-sharer", users, 1, &rc, &st);
  cr_assert_eq(rc, RPC_OK, "%s", st.message);
  cr_assert_eq(o1->outcomes[0]->result, ACCOLADE__V1__GRANT_OUTCOME__RESULT__GRANTED);
  cr_assert_eq(o1->outcomes[0]->award->points, 20);
  Accolade__V1__GrantAwardResponse *o2 = grant(&a, &admin, "nom-1", "knowledge-sharer", users, 1, &rc, &st);
  cr_assert_eq(rc, RPC_OK);
  cr_assert_eq(o2->outcomes[0]->result, ACCOLADE__V1__GRANT_OUTCOME__RESULT__ALREADY_GRANTED);
  cr_assert_str_eq(o2->outcomes[0]->award->id, o1->outcomes[0]->award->id);
  /* Members may not grant. */
  grant(&a, &member, "nom-2", "knowledge-sharer", users, 1, &rc, &st);
  cr_assert_eq(rc, RPC_PERMISSION_DENIED);
  arena_free(&a);
}

static void create_badge(arena *a, const char *id, int64_t points, int cap_recipient, int cap_team) {
  Accolade__V1__Badge b = ACCOLADE__V1__BADGE__INIT;
  b.id = (char *)id;
  b.name = (char *)id;
  b.category = "custom";
  b.points = points;
  b.cap_per_recipient = cap_recipient;
  b.cap_per_team = cap_team;
  b.cap_period = cap_recipient || cap_team ? ACCOLADE__V1__CAP_PERIOD__CAP_MONTH : 0;
  Accolade__V1__CreateBadgeRequest req = ACCOLADE__V1__CREATE_BADGE_REQUEST__INIT;
  req.badge = &b;
  Accolade__V1__Badge *out;
  rpc_status st;
  cr_assert_eq(call("CreateBadge", &req, &accolade__v1__badge__descriptor, &admin, a, (void **)&out, &st),
               RPC_OK, "%s", st.message);
}

Test(award, scarcity_caps_per_recipient_and_per_team) {
  arena a;
  arena_init(&a);
  create_badge(&a, "rare-gem", 100, 1, 2);
  const char *u1[] = {"tom"}, *u2[] = {"tia"}, *u3[] = {"ted"};
  int rc;
  rpc_status st;
  Accolade__V1__GrantAwardResponse *o = grant(&a, &service, "n1", "rare-gem", u1, 1, &rc, &st);
  cr_assert_eq(o->outcomes[0]->result, ACCOLADE__V1__GRANT_OUTCOME__RESULT__GRANTED);
  o = grant(&a, &service, "n2", "rare-gem", u1, 1, &rc, &st);
  cr_assert_eq(o->outcomes[0]->result, ACCOLADE__V1__GRANT_OUTCOME__RESULT__CAP_REACHED, "per recipient");
  o = grant(&a, &service, "n3", "rare-gem", u2, 1, &rc, &st);
  cr_assert_eq(o->outcomes[0]->result, ACCOLADE__V1__GRANT_OUTCOME__RESULT__GRANTED);
  o = grant(&a, &service, "n4", "rare-gem", u3, 1, &rc, &st);
  cr_assert_eq(o->outcomes[0]->result, ACCOLADE__V1__GRANT_OUTCOME__RESULT__CAP_REACHED, "per team (east: 2)");
  cr_assert_eq(count("SELECT count(*) FROM award.award WHERE org = '%s' AND badge_id = 'rare-gem'"), 2);
  arena_free(&a);
}

static Accolade__V1__Rule *create_rule(arena *a, const char *name, Accolade__V1__RuleKind kind,
                                       const char *badge, const char *category, int64_t threshold,
                                       const char *grant_badge) {
  Accolade__V1__Rule x = ACCOLADE__V1__RULE__INIT;
  x.name = (char *)name;
  x.kind = kind;
  x.badge_id = (char *)badge;
  x.category = (char *)category;
  x.threshold = threshold;
  x.grant_badge_id = (char *)grant_badge;
  Accolade__V1__CreateRuleRequest req = ACCOLADE__V1__CREATE_RULE_REQUEST__INIT;
  req.rule = &x;
  Accolade__V1__Rule *out;
  rpc_status st;
  cr_assert_eq(call("CreateRule", &req, &accolade__v1__rule__descriptor, &admin, a, (void **)&out, &st),
               RPC_OK, "%s", st.message);
  return out;
}

Test(award, milestone_rules_chain_and_are_never_granted_twice) {
  arena a;
  arena_init(&a);
  create_badge(&a, "mentor", 100, 0, 0);
  create_badge(&a, "legend", 500, 0, 0);
  /* 2 Knowledge Sharer awards -> Mentor (100 points); 140 points in total -> Legend. */
  create_rule(&a, "Mentor", ACCOLADE__V1__RULE_KIND__BADGE_COUNT, "knowledge-sharer", "", 2, "mentor");
  create_rule(&a, "Legend", ACCOLADE__V1__RULE_KIND__POINTS_TOTAL, "", "", 140, "legend");
  const char *u[] = {"kim"};
  int rc;
  rpc_status st;
  Accolade__V1__GrantAwardResponse *o = grant(&a, &service, "k1", "knowledge-sharer", u, 1, &rc, &st);
  cr_assert_eq(rc, RPC_OK, "%s", st.message);
  cr_assert_eq(o->n_milestones, 0);
  o = grant(&a, &service, "k2", "knowledge-sharer", u, 1, &rc, &st);
  cr_assert_eq(o->n_milestones, 2, "Mentor, then Legend from Mentor's points");
  cr_assert_str_eq(o->milestones[0]->badge_id, "mentor");
  cr_assert_str_eq(o->milestones[1]->badge_id, "legend");
  cr_assert(o->milestones[0]->milestone);
  o = grant(&a, &service, "k3", "knowledge-sharer", u, 1, &rc, &st);
  cr_assert_eq(o->n_milestones, 0, "a milestone is never granted twice");
  cr_assert_eq(count("SELECT count(*) FROM award.award WHERE org = '%s' AND recipient_id = 'kim'"), 5);
  /* The profile shows progress and the milestones. */
  Accolade__V1__GetProfileRequest pr = ACCOLADE__V1__GET_PROFILE_REQUEST__INIT;
  pr.member_id = "kim";
  Accolade__V1__Profile *p;
  cr_assert_eq(call("GetProfile", &pr, &accolade__v1__profile__descriptor, &member, &a, (void **)&p, &st), RPC_OK);
  cr_assert_eq(p->total_awards, 5);
  cr_assert_eq(p->total_points, 3 * 20 + 100 + 500);
  cr_assert_eq(p->n_milestones, 2);
  cr_assert_eq(p->n_progress, 2);
  cr_assert_str_eq(p->progress[0]->text, "2 of 2 Knowledge Sharer");
  cr_assert(p->progress[0]->earned);
  arena_free(&a);
}

Test(award, revoke_marks_the_award_and_emits_events) {
  arena a;
  arena_init(&a);
  const char *u[] = {"rob"};
  int rc;
  rpc_status st;
  Accolade__V1__GrantAwardResponse *o = grant(&a, &service, "r1", "deal-closer", u, 1, &rc, &st);
  Accolade__V1__RevokeAwardRequest rr = ACCOLADE__V1__REVOKE_AWARD_REQUEST__INIT;
  rr.award_id = o->outcomes[0]->award->id;
  rr.reason = "Duplicate of an earlier award";
  Accolade__V1__Award *out;
  cr_assert_eq(call("RevokeAward", &rr, &accolade__v1__award__descriptor, &member, &a, (void **)&out, &st),
               RPC_PERMISSION_DENIED);
  cr_assert_eq(call("RevokeAward", &rr, &accolade__v1__award__descriptor, &admin, &a, (void **)&out, &st),
               RPC_OK, "%s", st.message);
  cr_assert(out->revoked);
  cr_assert_str_eq(out->revoke_reason, "Duplicate of an earlier award");
  cr_assert_eq(call("RevokeAward", &rr, &accolade__v1__award__descriptor, &admin, &a, (void **)&out, &st),
               RPC_FAILED_PRECONDITION);
  cr_assert_eq(count("SELECT count(*) FROM award.award WHERE org = '%s' AND revoked_at IS NOT NULL"), 1);
  cr_assert_eq(count("SELECT count(*) FROM award.outbox WHERE org = '%s' AND method LIKE '%%RetractAward'"), 1);
  /* Revoked awards are hidden unless asked for. */
  Accolade__V1__ListAwardsRequest lr = ACCOLADE__V1__LIST_AWARDS_REQUEST__INIT;
  lr.recipient_id = "rob";
  Accolade__V1__ListAwardsResponse *l;
  cr_assert_eq(call("ListAwards", &lr, &accolade__v1__list_awards_response__descriptor, &member, &a, (void **)&l, &st), RPC_OK);
  cr_assert_eq(l->n_awards, 0);
  lr.include_revoked = 1;
  cr_assert_eq(call("ListAwards", &lr, &accolade__v1__list_awards_response__descriptor, &member, &a, (void **)&l, &st), RPC_OK);
  cr_assert_eq(l->n_awards, 1);
  arena_free(&a);
}

/* totals_off: member/badge pairs whose kept totals differ from the awards
 * themselves (either way), for this org. */
static long long totals_off(void) {
  char sql[1024];
  snprintf(sql, sizeof sql,
           "SELECT count(*) FROM ((SELECT member_id, badge_id, awards, points FROM award.member_badge_total "
           "WHERE org = '%1$s' AND awards <> 0 EXCEPT SELECT recipient_id, badge_id, count(*), sum(points) "
           "FROM award.award WHERE org = '%1$s' AND revoked_at IS NULL GROUP BY 1, 2) UNION ALL "
           "(SELECT recipient_id, badge_id, count(*), sum(points) FROM award.award WHERE org = '%1$s' "
           "AND revoked_at IS NULL GROUP BY 1, 2 EXCEPT SELECT member_id, badge_id, awards, points "
           "FROM award.member_badge_total WHERE org = '%1$s')) x",
           org);
  return th_sql_int(dsn, sql);
}

Test(award, profile_totals_equal_the_awards_after_grants_and_revokes) {
  arena a;
  arena_init(&a);
  int rc;
  rpc_status st;
  const char *two[] = {"pia", "pat"}, *one[] = {"pia"};
  Accolade__V1__GrantAwardResponse *o = grant(&a, &service, "t1", "deal-closer", two, 2, &rc, &st);
  cr_assert_eq(rc, RPC_OK, "%s", st.message);
  const char *revoke_id = o->outcomes[0]->award->id;
  cr_assert_eq((grant(&a, &service, "t2", "deal-closer", one, 1, &rc, &st), rc), RPC_OK);
  cr_assert_eq((grant(&a, &service, "t3", "knowledge-sharer", one, 1, &rc, &st), rc), RPC_OK);
  cr_assert_eq((grant(&a, &service, "t3", "knowledge-sharer", one, 1, &rc, &st), rc), RPC_OK, "a replay adds nothing");
  cr_assert_eq(totals_off(), 0, "the totals after grants");
  Accolade__V1__RevokeAwardRequest rr = ACCOLADE__V1__REVOKE_AWARD_REQUEST__INIT;
  rr.award_id = (char *)revoke_id;
  rr.reason = "Granted twice by mistake";
  Accolade__V1__Award *out;
  cr_assert_eq(call("RevokeAward", &rr, &accolade__v1__award__descriptor, &admin, &a, (void **)&out, &st), RPC_OK);
  cr_assert_eq(call("RevokeAward", &rr, &accolade__v1__award__descriptor, &admin, &a, (void **)&out, &st),
               RPC_FAILED_PRECONDITION);
  cr_assert_eq(totals_off(), 0, "the totals after a revoke");
  /* The profile reads them: one Deal Closer and one Knowledge Sharer left. */
  Accolade__V1__GetProfileRequest pr = ACCOLADE__V1__GET_PROFILE_REQUEST__INIT;
  pr.member_id = "pia";
  Accolade__V1__Profile *p;
  cr_assert_eq(call("GetProfile", &pr, &accolade__v1__profile__descriptor, &member, &a, (void **)&p, &st), RPC_OK);
  long long points = count("SELECT sum(points) FROM award.award WHERE org = '%s' AND recipient_id = 'pia' "
                           "AND revoked_at IS NULL");
  cr_assert_eq(p->total_awards, 2);
  cr_assert_eq(p->total_points, points);
  cr_assert_eq(p->n_badges, 2);
  cr_assert_eq(p->badges[0]->count + p->badges[1]->count, 2);
  cr_assert_eq(p->n_recent_awards, 2, "revoked awards are not recent ones");
  cr_assert_eq(p->n_milestones, 0);
  /* An award removed outside the API takes its totals with it. */
  cr_assert_eq(count("WITH d AS (DELETE FROM award.award WHERE org = '%s' AND recipient_id = 'pat' RETURNING 1) "
                     "SELECT count(*) FROM d"), 1);
  cr_assert_eq(totals_off(), 0, "the totals after a delete");
  arena_free(&a);
}

Test(award, paging_is_stable_under_inserts) {
  arena a;
  arena_init(&a);
  int rc;
  rpc_status st;
  for (int i = 0; i < 7; i++) {
    char src[16], user[16];
    snprintf(src, sizeof src, "p%d", i);
    snprintf(user, sizeof user, "pat%d", i);
    const char *u[] = {user};
    grant(&a, &service, src, "customer-champion", u, 1, &rc, &st);
    cr_assert_eq(rc, RPC_OK);
  }
  Accolade__V1__ListAwardsRequest lr = ACCOLADE__V1__LIST_AWARDS_REQUEST__INIT;
  lr.page_size = 3;
  Accolade__V1__ListAwardsResponse *l;
  cr_assert_eq(call("ListAwards", &lr, &accolade__v1__list_awards_response__descriptor, &member, &a, (void **)&l, &st), RPC_OK);
  cr_assert_eq(l->n_awards, 3);
  char seen[16][40];
  int nseen = 0;
  for (size_t i = 0; i < l->n_awards; i++) snprintf(seen[nseen++], 40, "%s", l->awards[i]->id);
  /* New awards arrive between pages: they are newer, so they do not shift the pages. */
  const char *late[] = {"late"};
  grant(&a, &service, "late-1", "customer-champion", late, 1, &rc, &st);
  while (*l->next_page_token) {
    lr.page_token = l->next_page_token;
    cr_assert_eq(call("ListAwards", &lr, &accolade__v1__list_awards_response__descriptor, &member, &a, (void **)&l, &st), RPC_OK);
    for (size_t i = 0; i < l->n_awards; i++) snprintf(seen[nseen++], 40, "%s", l->awards[i]->id);
  }
  cr_assert_eq(nseen, 7, "every award exactly once across pages");
  for (int i = 0; i < nseen; i++)
    for (int k = i + 1; k < nseen; k++) cr_assert_str_neq(seen[i], seen[k]);
  lr.page_token = "not-a-token";
  cr_assert_eq(call("ListAwards", &lr, &accolade__v1__list_awards_response__descriptor, &member, &a, (void **)&l, &st),
               RPC_INVALID_ARGUMENT);
  cr_assert(strstr(st.message, "page_token"));
  arena_free(&a);
}

Test(award, another_org_sees_nothing_of_this_one) {
  arena a;
  arena_init(&a);
  create_badge(&a, "secret-badge", 10, 0, 0);
  const char *u[] = {"sam"};
  int rc;
  rpc_status st;
  Accolade__V1__GrantAwardResponse *o = grant(&a, &service, "s1", "secret-badge", u, 1, &rc, &st);
  const char *award_id = o->outcomes[0]->award->id;
  identity other, other_admin;
  char org_b[80];
  snprintf(org_b, sizeof org_b, "%s-b", org);
  th_as(&other, org_b, "sam", "member", "east");
  th_as(&other_admin, org_b, "boss", "admin", "");
  Accolade__V1__GetBadgeRequest gb = ACCOLADE__V1__GET_BADGE_REQUEST__INIT;
  gb.badge_id = "secret-badge";
  Accolade__V1__Badge *b;
  cr_assert_eq(call("GetBadge", &gb, &accolade__v1__badge__descriptor, &other, &a, (void **)&b, &st), RPC_NOT_FOUND);
  Accolade__V1__RevokeAwardRequest rr = ACCOLADE__V1__REVOKE_AWARD_REQUEST__INIT;
  rr.award_id = (char *)award_id;
  rr.reason = "cross-org attempt";
  Accolade__V1__Award *aw;
  cr_assert_eq(call("RevokeAward", &rr, &accolade__v1__award__descriptor, &other_admin, &a, (void **)&aw, &st), RPC_NOT_FOUND);
  Accolade__V1__ListAwardsRequest lr = ACCOLADE__V1__LIST_AWARDS_REQUEST__INIT;
  Accolade__V1__ListAwardsResponse *l;
  cr_assert_eq(call("ListAwards", &lr, &accolade__v1__list_awards_response__descriptor, &other, &a, (void **)&l, &st), RPC_OK);
  cr_assert_eq(l->n_awards, 0);
  Accolade__V1__GetProfileRequest pr = ACCOLADE__V1__GET_PROFILE_REQUEST__INIT;
  pr.member_id = "sam";
  Accolade__V1__Profile *p;
  cr_assert_eq(call("GetProfile", &pr, &accolade__v1__profile__descriptor, &other, &a, (void **)&p, &st), RPC_OK);
  cr_assert_eq(p->total_awards, 0);
  const char *u2[] = {"sam"};
  grant(&a, &other_admin, "s2", "secret-badge", u2, 1, &rc, &st);
  cr_assert_eq(rc, RPC_NOT_FOUND, "org B cannot grant org A's badge");
  /* Unsigned calls have no identity at all. */
  cr_assert_eq(call("GetBadge", &gb, &accolade__v1__badge__descriptor, NULL, &a, (void **)&b, &st), RPC_UNAUTHENTICATED);
  arena_free(&a);
}

Test(award, a_failed_grant_transaction_leaves_no_award_and_no_event) {
  arena a;
  arena_init(&a);
  /* The second recipient's insert fails inside the transaction. */
  char *r = th_sql(dsn,
                   "CREATE FUNCTION award.explode() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
                   "IF NEW.recipient_id = 'explode' THEN RAISE EXCEPTION 'boom'; END IF; RETURN NEW; END $$; "
                   "CREATE TRIGGER explode BEFORE INSERT ON award.award FOR EACH ROW EXECUTE FUNCTION award.explode(); "
                   "SELECT 1");
  free(r);
  const char *u[] = {"fine", "explode"};
  int rc;
  rpc_status st;
  grant(&a, &service, "tx-1", "deal-closer", u, 2, &rc, &st);
  cr_assert_eq(rc, RPC_INTERNAL, "%d %s", rc, st.message);
  cr_assert_eq(count("SELECT count(*) FROM award.award WHERE org = '%s'"), 0);
  cr_assert_eq(count("SELECT count(*) FROM award.outbox WHERE org = '%s'"), 0);
  arena_free(&a);
}

Test(award, stats_measure_distribution_concentration_and_cross_team_share) {
  arena a;
  arena_init(&a);
  int rc;
  rpc_status st;
  /* 'star' gets 3 Deal Closer (150 points); four others one Knowledge Sharer (20) each. */
  for (int i = 0; i < 3; i++) {
    char src[16];
    snprintf(src, sizeof src, "st%d", i);
    const char *u[] = {"star"};
    grant(&a, &service, src, "deal-closer", u, 1, &rc, &st);
  }
  const char *others[] = {"o1", "o2", "o3", "o4"};
  grant(&a, &service, "team", "knowledge-sharer", others, 4, &rc, &st);
  Accolade__V1__GetAwardStatsRequest req = ACCOLADE__V1__GET_AWARD_STATS_REQUEST__INIT;
  Accolade__V1__AwardStats *s;
  cr_assert_eq(call("GetAwardStats", &req, &accolade__v1__award_stats__descriptor, &member, &a, (void **)&s, &st),
               RPC_PERMISSION_DENIED);
  cr_assert_eq(call("GetAwardStats", &req, &accolade__v1__award_stats__descriptor, &manager, &a, (void **)&s, &st),
               RPC_OK, "%s", st.message);
  cr_assert_eq(s->total_awards, 7);
  cr_assert_eq(s->total_points, 230);
  cr_assert_eq(s->unique_recipients, 5);
  cr_assert_eq(s->n_by_badge, 2);
  cr_assert_str_eq(s->by_badge[0]->key, "knowledge-sharer");   /* 4 awards, most first */
  cr_assert_eq(s->by_badge[0]->count, 4);
  cr_assert_str_eq(s->by_badge[1]->key, "deal-closer");
  cr_assert_eq(s->by_badge[1]->points, 150);
  cr_assert_float_eq(s->top_decile_points_share, 150.0 / 230.0, 1e-9);
  /* Gini over {20,20,20,20,150}: sum (2i-n-1)x / (n * total) */
  double g = ((-4.0 - 2.0 + 0.0 + 2.0) * 20 + 4.0 * 150) / (5.0 * 230.0);
  cr_assert_float_eq(s->gini, g, 1e-9);
  cr_assert_float_eq(s->cross_team_share, 1.0, 1e-9);   /* giver 'west', recipients 'east' */
  cr_assert_geq(s->n_weekly, 12);
  int64_t week_total = 0;
  for (size_t i = 0; i < s->n_weekly; i++) week_total += s->weekly[i]->count;
  cr_assert_eq(week_total, 7);
  arena_free(&a);
}

/* Every field limit answers INVALID_ARGUMENT and names the field. */
typedef struct limit_case {
  const char *field;
  void (*mutate)(Accolade__V1__Badge *b, Accolade__V1__CreateBadgeRequest *r);
} limit_case;

static char big[5000];
static void m_id(Accolade__V1__Badge *b, Accolade__V1__CreateBadgeRequest *r) { (void)r; b->id = "Not A Slug"; }
static void m_name_empty(Accolade__V1__Badge *b, Accolade__V1__CreateBadgeRequest *r) { (void)r; b->name = ""; }
static void m_name_long(Accolade__V1__Badge *b, Accolade__V1__CreateBadgeRequest *r) { (void)r; big[81] = 0; b->name = big; }
static void m_desc(Accolade__V1__Badge *b, Accolade__V1__CreateBadgeRequest *r) { (void)r; big[1001] = 0; b->description = big; }
static void m_cat(Accolade__V1__Badge *b, Accolade__V1__CreateBadgeRequest *r) { (void)r; big[61] = 0; b->category = big; }
static void m_crit(Accolade__V1__Badge *b, Accolade__V1__CreateBadgeRequest *r) { (void)r; big[1001] = 0; b->criteria = big; }
static void m_points(Accolade__V1__Badge *b, Accolade__V1__CreateBadgeRequest *r) { (void)r; b->points = -1; }
static void m_url(Accolade__V1__Badge *b, Accolade__V1__CreateBadgeRequest *r) { (void)r; b->image_url = "ftp://x"; }
static void m_cap(Accolade__V1__Badge *b, Accolade__V1__CreateBadgeRequest *r) { (void)r; b->cap_per_recipient = 2; }
static void m_missing(Accolade__V1__Badge *b, Accolade__V1__CreateBadgeRequest *r) { (void)b; r->badge = NULL; }

Test(award, every_badge_field_limit_names_the_field) {
  memset(big, 'x', sizeof big - 1);
  limit_case cases[] = {
      {"badge.id", m_id},          {"badge.name", m_name_empty}, {"badge.name", m_name_long},
      {"badge.description", m_desc}, {"badge.category", m_cat},   {"badge.criteria", m_crit},
      {"badge.points", m_points},  {"badge.image_url", m_url},   {"badge.cap_period", m_cap},
      {"badge", m_missing},
  };
  arena a;
  arena_init(&a);
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    memset(big, 'x', sizeof big - 1);
    Accolade__V1__Badge b = ACCOLADE__V1__BADGE__INIT;
    b.id = "valid-id";
    b.name = "Valid";
    Accolade__V1__CreateBadgeRequest req = ACCOLADE__V1__CREATE_BADGE_REQUEST__INIT;
    req.badge = &b;
    cases[i].mutate(&b, &req);
    Accolade__V1__Badge *out;
    rpc_status st;
    cr_assert_eq(call("CreateBadge", &req, &accolade__v1__badge__descriptor, &admin, &a, (void **)&out, &st),
                 RPC_INVALID_ARGUMENT, "case %zu (%s)", i, cases[i].field);
    cr_assert(strncmp(st.message, cases[i].field, strlen(cases[i].field)) == 0, "case %zu: '%s' does not name %s", i,
              st.message, cases[i].field);
  }
  /* Grant limits. */
  const char *none[1];
  int rc;
  rpc_status st;
  grant(&a, &service, "", "deal-closer", none, 0, &rc, &st);
  cr_assert_eq(rc, RPC_INVALID_ARGUMENT);
  cr_assert(strstr(st.message, "source_id"), "%s", st.message);
  grant(&a, &service, "x1", "deal-closer", none, 0, &rc, &st);
  cr_assert(strstr(st.message, "recipients"), "%s", st.message);
  const char *bad[] = {"has space"};
  grant(&a, &service, "x1", "deal-closer", bad, 1, &rc, &st);
  cr_assert(strstr(st.message, "recipients[0].member_id"), "%s", st.message);
  const char *twice[] = {"a", "a"};
  grant(&a, &service, "x1", "deal-closer", twice, 2, &rc, &st);
  cr_assert(strstr(st.message, "listed twice"), "%s", st.message);
  const char *u[] = {"ok"};
  grant(&a, &service, "rule:forged", "deal-closer", u, 1, &rc, &st);
  cr_assert(strstr(st.message, "source_id"), "%s", st.message);
  grant(&a, &service, "x2", "no-such-badge", u, 1, &rc, &st);
  cr_assert_eq(rc, RPC_NOT_FOUND);
  Accolade__V1__RevokeAwardRequest rr = ACCOLADE__V1__REVOKE_AWARD_REQUEST__INIT;
  rr.award_id = "not-a-uuid";
  rr.reason = "x";
  Accolade__V1__Award *aw;
  cr_assert_eq(call("RevokeAward", &rr, &accolade__v1__award__descriptor, &admin, &a, (void **)&aw, &st), RPC_INVALID_ARGUMENT);
  cr_assert(strstr(st.message, "award_id"), "%s", st.message);
  Accolade__V1__ListAwardsRequest lr = ACCOLADE__V1__LIST_AWARDS_REQUEST__INIT;
  lr.page_size = 500;
  Accolade__V1__ListAwardsResponse *l;
  cr_assert_eq(call("ListAwards", &lr, &accolade__v1__list_awards_response__descriptor, &member, &a, (void **)&l, &st), RPC_INVALID_ARGUMENT);
  cr_assert(strstr(st.message, "page_size"), "%s", st.message);
  arena_free(&a);
}

Test(award, update_badge_retires_and_retired_badges_cannot_be_granted) {
  arena a;
  arena_init(&a);
  Accolade__V1__Badge b = ACCOLADE__V1__BADGE__INIT;
  b.id = "innovation-driver";
  b.active = 0;
  char *mask[] = {"active"};
  Accolade__V1__UpdateBadgeRequest ur = ACCOLADE__V1__UPDATE_BADGE_REQUEST__INIT;
  ur.badge = &b;
  ur.update_mask = mask;
  ur.n_update_mask = 1;
  Accolade__V1__Badge *out;
  rpc_status st;
  cr_assert_eq(call("UpdateBadge", &ur, &accolade__v1__badge__descriptor, &admin, &a, (void **)&out, &st), RPC_OK, "%s", st.message);
  cr_assert_eq(out->active, 0);
  cr_assert_str_eq(out->name, "Innovation Driver", "fields outside the mask are kept");
  const char *u[] = {"ivy"};
  int rc;
  grant(&a, &service, "i1", "innovation-driver", u, 1, &rc, &st);
  cr_assert_eq(rc, RPC_FAILED_PRECONDITION);
  char *badmask[] = {"owner"};
  ur.update_mask = badmask;
  cr_assert_eq(call("UpdateBadge", &ur, &accolade__v1__badge__descriptor, &admin, &a, (void **)&out, &st), RPC_INVALID_ARGUMENT);
  cr_assert(strstr(st.message, "update_mask"));
  arena_free(&a);
}
