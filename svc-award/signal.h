/* signal.h - accolade.v1.SignalService, served by svc-award: signals from a
 * CRM or enablement tool, milestone rules over them, recognition prompts,
 * suggestions, badge journeys and outcome analytics. Files: signals.c (intake,
 * lists), signal_rules.c, prompts.c, suggest.c, journeys.c, outcomes.c; SQL in
 * store_signal.c and store_journey.c (migrations 017 and 018); the members
 * directory of svc-nomination through directory.c.
 *
 * Decisions the issue leaves open:
 * - IngestSignals: admins and the "integration" role (a JWT role that reaches
 *   nothing else). A batch holds 1..1000 rows; an empty or oversized batch is
 *   INVALID_ARGUMENT. Each row is checked on its own: a bad row is INVALID in
 *   the reply with a message naming it and its field ("signals[3].amount_minor:
 *   ..."), the good rows land. A field a kind does not use must be empty.
 *   (source, external_id) is unique per org: a re-sent row is DUPLICATE and
 *   changes nothing, so a rerun of a whole file is safe. Members named in
 *   signals are not checked against the directory (a CRM may know people the
 *   directory does not yet); ListSignals shows them as given.
 * - ListSignals: members see their own; managers their own and their direct
 *   reports' (the directory of svc-nomination, over gRPC); admins anyone's.
 *   Asking for someone else's signals without that right is PERMISSION_DENIED.
 * - Signal rules: a calendar period (month, quarter, year, UTC, of the
 *   signal's time) grants at most once per member and period; all-time and
 *   rolling-window rules at most once per member. The award's source_id is
 *   "signal-rule:<rule id>:<period key>" so the award table's unique key
 *   (org, source, recipient) makes a re-sent or concurrent batch grant once;
 *   the grant writes the same outbox rows as any award (emit_granted) and may
 *   complete award milestone rules. Rules are evaluated for each new signal in
 *   the batch's transaction, under a per-member lock. A rule counts signals
 *   from before it was created. A deleted rule's awards stay.
 * - Amounts are integers in minor units of their currency; amount filters and
 *   sums compare within a currency only when the rule names one.
 */
#ifndef AWARD_SIGNAL_H
#define AWARD_SIGNAL_H

#include "accolade/v1/award.pb-c.h"
#include "accolade/v1/signal.pb-c.h"
#include "rpc.h"

#define SIGNAL_BATCH_MAX 1000
#define SIGNAL_COLLABORATORS_MAX 20
#define SIGNAL_SOURCE_PREFIX "signal-rule:"

/* signal_kind_name: "DEAL_WON", ... ("?" if unknown). */
const char *signal_kind_name(int kind);

int signals_ingest(rpc_ctx *ctx, const void *req, void *resp);
int signals_list(rpc_ctx *ctx, const void *req, void *resp);
/* SuggestRecognitions (suggest.c): colleagues the member worked with on a
 * recent won deal (as a collaborator on theirs, or they on the member's),
 * then teammates' recent won deals, playbooks, trainings, NPS of 9+ and quota
 * of 100%+; one per colleague, leaving out colleagues the member has given
 * an award since the signal; ranked by closeness, recency, then id. */
int signals_suggest(rpc_ctx *ctx, const void *req, void *resp);
/* signals_check_report: RPC_OK when |member| reports to the calling manager
 * (the directory), else PERMISSION_DENIED (or UNAVAILABLE) on ctx. */
int signals_check_report(rpc_ctx *ctx, const char *member);
int signal_rules_create(rpc_ctx *ctx, const void *req, void *resp);
int signal_rules_list(rpc_ctx *ctx, const void *req, void *resp);
int signal_rules_delete(rpc_ctx *ctx, const void *req, void *resp);

/* The org's signal rules, read once per batch. */
typedef struct signal_rule_set {
  Accolade__V1__SignalRule **rules;
  size_t n;
} signal_rule_set;
int signal_rules_load(rpc_ctx *ctx, signal_rule_set *out);
/* signal_rules_evaluate grants what the new signal |s| completes under
 * |rules| (inside the caller's transaction), appending the new awards' ids to
 * |*ids| (arena). */
int signal_rules_evaluate(rpc_ctx *ctx, const signal_rule_set *rules, const Accolade__V1__Signal *s, char ***ids,
                          size_t *n, size_t *cap);

/* Recognition prompts (prompts.c). A DEAL_WON with collaborators prompts its
 * owner, once per (source, owner, opportunity); a new hire's first won deal
 * (the first DEAL_WON within a year of the start_date of their MEMBER_HIRED
 * signal) prompts their manager from the directory, once per member. The
 * suggested badge is Deal Closer (Collaboration Leader if it is retired). */
typedef struct prompt_plan {
  const char **members, **managers;   /* new hires with deals in the batch, and their managers ("" none) */
  size_t n;
} prompt_plan;
/* prompts_prepare looks up, before the batch's transaction, the managers of
 * new hires with a won deal among the |valid| rows (UNAVAILABLE when the
 * directory cannot answer: the batch can be sent again). */
int prompts_prepare(rpc_ctx *ctx, const Accolade__V1__IngestSignalsRequest *r, const int *valid, prompt_plan *out);
/* prompts_emit writes the prompts the new signal |s| calls for (inside the
 * transaction). */
int prompts_emit(rpc_ctx *ctx, const Accolade__V1__Signal *s, const char *signal_id, const prompt_plan *plan);

/* signal_rule_progress: the member's progress toward |x| now (the current
 * calendar period, the rolling window ending now, or all time). */
int signal_rule_progress(rpc_ctx *ctx, const char *member, const Accolade__V1__SignalRule *x,
                         Accolade__V1__RuleProgress *g);

/* Badge journeys (journeys.c): admins define ordered steps (a badge, a
 * milestone rule, a signal rule) for a team and/or a tenure band (days since
 * the start_date of the member's latest MEMBER_HIRED signal; the directory
 * has no job role, so a team stands for one). A step is done once the member
 * holds the badge or has earned the rule (ever); steps may be done in any
 * order, the next step is the first not done. */
int journeys_create(rpc_ctx *ctx, const void *req, void *resp);
int journeys_update(rpc_ctx *ctx, const void *req, void *resp);
int journeys_list(rpc_ctx *ctx, const void *req, void *resp);
/* journeys_profile appends the journeys that apply to |member| to |p|. */
int journeys_profile(rpc_ctx *ctx, const char *member, Accolade__V1__Profile *p);

/* GetOutcomeStats (outcomes.c): managers for their own team (the JWT team),
 * admins for a team or the org. For recognized members (an award in the
 * period, of the badge / category if given; their time is their first) and
 * the others (their time is the period's midpoint): win rate, average won
 * deal size and cycle days (deals in one currency), playbooks and meetings
 * per member, in the 90 days before and after that time; new hires' days to
 * a first won deal by recognition in their first 30 / 60 days; departures of
 * members recognized and never recognized. Rates and averages of fewer than
 * OUTCOME_MIN_N observations are not shown. */
#define OUTCOME_MIN_N 30
int signals_outcomes(rpc_ctx *ctx, const void *req, void *resp);

/* signal_rules_profile appends the member's progress toward every signal rule
 * to |p|->progress (arena). */
int signal_rules_profile(rpc_ctx *ctx, const char *member, Accolade__V1__Profile *p);

#endif
