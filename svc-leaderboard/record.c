/* record.c - RecordAward, RetractAward, and the pending ledger rows applied
 * once Redis is back (lb_apply_pending, run by repair.c's thread). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "batch.h"
#include "boards.h"
#include "check.h"
#include "gen.h"
#include "lb.h"
#include "log.h"
#include "pg.h"
#include "pg_status.h"
#include "redis.h"
#include "store.h"
#include "topcache.h"

/* KEYS[1] marker set, KEYS[2] the org's key registry, KEYS[3] the org's
 * display hash, KEYS[4] its generation, KEYS[5..] boards and then
 * rolling-window caches (named in generation ARGV[7]).
 * ARGV[1] award id, ARGV[2] points delta, ARGV[3] the award's time (seconds
 * since the score epoch), ARGV[4] how many boards (the rest are caches),
 * ARGV[5] recipient, ARGV[6] its display value ("" leaves it), ARGV[7] the
 * generation, then per key its member, then per board its ttl (0: none). A
 * cache is only updated if it exists (a read materializes it). A board is
 * named in the registry when a member is first put on it (a new key has no
 * member yet; a member already there was registered with its key). Applies once
 * per award id; returns 1, 0 (applied before), or -1 - the live generation
 * when the keys are named in another one (nothing done). */
static redis_script apply_script = {.source =
    "local gen = redis.call('GET', KEYS[4]) or '0'\n"
    "if gen ~= ARGV[7] then return -1 - tonumber(gen) end\n"
    "if redis.call('SISMEMBER', KEYS[1], ARGV[1]) == 1 then return 0 end\n"
    "local shift = 1073741824\n"
    "local delta = tonumber(ARGV[2])\n"
    "local mine = shift - 1 - tonumber(ARGV[3])\n"
    "local nb = tonumber(ARGV[4])\n"
    "local nk = #KEYS - 4\n"
    "for i = 1, nk do\n"
    "  local k, m = KEYS[i + 4], ARGV[i + 7]\n"
    "  if i <= nb or redis.call('EXISTS', k) == 1 then\n"
    "    local s = redis.call('ZSCORE', k, m)\n"
    "    local pts, frac = 0, -1\n"
    "    if s then s = tonumber(s); pts = math.floor(s / shift); frac = s - pts * shift end\n"
    "    local np = pts + delta\n"
    "    if np <= 0 then\n"
    "      redis.call('ZREM', k, m)\n"
    "    else\n"
    "      local f = frac\n"
    "      if f < 0 or (delta > 0 and mine < f) then f = mine end\n"
    "      redis.call('ZADD', k, np * shift + f, m)\n"
    "      if i <= nb then\n"
    "        if not s then redis.call('SADD', KEYS[2], k) end\n"
    "        local ttl = tonumber(ARGV[7 + nk + i])\n"
    "        if ttl > 0 then redis.call('EXPIRE', k, ttl) end\n"
    "      end\n"
    "    end\n"
    "  end\n"
    "end\n"
    "if delta > 0 and ARGV[6] ~= '' then redis.call('HSET', KEYS[3], ARGV[5], ARGV[6]) end\n"
    "redis.call('SADD', KEYS[1], ARGV[1])\n"
    "return 1\n"};

#define CACHES_MAX (7 * ROLLING_DAYS)

/* pending_key: the set of |org|'s awards applied to the boards (sign 1) or
 * taken off them (-1), until the ledger says so. */
static void pending_key(char *out, size_t n, const char *org, int sign) {
  snprintf(out, n, "lb:{%s}:pending:%s", org, sign > 0 ? "add" : "sub");
}

/* apply_reply reads the apply script's reply: 0 applied (now or before),
 * -1 an error (Redis unreachable: NULL), or 1 with |*live| the org's
 * generation when the keys were named in another one. */
static int apply_reply(redisReply *r, int64_t *live) {
  int ok = r && r->type == REDIS_REPLY_INTEGER;
  if (r && !ok) log_error("leaderboard script: %s", r->type == REDIS_REPLY_ERROR ? r->str : "bad reply");
  if (ok && r->integer < 0) {
    *live = -1 - r->integer;
    return 1;
  }
  return ok ? 0 : -1;
}

/* apply_once applies a ledger row to the boards of generation |gen|.
 * Returns 0, -1 when Redis is unreachable, or 1 with |*live| the org's
 * generation when that is another one. With |formatted| it sends nothing:
 * the script's call goes to |*formatted| (its length in |*flen|) for a
 * pipeline, and 0 or -1 is returned. */
static int apply_once(const ledger_row *x, int sign, int64_t gen, int64_t *live, char **formatted, long long *flen) {
  char prefix[BOARD_KEY_MAX];
  if (boards_prefix(prefix, sizeof prefix, x->org, gen) != 0) return -1;
  board_ref refs[BOARDS_MAX_PER_AWARD + CACHES_MAX];
  int nb = boards_for_award(prefix, x->recipient, x->team, x->badge, x->category, x->granted_ms, refs,
                            BOARDS_MAX_PER_AWARD);
  char day[16], today[16];
  boards_period(WIN_DAY, x->granted_ms, day, sizeof day);
  struct timespec now;
  clock_gettime(CLOCK_REALTIME, &now);
  boards_period(WIN_DAY, (int64_t)now.tv_sec * 1000, today, sizeof today);
  int n = nb;
  for (int i = 0; i < nb; i++)
    if (refs[i].window == WIN_DAY)
      n += boards_rolling_caches(prefix, &refs[i], day, today, refs + n, BOARDS_MAX_PER_AWARD + CACHES_MAX - n);
  const char *argv[3 * (BOARDS_MAX_PER_AWARD + CACHES_MAX) + 14];
  char ttls[BOARDS_MAX_PER_AWARD][24];
  char marker[BOARD_KEY_MAX], registry[BOARD_KEY_MAX + 8], who[BOARD_KEY_MAX], genkey[BOARD_KEY_MAX], delta[32], t[32],
      nbs[16], gens[24];
  char *value = NULL;
  pending_key(marker, sizeof marker, x->org, sign);
  boards_registry(registry, sizeof registry, prefix);
  snprintf(who, sizeof who, "lb:{%s}:who", x->org);
  lb_gen_key(genkey, sizeof genkey, x->org);
  snprintf(delta, sizeof delta, "%lld", (long long)(sign * x->points));
  snprintf(t, sizeof t, "%lld", (long long)(x->granted_ms / 1000 - SCORE_EPOCH_S));
  snprintf(nbs, sizeof nbs, "%d", nb);
  snprintf(gens, sizeof gens, "%lld", (long long)gen);
  if (*x->name && asprintf(&value, "%s\t%s", x->team, x->name) < 0) value = NULL;
  int k = 0;
  argv[k++] = marker;
  argv[k++] = registry;
  argv[k++] = who;
  argv[k++] = genkey;
  for (int i = 0; i < n; i++) argv[k++] = refs[i].key;
  argv[k++] = x->award_id;
  argv[k++] = delta;
  argv[k++] = t;
  argv[k++] = nbs;
  argv[k++] = x->recipient;
  argv[k++] = value ? value : "";
  argv[k++] = gens;
  for (int i = 0; i < n; i++) argv[k++] = refs[i].member;
  for (int i = 0; i < nb; i++) {
    snprintf(ttls[i], sizeof ttls[i], "%ld", lb_board_ttl(refs[i].window));
    argv[k++] = ttls[i];
  }
  if (formatted) {
    *flen = redis_eval_format(&apply_script, n + 4, k, argv, formatted);
    free(value);
    return *flen < 0 ? -1 : 0;
  }
  redisReply *r = redis_eval(&apply_script, n + 4, k, argv);
  topcache_invalidate();
  free(value);
  int rc = apply_reply(r, live);
  if (r) freeReplyObject(r);
  return rc;
}

/* apply_row adds (sign 1) or removes (sign -1) a ledger row's points on every
 * board and on the rolling windows built from its day, in the org's live
 * generation. Returns 0, or -1 when Redis is unreachable. */
static int apply_row(const ledger_row *x, int sign) {
  int64_t gen = lb_gen_get(x->org);
  for (int tries = 0; tries < 3; tries++) {
    int rc = apply_once(x, sign, gen, &gen, NULL, NULL);
    if (rc <= 0) return rc;
    lb_gen_set(x->org, gen);
  }
  return -1;
}

/* apply_many adds the points of |n| ledger rows of one org in one round trip
 * (a pipeline of the script's calls); ok[i] says row i is on the boards. A
 * row the pipeline could not apply (the generation moved, the script not yet
 * loaded, an error) goes again alone (apply_row). */
static void apply_many(arena *a, ledger_row *const *rows, size_t n, int *ok) {
  if (!n) return;
  int64_t gen = lb_gen_get(rows[0]->org), live = gen;
  char **cmd = ARENA_ARRAY(a, char *, n);
  size_t *len = ARENA_ARRAY(a, size_t, n);
  redisReply **r = ARENA_ARRAY(a, redisReply *, n);
  size_t built = 0;
  for (; built < n; built++) {
    long long l;
    if (apply_once(rows[built], 1, gen, &live, &cmd[built], &l) != 0) break;
    len[built] = (size_t)l;
  }
  int sent = built == n && redis_pipeline_formatted((int)n, (const char *const *)cmd, len, r) == 0;
  for (size_t i = 0; i < built; i++) redisFreeCommand(cmd[i]);
  if (sent) topcache_invalidate();
  for (size_t i = 0; i < n; i++) {
    /* Not sent because Redis is unreachable: the pending markers stay and
     * repair applies the rows; not built (a key too long): each alone. */
    int rc = -1, again = built < n;
    if (sent) {
      if (r[i]->type == REDIS_REPLY_ERROR && !strncmp(r[i]->str, "NOSCRIPT", 8)) again = 1;
      else if ((rc = apply_reply(r[i], &live)) == 1) {
        lb_gen_set(rows[i]->org, live);
        again = 1;
      }
      freeReplyObject(r[i]);
    }
    ok[i] = rc == 0 || (again && apply_row(rows[i], 1) == 0);
  }
}

/* forget_markers drops |n| awards of |org| from its marker set (|sign| as
 * pending_key's) once the ledger knows, in one SREM. */
static void forget_markers(const char *org, int sign, const char *const *ids, size_t n) {
  const char **argv = n ? malloc(sizeof *argv * (n + 2)) : NULL;
  if (!argv) return;
  char marker[BOARD_KEY_MAX];
  pending_key(marker, sizeof marker, org, sign);
  argv[0] = "SREM";
  argv[1] = marker;
  memcpy(argv + 2, ids, sizeof *argv * n);
  redisReply *r = redis_cmd_argv((int)n + 2, argv, NULL);
  if (r) freeReplyObject(r);
  free(argv);
}

/* forget_marker: forget_markers of one ledger row. */
static void forget_marker(const ledger_row *x, int sign) {
  const char *id = x->award_id;
  forget_markers(x->org, sign, &id, 1);
}

typedef struct record_tx {
  const Accolade__V1__AwardRecord *a;
  ledger_row row;
  int inserted;
  int applied_now;
  int in_bulk;    /* RecordAwards: inserted by the batch's one INSERT */
  int to_mark;    /* ... and applied, to be marked by its one UPDATE */
} record_tx;

/* record_one records one award and applies it to the boards, inside a
 * transaction holding the org's shared lock. */
static int record_one(record_tx *t) {
  t->applied_now = 0;
  t->inserted = 0;
  int rc = store_ledger_record(t->a, &t->row, &t->inserted);
  if (rc) return rc;
  if (t->row.recorded && !t->row.applied && !t->row.retracted && apply_row(&t->row, 1) == 0) {
    rc = store_ledger_set(t->row.award_id, "applied");
    t->applied_now = rc == RPC_OK;
  }
  return rc;
}

static int record_run(void *arg) {
  record_tx *t = arg;
  int rc = store_lock_org(t->a->org, 0);
  return rc ? rc : record_one(t);
}

/* recorded: after the commit, the boards' marker goes (or the award waits
 * for Redis). */
static void recorded(const record_tx *t) {
  if (t->applied_now) forget_marker(&t->row, 1);
  else if (t->row.recorded && !t->row.applied && !t->row.retracted)
    log_warn("award %s is in the ledger; the boards will catch up when Redis is back", t->a->award_id);
}

static int check_service_org(rpc_ctx *ctx, const char *org) {
  if (rpc_require(ctx, ROLE_SERVICE)) return ctx->code;
  if (strcmp(org, ctx->id.org) != 0)
    return rpc_fail(ctx, RPC_PERMISSION_DENIED, "org: must be the caller's org");
  return RPC_OK;
}

/* check_record: the checks of an award to record (RecordAward and each of
 * RecordAwards'). */
static int check_record(rpc_ctx *ctx, const Accolade__V1__AwardRecord *a) {
  if (check_service_org(ctx, a->org) || check_len(ctx, "award_id", a->award_id, 1, 128) ||
      check_id(ctx, "recipient_id", a->recipient_id, 128) ||
      (*a->recipient_team && check_id(ctx, "recipient_team", a->recipient_team, 128)) ||
      check_len(ctx, "badge_id", a->badge_id, 1, 128) || check_len(ctx, "category", a->category, 0, 60) ||
      check_range(ctx, "points", a->points, 0, 10000) ||
      check_range(ctx, "granted_at_ms", a->granted_at_ms, SCORE_EPOCH_S * 1000, INT64_C(253402300799000)))
    return ctx->code;
  return RPC_OK;
}

int lb_record(rpc_ctx *ctx, const void *req, void *resp) {
  const Accolade__V1__AwardRecord *a = req;
  Accolade__V1__RecordAwardResponse *out = resp;
  if (check_record(ctx, a)) return ctx->code;
  record_tx t = {.a = a};
  int rc = pg_tx(record_run, &t);
  if (rc == RPC_ALREADY_EXISTS) return rpc_fail(ctx, RPC_ALREADY_EXISTS, "award_id: used by another org");
  if (rc) return pg_fail(ctx, rc, "record award");
  recorded(&t);
  out->recorded = t.inserted;
  return RPC_OK;
}

/* RecordAwards: the batch (batch.h), under one shared lock of the org:
 * the new awards inserted by one statement, applied to the boards one by
 * one, and marked applied by one statement; an award seen before (or a
 * tombstone, or another org's id) goes the way of RecordAward. */
typedef struct records_tx {
  rpc_ctx *ctx;
  record_tx *items;
} records_tx;

static int records_check(void *arg, size_t i) {
  records_tx *t = arg;
  return check_record(t->ctx, t->items[i].a);
}

static int records_begin(void *arg, const size_t *run, size_t n) {
  records_tx *t = arg;
  arena *ar = t->ctx->arena;
  int rc = store_lock_org(t->ctx->id.org, 0);
  if (rc || !n) return rc;
  const Accolade__V1__AwardRecord **a = ARENA_ARRAY(ar, const Accolade__V1__AwardRecord *, n);
  ledger_row **rows = ARENA_ARRAY(ar, ledger_row *, n);
  int **in_bulk = ARENA_ARRAY(ar, int *, n);
  for (size_t k = 0; k < n; k++) {
    record_tx *x = &t->items[run[k]];
    x->to_mark = x->applied_now = 0;
    a[k] = x->a;
    rows[k] = &x->row;
    in_bulk[k] = &x->in_bulk;
  }
  return store_ledger_insert_many(ar, a, n, rows, in_bulk);
}

static int records_item(void *arg, size_t i, int *applied) {
  record_tx *x = &((records_tx *)arg)->items[i];
  if (!x->in_bulk) {
    int rc = record_one(x);
    *applied = x->inserted;
    return rc;
  }
  x->inserted = *applied = 1;
  x->to_mark = !x->row.applied && !x->row.retracted;   /* applied by records_end, all in one round trip */
  return RPC_OK;
}

static int records_end(void *arg, const size_t *run, size_t n) {
  records_tx *t = arg;
  arena *ar = t->ctx->arena;
  ledger_row **rows = ARENA_ARRAY(ar, ledger_row *, n + 1);
  record_tx **of = ARENA_ARRAY(ar, record_tx *, n + 1);
  int *ok = ARENA_ARRAY(ar, int, n + 1);
  size_t m = 0;
  for (size_t k = 0; k < n; k++)
    if (t->items[run[k]].to_mark) {
      of[m] = &t->items[run[k]];
      rows[m++] = &t->items[run[k]].row;
    }
  apply_many(ar, rows, m, ok);
  const char **ids = ARENA_ARRAY(ar, const char *, n + 1);
  size_t applied = 0;
  for (size_t k = 0; k < m; k++) {
    of[k]->to_mark = ok[k];
    if (ok[k]) ids[applied++] = of[k]->row.award_id;
  }
  int rc = store_ledger_applied_many(ar, ids, applied);
  for (size_t k = 0; k < n && rc == RPC_OK; k++)
    if (t->items[run[k]].to_mark) t->items[run[k]].applied_now = 1;
  return rc;
}

static const char *records_key(void *arg, size_t i) { return ((records_tx *)arg)->items[i].a->award_id; }

int lb_record_many(rpc_ctx *ctx, const void *req, void *resp) {
  const Accolade__V1__RecordAwardsRequest *r = req;
  Accolade__V1__RecordAwardsResponse *out = resp;
  if (rpc_require(ctx, ROLE_SERVICE)) return ctx->code;
  records_tx t = {ctx, ARENA_ARRAY(ctx->arena, record_tx, r->n_awards + 1)};
  for (size_t i = 0; i < r->n_awards; i++) t.items[i] = (record_tx){.a = r->awards[i]};
  batch_spec spec = {.what = "record award", .check = records_check, .begin = records_begin, .end = records_end,
                     .item = records_item, .key = records_key, .arg = &t};
  if (!(out->results = batch_serve(ctx, "awards", r->n_awards, &spec))) return ctx->code;
  out->n_results = r->n_awards;
  /* The markers of the awards applied go together (one org's set). */
  const char **ids = ARENA_ARRAY(ctx->arena, const char *, r->n_awards + 1);
  size_t n = 0;
  for (size_t i = 0; i < r->n_awards; i++) {
    if (out->results[i]->code != RPC_OK) continue;
    if (t.items[i].applied_now) ids[n++] = t.items[i].row.award_id;
    else recorded(&t.items[i]);
  }
  forget_markers(ctx->id.org, 1, ids, n);
  return RPC_OK;
}

typedef struct retract_tx {
  const Accolade__V1__RetractAwardRequest *req;
  ledger_row row;
  int changed;
  int applied_now;
} retract_tx;

static int retract_run(void *arg) {
  retract_tx *t = arg;
  int rc = store_lock_org(t->req->org, 0);
  if (!rc) rc = store_ledger_retract(t->req->org, t->req->award_id, &t->row, &t->changed);
  if (rc || !t->changed || !t->row.recorded) return rc;
  t->row.retracted = 1;
  t->applied_now = 0;
  if (!t->row.applied) {
    /* Never reached the boards: nothing to take off. */
    rc = store_ledger_set(t->row.award_id, "applied");
    return rc ? rc : store_ledger_set(t->row.award_id, "retract_applied");
  }
  if (apply_row(&t->row, -1) == 0) {
    rc = store_ledger_set(t->row.award_id, "retract_applied");
    t->applied_now = rc == RPC_OK;
  }
  return rc;
}

int lb_retract(rpc_ctx *ctx, const void *req, void *resp) {
  const Accolade__V1__RetractAwardRequest *r = req;
  Accolade__V1__RetractAwardResponse *out = resp;
  if (check_service_org(ctx, r->org) || check_len(ctx, "award_id", r->award_id, 1, 128) ||
      check_len(ctx, "reason", r->reason, 0, 1000))
    return ctx->code;
  retract_tx t = {.req = r};
  int rc = pg_tx(retract_run, &t);
  if (rc) return pg_fail(ctx, rc, "retract award");
  if (t.applied_now) forget_marker(&t.row, -1);
  out->retracted = t.changed;
  return RPC_OK;
}

/* ------------------------------------------------------------ pending rows */

int lb_apply_pending(void) {
  ledger_row rows[64];
  int n = 0;
  if (store_pending(rows, 64, &n) != RPC_OK) return -1;
  for (int i = 0; i < n; i++) {
    ledger_row *x = &rows[i];
    /* The same shared lock as RecordAward: never during a rebuild. */
    if (store_begin() != RPC_OK) return -1;
    int sign = x->applied ? -1 : 1;
    int ok = store_lock_org(x->org, 0) == RPC_OK;
    if (ok && !x->applied && x->retracted) {
      /* Recorded and retracted while Redis was away: it never reaches the boards. */
      ok = store_ledger_set(x->award_id, "applied") == RPC_OK &&
           store_ledger_set(x->award_id, "retract_applied") == RPC_OK;
      sign = 0;
    } else if (ok) {
      ok = apply_row(x, sign) == 0 &&
           store_ledger_set(x->award_id, sign > 0 ? "applied" : "retract_applied") == RPC_OK;
    }
    store_end(ok);
    if (ok && sign == 0) continue;
    if (!ok) return -1;
    forget_marker(x, sign);
  }
  return n;
}
