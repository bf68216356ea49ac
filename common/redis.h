/* redis.h - Redis for a service: one connection per thread, scripts by SHA.
 *
 * redis_setup() names the server once; each thread connects on first use and
 * reconnects after an error. Scripts are sent with EVALSHA and loaded on
 * NOSCRIPT, so a flushed or restarted Redis needs no manual steps.
 */
#ifndef ACCOLADE_REDIS_H
#define ACCOLADE_REDIS_H

#include <hiredis/hiredis.h>

void redis_setup(const char *host, int port, const char *password);

/* redis_setup_addr: the same from "host:port" (port 6379 when absent). */
void redis_setup_addr(const char *host_port, const char *password);

/* redis_set_timeout_ms changes this thread's command timeout (default 2 s;
 * a new connection starts with the default again). For long batch work. */
void redis_set_timeout_ms(int ms);
/* redis_conn: this thread's connection, or NULL when Redis is unreachable. */
redisContext *redis_conn(void);
void redis_disconnect(void);

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

/* redis_probe: health probe (PING). */
int redis_probe(void *unused);

#endif
