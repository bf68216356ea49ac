/* signals.c - IngestSignals and ListSignals (see signal.h for the decisions). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "award.h"
#include "check.h"
#include "directory.h"
#include "pg.h"
#include "pg_status.h"
#include "profcache.h"
#include "signal.h"
#include "store_signal.h"

/* ------------------------------------------------------------ validation */

#define K(x) (1u << ACCOLADE__V1__SIGNAL_KIND__##x)
#define DEALS (K(DEAL_WON) | K(DEAL_LOST))

/* A field a kind may carry: |kinds| may set it, |need| must. */
typedef struct field_use {
  const char *name;
  unsigned kinds, need;
} field_use;

enum { F_OPP, F_ACCOUNT, F_AMOUNT, F_CURRENCY, F_CYCLE, F_COLLAB, F_TITLE, F_LINK, F_SCORE, F_PERIOD,
       F_PERCENT, F_START, F_N };

static const field_use FIELDS[F_N] = {
    [F_OPP] = {"opportunity_id", DEALS, DEALS},
    [F_ACCOUNT] = {"account", DEALS | K(MEETING_BOOKED) | K(NPS_RECEIVED), DEALS | K(NPS_RECEIVED)},
    [F_AMOUNT] = {"amount_minor", DEALS, 0},
    [F_CURRENCY] = {"currency", DEALS, DEALS},
    [F_CYCLE] = {"cycle_days", DEALS, 0},
    [F_COLLAB] = {"collaborators", DEALS, 0},
    [F_TITLE] = {"title", K(PLAYBOOK_PUBLISHED) | K(TRAINING_COMPLETED), K(PLAYBOOK_PUBLISHED)},
    [F_LINK] = {"link", K(PLAYBOOK_PUBLISHED), K(PLAYBOOK_PUBLISHED)},
    [F_SCORE] = {"score", K(NPS_RECEIVED), 0},
    [F_PERIOD] = {"period", K(QUOTA_ATTAINMENT), K(QUOTA_ATTAINMENT)},
    [F_PERCENT] = {"percent", K(QUOTA_ATTAINMENT), 0},
    [F_START] = {"start_date", K(MEMBER_HIRED), K(MEMBER_HIRED)},
};

static int field_set(const Accolade__V1__Signal *s, int f) {
  switch (f) {
    case F_OPP: return *s->opportunity_id != 0;
    case F_ACCOUNT: return *s->account != 0;
    case F_AMOUNT: return s->amount_minor != 0;
    case F_CURRENCY: return *s->currency != 0;
    case F_CYCLE: return s->cycle_days != 0;
    case F_COLLAB: return s->n_collaborators != 0;
    case F_TITLE: return *s->title != 0;
    case F_LINK: return *s->link != 0;
    case F_SCORE: return s->score != 0;
    case F_PERIOD: return *s->period != 0;
    case F_PERCENT: return s->percent != 0;
    default: return *s->start_date != 0;
  }
}

static int digits(const char *s, size_t n) {
  for (size_t i = 0; i < n; i++)
    if (s[i] < '0' || s[i] > '9') return 0;
  return 1;
}

/* date_ok: YYYY-MM-DD of a real day, years 1970..9999. */
static int date_ok(const char *s) {
  if (strlen(s) != 10 || s[4] != '-' || s[7] != '-' || !digits(s, 4) || !digits(s + 5, 2) || !digits(s + 8, 2))
    return 0;
  int y = atoi(s), m = atoi(s + 5), d = atoi(s + 8);
  static const int mdays[] = {31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  if (y < 1970 || m < 1 || m > 12 || d < 1 || d > mdays[m - 1]) return 0;
  return m != 2 || d < 29 || (y % 4 == 0 && (y % 100 != 0 || y % 400 == 0));
}

/* period_ok: "2026-Q3" or "2026-09". */
static int period_ok(const char *s) {
  if (strlen(s) != 7 || s[4] != '-' || !digits(s, 4)) return 0;
  if (s[5] == 'Q') return s[6] >= '1' && s[6] <= '4';
  return digits(s + 5, 2) && atoi(s + 5) >= 1 && atoi(s + 5) <= 12;
}

static int64_t now_ms(void) {
  struct timespec t;
  clock_gettime(CLOCK_REALTIME, &t);
  return (int64_t)t.tv_sec * 1000 + t.tv_nsec / 1000000;
}

/* signal_check validates row |i|; on failure ctx->message names the field. */
static int signal_check(rpc_ctx *ctx, size_t i, const Accolade__V1__Signal *s, int64_t now) {
  char f[64];
#define FIELD(name) (snprintf(f, sizeof f, "signals[%zu].%s", i, name), f)
  if (check_id(ctx, FIELD("source"), s->source, 64) || check_len(ctx, FIELD("external_id"), s->external_id, 1, 128) ||
      check_id(ctx, FIELD("member_id"), s->member_id, 128) ||
      check_enum(ctx, FIELD("kind"), s->kind, 1, ACCOLADE__V1__SIGNAL_KIND__MEMBER_DEPARTED) ||
      check_range(ctx, FIELD("occur_time_ms"), s->occur_time_ms, INT64_C(946684800000), now + 300000))
    return ctx->code;
  if (*s->id || s->ingest_time_ms)
    return rpc_fail(ctx, RPC_INVALID_ARGUMENT, "%s: assigned by the service; leave it empty",
                    *s->id ? FIELD("id") : FIELD("ingest_time_ms"));
  unsigned bit = 1u << s->kind;
  for (int k = 0; k < F_N; k++) {
    int set = field_set(s, k);
    if (set && !(FIELDS[k].kinds & bit))
      return rpc_fail(ctx, RPC_INVALID_ARGUMENT, "%s: not used by %s; leave it empty", FIELD(FIELDS[k].name),
                      signal_kind_name(s->kind));
    if (!set && (FIELDS[k].need & bit))
      return rpc_fail(ctx, RPC_INVALID_ARGUMENT, "%s: required for %s", FIELD(FIELDS[k].name),
                      signal_kind_name(s->kind));
  }
  if (check_len(ctx, FIELD("opportunity_id"), s->opportunity_id, 0, 128) ||
      check_len(ctx, FIELD("account"), s->account, 0, 200) ||
      check_range(ctx, FIELD("amount_minor"), s->amount_minor, 0, INT64_C(100000000000000)) ||
      check_range(ctx, FIELD("cycle_days"), s->cycle_days, 0, 3650) ||
      check_len(ctx, FIELD("title"), s->title, 0, 200) || check_url(ctx, FIELD("link"), s->link, 2048) ||
      check_range(ctx, FIELD("score"), s->score, 0, 10))
    return ctx->code;
  if (*s->currency && (strlen(s->currency) != 3 || strspn(s->currency, "ABCDEFGHIJKLMNOPQRSTUVWXYZ") != 3))
    return rpc_fail(ctx, RPC_INVALID_ARGUMENT, "%s: an ISO 4217 code such as USD", FIELD("currency"));
  if (*s->period && !period_ok(s->period))
    return rpc_fail(ctx, RPC_INVALID_ARGUMENT, "%s: a quarter (2026-Q3) or a month (2026-09)", FIELD("period"));
  if (!isfinite(s->percent) || s->percent < 0 || s->percent > 1000)
    return rpc_fail(ctx, RPC_INVALID_ARGUMENT, "%s: between 0 and 1000", FIELD("percent"));
  if (*s->start_date && !date_ok(s->start_date))
    return rpc_fail(ctx, RPC_INVALID_ARGUMENT, "%s: a date YYYY-MM-DD", FIELD("start_date"));
  if (s->n_collaborators > SIGNAL_COLLABORATORS_MAX)
    return rpc_fail(ctx, RPC_INVALID_ARGUMENT, "%s: at most %d (got %zu)", FIELD("collaborators"),
                    SIGNAL_COLLABORATORS_MAX, s->n_collaborators);
  for (size_t c = 0; c < s->n_collaborators; c++) {
    char cf[80];
    snprintf(cf, sizeof cf, "signals[%zu].collaborators[%zu]", i, c);
    if (check_id(ctx, cf, s->collaborators[c], 128)) return ctx->code;
    if (!strcmp(s->collaborators[c], s->member_id))
      return rpc_fail(ctx, RPC_INVALID_ARGUMENT, "%s: the member themself", cf);
    for (size_t d = 0; d < c; d++)
      if (!strcmp(s->collaborators[d], s->collaborators[c]))
        return rpc_fail(ctx, RPC_INVALID_ARGUMENT, "%s: '%s' is listed twice", cf, s->collaborators[c]);
  }
#undef FIELD
  return RPC_OK;
}

/* ---------------------------------------------------------------- ingest */

typedef struct ingest_tx {
  rpc_ctx *ctx;
  const Accolade__V1__IngestSignalsRequest *req;
  Accolade__V1__IngestSignalsResponse *out;
  const char **members;   /* of the valid rows, sorted, distinct */
  size_t nmembers;
  prompt_plan prompts;
  size_t ids_cap;
} ingest_tx;

static int ingest_run(void *arg) {
  ingest_tx *t = arg;
  rpc_ctx *ctx = t->ctx;
  Accolade__V1__IngestSignalsResponse *out = t->out;
  out->created = out->duplicates = 0;
  out->n_award_ids = 0;
  t->ids_cap = 0;
  int rc = RPC_OK;
  for (size_t m = 0; rc == RPC_OK && m < t->nmembers; m++) rc = sig_store_lock_member(ctx->id.org, t->members[m]);
  for (size_t i = 0; rc == RPC_OK && i < t->req->n_signals; i++) {
    Accolade__V1__SignalResult *res = out->results[i];
    if (res->status == ACCOLADE__V1__SIGNAL_RESULT__STATUS__INVALID) continue;
    int created;
    rc = sig_store_insert(ctx, ctx->id.org, t->req->signals[i], &res->signal_id, &created);
    if (rc) break;
    res->status = created ? ACCOLADE__V1__SIGNAL_RESULT__STATUS__CREATED : ACCOLADE__V1__SIGNAL_RESULT__STATUS__DUPLICATE;
    if (created) out->created++;
    else out->duplicates++;
  }
  /* Rules after every row is in, so a batch that completes a rule grants once. */
  signal_rule_set rules = {0};
  if (rc == RPC_OK && out->created) rc = signal_rules_load(ctx, &rules);
  for (size_t i = 0; rc == RPC_OK && i < t->req->n_signals; i++) {
    if (out->results[i]->status != ACCOLADE__V1__SIGNAL_RESULT__STATUS__CREATED) continue;
    rc = signal_rules_evaluate(ctx, &rules, t->req->signals[i], &out->award_ids, &out->n_award_ids, &t->ids_cap);
    if (!rc) rc = prompts_emit(ctx, t->req->signals[i], out->results[i]->signal_id, &t->prompts);
  }
  return rc;
}

static int cmp_str(const void *a, const void *b) { return strcmp(*(const char *const *)a, *(const char *const *)b); }

int signals_ingest(rpc_ctx *ctx, const void *req, void *resp) {
  const Accolade__V1__IngestSignalsRequest *r = req;
  Accolade__V1__IngestSignalsResponse *out = resp;
  if (award_begin(ctx, ROLE_ADMIN | ROLE_INTEGRATION)) return ctx->code;
  if (r->n_signals < 1 || r->n_signals > SIGNAL_BATCH_MAX)
    return rpc_fail(ctx, RPC_INVALID_ARGUMENT, "signals: between 1 and %d (got %zu)", SIGNAL_BATCH_MAX,
                    r->n_signals);
  int64_t now = now_ms();
  out->results = ARENA_ARRAY(ctx->arena, Accolade__V1__SignalResult *, r->n_signals);
  out->n_results = r->n_signals;
  ingest_tx t = {.ctx = ctx, .req = r, .out = out};
  t.members = ARENA_ARRAY(ctx->arena, const char *, r->n_signals);
  int *valid = ARENA_ARRAY(ctx->arena, int, r->n_signals);
  for (size_t i = 0; i < r->n_signals; i++) {
    Accolade__V1__SignalResult *res = ARENA_NEW(ctx->arena, Accolade__V1__SignalResult);
    accolade__v1__signal_result__init(res);
    res->index = (int32_t)i;
    out->results[i] = res;
    if (signal_check(ctx, i, r->signals[i], now)) {
      res->status = ACCOLADE__V1__SIGNAL_RESULT__STATUS__INVALID;
      res->error = ctx->message;
      ctx->code = RPC_OK;   /* a bad row is reported in its result, not as the call's status */
      ctx->message = NULL;
      out->invalid++;
      continue;
    }
    t.members[t.nmembers++] = r->signals[i]->member_id;
    valid[i] = 1;
  }
  qsort(t.members, t.nmembers, sizeof *t.members, cmp_str);
  size_t k = 0;
  for (size_t i = 0; i < t.nmembers; i++)
    if (!k || strcmp(t.members[k - 1], t.members[i])) t.members[k++] = t.members[i];
  t.nmembers = k;
  if (!t.nmembers) return RPC_OK;   /* nothing valid: every row says why */
  if (prompts_prepare(ctx, r, valid, &t.prompts)) return ctx->code;
  int rc = pg_tx(ingest_run, &t);
  if (rc) return ctx->code ? ctx->code : pg_fail(ctx, rc, "ingest signals");
  /* Signal rules may have granted: every member of the batch, also when
   * nothing was new (a repeat after a failed touch makes it). */
  return award_touched(ctx, profcache_touch_members(ctx->id.org, t.members, t.nmembers));
}

/* reports_of lists the members whose manager is |manager| (the directory,
 * read as the caller), leaving room for one more entry. */
static int reports_of(rpc_ctx *ctx, const char *manager, const char ***out, size_t *n) {
  Accolade__V1__Member **all;
  size_t nall;
  if (dir_list(ctx, "member_id", "", &all, &nall)) return ctx->code;
  *out = ARENA_ARRAY(ctx->arena, const char *, nall + 1);
  *n = 0;
  for (size_t i = 0; i < nall; i++)
    if (!strcmp(all[i]->manager_id, manager)) (*out)[(*n)++] = all[i]->member_id;
  return RPC_OK;
}

int signals_check_report(rpc_ctx *ctx, const char *member) {
  const char **reports;
  size_t n;
  if (reports_of(ctx, ctx->id.user, &reports, &n)) return ctx->code;
  for (size_t i = 0; i < n; i++)
    if (!strcmp(reports[i], member)) return RPC_OK;
  return rpc_fail(ctx, RPC_PERMISSION_DENIED, "member_id: '%s' is not one of your reports", member);
}

/* ------------------------------------------------------------------ list */

int signals_list(rpc_ctx *ctx, const void *req, void *resp) {
  const Accolade__V1__ListSignalsRequest *r = req;
  Accolade__V1__ListSignalsResponse *out = resp;
  if (award_begin(ctx, ROLE_MEMBER | ROLE_MANAGER | ROLE_ADMIN)) return ctx->code;
  int limit;
  char *cursor_id = NULL;
  const char *mid = strcmp(r->member_id, "me") ? r->member_id : ctx->id.user;   /* "me": the caller */
  sig_filter f = {.member_id = mid, .kind = r->kind, .start_ms = r->start_time_ms, .end_ms = r->end_time_ms};
  if (page_size(ctx, r->page_size, 50, 500, &limit) ||
      page_token_parse(ctx, r->page_token, &f.has_cursor, &f.cursor_us, &cursor_id) ||
      (*mid && check_id(ctx, "member_id", mid, 128)) ||
      check_enum(ctx, "kind", r->kind, 0, ACCOLADE__V1__SIGNAL_KIND__MEMBER_DEPARTED) ||
      check_time_range(ctx, r->start_time_ms, r->end_time_ms))
    return ctx->code;
  if (f.has_cursor && check_uuid(ctx, "page_token", cursor_id)) return ctx->code;
  f.cursor_id = cursor_id;
  const char *me = ctx->id.user;
  if (ctx->id.role != ROLE_ADMIN && (!*mid || strcmp(mid, me))) {
    if (ctx->id.role == ROLE_MEMBER) {
      if (*mid) return rpc_fail(ctx, RPC_PERMISSION_DENIED, "member_id: members see only their own signals");
      f.member_id = me;
    } else if (*mid) {   /* a manager: a report's */
      if (signals_check_report(ctx, mid)) return ctx->code;
    } else {   /* a manager: all their reports' and their own */
      const char **reports;
      size_t nreports;
      if (reports_of(ctx, me, &reports, &nreports)) return ctx->code;
      reports[nreports] = me;   /* reports_of leaves room for one more */
      f.members = reports;
      f.n_members = nreports + 1;
      f.member_id = "";
    }
  }
  Accolade__V1__Signal **signals;
  int64_t *cursors;
  size_t n;
  int rc = sig_store_list(ctx, ctx->id.org, &f, limit + 1, &signals, &cursors, &n);
  if (rc) return pg_fail(ctx, rc, "list signals");
  if (page_more(&n, limit)) out->next_page_token = page_token_make(ctx, cursors[n - 1], signals[n - 1]->id);
  out->signals = signals;
  out->n_signals = n;
  return RPC_OK;
}
