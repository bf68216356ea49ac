/* credential.c - CredentialService: Open Badges 3.0 credentials of awards,
 * the issuer's profile and keys, the revocation status list, and members'
 * consent. The decisions are in award.h; the JSON is ob3.c's. */
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "accolade/v1/nomination.pb-c.h"
#include "award.h"
#include "check.h"
#include "hex.h"
#include "jws.h"
#include "log.h"
#include "ob3.h"
#include "pg.h"
#include "pg_status.h"
#include "rpc_client.h"
#include "store.h"
#include "svc.h"

#define MAX_KEYS 16
#define CRED_ROLES (ROLE_MEMBER | ROLE_MANAGER | ROLE_ADMIN)
#define GET_MEMBER "/accolade.v1.NominationService/GetMember"
#define VC_TYP "vc+jwt"
#define VC_CTY "vc"

typedef struct cred_key {
  char kid[64];
  EVP_PKEY *pkey;
} cred_key;

/* Loaded once at start, read-only afterwards: shared by every worker. */
static struct {
  cred_key keys[MAX_KEYS];
  int nkeys;
  int signer;          /* index into keys */
  char *jwks;          /* {"keys":[...]} */
  char base[256];      /* base URL of what the service names: badges, status lists */
} g_cred;

/* ---------------------------------------------------------------- keys */

static int add_key(const char *kid, EVP_PKEY *k) {
  if (g_cred.nkeys == MAX_KEYS) return log_error("credentials: more than %d keys", MAX_KEYS), -1;
  if (jws_key_alg(k) == JWS_ALG_NONE)
    return log_error("credentials: key '%s' is neither RSA (2048 bits or more) nor EC P-256", kid), -1;
  for (int i = 0; i < g_cred.nkeys; i++)
    if (!strcmp(g_cred.keys[i].kid, kid)) return log_error("credentials: kid '%s' given twice", kid), -1;
  cred_key *c = &g_cred.keys[g_cred.nkeys++];
  snprintf(c->kid, sizeof c->kid, "%s", kid);
  c->pkey = k;
  return 0;
}

static int load_pem(const char *kid, const char *path) {
  FILE *f = fopen(path, "r");
  if (!f) return log_error("credentials: key '%s': cannot open %s", kid, path), -1;
  EVP_PKEY *k = PEM_read_PrivateKey(f, NULL, NULL, NULL);
  fclose(f);
  if (!k) return log_error("credentials: key '%s': %s holds no PEM private key", kid, path), -1;
  if (add_key(kid, k)) {
    EVP_PKEY_free(k);
    return -1;
  }
  return 0;
}

/* parse_keys reads "kid=path.pem,kid=path.pem". */
static int parse_keys(const char *spec) {
  char *copy = strdup(spec), *save = NULL;
  int rc = 0;
  for (char *item = strtok_r(copy, ",", &save); item && !rc; item = strtok_r(NULL, ",", &save)) {
    char *eq = strchr(item, '=');
    if (!eq || eq == item || !eq[1] || (size_t)(eq - item) >= sizeof g_cred.keys[0].kid) {
      log_error("ACCOLADE_CREDENTIAL_KEYS: '%s' is not kid=path.pem (kid 1..63 characters)", item);
      rc = -1;
      break;
    }
    *eq = '\0';
    rc = load_pem(item, eq + 1);
  }
  free(copy);
  return rc;
}

static int ephemeral_key(void) {
  EVP_PKEY *k = EVP_EC_gen("P-256");
  unsigned char r[4];
  char kid[32] = "ephemeral-";
  if (!k || RAND_bytes(r, sizeof r) != 1) return log_error("credentials: cannot generate a key"), -1;
  hex_encode(kid + strlen(kid), r, sizeof r);
  log_warn("credentials: ACCOLADE_CREDENTIAL_KEYS is unset: signing with an ephemeral ES256 key '%s' that dies "
           "with this process (credentials it signs stop verifying once the JWKS changes); set keys for production",
           kid);
  return add_key(kid, k);
}

static int build_jwks(void) {
  json_object *set = json_object_new_object(), *arr = json_object_new_array();
  json_object_object_add(set, "keys", arr);
  for (int i = 0; i < g_cred.nkeys; i++) {
    json_object *j = jws_public_jwk(g_cred.keys[i].pkey, g_cred.keys[i].kid);
    if (!j) {
      json_object_put(set);
      return log_error("credentials: cannot export key '%s'", g_cred.keys[i].kid), -1;
    }
    json_object_array_add(arr, j);
  }
  g_cred.jwks = strdup(json_object_to_json_string_ext(set, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE));
  json_object_put(set);
  return 0;
}

int credential_init(const config *cfg) {
  const char *spec = config_str(cfg, "credential-keys", "ACCOLADE_CREDENTIAL_KEYS", "");
  const char *signer = config_str(cfg, "credential-signing-kid", "ACCOLADE_CREDENTIAL_SIGNING_KID", "");
  const char *base = config_str(cfg, "credential-base-url", "ACCOLADE_CREDENTIAL_BASE_URL", CREDENTIAL_DEFAULT_BASE);
  if (strncmp(base, "https://", 8) || strlen(base) >= sizeof g_cred.base || strpbrk(base, " \"<>#?"))
    return log_error("ACCOLADE_CREDENTIAL_BASE_URL: an https:// URL of at most 200 characters"), -1;
  snprintf(g_cred.base, sizeof g_cred.base, "%s", base);
  size_t bl = strlen(g_cred.base);
  while (bl > 8 && g_cred.base[bl - 1] == '/') g_cred.base[--bl] = '\0';
  if (*spec ? parse_keys(spec) : ephemeral_key()) return -1;
  g_cred.signer = g_cred.nkeys - 1;   /* default: the last listed, the newest */
  if (*signer) {
    g_cred.signer = -1;
    for (int i = 0; i < g_cred.nkeys; i++)
      if (!strcmp(g_cred.keys[i].kid, signer)) g_cred.signer = i;
    if (g_cred.signer < 0) return log_error("ACCOLADE_CREDENTIAL_SIGNING_KID: no key '%s'", signer), -1;
  }
  if (build_jwks()) return -1;
  log_info("credentials: %d key(s), signing with '%s' (%s)", g_cred.nkeys, g_cred.keys[g_cred.signer].kid,
           jws_alg_name(jws_key_alg(g_cred.keys[g_cred.signer].pkey)));
  return 0;
}

void credential_fini(void) {
  for (int i = 0; i < g_cred.nkeys; i++) EVP_PKEY_free(g_cred.keys[i].pkey);
  free(g_cred.jwks);
  memset(&g_cred, 0, sizeof g_cred);
}

/* sign returns the VC-JWT of |json| in ctx->arena (NULL: failed, answered). */
static char *sign(rpc_ctx *ctx, const char *json) {
  const cred_key *k = &g_cred.keys[g_cred.signer];
  char *jws = jws_sign(k->pkey, k->kid, VC_TYP, VC_CTY, json, strlen(json));
  if (!jws) {
    rpc_fail(ctx, RPC_INTERNAL, "signing with key '%s' failed", k->kid);
    return NULL;
  }
  char *out = arena_strdup(ctx->arena, jws);
  free(jws);
  return out;
}

/* -------------------------------------------------------------- issuer */

/* issuer_of: the org's profile, or the defaults: <base>/orgs/<org> named
 * after the org. */
static int issuer_of(rpc_ctx *ctx, Accolade__V1__IssuerProfile **out) {
  int rc = store_issuer_get(ctx, ctx->id.org, out);
  if (rc == RPC_NOT_FOUND) {
    Accolade__V1__IssuerProfile *d = ARENA_NEW(ctx->arena, Accolade__V1__IssuerProfile);
    accolade__v1__issuer_profile__init(d);
    d->id = arena_printf(ctx->arena, "%s/orgs/%s", g_cred.base, ctx->id.org);
    d->name = ctx->id.org;
    *out = d;
    return RPC_OK;
  }
  return rc ? pg_fail(ctx, rc, "get issuer") : RPC_OK;
}

static void to_ob3_issuer(const Accolade__V1__IssuerProfile *p, ob3_issuer *out) {
  *out = (ob3_issuer){.id = p->id, .name = p->name, .image_url = p->image_url, .email = p->email};
}

static int check_https(rpc_ctx *ctx, const char *field, const char *s) {
  if (check_url(ctx, field, s, 500)) return ctx->code;
  if (*s && strncmp(s, "https://", 8))
    return rpc_fail(ctx, RPC_INVALID_ARGUMENT, "%s: must be an https:// URL", field);
  return RPC_OK;
}

int credential_get_issuer(rpc_ctx *ctx, const void *req, void *resp) {
  if (award_begin(ctx, CRED_ROLES)) return ctx->code;
  Accolade__V1__IssuerProfile *p;
  if (issuer_of(ctx, &p)) return ctx->code;
  *(Accolade__V1__IssuerProfile *)resp = *p;
  return RPC_OK;
}

int credential_update_issuer(rpc_ctx *ctx, const void *req, void *resp) {
  const Accolade__V1__UpdateIssuerRequest *r = req;
  if (award_begin(ctx, ROLE_ADMIN)) return ctx->code;
  if (!r->issuer) return rpc_fail(ctx, RPC_INVALID_ARGUMENT, "issuer: required");
  Accolade__V1__IssuerProfile p = *r->issuer;
  if (check_https(ctx, "issuer.id", p.id) || check_len(ctx, "issuer.name", p.name, 0, 200) ||
      check_https(ctx, "issuer.image_url", p.image_url) || check_len(ctx, "issuer.email", p.email, 0, 254))
    return ctx->code;
  if (*p.email && (!strchr(p.email, '@') || strpbrk(p.email, " \t\n<>\"")))
    return rpc_fail(ctx, RPC_INVALID_ARGUMENT, "issuer.email: not an email address");
  if (!*p.id) p.id = arena_printf(ctx->arena, "%s/orgs/%s", g_cred.base, ctx->id.org);
  if (!*p.name) p.name = ctx->id.org;
  int rc = store_issuer_put(ctx->id.org, &p);
  if (rc) return pg_fail(ctx, rc, "update issuer");
  *(Accolade__V1__IssuerProfile *)resp = p;
  return RPC_OK;
}

int credential_get_keys(rpc_ctx *ctx, const void *req, void *resp) {
  Accolade__V1__IssuerKeys *out = resp;
  if (award_begin(ctx, CRED_ROLES)) return ctx->code;
  out->jwks_json = g_cred.jwks;
  out->signing_kid = g_cred.keys[g_cred.signer].kid;
  return RPC_OK;
}

/* ---------------------------------------------------------- credential */

static const char *status_url(rpc_ctx *ctx) {
  return arena_printf(ctx->arena, "%s/orgs/%s/credentials/status/revocation", g_cred.base, ctx->id.org);
}

/* recipient_email asks the members directory (svc-nomination) on behalf of
 * the caller, who may read any member of the org. */
static int recipient_email(rpc_ctx *ctx, const char *user, const char **email) {
  Accolade__V1__GetMemberRequest req = ACCOLADE__V1__GET_MEMBER_REQUEST__INIT;
  req.member_id = (char *)user;
  rpc_call_opts o = {.parent = ctx, .as = &ctx->id, .idempotent = 1};
  Accolade__V1__Member *m = NULL;
  rpc_status st;
  int rc = rpc_call(svc_addr("nomination"), GET_MEMBER, &req.base, &accolade__v1__member__descriptor, &o,
                    ctx->arena, (void **)&m, &st);
  if (rc == RPC_NOT_FOUND || (rc == RPC_OK && !*m->email))
    return rpc_fail(ctx, RPC_FAILED_PRECONDITION,
                    "award_id: the recipient '%s' has no email in the members directory to identify them by", user);
  if (rc == RPC_UNAVAILABLE || rc == RPC_DEADLINE_EXCEEDED)
    return rpc_fail(ctx, rc, "members directory: %s", st.message ? st.message : rpc_code_name(rc));
  if (rc) return rpc_fail(ctx, RPC_INTERNAL, "members directory answered %s: %s", rpc_code_name(rc), st.message);
  *email = m->email;
  return RPC_OK;
}

int credential_get(rpc_ctx *ctx, const void *req, void *resp) {
  const Accolade__V1__GetCredentialRequest *r = req;
  Accolade__V1__Credential *out = resp;
  if (award_begin(ctx, CRED_ROLES)) return ctx->code;
  if (check_uuid(ctx, "award_id", r->award_id)) return ctx->code;
  const char *org = ctx->id.org;
  Accolade__V1__Award *a;
  int rc = store_award_get(ctx, org, r->award_id, &a);
  if (rc == RPC_NOT_FOUND) return rpc_fail(ctx, RPC_NOT_FOUND, "award_id: no award '%s'", r->award_id);
  if (rc) return pg_fail(ctx, rc, "get credential");
  if (!(ctx->id.role == ROLE_ADMIN) && strcmp(a->recipient_id, ctx->id.user))
    return rpc_fail(ctx, RPC_PERMISSION_DENIED, "award_id: only its recipient or an admin may export an award");
  if (!a->public_) return rpc_fail(ctx, RPC_FAILED_PRECONDITION, "award_id: only public awards become credentials");
  if (a->revoked) return rpc_fail(ctx, RPC_FAILED_PRECONDITION, "award_id: the award was revoked");
  int disabled;
  if ((rc = store_pref_get(org, a->recipient_id, &disabled))) return pg_fail(ctx, rc, "get credential");
  if (disabled)
    return rpc_fail(ctx, RPC_FAILED_PRECONDITION, "award_id: the recipient has turned credential export off");
  const char *email = NULL;
  if (recipient_email(ctx, a->recipient_id, &email)) return ctx->code;
  Accolade__V1__Badge *b;
  Accolade__V1__IssuerProfile *is;
  if ((rc = store_badge_get(ctx, org, a->badge_id, &b))) return pg_fail(ctx, rc, "get credential");
  if (issuer_of(ctx, &is)) return ctx->code;
  unsigned char rnd[16];
  char fresh[33], *salt;
  if (RAND_bytes(rnd, sizeof rnd) != 1) return rpc_fail(ctx, RPC_INTERNAL, "no randomness for a salt");
  hex_encode(fresh, rnd, sizeof rnd);
  if ((rc = store_credential_slot(ctx, org, a->id, fresh, &salt, &out->status_list_index)))
    return pg_fail(ctx, rc, "get credential");
  char hash[72];
  ob3_identity_hash(email, salt, hash);
  ob3_award oa = {
      .credential_id = arena_printf(ctx->arena, "urn:uuid:%s", a->id),
      .valid_from_ms = a->grant_time_ms,
      .achievement_id = arena_printf(ctx->arena, "%s/orgs/%s/badges/%s", g_cred.base, org, b->id),
      .badge_name = b->name,
      .badge_description = b->description,
      .badge_criteria = b->criteria,
      .badge_image_url = b->image_url,
      .identity_hash = hash,
      .salt = salt,
      .justification = a->justification,
      .links = (const char *const *)a->evidence_links,
      .nlinks = a->n_evidence_links,
      .status_list_url = status_url(ctx),
      .status_index = out->status_list_index,
  };
  to_ob3_issuer(is, &oa.issuer);
  char *json = ob3_credential(&oa);
  if (!json) return rpc_fail(ctx, RPC_INTERNAL, "building the credential failed");
  out->credential_json = arena_strdup(ctx->arena, json);
  free(json);
  if (!(out->jws = sign(ctx, out->credential_json))) return ctx->code;
  out->award_id = a->id;
  out->kid = g_cred.keys[g_cred.signer].kid;
  out->status_list_url = (char *)oa.status_list_url;
  return RPC_OK;
}

int credential_status_list(rpc_ctx *ctx, const void *req, void *resp) {
  Accolade__V1__CredentialStatusList *out = resp;
  if (award_begin(ctx, CRED_ROLES)) return ctx->code;
  int64_t *set, next;
  size_t n;
  int rc = store_status_revoked(ctx, ctx->id.org, &set, &n, &next);
  if (rc) return pg_fail(ctx, rc, "get status list");
  Accolade__V1__IssuerProfile *is;
  if (issuer_of(ctx, &is)) return ctx->code;
  ob3_issuer oi;
  to_ob3_issuer(is, &oi);
  out->url = (char *)status_url(ctx);
  out->length = ob3_list_bits(next);
  out->revoked = (int64_t)n;
  char *list = ob3_encoded_list(set, n, out->length);
  char *json = list ? ob3_status_list(out->url, &oi, (int64_t)time(NULL) * 1000, list) : NULL;
  free(list);
  if (!json) return rpc_fail(ctx, RPC_INTERNAL, "building the status list failed");
  out->credential_json = arena_strdup(ctx->arena, json);
  free(json);
  return (out->jws = sign(ctx, out->credential_json)) ? RPC_OK : ctx->code;
}

/* --------------------------------------------------------- preferences */

int credential_get_prefs(rpc_ctx *ctx, const void *req, void *resp) {
  Accolade__V1__CredentialPreferences *out = resp;
  if (award_begin(ctx, CRED_ROLES)) return ctx->code;
  int disabled, rc = store_pref_get(ctx->id.org, ctx->id.user, &disabled);
  if (rc) return pg_fail(ctx, rc, "get credential preferences");
  out->export_disabled = disabled;
  return RPC_OK;
}

int credential_update_prefs(rpc_ctx *ctx, const void *req, void *resp) {
  const Accolade__V1__UpdateCredentialPreferencesRequest *r = req;
  Accolade__V1__CredentialPreferences *out = resp;
  if (award_begin(ctx, CRED_ROLES)) return ctx->code;
  if (!r->preferences) return rpc_fail(ctx, RPC_INVALID_ARGUMENT, "preferences: required");
  int rc = store_pref_put(ctx->id.org, ctx->id.user, r->preferences->export_disabled);
  if (rc) return pg_fail(ctx, rc, "update credential preferences");
  out->export_disabled = r->preferences->export_disabled;
  return RPC_OK;
}
