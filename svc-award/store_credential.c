/* store_credential.c - the SQL of Open Badges credentials: the org's issuer
 * profile, each award's credential slot (salt and status list index), the
 * revocation list and members' export consent. Declared in store.h. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pg.h"
#include "store.h"

/* ----------------------------------------------------------- credentials */

int store_issuer_get(rpc_ctx *ctx, const char *org, Accolade__V1__IssuerProfile **out) {
  const char *p[] = {org};
  PGresult *r;
  int rc = pg_query(&r, "SELECT url, name, image_url, email FROM issuer WHERE org = $1", 1, p);
  if (rc) return rc;
  rc = PQntuples(r) ? RPC_OK : RPC_NOT_FOUND;
  if (rc == RPC_OK) {
    Accolade__V1__IssuerProfile *x = ARENA_NEW(ctx->arena, Accolade__V1__IssuerProfile);
    accolade__v1__issuer_profile__init(x);
    x->id = arena_strdup(ctx->arena, pg_str(r, 0, 0));
    x->name = arena_strdup(ctx->arena, pg_str(r, 0, 1));
    x->image_url = arena_strdup(ctx->arena, pg_str(r, 0, 2));
    x->email = arena_strdup(ctx->arena, pg_str(r, 0, 3));
    *out = x;
  }
  PQclear(r);
  return rc;
}

int store_issuer_put(const char *org, const Accolade__V1__IssuerProfile *x) {
  const char *p[] = {org, x->id, x->name, x->image_url, x->email};
  return pg_exec("INSERT INTO issuer (org, url, name, image_url, email) VALUES ($1, $2, $3, $4, $5) "
                 "ON CONFLICT (org) DO UPDATE SET url = $2, name = $3, image_url = $4, email = $5, "
                 "updated_at = now()",
                 5, p);
}

typedef struct slot_tx {
  rpc_ctx *ctx;
  const char *org, *award_id, *new_salt;
  char *salt;
  int64_t index;
} slot_tx;

static int slot_run(void *arg) {
  slot_tx *t = arg;
  const char *p[] = {t->org, t->award_id};
  PGresult *r;
  int rc = pg_query(&r, "SELECT credential_salt, status_index FROM award WHERE org = $1 AND id = $2::uuid FOR UPDATE",
                    2, p);
  if (rc) return rc;
  if (!PQntuples(r)) {
    PQclear(r);
    return RPC_NOT_FOUND;
  }
  if (!pg_isnull(r, 0, 0) && !pg_isnull(r, 0, 1)) {
    t->salt = arena_strdup(t->ctx->arena, pg_str(r, 0, 0));
    t->index = pg_int(r, 0, 1);
    PQclear(r);
    return RPC_OK;
  }
  PQclear(r);
  rc = pg_query(&r,
                "INSERT INTO credential_status_next (org, next) VALUES ($1, 1) ON CONFLICT (org) "
                "DO UPDATE SET next = credential_status_next.next + 1 RETURNING next - 1",
                1, p);
  if (rc) return rc;
  t->index = pg_int(r, 0, 0);
  PQclear(r);
  char idx[24];
  snprintf(idx, sizeof idx, "%lld", (long long)t->index);
  const char *u[] = {t->org, t->award_id, t->new_salt, idx};
  t->salt = arena_strdup(t->ctx->arena, t->new_salt);
  return pg_exec("UPDATE award SET credential_salt = $3, status_index = $4::bigint WHERE org = $1 AND id = $2::uuid",
                 4, u);
}

int store_credential_slot(rpc_ctx *ctx, const char *org, const char *award_id, const char *new_salt, char **salt,
                          int64_t *index) {
  slot_tx t = {.ctx = ctx, .org = org, .award_id = award_id, .new_salt = new_salt};
  int rc = pg_tx(slot_run, &t);
  if (rc) return rc;
  *salt = t.salt;
  *index = t.index;
  return RPC_OK;
}

int store_status_revoked(rpc_ctx *ctx, const char *org, int64_t **idx, size_t *n, int64_t *next) {
  const char *p[] = {org};
  PGresult *r;
  int rc = pg_query(&r, "SELECT coalesce((SELECT next FROM credential_status_next WHERE org = $1), 0)", 1, p);
  if (rc) return rc;
  *next = pg_int(r, 0, 0);
  PQclear(r);
  rc = pg_query(&r,
                "SELECT status_index FROM award WHERE org = $1 AND status_index IS NOT NULL "
                "AND revoked_at IS NOT NULL ORDER BY status_index",
                1, p);
  if (rc) return rc;
  *n = (size_t)PQntuples(r);
  *idx = ARENA_ARRAY(ctx->arena, int64_t, *n + 1);
  for (size_t i = 0; i < *n; i++) (*idx)[i] = pg_int(r, (int)i, 0);
  PQclear(r);
  return RPC_OK;
}

int store_pref_get(const char *org, const char *member, int *export_disabled) {
  const char *p[] = {org, member};
  PGresult *r;
  int rc = pg_query(&r, "SELECT export_disabled FROM credential_pref WHERE org = $1 AND member = $2", 2, p);
  if (rc) return rc;
  *export_disabled = PQntuples(r) && !strcmp(pg_str(r, 0, 0), "t");
  PQclear(r);
  return RPC_OK;
}

int store_pref_put(const char *org, const char *member, int export_disabled) {
  const char *p[] = {org, member, export_disabled ? "true" : "false"};
  return pg_exec("INSERT INTO credential_pref (org, member, export_disabled) VALUES ($1, $2, $3) "
                 "ON CONFLICT (org, member) DO UPDATE SET export_disabled = $3, updated_at = now()",
                 3, p);
}
