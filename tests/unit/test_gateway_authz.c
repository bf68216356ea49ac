/* The gateway's method table against the compiled protos: every public RPC of
 * every service has exactly one rule, every rule names a real RPC, and the
 * internal methods are never reachable from outside. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

#include "accolade/v1/award.pb-c.h"
#include "accolade/v1/credential.pb-c.h"
#include "accolade/v1/leaderboard.pb-c.h"
#include "accolade/v1/nomination.pb-c.h"
#include "accolade/v1/notify.pb-c.h"
#include "accolade/v1/signal.pb-c.h"
#include "authz.h"

static const ProtobufCServiceDescriptor *const services[] = {
    &accolade__v1__award_service__descriptor,
    &accolade__v1__credential_service__descriptor,
    &accolade__v1__leaderboard_service__descriptor,
    &accolade__v1__nomination_service__descriptor,
    &accolade__v1__notify_service__descriptor,
    &accolade__v1__signal_service__descriptor,
};
static const char *const owners[] = {"award", "award", "leaderboard", "nomination", "notify", "award"};
#define NSERVICES (sizeof services / sizeof services[0])

static int in_protos(const char *method) {
  for (size_t s = 0; s < NSERVICES; s++)
    for (unsigned m = 0; m < services[s]->n_methods; m++) {
      char path[256];
      snprintf(path, sizeof path, "/%s/%s", services[s]->name, services[s]->methods[m].name);
      if (!strcmp(path, method)) return 1;
    }
  return 0;
}

Test(gateway_authz, every_proto_method_has_a_rule_owned_by_its_service) {
  int total = 0;
  for (size_t s = 0; s < NSERVICES; s++) {
    for (unsigned m = 0; m < services[s]->n_methods; m++) {
      char path[256];
      snprintf(path, sizeof path, "/%s/%s", services[s]->name, services[s]->methods[m].name);
      const authz_rule *r = authz_find(path);
      cr_expect_not_null(r, "no rule for %s: the gateway would refuse it", path);
      if (r) cr_expect_str_eq(r->service, owners[s], "%s routed to %s", path, r->service);
      total++;
    }
  }
  cr_assert_eq(total, authz_count(), "rules (%d) and proto methods (%d) differ", authz_count(), total);
}

Test(gateway_authz, every_rule_names_a_proto_method_once) {
  for (int i = 0; i < authz_count(); i++) {
    const authz_rule *r = authz_at(i);
    cr_expect(in_protos(r->method), "rule %s is not in any proto", r->method);
    cr_expect_eq(authz_find(r->method), r, "%s has two rules", r->method);
  }
}

Test(gateway_authz, internal_methods_are_closed_and_grant_is_admin_only) {
  const char *internal[] = {"/accolade.v1.LeaderboardService/RecordAward",
                            "/accolade.v1.LeaderboardService/RetractAward",
                            "/accolade.v1.NotifyService/PublishEvent",
                            "/accolade.v1.LeaderboardService/RecordAwards",
                            "/accolade.v1.NotifyService/PublishEvents",
                            "/accolade.v1.AwardService/GrantAwards"};
  for (size_t i = 0; i < sizeof internal / sizeof internal[0]; i++) {
    const authz_rule *r = authz_find(internal[i]);
    cr_assert_not_null(r);
    cr_expect_eq(r->roles, AZ_INTERNAL, "%s must be internal", internal[i]);
  }
  cr_expect_eq(authz_find("/accolade.v1.AwardService/GrantAward")->roles, (unsigned)AZ_A);
  cr_expect_eq(authz_find("/accolade.v1.NotifyService/Subscribe")->stream, 1);
  for (int i = 0; i < authz_count(); i++)
    if (strcmp(authz_at(i)->method, "/accolade.v1.NotifyService/Subscribe"))
      cr_expect_eq(authz_at(i)->stream, 0, "%s marked streaming", authz_at(i)->method);
  cr_expect_null(authz_find("/accolade.v1.AwardService/getbadge"), "method names are exact");
  cr_expect_null(authz_find("/accolade.v1.AwardService/GetBadge/"));
  cr_expect_null(authz_find(""));
  cr_expect_eq(authz_role_bit("service"), 0u, "the service role never comes from outside");
  cr_expect_eq(authz_role_bit("Admin"), 0u);
  /* The integration role (a CRM) pushes signals and reaches nothing else. */
  cr_expect_eq(authz_role_bit("integration"), (unsigned)AZ_I);
  for (int i = 0; i < authz_count(); i++)
    cr_expect_eq((authz_at(i)->roles & AZ_I) != 0,
                 strcmp(authz_at(i)->method, "/accolade.v1.SignalService/IngestSignals") == 0,
                 "%s and the integration role", authz_at(i)->method);
}
