/* The gateway's security, table-driven, through the real gateway process:
 * every JWT attack (UNAUTHENTICATED, with a reason), every admin and internal
 * method called by a role that may not (PERMISSION_DENIED), unknown methods
 * (UNIMPLEMENTED), oversized requests, client-sent identity headers;
 * forged, unsigned or stale identities sent straight to each service; and,
 * through the gateway to the real services, a manager reviewing a nomination
 * not routed to them and org B naming org A's nomination id.
 *
 * The gateway here trusts three keys at once (HS256 secret, RS256 kid r1,
 * ES256 kid e1) and checks issuer and audience. The test service sits behind
 * it through ACCOLADE_GATEWAY_TEST_ROUTE; the real services' addresses point
 * at a closed port, so a call that passes authorization answers UNAVAILABLE
 * (proof it was forwarded) and one refused by the gateway never leaves it. */
#include <criterion/criterion.h>
#include <openssl/ec.h>
#include <openssl/ecdsa.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/pem.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "accolade/test/v1/test.pb-c.h"
#include "accolade/v1/nomination.pb-c.h"
#include "harness.h"

#define SECRET "gateway-security-secret"
#define ISS "https://idp.accolade.test"
#define AUD "accolade-api"
#define ECHO "/accolade.test.v1.TestService/Echo"

static th_proc gw, testsvc;
static EVP_PKEY *rsa, *rsa_other, *ec;
static char rsa_pub[4096], dir[64];

/* ---- Token minting ---- */

typedef enum { SIG_HS, SIG_HS_WRONG, SIG_HS_WITH_RSA_PEM, SIG_RS, SIG_RS_OTHER, SIG_EC, SIG_NONE } signer;

static void sign_into(signer how, char *tok) {
  unsigned char sig[512];
  size_t sl = 0;
  if (how == SIG_HS || how == SIG_HS_WRONG || how == SIG_HS_WITH_RSA_PEM) {
    const char *k = how == SIG_HS ? SECRET : how == SIG_HS_WRONG ? "a-guessed-secret" : rsa_pub;
    unsigned int ml;
    HMAC(EVP_sha256(), k, (int)strlen(k), (unsigned char *)tok, strlen(tok), sig, &ml);
    sl = ml;
  } else if (how != SIG_NONE) {
    EVP_PKEY *k = how == SIG_RS ? rsa : how == SIG_RS_OTHER ? rsa_other : ec;
    sl = sizeof sig;
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    cr_assert_eq(EVP_DigestSignInit(md, NULL, EVP_sha256(), NULL, k), 1);
    cr_assert_eq(EVP_DigestSign(md, sig, &sl, (unsigned char *)tok, strlen(tok)), 1);
    EVP_MD_CTX_free(md);
    if (how == SIG_EC) {   /* DER -> JOSE r || s */
      const unsigned char *p = sig;
      ECDSA_SIG *e = d2i_ECDSA_SIG(NULL, &p, (long)sl);
      const BIGNUM *r, *s;
      ECDSA_SIG_get0(e, &r, &s);
      BN_bn2binpad(r, sig, 32);
      BN_bn2binpad(s, sig + 32, 32);
      ECDSA_SIG_free(e);
      sl = 64;
    }
  }
  char s64[1024];
  th_b64url(sig, sl, s64);
  strcat(tok, ".");
  strcat(tok, s64);
}

/* The claims of a test token; NULL strings are left out of the payload. */
typedef struct claims {
  const char *sub, *org, *role, *iss, *aud;
  long exp_off;   /* exp = now + exp_off */
  int no_exp;
  long nbf_off;   /* 0: no nbf */
} claims;

#define GOOD_CLAIMS(role_) {"alice", "acme", role_, ISS, AUD, 600, 0, 0}

static void field(char *p, size_t cap, const char *k, const char *v) {
  if (v) snprintf(p + strlen(p), cap - strlen(p), ",\"%s\":\"%s\"", k, v);
}

static char *mint(const char *header, const claims *c, signer how) {
  static char tok[16384];
  char payload[1024] = "{\"team\":\"east\"";
  field(payload, sizeof payload, "sub", c->sub);
  field(payload, sizeof payload, "org", c->org);
  field(payload, sizeof payload, "role", c->role);
  field(payload, sizeof payload, "iss", c->iss);
  field(payload, sizeof payload, "aud", c->aud);
  long now = (long)time(NULL);
  if (!c->no_exp) snprintf(payload + strlen(payload), 64, ",\"exp\":%ld", now + c->exp_off);
  if (c->nbf_off) snprintf(payload + strlen(payload), 64, ",\"nbf\":%ld", now + c->nbf_off);
  strcat(payload, "}");
  char h[512], p[2048];
  th_b64url((const unsigned char *)header, strlen(header), h);
  th_b64url((const unsigned char *)payload, strlen(payload), p);
  snprintf(tok, sizeof tok, "%s.%s", h, p);
  sign_into(how, tok);
  return tok;
}

static const char *good(const char *role) {
  static char copy[4][4096];
  static int next;
  claims c = GOOD_CLAIMS(role);
  char *out = copy[next++ % 4];
  snprintf(out, 4096, "%s", mint("{\"alg\":\"HS256\",\"typ\":\"JWT\"}", &c, SIG_HS));
  return out;
}

/* ---- Calls ---- */

/* call sends |len| raw request bytes with |authorization| (NULL: none). */
static int call(const char *method, const uint8_t *req, size_t len, const char *authorization, rpc_status *st) {
  static arena a;
  arena_free(&a);
  arena_init(&a);
  const char *md[] = {"authorization", authorization, NULL};
  rpc_call_opts o = {.timeout_ms = 5000, .metadata = authorization ? md : NULL};
  uint8_t *out;
  size_t out_len;
  static const uint8_t empty[1];
  return rpc_call_raw(gw.addr, method, req ? req : empty, len, &o, &a, &out, &out_len, st);
}

static int call_bearer(const char *method, const char *tok, rpc_status *st) {
  static char bearer[20000];
  snprintf(bearer, sizeof bearer, "Bearer %s", tok);
  return call(method, NULL, 0, bearer, st);
}

static void write_pem(EVP_PKEY *k, const char *path) {
  FILE *f = fopen(path, "w");
  cr_assert_not_null(f, "%s", path);
  PEM_write_PUBKEY(f, k);
  fclose(f);
}

static void setup(void) {
  th_init();
  rsa = EVP_RSA_gen(2048);
  rsa_other = EVP_RSA_gen(2048);
  ec = EVP_EC_gen("P-256");
  cr_assert(rsa && rsa_other && ec);
  BIO *b = BIO_new(BIO_s_mem());
  PEM_write_bio_PUBKEY(b, rsa);
  int n = BIO_read(b, rsa_pub, sizeof rsa_pub - 1);
  rsa_pub[n > 0 ? n : 0] = 0;
  BIO_free(b);
  snprintf(dir, sizeof dir, "/tmp/gwsec.XXXXXX");
  cr_assert_not_null(mkdtemp(dir));
  char rpath[128], epath[128];
  snprintf(rpath, sizeof rpath, "%s/r1.pem", dir);
  snprintf(epath, sizeof epath, "%s/e1.pem", dir);
  write_pem(rsa, rpath);
  write_pem(ec, epath);

  cr_assert_eq(th_start(&testsvc, th_bin("accolade-testsvc"), NULL), 0);
  static char route[160], redis[64], keys[400];
  snprintf(route, sizeof route, "ACCOLADE_GATEWAY_TEST_ROUTE=/accolade.test.v1.TestService/=%s", testsvc.addr);
  snprintf(redis, sizeof redis, "ACCOLADE_REDIS=127.0.0.1:%d", th_redis_port());
  snprintf(keys, sizeof keys, "ACCOLADE_JWT_KEYS=r1:RS256:%s,e1:ES256:%s", rpath, epath);
  const char *genv[] = {route, redis, keys, "ACCOLADE_JWT_HS256_SECRET=" SECRET, "ACCOLADE_JWT_ISSUER=" ISS,
                        "ACCOLADE_JWT_AUDIENCE=" AUD,
                        /* Real services: a closed port, so forwarded calls answer UNAVAILABLE. */
                        "ACCOLADE_AWARD_ADDR=127.0.0.1:1", "ACCOLADE_NOMINATION_ADDR=127.0.0.1:1",
                        "ACCOLADE_LEADERBOARD_ADDR=127.0.0.1:1", "ACCOLADE_NOTIFY_ADDR=127.0.0.1:1",
                        "ACCOLADE_GATEWAY_RATE_MEMBER=10000", "ACCOLADE_GATEWAY_BURST_MEMBER=10000",
                        "ACCOLADE_MAX_MESSAGE_BYTES=65536", NULL};
  cr_assert_eq(th_start(&gw, th_bin("gateway-test"), genv), 0, "gateway did not start");
}

static void teardown(void) {
  cr_assert_eq(th_stop(&gw), 0, "gateway exit status (sanitizers clean)");
  cr_assert_eq(th_stop(&testsvc), 0);
  EVP_PKEY_free(rsa);
  EVP_PKEY_free(rsa_other);
  EVP_PKEY_free(ec);
  char cmd[128];
  snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
  if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", dir);
  th_fini();
}

TestSuite(gateway_security, .init = setup, .fini = teardown, .timeout = 120);

/* ---- Authentication ---- */

#define HS "{\"alg\":\"HS256\",\"typ\":\"JWT\"}"

typedef struct jwt_case {
  const char *name;
  const char *header;
  claims c;
  signer how;
  const char *why;   /* expected in the status message */
} jwt_case;

Test(gateway_security, every_jwt_attack_is_unauthenticated_with_a_reason) {
  const jwt_case cases[] = {
      {"alg none, no signature", "{\"alg\":\"none\"}", GOOD_CLAIMS("admin"), SIG_NONE, "alg none"},
      {"alg None (case games)", "{\"alg\":\"None\"}", GOOD_CLAIMS("admin"), SIG_NONE, "alg none"},
      {"alg missing", "{\"typ\":\"JWT\"}", GOOD_CLAIMS("admin"), SIG_HS, "unsupported alg"},
      {"alg HS512", "{\"alg\":\"HS512\"}", GOOD_CLAIMS("admin"), SIG_HS, "unsupported alg"},
      {"HS256 with a guessed secret", HS, GOOD_CLAIMS("admin"), SIG_HS_WRONG, "bad signature"},
      {"HS256 keyed with the RS256 public key (alg confusion)", "{\"alg\":\"HS256\",\"kid\":\"r1\"}",
       GOOD_CLAIMS("admin"), SIG_HS_WITH_RSA_PEM, "no key for this algorithm"},
      {"RS256 signed by a key we do not trust", "{\"alg\":\"RS256\",\"kid\":\"r1\"}", GOOD_CLAIMS("admin"),
       SIG_RS_OTHER, "bad signature"},
      {"ES256 signature presented as RS256 under e1", "{\"alg\":\"RS256\",\"kid\":\"e1\"}", GOOD_CLAIMS("admin"),
       SIG_EC, "no key for this algorithm"},
      {"ES256 signature under the RSA kid", "{\"alg\":\"ES256\",\"kid\":\"r1\"}", GOOD_CLAIMS("admin"), SIG_EC,
       "no key for this algorithm"},
      {"unknown kid", "{\"alg\":\"RS256\",\"kid\":\"r9\"}", GOOD_CLAIMS("admin"), SIG_RS, "unknown key id"},
      {"expired beyond the leeway", HS, {"alice", "acme", "member", ISS, AUD, -3600, 0, 0}, SIG_HS, "expired"},
      {"no exp", HS, {"alice", "acme", "member", ISS, AUD, 0, 1, 0}, SIG_HS, "no exp"},
      {"not valid yet", HS, {"alice", "acme", "member", ISS, AUD, 7200, 0, 3600}, SIG_HS, "nbf"},
      {"wrong issuer", HS, {"alice", "acme", "member", "https://evil.example", AUD, 600, 0, 0}, SIG_HS,
       "wrong issuer"},
      {"no issuer", HS, {"alice", "acme", "member", NULL, AUD, 600, 0, 0}, SIG_HS, "wrong issuer"},
      {"wrong audience", HS, {"alice", "acme", "member", ISS, "other-api", 600, 0, 0}, SIG_HS, "wrong audience"},
      {"no audience", HS, {"alice", "acme", "member", ISS, NULL, 600, 0, 0}, SIG_HS, "wrong audience"},
      {"role service from outside", HS, GOOD_CLAIMS("service"), SIG_HS, "role"},
      {"unknown role", HS, GOOD_CLAIMS("root"), SIG_HS, "role"},
      {"no role", HS, GOOD_CLAIMS(NULL), SIG_HS, "role"},
      {"no org", HS, {"alice", NULL, "member", ISS, AUD, 600, 0, 0}, SIG_HS, "org"},
      {"no sub", HS, {NULL, "acme", "member", ISS, AUD, 600, 0, 0}, SIG_HS, "sub"},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    const jwt_case *k = &cases[i];
    rpc_status st;
    int rc = call_bearer(ECHO, mint(k->header, &k->c, k->how), &st);
    cr_expect_eq(rc, RPC_UNAUTHENTICATED, "%s: got %s (%s)", k->name, rpc_code_name(rc), st.message);
    cr_expect(st.message && strstr(st.message, k->why), "%s: message '%s' should say '%s'", k->name, st.message,
              k->why);
    cr_expect(!st.message || !strstr(st.message, SECRET), "%s: the secret leaked", k->name);
  }
  /* A tampered payload keeps a valid signature of another payload. */
  char member[4096], admin_part[4096];
  snprintf(member, sizeof member, "%s", good("member"));
  snprintf(admin_part, sizeof admin_part, "%s", good("admin"));
  *strrchr(admin_part, '.') = '\0';
  strcat(admin_part, strrchr(member, '.'));
  rpc_status st;
  cr_expect_eq(call_bearer(ECHO, admin_part, &st), RPC_UNAUTHENTICATED, "tampered payload");
  cr_expect(strstr(st.message, "bad signature"), "%s", st.message);

  /* Malformed and missing tokens, and the wrong scheme. */
  const struct {
    const char *authorization, *why;
  } raw[] = {
      {"Bearer abc", "malformed"},
      {"Bearer a.b.c.d", "malformed"},
      {"Bearer !!!.???.***", "malformed"},
      {"Bearer e30.e30.", "unsupported alg"},   /* {} and {} with an empty signature */
      {"Bearer ", "authorization"},
      {"Basic YWxpY2U6cHc=", "Bearer"},
      {"bearer", "Bearer"},
  };
  for (size_t i = 0; i < sizeof raw / sizeof raw[0]; i++) {
    int rc = call(ECHO, NULL, 0, raw[i].authorization, &st);
    cr_expect_eq(rc, RPC_UNAUTHENTICATED, "'%s': got %s", raw[i].authorization, rpc_code_name(rc));
    cr_expect(st.message && strstr(st.message, raw[i].why), "'%s': %s", raw[i].authorization, st.message);
  }
  cr_expect_eq(call(ECHO, NULL, 0, NULL, &st), RPC_UNAUTHENTICATED, "no authorization header");
  cr_expect(strstr(st.message, "missing bearer token"), "%s", st.message);

  /* Too large: over the gateway's 4 KiB token limit but under gRPC's 8 KiB header limit. */
  static char big[6000];
  memset(big, 'a', sizeof big - 1);
  cr_expect_eq(call_bearer(ECHO, big, &st), RPC_UNAUTHENTICATED);
  cr_expect(strstr(st.message, "too large"), "%s", st.message);
}

Test(gateway_security, tokens_of_each_trusted_key_pass_with_their_identity) {
  const struct {
    const char *header;
    signer how;
  } ok[] = {
      {HS, SIG_HS},
      {"{\"alg\":\"RS256\",\"kid\":\"r1\"}", SIG_RS},
      {"{\"alg\":\"ES256\",\"kid\":\"e1\"}", SIG_EC},
      {"{\"alg\":\"RS256\"}", SIG_RS},   /* no kid: the key of that algorithm */
  };
  Accolade__Test__V1__EchoRequest req = ACCOLADE__TEST__V1__ECHO_REQUEST__INIT;
  req.need_identity = 1;
  for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
    claims c = GOOD_CLAIMS("manager");
    static char bearer[8192];
    snprintf(bearer, sizeof bearer, "Bearer %s", mint(ok[i].header, &c, ok[i].how));
    arena a;
    arena_init(&a);
    const char *md[] = {"authorization", bearer, NULL};
    rpc_call_opts o = {.timeout_ms = 5000, .metadata = md};
    Accolade__Test__V1__EchoResponse *out;
    rpc_status st;
    int rc = rpc_call(gw.addr, ECHO, &req.base, &accolade__test__v1__echo_response__descriptor, &o, &a,
                      (void **)&out, &st);
    cr_assert_eq(rc, RPC_OK, "%s: %s %s", ok[i].header, rpc_code_name(rc), st.message);
    cr_expect_str_eq(out->org, "acme");
    cr_expect_str_eq(out->user, "alice");
    cr_expect_str_eq(out->role, "manager");
    arena_free(&a);
  }
}

/* A client cannot smuggle identity metadata through: the gateway signs only
 * what the token says and forwards none of the caller's x-accolade-* headers. */
Test(gateway_security, identity_headers_from_the_client_are_not_passed_on) {
  char sig[65], ts[32];
  identity forged;
  th_as(&forged, "other-org", "mallory", "admin", "");
  long now = (long)time(NULL);
  identity_sign(&forged, now, sig);   /* even correctly signed with the real key */
  snprintf(ts, sizeof ts, "%ld", now);
  static char bearer[4096];
  snprintf(bearer, sizeof bearer, "Bearer %s", good("member"));
  const char *md[] = {"authorization", bearer, "x-accolade-org", "other-org", "x-accolade-user", "mallory",
                      "x-accolade-role", "admin", "x-accolade-team", "", "x-accolade-ts", ts,
                      "x-accolade-sig", sig, NULL};
  Accolade__Test__V1__EchoRequest req = ACCOLADE__TEST__V1__ECHO_REQUEST__INIT;
  req.need_identity = 1;
  arena a;
  arena_init(&a);
  rpc_call_opts o = {.timeout_ms = 5000, .metadata = md};
  Accolade__Test__V1__EchoResponse *out;
  rpc_status st;
  cr_assert_eq(rpc_call(gw.addr, ECHO, &req.base, &accolade__test__v1__echo_response__descriptor, &o, &a,
                        (void **)&out, &st), RPC_OK, "%s", st.message);
  cr_expect_str_eq(out->org, "acme");
  cr_expect_str_eq(out->user, "alice");
  cr_expect_str_eq(out->role, "member");
  arena_free(&a);
}

/* ---- Authorization ---- */

#define AW "/accolade.v1.AwardService/"
#define CR "/accolade.v1.CredentialService/"
#define LB "/accolade.v1.LeaderboardService/"
#define NO "/accolade.v1.NominationService/"
#define NT "/accolade.v1.NotifyService/"
#define SG "/accolade.v1.SignalService/"

/* Written from the issues, independently of the gateway's table. */
static const char *const admin_only[] = {
    AW "CreateBadge", AW "UpdateBadge", AW "RetireBadge", AW "GrantAward", AW "RevokeAward", AW "CreateRule",
    AW "UpdateRule", AW "DeleteRule", CR "UpdateIssuer",
    LB "RebuildLeaderboards", NO "UpsertMembers", NO "DeactivateMember", NO "ReactivateMember", NO "UpdateOrgSettings",
    NT "CreateChannel", NT "ListChannels", NT "DeleteChannel", NT "TestChannel", NT "ListDeliveries",
    SG "CreateSignalRule", SG "DeleteSignalRule", SG "CreateJourney", SG "UpdateJourney",
};
/* Every member reaches these (the service narrows what each role sees). */
static const char *const any_member[] = {SG "ListSignals", SG "ListSignalRules", SG "SuggestRecognitions",
                                        SG "ListJourneys", AW "GetRule", NO "ListReflections"};
static const char *const manager_up[] = {AW "GetAwardStats", NO "ReviewNomination", NO "GetParticipationStats",
                                        SG "GetOutcomeStats"};
static const char *const internal[] = {LB "RecordAward", LB "RecordAwards", LB "RetractAward", NT "PublishEvent",
                                       NT "PublishEvents", AW "GrantAwards"};
#define N(x) (sizeof(x) / sizeof((x)[0]))

static void expect_code(const char *method, const char *role, int want) {
  rpc_status st;
  int rc = call_bearer(method, good(role), &st);
  cr_expect_eq(rc, want, "%s as %s: got %s (%s), want %s", method, role, rpc_code_name(rc), st.message,
               rpc_code_name(want));
}

Test(gateway_security, roles_reach_only_their_methods) {
  for (size_t i = 0; i < N(admin_only); i++) {
    expect_code(admin_only[i], "member", RPC_PERMISSION_DENIED);
    expect_code(admin_only[i], "manager", RPC_PERMISSION_DENIED);
    expect_code(admin_only[i], "admin", RPC_UNAVAILABLE);   /* forwarded: the upstream is down */
  }
  for (size_t i = 0; i < N(manager_up); i++) {
    expect_code(manager_up[i], "member", RPC_PERMISSION_DENIED);
    expect_code(manager_up[i], "manager", RPC_UNAVAILABLE);
  }
  for (size_t i = 0; i < N(internal); i++) {
    expect_code(internal[i], "member", RPC_PERMISSION_DENIED);
    expect_code(internal[i], "admin", RPC_PERMISSION_DENIED);
  }
  for (size_t i = 0; i < N(any_member); i++) {
    expect_code(any_member[i], "member", RPC_UNAVAILABLE);
    expect_code(any_member[i], "integration", RPC_PERMISSION_DENIED);
  }
  /* Signals come from admins and the integration role, which reaches nothing else. */
  expect_code(SG "IngestSignals", "member", RPC_PERMISSION_DENIED);
  expect_code(SG "IngestSignals", "manager", RPC_PERMISSION_DENIED);
  expect_code(SG "IngestSignals", "admin", RPC_UNAVAILABLE);
  expect_code(SG "IngestSignals", "integration", RPC_UNAVAILABLE);
  for (size_t i = 0; i < N(admin_only); i++) expect_code(admin_only[i], "integration", RPC_PERMISSION_DENIED);
  for (size_t i = 0; i < N(manager_up); i++) expect_code(manager_up[i], "integration", RPC_PERMISSION_DENIED);
  for (size_t i = 0; i < N(internal); i++) expect_code(internal[i], "integration", RPC_PERMISSION_DENIED);
  expect_code(AW "ListBadges", "integration", RPC_PERMISSION_DENIED);
  expect_code(NT "ListInbox", "integration", RPC_PERMISSION_DENIED);
  /* A member reaches the member methods (forwarded, so UNAVAILABLE here). */
  expect_code(AW "ListBadges", "member", RPC_UNAVAILABLE);
  expect_code(NO "CreateNomination", "member", RPC_UNAVAILABLE);
  expect_code(NT "ListInbox", "member", RPC_UNAVAILABLE);
  expect_code(LB "GetTop", "member", RPC_UNAVAILABLE);
  /* Credentials: any member reaches them; svc-award narrows GetCredential to
   * the recipient's own awards (tests/integration/test_credential_api.c). */
  const char *credential_methods[] = {CR "GetIssuer", CR "GetIssuerKeys", CR "GetCredential",
                                      CR "GetCredentialStatusList", CR "GetCredentialPreferences",
                                      CR "UpdateCredentialPreferences"};
  for (size_t i = 0; i < N(credential_methods); i++) {
    expect_code(credential_methods[i], "member", RPC_UNAVAILABLE);
    expect_code(credential_methods[i], "manager", RPC_UNAVAILABLE);
  }
}

Test(gateway_security, unknown_methods_are_refused) {
  const char *unknown[] = {
      AW "DropDatabase",
      AW "getbadge",
      AW "GetBadge/",
      "/accolade.v1.AwardService.GetBadge",
      "/accolade.v1.AdminService/Anything",
      "/accolade.v1.LeaderboardService/RecordAwardsNow",
      "/accolade.test.v1.TestServiceX/Echo",
      "/grpc.reflection.v1alpha.ServerReflectionX/Info",
  };
  for (size_t i = 0; i < N(unknown); i++) expect_code(unknown[i], "admin", RPC_UNIMPLEMENTED);
  /* Authentication comes first: an anonymous caller learns nothing about the table. */
  rpc_status st;
  cr_expect_eq(call(AW "DropDatabase", NULL, 0, NULL, &st), RPC_UNAUTHENTICATED);
  cr_expect_eq(call(LB "RecordAward", NULL, 0, NULL, &st), RPC_UNAUTHENTICATED);
}

/* ---- Limits ---- */

Test(gateway_security, oversized_requests_are_refused) {
  Accolade__Test__V1__EchoRequest req = ACCOLADE__TEST__V1__ECHO_REQUEST__INIT;
  static char text[70000];
  memset(text, 'x', sizeof text - 1);
  req.text = text;
  static uint8_t buf[80000];
  size_t n = accolade__test__v1__echo_request__pack(&req, buf);
  static char bearer[4096];
  snprintf(bearer, sizeof bearer, "Bearer %s", good("member"));
  rpc_status st;
  int rc = call(ECHO, buf, n, bearer, &st);
  cr_expect_eq(rc, RPC_RESOURCE_EXHAUSTED, "a 70 kB request over a 64 KiB limit: %s", rpc_code_name(rc));
  /* Just under the limit passes. */
  req.text = text + sizeof text - 60000;
  n = accolade__test__v1__echo_request__pack(&req, buf);
  rc = call(ECHO, buf, n, bearer, &st);
  cr_expect_eq(rc, RPC_OK, "60 kB: %s %s", rpc_code_name(rc), st.message);
}

/* ---- Going around the gateway ---- */

static th_proc svcs[4];

static void stop_services(void) {
  for (int i = 3; i >= 0; i--)
    if (svcs[i].pid) cr_expect_eq(th_stop(&svcs[i]), 0, "service %d exit status", i);
  th_fini();
}

static void start_services(void) {
  th_init();
  static char pg[600], redis[64];
  snprintf(pg, sizeof pg, "ACCOLADE_PG=%s", th_new_database("gwdirect"));
  snprintf(redis, sizeof redis, "ACCOLADE_REDIS=127.0.0.1:%d", th_redis_port());
  const char *env[] = {pg, redis, "ACCOLADE_AWARD_ADDR=127.0.0.1:1", "ACCOLADE_LEADERBOARD_ADDR=127.0.0.1:1",
                       "ACCOLADE_NOTIFY_ADDR=127.0.0.1:1", "ACCOLADE_NOMINATION_ADDR=127.0.0.1:1", NULL};
  const char *bins[] = {"svc-award", "svc-leaderboard", "svc-nomination", "svc-notify"};
  for (int i = 0; i < 4; i++) cr_assert_eq(th_start(&svcs[i], th_bin(bins[i]), env), 0, "%s", bins[i]);
}

TestSuite(gateway_direct, .init = start_services, .fini = stop_services, .timeout = 120);

/* Each service refuses a caller without a verified identity: unsigned, signed
 * with a guessed key, or correctly signed but stale. Internal methods too. */
Test(gateway_direct, unsigned_or_forged_identities_are_refused_by_every_service) {
  const struct {
    int svc;
    const char *method;
  } calls[] = {
      {0, AW "ListBadges"},       {0, AW "GrantAward"},      {1, LB "GetTop"},
      {1, LB "RecordAward"},      {2, NO "ListMembers"},     {2, NO "UpsertMembers"},
      {3, NT "ListInbox"},        {3, NT "PublishEvent"},    {0, CR "GetCredential"},
      {0, CR "UpdateIssuer"},     {0, CR "GetIssuerKeys"},   {0, SG "IngestSignals"},
      {0, SG "ListSignals"},      {0, SG "CreateSignalRule"},
  };
  identity admin, service;
  th_as(&admin, "acme", "mallory", "admin", "");
  th_as(&service, "acme", "svc:award", "service", "");
  for (size_t i = 0; i < N(calls); i++) {
    for (int variant = 0; variant < 3; variant++) {
      arena a;
      arena_init(&a);
      rpc_status st;
      uint8_t *out;
      size_t out_len;
      static const uint8_t empty[1];
      const identity *as = variant == 0 ? NULL : variant == 1 ? &admin : &service;
      identity_set_key(variant == 0 ? TH_INTERNAL_KEY : "a-guess-at-the-internal-key");
      rpc_call_opts o = {.timeout_ms = 5000, .as = as};
      int rc = rpc_call_raw(svcs[calls[i].svc].addr, calls[i].method, empty, 0, &o, &a, &out, &out_len, &st);
      cr_expect_eq(rc, RPC_UNAUTHENTICATED, "%s %s: got %s (%s)", calls[i].method,
                   variant == 0 ? "unsigned" : variant == 1 ? "forged admin" : "forged service",
                   rpc_code_name(rc), st.message);
      arena_free(&a);
    }
  }
  identity_set_key(TH_INTERNAL_KEY);
  /* A stale signature (replayed metadata older than the allowed skew). */
  char sig[65], ts[32];
  long old = (long)time(NULL) - IDENTITY_MAX_SKEW_S - 60;
  identity_sign(&admin, old, sig);
  snprintf(ts, sizeof ts, "%ld", old);
  const char *md[] = {"x-accolade-org", admin.org, "x-accolade-user", admin.user, "x-accolade-role", "admin",
                      "x-accolade-team", "", "x-accolade-ts", ts, "x-accolade-sig", sig, NULL};
  arena a;
  arena_init(&a);
  rpc_status st;
  uint8_t *out;
  size_t out_len;
  static const uint8_t empty[1];
  rpc_call_opts o = {.timeout_ms = 5000, .metadata = md};
  cr_expect_eq(rpc_call_raw(svcs[0].addr, AW "ListBadges", empty, 0, &o, &a, &out, &out_len, &st),
               RPC_UNAUTHENTICATED, "stale signature: %s", st.message);
  /* Control: the same call correctly signed passes. */
  rpc_call_opts ok = {.timeout_ms = 5000, .as = &admin};
  cr_expect_eq(rpc_call_raw(svcs[0].addr, AW "ListBadges", empty, 0, &ok, &a, &out, &out_len, &st), RPC_OK,
               "%s", st.message);
  arena_free(&a);
}

/* ---- Through the gateway to the real services: who may review, which org ---- */

static th_proc rv_award, rv_nom, rv_gw;

static void review_setup(void) {
  th_init();
  static char pg[600], redis[64], a_addr[96], o_addr[96];
  snprintf(pg, sizeof pg, "ACCOLADE_PG=%s", th_new_database("gwreview"));
  snprintf(redis, sizeof redis, "ACCOLADE_REDIS=127.0.0.1:%d", th_redis_port());
  const char *aenv[] = {pg, "ACCOLADE_LEADERBOARD_ADDR=127.0.0.1:1", "ACCOLADE_NOTIFY_ADDR=127.0.0.1:1", NULL};
  cr_assert_eq(th_start(&rv_award, th_bin("svc-award"), aenv), 0);
  snprintf(a_addr, sizeof a_addr, "ACCOLADE_AWARD_ADDR=%s", rv_award.addr);
  const char *nenv[] = {pg, a_addr, "ACCOLADE_NOTIFY_ADDR=127.0.0.1:1", NULL};
  cr_assert_eq(th_start(&rv_nom, th_bin("svc-nomination"), nenv), 0);
  snprintf(o_addr, sizeof o_addr, "ACCOLADE_NOMINATION_ADDR=%s", rv_nom.addr);
  const char *genv[] = {redis, a_addr, o_addr, "ACCOLADE_JWT_HS256_SECRET=" SECRET, NULL};
  cr_assert_eq(th_start(&rv_gw, th_bin("gateway"), genv), 0);
}

static void review_teardown(void) {
  cr_expect_eq(th_stop(&rv_gw), 0);
  cr_expect_eq(th_stop(&rv_nom), 0);
  cr_expect_eq(th_stop(&rv_award), 0);
  th_fini();
}

TestSuite(gateway_review, .init = review_setup, .fini = review_teardown, .timeout = 120);

static int as(const char *org, const char *user, const char *role, const char *method, const void *req,
              const ProtobufCMessageDescriptor *d, arena *a, void **out, rpc_status *st) {
  claims c = {user, org, role, NULL, NULL, 600, 0, 0};
  static char bearer[4096];
  snprintf(bearer, sizeof bearer, "Bearer %s", mint("{\"alg\":\"HS256\"}", &c, SIG_HS));
  const char *md[] = {"authorization", bearer, NULL};
  rpc_call_opts o = {.timeout_ms = 5000, .metadata = md};
  return rpc_call(rv_gw.addr, method, req, d, &o, a, out, st);
}

Test(gateway_review, only_the_routed_reviewer_reviews_and_other_orgs_see_nothing) {
  arena a;
  arena_init(&a);
  rpc_status st;
  void *out;
  char org_a[64], org_b[64];
  snprintf(org_a, sizeof org_a, "gwrv-a-%d", getpid());
  snprintf(org_b, sizeof org_b, "gwrv-b-%d", getpid());
  Accolade__V1__Member m[4], *mp[4];
  const char *ids[] = {"mgr", "otherm", "ann", "bob"}, *mgrs[] = {"", "", "mgr", "otherm"};
  for (int i = 0; i < 4; i++) {
    accolade__v1__member__init(&m[i]);
    m[i].member_id = (char *)ids[i];
    m[i].manager_id = (char *)mgrs[i];
    m[i].team = "east";
    m[i].active = 1;
    mp[i] = &m[i];
  }
  Accolade__V1__UpsertMembersRequest ur = ACCOLADE__V1__UPSERT_MEMBERS_REQUEST__INIT;
  ur.members = mp;
  ur.n_members = 4;
  cr_assert_eq(as(org_a, "ada", "admin", NO "UpsertMembers", &ur, &accolade__v1__upsert_members_response__descriptor,
                  &a, &out, &st), RPC_OK, "%s", st.message);
  Accolade__V1__CreateNominationRequest cr = ACCOLADE__V1__CREATE_NOMINATION_REQUEST__INIT;
  cr.badge_id = "deal-closer";
  char *nominees[] = {"ann"};
  cr.nominee_ids = nominees;
  cr.n_nominee_ids = 1;
  cr.justification = "Closed the Northwind renewal two weeks early by pairing with support on the blockers.";
  cr.request_id = "gw-review-1";
  Accolade__V1__Nomination *n;
  cr_assert_eq(as(org_a, "bob", "member", NO "CreateNomination", &cr, &accolade__v1__nomination__descriptor, &a,
                  (void **)&n, &st), RPC_OK, "%s", st.message);
  Accolade__V1__ReviewNominationRequest rr = ACCOLADE__V1__REVIEW_NOMINATION_REQUEST__INIT;
  rr.nomination_id = n->id;
  rr.approve = 1;
  const ProtobufCMessageDescriptor *nd = &accolade__v1__nomination__descriptor;
  /* A member: refused by the gateway's table. */
  cr_expect_eq(as(org_a, "bob", "member", NO "ReviewNomination", &rr, nd, &a, &out, &st), RPC_PERMISSION_DENIED);
  /* A manager the nomination is not routed to (bob's manager, not ann's). */
  cr_expect_eq(as(org_a, "otherm", "manager", NO "ReviewNomination", &rr, nd, &a, &out, &st),
               RPC_PERMISSION_DENIED, "%s", st.message);
  /* Org B, even as admin, naming org A's nomination id: NOT_FOUND, never A's data. */
  cr_expect_eq(as(org_b, "bea", "admin", NO "ReviewNomination", &rr, nd, &a, &out, &st), RPC_NOT_FOUND, "%s",
               st.message);
  Accolade__V1__GetNominationRequest gn = ACCOLADE__V1__GET_NOMINATION_REQUEST__INIT;
  gn.nomination_id = n->id;
  cr_expect_eq(as(org_b, "bea", "admin", NO "GetNomination", &gn, nd, &a, &out, &st), RPC_NOT_FOUND, "%s",
               st.message);
  Accolade__V1__WithdrawNominationRequest wn = ACCOLADE__V1__WITHDRAW_NOMINATION_REQUEST__INIT;
  wn.nomination_id = n->id;
  cr_expect_eq(as(org_b, "bob", "member", NO "WithdrawNomination", &wn, nd, &a, &out, &st), RPC_NOT_FOUND, "%s",
               st.message);
  /* The routed manager may (control). */
  cr_expect_eq(as(org_a, "mgr", "manager", NO "ReviewNomination", &rr, nd, &a, &out, &st), RPC_OK, "%s", st.message);
  arena_free(&a);
}
