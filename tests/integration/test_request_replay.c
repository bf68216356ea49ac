/* Retries a client can trust: a mutating call sent again with the same
 * request_id answers its first answer (common/replay.h), per caller and
 * method; without one, the call runs again. On real svc-nomination and
 * svc-award processes and Postgres. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "accolade/v1/award.pb-c.h"
#include "accolade/v1/nomination.pb-c.h"
#include "harness.h"

#define NOM "/accolade.v1.NominationService/"
#define AW "/accolade.v1.AwardService/"
#define JUST "Ran the Q3 pricing workshop and wrote the objection-handling playbook the team now uses."

static th_proc award, nom;
static char nom_dsn[600], org[64];
static identity admin, mgr, bob, ann, cy;

/* call sends |spec| (th_fill) to |method| of |addr| as |as|. */
static int call(arena *a, const char *addr, const char *method, const ProtobufCMessageDescriptor *req_d,
                const ProtobufCMessageDescriptor *resp_d, const identity *as, const char *spec, void **out,
                rpc_status *st) {
  void *req = arena_alloc(a, req_d->sizeof_message);
  protobuf_c_message_init(req_d, req);
  th_fill(a, req_d, req, spec);
  return th_call(addr, method, req, resp_d, as, a, out, st);
}

#define D(name) &accolade__v1__##name##__descriptor

static void setup(void) {
  th_init();
  th_pair_start(&award, &nom, nom_dsn, sizeof nom_dsn, NULL);
  snprintf(org, sizeof org, "replay-%d", getpid());
  th_as(&admin, org, "ada", "admin", "ops");
  th_as(&mgr, org, "mgr", "manager", "east");
  th_as(&bob, org, "bob", "member", "east");
  th_as(&ann, org, "ann", "member", "east");
  th_as(&cy, org, "cy", "member", "east");
  arena a;
  arena_init(&a);
  /* No active field: all four are active members (the default). No
   * managers: admins review. */
  void *out;
  rpc_status st;
  cr_assert_eq(call(&a, nom.addr, NOM "UpsertMembers", D(upsert_members_request), D(upsert_members_response), &admin,
                    "members[].member_id=mgr;members[].member_id=bob;members[].member_id=ann;members[].member_id=cy",
                    &out, &st),
               RPC_OK, "%s", st.message);
  arena_free(&a);
}

static void teardown(void) {
  th_pair_stop(&award, &nom);
  th_fini();
}

TestSuite(replay, .init = setup, .fini = teardown, .timeout = 120);

static Accolade__V1__Nomination *nominate(arena *a, const char *rid) {
  Accolade__V1__Nomination *n;
  rpc_status st;
  cr_assert_eq(call(a, nom.addr, NOM "CreateNomination", D(create_nomination_request), D(nomination), &bob,
                    arena_printf(a, "badge_id=knowledge-sharer;nominee_ids[]=ann;request_id=%s;justification=%s", rid,
                                 JUST),
                    (void **)&n, &st),
               RPC_OK, "%s", st.message);
  return n;
}

Test(replay, endorse_and_reflect_retried_with_their_request_id_answer_the_first_answer) {
  arena a;
  arena_init(&a);
  rpc_status st;
  Accolade__V1__Nomination *n = nominate(&a, "n-endorse");
  const char *spec = arena_printf(&a, "nomination_id=%s;comment=Seen it;request_id=e-1", n->id);
  Accolade__V1__EndorseNominationResponse *e;
  cr_assert_eq(call(&a, nom.addr, NOM "EndorseNomination", D(endorse_nomination_request),
                    D(endorse_nomination_response), &cy, spec, (void **)&e, &st), RPC_OK, "%s", st.message);
  cr_assert_eq(e->endorsements, 1);
  /* The retry: the same answer, not ALREADY_EXISTS. */
  cr_assert_eq(call(&a, nom.addr, NOM "EndorseNomination", D(endorse_nomination_request),
                    D(endorse_nomination_response), &cy, spec, (void **)&e, &st), RPC_OK, "%s", st.message);
  cr_assert_eq(e->endorsements, 1);
  /* Without a request id it is a new call, and a repeated endorsement. */
  cr_assert_eq(call(&a, nom.addr, NOM "EndorseNomination", D(endorse_nomination_request),
                    D(endorse_nomination_response), &cy, arena_printf(&a, "nomination_id=%s", n->id), (void **)&e,
                    &st), RPC_ALREADY_EXISTS);
  /* The key is the caller's: mgr's "e-1" is mgr's own endorsement. */
  cr_assert_eq(call(&a, nom.addr, NOM "EndorseNomination", D(endorse_nomination_request),
                    D(endorse_nomination_response), &mgr, spec, (void **)&e, &st), RPC_OK, "%s", st.message);
  cr_assert_eq(e->endorsements, 2);
  /* A request id is an id: named when malformed. */
  cr_assert_eq(call(&a, nom.addr, NOM "EndorseNomination", D(endorse_nomination_request),
                    D(endorse_nomination_response), &ann,
                    arena_printf(&a, "nomination_id=%s;request_id=has space", n->id), (void **)&e, &st),
               RPC_INVALID_ARGUMENT);
  cr_assert(strstr(st.message, "request_id:"), "%s", st.message);

  /* Review with a request id, then its retry: byte for byte the first. */
  Accolade__V1__Nomination *r1, *r2;
  const char *rs = arena_printf(&a, "nomination_id=%s;approve=1;comment=Well earned;request_id=rv-1", n->id);
  cr_assert_eq(call(&a, nom.addr, NOM "ReviewNomination", D(review_nomination_request), D(nomination), &admin, rs,
                    (void **)&r1, &st), RPC_OK, "%s", st.message);
  cr_assert_eq(call(&a, nom.addr, NOM "ReviewNomination", D(review_nomination_request), D(nomination), &admin, rs,
                    (void **)&r2, &st), RPC_OK, "%s", st.message);
  cr_assert_eq(r2->status, ACCOLADE__V1__NOMINATION_STATUS__APPROVED);
  cr_assert_eq(r2->endorsements, r1->endorsements);
  cr_assert_eq(r2->decide_time_ms, r1->decide_time_ms);
  /* A different decision is no retry. */
  cr_assert_eq(call(&a, nom.addr, NOM "ReviewNomination", D(review_nomination_request), D(nomination), &admin,
                    arena_printf(&a, "nomination_id=%s;approve=0;request_id=rv-2", n->id), (void **)&r2, &st),
               RPC_FAILED_PRECONDITION);

  /* Reflect twice with one request id: OK twice, one reflection. */
  const char *fs = arena_printf(&a, "nomination_id=%s;text=Writing it down early made the difference.;request_id=f-1",
                                n->id);
  void *out;
  cr_assert_eq(call(&a, nom.addr, NOM "AddReflection", D(add_reflection_request), D(add_reflection_response), &ann,
                    fs, &out, &st), RPC_OK, "%s", st.message);
  cr_assert_eq(call(&a, nom.addr, NOM "AddReflection", D(add_reflection_request), D(add_reflection_response), &ann,
                    fs, &out, &st), RPC_OK, "%s", st.message);
  char *count = th_sql(nom_dsn, "SELECT count(*) FROM nomination.reflection");
  cr_assert_str_eq(count ? count : "?", "1");
  free(count);
  arena_free(&a);
}

Test(replay, an_admin_write_retried_answers_the_first_answer_and_not_already_exists) {
  arena a;
  arena_init(&a);
  rpc_status st;
  const char *spec = "badge.id=team-player;badge.name=Team Player;badge.points=10;request_id=b-1";
  Accolade__V1__Badge *b1, *b2;
  cr_assert_eq(call(&a, award.addr, AW "CreateBadge", D(create_badge_request), D(badge), &admin, spec, (void **)&b1,
                    &st), RPC_OK, "%s", st.message);
  cr_assert_eq(call(&a, award.addr, AW "CreateBadge", D(create_badge_request), D(badge), &admin, spec, (void **)&b2,
                    &st), RPC_OK, "%s", st.message);
  cr_assert_str_eq(b2->id, "team-player");
  cr_assert_eq(b2->create_time_ms, b1->create_time_ms);
  cr_assert_eq(call(&a, award.addr, AW "CreateBadge", D(create_badge_request), D(badge), &admin,
                    "badge.id=team-player;badge.name=Team Player;badge.points=10;request_id=b-2", (void **)&b2, &st),
               RPC_ALREADY_EXISTS, "another request id is another call");
  arena_free(&a);
}

Test(replay, a_nomination_retried_answers_the_nomination_its_request_id_made) {
  arena a;
  arena_init(&a);
  rpc_status st;
  Accolade__V1__Nomination *n = nominate(&a, "n-own"), *again;
  /* The retry, even with another body: that nomination, nothing made twice. */
  cr_assert_eq(call(&a, nom.addr, NOM "CreateNomination", D(create_nomination_request), D(nomination), &bob,
                    "badge_id=knowledge-sharer;nominee_ids[]=cy;request_id=n-own;justification=" JUST,
                    (void **)&again, &st), RPC_OK, "%s", st.message);
  cr_assert_str_eq(again->id, n->id);
  cr_assert_str_eq(again->nominee_ids[0], "ann");
  /* The request id is a key of the nomination itself (its handler reads it in
   * its transaction): no reply is stored beside it. */
  cr_assert_eq(th_sql_int(nom_dsn, "SELECT count(*) FROM nomination.request_reply WHERE request_id = 'n-own'"), 0);
  cr_assert_eq(th_sql_int(nom_dsn, "SELECT count(*) FROM nomination.nomination WHERE request_id = 'n-own'"), 1);
  /* The nominee deactivated since: a retry still answers the nomination
   * (the key is read before the nominees are). */
  void *member;
  cr_assert_eq(call(&a, nom.addr, NOM "DeactivateMember", D(deactivate_member_request), D(member), &admin,
                    "member_id=ann", &member, &st), RPC_OK, "%s", st.message);
  again = nominate(&a, "n-own");
  cr_assert_str_eq(again->id, n->id);
  cr_assert_eq(call(&a, nom.addr, NOM "CreateNomination", D(create_nomination_request), D(nomination), &bob,
                    "badge_id=knowledge-sharer;nominee_ids[]=ann;request_id=n-new;justification=" JUST,
                    (void **)&again, &st), RPC_FAILED_PRECONDITION, "a new nomination of a deactivated member");
  cr_assert_eq(call(&a, nom.addr, NOM "ReactivateMember", D(reactivate_member_request), D(member), &admin,
                    "member_id=ann", &member, &st), RPC_OK, "%s", st.message);
  /* Decided since: the retry answers the nomination as it stands. */
  cr_assert_eq(call(&a, nom.addr, NOM "ReviewNomination", D(review_nomination_request), D(nomination), &admin,
                    arena_printf(&a, "nomination_id=%s;approve=1", n->id), (void **)&again, &st),
               RPC_OK, "%s", st.message);
  again = nominate(&a, "n-own");
  cr_assert_str_eq(again->id, n->id);
  cr_assert_eq(again->status, ACCOLADE__V1__NOMINATION_STATUS__APPROVED);
  /* The key is the caller's: cy's "n-own" is cy's own nomination. */
  cr_assert_eq(call(&a, nom.addr, NOM "CreateNomination", D(create_nomination_request), D(nomination), &cy,
                    "badge_id=knowledge-sharer;nominee_ids[]=ann;request_id=n-own;justification=" JUST,
                    (void **)&again, &st), RPC_OK, "%s", st.message);
  cr_assert_str_neq(again->id, n->id);
  arena_free(&a);
}
