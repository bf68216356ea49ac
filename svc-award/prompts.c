/* prompts.c - recognition prompts from signals (see signal.h): a won deal with
 * collaborators prompts its owner to recognize who helped; a new hire's first
 * won deal prompts their manager. Both go to svc-notify through the outbox as
 * PublishEvent(recognition_prompt); svc-notify's event-id dedupe makes each
 * once per deal (or once per new hire) and its preferences decide the inbox. */
#include <stdio.h>
#include <string.h>

#include "accolade/v1/events.pb-c.h"
#include "accolade/v1/notify.pb-c.h"
#include "award.h"
#include "directory.h"
#include "outbox.h"
#include "pg.h"
#include "pg_status.h"
#include "signal.h"
#include "store_signal.h"
#include "store.h"


static int is_deal_won(const Accolade__V1__Signal *s) { return s->kind == ACCOLADE__V1__SIGNAL_KIND__DEAL_WON; }
static int is_hire(const Accolade__V1__Signal *s) { return s->kind == ACCOLADE__V1__SIGNAL_KIND__MEMBER_HIRED; }

/* manager_of asks the directory (as svc-award: the caller may be an
 * integration); "" when the member is not in it. */
static int manager_of(rpc_ctx *ctx, const char *member, const char **out) {
  Accolade__V1__Member *m;
  int rc = dir_get(ctx, 1, "signals", member, &m);
  if (rc == RPC_NOT_FOUND) {
    *out = "";
    return RPC_OK;
  }
  if (rc) return rc;
  *out = m->manager_id;
  return RPC_OK;
}

int prompts_prepare(rpc_ctx *ctx, const Accolade__V1__IngestSignalsRequest *r, const int *valid, prompt_plan *out) {
  memset(out, 0, sizeof *out);
  out->members = ARENA_ARRAY(ctx->arena, const char *, r->n_signals);
  out->managers = ARENA_ARRAY(ctx->arena, const char *, r->n_signals);
  for (size_t i = 0; i < r->n_signals; i++) {
    const Accolade__V1__Signal *s = r->signals[i];
    if (!valid[i] || !is_deal_won(s)) continue;
    size_t k = 0;
    while (k < out->n && strcmp(out->members[k], s->member_id)) k++;
    if (k < out->n) continue;
    /* Only new hires need their manager: hired in this batch or before. */
    int hired = 0;
    for (size_t j = 0; j < r->n_signals && !hired; j++)
      hired = valid[j] && is_hire(r->signals[j]) && !strcmp(r->signals[j]->member_id, s->member_id);
    int rc;
    if (!hired && (rc = sig_store_is_hired(ctx->id.org, s->member_id, &hired))) return pg_fail(ctx, rc, "signals");
    if (!hired) continue;
    if (manager_of(ctx, s->member_id, &out->managers[out->n])) return ctx->code;
    out->members[out->n++] = s->member_id;
  }
  return RPC_OK;
}

/* suggested_badge: Deal Closer if the org has it active, else Collaboration Leader. */
static int suggested_badge(rpc_ctx *ctx, Accolade__V1__Badge **out) {
  int rc = store_badge_get(ctx, ctx->id.org, "deal-closer", out);
  if (rc == RPC_OK && (*out)->active) return RPC_OK;
  if (rc && rc != RPC_NOT_FOUND) return rc;
  rc = store_badge_get(ctx, ctx->id.org, "collaboration-leader", out);
  if (rc == RPC_NOT_FOUND) {
    *out = ARENA_NEW(ctx->arena, Accolade__V1__Badge);
    accolade__v1__badge__init(*out);
    (*out)->name = "a badge";
    return RPC_OK;
  }
  return rc;
}

static int publish(rpc_ctx *ctx, const char *event_id, int64_t at, Accolade__V1__RecognitionPrompt *p) {
  Accolade__V1__Event ev = ACCOLADE__V1__EVENT__INIT;
  ev.event_id = (char *)event_id;
  ev.org = ctx->id.org;
  ev.occurred_at_ms = at;
  ev.kind_case = ACCOLADE__V1__EVENT__KIND_RECOGNITION_PROMPT;
  ev.recognition_prompt = p;
  return outbox_enqueue(&accolade__v1__notify_service__descriptor, "PublishEvent", ctx->id.org, &ev.base);
}

static const char *amount_text(rpc_ctx *ctx, const Accolade__V1__Signal *s) {
  return arena_printf(ctx->arena, "%lld.%02lld %s", (long long)(s->amount_minor / 100),
                      (long long)(s->amount_minor % 100), s->currency);
}

int prompts_emit(rpc_ctx *ctx, const Accolade__V1__Signal *s, const char *signal_id, const prompt_plan *plan) {
  if (!is_deal_won(s)) return RPC_OK;
  size_t k = 0;
  while (k < plan->n && strcmp(plan->members[k], s->member_id)) k++;
  const char *manager = k < plan->n ? plan->managers[k] : "";
  if (!s->n_collaborators && !*manager) return RPC_OK;
  Accolade__V1__Badge *b;
  int rc = suggested_badge(ctx, &b);
  if (rc) return rc;
  Accolade__V1__RecognitionPrompt p = ACCOLADE__V1__RECOGNITION_PROMPT__INIT;
  p.subject_id = s->member_id;
  p.signal_id = (char *)signal_id;
  p.opportunity_id = s->opportunity_id;
  p.account = s->account;
  p.suggested_badge_id = b->id;
  p.suggested_badge_name = b->name;
  if (s->n_collaborators) {
    const char *names = s->collaborators[0];
    for (size_t i = 1; i < s->n_collaborators; i++)
      names = arena_printf(ctx->arena, "%s%s%s", names, i + 1 == s->n_collaborators ? " and " : ", ",
                           s->collaborators[i]);
    p.member_id = s->member_id;
    p.reason = "deal_collaborators";
    p.collaborator_ids = s->collaborators;
    p.n_collaborator_ids = s->n_collaborators;
    p.text = arena_printf(ctx->arena, "Your %s deal closed (%s): recognize who helped, %s (suggested badge: %s)",
                          s->account, amount_text(ctx, s), names, b->name);
    /* Once per deal: the same opportunity sent again under another id prompts nothing more. */
    const char *id = arena_printf(ctx->arena, "prompt:deal:%s:%s:%s", s->source, s->member_id, s->opportunity_id);
    if ((rc = publish(ctx, id, s->occur_time_ms, &p))) return rc;
  }
  if (!*manager || !strcmp(manager, s->member_id)) return RPC_OK;
  int first;
  char *start;
  if ((rc = sig_store_new_hire_first_deal(ctx, ctx->id.org, s->member_id, signal_id, &first, &start))) return rc;
  if (!first) return RPC_OK;
  p.member_id = (char *)manager;
  p.reason = "new_hire_first_deal";
  p.collaborator_ids = NULL;
  p.n_collaborator_ids = 0;
  p.text = arena_printf(ctx->arena,
                        "%s won their first deal since starting on %s: %s, %s. Recognize it (suggested badge: %s)",
                        s->member_id, start, s->account, amount_text(ctx, s), b->name);
  return publish(ctx, arena_printf(ctx->arena, "prompt:first-deal:%s", s->member_id), s->occur_time_ms, &p);
}
