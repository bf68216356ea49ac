/* pg.c - a bounded pool of Postgres connections, parameters only. */
#include "pg.h"

#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "blocking.h"
#include "clock.h"
#include "hash.h"
#include "log.h"

/* The time left to the call the calling thread serves (pg_set_deadline). */
static int64_t (*g_remaining)(void);

void pg_set_deadline(int64_t (*remaining_ms)(void)) { g_remaining = remaining_ms; }

static int64_t remaining_ms(void) { return g_remaining ? g_remaining() : INT64_MAX; }

const char *pg_code_name(int code) {
  switch (code) {
    case PG_OK: return "ok";
    case PG_TIMEOUT: return "timeout";
    case PG_NO_ROW: return "no row";
    case PG_DUPLICATE: return "duplicate";
    case PG_RETRY: return "retry";
    case PG_ERROR: return "error";
    case PG_UNAVAILABLE: return "unavailable";
    default: {
      static __thread char buf[32];
      snprintf(buf, sizeof buf, "pg error %d", code);
      return buf;
    }
  }
}

static char g_dsn[1024] = "dbname=accolade host=127.0.0.1";
static char g_schema[64] = "public";

void pg_setup(const char *dsn, const char *schema) {
  if (dsn) snprintf(g_dsn, sizeof g_dsn, "%s", dsn);
  if (schema) snprintf(g_schema, sizeof g_schema, "%s", schema);
}

const char *pg_schema(void) { return g_schema; }

static void notice_quiet(void *arg, const char *msg) { (void)arg; (void)msg; }

/* connect_as opens a connection named "accolade-<schema><suffix>" in
 * pg_stat_activity, with the schema's search_path. */
static PGconn *connect_as(const char *suffix) {
  char app[96];
  snprintf(app, sizeof app, "accolade-%s%s", g_schema, suffix);
  /* connect_timeout bounds a start against a host that does not answer. */
  const char *keys[] = {"dbname", "connect_timeout", "application_name", NULL};
  const char *vals[] = {g_dsn, "3", app, NULL};
  PGconn *c = PQconnectdbParams(keys, vals, 1);
  if (PQstatus(c) != CONNECTION_OK) {
    log_debug("postgres connect failed: %s", PQerrorMessage(c));
    PQfinish(c);
    return NULL;
  }
  PQsetNoticeProcessor(c, notice_quiet, NULL);
  /* The schema name is ours (a constant of the service), quoted as an identifier. */
  char *ident = PQescapeIdentifier(c, g_schema, strlen(g_schema));
  char sql[200];
  /* Prepared statements (below) skip parsing, and Postgres plans them as
   * it does by default (plan_cache_mode auto): for their values at first,
   * then once for all values where that plan is no worse. A plan made once
   * is made from the tables' statistics of that moment; an ANALYZE
   * (autovacuum's, as a table grows) has it made again. */
  snprintf(sql, sizeof sql, "SET search_path TO %s, public; SET TIME ZONE 'UTC'", ident);
  PQfreemem(ident);
  PGresult *r = PQexec(c, sql);
  int ok = PQresultStatus(r) == PGRES_COMMAND_OK;
  PQclear(r);
  if (!ok) {
    log_error("postgres: cannot set search_path: %s", PQerrorMessage(c));
    PQfinish(c);
    return NULL;
  }
  return c;
}

PGconn *pg_connect_new(void) { return connect_as("-listen"); }

/* conn_alive: whether an idle connection still stands. A server that
 * restarted or ended the session has closed the socket (after a FATAL
 * message), which libpq learns only when it next reads: look without
 * waiting, so the connection is replaced before a query fails on it. */
static int conn_alive(PGconn *c) {
  if (PQstatus(c) != CONNECTION_OK) return 0;
  if (PQtransactionStatus(c) != PQTRANS_IDLE) return 1;   /* mid-transaction: as it is */
  struct pollfd pfd = {.fd = PQsocket(c), .events = POLLIN};
  if (pfd.fd < 0) return 0;
  /* The server's last words come first, its closing of the socket after:
   * read until nothing is left, or the end shows. */
  for (int i = 0; i < 8; i++) {
    pfd.revents = 0;
    if (poll(&pfd, 1, 0) <= 0) return 1;   /* nothing (more) to read */
    if (pfd.revents & (POLLHUP | POLLERR | POLLNVAL)) return 0;
    if (!PQconsumeInput(c) || PQstatus(c) != CONNECTION_OK) return 0;
    PGnotify *n;
    while ((n = PQnotifies(c))) PQfreemem(n);
  }
  return 0;   /* a server that keeps talking to an idle session: start anew */
}

/* ---- The pool ----
 * At most g_size connections, each with the statements prepared on it. A
 * thread takes one on its first query (pg_conn) and gives it back with
 * pg_release: the runtime does so after every handler and stream step, the
 * background loops after each round, and a thread's exit always. */

#define STMT_SLOTS 512
#define STMT_MAX 256
typedef struct stmt_slot {
  char *sql;
  uint32_t hash;
  int id;
} stmt_slot;

typedef struct pg_slot {
  PGconn *conn;
  int busy;
  /* Statements prepared on this connection, by their text: each is parsed
   * and analysed once per connection instead of at every call (perf put
   * parsing and planning among Postgres' top costs under load). Only
   * queries and DML; at most STMT_MAX, the rest go unprepared. */
  stmt_slot stmts[STMT_SLOTS];
  int nstmts;
} pg_slot;

static pthread_mutex_t g_pool_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t g_pool_cv = PTHREAD_COND_INITIALIZER;
static pg_slot *g_pool;
static int g_size = 64;
static _Thread_local pg_slot *t_slot;
static pthread_key_t g_key;
static pthread_once_t g_key_once = PTHREAD_ONCE_INIT;

static void stmts_forget(pg_slot *sl) {
  for (int i = 0; i < STMT_SLOTS; i++) {
    free(sl->stmts[i].sql);
    sl->stmts[i].sql = NULL;
  }
  sl->nstmts = 0;
}

static void slot_close(pg_slot *sl) {
  stmts_forget(sl);
  if (sl->conn) PQfinish(sl->conn);
  sl->conn = NULL;
}

/* slot_give_back returns |sl| to the pool; a connection left inside a
 * transaction (a bug, or a failure mid-way) is closed rather than reused. */
static void slot_give_back(pg_slot *sl) {
  if (sl->conn && PQtransactionStatus(sl->conn) != PQTRANS_IDLE) {
    log_warn("postgres: a connection came back inside a transaction; closing it");
    slot_close(sl);
  }
  pthread_mutex_lock(&g_pool_mu);
  sl->busy = 0;
  pthread_cond_signal(&g_pool_cv);
  pthread_mutex_unlock(&g_pool_mu);
}

static void release_at_exit(void *slot) { slot_give_back(slot); }
static void make_key(void) { pthread_key_create(&g_key, release_at_exit); }

void pg_pool_setup(int size) {
  pthread_mutex_lock(&g_pool_mu);
  if (!g_pool && size > 0) g_size = size;
  pthread_mutex_unlock(&g_pool_mu);
}

int pg_pool_size(void) { return g_size; }

/* slot_take takes a free slot, one with an open connection first, waiting
 * while all are taken: up to the calling thread's deadline, 5 s without. */
static pg_slot *slot_take(void) {
  int64_t left = remaining_ms();
  if (left > 5000) left = 5000;
  struct timespec until = clock_deadline_after(left > 0 ? left : 0);
  pthread_mutex_lock(&g_pool_mu);
  if (!g_pool) g_pool = calloc((size_t)g_size, sizeof *g_pool);
  pg_slot *sl = NULL;
  while (g_pool && !sl) {
    for (int i = 0; i < g_size; i++) {
      if (g_pool[i].busy) continue;
      if (!sl || (!sl->conn && g_pool[i].conn)) sl = &g_pool[i];
      if (sl->conn) break;
    }
    if (sl || clock_cond_wait(&g_pool_cv, &g_pool_mu, &until) != 0) break;
  }
  if (sl) sl->busy = 1;
  pthread_mutex_unlock(&g_pool_mu);
  if (!sl) log_warn("postgres: all %d pooled connections are in use", g_size);
  return sl;
}

PGconn *pg_conn(void) {
  blocking_enter();   /* whatever comes next waits on Postgres */
  if (!t_slot) {
    if (!(t_slot = slot_take())) return NULL;
    pthread_once(&g_key_once, make_key);
    pthread_setspecific(g_key, t_slot);
  }
  if (t_slot->conn && conn_alive(t_slot->conn)) return t_slot->conn;
  slot_close(t_slot);
  t_slot->conn = connect_as("");
  return t_slot->conn;
}

void pg_release(void) {
  if (!t_slot) return;
  pg_slot *sl = t_slot;
  t_slot = NULL;
  pthread_once(&g_key_once, make_key);
  pthread_setspecific(g_key, NULL);
  slot_give_back(sl);
}

void pg_disconnect(void) {
  if (!t_slot) return;
  slot_close(t_slot);
  pg_release();
}

void pg_pool_close(void) {
  pthread_mutex_lock(&g_pool_mu);
  for (int i = 0; g_pool && i < g_size; i++)
    if (!g_pool[i].busy) slot_close(&g_pool[i]);
  pthread_mutex_unlock(&g_pool_mu);
}

static int preparable(const char *sql) {
  while (*sql == ' ' || *sql == '\n' || *sql == '(') sql++;
  static const char *const verbs[] = {"SELECT", "INSERT", "UPDATE", "DELETE", "WITH"};
  for (size_t i = 0; i < sizeof verbs / sizeof verbs[0]; i++)
    if (strncasecmp(sql, verbs[i], strlen(verbs[i])) == 0) return 1;
  return 0;
}

/* prepared: the name of |sql| prepared on this thread's connection
 * (preparing it now if need be) in |name|, or 0 when it goes unprepared
 * (not a query, the cache is full, or Postgres refused: the plain call then
 * reports why). */
static int prepared(PGconn *c, const char *sql, int n, char *name, size_t cap) {
  pg_slot *sl = t_slot;
  if (!sl || !preparable(sql)) return 0;
  uint32_t h = hash_str(HASH_INIT, sql);
  unsigned i = h & (STMT_SLOTS - 1);
  for (; sl->stmts[i].sql; i = (i + 1) & (STMT_SLOTS - 1))
    if (sl->stmts[i].hash == h && strcmp(sl->stmts[i].sql, sql) == 0) {
      snprintf(name, cap, "acc_%d", sl->stmts[i].id);
      return 1;
    }
  if (sl->nstmts >= STMT_MAX) return 0;
  snprintf(name, cap, "acc_%d", sl->nstmts);
  PGresult *r = PQprepare(c, name, sql, n, NULL);
  int ok = r && PQresultStatus(r) == PGRES_COMMAND_OK;
  PQclear(r);
  if (!ok) return 0;
  sl->stmts[i] = (stmt_slot){strdup(sql), h, sl->nstmts++};
  return 1;
}

static int map_error(PGresult *r, PGconn *c, const char *sql) {
  const char *state = r ? PQresultErrorField(r, PG_DIAG_SQLSTATE) : NULL;
  if (!r || PQstatus(c) != CONNECTION_OK) return PG_UNAVAILABLE;
  if (state) {
    if (strcmp(state, "23505") == 0) return PG_DUPLICATE;
    if (strcmp(state, "40001") == 0 || strcmp(state, "40P01") == 0) return PG_RETRY;
    if (strncmp(state, "08", 2) == 0 || strcmp(state, "57P01") == 0 || strcmp(state, "57P03") == 0)
      return PG_UNAVAILABLE;
    /* statement_timeout, lock_timeout: the call's deadline (pg_tx) */
    if (strcmp(state, "57014") == 0 || strcmp(state, "55P03") == 0) return PG_TIMEOUT;
  }
  log_error("postgres error %s: %s (in: %.200s)", state ? state : "?", PQresultErrorMessage(r), sql);
  return PG_ERROR;
}

/* A wait bounded by the deadline of the call the thread serves: past it,
 * what runs is cancelled at Postgres (PQcancel; its error, 57014, answers
 * DEADLINE_EXCEEDED), in a transaction or not, and the server gets 5 s more
 * to say so. */
typedef struct bound {
  int64_t until;   /* CLOCK_MONOTONIC ms; INT64_MAX: none */
  int cancelled;
} bound;

static bound bound_now(void) {
  int64_t left = remaining_ms();
  return (bound){left == INT64_MAX ? INT64_MAX : clock_now_ms() + (left > 0 ? left : 0), 0};
}

/* await_result waits until PQgetResult will not block: 0, or -1 when the
 * connection failed or not even the cancel was answered (the caller drops
 * the connection). */
static int await_result(PGconn *c, bound *b) {
  while (PQisBusy(c)) {
    int64_t wait = b->until == INT64_MAX ? -1 : b->until - clock_now_ms();
    if (b->until != INT64_MAX && wait <= 0) {
      if (b->cancelled) return -1;
      PGcancel *k = PQgetCancel(c);
      char err[256];
      if (k) {
        PQcancel(k, err, sizeof err);
        PQfreeCancel(k);
      }
      b->cancelled = 1;
      b->until = clock_now_ms() + 5000;   /* for the server to say it cancelled */
      continue;
    }
    struct pollfd pfd = {.fd = PQsocket(c), .events = POLLIN};
    if (poll(&pfd, 1, wait > INT32_MAX ? INT32_MAX : (int)wait) < 0) continue;
    if (!PQconsumeInput(c)) return -1;
  }
  return 0;
}

/* exec_bounded runs one statement (|lens| and |fmts| NULL for text
 * parameters) within the call's deadline (bound). Returns the last result,
 * or NULL when the connection failed. */
static PGresult *exec_bounded(PGconn *c, const char *name, const char *sql, int n, const char *const *params,
                              const int *lens, const int *fmts) {
  int sent = name ? PQsendQueryPrepared(c, name, n, params, lens, fmts, 0)
                  : PQsendQueryParams(c, sql, n, NULL, params, lens, fmts, 0);
  if (!sent) return NULL;
  bound b = bound_now();
  if (await_result(c, &b) != 0) return NULL;
  PGresult *last = NULL, *r;
  while ((r = PQgetResult(c))) {
    PQclear(last);
    last = r;
    if (await_result(c, &b) != 0) {
      PQclear(last);
      return NULL;
    }
  }
  return last;
}

/* ------------------------------------------------ statements sent later
 *
 * Inside pg_tx, the statements nobody reads a row of (the BEGIN and its
 * bounds, an outbox row, a search document, a lock taken for what follows)
 * wait on the thread and go to Postgres in one round trip with the next
 * statement that has a reader, or with the COMMIT: libpq's pipeline mode,
 * one Sync for all, so Postgres runs them in order and a failure skips the
 * rest. A queued statement that fails fails the statement it went with: its
 * code is that statement's, its message is logged with its own text. */

#define LATER_MAX 32
#define LATER_BYTES (64 * 1024)   /* queued parameters past this go out at once */

typedef struct pg_stmt {
  const char *sql;
  int n;
  const char *const *params;
  const int *lens, *fmts;   /* NULL: text parameters */
  PGresult **keep;          /* pg_query_later: where its rows go, or NULL */
} pg_stmt;

static _Thread_local struct {
  int in_tx;   /* inside pg_tx: statements queue, notifications wait for the COMMIT */
  int lost;    /* the connection failed under the round trip with the BEGIN */
  int n;
  size_t bytes;
  arena a;     /* the queued statements' copies */
  pg_stmt s[LATER_MAX];
} t_later;

static void later_reset(void) {
  arena_free(&t_later.a);
  arena_init(&t_later.a);
  t_later.n = 0;
  t_later.bytes = 0;
}

/* pipeline runs |s|[0..n) in one round trip, one Sync after all (a
 * failure skips what follows it). The first |counted| are what the caller
 * answers for: returns PG_OK with |*out| (may be NULL) the result of
 * s[counted - 1], or the code of the first of them that failed; the rest
 * (what follows a COMMIT) only log a failure. PG_UNAVAILABLE when the
 * connection failed (the caller drops it). */
static int pipeline_run(PGconn *c, const pg_stmt *s, int n, int counted, PGresult **out) {
  char names[LATER_MAX + 2][32];
  if (n > LATER_MAX + 2) return PG_ERROR;
  for (int i = 0; i < n; i++)   /* a first use is prepared now, before the pipeline */
    if (!prepared(c, s[i].sql, s[i].n, names[i], sizeof names[i])) names[i][0] = '\0';
  if (!PQenterPipelineMode(c)) return PG_UNAVAILABLE;
  int ok = 1;
  for (int i = 0; i < n && ok; i++)
    ok = names[i][0] ? PQsendQueryPrepared(c, names[i], s[i].n, s[i].params, s[i].lens, s[i].fmts, 0)
                     : PQsendQueryParams(c, s[i].sql, s[i].n, NULL, s[i].params, s[i].lens, s[i].fmts, 0);
  if (!ok || !PQpipelineSync(c)) return PG_UNAVAILABLE;
  bound b = bound_now();
  int code = PG_OK;
  /* Each statement's result is followed by a NULL, the Sync's is not. */
  for (int i = 0; i <= n; i++) {
    if (await_result(c, &b) != 0) return PG_UNAVAILABLE;
    PGresult *r = PQgetResult(c);
    ExecStatusType st = r ? PQresultStatus(r) : PGRES_FATAL_ERROR;
    if (i == n) {
      PQclear(r);
      if (st != PGRES_PIPELINE_SYNC) return PG_UNAVAILABLE;
      break;
    }
    if (!r) return PG_UNAVAILABLE;
    if (st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK) {
      if (i == counted - 1 && out && code == PG_OK) {
        *out = r;
        r = NULL;
      } else if (s[i].keep && code == PG_OK) {
        *s[i].keep = r;
        r = NULL;
      }
    } else if (st != PGRES_PIPELINE_ABORTED) {
      if (i < counted && code == PG_OK)
        code = map_error(r, c, s[i].sql);
      else if (i >= counted)
        log_warn("postgres: after the commit: %s (in: %.120s)", PQresultErrorMessage(r), s[i].sql);
    }
    PQclear(r);
    if (await_result(c, &b) != 0) return PG_UNAVAILABLE;
    if ((r = PQgetResult(c))) {   /* more than one result: not ours to read */
      PQclear(r);
      return PG_UNAVAILABLE;
    }
  }
  if (!PQexitPipelineMode(c)) return PG_UNAVAILABLE;
  if (code != PG_OK && out && *out) {
    PQclear(*out);
    *out = NULL;
  }
  return code;
}

/* pipeline: pipeline_run, and on a failure no statement's rows kept
 * (pg_query_later's callers see them only with PG_OK). */
static int pipeline(PGconn *c, const pg_stmt *s, int n, int counted, PGresult **out) {
  int rc = pipeline_run(c, s, n, counted, out);
  for (int i = 0; rc != PG_OK && i < n; i++)
    if (s[i].keep && *s[i].keep) {
      PQclear(*s[i].keep);
      *s[i].keep = NULL;
    }
  return rc;
}

/* later_run sends the queued statements, then |last| (may be NULL) and
 * |after| (may be NULL: a statement whose failure is only logged) in one
 * round trip; the queue is empty after. */
static int later_run(PGconn *c, const pg_stmt *last, const pg_stmt *after, PGresult **out) {
  pg_stmt all[LATER_MAX + 2];
  int n = 0;
  for (int i = 0; i < t_later.n; i++) all[n++] = t_later.s[i];
  if (last) all[n++] = *last;
  int counted = n;
  if (after) all[n++] = *after;
  int had_begin = t_later.n > 0 && !strcmp(t_later.s[0].sql, "BEGIN");
  int rc = n ? pipeline(c, all, n, counted, out) : PG_OK;
  if (rc == PG_UNAVAILABLE && had_begin) t_later.lost = 1;
  later_reset();
  return rc;
}

/* later_flush sends what is queued (nothing else): PG_OK or its failure. */
static int later_flush(void) {
  if (!t_later.n) return PG_OK;
  PGconn *c = pg_conn();
  if (!c) {
    later_reset();
    return PG_UNAVAILABLE;
  }
  int rc = later_run(c, NULL, NULL, NULL);
  if (rc == PG_UNAVAILABLE) pg_disconnect();
  return rc;
}

/* query runs |s|, after what is queued in the same round trip. */
static int query(const pg_stmt *s, PGresult **out) {
  if (out) *out = NULL;
  PGconn *c = pg_conn();
  if (!c) return PG_UNAVAILABLE;
  if (t_later.n) {   /* what waits goes first, in the same round trip */
    int code = later_run(c, s, NULL, out);
    if (code == PG_UNAVAILABLE) pg_disconnect();
    return code;
  }
  char name[32];
  PGresult *r = exec_bounded(c, prepared(c, s->sql, s->n, name, sizeof name) ? name : NULL, s->sql, s->n, s->params,
                             s->lens, s->fmts);
  ExecStatusType st = r ? PQresultStatus(r) : PGRES_FATAL_ERROR;
  if (st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK) {
    if (out)
      *out = r;
    else
      PQclear(r);
    return PG_OK;
  }
  int code = r ? map_error(r, c, s->sql) : PG_UNAVAILABLE;
  PQclear(r);
  if (code == PG_UNAVAILABLE || !r) pg_disconnect();
  return code;
}

int pg_query(PGresult **out, const char *sql, int n, const char *const *params) {
  pg_stmt s = {sql, n, params, NULL, NULL, NULL};
  return query(&s, out);
}

int pg_exec(const char *sql, int n, const char *const *params) {
  return pg_query(NULL, sql, n, params);
}

/* later_push queues a statement (pg_exec_later, pg_query_later). */
static int later_push(const char *sql, int n, const char *const *params, const int *lens, const int *fmts,
                      PGresult **keep) {
  size_t size = strlen(sql) + 1;
  for (int i = 0; i < n; i++) size += params[i] ? (fmts && fmts[i] ? (size_t)lens[i] : strlen(params[i]) + 1) : 0;
  if (t_later.n == LATER_MAX || t_later.bytes + size > LATER_BYTES) {
    int rc = later_flush();
    if (rc) return rc;
  }
  arena *a = &t_later.a;
  pg_stmt *st = &t_later.s[t_later.n++];
  t_later.bytes += size;
  const char **p = ARENA_ARRAY(a, const char *, n + 1);
  int *l = lens ? ARENA_ARRAY(a, int, n + 1) : NULL, *f = fmts ? ARENA_ARRAY(a, int, n + 1) : NULL;
  for (int i = 0; i < n; i++) {
    int binary = fmts && fmts[i];
    if (!params[i]) {
      p[i] = NULL;
    } else if (binary) {
      char *copy = arena_alloc(a, (size_t)lens[i] + 1);
      memcpy(copy, params[i], (size_t)lens[i]);
      p[i] = copy;
    } else {
      p[i] = arena_strdup(a, params[i]);
    }
    if (l) l[i] = lens[i];
    if (f) f[i] = fmts[i];
  }
  *st = (pg_stmt){arena_strdup(a, sql), n, p, l, f, keep};
  return PG_OK;
}

int pg_exec_later(const char *sql, int n, const char *const *params, const int *lens, const int *fmts) {
  if (!t_later.in_tx) {
    pg_stmt now = {sql, n, params, lens, fmts, NULL};
    return query(&now, NULL);
  }
  return later_push(sql, n, params, lens, fmts, NULL);
}

int pg_query_later(PGresult **out, const char *sql, int n, const char *const *params) {
  *out = NULL;
  if (!t_later.in_tx) return pg_query(out, sql, n, params);
  return later_push(sql, n, params, NULL, NULL, out);
}

int64_t pg_int8(const char *field) {
  const unsigned char *p = (const unsigned char *)field;
  uint64_t v = 0;
  for (int i = 0; i < 8; i++) v = v << 8 | p[i];
  return (int64_t)v;
}

static uint32_t be32(const unsigned char *p) {
  return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* copy_row splits one binary COPY row (after the file header, if any) into
 * |fields|, NUL-terminating each in place: a field's terminator overwrites
 * the first byte of the next one's length, read before. Returns the field
 * count, 0 for the trailer, -1 if malformed. */
static int copy_row(unsigned char *p, int n, char **fields, int *lens, int max) {
  static const unsigned char sig[11] = "PGCOPY\n\377\r\n";
  if (n >= 19 && memcmp(p, sig, 11) == 0) {   /* the header, ahead of the first row */
    uint32_t ext = be32(p + 15);
    if (ext > (uint32_t)n - 19) return -1;
    p += 19 + ext;
    n -= 19 + (int)ext;
  }
  if (n < 2) return -1;
  int count = (int16_t)(p[0] << 8 | p[1]);
  if (count == -1) return 0;
  if (count < 0 || count > max) return -1;
  unsigned char *end = p + n;
  p += 2;
  for (int i = 0; i < count; i++) {
    if (end - p < 4) return -1;
    int32_t len = (int32_t)be32(p);
    p += 4;
    if (len < 0) {   /* NULL */
      fields[i] = NULL;
      lens[i] = 0;
      continue;
    }
    if (end - p < len) return -1;
    fields[i] = (char *)p;
    lens[i] = len;
    p += len;
    if (i > 0 && fields[i - 1]) fields[i - 1][lens[i - 1]] = 0;
  }
  if (count > 0 && fields[count - 1]) fields[count - 1][lens[count - 1]] = 0;   /* libpq ends the buffer with a NUL */
  return count;
}

int pg_copy_out(const char *sql, int (*row)(void *arg, char **fields, const int *lens, int n), void *arg) {
  int rc = later_flush();   /* COPY cannot go in a pipeline */
  if (rc) return rc;
  PGconn *c = pg_conn();
  if (!c) return PG_UNAVAILABLE;
  PGresult *r = PQexec(c, sql);
  if (!r || PQresultStatus(r) != PGRES_COPY_OUT) {
    int code = map_error(r, c, sql);
    PQclear(r);
    if (code == PG_UNAVAILABLE) pg_disconnect();
    return code;
  }
  PQclear(r);
  char *fields[64];
  int lens[64];
  for (;;) {
    char *line;
    int n = PQgetCopyData(c, &line, 0);
    if (n < 0) break;
    if (!rc) {
      int k = copy_row((unsigned char *)line, n, fields, lens, 64);
      if (k < 0) {
        log_error("postgres COPY: a malformed row (in: %.200s)", sql);
        rc = PG_ERROR;
      } else if (k > 0) {
        rc = row(arg, fields, lens, k);
      }
    }
    PQfreemem(line);
  }
  int code = PG_OK;
  while ((r = PQgetResult(c))) {
    if (PQresultStatus(r) != PGRES_COMMAND_OK && code == PG_OK) code = map_error(r, c, sql);
    PQclear(r);
  }
  if (code == PG_UNAVAILABLE) pg_disconnect();
  return rc ? rc : code;
}

/* tx_begin opens a transaction bounded by the calling thread's deadline:
 * statement_timeout and lock_timeout are the time the call has left, so
 * Postgres itself cancels what would outlive the caller. Without a call
 * deadline, PG_TX_DEFAULT_MS bounds it. The three statements are queued:
 * they reach Postgres with the transaction's first statement. */
#define PG_TX_DEFAULT_MS 30000
static int tx_begin(void) {
  int64_t left = remaining_ms();
  if (left <= 0) return PG_TIMEOUT;
  if (left > PG_TX_DEFAULT_MS) left = PG_TX_DEFAULT_MS;
  if (!pg_conn()) return PG_UNAVAILABLE;
  char timeout[80], lock[80];
  snprintf(timeout, sizeof timeout, "SET LOCAL statement_timeout = %lld", (long long)left);
  snprintf(lock, sizeof lock, "SET LOCAL lock_timeout = %lld", (long long)left);
  later_reset();
  t_later.lost = 0;
  t_later.in_tx = 1;
  int rc = pg_exec_later("BEGIN", 0, NULL, NULL, NULL);
  if (!rc) rc = pg_exec_later(timeout, 0, NULL, NULL, NULL);
  if (!rc) rc = pg_exec_later(lock, 0, NULL, NULL, NULL);
  return rc;
}

/* ------------------------------------------ notifications after commit */

/* A transaction that NOTIFYs holds one cluster-wide lock from before its
 * commit until the commit is flushed, so every such transaction waits for
 * the flush of the one before it: no group commit among them. The
 * notifications asked for inside pg_tx are therefore sent after its COMMIT,
 * in a statement of their own (which writes no WAL): at most PG_NOTIFY_MAX
 * distinct ones per transaction, the rest inside it as before. */
#define PG_NOTIFY_MAX 64   /* a batch of events wakes one inbox per recipient */
#define PG_NOTIFY_CHANNEL 64
#define PG_NOTIFY_PAYLOAD 300
static _Thread_local struct {
  int n;
  char channel[PG_NOTIFY_MAX][PG_NOTIFY_CHANNEL], payload[PG_NOTIFY_MAX][PG_NOTIFY_PAYLOAD];
} t_notify;

int pg_notify_after_commit(const char *channel, const char *payload) {
  if (t_later.in_tx && strlen(channel) < PG_NOTIFY_CHANNEL && strlen(payload) < PG_NOTIFY_PAYLOAD) {
    for (int i = 0; i < t_notify.n; i++)
      if (!strcmp(t_notify.channel[i], channel) && !strcmp(t_notify.payload[i], payload)) return PG_OK;
    if (t_notify.n < PG_NOTIFY_MAX) {
      snprintf(t_notify.channel[t_notify.n], PG_NOTIFY_CHANNEL, "%s", channel);
      snprintf(t_notify.payload[t_notify.n], PG_NOTIFY_PAYLOAD, "%s", payload);
      t_notify.n++;
      return PG_OK;
    }
  }
  const char *p[] = {channel, payload};
  return pg_exec("SELECT pg_notify($1, $2)", 2, p);
}

/* Work of this process to do once the transaction has committed. */
#define PG_AFTER_MAX 8
static _Thread_local struct {
  int n;
  void (*fn[PG_AFTER_MAX])(void);
} t_after;

void pg_after_commit(void (*fn)(void)) {
  if (!t_later.in_tx) {
    fn();
    return;
  }
  for (int i = 0; i < t_after.n; i++)
    if (t_after.fn[i] == fn) return;
  if (t_after.n < PG_AFTER_MAX)
    t_after.fn[t_after.n++] = fn;
  else
    fn();   /* early rather than never: it only wakes */
}

/* tx_commit sends what is queued, the COMMIT and, after it, the
 * transaction's notifications, in one round trip. */
static int tx_commit(void) {
  PGconn *c = pg_conn();
  if (!c) {
    later_reset();
    return PG_UNAVAILABLE;
  }
  pg_stmt commit = {"COMMIT", 0, NULL, NULL, NULL, NULL}, notify = {0};
  const char *ch[PG_NOTIFY_MAX], *pl[PG_NOTIFY_MAX], *p[2];
  arena a;
  arena_init(&a);
  if (t_notify.n) {
    for (int i = 0; i < t_notify.n; i++) {
      ch[i] = t_notify.channel[i];
      pl[i] = t_notify.payload[i];
    }
    p[0] = pg_text_array(&a, ch, (size_t)t_notify.n);
    p[1] = pg_text_array(&a, pl, (size_t)t_notify.n);
    /* Listeners also poll: a notification lost here only delays them. */
    notify = (pg_stmt){"SELECT pg_notify(c, p) FROM unnest($1::text[], $2::text[]) t(c, p)", 2, p, NULL, NULL, NULL};
  }
  t_notify.n = 0;
  int rc = later_run(c, &commit, notify.sql ? &notify : NULL, NULL);
  arena_free(&a);
  if (rc == PG_UNAVAILABLE) pg_disconnect();
  return rc;
}

int pg_tx(int (*fn)(void *arg), void *arg) {
  int rc = PG_RETRY;
  /* A connection found broken before the BEGIN was answered (nothing ran)
   * is replaced, and the transaction run again, once. */
  int lost = 0;
  for (int attempt = 0; attempt < 5 && (rc == PG_RETRY || (rc == PG_UNAVAILABLE && lost == 1)); attempt++) {
    if (attempt && rc == PG_RETRY) usleep((useconds_t)(1000 << attempt));
    rc = tx_begin();
    if (rc != PG_OK) {
      t_later.in_tx = 0;
      later_reset();
      break;
    }
    t_notify.n = 0;
    t_after.n = 0;
    rc = fn(arg);
    if (rc == PG_OK) rc = tx_commit();
    t_later.in_tx = 0;
    for (int i = 0; rc == PG_OK && i < t_after.n; i++) t_after.fn[i]();
    t_after.n = 0;
    if (rc != PG_OK) {
      later_reset();
      PGconn *c = pg_conn();
      if (c && PQtransactionStatus(c) != PQTRANS_IDLE) pg_exec("ROLLBACK", 0, NULL);
    }
    if (rc == PG_UNAVAILABLE && t_later.lost) lost++;
    t_notify.n = 0;
  }
  return rc;
}

int pg_page(arena *a, const char *sql, int n, const char *const *params, pg_row_fn row, void *arg, void *items,
            int cursor_col, int64_t **cursors, size_t *count) {
  PGresult *r;
  int rc = pg_query(&r, sql, n, params);
  if (rc) return rc;
  *count = (size_t)PQntuples(r);
  void **out = ARENA_ARRAY(a, void *, *count + 1);
  if (cursors) *cursors = ARENA_ARRAY(a, int64_t, *count + 1);
  for (size_t i = 0; i < *count; i++) {
    out[i] = row(arg, r, (int)i);
    if (cursors) (*cursors)[i] = pg_int(r, (int)i, cursor_col);
  }
  *(void ***)items = out;
  PQclear(r);
  return PG_OK;
}

int pg_one(const char *sql, int n, const char *const *params, pg_row_fn row, void *arg, void *item) {
  PGresult *r;
  int rc = pg_query(&r, sql, n, params);
  if (rc) return rc;
  rc = PQntuples(r) ? PG_OK : PG_NO_ROW;
  if (rc == PG_OK && row && item) *(void **)item = row(arg, r, 0);
  PQclear(r);
  return rc;
}

int pg_probe(void *unused) {
  (void)unused;
  return pg_exec("SELECT 1", 0, NULL) == PG_OK ? 0 : -1;
}

const char *pg_str(const PGresult *r, int row, int col) {
  return PQgetisnull(r, row, col) ? "" : PQgetvalue(r, row, col);
}

long long pg_int(const PGresult *r, int row, int col) {
  return PQgetisnull(r, row, col) ? 0 : strtoll(PQgetvalue(r, row, col), NULL, 10);
}

int pg_isnull(const PGresult *r, int row, int col) { return PQgetisnull(r, row, col); }

char *pg_text_array(arena *a, const char *const *items, size_t n) {
  size_t cap = 3;
  for (size_t i = 0; i < n; i++) cap += strlen(items[i]) * 2 + 3;
  char *arr = arena_alloc(a, cap);
  size_t k = 0;
  arr[k++] = '{';
  for (size_t i = 0; i < n; i++) {
    if (i) arr[k++] = ',';
    arr[k++] = '"';
    for (const char *s = items[i]; *s; s++) {
      if (*s == '"' || *s == '\\') arr[k++] = '\\';
      arr[k++] = *s;
    }
    arr[k++] = '"';
  }
  arr[k++] = '}';
  arr[k] = '\0';
  return arr;
}
