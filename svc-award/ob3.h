/* ob3.h - the JSON of Open Badges 3.0 credentials and of the revocation
 * status list (1EdTech OB 3.0 on the W3C VC data model 2.0; W3C Bitstring
 * Status List). Pure: no I/O, no keys; credential.c signs what this builds.
 *
 * Every function returning char * returns malloc'd text the caller frees, or
 * NULL when out of memory or zlib fails. Inputs are borrowed.
 */
#ifndef AWARD_OB3_H
#define AWARD_OB3_H

#include <stddef.h>
#include <stdint.h>

#define OB3_CONTEXT_VC "https://www.w3.org/ns/credentials/v2"
#define OB3_CONTEXT_OB "https://purl.imsglobal.org/spec/ob/v3p0/context-3.0.3.json"
/* The W3C minimum list size (16 KiB of bits), so one bit says little about whom. */
#define OB3_MIN_LIST_BITS 131072

typedef struct ob3_issuer {
  const char *id, *name;
  const char *image_url, *email;   /* "" or NULL: left out */
} ob3_issuer;

typedef struct ob3_award {
  const char *credential_id;       /* "urn:uuid:<award id>" */
  ob3_issuer issuer;
  int64_t valid_from_ms;           /* when the award was granted */
  const char *achievement_id;      /* a URL naming the badge */
  const char *badge_name, *badge_description, *badge_criteria, *badge_image_url;
  const char *identity_hash;       /* ob3_identity_hash of the recipient's email */
  const char *salt;
  const char *justification;
  const char *const *links;        /* evidence URLs */
  size_t nlinks;
  const char *status_list_url;
  int64_t status_index;
} ob3_award;

/* ob3_credential: the OpenBadgeCredential of |a|, compact JSON (the exact
 * bytes a VC-JWT signs). An empty description or criteria gets a sentence
 * of its own, as OB 3.0 requires both. */
char *ob3_credential(const ob3_award *a);

/* ob3_identity_hash writes "sha256$" and the hex SHA-256 of the email
 * (trimmed, lower-cased) followed by |salt|, into |out|. */
void ob3_identity_hash(const char *email, const char *salt, char out[72]);

/* ob3_list_bits: the length of a list holding bits 0 .. |next| - 1: at least
 * OB3_MIN_LIST_BITS, grown in steps of it. */
int64_t ob3_list_bits(int64_t next);

/* ob3_encoded_list: the multibase base64url ("u" prefix, no padding) of the
 * GZIP of a bitstring of |nbits| bits with the |n| bits of |set| on (bit 0 is
 * the most significant bit of the first byte). Indexes outside are ignored. */
char *ob3_encoded_list(const int64_t *set, size_t n, int64_t nbits);

/* ob3_status_list: the BitstringStatusListCredential at |url| (purpose
 * revocation) carrying |encoded_list|, valid from |now_ms|. */
char *ob3_status_list(const char *url, const ob3_issuer *issuer, int64_t now_ms, const char *encoded_list);

#endif
