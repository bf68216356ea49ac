/* The whole suite: gateway, nomination, award, leaderboard and notify as real
 * processes. A nomination approved through the gateway shows up on the
 * leaderboard and in the recipient's inbox, through the outboxes. */
#include <criterion/criterion.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "accolade/v1/leaderboard.pb-c.h"
#include "accolade/v1/nomination.pb-c.h"
#include "accolade/v1/notify.pb-c.h"
#include "harness.h"

#define SECRET "e2e-secret"

static th_suite suite;
static char org[64];

static const char *token(const char *user, const char *role) { return th_jwt(SECRET, org, user, role, "", 300); }

static int via(const char *method, const void *req, const ProtobufCMessageDescriptor *d, const char *tok, arena *a,
               void **out, rpc_status *st) {
  return th_via(suite.gateway.addr, tok, 5000, method, req, d, a, out, st);
}

Test(e2e, an_approved_nomination_reaches_the_leaderboard_and_the_inbox, .timeout = 180) {
  th_init();
  snprintf(org, sizeof org, "e2e-%d", getpid());
  th_suite_start(&suite, "e2e", SECRET, NULL);
  arena a;
  arena_init(&a);
  rpc_status st;
  void *out;
  Accolade__V1__Member m[3], *mp[3];
  const char *ids[] = {"mgr", "ann", "bob"}, *mgrs[] = {"", "mgr", "mgr"}, *teams[] = {"east", "east", "west"};
  for (int i = 0; i < 3; i++) {
    accolade__v1__member__init(&m[i]);
    m[i].member_id = (char *)ids[i];
    m[i].manager_id = (char *)mgrs[i];
    m[i].team = (char *)teams[i];
    m[i].display_name = i == 1 ? "Ann Example" : "";
    m[i].active = 1;
    mp[i] = &m[i];
  }
  Accolade__V1__UpsertMembersRequest ur = ACCOLADE__V1__UPSERT_MEMBERS_REQUEST__INIT;
  ur.members = mp;
  ur.n_members = 3;
  cr_assert_eq(via("/accolade.v1.NominationService/UpsertMembers", &ur, &accolade__v1__upsert_members_response__descriptor,
                   token("ada", "admin"), &a, &out, &st), RPC_OK, "%s", st.message);
  Accolade__V1__CreateNominationRequest cr = ACCOLADE__V1__CREATE_NOMINATION_REQUEST__INIT;
  cr.badge_id = "deal-closer";
  char *nominees[] = {"ann"};
  cr.nominee_ids = nominees;
  cr.n_nominee_ids = 1;
  cr.justification = "Closed the Northwind renewal two weeks early by pairing with support on the blockers.";
  cr.request_id = "e2e-1";
  Accolade__V1__Nomination *n;
  cr_assert_eq(via("/accolade.v1.NominationService/CreateNomination", &cr, &accolade__v1__nomination__descriptor,
                   token("bob", "member"), &a, (void **)&n, &st), RPC_OK, "%s", st.message);
  Accolade__V1__ReviewNominationRequest rr = ACCOLADE__V1__REVIEW_NOMINATION_REQUEST__INIT;
  rr.nomination_id = n->id;
  rr.approve = 1;
  cr_assert_eq(via("/accolade.v1.NominationService/ReviewNomination", &rr, &accolade__v1__nomination__descriptor,
                   token("mgr", "manager"), &a, &out, &st), RPC_OK, "%s", st.message);
  int64_t t0 = rpc_now_ms();
  /* The leaderboard and the inbox catch up through two outboxes. */
  Accolade__V1__GetRankRequest gr = ACCOLADE__V1__GET_RANK_REQUEST__INIT;
  gr.subject_id = "ann";
  Accolade__V1__GetRankResponse *rank = NULL;
  Accolade__V1__ListInboxRequest ir = ACCOLADE__V1__LIST_INBOX_REQUEST__INIT;
  Accolade__V1__ListInboxResponse *inbox = NULL;
  int64_t on_board = -1, in_inbox = -1;
  for (int i = 0; i < 200 && (on_board < 0 || in_inbox < 0); i++) {
    if (on_board < 0 && via("/accolade.v1.LeaderboardService/GetRank", &gr, &accolade__v1__get_rank_response__descriptor,
                            token("ann", "member"), &a, (void **)&rank, &st) == RPC_OK && rank->ranked)
      on_board = rpc_now_ms() - t0;
    if (in_inbox < 0 && via("/accolade.v1.NotifyService/ListInbox", &ir, &accolade__v1__list_inbox_response__descriptor,
                            token("ann", "member"), &a, (void **)&inbox, &st) == RPC_OK) {
      for (size_t k = 0; k < inbox->n_notifications; k++)
        if (!strcmp(inbox->notifications[k]->kind, "award_granted")) in_inbox = rpc_now_ms() - t0;
    }
    if (on_board < 0 || in_inbox < 0) usleep(25 * 1000);
  }
  cr_assert_geq(on_board, 0, "the award never reached the leaderboard");
  cr_assert_geq(in_inbox, 0, "the award never reached the inbox");
  cr_assert_eq(rank->entry->points, 50);
  cr_assert_eq(rank->entry->rank, 1);
  cr_assert_str_eq(rank->entry->display_name, "Ann Example", "the directory's name travels with the award");
  cr_assert_str_eq(rank->entry->team, "east");
  fprintf(stderr, "recognition to visibility: leaderboard %lld ms, inbox %lld ms\n", (long long)on_board,
          (long long)in_inbox);
  arena_free(&a);
  th_suite_stop(&suite);
  th_fini();
}
