/* rebuild.c - recompute an org's boards from the ledger into fresh keys and
 * swap them in atomically (one Lua script). */
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

/* KEYS[1] the org's registry, KEYS[2], KEYS[3] the marker sets, KEYS[4..]
 * fresh boards; ARGV[1] ttl, ARGV[2..] the live name of each fresh board. */
static redis_script swap_script = {.source =
    "local old = redis.call('SMEMBERS', KEYS[1])\n"
    "for _, k in ipairs(old) do redis.call('DEL', k) end\n"
    "redis.call('DEL', KEYS[1], KEYS[2], KEYS[3])\n"
    "local ttl = tonumber(ARGV[1])\n"
    "for i = 4, #KEYS do\n"
    "  local live = ARGV[i - 2]\n"
    "  redis.call('RENAME', KEYS[i], live)\n"
    "  redis.call('SADD', KEYS[1], live)\n"
    "  if ttl > 0 and not string.find(live, ':all:all', 1, true) then redis.call('EXPIRE', live, ttl) end\n"
    "end\n"
    "return #KEYS - 3\n"};

static const char *aggregate_sql =
    "WITH r AS (SELECT recipient_id, recipient_team, badge_id, category, points, granted_at_ms, "
    "  to_timestamp(granted_at_ms / 1000.0) AT TIME ZONE 'UTC' AS ts FROM ledger "
    "  WHERE org = $1 AND recorded AND retracted_at IS NULL), "
    "x AS (SELECT w.win, CASE w.win WHEN 1 THEN to_char(ts, 'IYYY-\"W\"IW') WHEN 2 THEN to_char(ts, 'YYYY-MM') "
    "  WHEN 3 THEN to_char(ts, 'YYYY-\"Q\"Q') WHEN 4 THEN to_char(ts, 'YYYY') ELSE 'all' END AS period, "
    "  s.subj, s.scope, CASE s.scope WHEN 2 THEN recipient_team WHEN 3 THEN badge_id "
    "  WHEN 4 THEN category ELSE '' END AS scope_id, "
    "  CASE s.subj WHEN 1 THEN recipient_id ELSE recipient_team END AS member, points, granted_at_ms "
    "  FROM r, (VALUES (1), (2), (3), (4), (5)) w(win), "
    "  (VALUES (1, 1), (1, 2), (1, 3), (1, 4), (2, 1), (2, 3), (2, 4)) s(subj, scope)) "
    "SELECT win, period, subj, scope, scope_id, member, sum(points), max(granted_at_ms), "
    "  (SELECT count(*) FROM r) FROM x WHERE member <> '' AND (scope = 1 OR scope_id <> '') "
    "GROUP BY 1, 2, 3, 4, 5, 6 ORDER BY 1, 2, 3, 4, 5";

typedef struct keylist {
  char **live, **fresh;
  int n, cap;
} keylist;

static void keylist_add(keylist *k, const char *live, const char *suffix) {
  if (k->n == k->cap) {
    k->cap = k->cap ? k->cap * 2 : 64;
    k->live = realloc(k->live, sizeof(char *) * (size_t)k->cap);
    k->fresh = realloc(k->fresh, sizeof(char *) * (size_t)k->cap);
  }
  k->live[k->n] = strdup(live);
  size_t n = strlen(live) + strlen(suffix) + 1;
  k->fresh[k->n] = malloc(n);
  snprintf(k->fresh[k->n], n, "%s%s", live, suffix);
  k->n++;
}

static void keylist_free(keylist *k) {
  for (int i = 0; i < k->n; i++) {
    free(k->live[i]);
    free(k->fresh[i]);
  }
  free(k->live);
  free(k->fresh);
}

/* write_fresh pipelines a ZADD per (board, member) into the fresh keys. */
static int write_fresh(const char *org, PGresult *r, keylist *keys, const char *suffix) {
  redisContext *c = redis_conn();
  if (!c) return -1;
  int rows = PQntuples(r), pending = 0, ok = 1;
  char prev[BOARD_KEY_MAX] = "";
  for (int i = 0; i < rows && ok; i++) {
    char key[BOARD_KEY_MAX], fresh[BOARD_KEY_MAX + 32], score[64];
    if (boards_key(key, sizeof key, org, (int)pg_int(r, i, 2), (int)pg_int(r, i, 0), pg_str(r, i, 1),
                   (int)pg_int(r, i, 3), pg_str(r, i, 4)) != 0)
      continue;
    if (strcmp(key, prev) != 0) {
      keylist_add(keys, key, suffix);
      snprintf(prev, sizeof prev, "%s", key);
    }
    snprintf(fresh, sizeof fresh, "%s%s", key, suffix);
    snprintf(score, sizeof score, "%.17g", boards_score(pg_int(r, i, 6), pg_int(r, i, 7) / 1000));
    const char *argv[] = {"ZADD", fresh, score, pg_str(r, i, 5)};
    redisAppendCommandArgv(c, 4, argv, NULL);
    if (++pending == 1000 || i == rows - 1) {
      for (; pending > 0; pending--) {
        redisReply *rep;
        if (redisGetReply(c, (void **)&rep) != REDIS_OK) {
          redis_disconnect();
          return -1;
        }
        ok &= rep->type != REDIS_REPLY_ERROR;
        freeReplyObject(rep);
      }
    }
  }
  return ok ? 0 : -1;
}

int lb_rebuild_org(const char *org, int64_t *awards, int64_t *boards) {
  *awards = *boards = 0;
  if (pg_exec("BEGIN", 0, NULL) != RPC_OK) return RPC_UNAVAILABLE;
  int rc = store_lock_org(org, 1);
  PGresult *r = NULL;
  const char *p[] = {org};
  if (!rc) rc = pg_query(&r, aggregate_sql, 1, p);
  keylist keys = {0};
  char suffix[48];
  snprintf(suffix, sizeof suffix, ":rebuild:%lld", (long long)time(NULL));
  if (!rc) {
    *awards = PQntuples(r) ? pg_int(r, 0, 8) : 0;
    if (write_fresh(org, r, &keys, suffix) != 0) rc = RPC_UNAVAILABLE;
  }
  if (r) PQclear(r);
  if (!rc) {
    const char **argv = malloc(sizeof(char *) * (size_t)(2 * keys.n + 8));
    char registry[BOARD_KEY_MAX], add[BOARD_KEY_MAX], sub[BOARD_KEY_MAX], ttl[32];
    snprintf(registry, sizeof registry, "lb:{%s}:keys", org);
    snprintf(add, sizeof add, "lb:{%s}:pending:add", org);
    snprintf(sub, sizeof sub, "lb:{%s}:pending:sub", org);
    const char *days = getenv("ACCOLADE_LEADERBOARD_RETENTION_DAYS");
    snprintf(ttl, sizeof ttl, "%ld", (days && atol(days) > 0 ? atol(days) : 400L) * 86400);
    int k = 0;
    argv[k++] = registry;
    argv[k++] = add;
    argv[k++] = sub;
    for (int i = 0; i < keys.n; i++) argv[k++] = keys.fresh[i];
    argv[k++] = ttl;
    for (int i = 0; i < keys.n; i++) argv[k++] = keys.live[i];
    redisReply *rep = redis_eval(&swap_script, keys.n + 3, k, argv);
    if (!rep || rep->type != REDIS_REPLY_INTEGER) {
      if (rep && rep->type == REDIS_REPLY_ERROR) log_error("rebuild swap: %s", rep->str);
      rc = RPC_UNAVAILABLE;
    }
    if (rep) freeReplyObject(rep);
    free(argv);
    *boards = keys.n;
  }
  if (!rc) rc = store_mark_all_applied(org);
  pg_exec(rc ? "ROLLBACK" : "COMMIT", 0, NULL);
  if (rc) {
    /* Leave no fresh keys behind. */
    for (int i = 0; i < keys.n; i++) {
      redisReply *d = redis_cmd("DEL %s", keys.fresh[i]);
      if (d) freeReplyObject(d);
    }
  }
  keylist_free(&keys);
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
