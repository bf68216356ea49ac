/* Open Badges 3.0 credentials over real gRPC: svc-award (with real signing
 * keys from PEM files), svc-nomination (the members directory it takes the
 * recipient's email from) and the gateway, on a real Postgres.
 *
 * Every credential is checked by tests/support/ob3_verify.py, a verifier
 * written against the specifications with python3-cryptography, never
 * against this project's code: the JWS against the JWKS by kid, and the
 * document field by field against the OB 3.0 required properties. The CLI's
 * offline `credential verify` is checked on the same files. */
#include <criterion/criterion.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <json-c/json.h>

#include "accolade/v1/award.pb-c.h"
#include "accolade/v1/credential.pb-c.h"
#include "accolade/v1/nomination.pb-c.h"
#include "harness.h"
#include "jws.h"

#define SECRET "credential-test-secret"
#define AW "/accolade.v1.AwardService/"
#define CR "/accolade.v1.CredentialService/"
#define NO "/accolade.v1.NominationService/"
#define VERIFY ACCOLADE_SOURCE_DIR "/tests/support/ob3_verify.py"

static th_proc nom, award, gw;
static char dir[64], org[64], ec_pem[128], rsa_pem[128], pg[600], nom_addr[96];
static identity admin, mia, raj, other_admin;

static void write_key(EVP_PKEY *k, const char *path) {
  FILE *f = fopen(path, "w");
  cr_assert(f && k);
  cr_assert_eq(PEM_write_PrivateKey(f, k, NULL, NULL, 0, NULL, NULL), 1);
  fclose(f);
  EVP_PKEY_free(k);
}

/* start_award (re)starts svc-award with |keys| (ACCOLADE_CREDENTIAL_KEYS)
 * and |signer|. */
static void start_award(const char *keys, const char *signer) {
  static char k[400], s[100];
  snprintf(k, sizeof k, "ACCOLADE_CREDENTIAL_KEYS=%s", keys);
  snprintf(s, sizeof s, "ACCOLADE_CREDENTIAL_SIGNING_KID=%s", signer);
  const char *env[] = {pg, nom_addr, k, s, "ACCOLADE_CREDENTIAL_BASE_URL=https://badges.acme.test/",
                       "ACCOLADE_LEADERBOARD_ADDR=127.0.0.1:1", "ACCOLADE_NOTIFY_ADDR=127.0.0.1:1", NULL};
  if (award.pid) cr_assert_eq(th_restart(&award, th_bin("svc-award"), env), 0, "svc-award did not restart");
  else cr_assert_eq(th_start(&award, th_bin("svc-award"), env), 0, "svc-award did not start");
}

static int call(const char *method, const void *req, const ProtobufCMessageDescriptor *d, const identity *as,
                arena *a, void **out, rpc_status *st) {
  return th_call(award.addr, method, req, d, as, a, out, st);
}

static void setup(void) {
  th_init();
  snprintf(dir, sizeof dir, "/tmp/accolade-cred-%d", getpid());
  mkdir(dir, 0700);
  snprintf(ec_pem, sizeof ec_pem, "%s/e1.pem", dir);
  snprintf(rsa_pem, sizeof rsa_pem, "%s/r1.pem", dir);
  write_key(EVP_EC_gen("P-256"), ec_pem);
  write_key(EVP_RSA_gen(2048), rsa_pem);
  snprintf(pg, sizeof pg, "ACCOLADE_PG=%s", th_new_database("credential"));
  const char *nenv[] = {pg, "ACCOLADE_AWARD_ADDR=127.0.0.1:1", "ACCOLADE_NOTIFY_ADDR=127.0.0.1:1", NULL};
  cr_assert_eq(th_start(&nom, th_bin("svc-nomination"), nenv), 0, "svc-nomination did not start");
  snprintf(nom_addr, sizeof nom_addr, "ACCOLADE_NOMINATION_ADDR=%s", nom.addr);
  char keys[300];
  snprintf(keys, sizeof keys, "e1=%s", ec_pem);
  start_award(keys, "e1");
  static char a_addr[96], o_addr[96], secret[128];
  snprintf(a_addr, sizeof a_addr, "ACCOLADE_AWARD_ADDR=%s", award.addr);
  snprintf(o_addr, sizeof o_addr, "ACCOLADE_NOMINATION_ADDR=%s", nom.addr);
  snprintf(secret, sizeof secret, "ACCOLADE_JWT_HS256_SECRET=%s", SECRET);
  static char redis[64];
  snprintf(redis, sizeof redis, "ACCOLADE_REDIS=127.0.0.1:%d", th_redis_port());
  const char *genv[] = {redis, a_addr, o_addr, secret, "ACCOLADE_LEADERBOARD_ADDR=127.0.0.1:1",
                        "ACCOLADE_NOTIFY_ADDR=127.0.0.1:1", NULL};
  cr_assert_eq(th_start(&gw, th_bin("gateway"), genv), 0, "gateway did not start");
  snprintf(org, sizeof org, "cred-%d", getpid());
  th_as(&admin, org, "ada", "admin", "ops");
  th_as(&mia, org, "mia", "member", "east");
  th_as(&raj, org, "raj", "member", "east");
  th_as(&other_admin, "another-org", "eve", "admin", "");
  /* The directory: mia and raj with emails, nomail without. */
  arena a;
  arena_init(&a);
  Accolade__V1__UpsertMembersRequest req = ACCOLADE__V1__UPSERT_MEMBERS_REQUEST__INIT;
  Accolade__V1__Member m[3], *mp[3];
  const char *ids[] = {"mia", "raj", "nomail"}, *emails[] = {"Mia.Lopez@Example.COM", "raj@example.com", ""};
  for (int i = 0; i < 3; i++) {
    accolade__v1__member__init(&m[i]);
    m[i].member_id = (char *)ids[i];
    m[i].display_name = (char *)ids[i];
    m[i].email = (char *)emails[i];
    m[i].team = "east";
    m[i].active = 1;
    mp[i] = &m[i];
  }
  req.members = mp;
  req.n_members = 3;
  rpc_status st;
  void *out;
  cr_assert_eq(th_call(nom.addr, NO "UpsertMembers", &req, &accolade__v1__upsert_members_response__descriptor,
                       &admin, &a, &out, &st), RPC_OK, "%s", st.message);
  arena_free(&a);
}

static void teardown(void) {
  cr_expect_eq(th_stop(&gw), 0);
  cr_expect_eq(th_stop(&award), 0);
  cr_expect_eq(th_stop(&nom), 0);
  char cmd[128];
  snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
  cr_expect_eq(system(cmd), 0);
  th_fini();
}

TestSuite(credential, .init = setup, .fini = teardown, .timeout = 180);

/* grant gives |user| a new award of deal-closer (public or not) with two
 * evidence links; returns its id (arena). */
static const char *grant(arena *a, const char *user, int public_) {
  static int seq;
  Accolade__V1__GrantAwardRequest req = ACCOLADE__V1__GRANT_AWARD_REQUEST__INIT;
  req.source_id = arena_printf(a, "direct-%d-%d", getpid(), seq++);
  req.badge_id = "deal-closer";
  req.giver_id = "gus";
  req.public_ = public_;
  req.justification = "Rebuilt the Initech pricing model with finance, closing the renewal early.";
  static char *links[] = {"https://crm.acme.test/deals/42", "https://wiki.acme.test/pricing"};
  req.evidence_links = links;
  req.n_evidence_links = 2;
  Accolade__V1__Recipient r = ACCOLADE__V1__RECIPIENT__INIT, *rp = &r;
  r.member_id = (char *)user;
  r.team = "east";
  req.recipients = &rp;
  req.n_recipients = 1;
  Accolade__V1__GrantAwardResponse *out;
  rpc_status st;
  cr_assert_eq(call(AW "GrantAward", &req, &accolade__v1__grant_award_response__descriptor, &admin, a,
                    (void **)&out, &st), RPC_OK, "%s", st.message);
  return out->outcomes[0]->award->id;
}

static int get_credential(arena *a, const char *award_id, const identity *as, Accolade__V1__Credential **out,
                          rpc_status *st) {
  Accolade__V1__GetCredentialRequest req = ACCOLADE__V1__GET_CREDENTIAL_REQUEST__INIT;
  req.award_id = (char *)award_id;
  return call(CR "GetCredential", &req, &accolade__v1__credential__descriptor, as, a, (void **)out, st);
}

static Accolade__V1__Credential *credential(arena *a, const char *award_id, const identity *as) {
  Accolade__V1__Credential *c;
  rpc_status st;
  cr_assert_eq(get_credential(a, award_id, as, &c, &st), RPC_OK, "GetCredential: %s", st.message);
  return c;
}

/* save writes |text| to <dir>/<name> and returns the path (static ring). */
static const char *save(const char *name, const char *text) {
  static char paths[8][128];
  static int next;
  char *p = paths[next++ % 8];
  snprintf(p, 128, "%s/%s", dir, name);
  FILE *f = fopen(p, "w");
  cr_assert(f);
  fputs(text, f);
  fclose(f);
  return p;
}

static const char *jwks(arena *a) {
  Accolade__V1__GetIssuerKeysRequest req = ACCOLADE__V1__GET_ISSUER_KEYS_REQUEST__INIT;
  Accolade__V1__IssuerKeys *out;
  rpc_status st;
  cr_assert_eq(call(CR "GetIssuerKeys", &req, &accolade__v1__issuer_keys__descriptor, &mia, a, (void **)&out,
                    &st), RPC_OK, "%s", st.message);
  cr_expect(!strstr(out->jwks_json, "\"d\""), "the JWKS holds private parts: %s", out->jwks_json);
  return save("jwks.json", out->jwks_json);
}

static char out_buf[1 << 16];

/* run executes the NULL-terminated arguments, stdout into out_buf, stderr
 * into the test's log; returns the exit status. */
static int run(const char *first, ...) {
  const char *argv[32];
  int n = 0;
  argv[n++] = first;
  va_list ap;
  va_start(ap, first);
  for (const char *s; (s = va_arg(ap, const char *)) && n < 31;) argv[n++] = s;
  va_end(ap);
  argv[n] = NULL;
  return th_run(argv, out_buf, sizeof out_buf, NULL, 0);
}

#define PY "/usr/bin/python3"

static int py_verify(const char *jws_path, const char *jwks_path) {
  return run(PY, VERIFY, "credential", jws_path, jwks_path, NULL);
}

/* ---- Must show: an independent verifier accepts it, field by field ---- */

Test(credential, an_exported_award_verifies_offline_with_an_independent_verifier) {
  arena a;
  arena_init(&a);
  const char *id = grant(&a, "mia", 1);
  Accolade__V1__Credential *c = credential(&a, id, &mia);
  cr_expect_str_eq(c->kid, "e1");
  cr_expect_str_eq(c->award_id, id);
  const char *k = jwks(&a), *j = save("mia.jws", c->jws), *doc = save("mia.json", c->credential_json);
  int rc = run(PY, VERIFY, "credential", j, k, "--email", "mia.lopez@example.com", "--json", doc, NULL);
  cr_assert_eq(rc, 0, "ob3_verify.py refused it (exit %d): %s", rc, c->credential_json);
  cr_expect(strstr(out_buf, "kid=e1 alg=ES256"), "%s", out_buf);
  /* The email is never in the document, in any case. */
  cr_expect_null(strcasestr(c->credential_json, "mia.lopez"), "%s", c->credential_json);
  /* What the document says, beyond the required properties. */
  json_object *o = json_tokener_parse(c->credential_json), *v, *x;
  cr_assert(o);
  cr_assert(json_object_object_get_ex(o, "id", &v));
  cr_expect_str_eq(json_object_get_string(v), arena_printf(&a, "urn:uuid:%s", id));
  cr_assert(json_object_object_get_ex(o, "issuer", &v) && json_object_object_get_ex(v, "id", &x));
  cr_expect_str_eq(json_object_get_string(x), arena_printf(&a, "https://badges.acme.test/orgs/%s", org));
  cr_assert(json_object_object_get_ex(o, "evidence", &v));
  cr_expect_eq(json_object_array_length(v), 3, "justification and two links: %s", json_object_get_string(v));
  cr_expect(strstr(c->credential_json, "\"narrative\":\"Rebuilt the Initech pricing model"));
  cr_expect(strstr(c->credential_json, "\"id\":\"https://crm.acme.test/deals/42\""));
  cr_expect(strstr(c->credential_json, "\"achievement\":{\"id\":\"https://badges.acme.test/orgs/"));
  json_object_put(o);
  /* A second export names the recipient the same way (same salt and bit). */
  Accolade__V1__Credential *again = credential(&a, id, &admin);
  cr_expect_str_eq(again->credential_json, c->credential_json);
  cr_expect_eq(again->status_list_index, c->status_list_index);
  /* The CLI's offline verifier agrees. */
  rc = run(th_bin("accolade"), "credential", "verify", j, "--jwks", k, NULL);
  cr_expect_eq(rc, 0, "accolade credential verify: exit %d", rc);
  cr_expect(strstr(out_buf, "valid: signed by https://badges.acme.test/orgs/"), "%s", out_buf);
  arena_free(&a);
}

/* ---- Must show: one byte of the payload changed fails verification ---- */

Test(credential, tampering_with_one_payload_byte_fails_verification) {
  arena a;
  arena_init(&a);
  Accolade__V1__Credential *c = credential(&a, grant(&a, "mia", 1), &mia);
  const char *k = jwks(&a);
  const char *d1 = strchr(c->jws, '.'), *d2 = strrchr(c->jws, '.');
  size_t plen = (size_t)(d2 - d1 - 1);
  unsigned char *payload = arena_alloc(&a, plen);
  long n = jws_b64url_decode(d1 + 1, plen, payload, plen);
  cr_assert_gt(n, 0);
  char *name = strstr((char *)payload, "\"name\":\"Deal Closer\"");
  cr_assert_not_null(name, "%.*s", (int)n, payload);
  name[9] = 'F';   /* "Deal Closer" -> "Feal Closer": one byte */
  char *enc = arena_alloc(&a, plen + 8);
  jws_b64url_encode(payload, (size_t)n, enc);
  char *forged = arena_printf(&a, "%.*s.%s%s", (int)(d1 - c->jws), c->jws, enc, d2);
  const char *good = save("good.jws", c->jws), *bad = save("forged.jws", forged);
  cr_assert_eq(py_verify(good, k), 0, "the untouched credential must verify");
  cr_expect_eq(py_verify(bad, k), 1, "python accepted a forged payload");
  cr_expect_eq(run(th_bin("accolade"), "credential", "verify", bad, "--jwks", k, NULL), 65,
               "accolade credential verify accepted a forged payload");
  /* The signature of another credential does not fit either. */
  Accolade__V1__Credential *other = credential(&a, grant(&a, "mia", 1), &mia);
  char *swapped = arena_printf(&a, "%.*s%s", (int)(d2 - c->jws), c->jws, strrchr(other->jws, '.'));
  cr_expect_eq(py_verify(save("swapped.jws", swapped), k), 1);
  arena_free(&a);
}

/* ---- Must show: a revoked award shows revoked in the status list ---- */

static int status_bit(arena *a, const char *k, int64_t index) {
  Accolade__V1__GetCredentialStatusListRequest req = ACCOLADE__V1__GET_CREDENTIAL_STATUS_LIST_REQUEST__INIT;
  Accolade__V1__CredentialStatusList *l;
  rpc_status st;
  cr_assert_eq(call(CR "GetCredentialStatusList", &req, &accolade__v1__credential_status_list__descriptor, &mia, a,
                    (void **)&l, &st), RPC_OK, "%s", st.message);
  cr_expect_eq(l->length, 131072);
  char idx[24];
  snprintf(idx, sizeof idx, "%lld", (long long)index);
  int rc = run(PY, VERIFY, "status", save("status.jws", l->jws), k, idx, NULL);
  cr_assert_eq(rc, 0, "ob3_verify.py refused the status list: %s", l->credential_json);
  return atoi(out_buf);
}

Test(credential, a_revoked_award_shows_revoked_in_the_status_list_and_still_verifies) {
  arena a;
  arena_init(&a);
  const char *kept = grant(&a, "mia", 1), *gone = grant(&a, "mia", 1);
  Accolade__V1__Credential *ck = credential(&a, kept, &mia), *cg = credential(&a, gone, &mia);
  cr_expect_neq(ck->status_list_index, cg->status_list_index);
  cr_expect_str_eq(cg->status_list_url, arena_printf(&a, "https://badges.acme.test/orgs/%s/credentials/status/revocation", org));
  cr_expect(strstr(cg->credential_json, "\"statusListCredential\":\"https://badges.acme.test/orgs/"));
  const char *k = jwks(&a);
  cr_expect_eq(status_bit(&a, k, cg->status_list_index), 0, "not revoked yet");
  Accolade__V1__RevokeAwardRequest rv = ACCOLADE__V1__REVOKE_AWARD_REQUEST__INIT;
  rv.award_id = (char *)gone;
  rv.reason = "granted to the wrong person";
  void *out;
  rpc_status st;
  cr_assert_eq(call(AW "RevokeAward", &rv, &accolade__v1__award__descriptor, &admin, &a, &out, &st), RPC_OK, "%s",
               st.message);
  cr_expect_eq(status_bit(&a, k, cg->status_list_index), 1, "the revoked award's bit is off");
  cr_expect_eq(status_bit(&a, k, ck->status_list_index), 0, "the kept award's bit is on");
  /* The credential itself keeps its valid signature; no new one is issued. */
  cr_expect_eq(py_verify(save("revoked.jws", cg->jws), k), 0);
  Accolade__V1__Credential *none;
  cr_expect_eq(get_credential(&a, gone, &mia, &none, &st), RPC_FAILED_PRECONDITION);
  arena_free(&a);
}

/* ---- Must show: after a key rotation old credentials verify by their kid ---- */

Test(credential, a_key_rotation_keeps_old_credentials_verifiable_by_kid) {
  arena a;
  arena_init(&a);
  const char *id = grant(&a, "mia", 1);
  Accolade__V1__Credential *old = credential(&a, id, &mia);
  cr_assert_str_eq(old->kid, "e1");
  const char *old_path = save("old.jws", old->jws);
  /* Rotate: r1 (RS256) signs from now on; e1 stays published. */
  char keys[300];
  snprintf(keys, sizeof keys, "e1=%s,r1=%s", ec_pem, rsa_pem);
  start_award(keys, "r1");
  Accolade__V1__Credential *now = credential(&a, id, &mia);
  cr_expect_str_eq(now->kid, "r1");
  const char *k = jwks(&a);
  cr_expect_eq(py_verify(old_path, k), 0, "the ES256 credential from before the rotation");
  cr_expect(strstr(out_buf, "kid=e1 alg=ES256"), "%s", out_buf);
  cr_expect_eq(py_verify(save("new.jws", now->jws), k), 0, "the RS256 credential after it");
  cr_expect(strstr(out_buf, "kid=r1 alg=RS256"), "%s", out_buf);
  cr_expect_eq(run(th_bin("accolade"), "credential", "verify", old_path, "--jwks", k, NULL), 0);
  /* Retiring e1 from the JWKS is what ends its credentials. */
  snprintf(keys, sizeof keys, "r1=%s", rsa_pem);
  start_award(keys, "r1");
  cr_expect_eq(py_verify(old_path, jwks(&a)), 1);
  arena_free(&a);
}

/* ---- Consent, roles, orgs, input ---- */

static void expect_code(arena *a, const char *id, const identity *as, int want, const char *what) {
  Accolade__V1__Credential *c;
  rpc_status st;
  int rc = get_credential(a, id, as, &c, &st);
  cr_expect_eq(rc, want, "%s: got %s (%s), want %s", what, rpc_code_name(rc), st.message, rpc_code_name(want));
}

Test(credential, only_public_awards_of_consenting_recipients_by_themselves_or_admins) {
  arena a;
  arena_init(&a);
  const char *pub = grant(&a, "mia", 1), *priv = grant(&a, "mia", 0), *nomail = grant(&a, "nomail", 1);
  expect_code(&a, pub, &raj, RPC_PERMISSION_DENIED, "another member");
  expect_code(&a, pub, &other_admin, RPC_NOT_FOUND, "an admin of another org");
  expect_code(&a, priv, &mia, RPC_FAILED_PRECONDITION, "a private award");
  expect_code(&a, nomail, &admin, RPC_FAILED_PRECONDITION, "a recipient without an email");
  expect_code(&a, "00000000-0000-0000-0000-000000000000", &admin, RPC_NOT_FOUND, "no such award");
  rpc_status st;
  Accolade__V1__Credential *c;
  cr_expect_eq(get_credential(&a, "not-a-uuid", &admin, &c, &st), RPC_INVALID_ARGUMENT);
  cr_expect(strstr(st.message, "award_id"), "%s", st.message);
  /* The recipient turns export off: nobody may export, admins included. */
  Accolade__V1__UpdateCredentialPreferencesRequest up = ACCOLADE__V1__UPDATE_CREDENTIAL_PREFERENCES_REQUEST__INIT;
  Accolade__V1__CredentialPreferences prefs = ACCOLADE__V1__CREDENTIAL_PREFERENCES__INIT;
  prefs.export_disabled = 1;
  up.preferences = &prefs;
  Accolade__V1__CredentialPreferences *got;
  cr_assert_eq(call(CR "UpdateCredentialPreferences", &up, &accolade__v1__credential_preferences__descriptor, &mia,
                    &a, (void **)&got, &st), RPC_OK, "%s", st.message);
  cr_expect(got->export_disabled);
  expect_code(&a, pub, &mia, RPC_FAILED_PRECONDITION, "export off, the recipient");
  expect_code(&a, pub, &admin, RPC_FAILED_PRECONDITION, "export off, an admin");
  prefs.export_disabled = 0;
  cr_assert_eq(call(CR "UpdateCredentialPreferences", &up, &accolade__v1__credential_preferences__descriptor, &mia,
                    &a, (void **)&got, &st), RPC_OK, "%s", st.message);
  expect_code(&a, pub, &admin, RPC_OK, "export on again, an admin");
  arena_free(&a);
}

Test(credential, the_issuer_profile_is_the_orgs_and_checked) {
  arena a;
  arena_init(&a);
  Accolade__V1__UpdateIssuerRequest req = ACCOLADE__V1__UPDATE_ISSUER_REQUEST__INIT;
  Accolade__V1__IssuerProfile p = ACCOLADE__V1__ISSUER_PROFILE__INIT;
  req.issuer = &p;
  Accolade__V1__IssuerProfile *out;
  rpc_status st;
  const struct {
    const char *id, *image, *email, *field;
  } bad[] = {
      {"http://acme.test/issuer", "", "", "issuer.id"},
      {"https://acme.test/issuer", "ftp://x", "", "issuer.image_url"},
      {"https://acme.test/issuer", "", "not-an-email", "issuer.email"},
  };
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    p.id = (char *)bad[i].id;
    p.image_url = (char *)bad[i].image;
    p.email = (char *)bad[i].email;
    cr_expect_eq(call(CR "UpdateIssuer", &req, &accolade__v1__issuer_profile__descriptor, &admin, &a,
                      (void **)&out, &st), RPC_INVALID_ARGUMENT, "%s", bad[i].field);
    cr_expect(strstr(st.message, bad[i].field), "%s: %s", bad[i].field, st.message);
  }
  p.id = "https://acme.test/issuer";
  p.name = "Acme Sales";
  p.image_url = "https://acme.test/logo.png";
  p.email = "recognition@acme.test";
  cr_expect_eq(call(CR "UpdateIssuer", &req, &accolade__v1__issuer_profile__descriptor, &mia, &a, (void **)&out,
                    &st), RPC_PERMISSION_DENIED, "members may not change the issuer");
  cr_assert_eq(call(CR "UpdateIssuer", &req, &accolade__v1__issuer_profile__descriptor, &admin, &a, (void **)&out,
                    &st), RPC_OK, "%s", st.message);
  Accolade__V1__Credential *c = credential(&a, grant(&a, "raj", 1), &raj);
  cr_expect(strstr(c->credential_json,
                   "\"issuer\":{\"id\":\"https://acme.test/issuer\",\"type\":[\"Profile\"],\"name\":\"Acme Sales\","
                   "\"image\":{\"id\":\"https://acme.test/logo.png\",\"type\":\"Image\"},\"email\":"
                   "\"recognition@acme.test\"}"),
            "%s", c->credential_json);
  cr_expect_eq(run(PY, VERIFY, "credential", save("raj.jws", c->jws), jwks(&a), "--email", "raj@example.com", NULL),
               0);
  /* Another org still has its defaults. */
  Accolade__V1__GetIssuerRequest g = ACCOLADE__V1__GET_ISSUER_REQUEST__INIT;
  cr_assert_eq(call(CR "GetIssuer", &g, &accolade__v1__issuer_profile__descriptor, &other_admin, &a, (void **)&out,
                    &st), RPC_OK, "%s", st.message);
  cr_expect_str_eq(out->id, "https://badges.acme.test/orgs/another-org");
  /* Empty fields put the defaults back (the other tests expect them). */
  p = (Accolade__V1__IssuerProfile)ACCOLADE__V1__ISSUER_PROFILE__INIT;
  cr_assert_eq(call(CR "UpdateIssuer", &req, &accolade__v1__issuer_profile__descriptor, &admin, &a, (void **)&out,
                    &st), RPC_OK, "%s", st.message);
  cr_expect_str_eq(out->id, arena_printf(&a, "https://badges.acme.test/orgs/%s", org));
  cr_expect_str_eq(out->name, org);
  arena_free(&a);
}

/* ---- The CLI through the gateway ---- */

Test(credential, the_cli_writes_a_credential_that_it_verifies_offline) {
  arena a;
  arena_init(&a);
  const char *id = grant(&a, "mia", 1);
  const char *bin = th_bin("accolade");
  const char *tok = th_jwt(SECRET, org, "mia", "member", "east", 600);
  char jws_path[128], keys_path[128];
  snprintf(jws_path, sizeof jws_path, "%s/cli.jws", dir);
  snprintf(keys_path, sizeof keys_path, "%s/cli-keys.json", dir);
  cr_assert_eq(run(bin, "--addr", gw.addr, "--token", tok, "credential", id, "--out", jws_path, NULL), 0);
  cr_assert_eq(run(bin, "--addr", gw.addr, "--token", tok, "credential", "keys", "--out", keys_path, NULL), 0);
  cr_expect_eq(run(bin, "credential", "verify", jws_path, "--jwks", keys_path, NULL), 0, "%s", out_buf);
  cr_expect_eq(py_verify(jws_path, keys_path), 0);
  /* --json prints the document; stdout without --out. */
  cr_assert_eq(run(bin, "--addr", gw.addr, "--token", tok, "--json", "credential", id, NULL), 0);
  cr_expect(!strncmp(out_buf, "{\"@context\":[\"https://www.w3.org/ns/credentials/v2\"", 51), "%s", out_buf);
  /* Another member through the gateway: PERMISSION_DENIED (exit 7). */
  const char *raj_tok = th_jwt(SECRET, org, "raj", "member", "east", 600);
  cr_expect_eq(run(bin, "--addr", gw.addr, "--token", raj_tok, "credential", id, NULL), 7);
  /* Another org's admin: NOT_FOUND (exit 5). */
  const char *eve = th_jwt(SECRET, "another-org", "eve", "admin", "", 600);
  cr_expect_eq(run(bin, "--addr", gw.addr, "--token", eve, "credential", id, NULL), 5);
  /* Consent from the CLI: off, the export is refused (exit 9); on again. */
  cr_expect_eq(run(bin, "--addr", gw.addr, "--token", tok, "--json", "credential", "export", "--off", NULL), 0);
  cr_expect(strstr(out_buf, "\"export_disabled\":true"), "%s", out_buf);
  cr_expect_eq(run(bin, "--addr", gw.addr, "--token", tok, "credential", id, NULL), 9);
  cr_expect_eq(run(bin, "--addr", gw.addr, "--token", tok, "credential", "export", "--on", NULL), 0);
  cr_expect_eq(run(bin, "--addr", gw.addr, "--token", tok, "credential", id, NULL), 0);
  /* The issuer: admins change it, members read it. */
  const char *ada = th_jwt(SECRET, org, "ada", "admin", "ops", 600);
  cr_expect_eq(run(bin, "--addr", gw.addr, "--token", tok, "credential", "set-issuer", "--name", "Mia Inc", NULL), 7);
  cr_expect_eq(run(bin, "--addr", gw.addr, "--token", ada, "credential", "set-issuer", "--name", "Acme Revenue",
                   NULL), 0);
  cr_expect_eq(run(bin, "--addr", gw.addr, "--token", tok, "--json", "credential", "issuer", NULL), 0);
  cr_expect(strstr(out_buf, "\"name\":\"Acme Revenue\""), "%s", out_buf);
  /* A file that is not a JWS, and a missing file. */
  cr_expect_eq(run(bin, "credential", "verify", keys_path, "--jwks", keys_path, NULL), 65);
  cr_expect_eq(run(bin, "credential", "verify", "/nonexistent", "--jwks", keys_path, NULL), 66);
  arena_free(&a);
}

/* ---- Key settings: a bad one stops svc-award at start, named in its log ---- */

Test(credential, svc_award_refuses_to_start_with_bad_key_settings) {
  char small[160], missing[200], small_spec[200], junk_spec[200], good[200], twice[400];
  snprintf(small, sizeof small, "%s/small.pem", dir);
  EVP_PKEY_CTX *pc = EVP_PKEY_CTX_new_from_name(NULL, "RSA", NULL);
  EVP_PKEY *k = NULL;
  cr_assert(pc && EVP_PKEY_keygen_init(pc) == 1 && EVP_PKEY_CTX_set_rsa_keygen_bits(pc, 1024) == 1 &&
            EVP_PKEY_keygen(pc, &k) == 1);
  EVP_PKEY_CTX_free(pc);
  write_key(k, small);
  snprintf(missing, sizeof missing, "e1=%s/missing.pem", dir);
  snprintf(small_spec, sizeof small_spec, "s1=%s", small);
  snprintf(junk_spec, sizeof junk_spec, "j1=%s", save("junk.pem", "-----BEGIN NOTHING-----\n"));
  snprintf(good, sizeof good, "e1=%s", ec_pem);
  snprintf(twice, sizeof twice, "%s,e1=%s", good, ec_pem);
  const struct {
    const char *keys, *signer, *why;
  } bad[] = {
      {missing, "", "a missing file"},
      {"e1", "", "no kid=path"},
      {small_spec, "", "RSA under 2048 bits"},
      {junk_spec, "", "not a PEM private key"},
      {good, "nope", "a signing kid that is not configured"},
      {twice, "", "a kid given twice"},
  };
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    char k1[400], s1[100];
    snprintf(k1, sizeof k1, "ACCOLADE_CREDENTIAL_KEYS=%s", bad[i].keys);
    snprintf(s1, sizeof s1, "ACCOLADE_CREDENTIAL_SIGNING_KID=%s", bad[i].signer);
    const char *env[] = {pg, nom_addr, k1, s1, "ACCOLADE_LEADERBOARD_ADDR=127.0.0.1:1",
                         "ACCOLADE_NOTIFY_ADDR=127.0.0.1:1", NULL};
    th_proc p;
    int rc = th_start(&p, th_bin("svc-award"), env);
    if (rc == 0) th_stop(&p);
    cr_expect_eq(rc, -1, "svc-award started with %s", bad[i].why);
  }
}
