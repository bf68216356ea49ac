/* redis.c - per-thread hiredis connections, EVALSHA with NOSCRIPT fallback. */
#include "redis.h"

#include <openssl/sha.h>
#include <stdarg.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>

#include "hex.h"
#include "log.h"

static char g_host[256] = "127.0.0.1";
static int g_port = 6379;
static char g_password[256];
static _Thread_local redisContext *t_ctx;
/* A thread's connection is closed when the thread exits (key destructor). */
static pthread_key_t g_key;
static pthread_once_t g_key_once = PTHREAD_ONCE_INIT;

static void close_at_exit(void *c) { redisFree(c); }
static void make_key(void) { pthread_key_create(&g_key, close_at_exit); }

void redis_setup(const char *host, int port, const char *password) {
  if (host) snprintf(g_host, sizeof g_host, "%s", host);
  if (port > 0) g_port = port;
  snprintf(g_password, sizeof g_password, "%s", password ? password : "");
}

void redis_setup_addr(const char *host_port, const char *password) {
  char host[256];
  snprintf(host, sizeof host, "%s", host_port);
  int port = 6379;
  char *colon = strrchr(host, ':');
  if (colon) {
    *colon = '\0';
    port = atoi(colon + 1);
  }
  redis_setup(host, port, password);
}

void redis_disconnect(void) {
  if (t_ctx) redisFree(t_ctx);
  t_ctx = NULL;
  pthread_once(&g_key_once, make_key);
  pthread_setspecific(g_key, NULL);
}

void redis_set_timeout_ms(int ms) {
  redisContext *c = redis_conn();
  if (!c) return;
  struct timeval tv = {ms / 1000, (ms % 1000) * 1000};
  redisSetTimeout(c, tv);
}

redisContext *redis_conn(void) {
  if (t_ctx && !t_ctx->err) return t_ctx;
  redis_disconnect();
  struct timeval tv = {2, 0};
  redisContext *c = redisConnectWithTimeout(g_host, g_port, tv);
  if (!c || c->err) {
    log_debug("redis connect %s:%d failed: %s", g_host, g_port, c ? c->errstr : "oom");
    if (c) redisFree(c);
    return NULL;
  }
  redisSetTimeout(c, tv);
  if (g_password[0]) {
    redisReply *r = redisCommand(c, "AUTH %s", g_password);
    int ok = r && r->type != REDIS_REPLY_ERROR;
    if (r) freeReplyObject(r);
    if (!ok) {
      log_error("redis: AUTH failed");
      redisFree(c);
      return NULL;
    }
  }
  t_ctx = c;
  pthread_once(&g_key_once, make_key);
  pthread_setspecific(g_key, c);
  return c;
}

static redisReply *checked(redisReply *r) {
  if (!r) redis_disconnect();   /* I/O error: reconnect at the next call */
  return r;
}

redisReply *redis_cmd(const char *fmt, ...) {
  redisContext *c = redis_conn();
  if (!c) return NULL;
  va_list ap;
  va_start(ap, fmt);
  redisReply *r = redisvCommand(c, fmt, ap);
  va_end(ap);
  return checked(r);
}

redisReply *redis_cmd_argv(int argc, const char **argv, const size_t *argvlen) {
  redisContext *c = redis_conn();
  if (!c) return NULL;
  return checked(redisCommandArgv(c, argc, argv, argvlen));
}

int redis_pipeline(int n, const int *argc, const char *const *const *argv, redisReply **out) {
  redisContext *c = redis_conn();
  if (!c) return -1;
  for (int i = 0; i < n; i++)
    if (redisAppendCommandArgv(c, argc[i], (const char **)argv[i], NULL) != REDIS_OK) {
      redis_disconnect();
      return -1;
    }
  for (int i = 0; i < n; i++)
    if (redisGetReply(c, (void **)&out[i]) != REDIS_OK || !out[i]) {
      for (int k = 0; k < i; k++) freeReplyObject(out[k]);
      redis_disconnect();
      return -1;
    }
  return 0;
}

static void script_sha(redis_script *s) {
  if (s->sha[0]) return;
  unsigned char d[SHA_DIGEST_LENGTH];
  SHA1((const unsigned char *)s->source, strlen(s->source), d);
  hex_encode(s->sha, d, SHA_DIGEST_LENGTH);
}

redisReply *redis_eval(redis_script *script, int nkeys, int argc, const char **argv) {
  script_sha(script);
  const char **av = malloc(sizeof(char *) * (size_t)(argc + 3));
  if (!av) return NULL;
  char nk[16];
  snprintf(nk, sizeof nk, "%d", nkeys);
  av[0] = "EVALSHA";
  av[1] = script->sha;
  av[2] = nk;
  for (int i = 0; i < argc; i++) av[3 + i] = argv[i];
  redisReply *r = redis_cmd_argv(3 + argc, av, NULL);
  if (r && r->type == REDIS_REPLY_ERROR && strncmp(r->str, "NOSCRIPT", 8) == 0) {
    freeReplyObject(r);
    av[0] = "EVAL";
    av[1] = script->source;
    r = redis_cmd_argv(3 + argc, av, NULL);
  }
  free(av);
  return r;
}

int redis_probe(void *unused) {
  (void)unused;
  redisReply *r = redis_cmd("PING");
  int ok = r && r->type == REDIS_REPLY_STATUS;
  if (r) freeReplyObject(r);
  return ok ? 0 : -1;
}
