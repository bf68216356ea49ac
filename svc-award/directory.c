/* directory.c - svc-nomination's members directory over gRPC. */
#include "directory.h"

#include <string.h>

#include "rpc_client.h"
#include "svc.h"

#define NO "/accolade.v1.NominationService/"

static int unavailable(rpc_ctx *ctx, int rc, const char *field, const rpc_status *st) {
  return rpc_fail(ctx, rc == RPC_DEADLINE_EXCEEDED ? rc : RPC_UNAVAILABLE, "%s: the members directory is unavailable (%s)",
                  field, st->message);
}

int dir_get(rpc_ctx *ctx, int as_service, const char *field, const char *id, Accolade__V1__Member **out) {
  identity svc;
  rpc_service_identity(&svc, svc_name(), ctx->id.org);
  rpc_call_opts o = {.parent = ctx, .as = as_service ? &svc : &ctx->id, .timeout_ms = 3000, .idempotent = 1};
  Accolade__V1__GetMemberRequest req = ACCOLADE__V1__GET_MEMBER_REQUEST__INIT;
  req.member_id = (char *)id;
  rpc_status st;
  int rc = rpc_call(svc_addr("nomination"), NO "GetMember", &req.base, &accolade__v1__member__descriptor, &o, ctx->arena,
                    (void **)out, &st);
  if (rc == RPC_OK || rc == RPC_NOT_FOUND) return rc;
  return unavailable(ctx, rc, field, &st);
}

int dir_list(rpc_ctx *ctx, const char *field, const char *team, Accolade__V1__Member ***out, size_t *n) {
  rpc_call_opts o = {.parent = ctx, .as = &ctx->id, .timeout_ms = 3000, .idempotent = 1};
  Accolade__V1__ListMembersRequest req = ACCOLADE__V1__LIST_MEMBERS_REQUEST__INIT;
  req.page_size = 200;
  req.team = (char *)team;
  size_t cap = 0;
  *out = NULL;
  *n = 0;
  for (int page = 0; page < DIRECTORY_PAGES; page++) {
    Accolade__V1__ListMembersResponse *resp;
    rpc_status st;
    int rc = rpc_call(svc_addr("nomination"), NO "ListMembers", &req.base, &accolade__v1__list_members_response__descriptor,
                      &o, ctx->arena, (void **)&resp, &st);
    if (rc) return unavailable(ctx, rc, field, &st);
    if (*n + resp->n_members > cap) {
      size_t ncap = (*n + resp->n_members) * 2;
      Accolade__V1__Member **grown = ARENA_ARRAY(ctx->arena, Accolade__V1__Member *, ncap + 1);
      if (*n) memcpy(grown, *out, *n * sizeof *grown);
      *out = grown;
      cap = ncap;
    }
    for (size_t i = 0; i < resp->n_members; i++) (*out)[(*n)++] = resp->members[i];
    if (!*resp->next_page_token) break;
    req.page_token = resp->next_page_token;
  }
  return RPC_OK;
}
