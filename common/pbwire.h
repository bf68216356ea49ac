/* pbwire.h - checks on a request's wire bytes, before they are decoded.
 *
 * protobuf-c turns a string field into a NUL-terminated C string and forgets
 * its length, so "d1a\0zz" would reach a handler as "d1a": another record.
 * The runtime therefore reads every request's bytes once against its
 * message descriptor, and refuses (INVALID_ARGUMENT naming the field) any
 * string field, at any depth, that holds a NUL byte or is not valid UTF-8,
 * before a handler sees it. No handler can forget.
 *
 * The same pass refuses a string that is only blanks (spaces, tabs, line
 * breaks, no-break and ideographic spaces: "must not be blank") and one longer
 * than PBWIRE_MAX_CHARS characters, the ceiling of every string field of
 * the accolade.v1 API;
 * handlers check each field's own, tighter limit (check.h).
 */
#ifndef ACCOLADE_PBWIRE_H
#define ACCOLADE_PBWIRE_H

#include <protobuf-c/protobuf-c.h>
#include <stddef.h>
#include <stdint.h>

/* pbwire_check_strings reads |len| bytes of a message of type |d|. Returns
 * 0 when every string field is NUL-free UTF-8 (or the bytes are not a
 * message: decoding then says so), else -1 with the field's path in |field|
 * ("nominee_ids[1]", "signals[3].account") and what is wrong in |*why|. */
int pbwire_check_strings(const ProtobufCMessageDescriptor *d, const uint8_t *buf, size_t len, char *field,
                         size_t cap, const char **why);

#define PBWIRE_MAX_CHARS 4000

/* pbwire_utf8_valid: |n| bytes are well-formed UTF-8 (no overlongs, no
 * surrogates, nothing past U+10FFFF) without a NUL. */
int pbwire_utf8_valid(const uint8_t *s, size_t n);

/* pbwire_chars counts the characters (code points) of |n| bytes of valid
 * UTF-8, and in |*nonblank| (may be NULL) those that are not blanks. */
size_t pbwire_chars(const uint8_t *s, size_t n, size_t *nonblank);

#endif
