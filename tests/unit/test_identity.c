#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

#include "identity.h"

#define NOW 1700000000LL

static void sign(const char *org, const char *user, const char *role, const char *team,
                 long long ts, char sig[65], char tss[24]) {
  identity id;
  cr_assert_eq(identity_make(&id, org, user, role, team), 0);
  identity_sign(&id, ts, sig);
  snprintf(tss, 24, "%lld", ts);
}

TestSuite(identity, .init = NULL);

Test(identity, signed_identity_verifies) {
  identity_set_key("k1");
  char sig[65], ts[24];
  sign("acme", "alice", "manager", "sales-east", NOW, sig, ts);
  identity out;
  const char *why = "unset";
  cr_assert_eq(identity_verify("acme", "alice", "manager", "sales-east", ts, sig, NOW, &out, &why), 0);
  cr_assert_null(why);
  cr_assert(out.valid);
  cr_assert_eq(out.role, ROLE_MANAGER);
  cr_assert_str_eq(out.org, "acme");
  cr_assert_str_eq(out.user, "alice");
  cr_assert_str_eq(out.team, "sales-east");
}

Test(identity, every_tampered_field_is_rejected) {
  identity_set_key("k1");
  char sig[65], ts[24];
  sign("acme", "alice", "member", "t1", NOW, sig, ts);
  identity out;
  const char *why;
  cr_assert_neq(identity_verify("evil", "alice", "member", "t1", ts, sig, NOW, &out, &why), 0);
  cr_assert_neq(identity_verify("acme", "bob", "member", "t1", ts, sig, NOW, &out, &why), 0);
  cr_assert_neq(identity_verify("acme", "alice", "admin", "t1", ts, sig, NOW, &out, &why), 0);
  cr_assert_neq(identity_verify("acme", "alice", "member", "t2", ts, sig, NOW, &out, &why), 0);
  cr_assert_neq(identity_verify("acme", "alice", "member", "t1", "1700000001", sig, NOW, &out, &why), 0);
  char bad[65];
  memcpy(bad, sig, 65);
  bad[10] = bad[10] == 'a' ? 'b' : 'a';
  cr_assert_neq(identity_verify("acme", "alice", "member", "t1", ts, bad, NOW, &out, &why), 0);
  cr_assert_str_eq(why, "identity signature does not verify");
  cr_assert_eq(out.valid, 0);
}

Test(identity, missing_fields_are_rejected) {
  identity_set_key("k1");
  char sig[65], ts[24];
  sign("acme", "alice", "member", "", NOW, sig, ts);
  identity out;
  const char *why;
  cr_assert_neq(identity_verify(NULL, "alice", "member", "", ts, sig, NOW, &out, &why), 0);
  cr_assert_neq(identity_verify("acme", NULL, "member", "", ts, sig, NOW, &out, &why), 0);
  cr_assert_neq(identity_verify("acme", "alice", NULL, "", ts, sig, NOW, &out, &why), 0);
  cr_assert_neq(identity_verify("acme", "alice", "member", "", NULL, sig, NOW, &out, &why), 0);
  cr_assert_neq(identity_verify("acme", "alice", "member", "", ts, NULL, NOW, &out, &why), 0);
  cr_assert_str_eq(why, "no identity signature");
  /* An absent team is the empty team. */
  cr_assert_eq(identity_verify("acme", "alice", "member", NULL, ts, sig, NOW, &out, &why), 0);
}

Test(identity, wrong_key_and_stale_signatures_are_rejected) {
  identity_set_key("k1");
  char sig[65], ts[24];
  sign("acme", "alice", "member", "", NOW, sig, ts);
  identity out;
  const char *why;
  cr_assert_neq(identity_verify("acme", "alice", "member", "", ts, sig, NOW + IDENTITY_MAX_SKEW_S + 1, &out, &why), 0);
  cr_assert_str_eq(why, "identity signature expired");
  cr_assert_eq(identity_verify("acme", "alice", "member", "", ts, sig, NOW + IDENTITY_MAX_SKEW_S, &out, &why), 0);
  identity_set_key("k2");
  cr_assert_neq(identity_verify("acme", "alice", "member", "", ts, sig, NOW, &out, &why), 0);
}

Test(identity, make_rejects_bad_fields) {
  identity id;
  cr_assert_neq(identity_make(&id, "", "alice", "member", ""), 0);
  cr_assert_neq(identity_make(&id, "acme", "", "member", ""), 0);
  cr_assert_neq(identity_make(&id, "acme", "alice", "superuser", ""), 0);
  cr_assert_neq(identity_make(&id, "ac\nme", "alice", "member", ""), 0);
  char longname[IDENTITY_FIELD_MAX + 1];
  memset(longname, 'x', sizeof longname - 1);
  longname[sizeof longname - 1] = '\0';
  cr_assert_neq(identity_make(&id, longname, "alice", "member", ""), 0);
  cr_assert_eq(identity_make(&id, "acme", "svc:award", "service", ""), 0);
  cr_assert_eq(id.role, ROLE_SERVICE);
}
