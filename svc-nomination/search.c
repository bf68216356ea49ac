/* search.c - the knowledge base search and org settings. */
#include "check.h"
#include "nom.h"
#include "pg.h"
#include "pg_status.h"
#include "store.h"

int search_recognitions(rpc_ctx *ctx, const void *req, void *resp) {
  const Accolade__V1__SearchRecognitionsRequest *r = req;
  Accolade__V1__SearchRecognitionsResponse *out = resp;
  int limit;
  if (rpc_require(ctx, ANY_ROLE) || check_len(ctx, "query", r->query, 1, 200) ||
      (*r->badge_id && check_slug(ctx, "badge_id", r->badge_id)) || (*r->team && check_id(ctx, "team", r->team, 128)) ||
      check_time_range(ctx, r->start_time_ms, r->end_time_ms) ||
      page_size(ctx, r->page_size, 20, 100, &limit))
    return ctx->code;
  int rc = store_search(ctx, ctx->id.org, r, limit, &out->hits, &out->n_hits);
  if (rc) return pg_fail(ctx, rc, "search");
  return RPC_OK;
}

int settings_get(rpc_ctx *ctx, const void *req, void *resp) {
  (void)req;
  if (rpc_require(ctx, ANY_ROLE | ROLE_SERVICE)) return ctx->code;   /* svc-notify reads the digest schedule */
  Accolade__V1__OrgSettings *s;
  int rc = store_settings(ctx, ctx->id.org, &s);
  if (rc) return pg_fail(ctx, rc, "get settings");
  *(Accolade__V1__OrgSettings *)resp = *s;
  return RPC_OK;
}

int settings_update(rpc_ctx *ctx, const void *req, void *resp) {
  const Accolade__V1__UpdateOrgSettingsRequest *r = req;
  if (rpc_require(ctx, ROLE_ADMIN)) return ctx->code;
  if (!r->settings) return rpc_fail(ctx, RPC_INVALID_ARGUMENT, "settings: required");
  const Accolade__V1__OrgSettings *s = r->settings;
  if (check_range(ctx, "settings.allowance_per_month", s->allowance_per_month, 0, 100) ||
      check_range(ctx, "settings.pair_cap_per_quarter", s->pair_cap_per_quarter, 0, 100) ||
      check_range(ctx, "settings.overdue_days", s->overdue_days, 1, 90) ||
      check_range(ctx, "settings.nudge_after_weeks", s->nudge_after_weeks, 0, 52) ||
      check_range(ctx, "settings.digest_weekday", s->digest_weekday, 0, 7) ||
      check_range(ctx, "settings.digest_hour", s->digest_hour, 0, 23) ||
      check_len(ctx, "settings.time_zone", s->time_zone, 0, 64))
    return ctx->code;
  int known = 1, rc = *s->time_zone ? store_time_zone_known(s->time_zone, &known) : RPC_OK;
  if (rc) return pg_fail(ctx, rc, "update settings");
  if (!known)
    return rpc_fail(ctx, RPC_INVALID_ARGUMENT, "settings.time_zone: '%s' is not an IANA time zone (Europe/Berlin)",
                    s->time_zone);
  rc = store_settings_put(ctx->id.org, s);
  if (rc) return pg_fail(ctx, rc, "update settings");
  *(Accolade__V1__OrgSettings *)resp = *s;
  return RPC_OK;
}
