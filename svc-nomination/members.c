/* members.c - the members directory. */
#include <stdio.h>
#include <string.h>

#include "check.h"
#include "nom.h"
#include "pg.h"
#include "pg_status.h"
#include "store.h"

typedef struct upsert_tx {
  rpc_ctx *ctx;
  const Accolade__V1__UpsertMembersRequest *req;
} upsert_tx;

static int upsert_run(void *arg) {
  upsert_tx *t = arg;
  for (size_t i = 0; i < t->req->n_members; i++) {
    int rc = store_member_upsert(t->ctx->id.org, t->req->members[i]);
    if (rc) return rc;
  }
  return RPC_OK;
}

int members_upsert(rpc_ctx *ctx, const void *req, void *resp) {
  const Accolade__V1__UpsertMembersRequest *r = req;
  Accolade__V1__UpsertMembersResponse *out = resp;
  if (rpc_require(ctx, ROLE_ADMIN)) return ctx->code;
  if (r->n_members < 1 || r->n_members > 1000)
    return rpc_fail(ctx, RPC_INVALID_ARGUMENT, "members: between 1 and 1000 per call (got %zu)", r->n_members);
  for (size_t i = 0; i < r->n_members; i++) {
    const Accolade__V1__Member *m = r->members[i];
    char f[64];
#define FIELD(name) (snprintf(f, sizeof f, "members[%zu]." name, i), f)
    if (check_id(ctx, FIELD("member_id"), m->member_id, 128) ||
        check_len(ctx, FIELD("display_name"), m->display_name, 0, 120) ||
        check_len(ctx, FIELD("email"), m->email, 0, 254) ||
        (*m->team && check_id(ctx, FIELD("team"), m->team, 128)) ||
        (*m->manager_id && check_id(ctx, FIELD("manager_id"), m->manager_id, 128)))
      return ctx->code;
    if (*m->email && !strchr(m->email, '@'))
      return rpc_fail(ctx, RPC_INVALID_ARGUMENT, "%s: not an email address", FIELD("email"));
    if (!strcmp(m->manager_id, m->member_id))
      return rpc_fail(ctx, RPC_INVALID_ARGUMENT, "%s: a member cannot manage themselves", FIELD("manager_id"));
#undef FIELD
  }
  upsert_tx t = {ctx, r};
  int rc = pg_tx(upsert_run, &t);
  if (rc) return pg_fail(ctx, rc, "upsert members");
  out->upserted = (int32_t)r->n_members;
  return RPC_OK;
}

int members_get(rpc_ctx *ctx, const void *req, void *resp) {
  const Accolade__V1__GetMemberRequest *r = req;
  /* Services read the directory too (svc-award: a new hire's manager). */
  const char *id = r->member_id;
  if (rpc_require(ctx, ANY_ROLE | ROLE_SERVICE) || check_member_id(ctx, "member_id", &id, 0)) return ctx->code;
  Accolade__V1__Member *m;
  int rc = store_member_get(ctx, ctx->id.org, id, &m);
  if (rc == RPC_NOT_FOUND) return rpc_fail(ctx, RPC_NOT_FOUND, "member_id: no member '%s'", id);
  if (rc) return pg_fail(ctx, rc, "get member");
  *(Accolade__V1__Member *)resp = *m;
  return RPC_OK;
}

int members_list(rpc_ctx *ctx, const void *req, void *resp) {
  const Accolade__V1__ListMembersRequest *r = req;
  Accolade__V1__ListMembersResponse *out = resp;
  int limit, has;
  int64_t unused;
  char *after = NULL;
  /* svc-notify lists members (and their addresses) for the digest email */
  if (rpc_require(ctx, ANY_ROLE | ROLE_SERVICE) || page_size(ctx, r->page_size, 50, 200, &limit) ||
      page_token_parse(ctx, r->page_token, &has, &unused, &after) || (*r->team && check_id(ctx, "team", r->team, 128)))
    return ctx->code;
  size_t n;
  int rc = store_member_list(ctx, ctx->id.org, r->team, r->include_inactive, has ? after : "", limit + 1,
                             &out->members, &n);
  if (rc) return pg_fail(ctx, rc, "list members");
  if (page_more(&n, limit)) out->next_page_token = page_token_make(ctx, 0, out->members[n - 1]->member_id);
  out->n_members = n;
  return RPC_OK;
}

/* set_active deactivates or reactivates |r->user_id| ("me": the caller). */
static int set_active(rpc_ctx *ctx, const char *member_id, int active, void *resp) {
  const char *id = member_id;
  if (rpc_require(ctx, ROLE_ADMIN) || check_member_id(ctx, "member_id", &id, 0)) return ctx->code;
  Accolade__V1__Member *m;
  int rc = store_member_set_active(ctx, ctx->id.org, id, active, &m);
  if (rc == RPC_NOT_FOUND) return rpc_fail(ctx, RPC_NOT_FOUND, "member_id: no member '%s'", id);
  if (rc) return pg_fail(ctx, rc, active ? "reactivate member" : "deactivate member");
  *(Accolade__V1__Member *)resp = *m;
  return RPC_OK;
}

int members_deactivate(rpc_ctx *ctx, const void *req, void *resp) {
  return set_active(ctx, ((const Accolade__V1__DeactivateMemberRequest *)req)->member_id, 0, resp);
}

int members_reactivate(rpc_ctx *ctx, const void *req, void *resp) {
  return set_active(ctx, ((const Accolade__V1__ReactivateMemberRequest *)req)->member_id, 1, resp);
}
