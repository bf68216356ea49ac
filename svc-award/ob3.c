/* ob3.c - Open Badges 3.0 JSON (json-c) and the gzip'd status bitstring (zlib). */
#include "ob3.h"

#include <ctype.h>
#include <json-c/json.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <zlib.h>

#include "hex.h"
#include "jws.h"

#define JSON_FLAGS (JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE)

static json_object *str(const char *s) { return json_object_new_string(s ? s : ""); }

static json_object *strings(const char *a, const char *b) {
  json_object *arr = json_object_new_array();
  json_object_array_add(arr, str(a));
  if (b) json_object_array_add(arr, str(b));
  return arr;
}

static void put(json_object *o, const char *key, json_object *v) { json_object_object_add(o, key, v); }

static void put_opt(json_object *o, const char *key, const char *s) {
  if (s && *s) put(o, key, str(s));
}

/* image: an OB 3.0 Image object, or nothing for "". */
static void put_image(json_object *o, const char *url) {
  if (!url || !*url) return;
  json_object *img = json_object_new_object();
  put(img, "id", str(url));
  put(img, "type", str("Image"));
  put(o, "image", img);
}

static void iso8601(int64_t ms, char out[32]) {
  time_t t = (time_t)(ms / 1000);
  struct tm tm;
  gmtime_r(&t, &tm);
  strftime(out, 32, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

static char *finish(json_object *o) {
  char *s = strdup(json_object_to_json_string_ext(o, JSON_FLAGS));
  json_object_put(o);
  return s;
}

static json_object *issuer_json(const ob3_issuer *is) {
  json_object *o = json_object_new_object();
  put(o, "id", str(is->id));
  put(o, "type", strings("Profile", NULL));
  put(o, "name", str(is->name));
  put_image(o, is->image_url);
  put_opt(o, "email", is->email);
  return o;
}

static json_object *credential_base(const char *id, const char *type, const ob3_issuer *is, int64_t from_ms,
                                    int ob) {
  json_object *c = json_object_new_object();
  put(c, "@context", strings(OB3_CONTEXT_VC, ob ? OB3_CONTEXT_OB : NULL));
  put(c, "id", str(id));
  put(c, "type", strings("VerifiableCredential", type));
  put(c, "issuer", issuer_json(is));
  char when[32];
  iso8601(from_ms, when);
  put(c, "validFrom", str(when));
  return c;
}

char *ob3_credential(const ob3_award *a) {
  json_object *c = credential_base(a->credential_id, "OpenBadgeCredential", &a->issuer, a->valid_from_ms, 1);
  put(c, "name", str(a->badge_name));

  json_object *ach = json_object_new_object();
  put(ach, "id", str(a->achievement_id));
  put(ach, "type", strings("Achievement", NULL));
  put(ach, "name", str(a->badge_name));
  put(ach, "description", str(a->badge_description && *a->badge_description
                                  ? a->badge_description
                                  : "A peer-recognition badge, awarded after a colleague's nomination."));
  json_object *crit = json_object_new_object();
  put(crit, "narrative", str(a->badge_criteria && *a->badge_criteria
                                 ? a->badge_criteria
                                 : "Nominated by a colleague with a written justification and approved."));
  put(ach, "criteria", crit);
  put_image(ach, a->badge_image_url);

  json_object *idobj = json_object_new_object();
  put(idobj, "type", str("IdentityObject"));
  put(idobj, "identityHash", str(a->identity_hash));
  put(idobj, "identityType", str("emailAddress"));
  put(idobj, "hashed", json_object_new_boolean(1));
  put(idobj, "salt", str(a->salt));
  json_object *ids = json_object_new_array();
  json_object_array_add(ids, idobj);

  json_object *subj = json_object_new_object();
  put(subj, "type", strings("AchievementSubject", NULL));
  put(subj, "identifier", ids);
  put(subj, "achievement", ach);
  put(c, "credentialSubject", subj);

  json_object *ev = json_object_new_array();
  if (a->justification && *a->justification) {
    json_object *e = json_object_new_object();
    put(e, "type", strings("Evidence", NULL));
    put(e, "name", str("Justification"));
    put(e, "narrative", str(a->justification));
    json_object_array_add(ev, e);
  }
  for (size_t i = 0; i < a->nlinks; i++) {
    json_object *e = json_object_new_object();
    put(e, "id", str(a->links[i]));
    put(e, "type", strings("Evidence", NULL));
    json_object_array_add(ev, e);
  }
  if (json_object_array_length(ev)) put(c, "evidence", ev);
  else json_object_put(ev);

  json_object *st = json_object_new_object();
  char idx[24];
  snprintf(idx, sizeof idx, "%lld", (long long)a->status_index);
  size_t n = strlen(a->status_list_url) + sizeof idx + 2;
  char *sid = malloc(n);
  snprintf(sid, n, "%s#%s", a->status_list_url, idx);
  put(st, "id", str(sid));
  free(sid);
  put(st, "type", str("BitstringStatusListEntry"));
  put(st, "statusPurpose", str("revocation"));
  put(st, "statusListIndex", str(idx));
  put(st, "statusListCredential", str(a->status_list_url));
  put(c, "credentialStatus", st);
  return finish(c);
}

void ob3_identity_hash(const char *email, const char *salt, char out[72]) {
  while (*email && isspace((unsigned char)*email)) email++;
  size_t n = strlen(email);
  while (n && isspace((unsigned char)email[n - 1])) n--;
  size_t sl = strlen(salt);
  char *buf = malloc(n + sl + 1);
  for (size_t i = 0; i < n; i++) buf[i] = (char)tolower((unsigned char)email[i]);
  memcpy(buf + n, salt, sl);
  unsigned char d[32];
  unsigned int dl = 0;
  EVP_Digest(buf, n + sl, d, &dl, EVP_sha256(), NULL);
  free(buf);
  memcpy(out, "sha256$", 7);
  hex_encode(out + 7, d, sizeof d);
}

int64_t ob3_list_bits(int64_t next) {
  if (next <= OB3_MIN_LIST_BITS) return OB3_MIN_LIST_BITS;
  return (next + OB3_MIN_LIST_BITS - 1) / OB3_MIN_LIST_BITS * OB3_MIN_LIST_BITS;
}

char *ob3_encoded_list(const int64_t *set, size_t n, int64_t nbits) {
  size_t bytes = (size_t)((nbits + 7) / 8);
  unsigned char *bits = calloc(bytes, 1);
  for (size_t i = 0; i < n; i++)
    if (set[i] >= 0 && set[i] < nbits) bits[set[i] / 8] |= (unsigned char)(0x80 >> (set[i] % 8));
  z_stream z;
  memset(&z, 0, sizeof z);
  char *out = NULL;
  /* windowBits 15 + 16: a gzip wrapper, as the W3C format wants. */
  if (deflateInit2(&z, Z_BEST_COMPRESSION, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK) {
    free(bits);
    return NULL;
  }
  uLong cap = deflateBound(&z, (uLong)bytes);
  unsigned char *gz = malloc(cap);
  z.next_in = bits;
  z.avail_in = (uInt)bytes;
  z.next_out = gz;
  z.avail_out = (uInt)cap;
  if (deflate(&z, Z_FINISH) == Z_STREAM_END) {
    out = malloc(2 + (z.total_out + 2) / 3 * 4 + 1);
    out[0] = 'u';   /* multibase: base64url without padding */
    jws_b64url_encode(gz, z.total_out, out + 1);
  }
  deflateEnd(&z);
  free(gz);
  free(bits);
  return out;
}

char *ob3_status_list(const char *url, const ob3_issuer *issuer, int64_t now_ms, const char *encoded_list) {
  json_object *c = credential_base(url, "BitstringStatusListCredential", issuer, now_ms, 0);
  json_object *s = json_object_new_object();
  size_t n = strlen(url) + 8;
  char *sid = malloc(n);
  snprintf(sid, n, "%s#list", url);
  put(s, "id", str(sid));
  free(sid);
  put(s, "type", str("BitstringStatusList"));
  put(s, "statusPurpose", str("revocation"));
  put(s, "encodedList", str(encoded_list));
  put(c, "credentialSubject", s);
  return finish(c);
}
