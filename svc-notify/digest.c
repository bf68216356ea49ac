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
#include "store.h"
#include "svc.h"

static int week_valid(const char *w) {
  return strlen(w) == 8 && w[4] == '-' && w[5] == 'W' && strspn(w, "0123456789") == 4 &&
         strspn(w + 6, "0123456789") == 2 && atoi(w + 6) >= 1 && atoi(w + 6) <= 53;
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

typedef struct climb {
  const Accolade__V1__Entry *e;
  int64_t was, gain;   /* last week's rank (0: absent), places gained */
} climb;

/* by_gain: the biggest gain first; ties to the higher rank. */
static int by_gain(const void *x, const void *y) {
  const climb *a = x, *b = y;
  if (a->gain != b->gain) return a->gain > b->gain ? -1 : 1;
  return (a->e->rank > b->e->rank) - (a->e->rank < b->e->rank);
}

/* movers: who climbed most on the weekly member board, this week against the
 * week before (someone new to it counts as climbing from 101st). */
static int movers(rpc_ctx *ctx, const char *org, const char *week, const char *team, Accolade__V1__Digest *out) {
  char prev[16];
  int rc = store_week_before(week, prev, sizeof prev);
  if (rc) return rc;
  Accolade__V1__GetTopResponse *now = weekly_top(ctx, org, team, week);
  Accolade__V1__GetTopResponse *before = now ? weekly_top(ctx, org, team, prev) : NULL;
  if (!now || !before) {
    out->movers_unavailable = 1;
    return RPC_OK;
  }
  /* each climb once: this week's rank against last week's (101st if absent) */
  climb *c = ARENA_ARRAY(ctx->arena, climb, now->n_entries + 1);
  size_t nc = 0;
  for (size_t i = 0; i < now->n_entries; i++) {
    const Accolade__V1__Entry *e = now->entries[i];
    int64_t was = 0;
    for (size_t j = 0; j < before->n_entries && !was; j++)
      if (!strcmp(before->entries[j]->id, e->id)) was = before->entries[j]->rank;
    int64_t gain = (was ? was : 101) - e->rank;
    if (gain > 0) c[nc++] = (climb){e, was, gain};
  }
  qsort(c, nc, sizeof *c, by_gain);
  out->movers = ARENA_ARRAY(ctx->arena, Accolade__V1__DigestMover *, 6);
  for (size_t i = 0; i < nc && i < 5; i++) {   /* the five biggest gains */
    Accolade__V1__DigestMover *m = ARENA_NEW(ctx->arena, Accolade__V1__DigestMover);
    accolade__v1__digest_mover__init(m);
    m->id = c[i].e->id;
    m->display_name = c[i].e->display_name;
    m->team = c[i].e->team;
    m->rank = c[i].e->rank;
    m->previous_rank = c[i].was;
    m->points = c[i].e->points;
    out->movers[out->n_movers++] = m;
  }
  return RPC_OK;
}

/* build fills |out| for |org|, ISO |week|, optional |team|. */
static int build(rpc_ctx *ctx, const char *org, const char *week, const char *team, Accolade__V1__Digest *out) {
  const char *p[] = {org, week, team};
  out->week = arena_strdup(ctx->arena, week);
  int rc = store_digest_totals(p, &out->awards, &out->points, &out->recipients);
  if (!rc) rc = store_digest_top(ctx->arena, p, &out->top_recognitions, &out->n_top_recognitions);
  if (!rc) rc = store_digest_new_holders(ctx->arena, p, &out->new_badge_holders, &out->n_new_badge_holders);
  if (!rc) rc = store_digest_endorsed(ctx->arena, p, &out->most_endorsed, &out->n_most_endorsed);
  if (!rc) rc = movers(ctx, org, week, team, out);
  if (rc) return rc;
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
  arena list;
  arena_init(&list);
  char **orgs;
  size_t n;
  if (store_digest_orgs_due(&list, week, &orgs, &n) != RPC_OK) {
    arena_free(&list);
    return -1;
  }
  for (size_t i = 0; i < n; i++) {
    const char *org = orgs[i];
    arena a;
    rpc_ctx ctx;
    rpc_ctx_background(&ctx, &a, "digest", org);
    Accolade__V1__Digest d = ACCOLADE__V1__DIGEST__INIT;
    if (build(&ctx, org, week, "", &d) == RPC_OK) {
      json_object *o = json_object_new_object();
      json_object_object_add(o, "text", json_object_new_string(d.markdown));
      json_object_object_add(o, "kind", json_object_new_string("digest"));
      json_object_object_add(o, "week", json_object_new_string(week));
      if (store_digest_queue(org, week, json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN),
                             arena_printf(&a, "digest:%s", week)) == RPC_OK)
        log_info("weekly digest %s queued for org %s", week, org);
      json_object_put(o);
    }
    arena_free(&a);
  }
  arena_free(&list);
  return (int)n;
}
