/* ob3.c: the recipient's hash, the status bitstring, the document's shape;
 * and common/jws.c's base64url and sign/verify round trip. */
#include <criterion/criterion.h>
#include <json-c/json.h>
#include <openssl/ec.h>
#include <openssl/rsa.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "jws.h"
#include "ob3.h"

Test(award_ob3, identity_hash_is_sha256_of_the_normalised_email_and_salt) {
  char h[72];
  /* python3: hashlib.sha256(b"mia@example.com" + b"abc123").hexdigest() */
  ob3_identity_hash("  Mia@Example.COM\n", "abc123", h);
  cr_expect_str_eq(h, "sha256$5ae039ab916011d747239179e38406d4538ba49772b5b7dfae150f0b98da2c04");
}

Test(award_ob3, list_length_is_at_least_the_w3c_minimum) {
  cr_expect_eq(ob3_list_bits(0), 131072);
  cr_expect_eq(ob3_list_bits(131072), 131072);
  cr_expect_eq(ob3_list_bits(131073), 262144);
}

/* gunzip the "u"-prefixed list back into |bits|. */
static size_t decode_list(const char *enc, unsigned char *bits, size_t cap) {
  cr_assert_eq(enc[0], 'u');
  size_t n = strlen(enc + 1);
  unsigned char *gz = malloc(n);
  long gl = jws_b64url_decode(enc + 1, n, gz, n);
  cr_assert_gt(gl, 18);
  cr_expect(gz[0] == 0x1f && gz[1] == 0x8b, "a gzip member");
  z_stream z;
  memset(&z, 0, sizeof z);
  cr_assert_eq(inflateInit2(&z, 15 + 16), Z_OK);
  z.next_in = gz;
  z.avail_in = (uInt)gl;
  z.next_out = bits;
  z.avail_out = (uInt)cap;
  cr_assert_eq(inflate(&z, Z_FINISH), Z_STREAM_END);
  size_t out = z.total_out;
  inflateEnd(&z);
  free(gz);
  return out;
}

Test(award_ob3, status_bits_count_from_the_left_of_the_first_byte) {
  int64_t set[] = {0, 9, 131071, 200000};   /* the last is outside the list: ignored */
  char *enc = ob3_encoded_list(set, 4, 131072);
  cr_assert_not_null(enc);
  static unsigned char bits[131072 / 8 + 16];
  cr_assert_eq(decode_list(enc, bits, sizeof bits), 131072 / 8);
  cr_expect_eq(bits[0], 0x80);
  cr_expect_eq(bits[1], 0x40);
  cr_expect_eq(bits[131072 / 8 - 1], 0x01);
  int on = 0;
  for (size_t i = 0; i < 131072 / 8; i++) on += __builtin_popcount(bits[i]);
  cr_expect_eq(on, 3);
  free(enc);
}

static json_object *at(json_object *o, const char *path) {
  char buf[128];
  snprintf(buf, sizeof buf, "%s", path);
  for (char *save = NULL, *k = strtok_r(buf, ".", &save); k; k = strtok_r(NULL, ".", &save))
    cr_assert(json_object_object_get_ex(o, k, &o), "no %s", path);
  return o;
}

Test(award_ob3, credential_has_the_required_ob3_properties_and_fallbacks) {
  const char *links[] = {"https://crm.test/1"};
  ob3_award a = {
      .credential_id = "urn:uuid:0b5e1d9c-1111-4a4a-9c9c-000000000001",
      .issuer = {.id = "https://acme.test/issuer", .name = "Acme", .image_url = "", .email = NULL},
      .valid_from_ms = 1764547200000,   /* 2025-12-01T00:00:00Z */
      .achievement_id = "https://acme.test/badges/deal-closer",
      .badge_name = "Deal Closer",
      .badge_description = "",
      .badge_criteria = "",
      .badge_image_url = "",
      .identity_hash = "sha256$00",
      .salt = "abc",
      .justification = "",
      .links = links,
      .nlinks = 1,
      .status_list_url = "https://acme.test/status",
      .status_index = 7,
  };
  char *s = ob3_credential(&a);
  json_object *o = json_tokener_parse(s);
  cr_assert_not_null(o, "%s", s);
  cr_expect_str_eq(json_object_get_string(at(o, "validFrom")), "2025-12-01T00:00:00Z");
  cr_expect_str_eq(json_object_get_string(json_object_array_get_idx(at(o, "type"), 1)), "OpenBadgeCredential");
  cr_expect_gt(strlen(json_object_get_string(at(o, "credentialSubject.achievement.description"))), 10);
  cr_expect_gt(strlen(json_object_get_string(at(o, "credentialSubject.achievement.criteria.narrative"))), 10);
  cr_expect_str_eq(json_object_get_string(at(o, "credentialStatus.statusListIndex")), "7");
  cr_expect_str_eq(json_object_get_string(at(o, "credentialStatus.id")), "https://acme.test/status#7");
  cr_expect_eq(json_object_array_length(at(o, "evidence")), 1, "no empty justification, one link");
  json_object *iss = at(o, "issuer"), *v;
  cr_expect(!json_object_object_get_ex(iss, "image", &v) && !json_object_object_get_ex(iss, "email", &v),
            "empty optional fields are left out: %s", s);
  cr_expect(!strstr(s, "\\/"), "slashes are not escaped: %s", s);
  json_object_put(o);
  free(s);
}

Test(award_ob3, jws_round_trip_and_one_changed_byte) {
  EVP_PKEY *keys[] = {EVP_EC_gen("P-256"), EVP_RSA_gen(2048)};
  for (int i = 0; i < 2; i++) {
    const char *payload = "{\"name\":\"Deal Closer\"}";
    char *tok = jws_sign(keys[i], "k", "vc+jwt", "vc", payload, strlen(payload));
    cr_assert_not_null(tok);
    json_object *set = json_object_new_object(), *arr = json_object_new_array();
    json_object_array_add(arr, jws_public_jwk(keys[i], "k"));
    json_object_object_add(set, "keys", arr);
    char *body = NULL, *kid = NULL;
    size_t len = 0;
    const char *why = NULL;
    cr_expect_eq(jws_verify(tok, set, &body, &len, &kid, &why), 0, "%s", why);
    cr_expect_str_eq(body, payload);
    cr_expect_str_eq(kid, "k");
    free(body);
    free(kid);
    if (i == 0) cr_expect_eq(strlen(strrchr(tok, '.') + 1), 86, "ES256: 64 raw bytes, not DER");
    char *dot = strchr(tok, '.');
    dot[3] = dot[3] == 'A' ? 'B' : 'A';
    cr_expect_eq(jws_verify(tok, set, NULL, NULL, NULL, &why), -1);
    cr_expect_str_eq(why, "bad signature");
    json_object_put(set);
    free(tok);
    EVP_PKEY_free(keys[i]);
  }
  unsigned char out[8];
  cr_expect_eq(jws_b64url_decode("AQID", 4, out, sizeof out), 3);
  cr_expect_eq(jws_b64url_decode("AQ=", 3, out, sizeof out), 1);
  cr_expect_eq(jws_b64url_decode("A", 1, out, sizeof out), -1);
  cr_expect_eq(jws_b64url_decode("A+==", 4, out, sizeof out), -1, "base64url only");
}
