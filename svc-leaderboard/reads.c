/* reads.c - GetTop, GetRank, GetAround. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "boards.h"
#include "check.h"
#include "lb.h"
#include "redis.h"

#define MEMBER_ROLES (ROLE_MEMBER | ROLE_MANAGER | ROLE_ADMIN | ROLE_SERVICE)

/* board_key resolves a spec (defaults: members, all time, whole org, the
 * current period) into a key, or fails with INVALID_ARGUMENT. */
static int board_key(rpc_ctx *ctx, const Accolade__V1__BoardSpec *b, char *key, size_t cap,
                     char **period_out) {
  Accolade__V1__BoardSpec none = ACCOLADE__V1__BOARD_SPEC__INIT;
  if (!b) b = &none;
  int subject = b->subject ? (int)b->subject : SUBJ_MEMBERS;
  int window = b->window ? (int)b->window : WIN_ALL;
  int scope = b->scope ? (int)b->scope : SCOPE_ORG;
  if (check_range(ctx, "board.subject", b->subject, 0, 2) || check_range(ctx, "board.window", b->window, 0, 5) ||
      check_range(ctx, "board.scope", b->scope, 0, 4))
    return ctx->code;
  if (subject == SUBJ_TEAMS && scope == SCOPE_TEAM)
    return rpc_fail(ctx, RPC_INVALID_ARGUMENT, "board.scope: a team board has no TEAM scope");
  if (scope != SCOPE_ORG && check_len(ctx, "board.scope_id", b->scope_id, 1, 128)) return ctx->code;
  if (scope != SCOPE_ORG && strpbrk(b->scope_id, "{}"))
    return rpc_fail(ctx, RPC_INVALID_ARGUMENT, "board.scope_id: may not contain braces");
  char period[32];
  if (*b->period) {
    if (!boards_period_valid(window, b->period))
      return rpc_fail(ctx, RPC_INVALID_ARGUMENT,
                      "board.period: '%.40s' is not a period of this window (2026-W47, 2026-11, 2026-Q4, 2026 or all)",
                      b->period);
    snprintf(period, sizeof period, "%s", b->period);
  } else {
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    boards_period(window, (int64_t)now.tv_sec * 1000, period, sizeof period);
  }
  if (boards_key(key, cap, ctx->id.org, subject, window, period, scope, b->scope_id) != 0)
    return rpc_fail(ctx, RPC_INVALID_ARGUMENT, "board.scope_id: too long");
  *period_out = arena_strdup(ctx->arena, period);
  return RPC_OK;
}

static int unavailable(rpc_ctx *ctx) {
  return rpc_fail(ctx, RPC_UNAVAILABLE, "leaderboards unavailable (redis unreachable), retry later");
}

static Accolade__V1__Entry *entry(rpc_ctx *ctx, int64_t rank, const char *id, const char *score) {
  Accolade__V1__Entry *e = ARENA_NEW(ctx->arena, Accolade__V1__Entry);
  accolade__v1__entry__init(e);
  e->rank = rank;
  e->id = arena_strdup(ctx->arena, id);
  e->points = boards_points(strtod(score, NULL));
  return e;
}

/* range reads ranks [start, stop] (0-based) of |key| into |out|. */
static int range(rpc_ctx *ctx, const char *key, long start, long stop, Accolade__V1__Entry ***out, size_t *n) {
  redisReply *r = redis_cmd("ZREVRANGE %s %ld %ld WITHSCORES", key, start, stop);
  if (!r || r->type != REDIS_REPLY_ARRAY) {
    if (r) freeReplyObject(r);
    return unavailable(ctx);
  }
  *n = r->elements / 2;
  *out = ARENA_ARRAY(ctx->arena, Accolade__V1__Entry *, *n + 1);
  for (size_t i = 0; i < *n; i++)
    (*out)[i] = entry(ctx, start + (long)i + 1, r->element[2 * i]->str, r->element[2 * i + 1]->str);
  freeReplyObject(r);
  return RPC_OK;
}

static int64_t card(const char *key) {
  redisReply *r = redis_cmd("ZCARD %s", key);
  int64_t n = r && r->type == REDIS_REPLY_INTEGER ? r->integer : -1;
  if (r) freeReplyObject(r);
  return n;
}

int lb_get_top(rpc_ctx *ctx, const void *req, void *resp) {
  const Accolade__V1__GetTopRequest *r = req;
  Accolade__V1__GetTopResponse *out = resp;
  if (rpc_require(ctx, MEMBER_ROLES)) return ctx->code;
  char key[BOARD_KEY_MAX];
  int limit, has;
  int64_t offset = 0;
  char *unused;
  if (board_key(ctx, r->board, key, sizeof key, &out->period) || page_size(ctx, r->page_size, 10, 100, &limit) ||
      page_token_parse(ctx, r->page_token, &has, &offset, &unused))
    return ctx->code;
  if (has && (offset < 0 || offset > 100000000))
    return rpc_fail(ctx, RPC_INVALID_ARGUMENT, "page_token: malformed (use next_page_token as given)");
  if (range(ctx, key, (long)offset, (long)(offset + limit), &out->entries, &out->n_entries)) return ctx->code;
  if (out->n_entries > (size_t)limit) {
    out->n_entries = (size_t)limit;
    out->next_page_token = page_token_make(ctx, offset + limit, "");
  }
  if ((out->total = card(key)) < 0) return unavailable(ctx);
  return RPC_OK;
}

/* rank_of: 0-based rank of |id| (-1 when absent; -2 when Redis is down). */
static long long rank_of(const char *key, const char *id, char *score, size_t cap) {
  redisReply *r = redis_cmd("ZREVRANK %s %s", key, id);
  if (!r) return -2;
  long long rank = r->type == REDIS_REPLY_INTEGER ? r->integer : -1;
  freeReplyObject(r);
  if (rank < 0) return -1;
  r = redis_cmd("ZSCORE %s %s", key, id);
  if (!r) return -2;
  snprintf(score, cap, "%s", r->type == REDIS_REPLY_STRING ? r->str : "0");
  freeReplyObject(r);
  return rank;
}

int lb_get_rank(rpc_ctx *ctx, const void *req, void *resp) {
  const Accolade__V1__GetRankRequest *r = req;
  Accolade__V1__GetRankResponse *out = resp;
  if (rpc_require(ctx, MEMBER_ROLES)) return ctx->code;
  char key[BOARD_KEY_MAX], score[64];
  if (board_key(ctx, r->board, key, sizeof key, &out->period) || check_id(ctx, "id", r->id, 128)) return ctx->code;
  long long rank = rank_of(key, r->id, score, sizeof score);
  if (rank == -2) return unavailable(ctx);
  if (rank >= 0) {
    out->ranked = 1;
    out->entry = entry(ctx, rank + 1, r->id, score);
  }
  if ((out->total = card(key)) < 0) return unavailable(ctx);
  return RPC_OK;
}

int lb_get_around(rpc_ctx *ctx, const void *req, void *resp) {
  const Accolade__V1__GetAroundRequest *r = req;
  Accolade__V1__GetAroundResponse *out = resp;
  if (rpc_require(ctx, MEMBER_ROLES)) return ctx->code;
  char key[BOARD_KEY_MAX], score[64];
  if (board_key(ctx, r->board, key, sizeof key, &out->period) || check_id(ctx, "id", r->id, 128) ||
      check_range(ctx, "above", r->above, 0, 50) || check_range(ctx, "below", r->below, 0, 50))
    return ctx->code;
  long long rank = rank_of(key, r->id, score, sizeof score);
  if (rank == -2) return unavailable(ctx);
  if (rank < 0) return RPC_OK;   /* not ranked: no neighbours */
  out->ranked = 1;
  long above = r->above ? r->above : 2, below = r->below ? r->below : 2;
  long start = rank - above < 0 ? 0 : (long)rank - above;
  return range(ctx, key, start, (long)rank + below, &out->entries, &out->n_entries);
}
