/* redis_writer.c - commands sent from a thread of their own (see redis.h).
 *
 * The caller formats each command and queues it; the writer thread appends
 * it to its own connection, writes it out and reads the replies of the
 * oldest commands while newer ones are in flight. The caller waits only
 * when the queue holds more than its byte limit. */
#include <pthread.h>
#include <stdlib.h>

#include "log.h"
#include "redis.h"

#define IN_FLIGHT 64

typedef struct queued {
  struct queued *next;
  char *cmd;
  size_t len;
} queued;

struct redis_writer {
  pthread_t thread;
  pthread_mutex_t mu;
  pthread_cond_t more, room;
  queued *head, *tail;
  size_t bytes, limit;
  int timeout_ms;
  int closed;
  int failed;   /* an error reply, or the connection lost */
  int errors;
};

/* fail: the connection is lost; senders get -1 from now on. */
static void fail(redis_writer *w) {
  pthread_mutex_lock(&w->mu);
  w->failed = 1;
  pthread_cond_broadcast(&w->room);
  pthread_mutex_unlock(&w->mu);
}

static int read_reply(redis_writer *w, redisContext *c) {
  redisReply *r;
  if (redisGetReply(c, (void **)&r) != REDIS_OK) return -1;
  if (r->type == REDIS_REPLY_ERROR) {
    pthread_mutex_lock(&w->mu);
    if (!w->errors++) log_error("redis writer: %s", r->str);
    w->failed = 1;
    pthread_cond_broadcast(&w->room);
    pthread_mutex_unlock(&w->mu);
  }
  freeReplyObject(r);
  return 0;
}

static void *writer_main(void *arg) {
  redis_writer *w = arg;
  redis_set_timeout_ms(w->timeout_ms);   /* for the connection made below */
  /* The connection is made for the first command: in a Redis Cluster, to
   * the node of its key's slot (one writer, one slot: one org's boards). */
  redisContext *c = NULL;
  int pending = 0, ok = 1;
  for (;;) {
    pthread_mutex_lock(&w->mu);
    while (!w->head && !w->closed) {
      pthread_mutex_unlock(&w->mu);
      /* Nothing queued: let Redis have all that is appended before waiting. */
      int done = 0;
      while (c && ok && !done) ok = redisBufferWrite(c, &done) == REDIS_OK;
      if (!ok) fail(w);
      pthread_mutex_lock(&w->mu);
      if (!w->head && !w->closed) pthread_cond_wait(&w->more, &w->mu);
    }
    queued *q = w->head;
    if (q) {
      w->head = q->next;
      if (!w->head) w->tail = NULL;
      w->bytes -= q->len;
      pthread_cond_signal(&w->room);
    }
    pthread_mutex_unlock(&w->mu);
    if (!q) break;   /* closed and drained */
    if (ok && !c && !(c = redis_conn_for_command(q->cmd, q->len))) {
      ok = 0;
      fail(w);
    }
    if (ok) {
      ok = redisAppendFormattedCommand(c, q->cmd, q->len) == REDIS_OK;
      int done = 0;
      while (ok && !done) ok = redisBufferWrite(c, &done) == REDIS_OK;
      pending++;
      if (ok && pending == IN_FLIGHT)
        for (; ok && pending > IN_FLIGHT / 2; pending--) ok = read_reply(w, c) == 0;
      if (!ok) fail(w);
    }
    redisFreeCommand(q->cmd);
    free(q);
  }
  for (; c && ok && pending > 0; pending--) ok = read_reply(w, c) == 0;
  if (!ok) fail(w);
  redis_disconnect();
  return NULL;
}

redis_writer *redis_writer_start(size_t queue_bytes, int timeout_ms) {
  redis_writer *w = calloc(1, sizeof *w);
  if (!w) abort();
  w->limit = queue_bytes;
  w->timeout_ms = timeout_ms;
  pthread_mutex_init(&w->mu, NULL);
  pthread_cond_init(&w->more, NULL);
  pthread_cond_init(&w->room, NULL);
  if (pthread_create(&w->thread, NULL, writer_main, w) != 0) abort();
  return w;
}

int redis_writer_send(redis_writer *w, int argc, const char **argv, const size_t *argvlen) {
  char *cmd;
  long long len = redisFormatCommandArgv(&cmd, argc, argv, argvlen);
  if (len < 0) return -1;
  return redis_writer_send_formatted(w, cmd, (size_t)len);
}

int redis_writer_send_formatted(redis_writer *w, char *cmd, size_t len) {
  queued *q = malloc(sizeof *q);
  if (!q) abort();
  *q = (queued){NULL, cmd, len};
  pthread_mutex_lock(&w->mu);
  while (w->bytes > w->limit && !w->failed) pthread_cond_wait(&w->room, &w->mu);
  int failed = w->failed;
  if (!failed) {
    if (w->tail)
      w->tail->next = q;
    else
      w->head = q;
    w->tail = q;
    w->bytes += q->len;
    pthread_cond_signal(&w->more);
  }
  pthread_mutex_unlock(&w->mu);
  if (failed) {
    redisFreeCommand(cmd);
    free(q);
    return -1;
  }
  return 0;
}

int redis_writer_finish(redis_writer *w) {
  pthread_mutex_lock(&w->mu);
  w->closed = 1;
  pthread_cond_signal(&w->more);
  pthread_mutex_unlock(&w->mu);
  pthread_join(w->thread, NULL);
  int rc = w->failed ? -1 : 0;
  for (queued *q = w->head; q;) {   /* left when the thread could not start */
    queued *next = q->next;
    redisFreeCommand(q->cmd);
    free(q);
    q = next;
  }
  pthread_mutex_destroy(&w->mu);
  pthread_cond_destroy(&w->more);
  pthread_cond_destroy(&w->room);
  free(w);
  return rc;
}
