/* authz.c - the method table. Names follow the proto contract in proto/;
 * nomination and notify entries follow their issues and are checked against
 * their protos as those land. Services check roles again themselves. */
#include "authz.h"

#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "hash.h"
#include "method_paths.h"

static const authz_rule table[] = {
    {AW "CreateBadge", "award", AZ_A, 0},
    {AW "UpdateBadge", "award", AZ_A, 0},
    {AW "RetireBadge", "award", AZ_A, 0},
    {AW "GetBadge", "award", AZ_ALL, 0},
    {AW "ListBadges", "award", AZ_ALL, 0},
    {AW "GrantAward", "award", AZ_A, 0},   /* admins' direct awards; nominations use the outbox */
    {AW "GrantAwards", "award", AZ_INTERNAL, 0},   /* the outbox's batches of approvals */
    {AW "RevokeAward", "award", AZ_A, 0},
    {AW "ListAwards", "award", AZ_ALL, 0},
    {AW "CreateRule", "award", AZ_A, 0},
    {AW "GetRule", "award", AZ_ALL, 0},
    {AW "UpdateRule", "award", AZ_A, 0},
    {AW "ListRules", "award", AZ_ALL, 0},
    {AW "DeleteRule", "award", AZ_A, 0},
    {AW "GetProfile", "award", AZ_ALL, 0},
    {AW "GetAwardStats", "award", AZ_G | AZ_A, 0},
    /* Open Badges credentials: svc-award narrows GetCredential to the
     * recipient's own awards unless the caller is an admin. */
    {CR "GetIssuer", "award", AZ_ALL, 0},
    {CR "UpdateIssuer", "award", AZ_A, 0},
    {CR "GetIssuerKeys", "award", AZ_ALL, 0},
    {CR "GetCredential", "award", AZ_ALL, 0},
    {CR "GetCredentialStatusList", "award", AZ_ALL, 0},
    {CR "GetCredentialPreferences", "award", AZ_ALL, 0},
    {CR "UpdateCredentialPreferences", "award", AZ_ALL, 0},
    {LB "RecordAward", "leaderboard", AZ_INTERNAL, 0},
    {LB "RecordAwards", "leaderboard", AZ_INTERNAL, 0},
    {LB "RetractAward", "leaderboard", AZ_INTERNAL, 0},
    {LB "GetTop", "leaderboard", AZ_ALL, 0},
    {LB "GetRank", "leaderboard", AZ_ALL, 0},
    {LB "GetAround", "leaderboard", AZ_ALL, 0},
    {LB "RebuildLeaderboards", "leaderboard", AZ_A, 0},
    {NO "UpsertMembers", "nomination", AZ_A, 0},
    {NO "GetMember", "nomination", AZ_ALL, 0},
    {NO "ListMembers", "nomination", AZ_ALL, 0},
    {NO "DeactivateMember", "nomination", AZ_A, 0},
    {NO "ReactivateMember", "nomination", AZ_A, 0},
    {NO "CreateNomination", "nomination", AZ_ALL, 0},
    {NO "GetNomination", "nomination", AZ_ALL, 0},
    {NO "ListNominations", "nomination", AZ_ALL, 0},
    {NO "ReviewNomination", "nomination", AZ_G | AZ_A, 0},
    {NO "WithdrawNomination", "nomination", AZ_ALL, 0},
    {NO "EndorseNomination", "nomination", AZ_ALL, 0},
    {NO "AddReflection", "nomination", AZ_ALL, 0},
    {NO "ListReflections", "nomination", AZ_ALL, 0},
    {NO "GetAllowance", "nomination", AZ_ALL, 0},
    {NO "SearchRecognitions", "nomination", AZ_ALL, 0},
    {NO "GetParticipationStats", "nomination", AZ_G | AZ_A, 0},
    {NO "GetOrgSettings", "nomination", AZ_ALL, 0},
    {NO "UpdateOrgSettings", "nomination", AZ_A, 0},
    {NT "PublishEvent", "notify", AZ_INTERNAL, 0},
    {NT "PublishEvents", "notify", AZ_INTERNAL, 0},
    {NT "ListInbox", "notify", AZ_ALL, 0},
    {NT "MarkRead", "notify", AZ_ALL, 0},
    {NT "Subscribe", "notify", AZ_ALL, 1},
    {NT "GetPreferences", "notify", AZ_ALL, 0},
    {NT "UpdatePreferences", "notify", AZ_ALL, 0},
    {NT "CreateChannel", "notify", AZ_A, 0},
    {NT "ListChannels", "notify", AZ_A, 0},
    {NT "DeleteChannel", "notify", AZ_A, 0},
    {NT "TestChannel", "notify", AZ_A, 0},
    {NT "ListDeliveries", "notify", AZ_A, 0},
    {NT "GetDigest", "notify", AZ_ALL, 0},
    /* Signals (svc-award): a CRM integration pushes, nothing else. */
    {SG "IngestSignals", "award", AZ_A | AZ_I, 0},
    {SG "ListSignals", "award", AZ_ALL, 0},
    {SG "CreateSignalRule", "award", AZ_A, 0},
    {SG "ListSignalRules", "award", AZ_ALL, 0},
    {SG "DeleteSignalRule", "award", AZ_A, 0},
    {SG "SuggestRecognitions", "award", AZ_ALL, 0},
    {SG "CreateJourney", "award", AZ_A, 0},
    {SG "UpdateJourney", "award", AZ_A, 0},
    {SG "ListJourneys", "award", AZ_ALL, 0},
    {SG "GetOutcomeStats", "award", AZ_G | AZ_A, 0},
};

/* The table by method, hashed once: every call through the gateway looks
 * its method up (a linear scan was 90 string compares per call). */
#define INDEX_SLOTS 512   /* a power of two, over four times the table */
_Static_assert(sizeof table / sizeof table[0] < INDEX_SLOTS / 2, "grow INDEX_SLOTS with the table");
static const authz_rule *g_index[INDEX_SLOTS];
static pthread_once_t g_index_once = PTHREAD_ONCE_INIT;

static void index_build(void) {
  for (size_t i = 0; i < sizeof table / sizeof table[0]; i++) {
    size_t h = hash_str(HASH_INIT, table[i].method) & (INDEX_SLOTS - 1);
    while (g_index[h]) h = (h + 1) & (INDEX_SLOTS - 1);
    g_index[h] = &table[i];
  }
}

const authz_rule *authz_find(const char *method) {
  pthread_once(&g_index_once, index_build);
  for (size_t h = hash_str(HASH_INIT, method) & (INDEX_SLOTS - 1); g_index[h]; h = (h + 1) & (INDEX_SLOTS - 1))
    if (strcmp(g_index[h]->method, method) == 0) return g_index[h];
  return NULL;
}

int authz_count(void) { return (int)(sizeof table / sizeof table[0]); }

const authz_rule *authz_at(int i) { return i >= 0 && i < authz_count() ? &table[i] : NULL; }

unsigned authz_role_bit(const char *role) {
  if (!strcmp(role, "member")) return AZ_M;
  if (!strcmp(role, "manager")) return AZ_G;
  if (!strcmp(role, "admin")) return AZ_A;
  if (!strcmp(role, "integration")) return AZ_I;
  return 0;
}
