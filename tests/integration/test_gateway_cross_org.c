/* Org isolation through the real gateway and the four real services: org A
 * gets members, a custom badge, a rule, a channel, an approved nomination
 * (so an award, leaderboard points and inbox notifications); then org B's
 * admin names each of A's ids in every RPC that takes one. Each case asserts
 * the exact status, and no reply to B, whatever its status, carries any of
 * A's ids or texts. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "accolade/v1/award.pb-c.h"
#include "accolade/v1/credential.pb-c.h"
#include "accolade/v1/leaderboard.pb-c.h"
#include "accolade/v1/nomination.pb-c.h"
#include "accolade/v1/notify.pb-c.h"
#include "accolade/v1/signal.pb-c.h"
#include "harness.h"
#include "method_paths.h"

#define SECRET "cross-org-secret"
#define D(name) &accolade__v1__##name##__descriptor

static th_suite suite;
static char org_a[64], org_b[64];

/* A's ids, filled by the setup; the markers B must never see. */
enum { ID_MEMBER, ID_NOMINATION, ID_AWARD, ID_BADGE, ID_RULE, ID_SIGNAL_RULE, ID_JOURNEY, ID_CHANNEL, ID_NONE, NIDS };
static char ids[NIDS][128];
static const char *const markers[] = {"ORGA-SECRET", "orga-secret-badge", "ORGA-RULE", "Annika Orga"};

static int call(const char *org, const char *user, const char *role, const char *method, const void *req,
                const ProtobufCMessageDescriptor *d, arena *a, void **out, rpc_status *st) {
  return th_via_as(suite.gateway.addr, SECRET, org, user, role, "", 10000, method, req, d, a, out, st);
}

#define A_OK(user, role, method, req, desc, out)                                                     \
  do {                                                                                               \
    rpc_status st_;                                                                                  \
    cr_assert_eq(call(org_a, user, role, method, req, desc, &a, (void **)(out), &st_), RPC_OK,       \
                 "%s: %s", method, st_.message);                                                     \
  } while (0)

static void seed_org_a(void) {
  arena a;
  arena_init(&a);
  void *out;
  Accolade__V1__Member m[3], *mp[3];
  const char *who[] = {"mgr", "ann", "bob"}, *mgrs[] = {"", "mgr", "mgr"}, *names[] = {"", "Annika Orga", ""};
  for (int i = 0; i < 3; i++) {
    accolade__v1__member__init(&m[i]);
    m[i].member_id = (char *)who[i];
    m[i].manager_id = (char *)mgrs[i];
    m[i].display_name = (char *)names[i];
    m[i].team = "east";
    m[i].active = 1;
    mp[i] = &m[i];
  }
  Accolade__V1__UpsertMembersRequest ur = ACCOLADE__V1__UPSERT_MEMBERS_REQUEST__INIT;
  ur.members = mp;
  ur.n_members = 3;
  A_OK("ada", "admin", NO "UpsertMembers", &ur, D(upsert_members_response), &out);
  snprintf(ids[ID_MEMBER], sizeof ids[0], "ann");

  Accolade__V1__Badge b = ACCOLADE__V1__BADGE__INIT;
  b.id = "orga-secret-badge";
  b.name = "ORGA-SECRET badge";
  b.category = "sales";
  b.points = 10;
  b.active = 1;
  Accolade__V1__CreateBadgeRequest cb = ACCOLADE__V1__CREATE_BADGE_REQUEST__INIT;
  cb.badge = &b;
  A_OK("ada", "admin", AW "CreateBadge", &cb, D(badge), &out);
  snprintf(ids[ID_BADGE], sizeof ids[0], "orga-secret-badge");

  Accolade__V1__Rule r = ACCOLADE__V1__RULE__INIT;
  r.name = "ORGA-RULE five deals";
  r.kind = ACCOLADE__V1__RULE_KIND__BADGE_COUNT;
  r.badge_id = "deal-closer";
  r.threshold = 5;
  r.grant_badge_id = "orga-secret-badge";
  Accolade__V1__CreateRuleRequest crq = ACCOLADE__V1__CREATE_RULE_REQUEST__INIT;
  crq.rule = &r;
  Accolade__V1__Rule *rule;
  A_OK("ada", "admin", AW "CreateRule", &crq, D(rule), &rule);
  snprintf(ids[ID_RULE], sizeof ids[0], "%s", rule->id);

  Accolade__V1__Channel ch = ACCOLADE__V1__CHANNEL__INIT;
  ch.url = "http://127.0.0.1:9/ORGA-SECRET-hook";
  ch.secret = "orga-channel-secret";
  Accolade__V1__CreateChannelRequest cc = ACCOLADE__V1__CREATE_CHANNEL_REQUEST__INIT;
  cc.channel = &ch;
  Accolade__V1__Channel *channel;
  A_OK("ada", "admin", NT "CreateChannel", &cc, D(channel), &channel);
  snprintf(ids[ID_CHANNEL], sizeof ids[0], "%s", channel->id);

  Accolade__V1__CreateNominationRequest cn = ACCOLADE__V1__CREATE_NOMINATION_REQUEST__INIT;
  cn.badge_id = "deal-closer";
  char *nominees[] = {"ann"};
  cn.nominee_ids = nominees;
  cn.n_nominee_ids = 1;
  cn.justification = "ORGA-SECRET: closed the Northwind renewal two weeks early with support's help.";
  cn.request_id = "cross-org-1";
  Accolade__V1__Nomination *n;
  A_OK("bob", "member", NO "CreateNomination", &cn, D(nomination), &n);
  snprintf(ids[ID_NOMINATION], sizeof ids[0], "%s", n->id);
  Accolade__V1__ReviewNominationRequest rr = ACCOLADE__V1__REVIEW_NOMINATION_REQUEST__INIT;
  rr.nomination_id = n->id;
  rr.approve = 1;
  A_OK("mgr", "manager", NO "ReviewNomination", &rr, D(nomination), &out);

  /* The award, its points and ann's notification arrive through outboxes. */
  Accolade__V1__ListAwardsRequest la = ACCOLADE__V1__LIST_AWARDS_REQUEST__INIT;
  la.recipient_id = "ann";
  Accolade__V1__GetRankRequest gr = ACCOLADE__V1__GET_RANK_REQUEST__INIT;
  gr.subject_id = "ann";
  Accolade__V1__ListInboxRequest li = ACCOLADE__V1__LIST_INBOX_REQUEST__INIT;
  int award = 0, ranked = 0, inbox = 0;
  for (int i = 0; i < 400 && !(award && ranked && inbox); i++) {
    Accolade__V1__ListAwardsResponse *aw;
    Accolade__V1__GetRankResponse *rk;
    Accolade__V1__ListInboxResponse *ib;
    rpc_status st;
    if (!award && call(org_a, "ada", "admin", AW "ListAwards", &la, D(list_awards_response), &a, (void **)&aw,
                       &st) == RPC_OK && aw->n_awards == 1) {
      snprintf(ids[ID_AWARD], sizeof ids[0], "%s", aw->awards[0]->id);
      award = 1;
    }
    if (!ranked && call(org_a, "ann", "member", LB "GetRank", &gr, D(get_rank_response), &a, (void **)&rk, &st) ==
                       RPC_OK)
      ranked = rk->ranked;
    if (!inbox && call(org_a, "ann", "member", NT "ListInbox", &li, D(list_inbox_response), &a, (void **)&ib, &st) ==
                      RPC_OK)
      inbox = ib->n_notifications > 0;
    if (!(award && ranked && inbox)) usleep(25 * 1000);
  }
  cr_assert(award && ranked && inbox, "org A's award did not arrive everywhere (%d %d %d)", award, ranked, inbox);

  /* Signals: a won deal of ann's, a rule over signals, a journey. */
  Accolade__V1__Signal sig = ACCOLADE__V1__SIGNAL__INIT, *sp = &sig;
  sig.source = "salesforce";
  sig.external_id = "ORGA-SECRET-006";
  sig.member_id = "ann";
  sig.kind = ACCOLADE__V1__SIGNAL_KIND__DEAL_WON;
  sig.occur_time_ms = ((int64_t)time(NULL) - 86400) * 1000;
  sig.opportunity_id = "orga-opp";
  sig.account = "ORGA-SECRET Corp";
  sig.amount_minor = 5200000;
  sig.currency = "USD";
  char *collab[] = {"bob"};
  sig.collaborators = collab;
  sig.n_collaborators = 1;
  Accolade__V1__IngestSignalsRequest is = ACCOLADE__V1__INGEST_SIGNALS_REQUEST__INIT;
  is.signals = &sp;
  is.n_signals = 1;
  Accolade__V1__IngestSignalsResponse *ir;
  A_OK("crm", "integration", SG "IngestSignals", &is, D(ingest_signals_response), &ir);
  cr_assert_eq(ir->created, 1);
  Accolade__V1__SignalRule sr = ACCOLADE__V1__SIGNAL_RULE__INIT;
  sr.name = "ORGA-RULE five deals";
  sr.signal_kind = ACCOLADE__V1__SIGNAL_KIND__DEAL_WON;
  sr.threshold = 5;
  sr.grant_badge_id = "orga-secret-badge";
  Accolade__V1__CreateSignalRuleRequest csr = ACCOLADE__V1__CREATE_SIGNAL_RULE_REQUEST__INIT;
  csr.rule = &sr;
  Accolade__V1__SignalRule *srule;
  A_OK("ada", "admin", SG "CreateSignalRule", &csr, D(signal_rule), &srule);
  snprintf(ids[ID_SIGNAL_RULE], sizeof ids[0], "%s", srule->id);
  Accolade__V1__JourneyStep step = ACCOLADE__V1__JOURNEY_STEP__INIT, *stp = &step;
  step.badge_id = "orga-secret-badge";
  Accolade__V1__Journey j = ACCOLADE__V1__JOURNEY__INIT;
  j.name = "ORGA-RULE journey";
  j.steps = &stp;
  j.n_steps = 1;
  Accolade__V1__CreateJourneyRequest cj = ACCOLADE__V1__CREATE_JOURNEY_REQUEST__INIT;
  cj.journey = &j;
  Accolade__V1__Journey *journey;
  A_OK("ada", "admin", SG "CreateJourney", &cj, D(journey), &journey);
  snprintf(ids[ID_JOURNEY], sizeof ids[0], "%s", journey->id);
  arena_free(&a);
}

static void setup(void) {
  th_init();
  snprintf(org_a, sizeof org_a, "xorg-a-%d", getpid());
  snprintf(org_b, sizeof org_b, "xorg-b-%d", getpid());
  const char *extra[] = {"ACCOLADE_NOTIFY_ALLOW_PRIVATE=1", NULL};
  th_suite_start(&suite, "crossorg", SECRET, extra);
  seed_org_a();
}

static void teardown(void) {
  th_suite_stop(&suite);
  th_fini();
}

TestSuite(cross_org, .init = setup, .fini = teardown, .timeout = 240);

/* leaks: the first of A's ids or markers found in |m| packed, or NULL. */
static const char *leaks(const ProtobufCMessage *m) {
  size_t n = protobuf_c_message_get_packed_size(m);
  uint8_t *buf = malloc(n + 1);
  protobuf_c_message_pack(m, buf);
  const char *found = NULL;
  for (size_t i = 0; i < sizeof markers / sizeof markers[0] && !found; i++)
    if (memmem(buf, n, markers[i], strlen(markers[i]))) found = markers[i];
  for (int i = ID_NOMINATION; i <= ID_CHANNEL && !found; i++)
    if (i != ID_BADGE && memmem(buf, n, ids[i], strlen(ids[i]))) found = ids[i];
  free(buf);
  return found;
}

typedef struct xcase {
  const char *method;
  const ProtobufCMessageDescriptor *req, *resp;
  const char *field;   /* set to A's id; NULL: none */
  int id;
  const char *role;    /* B's caller */
  int want;
  const char *other, *other_value;   /* another field the call needs to pass validation */
} xcase;

/* Every RPC that takes an id (and the lists and searches that could show
 * one), called by org B naming org A's. */
static const xcase cases[] = {
    {NO "GetMember", D(get_member_request), D(member), "member_id", ID_MEMBER, "admin", RPC_NOT_FOUND, NULL, NULL},
    {NO "DeactivateMember", D(deactivate_member_request), D(member), "member_id", ID_MEMBER, "admin", RPC_NOT_FOUND, NULL, NULL},
    {NO "ReactivateMember", D(reactivate_member_request), D(member), "member_id", ID_MEMBER, "admin", RPC_NOT_FOUND, NULL, NULL},
    {NO "ListReflections", D(list_reflections_request), D(list_reflections_response), "nomination_ids[]", ID_NOMINATION,
     "admin", RPC_OK, NULL, NULL},
    {NO "GetNomination", D(get_nomination_request), D(nomination), "nomination_id", ID_NOMINATION, "admin",
     RPC_NOT_FOUND, NULL, NULL},
    {NO "ReviewNomination", D(review_nomination_request), D(nomination), "nomination_id", ID_NOMINATION, "admin",
     RPC_NOT_FOUND, NULL, NULL},
    {NO "WithdrawNomination", D(withdraw_nomination_request), D(nomination), "nomination_id", ID_NOMINATION,
     "member", RPC_NOT_FOUND, NULL, NULL},
    {NO "EndorseNomination", D(endorse_nomination_request), D(endorse_nomination_response), "nomination_id",
     ID_NOMINATION, "member", RPC_NOT_FOUND, NULL, NULL},
    {NO "AddReflection", D(add_reflection_request), D(add_reflection_response), "nomination_id", ID_NOMINATION,
     "member", RPC_NOT_FOUND, "text", "A reflection long enough to pass the length check."},
    {NO "ListNominations", D(list_nominations_request), D(list_nominations_response), NULL, ID_NONE, "admin",
     RPC_OK, NULL, NULL},
    {NO "SearchRecognitions", D(search_recognitions_request), D(search_recognitions_response), "query", ID_NONE,
     "admin", RPC_OK, NULL, NULL},
    {NO "ListMembers", D(list_members_request), D(list_members_response), NULL, ID_NONE, "admin", RPC_OK, NULL, NULL},
    {AW "GetBadge", D(get_badge_request), D(badge), "badge_id", ID_BADGE, "admin", RPC_NOT_FOUND, NULL, NULL},
    {AW "UpdateBadge", D(update_badge_request), D(badge), "badge.id", ID_BADGE, "admin", RPC_NOT_FOUND, NULL, NULL},
    {AW "RetireBadge", D(retire_badge_request), D(badge), "badge_id", ID_BADGE, "admin", RPC_NOT_FOUND, NULL, NULL},
    {AW "GetRule", D(get_rule_request), D(rule), "rule_id", ID_RULE, "member", RPC_NOT_FOUND, NULL, NULL},
    {AW "UpdateRule", D(update_rule_request), D(rule), "rule.id", ID_RULE, "admin", RPC_NOT_FOUND, NULL, NULL},
    {AW "RevokeAward", D(revoke_award_request), D(award), "award_id", ID_AWARD, "admin", RPC_NOT_FOUND, "reason",
     "cross-org attempt"},
    {AW "ListAwards", D(list_awards_request), D(list_awards_response), "recipient_id", ID_MEMBER, "admin", RPC_OK, NULL, NULL},
    {AW "ListBadges", D(list_badges_request), D(list_badges_response), NULL, ID_NONE, "admin", RPC_OK, NULL, NULL},
    {AW "ListRules", D(list_rules_request), D(list_rules_response), NULL, ID_NONE, "admin", RPC_OK, NULL, NULL},
    {AW "DeleteRule", D(delete_rule_request), D(delete_rule_response), "rule_id", ID_RULE, "admin", RPC_NOT_FOUND, NULL, NULL},
    {AW "GetProfile", D(get_profile_request), D(profile), "member_id", ID_MEMBER, "admin", RPC_OK, NULL, NULL},
    {CR "GetCredential", D(get_credential_request), D(credential), "award_id", ID_AWARD, "admin", RPC_NOT_FOUND,
     NULL, NULL},
    {CR "GetCredentialStatusList", D(get_credential_status_list_request), D(credential_status_list), NULL, ID_NONE,
     "admin", RPC_OK, NULL, NULL},
    {CR "GetIssuer", D(get_issuer_request), D(issuer_profile), NULL, ID_NONE, "admin", RPC_OK, NULL, NULL},
    {LB "GetRank", D(get_rank_request), D(get_rank_response), "subject_id", ID_MEMBER, "admin", RPC_OK, NULL, NULL},
    {LB "GetAround", D(get_around_request), D(get_around_response), "subject_id", ID_MEMBER, "admin", RPC_OK, NULL, NULL},
    {LB "GetTop", D(get_top_request), D(get_top_response), NULL, ID_NONE, "admin", RPC_OK, NULL, NULL},
    {NT "DeleteChannel", D(delete_channel_request), D(delete_channel_response), "channel_id", ID_CHANNEL, "admin",
     RPC_NOT_FOUND, NULL, NULL},
    {NT "TestChannel", D(test_channel_request), D(test_channel_response), "channel_id", ID_CHANNEL, "admin",
     RPC_NOT_FOUND, NULL, NULL},
    {NT "ListDeliveries", D(list_deliveries_request), D(list_deliveries_response), "channel_id", ID_CHANNEL, "admin",
     RPC_NOT_FOUND, NULL, NULL},
    {NT "ListChannels", D(list_channels_request), D(list_channels_response), NULL, ID_NONE, "admin", RPC_OK, NULL, NULL},
    {NT "ListInbox", D(list_inbox_request), D(list_inbox_response), NULL, ID_NONE, "member", RPC_OK, NULL, NULL},
    {NT "GetDigest", D(get_digest_request), D(digest), NULL, ID_NONE, "admin", RPC_OK, NULL, NULL},
    {SG "ListSignals", D(list_signals_request), D(list_signals_response), NULL, ID_NONE, "admin", RPC_OK, NULL, NULL},
    {SG "ListSignals", D(list_signals_request), D(list_signals_response), "member_id", ID_MEMBER, "admin", RPC_OK,
     NULL, NULL},
    {SG "ListSignalRules", D(list_signal_rules_request), D(list_signal_rules_response), NULL, ID_NONE, "admin", RPC_OK,
     NULL, NULL},
    {SG "DeleteSignalRule", D(delete_signal_rule_request), D(delete_signal_rule_response), "rule_id", ID_SIGNAL_RULE,
     "admin", RPC_NOT_FOUND, NULL, NULL},
    {SG "CreateSignalRule", D(create_signal_rule_request), D(signal_rule), "rule.grant_badge_id", ID_BADGE, "admin",
     RPC_NOT_FOUND, "rule.name", "x;rule.signal_kind=1;rule.threshold=1"},
    {SG "SuggestRecognitions", D(suggest_recognitions_request), D(suggest_recognitions_response), "member_id",
     ID_MEMBER, "admin", RPC_OK, NULL, NULL},
    {SG "SuggestRecognitions", D(suggest_recognitions_request), D(suggest_recognitions_response), NULL, ID_NONE,
     "member", RPC_OK, NULL, NULL},
    {SG "ListJourneys", D(list_journeys_request), D(list_journeys_response), NULL, ID_NONE, "admin", RPC_OK, NULL, NULL},
    {SG "UpdateJourney", D(update_journey_request), D(journey), "journey.id", ID_JOURNEY, "admin", RPC_NOT_FOUND, NULL,
     NULL},
    {SG "GetOutcomeStats", D(get_outcome_stats_request), D(outcome_stats), NULL, ID_NONE, "admin", RPC_OK, NULL, NULL},
};

Test(cross_org, org_b_naming_org_a_ids_gets_the_exact_status_and_none_of_a_s_data) {
  arena a;
  arena_init(&a);
  /* B is a real org with its own member "ann" too: ids collide, data must not. */
  int failures = 0;
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    const xcase *c = &cases[i];
    void *req = arena_alloc(&a, c->req->sizeof_message);
    protobuf_c_message_init(c->req, req);
    if (c->field) th_fill(&a, c->req, req, arena_printf(&a, "%s=%s", c->field, c->id == ID_NONE ? "ORGA-SECRET" : ids[c->id]));
    if (c->other) th_fill(&a, c->req, req, arena_printf(&a, "%s=%s", c->other, c->other_value));
    ProtobufCMessage *out = NULL;
    rpc_status st;
    int code = call(org_b, "bea", c->role, c->method, req, c->resp, &a, (void **)&out, &st);
    const char *leak = code == RPC_OK && out ? leaks(out) : NULL;
    if (!leak && st.message && strstr(st.message, "ORGA")) leak = st.message;
    if (code != c->want || leak) {
      failures++;
      cr_log_error("%s as %s of org B: %s (%s), want %s; leaked: %s", c->method, c->role, rpc_code_name(code),
                   st.message ? st.message : "", rpc_code_name(c->want), leak ? leak : "nothing");
    }
  }
  cr_assert_eq(failures, 0, "%d case(s) failed, see above", failures);
  arena_free(&a);
}

Test(cross_org, org_b_cannot_nominate_or_mark_read_with_org_a_ids) {
  arena a;
  arena_init(&a);
  void *out;
  rpc_status st;
  /* A's member as a nominee in B: no member of B (NOT_FOUND), and the field is named. */
  Accolade__V1__CreateNominationRequest cn = ACCOLADE__V1__CREATE_NOMINATION_REQUEST__INIT;
  cn.badge_id = "deal-closer";
  char *nominees[] = {ids[ID_MEMBER]};
  cn.nominee_ids = nominees;
  cn.n_nominee_ids = 1;
  cn.justification = "Trying to recognize someone from another org, which must not work at all.";
  cn.request_id = "cross-org-b-1";
  int code = call(org_b, "bea", "member", NO "CreateNomination", &cn, D(nomination), &a, &out, &st);
  cr_expect_eq(code, RPC_NOT_FOUND, "%s: %s", rpc_code_name(code), st.message);
  cr_expect(st.message && strstr(st.message, "nominee_ids"), "%s", st.message);
  /* A's custom badge in a grant by B's admin. */
  Accolade__V1__Recipient rcp = ACCOLADE__V1__RECIPIENT__INIT, *rp[] = {&rcp};
  rcp.member_id = "bea";
  Accolade__V1__GrantAwardRequest g = ACCOLADE__V1__GRANT_AWARD_REQUEST__INIT;
  g.source_id = "cross-org-grant";
  g.badge_id = ids[ID_BADGE];
  g.recipients = rp;
  g.n_recipients = 1;
  code = call(org_b, "bea", "admin", AW "GrantAward", &g, D(grant_award_response), &a, &out, &st);
  cr_expect_eq(code, RPC_NOT_FOUND, "%s: %s", rpc_code_name(code), st.message);
  /* Marking every notification id 1..200 read as B's ann marks none of A's. */
  int64_t nid[200];
  for (int i = 0; i < 200; i++) nid[i] = i + 1;
  Accolade__V1__MarkReadRequest mr = ACCOLADE__V1__MARK_READ_REQUEST__INIT;
  mr.ids = nid;
  mr.n_ids = 200;
  Accolade__V1__MarkReadResponse *marked;
  cr_assert_eq(call(org_b, "ann", "member", NT "MarkRead", &mr, D(mark_read_response), &a, (void **)&marked, &st),
               RPC_OK, "%s", st.message);
  cr_expect_eq(marked->marked, 0);
  Accolade__V1__ListInboxRequest li = ACCOLADE__V1__LIST_INBOX_REQUEST__INIT;
  li.unread_only = 1;
  Accolade__V1__ListInboxResponse *ib;
  cr_assert_eq(call(org_a, "ann", "member", NT "ListInbox", &li, D(list_inbox_response), &a, (void **)&ib, &st),
               RPC_OK);
  cr_expect_gt(ib->n_notifications, 0, "org A's ann still has her unread notifications");
  arena_free(&a);
}
