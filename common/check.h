/* check.h - input validation that names the field, and paging.
 *
 * Each check returns RPC_OK or fails the call with INVALID_ARGUMENT and a
 * message naming the field and the limit, and returns that code:
 *
 *   if (check_len(ctx, "badge.name", b->name, 1, 80)) return ctx->code;
 */
#ifndef ACCOLADE_CHECK_H
#define ACCOLADE_CHECK_H

#include <stdint.h>

#include "rpc.h"

/* check_len: |s| is valid UTF-8 without control characters other than
 * newlines and tabs, of at most |max| characters, at least |min| of them not
 * blanks (so 60 spaces are no 40-character text). */
int check_len(rpc_ctx *ctx, const char *field, const char *s, int min, int max);
/* check_text: check_len whose error states the field's rule in words:
 * check_text(ctx, "justification", s, 40, 4000, "must be specific") fails
 * with "justification: must be specific: 40 to 4000 characters, blanks not
 * counted (got 12)". */
int check_text(rpc_ctx *ctx, const char *field, const char *s, int min, int max, const char *rule);
/* check_id: 1..|max| characters of [A-Za-z0-9._:@-] (user ids, team names). */
int check_id(rpc_ctx *ctx, const char *field, const char *s, int max);
/* check_member_id: a field naming a member, where "me" (and "" when
 * |empty_is_me|) is the caller: *id becomes ctx->id.user; otherwise *id must
 * pass check_id (128). */
int check_member_id(rpc_ctx *ctx, const char *field, const char **id, int empty_is_me);
/* check_slug: 2..63 characters of [a-z0-9-], starting with a letter or digit. */
int check_slug(rpc_ctx *ctx, const char *field, const char *s);
/* check_url: empty, or an http:// or https:// URL of at most |max| bytes. */
int check_url(rpc_ctx *ctx, const char *field, const char *s, int max);
/* check_uuid: a UUID in its canonical text form (ids the services issue). */
int check_uuid(rpc_ctx *ctx, const char *field, const char *s);
/* check_range: |min| <= v <= |max|. */
int check_range(rpc_ctx *ctx, const char *field, int64_t v, int64_t min, int64_t max);
/* check_enum: an enum field's value is between |min| and |max|. protobuf-c's
 * C enums are unsigned, so a -1 sent reads 4294967295: the error reports the
 * value as sent (-1). */
int check_enum(rpc_ctx *ctx, const char *field, int64_t v, int32_t min, int32_t max);
/* check_time_range: the one rule for every [start_time_ms, end_time_ms):
 * each 0 (open, or the call's documented default) or a time before year
 * 10000, and when both are given the start is before the end; an inverted
 * or empty range is INVALID_ARGUMENT, never an empty answer. */
int check_time_range(rpc_ctx *ctx, int64_t start_ms, int64_t end_ms);

/* check_mask: each of the |n| update_mask entries names one of |fields|
 * (|nfields| of them); else INVALID_ARGUMENT "update_mask[i]: unknown field". */
int check_mask(rpc_ctx *ctx, char *const *mask, size_t n, const char *const *fields, size_t nfields);

/* page_size: 0 gives |def|; 1..|max| as asked; anything else INVALID_ARGUMENT. */
int page_size(rpc_ctx *ctx, int32_t requested, int def, int max, int *out);

/* A page token is an opaque encoding of a keyset position (a number and a
 * string, e.g. a time and an id). page_token_make returns it in ctx->arena. */
char *page_token_make(rpc_ctx *ctx, int64_t n, const char *s);
/* page_more: a store asked for |limit| + 1 rows and returned |*n|. With more
 * than |limit|, *n is cut to |limit| and 1 returned: the last row kept,
 * [*n - 1], is where the next page starts (page_token_make). Else 0. */
int page_more(size_t *n, int limit);
/* page_token_parse: "" means the first page (returns RPC_OK with *has = 0). */
int page_token_parse(rpc_ctx *ctx, const char *token, int *has, int64_t *n, char **s);

#endif
