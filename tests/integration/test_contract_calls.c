/* The calls a client reaches for (issue 20): "me" for the caller's own
 * member id, ReactivateMember, GetRule and UpdateRule, RetireBadge, reading a
 * nomination's reflections, and an unknown nominee told apart from an
 * inactive one. On real svc-nomination and svc-award processes. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "accolade/v1/award.pb-c.h"
#include "accolade/v1/nomination.pb-c.h"
#include "harness.h"

#define NOM "/accolade.v1.NominationService/"
#define AW "/accolade.v1.AwardService/"
#define D(name) &accolade__v1__##name##__descriptor
#define JUST "justification=Turned the Initech escalation around in a week and wrote down how, for everyone."

static th_proc award, nom;
static char nom_dsn[600], org[64];
static identity admin, ann, bob, cy;
static arena a;

/* call sends |spec| (th_fill) to |method| as |as|; the reply in |*out|. */
static int call(const char *method, const ProtobufCMessageDescriptor *req_d, const ProtobufCMessageDescriptor *resp_d,
                const identity *as, const char *spec, void *out, rpc_status *st) {
  void *req = arena_alloc(&a, req_d->sizeof_message);
  protobuf_c_message_init(req_d, req);
  th_fill(&a, req_d, req, spec);
  return th_call(strstr(method, "AwardService") ? award.addr : nom.addr, method, req, resp_d, as, &a, out, st);
}

static void setup(void) {
  th_init();
  th_pair_start(&award, &nom, nom_dsn, sizeof nom_dsn, NULL);
  arena_init(&a);
  snprintf(org, sizeof org, "calls-%d", getpid());
  th_as(&admin, org, "ada", "admin", "ops");
  th_as(&ann, org, "ann", "member", "east");
  th_as(&bob, org, "bob", "member", "east");
  th_as(&cy, org, "cy", "member", "east");
  void *out;
  rpc_status st;
  cr_assert_eq(call(NOM "UpsertMembers", D(upsert_members_request), D(upsert_members_response), &admin,
                    "members[].member_id=ann;members[].member_id=bob;members[].member_id=cy;members[].member_id=dee", &out,
                    &st), RPC_OK, "%s", st.message);
}

static void teardown(void) {
  arena_free(&a);
  th_pair_stop(&award, &nom);
  th_fini();
}

TestSuite(calls, .init = setup, .fini = teardown, .timeout = 120);

Test(calls, me_names_the_caller_wherever_a_member_id_is_taken) {
  Accolade__V1__Member *m;
  Accolade__V1__Profile *p;
  rpc_status st;
  cr_assert_eq(call(NOM "GetMember", D(get_member_request), D(member), &ann, "member_id=me", &m, &st), RPC_OK, "%s",
               st.message);
  cr_assert_str_eq(m->member_id, "ann");
  cr_assert(m->active && !m->deactivated, "active by default");
  cr_assert_eq(call(AW "GetProfile", D(get_profile_request), D(profile), &bob, "", &p, &st), RPC_OK, "%s", st.message);
  cr_assert_str_eq(p->member_id, "bob", "an empty member_id is the caller");
  cr_assert_eq(call(AW "GetProfile", D(get_profile_request), D(profile), &bob, "member_id=me", &p, &st), RPC_OK);
  cr_assert_str_eq(p->member_id, "bob");
  Accolade__V1__ListAwardsResponse *l;
  cr_assert_eq(call(AW "ListAwards", D(list_awards_request), D(list_awards_response), &bob, "recipient_id=me", &l, &st),
               RPC_OK, "%s", st.message);
}

Test(calls, nominees_unknown_are_not_found_and_inactive_ones_a_failed_precondition) {
  Accolade__V1__Member *m;
  Accolade__V1__Nomination *n;
  rpc_status st;
  cr_assert_eq(call(NOM "CreateNomination", D(create_nomination_request), D(nomination), &ann,
                    "badge_id=deal-closer;nominee_ids[]=nobody;request_id=c1;" JUST, &n, &st), RPC_NOT_FOUND);
  cr_assert(strstr(st.message, "nominee_ids: no member 'nobody'"), "%s", st.message);
  cr_assert_eq(call(NOM "DeactivateMember", D(deactivate_member_request), D(member), &admin, "member_id=dee", &m, &st),
               RPC_OK, "%s", st.message);
  cr_assert(!m->active && m->deactivated);
  cr_assert_eq(call(NOM "CreateNomination", D(create_nomination_request), D(nomination), &ann,
                    "badge_id=deal-closer;nominee_ids[]=dee;request_id=c2;" JUST, &n, &st), RPC_FAILED_PRECONDITION);
  cr_assert(strstr(st.message, "not an active member"), "%s", st.message);
  cr_assert_eq(call(NOM "ReactivateMember", D(reactivate_member_request), D(member), &admin, "member_id=dee", &m, &st),
               RPC_OK, "%s", st.message);
  cr_assert(m->active && !m->deactivated);
  cr_assert_eq(call(NOM "CreateNomination", D(create_nomination_request), D(nomination), &ann,
                    "badge_id=deal-closer;nominee_ids[]=dee;request_id=c3;" JUST, &n, &st), RPC_OK, "%s", st.message);
  cr_assert_eq(call(NOM "ReactivateMember", D(reactivate_member_request), D(member), &admin, "member_id=ghost", &m, &st),
               RPC_NOT_FOUND);
  cr_assert_eq(call(NOM "ReactivateMember", D(reactivate_member_request), D(member), &ann, "member_id=dee", &m, &st),
               RPC_PERMISSION_DENIED, "admins only");
}

Test(calls, rules_are_read_and_changed_one_at_a_time_and_badges_retired_by_name) {
  Accolade__V1__Rule *r, *got;
  Accolade__V1__Badge *b;
  rpc_status st;
  cr_assert_eq(call(AW "CreateRule", D(create_rule_request), D(rule), &admin,
                    "rule.name=Sharer x3;rule.kind=1;rule.badge_id=knowledge-sharer;rule.threshold=3;"
                    "rule.grant_badge_id=collaboration-leader",
                    &r, &st), RPC_OK, "%s", st.message);
  cr_assert_eq(call(AW "GetRule", D(get_rule_request), D(rule), &ann, arena_printf(&a, "rule_id=%s", r->id), &got, &st),
               RPC_OK, "%s", st.message);
  cr_assert_str_eq(got->name, "Sharer x3");
  cr_assert_eq(call(AW "UpdateRule", D(update_rule_request), D(rule), &admin,
                    arena_printf(&a, "rule.id=%s;rule.threshold=5;update_mask[]=threshold", r->id), &got, &st),
               RPC_OK, "%s", st.message);
  cr_assert_eq(got->threshold, 5);
  cr_assert_str_eq(got->name, "Sharer x3", "only the masked field changes");
  cr_assert_str_eq(got->badge_id, "knowledge-sharer");
  cr_assert_eq(call(AW "UpdateRule", D(update_rule_request), D(rule), &admin,
                    arena_printf(&a, "rule.id=%s;rule.threshold=0;update_mask[]=threshold", r->id), &got, &st),
               RPC_INVALID_ARGUMENT, "checked as CreateRule checks");
  cr_assert(strstr(st.message, "rule.threshold"), "%s", st.message);
  cr_assert_eq(call(AW "UpdateRule", D(update_rule_request), D(rule), &admin,
                    arena_printf(&a, "rule.id=%s;update_mask[]=colour", r->id), &got, &st),
               RPC_INVALID_ARGUMENT);
  cr_assert(strstr(st.message, "update_mask[0]: unknown field 'colour'"), "%s", st.message);
  cr_assert_eq(call(AW "UpdateRule", D(update_rule_request), D(rule), &ann,
                    arena_printf(&a, "rule.id=%s;rule.threshold=9;update_mask[]=threshold", r->id), &got, &st),
               RPC_PERMISSION_DENIED);
  cr_assert_eq(call(AW "GetRule", D(get_rule_request), D(rule), &ann,
                    "rule_id=00000000-0000-4000-8000-000000000000", &got, &st), RPC_NOT_FOUND);

  cr_assert_eq(call(AW "RetireBadge", D(retire_badge_request), D(badge), &admin, "badge_id=innovation-driver", &b, &st),
               RPC_OK, "%s", st.message);
  cr_assert(!b->active);
  cr_assert_str_eq(b->name, "Innovation Driver", "the rest stays");
  Accolade__V1__Nomination *n;
  cr_assert_eq(call(NOM "CreateNomination", D(create_nomination_request), D(nomination), &ann,
                    "badge_id=innovation-driver;nominee_ids[]=bob;request_id=rb1;" JUST, &n, &st),
               RPC_FAILED_PRECONDITION);
  cr_assert(strstr(st.message, "retired"), "%s", st.message);
  cr_assert_eq(call(AW "RetireBadge", D(retire_badge_request), D(badge), &admin, "badge_id=no-such-badge", &b, &st),
               RPC_NOT_FOUND);
}

Test(calls, a_private_nominations_reflections_are_read_by_those_who_may_see_it) {
  Accolade__V1__Nomination *n;
  rpc_status st;
  cr_assert_eq(call(NOM "CreateNomination", D(create_nomination_request), D(nomination), &ann,
                    "badge_id=customer-champion;nominee_ids[]=bob;visibility=2;request_id=p1;" JUST, &n, &st),
               RPC_OK, "%s", st.message);
  void *out;
  cr_assert_eq(call(NOM "ReviewNomination", D(review_nomination_request), D(nomination), &admin,
                    arena_printf(&a, "nomination_id=%s;approve=1", n->id), &out, &st), RPC_OK, "%s", st.message);
  cr_assert_eq(call(NOM "AddReflection", D(add_reflection_request), D(add_reflection_response), &bob,
                    arena_printf(&a, "nomination_id=%s;text=Calling them before they called us was the key.", n->id),
                    &out, &st), RPC_OK, "%s", st.message);
  Accolade__V1__ListReflectionsResponse *l;
  const char *ids = arena_printf(&a, "nomination_ids[]=%s", n->id);
  cr_assert_eq(call(NOM "ListReflections", D(list_reflections_request), D(list_reflections_response), &ann, ids, &l,
                    &st), RPC_OK, "%s", st.message);
  cr_assert_eq(l->n_reflections, 1, "the nominator reads it");
  cr_assert_str_eq(l->reflections[0]->member_id, "bob");
  cr_assert_eq(call(NOM "ListReflections", D(list_reflections_request), D(list_reflections_response), &bob, ids, &l,
                    &st), RPC_OK);
  cr_assert_eq(l->n_reflections, 1, "the nominee reads it");
  cr_assert_eq(call(NOM "ListReflections", D(list_reflections_request), D(list_reflections_response), &cy, ids, &l,
                    &st), RPC_OK);
  cr_assert_eq(l->n_reflections, 0, "another member does not: the nomination is private");
}
