/* rebuild.c - recompute an org's boards from the ledger into fresh keys and
 * swap them in atomically (one MULTI/EXEC).
 *
 * The org's ledger is read once (a binary COPY) into a tally (tally.h),
 * which hands out every board with its members sorted by score; each board
 * is written to a fresh key with one RESTORE of a sorted-set payload
 * (dump.h), from a writer thread with 64 commands in flight while the tally
 * goes on, or with ZADDs where the server refuses the payload. Windowed
 * boards are only rebuilt for periods that the retention still keeps, each
 * expiring when it would have (its last award plus the retention), so a
 * rebuild never brings expired periods back.
 *
 * Costs (bench/leaderboard.sh, 10M awards to 1M members, 2 cores): ~51 s,
 * of which ~7 s reading the ledger, ~37 s writing 64.7M entries (Redis
 * loading them is the bound) and ~6 s swapping 1M boards in, Redis busy
 * with the EXEC for part of it; the process peaks at 1.6 GB RSS. */
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
/* How boards are written: ZADD; RESTORE of RDB sorted sets; the same with
 * small boards as listpacks (Redis 7.0 on). */
enum { WRITE_ZADD, WRITE_RESTORE, WRITE_LISTPACK };

#define REGISTER_BATCH 1000
#define RESTORE_MAX 8000000   /* members; ~25 bytes each in a payload */
#define QUEUE_BYTES (256 << 20)   /* commands formatted and not yet sent */
#define REBUILD_REDIS_TIMEOUT_MS 300000

typedef struct rebuild {
  const char *org;
  int64_t now_ms;
  char suffix[48];
  char registry[BOARD_KEY_MAX];   /* the fresh registry */
  char **live;                    /* the boards written, by live name */
  int n, cap;
  int registered;                 /* of them, those added to the fresh registry */
  int restore;                    /* WRITE_ZADD, WRITE_RESTORE or WRITE_LISTPACK */
  dump_buf payload;
  redis_writer *w;                /* the writes go out from a thread of their own */
  int64_t pairs;
} rebuild;

static int send(rebuild *rb, int argc, const char **argv, const size_t *len) {
  return redis_writer_send(rb->w, argc, argv, len);
}

static int write_zadd(rebuild *rb, const char *key, const tally_board *b, const char *expire_at) {
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
  if (!expire_at) return 0;
  const char *px[] = {"PEXPIREAT", key, expire_at};
  return send(rb, 3, px, NULL);
}

/* register_fresh adds the boards written since the last call to the fresh
 * registry. */
static int register_fresh(rebuild *rb) {
  if (rb->n == rb->registered) return 0;
  const char *argv[2 + REGISTER_BATCH];
  argv[0] = "SADD";
  argv[1] = rb->registry;
  int k = 2;
  for (; rb->registered < rb->n; rb->registered++) argv[k++] = rb->live[rb->registered];
  return send(rb, k, argv, NULL);
}

/* write_board writes one board from the tally into its fresh key, expiring
 * when it would have (its last award plus the retention); a board already
 * past that is left out. */
static int write_board(void *arg, const tally_board *b) {
  rebuild *rb = arg;
  if (lb_stopping()) return -1;
  long ttl = lb_board_ttl(b->window);
  char at[24];
  if (ttl > 0) {
    int64_t expire_at = b->last_ms + (int64_t)ttl * 1000;
    if (expire_at <= rb->now_ms) return 0;
    snprintf(at, sizeof at, "%lld", (long long)expire_at);
  }
  if (rb->n == rb->cap) {
    rb->cap = rb->cap ? rb->cap * 2 : 256;
    rb->live = realloc(rb->live, sizeof *rb->live * (size_t)rb->cap);
    if (!rb->live) abort();
  }
  rb->live[rb->n++] = strdup(b->key);
  char fresh[BOARD_KEY_MAX + 64];
  int len = snprintf(fresh, sizeof fresh, "%s%s", b->key, rb->suffix);
  rb->pairs += (int64_t)b->n;
  if (rb->n - rb->registered == REGISTER_BATCH && register_fresh(rb) != 0) return -1;
  /* A board past RESTORE_MAX members would make a payload near Redis's
   * 512 MB limit on one argument (proto-max-bulk-len): ZADDs instead. */
  if (rb->restore == WRITE_ZADD || b->n > RESTORE_MAX) return write_zadd(rb, fresh, b, ttl > 0 ? at : NULL);
  if (rb->restore != WRITE_LISTPACK || dump_zset_listpack(&rb->payload, b->entries, b->n) != 0)
    dump_zset(&rb->payload, b->entries, b->n);
  const char *argv[] = {"RESTORE", fresh, ttl > 0 ? at : "0", (const char *)rb->payload.p, "REPLACE", "ABSTTL"};
  size_t lens[] = {7, (size_t)len, strlen(argv[2]), rb->payload.n, 7, 6};
  return send(rb, ttl > 0 ? 6 : 5, argv, lens);
}

/* probe restores |payload| into |key| and reads it back: 1 if it holds
 * b=2.5 and a=-1, 0 if not (logged), -1 if Redis is unreachable. */
static int probe(const char *key, const dump_buf *payload, const char *what) {
  const char *argv[] = {"RESTORE", key, "0", (const char *)payload->p, "REPLACE"};
  size_t lens[] = {7, strlen(key), 1, payload->n, 7};
  redisReply *r = redis_cmd_argv(5, argv, lens);
  if (!r) return -1;
  int ok = r->type == REDIS_REPLY_STATUS;
  if (!ok) log_warn("rebuild: Redis refuses %s payloads (%s)", what, r->str);
  freeReplyObject(r);
  if (!ok) return 0;
  r = redis_cmd("ZRANGE %s 0 -1 WITHSCORES", key);
  if (!r) return -1;
  ok = r->type == REDIS_REPLY_ARRAY && r->elements == 4 && strcmp(r->element[0]->str, "a") == 0 &&
       strtod(r->element[1]->str, NULL) == -1 && strcmp(r->element[2]->str, "b") == 0 &&
       strtod(r->element[3]->str, NULL) == 2.5;
  if (!ok) log_warn("rebuild: a restored %s payload reads back wrong", what);
  freeReplyObject(r);
  r = redis_cmd("DEL %s", key);
  if (r) freeReplyObject(r);
  return ok;
}

/* write_mode: how this Redis takes the fresh boards (asked once per
 * process, with two-member probes). ACCOLADE_LEADERBOARD_REBUILD_WRITE=zadd
 * or =restore stops at that mode. -1: Redis unreachable. */
static int write_mode(const char *org) {
  static int known = -1;
  int k = __atomic_load_n(&known, __ATOMIC_ACQUIRE);
  if (k >= 0) return k;
  const char *cap = getenv("ACCOLADE_LEADERBOARD_REBUILD_WRITE");
  int most = !cap || !*cap ? WRITE_LISTPACK : strcmp(cap, "zadd") == 0 ? WRITE_ZADD : WRITE_RESTORE;
  char key[BOARD_KEY_MAX];
  snprintf(key, sizeof key, "lb:{%s}:restore-probe", org);
  board_entry e[] = {{"b", 2.5}, {"a", -1}};
  dump_buf d = {0};
  int mode = WRITE_ZADD, ok = 1;
  if (most >= WRITE_RESTORE) {
    dump_zset(&d, e, 2);
    ok = probe(key, &d, "sorted-set");
    if (ok == 1) mode = WRITE_RESTORE;
  }
  if (ok == 1 && most >= WRITE_LISTPACK) {
    dump_zset_listpack(&d, e, 2);
    ok = probe(key, &d, "listpack sorted-set");
    if (ok == 1) mode = WRITE_LISTPACK;
  }
  dump_buf_free(&d);
  if (ok < 0) return -1;
  if (mode < most) log_warn("rebuild: boards are written with %s", mode == WRITE_ZADD ? "ZADD" : "RESTORE");
  __atomic_store_n(&known, mode, __ATOMIC_RELEASE);
  return mode;
}

/* add_row takes one ledger row (store_ledger_read) into the tally. */
static int add_row(void *arg, char **f, const int *lens, int n) {
  if (n != 8) return RPC_INTERNAL;
  for (int i = 0; i < 8; i++)
    if (!f[i]) return RPC_INTERNAL;   /* every column is NOT NULL */
  if (lens[4] != 8 || lens[5] != 8 || lens[7] != 1) return RPC_INTERNAL;
  tally_add(arg, f[0], f[1], f[2], f[3], pg_int8(f[4]), pg_int8(f[5]), f[6], f[7][0] == 1);
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

/* swap_once drops the org's old boards (every key in its registry, rolling
 * caches included) and renames the fresh ones in, with the fresh registry,
 * in one MULTI/EXEC under WATCH of the registry: a read that registers a
 * rolling cache meanwhile makes EXEC fail and the swap start again (1).
 * Queued commands cost Redis nothing while queued; EXEC renames ~0.4M
 * boards a second, about twice what a Lua script did. A board whose expiry
 * passed while the rebuild ran is gone: its RENAME fails alone. |*boards|
 * gets how many were renamed. 0 done, 1 retry, -1 failed. */
static int swap_once(rebuild *rb, int64_t *boards) {
  redisContext *c = redis_conn();
  if (!c) return -1;
  char registry[BOARD_KEY_MAX], add[BOARD_KEY_MAX], sub[BOARD_KEY_MAX];
  snprintf(registry, sizeof registry, "lb:{%s}:keys", rb->org);
  snprintf(add, sizeof add, "lb:{%s}:pending:add", rb->org);
  snprintf(sub, sizeof sub, "lb:{%s}:pending:sub", rb->org);
  redisReply *old = NULL, *exec = NULL;
  int rc = -1, sent = 0;
  redisAppendCommand(c, "WATCH %s", registry);
  redisAppendCommand(c, "SMEMBERS %s", registry);
  sent += 2;
  redisReply *w;
  if (redisGetReply(c, (void **)&w) != REDIS_OK) goto out;
  freeReplyObject(w);
  sent--;
  if (redisGetReply(c, (void **)&old) != REDIS_OK || old->type != REDIS_REPLY_ARRAY) goto out;
  sent--;
  redisAppendCommand(c, "MULTI");
  sent++;
  const char *argv[2 + 1000];
  argv[0] = "UNLINK";
  for (size_t i = 0; i < old->elements;) {
    int k = 1;
    for (; k <= 1000 && i < old->elements; k++, i++) argv[k] = old->element[i]->str;
    redisAppendCommandArgv(c, k, argv, NULL);
    sent++;
  }
  redisAppendCommand(c, "DEL %s %s %s", registry, add, sub);
  sent++;
  for (int i = 0; i < rb->n; i++) {
    char fresh[BOARD_KEY_MAX + 64];
    snprintf(fresh, sizeof fresh, "%s%s", rb->live[i], rb->suffix);
    const char *r[] = {"RENAME", fresh, rb->live[i]};
    redisAppendCommandArgv(c, 3, r, NULL);
    sent++;
  }
  redisAppendCommand(c, "RENAME %s %s", rb->registry, registry);
  redisAppendCommand(c, "EXEC");
  sent += 2;
  for (; sent > 1; sent--) {   /* OK and QUEUED */
    if (redisGetReply(c, (void **)&w) != REDIS_OK) goto out;
    int bad = w->type == REDIS_REPLY_ERROR;
    if (bad) log_error("rebuild swap: %s", w->str);
    freeReplyObject(w);
    if (bad) {   /* EXEC will refuse the transaction; read on to it */
      rc = -2;
    }
  }
  if (redisGetReply(c, (void **)&exec) != REDIS_OK) {
    rc = -1;
    goto out;
  }
  sent = 0;
  if (rc == -2 || exec->type == REDIS_REPLY_ERROR) {
    if (exec->type == REDIS_REPLY_ERROR) log_error("rebuild swap: %s", exec->str);
    rc = -1;
  } else if (exec->type == REDIS_REPLY_NIL) {
    rc = 1;   /* the registry changed under WATCH */
  } else if (exec->type == REDIS_REPLY_ARRAY) {
    int64_t n = 0;
    size_t first = exec->elements - 1 - (size_t)rb->n;   /* the boards' RENAMEs */
    for (size_t i = first; i < exec->elements - 1; i++) n += exec->element[i]->type == REDIS_REPLY_STATUS;
    *boards = n;
    rc = 0;
  }
out:
  if (sent) redis_disconnect();   /* replies left unread */
  if (old) freeReplyObject(old);
  if (exec) freeReplyObject(exec);
  return rc;
}

/* swap puts the fresh boards in; |*boards| gets how many. */
static int swap(rebuild *rb, int64_t *boards) {
  for (int attempt = 0; attempt < 5; attempt++) {
    int rc = swap_once(rb, boards);
    if (rc <= 0) return rc;
  }
  log_error("rebuild %s: the key registry kept changing during the swap", rb->org);
  return -1;
}

static int64_t mono_us(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (int64_t)t.tv_sec * 1000000 + t.tv_nsec / 1000;
}

/* drop_fresh deletes the fresh keys of a rebuild that did not finish. */
static void drop_fresh(rebuild *rb) {
  const char *argv[1 + 500];
  char(*fresh)[BOARD_KEY_MAX + 64] = malloc(sizeof *fresh * 500);
  argv[0] = "UNLINK";
  int i = 0;
  do {
    int k = 1;
    if (i == 0) argv[k++] = rb->registry;
    for (; k <= 500 && i < rb->n; k++, i++) {
      snprintf(fresh[k - 1], sizeof fresh[0], "%s%s", rb->live[i], rb->suffix);
      argv[k] = fresh[k - 1];
    }
    redisReply *d = redis_cmd_argv(k, argv, NULL);
    if (!d) break;
    freeReplyObject(d);
  } while (i < rb->n);
  free(fresh);
}

int lb_rebuild_org(const char *org, int64_t *awards, int64_t *boards) {
  *awards = *boards = 0;
  struct timespec now;
  clock_gettime(CLOCK_REALTIME, &now);
  int64_t now_ms = (int64_t)now.tv_sec * 1000 + now.tv_nsec / 1000000;
  int64_t t0 = mono_us(), t_read = 0, t_write = 0;
  rebuild rb = {.org = org, .now_ms = now_ms};
  snprintf(rb.suffix, sizeof rb.suffix, ":rebuild:%lld", (long long)now.tv_sec);
  snprintf(rb.registry, sizeof rb.registry, "lb:{%s}:keys%s", org, rb.suffix);
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
    rb.restore = write_mode(org);
    if (rb.restore < 0) rc = RPC_UNAVAILABLE;
  }
  if (!rc) {
    rb.w = redis_writer_start(QUEUE_BYTES, REBUILD_REDIS_TIMEOUT_MS);
    int sent = tally_boards(t, org, from_ms, write_board, &rb) == 0 && register_fresh(&rb) == 0 &&
               write_names(&rb, t) == 0;
    if (redis_writer_finish(rb.w) != 0 || !sent) {
      if (lb_stopping())   /* shutting down: the next start repairs */
        log_warn("rebuild %s: given up, the service is stopping", org);
      else
        log_error("rebuild %s: writing the fresh boards failed (redis)", org);
      rc = RPC_UNAVAILABLE;
    }
  }
  t_write = mono_us();
  if (!rc && swap(&rb, boards) != 0) {
    log_error("rebuild %s: swapping %d boards in failed (redis)", org, rb.n);
    rc = RPC_UNAVAILABLE;
  }
  if (!rc) rc = store_mark_all_applied(org);
  store_end(rc == RPC_OK);
  *awards = tally_awards(t);
  tally_free(t);
  if (rc) drop_fresh(&rb);   /* leave no fresh keys behind */
  redis_set_timeout_ms(2000);
  topcache_invalidate();
  for (int i = 0; i < rb.n; i++) free(rb.live[i]);
  free(rb.live);
  dump_buf_free(&rb.payload);
  log_info("rebuilt org %s: %lld awards, %lld boards, %lld entries (%s); ledger read %lld ms, boards and names "
           "written %lld ms, swap %lld ms",
           org, (long long)*awards, (long long)*boards, (long long)rb.pairs, rb.restore == WRITE_LISTPACK ? "RESTORE, listpacks" : rb.restore == WRITE_RESTORE ? "RESTORE" : "ZADD",
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
