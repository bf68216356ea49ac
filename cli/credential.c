/* credential.c - `accolade credential`: Open Badges 3.0 credentials.
 *
 *   credential AWARD_ID [--out FILE]   the VC-JWT (compact JWS); --json: the document
 *   credential keys                    the issuer's JWKS (save it to verify offline)
 *   credential status                  the signed revocation status list; --json: the document
 *   credential verify FILE --jwks KEYS.json
 *                                      offline: no gateway, no token
 *
 * These print raw text (a JWS, JSON documents) rather than reply tables, so
 * that their output is the file a verifier takes. `credential issuer` and
 * `credential export` are rows of the command table.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "accolade/v1/credential.pb-c.h"
#include "cli.h"
#include "jws.h"

#define CR "/accolade.v1.CredentialService/"
#define MAX_FILE (1 << 20)

/* usage_error prints |what| and |arg| (may be "") and returns EXIT_USAGE. */
static int usage_error(const char *what, const char *arg) {
  fprintf(stderr, "accolade credential: %s%s\n", what, arg);
  return EXIT_USAGE;
}

/* read_file: the whole file (at most MAX_FILE bytes), malloc'd, or NULL. */
static char *read_file(const char *path) {
  FILE *f = fopen(path, "rb");
  if (!f) return NULL;
  char *buf = malloc(MAX_FILE + 1);
  size_t n = fread(buf, 1, MAX_FILE + 1, f);
  fclose(f);
  if (n > MAX_FILE) {
    free(buf);
    return NULL;
  }
  buf[n] = '\0';
  return buf;
}

/* emit writes |text| and a newline to |out| (a path) or stdout. */
static int emit(const char *out, const char *text) {
  FILE *f = out ? fopen(out, "w") : stdout;
  if (!f) {
    fprintf(stderr, "accolade credential: cannot write %s\n", out);
    return EXIT_NOINPUT;
  }
  fprintf(f, "%s\n", text);
  if (out) fclose(f);
  return 0;
}

static int verify(int argc, char **argv, int i) {
  const char *file = NULL, *keys = NULL;
  for (; i < argc; i++) {
    if (!strcmp(argv[i], "--jwks") && i + 1 < argc) keys = argv[++i];
    else if (!strncmp(argv[i], "--jwks=", 7)) keys = argv[i] + 7;
    else if (argv[i][0] == '-' && argv[i][1]) return usage_error("unknown option ", argv[i]);
    else if (!file) file = argv[i];
    else return usage_error("unexpected argument ", argv[i]);
  }
  if (!file || !keys) return usage_error("usage: credential verify FILE --jwks KEYS.json", "");
  char *token = read_file(file), *jwks_text = token ? read_file(keys) : NULL;
  if (!token || !jwks_text) {
    fprintf(stderr, "accolade credential verify: cannot read %s\n", token ? keys : file);
    free(token);
    return EXIT_NOINPUT;
  }
  token[strcspn(token, " \t\r\n")] = '\0';
  json_object *jwks = json_tokener_parse(jwks_text);
  free(jwks_text);
  if (!jwks) {
    free(token);
    fprintf(stderr, "accolade credential verify: %s is not JSON\n", keys);
    return EXIT_DATAERR;
  }
  char *payload = NULL, *kid = NULL;
  size_t len;
  const char *why = NULL;
  int rc = jws_verify(token, jwks, &payload, &len, &kid, &why);
  json_object *doc = rc == 0 ? json_tokener_parse(payload) : NULL;
  json_object *issuer = NULL, *name = NULL, *iss_id = NULL;
  if (doc) {
    json_object_object_get_ex(doc, "name", &name);
    if (json_object_object_get_ex(doc, "issuer", &issuer)) json_object_object_get_ex(issuer, "id", &iss_id);
  }
  if (rc) {
    fprintf(stderr, "invalid: %s\n", why);
    rc = EXIT_DATAERR;
  } else {
    printf("valid: signed by %s (kid %s): %s\n", iss_id ? json_object_get_string(iss_id) : "?", kid,
           name ? json_object_get_string(name) : "?");
  }
  json_object_put(doc);
  json_object_put(jwks);
  free(payload);
  free(kid);
  free(token);
  return rc;
}

int cmd_credential(const cli *c, int argc, char **argv, int i) {
  const char *what = i < argc ? argv[i] : NULL;
  if (what && !strcmp(what, "verify")) return verify(argc, argv, i + 1);
  if (!what || what[0] == '-') return usage_error("give an AWARD_ID, or keys, status, verify", "");
  const char *out = NULL;
  for (int k = i + 1; k < argc; k++) {
    if (!strcmp(argv[k], "--out") && k + 1 < argc) out = argv[++k];
    else return usage_error("unexpected argument ", argv[k]);
  }
  arena a;
  arena_init(&a);
  int rc;
  void *resp = NULL;
  if (!strcmp(what, "keys")) {
    Accolade__V1__GetIssuerKeysRequest req = ACCOLADE__V1__GET_ISSUER_KEYS_REQUEST__INIT;
    rc = cli_call(c, "credential keys", CR "GetIssuerKeys", &req.base, &accolade__v1__issuer_keys__descriptor, 1,
                  0, &a, &resp);
    if (!rc) rc = emit(out, ((Accolade__V1__IssuerKeys *)resp)->jwks_json);
  } else if (!strcmp(what, "status")) {
    Accolade__V1__GetCredentialStatusListRequest req = ACCOLADE__V1__GET_CREDENTIAL_STATUS_LIST_REQUEST__INIT;
    rc = cli_call(c, "credential status", CR "GetCredentialStatusList", &req.base,
                  &accolade__v1__credential_status_list__descriptor, 1, 0, &a, &resp);
    Accolade__V1__CredentialStatusList *s = resp;
    if (!rc) rc = emit(out, c->json ? s->credential_json : s->jws);
  } else {
    Accolade__V1__GetCredentialRequest req = ACCOLADE__V1__GET_CREDENTIAL_REQUEST__INIT;
    req.award_id = (char *)what;
    rc = cli_call(c, "credential", CR "GetCredential", &req.base, &accolade__v1__credential__descriptor, 1, 0, &a,
                  &resp);
    Accolade__V1__Credential *cr = resp;
    if (!rc) rc = emit(out, c->json ? cr->credential_json : cr->jws);
  }
  arena_free(&a);
  return rc;
}
