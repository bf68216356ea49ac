/* pg.h - Postgres for a service: a bounded pool of connections, parameters only.
 *
 * pg_setup() names the DSN and schema once per process, pg_pool_setup() the
 * pool's size (ACCOLADE_PG_POOL; svc.c). A thread takes a connection from the
 * pool on its first query and keeps it until pg_release(): the server runtime
 * releases after every handler and stream step, background loops after each
 * round, and a thread's exit always; while every connection is taken, a
 * caller waits up to its deadline (5 s at most) and then gets
 * PG_UNAVAILABLE. Before each first use an idle connection is checked
 * without waiting (a restarted server has closed it) and replaced, so no
 * caller sees a stale one. Connections are named "accolade-<schema>" in
 * pg_stat_activity (LISTEN ones "accolade-<schema>-listen"). Queries are always parameterized (no SQL built from input).
 *
 *   PGresult *r;
 *   const char *p[] = {org, badge_id};
 *   int rc = pg_query(&r, "SELECT name FROM badge WHERE org=$1 AND id=$2", 2, p);
 *   if (rc) return pg_fail(ctx, rc, "get badge");   (pg_status.h)
 *   ...PQclear(r);
 *
 * This module knows nothing of RPC: it returns its own kinds (pg_code), and
 * pg_status.h is the one place they become a call's status and message.
 */
#ifndef ACCOLADE_PG_H
#define ACCOLADE_PG_H

#include <libpq-fe.h>
#include <stdint.h>

#include "arena.h"

/* pg_code: what every pg_* call returns. Each value is that of the gRPC
 * status it stands for (pg_status.c maps it), so that a store may pass a
 * pg_code and a status of its own (NOT_FOUND, ...) back through one int. */
typedef enum pg_code {
  PG_OK = 0,
  PG_TIMEOUT = 4,       /* the call's deadline: statement_timeout, lock_timeout, cancelled */
  PG_NO_ROW = 5,        /* pg_one: the statement returned no row */
  PG_DUPLICATE = 6,     /* unique violation */
  PG_RETRY = 10,        /* serialization failure or deadlock: retry the transaction */
  PG_ERROR = 13,        /* anything else (logged) */
  PG_UNAVAILABLE = 14,  /* Postgres unreachable, or no pooled connection came free in time */
} pg_code;

/* pg_code_name: "unavailable", "duplicate", ... for logs ("pg error <n>" otherwise, in a thread-local buffer). */
const char *pg_code_name(int code);

/* pg_set_deadline names the function that says how long the call the
 * calling thread serves has left (INT64_MAX: no deadline); svc.c passes
 * rpc_thread_remaining_ms. Unset, nothing is bounded. */
void pg_set_deadline(int64_t (*remaining_ms)(void));

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

/* pg_query runs |sql| with |n| text parameters (NULL = SQL NULL). On PG_OK
 * |*out| (may be NULL to discard) is the result, freed by the caller with PQclear.
 * A statement still running at the deadline of the call the thread serves is
 * cancelled at Postgres: PG_TIMEOUT. */
int pg_query(PGresult **out, const char *sql, int n, const char *const *params);
/* pg_exec is pg_query for statements whose rows are not needed. */
int pg_exec(const char *sql, int n, const char *const *params);
/* pg_exec_later is pg_exec for a statement whose outcome nothing inside the
 * transaction waits on (an outbox row, a search document, a lock taken for
 * what follows): inside pg_tx it is queued and reaches Postgres with the
 * transaction's next statement, or its COMMIT, in one round trip (libpq's
 * pipeline mode), so its failure is the code of that statement or of the
 * commit (logged with its own text) and the transaction is rolled back.
 * Outside pg_tx it runs at once. Parameters are copied; |lens| and |fmts|
 * as PQexecParams takes them (NULL: all text). */
int pg_exec_later(const char *sql, int n, const char *const *params, const int *lens, const int *fmts);

/* pg_query_later queues a read the same way: its rows are in |*out| once
 * the transaction's next reading statement (pg_query) has returned PG_OK,
 * in the same round trip, the caller then PQclears them; NULL until then,
 * and NULL when that round trip failed. Nothing it reads may depend on
 * rows read in that round trip. Outside pg_tx it runs at once (pg_query). */
int pg_query_later(PGresult **out, const char *sql, int n, const char *const *params);

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
 * retrying the whole transaction up to 5 times on PG_RETRY (and once when
 * the connection failed before the BEGIN was answered). If |fn| returns
 * non-zero the transaction is rolled back and that code returned. The
 * transaction's statement_timeout and lock_timeout are the time left to the
 * call the thread serves (pg_set_deadline; 30 s at most): a statement
 * or lock wait past it is cancelled by Postgres, PG_TIMEOUT. The BEGIN goes
 * with |fn|'s first statement, the COMMIT with what pg_exec_later queued
 * last: a transaction costs a round trip per statement whose rows it reads,
 * and one for its COMMIT. */
int pg_tx(int (*fn)(void *arg), void *arg);

/* pg_notify_after_commit asks for pg_notify(|channel|, |payload|) when the
 * pg_tx this thread runs commits (not at all if it rolls back), sent after
 * the COMMIT so that notifying transactions still share their commit
 * flushes; once per distinct pair per transaction. Outside pg_tx (or past
 * its room) it notifies at once, in the current transaction if any. */
int pg_notify_after_commit(const char *channel, const char *payload);

/* pg_after_commit asks this thread to call |fn| once the pg_tx it runs has
 * committed (not if it rolls back), once per distinct |fn| per transaction;
 * outside pg_tx, at once. For wakeups inside the process (outbox.c's
 * dispatchers), which need no round trip to Postgres: past 8 distinct ones
 * in a transaction, |fn| is called at once (a wakeup too early is harmless,
 * one lost is not). */
void pg_after_commit(void (*fn)(void));

/* pg_probe: health probe (SELECT 1 on the caller's connection). */
int pg_probe(void *unused);

/* pg_page runs |sql| (|n| text parameters) and makes each row an item with
 * |row| (given |arg|, the result and the row's index): |*(T ***)items| is
 * an array of the items in |a|, one slot longer than the |*count| rows, and
 * when |cursors| is not NULL, |*cursors| holds column |cursor_col| of each
 * row as an integer (a keyset position). The query, the arrays and the
 * mapping of every list a store reads (page_more, check.h, cuts a page). */
typedef void *(*pg_row_fn)(void *arg, PGresult *r, int i);
int pg_page(arena *a, const char *sql, int n, const char *const *params, pg_row_fn row, void *arg, void *items,
            int cursor_col, int64_t **cursors, size_t *count);

/* pg_one runs |sql| and makes its first row an item with |row| (given
 * |arg|) into |*(T **)item|: PG_OK, PG_NO_ROW when it returned none (the
 * store's NOT_FOUND), or a pg code. With |row| or |item| NULL it only says
 * whether a row came back (an UPDATE ... RETURNING that found its row). */
int pg_one(const char *sql, int n, const char *const *params, pg_row_fn row, void *arg, void *item);

/* Helpers for reading results. */
const char *pg_str(const PGresult *r, int row, int col);   /* "" for NULL */
long long pg_int(const PGresult *r, int row, int col);      /* 0 for NULL */
int pg_isnull(const PGresult *r, int row, int col);
/* PG_SQL_INT(N): the number macro N as SQL text, for a constant written
 * into a statement (a LIMIT Postgres plans for). */
#define PG_SQL_INT_(n) #n
#define PG_SQL_INT(n) PG_SQL_INT_(n)

/* pg_text_array writes |items| as a text[] literal ('{"a","b"}', quotes and
 * backslashes escaped), in |a|, for a $n::text[] parameter. */
char *pg_text_array(arena *a, const char *const *items, size_t n);

#endif
