/* store_signal.h - the SQL of signals and signal rules (the tables of
 * migrations/004_signals.sql). Same conventions as store.h: pg codes back,
 * messages and rows from ctx->arena, every query scoped by org, transactions
 * are the caller's.
 */
#ifndef AWARD_STORE_SIGNAL_H
#define AWARD_STORE_SIGNAL_H

#include <stddef.h>
#include <stdint.h>

#include "accolade/v1/signal.pb-c.h"
#include "rpc.h"

/* sig_store_lock_member serialises signal intake for one member until commit,
 * so two batches cannot each miss the other's signals when a rule is
 * evaluated. Take the locks of a batch in sorted order. */
int sig_store_lock_member(const char *org, const char *member);

/* sig_store_insert stores |s| unless (org, source, external_id) exists; either
 * way |*id| is the stored signal's id and |*created| says which. */
int sig_store_insert(rpc_ctx *ctx, const char *org, const Accolade__V1__Signal *s, char **id, int *created);

typedef struct sig_filter {
  const char *member_id;       /* "" unless one member */
  const char *const *members;  /* or any of these (n_members > 0) */
  size_t n_members;
  int kind;                    /* 0: any */
  int64_t start_ms, end_ms;    /* 0: no bound */
  int has_cursor;
  int64_t cursor_us;
  const char *cursor_id;
} sig_filter;

/* sig_store_list: newest first (occur time, id), keyset paged; |cursors| get
 * each row's position (occurred_at in microseconds). */
int sig_store_list(rpc_ctx *ctx, const char *org, const sig_filter *f, int limit,
                   Accolade__V1__Signal ***out, int64_t **cursors, size_t *n);

int sig_store_rule_insert(rpc_ctx *ctx, const char *org, const Accolade__V1__SignalRule *r,
                          Accolade__V1__SignalRule **out);
/* sig_store_rule_list: by creation, keyset paged; |kind| 0 for every kind. */
int sig_store_rule_list(rpc_ctx *ctx, const char *org, int kind, int64_t after_us, const char *after_id,
                        int limit, Accolade__V1__SignalRule ***out, int64_t **cursors, size_t *n);
/* sig_store_rule_delete soft-deletes (awards it granted keep their source). */
int sig_store_rule_delete(const char *org, const char *id);

/* sig_store_rule_value: the member's count or sum toward |r| in the window
 * that holds |at_ms| (a calendar period, all time, or the best rolling window
 * that holds it), and the key of that period ("2026-Q3", "2026-09", "2026",
 * or "all") in |*key| (arena). */
int sig_store_rule_value(rpc_ctx *ctx, const char *org, const Accolade__V1__SignalRule *r,
                         const char *member, int64_t at_ms, int64_t *value, char **key);
/* sig_store_rule_value_now: the same for the profile: the current calendar
 * period, or the rolling window ending now. */
int sig_store_rule_value_now(rpc_ctx *ctx, const char *org, const Accolade__V1__SignalRule *r,
                             const char *member, int64_t *value, char **key);

/* sig_store_is_hired: whether a MEMBER_HIRED signal names |member|. */
int sig_store_is_hired(const char *org, const char *member, int *yes);
/* sig_store_new_hire_first_deal: whether the DEAL_WON |signal_id| is the
 * member's first won deal (none earlier) within a year of the start_date of
 * their latest MEMBER_HIRED signal; |*start| gets that date (arena). */
int sig_store_new_hire_first_deal(rpc_ctx *ctx, const char *org, const char *member, const char *signal_id,
                                  int *yes, char **start);

/* One candidate for SuggestRecognitions: the colleague's best recent signal. */
typedef struct sig_candidate {
  const char *colleague;
  int closeness;             /* 2 worked on it together, 1 same team */
  const char *relation;      /* "collaborator" (on their deal), "helped" (on yours), "team" */
  Accolade__V1__Signal *signal;
} sig_candidate;

/* sig_store_suggest: for |member|, the signals in [start_ms, end_ms) of
 * colleagues they worked with (DEAL_WON collaborators, either way) or of
 * |team| (won deals, playbooks, trainings, NPS 9+, quota 100%+), leaving out
 * colleagues |member| has given an award since; one per colleague, by
 * closeness, recency, colleague id; at most |limit|. */
int sig_store_suggest(rpc_ctx *ctx, const char *org, const char *member, const char *const *team, size_t nteam,
                      int64_t start_ms, int64_t end_ms, int limit, sig_candidate **out, size_t *n);

/* ---- Outcome analytics (GetOutcomeStats) ----
 * The population is the members with any signal (of |members| when
 * has_members). A member is recognized when they hold an unrevoked award
 * (of the badge / category when given) granted in [start_ms, end_ms); their
 * time is their first such award, the others' the period's midpoint. */
typedef struct outcome_filter {
  int64_t start_ms, end_ms;
  const char *badge_id, *category, *currency;
  int has_members;
  const char *const *members;
  size_t n_members;
} outcome_filter;

/* One group's signals in the 90 days before or after its members' time. */
typedef struct outcome_window {
  int64_t members, won, lost, playbooks, meetings;
  double avg_amount, avg_cycle;   /* of won deals in the currency */
} outcome_window;
/* sig_store_outcome_windows fills out[recognized * 2 + after]. */
int sig_store_outcome_windows(const char *org, const outcome_filter *f, outcome_window out[4]);

/* New hires (MEMBER_HIRED start_date in the period) by whether they were
 * recognized in their first |days| days: out[0] not, out[1] recognized. */
typedef struct outcome_ramp {
  int64_t hires, with_win;
  double avg_days;   /* start_date to first won deal, of those with one */
} outcome_ramp;
int sig_store_outcome_ramp(const char *org, const outcome_filter *f, int days, outcome_ramp out[2]);

/* Departures (MEMBER_DEPARTED in the period) of members never recognized
 * (out[0]) and recognized before leaving or the period's end (out[1]). */
typedef struct outcome_departures {
  int64_t members, departed;
} outcome_departures;
int sig_store_outcome_departures(const char *org, const outcome_filter *f, outcome_departures out[2]);

/* sig_store_member_team: the team of the member's latest award ("" if none). */
int sig_store_member_team(rpc_ctx *ctx, const char *org, const char *member, char **team);

#endif
