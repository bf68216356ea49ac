/* redis.c - per-thread hiredis connections, EVALSHA with NOSCRIPT fallback,
 * and the smallest slot-aware layer for a Redis Cluster (see redis.h).
 *
 * Every command is formatted once (RESP) and sent to a node: the only node
 * of a plain Redis, or in a cluster the master that owns the slot of the
 * command's first key. The slot map comes from CLUSTER SHARDS (CLUSTER SLOTS
 * on servers before 7.0), asked of any
 * node that answers (the seeds first); a MOVED reply teaches the slot's new
 * owner at once and refreshes the whole map, an ASK reply sends the command
 * once more to the node named, after ASKING, and TRYAGAIN or CLUSTERDOWN (a
 * slot half migrated, a failover under way) are retried after a short sleep.
 * A connection that fails refreshes the map too (a lost master is replaced
 * by its promoted replica). Nodes are kept in one table that only grows,
 * so each thread holds its connections by node index. */
#include "redis.h"

#include <openssl/sha.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "hex.h"
#include "log.h"
#include "clock.h"

#define SLOTS 16384
#define NODES_MAX 64
#define REFRESH_MIN_MS 100      /* the map is asked for at most this often */
#define REFRESH_PERIOD_MS 1000  /* redis_failovers asks at least this often */
#define REDIRECTS_MAX 64       /* hops of one command: MOVED, ASK and retries */
#define RETRY_SLEEP_MAX_MS 2000 /* TRYAGAIN / CLUSTERDOWN: sleeps of one command, in all */

enum { MODE_UNKNOWN, MODE_SINGLE, MODE_CLUSTER };
enum { ROLE_UNKNOWN, ROLE_MASTER, ROLE_REPLICA };

typedef struct node {
  char host[128];
  int port;
  int role;
} node;

/* The node table (seeds first), the slot map and the mode: written under
 * g_map_mu held for writing, read under it held for reading. */
static node g_nodes[NODES_MAX];
static int g_nnodes;
static uint8_t g_slot[SLOTS];   /* owner's node index + 1; 0 unknown */
static pthread_rwlock_t g_map_mu = PTHREAD_RWLOCK_INITIALIZER;
static atomic_int g_mode;
static atomic_long g_promotions;
/* One refresh at a time, at most one per REFRESH_MIN_MS. */
static pthread_mutex_t g_refresh_mu = PTHREAD_MUTEX_INITIALIZER;
static int64_t g_refreshed_ms;
static char g_password[256];

/* A thread's connections, by node index; closed when the thread exits. */
typedef struct conns {
  redisContext *c[NODES_MAX];
} conns;
static _Thread_local conns *t_conns;
static _Thread_local int t_timeout_ms = 2000;
static pthread_key_t g_key;
static pthread_once_t g_key_once = PTHREAD_ONCE_INIT;

static void close_all(conns *t) {
  for (int i = 0; i < NODES_MAX; i++)
    if (t->c[i]) redisFree(t->c[i]);
  memset(t, 0, sizeof *t);
}

static void close_at_exit(void *p) {
  close_all(p);
  free(p);
}

static void make_key(void) { pthread_key_create(&g_key, close_at_exit); }

static conns *thread_conns(void) {
  if (t_conns) return t_conns;
  pthread_once(&g_key_once, make_key);
  t_conns = calloc(1, sizeof *t_conns);
  if (t_conns) pthread_setspecific(g_key, t_conns);
  return t_conns;
}

/* ------------------------------------------------------------ slots */

/* CRC16-CCITT (XMODEM): polynomial 0x1021, initial value 0, no reflection,
 * as the Redis Cluster specification names for key slots. */
static uint16_t crc16(const unsigned char *p, size_t n) {
  uint16_t crc = 0;
  for (size_t i = 0; i < n; i++) {
    crc ^= (uint16_t)(p[i] << 8);
    for (int b = 0; b < 8; b++) crc = crc & 0x8000 ? (uint16_t)((crc << 1) ^ 0x1021) : (uint16_t)(crc << 1);
  }
  return crc;
}

unsigned redis_key_slot(const char *key, size_t len) {
  /* A hash tag: what lies between the first '{' and the first '}' after
   * it, when that is not empty. */
  const char *open = memchr(key, '{', len);
  if (open) {
    size_t from = (size_t)(open - key) + 1;
    const char *close = memchr(open + 1, '}', len - from);
    if (close && close > open + 1) return crc16((const unsigned char *)open + 1, (size_t)(close - open - 1)) % SLOTS;
  }
  return crc16((const unsigned char *)key, len) % SLOTS;
}

/* fmt_arg finds argument |want| of a formatted command (RESP array of bulk
 * strings, as redisFormatCommand writes). 0, or -1 when there is none. */
static int fmt_arg(const char *cmd, size_t len, long want, const char **out, size_t *out_len) {
  const char *p = cmd, *end = cmd + len;
  char *q;
  if (p >= end || *p != '*') return -1;
  long n = strtol(p + 1, &q, 10);
  p = q + 2;
  for (long i = 0; i < n && i <= want; i++) {
    if (p >= end || *p != '$') return -1;
    long l = strtol(p + 1, &q, 10);
    p = q + 2;
    if (l < 0 || p + l > end) return -1;
    if (i == want) {
      *out = p;
      *out_len = (size_t)l;
      return 0;
    }
    p += l + 2;
  }
  return -1;
}

static int name_is(const char *name, size_t n, const char *what) {
  return strlen(what) == n && strncasecmp(name, what, n) == 0;
}

/* command_slot: the slot of a formatted command's first key, or -1 for a
 * command without keys (any node answers it). */
static int command_slot(const char *cmd, size_t len) {
  static const char *const keyless[] = {"PING", "SCRIPT", "CONFIG", "INFO", "CLUSTER", "UNWATCH", "MULTI",
                                        "EXEC", "DISCARD", "FLUSHALL", "FLUSHDB", "DBSIZE", "TIME", "DEBUG",
                                        "CLIENT", "AUTH", "SELECT", "KEYS", "SCAN", "ECHO", "WAIT", "ASKING"};
  const char *name, *key;
  size_t n, klen;
  if (fmt_arg(cmd, len, 0, &name, &n) != 0) return -1;
  for (size_t i = 0; i < sizeof keyless / sizeof keyless[0]; i++)
    if (name_is(name, n, keyless[i])) return -1;
  long at = 1;
  if (name_is(name, n, "EVAL") || name_is(name, n, "EVALSHA")) {
    const char *nk;
    size_t nkl;
    if (fmt_arg(cmd, len, 2, &nk, &nkl) != 0 || strtol(nk, NULL, 10) <= 0) return -1;
    at = 3;
  }
  if (fmt_arg(cmd, len, at, &key, &klen) != 0) return -1;
  return (int)redis_key_slot(key, klen);
}

/* ------------------------------------------------------------ nodes and the map */

/* node_index_locked: |host|:|port|'s index, added if new (-1: table full).
 * Call with g_map_mu held for writing. */
static int node_index_locked(const char *host, size_t host_len, int port) {
  for (int i = 0; i < g_nnodes; i++)
    if (g_nodes[i].port == port && strlen(g_nodes[i].host) == host_len &&
        strncmp(g_nodes[i].host, host, host_len) == 0)
      return i;
  if (g_nnodes == NODES_MAX || host_len >= sizeof g_nodes[0].host) return -1;
  node *nd = &g_nodes[g_nnodes];
  memcpy(nd->host, host, host_len);
  nd->host[host_len] = '\0';
  nd->port = port;
  nd->role = ROLE_UNKNOWN;
  return g_nnodes++;
}

static int node_index(const char *host, size_t host_len, int port) {
  pthread_rwlock_wrlock(&g_map_mu);
  int i = node_index_locked(host, host_len, port);
  pthread_rwlock_unlock(&g_map_mu);
  return i;
}

static redisContext *connect_node(const char *host, int port, int timeout_ms) {
  struct timeval tv = {timeout_ms / 1000, (timeout_ms % 1000) * 1000};
  struct timeval ctv = {2, 0};
  redisContext *c = redisConnectWithTimeout(host, port, ctv);
  if (!c || c->err) {
    log_debug("redis connect %s:%d failed: %s", host, port, c ? c->errstr : "oom");
    if (c) redisFree(c);
    return NULL;
  }
  redisSetTimeout(c, tv);
  if (g_password[0]) {
    redisReply *r = redisCommand(c, "AUTH %s", g_password);
    int ok = r && r->type != REDIS_REPLY_ERROR;
    if (r) freeReplyObject(r);
    if (!ok) {
      log_error("redis: AUTH failed on %s:%d", host, port);
      redisFree(c);
      return NULL;
    }
  }
  return c;
}

/* node_addr copies node |i|'s address (0, or -1 if there is no such node). */
static int node_addr(int i, char *host, size_t cap, int *port) {
  pthread_rwlock_rdlock(&g_map_mu);
  int ok = i >= 0 && i < g_nnodes;
  if (ok) {
    size_t l = strnlen(g_nodes[i].host, sizeof g_nodes[i].host);
    if (l >= cap) l = cap - 1;
    memcpy(host, g_nodes[i].host, l);
    host[l] = '\0';
    *port = g_nodes[i].port;
  }
  pthread_rwlock_unlock(&g_map_mu);
  return ok ? 0 : -1;
}

/* node_conn: this thread's connection to node |i|, made if need be. */
static redisContext *node_conn(int i) {
  conns *t = thread_conns();
  if (!t || i < 0 || i >= NODES_MAX) return NULL;
  if (t->c[i] && !t->c[i]->err) return t->c[i];
  if (t->c[i]) redisFree(t->c[i]);
  t->c[i] = NULL;
  char host[128];
  int port;
  if (node_addr(i, host, sizeof host, &port) != 0) return NULL;
  t->c[i] = connect_node(host, port, t_timeout_ms);
  return t->c[i];
}

static void node_drop(int i) {
  conns *t = thread_conns();
  if (!t || i < 0 || i >= NODES_MAX || !t->c[i]) return;
  redisFree(t->c[i]);
  t->c[i] = NULL;
}

/* A map being read (under g_refresh_mu): each slot's owner (index + 1),
 * each node's role. */
static uint8_t g_new_slot[SLOTS];
static int g_new_role[NODES_MAX];

/* kv: the value of |key| in a RESP2 flat map (key, value, ...), or NULL. */
static const redisReply *kv(const redisReply *m, const char *key) {
  if (!m || m->type != REDIS_REPLY_ARRAY) return NULL;
  for (size_t i = 0; i + 1 < m->elements; i += 2)
    if (m->element[i]->type == REDIS_REPLY_STRING && strcmp(m->element[i]->str, key) == 0) return m->element[i + 1];
  return NULL;
}

static void own(int i, long long from, long long to) {
  for (long long s = from < 0 ? 0 : from; s <= to && s < SLOTS; s++) g_new_slot[s] = (uint8_t)(i + 1);
}

/* read_shards reads a CLUSTER SHARDS reply (Redis 7: every node with its
 * role and health, replicas from the start). Under g_map_mu for writing. */
static void read_shards(const redisReply *r, const char *asked) {
  for (size_t e = 0; e < r->elements; e++) {
    const redisReply *slots = kv(r->element[e], "slots"), *nodes = kv(r->element[e], "nodes");
    if (!slots || !nodes || nodes->type != REDIS_REPLY_ARRAY) continue;
    int master = -1;
    for (size_t k = 0; k < nodes->elements; k++) {
      const redisReply *n = nodes->element[k], *ip = kv(n, "endpoint"), *port = kv(n, "port"),
                       *role = kv(n, "role"), *health = kv(n, "health");
      if (!ip || ip->type != REDIS_REPLY_STRING || !strcmp(ip->str, "?")) ip = kv(n, "ip");
      if (!ip || ip->type != REDIS_REPLY_STRING || !port || port->type != REDIS_REPLY_INTEGER || !role ||
          role->type != REDIS_REPLY_STRING)
        continue;
      const char *host = ip->len ? ip->str : asked;
      int i = node_index_locked(host, strlen(host), (int)port->integer);
      if (i < 0) continue;
      int failed = health && health->type == REDIS_REPLY_STRING && !strcmp(health->str, "failed");
      if (!strcmp(role->str, "master") && !failed) {
        g_new_role[i] = ROLE_MASTER;
        master = i;
      } else if (!strcmp(role->str, "replica") && !g_new_role[i]) {
        g_new_role[i] = ROLE_REPLICA;
      }
    }
    for (size_t k = 0; master >= 0 && k + 1 < slots->elements; k += 2)
      own(master, slots->element[k]->integer, slots->element[k + 1]->integer);
  }
}

/* read_slots reads a CLUSTER SLOTS reply (older servers; replicas that
 * have not synced yet are left out). Under g_map_mu for writing. */
static void read_slots(const redisReply *r, const char *asked) {
  for (size_t e = 0; e < r->elements; e++) {
    const redisReply *x = r->element[e];
    if (x->type != REDIS_REPLY_ARRAY || x->elements < 3) continue;
    for (size_t k = 2; k < x->elements; k++) {
      const redisReply *nd = x->element[k];
      if (nd->type != REDIS_REPLY_ARRAY || nd->elements < 2 || nd->element[0]->type != REDIS_REPLY_STRING) continue;
      const char *host = nd->element[0]->len ? nd->element[0]->str : asked;
      int i = node_index_locked(host, strlen(host), (int)nd->element[1]->integer);
      if (i < 0) continue;
      if (k > 2) {
        if (!g_new_role[i]) g_new_role[i] = ROLE_REPLICA;
        continue;
      }
      g_new_role[i] = ROLE_MASTER;
      own(i, x->element[0]->integer, x->element[1]->integer);
    }
  }
}

/* apply_map takes a CLUSTER SHARDS (|shards|) or CLUSTER SLOTS reply asked
 * of |asked| (whose host stands in for an empty one) as the slot map, and
 * counts the replicas that are masters now. */
static void apply_map(const redisReply *r, const char *asked, int shards) {
  memset(g_new_slot, 0, sizeof g_new_slot);
  memset(g_new_role, 0, sizeof g_new_role);
  pthread_rwlock_wrlock(&g_map_mu);
  if (shards)
    read_shards(r, asked);
  else
    read_slots(r, asked);
  int promoted = 0;
  for (int i = 0; i < g_nnodes; i++) {
    if (!g_new_role[i]) {   /* serves nothing now (failed, or not joined yet) */
      if (g_nodes[i].role == ROLE_MASTER) g_nodes[i].role = ROLE_UNKNOWN;
      continue;
    }
    if (g_new_role[i] == ROLE_MASTER && g_nodes[i].role == ROLE_REPLICA) {
      promoted++;
      log_warn("redis cluster: replica %s:%d is a master now", g_nodes[i].host, g_nodes[i].port);
    }
    g_nodes[i].role = g_new_role[i];
  }
  memcpy(g_slot, g_new_slot, sizeof g_slot);
  pthread_rwlock_unlock(&g_map_mu);
  if (promoted) atomic_fetch_add(&g_promotions, promoted);
}

/* refresh asks the nodes in turn for the slot map until one
 * answers; a Redis without cluster support says so, and the mode is
 * single from then on. At most once per |min_ms|. */
static void refresh(int min_ms) {
  pthread_mutex_lock(&g_refresh_mu);
  int64_t now = clock_now_ms();
  if (g_refreshed_ms && now - g_refreshed_ms < min_ms) {
    pthread_mutex_unlock(&g_refresh_mu);
    return;
  }
  g_refreshed_ms = now;
  pthread_rwlock_rdlock(&g_map_mu);
  int n = g_nnodes;
  pthread_rwlock_unlock(&g_map_mu);
  for (int i = 0; i < n; i++) {
    char host[128];
    int port;
    if (node_addr(i, host, sizeof host, &port) != 0) break;
    redisContext *c = connect_node(host, port, 1000);
    if (!c) continue;
    /* CLUSTER SHARDS (Redis 7) names replicas before they have synced;
     * CLUSTER SLOTS is for older servers. */
    int shards = 1;
    redisReply *r = redisCommand(c, "CLUSTER SHARDS");
    if (r && r->type == REDIS_REPLY_ERROR && !strstr(r->str, "disabled")) {
      freeReplyObject(r);
      shards = 0;
      r = redisCommand(c, "CLUSTER SLOTS");
    }
    int done = 0;
    if (r && r->type == REDIS_REPLY_ARRAY && r->elements > 0) {
      apply_map(r, host, shards);
      if (atomic_exchange(&g_mode, MODE_CLUSTER) != MODE_CLUSTER) log_info("redis: cluster mode (%s:%d)", host, port);
      done = 1;
    } else if (r && r->type == REDIS_REPLY_ERROR && strstr(r->str, "disabled")) {
      atomic_store(&g_mode, MODE_SINGLE);
      done = 1;
    }
    if (r) freeReplyObject(r);
    redisFree(c);
    if (done) break;
  }
  pthread_mutex_unlock(&g_refresh_mu);
}

static int mode(void) {
  int m = atomic_load(&g_mode);
  if (m != MODE_UNKNOWN) return m;
  refresh(REFRESH_MIN_MS);
  return atomic_load(&g_mode);
}

/* slot_owner: the node serving |slot| (-1: a keyless command, any master). */
static int slot_owner(int slot) {
  for (int pass = 0; pass < 2; pass++) {
    int i = -1;
    pthread_rwlock_rdlock(&g_map_mu);
    if (slot >= 0) {
      i = g_slot[slot] - 1;
    } else {
      conns *t = thread_conns();
      for (int k = 0; k < g_nnodes && i < 0; k++)   /* a master this thread is connected to, else the first */
        if (g_nodes[k].role == ROLE_MASTER && t && t->c[k] && !t->c[k]->err) i = k;
      for (int k = 0; k < g_nnodes && i < 0; k++)
        if (g_nodes[k].role == ROLE_MASTER) i = k;
    }
    pthread_rwlock_unlock(&g_map_mu);
    if (i >= 0) return i;
    if (pass == 0) refresh(REFRESH_MIN_MS);
  }
  return 0;   /* no map: a seed, whose MOVED teaches the owner */
}

/* redirect parses "MOVED <slot> <host>:<port>" or "ASK ..." into the node's
 * index; -1 when it is neither. */
static int redirect(const char *err, const char *kind, int *slot) {
  size_t k = strlen(kind);
  if (strncmp(err, kind, k) != 0 || err[k] != ' ') return -1;
  char *p;
  *slot = (int)strtol(err + k + 1, &p, 10);
  while (*p == ' ') p++;
  const char *colon = strrchr(p, ':');
  if (!colon || *slot < 0 || *slot >= SLOTS) return -1;
  const char *host = p;
  size_t host_len = (size_t)(colon - p);
  if (host_len && host[0] == '[' && host[host_len - 1] == ']') host++, host_len -= 2;
  return node_index(host, host_len, atoi(colon + 1));
}

/* roundtrip sends a formatted command to node |i| (after ASKING if |asking|)
 * and reads its reply. NULL when the connection could not be made (*sent
 * 0) or failed (*sent 1: the command may have run). */
static redisReply *roundtrip(int i, int asking, const char *cmd, size_t len, int *sent) {
  *sent = 0;
  redisContext *c = node_conn(i);
  if (!c) return NULL;
  *sent = 1;
  redisReply *r = NULL;
  if (asking && redisAppendCommand(c, "ASKING") != REDIS_OK) goto lost;
  if (redisAppendFormattedCommand(c, cmd, len) != REDIS_OK) goto lost;
  if (asking) {
    if (redisGetReply(c, (void **)&r) != REDIS_OK || !r) goto lost;
    freeReplyObject(r);
  }
  if (redisGetReply(c, (void **)&r) != REDIS_OK || !r) goto lost;
  return r;
lost:
  node_drop(i);
  return NULL;
}

static int is_retry(const redisReply *r) {
  return r->type == REDIS_REPLY_ERROR && (!strncmp(r->str, "TRYAGAIN", 8) || !strncmp(r->str, "CLUSTERDOWN", 11));
}

static int is_redirect(const redisReply *r) {
  return r->type == REDIS_REPLY_ERROR && (!strncmp(r->str, "MOVED ", 6) || !strncmp(r->str, "ASK ", 4) || is_retry(r));
}

/* send_formatted runs one formatted command where its key lives, following
 * MOVED and ASK, retrying TRYAGAIN and CLUSTERDOWN for a while. */
static redisReply *send_formatted(const char *cmd, size_t len) {
  int sent;
  if (mode() != MODE_CLUSTER) return roundtrip(0, 0, cmd, len, &sent);
  int slot = command_slot(cmd, len), ask = -1, refused = 0, slept = 0, sleep_ms = 10;
  redisReply *r = NULL;
  for (int tries = 0; tries < REDIRECTS_MAX; tries++) {
    if (r) freeReplyObject(r);
    int i = ask >= 0 ? ask : slot_owner(slot);
    r = roundtrip(i, ask >= 0, cmd, len, &sent);
    ask = -1;
    if (!r) {   /* a lost node: learn the map again; resend only what was never sent */
      refresh(REFRESH_MIN_MS);
      if (!sent && ++refused < 2) continue;
      return NULL;
    }
    if (r->type != REDIS_REPLY_ERROR) return r;
    int s, to;
    if ((to = redirect(r->str, "MOVED", &s)) >= 0) {
      pthread_rwlock_wrlock(&g_map_mu);
      g_slot[s] = (uint8_t)(to + 1);
      pthread_rwlock_unlock(&g_map_mu);
      refresh(REFRESH_MIN_MS);
    } else if ((to = redirect(r->str, "ASK", &s)) >= 0) {
      ask = to;
    } else if (is_retry(r) && slept < RETRY_SLEEP_MAX_MS) {
      usleep((useconds_t)sleep_ms * 1000);
      slept += sleep_ms;
      sleep_ms = sleep_ms < 100 ? sleep_ms * 2 : 100;
      if (r->str[0] == 'C') refresh(REFRESH_MIN_MS);
    } else {
      return r;
    }
  }
  return r;
}

/* ------------------------------------------------------------ the API */

void redis_setup(const char *host, int port, const char *password) {
  char addr[300];
  snprintf(addr, sizeof addr, "%s:%d", host ? host : "127.0.0.1", port > 0 ? port : 6379);
  redis_setup_addr(addr, password);
}

void redis_setup_addr(const char *host_ports, const char *password) {
  redis_disconnect();
  pthread_mutex_lock(&g_refresh_mu);
  pthread_rwlock_wrlock(&g_map_mu);
  g_nnodes = 0;
  memset(g_slot, 0, sizeof g_slot);
  char list[1024];
  snprintf(list, sizeof list, "%s", host_ports && *host_ports ? host_ports : "127.0.0.1:6379");
  char *save = NULL;
  for (char *seed = strtok_r(list, ", ", &save); seed; seed = strtok_r(NULL, ", ", &save)) {
    int port = 6379;
    char *colon = strrchr(seed, ':');
    if (colon) {
      *colon = '\0';
      port = atoi(colon + 1);
    }
    node_index_locked(seed, strlen(seed), port);
  }
  pthread_rwlock_unlock(&g_map_mu);
  g_refreshed_ms = 0;
  atomic_store(&g_mode, MODE_UNKNOWN);
  atomic_store(&g_promotions, 0);
  pthread_mutex_unlock(&g_refresh_mu);
  snprintf(g_password, sizeof g_password, "%s", password ? password : "");
}

void redis_disconnect(void) {
  if (t_conns) close_all(t_conns);
}

void redis_set_timeout_ms(int ms) {
  t_timeout_ms = ms;
  struct timeval tv = {ms / 1000, (ms % 1000) * 1000};
  for (int i = 0; t_conns && i < NODES_MAX; i++)
    if (t_conns->c[i]) redisSetTimeout(t_conns->c[i], tv);
}

int redis_cluster_mode(void) { return mode() == MODE_CLUSTER; }

long redis_failovers(void) {
  if (mode() != MODE_CLUSTER) return 0;
  refresh(REFRESH_PERIOD_MS);
  return atomic_load(&g_promotions);
}

redisContext *redis_conn(void) { return node_conn(mode() == MODE_CLUSTER ? slot_owner(-1) : 0); }

redisContext *redis_conn_for(const char *key) {
  return node_conn(mode() == MODE_CLUSTER ? slot_owner((int)redis_key_slot(key, strlen(key))) : 0);
}

redisContext *redis_conn_for_command(const char *cmd, size_t len) {
  return node_conn(mode() == MODE_CLUSTER ? slot_owner(command_slot(cmd, len)) : 0);
}

redisReply *redis_cmd(const char *fmt, ...) {
  char *cmd;
  va_list ap;
  va_start(ap, fmt);
  int len = redisvFormatCommand(&cmd, fmt, ap);
  va_end(ap);
  if (len < 0) return NULL;
  redisReply *r = send_formatted(cmd, (size_t)len);
  redisFreeCommand(cmd);
  return r;
}

redisReply *redis_cmd_argv(int argc, const char **argv, const size_t *argvlen) {
  char *cmd;
  long long len = redisFormatCommandArgv(&cmd, argc, argv, argvlen);
  if (len < 0) return NULL;
  redisReply *r = send_formatted(cmd, (size_t)len);
  redisFreeCommand(cmd);
  return r;
}

int redis_pipeline(int n, const int *argc, const char *const *const *argv, redisReply **out) {
  if (n <= 0) return 0;
  char **cmd = calloc((size_t)n, sizeof *cmd);
  size_t *len = calloc((size_t)n, sizeof *len);
  int rc = -1;
  if (cmd && len) {
    int i = 0;
    for (; i < n; i++) {
      long long l = redisFormatCommandArgv(&cmd[i], argc[i], (const char **)argv[i], NULL);
      if (l < 0) break;
      len[i] = (size_t)l;
    }
    if (i == n) rc = redis_pipeline_formatted(n, (const char *const *)cmd, len, out);
  }
  for (int i = 0; cmd && i < n; i++)
    if (cmd[i]) redisFreeCommand(cmd[i]);
  free(cmd);
  free(len);
  return rc;
}

int redis_pipeline_formatted(int n, const char *const *cmd, const size_t *len, redisReply **out) {
  if (n <= 0) return 0;
  int rc = -1, i = 0, got = 0, owner = 0;
  /* One slot per pipeline (keys share the org's tag): the first key's. */
  if (mode() == MODE_CLUSTER) owner = slot_owner(command_slot(cmd[0], len[0]));
  redisContext *c = node_conn(owner);
  if (!c) {
    if (mode() == MODE_CLUSTER) refresh(REFRESH_MIN_MS);
    return -1;
  }
  for (i = 0; i < n; i++)
    if (redisAppendFormattedCommand(c, cmd[i], len[i]) != REDIS_OK) goto lost;
  for (got = 0; got < n; got++)
    if (redisGetReply(c, (void **)&out[got]) != REDIS_OK || !out[got]) goto lost;
  /* A slot that moved or is moving: those commands again, one by one. */
  rc = 0;
  for (i = 0; i < n && rc == 0; i++) {
    if (!is_redirect(out[i])) continue;
    freeReplyObject(out[i]);
    out[i] = send_formatted(cmd[i], len[i]);
    if (!out[i]) {
      for (int k = 0; k < n; k++)
        if (k != i) freeReplyObject(out[k]);
      rc = -1;
    }
  }
  return rc;
lost:
  for (int k = 0; k < got; k++) freeReplyObject(out[k]);
  node_drop(owner);
  if (mode() == MODE_CLUSTER) refresh(REFRESH_MIN_MS);
  return -1;
}

static void script_sha(redis_script *s) {
  if (s->sha[0]) return;
  unsigned char d[SHA_DIGEST_LENGTH];
  SHA1((const unsigned char *)s->source, strlen(s->source), d);
  hex_encode(s->sha, d, SHA_DIGEST_LENGTH);
}

/* eval_argv: EVALSHA, the script's digest, |nkeys| (written in |nk|), then
 * |argv| (free the vector). */
static const char **eval_argv(redis_script *script, int nkeys, int argc, const char **argv, char nk[16]) {
  script_sha(script);
  const char **av = malloc(sizeof(char *) * (size_t)(argc + 3));
  if (!av) return NULL;
  snprintf(nk, 16, "%d", nkeys);
  av[0] = "EVALSHA";
  av[1] = script->sha;
  av[2] = nk;
  memcpy(av + 3, argv, sizeof(char *) * (size_t)argc);
  return av;
}

long long redis_eval_format(redis_script *script, int nkeys, int argc, const char **argv, char **out) {
  char nk[16];
  const char **av = eval_argv(script, nkeys, argc, argv, nk);
  if (!av) return -1;
  long long len = redisFormatCommandArgv(out, 3 + argc, av, NULL);
  free(av);
  return len;
}

redisReply *redis_eval(redis_script *script, int nkeys, int argc, const char **argv) {
  char nk[16];
  const char **av = eval_argv(script, nkeys, argc, argv, nk);
  if (!av) return NULL;
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
