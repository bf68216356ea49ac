/* outbox.c - transactional outbox and its dispatcher. */
#include "outbox.h"

#include <ctype.h>
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "clock.h"
#include "delivery.h"
#include "log.h"
#include "metrics.h"
#include "pg.h"
#include "rpc_client.h"

#define OUTBOX_BATCH 64   /* rows a round claims; the claim's LIMIT below */
#define OUTBOX_PARALLEL 16   /* a round's calls in flight at once */
#define OUTBOX_MAX_THREADS 8
#define OUTBOX_CALL_TIMEOUT_MS 5000

static char g_service[64];
static outbox_resolve_fn g_resolve;
static atomic_int g_stop;
static pthread_t g_threads[OUTBOX_MAX_THREADS];
static int g_nthreads;

/* The rows waiting for a dispatcher, oldest due first: what a claim takes
 * and what the admission's lag is measured on (the same rows, or the lag
 * would not be the claims'). */
#define OUTBOX_WAITING                                                                  \
  "FROM outbox WHERE delivered_at IS NULL AND dead_at IS NULL AND next_attempt_at <= now() " \
  "AND (leased_until IS NULL OR leased_until <= now()) ORDER BY next_attempt_at, id "

static void channel_name(char *out, size_t n) {
  snprintf(out, n, "accolade_outbox_%s", pg_schema());
}

/* Waking the dispatchers. A row written by this process wakes one of its own
 * dispatchers once its transaction commits (pg_after_commit): no NOTIFY,
 * which would cost a statement of its own and wake every listening backend
 * of the database. A process without dispatchers running NOTIFYs instead,
 * and one thread of each process with dispatchers LISTENs for that. Every
 * dispatcher also polls (retries coming due, rows of a writer that died
 * between its commit and the wake). |g_wake_seq| counts wakes, so a wake
 * that comes while no dispatcher waits is not lost: the next one to wait
 * sees the count has moved and goes on. */
static pthread_mutex_t g_wake_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t g_wake_cv = PTHREAD_COND_INITIALIZER;
static unsigned long g_wake_seq;
static atomic_int g_local;   /* dispatchers of this process are running */
static pthread_t g_listener;
static int g_listening;

static void wake_one(void) {
  pthread_mutex_lock(&g_wake_mu);
  g_wake_seq++;
  pthread_cond_signal(&g_wake_cv);
  pthread_mutex_unlock(&g_wake_mu);
}

static unsigned long wake_seen(void) {
  pthread_mutex_lock(&g_wake_mu);
  unsigned long seq = g_wake_seq;
  pthread_mutex_unlock(&g_wake_mu);
  return seq;
}

/* wait_wake sleeps up to |ms| unless a wake came since |seen|. */
static void wait_wake(unsigned long seen, int ms) {
  struct timespec until = clock_deadline_after(ms);
  pthread_mutex_lock(&g_wake_mu);
  while (g_wake_seq == seen && !atomic_load(&g_stop))
    if (clock_cond_wait(&g_wake_cv, &g_wake_mu, &until) == ETIMEDOUT) break;
  pthread_mutex_unlock(&g_wake_mu);
}

/* enqueue writes one row for each of the |n| |msgs| (calls of |service|'s
 * |method_name| for |org|) in one statement. */
static int enqueue(const ProtobufCServiceDescriptor *service, const char *method_name, const char *org,
                   const ProtobufCMessage *const *msgs, size_t n) {
  const ProtobufCMethodDescriptor *md = protobuf_c_service_descriptor_get_method_by_name(service, method_name);
  for (size_t i = 0; i < n; i++)
    if (!md || md->input != msgs[i]->descriptor) {
      log_error("outbox: %s.%s %s", service->name, method_name,
                md ? "takes another message type" : "is not a method of the service");
      return RPC_INTERNAL;
    }
  if (n == 0) return RPC_OK;
  char method[256], target[64];
  snprintf(method, sizeof method, "/%s/%s", service->name, method_name);
  /* The logical target: "AwardService" -> "award". */
  size_t k = 0;
  for (const char *c = service->short_name; *c && k + 1 < sizeof target; c++) target[k++] = (char)tolower((unsigned char)*c);
  target[k] = '\0';
  if (k > 7 && !strcmp(target + k - 7, "service")) target[k - 7] = '\0';
  /* Rows ($1,$2,$3,$4), ($1,$2,$3,$5), ...: the payloads as binary parameters. */
  arena a;
  arena_init(&a);
  const char **params = ARENA_ARRAY(&a, const char *, n + 3);
  int *lens = ARENA_ARRAY(&a, int, n + 3), *fmts = ARENA_ARRAY(&a, int, n + 3);
  char *sql = arena_alloc(&a, 96 + 24 * n), *w = sql;
  params[0] = target;
  params[1] = method;
  params[2] = org;
  w += sprintf(w, "INSERT INTO outbox(target, method, org, payload) VALUES ");
  for (size_t i = 0; i < n; i++) {
    size_t len = protobuf_c_message_get_packed_size(msgs[i]);
    uint8_t *buf = arena_alloc(&a, len ? len : 1);
    protobuf_c_message_pack(msgs[i], buf);
    params[i + 3] = (const char *)buf;
    lens[i + 3] = (int)len;
    fmts[i + 3] = 1;
    w += sprintf(w, "%s($1,$2,$3,$%zu)", i ? "," : "", i + 4);
  }
  /* Nothing in the transaction reads the rows back: they go with its next
   * statement or its COMMIT. */
  int rc = pg_exec_later(sql, (int)n + 3, params, lens, fmts);
  arena_free(&a);
  if (rc) {
    log_error("outbox: enqueue failed: %s", pg_code_name(rc));
    return rc == PG_UNAVAILABLE ? RPC_UNAVAILABLE : RPC_INTERNAL;
  }
  /* The dispatchers are woken once the transaction has committed. */
  if (atomic_load(&g_local)) {
    pg_after_commit(wake_one);
    return RPC_OK;
  }
  char ch[128];
  channel_name(ch, sizeof ch);
  return pg_notify_after_commit(ch, "");
}

int outbox_enqueue(const ProtobufCServiceDescriptor *service, const char *method_name, const char *org,
                   const ProtobufCMessage *msg) {
  return enqueue(service, method_name, org, &msg, 1);
}

int outbox_enqueue_many(const ProtobufCServiceDescriptor *service, const char *method_name, const char *org,
                        const ProtobufCMessage *const *msgs, size_t n) {
  return enqueue(service, method_name, org, msgs, n);
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

/* method_path: "/pkg.Service/Method", malloc'd (registrations live as long
 * as the process). */
static char *method_path(const ProtobufCServiceDescriptor *service, const char *method) {
  char *path = malloc(strlen(service->name) + strlen(method) + 3);
  if (path) sprintf(path, "/%s/%s", service->name, method);
  return path;
}

#define MAX_HOOKS 8
static struct {
  const char *method;
  outbox_reply_fn fn;
} g_hooks[MAX_HOOKS];
static int g_nhooks;

void outbox_on_reply(const ProtobufCServiceDescriptor *service, const char *method, outbox_reply_fn fn) {
  if (g_nhooks == MAX_HOOKS || !protobuf_c_service_descriptor_get_method_by_name(service, method)) {
    log_error("outbox: no room for a reply hook, or %s has no method %s", service->name, method);
    return;
  }
  char *path = method_path(service, method);
  if (!path) return;
  g_hooks[g_nhooks++] = (typeof(g_hooks[0])){path, fn};
}

static outbox_reply_fn hook_for(const char *method) {
  for (int i = 0; i < g_nhooks; i++)
    if (!strcmp(g_hooks[i].method, method)) return g_hooks[i].fn;
  return NULL;
}

/* ---------------------------------------------------------------- batches */

#define MAX_BATCHED 8
#define BATCH_OFF_MS 60000   /* after UNIMPLEMENTED, rows go one by one this long */
static struct {
  const char *method, *batch;                 /* paths */
  const ProtobufCMessageDescriptor *reply;    /* the batch method's */
  /* In each result, the field holding the method's own reply (NULL: none,
   * and a method with a reply hook then goes alone). */
  const ProtobufCFieldDescriptor *item_reply;
  _Atomic int64_t off_until_ms;               /* the receiver lacks the batch method */
} g_batched[MAX_BATCHED];
static int g_nbatched;

/* result_fields finds, in a batch reply, the repeated results (field 1) and
 * each one's code (1, int32) and message (2, string). 0, or -1 if absent. */
static int result_fields(const ProtobufCMessageDescriptor *reply, const ProtobufCFieldDescriptor **list,
                         const ProtobufCFieldDescriptor **code, const ProtobufCFieldDescriptor **msg) {
  *list = protobuf_c_message_descriptor_get_field(reply, 1);
  if (!*list || (*list)->label != PROTOBUF_C_LABEL_REPEATED || (*list)->type != PROTOBUF_C_TYPE_MESSAGE) return -1;
  *code = protobuf_c_message_descriptor_get_field((*list)->descriptor, 1);
  *msg = protobuf_c_message_descriptor_get_field((*list)->descriptor, 2);
  return *code && (*code)->type == PROTOBUF_C_TYPE_INT32 && *msg && (*msg)->type == PROTOBUF_C_TYPE_STRING ? 0 : -1;
}

int outbox_batch_as(const ProtobufCServiceDescriptor *service, const char *method, const char *batch_method) {
  const ProtobufCMethodDescriptor *md = protobuf_c_service_descriptor_get_method_by_name(service, method);
  const ProtobufCMethodDescriptor *bd = protobuf_c_service_descriptor_get_method_by_name(service, batch_method);
  const ProtobufCFieldDescriptor *items = bd ? protobuf_c_message_descriptor_get_field(bd->input, 1) : NULL, *l, *c,
                                 *m;
  if (!md || !items || g_nbatched == MAX_BATCHED || items->label != PROTOBUF_C_LABEL_REPEATED ||
      items->descriptor != md->input || result_fields(bd->output, &l, &c, &m) != 0) {
    log_error("outbox: %s.%s cannot carry batches of %s", service->name, batch_method, method);
    return -1;
  }
  g_batched[g_nbatched].method = method_path(service, method);
  g_batched[g_nbatched].batch = method_path(service, batch_method);
  g_batched[g_nbatched].reply = bd->output;
  g_batched[g_nbatched].item_reply = NULL;
  const ProtobufCMessageDescriptor *result = l->descriptor;
  for (unsigned f = 0; f < result->n_fields; f++) {
    const ProtobufCFieldDescriptor *fd = &result->fields[f];
    if (fd->type == PROTOBUF_C_TYPE_MESSAGE && fd->label != PROTOBUF_C_LABEL_REPEATED && fd->descriptor == md->output)
      g_batched[g_nbatched].item_reply = fd;
  }
  g_nbatched++;
  return 0;
}

static int batch_for(const char *method) {
  for (int i = 0; i < g_nbatched; i++)
    if (g_batched[i].method && !strcmp(g_batched[i].method, method)) return i;
  return -1;
}

static atomic_int g_max_attempts = 100;

void outbox_set_max_attempts(int n) {
  if (n > 0) atomic_store(&g_max_attempts, n);
}

static atomic_int g_batch_max = OUTBOX_BATCH;

void outbox_set_batch(int n) {
  if (n > 0) atomic_store(&g_batch_max, n);
}

/* What a delivered call hands to its reply hook. */
typedef struct outbox_reply {
  outbox_reply_fn hook;
  const char *org;
  const uint8_t *req, *reply;
  size_t req_len, reply_len;
} outbox_reply;

/* Who delivers: the service signing the calls, and where targets are. */
typedef struct outbox_sender {
  const char *service_name;
  outbox_resolve_fn resolve;
} outbox_sender;

/* row_payload: the claimed row's payload (column 5), in its arena. */
static uint8_t *row_payload(delivery_row *row, size_t *len) {
  *len = 0;
  unsigned char *raw = PQunescapeBytea((const unsigned char *)PQgetvalue(row->r, row->row, 5), len);
  uint8_t *payload = arena_alloc(row->a, *len ? *len : 1);
  if (raw && *len) memcpy(payload, raw, *len);
  PQfreemem(raw);
  return payload;
}

/* call makes one call of |method| on |target| as the service acting for
 * |org|: the status code, with |err| set when it is not RPC_OK. */
static int call(const outbox_sender *from, const char *target, const char *method, const char *org,
                const uint8_t *req, size_t len, arena *a, uint8_t **out, size_t *out_len, char *err, size_t cap) {
  const char *addr = from->resolve ? from->resolve(target) : NULL;
  if (!addr) {
    snprintf(err, cap, "UNAVAILABLE: no address for target %s", target);
    return RPC_UNAVAILABLE;
  }
  identity as;
  rpc_service_identity(&as, from->service_name, org);
  rpc_call_opts opts = {.as = &as, .timeout_ms = OUTBOX_CALL_TIMEOUT_MS, .max_attempts = 1};
  rpc_status st = {0};
  int code = rpc_call_raw(addr, method, req, len, &opts, a, out, out_len, &st);
  if (code != RPC_OK)
    snprintf(err, cap, "%s: %s (%s to %s)", rpc_code_name(code), st.message ? st.message : "", method, target);
  return code;
}

/* deliver calls the row's target (claimed columns: id, attempts, target,
 * method, org, payload), as the service acting for the row's org. */
static delivery_verdict deliver(void *arg, delivery_row *row, char *err, size_t cap) {
  const char *target = PQgetvalue(row->r, row->row, 2);
  const char *method = PQgetvalue(row->r, row->row, 3);
  const char *org = PQgetvalue(row->r, row->row, 4);
  size_t len;
  uint8_t *payload = row_payload(row, &len), *out = NULL;
  size_t out_len = 0;
  int code = call(arg, target, method, org, payload, len, row->a, &out, &out_len, err, cap);
  if (code != RPC_OK) return permanent(code) ? DELIVERY_DEAD : DELIVERY_RETRY;
  outbox_reply *rep = arena_alloc(row->a, sizeof *rep);
  *rep = (outbox_reply){hook_for(method), org, payload, out, len, out_len};
  row->data = rep;
  return DELIVERY_OK;
}

/* group_key: rows of a batched method travel together per target, method
 * and org (a method with a reply hook only if the batch's results carry
 * each row's reply). */
static const char *group_key(void *arg, delivery_row *row) {
  (void)arg;
  const char *method = PQgetvalue(row->r, row->row, 3);
  int b = batch_for(method);
  if (b < 0 || (hook_for(method) && !g_batched[b].item_reply) ||
      atomic_load(&g_batched[b].off_until_ms) > rpc_now_ms())
    return NULL;
  return arena_printf(row->a, "%s\n%s\n%s", PQgetvalue(row->r, row->row, 2), method,
                      PQgetvalue(row->r, row->row, 4));
}

/* A batch's rows: their payloads, kept for the reply hook. */
typedef struct batch_rows {
  delivery_row **rows;
  int n;
  uint8_t **p;
  size_t *lens;
} batch_rows;

/* batch_request: each row's payload as one field 1 of the batch request. */
static uint8_t *batch_request(batch_rows *br, size_t *len) {
  delivery_row **rows = br->rows;
  int n = br->n;
  size_t *lens = br->lens = ARENA_ARRAY(rows[0]->a, size_t, (size_t)n), cap = 1;
  uint8_t **p = br->p = ARENA_ARRAY(rows[0]->a, uint8_t *, (size_t)n);
  for (int i = 0; i < n; i++) {
    p[i] = row_payload(rows[i], &lens[i]);
    cap += lens[i] + 11;   /* the tag and at most ten bytes of length */
  }
  uint8_t *req = arena_alloc(rows[0]->a, cap), *w = req;
  for (int i = 0; i < n; i++) {
    *w++ = 0x0a;   /* field 1, length-delimited */
    for (size_t v = lens[i]; ; v >>= 7) {
      *w++ = (uint8_t)(v & 0x7f) | (v > 0x7f ? 0x80 : 0);
      if (v <= 0x7f) break;
    }
    memcpy(w, p[i], lens[i]);
    w += lens[i];
  }
  *len = (size_t)(w - req);
  return req;
}

/* item_reply: result |res|'s own reply (NULL when it has none). */
static const ProtobufCMessage *item_reply(int b, const ProtobufCMessage *res) {
  const ProtobufCFieldDescriptor *f = g_batched[b].item_reply;
  return f ? *(const ProtobufCMessage *const *)((const char *)res + f->offset) : NULL;
}

/* batch_results sets each row's outcome from a batch reply, and for each
 * delivered row of a method with a reply hook, what the hook sees: the
 * row's request and its own reply. -1 when the reply is not one result per
 * row, or lacks a delivered row's reply that a hook needs. */
static int batch_results(int b, const uint8_t *reply, size_t len, const batch_rows *br, delivery_outcome **out,
                         const char *target) {
  delivery_row **rows = br->rows;
  int n = br->n;
  const char *method = PQgetvalue(rows[0]->r, rows[0]->row, 3);
  outbox_reply_fn hook = hook_for(method);
  const ProtobufCFieldDescriptor *list, *fc, *fm;
  ProtobufCMessage *m = protobuf_c_message_unpack(g_batched[b].reply, NULL, len, reply);
  int fits = m && result_fields(g_batched[b].reply, &list, &fc, &fm) == 0 &&
             *(size_t *)((char *)m + list->quantifier_offset) == (size_t)n;
  ProtobufCMessage **res = fits ? *(ProtobufCMessage ***)((char *)m + list->offset) : NULL;
  for (int i = 0; fits && hook && i < n; i++)
    fits = *(int32_t *)((char *)res[i] + fc->offset) != RPC_OK || item_reply(b, res[i]);
  if (!fits) {
    if (m) protobuf_c_message_free_unpacked(m, NULL);
    return -1;
  }
  for (int i = 0; i < n; i++) {
    int code = *(int32_t *)((char *)res[i] + fc->offset);
    const char *why = *(char **)((char *)res[i] + fm->offset);
    out[i]->v = code == RPC_OK ? DELIVERY_OK : permanent(code) ? DELIVERY_DEAD : DELIVERY_RETRY;
    if (code != RPC_OK)
      snprintf(out[i]->err, sizeof out[i]->err, "%s: %s (%s to %s, in a batch of %d)", rpc_code_name(code),
               why ? why : "", g_batched[b].batch, target, n);
    rows[i]->data = NULL;
    if (code != RPC_OK || !hook) continue;
    /* The hook runs for the row as if it had gone alone. */
    const ProtobufCMessage *own = item_reply(b, res[i]);
    size_t own_len = protobuf_c_message_get_packed_size(own);
    uint8_t *buf = arena_alloc(rows[i]->a, own_len ? own_len : 1);
    protobuf_c_message_pack(own, buf);
    outbox_reply *rep = arena_alloc(rows[i]->a, sizeof *rep);
    *rep = (outbox_reply){hook, PQgetvalue(rows[i]->r, rows[i]->row, 4), br->p[i], buf, br->lens[i], own_len};
    rows[i]->data = rep;
  }
  protobuf_c_message_free_unpacked(m, NULL);
  return 0;
}

/* deliver_group sends rows of one batched method, target and org as one
 * call of the batch method; a receiver without it (UNIMPLEMENTED), a batch
 * refused whole with a permanent error, or a reply that does not fit, and
 * the rows go one call each. */
static void deliver_group(void *arg, delivery_row **rows, delivery_outcome **out, int n) {
  const char *target = PQgetvalue(rows[0]->r, rows[0]->row, 2);
  const char *method = PQgetvalue(rows[0]->r, rows[0]->row, 3);
  const char *org = PQgetvalue(rows[0]->r, rows[0]->row, 4);
  int b = batch_for(method);
  size_t len, reply_len = 0;
  batch_rows br = {rows, n, NULL, NULL};
  uint8_t *req = batch_request(&br, &len), *reply = NULL;
  char err[sizeof out[0]->err];
  int code = call(arg, target, g_batched[b].batch, org, req, len, rows[0]->a, &reply, &reply_len, err, sizeof err);
  if (code == RPC_OK && batch_results(b, reply, reply_len, &br, out, target) == 0) return;
  if (code != RPC_OK && code != RPC_UNIMPLEMENTED && !permanent(code)) {
    for (int i = 0; i < n; i++) {   /* transient: the whole batch again later */
      out[i]->v = DELIVERY_RETRY;
      snprintf(out[i]->err, sizeof out[i]->err, "%s", err);
    }
    return;
  }
  /* An older receiver: one call per row for a while, not two. */
  if (code == RPC_UNIMPLEMENTED) atomic_store(&g_batched[b].off_until_ms, rpc_now_ms() + BATCH_OFF_MS);
  log_msg(code == RPC_UNIMPLEMENTED ? LOG_INFO : LOG_WARN, "outbox: a batch of %d to %s went one by one: %s", n,
          target, code == RPC_OK ? "its reply did not fit" : err);
  for (int i = 0; i < n; i++) out[i]->v = deliver(arg, rows[i], out[i]->err, sizeof out[i]->err);
}

/* on_delivered runs the method's reply hook in the delivery's transaction. */
static int on_delivered(void *arg, delivery_row *row) {
  (void)arg;
  const outbox_reply *rep = row->data;
  return rep && rep->hook ? rep->hook(rep->org, rep->req, rep->req_len, rep->reply, rep->reply_len) : 0;
}

/* ---- admission -------------------------------------------------------
 *
 * How far the dispatchers are behind: how long the oldest row that no
 * dispatcher has claimed yet has been due, asked of Postgres every
 * ADMIT_PROBE_MS by a thread of its own (an index probe; the dispatchers
 * themselves may all be in calls). Rows waiting in a backoff after a failed
 * call are not due, so a receiver that is down does not count as a lag; a
 * slow one does. A lag not measured for ADMIT_STALE_MS (Postgres slow or
 * away) holds nothing back. */
#define ADMIT_PROBE_MS 50
#define ADMIT_STALE_MS 1000
#define ADMIT_STEP_US 2000
static _Atomic int64_t g_lag_ms, g_lag_seen_ms;
static atomic_int g_admit_lag_ms = 250, g_admit_wait_ms = 1000, g_admit_waiters = 8, g_waiting;
static pthread_t g_probe;
static atomic_int g_probing;

static void *probe(void *arg) {
  (void)arg;
  while (!atomic_load(&g_stop)) {
    PGresult *r = NULL;
    if (pg_query(&r,
                 "SELECT coalesce(floor(extract(epoch FROM now() - min(next_attempt_at)) * 1000)::bigint, 0) "
                 "FROM (SELECT next_attempt_at " OUTBOX_WAITING "LIMIT 1) oldest",
                 0, NULL) == RPC_OK) {
      atomic_store(&g_lag_ms, (int64_t)pg_int(r, 0, 0));
      atomic_store(&g_lag_seen_ms, rpc_now_ms());
      PQclear(r);
    }
    pg_release();
    usleep(ADMIT_PROBE_MS * 1000);
  }
  pg_disconnect();
  return NULL;
}

void outbox_set_admission(int lag_ms, int wait_ms, int waiters) {
  atomic_store(&g_admit_lag_ms, lag_ms > 0 ? lag_ms : 0);
  atomic_store(&g_admit_wait_ms, wait_ms > 0 ? wait_ms : 0);
  atomic_store(&g_admit_waiters, waiters > 0 ? waiters : 1);
}

/* behind: the last measure found a row due longer than |lag_ms|, and it is
 * recent. */
static int behind(int lag_ms, int64_t now) {
  return now - atomic_load(&g_lag_seen_ms) < ADMIT_STALE_MS && atomic_load(&g_lag_ms) > lag_ms;
}

int64_t outbox_admit(int64_t remaining_ms) {
  int lag = atomic_load(&g_admit_lag_ms), wait = atomic_load(&g_admit_wait_ms);
  if (lag <= 0 || wait <= 0 || !atomic_load(&g_probing)) return 0;
  int64_t start = rpc_now_ms(), now = start;
  if (!behind(lag, now)) return 0;
  /* The waiting calls hold worker threads: past the most that may wait, a
   * call goes on at once (counted), and the other workers stay free. */
  if (atomic_fetch_add(&g_waiting, 1) >= atomic_load(&g_admit_waiters)) {
    atomic_fetch_sub(&g_waiting, 1);
    metrics_count("accolade_outbox_admission_full_total", "", 1);
    return 0;
  }
  /* Never past the caller's deadline (a tenth of what is left stays for
   * the work) nor past the longest wait. */
  int64_t until = start + wait;
  if (remaining_ms != INT64_MAX && start + remaining_ms * 9 / 10 < until) until = start + remaining_ms * 9 / 10;
  while (now < until && behind(lag, now)) {
    usleep(ADMIT_STEP_US);
    now = rpc_now_ms();
  }
  atomic_fetch_sub(&g_waiting, 1);
  metrics_count("accolade_outbox_admission_waits_total", "", 1);
  metrics_count("accolade_outbox_admission_wait_ms_total", "", (long long)(now - start));
  return now - start;
}

int outbox_dispatch_once(const char *service_name, outbox_resolve_fn resolve) {
  outbox_sender from = {service_name, resolve};
  delivery_engine e = {
      .name = "outbox",
      /* The lease is leased_until, in no index (migration 003): leasing
       * does not move the row in outbox_due. */
      .claim_sql = "WITH claimed AS (SELECT id, next_attempt_at " OUTBOX_WAITING "LIMIT " PG_SQL_INT(OUTBOX_BATCH) " FOR UPDATE SKIP LOCKED), "
                   "due AS (SELECT id, row_number() OVER (ORDER BY next_attempt_at, id) AS place FROM claimed), "
                   "leased AS (UPDATE outbox o SET leased_until = now() + $1::interval * ((due.place - 1) / $2::int + 1) FROM due "
                   "  WHERE o.id = due.id "
                   "  RETURNING o.id, o.attempts, o.target, o.method, o.org, o.payload, due.place) "
                   "SELECT * FROM leased ORDER BY place",
      .delivered_sql = "UPDATE outbox SET delivered_at = now(), attempts = attempts + 1, last_error = NULL, "
                       "leased_until = NULL WHERE id = $1 AND delivered_at IS NULL",
      .failed_sql = "UPDATE outbox SET attempts = attempts + 1, last_error = $2, leased_until = NULL, "
                    "next_attempt_at = now() + $3::interval, dead_at = CASE WHEN $4::bool THEN now() END "
                    "WHERE id = $1 AND delivered_at IS NULL",
      .delivered_many_sql = "UPDATE outbox SET delivered_at = now(), attempts = attempts + 1, last_error = NULL, "
                            "leased_until = NULL WHERE id = ANY ($1::bigint[]) AND delivered_at IS NULL",
      .parallel = OUTBOX_PARALLEL,
      .lease_ms = OUTBOX_CALL_TIMEOUT_MS + 1000,   /* per wave: one call's longest time */
      .max_attempts = atomic_load(&g_max_attempts),
      .retry_base_ms = 100,
      .retry_max_ms = 30000,
      .deliver = deliver,
      .on_delivered = on_delivered,
      .group_key = group_key,
      .deliver_group = deliver_group,
      .group_max = atomic_load(&g_batch_max),
      .arg = &from,
  };
  return delivery_round(&e);
}

/* listener: the LISTEN connection of the process, for rows written by
 * processes without dispatchers; each notification wakes a dispatcher. */
static void *listener(void *arg) {
  (void)arg;
  PGconn *l = NULL;
  while (!atomic_load(&g_stop)) {
    if (l && PQstatus(l) != CONNECTION_OK) {
      PQfinish(l);
      l = NULL;
    }
    if (!l && (l = pg_connect_new())) {
      char ch[128], sql[200];
      channel_name(ch, sizeof ch);
      snprintf(sql, sizeof sql, "LISTEN %s", ch);
      PQclear(PQexec(l, sql));
    }
    if (!l) {
      usleep(250 * 1000);
      continue;
    }
    struct pollfd pfd = {PQsocket(l), POLLIN, 0};
    if (poll(&pfd, 1, 250) <= 0) continue;
    PQconsumeInput(l);
    int woke = 0;
    PGnotify *n;
    while ((n = PQnotifies(l))) {
      PQfreemem(n);
      woke = 1;
    }
    if (woke) wake_one();
  }
  if (l) PQfinish(l);
  return NULL;
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
  int rounds = 0;
  while (!atomic_load(&g_stop)) {
    if (rounds++ % 1000 == 0) purge();
    unsigned long seen = wake_seen();
    int n = outbox_dispatch_once(g_service, g_resolve);
    pg_release();   /* not held while it sleeps */
    if (n == OUTBOX_BATCH) continue;
    /* Sleep until woken, or poll now and then for retries coming due. */
    wait_wake(seen, n < 0 ? 1000 : 250);
  }
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
  atomic_store(&g_local, 1);
  g_listening = pthread_create(&g_listener, NULL, listener, NULL) == 0;
  if (atomic_load(&g_admit_lag_ms) > 0 && atomic_load(&g_admit_wait_ms) > 0)
    atomic_store(&g_probing, pthread_create(&g_probe, NULL, probe, NULL) == 0);
  return 0;
}

void outbox_stop(void) {
  atomic_store(&g_local, 0);
  atomic_store(&g_stop, 1);
  pthread_mutex_lock(&g_wake_mu);
  pthread_cond_broadcast(&g_wake_cv);
  pthread_mutex_unlock(&g_wake_mu);
  for (int i = 0; i < g_nthreads; i++) pthread_join(g_threads[i], NULL);
  g_nthreads = 0;
  if (g_listening) pthread_join(g_listener, NULL);
  g_listening = 0;
  if (atomic_exchange(&g_probing, 0)) pthread_join(g_probe, NULL);
}
