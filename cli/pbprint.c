/* pbprint.c - see pbprint.h. */
#include "pbprint.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define CELL_MAX 48   /* table cells are cut to this many characters */
#define MAX_COLS 16

/* A field's storage, by protobuf-c's layout rules. */
static size_t elem_size(const ProtobufCFieldDescriptor *f) {
  switch (f->type) {
    case PROTOBUF_C_TYPE_INT64:
    case PROTOBUF_C_TYPE_SINT64:
    case PROTOBUF_C_TYPE_SFIXED64:
    case PROTOBUF_C_TYPE_UINT64:
    case PROTOBUF_C_TYPE_FIXED64:
    case PROTOBUF_C_TYPE_DOUBLE: return 8;
    case PROTOBUF_C_TYPE_BOOL: return sizeof(protobuf_c_boolean);
    case PROTOBUF_C_TYPE_STRING:
    case PROTOBUF_C_TYPE_MESSAGE: return sizeof(void *);
    case PROTOBUF_C_TYPE_BYTES: return sizeof(ProtobufCBinaryData);
    default: return 4;
  }
}

static size_t rep_count(const ProtobufCMessage *m, const ProtobufCFieldDescriptor *f) {
  return *(const size_t *)((const char *)m + f->quantifier_offset);
}

/* elem returns the address of element |i| of a repeated field, or of the
 * value of a singular one (i ignored). */
static const void *elem(const ProtobufCMessage *m, const ProtobufCFieldDescriptor *f, size_t i) {
  const char *slot = (const char *)m + f->offset;
  if (f->label == PROTOBUF_C_LABEL_REPEATED) return *(const char *const *)slot + i * elem_size(f);
  return slot;
}

/* present: a oneof member that is not the chosen one is absent. */
static int present(const ProtobufCMessage *m, const ProtobufCFieldDescriptor *f) {
  if (!(f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF)) return 1;
  return *(const uint32_t *)((const char *)m + f->quantifier_offset) == f->id;
}

static int is_time(const char *name) {
  size_t n = strlen(name);
  return (n > 8 && !strcmp(name + n - 8, "_time_ms")) || (n > 6 && !strcmp(name + n - 6, "_at_ms")) ||
         !strcmp(name, "week_start_ms");
}

static const char *enum_name(const ProtobufCFieldDescriptor *f, int v) {
  const ProtobufCEnumValue *ev = protobuf_c_enum_descriptor_get_value(f->descriptor, v);
  return ev ? ev->name : NULL;
}

static int64_t as_i64(const ProtobufCFieldDescriptor *f, const void *p) {
  switch (f->type) {
    case PROTOBUF_C_TYPE_UINT32:
    case PROTOBUF_C_TYPE_FIXED32: return *(const uint32_t *)p;
    case PROTOBUF_C_TYPE_INT64:
    case PROTOBUF_C_TYPE_SINT64:
    case PROTOBUF_C_TYPE_SFIXED64:
    case PROTOBUF_C_TYPE_UINT64:
    case PROTOBUF_C_TYPE_FIXED64: return *(const int64_t *)p;
    default: return *(const int32_t *)p;
  }
}

static json_object *scalar_json(const ProtobufCFieldDescriptor *f, const void *p) {
  switch (f->type) {
    case PROTOBUF_C_TYPE_STRING: return json_object_new_string(*(const char *const *)p ? *(const char *const *)p : "");
    case PROTOBUF_C_TYPE_BOOL: return json_object_new_boolean(*(const protobuf_c_boolean *)p);
    case PROTOBUF_C_TYPE_DOUBLE: return json_object_new_double(*(const double *)p);
    case PROTOBUF_C_TYPE_FLOAT: return json_object_new_double(*(const float *)p);
    case PROTOBUF_C_TYPE_MESSAGE: return *(void *const *)p ? pb_to_json(*(const ProtobufCMessage *const *)p) : NULL;
    case PROTOBUF_C_TYPE_BYTES: {
      const ProtobufCBinaryData *b = p;
      return json_object_new_string_len((const char *)b->data, (int)b->len);
    }
    case PROTOBUF_C_TYPE_ENUM: {
      const char *n = enum_name(f, *(const int *)p);
      return n ? json_object_new_string(n) : json_object_new_int(*(const int *)p);
    }
    default: return json_object_new_int64(as_i64(f, p));
  }
}

json_object *pb_to_json(const ProtobufCMessage *m) {
  json_object *o = json_object_new_object();
  const ProtobufCMessageDescriptor *d = m->descriptor;
  for (unsigned i = 0; i < d->n_fields; i++) {
    const ProtobufCFieldDescriptor *f = &d->fields[i];
    if (!present(m, f)) continue;
    json_object *v;
    if (f->label == PROTOBUF_C_LABEL_REPEATED) {
      v = json_object_new_array();
      for (size_t k = 0, n = rep_count(m, f); k < n; k++) json_object_array_add(v, scalar_json(f, elem(m, f, k)));
    } else {
      v = scalar_json(f, elem(m, f, 0));
    }
    json_object_object_add(o, f->name, v);
  }
  return o;
}

/* fmt_scalar writes one value as people read it. */
static void fmt_scalar(const ProtobufCFieldDescriptor *f, const void *p, char *out, size_t cap) {
  switch (f->type) {
    case PROTOBUF_C_TYPE_STRING: snprintf(out, cap, "%s", *(const char *const *)p ? *(const char *const *)p : ""); return;
    case PROTOBUF_C_TYPE_BOOL: snprintf(out, cap, "%s", *(const protobuf_c_boolean *)p ? "yes" : "no"); return;
    case PROTOBUF_C_TYPE_DOUBLE: snprintf(out, cap, "%.4g", *(const double *)p); return;
    case PROTOBUF_C_TYPE_FLOAT: snprintf(out, cap, "%.4g", (double)*(const float *)p); return;
    case PROTOBUF_C_TYPE_MESSAGE: snprintf(out, cap, "%s", *(void *const *)p ? "{...}" : ""); return;
    case PROTOBUF_C_TYPE_BYTES: snprintf(out, cap, "(%zu bytes)", ((const ProtobufCBinaryData *)p)->len); return;
    case PROTOBUF_C_TYPE_ENUM: {
      const char *n = enum_name(f, *(const int *)p);
      if (n && strstr(n, "UNSPECIFIED")) snprintf(out, cap, "%s", "");
      else if (n) snprintf(out, cap, "%s", n);
      else snprintf(out, cap, "%d", *(const int *)p);
      return;
    }
    default: break;
  }
  int64_t v = as_i64(f, p);
  if (is_time(f->name) && v == 0) {
    out[0] = '\0';
    return;
  }
  if (is_time(f->name)) {
    time_t t = (time_t)(v / 1000);
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(out, cap, strcmp(f->name, "week_start_ms") ? "%Y-%m-%d %H:%M" : "%Y-%m-%d", &tm);
    return;
  }
  snprintf(out, cap, "%lld", (long long)v);
}

/* fmt_field: a scalar, or a repeated scalar joined by commas. */
static void fmt_field(const ProtobufCMessage *m, const ProtobufCFieldDescriptor *f, char *out, size_t cap) {
  out[0] = '\0';
  if (!present(m, f)) return;
  if (f->label != PROTOBUF_C_LABEL_REPEATED) {
    fmt_scalar(f, elem(m, f, 0), out, cap);
    return;
  }
  size_t used = 0;
  for (size_t k = 0, n = rep_count(m, f); k < n && used + 1 < cap; k++) {
    if (k) out[used++] = ',';
    fmt_scalar(f, elem(m, f, k), out + used, cap - used);
    used += strlen(out + used);
  }
  out[used < cap ? used : cap - 1] = '\0';
}

/* width in characters of UTF-8 text (continuation bytes do not count). */
static size_t u8_width(const char *s) {
  size_t n = 0;
  for (; *s; s++) n += ((unsigned char)*s & 0xC0) != 0x80;
  return n;
}

/* cut shortens |s| in place to at most |max| characters, ending in "...". */
static void cut(char *s, size_t max) {
  for (char *p = s; *p; p++)
    if (*p == '\n' || *p == '\t') *p = ' ';
  if (u8_width(s) <= max) return;
  size_t chars = 0;
  char *p = s;
  for (; *p && chars < max - 3; p++) chars += ((unsigned char)*p & 0xC0) != 0x80;
  while (((unsigned char)*p & 0xC0) == 0x80) p++;
  strcpy(p, "...");
}

static int is_scalar(const ProtobufCFieldDescriptor *f) {
  return f->type != PROTOBUF_C_TYPE_MESSAGE;
}

/* table prints the messages of repeated field |rf| of |m|. */
static void table(FILE *out, const ProtobufCMessage *m, const ProtobufCFieldDescriptor *rf, const char *cols,
                  const char *indent) {
  const ProtobufCMessageDescriptor *rd = rf->descriptor;
  const ProtobufCFieldDescriptor *col[MAX_COLS];
  int nc = 0;
  if (cols && *cols) {
    char buf[512];
    snprintf(buf, sizeof buf, "%s", cols);
    char *save = NULL;
    for (char *c = strtok_r(buf, ",", &save); c && nc < MAX_COLS; c = strtok_r(NULL, ",", &save)) {
      const ProtobufCFieldDescriptor *f = protobuf_c_message_descriptor_get_field_by_name(rd, c);
      if (f) col[nc++] = f;
    }
  } else {
    for (unsigned i = 0; i < rd->n_fields && nc < MAX_COLS; i++)
      if (is_scalar(&rd->fields[i])) col[nc++] = &rd->fields[i];
  }
  size_t n = rep_count(m, rf);
  if (n == 0) {
    fprintf(out, "%s(none)\n", indent);
    return;
  }
  char(*cell)[CELL_MAX * 4 + 4] = calloc(n * (size_t)nc, sizeof *cell);
  size_t w[MAX_COLS];
  for (int c = 0; c < nc; c++) w[c] = strlen(col[c]->name) - (is_time(col[c]->name) ? 3 : 0);
  for (size_t r = 0; r < n; r++) {
    const ProtobufCMessage *row = *(const ProtobufCMessage *const *)elem(m, rf, r);
    for (int c = 0; c < nc; c++) {
      char *s = cell[r * (size_t)nc + (size_t)c];
      fmt_field(row, col[c], s, sizeof cell[0]);
      cut(s, CELL_MAX);
      size_t cw = u8_width(s);
      if (cw > w[c]) w[c] = cw;
    }
  }
  fputs(indent, out);
  for (int c = 0; c < nc; c++) {   /* "create_time_ms" -> "CREATE TIME" */
    size_t hl = strlen(col[c]->name) - (is_time(col[c]->name) ? 3 : 0);
    for (size_t k = 0; k < hl; k++) {
      char ch = col[c]->name[k];
      fputc(ch == '_' ? ' ' : ch >= 'a' && ch <= 'z' ? ch - 32 : ch, out);
    }
    if (c + 1 < nc) fprintf(out, "%*s", (int)(w[c] - hl + 2), "");
  }
  fputc('\n', out);
  for (size_t r = 0; r < n; r++) {
    fputs(indent, out);
    for (int c = 0; c < nc; c++) {
      const char *s = cell[r * (size_t)nc + (size_t)c];
      fputs(s, out);
      if (c + 1 < nc) fprintf(out, "%*s", (int)(w[c] - u8_width(s) + 2), "");
    }
    fputc('\n', out);
  }
  free(cell);
}

/* cols_for finds "name:a,b" in a ';'-separated |spec|; "" when absent. */
static const char *cols_for(const char *spec, const char *name, char *buf, size_t cap) {
  buf[0] = '\0';
  size_t n = strlen(name);
  for (const char *p = spec; p && *p;) {
    const char *end = strchr(p, ';');
    size_t len = end ? (size_t)(end - p) : strlen(p);
    if (len > n && !strncmp(p, name, n) && p[n] == ':') {
      snprintf(buf, cap, "%.*s", (int)(len - n - 1), p + n + 1);
      break;
    }
    p = end ? end + 1 : NULL;
  }
  return buf;
}

static void fields(FILE *out, const ProtobufCMessage *m, const char *prefix, const char *skip, const char *cols) {
  const ProtobufCMessageDescriptor *d = m->descriptor;
  char val[8192], name[256];
  for (unsigned i = 0; i < d->n_fields; i++) {
    const ProtobufCFieldDescriptor *f = &d->fields[i];
    if (!present(m, f) || (skip && !strcmp(f->name, skip))) continue;
    snprintf(name, sizeof name, "%s%s", prefix, f->name);
    if (f->type == PROTOBUF_C_TYPE_MESSAGE && f->label == PROTOBUF_C_LABEL_REPEATED) {
      fprintf(out, "%s:\n", name);
      table(out, m, f, cols_for(cols, f->name, val, sizeof val), "  ");
    } else if (f->type == PROTOBUF_C_TYPE_MESSAGE) {
      const ProtobufCMessage *sub = *(const ProtobufCMessage *const *)elem(m, f, 0);
      char sub_prefix[260];
      snprintf(sub_prefix, sizeof sub_prefix, "%s.", name);
      if (sub) fields(out, sub, sub_prefix, NULL, cols);
    } else {
      fmt_field(m, f, val, sizeof val);
      if (!val[0]) continue;   /* people need not see what is empty */
      if (!strcmp(f->name, "next_page_token")) {
        if (val[0]) fprintf(out, "more: --page-token %s\n", val);
      } else if (strchr(val, '\n')) {
        fprintf(out, "%s:\n%s%s", name, val, val[strlen(val) - 1] == '\n' ? "" : "\n");
      } else {
        fprintf(out, "%s: %s\n", name, val);
      }
    }
  }
}

void pb_print_table(FILE *f, const ProtobufCMessage *m, const char *rows, const char *cols) {
  const ProtobufCFieldDescriptor *rf = protobuf_c_message_descriptor_get_field_by_name(m->descriptor, rows);
  if (!rf || rf->type != PROTOBUF_C_TYPE_MESSAGE || rf->label != PROTOBUF_C_LABEL_REPEATED) {
    fields(f, m, "", NULL, NULL);
    return;
  }
  table(f, m, rf, cols, "");
  fields(f, m, "", rows, NULL);
}

void pb_print_fields(FILE *f, const ProtobufCMessage *m, const char *cols) {
  fields(f, m, "", NULL, cols);
}
