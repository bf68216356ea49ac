/* catalog.c - CreateBadge, UpdateBadge, GetBadge, ListBadges. */
#include <pthread.h>
#include <string.h>

#include "award.h"
#include "check.h"
#include "pg.h"
#include "pg_status.h"
#include "store.h"

/* Orgs known to be seeded, so the check costs one query per org and process. */
#define SEEN_MAX 4096
static char *g_seen[SEEN_MAX];
static int g_nseen;
static pthread_mutex_t g_seen_mu = PTHREAD_MUTEX_INITIALIZER;

static int seen(const char *org) {
  pthread_mutex_lock(&g_seen_mu);
  int found = 0;
  for (int i = 0; i < g_nseen && !found; i++) found = strcmp(g_seen[i], org) == 0;
  pthread_mutex_unlock(&g_seen_mu);
  return found;
}

static void remember(const char *org) {
  pthread_mutex_lock(&g_seen_mu);
  if (g_nseen < SEEN_MAX) g_seen[g_nseen++] = strdup(org);
  pthread_mutex_unlock(&g_seen_mu);
}

int award_begin(rpc_ctx *ctx, unsigned roles) {
  if (rpc_require(ctx, roles)) return ctx->code;
  if (seen(ctx->id.org)) return RPC_OK;
  int rc = store_ensure_org(ctx->id.org);
  if (rc) return pg_fail(ctx, rc, "seed org");
  remember(ctx->id.org);
  return RPC_OK;
}

/* validate_badge checks every field of |b| (the id only when |check_id|). */
static int validate_badge(rpc_ctx *ctx, const Accolade__V1__Badge *b, int with_id) {
  if (with_id && check_slug(ctx, "badge.id", b->id)) return ctx->code;
  if (check_len(ctx, "badge.name", b->name, 1, 80) ||
      check_len(ctx, "badge.description", b->description, 0, 1000) ||
      check_len(ctx, "badge.category", b->category, 0, 60) ||
      check_len(ctx, "badge.criteria", b->criteria, 0, 1000) ||
      check_range(ctx, "badge.points", b->points, 0, 10000) ||
      check_url(ctx, "badge.image_url", b->image_url, 500) ||
      check_range(ctx, "badge.cap_per_recipient", b->cap_per_recipient, 0, 1000) ||
      check_range(ctx, "badge.cap_per_team", b->cap_per_team, 0, 10000) ||
      check_enum(ctx, "badge.approval_policy", b->approval_policy, 0, 2) ||
      check_enum(ctx, "badge.cap_period", b->cap_period, 0, 4))
    return ctx->code;
  if ((b->cap_per_recipient || b->cap_per_team) &&
      b->cap_period == ACCOLADE__V1__CAP_PERIOD__CAP_PERIOD_UNSPECIFIED)
    return rpc_fail(ctx, RPC_INVALID_ARGUMENT, "badge.cap_period: required when a cap is set");
  return RPC_OK;
}

int catalog_create_badge(rpc_ctx *ctx, const void *req, void *resp) {
  const Accolade__V1__CreateBadgeRequest *r = req;
  if (award_begin(ctx, ROLE_ADMIN)) return ctx->code;
  if (!r->badge) return rpc_fail(ctx, RPC_INVALID_ARGUMENT, "badge: required");
  Accolade__V1__Badge b = *r->badge;
  if (validate_badge(ctx, &b, 1)) return ctx->code;
  if (!b.approval_policy) b.approval_policy = ACCOLADE__V1__APPROVAL_POLICY__MANAGER_REVIEW;
  b.active = 1;   /* a new badge is active; retire it with RetireBadge */
  Accolade__V1__Badge *out;
  int rc = store_badge_insert(ctx, ctx->id.org, &b, &out);
  if (rc == RPC_ALREADY_EXISTS)
    return rpc_fail(ctx, RPC_ALREADY_EXISTS, "badge.id: '%s' already exists", b.id);
  if (rc) return pg_fail(ctx, rc, "create badge");
  *(Accolade__V1__Badge *)resp = *out;
  return award_org_changed(ctx);
}

static int has(const Accolade__V1__UpdateBadgeRequest *r, const char *field) {
  if (r->n_update_mask == 0) return 1;
  for (size_t i = 0; i < r->n_update_mask; i++)
    if (strcmp(r->update_mask[i], field) == 0) return 1;
  return 0;
}

int catalog_update_badge(rpc_ctx *ctx, const void *req, void *resp) {
  const Accolade__V1__UpdateBadgeRequest *r = req;
  if (award_begin(ctx, ROLE_ADMIN)) return ctx->code;
  if (!r->badge) return rpc_fail(ctx, RPC_INVALID_ARGUMENT, "badge: required");
  if (check_slug(ctx, "badge.id", r->badge->id)) return ctx->code;
  static const char *const fields[] = {"name", "description", "category", "criteria", "points",
                                       "approval_policy", "active", "image_url", "cap_per_recipient",
                                       "cap_per_team", "cap_period"};
  if (check_mask(ctx, r->update_mask, r->n_update_mask, fields, sizeof fields / sizeof fields[0])) return ctx->code;
  Accolade__V1__Badge *cur;
  int rc = store_badge_get(ctx, ctx->id.org, r->badge->id, &cur);
  if (rc == RPC_NOT_FOUND) return rpc_fail(ctx, RPC_NOT_FOUND, "badge.id: no badge '%s'", r->badge->id);
  if (rc) return pg_fail(ctx, rc, "get badge");
  const Accolade__V1__Badge *in = r->badge;
  Accolade__V1__Badge b = *cur;
  if (has(r, "name")) b.name = in->name;
  if (has(r, "description")) b.description = in->description;
  if (has(r, "category")) b.category = in->category;
  if (has(r, "criteria")) b.criteria = in->criteria;
  if (has(r, "points")) b.points = in->points;
  if (has(r, "approval_policy") && in->approval_policy) b.approval_policy = in->approval_policy;
  if (has(r, "active")) b.active = in->active;
  if (has(r, "image_url")) b.image_url = in->image_url;
  if (has(r, "cap_per_recipient")) b.cap_per_recipient = in->cap_per_recipient;
  if (has(r, "cap_per_team")) b.cap_per_team = in->cap_per_team;
  if (has(r, "cap_period")) b.cap_period = in->cap_period;
  if (validate_badge(ctx, &b, 0)) return ctx->code;
  Accolade__V1__Badge *out;
  rc = store_badge_update(ctx, ctx->id.org, &b, &out);
  if (rc) return pg_fail(ctx, rc, "update badge");
  *(Accolade__V1__Badge *)resp = *out;
  return award_org_changed(ctx);
}

int catalog_retire_badge(rpc_ctx *ctx, const void *req, void *resp) {
  const Accolade__V1__RetireBadgeRequest *r = req;
  if (award_begin(ctx, ROLE_ADMIN) || check_slug(ctx, "badge_id", r->badge_id)) return ctx->code;
  Accolade__V1__Badge *cur, *out;
  int rc = store_badge_get(ctx, ctx->id.org, r->badge_id, &cur);
  if (rc == RPC_NOT_FOUND) return rpc_fail(ctx, RPC_NOT_FOUND, "badge_id: no badge '%s'", r->badge_id);
  if (rc) return pg_fail(ctx, rc, "get badge");
  Accolade__V1__Badge b = *cur;
  b.active = 0;   /* retired: no new nominations or grants; awards stay */
  if ((rc = store_badge_update(ctx, ctx->id.org, &b, &out))) return pg_fail(ctx, rc, "retire badge");
  *(Accolade__V1__Badge *)resp = *out;
  return award_org_changed(ctx);
}

int catalog_get_badge(rpc_ctx *ctx, const void *req, void *resp) {
  const Accolade__V1__GetBadgeRequest *r = req;
  if (award_begin(ctx, ANY_ROLE)) return ctx->code;
  if (check_slug(ctx, "badge_id", r->badge_id)) return ctx->code;
  Accolade__V1__Badge *out;
  int rc = store_badge_get(ctx, ctx->id.org, r->badge_id, &out);
  if (rc == RPC_NOT_FOUND) return rpc_fail(ctx, RPC_NOT_FOUND, "badge_id: no badge '%s'", r->badge_id);
  if (rc) return pg_fail(ctx, rc, "get badge");
  *(Accolade__V1__Badge *)resp = *out;
  return RPC_OK;
}

int catalog_list_badges(rpc_ctx *ctx, const void *req, void *resp) {
  const Accolade__V1__ListBadgesRequest *r = req;
  Accolade__V1__ListBadgesResponse *out = resp;
  if (award_begin(ctx, ANY_ROLE)) return ctx->code;
  int limit, has_cursor;
  int64_t unused;
  char *after = NULL;
  if (page_size(ctx, r->page_size, 50, 200, &limit) ||
      page_token_parse(ctx, r->page_token, &has_cursor, &unused, &after) ||
      check_len(ctx, "category", r->category, 0, 60))
    return ctx->code;
  size_t n;
  Accolade__V1__Badge **badges;
  int rc = store_badge_list(ctx, ctx->id.org, has_cursor ? after : "", r->include_retired,
                            r->category, limit + 1, &badges, &n);
  if (rc) return pg_fail(ctx, rc, "list badges");
  if (page_more(&n, limit)) out->next_page_token = page_token_make(ctx, 0, badges[n - 1]->id);
  out->badges = badges;
  out->n_badges = n;
  return RPC_OK;
}
