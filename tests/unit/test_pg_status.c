/* pg_status: each Postgres outcome becomes one status, with a message that
 * names what was being done. */
#include <criterion/criterion.h>
#include <string.h>

#include "pg_status.h"

static void expect(int pg, int status, const char *words) {
  arena a;
  arena_init(&a);
  rpc_ctx ctx = {.arena = &a};
  cr_expect_eq(pg_fail(&ctx, pg, "grant award"), status, "%s", pg_code_name(pg));
  cr_expect_eq(ctx.code, status);
  cr_expect(strstr(ctx.message, "grant award: ") == ctx.message, "%s", ctx.message);
  cr_expect(strstr(ctx.message, words) != NULL, "%s", ctx.message);
  arena_free(&a);
}

Test(pg_status, each_kind_maps_to_its_status) {
  expect(PG_UNAVAILABLE, RPC_UNAVAILABLE, "postgres unavailable");
  expect(PG_RETRY, RPC_ABORTED, "concurrent update");
  expect(PG_TIMEOUT, RPC_DEADLINE_EXCEEDED, "timed out");
  expect(PG_DUPLICATE, RPC_ALREADY_EXISTS, "already exists");
  expect(PG_ERROR, RPC_INTERNAL, "internal error");
}

Test(pg_status, anything_else_is_internal) {
  expect(PG_NO_ROW, RPC_INTERNAL, "internal error");   /* a store answers NOT_FOUND itself */
  expect(99, RPC_INTERNAL, "internal error");
}

Test(pg_status, kinds_have_names_for_logs) {
  cr_expect_str_eq(pg_code_name(PG_UNAVAILABLE), "unavailable");
  cr_expect_str_eq(pg_code_name(PG_NO_ROW), "no row");
  cr_expect_str_eq(pg_code_name(77), "pg error 77");
}
