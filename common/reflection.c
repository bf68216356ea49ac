/* reflection.c - gRPC server reflection (v1alpha and v1) from the descriptor
 * set compiled from proto/ at build time and embedded in every binary.
 *
 * The descriptor set is read with a small protobuf wire walker: reflection
 * needs only file names, dependencies and the fully-qualified names of the
 * messages, enums, services and methods each file defines.
 */
#include "reflection.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "grpc/reflection/v1alpha/reflection.pb-c.h"
#include "log.h"

extern const unsigned char accolade_descriptor_set[];
extern const size_t accolade_descriptor_set_len;

#define MAX_FILES 64
#define MAX_SYMBOLS 4096
#define MAX_DEPS 16

typedef struct rfile {
  const uint8_t *bytes;
  size_t len;
  char name[256];
  char package[128];
  int ndeps;
  char deps[MAX_DEPS][256];
} rfile;

typedef struct rsymbol {
  char name[256];
  int file;
  int is_service;
} rsymbol;

static rfile g_files[MAX_FILES];
static int g_nfiles;
static rsymbol g_syms[MAX_SYMBOLS];
static int g_nsyms;
static pthread_once_t g_once = PTHREAD_ONCE_INIT;

/* ---- wire walking ---- */

typedef struct wire {
  const uint8_t *p, *end;
} wire;

static int read_varint(wire *w, uint64_t *out) {
  uint64_t v = 0;
  for (int shift = 0; shift < 64 && w->p < w->end; shift += 7) {
    uint8_t b = *w->p++;
    v |= (uint64_t)(b & 0x7f) << shift;
    if (!(b & 0x80)) {
      *out = v;
      return 0;
    }
  }
  return -1;
}

/* next_field reads one field; for length-delimited ones |*data|/|*len| point
 * into the buffer. Returns the field number, 0 at the end, -1 on bad bytes. */
static int next_field(wire *w, int *wtype, const uint8_t **data, size_t *len) {
  if (w->p >= w->end) return 0;
  uint64_t key, v;
  if (read_varint(w, &key)) return -1;
  *wtype = (int)(key & 7);
  switch (*wtype) {
    case 0:
      if (read_varint(w, &v)) return -1;
      break;
    case 1:
      if (w->end - w->p < 8) return -1;
      w->p += 8;
      break;
    case 2:
      if (read_varint(w, &v) || (uint64_t)(w->end - w->p) < v) return -1;
      *data = w->p;
      *len = (size_t)v;
      w->p += v;
      break;
    case 5:
      if (w->end - w->p < 4) return -1;
      w->p += 4;
      break;
    default:
      return -1;
  }
  return (int)(key >> 3);
}

static void copy_str(char *out, size_t cap, const uint8_t *data, size_t len) {
  if (len >= cap) len = cap - 1;
  memcpy(out, data, len);
  out[len] = '\0';
}

static void add_symbol(const char *scope, const uint8_t *name, size_t len, int file, int svc) {
  if (g_nsyms == MAX_SYMBOLS) return;
  rsymbol *s = &g_syms[g_nsyms++];
  char n[200];
  copy_str(n, sizeof n, name, len);
  if (scope[0])
    snprintf(s->name, sizeof s->name, "%s.%s", scope, n);
  else
    snprintf(s->name, sizeof s->name, "%s", n);
  s->file = file;
  s->is_service = svc;
}

/* A message (DescriptorProto): name 1, nested_type 3, enum_type 4; an enum
 * (EnumDescriptorProto, |is_enum|): name 1 only. */
static void walk_message(const uint8_t *data, size_t len, const char *scope, int file, int is_enum) {
  wire w = {data, data + len};
  const uint8_t *name = NULL, *d;
  size_t name_len = 0, l;
  int wt, f;
  while ((f = next_field(&w, &wt, &d, &l)) > 0)
    if (f == 1 && wt == 2) {
      name = d;
      name_len = l;
    }
  if (!name) return;
  add_symbol(scope, name, name_len, file, 0);
  if (is_enum) return;
  char inner[256];
  snprintf(inner, sizeof inner, "%s", g_syms[g_nsyms - 1].name);
  w = (wire){data, data + len};
  while ((f = next_field(&w, &wt, &d, &l)) > 0) {
    if (f == 3 && wt == 2) walk_message(d, l, inner, file, 0);
    if (f == 4 && wt == 2) walk_message(d, l, inner, file, 1);
  }
}

static void walk_service(const uint8_t *data, size_t len, const char *scope, int file) {
  wire w = {data, data + len};
  const uint8_t *d;
  size_t l;
  int wt, f;
  char svc[256] = "";
  while ((f = next_field(&w, &wt, &d, &l)) > 0)
    if (f == 1 && wt == 2) {
      add_symbol(scope, d, l, file, 1);
      snprintf(svc, sizeof svc, "%s", g_syms[g_nsyms - 1].name);
    }
  if (!svc[0]) return;
  w = (wire){data, data + len};
  while ((f = next_field(&w, &wt, &d, &l)) > 0) {
    if (f == 2 && wt == 2) {   /* MethodDescriptorProto: name 1 */
      wire m = {d, d + l};
      const uint8_t *md;
      size_t ml;
      int mwt, mf;
      while ((mf = next_field(&m, &mwt, &md, &ml)) > 0)
        if (mf == 1 && mwt == 2) add_symbol(svc, md, ml, file, 0);
    }
  }
}

static void load(void) {
  wire set = {accolade_descriptor_set, accolade_descriptor_set + accolade_descriptor_set_len};
  const uint8_t *d;
  size_t l;
  int wt, f;
  while ((f = next_field(&set, &wt, &d, &l)) > 0) {
    if (f != 1 || wt != 2 || g_nfiles == MAX_FILES) continue;
    rfile *file = &g_files[g_nfiles];
    file->bytes = d;
    file->len = l;
    wire w = {d, d + l};
    const uint8_t *fd;
    size_t fl;
    int fwt, ff;
    while ((ff = next_field(&w, &fwt, &fd, &fl)) > 0) {
      if (fwt != 2) continue;
      if (ff == 1) copy_str(file->name, sizeof file->name, fd, fl);
      if (ff == 2) copy_str(file->package, sizeof file->package, fd, fl);
      if (ff == 3 && file->ndeps < MAX_DEPS) copy_str(file->deps[file->ndeps++], 256, fd, fl);
    }
    int idx = g_nfiles++;
    w = (wire){d, d + l};
    while ((ff = next_field(&w, &fwt, &fd, &fl)) > 0) {
      if (fwt != 2) continue;
      if (ff == 4 || ff == 5) walk_message(fd, fl, file->package, idx, ff == 5);
      if (ff == 6) walk_service(fd, fl, file->package, idx);
    }
  }
  if (f < 0) log_error("reflection: the embedded descriptor set is malformed");
}

static int find_file(const char *name) {
  for (int i = 0; i < g_nfiles; i++)
    if (strcmp(g_files[i].name, name) == 0) return i;
  return -1;
}

static int find_symbol(const char *name) {
  for (int i = 0; i < g_nsyms; i++)
    if (strcmp(g_syms[i].name, name) == 0) return g_syms[i].file;
  return -1;
}

/* add_with_deps appends file |i| then its transitive dependencies, once each. */
static void add_with_deps(int i, int *order, int *n, int *seen) {
  if (i < 0 || seen[i]) return;
  seen[i] = 1;
  order[(*n)++] = i;
  for (int k = 0; k < g_files[i].ndeps; k++) add_with_deps(find_file(g_files[i].deps[k]), order, n, seen);
}

int reflection_service_known(const char *name) {
  pthread_once(&g_once, load);
  for (int i = 0; i < g_nsyms; i++)
    if (g_syms[i].is_service && strcmp(g_syms[i].name, name) == 0) return 1;
  return 0;
}

int reflection_all_services(const char **out, int cap) {
  pthread_once(&g_once, load);
  int n = 0;
  for (int i = 0; i < g_nsyms && n < cap; i++)
    if (g_syms[i].is_service) out[n++] = g_syms[i].name;
  return n;
}

static int reflection_info(rpc_ctx *ctx, const void *unused, rpc_stream *s) {
  (void)unused;
  pthread_once(&g_once, load);
  const char *services[128];
  int nservices = rpc_server_services(ctx, services, 128);
  void *m;
  int rc;
  while ((rc = rpc_stream_recv(s, &m)) == 1) {
    Grpc__Reflection__V1alpha__ServerReflectionRequest *req = m;
    Grpc__Reflection__V1alpha__ServerReflectionResponse resp =
        GRPC__REFLECTION__V1ALPHA__SERVER_REFLECTION_RESPONSE__INIT;
    resp.valid_host = req->host;
    resp.original_request = req;
    Grpc__Reflection__V1alpha__ListServiceResponse list =
        GRPC__REFLECTION__V1ALPHA__LIST_SERVICE_RESPONSE__INIT;
    Grpc__Reflection__V1alpha__FileDescriptorResponse files =
        GRPC__REFLECTION__V1ALPHA__FILE_DESCRIPTOR_RESPONSE__INIT;
    Grpc__Reflection__V1alpha__ErrorResponse err = GRPC__REFLECTION__V1ALPHA__ERROR_RESPONSE__INIT;
    int file = -1;
    switch (req->message_request_case) {
      case GRPC__REFLECTION__V1ALPHA__SERVER_REFLECTION_REQUEST__MESSAGE_REQUEST_LIST_SERVICES: {
        list.n_service = (size_t)nservices;
        list.service = ARENA_ARRAY(ctx->arena, Grpc__Reflection__V1alpha__ServiceResponse *, nservices);
        for (int i = 0; i < nservices; i++) {
          Grpc__Reflection__V1alpha__ServiceResponse *sr =
              ARENA_NEW(ctx->arena, Grpc__Reflection__V1alpha__ServiceResponse);
          grpc__reflection__v1alpha__service_response__init(sr);
          sr->name = (char *)services[i];
          list.service[i] = sr;
        }
        resp.message_response_case =
            GRPC__REFLECTION__V1ALPHA__SERVER_REFLECTION_RESPONSE__MESSAGE_RESPONSE_LIST_SERVICES_RESPONSE;
        resp.list_services_response = &list;
        break;
      }
      case GRPC__REFLECTION__V1ALPHA__SERVER_REFLECTION_REQUEST__MESSAGE_REQUEST_FILE_BY_FILENAME:
        file = find_file(req->file_by_filename);
        break;
      case GRPC__REFLECTION__V1ALPHA__SERVER_REFLECTION_REQUEST__MESSAGE_REQUEST_FILE_CONTAINING_SYMBOL:
        file = find_symbol(req->file_containing_symbol);
        break;
      default:
        file = -2;
    }
    if (req->message_request_case !=
        GRPC__REFLECTION__V1ALPHA__SERVER_REFLECTION_REQUEST__MESSAGE_REQUEST_LIST_SERVICES) {
      if (file >= 0) {
        int order[MAX_FILES], n = 0, seen[MAX_FILES] = {0};
        add_with_deps(file, order, &n, seen);
        files.n_file_descriptor_proto = (size_t)n;
        files.file_descriptor_proto = ARENA_ARRAY(ctx->arena, ProtobufCBinaryData, n);
        for (int i = 0; i < n; i++) {
          files.file_descriptor_proto[i].data = (uint8_t *)g_files[order[i]].bytes;
          files.file_descriptor_proto[i].len = g_files[order[i]].len;
        }
        resp.message_response_case =
            GRPC__REFLECTION__V1ALPHA__SERVER_REFLECTION_RESPONSE__MESSAGE_RESPONSE_FILE_DESCRIPTOR_RESPONSE;
        resp.file_descriptor_response = &files;
      } else {
        err.error_code = file == -2 ? RPC_UNIMPLEMENTED : RPC_NOT_FOUND;
        err.error_message = file == -2 ? "extensions are not used by this API" : "not found";
        resp.message_response_case =
            GRPC__REFLECTION__V1ALPHA__SERVER_REFLECTION_RESPONSE__MESSAGE_RESPONSE_ERROR_RESPONSE;
        resp.error_response = &err;
      }
    }
    if (rpc_stream_send(s, &resp) != 0) break;
  }
  if (rc < 0 && !rpc_stream_closed(s))
    return rpc_fail(ctx, RPC_INVALID_ARGUMENT, "request: cannot decode ServerReflectionRequest");
  return RPC_OK;
}

const rpc_method reflection_methods[2] = {
    RPC_BIDI("/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo",
             grpc__reflection__v1alpha__server_reflection_request,
             grpc__reflection__v1alpha__server_reflection_response, reflection_info),
    /* v1 is wire-identical to v1alpha. */
    RPC_BIDI("/grpc.reflection.v1.ServerReflection/ServerReflectionInfo",
             grpc__reflection__v1alpha__server_reflection_request,
             grpc__reflection__v1alpha__server_reflection_response, reflection_info),
};
