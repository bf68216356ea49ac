/* reads.c - GetTop, GetRank, GetAround. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "boards.h"
#include "check.h"
#include "gen.h"
#include "lb.h"
#include "redis.h"
#include "topcache.h"

#define MEMBER_ROLES (ROLE_MEMBER | ROLE_MANAGER | ROLE_ADMIN | ROLE_SERVICE)
#define ROLLING_CACHE_TTL_S 3600

/* A resolved board spec, keyed by the generation last seen for the org. */
typedef struct board {
  char key[BOARD_KEY_MAX];
  char period[16];
  int subject, window, scope;
  const char *scope_id;
  const char *org;
  int64_t gen;
} board;

/* rekey names |b| in generation |gen|. */
static int rekey(board *b, int64_t gen) {
  char prefix[BOARD_KEY_MAX];
  b->gen = gen;
  return boards_prefix(prefix, sizeof prefix, b->org, gen) != 0 ||
                 boards_key(b->key, sizeof b->key, prefix, b->subject, b->window, b->period, b->scope, b->scope_id) != 0
             ? -1
             : 0;
}

static void today(char *out, size_t cap) {
  struct timespec now;
  clock_gettime(CLOCK_REALTIME, &now);
  boards_period(WIN_DAY, (int64_t)now.tv_sec * 1000, out, cap);
}

/* rolling_period_ok: a rolling window's last day may be tomorrow at the
 * latest (writes keep windows up to then current) and no older than the
 * day buckets it sums. */
static int rolling_period_ok(rpc_ctx *ctx, const char *end) {
  char now[16], latest[16], oldest[16];
  today(now, sizeof now);
  long keep_days = lb_board_ttl(WIN_DAY) / 86400 - ROLLING_DAYS;
  boards_day_shift(now, 1, latest, sizeof latest);
  boards_day_shift(now, (int)-keep_days, oldest, sizeof oldest);
  if (strcmp(end, latest) > 0) return rpc_fail(ctx, RPC_INVALID_ARGUMENT, "board.period: %s is in the future", end);
  if (strcmp(end, oldest) < 0)
    return rpc_fail(ctx, RPC_INVALID_ARGUMENT,
                    "board.period: rolling windows can end %ld days back at most (from %s)", keep_days, oldest);
  return RPC_OK;
}

/* resolve turns a spec (defaults: members, all time, whole org, the current
 * period) into a board, or fails with INVALID_ARGUMENT naming the field. */
static int resolve(rpc_ctx *ctx, const Accolade__V1__BoardSpec *b, board *out) {
  Accolade__V1__BoardSpec none = ACCOLADE__V1__BOARD_SPEC__INIT;
  if (!b) b = &none;
  if (check_enum(ctx, "board.subject", b->subject, 0, 2) ||
      check_enum(ctx, "board.window", b->window, 0, WIN_LAST) || check_enum(ctx, "board.scope", b->scope, 0, 4))
    return ctx->code;
  out->subject = b->subject ? (int)b->subject : SUBJ_MEMBERS;
  out->window = b->window ? (int)b->window : WIN_ALL;
  out->scope = b->scope ? (int)b->scope : SCOPE_ORG;
  out->scope_id = b->scope_id;
  if (out->subject == SUBJ_TEAMS && out->scope == SCOPE_TEAM)
    return rpc_fail(ctx, RPC_INVALID_ARGUMENT, "board.scope: a team board has no TEAM scope");
  if (out->scope != SCOPE_ORG && check_len(ctx, "board.scope_id", b->scope_id, 1, 128)) return ctx->code;
  if (out->scope != SCOPE_ORG && strpbrk(b->scope_id, "{}"))
    return rpc_fail(ctx, RPC_INVALID_ARGUMENT, "board.scope_id: may not contain braces");
  struct timespec now;
  clock_gettime(CLOCK_REALTIME, &now);
  if (*b->period) {
    if (!boards_period_valid(out->window, b->period)) {
      /* Only the form this window takes, shown by the current period. */
      static const char *const names[] = {"", "week", "month", "quarter", "year", "all-time", "rolling 30-day", "day"};
      char current[16];
      boards_period(out->window, (int64_t)now.tv_sec * 1000, current, sizeof current);
      return rpc_fail(ctx, RPC_INVALID_ARGUMENT, "board.period: '%.40s' is not a period of the %s window (like %s, %s)",
                      b->period, names[out->window], current,
                      out->window == WIN_ROLLING ? "its last day: today" : "the current one");
    }
    snprintf(out->period, sizeof out->period, "%s", b->period);
    if (out->window == WIN_ROLLING && rolling_period_ok(ctx, out->period)) return ctx->code;
  } else {
    boards_period(out->window, (int64_t)now.tv_sec * 1000, out->period, sizeof out->period);
  }
  out->org = ctx->id.org;
  if (rekey(out, lb_gen_get(ctx->id.org)) != 0) return rpc_fail(ctx, RPC_INVALID_ARGUMENT, "board.scope_id: too long");
  return RPC_OK;
}

/* entry_id: the id asked about on board |b|, "me" being the caller (their
 * team on a team board); checked as an id. NULL when refused. */
static const char *entry_id(rpc_ctx *ctx, const board *b, const char *id) {
  if (!strcmp(id, "me")) id = b->subject == SUBJ_TEAMS ? ctx->id.team : ctx->id.user;
  return check_id(ctx, "subject_id", id, 128) ? NULL : id;
}

static int unavailable(rpc_ctx *ctx) {
  return rpc_fail(ctx, RPC_UNAVAILABLE, "leaderboards unavailable (redis unreachable), retry later");
}

#define GEN_TRIES 3
#define PIPE_MAX 4

/* gen_pipeline runs |n| commands on |b| (their argument vectors point at
 * b->key) behind a GET of the org's generation, in one round trip. Returns
 * 0 with the commands' replies in |rep|; 1 when the generation moved (|b|
 * is renamed in the new one, nothing to free: run again); -1 when Redis is
 * unreachable or the key cannot be named. */
static int gen_pipeline(board *b, int n, const int *argc, const char *const *const *argv, redisReply **rep) {
  char key[BOARD_KEY_MAX];
  lb_gen_key(key, sizeof key, b->org);
  const char *get[] = {"GET", key};
  const char *const *all[PIPE_MAX + 1] = {get};
  int all_argc[PIPE_MAX + 1] = {2};
  for (int i = 0; i < n; i++) all[i + 1] = argv[i], all_argc[i + 1] = argc[i];
  redisReply *r[PIPE_MAX + 1];
  if (redis_pipeline(n + 1, all_argc, all, r)) return -1;
  int64_t gen = lb_gen_parse(r[0]->type == REDIS_REPLY_STRING ? r[0]->str : NULL);
  int ok = r[0]->type == REDIS_REPLY_STRING || r[0]->type == REDIS_REPLY_NIL;
  freeReplyObject(r[0]);
  if (ok && gen == b->gen) {
    for (int i = 0; i < n; i++) rep[i] = r[i + 1];
    return 0;
  }
  for (int i = 0; i < n; i++) freeReplyObject(r[i + 1]);
  if (!ok) return -1;
  lb_gen_set(b->org, gen);
  return rekey(b, gen) == 0 ? 1 : -1;
}

/* gen_run: gen_pipeline, again while the generation moves (a few times). */
static int gen_run(board *b, int n, const int *argc, const char *const *const *argv, redisReply **rep) {
  int rc = 1;
  for (int i = 0; i < GEN_TRIES && rc == 1; i++) rc = gen_pipeline(b, n, argc, argv, rep);
  return rc == 0 ? 0 : -1;
}

/* KEYS[1] the window, KEYS[2] the org's generation, KEYS[3] its key
 * registry, KEYS[4..] its day buckets; ARGV[1] ttl, ARGV[2] the generation
 * the keys are named in. Sums the buckets (points add up; the tie-break
 * keeps the latest award, as on every board) unless the window exists
 * already. Returns -1 - the live generation if that is another one. */
static redis_script materialize_script = {.source =
    "local gen = redis.call('GET', KEYS[2]) or '0'\n"
    "if gen ~= ARGV[2] then return -1 - tonumber(gen) end\n"
    "if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end\n"
    "local shift = 1073741824\n"
    "local pts, frac = {}, {}\n"
    "for i = 4, #KEYS do\n"
    "  local z = redis.call('ZRANGE', KEYS[i], 0, -1, 'WITHSCORES')\n"
    "  for j = 1, #z, 2 do\n"
    "    local m, s = z[j], tonumber(z[j + 1])\n"
    "    local p = math.floor(s / shift)\n"
    "    local f = s - p * shift\n"
    "    pts[m] = (pts[m] or 0) + p\n"
    "    if frac[m] == nil or f < frac[m] then frac[m] = f end\n"
    "  end\n"
    "end\n"
    "local batch, n = {}, 0\n"
    "for m, p in pairs(pts) do\n"
    "  batch[#batch + 1] = p * shift + frac[m]\n"
    "  batch[#batch + 1] = m\n"
    "  n = n + 1\n"
    "  if #batch >= 1000 then redis.call('ZADD', KEYS[1], unpack(batch)); batch = {} end\n"
    "end\n"
    "if #batch > 0 then redis.call('ZADD', KEYS[1], unpack(batch)) end\n"
    "if n > 0 then\n"
    "  redis.call('EXPIRE', KEYS[1], tonumber(ARGV[1]))\n"
    "  redis.call('SADD', KEYS[3], KEYS[1])\n"
    "end\n"
    "return n\n"};

/* materialize makes sure a rolling window's key holds its sum. */
static int materialize(rpc_ctx *ctx, board *b) {
  if (b->window != WIN_ROLLING) return RPC_OK;
  for (int tries = 0; tries < GEN_TRIES; tries++) {
    char keys[ROLLING_DAYS + 3][BOARD_KEY_MAX + 8], prefix[BOARD_KEY_MAX], gen[24], ttl[16];
    const char *argv[ROLLING_DAYS + 5];
    int k = 0;
    argv[k++] = b->key;
    lb_gen_key(keys[0], sizeof keys[0], b->org);
    argv[k++] = keys[0];
    boards_prefix(prefix, sizeof prefix, b->org, b->gen);
    boards_registry(keys[1], sizeof keys[1], prefix);
    argv[k++] = keys[1];
    for (int i = 0; i < ROLLING_DAYS; i++) {
      char day[16];
      if (boards_day_shift(b->period, -i, day, sizeof day) != 0 ||
          boards_key(keys[i + 2], sizeof keys[i + 2], prefix, b->subject, WIN_DAY, day, b->scope, b->scope_id) != 0)
        return rpc_fail(ctx, RPC_INVALID_ARGUMENT, "board.period: not a day");
      argv[k++] = keys[i + 2];
    }
    snprintf(ttl, sizeof ttl, "%d", ROLLING_CACHE_TTL_S);
    snprintf(gen, sizeof gen, "%lld", (long long)b->gen);
    argv[k++] = ttl;
    argv[k++] = gen;
    redisReply *r = redis_eval(&materialize_script, ROLLING_DAYS + 3, k, argv);
    int ok = r && r->type == REDIS_REPLY_INTEGER;
    long long v = ok ? r->integer : 0;
    if (r) freeReplyObject(r);
    if (!ok) return unavailable(ctx);
    if (v >= 0) return RPC_OK;
    lb_gen_set(b->org, -1 - v);   /* named in another generation: again in the live one */
    if (rekey(b, -1 - v) != 0) return unavailable(ctx);
  }
  return unavailable(ctx);
}

static Accolade__V1__Entry *entry(rpc_ctx *ctx, int64_t rank, const char *id, const char *score) {
  Accolade__V1__Entry *e = ARENA_NEW(ctx->arena, Accolade__V1__Entry);
  accolade__v1__entry__init(e);
  e->rank = rank;
  e->subject_id = arena_strdup(ctx->arena, id);
  e->points = boards_points(strtod(score, NULL));
  return e;
}

static int display_apply(rpc_ctx *ctx, Accolade__V1__Entry **e, size_t n, redisReply *r);

/* who_key: the hash of members' display data ("team\tname"). */
static const char *who_key(rpc_ctx *ctx) { return arena_printf(ctx->arena, "lb:{%s}:who", ctx->id.org); }

/* display fills the entries' display data: a team's name is its id; a
 * member's name and team come from the org's display hash. */
static int display(rpc_ctx *ctx, const board *b, Accolade__V1__Entry **e, size_t n) {
  if (!n) return RPC_OK;
  if (b->subject == SUBJ_TEAMS) {
    for (size_t i = 0; i < n; i++) e[i]->display_name = e[i]->subject_id;
    return RPC_OK;
  }
  const char **argv = ARENA_ARRAY(ctx->arena, const char *, n + 2);
  argv[0] = "HMGET";
  argv[1] = who_key(ctx);
  for (size_t i = 0; i < n; i++) argv[i + 2] = e[i]->subject_id;
  return display_apply(ctx, e, n, redis_cmd_argv((int)n + 2, argv, NULL));
}

/* display_apply fills names and teams from an HMGET reply (which it frees). */
static int display_apply(rpc_ctx *ctx, Accolade__V1__Entry **e, size_t n, redisReply *r) {
  if (!r || r->type != REDIS_REPLY_ARRAY || r->elements != n) {
    if (r) freeReplyObject(r);
    return unavailable(ctx);
  }
  for (size_t i = 0; i < n; i++) {
    if (r->element[i]->type != REDIS_REPLY_STRING) continue;
    char *v = arena_strdup(ctx->arena, r->element[i]->str);
    char *tab = strchr(v, '\t');
    if (!tab) continue;
    *tab = '\0';
    e[i]->team = v;
    e[i]->display_name = tab + 1;
  }
  freeReplyObject(r);
  return RPC_OK;
}

/* range reads ranks [start, stop] (0-based) of |b| into |out|, and with
 * |total| the board's size in the same round trip. */
static int range(rpc_ctx *ctx, board *b, long start, long stop, Accolade__V1__Entry ***out, size_t *n,
                 int64_t *total) {
  char from[24], to[24];
  snprintf(from, sizeof from, "%ld", start);
  snprintf(to, sizeof to, "%ld", stop);
  const char *zr[] = {"ZREVRANGE", b->key, from, to, "WITHSCORES"}, *zc[] = {"ZCARD", b->key};
  const char *const *argv[] = {zr, zc};
  const int argc[] = {5, 2};
  redisReply *rep[2] = {0};
  if (gen_run(b, total ? 2 : 1, argc, argv, rep)) return unavailable(ctx);
  redisReply *r = rep[0];
  int ok = r->type == REDIS_REPLY_ARRAY && (!total || rep[1]->type == REDIS_REPLY_INTEGER);
  if (ok && total) *total = rep[1]->integer;
  if (total) freeReplyObject(rep[1]);
  if (!ok) {
    freeReplyObject(r);
    return unavailable(ctx);
  }
  *n = r->elements / 2;
  *out = ARENA_ARRAY(ctx->arena, Accolade__V1__Entry *, *n + 1);
  for (size_t i = 0; i < *n; i++)
    (*out)[i] = entry(ctx, start + (long)i + 1, r->element[2 * i]->str, r->element[2 * i + 1]->str);
  freeReplyObject(r);
  return display(ctx, b, *out, *n);
}

int lb_get_top(rpc_ctx *ctx, const void *req, void *resp) {
  const Accolade__V1__GetTopRequest *r = req;
  Accolade__V1__GetTopResponse *out = resp;
  if (rpc_require(ctx, MEMBER_ROLES)) return ctx->code;
  board b;
  int limit, has;
  int64_t offset = 0;
  char *unused;
  if (resolve(ctx, r->board, &b) || page_size(ctx, r->page_size, 10, 100, &limit) ||
      page_token_parse(ctx, r->page_token, &has, &offset, &unused))
    return ctx->code;
  if (has && (offset < 0 || offset > 100000000))
    return rpc_fail(ctx, RPC_INVALID_ARGUMENT, "page_token: malformed (use next_page_token as given)");
  char *cache_key = arena_printf(ctx->arena, "%s|%lld|%d", b.key, (long long)offset, limit);
  const uint8_t *cached;
  size_t cached_len;
  if (topcache_get(cache_key, ctx->arena, &cached, &cached_len)) {
    rpc_reply_encoded(ctx, cached, cached_len);
    return RPC_OK;
  }
  unsigned gen = topcache_gen();
  int64_t board_gen = b.gen;
  out->period = arena_strdup(ctx->arena, b.period);
  if (materialize(ctx, &b) ||
      range(ctx, &b, (long)offset, (long)(offset + limit), &out->entries, &out->n_entries, &out->total))
    return ctx->code;
  if (page_more(&out->n_entries, limit)) out->next_page_token = page_token_make(ctx, offset + limit, "");
  size_t len = accolade__v1__get_top_response__get_packed_size(out);
  uint8_t *buf = arena_alloc(ctx->arena, len ? len : 1);
  accolade__v1__get_top_response__pack(out, buf);
  if (b.gen == board_gen) topcache_put(cache_key, gen, buf, len);   /* else it was named in another generation */
  rpc_reply_encoded(ctx, buf, len);
  return RPC_OK;
}

/* rank_of: 0-based rank of |id| (-1 when absent; -2 when Redis is down),
 * its score with it, in one round trip. */
static long long rank_of(board *b, const char *id, char *score, size_t cap) {
  const char *zr[] = {"ZREVRANK", b->key, id}, *zs[] = {"ZSCORE", b->key, id};
  const char *const *argv[] = {zr, zs};
  const int argc[] = {3, 3};
  redisReply *rep[2];
  if (gen_run(b, 2, argc, argv, rep)) return -2;
  long long rank = rep[0]->type == REDIS_REPLY_INTEGER ? rep[0]->integer : -1;
  snprintf(score, cap, "%s", rep[1]->type == REDIS_REPLY_STRING ? rep[1]->str : "0");
  freeReplyObject(rep[0]);
  freeReplyObject(rep[1]);
  return rank;
}

int lb_get_rank(rpc_ctx *ctx, const void *req, void *resp) {
  const Accolade__V1__GetRankRequest *r = req;
  Accolade__V1__GetRankResponse *out = resp;
  if (rpc_require(ctx, MEMBER_ROLES)) return ctx->code;
  board b;
  const char *id;
  if (resolve(ctx, r->board, &b) || !(id = entry_id(ctx, &b, r->subject_id)) || materialize(ctx, &b)) return ctx->code;
  out->period = arena_strdup(ctx->arena, b.period);
  /* rank, score, size and display data in one round trip */
  const char *zr[] = {"ZREVRANK", b.key, id}, *zs[] = {"ZSCORE", b.key, id}, *zc[] = {"ZCARD", b.key};
  const char *hm[] = {"HMGET", who_key(ctx), id};
  const char *const *argv[] = {zr, zs, zc, hm};
  const int argc[] = {3, 3, 2, 3};
  int members = b.subject != SUBJ_TEAMS;
  redisReply *rep[4] = {0};
  if (gen_run(&b, members ? 4 : 3, argc, argv, rep)) return unavailable(ctx);
  int ok = rep[0]->type == REDIS_REPLY_INTEGER || rep[0]->type == REDIS_REPLY_NIL;
  ok = ok && rep[2]->type == REDIS_REPLY_INTEGER;
  if (ok && rep[0]->type == REDIS_REPLY_INTEGER) {
    out->ranked = 1;
    out->entry = entry(ctx, rep[0]->integer + 1, id, rep[1]->type == REDIS_REPLY_STRING ? rep[1]->str : "0");
  }
  if (ok) out->total = rep[2]->integer;
  for (int i = 0; i < 3; i++) freeReplyObject(rep[i]);
  if (!ok) {
    if (members) freeReplyObject(rep[3]);
    return unavailable(ctx);
  }
  if (!members) {
    if (out->ranked) out->entry->display_name = out->entry->subject_id;
    return RPC_OK;
  }
  if (!out->ranked) {
    freeReplyObject(rep[3]);
    return RPC_OK;
  }
  return display_apply(ctx, &out->entry, 1, rep[3]);
}

int lb_get_around(rpc_ctx *ctx, const void *req, void *resp) {
  const Accolade__V1__GetAroundRequest *r = req;
  Accolade__V1__GetAroundResponse *out = resp;
  if (rpc_require(ctx, MEMBER_ROLES)) return ctx->code;
  board b;
  char score[64];
  const char *id;
  if (resolve(ctx, r->board, &b) || !(id = entry_id(ctx, &b, r->subject_id)) || check_range(ctx, "above", r->above, 0, 50) ||
      check_range(ctx, "below", r->below, 0, 50) || materialize(ctx, &b))
    return ctx->code;
  out->period = arena_strdup(ctx->arena, b.period);
  long long rank = rank_of(&b, id, score, sizeof score);
  if (rank == -2) return unavailable(ctx);
  if (rank < 0) return RPC_OK;   /* not ranked: no neighbours */
  out->ranked = 1;
  long above = r->above ? r->above : 2, below = r->below ? r->below : 2;
  long start = rank - above < 0 ? 0 : (long)rank - above;
  return range(ctx, &b, start, (long)rank + below, &out->entries, &out->n_entries, NULL);
}
