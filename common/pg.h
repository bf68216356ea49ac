/* pg.h - Postgres for a service: a bounded pool of connections, parameters only.
 *
 * pg_setup() names the DSN and schema once per process, pg_pool_setup() the
 * pool's size (ACCOLADE_PG_POOL; svc.c). A thread takes a connection from the
 * pool on its first query and keeps it until pg_release(): the server runtime
 * releases after every handler and stream step, background loops after each
 * round, and a thread's exit always; while every connection is taken, a
 * caller waits up to its deadline (5 s at most) and then gets
 * RPC_UNAVAILABLE. Before each first use an idle connection is checked
 * without waiting (a restarted server has closed it) and replaced, so no
 * caller sees a stale one. Connections are named "accolade-<schema>" in
 * pg_stat_activity (LISTEN ones "accolade-<schema>-listen"). Queries are always parameterized (no SQL built from input).
 *
 *   PGresult *r;
 *   const char *p[] = {org, badge_id};
 *   int rc = pg_query(&r, "SELECT name FROM badge WHERE org=$1 AND id=$2", 2, p);
 *   if (rc) return pg_fail(ctx, rc, "get badge");
 *   ...PQclear(r);
 *
 * Return codes are rpc codes: RPC_OK, RPC_UNAVAILABLE (Postgres unreachable),
 * RPC_ALREADY_EXISTS (unique violation), RPC_ABORTED (serialization failure or
 * deadlock: retry the transaction), RPC_INTERNAL (anything else; logged).
 */
#ifndef ACCOLADE_PG_H
#define ACCOLADE_PG_H

#include <libpq-fe.h>
#include <stdint.h>

#include "rpc.h"

/* pg_setup sets the DSN and the schema (search_path) used by every connection. */
void pg_setup(const char *dsn, const char *schema);
const char *pg_schema(void);

/* pg_pool_setup sets the pool's size (before the first query; default 64). */
void pg_pool_setup(int size);
int pg_pool_size(void);
/* pg_conn returns the connection this thread holds, taking one from the pool
 * (and (re)connecting it) if need be, or NULL when Postgres is unreachable or
 * no connection came free in time. */
PGconn *pg_conn(void);
/* pg_release gives this thread's connection back to the pool (no-op without
 * one). A connection given back inside a transaction is closed. */
void pg_release(void);
/* pg_connect_new opens a separate connection outside the pool (the caller
 * PQfinish-es it), e.g. for LISTEN. NULL when unreachable. */
PGconn *pg_connect_new(void);
/* pg_disconnect closes this thread's connection and gives its place back. */
void pg_disconnect(void);
/* pg_pool_close closes the pool's idle connections (at the process's end). */
void pg_pool_close(void);

/* pg_query runs |sql| with |n| text parameters (NULL = SQL NULL). On RPC_OK
 * |*out| (may be NULL to discard) is the result, freed by the caller with PQclear.
 * A statement still running at the deadline of the call the thread serves is
 * cancelled at Postgres: RPC_DEADLINE_EXCEEDED. */
int pg_query(PGresult **out, const char *sql, int n, const char *const *params);
/* pg_exec is pg_query for statements whose rows are not needed. */
int pg_exec(const char *sql, int n, const char *const *params);

/* pg_copy_out runs |sql|, a COPY ... TO STDOUT (FORMAT binary), and calls
 * |row| with each row's fields, each NUL-terminated in place (writable until
 * the call returns; NULL for SQL NULL) with its length: text is then a C
 * string, a bigint is read with pg_int8, a boolean is one byte (0 or 1).
 * COPY takes no parameters: the caller sets what the statement needs
 * beforehand (for example with a parameterized set_config() read by
 * current_setting()). After a non-zero |row| return the rest is read and
 * dropped, and that value returned; otherwise pg codes. */
int pg_copy_out(const char *sql, int (*row)(void *arg, char **fields, const int *lens, int n), void *arg);
/* pg_int8: a bigint field of a binary COPY. */
int64_t pg_int8(const char *field);

/* pg_tx runs |fn| inside BEGIN ... COMMIT on this thread's connection,
 * retrying the whole transaction up to 5 times on RPC_ABORTED. If |fn| returns
 * non-zero the transaction is rolled back and that code returned. The
 * transaction's statement_timeout and lock_timeout are the time left to the
 * call the thread serves (rpc_thread_remaining_ms; 30 s at most): a statement
 * or lock wait past it is cancelled by Postgres, RPC_DEADLINE_EXCEEDED. */
int pg_tx(int (*fn)(void *arg), void *arg);

/* pg_notify_after_commit asks for pg_notify(|channel|, |payload|) when the
 * pg_tx this thread runs commits (not at all if it rolls back), sent after
 * the COMMIT so that notifying transactions still share their commit
 * flushes; once per distinct pair per transaction. Outside pg_tx (or past
 * its room) it notifies at once, in the current transaction if any. */
int pg_notify_after_commit(const char *channel, const char *payload);

/* pg_fail maps a pg_* code onto the call with a message ("postgres
 * unavailable", ...) and returns the code to answer with. */
int pg_fail(rpc_ctx *ctx, int code, const char *what);

/* pg_probe: health probe (SELECT 1 on the caller's connection). */
int pg_probe(void *unused);

/* Helpers for reading results. */
const char *pg_str(const PGresult *r, int row, int col);   /* "" for NULL */
long long pg_int(const PGresult *r, int row, int col);      /* 0 for NULL */
int pg_isnull(const PGresult *r, int row, int col);
/* pg_text_array writes |items| as a text[] literal ('{"a","b"}', quotes and
 * backslashes escaped), in |a|, for a $n::text[] parameter. */
char *pg_text_array(arena *a, const char *const *items, size_t n);

#endif
