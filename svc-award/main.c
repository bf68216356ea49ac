/* svc-award: the badge catalog, awards, milestone rules, profiles, award
 * analytics and Open Badges 3.0 credentials; and accolade.v1.SignalService
 * (signals, rules over them, prompts, suggestions, journeys, outcome
 * analytics). Wiring only; see award.h and signal.h for the decisions. */
#include "accolade/v1/leaderboard.pb-c.h"
#include "accolade/v1/notify.pb-c.h"
#include "award.h"
#include "outbox.h"
#include "profcache.h"
#include "signal.h"
#include "svc.h"

#define M(name, req, resp, fn) \
  RPC_UNARY("/accolade.v1.AwardService/" name, accolade__v1__##req, accolade__v1__##resp, fn)
#define C(name, req, resp, fn) \
  RPC_UNARY("/accolade.v1.CredentialService/" name, accolade__v1__##req, accolade__v1__##resp, fn)

#define S(name, req, resp, fn) \
  RPC_UNARY("/accolade.v1.SignalService/" name, accolade__v1__##req, accolade__v1__##resp, fn)

static const rpc_method methods[] = {
    M("CreateBadge", create_badge_request, badge, catalog_create_badge),
    M("UpdateBadge", update_badge_request, badge, catalog_update_badge),
    M("RetireBadge", retire_badge_request, badge, catalog_retire_badge),
    M("GetBadge", get_badge_request, badge, catalog_get_badge),
    M("ListBadges", list_badges_request, list_badges_response, catalog_list_badges),
    M("GrantAward", grant_award_request, grant_award_response, grant_award),
    M("GrantAwards", grant_awards_request, grant_awards_response, grant_awards),
    M("RevokeAward", revoke_award_request, award, grant_revoke),
    M("ListAwards", list_awards_request, list_awards_response, reads_list_awards),
    M("CreateRule", create_rule_request, rule, rules_create),
    M("GetRule", get_rule_request, rule, rules_get),
    M("UpdateRule", update_rule_request, rule, rules_update),
    M("ListRules", list_rules_request, list_rules_response, rules_list),
    M("DeleteRule", delete_rule_request, delete_rule_response, rules_delete),
    M("GetProfile", get_profile_request, profile, reads_get_profile),
    M("GetAwardStats", get_award_stats_request, award_stats, stats_get),
    C("GetIssuer", get_issuer_request, issuer_profile, credential_get_issuer),
    C("UpdateIssuer", update_issuer_request, issuer_profile, credential_update_issuer),
    C("GetIssuerKeys", get_issuer_keys_request, issuer_keys, credential_get_keys),
    C("GetCredential", get_credential_request, credential, credential_get),
    C("GetCredentialStatusList", get_credential_status_list_request, credential_status_list,
      credential_status_list),
    C("GetCredentialPreferences", get_credential_preferences_request, credential_preferences,
      credential_get_prefs),
    C("UpdateCredentialPreferences", update_credential_preferences_request, credential_preferences,
      credential_update_prefs),
    /* accolade.v1.SignalService (signal.h) */
    S("IngestSignals", ingest_signals_request, ingest_signals_response, signals_ingest),
    S("ListSignals", list_signals_request, list_signals_response, signals_list),
    S("CreateSignalRule", create_signal_rule_request, signal_rule, signal_rules_create),
    S("ListSignalRules", list_signal_rules_request, list_signal_rules_response, signal_rules_list),
    S("DeleteSignalRule", delete_signal_rule_request, delete_signal_rule_response, signal_rules_delete),
    S("SuggestRecognitions", suggest_recognitions_request, suggest_recognitions_response, signals_suggest),
    S("CreateJourney", create_journey_request, journey, journeys_create),
    S("UpdateJourney", update_journey_request, journey, journeys_update),
    S("ListJourneys", list_journeys_request, list_journeys_response, journeys_list),
    S("GetOutcomeStats", get_outcome_stats_request, outcome_stats, signals_outcomes),
};

static int init(const config *cfg, void **app) {
  (void)app;
  /* A round's awards and events leave as one call (and commit) per receiver. */
  if (outbox_batch_as(&accolade__v1__leaderboard_service__descriptor, "RecordAward", "RecordAwards") ||
      outbox_batch_as(&accolade__v1__notify_service__descriptor, "PublishEvent", "PublishEvents"))
    return -1;
  profcache_init(cfg);
  return credential_init(cfg);
}
static void fini(void *app) { credential_fini(); }

int main(int argc, char **argv) {
  static const svc_def def = {
      .name = "svc-award",
      .env = "AWARD",
      .port = 50052,
      .schema = "award",
      .migrations = AWARD_MIGRATIONS_DIR,
      .redis = SVC_REDIS_OPTIONAL,   /* the profile caches' tokens (profcache.h) */
      .outbox = 1,
      .methods = methods,
      .nmethods = (int)(sizeof methods / sizeof methods[0]),
      .init = init,
      .fini = fini,
  };
  return svc_main(argc, argv, &def);
}
