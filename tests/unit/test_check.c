#include <criterion/criterion.h>
#include <string.h>

#include "check.h"

static rpc_ctx ctx;
static arena a;

static void setup(void) {
  memset(&ctx, 0, sizeof ctx);
  arena_init(&a);
  ctx.arena = &a;
}
static void teardown(void) { arena_free(&a); }

TestSuite(check, .init = setup, .fini = teardown);

Test(check, lengths_name_the_field_and_limit) {
  cr_assert_eq(check_len(&ctx, "badge.name", "", 1, 80), RPC_INVALID_ARGUMENT);
  cr_assert_str_eq(ctx.message, "badge.name: required");
  cr_assert_eq(check_len(&ctx, "justification", "too short", 40, 4000), RPC_INVALID_ARGUMENT);
  cr_assert(strstr(ctx.message, "justification: must be at least 40 characters"), "%s", ctx.message);
  char big[90];
  memset(big, 'x', 89);
  big[89] = 0;
  cr_assert_eq(check_len(&ctx, "badge.name", big, 1, 80), RPC_INVALID_ARGUMENT);
  cr_assert(strstr(ctx.message, "at most 80"), "%s", ctx.message);
  cr_assert_eq(check_len(&ctx, "badge.name", "Deal Closer \xc3\xa9\xe2\x82\xac", 1, 80), RPC_OK);
}

Test(check, bad_utf8_and_control_characters_are_refused) {
  cr_assert_eq(check_len(&ctx, "f", "a\xff", 1, 80), RPC_INVALID_ARGUMENT);
  cr_assert_eq(check_len(&ctx, "f", "a\xc3", 1, 80), RPC_INVALID_ARGUMENT);      /* truncated */
  cr_assert_eq(check_len(&ctx, "f", "\xc0\xaf", 1, 80), RPC_INVALID_ARGUMENT);   /* overlong */
  cr_assert_eq(check_len(&ctx, "f", "a\x01", 1, 80), RPC_INVALID_ARGUMENT);
  cr_assert_eq(check_len(&ctx, "f", "line\nnext\ttab", 1, 80), RPC_OK);
}

Test(check, ids_slugs_urls_ranges) {
  cr_assert_eq(check_id(&ctx, "recipient_id", "alice@acme.com", 64), RPC_OK);
  cr_assert_eq(check_id(&ctx, "recipient_id", "al ice", 64), RPC_INVALID_ARGUMENT);
  cr_assert(strstr(ctx.message, "recipient_id:"));
  cr_assert_eq(check_slug(&ctx, "badge.id", "deal-closer"), RPC_OK);
  cr_assert_eq(check_slug(&ctx, "badge.id", "Deal"), RPC_INVALID_ARGUMENT);
  cr_assert_eq(check_slug(&ctx, "badge.id", "-x"), RPC_INVALID_ARGUMENT);
  cr_assert_eq(check_url(&ctx, "badge.image_url", "", 500), RPC_OK);
  cr_assert_eq(check_url(&ctx, "badge.image_url", "https://x.example/a.png", 500), RPC_OK);
  cr_assert_eq(check_url(&ctx, "badge.image_url", "javascript:alert(1)", 500), RPC_INVALID_ARGUMENT);
  cr_assert_eq(check_range(&ctx, "badge.points", 10001, 0, 10000), RPC_INVALID_ARGUMENT);
  cr_assert(strstr(ctx.message, "badge.points: must be between 0 and 10000"));
}

Test(check, blanks_do_not_count_toward_a_minimum) {
  char spaces[61];
  memset(spaces, ' ', 60);
  spaces[60] = 0;
  cr_assert_eq(check_text(&ctx, "justification", spaces, 40, 4000, "must be specific"), RPC_INVALID_ARGUMENT);
  cr_assert_str_eq(ctx.message, "justification: must be specific: 40 to 4000 characters, blanks not counted (got 0)");
  cr_assert_eq(check_len(&ctx, "comment", "  \t\n ", 0, 500), RPC_INVALID_ARGUMENT);
  cr_assert_str_eq(ctx.message, "comment: must not be blank");
  cr_assert_eq(check_len(&ctx, "comment", "\xc2\xa0\xe3\x80\x80", 0, 500), RPC_INVALID_ARGUMENT);   /* NBSP, ideographic */
  cr_assert_eq(check_len(&ctx, "comment", "", 0, 500), RPC_OK);
  /* A limit counts characters, not bytes: 80 two-byte letters fit 80. */
  char e[161];
  for (int i = 0; i < 80; i++) memcpy(e + 2 * i, "\xc3\xa9", 2);
  e[160] = 0;
  cr_assert_eq(check_len(&ctx, "badge.name", e, 1, 80), RPC_OK, "%s", ctx.message);
}

Test(check, enums_report_the_value_sent) {
  /* -1 on the wire reads 4294967295 in protobuf-c's unsigned enums. */
  cr_assert_eq(check_enum(&ctx, "visibility", (int64_t)4294967295u, 0, 2), RPC_INVALID_ARGUMENT);
  cr_assert_str_eq(ctx.message, "visibility: must be between 0 and 2 (got -1)");
  cr_assert_eq(check_enum(&ctx, "visibility", 4, 0, 2), RPC_INVALID_ARGUMENT);
  cr_assert_str_eq(ctx.message, "visibility: must be between 0 and 2 (got 4)");
  cr_assert_eq(check_enum(&ctx, "visibility", 2, 0, 2), RPC_OK);
}

Test(check, one_rule_for_time_ranges) {
  cr_assert_eq(check_time_range(&ctx, 0, 0), RPC_OK);
  cr_assert_eq(check_time_range(&ctx, 5, 0), RPC_OK);
  cr_assert_eq(check_time_range(&ctx, 0, 5), RPC_OK);
  cr_assert_eq(check_time_range(&ctx, 5, 6), RPC_OK);
  cr_assert_eq(check_time_range(&ctx, 6, 5), RPC_INVALID_ARGUMENT);
  cr_assert(strstr(ctx.message, "start_time_ms: must be before end_time_ms"), "%s", ctx.message);
  cr_assert_eq(check_time_range(&ctx, 5, 5), RPC_INVALID_ARGUMENT);
  cr_assert_eq(check_time_range(&ctx, -1, 0), RPC_INVALID_ARGUMENT);
  cr_assert(strstr(ctx.message, "start_time_ms:"), "%s", ctx.message);
}

Test(check, page_tokens_round_trip_and_reject_garbage) {
  char *t = page_token_make(&ctx, 1700000000123456LL, "7f1c-uuid");
  int has;
  int64_t n;
  char *s;
  cr_assert_eq(page_token_parse(&ctx, t, &has, &n, &s), RPC_OK);
  cr_assert(has);
  cr_assert_eq(n, 1700000000123456LL);
  cr_assert_str_eq(s, "7f1c-uuid");
  cr_assert_eq(page_token_parse(&ctx, "", &has, &n, &s), RPC_OK);
  cr_assert_eq(has, 0);
  cr_assert_eq(page_token_parse(&ctx, "12.zz", &has, &n, &s), RPC_INVALID_ARGUMENT);
  cr_assert_eq(page_token_parse(&ctx, "abc", &has, &n, &s), RPC_INVALID_ARGUMENT);
  cr_assert(strstr(ctx.message, "page_token"));
  int size;
  cr_assert_eq(page_size(&ctx, 0, 50, 200, &size), RPC_OK);
  cr_assert_eq(size, 50);
  cr_assert_eq(page_size(&ctx, 201, 50, 200, &size), RPC_INVALID_ARGUMENT);
  cr_assert_eq(page_size(&ctx, -1, 50, 200, &size), RPC_INVALID_ARGUMENT);
}

Test(check, page_more_cuts_the_extra_row_only) {
  size_t n = 51;
  cr_assert_eq(page_more(&n, 50), 1);
  cr_assert_eq(n, 50);
  n = 50;
  cr_assert_eq(page_more(&n, 50), 0);
  cr_assert_eq(n, 50);
  n = 0;
  cr_assert_eq(page_more(&n, 50), 0);
  cr_assert_eq(n, 0);
}
