/* pbwire.c - a reader of the protobuf wire format for pbwire.h's checks. */
#include "pbwire.h"

#include <stdio.h>
#include <string.h>

#define MAX_DEPTH 16
#define STR_(x) #x
#define STR(x) STR_(x)
#define PBWIRE_MAX_STR STR(PBWIRE_MAX_CHARS)

int pbwire_utf8_valid(const uint8_t *s, size_t n) {
  size_t i = 0;
  while (i < n) {
    uint8_t c = s[i];
    if (c == 0) return 0;
    if (c < 0x80) {
      i++;
      continue;
    }
    size_t k;
    uint32_t cp, min;
    if ((c & 0xE0) == 0xC0) k = 1, cp = c & 0x1F, min = 0x80;
    else if ((c & 0xF0) == 0xE0) k = 2, cp = c & 0x0F, min = 0x800;
    else if ((c & 0xF8) == 0xF0) k = 3, cp = c & 0x07, min = 0x10000;
    else return 0;
    if (n - i <= k) return 0;   /* its continuation bytes are missing */
    for (size_t j = 1; j <= k; j++) {
      if ((s[i + j] & 0xC0) != 0x80) return 0;
      cp = cp << 6 | (s[i + j] & 0x3F);
    }
    if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return 0;
    i += k + 1;
  }
  return 1;
}

/* is_blank: the code point |cp| is white space (ASCII, NBSP, the U+2000
 * spaces, line and paragraph separators, ideographic space, BOM). */
static int is_blank(uint32_t cp) {
  return cp == ' ' || (cp >= '\t' && cp <= '\r') || cp == 0xA0 || cp == 0x1680 || (cp >= 0x2000 && cp <= 0x200B) ||
         cp == 0x2028 || cp == 0x2029 || cp == 0x202F || cp == 0x205F || cp == 0x3000 || cp == 0xFEFF;
}

size_t pbwire_chars(const uint8_t *s, size_t n, size_t *nonblank) {
  size_t chars = 0, solid = 0;
  for (size_t i = 0; i < n;) {
    uint8_t c = s[i];
    size_t k = c < 0x80 ? 0 : (c & 0xE0) == 0xC0 ? 1 : (c & 0xF0) == 0xE0 ? 2 : 3;
    uint32_t cp = k == 0 ? c : k == 1 ? c & 0x1Fu : k == 2 ? c & 0x0Fu : c & 0x07u;
    for (size_t j = 1; j <= k && i + j < n; j++) cp = cp << 6 | (s[i + j] & 0x3Fu);
    chars++;
    solid += !is_blank(cp);
    i += k + 1;
  }
  if (nonblank) *nonblank = solid;
  return chars;
}

/* varint reads a varint at |*p| (before |end|); 0 on success. */
static int varint(const uint8_t **p, const uint8_t *end, uint64_t *out) {
  uint64_t v = 0;
  for (int shift = 0; shift < 64 && *p < end; shift += 7) {
    uint8_t b = *(*p)++;
    v |= (uint64_t)(b & 0x7F) << shift;
    if (!(b & 0x80)) {
      *out = v;
      return 0;
    }
  }
  return -1;
}

/* walk checks one message's fields; |path| holds the path so far (|plen|
 * bytes). Returns 0, -1 for a bad string (path and why set), 1 for bytes
 * that are not a message (left to the decoder). */
static int walk(const ProtobufCMessageDescriptor *d, const uint8_t *p, const uint8_t *end, char *path, size_t plen,
                size_t cap, const char **why, int depth, size_t max_chars) {
  /* Repeated fields are numbered by their order on the wire, per field. */
  unsigned counts[64];
  memset(counts, 0, sizeof counts);
  while (p < end) {
    uint64_t key;
    if (varint(&p, end, &key)) return 1;
    uint32_t num = (uint32_t)(key >> 3);
    switch (key & 7) {
      case 0: {
        uint64_t v;
        if (varint(&p, end, &v)) return 1;
        break;
      }
      case 1:
        if (end - p < 8) return 1;
        p += 8;
        break;
      case 5:
        if (end - p < 4) return 1;
        p += 4;
        break;
      case 2: {
        uint64_t n;
        if (varint(&p, end, &n) || n > (uint64_t)(end - p)) return 1;
        const ProtobufCFieldDescriptor *f = protobuf_c_message_descriptor_get_field(d, num);
        if (f && (f->type == PROTOBUF_C_TYPE_STRING || f->type == PROTOBUF_C_TYPE_MESSAGE)) {
          size_t idx = (size_t)(f - d->fields);
          unsigned nth = idx < 64 ? counts[idx]++ : 0;
          int w = f->label == PROTOBUF_C_LABEL_REPEATED
                      ? snprintf(path + plen, cap - plen, "%s%s[%u]", plen ? "." : "", f->name, nth)
                      : snprintf(path + plen, cap - plen, "%s%s", plen ? "." : "", f->name);
          size_t nlen = w > 0 && (size_t)w < cap - plen ? plen + (size_t)w : plen;
          if (f->type == PROTOBUF_C_TYPE_STRING) {
            if (memchr(p, 0, n)) return *why = "must not contain a NUL byte", -1;
            if (!pbwire_utf8_valid(p, n)) return *why = "must be valid UTF-8", -1;
            size_t solid, chars = pbwire_chars(p, n, &solid);
            if (n && !solid) return *why = "must not be blank", -1;
            if (chars > max_chars) return *why = "must be at most " PBWIRE_MAX_STR " characters", -1;
          } else if (depth < MAX_DEPTH) {
            int rc = walk(f->descriptor, p, p + n, path, nlen, cap, why, depth + 1, max_chars);
            if (rc) return rc;
          }
          path[plen] = '\0';
        }
        p += n;
        break;
      }
      default:
        return 1;   /* groups and the like: not ours to judge */
    }
  }
  return 0;
}

int pbwire_check_strings(const ProtobufCMessageDescriptor *d, const uint8_t *buf, size_t len, char *field,
                         size_t cap, const char **why) {
  if (!cap) return 0;
  field[0] = '\0';
  *why = NULL;
  /* The ceiling is the Accolade API's (not the health or test services'). */
  size_t max_chars = d->package_name && !strcmp(d->package_name, "accolade.v1") ? PBWIRE_MAX_CHARS : SIZE_MAX;
  int rc = walk(d, buf, buf + len, field, 0, cap, why, 0, max_chars);
  return rc < 0 ? -1 : 0;
}
