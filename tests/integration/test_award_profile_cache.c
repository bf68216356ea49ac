/* svc-award's profile cache (svc-award/profcache.h) across replicas: three
 * svc-award processes on one database, two of them on the test Redis (the
 * cache on: their GetProfile keeps copies) and one told of a Redis that does
 * not answer. A write through one replica shows at the next read through
 * another; a write whose token cannot be set fails UNAVAILABLE, committed,
 * and its repeat tells the caches. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "accolade/v1/award.pb-c.h"
#include "harness.h"

#define SVC "/accolade.v1.AwardService/"

static th_proc rep_a, rep_b, rep_dead;   /* rep_dead: Redis unreachable */
static const char *dsn;
static char org[64];
static identity admin, member, service;

static void setup(void) {
  th_init();
  dsn = th_new_database("profcache");
  static char pg[600], redis[64];
  snprintf(pg, sizeof pg, "ACCOLADE_AWARD_PG=%s", dsn);
  snprintf(redis, sizeof redis, "ACCOLADE_REDIS=127.0.0.1:%d", th_redis_port());
  /* Nobody listens for the outbox: rows stay in award.outbox. */
  const char *env[] = {pg, redis, "ACCOLADE_LEADERBOARD_ADDR=127.0.0.1:1", "ACCOLADE_NOTIFY_ADDR=127.0.0.1:1", NULL};
  cr_assert_eq(th_start(&rep_a, th_bin("svc-award"), env), 0, "svc-award A did not start");
  cr_assert_eq(th_start(&rep_b, th_bin("svc-award"), env), 0, "svc-award B did not start");
  const char *dead[] = {pg, "ACCOLADE_REDIS=127.0.0.1:1", "ACCOLADE_LEADERBOARD_ADDR=127.0.0.1:1",
                        "ACCOLADE_NOTIFY_ADDR=127.0.0.1:1", NULL};
  cr_assert_eq(th_start(&rep_dead, th_bin("svc-award"), dead), 0, "svc-award without Redis did not start");
  static int seq;
  snprintf(org, sizeof org, "pc-%d-%d", getpid(), seq++);
  th_as(&admin, org, "ada", "admin", "ops");
  th_as(&member, org, "mia", "member", "east");
  th_as(&service, org, "svc:nomination", "service", "");
}

static void teardown(void) {
  cr_assert_eq(th_stop(&rep_dead), 0);
  cr_assert_eq(th_stop(&rep_b), 0);
  cr_assert_eq(th_stop(&rep_a), 0);
  th_fini();
}

TestSuite(profcache, .init = setup, .fini = teardown, .timeout = 120);

static int call(const th_proc *p, const char *m, const void *req, const ProtobufCMessageDescriptor *d,
                const identity *as, arena *a, void **out, rpc_status *st) {
  char path[128];
  snprintf(path, sizeof path, SVC "%s", m);
  return th_call(p->addr, path, req, d, as, a, out, st);
}

/* profile: |who|'s profile read through |p| (the test fails unless OK). */
static Accolade__V1__Profile *profile(const th_proc *p, arena *a, const char *who) {
  Accolade__V1__GetProfileRequest r = ACCOLADE__V1__GET_PROFILE_REQUEST__INIT;
  r.member_id = (char *)who;
  Accolade__V1__Profile *out = NULL;
  rpc_status st;
  int rc = call(p, "GetProfile", &r, &accolade__v1__profile__descriptor, &member, a, (void **)&out, &st);
  cr_assert_eq(rc, RPC_OK, "GetProfile %s: %s", who, st.message);
  return out;
}

/* grant: a deal-closer award to |who| under |source| through |p|; its status. */
static int grant(const th_proc *p, arena *a, const char *source, const char *who,
                 Accolade__V1__GrantAwardResponse **out, rpc_status *st) {
  Accolade__V1__GrantAwardRequest r = ACCOLADE__V1__GRANT_AWARD_REQUEST__INIT;
  r.source_id = (char *)source;
  r.badge_id = "deal-closer";
  r.justification = "Closed the Northwind renewal two weeks early by pairing with support.";
  r.public_ = 1;
  Accolade__V1__Recipient rv = ACCOLADE__V1__RECIPIENT__INIT, *rs[] = {&rv};
  rv.member_id = (char *)who;
  rv.team = "east";
  r.recipients = rs;
  r.n_recipients = 1;
  return call(p, "GrantAward", &r, &accolade__v1__grant_award_response__descriptor, &service, a, (void **)out, st);
}

/* sql runs |sql| with "@" replaced by this test's org; its one value. */
static long long sql(const char *text) {
  char q[512];
  size_t k = 0;
  for (const char *p = text; *p && k + 80 < sizeof q; p++)
    k += *p == '@' ? (size_t)snprintf(q + k, sizeof q - k, "%s", org) : (q[k] = *p, 1);
  q[k] = '\0';
  return th_sql_int(dsn, q);
}

Test(profcache, a_grant_and_a_revoke_through_one_replica_show_at_the_next_read_through_another) {
  arena a;
  arena_init(&a);
  rpc_status st;
  Accolade__V1__GrantAwardResponse *g;
  cr_assert_eq(grant(&rep_b, &a, "n1", "pia", &g, &st), RPC_OK, "%s", st.message);
  for (int i = 0; i < 3; i++) {   /* the first read keeps a copy, the others use it */
    Accolade__V1__Profile *p = profile(&rep_a, &a, "pia");
    cr_assert_eq(p->total_awards, 1);
    cr_assert_eq(p->total_points, 50);
  }
  cr_assert_eq(grant(&rep_b, &a, "n2", "pia", &g, &st), RPC_OK, "%s", st.message);
  Accolade__V1__Profile *p = profile(&rep_a, &a, "pia");
  cr_assert_eq(p->total_awards, 2, "the grant through B shows at the next read through A");
  cr_assert_eq(p->n_recent_awards, 2);
  cr_assert_str_eq(p->recent_awards[0]->id, g->outcomes[0]->award->id, "the newest first");

  Accolade__V1__RevokeAwardRequest rr = ACCOLADE__V1__REVOKE_AWARD_REQUEST__INIT;
  rr.award_id = g->outcomes[0]->award->id;
  rr.reason = "Granted twice by mistake";
  Accolade__V1__Award *out;
  cr_assert_eq(call(&rep_b, "RevokeAward", &rr, &accolade__v1__award__descriptor, &admin, &a, (void **)&out, &st),
               RPC_OK, "%s", st.message);
  p = profile(&rep_a, &a, "pia");
  cr_assert_eq(p->total_awards, 1, "the revoke through B shows at the next read through A");
  cr_assert_eq(p->total_points, 50);
  cr_assert_eq(p->n_recent_awards, 1);
  cr_assert_str_neq(p->recent_awards[0]->id, rr.award_id);
  p = profile(&rep_b, &a, "pia");
  cr_assert_eq(p->total_awards, 1, "and through B itself");
  arena_free(&a);
}

Test(profcache, reads_use_the_copy_until_a_catalog_write_says_otherwise) {
  arena a;
  arena_init(&a);
  rpc_status st;
  Accolade__V1__GrantAwardResponse *g;
  cr_assert_eq(grant(&rep_b, &a, "c1", "cy", &g, &st), RPC_OK, "%s", st.message);
  cr_assert_str_eq(profile(&rep_a, &a, "cy")->badges[0]->badge_name, "Deal Closer");
  /* A change behind the API's back is not seen: the read is A's copy. */
  cr_assert_eq(sql("WITH u AS (UPDATE award.badge SET name = 'Behind The Back' WHERE org = '@' "
                   "AND id = 'deal-closer' RETURNING 1) SELECT count(*) FROM u"), 1);
  cr_assert_str_eq(profile(&rep_a, &a, "cy")->badges[0]->badge_name, "Deal Closer", "kept");
  /* A catalog write through B tells every replica. */
  Accolade__V1__Badge b = ACCOLADE__V1__BADGE__INIT;
  b.id = "deal-closer";
  b.name = "Deal Maker";
  char *mask[] = {"name"};
  Accolade__V1__UpdateBadgeRequest ur = ACCOLADE__V1__UPDATE_BADGE_REQUEST__INIT;
  ur.badge = &b;
  ur.update_mask = mask;
  ur.n_update_mask = 1;
  Accolade__V1__Badge *out;
  cr_assert_eq(call(&rep_b, "UpdateBadge", &ur, &accolade__v1__badge__descriptor, &admin, &a, (void **)&out, &st),
               RPC_OK, "%s", st.message);
  Accolade__V1__Profile *p = profile(&rep_a, &a, "cy");
  cr_assert_str_eq(p->badges[0]->badge_name, "Deal Maker");
  cr_assert_str_eq(p->recent_awards[0]->badge_name, "Deal Maker");
  arena_free(&a);
}

Test(profcache, a_rule_created_through_one_replica_shows_its_progress_through_another) {
  arena a;
  arena_init(&a);
  rpc_status st;
  Accolade__V1__GrantAwardResponse *g;
  cr_assert_eq(grant(&rep_b, &a, "r1", "ria", &g, &st), RPC_OK, "%s", st.message);
  cr_assert_eq(profile(&rep_a, &a, "ria")->n_progress, 0);
  Accolade__V1__Rule rule = ACCOLADE__V1__RULE__INIT;
  rule.name = "Closer";
  rule.kind = ACCOLADE__V1__RULE_KIND__BADGE_COUNT;
  rule.badge_id = "deal-closer";
  rule.threshold = 3;
  rule.grant_badge_id = "customer-champion";
  Accolade__V1__CreateRuleRequest cr = ACCOLADE__V1__CREATE_RULE_REQUEST__INIT;
  cr.rule = &rule;
  Accolade__V1__Rule *made;
  cr_assert_eq(call(&rep_b, "CreateRule", &cr, &accolade__v1__rule__descriptor, &admin, &a, (void **)&made, &st),
               RPC_OK, "%s", st.message);
  for (int i = 0; i < 2; i++) {   /* a copy, then the copy with the progress computed at the read */
    Accolade__V1__Profile *p = profile(&rep_a, &a, "ria");
    cr_assert_eq(p->n_progress, 1);
    cr_assert_str_eq(p->progress[0]->text, "1 of 3 Deal Closer");
    cr_assert_eq(p->total_awards, 1);
  }
  cr_assert_eq(grant(&rep_b, &a, "r2", "ria", &g, &st), RPC_OK, "%s", st.message);
  cr_assert_eq(grant(&rep_b, &a, "r3", "ria", &g, &st), RPC_OK, "%s", st.message);
  Accolade__V1__Profile *p = profile(&rep_a, &a, "ria");
  cr_assert_str_eq(p->progress[0]->text, "3 of 3 Deal Closer");
  cr_assert(p->progress[0]->earned);
  cr_assert_eq(p->n_milestones, 1, "the milestone granted with the third award");
  cr_assert_eq(p->total_awards, 4);
  arena_free(&a);
}

Test(profcache, a_write_whose_token_cannot_be_set_fails_unavailable_and_its_repeat_tells_the_caches) {
  arena a;
  arena_init(&a);
  rpc_status st;
  Accolade__V1__GrantAwardResponse *g;
  cr_assert_eq(profile(&rep_a, &a, "dan")->total_awards, 0);
  cr_assert_eq(grant(&rep_dead, &a, "d1", "dan", &g, &st), RPC_UNAVAILABLE);
  cr_assert(strstr(st.message, "repeat"), "%s", st.message);
  cr_assert_eq(sql("SELECT count(*) FROM award.award WHERE org = '@' AND recipient_id = 'dan'"), 1,
               "the grant is committed");
  cr_assert_eq(profile(&rep_dead, &a, "dan")->total_awards, 1, "without Redis a read goes to Postgres");
  cr_assert_eq(grant(&rep_b, &a, "d1", "dan", &g, &st), RPC_OK, "%s", st.message);
  cr_assert_eq(g->outcomes[0]->result, ACCOLADE__V1__GRANT_OUTCOME__RESULT__ALREADY_GRANTED);
  cr_assert_eq(profile(&rep_a, &a, "dan")->total_awards, 1, "the repeat told A");

  /* The same for a revoke: its repeat answers FAILED_PRECONDITION, and tells. */
  cr_assert_eq(profile(&rep_a, &a, "dan")->total_awards, 1);
  Accolade__V1__RevokeAwardRequest rr = ACCOLADE__V1__REVOKE_AWARD_REQUEST__INIT;
  rr.award_id = g->outcomes[0]->award->id;
  rr.reason = "Not this one";
  Accolade__V1__Award *out;
  cr_assert_eq(call(&rep_dead, "RevokeAward", &rr, &accolade__v1__award__descriptor, &admin, &a, (void **)&out, &st),
               RPC_UNAVAILABLE);
  cr_assert_eq(call(&rep_b, "RevokeAward", &rr, &accolade__v1__award__descriptor, &admin, &a, (void **)&out, &st),
               RPC_FAILED_PRECONDITION);
  cr_assert_eq(profile(&rep_a, &a, "dan")->total_awards, 0, "the repeat told A");
  arena_free(&a);
}
