/* pg.c - per-thread Postgres connections with reconnect. */
#include "pg.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"

static char g_dsn[1024] = "dbname=accolade host=127.0.0.1";
static char g_schema[64] = "public";
static _Thread_local PGconn *t_conn;
/* A thread's connection is closed when the thread exits (key destructor). */
static pthread_key_t g_key;
static pthread_once_t g_key_once = PTHREAD_ONCE_INIT;

static void close_at_exit(void *conn) { PQfinish(conn); }
static void make_key(void) { pthread_key_create(&g_key, close_at_exit); }

void pg_setup(const char *dsn, const char *schema) {
  if (dsn) snprintf(g_dsn, sizeof g_dsn, "%s", dsn);
  if (schema) snprintf(g_schema, sizeof g_schema, "%s", schema);
}

const char *pg_schema(void) { return g_schema; }

static void notice_quiet(void *arg, const char *msg) { (void)arg; (void)msg; }

PGconn *pg_connect_new(void) {
  /* connect_timeout bounds a start against a host that does not answer. */
  const char *keys[] = {"dbname", "connect_timeout", "application_name", NULL};
  const char *vals[] = {g_dsn, "3", "accolade", NULL};
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

PGconn *pg_conn(void) {
  if (t_conn && PQstatus(t_conn) == CONNECTION_OK) return t_conn;
  if (t_conn) pg_disconnect();
  t_conn = pg_connect_new();
  pthread_once(&g_key_once, make_key);
  pthread_setspecific(g_key, t_conn);
  return t_conn;
}

void pg_disconnect(void) {
  if (t_conn) PQfinish(t_conn);
  t_conn = NULL;
  pthread_once(&g_key_once, make_key);
  pthread_setspecific(g_key, NULL);
}

static int map_error(PGresult *r, PGconn *c, const char *sql) {
  const char *state = r ? PQresultErrorField(r, PG_DIAG_SQLSTATE) : NULL;
  if (!r || PQstatus(c) != CONNECTION_OK) return RPC_UNAVAILABLE;
  if (state) {
    if (strcmp(state, "23505") == 0) return RPC_ALREADY_EXISTS;
    if (strcmp(state, "40001") == 0 || strcmp(state, "40P01") == 0) return RPC_ABORTED;
    if (strncmp(state, "08", 2) == 0 || strcmp(state, "57P01") == 0 || strcmp(state, "57P03") == 0)
      return RPC_UNAVAILABLE;
    if (strcmp(state, "57014") == 0) return RPC_DEADLINE_EXCEEDED;   /* statement timeout */
  }
  log_error("postgres error %s: %s (in: %.200s)", state ? state : "?", PQresultErrorMessage(r), sql);
  return RPC_INTERNAL;
}

int pg_query(PGresult **out, const char *sql, int n, const char *const *params) {
  if (out) *out = NULL;
  PGconn *c = pg_conn();
  if (!c) return RPC_UNAVAILABLE;
  PGresult *r = PQexecParams(c, sql, n, NULL, params, NULL, NULL, 0);
  ExecStatusType st = r ? PQresultStatus(r) : PGRES_FATAL_ERROR;
  if (st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK) {
    if (out)
      *out = r;
    else
      PQclear(r);
    return RPC_OK;
  }
  int code = map_error(r, c, sql);
  PQclear(r);
  if (code == RPC_UNAVAILABLE) pg_disconnect();
  return code;
}

int pg_exec(const char *sql, int n, const char *const *params) {
  return pg_query(NULL, sql, n, params);
}

/* unescape_copy undoes COPY's text escapes in place (\\, \t, \n, \r, \b,
 * \f, \v, octal \ooo, hex \xhh); "\N" alone is NULL. */
static char *unescape_copy(char *s) {
  if (s[0] == '\\' && s[1] == 'N' && !s[2]) return NULL;
  char *w = s;
  for (char *r = s; *r; r++) {
    if (*r != '\\' || !r[1]) {
      *w++ = *r;
      continue;
    }
    char c = *++r;
    switch (c) {
      case 'b': *w++ = '\b'; break;
      case 'f': *w++ = '\f'; break;
      case 'n': *w++ = '\n'; break;
      case 'r': *w++ = '\r'; break;
      case 't': *w++ = '\t'; break;
      case 'v': *w++ = '\v'; break;
      case 'x': {
        int v = 0, k = 0;
        for (; k < 2 && ((r[1] >= '0' && r[1] <= '9') || ((r[1] | 32) >= 'a' && (r[1] | 32) <= 'f')); k++, r++)
          v = v * 16 + (r[1] <= '9' ? r[1] - '0' : (r[1] | 32) - 'a' + 10);
        *w++ = k ? (char)v : 'x';
        break;
      }
      default:
        if (c >= '0' && c <= '7') {
          int v = c - '0';
          for (int k = 0; k < 2 && r[1] >= '0' && r[1] <= '7'; k++) v = v * 8 + (*++r - '0');
          *w++ = (char)v;
        } else {
          *w++ = c;   /* \\ and any other escaped character: itself */
        }
    }
  }
  *w = 0;
  return s;
}

int pg_copy_out(const char *sql, int (*row)(void *arg, char **cols, int ncols), void *arg) {
  PGconn *c = pg_conn();
  if (!c) return RPC_UNAVAILABLE;
  PGresult *r = PQexec(c, sql);
  if (!r || PQresultStatus(r) != PGRES_COPY_OUT) {
    int code = map_error(r, c, sql);
    PQclear(r);
    if (code == RPC_UNAVAILABLE) pg_disconnect();
    return code;
  }
  PQclear(r);
  int rc = 0;
  char *cols[64];
  for (;;) {
    char *line;
    int n = PQgetCopyData(c, &line, 0);
    if (n < 0) break;
    if (!rc) {
      if (n > 0 && line[n - 1] == '\n') line[n - 1] = 0;
      int k = 0;
      for (char *p = line; k < 64;) {
        cols[k++] = p;
        char *tab = strchr(p, '\t');
        if (!tab) break;
        *tab = 0;
        p = tab + 1;
      }
      for (int i = 0; i < k; i++) cols[i] = unescape_copy(cols[i]);
      rc = row(arg, cols, k);
    }
    PQfreemem(line);
  }
  int code = RPC_OK;
  while ((r = PQgetResult(c))) {
    if (PQresultStatus(r) != PGRES_COMMAND_OK && code == RPC_OK) code = map_error(r, c, sql);
    PQclear(r);
  }
  if (code == RPC_UNAVAILABLE) pg_disconnect();
  return rc ? rc : code;
}

int pg_tx(int (*fn)(void *arg), void *arg) {
  int rc = RPC_ABORTED;
  for (int attempt = 0; attempt < 5 && rc == RPC_ABORTED; attempt++) {
    if (attempt) usleep((useconds_t)(1000 << attempt));
    rc = pg_exec("BEGIN", 0, NULL);
    if (rc != RPC_OK) return rc;
    rc = fn(arg);
    if (rc == RPC_OK) {
      rc = pg_exec("COMMIT", 0, NULL);
    } else {
      PGconn *c = pg_conn();
      if (c && PQtransactionStatus(c) != PQTRANS_IDLE) pg_exec("ROLLBACK", 0, NULL);
    }
  }
  return rc;
}

int pg_fail(rpc_ctx *ctx, int code, const char *what) {
  switch (code) {
    case RPC_UNAVAILABLE:
      return rpc_fail(ctx, RPC_UNAVAILABLE, "%s: postgres unavailable, retry later", what);
    case RPC_ABORTED:
      return rpc_fail(ctx, RPC_ABORTED, "%s: concurrent update, retry", what);
    case RPC_DEADLINE_EXCEEDED:
      return rpc_fail(ctx, RPC_DEADLINE_EXCEEDED, "%s: timed out", what);
    case RPC_ALREADY_EXISTS:
      return rpc_fail(ctx, RPC_ALREADY_EXISTS, "%s: already exists", what);
    default:
      return rpc_fail(ctx, RPC_INTERNAL, "%s: internal error", what);
  }
}

int pg_probe(void *unused) {
  (void)unused;
  return pg_exec("SELECT 1", 0, NULL) == RPC_OK ? 0 : -1;
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
