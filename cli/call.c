/* call.c - what every command does with the gateway: call it with the
 * caller's token (cli_call, cli_opts), report a failure (cli_fail), read the
 * caller's id from the token (cli_me) and print a reply (cli_print). */
#include <stdio.h>
#include <string.h>

#include <json-c/json.h>
#include <openssl/evp.h>

#include "cli.h"
#include "pbprint.h"

int cli_fail(const cli *c, const char *what, const rpc_status *st) {
  const char *msg = st->message ? st->message : "";
  if (c->json) {
    json_object *o = json_object_new_object(), *e = json_object_new_object();
    json_object_object_add(e, "code", json_object_new_string(rpc_code_name(st->code)));
    json_object_object_add(e, "message", json_object_new_string(msg));
    json_object_object_add(o, "error", e);
    printf("%s\n", json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE));
    json_object_put(o);
  } else {
    fprintf(stderr, "accolade %s: %s: %s\n", what, rpc_code_name(st->code), msg);
  }
  return st->code > 0 && st->code <= 16 ? st->code : 2;
}

rpc_call_opts cli_opts(const cli *c, const char **md, char *bearer, size_t cap) {
  rpc_call_opts o = {.timeout_ms = c->timeout_ms ? c->timeout_ms : 10000};
  if (c->token && *c->token) {
    snprintf(bearer, cap, "Bearer %s", c->token);
    md[0] = "authorization";
    md[1] = bearer;
    md[2] = NULL;
    o.metadata = md;
  }
  return o;
}

int cli_call(const cli *c, const char *what, const char *method, const ProtobufCMessage *req,
             const ProtobufCMessageDescriptor *resp, int idempotent, int timeout_ms, arena *a, void **out) {
  const char *md[3];
  char bearer[8192];
  rpc_call_opts o = cli_opts(c, md, bearer, sizeof bearer);
  o.idempotent = idempotent;
  if (!c->timeout_ms && timeout_ms) o.timeout_ms = timeout_ms;
  size_t len = req ? protobuf_c_message_get_packed_size(req) : 0;
  uint8_t *buf = arena_alloc(a, len + 1), *rb = NULL;
  if (req) protobuf_c_message_pack(req, buf);
  size_t rl = 0;
  rpc_status st = {0};
  if (rpc_call_raw(c->addr, method, buf, len, &o, a, &rb, &rl, &st) != RPC_OK) return cli_fail(c, what, &st);
  *out = protobuf_c_message_unpack(resp, &a->pb, rl, rb);
  if (!*out) {
    rpc_status bad = {.code = RPC_INTERNAL, .message = "the reply does not decode"};
    return cli_fail(c, what, &bad);
  }
  return 0;
}

const char *cli_me(const cli *c, arena *a) {
  const char *t = c->token, *dot1 = t ? strchr(t, '.') : NULL, *dot2 = dot1 ? strchr(dot1 + 1, '.') : NULL;
  if (!dot2) return NULL;
  size_t n = (size_t)(dot2 - dot1 - 1);
  char *b64 = arena_alloc(a, n + 4);
  for (size_t i = 0; i < n; i++) b64[i] = dot1[1 + i] == '-' ? '+' : dot1[1 + i] == '_' ? '/' : dot1[1 + i];
  while (n % 4) b64[n++] = '=';
  unsigned char *raw = arena_alloc(a, n);
  int len = EVP_DecodeBlock(raw, (const unsigned char *)b64, (int)n);
  if (len <= 0) return NULL;
  json_object *o = json_tokener_parse((const char *)raw), *sub = NULL;
  const char *me = NULL;
  if (o && json_object_object_get_ex(o, "sub", &sub) && json_object_is_type(sub, json_type_string))
    me = arena_strdup(a, json_object_get_string(sub));
  json_object_put(o);
  return me;
}

void cli_print(const cli *c, const ProtobufCMessage *m, const char *rows, const char *cols) {
  if (c->json) {
    json_object *o = pb_to_json(m);
    printf("%s\n", json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE));
    json_object_put(o);
  } else if (m->descriptor->n_fields == 0) {
    printf("ok\n");
  } else if (rows) {
    pb_print_table(stdout, m, rows, cols);
  } else {
    pb_print_fields(stdout, m, cols);
  }
}
