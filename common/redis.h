/* redis.h - Redis for a service: one connection per thread (and node),
 * scripts by SHA, a plain Redis or a Redis Cluster.
 *
 * redis_setup() names the server once; each thread connects on first use and
 * reconnects after an error. Scripts are sent with EVALSHA and loaded on
 * NOSCRIPT, so a flushed or restarted Redis needs no manual steps.
 *
 * Redis Cluster: the first node that answers says whether it is one (CLUSTER
 * SHARDS); then each command goes to the master owning the slot of its first
 * key (CRC16 of the key's {hash tag}), MOVED and ASK are followed, TRYAGAIN
 * and CLUSTERDOWN retried for up to 2 s, and the slot map is asked again
 * after a redirect or a lost node. A pipeline or a script must keep to one
 * slot: every key of ours carries its org's tag ({org}). A plain Redis sees
 * exactly the commands it saw before, plus one CLUSTER SHARDS per process.
 */
#ifndef ACCOLADE_REDIS_H
#define ACCOLADE_REDIS_H

#include <hiredis/hiredis.h>

void redis_setup(const char *host, int port, const char *password);

/* redis_setup_addr: the same from "host:port" (port 6379 when absent), or
 * several seeds of a cluster, "host:port,host:port,..." (any that answers
 * is enough). Call before any thread uses Redis. */
void redis_setup_addr(const char *host_ports, const char *password);

/* redis_set_timeout_ms changes this thread's command timeout (default 2 s),
 * on its connections and on those it opens until the next call. For long
 * batch work; set it back after. */
void redis_set_timeout_ms(int ms);
/* redis_conn: this thread's connection (in a cluster, to some master), or
 * NULL when Redis is unreachable. */
redisContext *redis_conn(void);
/* redis_conn_for: this thread's connection to the node serving |key| (for
 * WATCH/MULTI/EXEC on one key's slot), or NULL. */
redisContext *redis_conn_for(const char *key);
/* redis_conn_for_command: the same for the first key of a formatted command. */
redisContext *redis_conn_for_command(const char *cmd, size_t len);
/* redis_disconnect closes this thread's connections. */
void redis_disconnect(void);

/* redis_key_slot: the Redis Cluster slot (0..16383) of |key|: CRC16 (XMODEM)
 * of its hash tag, the part between the first '{' and the next '}' if not
 * empty, else of the whole key, modulo 16384. */
unsigned redis_key_slot(const char *key, size_t len);
/* redis_cluster_mode: 1 when the server is a Redis Cluster (asks once). */
int redis_cluster_mode(void);
/* redis_failovers: how many times a replica was seen to become a master
 * since redis_setup (its last writes may be lost: asynchronous
 * replication). Refreshes the slot map if it is older than a second; 0
 * for a plain Redis. */
long redis_failovers(void);

/* redis_cmd runs one command (hiredis format string). Returns the reply (free
 * with freeReplyObject) or NULL on a connection error (the connection is then
 * dropped and retried at the next call). An error reply is returned as is. */
redisReply *redis_cmd(const char *fmt, ...);
/* redis_cmd_argv: the same with an argument vector. */
redisReply *redis_cmd_argv(int argc, const char **argv, const size_t *argvlen);

/* redis_pipeline sends |n| commands (argument vectors) in one write and reads
 * their |n| replies into |out| (free each with freeReplyObject): one round
 * trip. Returns 0, or -1 on a connection error (nothing to free; the
 * connection is dropped and retried at the next call). */
int redis_pipeline(int n, const int *argc, const char *const *const *argv, redisReply **out);
/* redis_pipeline_formatted: the same with commands already formatted
 * (redisFormatCommandArgv, redis_eval_format). */
int redis_pipeline_formatted(int n, const char *const *cmd, const size_t *len, redisReply **out);

/* A redis_writer sends a stream of commands from a thread of its own, on its
 * own connection, keeping up to 64 in flight: the caller goes on with its
 * work while Redis executes them. For bulk writes whose replies are only
 * checked for errors (a rebuild's boards).
 *
 *   redis_writer *w = redis_writer_start(256 << 20, 300000);
 *   ... redis_writer_send(w, argc, argv, lens) ...   (-1 once anything failed)
 *   if (redis_writer_finish(w) != 0) ...             (every reply read; -1: an
 *                                                     error reply or a lost connection) */
typedef struct redis_writer redis_writer;
/* redis_writer_start: |queue_bytes| bounds the commands queued and not yet
 * sent (redis_writer_send waits past it); |timeout_ms| the connection's. */
redis_writer *redis_writer_start(size_t queue_bytes, int timeout_ms);
int redis_writer_send(redis_writer *w, int argc, const char **argv, const size_t *argvlen);
/* redis_writer_send_formatted queues a command formatted by
 * redisFormatCommandArgv, which it frees (also on -1). */
int redis_writer_send_formatted(redis_writer *w, char *cmd, size_t len);
/* redis_writer_finish sends what is queued, reads every reply, stops the
 * thread and frees |w|. 0, or -1 if any command failed. */
int redis_writer_finish(redis_writer *w);

typedef struct redis_script {
  const char *source;   /* the Lua source */
  char sha[41];         /* filled on first use */
} redis_script;

/* redis_eval runs |script| with |nkeys| keys followed by args (argc total
 * strings after the script). Returns the reply or NULL as redis_cmd does. */
redisReply *redis_eval(redis_script *script, int nkeys, int argc, const char **argv);
/* redis_eval_format formats redis_eval's EVALSHA into |*out| (free with
 * redisFreeCommand) for a pipeline: its length, or -1. A NOSCRIPT reply
 * means the script must go once through redis_eval. */
long long redis_eval_format(redis_script *script, int nkeys, int argc, const char **argv, char **out);

/* redis_probe: health probe (PING). */
int redis_probe(void *unused);

#endif
