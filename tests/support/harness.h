/* harness.h - what integration tests need from the real stack.
 *
 * scripts/test starts a throwaway Postgres and Redis on loopback and exports:
 *   ACCOLADE_TEST_PG_HOST, ACCOLADE_TEST_PG_PORT  (user postgres, trust auth)
 *   ACCOLADE_TEST_REDIS_PORT
 *   ACCOLADE_TEST_PG_STOP, ACCOLADE_TEST_PG_START  (shell commands)
 *   ACCOLADE_TEST_REDIS_STOP, ACCOLADE_TEST_REDIS_START
 * Each test creates its own database (th_new_database), so tests can run side
 * by side, and starts the real service binaries as child processes on free
 * ports (th_start), waiting until their Health.Check says SERVING.
 */
#ifndef ACCOLADE_TEST_HARNESS_H
#define ACCOLADE_TEST_HARNESS_H

#include <sys/types.h>

#include <protobuf-c/protobuf-c.h>

#include "arena.h"
#include "identity.h"
#include "rpc_client.h"

/* The internal key every test process and service uses. */
#define TH_INTERNAL_KEY "accolade-test-internal-key"

/* th_init: grpc_init, the test key, quiet logs. Call first in each test. */
void th_init(void);
void th_fini(void);

/* th_env: an env var or abort the test with a clear message. */
const char *th_env(const char *name);

/* th_new_database creates an empty database with a unique name and returns a
 * libpq DSN for it (static storage, valid until the next call). */
const char *th_new_database(const char *label);
/* th_redis_port: the test Redis port. */
int th_redis_port(void);

/* th_free_port: a TCP port free on 127.0.0.1 right now, below the kernel's
 * ephemeral range when there is room (harness.c says why). */
int th_free_port(void);

typedef struct th_proc {
  pid_t pid;
  int port;
  char addr[64];   /* "127.0.0.1:<port>" */
} th_proc;

/* ---- Redis Cluster on loopback ---------------------------------------- */

#define TH_CLUSTER_NODES 6   /* 3 masters, each with one replica */

typedef struct th_redis_cluster {
  th_proc node[TH_CLUSTER_NODES];
  char dir[128];
  char seeds[256];   /* "127.0.0.1:p1,127.0.0.1:p2,..." every node's address */
} th_redis_cluster;

/* th_redis_node_start runs one `redis-server --cluster-enabled yes` (not
 * joined to any cluster yet) on a free loopback port, its files in |dir|,
 * as a child that dies with the test; 0 once it answers PING. */
int th_redis_node_start(th_proc *p, const char *dir);
/* th_redis_cluster_start runs six `redis-server --cluster-enabled yes` on
 * free loopback ports (node timeout 1 s, replicas may always fail over),
 * joins them with `redis-cli --cluster create ... --cluster-replicas 1` and
 * waits for cluster_state:ok everywhere. 0, or -1. The nodes die with the test. */
int th_redis_cluster_start(th_redis_cluster *c);
void th_redis_cluster_stop(th_redis_cluster *c);
/* th_redis_cluster_wait_ok: every running node says cluster_state:ok and
 * every slot has a running master; 0, or -1 after |timeout_ms|. */
int th_redis_cluster_wait_ok(th_redis_cluster *c, int timeout_ms);
/* th_redis_cluster_owner: the index of the node serving |slot| as master
 * (asked of a running node), or -1. */
int th_redis_cluster_owner(th_redis_cluster *c, int slot);
/* th_redis_cmd runs one command (hiredis format) on 127.0.0.1:|port|; the
 * reply (freeReplyObject) or NULL. */
struct redisReply *th_redis_cmd(int port, const char *fmt, ...);

/* th_start runs |binary| (a path, see th_bin) with the env vars of the
 * NULL-terminated |env| list ("KEY=VALUE") added to the test's environment and
 * ACCOLADE_INTERNAL_KEY set, on a free port given as --listen; waits up to 60 s
 * for Health.Check to answer SERVING. Returns 0, or -1 (the process is killed). */
int th_start(th_proc *p, const char *binary, const char *const *env);
/* th_start_on is th_start on a given |port| (chosen with th_free_port, so
 * that processes that call each other can be told the address first). */
int th_start_on(th_proc *p, int port, const char *binary, const char *const *env);
/* th_spawn forks and execs |binary| --listen=127.0.0.1:|port| with th_start's
 * environment, after |delay_ms| in the child, and returns its pid (-1 if fork
 * failed) without waiting. The environment is built before the fork: the child
 * of a threaded test runs nothing that takes a lock before exec. */
pid_t th_spawn(const char *binary, int port, const char *const *env, int delay_ms);
/* th_spawn_listen is th_spawn with --listen=|address| as given ("[::]:5000"). */
pid_t th_spawn_listen(const char *binary, const char *address, const char *const *env, int delay_ms);
/* th_restart: SIGKILL |p| if it runs, then start |binary| again on p's port. */
int th_restart(th_proc *p, const char *binary, const char *const *env);
/* th_stop sends SIGTERM and waits; returns the exit status (or -1). */
int th_stop(th_proc *p);
/* th_kill sends SIGKILL and reaps. */
void th_kill(th_proc *p);

/* th_pair_start: svc-award and svc-nomination (told of each other; the
 * leaderboard and notify unreachable), each on a fresh database; svc-nomination
 * also gets |nom_env| ("KEY=VALUE", may be NULL) and its DSN is written to
 * |nom_dsn|. Fails the test unless both are SERVING. th_pair_stop stops both. */
void th_pair_start(th_proc *award, th_proc *nom, char *nom_dsn, size_t cap, const char *nom_env);
void th_pair_stop(th_proc *award, th_proc *nom);

/* th_suite: the four services and the gateway as real processes, leaves
 * first, each told the others' real addresses, all on one fresh database and
 * the test Redis; the gateway trusts HS256 tokens signed with |jwt_secret|.
 * |extra| (NULL-terminated "KEY=VALUE", may be NULL) goes to every process. */
typedef struct th_suite {
  th_proc lb, notify, award, nomination, gateway;
  char dsn[512];               /* the suite's database */
  const char *env[5][32];      /* each process's env, for restarts */
} th_suite;
void th_suite_start(th_suite *s, const char *db, const char *jwt_secret, const char *const *extra);
/* th_suite_restart kills |p| (one of the suite's) with SIGKILL and starts it
 * again on the same port with the same env; 0 once it is SERVING. */
int th_suite_restart(th_suite *s, th_proc *p);
void th_suite_stop(th_suite *s);

/* th_fleet: every service in TH_FLEET_REPLICAS replicas and TH_FLEET_GATEWAYS
 * gateways, each a real process on its own loopback port with its own
 * metrics port, each told every replica of the others ("ipv4:a,b": the
 * gRPC channel balances round-robin); one fresh database, the test Redis.
 * svc[i] follows the order leaderboard, notify, award, nomination. */
#define TH_FLEET_REPLICAS 2
#define TH_FLEET_GATEWAYS 2
typedef struct th_fleet {
  th_proc svc[4][TH_FLEET_REPLICAS];
  int svc_metrics[4][TH_FLEET_REPLICAS];
  th_proc gateway[TH_FLEET_GATEWAYS];
  char dsn[512];
} th_fleet;
void th_fleet_start(th_fleet *f, const char *db, const char *jwt_secret, const char *const *extra);
void th_fleet_stop(th_fleet *f);
/* th_metric_sum: the sum of every sample of |name| whose labels contain
 * |label| ("" for all) on the metrics port |port|, or -1 if unreachable. */
long long th_metric_sum(int port, const char *name, const char *label);

/* th_run runs the NULL-terminated |argv| (argv[0] a path) and waits for it;
 * its stdout lands in |out| and its stderr in |err| (NUL-terminated, cut to
 * fit; either may be NULL to let it through). Returns the exit status, or
 * 128 + the signal that killed it. */
int th_run(const char *const *argv, char *out, size_t out_cap, char *err, size_t err_cap);
/* th_smtp_start runs tests/support/smtp_sink.py (python3-aiosmtpd) on a
 * free port, writing each message it accepts to |p|->dir and refusing the
 * first |refuse_first| with a 451; 0 once it accepts connections. The test
 * is skipped when python3-aiosmtpd is not installed. */
typedef struct th_smtp {
  th_proc proc;
  char dir[256];
} th_smtp;
int th_smtp_start(th_smtp *p, int refuse_first);
/* th_smtp_count: messages the sink accepted for |rcpt| ("" for all), and in
 * |*refused| (may be NULL) how many it refused. */
int th_smtp_count(const th_smtp *p, const char *rcpt, int *refused);
/* th_smtp_message: the first message for |rcpt|, malloc'd (NULL if none). */
char *th_smtp_message(const th_smtp *p, const char *rcpt);
void th_smtp_stop(th_smtp *p);

/* th_slurp: the whole file at |path|, NUL-terminated and malloc'd (NULL if unreadable). */
char *th_slurp(const char *path);

/* th_http_get: the whole HTTP/1.0 response to GET |path| on 127.0.0.1:|port|
 * (malloc'd; the caller frees it). */
char *th_http_get(int port, const char *path);

/* th_fill: pb_fill (pbfill.h) that fails the test on a bad spec. */
void th_fill(arena *a, const ProtobufCMessageDescriptor *d, void *m, const char *spec);

/* th_bin: the path of a built binary by target name ("svc-award"). */
const char *th_bin(const char *name);

/* th_health: the serving status of |addr| (1 SERVING, 2 NOT_SERVING, -1 no answer). */
int th_health(const char *addr);
/* th_wait_health polls until th_health(addr) == want or |timeout_ms| passes;
 * returns 0 when reached. */
int th_wait_health(const char *addr, int want, int timeout_ms);

/* th_as fills |id| as a signed caller. */
void th_as(identity *id, const char *org, const char *user, const char *role, const char *team);

/* th_call: a unary call as |as| (NULL: unsigned), 5 s timeout. Returns the code. */
int th_call(const char *addr, const char *method, const void *req,
            const ProtobufCMessageDescriptor *resp_desc, const identity *as, arena *a,
            void **out, rpc_status *st);
/* th_via: a unary call through the gateway at |gateway| as a client does:
 * "authorization: Bearer |token|" (NULL: no authorization), |timeout_ms|. */
int th_via(const char *gateway, const char *token, int timeout_ms, const char *method, const void *req,
           const ProtobufCMessageDescriptor *resp_desc, arena *a, void **out, rpc_status *st);
/* th_via_as: th_via with an HS256 token of |secret| for |org|, |user|,
 * |role| and |team|, valid 300 s. */
int th_via_as(const char *gateway, const char *secret, const char *org, const char *user, const char *role,
              const char *team, int timeout_ms, const char *method, const void *req,
              const ProtobufCMessageDescriptor *resp_desc, arena *a, void **out, rpc_status *st);

/* th_b64url writes base64url (no padding) of |n| bytes into |out|. */
void th_b64url(const unsigned char *in, size_t n, char *out);
/* th_jwt mints an HS256 token {sub, org, role, team, exp = now + ttl_s}
 * (one of four rotating buffers of the calling thread). */
const char *th_jwt(const char *secret, const char *org, const char *user, const char *role, const char *team,
                   long ttl_s);

/* th_sql runs one statement on |dsn| (for assertions on stored rows) and
 * returns the first column of the first row as a malloc'd string (caller frees),
 * or NULL on error or no rows. */
char *th_sql(const char *dsn, const char *sql);
/* th_sql_int: th_sql's value as a number; -1 on error or no rows. */
long long th_sql_int(const char *dsn, const char *sql);

#endif
