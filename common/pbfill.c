/* pbfill.c - see pbfill.h. */
#include "pbfill.h"

#include <ctype.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static const char *fill_value(arena *a, const char *v) {
  if (v[0] != '@') return arena_strdup(a, v);
  size_t n = (size_t)atol(v + 1);
  char *s = arena_alloc(a, n + 1);
  memset(s, 'x', n);
  return s;
}

/* strict_int parses all of |v| as a base-10 integer. */
static int strict_int(const char *v, int64_t lo, int64_t hi, int64_t *out) {
  if (!*v) return -1;
  char *end;
  errno = 0;
  long long n = strtoll(v, &end, 10);
  if (errno || *end || n < lo || n > hi) return -1;
  *out = n;
  return 0;
}

/* enum_by_name: "week", "CAP_WEEK", "manager-review" or a number. */
static int enum_by_name(const ProtobufCEnumDescriptor *e, const char *v, int32_t *out) {
  int64_t n;
  if (strict_int(v, INT32_MIN, INT32_MAX, &n) == 0) {
    *out = (int32_t)n;
    return 0;
  }
  char up[64];
  size_t len = 0;
  for (; v[len] && len < sizeof up - 1; len++) up[len] = v[len] == '-' ? '_' : (char)toupper((unsigned char)v[len]);
  up[len] = '\0';
  const ProtobufCEnumValue *hit = NULL;
  for (unsigned i = 0; i < e->n_values; i++) {
    const char *name = e->values[i].name;
    size_t nl = strlen(name);
    if (!strcmp(name, up)) {
      hit = &e->values[i];
      break;
    }
    if (nl > len && name[nl - len - 1] == '_' && !strcmp(name + nl - len, up) && !hit) hit = &e->values[i];
  }
  if (!hit) return -1;
  *out = hit->value;
  return 0;
}

/* set_strict stores |v| into |slot| for field |f|, refusing what does not parse. */
static int set_strict(arena *a, const ProtobufCMessageDescriptor *d, const ProtobufCFieldDescriptor *f, char *slot,
                      const char *v, char *err, size_t cap) {
  int64_t n;
  int32_t e;
  switch (f->type) {
    case PROTOBUF_C_TYPE_STRING: *(const char **)slot = arena_strdup(a, v); return 0;
    case PROTOBUF_C_TYPE_INT64:
    case PROTOBUF_C_TYPE_UINT64:
      if (strict_int(v, INT64_MIN, INT64_MAX, &n) != 0) break;
      *(int64_t *)slot = n;
      return 0;
    case PROTOBUF_C_TYPE_INT32:
    case PROTOBUF_C_TYPE_UINT32:
      if (strict_int(v, INT32_MIN, INT32_MAX, &n) != 0) break;
      *(int32_t *)slot = (int32_t)n;
      return 0;
    case PROTOBUF_C_TYPE_ENUM:
      if (enum_by_name(f->descriptor, v, &e) != 0) {
        const ProtobufCEnumDescriptor *ed = f->descriptor;
        size_t used = (size_t)snprintf(err, cap, "%s: '%s' is not one of", f->name, v);
        for (unsigned i = 0; i < ed->n_values && used < cap; i++)
          if (!strstr(ed->values[i].name, "UNSPECIFIED"))
            used += (size_t)snprintf(err + used, cap - used, " %s", ed->values[i].name);
        return -1;
      }
      *(int32_t *)slot = e;
      return 0;
    case PROTOBUF_C_TYPE_BOOL:
      if (!strcmp(v, "1") || !strcasecmp(v, "true") || !strcasecmp(v, "yes") || !strcasecmp(v, "on")) {
        *(protobuf_c_boolean *)slot = 1;
        return 0;
      }
      if (!strcmp(v, "0") || !strcasecmp(v, "false") || !strcasecmp(v, "no") || !strcasecmp(v, "off")) {
        *(protobuf_c_boolean *)slot = 0;
        return 0;
      }
      snprintf(err, cap, "%s: '%s' is not true or false", f->name, v);
      return -1;
    default:
      snprintf(err, cap, "%s.%s: type %d is not supported", d->name, f->name, (int)f->type);
      return -1;
  }
  snprintf(err, cap, "%s: '%s' is not a number in range", f->name, v);
  return -1;
}

/* fill_one sets |name| (maybe dotted, maybe ending in []) to |value|. With
 * |strict|, values are literal ("@N" is not expanded), numbers must parse
 * whole, enums may be given by name and bools as true/false/yes/no. */
static int fill_one(arena *a, const ProtobufCMessageDescriptor *d, void *m, const char *name, const char *value,
                    int strict, char *err, size_t cap) {
  const char *dot = strchr(name, '.');
  char head[64];
  snprintf(head, sizeof head, "%.*s", dot ? (int)(dot - name) : (int)strlen(name), name);
  size_t hl = strlen(head);
  int repeated = hl > 2 && !strcmp(head + hl - 2, "[]");
  if (repeated) head[hl - 2] = '\0';
  const ProtobufCFieldDescriptor *f = protobuf_c_message_descriptor_get_field_by_name(d, head);
  if (!f) {
    snprintf(err, cap, "%s has no field %s", d->name, head);
    return -1;
  }
  if (repeated != (f->label == PROTOBUF_C_LABEL_REPEATED)) {
    snprintf(err, cap, "%s.%s: use [] exactly for repeated fields", d->name, head);
    return -1;
  }
  size_t size = f->type == PROTOBUF_C_TYPE_STRING || f->type == PROTOBUF_C_TYPE_MESSAGE ? sizeof(void *)
                : f->type == PROTOBUF_C_TYPE_INT64 || f->type == PROTOBUF_C_TYPE_UINT64 ? 8
                                                                                       : 4;
  char *slot = (char *)m + f->offset;
  if (repeated) {   /* grow the array by one */
    size_t *count = (size_t *)((char *)m + f->quantifier_offset);
    char **arr = (char **)slot;
    char *grown = arena_alloc(a, size * (*count + 1));
    if (*count) memcpy(grown, *arr, size * *count);
    *arr = grown;
    slot = grown + size * (*count)++;
  } else if (f->quantifier_offset && f->label == PROTOBUF_C_LABEL_OPTIONAL) {
    *(protobuf_c_boolean *)((char *)m + f->quantifier_offset) = 1;
  }
  if (dot) {
    if (f->type != PROTOBUF_C_TYPE_MESSAGE) {
      snprintf(err, cap, "%s.%s is not a message", d->name, head);
      return -1;
    }
    void *sub = *(void **)slot;
    if (!sub) {
      sub = arena_alloc(a, ((const ProtobufCMessageDescriptor *)f->descriptor)->sizeof_message);
      protobuf_c_message_init(f->descriptor, sub);
      *(void **)slot = sub;
    }
    return fill_one(a, f->descriptor, sub, dot + 1, value, strict, err, cap);
  }
  if (strict) return set_strict(a, d, f, slot, value, err, cap);
  switch (f->type) {
    case PROTOBUF_C_TYPE_STRING: *(const char **)slot = fill_value(a, value); break;
    case PROTOBUF_C_TYPE_INT64:
    case PROTOBUF_C_TYPE_UINT64: *(int64_t *)slot = atoll(value); break;
    case PROTOBUF_C_TYPE_INT32:
    case PROTOBUF_C_TYPE_UINT32:
    case PROTOBUF_C_TYPE_ENUM: *(int32_t *)slot = atoi(value); break;
    case PROTOBUF_C_TYPE_BOOL: *(protobuf_c_boolean *)slot = atoi(value) != 0; break;
    default: snprintf(err, cap, "%s.%s: type %d is not supported", d->name, head, (int)f->type); return -1;
  }
  return 0;
}

int pb_fill(arena *a, const ProtobufCMessageDescriptor *d, void *m, const char *spec, char *err, size_t cap) {
  char *copy = arena_strdup(a, spec), *save = NULL;
  for (char *pair = strtok_r(copy, ";", &save); pair; pair = strtok_r(NULL, ";", &save)) {
    char *eq = strchr(pair, '=');
    if (!eq) {
      snprintf(err, cap, "'%s' is not name=value", pair);
      return -1;
    }
    *eq = '\0';
    if (fill_one(a, d, m, pair, eq + 1, 0, err, cap) != 0) return -1;
  }
  return 0;
}

int pb_set(arena *a, const ProtobufCMessageDescriptor *d, void *m, const char *name, const char *value, char *err,
           size_t cap) {
  return fill_one(a, d, m, name, value, 1, err, cap);
}
