/* check.c - field validation and page tokens. */
#include "check.h"

#include "pbwire.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ctl_ok: no control characters except \n and \t (UTF-8 is checked on the
 * wire, pbwire.h). */
static int ctl_ok(const unsigned char *s, size_t n) {
  for (size_t i = 0; i < n; i++)
    if ((s[i] < 0x20 && s[i] != '\n' && s[i] != '\t') || s[i] == 0x7f) return 0;
  return 1;
}

int check_text(rpc_ctx *ctx, const char *field, const char *s, int min, int max, const char *rule) {
  size_t n = s ? strlen(s) : 0, solid;
  if (n && !pbwire_utf8_valid((const uint8_t *)s, n))
    return rpc_fail(ctx, RPC_INVALID_ARGUMENT, "%s: must be valid UTF-8", field);
  size_t chars = pbwire_chars((const uint8_t *)s, n, &solid);
  if (rule && (solid < (size_t)min || chars > (size_t)max))
    return rpc_fail(ctx, RPC_INVALID_ARGUMENT, "%s: %s: %d to %d characters, blanks not counted (got %zu)", field, rule,
                    min, max, chars > (size_t)max ? chars : solid);
  if (solid < (size_t)min) {
    if (min == 1) return rpc_fail(ctx, RPC_INVALID_ARGUMENT, "%s: required", field);
    return rpc_fail(ctx, RPC_INVALID_ARGUMENT, "%s: must be at least %d characters, blanks not counted (got %zu)",
                    field, min, solid);
  }
  if (chars > (size_t)max)
    return rpc_fail(ctx, RPC_INVALID_ARGUMENT, "%s: must be at most %d characters (got %zu)", field, max, chars);
  if (n && !solid) return rpc_fail(ctx, RPC_INVALID_ARGUMENT, "%s: must not be blank", field);
  if (!ctl_ok((const unsigned char *)s, n))
    return rpc_fail(ctx, RPC_INVALID_ARGUMENT, "%s: must be UTF-8 text without control characters", field);
  return RPC_OK;
}

int check_len(rpc_ctx *ctx, const char *field, const char *s, int min, int max) {
  return check_text(ctx, field, s, min, max, NULL);
}

int check_id(rpc_ctx *ctx, const char *field, const char *s, int max) {
  size_t n = s ? strlen(s) : 0;
  if (n == 0) return rpc_fail(ctx, RPC_INVALID_ARGUMENT, "%s: required", field);
  if (n > (size_t)max)
    return rpc_fail(ctx, RPC_INVALID_ARGUMENT, "%s: must be at most %d characters", field, max);
  if (strspn(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._:@-") != n)
    return rpc_fail(ctx, RPC_INVALID_ARGUMENT,
                    "%s: may contain only letters, digits and . _ : @ -", field);
  return RPC_OK;
}

int check_member_id(rpc_ctx *ctx, const char *field, const char **id, int empty_is_me) {
  if (!strcmp(*id, "me") || (empty_is_me && !**id)) *id = ctx->id.user;
  return check_id(ctx, field, *id, 128);
}

int check_slug(rpc_ctx *ctx, const char *field, const char *s) {
  size_t n = s ? strlen(s) : 0;
  if (n < 2 || n > 63 || strspn(s, "abcdefghijklmnopqrstuvwxyz0123456789-") != n || s[0] == '-')
    return rpc_fail(ctx, RPC_INVALID_ARGUMENT,
                    "%s: must be 2-63 characters of a-z, 0-9 and '-', not starting with '-'", field);
  return RPC_OK;
}

int check_url(rpc_ctx *ctx, const char *field, const char *s, int max) {
  if (!s || !*s) return RPC_OK;
  if (check_len(ctx, field, s, 1, max)) return ctx->code;
  if ((strncmp(s, "https://", 8) != 0 && strncmp(s, "http://", 7) != 0) || strpbrk(s, " \t\n\"<>"))
    return rpc_fail(ctx, RPC_INVALID_ARGUMENT, "%s: must be an http:// or https:// URL", field);
  return RPC_OK;
}

int check_uuid(rpc_ctx *ctx, const char *field, const char *s) {
  size_t n = s ? strlen(s) : 0;
  int ok = n == 36;
  for (size_t i = 0; ok && i < n; i++)
    ok = (i == 8 || i == 13 || i == 18 || i == 23) ? s[i] == '-' : strchr("0123456789abcdefABCDEF", s[i]) != NULL;
  if (!n) return rpc_fail(ctx, RPC_INVALID_ARGUMENT, "%s: required", field);
  if (!ok) return rpc_fail(ctx, RPC_INVALID_ARGUMENT, "%s: not a valid id", field);
  return RPC_OK;
}

int check_range(rpc_ctx *ctx, const char *field, int64_t v, int64_t min, int64_t max) {
  if (v < min || v > max)
    return rpc_fail(ctx, RPC_INVALID_ARGUMENT, "%s: must be between %lld and %lld (got %lld)", field,
                    (long long)min, (long long)max, (long long)v);
  return RPC_OK;
}

int check_enum(rpc_ctx *ctx, const char *field, int64_t v, int32_t min, int32_t max) {
  return check_range(ctx, field, (int32_t)(uint32_t)v, min, max);   /* as sent: enums are int32 on the wire */
}

#define MAX_TIME_MS INT64_C(253402300799000)   /* 9999-12-31T23:59:59Z */

int check_time_range(rpc_ctx *ctx, int64_t start_ms, int64_t end_ms) {
  if (check_range(ctx, "start_time_ms", start_ms, 0, MAX_TIME_MS) ||
      check_range(ctx, "end_time_ms", end_ms, 0, MAX_TIME_MS))
    return ctx->code;
  if (start_ms && end_ms && start_ms >= end_ms)
    return rpc_fail(ctx, RPC_INVALID_ARGUMENT, "start_time_ms: must be before end_time_ms (got %lld >= %lld)",
                    (long long)start_ms, (long long)end_ms);
  return RPC_OK;
}

int check_mask(rpc_ctx *ctx, char *const *mask, size_t n, const char *const *fields, size_t nfields) {
  for (size_t i = 0; i < n; i++) {
    size_t k = 0;
    while (k < nfields && strcmp(mask[i], fields[k])) k++;
    if (k == nfields) return rpc_fail(ctx, RPC_INVALID_ARGUMENT, "update_mask[%zu]: unknown field '%.60s'", i, mask[i]);
  }
  return RPC_OK;
}

int page_size(rpc_ctx *ctx, int32_t requested, int def, int max, int *out) {
  if (requested == 0) {
    *out = def;
    return RPC_OK;
  }
  if (check_range(ctx, "page_size", requested, 0, max)) return ctx->code;
  *out = requested;
  return RPC_OK;
}

static const char hexd[] = "0123456789abcdef";

int page_more(size_t *n, int limit) {
  if (limit < 0 || *n <= (size_t)limit) return 0;
  *n = (size_t)limit;
  return 1;
}

char *page_token_make(rpc_ctx *ctx, int64_t n, const char *s) {
  /* "<n>.<hex of s>": opaque to clients, safe in any transport. */
  size_t sl = strlen(s);
  char *out = arena_alloc(ctx->arena, 32 + 2 * sl);
  int k = snprintf(out, 32, "%lld.", (long long)n);
  for (size_t i = 0; i < sl; i++) {
    out[k++] = hexd[(unsigned char)s[i] >> 4];
    out[k++] = hexd[(unsigned char)s[i] & 15];
  }
  out[k] = '\0';
  return out;
}

static int hexv(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  return -1;
}

int page_token_parse(rpc_ctx *ctx, const char *token, int *has, int64_t *n, char **s) {
  *has = 0;
  if (!token || !*token) return RPC_OK;
  char *end;
  long long v = strtoll(token, &end, 10);
  size_t hl = end && *end == '.' ? strlen(end + 1) : 1;
  if (end == token || *end != '.' || hl % 2 || hl > 512 || strlen(token) > 600)
    return rpc_fail(ctx, RPC_INVALID_ARGUMENT, "page_token: malformed (use next_page_token as given)");
  char *str = arena_alloc(ctx->arena, hl / 2 + 1);
  for (size_t i = 0; i < hl / 2; i++) {
    int a = hexv(end[1 + 2 * i]), b = hexv(end[2 + 2 * i]);
    if (a < 0 || b < 0)
      return rpc_fail(ctx, RPC_INVALID_ARGUMENT, "page_token: malformed (use next_page_token as given)");
    str[i] = (char)(a << 4 | b);
  }
  *has = 1;
  *n = v;
  *s = str;
  return RPC_OK;
}
