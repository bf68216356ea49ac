/* Bad input through the real gateway to the four real services: for each
 * case (an RPC, the caller's role, the request's fields) the exact status and
 * a message that names the offending field. Requests are otherwise valid, so
 * the named field is the one being refused. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "accolade/v1/award.pb-c.h"
#include "accolade/v1/leaderboard.pb-c.h"
#include "accolade/v1/nomination.pb-c.h"
#include "accolade/v1/notify.pb-c.h"
#include "harness.h"

#define SECRET "bad-input-secret"
#define NO "/accolade.v1.NominationService/"
#define AW "/accolade.v1.AwardService/"
#define LB "/accolade.v1.LeaderboardService/"
#define NT "/accolade.v1.NotifyService/"
#define D(name) &accolade__v1__##name##__descriptor
#define UUID "00000000-0000-4000-8000-000000000000"
/* An inverted time range, and what every call answers to it. */
#define INVERTED "start_time_ms=1800000000000;end_time_ms=1700000000000"
#define BEFORE "start_time_ms: must be before end_time_ms"
#define JUST "justification=Closed the Northwind renewal early by pairing with support on blockers."

static th_suite suite;
static char org[64];

typedef struct bad {
  const char *method;
  const ProtobufCMessageDescriptor *req, *resp;
  const char *role;
  const char *fields;   /* th_fill spec */
  int want;
  const char *names;    /* what the message must mention */
} bad;

static const bad cases[] = {
    /* svc-nomination */
    {NO "CreateNomination", D(create_nomination_request), D(nomination), "member",
     "badge_id=deal-closer;nominee_ids[]=ann;request_id=b1;justification=too short", RPC_INVALID_ARGUMENT,
     "justification"},
    {NO "CreateNomination", D(create_nomination_request), D(nomination), "member",
     "badge_id=deal-closer;nominee_ids[]=ann;request_id=b2;justification=@5000", RPC_INVALID_ARGUMENT,
     "justification"},
    {NO "CreateNomination", D(create_nomination_request), D(nomination), "member",
     "badge_id=deal-closer;request_id=b3;" JUST, RPC_INVALID_ARGUMENT, "nominee_ids"},
    {NO "CreateNomination", D(create_nomination_request), D(nomination), "member",
     "badge_id=deal-closer;nominee_ids[]=a b;request_id=b4;" JUST, RPC_INVALID_ARGUMENT, "nominee_ids"},
    {NO "CreateNomination", D(create_nomination_request), D(nomination), "member",
     "badge_id=@300;nominee_ids[]=ann;request_id=b5;" JUST, RPC_INVALID_ARGUMENT, "badge_id"},
    {NO "CreateNomination", D(create_nomination_request), D(nomination), "member",
     "badge_id=deal-closer;nominee_ids[]=ann;request_id=@300;" JUST, RPC_INVALID_ARGUMENT, "request_id"},
    /* Blanks do not count: the rule says what it wants. */
    {NO "CreateNomination", D(create_nomination_request), D(nomination), "member",
     "badge_id=deal-closer;nominee_ids[]=ann;request_id=b6;justification=                              Great job!"
     "                              ",
     RPC_INVALID_ARGUMENT, "justification: must be specific: 40 to 4000 characters, blanks not counted (got 9)"},
    {NO "CreateNomination", D(create_nomination_request), D(nomination), "member",
     "badge_id=deal-closer;nominee_ids[]=ann;request_id=b7;visibility=-1;" JUST, RPC_INVALID_ARGUMENT,
     "visibility: must be between 0 and 2 (got -1)"},
    /* One rule for time ranges: inverted is INVALID_ARGUMENT everywhere. */
    {NO "SearchRecognitions", D(search_recognitions_request), D(search_recognitions_response), "member",
     "query=pricing;" INVERTED, RPC_INVALID_ARGUMENT, BEFORE},
    {NO "GetParticipationStats", D(get_participation_stats_request), D(participation_stats), "admin",
     INVERTED, RPC_INVALID_ARGUMENT, BEFORE},
    {AW "ListAwards", D(list_awards_request), D(list_awards_response), "member",
     INVERTED, RPC_INVALID_ARGUMENT, BEFORE},
    {AW "GetAwardStats", D(get_award_stats_request), D(award_stats), "admin",
     INVERTED, RPC_INVALID_ARGUMENT, BEFORE},
    {NO "GetNomination", D(get_nomination_request), D(nomination), "member", "nomination_id=not-a-uuid",
     RPC_INVALID_ARGUMENT, "nomination_id"},
    {NO "ReviewNomination", D(review_nomination_request), D(nomination), "manager",
     "nomination_id=" UUID ";approve=1;comment=@5000", RPC_INVALID_ARGUMENT, "comment"},
    {NO "EndorseNomination", D(endorse_nomination_request), D(endorse_nomination_response), "member",
     "nomination_id=" UUID ";comment=@501", RPC_INVALID_ARGUMENT, "comment"},
    {NO "AddReflection", D(add_reflection_request), D(add_reflection_response), "member",
     "nomination_id=" UUID ";text=short", RPC_INVALID_ARGUMENT, "text"},
    {NO "ListNominations", D(list_nominations_request), D(list_nominations_response), "member", "page_size=-1",
     RPC_INVALID_ARGUMENT, "page_size"},
    {NO "ListNominations", D(list_nominations_request), D(list_nominations_response), "member",
     "page_token=garbage!", RPC_INVALID_ARGUMENT, "page_token"},
    {NO "SearchRecognitions", D(search_recognitions_request), D(search_recognitions_response), "member",
     "query=@2000", RPC_INVALID_ARGUMENT, "query"},
    {NO "GetMember", D(get_member_request), D(member), "member", "member_id=@500", RPC_INVALID_ARGUMENT, "member_id"},
    {NO "UpsertMembers", D(upsert_members_request), D(upsert_members_response), "admin",
     "members[].member_id=has space", RPC_INVALID_ARGUMENT, "members[0].member_id"},
    /* svc-award */
    {AW "CreateBadge", D(create_badge_request), D(badge), "admin", "badge.id=Bad Slug!;badge.name=Bad;badge.points=10",
     RPC_INVALID_ARGUMENT, "badge.id"},
    {AW "CreateBadge", D(create_badge_request), D(badge), "admin", "badge.id=ok-slug;badge.name=Ok;badge.points=-5",
     RPC_INVALID_ARGUMENT, "badge.points"},
    {AW "CreateBadge", D(create_badge_request), D(badge), "admin",
     "badge.id=ok-slug;badge.name=Ok;badge.points=5;badge.image_url=ftp://example.com/x.png", RPC_INVALID_ARGUMENT,
     "badge.image_url"},
    {AW "CreateBadge", D(create_badge_request), D(badge), "admin", "badge.id=ok-slug;badge.name=@500;badge.points=5",
     RPC_INVALID_ARGUMENT, "badge.name"},
    {AW "GetBadge", D(get_badge_request), D(badge), "member", "badge_id=@300", RPC_INVALID_ARGUMENT, "badge_id"},
    {AW "ListAwards", D(list_awards_request), D(list_awards_response), "member", "page_size=100000",
     RPC_INVALID_ARGUMENT, "page_size"},
    {AW "RevokeAward", D(revoke_award_request), D(award), "admin", "award_id=nope;reason=test", RPC_INVALID_ARGUMENT,
     "award_id"},
    {AW "CreateRule", D(create_rule_request), D(rule), "admin",
     "rule.name=r;rule.kind=1;rule.badge_id=deal-closer;rule.threshold=0;rule.grant_badge_id=deal-closer",
     RPC_INVALID_ARGUMENT, "rule.threshold"},
    {AW "GetProfile", D(get_profile_request), D(profile), "member", "member_id=@500", RPC_INVALID_ARGUMENT,
     "member_id"},
    /* svc-leaderboard */
    {LB "GetTop", D(get_top_request), D(get_top_response), "member", "board.window=9", RPC_INVALID_ARGUMENT,
     "board.window"},
    {LB "GetTop", D(get_top_request), D(get_top_response), "member", "board.window=1;board.period=2026-W99",
     RPC_INVALID_ARGUMENT, "board.period"},
    /* Only the form the window takes, from today's date. */
    {LB "GetTop", D(get_top_request), D(get_top_response), "member", "board.window=1;board.period=2026-11",
     RPC_INVALID_ARGUMENT, "board.period: '2026-11' is not a period of the week window (like 20"},
    {LB "GetTop", D(get_top_request), D(get_top_response), "member", "board.window=2;board.period=2026-W47",
     RPC_INVALID_ARGUMENT, "is not a period of the month window (like 20"},
    {LB "GetTop", D(get_top_request), D(get_top_response), "member", "page_size=101", RPC_INVALID_ARGUMENT,
     "page_size"},
    {LB "GetTop", D(get_top_request), D(get_top_response), "member", "board.scope=2", RPC_INVALID_ARGUMENT,
     "board.scope_id"},
    {LB "GetRank", D(get_rank_request), D(get_rank_response), "member", "subject_id=", RPC_INVALID_ARGUMENT, "subject_id"},
    {LB "GetAround", D(get_around_request), D(get_around_response), "member", "subject_id=ann;above=51",
     RPC_INVALID_ARGUMENT, "above"},
    /* svc-notify */
    {NT "ListInbox", D(list_inbox_request), D(list_inbox_response), "member", "page_size=100000",
     RPC_INVALID_ARGUMENT, "page_size"},
    {NT "CreateChannel", D(create_channel_request), D(channel), "admin",
     "channel.url=gopher://example.com/hook;channel.secret=s", RPC_INVALID_ARGUMENT, "channel.url"},
    /* One list of event kinds, checked everywhere. */
    {NT "CreateChannel", D(create_channel_request), D(channel), "admin",
     "channel.url=https://hooks.example.com/x;channel.secret=0123456789abcdef;channel.kinds[]=bogus",
     RPC_INVALID_ARGUMENT, "channel.kinds[0]: unknown kind 'bogus'"},
    {NT "UpdatePreferences", D(update_preferences_request), D(preferences), "member",
     "preferences.muted_kinds[]=no_such_kind", RPC_INVALID_ARGUMENT, "muted_kinds"},
    {NT "GetDigest", D(get_digest_request), D(digest), "member", "week=2026-W99", RPC_INVALID_ARGUMENT, "week"},
    {NT "ListDeliveries", D(list_deliveries_request), D(list_deliveries_response), "admin", "channel_id=@300",
     RPC_INVALID_ARGUMENT, "channel_id"},
};

static void setup(void) {
  th_init();
  snprintf(org, sizeof org, "badin-%d", getpid());
  th_suite_start(&suite, "badinput", SECRET, NULL);
}

static void teardown(void) {
  th_suite_stop(&suite);
  th_fini();
}

TestSuite(bad_input, .init = setup, .fini = teardown, .timeout = 180);

Test(bad_input, every_rpc_refuses_bad_fields_naming_the_field) {
  arena a;
  arena_init(&a);
  int failures = 0;
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    const bad *c = &cases[i];
    void *req = arena_alloc(&a, c->req->sizeof_message);
    protobuf_c_message_init(c->req, req);
    th_fill(&a, c->req, req, c->fields);
    char bearer[2100];
    snprintf(bearer, sizeof bearer, "Bearer %s", th_jwt(SECRET, org, "ann", c->role, "east", 300));
    const char *md[] = {"authorization", bearer, NULL};
    rpc_call_opts o = {.timeout_ms = 10000, .metadata = md};
    void *out;
    rpc_status st;
    int code = rpc_call(suite.gateway.addr, c->method, req, c->resp, &o, &a, &out, &st);
    const char *msg = st.message ? st.message : "";
    if (code != c->want || !strstr(msg, c->names)) {
      failures++;
      cr_log_error("%s {%.80s}: %s \"%s\", want %s naming %s", c->method, c->fields, rpc_code_name(code), msg,
                   rpc_code_name(c->want), c->names);
    }
  }
  cr_assert_eq(failures, 0, "%d of %zu case(s) failed, see above", failures, sizeof cases / sizeof cases[0]);
  arena_free(&a);
}
