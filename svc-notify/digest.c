/* digest.c - the weekly recognition digest: GetDigest, and the job posting it
 * to channels that asked for "digest" (once per org and week). */
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "check.h"
#include "log.h"
#include "notify.h"
#include "pg.h"
#include "rpc_client.h"

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
  size_t cap = 1024 + 600 * (out->n_top_recognitions + out->n_new_badge_holders);
  char *md = arena_alloc(ctx->arena, cap);
  size_t k = (size_t)snprintf(md, cap, "# Recognition digest, %s\n\n**%lld awards, %lld points, %lld people recognised.**\n",
                              week, (long long)out->awards, (long long)out->points, (long long)out->recipients);
  if (out->n_top_recognitions) k += (size_t)snprintf(md + k, cap - k, "\n## Top recognitions\n\n");
  for (size_t i = 0; i < out->n_top_recognitions; i++) {
    const Accolade__V1__DigestItem *d = out->top_recognitions[i];
    k += (size_t)snprintf(md + k, cap - k, "- **%s**, %s (+%lld): %.300s\n", d->recipient_id, d->badge_name,
                          (long long)d->points, d->justification);
  }
  if (out->n_new_badge_holders) k += (size_t)snprintf(md + k, cap - k, "\n## New badge holders\n\n");
  for (size_t i = 0; i < out->n_new_badge_holders; i++) {
    const Accolade__V1__DigestItem *d = out->new_badge_holders[i];
    k += (size_t)snprintf(md + k, cap - k, "- %s earned %s for the first time\n", d->recipient_id, d->badge_name);
  }
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
