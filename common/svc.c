/* svc.c - the start-up and shutdown of a service process. */
#include "svc.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "health.h"
#include "log.h"
#include "metrics.h"
#include "migrate.h"
#include "outbox.h"
#include "pg.h"
#include "redis.h"
#include "rpc_client.h"
#include "tls.h"

/* The fewest worker threads (and pooled connections for them) of a service
 * with a Postgres schema when --threads is not given: 2 x cores + 2 is below
 * it on small machines. */
#define SVC_PG_MIN_WORKERS 16

static char g_name[64] = "accolade";

const char *svc_name(void) { return g_name; }

static const struct {
  const char *name;
  int port;
} known[] = {{"gateway", 50050}, {"nomination", 50051}, {"award", 50052},
             {"leaderboard", 50053}, {"notify", 50054}};

const char *svc_addr(const char *name) {
  static _Thread_local char buf[256];
  char env[96] = "ACCOLADE_";
  size_t k = strlen(env);
  for (const char *p = name; *p && k + 6 < sizeof env; p++) env[k++] = (char)toupper((unsigned char)*p);
  env[k] = '\0';
  strcat(env, "_ADDR");
  const char *v = getenv(env);
  if (v && *v) {
    /* Several comma-separated IPv4 addresses become one gRPC target
     * ("ipv4:a:1,b:2") balanced round-robin by the channel (rpc_client.c). */
    if (strchr(v, ',') && !strchr(v, '/') && strspn(v, "0123456789.:,") == strlen(v))
      snprintf(buf, sizeof buf, "ipv4:%s", v);
    else
      snprintf(buf, sizeof buf, "%s", v);
    return buf;
  }
  for (size_t i = 0; i < sizeof known / sizeof known[0]; i++) {
    if (strcmp(known[i].name, name) == 0) {
      snprintf(buf, sizeof buf, "127.0.0.1:%d", known[i].port);
      return buf;
    }
  }
  return NULL;
}

static void env_name(char *out, size_t n, const svc_def *def, const char *suffix) {
  snprintf(out, n, "ACCOLADE_%s_%s", def->env, suffix);
}

int svc_main(int argc, char **argv, const svc_def *def) {
  rpc_signals_block();
  snprintf(g_name, sizeof g_name, "%s", def->name);
  config cfg;
  char err[512];
  if (config_parse(&cfg, argc, argv, err, sizeof err) != 0) {
    fprintf(stderr, "%s: %s\n", def->name, err);
    return 2;
  }
  log_init(def->name, config_str(&cfg, "log-level", "ACCOLADE_LOG_LEVEL", "info"));

  char env[128], deflisten[64];
  long threads, pollers, interval, grace, max_msg, outbox_threads, max_streams, first_msg, conn_streams,
      keepalive, idle, max_attempts, pool, stream_workers, log_buffer;
  if (config_int(&cfg, "threads", "ACCOLADE_THREADS", 0, 0, 1024, &threads, err, sizeof err) ||
      config_int(&cfg, "pollers", "ACCOLADE_POLLERS", 0, 0, 64, &pollers, err, sizeof err) ||
      config_int(&cfg, "health-interval-ms", "ACCOLADE_HEALTH_INTERVAL_MS", 1000, 50, 60000,
                 &interval, err, sizeof err) ||
      config_int(&cfg, "shutdown-grace-ms", "ACCOLADE_SHUTDOWN_GRACE_MS", 10000, 0, 600000,
                 &grace, err, sizeof err) ||
      config_int(&cfg, "max-message-bytes", "ACCOLADE_MAX_MESSAGE_BYTES", 4 << 20, 1024,
                 64 << 20, &max_msg, err, sizeof err) ||
      config_int(&cfg, "outbox-threads", "ACCOLADE_OUTBOX_THREADS", 4, 1, 64, &outbox_threads, err, sizeof err) ||
      config_int(&cfg, "max-streams", "ACCOLADE_MAX_STREAMS", 1000, 1, 1000000, &max_streams, err, sizeof err) ||
      config_int(&cfg, "first-message-ms", "ACCOLADE_FIRST_MESSAGE_MS", 10000, 10, 3600000, &first_msg, err,
                 sizeof err) ||
      config_int(&cfg, "max-connection-streams", "ACCOLADE_MAX_CONNECTION_STREAMS", 4096, 1, 1000000,
                 &conn_streams, err, sizeof err) ||
      config_int(&cfg, "keepalive-ms", "ACCOLADE_KEEPALIVE_MS", 60000, 1000, 86400000, &keepalive, err,
                 sizeof err) ||
      config_int(&cfg, "idle-ms", "ACCOLADE_IDLE_MS", 600000, 1000, 86400000, &idle, err, sizeof err) ||
      config_int(&cfg, "outbox-max-attempts", "ACCOLADE_OUTBOX_MAX_ATTEMPTS", 100, 1, 1000000, &max_attempts, err,
                 sizeof err) ||
      config_int(&cfg, "pg-pool", "ACCOLADE_PG_POOL", 0, 0, 10000, &pool, err, sizeof err) ||
      config_int(&cfg, "stream-workers", "ACCOLADE_STREAM_WORKERS", 2, 1, 64, &stream_workers, err, sizeof err) ||
      config_int(&cfg, "access-log-buffer", "ACCOLADE_ACCESS_LOG_BUFFER", 65536, 0, 64 << 20, &log_buffer, err,
                 sizeof err)) {
    log_error("%s", err);
    return 2;
  }
  const char *key = config_str(&cfg, "internal-key", "ACCOLADE_INTERNAL_KEY", NULL);
  if (!key) {
    log_warn("ACCOLADE_INTERNAL_KEY is not set: using the development key (never in production)");
    key = "accolade-dev-internal-key";
  }
  identity_set_key(key);
  log_set_buffer((size_t)log_buffer);
  if (tls_client_setup(config_str(&cfg, "upstream-tls-ca", "ACCOLADE_UPSTREAM_TLS_CA", NULL),
                       config_str(&cfg, "upstream-tls-cert", "ACCOLADE_UPSTREAM_TLS_CERT", NULL),
                       config_str(&cfg, "upstream-tls-key", "ACCOLADE_UPSTREAM_TLS_KEY", NULL),
                       config_str(&cfg, "upstream-tls-name", "ACCOLADE_UPSTREAM_TLS_NAME", NULL), err,
                       sizeof err) != 0) {
    log_error("%s", err);
    return 2;
  }

  rpc_runtime_init();
  int rc = 1;
  void *app = NULL;
  rpc_server *srv = NULL;
  int outbox_running = 0;

  if (def->schema) {
    env_name(env, sizeof env, def, "PG");
    const char *dsn = config_str(&cfg, "pg", env, NULL);
    if (!dsn) dsn = config_str(&cfg, NULL, "ACCOLADE_PG", "dbname=accolade host=127.0.0.1");
    pg_setup(dsn, def->schema);
    /* Enough for every thread that may query at once: the workers, the
     * stream workers, the outbox's dispatchers and a few background loops. */
    if (pool == 0) {
      long cores = sysconf(_SC_NPROCESSORS_ONLN);
      long workers = threads ? threads : (cores > 0 ? cores : 1) * 2 + 2;
      if (!threads && workers < SVC_PG_MIN_WORKERS) workers = SVC_PG_MIN_WORKERS;
      pool = workers + stream_workers + outbox_threads + 6;
    }
    pg_pool_setup((int)pool);
    rpc_set_after_call(pg_release);
    env_name(env, sizeof env, def, "MIGRATIONS");
    const char *dir = config_str(&cfg, "migrations", env, def->migrations);
    /* Postgres may still be starting: try for a while before giving up. */
    int tries = 0;
    while (!pg_conn() && tries++ < 30) {
      if (tries == 1) log_warn("waiting for postgres...");
      sleep(1);
    }
    if (migrate_run(dir) != 0) goto out;
    pg_release();   /* the main thread only waits for a signal from here on */
    health_add_dependency("postgres", pg_probe, NULL);
  }
  if (def->redis) {
    redis_setup_addr(config_str(&cfg, "redis", "ACCOLADE_REDIS", "127.0.0.1:6379"),
                     config_str(&cfg, "redis-password", "ACCOLADE_REDIS_PASSWORD", NULL));
    health_add_dependency("redis", redis_probe, NULL);
  }
  if (def->init && def->init(&cfg, &app) != 0) {
    log_error("%s: initialisation failed", def->name);
    goto out;
  }
  snprintf(deflisten, sizeof deflisten, "0.0.0.0:%d", def->port);
  env_name(env, sizeof env, def, "LISTEN");
  if (threads == 0 && def->threads_per_core > 0) {
    long cores = sysconf(_SC_NPROCESSORS_ONLN);
    threads = (cores > 0 ? cores : 1) * def->threads_per_core;
    if (threads > 256) threads = 256;
  } else if (threads == 0 && def->schema) {
    /* A handler of a Postgres-backed service spends most of its time waiting
     * for its commit to be flushed: with more of them waiting at once, one
     * flush commits them all (Postgres' group commit). */
    long cores = sysconf(_SC_NPROCESSORS_ONLN);
    threads = (cores > 0 ? cores : 1) * 2 + 2;
    if (threads < SVC_PG_MIN_WORKERS) threads = SVC_PG_MIN_WORKERS;
  }
  rpc_server_config sc = {
      .name = def->name,
      .listen = config_str(&cfg, "listen", env, deflisten),
      .threads = (int)threads,
      .pollers = (int)pollers,
      .shutdown_grace_ms = (int)grace,
      .max_message_bytes = (int)max_msg,
      .max_streams = (int)max_streams,
      .stream_workers = (int)stream_workers,
      .first_message_ms = (int)first_msg,
      .max_connection_streams = (int)conn_streams,
      .keepalive_ms = (int)keepalive,
      .idle_ms = (int)idle,
      .app = app,
      .raw = def->raw,
      .tls_cert = config_str(&cfg, "tls-cert", "ACCOLADE_TLS_CERT", NULL),
      .tls_key = config_str(&cfg, "tls-key", "ACCOLADE_TLS_KEY", NULL),
      .tls_client_ca = config_str(&cfg, "tls-client-ca", "ACCOLADE_TLS_CLIENT_CA", NULL),
  };
  health_start((int)interval);
  srv = rpc_server_new(&sc, def->methods, def->nmethods);
  if (!srv) goto out;
  if (def->schema && def->outbox) {
    /* Several dispatchers deliver in parallel (SKIP LOCKED shares the rows):
     * one delivering call at a time could not keep up with a burst of
     * approvals, and every event waited in the queue. */
    outbox_set_max_attempts((int)max_attempts);
    outbox_start(def->name, svc_addr, (int)outbox_threads);
    outbox_running = 1;
  }
  /* Metrics: ACCOLADE_<E>_METRICS_PORT, else ACCOLADE_METRICS_PORT, else the
   * gRPC port + 1000; 0 turns them off. A busy port is logged, not fatal. */
  {
    char menv[128];
    env_name(menv, sizeof menv, def, "METRICS_PORT");
    long mport;
    const char *mp = config_str(&cfg, "metrics-port", menv, NULL);
    if (!mp) mp = config_str(&cfg, NULL, "ACCOLADE_METRICS_PORT", NULL);
    mport = mp ? atol(mp) : def->port + 1000;
    metrics_start((int)mport);
  }
  rpc_server_start(srv);
  int sig = rpc_signals_wait();
  log_info("%s: signal %d, shutting down", def->name, sig);
  health_set_shutting_down();
  rc = 0;
out:
  if (srv) rpc_server_stop(srv);
  metrics_stop();
  if (outbox_running) outbox_stop();
  health_stop();
  if (def->fini) def->fini(app);
  rpc_client_shutdown();
  pg_disconnect();
  pg_pool_close();
  redis_disconnect();
  rpc_runtime_shutdown();
  log_flush();   /* no access line lost on a clean stop */
  return rc;
}
