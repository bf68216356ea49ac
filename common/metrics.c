/* metrics.c - counters and histograms in fixed tables, served as text. */
#include "metrics.h"

#include <microhttpd.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "rpc.h"

#define MAX_METHODS 256
#define MAX_COUNTERS 256
#define MAX_COLLECTORS 8
#define NBUCKETS 12

static const double bucket_s[NBUCKETS] = {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025,
                                          0.05,   0.1,   0.25,   0.5,   1.0,  5.0};

typedef struct method_stats {
  char name[128];
  atomic_llong by_code[17];
  atomic_llong buckets[NBUCKETS];   /* non-cumulative; summed when rendered */
  atomic_llong count;
  atomic_llong sum_us;
} method_stats;

typedef struct counter {
  char name[96];
  char labels[160];
  atomic_llong value;
} counter;

static method_stats g_methods[MAX_METHODS];
static method_stats g_unknown = {.name = "unknown"};
static atomic_int g_nmethods;
static counter g_counters[MAX_COUNTERS];
static atomic_int g_ncounters;
static metrics_collect_fn g_collectors[MAX_COLLECTORS];
static int g_ncollectors;
static pthread_mutex_t g_mu = PTHREAD_MUTEX_INITIALIZER;
static struct MHD_Daemon *g_daemon;

/* find_method returns the slot of |name|, or NULL when it is not a
 * registered method. Slots are added only by metrics_register_method, never
 * removed, so a lock-free scan of the published ones is safe. */
static method_stats *find_method(const char *name) {
  int n = atomic_load(&g_nmethods);
  for (int i = 0; i < n; i++)
    if (strcmp(g_methods[i].name, name) == 0) return &g_methods[i];
  return NULL;
}

void metrics_register_method(const char *method) {
  if (!method || !*method) return;
  pthread_mutex_lock(&g_mu);
  int n = atomic_load(&g_nmethods);
  int found = 0;
  for (int i = 0; i < n && !found; i++) found = strcmp(g_methods[i].name, method) == 0;
  if (!found && n < MAX_METHODS && strlen(method) < sizeof g_methods[0].name) {
    snprintf(g_methods[n].name, sizeof g_methods[n].name, "%s", method);
    atomic_store(&g_nmethods, n + 1);
  }
  pthread_mutex_unlock(&g_mu);
}

void metrics_observe_rpc(const char *method, int code, int64_t latency_us) {
  /* A method name comes from the caller: only registered names make a
   * series of their own, everything else counts as one "unknown" series. */
  method_stats *m = method ? find_method(method) : NULL;
  if (!m) m = &g_unknown;
  if (code < 0 || code > 16) code = RPC_UNKNOWN;
  atomic_fetch_add(&m->by_code[code], 1);
  atomic_fetch_add(&m->count, 1);
  atomic_fetch_add(&m->sum_us, latency_us);
  double s = (double)latency_us / 1e6;
  for (int b = 0; b < NBUCKETS; b++)
    if (s <= bucket_s[b]) {
      atomic_fetch_add(&m->buckets[b], 1);
      break;
    }
}

void metrics_count(const char *name, const char *labels, int64_t n) {
  if (!labels) labels = "";
  int k = atomic_load(&g_ncounters);
  for (int i = 0; i < k; i++)
    if (strcmp(g_counters[i].name, name) == 0 && strcmp(g_counters[i].labels, labels) == 0) {
      atomic_fetch_add(&g_counters[i].value, n);
      return;
    }
  pthread_mutex_lock(&g_mu);
  k = atomic_load(&g_ncounters);
  counter *c = NULL;
  for (int i = 0; i < k && !c; i++)
    if (strcmp(g_counters[i].name, name) == 0 && strcmp(g_counters[i].labels, labels) == 0)
      c = &g_counters[i];
  if (!c && k < MAX_COUNTERS) {
    c = &g_counters[k];
    snprintf(c->name, sizeof c->name, "%s", name);
    snprintf(c->labels, sizeof c->labels, "%s", labels);
    atomic_store(&g_ncounters, k + 1);
  }
  pthread_mutex_unlock(&g_mu);
  if (c) atomic_fetch_add(&c->value, n);
}

void metrics_add_collector(metrics_collect_fn fn) {
  pthread_mutex_lock(&g_mu);
  if (g_ncollectors < MAX_COLLECTORS) g_collectors[g_ncollectors++] = fn;
  pthread_mutex_unlock(&g_mu);
}

__attribute__((format(printf, 4, 5))) static void put(char *buf, size_t cap, size_t *len, const char *fmt, ...) {
  if (*len >= cap) return;
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(buf + *len, cap - *len, fmt, ap);
  va_end(ap);
  if (n > 0) *len += (size_t)n < cap - *len ? (size_t)n : cap - *len - 1;
}

/* label_escape writes |in| as a Prometheus label value: backslash, double
 * quote and newline escaped as the text format requires. */
static void label_escape(char *out, size_t cap, const char *in) {
  size_t o = 0;
  for (; *in && o + 3 < cap; in++) {
    if (*in == '\\' || *in == '"') {
      out[o++] = '\\';
      out[o++] = *in;
    } else if (*in == '\n') {
      out[o++] = '\\';
      out[o++] = 'n';
    } else {
      out[o++] = *in;
    }
  }
  out[o] = '\0';
}

size_t metrics_render(char *buf, size_t cap) {
  size_t len = 0;
  buf[0] = '\0';
  int n = atomic_load(&g_nmethods);
  const method_stats *all[MAX_METHODS + 1];
  for (int i = 0; i < n; i++) all[i] = &g_methods[i];
  all[n++] = &g_unknown;
  char name[sizeof g_methods[0].name * 2];
  put(buf, cap, &len, "# HELP accolade_rpc_requests_total gRPC calls handled, by method and status code.\n"
                      "# TYPE accolade_rpc_requests_total counter\n");
  for (int i = 0; i < n; i++) {
    label_escape(name, sizeof name, all[i]->name);
    for (int c = 0; c <= 16; c++) {
      long long v = atomic_load(&all[i]->by_code[c]);
      if (v)
        put(buf, cap, &len, "accolade_rpc_requests_total{method=\"%s\",code=\"%s\"} %lld\n", name,
            rpc_code_name(c), v);
    }
  }
  put(buf, cap, &len, "# HELP accolade_rpc_latency_seconds Time from a call's arrival to its status.\n"
                      "# TYPE accolade_rpc_latency_seconds histogram\n");
  for (int i = 0; i < n; i++) {
    long long count = atomic_load(&all[i]->count);
    if (!count) continue;
    label_escape(name, sizeof name, all[i]->name);
    long long cum = 0;
    for (int b = 0; b < NBUCKETS; b++) {
      cum += atomic_load(&all[i]->buckets[b]);
      put(buf, cap, &len, "accolade_rpc_latency_seconds_bucket{method=\"%s\",le=\"%g\"} %lld\n", name,
          bucket_s[b], cum);
    }
    put(buf, cap, &len, "accolade_rpc_latency_seconds_bucket{method=\"%s\",le=\"+Inf\"} %lld\n", name, count);
    put(buf, cap, &len, "accolade_rpc_latency_seconds_sum{method=\"%s\"} %.6f\n", name,
        (double)atomic_load(&all[i]->sum_us) / 1e6);
    put(buf, cap, &len, "accolade_rpc_latency_seconds_count{method=\"%s\"} %lld\n", name, count);
  }
  int k = atomic_load(&g_ncounters);
  const char *last = "";
  for (int i = 0; i < k; i++) {
    if (strcmp(last, g_counters[i].name) != 0)
      put(buf, cap, &len, "# TYPE %s counter\n", g_counters[i].name);
    last = g_counters[i].name;
    put(buf, cap, &len, "%s{%s} %lld\n", g_counters[i].name, g_counters[i].labels,
        (long long)atomic_load(&g_counters[i].value));
  }
  pthread_mutex_lock(&g_mu);
  int nc = g_ncollectors;
  pthread_mutex_unlock(&g_mu);
  for (int i = 0; i < nc; i++) g_collectors[i](buf, cap, &len);
  return len;
}

static enum MHD_Result serve(void *cls, struct MHD_Connection *conn, const char *url,
                             const char *method, const char *version, const char *upload,
                             size_t *upload_len, void **state) {
  (void)cls; (void)version; (void)upload; (void)upload_len; (void)state;
  int ok = strcmp(method, "GET") == 0 && strcmp(url, "/metrics") == 0;
  size_t cap = 1 << 20;
  char *body = malloc(cap);
  size_t len;
  if (!body) return MHD_NO;
  if (ok) {
    len = metrics_render(body, cap);
  } else {
    len = (size_t)snprintf(body, cap, "not found: GET /metrics\n");
  }
  struct MHD_Response *r = MHD_create_response_from_buffer(len, body, MHD_RESPMEM_MUST_FREE);
  MHD_add_response_header(r, "Content-Type", "text/plain; version=0.0.4");
  enum MHD_Result rc = MHD_queue_response(conn, ok ? MHD_HTTP_OK : MHD_HTTP_NOT_FOUND, r);
  MHD_destroy_response(r);
  return rc;
}

int metrics_start(int port) {
  if (port <= 0) return 0;
  g_daemon = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_ERROR_LOG, (uint16_t)port,
                              NULL, NULL, serve, NULL, MHD_OPTION_CONNECTION_TIMEOUT, 10u,
                              MHD_OPTION_END);
  if (!g_daemon) {
    log_error("metrics: cannot listen on port %d", port);
    return -1;
  }
  log_info("metrics on http://0.0.0.0:%d/metrics", port);
  return 0;
}

void metrics_stop(void) {
  if (g_daemon) MHD_stop_daemon(g_daemon);
  g_daemon = NULL;
}
