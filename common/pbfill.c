/* pbfill.c - see pbfill.h. */
#include "pbfill.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *fill_value(arena *a, const char *v) {
  if (v[0] != '@') return arena_strdup(a, v);
  size_t n = (size_t)atol(v + 1);
  char *s = arena_alloc(a, n + 1);
  memset(s, 'x', n);
  return s;
}

/* fill_one sets |name| (maybe dotted, maybe ending in []) to |value|. */
static int fill_one(arena *a, const ProtobufCMessageDescriptor *d, void *m, const char *name, const char *value,
                    char *err, size_t cap) {
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
    return fill_one(a, f->descriptor, sub, dot + 1, value, err, cap);
  }
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
    if (fill_one(a, d, m, pair, eq + 1, err, cap) != 0) return -1;
  }
  return 0;
}
