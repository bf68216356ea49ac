/* pg_status.h - the one place where a Postgres outcome (pg_code, pg.h)
 * becomes a call's status: pg.c sits below the RPC server and knows nothing
 * of it; a handler hands what its store returned to pg_fail. */
#ifndef ACCOLADE_PG_STATUS_H
#define ACCOLADE_PG_STATUS_H

#include "pg.h"
#include "rpc.h"

/* pg_fail fails the call for the pg_code |code| with a message naming
 * |what| ("grant award: postgres unavailable, retry later", ...) and returns
 * the status to answer with: UNAVAILABLE, ABORTED, DEADLINE_EXCEEDED,
 * ALREADY_EXISTS, or INTERNAL for anything else. */
int pg_fail(rpc_ctx *ctx, int code, const char *what);

#endif
