/* store_journey.c - the SQL of badge journeys. */
#include "store_journey.h"

#include <stdio.h>
#include <string.h>

#include "pg.h"

#define JOURNEY_COLS                                                                               \
  "id, name, description, team, min_tenure_days, max_tenure_days, active, "                        \
  "(extract(epoch from created_at) * 1000)::bigint, (extract(epoch from updated_at) * 1000)::bigint, " \
  "(extract(epoch from created_at) * 1000000)::bigint"

static Accolade__V1__Journey *journey_row(rpc_ctx *ctx, PGresult *r, int i) {
  Accolade__V1__Journey *j = ARENA_NEW(ctx->arena, Accolade__V1__Journey);
  accolade__v1__journey__init(j);
  j->id = arena_strdup(ctx->arena, pg_str(r, i, 0));
  j->name = arena_strdup(ctx->arena, pg_str(r, i, 1));
  j->description = arena_strdup(ctx->arena, pg_str(r, i, 2));
  j->team = arena_strdup(ctx->arena, pg_str(r, i, 3));
  j->min_tenure_days = (int32_t)pg_int(r, i, 4);
  j->max_tenure_days = (int32_t)pg_int(r, i, 5);
  j->active = !strcmp(pg_str(r, i, 6), "t");
  j->create_time_ms = pg_int(r, i, 7);
  j->update_time_ms = pg_int(r, i, 8);
  return j;
}
static void *journey_item(void *arg, PGresult *r, int i) { return journey_row(arg, r, i); }

/* load_steps fills the steps of |j| in order. */
static int load_steps(rpc_ctx *ctx, Accolade__V1__Journey *j) {
  const char *p[] = {j->id};
  PGresult *r;
  int rc = pg_query(&r,
                    "SELECT badge_id, rule_id, signal_rule_id, title FROM journey_step WHERE journey_id = $1::uuid "
                    "ORDER BY position",
                    1, p);
  if (rc) return rc;
  j->n_steps = (size_t)PQntuples(r);
  j->steps = ARENA_ARRAY(ctx->arena, Accolade__V1__JourneyStep *, j->n_steps + 1);
  for (size_t i = 0; i < j->n_steps; i++) {
    Accolade__V1__JourneyStep *s = ARENA_NEW(ctx->arena, Accolade__V1__JourneyStep);
    accolade__v1__journey_step__init(s);
    s->badge_id = arena_strdup(ctx->arena, pg_str(r, (int)i, 0));
    s->rule_id = arena_strdup(ctx->arena, pg_str(r, (int)i, 1));
    s->signal_rule_id = arena_strdup(ctx->arena, pg_str(r, (int)i, 2));
    s->title = arena_strdup(ctx->arena, pg_str(r, (int)i, 3));
    j->steps[i] = s;
  }
  PQclear(r);
  return RPC_OK;
}

static int save_steps(const Accolade__V1__Journey *j, const char *id) {
  const char *d[] = {id};
  int rc = pg_exec("DELETE FROM journey_step WHERE journey_id = $1::uuid", 1, d);
  for (size_t i = 0; rc == RPC_OK && i < j->n_steps; i++) {
    char pos[24];
    snprintf(pos, sizeof pos, "%zu", i);
    const Accolade__V1__JourneyStep *s = j->steps[i];
    const char *p[] = {id, pos, s->badge_id, s->rule_id, s->signal_rule_id, s->title};
    rc = pg_exec("INSERT INTO journey_step (journey_id, position, badge_id, rule_id, signal_rule_id, title) "
                 "VALUES ($1::uuid, $2, $3, $4, $5, $6)",
                 6, p);
  }
  return rc;
}

/* journey_params: $1 org, $2 name, $3 description, $4 team, $5 min tenure,
 * $6 max tenure, $7 active, $8 id (updates only). */
static void journey_params(char buf[3][16], const char *org, const Accolade__V1__Journey *j, const char *p[8]) {
  snprintf(buf[0], 16, "%d", j->min_tenure_days);
  snprintf(buf[1], 16, "%d", j->max_tenure_days);
  snprintf(buf[2], 16, "%s", j->active ? "true" : "false");
  const char *v[8] = {org, j->name, j->description, j->team, buf[0], buf[1], buf[2], j->id};
  memcpy(p, v, sizeof v);
}

/* write_one runs an INSERT or UPDATE ... RETURNING of a journey, then its steps. */
static int write_one(rpc_ctx *ctx, const char *sql, int n, const Accolade__V1__Journey *j, Accolade__V1__Journey **out,
                     const char *org) {
  char buf[3][16];
  const char *p[8];
  journey_params(buf, org, j, p);
  int rc = pg_one(sql, n, p, journey_item, ctx, out);
  if (rc) return rc;
  if ((rc = save_steps(j, (*out)->id))) return rc;
  return load_steps(ctx, *out);
}

int jr_store_insert(rpc_ctx *ctx, const char *org, const Accolade__V1__Journey *j, Accolade__V1__Journey **out) {
  return write_one(ctx,
                   "INSERT INTO journey (org, name, description, team, min_tenure_days, max_tenure_days, active) "
                   "VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING " JOURNEY_COLS,
                   7, j, out, org);
}

int jr_store_update(rpc_ctx *ctx, const char *org, const Accolade__V1__Journey *j, Accolade__V1__Journey **out) {
  return write_one(ctx,
                   "UPDATE journey SET name = $2, description = $3, team = $4, min_tenure_days = $5, "
                   "max_tenure_days = $6, active = $7, updated_at = clock_timestamp() "
                   "WHERE org = $1 AND id = $8::uuid RETURNING " JOURNEY_COLS,
                   8, j, out, org);
}

int jr_store_get(rpc_ctx *ctx, const char *org, const char *id, Accolade__V1__Journey **out) {
  const char *p[] = {org, id};
  int rc =
      pg_one("SELECT " JOURNEY_COLS " FROM journey WHERE org = $1 AND id = $2::uuid", 2, p, journey_item, ctx, out);
  return rc ? rc : load_steps(ctx, *out);
}

int jr_store_list(rpc_ctx *ctx, const char *org, int include_inactive, int64_t after_us, const char *after_id,
                  int limit, Accolade__V1__Journey ***out, int64_t **cursors, size_t *n) {
  char lim[16], after[24];
  snprintf(lim, sizeof lim, "%d", limit);
  snprintf(after, sizeof after, "%lld", (long long)after_us);
  const char *p[] = {org, include_inactive ? "true" : "false", after,
                     after_id ? after_id : "00000000-0000-0000-0000-000000000000", lim};
  int rc = pg_page(ctx->arena,
                   "SELECT " JOURNEY_COLS " FROM journey WHERE org = $1 AND (active OR $2::boolean) "
                   "AND ((extract(epoch from created_at) * 1000000)::bigint, id) > ($3::bigint, $4::uuid) "
                   "ORDER BY (extract(epoch from created_at) * 1000000)::bigint, id LIMIT $5",
                   5, p, journey_item, ctx, out, 9, cursors, n);
  for (size_t i = 0; rc == RPC_OK && i < *n; i++) rc = load_steps(ctx, (*out)[i]);
  return rc;
}

int jr_store_rule_exists(rpc_ctx *ctx, const char *org, int signal, const char *id, int *yes, char **name) {
  const char *p[] = {org, id};
  PGresult *r;
  int rc = pg_query(&r,
                    signal ? "SELECT name FROM signal_rule WHERE org = $1 AND id::text = $2 AND deleted_at IS NULL"
                           : "SELECT name FROM rule WHERE org = $1 AND id::text = $2 AND deleted_at IS NULL",
                    2, p);
  if (rc) return rc;
  *yes = PQntuples(r) == 1;
  *name = arena_strdup(ctx->arena, *yes ? pg_str(r, 0, 0) : "");
  PQclear(r);
  return RPC_OK;
}

int jr_store_badge_count(const char *org, const char *member, const char *badge_id, int64_t *count) {
  const char *p[] = {org, member, badge_id};
  PGresult *r;
  int rc = pg_query(&r,
                    "SELECT count(*) FROM award WHERE org = $1 AND recipient_id = $2 AND badge_id = $3 "
                    "AND revoked_at IS NULL",
                    3, p);
  if (rc) return rc;
  *count = pg_int(r, 0, 0);
  PQclear(r);
  return RPC_OK;
}

int jr_store_earned(const char *org, const char *member, const char *prefix, int *yes) {
  const char *p[] = {org, member, prefix};
  PGresult *r;
  int rc = pg_query(&r,
                    "SELECT EXISTS (SELECT 1 FROM award WHERE org = $1 AND recipient_id = $2 "
                    "AND left(source_id, length($3)) = $3)",
                    3, p);
  if (rc) return rc;
  *yes = !strcmp(pg_str(r, 0, 0), "t");
  PQclear(r);
  return RPC_OK;
}

int jr_store_tenure_days(const char *org, const char *member, int *known, int64_t *days) {
  const char *p[] = {org, member};
  PGresult *r;
  /* kind 9: MEMBER_HIRED */
  int rc = pg_query(&r,
                    "SELECT current_date - start_date FROM signal WHERE org = $1 AND member_id = $2 AND kind = 9 "
                    "AND start_date IS NOT NULL ORDER BY occurred_at DESC, id DESC LIMIT 1",
                    2, p);
  if (rc) return rc;
  *known = PQntuples(r) == 1;
  *days = *known ? pg_int(r, 0, 0) : 0;
  PQclear(r);
  return RPC_OK;
}
