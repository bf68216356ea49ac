/* flow.c - the recognition flow through gateways (see flow.h). */
#include "flow.h"

#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "accolade/v1/leaderboard.pb-c.h"
#include "accolade/v1/nomination.pb-c.h"

#define NO "/accolade.v1.NominationService/"

int th_gw_call(const th_gw *g, int i, const char *org, const char *user, const char *role, const char *method,
               const void *req, const ProtobufCMessageDescriptor *d, int tries, int *retries, arena *a,
               void **out, rpc_status *st) {
  char bearer[2100];
  snprintf(bearer, sizeof bearer, "Bearer %s", th_jwt(g->secret, org, user, role, "", 600));
  const char *md[] = {"authorization", bearer, NULL};
  rpc_call_opts o = {.timeout_ms = 10000, .metadata = md};
  int rc = RPC_UNAVAILABLE;
  for (int t = 0; t < tries; t++) {
    if (t) {
      if (retries) (*retries)++;
      usleep(100 * 1000);
    }
    rc = rpc_call(g->addr[(unsigned)i % (unsigned)g->n], method, req, d, &o, a, out, st);
    if (rc != RPC_UNAVAILABLE && rc != RPC_DEADLINE_EXCEEDED) return rc;
  }
  return rc;
}

void th_org_setup(const th_gw *g, const char *org, int members, int givers) {
  arena a;
  arena_init(&a);
  int n = 1 + members + givers;
  Accolade__V1__Member *m = ARENA_ARRAY(&a, Accolade__V1__Member, (size_t)n);
  Accolade__V1__Member **mp = ARENA_ARRAY(&a, Accolade__V1__Member *, (size_t)n);
  for (int i = 0; i < n; i++) {
    accolade__v1__member__init(&m[i]);
    m[i].member_id = i == 0 ? "mgr" : arena_printf(&a, "%c%d", i <= members ? 'm' : 'g', i <= members ? i - 1 : i - 1 - members);
    m[i].manager_id = i == 0 ? "" : "mgr";
    m[i].team = i % 2 ? "east" : "west";
    m[i].display_name = arena_printf(&a, "Member %s", m[i].member_id);
    m[i].active = 1;
    mp[i] = &m[i];
  }
  Accolade__V1__UpsertMembersRequest ur = ACCOLADE__V1__UPSERT_MEMBERS_REQUEST__INIT;
  ur.members = mp;
  ur.n_members = (size_t)n;
  rpc_status st;
  void *out;
  int rc = th_gw_call(g, 0, org, "ada", "admin", NO "UpsertMembers", &ur, &accolade__v1__upsert_members_response__descriptor,
                      20, NULL, &a, &out, &st);
  cr_assert_eq(rc, RPC_OK, "UpsertMembers %s: %s %s", org, rpc_code_name(rc), st.message);
  Accolade__V1__OrgSettings s = ACCOLADE__V1__ORG_SETTINGS__INIT;
  s.allowance_per_month = 100;
  s.pair_cap_per_quarter = 100;
  s.overdue_days = 7;
  s.nudge_after_weeks = 4;
  Accolade__V1__UpdateOrgSettingsRequest us = ACCOLADE__V1__UPDATE_ORG_SETTINGS_REQUEST__INIT;
  us.settings = &s;
  rc = th_gw_call(g, 1, org, "ada", "admin", NO "UpdateOrgSettings", &us, &accolade__v1__org_settings__descriptor, 20,
                  NULL, &a, &out, &st);
  cr_assert_eq(rc, RPC_OK, "UpdateOrgSettings %s: %s %s", org, rpc_code_name(rc), st.message);
  arena_free(&a);
}

int th_nominate(const th_gw *g, int i, const char *org, const char *giver, const char *nominee, const char *badge,
                const char *request_id, int tries, int *retries, arena *a, Accolade__V1__Nomination **out) {
  Accolade__V1__CreateNominationRequest cn = ACCOLADE__V1__CREATE_NOMINATION_REQUEST__INIT;
  cn.badge_id = (char *)badge;
  char *nominees[] = {(char *)nominee};
  cn.nominee_ids = nominees;
  cn.n_nominee_ids = 1;
  cn.justification = arena_printf(a, "Closed renewal %s early by pairing with support on every blocker.", request_id);
  cn.request_id = (char *)request_id;
  rpc_status st;
  int rc = th_gw_call(g, i, org, giver, "member", NO "CreateNomination", &cn, &accolade__v1__nomination__descriptor,
                      tries, retries, a, (void **)out, &st);
  if (rc != RPC_OK) fprintf(stderr, "nomination %s: %s %s\n", request_id, rpc_code_name(rc), st.message ? st.message : "");
  return rc;
}

int th_recognize(const th_gw *g, const char *org, int k, int members, int givers, int tries, int *retries) {
  arena a;
  arena_init(&a);
  char who[16], giver[16], rid[160];
  snprintf(who, sizeof who, "m%d", k % members);
  snprintf(giver, sizeof giver, "g%d", k % givers);
  snprintf(rid, sizeof rid, "%s-%d", org, k);
  Accolade__V1__Nomination *n = NULL;
  rpc_status st = {0};
  int rc = th_nominate(g, k, org, giver, who, "deal-closer", rid, tries, retries, &a, &n);
  if (rc == RPC_OK) {
    Accolade__V1__ReviewNominationRequest rr = ACCOLADE__V1__REVIEW_NOMINATION_REQUEST__INIT;
    rr.nomination_id = n->id;
    rr.approve = 1;
    void *out;
    rc = th_gw_call(g, k + 1, org, "mgr", "manager", NO "ReviewNomination", &rr, &accolade__v1__nomination__descriptor,
                    tries, retries, &a, &out, &st);
    if (rc == RPC_FAILED_PRECONDITION && tries > 1) rc = RPC_OK;   /* the first try committed */
    if (rc != RPC_OK) fprintf(stderr, "review %s: %s %s\n", rid, rpc_code_name(rc), st.message ? st.message : "");
  }
  arena_free(&a);
  return rc;
}

long long th_count(const char *dsn, const char *sql) {
  char *v = th_sql(dsn, sql);
  long long n = v ? atoll(v) : -1;
  free(v);
  return n;
}

static int by_id(const void *a, const void *b) {
  return strcmp((*(Accolade__V1__Entry *const *)a)->subject_id, (*(Accolade__V1__Entry *const *)b)->subject_id);
}

int th_board_matches_ledger(const th_gw *g, const char *dsn, const char *org, long want, char *why, size_t cap) {
  char q[600];
  snprintf(q, sizeof q,
           "SELECT coalesce(string_agg(recipient_id || '=' || pts, ',' ORDER BY recipient_id), '') FROM "
           "(SELECT recipient_id, sum(points) pts FROM leaderboard.ledger WHERE org = '%s' AND recorded "
           "AND retracted_at IS NULL GROUP BY 1) s",
           org);
  char *ledger = th_sql(dsn, q);
  snprintf(q, sizeof q, "SELECT count(*) FROM leaderboard.ledger WHERE org = '%s'", org);
  long long rows = th_count(dsn, q);
  arena a;
  arena_init(&a);
  Accolade__V1__GetTopRequest tr = ACCOLADE__V1__GET_TOP_REQUEST__INIT;
  tr.page_size = 100;
  Accolade__V1__GetTopResponse *top = NULL;
  rpc_status st;
  int rc = th_gw_call(g, 0, org, "ada", "admin", "/accolade.v1.LeaderboardService/GetTop", &tr,
                      &accolade__v1__get_top_response__descriptor, 1, NULL, &a, (void **)&top, &st);
  char board[2048] = "";
  if (rc == RPC_OK) {
    qsort(top->entries, top->n_entries, sizeof *top->entries, by_id);
    size_t used = 0;
    for (size_t i = 0; i < top->n_entries && used < sizeof board; i++)
      used += (size_t)snprintf(board + used, sizeof board - used, "%s%s=%lld", i ? "," : "", top->entries[i]->subject_id,
                               (long long)top->entries[i]->points);
  }
  int ok = rc == RPC_OK && ledger && rows == want && strcmp(board, ledger) == 0;
  snprintf(why, cap, "org %s: ledger rows %lld (want %ld), ledger {%s}, board {%s}%s%s", org, rows, want,
           ledger ? ledger : "?", board, rc ? " GetTop: " : "", rc ? rpc_code_name(rc) : "");
  free(ledger);
  arena_free(&a);
  return ok;
}
