/* digest.c - the weekly recognition digest: GetDigest, and the job posting it
 * to channels that asked for "digest" (once per org and week). */
#include <json-c/json.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "accolade/v1/leaderboard.pb-c.h"
#include "check.h"
#include "log.h"
#include "notify.h"
#include "pg.h"
#include "rpc_client.h"
#include "svc.h"

#define ITEM_COLS                                                                                   \
  "award_id, recipient_id, recipient_team, badge_id, badge_name, points, justification, "          \
  "(extract(epoch from granted_at) * 1000)::bigint"
#define WEEK_WHERE                                                                                 \
  " org = $1 AND NOT revoked AND granted_at >= to_date($2, 'IYYY-\"W\"IW')::timestamptz "           \
  "AND granted_at < to_date($2, 'IYYY-\"W\"IW')::timestamptz + interval '7 days' AND ($3 = '' OR recipient_team = $3) "

static int week_valid(const char *w) {
  return strlen(w) == 8 && w[4] == '-' && w[5] == 'W' && strspn(w, "0123456789") == 4 &&
         strspn(w + 6, "0123456789") == 2 && atoi(w + 6) >= 1 && atoi(w + 6) <= 53;
}

static int items(rpc_ctx *ctx, const char *sql, const char *const *p, Accolade__V1__DigestItem ***out, size_t *n) {
  PGresult *r;
  int rc = pg_query(&r, sql, 3, p);
  if (rc) return rc;
  *n = (size_t)PQntuples(r);
  *out = ARENA_ARRAY(ctx->arena, Accolade__V1__DigestItem *, *n + 1);
  for (size_t i = 0; i < *n; i++) {
    Accolade__V1__DigestItem *d = ARENA_NEW(ctx->arena, Accolade__V1__DigestItem);
    accolade__v1__digest_item__init(d);
    d->award_id = arena_strdup(ctx->arena, pg_str(r, (int)i, 0));
    d->recipient_id = arena_strdup(ctx->arena, pg_str(r, (int)i, 1));
    d->recipient_team = arena_strdup(ctx->arena, pg_str(r, (int)i, 2));
    d->badge_id = arena_strdup(ctx->arena, pg_str(r, (int)i, 3));
    d->badge_name = arena_strdup(ctx->arena, pg_str(r, (int)i, 4));
    d->points = pg_int(r, (int)i, 5);
    d->justification = arena_strdup(ctx->arena, pg_str(r, (int)i, 6));
    d->grant_time_ms = pg_int(r, (int)i, 7);
    (*out)[i] = d;
  }
  PQclear(r);
  return RPC_OK;
}

/* md_add appends to the markdown, never past |cap| (a long entry is cut). */
__attribute__((format(printf, 4, 5))) static void md_add(char *md, size_t cap, size_t *k, const char *fmt, ...) {
  if (*k + 1 >= cap) return;
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(md + *k, cap - *k, fmt, ap);
  va_end(ap);
  if (n > 0) *k = *k + (size_t)n < cap ? *k + (size_t)n : cap - 1;
}

/* most_endorsed: the week's approved public nominations with the most
 * endorsements (a team's digest: those with an award to one of its members). */
static int most_endorsed(rpc_ctx *ctx, const char *const *p, Accolade__V1__Digest *out) {
  PGresult *r;
  int rc = pg_query(&r,
                    "SELECT nomination_id, badge_name, array_to_string(nominee_ids, ','), endorsements, justification "
                    "FROM endorsed e WHERE e.org = $1 AND e.approved_at >= to_date($2, 'IYYY-\"W\"IW')::timestamptz "
                    "AND e.approved_at < to_date($2, 'IYYY-\"W\"IW')::timestamptz + interval '7 days' AND ($3 = '' OR "
                    "EXISTS (SELECT 1 FROM recognition x WHERE x.org = e.org AND x.source_id = e.nomination_id "
                    "AND x.recipient_team = $3)) ORDER BY endorsements DESC, approved_at, nomination_id LIMIT 5",
                    3, p);
  if (rc) return rc;
  out->n_most_endorsed = (size_t)PQntuples(r);
  out->most_endorsed = ARENA_ARRAY(ctx->arena, Accolade__V1__DigestEndorsed *, out->n_most_endorsed + 1);
  for (size_t i = 0; i < out->n_most_endorsed; i++) {
    Accolade__V1__DigestEndorsed *e = ARENA_NEW(ctx->arena, Accolade__V1__DigestEndorsed);
    accolade__v1__digest_endorsed__init(e);
    e->nomination_id = arena_strdup(ctx->arena, pg_str(r, (int)i, 0));
    e->badge_name = arena_strdup(ctx->arena, pg_str(r, (int)i, 1));
    char *ids = arena_strdup(ctx->arena, pg_str(r, (int)i, 2)), *save = NULL;
    e->nominee_ids = ARENA_ARRAY(ctx->arena, char *, strlen(ids) / 2 + 2);
    for (char *t = strtok_r(ids, ",", &save); t; t = strtok_r(NULL, ",", &save)) e->nominee_ids[e->n_nominee_ids++] = t;
    e->endorsements = pg_int(r, (int)i, 3);
    e->justification = arena_strdup(ctx->arena, pg_str(r, (int)i, 4));
    out->most_endorsed[i] = e;
  }
  PQclear(r);
  return RPC_OK;
}

/* weekly_top: the top 100 of the weekly member board for |period|. */
static Accolade__V1__GetTopResponse *weekly_top(rpc_ctx *ctx, const char *org, const char *team, const char *period) {
  Accolade__V1__BoardSpec b = ACCOLADE__V1__BOARD_SPEC__INIT;
  b.subject = ACCOLADE__V1__SUBJECT__MEMBERS;
  b.window = ACCOLADE__V1__WINDOW__WEEK;
  b.scope = *team ? ACCOLADE__V1__SCOPE__TEAM : ACCOLADE__V1__SCOPE__ORG;
  b.scope_id = (char *)team;
  b.period = (char *)period;
  Accolade__V1__GetTopRequest req = ACCOLADE__V1__GET_TOP_REQUEST__INIT;
  req.board = &b;
  req.page_size = 100;
  identity as;
  rpc_service_identity(&as, "svc-notify", org);
  rpc_call_opts o = {.parent = ctx, .as = &as, .timeout_ms = 2000, .idempotent = 1, .max_attempts = 2};
  void *top = NULL;
  rpc_status st;
  if (rpc_call(svc_addr("leaderboard"), "/accolade.v1.LeaderboardService/GetTop", &req.base,
               &accolade__v1__get_top_response__descriptor, &o, ctx->arena, &top, &st) != RPC_OK) {
    log_warn("digest for org %s: svc-leaderboard GetTop %s: %s", org, period, st.message ? st.message : "");
    return NULL;
  }
  return top;
}

/* movers: who climbed most on the weekly member board, this week against the
 * week before (someone new to it counts as climbing from 101st). */
static int movers(rpc_ctx *ctx, const char *org, const char *week, const char *team, Accolade__V1__Digest *out) {
  const char *p[] = {week};
  PGresult *r;
  int rc = pg_query(&r, "SELECT to_char(to_date($1, 'IYYY-\"W\"IW') - 7, 'IYYY-\"W\"IW')", 1, p);
  if (rc) return rc;
  char prev[16];
  snprintf(prev, sizeof prev, "%s", pg_str(r, 0, 0));
  PQclear(r);
  Accolade__V1__GetTopResponse *now = weekly_top(ctx, org, team, week);
  Accolade__V1__GetTopResponse *before = now ? weekly_top(ctx, org, team, prev) : NULL;
  if (!now || !before) {
    out->movers_unavailable = 1;
    return RPC_OK;
  }
  out->movers = ARENA_ARRAY(ctx->arena, Accolade__V1__DigestMover *, 6);
  int64_t last_gain = INT64_MAX;
  while (out->n_movers < 5) {   /* the five biggest gains, in order (ties: the higher rank) */
    const Accolade__V1__Entry *best = NULL;
    int64_t best_gain = 0, best_prev = 0;
    for (size_t i = 0; i < now->n_entries; i++) {
      const Accolade__V1__Entry *e = now->entries[i];
      int64_t was = 0;
      for (size_t j = 0; j < before->n_entries && !was; j++)
        if (!strcmp(before->entries[j]->id, e->id)) was = before->entries[j]->rank;
      int64_t gain = (was ? was : 101) - e->rank;
      int taken = 0;
      for (size_t k = 0; k < out->n_movers; k++) taken |= !strcmp(out->movers[k]->id, e->id);
      if (gain <= 0 || gain > last_gain || taken || gain <= best_gain) continue;
      best = e, best_gain = gain, best_prev = was;
    }
    if (!best) break;
    Accolade__V1__DigestMover *m = ARENA_NEW(ctx->arena, Accolade__V1__DigestMover);
    accolade__v1__digest_mover__init(m);
    m->id = best->id;
    m->display_name = best->display_name;
    m->team = best->team;
    m->rank = best->rank;
    m->previous_rank = best_prev;
    m->points = best->points;
    out->movers[out->n_movers++] = m;
    last_gain = best_gain;
  }
  return RPC_OK;
}

/* build fills |out| for |org|, ISO |week|, optional |team|. */
static int build(rpc_ctx *ctx, const char *org, const char *week, const char *team, Accolade__V1__Digest *out) {
  const char *p[] = {org, week, team};
  PGresult *r;
  int rc = pg_query(&r, "SELECT count(*), coalesce(sum(points), 0), count(DISTINCT recipient_id) FROM recognition WHERE" WEEK_WHERE,
                    3, p);
  if (rc) return rc;
  out->week = arena_strdup(ctx->arena, week);
  out->awards = pg_int(r, 0, 0);
  out->points = pg_int(r, 0, 1);
  out->recipients = pg_int(r, 0, 2);
  PQclear(r);
  if ((rc = items(ctx, "SELECT " ITEM_COLS " FROM recognition WHERE" WEEK_WHERE "ORDER BY points DESC, granted_at LIMIT 5", p,
                  &out->top_recognitions, &out->n_top_recognitions)))
    return rc;
  if ((rc = items(ctx,
                  "SELECT " ITEM_COLS " FROM recognition x WHERE" WEEK_WHERE
                  "AND NOT EXISTS (SELECT 1 FROM recognition y WHERE y.org = x.org AND y.recipient_id = x.recipient_id "
                  "AND y.badge_id = x.badge_id AND NOT y.revoked AND (y.granted_at, y.award_id) < (x.granted_at, x.award_id)) "
                  "ORDER BY granted_at LIMIT 20",
                  p, &out->new_badge_holders, &out->n_new_badge_holders)))
    return rc;
  if ((rc = most_endorsed(ctx, p, out)) || (rc = movers(ctx, org, week, team, out))) return rc;
  size_t cap = 1024 + 600 * (out->n_top_recognitions + out->n_new_badge_holders + out->n_movers) +
               3000 * out->n_most_endorsed;
  char *md = arena_alloc(ctx->arena, cap);
  size_t k = 0;
  md_add(md, cap, &k, "# Recognition digest, %s\n\n**%lld awards, %lld points, %lld people recognised.**\n",
                              week, (long long)out->awards, (long long)out->points, (long long)out->recipients);
  if (out->n_top_recognitions) md_add(md, cap, &k, "\n## Top recognitions\n\n");
  for (size_t i = 0; i < out->n_top_recognitions; i++) {
    const Accolade__V1__DigestItem *d = out->top_recognitions[i];
    md_add(md, cap, &k, "- **%s**, %s (+%lld): %.300s\n", d->recipient_id, d->badge_name,
                          (long long)d->points, d->justification);
  }
  if (out->n_new_badge_holders) md_add(md, cap, &k, "\n## New badge holders\n\n");
  for (size_t i = 0; i < out->n_new_badge_holders; i++) {
    const Accolade__V1__DigestItem *d = out->new_badge_holders[i];
    md_add(md, cap, &k, "- %s earned %s for the first time\n", d->recipient_id, d->badge_name);
  }
  if (out->n_most_endorsed) md_add(md, cap, &k, "\n## Most endorsed\n\n");
  for (size_t i = 0; i < out->n_most_endorsed; i++) {
    const Accolade__V1__DigestEndorsed *e = out->most_endorsed[i];
    md_add(md, cap, &k, "- %s for ", e->badge_name);
    for (size_t j = 0; j < e->n_nominee_ids; j++)
      md_add(md, cap, &k, "%s**%s**", j ? ", " : "", e->nominee_ids[j]);
    md_add(md, cap, &k, ", %lld endorsement%s: %.300s\n", (long long)e->endorsements,
                          e->endorsements == 1 ? "" : "s", e->justification);
  }
  if (out->n_movers) md_add(md, cap, &k, "\n## Leaderboard movers\n\n");
  for (size_t i = 0; i < out->n_movers; i++) {
    const Accolade__V1__DigestMover *m = out->movers[i];
    char was[32];
    if (m->previous_rank) snprintf(was, sizeof was, "#%lld", (long long)m->previous_rank);
    else snprintf(was, sizeof was, "new");
    md_add(md, cap, &k, "- **%s**%s%s%s: %s -> #%lld (%lld points this week)\n",
                          *m->display_name ? m->display_name : m->id, *m->team ? " (" : "", m->team,
                          *m->team ? ")" : "", was, (long long)m->rank, (long long)m->points);
  }
  if (out->movers_unavailable)
    md_add(md, cap, &k, "\n_Leaderboard movers are not available right now._\n");
  out->markdown = md;
  return RPC_OK;
}

static void current_week(char *out, size_t cap, int64_t offset_s) {
  time_t t = time(NULL) + offset_s;
  struct tm tm;
  gmtime_r(&t, &tm);
  strftime(out, cap, "%G-W%V", &tm);
}

int digest_get(rpc_ctx *ctx, const void *req, void *resp) {
  const Accolade__V1__GetDigestRequest *r = req;
  if (rpc_require(ctx, ANY_ROLE) || (*r->team && check_id(ctx, "team", r->team, 128))) return ctx->code;
  char week[16];
  if (*r->week) {
    if (!week_valid(r->week)) return rpc_fail(ctx, RPC_INVALID_ARGUMENT, "week: an ISO week like 2026-W47");
    snprintf(week, sizeof week, "%s", r->week);
  } else {
    current_week(week, sizeof week, 0);
  }
  int rc = build(ctx, ctx->id.org, week, r->team, resp);
  if (rc) return pg_fail(ctx, rc, "digest");
  return RPC_OK;
}

/* digest_post_due posts last week's digest to every "digest" channel of every
 * org that has one and has not had it yet; returns how many orgs. */
int digest_post_due(void) {
  char week[16];
  current_week(week, sizeof week, -7 * 86400);
  const char *p[] = {week};
  PGresult *r;
  if (pg_query(&r,
               "SELECT DISTINCT c.org FROM channel c WHERE c.deleted_at IS NULL AND 'digest' = ANY (c.kinds) "
               "AND NOT EXISTS (SELECT 1 FROM digest_sent s WHERE s.org = c.org AND s.week = $1)",
               1, p) != RPC_OK)
    return -1;
  int n = PQntuples(r);
  for (int i = 0; i < n; i++) {
    const char *org = pg_str(r, i, 0);
    arena a;
    rpc_ctx ctx;
    rpc_ctx_background(&ctx, &a, "digest", org);
    Accolade__V1__Digest d = ACCOLADE__V1__DIGEST__INIT;
    if (build(&ctx, org, week, "", &d) == RPC_OK) {
      json_object *o = json_object_new_object();
      json_object_object_add(o, "text", json_object_new_string(d.markdown));
      json_object_object_add(o, "kind", json_object_new_string("digest"));
      json_object_object_add(o, "week", json_object_new_string(week));
      const char *q[] = {org, week, json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN),
                         arena_printf(&a, "digest:%s", week)};
      pg_exec("BEGIN", 0, NULL);
      int ok = pg_exec("INSERT INTO digest_sent (org, week) VALUES ($1, $2)", 2, q) == RPC_OK &&
               pg_exec("INSERT INTO delivery (org, channel_id, event_id, body) SELECT $1, id, $3, $2 FROM channel "
                       "WHERE org = $1 AND deleted_at IS NULL AND 'digest' = ANY (kinds) ON CONFLICT DO NOTHING",
                       3, (const char *[]){q[0], q[2], q[3]}) == RPC_OK;
      pg_exec(ok ? "COMMIT" : "ROLLBACK", 0, NULL);
      json_object_put(o);
      if (ok) log_info("weekly digest %s queued for org %s", week, org);
    }
    arena_free(&a);
  }
  PQclear(r);
  return n;
}
