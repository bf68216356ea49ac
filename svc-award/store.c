/* store.c - svc-award's SQL: badges, awards, milestone rules, profiles and
 * analytics (credentials in store_credential.c). */
#include "store.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pg.h"

/* ---------------------------------------------------------------- badges */

#define BADGE_COLS                                                                         \
  "id, name, description, category, criteria, points, approval_policy, active, image_url, " \
  "cap_per_recipient, cap_per_team, cap_period, "                                          \
  "(extract(epoch from created_at) * 1000)::bigint, (extract(epoch from updated_at) * 1000)::bigint"

static Accolade__V1__Badge *badge_row(rpc_ctx *ctx, PGresult *r, int i) {
  Accolade__V1__Badge *b = ARENA_NEW(ctx->arena, Accolade__V1__Badge);
  accolade__v1__badge__init(b);
  b->id = arena_strdup(ctx->arena, pg_str(r, i, 0));
  b->name = arena_strdup(ctx->arena, pg_str(r, i, 1));
  b->description = arena_strdup(ctx->arena, pg_str(r, i, 2));
  b->category = arena_strdup(ctx->arena, pg_str(r, i, 3));
  b->criteria = arena_strdup(ctx->arena, pg_str(r, i, 4));
  b->points = pg_int(r, i, 5);
  b->approval_policy = (Accolade__V1__ApprovalPolicy)pg_int(r, i, 6);
  b->active = strcmp(pg_str(r, i, 7), "t") == 0;
  b->image_url = arena_strdup(ctx->arena, pg_str(r, i, 8));
  b->cap_per_recipient = (int32_t)pg_int(r, i, 9);
  b->cap_per_team = (int32_t)pg_int(r, i, 10);
  b->cap_period = (Accolade__V1__CapPeriod)pg_int(r, i, 11);
  b->create_time_ms = pg_int(r, i, 12);
  b->update_time_ms = pg_int(r, i, 13);
  return b;
}
static void *badge_item(void *arg, PGresult *r, int i) { return badge_row(arg, r, i); }

/* One transaction: a concurrent caller that finds the org_seeded row (after
 * waiting on its unique key) also finds the badges. */
static int seed_run(void *arg) {
  const char *org = arg;
  const char *p[] = {org};
  PGresult *r;
  int rc = pg_query(&r, "INSERT INTO org_seeded(org) VALUES ($1) ON CONFLICT DO NOTHING RETURNING org",
                    1, p);
  if (rc) return rc;
  int fresh = PQntuples(r) == 1;
  PQclear(r);
  if (!fresh) return RPC_OK;
  /* The five default badges; admins may edit or retire them. */
  return pg_exec(
      "INSERT INTO badge(org, id, name, description, category, criteria, points, approval_policy) VALUES "
      "($1, 'deal-closer', 'Deal Closer', 'Closed a deal that mattered.', 'sales', "
      "'Closed a significant deal, or unblocked one for the team.', 50, 1),"
      "($1, 'knowledge-sharer', 'Knowledge Sharer', 'Made the team smarter.', 'enablement', "
      "'Shared a playbook, talk, write-up or coaching that others used.', 20, 1),"
      "($1, 'customer-champion', 'Customer Champion', 'Went the extra mile for a customer.', 'customer', "
      "'Solved a customer problem beyond what was asked.', 30, 1),"
      "($1, 'innovation-driver', 'Innovation Driver', 'Found a better way.', 'innovation', "
      "'Introduced an idea, tool or process the team adopted.', 30, 1),"
      "($1, 'collaboration-leader', 'Collaboration Leader', 'Brought people together.', 'teamwork', "
      "'Led work across teams to a shared result.', 30, 1) "
      "ON CONFLICT DO NOTHING",
      1, p);
}

int store_ensure_org(const char *org) { return pg_tx(seed_run, (void *)org); }

int store_badge_get(rpc_ctx *ctx, const char *org, const char *id, Accolade__V1__Badge **out) {
  const char *p[] = {org, id};
  return pg_one("SELECT " BADGE_COLS " FROM badge WHERE org = $1 AND id = $2", 2, p, badge_item, ctx, out);
}

static void badge_params(char buf[6][24], const Accolade__V1__Badge *b, const char *p[16]) {
  snprintf(buf[0], 24, "%lld", (long long)b->points);
  snprintf(buf[1], 24, "%d", b->approval_policy ? (int)b->approval_policy : 1);
  snprintf(buf[2], 24, "%s", b->active ? "true" : "false");
  snprintf(buf[3], 24, "%d", b->cap_per_recipient);
  snprintf(buf[4], 24, "%d", b->cap_per_team);
  snprintf(buf[5], 24, "%d", (int)b->cap_period);
  p[2] = b->name;
  p[3] = b->description;
  p[4] = b->category;
  p[5] = b->criteria;
  p[6] = buf[0];
  p[7] = buf[1];
  p[8] = buf[2];
  p[9] = b->image_url;
  p[10] = buf[3];
  p[11] = buf[4];
  p[12] = buf[5];
}

int store_badge_insert(rpc_ctx *ctx, const char *org, const Accolade__V1__Badge *b,
                       Accolade__V1__Badge **out) {
  char buf[6][24];
  const char *p[16] = {org, b->id};
  badge_params(buf, b, p);
  PGresult *r;
  int rc = pg_query(&r,
                    "INSERT INTO badge(org, id, name, description, category, criteria, points, "
                    "approval_policy, active, image_url, cap_per_recipient, cap_per_team, cap_period) "
                    "VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12,$13) RETURNING " BADGE_COLS,
                    13, p);
  if (rc) return rc;
  *out = badge_row(ctx, r, 0);
  PQclear(r);
  return RPC_OK;
}

int store_badge_update(rpc_ctx *ctx, const char *org, const Accolade__V1__Badge *b,
                       Accolade__V1__Badge **out) {
  char buf[6][24];
  const char *p[16] = {org, b->id};
  badge_params(buf, b, p);
  return pg_one("UPDATE badge SET name=$3, description=$4, category=$5, criteria=$6, points=$7, "
                "approval_policy=$8, active=$9, image_url=$10, cap_per_recipient=$11, "
                "cap_per_team=$12, cap_period=$13, updated_at=now() "
                "WHERE org=$1 AND id=$2 RETURNING " BADGE_COLS,
                13, p, badge_item, ctx, out);
}

int store_badge_list(rpc_ctx *ctx, const char *org, const char *after_id, int include_retired,
                     const char *category, int limit, Accolade__V1__Badge ***out, size_t *n) {
  char lim[16];
  snprintf(lim, sizeof lim, "%d", limit);
  const char *p[] = {org, after_id ? after_id : "", include_retired ? "true" : "false", category, lim};
  return pg_page(ctx->arena,
                 "SELECT " BADGE_COLS " FROM badge WHERE org = $1 AND id > $2 "
                 "AND (active OR $3::boolean) AND ($4 = '' OR category = $4) ORDER BY id LIMIT $5",
                 5, p, badge_item, ctx, out, -1, NULL, n);
}

/* ---------------------------------------------------------------- awards */

#define AWARD_COLS                                                                              \
  "a.id, a.badge_id, b.name, b.category, a.points, a.recipient_id, a.recipient_team, a.giver_id, " \
  "a.giver_team, a.source_id, a.justification, a.public, a.milestone_rule_id IS NOT NULL, "       \
  "(extract(epoch from a.granted_at) * 1000)::bigint, a.revoked_at IS NOT NULL, "                 \
  "coalesce(a.revoke_reason, ''), coalesce((extract(epoch from a.revoked_at) * 1000)::bigint, 0), " \
  "(extract(epoch from a.granted_at) * 1000000)::bigint, a.recipient_name, array_to_string(a.evidence, ' ')"

static Accolade__V1__Award *award_row(rpc_ctx *ctx, PGresult *r, int i) {
  Accolade__V1__Award *a = ARENA_NEW(ctx->arena, Accolade__V1__Award);
  accolade__v1__award__init(a);
  a->id = arena_strdup(ctx->arena, pg_str(r, i, 0));
  a->badge_id = arena_strdup(ctx->arena, pg_str(r, i, 1));
  a->badge_name = arena_strdup(ctx->arena, pg_str(r, i, 2));
  a->category = arena_strdup(ctx->arena, pg_str(r, i, 3));
  a->points = pg_int(r, i, 4);
  a->recipient_id = arena_strdup(ctx->arena, pg_str(r, i, 5));
  a->recipient_team = arena_strdup(ctx->arena, pg_str(r, i, 6));
  a->giver_id = arena_strdup(ctx->arena, pg_str(r, i, 7));
  a->giver_team = arena_strdup(ctx->arena, pg_str(r, i, 8));
  a->source_id = arena_strdup(ctx->arena, pg_str(r, i, 9));
  a->justification = arena_strdup(ctx->arena, pg_str(r, i, 10));
  a->public_ = strcmp(pg_str(r, i, 11), "t") == 0;
  a->milestone = strcmp(pg_str(r, i, 12), "t") == 0;
  a->grant_time_ms = pg_int(r, i, 13);
  a->revoked = strcmp(pg_str(r, i, 14), "t") == 0;
  a->revoke_reason = arena_strdup(ctx->arena, pg_str(r, i, 15));
  a->revoke_time_ms = pg_int(r, i, 16);
  a->recipient_name = arena_strdup(ctx->arena, pg_str(r, i, 18));
  /* Links are URLs, checked to hold no spaces. */
  const char *links = pg_str(r, i, 19);
  size_t nlinks = *links != '\0';
  for (const char *c = links; *c; c++) nlinks += *c == ' ';
  a->evidence_links = ARENA_ARRAY(ctx->arena, char *, nlinks + 1);
  char *copy = arena_strdup(ctx->arena, links), *save = NULL;
  for (char *l = strtok_r(copy, " ", &save); l; l = strtok_r(NULL, " ", &save))
    a->evidence_links[a->n_evidence_links++] = l;
  return a;
}
static void *award_item(void *arg, PGresult *r, int i) { return award_row(arg, r, i); }

static int award_one(rpc_ctx *ctx, const char *sql, int n, const char *const *p,
                     Accolade__V1__Award **out) {
  return pg_one(sql, n, p, award_item, ctx, out);
}

/* lock_names takes the advisory lock (|space|, hashtext(org/name)) of each
 * of the |n| |names|, in one statement, in the order of the keys. */
static int lock_names(arena *a, const char *space, const char *org, const char *const *names, size_t n) {
  if (n == 0) return RPC_OK;
  const char *p[] = {space, org, pg_text_array(a, names, n)};
  /* Taken with the grant's first read, in its round trip. */
  return pg_exec_later("SELECT count(pg_advisory_xact_lock(hashtext($1), k)) FROM "
                       "(SELECT DISTINCT hashtext($2 || '/' || m) AS k FROM unnest($3::text[]) m ORDER BY k) s",
                       3, p, NULL, NULL);
}

int store_lock_badges(arena *a, const char *org, const char *const *badges, size_t n) {
  return lock_names(a, "award.grant", org, badges, n);
}

int store_lock_recipients(arena *a, const char *org, const char *const *recipients, size_t n) {
  return lock_names(a, "award.recipient", org, recipients, n);
}

int store_award_find(rpc_ctx *ctx, const char *org, const char *source_id,
                     const char *recipient_id, Accolade__V1__Award **out) {
  const char *p[] = {org, source_id, recipient_id};
  return award_one(ctx,
                   "SELECT " AWARD_COLS " FROM award a JOIN badge b ON b.org = a.org AND b.id = a.badge_id "
                   "WHERE a.org = $1 AND a.source_id = $2 AND a.recipient_id = $3",
                   3, p, out);
}

static const char *period_unit(int period) {
  switch (period) {
    case ACCOLADE__V1__CAP_PERIOD__CAP_WEEK: return "week";
    case ACCOLADE__V1__CAP_PERIOD__CAP_MONTH: return "month";
    case ACCOLADE__V1__CAP_PERIOD__CAP_QUARTER: return "quarter";
    case ACCOLADE__V1__CAP_PERIOD__CAP_YEAR: return "year";
    default: return NULL;
  }
}

int store_cap_count(const char *org, const char *badge_id, const char *recipient_id,
                    const char *team, int period, int64_t *count) {
  const char *unit = period_unit(period);
  const char *p[] = {org, badge_id, team ? team : recipient_id, unit ? unit : "century"};
  PGresult *r;
  int rc = pg_query(&r,
                    team ? "SELECT count(*) FROM award WHERE org = $1 AND badge_id = $2 "
                           "AND recipient_team = $3 AND revoked_at IS NULL "
                           "AND granted_at >= date_trunc($4, now())"
                         : "SELECT count(*) FROM award WHERE org = $1 AND badge_id = $2 "
                           "AND recipient_id = $3 AND revoked_at IS NULL "
                           "AND granted_at >= date_trunc($4, now())",
                    4, p);
  if (rc) return rc;
  *count = pg_int(r, 0, 0);
  PQclear(r);
  return RPC_OK;
}

/* awards_by_key puts each award of |r| in |out| at the place of its
 * (source, recipient) among the |n| |sources| and |recipients|: every place
 * with that key (a lookup), or with |once| only the first still empty (an
 * insert: a key given twice was made once), and frees |r|. */
static void awards_by_key(rpc_ctx *ctx, PGresult *r, const char *const *sources, const char *const *recipients,
                          size_t n, int once, Accolade__V1__Award **out) {
  for (int k = 0; k < PQntuples(r); k++)
    for (size_t i = 0; i < n; i++)
      if (!out[i] && !strcmp(sources[i], pg_str(r, k, 9)) && !strcmp(recipients[i], pg_str(r, k, 5))) {
        out[i] = award_row(ctx, r, k);
        if (once) break;
      }
  PQclear(r);
}

int store_award_insert_many(rpc_ctx *ctx, const char *org, const award_new *a, size_t n, Accolade__V1__Award **out) {
  if (n == 0) return RPC_OK;
  enum { NCOLS = 11 };
  const char **col[NCOLS];
  for (int c = 0; c < NCOLS; c++) col[c] = ARENA_ARRAY(ctx->arena, const char *, n + 1);
  for (size_t i = 0; i < n; i++) {
    out[i] = NULL;
    /* Links are URLs, checked to hold no spaces: one string a row. */
    size_t len = 1;
    for (size_t k = 0; k < a[i].nevidence; k++) len += strlen(a[i].evidence[k]) + 1;
    char *links = arena_alloc(ctx->arena, len), *w = links;
    for (size_t k = 0; k < a[i].nevidence; k++) w += sprintf(w, "%s%s", k ? " " : "", a[i].evidence[k]);
    const char *v[NCOLS] = {a[i].badge_id,     a[i].recipient_id,  a[i].recipient_team,
                            a[i].giver_id,     a[i].giver_team,    a[i].source_id,
                            a[i].justification, a[i].public ? "t" : "f",
                            a[i].milestone_rule_id ? a[i].milestone_rule_id : "",
                            a[i].recipient_name ? a[i].recipient_name : "", links};
    for (int c = 0; c < NCOLS; c++) col[c][i] = v[c];
  }
  const char *p[NCOLS + 1] = {org};
  for (int c = 0; c < NCOLS; c++) p[c + 1] = pg_text_array(ctx->arena, col[c], n);
  /* No name given (a milestone): the recipient's last known one. */
  PGresult *r;
  int rc = pg_query(&r,
                    "WITH ins AS (INSERT INTO award (org, badge_id, recipient_id, recipient_team, giver_id, "
                    "giver_team, source_id, justification, public, points, milestone_rule_id, recipient_name, "
                    "evidence) SELECT $1, u.b, u.r, u.t, u.g, u.gt, u.s, u.j, u.pub::boolean, badge.points, "
                    "NULLIF(u.rule, '')::uuid, CASE WHEN u.nm <> '' THEN u.nm ELSE coalesce((SELECT "
                    "recipient_name FROM award WHERE org = $1 AND recipient_id = u.r AND recipient_name <> '' "
                    "ORDER BY granted_at DESC LIMIT 1), '') END, string_to_array(u.ev, ' ') "
                    "FROM unnest($2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[], "
                    "$8::text[], $9::text[], $10::text[], $11::text[], $12::text[]) WITH ORDINALITY "
                    "AS u(b, r, t, g, gt, s, j, pub, rule, nm, ev, k) JOIN badge ON badge.org = $1 AND badge.id = u.b "
                    "ORDER BY u.k ON CONFLICT (org, source_id, recipient_id) DO NOTHING RETURNING *) "
                    "SELECT " AWARD_COLS " FROM ins a JOIN badge b ON b.org = a.org AND b.id = a.badge_id",
                    NCOLS + 1, p);
  if (rc) return rc;
  awards_by_key(ctx, r, col[5], col[1], n, 1, out);   /* source_id, recipient_id */
  return RPC_OK;
}

int store_award_insert(rpc_ctx *ctx, const char *org, const award_new *a, Accolade__V1__Award **out) {
  int rc = store_award_insert_many(ctx, org, a, 1, out);
  return rc == RPC_OK && !*out ? RPC_ALREADY_EXISTS : rc;
}

int store_award_find_many(rpc_ctx *ctx, const char *org, const char *const *sources, const char *const *recipients,
                          size_t n, Accolade__V1__Award **out) {
  for (size_t i = 0; i < n; i++) out[i] = NULL;
  if (n == 0) return RPC_OK;
  const char *p[] = {org, pg_text_array(ctx->arena, sources, n), pg_text_array(ctx->arena, recipients, n)};
  PGresult *r;
  int rc = pg_query(&r,
                    "SELECT " AWARD_COLS " FROM award a JOIN badge b ON b.org = a.org AND b.id = a.badge_id "
                    "WHERE a.org = $1 AND (a.source_id, a.recipient_id) IN "
                    "(SELECT * FROM unnest($2::text[], $3::text[]))",
                    3, p);
  if (rc) return rc;
  awards_by_key(ctx, r, sources, recipients, n, 0, out);
  return RPC_OK;
}

int store_award_get(rpc_ctx *ctx, const char *org, const char *id, Accolade__V1__Award **out) {
  const char *p[] = {org, id};
  return award_one(ctx,
                   "SELECT " AWARD_COLS " FROM award a JOIN badge b ON b.org = a.org AND b.id = a.badge_id "
                   "WHERE a.org = $1 AND a.id = $2::uuid",
                   2, p, out);
}

int store_award_revoke(rpc_ctx *ctx, const char *org, const char *id, const char *reason,
                       Accolade__V1__Award **out) {
  const char *p[] = {org, id, reason};
  int rc = award_one(ctx,
                     "WITH up AS (UPDATE award SET revoked_at = now(), revoke_reason = $3 "
                     "WHERE org = $1 AND id = $2::uuid AND revoked_at IS NULL RETURNING *) "
                     "SELECT " AWARD_COLS " FROM up a JOIN badge b ON b.org = a.org AND b.id = a.badge_id",
                     3, p, out);
  if (rc != RPC_NOT_FOUND) return rc;
  rc = store_award_get(ctx, org, id, out);
  return rc == RPC_OK ? RPC_FAILED_PRECONDITION : rc;
}

int store_award_list(rpc_ctx *ctx, const char *org, const award_filter *f, int limit,
                     Accolade__V1__Award ***out, int64_t **cursors, size_t *n) {
  char lim[16], start[24], end[24], cur[24];
  snprintf(lim, sizeof lim, "%d", limit);
  snprintf(start, sizeof start, "%lld", (long long)f->start_ms);
  snprintf(end, sizeof end, "%lld", (long long)f->end_ms);
  snprintf(cur, sizeof cur, "%lld", (long long)f->cursor_us);
  const char *p[] = {org,
                     f->recipient_id,
                     f->badge_id,
                     f->category,
                     f->team,
                     start,
                     end,
                     f->include_revoked ? "true" : "false",
                     f->public_only ? "true" : "false",
                     f->has_cursor ? "true" : "false",
                     cur,
                     f->has_cursor ? f->cursor_id : "00000000-0000-0000-0000-000000000000",
                     lim,
                     f->milestones_only ? "true" : "false"};
  return pg_page(ctx->arena,
                 "SELECT " AWARD_COLS " FROM award a JOIN badge b ON b.org = a.org AND b.id = a.badge_id "
                 "WHERE a.org = $1 AND ($2 = '' OR a.recipient_id = $2) AND ($3 = '' OR a.badge_id = $3) "
                 "AND ($4 = '' OR b.category = $4) AND ($5 = '' OR a.recipient_team = $5) "
                 "AND ($6::bigint = 0 OR a.granted_at >= to_timestamp($6::bigint / 1000.0)) "
                 "AND ($7::bigint = 0 OR a.granted_at < to_timestamp($7::bigint / 1000.0)) "
                 "AND ($8::boolean OR a.revoked_at IS NULL) AND (NOT $9::boolean OR a.public) "
                 "AND (NOT $14::boolean OR a.milestone_rule_id IS NOT NULL) "
                 "AND (NOT $10::boolean OR ((extract(epoch from a.granted_at) * 1000000)::bigint, a.id) "
                 "     < ($11::bigint, $12::uuid)) "
                 "ORDER BY (extract(epoch from a.granted_at) * 1000000)::bigint DESC, a.id DESC LIMIT $13",
                 14, p, award_item, ctx, out, 17, cursors, n);
}

/* ----------------------------------------------------------------- rules */

#define RULE_COLS                                                                      \
  "id, name, kind, badge_id, category, threshold, window_days, grant_badge_id, "       \
  "(extract(epoch from created_at) * 1000)::bigint, (extract(epoch from created_at) * 1000000)::bigint"

static Accolade__V1__Rule *rule_row(rpc_ctx *ctx, PGresult *r, int i) {
  Accolade__V1__Rule *x = ARENA_NEW(ctx->arena, Accolade__V1__Rule);
  accolade__v1__rule__init(x);
  x->id = arena_strdup(ctx->arena, pg_str(r, i, 0));
  x->name = arena_strdup(ctx->arena, pg_str(r, i, 1));
  x->kind = (Accolade__V1__RuleKind)pg_int(r, i, 2);
  x->badge_id = arena_strdup(ctx->arena, pg_str(r, i, 3));
  x->category = arena_strdup(ctx->arena, pg_str(r, i, 4));
  x->threshold = pg_int(r, i, 5);
  x->window_days = (int32_t)pg_int(r, i, 6);
  x->grant_badge_id = arena_strdup(ctx->arena, pg_str(r, i, 7));
  x->create_time_ms = pg_int(r, i, 8);
  return x;
}
static void *rule_item(void *arg, PGresult *r, int i) { return rule_row(arg, r, i); }

/* rule_nums: a rule's numbers as query parameters. */
typedef struct rule_nums {
  char kind[8], thr[24], win[16];
} rule_nums;

static void rule_nums_of(const Accolade__V1__Rule *x, rule_nums *n) {
  snprintf(n->kind, sizeof n->kind, "%d", (int)x->kind);
  snprintf(n->thr, sizeof n->thr, "%lld", (long long)x->threshold);
  snprintf(n->win, sizeof n->win, "%d", x->window_days);
}

/* rule_one runs |sql| returning RULE_COLS of one rule: NOT_FOUND without one. */
static int rule_one(rpc_ctx *ctx, const char *sql, int n, const char *const *p, Accolade__V1__Rule **out) {
  PGresult *r;
  int rc = pg_query(&r, sql, n, p);
  if (rc) return rc;
  rc = PQntuples(r) ? RPC_OK : RPC_NOT_FOUND;
  if (!rc) *out = rule_row(ctx, r, 0);
  PQclear(r);
  return rc;
}

int store_rule_insert(rpc_ctx *ctx, const char *org, const Accolade__V1__Rule *x,
                      Accolade__V1__Rule **out) {
  rule_nums n;
  rule_nums_of(x, &n);
  const char *p[] = {org, x->name, n.kind, x->badge_id, x->category, n.thr, n.win, x->grant_badge_id};
  return rule_one(ctx,
                  "INSERT INTO rule(org, name, kind, badge_id, category, threshold, window_days, "
                  "grant_badge_id) VALUES ($1,$2,$3,$4,$5,$6,$7,$8) RETURNING " RULE_COLS,
                  8, p, out);
}

int store_rule_get(rpc_ctx *ctx, const char *org, const char *id, Accolade__V1__Rule **out) {
  const char *p[] = {org, id};
  return rule_one(ctx, "SELECT " RULE_COLS " FROM rule WHERE org = $1 AND id = $2::uuid AND deleted_at IS NULL", 2, p,
                  out);
}

int store_rule_update(rpc_ctx *ctx, const char *org, const Accolade__V1__Rule *x, Accolade__V1__Rule **out) {
  rule_nums n;
  rule_nums_of(x, &n);
  const char *p[] = {org, x->id, x->name, n.kind, x->badge_id, x->category, n.thr, n.win, x->grant_badge_id};
  return rule_one(ctx,
                  "UPDATE rule SET name=$3, kind=$4, badge_id=$5, category=$6, threshold=$7, window_days=$8, "
                  "grant_badge_id=$9 WHERE org = $1 AND id = $2::uuid AND deleted_at IS NULL RETURNING " RULE_COLS,
                  9, p, out);
}

int store_rule_list(rpc_ctx *ctx, const char *org, int64_t after_us, const char *after_id, int limit,
                    Accolade__V1__Rule ***out, int64_t **cursors, size_t *n) {
  char lim[16], after[24];
  snprintf(lim, sizeof lim, "%d", limit);
  snprintf(after, sizeof after, "%lld", (long long)after_us);
  const char *p[] = {org, after, after_id ? after_id : "00000000-0000-0000-0000-000000000000", lim};
  return pg_page(ctx->arena,
                 "SELECT " RULE_COLS " FROM rule WHERE org = $1 AND deleted_at IS NULL "
                 "AND ((extract(epoch from created_at) * 1000000)::bigint, id) > ($2::bigint, $3::uuid) "
                 "ORDER BY (extract(epoch from created_at) * 1000000)::bigint, id LIMIT $4",
                 4, p, rule_item, ctx, out, 9, cursors, n);
}

int store_rule_delete(const char *org, const char *id) {
  const char *p[] = {org, id};
  return pg_one("UPDATE rule SET deleted_at = now() WHERE org = $1 AND id = $2::uuid "
                "AND deleted_at IS NULL RETURNING id",
                2, p, NULL, NULL, NULL);
}

int store_rule_progress(const char *org, const Accolade__V1__Rule *x, const char *member,
                        int64_t *current) {
  char win[16];
  snprintf(win, sizeof win, "%d", x->window_days);
  const char *p[] = {org, member, win, x->badge_id, x->category};
  const char *sql;
  switch (x->kind) {
    case ACCOLADE__V1__RULE_KIND__BADGE_COUNT:
      sql = "SELECT count(*) FROM award a WHERE a.org = $1 AND a.recipient_id = $2 "
            "AND a.revoked_at IS NULL AND a.badge_id = $4 AND $5 = $5 "
            "AND ($3::int = 0 OR a.granted_at >= now() - make_interval(days => $3::int))";
      break;
    case ACCOLADE__V1__RULE_KIND__CATEGORY_COUNT:
      sql = "SELECT count(*) FROM award a JOIN badge b ON b.org = a.org AND b.id = a.badge_id "
            "WHERE a.org = $1 AND a.recipient_id = $2 AND a.revoked_at IS NULL AND $4 = $4 "
            "AND b.category = $5 "
            "AND ($3::int = 0 OR a.granted_at >= now() - make_interval(days => $3::int))";
      break;
    default:
      sql = "SELECT coalesce(sum(a.points), 0) FROM award a WHERE a.org = $1 AND a.recipient_id = $2 "
            "AND a.revoked_at IS NULL AND $4 = $4 AND $5 = $5 "
            "AND ($3::int = 0 OR a.granted_at >= now() - make_interval(days => $3::int))";
  }
  PGresult *r;
  int rc = pg_query(&r, sql, 5, p);
  if (rc) return rc;
  *current = pg_int(r, 0, 0);
  PQclear(r);
  return RPC_OK;
}

/* --------------------------------------------------------------- reads */

int store_profile_read(rpc_ctx *ctx, const char *org, const char *member, int recent, int milestones,
                       Accolade__V1__Profile *out, profile_has *has) {
  char lr[16], lm[16];
  snprintf(lr, sizeof lr, "%d", recent);
  snprintf(lm, sizeof lm, "%d", milestones);
  const char *p[] = {org, member, lr, lm};
  PGresult *r;
  int rc = pg_query(&r, "SELECT * FROM profile_read($1, $2, $3::int, $4::int)", 4, p);
  if (rc) return rc;
  size_t rows = (size_t)PQntuples(r);
  out->badges = ARENA_ARRAY(ctx->arena, Accolade__V1__BadgeCount *, rows + 1);
  out->recent_awards = ARENA_ARRAY(ctx->arena, Accolade__V1__Award *, rows + 1);
  out->milestones = ARENA_ARRAY(ctx->arena, Accolade__V1__Award *, rows + 1);
  out->n_badges = out->n_recent_awards = out->n_milestones = 0;
  out->total_points = out->total_awards = 0;
  *has = (profile_has){0};
  for (int i = 0; i < (int)rows; i++) {
    char kind = pg_str(r, i, 20)[0];
    if (kind == 'f') {
      long long bits = pg_int(r, i, 21);
      *has = (profile_has){.rules = !!(bits & 1), .signal_rules = !!(bits & 2), .journeys = !!(bits & 4)};
    } else if (kind == 't') {
      Accolade__V1__BadgeCount *c = ARENA_NEW(ctx->arena, Accolade__V1__BadgeCount);
      accolade__v1__badge_count__init(c);
      c->badge_id = arena_strdup(ctx->arena, pg_str(r, i, 1));
      c->badge_name = arena_strdup(ctx->arena, pg_str(r, i, 2));
      c->points = pg_int(r, i, 4);
      c->count = pg_int(r, i, 21);
      out->total_points += c->points;
      out->total_awards += c->count;
      out->badges[out->n_badges++] = c;
    } else if (kind == 'm') {
      out->milestones[out->n_milestones++] = award_row(ctx, r, i);
    } else {
      out->recent_awards[out->n_recent_awards++] = award_row(ctx, r, i);
    }
  }
  PQclear(r);
  return RPC_OK;
}

#define STATS_WHERE                                                                 \
  " a.org = $1 AND a.revoked_at IS NULL AND a.granted_at >= to_timestamp($2::bigint / 1000.0) " \
  "AND a.granted_at < to_timestamp($3::bigint / 1000.0) AND ($4 = '' OR a.recipient_team = $4) "

#define STATS_BY(col)                                                                          \
  "SELECT " col ", count(*), sum(a.points) FROM award a JOIN badge b ON b.org = a.org AND "      \
  "b.id = a.badge_id WHERE" STATS_WHERE "GROUP BY 1 ORDER BY 2 DESC, 1"

int store_stats_by(rpc_ctx *ctx, const char *org, store_stats_group by, int64_t start_ms,
                   int64_t end_ms, const char *team, Accolade__V1__CountBy ***out, size_t *n) {
  static const char *const sql[] = {
      [STATS_BY_BADGE] = STATS_BY("a.badge_id"),
      [STATS_BY_CATEGORY] = STATS_BY("b.category"),
      [STATS_BY_TEAM] = STATS_BY("a.recipient_team"),
  };
  char s[24], e[24];
  snprintf(s, sizeof s, "%lld", (long long)start_ms);
  snprintf(e, sizeof e, "%lld", (long long)end_ms);
  const char *p[] = {org, s, e, team};
  PGresult *r;
  int rc = pg_query(&r, sql[by], 4, p);
  if (rc) return rc;
  *n = (size_t)PQntuples(r);
  *out = ARENA_ARRAY(ctx->arena, Accolade__V1__CountBy *, *n + 1);
  for (size_t i = 0; i < *n; i++) {
    Accolade__V1__CountBy *c = ARENA_NEW(ctx->arena, Accolade__V1__CountBy);
    accolade__v1__count_by__init(c);
    c->key = arena_strdup(ctx->arena, pg_str(r, (int)i, 0));
    c->count = pg_int(r, (int)i, 1);
    c->points = pg_int(r, (int)i, 2);
    (*out)[i] = c;
  }
  PQclear(r);
  return RPC_OK;
}

int store_stats_weekly(rpc_ctx *ctx, const char *org, int64_t start_ms, int64_t end_ms,
                       const char *team, Accolade__V1__WeekCount ***out, size_t *n) {
  char s[24], e[24];
  snprintf(s, sizeof s, "%lld", (long long)start_ms);
  snprintf(e, sizeof e, "%lld", (long long)end_ms);
  const char *p[] = {org, s, e, team};
  PGresult *r;
  /* Every ISO week of the range, including weeks without awards. */
  int rc = pg_query(
      &r,
      "WITH weeks AS (SELECT generate_series(date_trunc('week', to_timestamp($2::bigint / 1000.0)), "
      "  to_timestamp($3::bigint / 1000.0) - interval '1 microsecond', interval '1 week') AS w) "
      "SELECT (extract(epoch from w) * 1000)::bigint, "
      "  (SELECT count(*) FROM award a WHERE" STATS_WHERE
      "   AND a.granted_at >= w AND a.granted_at < w + interval '1 week') "
      "FROM weeks ORDER BY w",
      4, p);
  if (rc) return rc;
  *n = (size_t)PQntuples(r);
  *out = ARENA_ARRAY(ctx->arena, Accolade__V1__WeekCount *, *n + 1);
  for (size_t i = 0; i < *n; i++) {
    Accolade__V1__WeekCount *w = ARENA_NEW(ctx->arena, Accolade__V1__WeekCount);
    accolade__v1__week_count__init(w);
    w->week_start_ms = pg_int(r, (int)i, 0);
    w->count = pg_int(r, (int)i, 1);
    (*out)[i] = w;
  }
  PQclear(r);
  return RPC_OK;
}

int store_stats_points(rpc_ctx *ctx, const char *org, int64_t start_ms, int64_t end_ms,
                       const char *team, double **points, size_t *n, int64_t *awards,
                       int64_t *cross, int64_t *with_giver_team) {
  char s[24], e[24];
  snprintf(s, sizeof s, "%lld", (long long)start_ms);
  snprintf(e, sizeof e, "%lld", (long long)end_ms);
  const char *p[] = {org, s, e, team};
  PGresult *r;
  int rc = pg_query(&r,
                    "SELECT sum(a.points) FROM award a WHERE" STATS_WHERE
                    "GROUP BY a.recipient_id ORDER BY 1",
                    4, p);
  if (rc) return rc;
  *n = (size_t)PQntuples(r);
  *points = ARENA_ARRAY(ctx->arena, double, *n + 1);
  for (size_t i = 0; i < *n; i++) (*points)[i] = (double)pg_int(r, (int)i, 0);
  PQclear(r);
  rc = pg_query(&r,
                "SELECT count(*), count(*) FILTER (WHERE a.giver_team <> '' AND a.recipient_team <> '' "
                "AND a.giver_team <> a.recipient_team), "
                "count(*) FILTER (WHERE a.giver_team <> '' AND a.recipient_team <> '') "
                "FROM award a WHERE" STATS_WHERE,
                4, p);
  if (rc) return rc;
  *awards = pg_int(r, 0, 0);
  *cross = pg_int(r, 0, 1);
  *with_giver_team = pg_int(r, 0, 2);
  PQclear(r);
  return RPC_OK;
}
