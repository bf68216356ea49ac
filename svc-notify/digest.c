/* digest.c - the weekly recognition digest: GetDigest, and the job posting it
 * to channels that asked for "digest" (once per org and week). */
#include <json-c/json.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "accolade/v1/award.pb-c.h"
#include "accolade/v1/leaderboard.pb-c.h"
#include "accolade/v1/nomination.pb-c.h"
#include "check.h"
#include "log.h"
#include "notify.h"
#include "pg.h"
#include "pg_status.h"
#include "render.h"
#include "rpc_client.h"
#include "store.h"
#include "svc.h"

/* digest_period_parse: the period of |week| ("2026-W47") or |month|
 * ("2026-11"), one of them non-empty; 0, or -1 when it is not a real one. */
int digest_period_parse(const char *week, const char *month, digest_period *out) {
  memset(out, 0, sizeof *out);
  struct tm tm = {0};
  int y, n;
  char tail;
  if (*week) {
    if (strlen(week) != 8 || sscanf(week, "%4d-W%2d%c", &y, &n, &tail) != 2 || strspn(week, "0123456789") != 4 ||
        strspn(week + 6, "0123456789") != 2 || y < 1970 || n < 1 || n > 53)
      return -1;
    tm.tm_year = y - 1900;   /* 4 January is always in week 1 */
    tm.tm_mday = 4;
    time_t jan4 = timegm(&tm);
    gmtime_r(&jan4, &tm);
    time_t start = jan4 - (time_t)((tm.tm_wday + 6) % 7) * 86400 + (time_t)(n - 1) * 7 * 86400;
    char back[16];
    gmtime_r(&start, &tm);
    strftime(back, sizeof back, "%G-W%V", &tm);
    if (strcmp(back, week)) return -1;   /* week 53 of a 52-week year */
    snprintf(out->week, sizeof out->week, "%s", week);
    out->start = start;
    out->end = start + 7 * 86400;
    return 0;
  }
  if (strlen(month) != 7 || sscanf(month, "%4d-%2d%c", &y, &n, &tail) != 2 || month[4] != '-' ||
      strspn(month, "0123456789") != 4 || strspn(month + 5, "0123456789") != 2 || y < 1970 || n < 1 || n > 12)
    return -1;
  snprintf(out->month, sizeof out->month, "%s", month);
  tm.tm_year = y - 1900;
  tm.tm_mon = n - 1;
  tm.tm_mday = 1;
  out->start = timegm(&tm);
  tm.tm_mon = n;   /* timegm carries December into January */
  out->end = timegm(&tm);
  return 0;
}

/* digest_period_before: the period just before |p|, of the same length. */
void digest_period_before(const digest_period *p, digest_period *out) {
  time_t t = p->start - 86400;
  struct tm tm;
  gmtime_r(&t, &tm);
  char label[16];
  if (*p->week) {
    strftime(label, sizeof label, "%G-W%V", &tm);
    digest_period_parse(label, "", out);
  } else {
    strftime(label, sizeof label, "%Y-%m", &tm);
    digest_period_parse("", label, out);
  }
}

static const char *ymd(arena *a, time_t t) {
  struct tm tm;
  gmtime_r(&t, &tm);
  char buf[16];
  strftime(buf, sizeof buf, "%Y-%m-%d", &tm);
  return arena_strdup(a, buf);
}

const char *digest_link_base(void) {
  const char *b = getenv("ACCOLADE_NOTIFY_LINK_BASE");
  return b ? b : "";
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

/* service_opts: a call to another service as svc-notify for |org|. */
static rpc_call_opts service_opts(rpc_ctx *ctx, identity *as, const char *org) {
  rpc_service_identity(as, "svc-notify", org);
  return (rpc_call_opts){.parent = ctx, .as = as, .timeout_ms = 2000, .idempotent = 1, .max_attempts = 2};
}

/* board_top: the top |n| of the member board of |p|'s window (or, with
 * |teams|, the board of teams) for the org or |team|. */
static Accolade__V1__GetTopResponse *board_top(rpc_ctx *ctx, const char *org, const char *team, const digest_period *p,
                                               int teams, int n) {
  Accolade__V1__BoardSpec b = ACCOLADE__V1__BOARD_SPEC__INIT;
  b.subject = teams ? ACCOLADE__V1__SUBJECT__TEAMS : ACCOLADE__V1__SUBJECT__MEMBERS;
  b.window = *p->week ? ACCOLADE__V1__WINDOW__WEEK : ACCOLADE__V1__WINDOW__MONTH;
  b.scope = *team ? ACCOLADE__V1__SCOPE__TEAM : ACCOLADE__V1__SCOPE__ORG;
  b.scope_id = (char *)team;
  const char *period = *p->week ? p->week : p->month;
  b.period = (char *)period;
  Accolade__V1__GetTopRequest req = ACCOLADE__V1__GET_TOP_REQUEST__INIT;
  req.board = &b;
  req.page_size = n;
  identity as;
  rpc_call_opts o = service_opts(ctx, &as, org);
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

/* movers: who climbed most on the period's member board, against the period
 * before (someone new to it counts as climbing from 101st). */
static int movers(rpc_ctx *ctx, const char *org, const digest_period *p, const char *team, Accolade__V1__Digest *out) {
  digest_period prev;
  digest_period_before(p, &prev);
  Accolade__V1__GetTopResponse *now = board_top(ctx, org, team, p, 0, 100);
  Accolade__V1__GetTopResponse *before = now ? board_top(ctx, org, team, &prev, 0, 100) : NULL;
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
      if (!strcmp(before->entries[j]->subject_id, e->subject_id)) was = before->entries[j]->rank;
    int64_t gain = (was ? was : 101) - e->rank;
    if (gain > 0) c[nc++] = (climb){e, was, gain};
  }
  qsort(c, nc, sizeof *c, by_gain);
  out->movers = ARENA_ARRAY(ctx->arena, Accolade__V1__DigestMover *, 6);
  for (size_t i = 0; i < nc && i < 5; i++) {   /* the five biggest gains */
    Accolade__V1__DigestMover *m = ARENA_NEW(ctx->arena, Accolade__V1__DigestMover);
    accolade__v1__digest_mover__init(m);
    m->id = c[i].e->subject_id;
    m->display_name = c[i].e->display_name;
    m->team = c[i].e->team;
    m->rank = c[i].e->rank;
    m->previous_rank = c[i].was;
    m->points = c[i].e->points;
    out->movers[out->n_movers++] = m;
  }
  return RPC_OK;
}

/* badges: the org's catalog from svc-award (images, categories); NULL when it
 * does not answer (the render then draws every badge). */
static Accolade__V1__ListBadgesResponse *badges(rpc_ctx *ctx, const char *org) {
  Accolade__V1__ListBadgesRequest req = ACCOLADE__V1__LIST_BADGES_REQUEST__INIT;
  req.page_size = 200;
  req.include_retired = 1;
  identity as;
  rpc_call_opts o = service_opts(ctx, &as, org);
  void *out = NULL;
  rpc_status st;
  if (rpc_call(svc_addr("award"), "/accolade.v1.AwardService/ListBadges", &req.base,
               &accolade__v1__list_badges_response__descriptor, &o, ctx->arena, &out, &st) != RPC_OK) {
    log_warn("digest for org %s: svc-award ListBadges: %s", org, st.message ? st.message : "");
    return NULL;
  }
  return out;
}

/* add_badge puts badge |id| into out->badges once, with what the catalog says of it. */
static void add_badge(rpc_ctx *ctx, const Accolade__V1__ListBadgesResponse *cat, Accolade__V1__Digest *out,
                      const char *id, const char *name, const char *category) {
  for (size_t i = 0; i < out->n_badges; i++)
    if (!strcmp(out->badges[i]->id, id)) return;
  Accolade__V1__DigestBadge *b = ARENA_NEW(ctx->arena, Accolade__V1__DigestBadge);
  accolade__v1__digest_badge__init(b);
  b->id = (char *)id;
  b->name = (char *)name;
  b->category = (char *)category;
  for (size_t i = 0; cat && i < cat->n_badges; i++)
    if (!strcmp(cat->badges[i]->id, id)) {
      b->image_url = cat->badges[i]->image_url;
      if (*cat->badges[i]->category) b->category = cat->badges[i]->category;
    }
  out->badges[out->n_badges++] = b;
}

/* participation: who gave and who received in the period (svc-nomination). */
static void participation(rpc_ctx *ctx, const char *org, const digest_period *p, const char *team,
                          Accolade__V1__Digest *out) {
  Accolade__V1__DigestParticipation *dp = ARENA_NEW(ctx->arena, Accolade__V1__DigestParticipation);
  accolade__v1__digest_participation__init(dp);
  out->participation = dp;
  Accolade__V1__GetParticipationStatsRequest req = ACCOLADE__V1__GET_PARTICIPATION_STATS_REQUEST__INIT;
  req.start_time_ms = (int64_t)p->start * 1000;
  req.end_time_ms = (int64_t)p->end * 1000;
  req.team = (char *)team;
  identity as;
  rpc_call_opts o = service_opts(ctx, &as, org);
  Accolade__V1__ParticipationStats *st_out = NULL;
  rpc_status st;
  if (rpc_call(svc_addr("nomination"), "/accolade.v1.NominationService/GetParticipationStats", &req.base,
               &accolade__v1__participation_stats__descriptor, &o, ctx->arena, (void **)&st_out, &st) != RPC_OK) {
    log_warn("digest for org %s: svc-nomination GetParticipationStats: %s", org, st.message ? st.message : "");
    dp->unavailable = 1;
    return;
  }
  dp->active_members = st_out->active_members;
  dp->givers = st_out->unique_nominators;
  dp->receivers = st_out->unique_nominees;
}

/* board: the period's top 10, teams (org digest) or the team's members. */
static void board(rpc_ctx *ctx, const char *org, const digest_period *p, const char *team, Accolade__V1__Digest *out) {
  Accolade__V1__GetTopResponse *top = board_top(ctx, org, team, p, !*team, 10);
  if (!top) return;
  out->board = ARENA_ARRAY(ctx->arena, Accolade__V1__DigestBoardEntry *, top->n_entries + 1);
  for (size_t i = 0; i < top->n_entries; i++) {
    Accolade__V1__DigestBoardEntry *e = ARENA_NEW(ctx->arena, Accolade__V1__DigestBoardEntry);
    accolade__v1__digest_board_entry__init(e);
    e->rank = top->entries[i]->rank;
    e->subject_id = top->entries[i]->subject_id;
    e->display_name = top->entries[i]->display_name;
    e->points = top->entries[i]->points;
    out->board[out->n_board++] = e;
  }
}

/* reflections: what the nominees of the top recognitions wrote back
 * (svc-nomination); none when it does not answer. */
static void reflections(rpc_ctx *ctx, const char *org, Accolade__V1__Digest *out) {
  Accolade__V1__ListReflectionsRequest req = ACCOLADE__V1__LIST_REFLECTIONS_REQUEST__INIT;
  req.nomination_ids = ARENA_ARRAY(ctx->arena, char *, out->n_top_recognitions + 1);
  for (size_t i = 0; i < out->n_top_recognitions; i++) {
    char *id = out->top_recognitions[i]->source_id;
    if (strlen(id) == 36 && strspn(id, "0123456789abcdef-") == 36) req.nomination_ids[req.n_nomination_ids++] = id;
  }
  if (!req.n_nomination_ids) return;
  identity as;
  rpc_call_opts o = service_opts(ctx, &as, org);
  Accolade__V1__ListReflectionsResponse *r = NULL;
  rpc_status st;
  if (rpc_call(svc_addr("nomination"), "/accolade.v1.NominationService/ListReflections", &req.base,
               &accolade__v1__list_reflections_response__descriptor, &o, ctx->arena, (void **)&r, &st) != RPC_OK) {
    log_warn("digest for org %s: svc-nomination ListReflections: %s", org, st.message ? st.message : "");
    return;
  }
  for (size_t i = 0; i < out->n_top_recognitions; i++) {
    Accolade__V1__DigestItem *it = out->top_recognitions[i];
    it->reflections = ARENA_ARRAY(ctx->arena, Accolade__V1__DigestReflection *, r->n_reflections + 1);
    for (size_t k = 0; k < r->n_reflections; k++) {
      if (strcmp(r->reflections[k]->nomination_id, it->source_id)) continue;
      Accolade__V1__DigestReflection *x = ARENA_NEW(ctx->arena, Accolade__V1__DigestReflection);
      accolade__v1__digest_reflection__init(x);
      x->member_id = r->reflections[k]->member_id;
      x->text = r->reflections[k]->text;
      it->reflections[it->n_reflections++] = x;
    }
  }
}

/* the catalog's category of |badge_id|, else |fallback|. */
static char *category_of(const Accolade__V1__ListBadgesResponse *cat, const char *badge_id, char *fallback) {
  for (size_t i = 0; cat && i < cat->n_badges; i++)
    if (!strcmp(cat->badges[i]->id, badge_id) && *cat->badges[i]->category) return cat->badges[i]->category;
  return fallback;
}

int digest_build(rpc_ctx *ctx, const char *org, const digest_period *pd, const char *team, Accolade__V1__Digest *out) {
  const char *p[] = {org, ymd(ctx->arena, pd->start), team, ymd(ctx->arena, pd->end)};
  out->week = arena_strdup(ctx->arena, pd->week);
  out->month = arena_strdup(ctx->arena, pd->month);
  out->team = arena_strdup(ctx->arena, team);
  out->start_time_ms = (int64_t)pd->start * 1000;
  out->end_time_ms = (int64_t)pd->end * 1000;
  const char *label = *pd->week ? pd->week : pd->month;
  int rc = store_digest_totals(p, &out->awards, &out->points, &out->recipients);
  if (!rc) rc = store_digest_top(ctx->arena, p, &out->top_recognitions, &out->n_top_recognitions);
  if (!rc) rc = store_digest_new_holders(ctx->arena, p, &out->new_badge_holders, &out->n_new_badge_holders);
  if (!rc) rc = store_digest_endorsed(ctx->arena, p, &out->most_endorsed, &out->n_most_endorsed);
  char **cw_badges = NULL;
  if (!rc)
    rc = store_digest_category_weeks(ctx->arena, org, team, p[3], &out->category_weeks, &cw_badges,
                                     &out->n_category_weeks);
  if (!rc) rc = movers(ctx, org, pd, team, out);
  if (rc) return rc;
  Accolade__V1__ListBadgesResponse *cat = badges(ctx, org);
  out->badges = ARENA_ARRAY(ctx->arena, Accolade__V1__DigestBadge *, out->n_top_recognitions + out->n_new_badge_holders + 1);
  for (size_t i = 0; i < out->n_top_recognitions; i++) {
    Accolade__V1__DigestItem *it = out->top_recognitions[i];
    it->category = category_of(cat, it->badge_id, it->category);
    add_badge(ctx, cat, out, it->badge_id, it->badge_name, it->category);
  }
  for (size_t i = 0; i < out->n_new_badge_holders; i++) {
    Accolade__V1__DigestItem *it = out->new_badge_holders[i];
    it->category = category_of(cat, it->badge_id, it->category);
    add_badge(ctx, cat, out, it->badge_id, it->badge_name, it->category);
  }
  for (size_t i = 0; i < out->n_category_weeks; i++) {   /* awards from before categories were kept */
    Accolade__V1__DigestCategoryWeek *c = out->category_weeks[i];
    if (!*c->category && c->awards) c->category = category_of(cat, cw_badges[i], c->category);
  }
  participation(ctx, org, pd, team, out);
  reflections(ctx, org, out);
  if (!out->movers_unavailable) board(ctx, org, pd, team, out);
  size_t cap = 1024 + 600 * (out->n_top_recognitions + out->n_new_badge_holders + out->n_movers) +
               3000 * out->n_most_endorsed;
  char *md = arena_alloc(ctx->arena, cap);
  size_t k = 0;
  md_add(md, cap, &k, "# Recognition digest, %s\n\n**%lld awards, %lld points, %lld people recognised.**\n",
         label, (long long)out->awards, (long long)out->points, (long long)out->recipients);
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
    md_add(md, cap, &k, "- **%s**%s%s%s: %s -> #%lld (%lld points this %s)\n",
           *m->display_name ? m->display_name : m->id, *m->team ? " (" : "", m->team, *m->team ? ")" : "", was,
           (long long)m->rank, (long long)m->points, *pd->week ? "week" : "month");
  }
  if (out->movers_unavailable)
    md_add(md, cap, &k, "\n_Leaderboard movers are not available right now._\n");
  out->markdown = md;
  return RPC_OK;
}

char *notify_adopt(arena *a, char *s) {
  char *out = arena_strdup(a, s);
  free(s);
  return out;
}

static void current_week(char *out, size_t cap, int64_t offset_s) {
  time_t t = time(NULL) + offset_s;
  struct tm tm;
  gmtime_r(&t, &tm);
  strftime(out, cap, "%G-W%V", &tm);
}

int digest_get(rpc_ctx *ctx, const void *req, void *resp) {
  const Accolade__V1__GetDigestRequest *r = req;
  Accolade__V1__Digest *out = resp;
  if (rpc_require(ctx, ANY_ROLE) || (*r->team && check_id(ctx, "team", r->team, 128))) return ctx->code;
  if (*r->week && *r->month) return rpc_fail(ctx, RPC_INVALID_ARGUMENT, "month: give a week or a month, not both");
  if (r->format < ACCOLADE__V1__DIGEST_FORMAT__DIGEST_FORMAT_UNSPECIFIED ||
      r->format > ACCOLADE__V1__DIGEST_FORMAT__DIGEST_FORMAT_TEXT)
    return rpc_fail(ctx, RPC_INVALID_ARGUMENT, "format: DIGEST_FORMAT_DATA, _HTML or _TEXT");
  char week[16] = "";
  if (!*r->week && !*r->month) current_week(week, sizeof week, 0);
  digest_period pd;
  if (digest_period_parse(*r->week ? r->week : week, r->month, &pd) != 0)
    return *r->month ? rpc_fail(ctx, RPC_INVALID_ARGUMENT, "month: a month like 2026-11")
                     : rpc_fail(ctx, RPC_INVALID_ARGUMENT, "week: an ISO week like 2026-W47");
  int rc = digest_build(ctx, ctx->id.org, &pd, r->team, out);
  if (rc) return pg_fail(ctx, rc, "digest");
  if (r->format == ACCOLADE__V1__DIGEST_FORMAT__DIGEST_FORMAT_HTML)
    out->html = notify_adopt(ctx->arena, render_digest_html(out, ctx->id.org, digest_link_base()));
  if (r->format == ACCOLADE__V1__DIGEST_FORMAT__DIGEST_FORMAT_HTML ||
      r->format == ACCOLADE__V1__DIGEST_FORMAT__DIGEST_FORMAT_TEXT)
    out->text = notify_adopt(ctx->arena, render_digest_text(out, ctx->id.org, digest_link_base()));
  return RPC_OK;
}

int digest_due(rpc_ctx *ctx, const char *org, digest_period *out) {
  Accolade__V1__GetOrgSettingsRequest req = ACCOLADE__V1__GET_ORG_SETTINGS_REQUEST__INIT;
  identity as;
  rpc_call_opts o = service_opts(ctx, &as, org);
  Accolade__V1__OrgSettings *s = NULL;
  rpc_status st;
  if (rpc_call(svc_addr("nomination"), "/accolade.v1.NominationService/GetOrgSettings", &req.base,
               &accolade__v1__org_settings__descriptor, &o, ctx->arena, (void **)&s, &st) != RPC_OK) {
    log_warn("digest for org %s: svc-nomination GetOrgSettings: %s; trying at the next scan", org,
             st.message ? st.message : "");
    return -1;
  }
  char week[16];
  int isodow, hour;
  if (store_local_clock(*s->time_zone ? s->time_zone : "UTC", week, sizeof week, &isodow, &hour) != RPC_OK) return -1;
  int day = s->digest_weekday ? s->digest_weekday : 1;
  if (isodow < day || (isodow == day && hour < s->digest_hour)) return 0;
  digest_period now;
  if (digest_period_parse(week, "", &now) != 0) return -1;
  digest_period_before(&now, out);
  return 1;
}

/* digest_post_due posts each org's digest, when its schedule says so, to its
 * "digest" channels that have not had it, in each channel's format; returns
 * how many orgs it queued. */
int digest_post_due(void) {
  arena list;
  arena_init(&list);
  char **orgs;
  size_t n;
  int queued_orgs = 0;
  if (store_digest_channel_orgs(&list, &orgs, &n) != RPC_OK) n = 0, queued_orgs = -1;
  for (size_t i = 0; i < n; i++) {
    const char *org = orgs[i];
    arena a;
    rpc_ctx ctx;
    rpc_ctx_background(&ctx, &a, "digest", org);
    digest_period pd;
    int sent = 1, queued = 0;
    Accolade__V1__Digest d = ACCOLADE__V1__DIGEST__INIT;
    if (digest_due(&ctx, org, &pd) == 1 && store_digest_sent(org, pd.week, &sent) == RPC_OK && !sent &&
        digest_build(&ctx, org, &pd, "", &d) == RPC_OK) {
      json_object *o = json_object_new_object();
      json_object_object_add(o, "text", json_object_new_string(d.markdown));
      json_object_object_add(o, "kind", json_object_new_string("digest"));
      json_object_object_add(o, "week", json_object_new_string(pd.week));
      store_bodies bodies = {
          .json = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN),
          .slack = notify_adopt(&a, render_digest_slack(&d, digest_link_base())),
          .teams = notify_adopt(&a, render_digest_teams(&d, digest_link_base())),
      };
      if (store_digest_queue(org, pd.week, &bodies, arena_printf(&a, "digest:%s", pd.week), &queued) == RPC_OK &&
          queued) {
        log_info("weekly digest %s queued for org %s", pd.week, org);
        queued_orgs++;
      }
      json_object_put(o);
    }
    arena_free(&a);
  }
  arena_free(&list);
  return queued_orgs;
}
