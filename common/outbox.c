/* outbox.c - transactional outbox and its dispatcher. */
#include "outbox.h"

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "metrics.h"
#include "pg.h"
#include "rpc_client.h"

#define OUTBOX_BATCH 64
#define OUTBOX_MAX_THREADS 8
#define OUTBOX_CALL_TIMEOUT_MS 5000

static char g_service[64];
static outbox_resolve_fn g_resolve;
static atomic_int g_stop;
static pthread_t g_threads[OUTBOX_MAX_THREADS];
static int g_nthreads;

static void channel_name(char *out, size_t n) {
  snprintf(out, n, "accolade_outbox_%s", pg_schema());
}

int outbox_enqueue(const char *target, const char *method, const char *org,
                   const ProtobufCMessage *msg, char *out_event_id) {
  size_t n = protobuf_c_message_get_packed_size(msg);
  uint8_t *buf = malloc(n ? n : 1);
  if (!buf) return RPC_INTERNAL;
  protobuf_c_message_pack(msg, buf);
  PGconn *c = pg_conn();
  if (!c) {
    free(buf);
    return RPC_UNAVAILABLE;
  }
  const char *params[4] = {target, method, org, (const char *)buf};
  int lens[4] = {0, 0, 0, (int)n};
  int fmts[4] = {0, 0, 0, 1};
  PGresult *r = PQexecParams(c,
                             "INSERT INTO outbox(target, method, org, payload) VALUES ($1,$2,$3,$4) "
                             "RETURNING event_id",
                             4, NULL, params, lens, fmts, 0);
  free(buf);
  int rc = RPC_OK;
  if (PQresultStatus(r) != PGRES_TUPLES_OK) {
    log_error("outbox: enqueue failed: %s", PQresultErrorMessage(r));
    rc = PQstatus(c) == CONNECTION_OK ? RPC_INTERNAL : RPC_UNAVAILABLE;
  } else if (out_event_id) {
    snprintf(out_event_id, 37, "%s", PQgetvalue(r, 0, 0));
  }
  PQclear(r);
  if (rc == RPC_OK) {
    /* Delivered to listeners only when the transaction commits. */
    char ch[128], sql[200];
    channel_name(ch, sizeof ch);
    snprintf(sql, sizeof sql, "NOTIFY %s", ch);
    rc = pg_exec(sql, 0, NULL);
  }
  return rc;
}

static int permanent(int code) {
  switch (code) {
    case RPC_INVALID_ARGUMENT:
    case RPC_NOT_FOUND:
    case RPC_PERMISSION_DENIED:
    case RPC_UNAUTHENTICATED:
    case RPC_FAILED_PRECONDITION:
    case RPC_ALREADY_EXISTS:
      return 1;
    default:
      return 0;
  }
}

#define MAX_HOOKS 8
static struct {
  const char *method;
  outbox_reply_fn fn;
} g_hooks[MAX_HOOKS];
static int g_nhooks;

void outbox_on_reply(const char *method, outbox_reply_fn fn) {
  if (g_nhooks < MAX_HOOKS) g_hooks[g_nhooks++] = (typeof(g_hooks[0])){method, fn};
}

static outbox_reply_fn hook_for(const char *method) {
  for (int i = 0; i < g_nhooks; i++)
    if (!strcmp(g_hooks[i].method, method)) return g_hooks[i].fn;
  return NULL;
}

/* A claimed row is leased for this long: if the process dies while it
 * delivers, the row comes due again when the lease runs out. */
#define OUTBOX_LEASE "60 seconds"
static atomic_int g_max_attempts = 100;

void outbox_set_max_attempts(int n) {
  if (n > 0) atomic_store(&g_max_attempts, n);
}

typedef struct claimed {
  const char *id, *method, *org;
  const uint8_t *req, *reply;
  size_t req_len, reply_len;
  outbox_reply_fn hook;
} claimed;

/* delivered_tx: the reply hook and the row's delivery commit together. */
static int delivered_tx(void *arg) {
  claimed *c = arg;
  if (c->hook && c->hook(c->org, c->req, c->req_len, c->reply, c->reply_len) != 0) return RPC_INTERNAL;
  const char *q[] = {c->id};
  return pg_exec("UPDATE outbox SET delivered_at = now(), attempts = attempts + 1, last_error = NULL "
                 "WHERE id = $1 AND delivered_at IS NULL", 1, q);
}

/* record_failure counts an attempt of row |id| and schedules the next one,
 * or dead-letters the row: a permanent error, or the last attempt. */
static void record_failure(const char *id, const char *method, const char *target, int attempts, int permanent_error,
                           const char *err) {
  int dead = permanent_error || attempts + 1 >= atomic_load(&g_max_attempts);
  char delay[32];
  /* 100 ms doubling per attempt, capped at 30 s. */
  long ms = attempts >= 9 ? 30000 : 100L << attempts;
  if (ms > 30000) ms = 30000;
  snprintf(delay, sizeof delay, "%ld milliseconds", ms);
  const char *q[] = {id, err, delay, dead ? "t" : "f"};
  metrics_count("accolade_outbox_deliveries_total", dead ? "outcome=\"dead\"" : "outcome=\"retry\"", 1);
  if (dead)
    log_error("outbox: %s to %s dead-lettered after %d attempts: %s", method, target, attempts + 1, err);
  else   /* the first failure and every tenth are worth a warning; the rest is noise */
    log_msg(attempts % 10 == 0 ? LOG_WARN : LOG_DEBUG, "outbox: %s to %s failed (attempt %d): %s", method, target,
            attempts + 1, err);
  int rc = pg_exec("UPDATE outbox SET attempts = attempts + 1, last_error = $2, "
                   "next_attempt_at = now() + $3::interval, dead_at = CASE WHEN $4::bool THEN now() END "
                   "WHERE id = $1 AND delivered_at IS NULL", 4, q);
  if (rc != RPC_OK)
    log_warn("outbox: cannot record the outcome of %s (%s); its lease will bring it back", id, rpc_code_name(rc));
}

int outbox_dispatch_once(const char *service_name, outbox_resolve_fn resolve) {
  /* Claim the due rows with a lease, in one statement: no transaction stays
   * open (nor any row locked) while the calls go out. */
  PGresult *r = NULL;
  char lim[16];
  snprintf(lim, sizeof lim, "%d", OUTBOX_BATCH);
  const char *p[] = {lim};
  int rc = pg_query(&r,
                    "UPDATE outbox o SET next_attempt_at = now() + interval '" OUTBOX_LEASE "' "
                    "FROM (SELECT id FROM outbox "
                    "      WHERE delivered_at IS NULL AND dead_at IS NULL AND next_attempt_at <= now() "
                    "      ORDER BY next_attempt_at, id LIMIT $1 FOR UPDATE SKIP LOCKED) due "
                    "WHERE o.id = due.id RETURNING o.id, o.target, o.method, o.org, o.payload, o.attempts",
                    1, p);
  if (rc != RPC_OK) return -1;
  int n = PQntuples(r);
  for (int i = 0; i < n; i++) {
    const char *id = PQgetvalue(r, i, 0);
    const char *target = PQgetvalue(r, i, 1);
    const char *method = PQgetvalue(r, i, 2);
    const char *org = PQgetvalue(r, i, 3);
    size_t len = 0;
    unsigned char *payload = PQunescapeBytea((const unsigned char *)PQgetvalue(r, i, 4), &len);
    int attempts = (int)pg_int(r, i, 5);
    const char *addr = resolve ? resolve(target) : NULL;
    identity as;
    rpc_service_identity(&as, service_name, org);
    rpc_call_opts opts = {.as = &as, .timeout_ms = OUTBOX_CALL_TIMEOUT_MS, .max_attempts = 1};
    arena a;
    arena_init(&a);
    rpc_status st = {0};
    uint8_t *out = NULL;
    size_t out_len = 0;
    const uint8_t *req = payload ? payload : (const uint8_t *)"";
    int code = addr ? rpc_call_raw(addr, method, req, len, &opts, &a, &out, &out_len, &st) : RPC_UNAVAILABLE;
    char err[512];
    if (code == RPC_OK) {
      claimed c = {id, method, org, req, out, len, out_len, hook_for(method)};
      int trc = pg_tx(delivered_tx, &c);
      if (trc == RPC_OK) {
        metrics_count("accolade_outbox_deliveries_total", "outcome=\"delivered\"", 1);
      } else {
        /* Not delivered as far as we are concerned: an attempt like any
         * other, and the (idempotent) call is made again later. */
        snprintf(err, sizeof err, "reply hook or delivery record failed: %s", rpc_code_name(trc));
        record_failure(id, method, target, attempts, 0, err);
      }
    } else {
      snprintf(err, sizeof err, "%s: %s", rpc_code_name(code),
               addr ? (st.message ? st.message : "") : "no address for target");
      record_failure(id, method, target, attempts, permanent(code), err);
    }
    PQfreemem(payload);
    arena_free(&a);
  }
  PQclear(r);
  return n;
}

/* wait_notify sleeps up to |ms| on a LISTEN connection, waking on NOTIFY. */
static void wait_notify(PGconn **l, int ms) {
  if (*l && PQstatus(*l) != CONNECTION_OK) {
    PQfinish(*l);
    *l = NULL;
  }
  if (!*l) {
    *l = pg_connect_new();
    if (*l) {
      char ch[128], sql[200];
      channel_name(ch, sizeof ch);
      snprintf(sql, sizeof sql, "LISTEN %s", ch);
      PQclear(PQexec(*l, sql));
    }
  }
  if (!*l) {
    usleep((useconds_t)ms * 1000);
    return;
  }
  struct pollfd pfd = {PQsocket(*l), POLLIN, 0};
  if (poll(&pfd, 1, ms) > 0) {
    PQconsumeInput(*l);
    PGnotify *n;
    while ((n = PQnotifies(*l))) PQfreemem(n);
  }
}

/* Delivered rows are kept a week for inspection, then removed. */
static void purge(void) {
  pg_exec("DELETE FROM outbox WHERE delivered_at < now() - interval '7 days'", 0, NULL);
}

/* At scrape time: what waits, how old the oldest is, what is dead. */
static void collect(char *buf, size_t cap, size_t *len) {
  PGresult *r = NULL;
  if (pg_query(&r,
               "SELECT count(*), COALESCE(EXTRACT(EPOCH FROM now() - min(created_at)), 0) "
               "FROM outbox WHERE delivered_at IS NULL AND dead_at IS NULL",
               0, NULL) != RPC_OK)
    return;
  PGresult *d = NULL;
  long long dead = 0;
  if (pg_query(&d, "SELECT count(*) FROM outbox WHERE dead_at IS NOT NULL", 0, NULL) == RPC_OK) {
    dead = pg_int(d, 0, 0);
    PQclear(d);
  }
  int w = snprintf(buf + *len, cap - *len,
                   "# TYPE accolade_outbox_backlog gauge\naccolade_outbox_backlog %lld\n"
                   "# TYPE accolade_outbox_oldest_age_seconds gauge\n"
                   "accolade_outbox_oldest_age_seconds %s\n"
                   "# TYPE accolade_outbox_dead gauge\naccolade_outbox_dead %lld\n",
                   pg_int(r, 0, 0), pg_str(r, 0, 1), dead);
  if (w > 0 && (size_t)w < cap - *len) *len += (size_t)w;
  PQclear(r);
  pg_release();   /* the metrics server's thread */
}

static void *dispatcher(void *arg) {
  (void)arg;
  PGconn *l = NULL;
  int rounds = 0;
  while (!atomic_load(&g_stop)) {
    if (rounds++ % 1000 == 0) purge();
    int n = outbox_dispatch_once(g_service, g_resolve);
    pg_release();   /* not held while it sleeps */
    if (n == OUTBOX_BATCH) continue;
    /* Sleep until notified, or poll now and then for retries coming due. */
    wait_notify(&l, n < 0 ? 1000 : 250);
  }
  if (l) PQfinish(l);
  pg_disconnect();
  return NULL;
}

int outbox_start(const char *service_name, outbox_resolve_fn resolve, int threads) {
  snprintf(g_service, sizeof g_service, "%s", service_name);
  g_resolve = resolve;
  atomic_store(&g_stop, 0);
  metrics_add_collector(collect);
  if (threads <= 0) threads = 1;
  if (threads > OUTBOX_MAX_THREADS) threads = OUTBOX_MAX_THREADS;
  for (g_nthreads = 0; g_nthreads < threads; g_nthreads++)
    if (pthread_create(&g_threads[g_nthreads], NULL, dispatcher, NULL) != 0) return -1;
  return 0;
}

void outbox_stop(void) {
  atomic_store(&g_stop, 1);
  for (int i = 0; i < g_nthreads; i++) pthread_join(g_threads[i], NULL);
  g_nthreads = 0;
}
