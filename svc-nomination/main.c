/* svc-nomination: members, nominations and review, endorsements,
 * reflections, allowances, search. Wiring only; see nom.h. */
#include "accolade/v1/award.pb-c.h"
#include "accolade/v1/notify.pb-c.h"
#include "nom.h"
#include "outbox.h"
#include "svc.h"

#define M(name, req, resp, fn) \
  RPC_UNARY("/accolade.v1.NominationService/" name, accolade__v1__##req, accolade__v1__##resp, fn)

static const rpc_method methods[] = {
    M("UpsertMembers", upsert_members_request, upsert_members_response, members_upsert),
    M("GetMember", get_member_request, member, members_get),
    M("ListMembers", list_members_request, list_members_response, members_list),
    M("DeactivateMember", deactivate_member_request, member, members_deactivate),
    M("ReactivateMember", reactivate_member_request, member, members_reactivate),
    /* Its request_id is a unique key of the nomination, read in the
     * handler's transaction (nominate.c): a retry answers that nomination. */
    RPC_UNARY_OWN_REPLAY("/accolade.v1.NominationService/CreateNomination", accolade__v1__create_nomination_request,
                         accolade__v1__nomination, nominate_create),
    M("GetNomination", get_nomination_request, nomination, nominate_get),
    M("ListNominations", list_nominations_request, list_nominations_response, nominate_list),
    M("ReviewNomination", review_nomination_request, nomination, review_decide),
    M("WithdrawNomination", withdraw_nomination_request, nomination, nominate_withdraw),
    M("EndorseNomination", endorse_nomination_request, endorse_nomination_response, review_endorse),
    M("AddReflection", add_reflection_request, add_reflection_response, review_reflect),
    M("ListReflections", list_reflections_request, list_reflections_response, review_reflections),
    M("GetAllowance", get_allowance_request, allowance, nominate_allowance),
    M("SearchRecognitions", search_recognitions_request, search_recognitions_response, search_recognitions),
    M("GetParticipationStats", get_participation_stats_request, participation_stats, stats_participation),
    M("GetOrgSettings", get_org_settings_request, org_settings, settings_get),
    M("UpdateOrgSettings", update_org_settings_request, org_settings, settings_update),
};

static int init(const config *cfg, void **app) {
  (void)cfg;
  (void)app;
  outbox_on_reply(&accolade__v1__award_service__descriptor, "GrantAward", nom_on_grant_reply);
  /* A round's approvals for svc-award and its events for svc-notify leave as
   * one call (and commit) each; the grants' replies come back one per
   * approval, for nom_on_grant_reply. */
  if (outbox_batch_as(&accolade__v1__award_service__descriptor, "GrantAward", "GrantAwards") ||
      outbox_batch_as(&accolade__v1__notify_service__descriptor, "PublishEvent", "PublishEvents"))
    return -1;
  scheduler_start();
  return 0;
}

static void fini(void *app) {
  (void)app;
  scheduler_stop();
}

int main(int argc, char **argv) {
  static const svc_def def = {
      .name = "svc-nomination",
      .env = "NOMINATION",
      .port = 50051,
      .schema = "nomination",
      .migrations = NOMINATION_MIGRATIONS_DIR,
      .outbox = 1,
      .methods = methods,
      .nmethods = (int)(sizeof methods / sizeof methods[0]),
      .init = init,
      .fini = fini,
  };
  return svc_main(argc, argv, &def);
}
