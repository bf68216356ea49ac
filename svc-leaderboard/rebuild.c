/* rebuild.c - recompute an org's boards from the ledger into fresh keys and
 * swap them in atomically (one Lua script).
 *
 * The org's ledger is read once (COPY) into a tally (tally.h), which hands
 * out every board with its members sorted by score; each board is written
 * to a fresh key with one RESTORE of a sorted-set payload (dump.h), several
 * in flight at once, or with ZADDs where the server refuses the payload.
 * Windowed boards are only rebuilt for periods that the retention still
 * keeps, each with the time to live it would have had (its last award plus
 * the retention), so a rebuild never brings expired periods back. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "boards.h"
#include "dump.h"
#include "lb.h"
#include "log.h"
#include "pg.h"
#include "redis.h"
#include "store.h"
#include "tally.h"
#include "topcache.h"

#define ZADD_BATCH 500
#define IN_FLIGHT 64                   /* commands sent whose replies are not read */
#define IN_FLIGHT_BYTES (32 << 20)
#define REBUILD_REDIS_TIMEOUT_MS 300000

/* KEYS[1] the org's registry, KEYS[2], KEYS[3] the marker sets, KEYS[4..]
 * fresh boards; ARGV[i] for each fresh board: its live name, then its ttl
 * ("0": none; "-1": expired, dropped). Drops every old board (rolling caches
 * included), renames the fresh ones in. */
static redis_script swap_script = {.source =
    "local old = redis.call('SMEMBERS', KEYS[1])\n"
    "for _, k in ipairs(old) do redis.call('DEL', k) end\n"
    "redis.call('DEL', KEYS[1], KEYS[2], KEYS[3])\n"
    "local n = 0\n"
    "for i = 4, #KEYS do\n"
    "  local live, ttl = ARGV[2 * (i - 3) - 1], tonumber(ARGV[2 * (i - 3)])\n"
    "  if ttl < 0 then\n"
    "    redis.call('DEL', KEYS[i])\n"
    "  else\n"
    "    redis.call('RENAME', KEYS[i], live)\n"
    "    redis.call('SADD', KEYS[1], live)\n"
    "    if ttl > 0 then redis.call('EXPIRE', live, ttl) end\n"
    "    n = n + 1\n"
    "  end\n"
    "end\n"
    "return n\n"};

typedef struct fresh_board {
  char *live, *fresh;
  int window;
  int64_t last_ms;   /* its latest award */
} fresh_board;

typedef struct rebuild {
  const char *org;
  char suffix[48];
  fresh_board *b;
  int n, cap;
  int restore;                    /* write with RESTORE (else ZADD) */
  dump_buf payload;
  size_t sent[IN_FLIGHT];         /* the bytes of each command in flight, oldest first */
  int pending, oldest;
  size_t pending_bytes;
  int64_t pairs;
} rebuild;

/* read_replies reads replies until at most |keep| commands are in flight. */
static int read_replies(rebuild *rb, int keep) {
  redisContext *c = redis_conn();
  if (!c) return -1;
  int ok = 1;
  for (; rb->pending > keep; rb->pending--) {
    redisReply *rep;
    if (redisGetReply(c, (void **)&rep) != REDIS_OK) {
      redis_disconnect();
      return -1;
    }
    if (rep->type == REDIS_REPLY_ERROR) {
      log_error("rebuild write: %s", rep->str);
      ok = 0;
    }
    freeReplyObject(rep);
    rb->pending_bytes -= rb->sent[rb->oldest];
    rb->oldest = (rb->oldest + 1) % IN_FLIGHT;
  }
  return ok ? 0 : -1;
}

/* send appends one command; the oldest replies are read while Redis works
 * on the newer ones. */
static int send(rebuild *rb, int argc, const char **argv, const size_t *len) {
  redisContext *c = redis_conn();
  if (!c || redisAppendCommandArgv(c, argc, argv, len) != REDIS_OK) return -1;
  size_t bytes = 0;
  for (int i = 0; i < argc; i++) bytes += len ? len[i] : strlen(argv[i]);
  rb->sent[(rb->oldest + rb->pending) % IN_FLIGHT] = bytes;
  rb->pending++;
  rb->pending_bytes += bytes;
  if (rb->pending == IN_FLIGHT) return read_replies(rb, IN_FLIGHT / 2);
  return rb->pending_bytes > IN_FLIGHT_BYTES ? read_replies(rb, 0) : 0;
}

static int write_zadd(rebuild *rb, const char *key, const tally_board *b) {
  const char *argv[2 + 2 * ZADD_BATCH];
  char scores[ZADD_BATCH][32];
  for (size_t i = 0; i < b->n;) {
    int k = 0;
    argv[k++] = "ZADD";
    argv[k++] = key;
    for (int m = 0; m < ZADD_BATCH && i < b->n; m++, i++) {
      snprintf(scores[m], sizeof scores[m], "%.17g", b->entries[i].score);
      argv[k++] = scores[m];
      argv[k++] = b->entries[i].id;
    }
    /* The strings live on this stack: hiredis copies them as it appends. */
    if (send(rb, k, argv, NULL) != 0) return -1;
  }
  return 0;
}

/* write_board writes one board from the tally into its fresh key. */
static int write_board(void *arg, const tally_board *b) {
  rebuild *rb = arg;
  if (lb_stopping()) return -1;
  if (rb->n == rb->cap) {
    rb->cap = rb->cap ? rb->cap * 2 : 256;
    rb->b = realloc(rb->b, sizeof *rb->b * (size_t)rb->cap);
    if (!rb->b) abort();
  }
  fresh_board *f = &rb->b[rb->n++];
  f->live = strdup(b->key);
  size_t len = strlen(b->key) + strlen(rb->suffix) + 1;
  f->fresh = malloc(len);
  snprintf(f->fresh, len, "%s%s", b->key, rb->suffix);
  f->window = b->window;
  f->last_ms = b->last_ms;
  rb->pairs += (int64_t)b->n;
  if (!rb->restore) return write_zadd(rb, f->fresh, b);
  dump_zset(&rb->payload, b->entries, b->n);
  const char *argv[] = {"RESTORE", f->fresh, "0", (const char *)rb->payload.p, "REPLACE"};
  size_t lens[] = {7, len - 1, 1, rb->payload.n, 7};
  return send(rb, 5, argv, lens);
}

/* restore_works: whether this Redis takes our sorted-set payloads (asked
 * once per process, with a two-member probe). ACCOLADE_LEADERBOARD_REBUILD_
 * WRITE=zadd writes with ZADD regardless. -1: Redis unreachable. */
static int restore_works(const char *org) {
  static int known = -1;
  int k = __atomic_load_n(&known, __ATOMIC_ACQUIRE);
  if (k >= 0) return k;
  const char *mode = getenv("ACCOLADE_LEADERBOARD_REBUILD_WRITE");
  if (mode && strcmp(mode, "zadd") == 0) {
    __atomic_store_n(&known, 0, __ATOMIC_RELEASE);
    return 0;
  }
  char key[BOARD_KEY_MAX];
  snprintf(key, sizeof key, "lb:{%s}:restore-probe", org);
  board_entry e[] = {{"b", 2.5}, {"a", -1}};
  dump_buf d = {0};
  dump_zset(&d, e, 2);
  const char *argv[] = {"RESTORE", key, "0", (const char *)d.p, "REPLACE"};
  size_t lens[] = {7, strlen(key), 1, d.n, 7};
  redisReply *r = redis_cmd_argv(5, argv, lens);
  dump_buf_free(&d);
  if (!r) return -1;
  int ok = r->type == REDIS_REPLY_STATUS;
  if (!ok) log_warn("rebuild: Redis refuses sorted-set payloads (%s); writing with ZADD", r->str);
  freeReplyObject(r);
  if (ok) {
    r = redis_cmd("ZRANGE %s 0 -1 WITHSCORES", key);
    if (!r) return -1;
    ok = r->type == REDIS_REPLY_ARRAY && r->elements == 4 && strcmp(r->element[0]->str, "a") == 0 &&
         strtod(r->element[1]->str, NULL) == -1 && strcmp(r->element[2]->str, "b") == 0 &&
         strtod(r->element[3]->str, NULL) == 2.5;
    if (!ok) log_warn("rebuild: a restored sorted-set payload reads back wrong; writing with ZADD");
    freeReplyObject(r);
    r = redis_cmd("DEL %s", key);
    if (r) freeReplyObject(r);
  }
  __atomic_store_n(&known, ok, __ATOMIC_RELEASE);
  return ok;
}

/* add_row takes one ledger row (store_ledger_read) into the tally. */
static int add_row(void *arg, char **cols, int ncols) {
  if (ncols != 8) return RPC_INTERNAL;
  for (int i = 0; i < 8; i++)
    if (!cols[i]) return RPC_INTERNAL;   /* every column is NOT NULL */
  tally_add(arg, cols[0], cols[1], cols[2], cols[3], strtoll(cols[4], NULL, 10), strtoll(cols[5], NULL, 10),
            cols[6], cols[7][0] == 't');
  return 0;
}

typedef struct names {
  rebuild *rb;
  const char *argv[2 + 2 * 1000];
  size_t len[2 + 2 * 1000];
  char *values[1000];
  int n;
} names;

static int names_flush(names *w) {
  if (!w->n) return 0;
  int rc = send(w->rb, 2 + 2 * w->n, w->argv, w->len);
  for (int i = 0; i < w->n; i++) free(w->values[i]);
  w->n = 0;
  return rc;
}

static int add_name(void *arg, const char *id, const char *team, const char *name) {
  names *w = arg;
  size_t len = strlen(team) + 1 + strlen(name);
  char *v = malloc(len + 1);
  snprintf(v, len + 1, "%s\t%s", team, name);
  w->values[w->n] = v;
  w->argv[2 + 2 * w->n] = id;
  w->len[2 + 2 * w->n] = strlen(id);
  w->argv[3 + 2 * w->n] = v;
  w->len[3 + 2 * w->n] = len;
  return ++w->n == 1000 ? names_flush(w) : 0;
}

/* write_names rewrites the org's display hash from the latest award of each
 * recipient that carried a name. */
static int write_names(rebuild *rb, tally *t) {
  char who[BOARD_KEY_MAX];
  snprintf(who, sizeof who, "lb:{%s}:who", rb->org);
  names *w = calloc(1, sizeof *w);
  if (!w) abort();
  w->rb = rb;
  w->argv[0] = "HSET";
  w->len[0] = 4;
  w->argv[1] = who;
  w->len[1] = strlen(who);
  int rc = tally_names(t, add_name, w);
  if (!rc) rc = names_flush(w);
  for (int i = 0; i < w->n; i++) free(w->values[i]);
  free(w);
  return rc;
}

static int swap(rebuild *rb, int64_t now_ms) {
  const char **argv = malloc(sizeof(char *) * (size_t)(3 * rb->n + 8));
  char(*ttls)[24] = malloc(sizeof *ttls * (size_t)(rb->n + 1));
  char registry[BOARD_KEY_MAX], add[BOARD_KEY_MAX], sub[BOARD_KEY_MAX];
  snprintf(registry, sizeof registry, "lb:{%s}:keys", rb->org);
  snprintf(add, sizeof add, "lb:{%s}:pending:add", rb->org);
  snprintf(sub, sizeof sub, "lb:{%s}:pending:sub", rb->org);
  int k = 0;
  argv[k++] = registry;
  argv[k++] = add;
  argv[k++] = sub;
  for (int i = 0; i < rb->n; i++) argv[k++] = rb->b[i].fresh;
  for (int i = 0; i < rb->n; i++) {
    long ttl = lb_board_ttl(rb->b[i].window);
    if (ttl > 0) {   /* what is left of it since its last award */
      ttl -= (long)((now_ms - rb->b[i].last_ms) / 1000);
      if (ttl <= 0) ttl = -1;
    }
    snprintf(ttls[i], sizeof ttls[i], "%ld", ttl);
    argv[k++] = rb->b[i].live;
    argv[k++] = ttls[i];
  }
  redisReply *rep = redis_eval(&swap_script, rb->n + 3, k, argv);
  int rc = rep && rep->type == REDIS_REPLY_INTEGER ? 0 : -1;
  if (rep && rep->type == REDIS_REPLY_ERROR) log_error("rebuild swap: %s", rep->str);
  if (rep) freeReplyObject(rep);
  free(argv);
  free(ttls);
  return rc;
}

static int64_t mono_us(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (int64_t)t.tv_sec * 1000000 + t.tv_nsec / 1000;
}

/* drop_fresh deletes the fresh keys of a rebuild that did not finish. */
static void drop_fresh(rebuild *rb) {
  const char *argv[1 + 500];
  argv[0] = "UNLINK";
  for (int i = 0; i < rb->n;) {
    int k = 1;
    for (; k <= 500 && i < rb->n; k++, i++) argv[k] = rb->b[i].fresh;
    redisReply *d = redis_cmd_argv(k, argv, NULL);
    if (!d) return;
    freeReplyObject(d);
  }
}

int lb_rebuild_org(const char *org, int64_t *awards, int64_t *boards) {
  *awards = *boards = 0;
  struct timespec now;
  clock_gettime(CLOCK_REALTIME, &now);
  int64_t now_ms = (int64_t)now.tv_sec * 1000 + now.tv_nsec / 1000000;
  int64_t t0 = mono_us(), t_read = 0, t_write = 0;
  rebuild rb = {.org = org};
  snprintf(rb.suffix, sizeof rb.suffix, ":rebuild:%lld", (long long)now.tv_sec);
  int64_t from_ms[WIN_LAST + 1];
  for (int w = 0; w <= WIN_LAST; w++) {
    long ttl = lb_board_ttl(w);
    from_ms[w] = ttl > 0 ? now_ms - (int64_t)ttl * 1000 : INT64_MIN;
  }
  if (store_begin() != RPC_OK) return RPC_UNAVAILABLE;
  /* The swap of a big org's boards is one script that runs for seconds. */
  redis_set_timeout_ms(REBUILD_REDIS_TIMEOUT_MS);
  tally *t = tally_new();
  int rc = store_lock_org(org, 1);
  if (!rc) rc = store_ledger_read(org, add_row, t);
  t_read = mono_us();
  if (!rc) {
    rb.restore = restore_works(org);
    if (rb.restore < 0) rc = RPC_UNAVAILABLE;
  }
  if (!rc && (tally_boards(t, org, from_ms, write_board, &rb) != 0 || read_replies(&rb, 0) != 0)) {
    if (lb_stopping())   /* shutting down: the next start repairs */
      log_warn("rebuild %s: given up, the service is stopping", org);
    else
      log_error("rebuild %s: writing the fresh boards failed (redis)", org);
    rc = RPC_UNAVAILABLE;
  }
  t_write = mono_us();
  if (!rc && (write_names(&rb, t) != 0 || read_replies(&rb, 0) != 0)) {
    log_error("rebuild %s: writing the display names failed", org);
    rc = RPC_UNAVAILABLE;
  }
  if (!rc && swap(&rb, now_ms) != 0) {
    log_error("rebuild %s: swapping %d boards in failed (redis)", org, rb.n);
    rc = RPC_UNAVAILABLE;
  }
  if (!rc) rc = store_mark_all_applied(org);
  store_end(rc == RPC_OK);
  *awards = tally_awards(t);
  tally_free(t);
  if (rc) {   /* leave no fresh keys behind */
    redis_disconnect();   /* replies of a broken pipeline may still be unread */
    drop_fresh(&rb);
  }
  redis_set_timeout_ms(2000);
  topcache_invalidate();
  for (int i = 0; i < rb.n; i++) {
    free(rb.b[i].live);
    free(rb.b[i].fresh);
  }
  free(rb.b);
  dump_buf_free(&rb.payload);
  *boards = rb.n;
  log_info("rebuilt org %s: %lld awards, %d boards, %lld entries (%s); ledger read %lld ms, boards written "
           "%lld ms, names and swap %lld ms",
           org, (long long)*awards, rb.n, (long long)rb.pairs, rb.restore == 1 ? "RESTORE" : "ZADD",
           (long long)((t_read - t0) / 1000), (long long)((t_write - t_read) / 1000),
           (long long)((mono_us() - t_write) / 1000));
  return rc;
}

int lb_rebuild(rpc_ctx *ctx, const void *req, void *resp) {
  (void)req;
  Accolade__V1__RebuildLeaderboardsResponse *out = resp;
  if (rpc_require(ctx, ROLE_ADMIN)) return ctx->code;
  struct timespec t0, t1;
  clock_gettime(CLOCK_MONOTONIC, &t0);
  int rc = lb_rebuild_org(ctx->id.org, &out->awards, &out->boards);
  if (rc == RPC_UNAVAILABLE) return rpc_fail(ctx, RPC_UNAVAILABLE, "rebuild: redis or postgres unavailable");
  if (rc) return pg_fail(ctx, rc, "rebuild");
  clock_gettime(CLOCK_MONOTONIC, &t1);
  out->duration_ms = (t1.tv_sec - t0.tv_sec) * 1000 + (t1.tv_nsec - t0.tv_nsec) / 1000000;
  return RPC_OK;
}
