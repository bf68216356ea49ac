/* svc-nomination with a real svc-award and Postgres: nominate -> review -> award. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "accolade/v1/award.pb-c.h"
#include "accolade/v1/nomination.pb-c.h"
#include "harness.h"

#define NOM "/accolade.v1.NominationService/"
#define JUST "Ran the Q3 pricing workshop and wrote the objection-handling playbook the team now uses."

static th_proc award, nom;
static char nom_dsn[600];
static char org[64];
static identity admin, mgr, mgr2, bob, ann;

static void setup(void) {
  th_init();
  th_pair_start(&award, &nom, nom_dsn, sizeof nom_dsn, "ACCOLADE_NOMINATION_OVERDUE_SCAN_MS=200");
  snprintf(org, sizeof org, "nom-%d", getpid());
  th_as(&admin, org, "ada", "admin", "ops");
  th_as(&mgr, org, "mgr", "manager", "east");
  th_as(&mgr2, org, "mgr2", "manager", "west");
  th_as(&bob, org, "bob", "member", "west");
  th_as(&ann, org, "ann", "member", "east");
  arena a;
  arena_init(&a);
  Accolade__V1__Member m[5], *mp[5];
  const char *ids[] = {"mgr", "mgr2", "ann", "bob", "cat"};
  const char *teams[] = {"east", "west", "east", "west", "east"};
  const char *mgrs[] = {"", "", "mgr", "mgr2", "mgr"};
  for (int i = 0; i < 5; i++) {
    accolade__v1__member__init(&m[i]);
    m[i].member_id = (char *)ids[i];
    m[i].display_name = (char *)ids[i];
    m[i].team = (char *)teams[i];
    m[i].manager_id = (char *)mgrs[i];
    m[i].deactivated = i == 4;   /* cat has left; the others are active by default */
    mp[i] = &m[i];
  }
  Accolade__V1__UpsertMembersRequest ur = ACCOLADE__V1__UPSERT_MEMBERS_REQUEST__INIT;
  ur.members = mp;
  ur.n_members = 5;
  void *out;
  rpc_status st;
  cr_assert_eq(th_call(nom.addr, NOM "UpsertMembers", &ur, &accolade__v1__upsert_members_response__descriptor, &admin,
                       &a, &out, &st), RPC_OK, "%s", st.message);
  arena_free(&a);
}

static void teardown(void) {
  th_pair_stop(&award, &nom);
  th_fini();
}

TestSuite(nomination, .init = setup, .fini = teardown, .timeout = 120);

static int create(arena *a, const identity *as, const char *req_id, const char *badge, const char *nominee,
                  const char *just, int private_, Accolade__V1__Nomination **out, rpc_status *st) {
  Accolade__V1__CreateNominationRequest r = ACCOLADE__V1__CREATE_NOMINATION_REQUEST__INIT;
  r.badge_id = (char *)badge;
  char *ids[] = {(char *)nominee};
  r.nominee_ids = ids;
  r.n_nominee_ids = 1;
  r.justification = (char *)just;
  r.request_id = (char *)req_id;
  r.visibility = private_ ? ACCOLADE__V1__VISIBILITY__PRIVATE : 0;
  char *links[] = {"https://crm.example.test/opportunity/7"};
  r.evidence_links = links;
  r.n_evidence_links = 1;
  return th_call(nom.addr, NOM "CreateNomination", &r, &accolade__v1__nomination__descriptor, as, a, (void **)out, st);
}

static int review(arena *a, const identity *as, const char *id, int approve, Accolade__V1__Nomination **out,
                  rpc_status *st) {
  Accolade__V1__ReviewNominationRequest r = ACCOLADE__V1__REVIEW_NOMINATION_REQUEST__INIT;
  r.nomination_id = (char *)id;
  r.approve = approve;
  r.comment = "Well deserved";
  return th_call(nom.addr, NOM "ReviewNomination", &r, &accolade__v1__nomination__descriptor, as, a, (void **)out, st);
}

/* awards_of_ann waits (up to 10 s) for the outbox to deliver an award to ann. */
static Accolade__V1__ListAwardsResponse *awards_of_ann(arena *a) {
  Accolade__V1__ListAwardsRequest lr = ACCOLADE__V1__LIST_AWARDS_REQUEST__INIT;
  lr.recipient_id = "ann";
  Accolade__V1__ListAwardsResponse *l = NULL;
  rpc_status st;
  for (int i = 0; i < 100; i++) {
    cr_assert_eq(th_call(award.addr, "/accolade.v1.AwardService/ListAwards", &lr,
                         &accolade__v1__list_awards_response__descriptor, &ann, a, (void **)&l, &st), RPC_OK);
    if (l->n_awards) break;
    usleep(100 * 1000);
  }
  return l;
}

Test(nomination, nominate_review_award_the_whole_path) {
  arena a;
  arena_init(&a);
  Accolade__V1__Nomination *n, *again;
  rpc_status st;
  cr_assert_eq(create(&a, &bob, "req-1", "knowledge-sharer", "ann", JUST, 0, &n, &st), RPC_OK, "%s", st.message);
  cr_assert_eq(n->status, ACCOLADE__V1__NOMINATION_STATUS__PENDING);
  cr_assert_eq(n->n_reviewer_ids, 1);
  cr_assert_str_eq(n->reviewer_ids[0], "mgr", "routed to the nominee's manager");
  cr_assert_str_eq(n->badge_name, "Knowledge Sharer");
  /* request_id replay returns the same nomination. */
  cr_assert_eq(create(&a, &bob, "req-1", "knowledge-sharer", "ann", JUST, 0, &again, &st), RPC_OK);
  cr_assert_str_eq(again->id, n->id);
  /* Not routed to mgr2 (nor to members). */
  Accolade__V1__Nomination *r;
  cr_assert_eq(review(&a, &mgr2, n->id, 1, &r, &st), RPC_PERMISSION_DENIED);
  cr_assert_eq(review(&a, &bob, n->id, 1, &r, &st), RPC_PERMISSION_DENIED);
  cr_assert_eq(review(&a, &mgr, n->id, 1, &r, &st), RPC_OK, "%s", st.message);
  cr_assert_eq(r->status, ACCOLADE__V1__NOMINATION_STATUS__APPROVED);
  cr_assert_str_eq(r->reviewer_id, "mgr");
  cr_assert_geq(r->decide_time_ms, r->create_time_ms, "the reply carries the decision's time");
  char q[256];
  snprintf(q, sizeof q, "SELECT (extract(epoch from decided_at) * 1000)::bigint FROM nomination.nomination WHERE id = '%s'",
           n->id);
  cr_assert_eq(th_sql_int(nom_dsn, q), r->decide_time_ms, "the reply's decision time is the stored one");
  snprintf(q, sizeof q, "SELECT count(*) FROM nomination.nomination WHERE id = '%s' AND status = 2 AND reviewer_id = 'mgr'",
           n->id);
  cr_assert_eq(th_sql_int(nom_dsn, q), 1, "the decision is stored");
  cr_assert_eq(review(&a, &mgr, n->id, 0, &r, &st), RPC_FAILED_PRECONDITION, "not pending any more");
  cr_assert(strstr(st.message, "not pending (it is APPROVED)"), "%s", st.message);
  /* The same decision by the same reviewer again (a retry whose reply was
   * lost): the nomination as it stands, and still one award below. */
  cr_assert_eq(review(&a, &mgr, n->id, 1, &r, &st), RPC_OK, "%s", st.message);
  cr_assert_eq(r->status, ACCOLADE__V1__NOMINATION_STATUS__APPROVED);
  cr_assert_str_eq(r->reviewer_id, "mgr");
  /* The outbox delivers GrantAward to svc-award: one award for ann. */
  Accolade__V1__ListAwardsResponse *l = awards_of_ann(&a);
  cr_assert_eq(l->n_awards, 1, "the approval became an award");
  cr_assert_str_eq(l->awards[0]->source_id, n->id);
  cr_assert_str_eq(l->awards[0]->giver_id, "bob");
  cr_assert_str_eq(l->awards[0]->giver_team, "west");
  cr_assert_str_eq(l->awards[0]->recipient_team, "east");
  /* The evidence links travel too (Open Badges credentials show them). */
  cr_assert_eq(l->awards[0]->n_evidence_links, 1);
  cr_assert_str_eq(l->awards[0]->evidence_links[0], "https://crm.example.test/opportunity/7");
  arena_free(&a);
}

Test(nomination, every_rejection_rule_has_its_status) {
  arena a;
  arena_init(&a);
  Accolade__V1__Nomination *n;
  rpc_status st;
  cr_assert_eq(create(&a, &bob, "s1", "deal-closer", "bob", JUST, 0, &n, &st), RPC_INVALID_ARGUMENT);
  cr_assert(strstr(st.message, "nominee_ids[0]") && strstr(st.message, "yourself"), "%s", st.message);
  cr_assert_eq(create(&a, &bob, "s2", "deal-closer", "cat", JUST, 0, &n, &st), RPC_FAILED_PRECONDITION);
  cr_assert(strstr(st.message, "cat"), "%s", st.message);
  cr_assert_eq(create(&a, &bob, "s3", "deal-closer", "nobody", JUST, 0, &n, &st), RPC_NOT_FOUND, "no such member");
  cr_assert_eq(create(&a, &bob, "s4", "deal-closer", "ann", "Great job!", 0, &n, &st), RPC_INVALID_ARGUMENT);
  cr_assert(strstr(st.message, "justification: must be specific: 40 to 4000 characters"), "%s", st.message);
  /* Blanks are not counted: 60 spaces around a short phrase are still short. */
  cr_assert_eq(create(&a, &bob, "s4b", "deal-closer", "ann",
                      "                              Great job!                              ", 0, &n, &st),
               RPC_INVALID_ARGUMENT);
  cr_assert(strstr(st.message, "justification: must be specific") && strstr(st.message, "(got 9)"), "%s",
            st.message);
  cr_assert_eq(create(&a, &bob, "s5", "no-such-badge", "ann", JUST, 0, &n, &st), RPC_NOT_FOUND);
  cr_assert(strstr(st.message, "badge_id"), "%s", st.message);
  cr_assert_eq(create(&a, &bob, "s6", "deal-closer", "ann", JUST, 0, &n, &st), RPC_OK, "%s", st.message);
  cr_assert_eq(create(&a, &bob, "s7", "deal-closer", "ann", JUST, 0, &n, &st), RPC_ALREADY_EXISTS,
               "an identical open nomination");
  cr_assert_eq(create(&a, &bob, "", "deal-closer", "ann", JUST, 0, &n, &st), RPC_INVALID_ARGUMENT);
  cr_assert(strstr(st.message, "request_id"), "%s", st.message);
  /* Allowance: 2 a month. s6 used one. */
  Accolade__V1__OrgSettings s = ACCOLADE__V1__ORG_SETTINGS__INIT;
  s.nudge_after_weeks = 4;
  s.allowance_per_month = 2;
  s.pair_cap_per_quarter = 3;
  s.overdue_days = 7;
  Accolade__V1__UpdateOrgSettingsRequest ur = ACCOLADE__V1__UPDATE_ORG_SETTINGS_REQUEST__INIT;
  ur.settings = &s;
  void *out;
  cr_assert_eq(th_call(nom.addr, NOM "UpdateOrgSettings", &ur, &accolade__v1__org_settings__descriptor, &bob, &a, &out, &st),
               RPC_PERMISSION_DENIED);
  cr_assert_eq(th_call(nom.addr, NOM "UpdateOrgSettings", &ur, &accolade__v1__org_settings__descriptor, &admin, &a, &out, &st),
               RPC_OK);
  cr_assert_eq(create(&a, &bob, "s8", "customer-champion", "ann", JUST, 0, &n, &st), RPC_OK, "%s", st.message);
  cr_assert_eq(create(&a, &bob, "s9", "innovation-driver", "mgr", JUST, 0, &n, &st), RPC_RESOURCE_EXHAUSTED);
  cr_assert(strstr(st.message, "allowance") && strstr(st.message, "resets at"), "%s", st.message);
  Accolade__V1__GetAllowanceRequest gr = ACCOLADE__V1__GET_ALLOWANCE_REQUEST__INIT;
  Accolade__V1__Allowance *al;
  cr_assert_eq(th_call(nom.addr, NOM "GetAllowance", &gr, &accolade__v1__allowance__descriptor, &bob, &a, (void **)&al, &st),
               RPC_OK);
  cr_assert_eq(al->used, 2);
  cr_assert_eq(al->left, 0);
  cr_assert_gt(al->resets_at_ms, 0);
  /* Pair cap: 1 nomination bob -> ann per quarter, for another nominator's view. */
  s.allowance_per_month = 10;
  s.pair_cap_per_quarter = 2;
  cr_assert_eq(th_call(nom.addr, NOM "UpdateOrgSettings", &ur, &accolade__v1__org_settings__descriptor, &admin, &a, &out, &st),
               RPC_OK);
  cr_assert_eq(create(&a, &bob, "s10", "collaboration-leader", "ann", JUST, 0, &n, &st), RPC_RESOURCE_EXHAUSTED);
  cr_assert(strstr(st.message, "nominee_ids[0]"), "%s", st.message);
  arena_free(&a);
}

/* set_limits sets the org's allowance and pair cap (as the admin). */
static void set_limits(arena *a, int allowance, int pair_cap) {
  Accolade__V1__OrgSettings s = ACCOLADE__V1__ORG_SETTINGS__INIT;
  s.nudge_after_weeks = 4;
  s.allowance_per_month = allowance;
  s.pair_cap_per_quarter = pair_cap;
  s.overdue_days = 7;
  Accolade__V1__UpdateOrgSettingsRequest ur = ACCOLADE__V1__UPDATE_ORG_SETTINGS_REQUEST__INIT;
  ur.settings = &s;
  void *out;
  rpc_status st;
  cr_assert_eq(th_call(nom.addr, NOM "UpdateOrgSettings", &ur, &accolade__v1__org_settings__descriptor, &admin, a, &out, &st),
               RPC_OK, "%s", st.message);
}

Test(nomination, a_team_nomination_is_checked_per_nominee_and_a_rejection_says_when) {
  arena a;
  arena_init(&a);
  rpc_status st;
  set_limits(&a, 10, 1);
  Accolade__V1__Nomination *n;
  cr_assert_eq(create(&a, &bob, "t1", "deal-closer", "mgr", JUST, 0, &n, &st), RPC_OK, "%s", st.message);
  /* ann and mgr together: ann is free, mgr (the second, in id order) used up. */
  Accolade__V1__CreateNominationRequest r = ACCOLADE__V1__CREATE_NOMINATION_REQUEST__INIT;
  char *ids[] = {"mgr", "ann"};
  r.badge_id = "customer-champion";
  r.nominee_ids = ids;
  r.n_nominee_ids = 2;
  r.justification = JUST;
  r.request_id = "t2";
  cr_assert_eq(th_call(nom.addr, NOM "CreateNomination", &r, &accolade__v1__nomination__descriptor, &bob, &a,
                       (void **)&n, &st), RPC_RESOURCE_EXHAUSTED);
  cr_assert(strstr(st.message, "nominee_ids[1]: you have nominated mgr 1 times"), "%s", st.message);
  /* With room for both: one nomination, both nominees, routed to ann's manager. */
  set_limits(&a, 10, 2);
  r.request_id = "t3";
  cr_assert_eq(th_call(nom.addr, NOM "CreateNomination", &r, &accolade__v1__nomination__descriptor, &bob, &a,
                       (void **)&n, &st), RPC_OK, "%s", st.message);
  cr_assert_eq(n->n_nominee_ids, 2);
  cr_assert_str_eq(n->nominee_ids[0], "ann");
  cr_assert_str_eq(n->nominee_ids[1], "mgr");
  cr_assert_eq(n->n_reviewer_ids, 1);
  cr_assert_str_eq(n->reviewer_ids[0], "mgr");
  /* mgr is a nominee: an admin rejects it, and the reply says when. */
  Accolade__V1__Nomination *d;
  cr_assert_eq(review(&a, &admin, n->id, 0, &d, &st), RPC_OK, "%s", st.message);
  cr_assert_eq(d->status, ACCOLADE__V1__NOMINATION_STATUS__REJECTED);
  cr_assert_str_eq(d->reviewer_id, "ada");
  cr_assert_geq(d->decide_time_ms, d->create_time_ms);
  char q[256];
  snprintf(q, sizeof q,
           "SELECT (extract(epoch from decided_at) * 1000)::bigint FROM nomination.nomination WHERE id = '%s' "
           "AND status = 3 AND reviewer_id = 'ada'",
           n->id);
  cr_assert_eq(th_sql_int(nom_dsn, q), d->decide_time_ms, "the rejection is stored with the reply's time");
  arena_free(&a);
}

Test(nomination, blind_review_hides_the_nominator_and_org_b_sees_nothing) {
  arena a;
  arena_init(&a);
  Accolade__V1__OrgSettings s = ACCOLADE__V1__ORG_SETTINGS__INIT;
  s.allowance_per_month = 5;
  s.pair_cap_per_quarter = 3;
  s.blind_review = 1;
  s.overdue_days = 7;
  s.nudge_after_weeks = 4;
  Accolade__V1__UpdateOrgSettingsRequest ur = ACCOLADE__V1__UPDATE_ORG_SETTINGS_REQUEST__INIT;
  ur.settings = &s;
  void *out;
  rpc_status st;
  cr_assert_eq(th_call(nom.addr, NOM "UpdateOrgSettings", &ur, &accolade__v1__org_settings__descriptor, &admin, &a, &out, &st),
               RPC_OK);
  Accolade__V1__Nomination *n, *seen;
  cr_assert_eq(create(&a, &bob, "b1", "deal-closer", "ann", JUST, 0, &n, &st), RPC_OK, "%s", st.message);
  Accolade__V1__GetNominationRequest gr = ACCOLADE__V1__GET_NOMINATION_REQUEST__INIT;
  gr.nomination_id = n->id;
  cr_assert_eq(th_call(nom.addr, NOM "GetNomination", &gr, &accolade__v1__nomination__descriptor, &mgr, &a, (void **)&seen, &st),
               RPC_OK);
  cr_assert_str_eq(seen->nominator_id, "", "the reviewer does not see who nominated");
  cr_assert_str_eq(seen->justification, JUST);
  cr_assert_eq(th_call(nom.addr, NOM "GetNomination", &gr, &accolade__v1__nomination__descriptor, &bob, &a, (void **)&seen, &st),
               RPC_OK);
  cr_assert_str_eq(seen->nominator_id, "bob", "the nominator sees themselves");
  identity other;
  char org_b[80];
  snprintf(org_b, sizeof org_b, "%s-b", org);
  th_as(&other, org_b, "mgr", "admin", "");
  cr_assert_eq(th_call(nom.addr, NOM "GetNomination", &gr, &accolade__v1__nomination__descriptor, &other, &a, (void **)&seen,
                       &st), RPC_NOT_FOUND);
  Accolade__V1__Nomination *r;
  cr_assert_eq(review(&a, &other, n->id, 1, &r, &st), RPC_NOT_FOUND);
  /* Nor do org B's lists show org A's nominations or members. */
  Accolade__V1__ListNominationsRequest lr = ACCOLADE__V1__LIST_NOMINATIONS_REQUEST__INIT;
  lr.role = ACCOLADE__V1__LIST_NOMINATIONS_REQUEST__ROLE__REVIEWER;
  Accolade__V1__ListNominationsResponse *ln;
  cr_assert_eq(th_call(nom.addr, NOM "ListNominations", &lr, &accolade__v1__list_nominations_response__descriptor, &other, &a,
                       (void **)&ln, &st), RPC_OK, "%s", st.message);
  cr_assert_eq(ln->n_nominations, 0);
  Accolade__V1__ListMembersRequest mr = ACCOLADE__V1__LIST_MEMBERS_REQUEST__INIT;
  mr.include_inactive = 1;
  Accolade__V1__ListMembersResponse *lm;
  cr_assert_eq(th_call(nom.addr, NOM "ListMembers", &mr, &accolade__v1__list_members_response__descriptor, &other, &a,
                       (void **)&lm, &st), RPC_OK, "%s", st.message);
  cr_assert_eq(lm->n_members, 0);
  arena_free(&a);
}

Test(nomination, search_finds_a_reflection_and_not_a_private_nomination) {
  arena a;
  arena_init(&a);
  Accolade__V1__Nomination *pub, *priv, *r;
  rpc_status st;
  cr_assert_eq(create(&a, &bob, "k1", "knowledge-sharer", "ann", JUST, 0, &pub, &st), RPC_OK, "%s", st.message);
  cr_assert_eq(create(&a, &bob, "k2", "deal-closer", "ann",
                      "Quietly rescued the zebracorn renewal by rebuilding the quote over a weekend.", 1, &priv, &st),
               RPC_OK);
  cr_assert_eq(review(&a, &mgr, pub->id, 1, &r, &st), RPC_OK, "%s", st.message);
  cr_assert_eq(review(&a, &mgr, priv->id, 1, &r, &st), RPC_OK);
  Accolade__V1__AddReflectionRequest ar = ACCOLADE__V1__ADD_REFLECTION_REQUEST__INIT;
  ar.nomination_id = pub->id;
  ar.text = "Next I will turn the playbook into a photosynthesis-style growth loop for new hires.";
  void *out;
  cr_assert_eq(th_call(nom.addr, NOM "AddReflection", &ar, &accolade__v1__add_reflection_response__descriptor, &bob, &a, &out,
                       &st), RPC_PERMISSION_DENIED, "only a nominee reflects");
  cr_assert_eq(th_call(nom.addr, NOM "AddReflection", &ar, &accolade__v1__add_reflection_response__descriptor, &ann, &a, &out,
                       &st), RPC_OK, "%s", st.message);
  Accolade__V1__SearchRecognitionsRequest sr = ACCOLADE__V1__SEARCH_RECOGNITIONS_REQUEST__INIT;
  sr.query = "photosynthesis";
  Accolade__V1__SearchRecognitionsResponse *res;
  cr_assert_eq(th_call(nom.addr, NOM "SearchRecognitions", &sr, &accolade__v1__search_recognitions_response__descriptor, &mgr2,
                       &a, (void **)&res, &st), RPC_OK, "%s", st.message);
  cr_assert_eq(res->n_hits, 1);
  cr_assert_str_eq(res->hits[0]->nomination_id, pub->id);
  cr_assert(strstr(res->hits[0]->snippet, "<b>"), "%s", res->hits[0]->snippet);
  sr.query = "zebracorn";
  cr_assert_eq(th_call(nom.addr, NOM "SearchRecognitions", &sr, &accolade__v1__search_recognitions_response__descriptor, &mgr2,
                       &a, (void **)&res, &st), RPC_OK);
  cr_assert_eq(res->n_hits, 0, "private nominations are not in the knowledge base");
  /* Endorsements: once each, not by the nominator. */
  Accolade__V1__Nomination *p;
  cr_assert_eq(create(&a, &bob, "e1", "customer-champion", "ann", JUST, 0, &p, &st), RPC_OK);
  Accolade__V1__EndorseNominationRequest er = ACCOLADE__V1__ENDORSE_NOMINATION_REQUEST__INIT;
  er.nomination_id = p->id;
  Accolade__V1__EndorseNominationResponse *e;
  cr_assert_eq(th_call(nom.addr, NOM "EndorseNomination", &er, &accolade__v1__endorse_nomination_response__descriptor, &mgr2,
                       &a, (void **)&e, &st), RPC_OK, "%s", st.message);
  cr_assert_eq(e->endorsements, 1);
  cr_assert_eq(th_call(nom.addr, NOM "EndorseNomination", &er, &accolade__v1__endorse_nomination_response__descriptor, &mgr2,
                       &a, (void **)&e, &st), RPC_ALREADY_EXISTS);
  cr_assert_eq(th_call(nom.addr, NOM "EndorseNomination", &er, &accolade__v1__endorse_nomination_response__descriptor, &bob,
                       &a, (void **)&e, &st), RPC_FAILED_PRECONDITION);
  arena_free(&a);
}

Test(nomination, participation_stats_show_reciprocity_and_who_is_missed) {
  arena a;
  arena_init(&a);
  Accolade__V1__Nomination *n1, *n2, *r;
  rpc_status st;
  /* bob -> ann and ann -> bob: a reciprocal pair; one approved, one rejected. */
  cr_assert_eq(create(&a, &bob, "p1", "deal-closer", "ann", JUST, 0, &n1, &st), RPC_OK, "%s", st.message);
  cr_assert_eq(create(&a, &ann, "p2", "deal-closer", "bob", JUST, 0, &n2, &st), RPC_OK, "%s", st.message);
  cr_assert_eq(review(&a, &mgr, n1->id, 1, &r, &st), RPC_OK, "%s", st.message);
  cr_assert_eq(review(&a, &mgr2, n2->id, 0, &r, &st), RPC_OK, "%s", st.message);
  Accolade__V1__GetParticipationStatsRequest q = ACCOLADE__V1__GET_PARTICIPATION_STATS_REQUEST__INIT;
  Accolade__V1__ParticipationStats *s;
  cr_assert_eq(th_call(nom.addr, NOM "GetParticipationStats", &q, &accolade__v1__participation_stats__descriptor, &bob, &a,
                       (void **)&s, &st), RPC_PERMISSION_DENIED);
  cr_assert_eq(th_call(nom.addr, NOM "GetParticipationStats", &q, &accolade__v1__participation_stats__descriptor, &mgr, &a,
                       (void **)&s, &st), RPC_OK, "%s", st.message);
  cr_assert_eq(s->nominations, 2);
  cr_assert_eq(s->active_members, 4);
  cr_assert_eq(s->unique_nominators, 2);
  cr_assert_float_eq(s->nominator_share, 0.5, 1e-9);
  cr_assert_float_eq(s->approval_rate, 0.5, 1e-9);
  cr_assert_eq(s->reciprocal_pairs, 1);
  cr_assert_eq(s->never_recognized, 3, "bob, mgr, mgr2 were not recognised");
  cr_assert_float_eq(s->cross_team_share, 1.0, 1e-9);
  cr_assert_geq(s->n_weekly, 4);
  arena_free(&a);
}

Test(nomination, an_overdue_review_gets_one_reminder) {
  arena a;
  arena_init(&a);
  Accolade__V1__Nomination *n;
  rpc_status st;
  cr_assert_eq(create(&a, &bob, "o1", "deal-closer", "ann", JUST, 0, &n, &st), RPC_OK, "%s", st.message);
  char sql[300];
  snprintf(sql, sizeof sql, "UPDATE nomination.nomination SET created_at = now() - interval '10 days' WHERE id = '%s'", n->id);
  free(th_sql(nom_dsn, sql));
  char *v = NULL;
  snprintf(sql, sizeof sql, "SELECT count(*) FROM nomination.overdue_reminder WHERE nomination_id = '%s'", n->id);
  for (int i = 0; i < 100; i++) {
    free(v);
    v = th_sql(nom_dsn, sql);
    if (v && !strcmp(v, "1")) break;
    usleep(100 * 1000);
  }
  cr_assert_str_eq(v, "1");
  free(v);
  usleep(600 * 1000);   /* more scans: still one */
  v = th_sql(nom_dsn, sql);
  cr_assert_str_eq(v, "1");
  free(v);
  /* And its event is in the outbox (the event id names the kind). */
  snprintf(sql, sizeof sql,
           "SELECT count(*) FROM nomination.outbox WHERE org = '%s' AND position(convert_to('nomination-overdue:', 'UTF8') in "
           "payload) > 0", org);
  v = th_sql(nom_dsn, sql);
  cr_assert_str_eq(v, "1");
  free(v);
  arena_free(&a);
}

Test(nomination, quiet_members_get_one_nudge_a_week) {
  arena a;
  arena_init(&a);
  Accolade__V1__Nomination *n;
  rpc_status st;
  cr_assert_eq(create(&a, &bob, "q1", "deal-closer", "ann", JUST, 0, &n, &st), RPC_OK, "%s", st.message);
  char sql[400], *v = NULL;
  /* A scan may have run before bob nominated: forget it, wait for the next. */
  snprintf(sql, sizeof sql, "DELETE FROM nomination.nudge_sent WHERE org = '%s'", org);
  free(th_sql(nom_dsn, sql));
  snprintf(sql, sizeof sql, "SELECT members FROM nomination.nudge_sent WHERE org = '%s'", org);
  for (int i = 0; i < 100 && !v; i++) {
    v = th_sql(nom_dsn, sql);
    if (!v) usleep(100 * 1000);
  }
  cr_assert_not_null(v, "no nudge was sent");
  cr_assert_str_eq(v, "3", "ann, mgr, mgr2 have not nominated; bob has, cat has left");
  free(v);
  usleep(500 * 1000);
  snprintf(sql, sizeof sql, "SELECT count(*) FROM nomination.nudge_sent WHERE org = '%s'", org);
  v = th_sql(nom_dsn, sql);
  cr_assert_str_eq(v, "1", "once a week");
  free(v);
  arena_free(&a);
}

/* Every field limit of the write calls answers INVALID_ARGUMENT naming the field. */
Test(nomination, every_field_limit_names_the_field) {
  arena a;
  arena_init(&a);
  rpc_status st;
  void *out;
  static char big[5000];
  memset(big, 'x', sizeof big - 1);
  /* CreateNomination */
  Accolade__V1__Nomination *n;
  char *ids21[21];
  for (int i = 0; i < 21; i++) ids21[i] = "ann";
  Accolade__V1__CreateNominationRequest cr = ACCOLADE__V1__CREATE_NOMINATION_REQUEST__INIT;
  cr.badge_id = "deal-closer";
  cr.justification = JUST;
  cr.request_id = "lim";
  cr.nominee_ids = ids21;
  cr.n_nominee_ids = 21;
  cr_assert_eq(th_call(nom.addr, NOM "CreateNomination", &cr, &accolade__v1__nomination__descriptor, &bob, &a, (void **)&n, &st),
               RPC_INVALID_ARGUMENT);
  cr_assert(strstr(st.message, "nominee_ids:"), "%s", st.message);
  cr.n_nominee_ids = 0;
  cr_assert_eq(th_call(nom.addr, NOM "CreateNomination", &cr, &accolade__v1__nomination__descriptor, &bob, &a, (void **)&n, &st),
               RPC_INVALID_ARGUMENT);
  cr_assert(strstr(st.message, "nominee_ids:"), "%s", st.message);
  cr.n_nominee_ids = 1;
  big[4001] = 0;
  cr.justification = big;
  cr_assert_eq(th_call(nom.addr, NOM "CreateNomination", &cr, &accolade__v1__nomination__descriptor, &bob, &a, (void **)&n, &st),
               RPC_INVALID_ARGUMENT);
  cr_assert(strstr(st.message, "justification: must be at most 4000"), "%s", st.message);
  cr.justification = JUST;
  char *links[6] = {"https://a.example", "https://a.example", "https://a.example", "https://a.example",
                    "https://a.example", "https://a.example"};
  cr.evidence_links = links;
  cr.n_evidence_links = 6;
  cr_assert_eq(th_call(nom.addr, NOM "CreateNomination", &cr, &accolade__v1__nomination__descriptor, &bob, &a, (void **)&n, &st),
               RPC_INVALID_ARGUMENT);
  cr_assert(strstr(st.message, "evidence_links:"), "%s", st.message);
  char *bad_link[] = {"javascript:alert(1)"};
  cr.evidence_links = bad_link;
  cr.n_evidence_links = 1;
  cr_assert_eq(th_call(nom.addr, NOM "CreateNomination", &cr, &accolade__v1__nomination__descriptor, &bob, &a, (void **)&n, &st),
               RPC_INVALID_ARGUMENT);
  cr_assert(strstr(st.message, "evidence_links[0]"), "%s", st.message);
  cr.n_evidence_links = 0;
  cr.badge_id = "Bad Badge";
  cr_assert_eq(th_call(nom.addr, NOM "CreateNomination", &cr, &accolade__v1__nomination__descriptor, &bob, &a, (void **)&n, &st),
               RPC_INVALID_ARGUMENT);
  cr_assert(strstr(st.message, "badge_id"), "%s", st.message);
  cr.badge_id = "deal-closer";
  cr.visibility = 7;
  cr_assert_eq(th_call(nom.addr, NOM "CreateNomination", &cr, &accolade__v1__nomination__descriptor, &bob, &a, (void **)&n, &st),
               RPC_INVALID_ARGUMENT);
  cr_assert(strstr(st.message, "visibility"), "%s", st.message);
  /* UpsertMembers */
  Accolade__V1__Member m = ACCOLADE__V1__MEMBER__INIT, *mp[] = {&m};
  Accolade__V1__UpsertMembersRequest ur = ACCOLADE__V1__UPSERT_MEMBERS_REQUEST__INIT;
  ur.members = mp;
  ur.n_members = 1;
  struct {
    const char *user, *email, *team, *manager, *name, *want;
  } mc[] = {
      {"", "", "", "", "", "members[0].member_id"},
      {"a b", "", "", "", "", "members[0].member_id"},
      {"u1", "not-an-email", "", "", "", "members[0].email"},
      {"u1", "", "a team", "", "", "members[0].team"},
      {"u1", "", "", "u1", "", "members[0].manager_id"},
      {"u1", "", "", "", big, "members[0].display_name"},
  };
  big[121] = 0;
  for (size_t i = 0; i < sizeof mc / sizeof mc[0]; i++) {
    m.member_id = (char *)mc[i].user;
    m.email = (char *)mc[i].email;
    m.team = (char *)mc[i].team;
    m.manager_id = (char *)mc[i].manager;
    m.display_name = (char *)mc[i].name;
    cr_assert_eq(th_call(nom.addr, NOM "UpsertMembers", &ur, &accolade__v1__upsert_members_response__descriptor, &admin, &a,
                         &out, &st), RPC_INVALID_ARGUMENT, "case %zu", i);
    cr_assert(strncmp(st.message, mc[i].want, strlen(mc[i].want)) == 0, "case %zu: %s", i, st.message);
  }
  ur.n_members = 0;
  cr_assert_eq(th_call(nom.addr, NOM "UpsertMembers", &ur, &accolade__v1__upsert_members_response__descriptor, &admin, &a, &out,
                       &st), RPC_INVALID_ARGUMENT);
  cr_assert(strstr(st.message, "members:"), "%s", st.message);
  /* Review, endorse, reflect, settings, search, list. */
  Accolade__V1__ReviewNominationRequest rr = ACCOLADE__V1__REVIEW_NOMINATION_REQUEST__INIT;
  rr.nomination_id = "nope";
  cr_assert_eq(th_call(nom.addr, NOM "ReviewNomination", &rr, &accolade__v1__nomination__descriptor, &mgr, &a, &out, &st),
               RPC_INVALID_ARGUMENT);
  cr_assert(strstr(st.message, "nomination_id"), "%s", st.message);
  Accolade__V1__EndorseNominationRequest er = ACCOLADE__V1__ENDORSE_NOMINATION_REQUEST__INIT;
  er.nomination_id = "00000000-0000-0000-0000-000000000000";
  memset(big, 'x', sizeof big - 1);
  big[501] = 0;
  er.comment = big;
  cr_assert_eq(th_call(nom.addr, NOM "EndorseNomination", &er, &accolade__v1__endorse_nomination_response__descriptor, &mgr, &a,
                       &out, &st), RPC_INVALID_ARGUMENT);
  cr_assert(strstr(st.message, "comment"), "%s", st.message);
  Accolade__V1__AddReflectionRequest ar = ACCOLADE__V1__ADD_REFLECTION_REQUEST__INIT;
  ar.nomination_id = "00000000-0000-0000-0000-000000000000";
  ar.text = "too short";
  cr_assert_eq(th_call(nom.addr, NOM "AddReflection", &ar, &accolade__v1__add_reflection_response__descriptor, &ann, &a, &out,
                       &st), RPC_INVALID_ARGUMENT);
  cr_assert(strstr(st.message, "text: must be at least 20"), "%s", st.message);
  Accolade__V1__OrgSettings s = ACCOLADE__V1__ORG_SETTINGS__INIT;
  s.allowance_per_month = 101;
  s.overdue_days = 7;
  Accolade__V1__UpdateOrgSettingsRequest sr = ACCOLADE__V1__UPDATE_ORG_SETTINGS_REQUEST__INIT;
  sr.settings = &s;
  cr_assert_eq(th_call(nom.addr, NOM "UpdateOrgSettings", &sr, &accolade__v1__org_settings__descriptor, &admin, &a, &out, &st),
               RPC_INVALID_ARGUMENT);
  cr_assert(strstr(st.message, "settings.allowance_per_month"), "%s", st.message);
  Accolade__V1__SearchRecognitionsRequest q = ACCOLADE__V1__SEARCH_RECOGNITIONS_REQUEST__INIT;
  q.query = "";
  cr_assert_eq(th_call(nom.addr, NOM "SearchRecognitions", &q, &accolade__v1__search_recognitions_response__descriptor, &ann, &a,
                       &out, &st), RPC_INVALID_ARGUMENT);
  cr_assert(strstr(st.message, "query"), "%s", st.message);
  Accolade__V1__ListNominationsRequest lr = ACCOLADE__V1__LIST_NOMINATIONS_REQUEST__INIT;
  lr.page_token = "garbage";
  cr_assert_eq(th_call(nom.addr, NOM "ListNominations", &lr, &accolade__v1__list_nominations_response__descriptor, &ann, &a,
                       &out, &st), RPC_INVALID_ARGUMENT);
  cr_assert(strstr(st.message, "page_token"), "%s", st.message);
  arena_free(&a);
}

static int list_noms(arena *a, const identity *as, int role, int status, int page_size, const char *token,
                     Accolade__V1__ListNominationsResponse **out) {
  Accolade__V1__ListNominationsRequest r = ACCOLADE__V1__LIST_NOMINATIONS_REQUEST__INIT;
  r.role = role;
  r.status = status;
  r.page_size = page_size;
  r.page_token = (char *)token;
  rpc_status st;
  return th_call(nom.addr, NOM "ListNominations", &r, &accolade__v1__list_nominations_response__descriptor, as, a,
                 (void **)out, &st);
}

/* Withdrawal is the nominator's, while pending; the lists page by keyset; a
 * departed member can be neither nominated nor review. */
Test(nomination, withdraw_deactivate_and_the_lists) {
  arena a;
  arena_init(&a);
  Accolade__V1__Nomination *w1, *w2, *r;
  rpc_status st;
  cr_assert_eq(create(&a, &bob, "w1", "deal-closer", "ann", JUST, 0, &w1, &st), RPC_OK, "%s", st.message);
  cr_assert_eq(create(&a, &bob, "w2", "customer-champion", "ann", JUST, 0, &w2, &st), RPC_OK, "%s", st.message);
  Accolade__V1__WithdrawNominationRequest wr = ACCOLADE__V1__WITHDRAW_NOMINATION_REQUEST__INIT;
  wr.nomination_id = w1->id;
  cr_assert_eq(th_call(nom.addr, NOM "WithdrawNomination", &wr, &accolade__v1__nomination__descriptor, &ann, &a, (void **)&r, &st),
               RPC_PERMISSION_DENIED, "a nominee cannot withdraw");
  cr_assert_eq(th_call(nom.addr, NOM "WithdrawNomination", &wr, &accolade__v1__nomination__descriptor, &bob, &a, (void **)&r, &st),
               RPC_OK, "%s", st.message);
  cr_assert_eq(r->status, ACCOLADE__V1__NOMINATION_STATUS__WITHDRAWN);
  /* Withdrawing again (a retry): the nomination as it stands. */
  cr_assert_eq(th_call(nom.addr, NOM "WithdrawNomination", &wr, &accolade__v1__nomination__descriptor, &bob, &a, (void **)&r, &st),
               RPC_OK, "%s", st.message);
  cr_assert_eq(r->status, ACCOLADE__V1__NOMINATION_STATUS__WITHDRAWN);
  cr_assert_eq(review(&a, &mgr, w1->id, 1, &r, &st), RPC_FAILED_PRECONDITION, "reviewing a withdrawn nomination");

  /* Lists: bob's two as nominator, two pages of one; mgr awaits w2 only. */
  Accolade__V1__ListNominationsResponse *p1, *p2, *q;
  cr_assert_eq(list_noms(&a, &bob, ACCOLADE__V1__LIST_NOMINATIONS_REQUEST__ROLE__NOMINATOR, 0, 1, "", &p1), RPC_OK);
  cr_assert_eq(p1->n_nominations, 1);
  cr_assert_neq(p1->next_page_token[0], 0, "a second page");
  cr_assert_eq(list_noms(&a, &bob, ACCOLADE__V1__LIST_NOMINATIONS_REQUEST__ROLE__NOMINATOR, 0, 1, p1->next_page_token, &p2),
               RPC_OK);
  cr_assert_eq(p2->n_nominations, 1);
  cr_assert_str_neq(p1->nominations[0]->id, p2->nominations[0]->id);
  cr_assert_eq(list_noms(&a, &ann, ACCOLADE__V1__LIST_NOMINATIONS_REQUEST__ROLE__NOMINEE, 0, 0, "", &q), RPC_OK);
  cr_assert_eq(q->n_nominations, 2);
  cr_assert_eq(list_noms(&a, &mgr, ACCOLADE__V1__LIST_NOMINATIONS_REQUEST__ROLE__REVIEWER,
                         ACCOLADE__V1__NOMINATION_STATUS__PENDING, 0, "", &q), RPC_OK);
  cr_assert_eq(q->n_nominations, 1);
  cr_assert_str_eq(q->nominations[0]->id, w2->id);
  cr_assert_eq(list_noms(&a, &mgr2, ACCOLADE__V1__LIST_NOMINATIONS_REQUEST__ROLE__REVIEWER,
                         ACCOLADE__V1__NOMINATION_STATUS__PENDING, 0, "", &q), RPC_OK);
  cr_assert_eq(q->n_nominations, 0, "not routed to mgr2");

  /* Members of team east, one a page: mgr and ann (cat has left). */
  Accolade__V1__ListMembersRequest mr = ACCOLADE__V1__LIST_MEMBERS_REQUEST__INIT;
  mr.team = "east";
  mr.page_size = 1;
  Accolade__V1__ListMembersResponse *ml;
  int seen = 0;
  do {
    cr_assert_eq(th_call(nom.addr, NOM "ListMembers", &mr, &accolade__v1__list_members_response__descriptor, &bob, &a,
                         (void **)&ml, &st), RPC_OK, "%s", st.message);
    seen += (int)ml->n_members;
    cr_assert_leq(ml->n_members, 1);
    mr.page_token = ml->next_page_token;
  } while (*ml->next_page_token && seen < 10);
  cr_assert_eq(seen, 2);

  /* Deactivation: admins only; then ann cannot be nominated and mgr cannot review. */
  Accolade__V1__DeactivateMemberRequest dr = ACCOLADE__V1__DEACTIVATE_MEMBER_REQUEST__INIT;
  Accolade__V1__Member *m;
  dr.member_id = "ann";
  cr_assert_eq(th_call(nom.addr, NOM "DeactivateMember", &dr, &accolade__v1__member__descriptor, &bob, &a, (void **)&m, &st),
               RPC_PERMISSION_DENIED);
  cr_assert_eq(th_call(nom.addr, NOM "DeactivateMember", &dr, &accolade__v1__member__descriptor, &admin, &a, (void **)&m, &st),
               RPC_OK, "%s", st.message);
  cr_assert(!m->active);
  dr.member_id = "mgr";
  cr_assert_eq(th_call(nom.addr, NOM "DeactivateMember", &dr, &accolade__v1__member__descriptor, &admin, &a, (void **)&m, &st),
               RPC_OK, "%s", st.message);
  cr_assert_eq(create(&a, &bob, "w3", "innovation-driver", "ann", JUST, 0, &r, &st), RPC_FAILED_PRECONDITION);
  cr_assert(strstr(st.message, "ann"), "%s", st.message);
  cr_assert_eq(review(&a, &mgr, w2->id, 1, &r, &st), RPC_PERMISSION_DENIED);
  cr_assert(strstr(st.message, "deactivated"), "%s", st.message);
  /* ann keeps her history. */
  Accolade__V1__GetNominationRequest gr = ACCOLADE__V1__GET_NOMINATION_REQUEST__INIT;
  gr.nomination_id = w2->id;
  cr_assert_eq(th_call(nom.addr, NOM "GetNomination", &gr, &accolade__v1__nomination__descriptor, &admin, &a, (void **)&r, &st),
               RPC_OK);
  cr_assert_eq(r->status, ACCOLADE__V1__NOMINATION_STATUS__PENDING);
  arena_free(&a);
}

static void make_badge(arena *a, const char *id, int policy, int active) {
  Accolade__V1__Badge b = ACCOLADE__V1__BADGE__INIT;
  b.id = (char *)id;
  b.name = (char *)id;
  b.category = "sales";
  b.criteria = "First meeting booked with a new logo.";
  b.points = 5;
  b.approval_policy = policy;
  b.active = 1;
  Accolade__V1__CreateBadgeRequest cr = ACCOLADE__V1__CREATE_BADGE_REQUEST__INIT;
  cr.badge = &b;
  void *out;
  rpc_status st;
  cr_assert_eq(th_call(award.addr, "/accolade.v1.AwardService/CreateBadge", &cr, &accolade__v1__badge__descriptor, &admin, a,
                       &out, &st), RPC_OK, "%s", st.message);
  if (active) return;
  char *mask[] = {"active"};
  b.active = 0;
  Accolade__V1__UpdateBadgeRequest ur = ACCOLADE__V1__UPDATE_BADGE_REQUEST__INIT;
  ur.badge = &b;
  ur.update_mask = mask;
  ur.n_update_mask = 1;
  cr_assert_eq(th_call(award.addr, "/accolade.v1.AwardService/UpdateBadge", &ur, &accolade__v1__badge__descriptor, &admin, a,
                       &out, &st), RPC_OK, "%s", st.message);
}

/* An AUTO badge needs no reviewer: approved at creation, and granted. A retired
 * badge takes no nominations. */
Test(nomination, auto_badge_is_approved_at_once_and_a_retired_one_refused) {
  arena a;
  arena_init(&a);
  make_badge(&a, "first-meeting", ACCOLADE__V1__APPROVAL_POLICY__AUTO, 1);
  make_badge(&a, "old-badge", ACCOLADE__V1__APPROVAL_POLICY__MANAGER_REVIEW, 0);
  Accolade__V1__Nomination *n;
  rpc_status st;
  cr_assert_eq(create(&a, &bob, "r1", "old-badge", "ann", JUST, 0, &n, &st), RPC_FAILED_PRECONDITION);
  cr_assert(strstr(st.message, "badge_id"), "%s", st.message);
  cr_assert_eq(create(&a, &bob, "a1", "first-meeting", "ann", JUST, 0, &n, &st), RPC_OK, "%s", st.message);
  cr_assert_eq(n->status, ACCOLADE__V1__NOMINATION_STATUS__APPROVED);
  Accolade__V1__ListAwardsResponse *l = awards_of_ann(&a);
  cr_assert_eq(l->n_awards, 1, "the AUTO approval became an award");
  cr_assert_str_eq(l->awards[0]->source_id, n->id);
  cr_assert_str_eq(l->awards[0]->badge_id, "first-meeting");
  arena_free(&a);
}

Test(nomination, an_approval_past_the_badges_cap_says_who_got_no_award) {
  arena a;
  arena_init(&a);
  rpc_status st;
  Accolade__V1__Badge b = ACCOLADE__V1__BADGE__INIT;
  b.id = "once-a-year";
  b.name = "Once a Year";
  b.category = "sales";
  b.points = 10;
  b.active = 1;
  b.approval_policy = ACCOLADE__V1__APPROVAL_POLICY__MANAGER_REVIEW;
  b.cap_per_recipient = 1;
  b.cap_period = ACCOLADE__V1__CAP_PERIOD__CAP_YEAR;
  Accolade__V1__CreateBadgeRequest cb = ACCOLADE__V1__CREATE_BADGE_REQUEST__INIT;
  cb.badge = &b;
  void *out;
  cr_assert_eq(th_call(award.addr, "/accolade.v1.AwardService/CreateBadge", &cb, &accolade__v1__badge__descriptor,
                       &admin, &a, &out, &st), RPC_OK, "%s", st.message);
  Accolade__V1__Nomination *first, *second, *r;
  cr_assert_eq(create(&a, &bob, "cap-1", "once-a-year", "ann", JUST, 0, &first, &st), RPC_OK, "%s", st.message);
  cr_assert_eq(create(&a, &mgr2, "cap-2", "once-a-year", "ann", JUST " Again.", 0, &second, &st), RPC_OK, "%s",
               st.message);
  cr_assert_eq(review(&a, &mgr, first->id, 1, &r, &st), RPC_OK, "%s", st.message);
  cr_assert_eq(awards_of_ann(&a)->n_awards, 1);
  cr_assert_eq(review(&a, &mgr, second->id, 1, &r, &st), RPC_OK, "%s", st.message);
  /* svc-award answers CAP_REACHED; the nomination learns it from the reply. */
  Accolade__V1__GetNominationRequest g = ACCOLADE__V1__GET_NOMINATION_REQUEST__INIT;
  g.nomination_id = second->id;
  Accolade__V1__Nomination *seen = NULL;
  for (int i = 0; i < 100; i++) {
    cr_assert_eq(th_call(nom.addr, NOM "GetNomination", &g, &accolade__v1__nomination__descriptor, &mgr, &a,
                         (void **)&seen, &st), RPC_OK, "%s", st.message);
    if (seen->n_not_awarded_ids) break;
    usleep(100 * 1000);
  }
  cr_assert_eq(seen->status, ACCOLADE__V1__NOMINATION_STATUS__APPROVED);
  cr_assert_eq(seen->n_not_awarded_ids, 1, "the capped nominee is named");
  cr_assert_str_eq(seen->not_awarded_ids[0], "ann");
  g.nomination_id = first->id;
  cr_assert_eq(th_call(nom.addr, NOM "GetNomination", &g, &accolade__v1__nomination__descriptor, &mgr, &a,
                       (void **)&seen, &st), RPC_OK);
  cr_assert_eq(seen->n_not_awarded_ids, 0, "the first approval was awarded");
  cr_assert_eq(awards_of_ann(&a)->n_awards, 1, "still one award");
  arena_free(&a);
}
