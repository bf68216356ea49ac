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

/* check_len: |s| has between |min| and |max| bytes, is valid UTF-8 and holds no
 * control characters other than newlines and tabs. */
int check_len(rpc_ctx *ctx, const char *field, const char *s, int min, int max);
/* check_id: 1..|max| characters of [A-Za-z0-9._:@-] (user ids, team names). */
int check_id(rpc_ctx *ctx, const char *field, const char *s, int max);
/* check_slug: 2..63 characters of [a-z0-9-], starting with a letter or digit. */
int check_slug(rpc_ctx *ctx, const char *field, const char *s);
/* check_url: empty, or an http:// or https:// URL of at most |max| bytes. */
int check_url(rpc_ctx *ctx, const char *field, const char *s, int max);
/* check_uuid: a UUID in its canonical text form (ids the services issue). */
int check_uuid(rpc_ctx *ctx, const char *field, const char *s);
/* check_range: |min| <= v <= |max|. */
int check_range(rpc_ctx *ctx, const char *field, int64_t v, int64_t min, int64_t max);

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
