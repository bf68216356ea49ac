/* svc.h - the life of a service process, so that main.c only wires.
 *
 *   int main(int argc, char **argv) {
 *     static const svc_def def = {
 *       .name = "svc-award", .env = "AWARD", .port = 50052, .schema = "award",
 *       .migrations = AWARD_MIGRATIONS_DIR, .methods = award_methods,
 *       .nmethods = AWARD_NMETHODS, .outbox = 1,
 *     };
 *     return svc_main(argc, argv, &def);
 *   }
 *
 * svc_main: parses settings (below), opens JSON logging, sets the internal key,
 * connects Postgres and applies migrations, sets up Redis, starts health
 * probes, the outbox dispatcher and the gRPC server, waits for SIGINT/SIGTERM,
 * then shuts down gracefully. Exit status 0 after a clean stop, 1 on a start-up
 * failure (logged).
 *
 * Settings (flag | env var | default), <E> being def->env:
 *   --listen   | ACCOLADE_<E>_LISTEN  | 0.0.0.0:<port>
 *   --pg       | ACCOLADE_<E>_PG      | ACCOLADE_PG, else "dbname=accolade host=127.0.0.1"
 *   --redis    | ACCOLADE_REDIS       | 127.0.0.1:6379
 *   --threads  | ACCOLADE_THREADS     | 2 x cores + 2 (worker threads)
 *   --pollers  | ACCOLADE_POLLERS     | one per 4 cores (completion queues)
 *   --internal-key | ACCOLADE_INTERNAL_KEY | a development key (warned about)
 *   --log-level    | ACCOLADE_LOG_LEVEL    | info
 *   --health-interval-ms | ACCOLADE_HEALTH_INTERVAL_MS | 1000
 *   --shutdown-grace-ms  | ACCOLADE_SHUTDOWN_GRACE_MS  | 10000
 *   --max-streams        | ACCOLADE_MAX_STREAMS        | 1000 (streams in the process)
 *   --first-message-ms   | ACCOLADE_FIRST_MESSAGE_MS   | 10000 (a call's message must come by then)
 *   --max-connection-streams | ACCOLADE_MAX_CONNECTION_STREAMS | 4096 (HTTP/2, per connection)
 *   --keepalive-ms       | ACCOLADE_KEEPALIVE_MS       | 60000 (pings on a quiet connection)
 *   --idle-ms            | ACCOLADE_IDLE_MS            | 600000 (a connection without calls closes)
 *   --outbox-max-attempts | ACCOLADE_OUTBOX_MAX_ATTEMPTS | 100 (then an outbox row is dead-lettered)
 *   --pg-pool            | ACCOLADE_PG_POOL            | workers + stream workers + outbox threads + 6
 *   --stream-workers     | ACCOLADE_STREAM_WORKERS     | 2 (threads stepping every server stream)
 *   --access-log-buffer  | ACCOLADE_ACCESS_LOG_BUFFER  | 65536 bytes of access lines written together
 *                          (at the latest 500 ms after the first; 0: each at once)
 *   --migrations | ACCOLADE_<E>_MIGRATIONS | the source tree's folder
 *   Addresses of other services: ACCOLADE_<NAME>_ADDR (svc_addr).
 */
#ifndef ACCOLADE_SVC_H
#define ACCOLADE_SVC_H

#include "config.h"
#include "rpc.h"
#include "tls.h"

enum { SVC_REDIS_REQUIRED = 1, SVC_REDIS_OPTIONAL = 2 };

typedef struct svc_def {
  const char *name;        /* "svc-award" */
  const char *env;         /* "AWARD": the prefix of this service's own settings */
  int port;                /* default gRPC port */
  const char *schema;      /* Postgres schema, NULL for none */
  const char *migrations;  /* default migrations folder */
  int redis;               /* SVC_REDIS_REQUIRED: a dependency (health follows it);
                              SVC_REDIS_OPTIONAL: set up only when one is named
                              (--redis, ACCOLADE_REDIS), not a health dependency */
  int outbox;              /* 1 to run the outbox dispatcher */
  const rpc_method *methods;
  int nmethods;
  const rpc_raw_handler *raw;   /* optional: methods not in the table (gateway) */
  int threads_per_core;    /* default worker threads per core; 0: the runtime's
                              (2 x cores + 2). Handlers that wait on other
                              services over the network want more. */
  /* init runs after the stores are ready and before serving; it may set
   * *app (passed to handlers as ctx->app). Non-zero aborts the start. */
  int (*init)(const config *cfg, void **app);
  /* fini runs after the server has stopped. */
  void (*fini)(void *app);
  /* front, if set, may serve the public address |listen| itself (the
   * gateway's frame-level front), with the TLS of |tls| when it names a
   * certificate, and return the address the gRPC server listens on instead,
   * in plaintext (it is internal); or return |listen| itself to leave the
   * port, TLS and all, to the server; or NULL on failure. front_stop ends
   * it at a stop, within |grace_ms|, before the server. */
  const char *(*front)(const config *cfg, const char *listen, const tls_files *tls, void *app);
  void (*front_stop)(void *app, int grace_ms);
} svc_def;

int svc_main(int argc, char **argv, const svc_def *def);

/* svc_addr resolves a logical service name to a gRPC target: the env var
 * ACCOLADE_<NAME>_ADDR (NAME upper-cased; several IPv4 "host:port" separated
 * by commas are balanced round-robin, as are the records of a DNS name),
 * else the default port on 127.0.0.1
 * (award 50052, nomination 50051, leaderboard 50053, notify 50054,
 * gateway 50050). Returns NULL for an unknown name. The string is the
 * calling thread's own buffer: the thread's next call overwrites it (copy it
 * to keep it). */
const char *svc_addr(const char *name);

/* svc_name: the running service's name ("svc-award"). */
const char *svc_name(void);

#endif
