/* rebuild.c - recompute an org's boards from the ledger into fresh keys and
 * swap them in atomically (one Lua script).
 *
 * The aggregation runs in Postgres (store.c) and streams back through a
 * cursor, one board after another, so memory stays bounded however big the ledger is.
 * Windowed boards are only rebuilt for periods that the retention still
 * keeps, each with the time to live it would have had (its last award plus
 * the retention), so a rebuild never brings expired periods back. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "boards.h"
#include "lb.h"
#include "log.h"
#include "pg.h"
#include "redis.h"
#include "store.h"
#include "topcache.h"

#define ZADD_BATCH 500
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
  /* the ZADD being assembled */
  const char *argv[2 + 2 * ZADD_BATCH];
  char scores[ZADD_BATCH][32];
  int members;
  int pending;   /* commands sent, replies not read */
  int64_t pairs;
} rebuild;

static int read_replies(rebuild *rb) {
  redisContext *c = redis_conn();
  if (!c) return -1;
  int ok = 1;
  for (; rb->pending > 0; rb->pending--) {
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
  }
  return ok ? 0 : -1;
}

/* flush sends the ZADD under assembly; every 64 commands, reads replies. */
static int flush(rebuild *rb) {
  if (!rb->members) return 0;
  redisContext *c = redis_conn();
  if (!c) return -1;
  rb->argv[0] = "ZADD";
  rb->argv[1] = rb->b[rb->n - 1].fresh;
  redisAppendCommandArgv(c, 2 + 2 * rb->members, rb->argv, NULL);
  rb->members = 0;
  return ++rb->pending >= 64 ? read_replies(rb) : 0;
}

static void board_begin(rebuild *rb, const char *live, int window) {
  if (rb->n == rb->cap) {
    rb->cap = rb->cap ? rb->cap * 2 : 256;
    rb->b = realloc(rb->b, sizeof *rb->b * (size_t)rb->cap);
  }
  fresh_board *f = &rb->b[rb->n++];
  f->live = strdup(live);
  size_t len = strlen(live) + strlen(rb->suffix) + 1;
  f->fresh = malloc(len);
  snprintf(f->fresh, len, "%s%s", live, rb->suffix);
  f->window = window;
  f->last_ms = 0;
}

/* write_rows adds one fetched batch of (board, member) rows. The strings
 * stay valid until the batch is flushed: each batch ends with a flush. */
static int write_rows(rebuild *rb, PGresult *r) {
  int rows = PQntuples(r);
  for (int i = 0; i < rows; i++) {
    char key[BOARD_KEY_MAX];
    int window = (int)pg_int(r, i, 0);
    if (boards_key(key, sizeof key, rb->org, (int)pg_int(r, i, 2), window, pg_str(r, i, 1), (int)pg_int(r, i, 3),
                   pg_str(r, i, 4)) != 0)
      continue;
    if (!rb->n || strcmp(key, rb->b[rb->n - 1].live) != 0) {
      if (flush(rb) != 0) return -1;
      board_begin(rb, key, window);
    }
    fresh_board *f = &rb->b[rb->n - 1];
    int64_t last = pg_int(r, i, 7);
    if (last > f->last_ms) f->last_ms = last;
    snprintf(rb->scores[rb->members], sizeof rb->scores[0], "%.17g", boards_score(pg_int(r, i, 6), last / 1000));
    rb->argv[2 + 2 * rb->members] = rb->scores[rb->members];
    rb->argv[3 + 2 * rb->members] = pg_str(r, i, 5);
    rb->pairs++;
    if (++rb->members == ZADD_BATCH && flush(rb) != 0) return -1;
  }
  return flush(rb);
}

/* write_display rewrites the org's display hash from the latest award of
 * each recipient that carried a name. */
static int write_display(const char *org) {
  if (store_display_open(org) != RPC_OK) return -1;
  char who[BOARD_KEY_MAX];
  snprintf(who, sizeof who, "lb:{%s}:who", org);
  for (;;) {
    PGresult *r;
    if (store_cursor_fetch("lb_who", 10000, &r) != RPC_OK) return -1;
    int rows = PQntuples(r);
    if (!rows) {
      PQclear(r);
      return store_cursor_close("lb_who") == RPC_OK ? 0 : -1;
    }
    const char **argv = malloc(sizeof(char *) * (size_t)(2 + 2 * rows));
    argv[0] = "HSET";
    argv[1] = who;
    for (int i = 0; i < rows; i++) {
      argv[2 + 2 * i] = pg_str(r, i, 0);
      argv[3 + 2 * i] = pg_str(r, i, 1);
    }
    redisReply *rep = redis_cmd_argv(2 + 2 * rows, argv, NULL);
    free(argv);
    PQclear(r);
    int ok = rep && rep->type == REDIS_REPLY_INTEGER;
    if (rep) freeReplyObject(rep);
    if (!ok) return -1;
  }
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

int lb_rebuild_org(const char *org, int64_t *awards, int64_t *boards) {
  *awards = *boards = 0;
  struct timespec now;
  clock_gettime(CLOCK_REALTIME, &now);
  int64_t now_ms = (int64_t)now.tv_sec * 1000 + now.tv_nsec / 1000000;
  int64_t t0_us = mono_us();
  rebuild rb = {.org = org};
  snprintf(rb.suffix, sizeof rb.suffix, ":rebuild:%lld", (long long)now.tv_sec);
  if (store_begin() != RPC_OK) return RPC_UNAVAILABLE;
  /* The swap of a big org's boards is one script that runs for seconds. */
  redis_set_timeout_ms(REBUILD_REDIS_TIMEOUT_MS);
  int rc = store_lock_org(org, 1);
  if (!rc) rc = store_count_awards(org, awards);
  if (!rc)
    rc = store_rebuild_open(org, now_ms, (int64_t)lb_board_ttl(WIN_WEEK) * 1000, (int64_t)lb_board_ttl(WIN_DAY) * 1000);
  int64_t sql_us = 0, t;
  while (!rc) {
    if (lb_stopping()) {   /* shutting down: the next start repairs */
      log_warn("rebuild %s: given up, the service is stopping", org);
      rc = RPC_UNAVAILABLE;
      break;
    }
    PGresult *r;
    t = mono_us();
    if ((rc = store_cursor_fetch("lb_rebuild", 50000, &r))) break;
    sql_us += mono_us() - t;
    int rows = PQntuples(r);
    if (rows && write_rows(&rb, r) != 0) {
      log_error("rebuild %s: writing the fresh boards failed (redis)", org);
      rc = RPC_UNAVAILABLE;
    }
    PQclear(r);
    if (!rows) break;
  }
  if (!rc && read_replies(&rb) != 0) {
    log_error("rebuild %s: writing the fresh boards failed (redis)", org);
    rc = RPC_UNAVAILABLE;
  }
  if (!rc) rc = store_cursor_close("lb_rebuild");
  if (!rc && write_display(org) != 0) {
    log_error("rebuild %s: writing the display names failed", org);
    rc = RPC_UNAVAILABLE;
  }
  if (!rc && swap(&rb, now_ms) != 0) {
    log_error("rebuild %s: swapping %d boards in failed (redis)", org, rb.n);
    rc = RPC_UNAVAILABLE;
  }
  if (!rc) rc = store_mark_all_applied(org);
  store_end(rc == RPC_OK);
  redis_set_timeout_ms(2000);
  topcache_invalidate();
  for (int i = 0; i < rb.n; i++) {
    if (rc) {   /* leave no fresh keys behind */
      redisReply *d = redis_cmd("DEL %s", rb.b[i].fresh);
      if (d) freeReplyObject(d);
    }
    free(rb.b[i].live);
    free(rb.b[i].fresh);
  }
  free(rb.b);
  *boards = rb.n;
  log_info("rebuilt org %s: %lld awards, %d boards, %lld entries; %lld ms waiting for postgres of %lld ms",
           org, (long long)*awards, rb.n, (long long)rb.pairs, (long long)(sql_us / 1000),
           (long long)((mono_us() - t0_us) / 1000));
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
