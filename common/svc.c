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
#include "replay.h"
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

/* The process's numeric settings (flags and env; see README's table). */
typedef struct svc_settings {
  long threads, pollers, interval, grace, max_msg, outbox_threads, max_streams, first_msg, conn_streams, keepalive,
      idle, max_age, max_attempts, outbox_batch, pool, stream_workers, log_buffer, admit_lag, admit_wait;
} svc_settings;

/* read_settings: 0, or -1 with what is wrong in |err|. */
static int read_settings(const config *cfg, svc_settings *s, char *err, size_t cap) {
  if (config_int(cfg, "threads", "ACCOLADE_THREADS", 0, 0, 1024, &s->threads, err, cap) ||
      config_int(cfg, "pollers", "ACCOLADE_POLLERS", 0, 0, 64, &s->pollers, err, cap) ||
      config_int(cfg, "health-interval-ms", "ACCOLADE_HEALTH_INTERVAL_MS", 1000, 50, 60000, &s->interval, err, cap) ||
      config_int(cfg, "shutdown-grace-ms", "ACCOLADE_SHUTDOWN_GRACE_MS", 10000, 0, 600000, &s->grace, err, cap) ||
      config_int(cfg, "max-message-bytes", "ACCOLADE_MAX_MESSAGE_BYTES", 4 << 20, 1024, 64 << 20, &s->max_msg, err,
                 cap) ||
      config_int(cfg, "outbox-threads", "ACCOLADE_OUTBOX_THREADS", 4, 1, 64, &s->outbox_threads, err, cap) ||
      config_int(cfg, "max-streams", "ACCOLADE_MAX_STREAMS", 1000, 1, 1000000, &s->max_streams, err, cap) ||
      config_int(cfg, "first-message-ms", "ACCOLADE_FIRST_MESSAGE_MS", 10000, 10, 3600000, &s->first_msg, err, cap) ||
      config_int(cfg, "max-connection-streams", "ACCOLADE_MAX_CONNECTION_STREAMS", 4096, 1, 1000000,
                 &s->conn_streams, err, cap) ||
      config_int(cfg, "keepalive-ms", "ACCOLADE_KEEPALIVE_MS", 60000, 1000, 86400000, &s->keepalive, err, cap) ||
      config_int(cfg, "idle-ms", "ACCOLADE_IDLE_MS", 600000, 1000, 86400000, &s->idle, err, cap) ||
      config_int(cfg, "max-connection-age-ms", "ACCOLADE_MAX_CONNECTION_AGE_MS", 300000, 0, 86400000, &s->max_age,
                 err, cap) ||
      config_int(cfg, "outbox-max-attempts", "ACCOLADE_OUTBOX_MAX_ATTEMPTS", 100, 1, 1000000, &s->max_attempts, err,
                 cap) ||
      config_int(cfg, "outbox-batch", "ACCOLADE_OUTBOX_BATCH", 64, 1, 64, &s->outbox_batch, err, cap) ||
      config_int(cfg, "outbox-admit-lag-ms", "ACCOLADE_OUTBOX_ADMIT_LAG_MS", 250, 0, 600000, &s->admit_lag, err,
                 cap) ||
      config_int(cfg, "outbox-admit-wait-ms", "ACCOLADE_OUTBOX_ADMIT_WAIT_MS", 1000, 0, 600000, &s->admit_wait, err,
                 cap) ||
      config_int(cfg, "pg-pool", "ACCOLADE_PG_POOL", 0, 0, 10000, &s->pool, err, cap) ||
      config_int(cfg, "stream-workers", "ACCOLADE_STREAM_WORKERS", 2, 1, 64, &s->stream_workers, err, cap) ||
      config_int(cfg, "access-log-buffer", "ACCOLADE_ACCESS_LOG_BUFFER", 65536, 0, 64 << 20, &s->log_buffer, err,
                 cap))
    return -1;
  return 0;
}

/* identity_and_tls: the internal key and the client side of TLS; 0 or -1 with |err|. */
static int identity_and_tls(const config *cfg, char *err, size_t cap) {
  const char *key = config_str(cfg, "internal-key", "ACCOLADE_INTERNAL_KEY", NULL);
  if (!key) {
    log_warn("ACCOLADE_INTERNAL_KEY is not set: using the development key (never in production)");
    key = "accolade-dev-internal-key";
  }
  identity_set_key(key);
  return tls_client_setup(config_str(cfg, "upstream-tls-ca", "ACCOLADE_UPSTREAM_TLS_CA", NULL),
                          config_str(cfg, "upstream-tls-cert", "ACCOLADE_UPSTREAM_TLS_CERT", NULL),
                          config_str(cfg, "upstream-tls-key", "ACCOLADE_UPSTREAM_TLS_KEY", NULL),
                          config_str(cfg, "upstream-tls-name", "ACCOLADE_UPSTREAM_TLS_NAME", NULL), err, cap);
}

/* schema_workers: the worker threads of a service with a Postgres schema:
 * as set, else 2 x cores + 2 and at least SVC_PG_MIN_WORKERS. A handler of
 * such a service spends most of its time waiting for its commit to be
 * flushed: with more of them waiting at once, one flush commits them all
 * (Postgres' group commit). */
static long schema_workers(const svc_settings *s) {
  if (s->threads) return s->threads;
  long cores = sysconf(_SC_NPROCESSORS_ONLN);
  long workers = (cores > 0 ? cores : 1) * 2 + 2;
  return workers < SVC_PG_MIN_WORKERS ? SVC_PG_MIN_WORKERS : workers;
}

/* open_postgres sets up the pool, waits for Postgres and migrates; 0 or -1. */
static int open_postgres(const config *cfg, const svc_def *def, const svc_settings *s) {
  char env[128];
  env_name(env, sizeof env, def, "PG");
  const char *dsn = config_str(cfg, "pg", env, NULL);
  if (!dsn) dsn = config_str(cfg, NULL, "ACCOLADE_PG", "dbname=accolade host=127.0.0.1");
  pg_setup(dsn, def->schema);
  /* Enough for every thread that may query at once: the workers, the
   * stream workers, the outbox's dispatchers and a few background loops. */
  long pool = s->pool;
  if (pool == 0) pool = schema_workers(s) + s->stream_workers + s->outbox_threads + 6;
  pg_pool_setup((int)pool);
  rpc_set_after_call(pg_release);
  rpc_set_replay(replay_run);
  pg_set_deadline(rpc_thread_remaining_ms);
  env_name(env, sizeof env, def, "MIGRATIONS");
  const char *dir = config_str(cfg, "migrations", env, def->migrations);
  /* Postgres may still be starting: try for a while before giving up. */
  int tries = 0;
  while (!pg_conn() && tries++ < 30) {
    if (tries == 1) log_warn("waiting for postgres...");
    sleep(1);
  }
  if (migrate_run(dir) != 0) return -1;
  pg_release();   /* the main thread only waits for a signal from here on */
  health_add_dependency("postgres", pg_probe, NULL);
  return 0;
}

/* new_server: the gRPC server of the process, not yet started (NULL on
 * failure). A front (svc_def.front) may serve the public address, TLS
 * included: the server then listens where the front says, in plaintext, and
 * *front_running is set. */
static rpc_server *new_server(const config *cfg, const svc_def *def, const svc_settings *s, void *app,
                              int *front_running) {
  char env[128], deflisten[64];
  snprintf(deflisten, sizeof deflisten, "0.0.0.0:%d", def->port);
  env_name(env, sizeof env, def, "LISTEN");
  long threads = s->threads;
  if (threads == 0 && def->threads_per_core > 0) {
    long cores = sysconf(_SC_NPROCESSORS_ONLN);
    threads = (cores > 0 ? cores : 1) * def->threads_per_core;
    if (threads > 256) threads = 256;
  } else if (threads == 0 && def->schema) {
    threads = schema_workers(s);
  }
  rpc_server_config sc = {
      .name = def->name,
      .listen = config_str(cfg, "listen", env, deflisten),
      .threads = (int)threads,
      .pollers = (int)s->pollers,
      .shutdown_grace_ms = (int)s->grace,
      .max_message_bytes = (int)s->max_msg,
      .max_streams = (int)s->max_streams,
      .stream_workers = (int)s->stream_workers,
      .first_message_ms = (int)s->first_msg,
      .max_connection_streams = (int)s->conn_streams,
      .keepalive_ms = (int)s->keepalive,
      .idle_ms = (int)s->idle,
      .max_connection_age_ms = (int)s->max_age,
      .app = app,
      .raw = def->raw,
      .tls_cert = config_str(cfg, "tls-cert", "ACCOLADE_TLS_CERT", NULL),
      .tls_key = config_str(cfg, "tls-key", "ACCOLADE_TLS_KEY", NULL),
      .tls_client_ca = config_str(cfg, "tls-client-ca", "ACCOLADE_TLS_CLIENT_CA", NULL),
  };
  if (def->front) {
    tls_files tls = {sc.tls_cert, sc.tls_key, sc.tls_client_ca};
    const char *inner = def->front(cfg, sc.listen, &tls, app);
    if (!inner) return NULL;
    if (inner != sc.listen) {   /* the front took the port; the server behind it is internal */
      sc.listen = inner;
      sc.tls_cert = sc.tls_key = sc.tls_client_ca = NULL;
      *front_running = 1;
    }
  }
  return rpc_server_new(&sc, def->methods, def->nmethods);
}

/* Metrics: ACCOLADE_<E>_METRICS_PORT, else ACCOLADE_METRICS_PORT, else the
 * gRPC port + 1000; 0 turns them off. A busy port is logged, not fatal. */
static void start_metrics(const config *cfg, const svc_def *def) {
  char menv[128];
  env_name(menv, sizeof menv, def, "METRICS_PORT");
  const char *mp = config_str(cfg, "metrics-port", menv, NULL);
  if (!mp) mp = config_str(cfg, NULL, "ACCOLADE_METRICS_PORT", NULL);
  metrics_start((int)(mp ? atol(mp) : def->port + 1000));
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
  svc_settings s;
  if (read_settings(&cfg, &s, err, sizeof err) != 0) {
    log_error("%s", err);
    return 2;
  }
  log_set_buffer((size_t)s.log_buffer);
  if (identity_and_tls(&cfg, err, sizeof err) != 0) {
    log_error("%s", err);
    return 2;
  }

  rpc_runtime_init();
  int rc = 1;
  void *app = NULL;
  rpc_server *srv = NULL;
  int outbox_running = 0, front_running = 0;
  if (def->schema && open_postgres(&cfg, def, &s) != 0) goto out;
  const char *redis = def->redis == SVC_REDIS_REQUIRED ? config_str(&cfg, "redis", "ACCOLADE_REDIS", "127.0.0.1:6379")
                      : def->redis ? config_str(&cfg, "redis", "ACCOLADE_REDIS", NULL)
                                   : NULL;
  if (redis) {
    redis_setup_addr(redis, config_str(&cfg, "redis-password", "ACCOLADE_REDIS_PASSWORD", NULL));
    if (def->redis == SVC_REDIS_REQUIRED) health_add_dependency("redis", redis_probe, NULL);
  }
  if (def->init && def->init(&cfg, &app) != 0) {
    log_error("%s: initialisation failed", def->name);
    goto out;
  }
  health_start(def->name, (int)s.interval);
  srv = new_server(&cfg, def, &s, app, &front_running);
  if (!srv) goto out;
  if (def->schema && def->outbox) {
    /* Several dispatchers deliver in parallel (SKIP LOCKED shares the rows):
     * one delivering call at a time could not keep up with a burst of
     * approvals, and every event waited in the queue. */
    outbox_set_max_attempts((int)s.max_attempts);
    outbox_set_batch((int)s.outbox_batch);
    /* All but two workers at most wait for the outbox: those two serve
     * everything else (reads above all) meanwhile. Half the workers let the
     * other half write on unchecked: a burst then drained 1.27-1.35 s after
     * its last approval (bench/writepath.sh, one run, a slow hour). */
    long workers = schema_workers(&s);
    outbox_set_admission((int)s.admit_lag, (int)s.admit_wait, (int)(workers > 2 ? workers - 2 : 1));
    outbox_start(def->name, svc_addr, (int)s.outbox_threads);
    outbox_running = 1;
  }
  start_metrics(&cfg, def);
  rpc_server_start(srv);
  int sig = rpc_signals_wait();
  log_info("%s: signal %d, shutting down", def->name, sig);
  health_set_shutting_down();
  rc = 0;
out:
  if (front_running) def->front_stop(app, (int)s.grace);
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
