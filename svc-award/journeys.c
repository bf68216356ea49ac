/* journeys.c - badge journeys: CreateJourney, UpdateJourney, ListJourneys and
 * each journey's progress on a profile (see signal.h for the decisions). */
#include <stdio.h>
#include <string.h>

#include "award.h"
#include "check.h"
#include "directory.h"
#include "store_journey.h"
#include "pg.h"
#include "pg_status.h"
#include "signal.h"
#include "store_signal.h"
#include "store.h"

#define JOURNEY_STEPS_MAX 20
#define JOURNEYS_SHOWN 200

/* check_step validates step |i|: exactly one reference, and that it exists. */
static int check_step(rpc_ctx *ctx, size_t i, const Accolade__V1__JourneyStep *s) {
  char f[64];
  int refs = (*s->badge_id != 0) + (*s->rule_id != 0) + (*s->signal_rule_id != 0);
  snprintf(f, sizeof f, "journey.steps[%zu]", i);
  if (refs != 1) return rpc_fail(ctx, RPC_INVALID_ARGUMENT, "%s: exactly one of badge_id, rule_id, signal_rule_id", f);
  snprintf(f, sizeof f, "journey.steps[%zu].title", i);
  if (check_len(ctx, f, s->title, 0, 120)) return ctx->code;
  int rc;
  if (*s->badge_id) {
    snprintf(f, sizeof f, "journey.steps[%zu].badge_id", i);
    if (check_slug(ctx, f, s->badge_id)) return ctx->code;
    Accolade__V1__Badge *b;
    rc = store_badge_get(ctx, ctx->id.org, s->badge_id, &b);
    if (rc == RPC_NOT_FOUND) return rpc_fail(ctx, RPC_NOT_FOUND, "%s: no badge '%s'", f, s->badge_id);
    return rc ? pg_fail(ctx, rc, "journey") : RPC_OK;
  }
  int signal = *s->signal_rule_id != 0;
  const char *id = signal ? s->signal_rule_id : s->rule_id;
  snprintf(f, sizeof f, "journey.steps[%zu].%s", i, signal ? "signal_rule_id" : "rule_id");
  if (check_uuid(ctx, f, id)) return ctx->code;
  int yes;
  char *name;
  if ((rc = jr_store_rule_exists(ctx, ctx->id.org, signal, id, &yes, &name))) return pg_fail(ctx, rc, "journey");
  if (!yes) return rpc_fail(ctx, RPC_NOT_FOUND, "%s: no rule '%s'", f, id);
  return RPC_OK;
}

static int check_journey(rpc_ctx *ctx, const Accolade__V1__Journey *j) {
  if (check_len(ctx, "journey.name", j->name, 1, 120) ||
      check_len(ctx, "journey.description", j->description, 0, 1000) ||
      (*j->team && check_id(ctx, "journey.team", j->team, 128)) ||
      check_range(ctx, "journey.min_tenure_days", j->min_tenure_days, 0, 3650) ||
      check_range(ctx, "journey.max_tenure_days", j->max_tenure_days, 0, 3650))
    return ctx->code;
  if (j->max_tenure_days && j->min_tenure_days > j->max_tenure_days)
    return rpc_fail(ctx, RPC_INVALID_ARGUMENT, "journey.max_tenure_days: below journey.min_tenure_days");
  if (j->n_steps < 1 || j->n_steps > JOURNEY_STEPS_MAX)
    return rpc_fail(ctx, RPC_INVALID_ARGUMENT, "journey.steps: between 1 and %d (got %zu)", JOURNEY_STEPS_MAX,
                    j->n_steps);
  for (size_t i = 0; i < j->n_steps; i++)
    if (check_step(ctx, i, j->steps[i])) return ctx->code;
  return RPC_OK;
}

typedef struct journey_tx {
  rpc_ctx *ctx;
  const Accolade__V1__Journey *in;
  Accolade__V1__Journey *out;
  int update;
} journey_tx;

static int journey_run(void *arg) {
  journey_tx *t = arg;
  return t->update ? jr_store_update(t->ctx, t->ctx->id.org, t->in, &t->out)
                   : jr_store_insert(t->ctx, t->ctx->id.org, t->in, &t->out);
}

int journeys_create(rpc_ctx *ctx, const void *req, void *resp) {
  const Accolade__V1__CreateJourneyRequest *r = req;
  if (award_begin(ctx, ROLE_ADMIN)) return ctx->code;
  if (!r->journey) return rpc_fail(ctx, RPC_INVALID_ARGUMENT, "journey: required");
  Accolade__V1__Journey j = *r->journey;
  j.active = 1;   /* a new journey is active; retire it with UpdateJourney */
  if (check_journey(ctx, &j)) return ctx->code;
  journey_tx t = {.ctx = ctx, .in = &j};
  int rc = pg_tx(journey_run, &t);
  if (rc) return pg_fail(ctx, rc, "create journey");
  *(Accolade__V1__Journey *)resp = *t.out;
  return award_org_changed(ctx);
}

int journeys_update(rpc_ctx *ctx, const void *req, void *resp) {
  const Accolade__V1__UpdateJourneyRequest *r = req;
  if (award_begin(ctx, ROLE_ADMIN)) return ctx->code;
  if (!r->journey) return rpc_fail(ctx, RPC_INVALID_ARGUMENT, "journey: required");
  const Accolade__V1__Journey *in = r->journey;
  if (check_uuid(ctx, "journey.id", in->id)) return ctx->code;
  Accolade__V1__Journey *j;
  int rc = jr_store_get(ctx, ctx->id.org, in->id, &j);
  if (rc == RPC_NOT_FOUND) return rpc_fail(ctx, RPC_NOT_FOUND, "journey.id: no journey '%s'", in->id);
  if (rc) return pg_fail(ctx, rc, "update journey");
  static const char *const fields[] = {"name", "description", "team", "min_tenure_days", "max_tenure_days", "steps",
                                       "active"};
  for (size_t f = 0; f < sizeof fields / sizeof fields[0]; f++) {
    int take = r->n_update_mask == 0;
    for (size_t m = 0; m < r->n_update_mask; m++) take |= !strcmp(r->update_mask[m], fields[f]);
    if (!take) continue;
    switch (f) {
      case 0: j->name = in->name; break;
      case 1: j->description = in->description; break;
      case 2: j->team = in->team; break;
      case 3: j->min_tenure_days = in->min_tenure_days; break;
      case 4: j->max_tenure_days = in->max_tenure_days; break;
      case 5: j->steps = in->steps, j->n_steps = in->n_steps; break;
      default: j->active = in->active;
    }
  }
  for (size_t m = 0; m < r->n_update_mask; m++) {
    size_t f = 0;
    while (f < sizeof fields / sizeof fields[0] && strcmp(r->update_mask[m], fields[f])) f++;
    if (f == sizeof fields / sizeof fields[0])
      return rpc_fail(ctx, RPC_INVALID_ARGUMENT, "update_mask[%zu]: unknown field '%.40s'", m, r->update_mask[m]);
  }
  if (check_journey(ctx, j)) return ctx->code;
  journey_tx t = {.ctx = ctx, .in = j, .update = 1};
  rc = pg_tx(journey_run, &t);
  if (rc == RPC_NOT_FOUND) return rpc_fail(ctx, RPC_NOT_FOUND, "journey.id: no journey '%s'", in->id);
  if (rc) return pg_fail(ctx, rc, "update journey");
  *(Accolade__V1__Journey *)resp = *t.out;
  return award_org_changed(ctx);
}

int journeys_list(rpc_ctx *ctx, const void *req, void *resp) {
  const Accolade__V1__ListJourneysRequest *r = req;
  Accolade__V1__ListJourneysResponse *out = resp;
  if (award_begin(ctx, ROLE_MEMBER | ROLE_MANAGER | ROLE_ADMIN)) return ctx->code;
  award_keyset k;
  if (award_page(ctx, r->page_size, r->page_token, &k)) return ctx->code;
  int64_t *cursors;
  size_t n;
  int rc = jr_store_list(ctx, ctx->id.org, r->include_inactive, k.after_us, k.after_id, k.limit + 1, &out->journeys,
                         &cursors, &n);
  if (rc) return pg_fail(ctx, rc, "list journeys");
  if (page_more(&n, k.limit)) out->next_page_token = page_token_make(ctx, cursors[n - 1], out->journeys[n - 1]->id);
  out->n_journeys = n;
  return RPC_OK;
}

/* ------------------------------------------------------------ progress */

/* rules_cache: the org's milestone and signal rules, read once per profile. */
typedef struct rules_cache {
  Accolade__V1__Rule **rules;
  size_t nrules;
  Accolade__V1__SignalRule **srules;
  size_t nsrules;
} rules_cache;

static int step_progress(rpc_ctx *ctx, const char *member, const Accolade__V1__JourneyStep *s, const rules_cache *rc_,
                         Accolade__V1__JourneyStepProgress *g) {
  const char *org = ctx->id.org;
  int rc, done = 0;
  g->threshold = 1;
  if (*s->badge_id) {
    Accolade__V1__Badge *b;
    rc = store_badge_get(ctx, org, s->badge_id, &b);
    if (rc && rc != RPC_NOT_FOUND) return rc;
    const char *badge = rc ? s->badge_id : b->name;
    g->title = *s->title ? s->title : (char *)badge;
    int64_t n;
    if ((rc = jr_store_badge_count(org, member, s->badge_id, &n))) return rc;
    g->done = n > 0;
    g->current = n > 0;
    g->text = arena_printf(ctx->arena, "%lld of 1 %s", (long long)g->current, badge);
    return RPC_OK;
  }
  Accolade__V1__RuleProgress p = ACCOLADE__V1__RULE_PROGRESS__INIT;
  const char *name = NULL;
  if (*s->rule_id) {
    for (size_t i = 0; i < rc_->nrules && !name; i++)
      if (!strcmp(rc_->rules[i]->id, s->rule_id)) {
        name = rc_->rules[i]->name;
        p.threshold = rc_->rules[i]->threshold;
        if ((rc = store_rule_progress(org, rc_->rules[i], member, &p.current))) return rc;
        int64_t shown = p.current < p.threshold ? p.current : p.threshold;
        p.text = arena_printf(ctx->arena, "%lld of %lld", (long long)shown, (long long)p.threshold);
      }
    if ((rc = jr_store_earned(org, member, arena_printf(ctx->arena, "rule:%s", s->rule_id), &done))) return rc;
  } else {
    for (size_t i = 0; i < rc_->nsrules && !name; i++)
      if (!strcmp(rc_->srules[i]->id, s->signal_rule_id)) {
        name = rc_->srules[i]->name;
        if ((rc = signal_rule_progress(ctx, member, rc_->srules[i], &p))) return rc;
      }
    const char *prefix = arena_printf(ctx->arena, SIGNAL_SOURCE_PREFIX "%s:", s->signal_rule_id);
    if ((rc = jr_store_earned(org, member, prefix, &done))) return rc;
  }
  g->title = *s->title ? s->title : (char *)(name ? name : "a rule no longer defined");
  g->done = done;
  g->current = done ? (p.threshold ? p.threshold : 1) : p.current;
  g->threshold = p.threshold ? p.threshold : 1;
  g->text = done ? "done" : p.text ? p.text : (char *)"no longer defined";
  return RPC_OK;
}

int journeys_profile(rpc_ctx *ctx, const char *member, Accolade__V1__Profile *p) {
  const char *org = ctx->id.org;
  Accolade__V1__Journey **js;
  size_t n;
  int rc = jr_store_list(ctx, org, 0, 0, NULL, JOURNEYS_SHOWN, &js, NULL, &n);
  if (rc || !n) return rc ? pg_fail(ctx, rc, "get profile") : RPC_OK;
  int need_team = 0, known;
  for (size_t i = 0; i < n; i++) need_team |= *js[i]->team != 0;
  const char *team = "";
  if (need_team) {
    Accolade__V1__Member *m;
    rc = dir_get(ctx, 0, "member_id", member, &m);
    if (rc && rc != RPC_NOT_FOUND) return ctx->code;
    if (rc == RPC_OK) team = m->team;
  }
  int64_t tenure;
  rules_cache rules = {0};
  if ((rc = jr_store_tenure_days(org, member, &known, &tenure)) ||
      (rc = store_rule_list(ctx, org, 0, NULL, 1000, &rules.rules, NULL, &rules.nrules)) ||
      (rc = sig_store_rule_list(ctx, org, 0, 0, NULL, 1000, &rules.srules, NULL, &rules.nsrules)))
    return pg_fail(ctx, rc, "get profile");
  p->journeys = ARENA_ARRAY(ctx->arena, Accolade__V1__JourneyProgress *, n);
  for (size_t i = 0; i < n; i++) {
    const Accolade__V1__Journey *j = js[i];
    if (*j->team && strcmp(j->team, team)) continue;
    if ((j->min_tenure_days || j->max_tenure_days) &&
        (!known || tenure < j->min_tenure_days || (j->max_tenure_days && tenure > j->max_tenure_days)))
      continue;
    Accolade__V1__JourneyProgress *g = ARENA_NEW(ctx->arena, Accolade__V1__JourneyProgress);
    accolade__v1__journey_progress__init(g);
    g->journey_id = j->id;
    g->name = j->name;
    g->steps_total = (int32_t)j->n_steps;
    g->next_step = -1;
    g->steps = ARENA_ARRAY(ctx->arena, Accolade__V1__JourneyStepProgress *, j->n_steps);
    for (size_t k = 0; k < j->n_steps; k++) {
      Accolade__V1__JourneyStepProgress *s = ARENA_NEW(ctx->arena, Accolade__V1__JourneyStepProgress);
      accolade__v1__journey_step_progress__init(s);
      if ((rc = step_progress(ctx, member, j->steps[k], &rules, s))) return pg_fail(ctx, rc, "get profile");
      g->steps[g->n_steps++] = s;
      if (s->done) g->steps_done++;
      else if (g->next_step < 0) {
        g->next_step = (int32_t)k;
        g->next_text = arena_printf(ctx->arena, "Next: %s (%s)", s->title, s->text);
      }
    }
    p->journeys[p->n_journeys++] = g;
  }
  return RPC_OK;
}
