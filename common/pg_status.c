/* pg_status.c - pg_code to a call's status (see pg_status.h). */
#include "pg_status.h"

int pg_fail(rpc_ctx *ctx, int code, const char *what) {
  switch (code) {
    case PG_UNAVAILABLE:
      return rpc_fail(ctx, RPC_UNAVAILABLE, "%s: postgres unavailable, retry later", what);
    case PG_RETRY:
      return rpc_fail(ctx, RPC_ABORTED, "%s: concurrent update, retry", what);
    case PG_TIMEOUT:
      return rpc_fail(ctx, RPC_DEADLINE_EXCEEDED, "%s: timed out", what);
    case PG_DUPLICATE:
      return rpc_fail(ctx, RPC_ALREADY_EXISTS, "%s: already exists", what);
    default:
      return rpc_fail(ctx, RPC_INTERNAL, "%s: internal error", what);
  }
}

/* pg.h promises each kind the value of the status it stands for. */
_Static_assert((int)PG_OK == (int)RPC_OK && (int)PG_TIMEOUT == (int)RPC_DEADLINE_EXCEEDED &&
                   (int)PG_NO_ROW == (int)RPC_NOT_FOUND &&
                   (int)PG_DUPLICATE == (int)RPC_ALREADY_EXISTS && (int)PG_RETRY == (int)RPC_ABORTED &&
                   (int)PG_ERROR == (int)RPC_INTERNAL && (int)PG_UNAVAILABLE == (int)RPC_UNAVAILABLE,
               "pg_code values are the gRPC statuses they stand for");
