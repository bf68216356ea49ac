/* health.c - dependency probes and the grpc.health.v1.Health service. */
#include "health.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "grpc/health/v1/health.pb-c.h"
#include "log.h"
#include "metrics.h"
#include "pg.h"
#include "redis.h"

#define HEALTH_MAX_DEPS 8

typedef struct dep {
  const char *name;
  health_probe_fn probe;
  void *arg;
  int ok;
} dep;

static dep g_deps[HEALTH_MAX_DEPS];
static int g_ndeps;
static atomic_int g_status = HEALTH_SERVING;
static atomic_int g_shutting_down;
static atomic_ullong g_version = 1;
static pthread_t g_thread;
static int g_running;
static int g_interval_ms = 1000;
static pthread_mutex_t g_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t g_cv = PTHREAD_COND_INITIALIZER;
static int g_stop;

void health_add_dependency(const char *name, health_probe_fn probe, void *arg) {
  if (g_ndeps == HEALTH_MAX_DEPS) return;
  g_deps[g_ndeps++] = (dep){name, probe, arg, 1};
}

static void set_status(health_status st) {
  if (atomic_exchange(&g_status, st) != (int)st) {
    atomic_fetch_add(&g_version, 1);
    rpc_streams_kick();   /* Watch streams wait for this */
    log_info("health: %s", st == HEALTH_SERVING ? "SERVING" : "NOT_SERVING");
  }
}

static void probe_all(void) {
  int all = 1;
  for (int i = 0; i < g_ndeps; i++) {
    int ok = g_deps[i].probe(g_deps[i].arg) == 0;
    if (ok != g_deps[i].ok) log_warn("dependency %s is %s", g_deps[i].name, ok ? "back" : "unreachable");
    if (!ok) {
      char labels[96];
      snprintf(labels, sizeof labels, "dependency=\"%s\"", g_deps[i].name);
      metrics_count("accolade_dependency_errors_total", labels, 1);
    }
    g_deps[i].ok = ok;
    all &= ok;
  }
  set_status(all && !atomic_load(&g_shutting_down) ? HEALTH_SERVING : HEALTH_NOT_SERVING);
}

static void *monitor(void *arg) {
  (void)arg;
  pthread_mutex_lock(&g_mu);
  while (!g_stop) {
    pthread_mutex_unlock(&g_mu);
    probe_all();
    pg_release();   /* not held between probes */
    pthread_mutex_lock(&g_mu);
    struct timespec ts = rpc_deadline_after(g_interval_ms);
    if (!g_stop) rpc_cond_wait(&g_cv, &g_mu, &ts);
  }
  pthread_mutex_unlock(&g_mu);
  /* The probes used this thread's own connections. */
  pg_disconnect();
  redis_disconnect();
  return NULL;
}

static void collect(char *buf, size_t cap, size_t *len) {
  size_t n = *len;
  int w = snprintf(buf + n, cap - n, "# TYPE accolade_dependency_up gauge\n");
  if (w > 0 && (size_t)w < cap - n) n += (size_t)w;
  for (int i = 0; i < g_ndeps; i++) {
    w = snprintf(buf + n, cap - n, "accolade_dependency_up{dependency=\"%s\"} %d\n", g_deps[i].name,
                 g_deps[i].ok);
    if (w > 0 && (size_t)w < cap - n) n += (size_t)w;
  }
  w = snprintf(buf + n, cap - n, "# TYPE accolade_serving gauge\naccolade_serving %d\n",
               health_get() == HEALTH_SERVING);
  if (w > 0 && (size_t)w < cap - n) n += (size_t)w;
  *len = n;
}

/* The name Check and Watch answer to besides "" (health_start). */
static char g_service[64] = "accolade";

void health_start(const char *service, int interval_ms) {
  if (service) snprintf(g_service, sizeof g_service, "%s", service);
  metrics_add_collector(collect);
  if (interval_ms > 0) g_interval_ms = interval_ms;
  probe_all();
  if (g_ndeps > 0 && pthread_create(&g_thread, NULL, monitor, NULL) == 0) g_running = 1;
}

void health_stop(void) {
  if (!g_running) return;
  pthread_mutex_lock(&g_mu);
  g_stop = 1;
  pthread_cond_broadcast(&g_cv);
  pthread_mutex_unlock(&g_mu);
  pthread_join(g_thread, NULL);
  g_running = 0;
}

health_status health_get(void) { return (health_status)atomic_load(&g_status); }
uint64_t health_version(void) { return atomic_load(&g_version); }

void health_set_shutting_down(void) {
  atomic_store(&g_shutting_down, 1);
  set_status(HEALTH_NOT_SERVING);
}

/* The service name must be "" (the whole process) or the process's own name. */
static int known_service(const char *name) {
  return name[0] == '\0' || strcmp(name, g_service) == 0;
}

static int health_check(rpc_ctx *ctx, const void *req, void *resp) {
  const Grpc__Health__V1__HealthCheckRequest *r = req;
  Grpc__Health__V1__HealthCheckResponse *out = resp;
  if (!known_service(r->service))
    return rpc_fail(ctx, RPC_NOT_FOUND, "service: unknown service '%s'", r->service);
  out->status = health_get() == HEALTH_SERVING
                    ? GRPC__HEALTH__V1__HEALTH_CHECK_RESPONSE__SERVING_STATUS__SERVING
                    : GRPC__HEALTH__V1__HEALTH_CHECK_RESPONSE__SERVING_STATUS__NOT_SERVING;
  return RPC_OK;
}

/* A Watch stream's state across its steps. */
typedef struct watch_state {
  uint64_t seen;   /* the health version last sent; 0 before the first */
} watch_state;

static int health_moved(void *arg) { return health_version() != ((watch_state *)arg)->seen; }

/* health_watch, a step: the status now, then again whenever it changes. An
 * unknown service gets SERVICE_UNKNOWN once and the stream stays open. */
static int health_watch(rpc_ctx *ctx, const void *req, rpc_stream *s) {
  (void)ctx;
  const Grpc__Health__V1__HealthCheckRequest *r = req;
  watch_state *w = rpc_stream_state(s, sizeof *w);
  Grpc__Health__V1__HealthCheckResponse out = GRPC__HEALTH__V1__HEALTH_CHECK_RESPONSE__INIT;
  if (rpc_stream_closed(s)) return RPC_OK;
  if (!known_service(r->service)) {
    if (!w->seen) {
      out.status = GRPC__HEALTH__V1__HEALTH_CHECK_RESPONSE__SERVING_STATUS__SERVICE_UNKNOWN;
      if (rpc_stream_send(s, &out) != 0) return RPC_OK;
      w->seen = 1;
    }
    rpc_stream_sleep(s, -1, NULL, NULL);
    return RPC_STREAM_AGAIN;
  }
  uint64_t v = health_version();
  if (v != w->seen) {
    w->seen = v;
    out.status = health_get() == HEALTH_SERVING
                     ? GRPC__HEALTH__V1__HEALTH_CHECK_RESPONSE__SERVING_STATUS__SERVING
                     : GRPC__HEALTH__V1__HEALTH_CHECK_RESPONSE__SERVING_STATUS__NOT_SERVING;
    if (rpc_stream_send(s, &out) != 0) return RPC_OK;
  }
  rpc_stream_sleep(s, -1, health_moved, w);
  return RPC_STREAM_AGAIN;
}

const rpc_method health_methods[2] = {
    {"/grpc.health.v1.Health/Check", &grpc__health__v1__health_check_request__descriptor,
     &grpc__health__v1__health_check_response__descriptor, health_check, NULL, 1, 0, 0},
    RPC_STREAM("/grpc.health.v1.Health/Watch", grpc__health__v1__health_check_request,
               grpc__health__v1__health_check_response, health_watch),
};
