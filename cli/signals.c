/* signals.c - `accolade signals import FILE.csv`: CRM events from an export,
 * in batches of IngestSignals. Idempotent by (source, external_id), so a
 * batch that meets UNAVAILABLE is retried and a rerun of the file lands
 * nothing twice.
 *
 * The first row names the columns, in any order (case-insensitive; a CRM's
 * spellings in brackets): source, external_id (id, record_id), member_id
 * (owner, owner_id), kind (type, event), occurred_at (date, close_date:
 * 2026-10-03 or 2026-10-03T14:05:00Z), opportunity_id (opportunity), account
 * (account_name), amount (52000.00 or 52,000.00: two decimals at most),
 * currency, cycle_days, collaborators (ids separated by ; or |), title, link,
 * score, period, percent, start_date. A column may be missing or a cell empty
 * when the kind does not use it. --source S fills an empty or missing source.
 *
 * The file is parsed before the first call (a malformed row imports nothing,
 * exit 65); rows the service finds invalid are printed with their line and
 * the rest land (exit 65 at the end).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "accolade/v1/signal.pb-c.h"
#include "cli.h"
#include "pbfill.h"

#define MAX_COLS 24

enum { S_SOURCE, S_EXT, S_MEMBER, S_KIND, S_AT, S_OPP, S_ACCOUNT, S_AMOUNT, S_CURRENCY, S_CYCLE, S_COLLAB,
       S_TITLE, S_LINK, S_SCORE, S_PERIOD, S_PERCENT, S_START, S_N };

static const struct {
  const char *name, *alias1, *alias2, *field;   /* field: NULL when parsed here */
} COLUMNS[S_N] = {
    [S_SOURCE] = {"source", NULL, NULL, "source"},
    [S_EXT] = {"external_id", "id", "record_id", "external_id"},
    [S_MEMBER] = {"member_id", "owner", "owner_id", "member_id"},
    [S_KIND] = {"kind", "type", "event", "kind"},
    [S_AT] = {"occurred_at", "date", "close_date", NULL},
    [S_OPP] = {"opportunity_id", "opportunity", NULL, "opportunity_id"},
    [S_ACCOUNT] = {"account", "account_name", NULL, "account"},
    [S_AMOUNT] = {"amount", NULL, NULL, NULL},
    [S_CURRENCY] = {"currency", NULL, NULL, "currency"},
    [S_CYCLE] = {"cycle_days", NULL, NULL, "cycle_days"},
    [S_COLLAB] = {"collaborators", NULL, NULL, NULL},
    [S_TITLE] = {"title", NULL, NULL, "title"},
    [S_LINK] = {"link", NULL, NULL, "link"},
    [S_SCORE] = {"score", NULL, NULL, "score"},
    [S_PERIOD] = {"period", NULL, NULL, "period"},
    [S_PERCENT] = {"percent", NULL, NULL, NULL},
    [S_START] = {"start_date", NULL, NULL, "start_date"},
};

/* column_of: the column a header names; case, spaces and dashes aside
 * ("Close Date" is close_date). */
static int column_of(const char *header) {
  char h[64];
  size_t k = 0;
  for (; header[k] && k < sizeof h - 1; k++) h[k] = header[k] == ' ' || header[k] == '-' ? '_' : header[k];
  h[k] = '\0';
  for (int m = 0; m < S_N; m++)
    if (!strcasecmp(h, COLUMNS[m].name) || (COLUMNS[m].alias1 && !strcasecmp(h, COLUMNS[m].alias1)) ||
        (COLUMNS[m].alias2 && !strcasecmp(h, COLUMNS[m].alias2)))
      return m;
  return -1;
}

/* parse_time: "YYYY-MM-DD" (midnight UTC) or "YYYY-MM-DD[T ]HH:MM[:SS][Z]". */
static int parse_time(const char *s, int64_t *ms) {
  struct tm tm = {0};
  int used = 0;
  if (sscanf(s, "%4d-%2d-%2d%n", &tm.tm_year, &tm.tm_mon, &tm.tm_mday, &used) != 3 || used != 10) return -1;
  const char *t = s + 10;
  if (*t == 'T' || *t == ' ') {
    int n = 0;
    if (sscanf(t + 1, "%2d:%2d%n", &tm.tm_hour, &tm.tm_min, &n) != 2 || n != 5) return -1;
    t += 1 + n;
    if (*t == ':') {
      if (sscanf(t + 1, "%2d%n", &tm.tm_sec, &n) != 1 || n != 2) return -1;
      t += 1 + n;
    }
    if (*t == 'Z') t++;
  }
  if (*t || tm.tm_mon < 1 || tm.tm_mon > 12 || tm.tm_mday < 1 || tm.tm_mday > 31 || tm.tm_hour > 23 ||
      tm.tm_min > 59 || tm.tm_sec > 60)
    return -1;
  tm.tm_year -= 1900;
  tm.tm_mon -= 1;
  *ms = (int64_t)timegm(&tm) * 1000;
  return 0;
}

/* parse_amount: "52000", "52,000.5", "52000.00" into minor units (cents). */
static int parse_amount(const char *s, int64_t *out) {
  int64_t whole = 0;
  int digits = 0, decimals = -1;
  for (; *s; s++) {
    if (*s == ',' && decimals < 0) continue;
    if (*s == '.' && decimals < 0) {
      decimals = 0;
      continue;
    }
    if (*s < '0' || *s > '9' || digits > 15 || decimals >= 2) return -1;
    whole = whole * 10 + (*s - '0');
    digits++;
    if (decimals >= 0) decimals++;
  }
  if (!digits) return -1;
  for (int d = decimals < 0 ? 0 : decimals; d < 2; d++) whole *= 10;
  *out = whole;
  return 0;
}

/* row_to_signal converts one row's cells; returns 0 or fills |err|. */
static int row_to_signal(arena *a, char **cell, int n, const int *col_of, const char *source,
                         Accolade__V1__Signal *s, char *err, size_t cap) {
  for (int k = 0; k < n; k++) {
    const char *v = cell[k];
    if (!*v) continue;
    int c = col_of[k];
    if (COLUMNS[c].field) {
      if (pb_set(a, s->base.descriptor, s, COLUMNS[c].field, v, err, cap)) return -1;
    } else if (c == S_AT) {
      if (parse_time(v, &s->occur_time_ms)) return snprintf(err, cap, "occurred_at: not a date or time: %s", v), -1;
    } else if (c == S_AMOUNT) {
      if (parse_amount(v, &s->amount_minor)) return snprintf(err, cap, "amount: not an amount: %s", v), -1;
    } else if (c == S_PERCENT) {
      char *end;
      s->percent = strtod(v, &end);
      if (*end || end == v) return snprintf(err, cap, "percent: not a number: %s", v), -1;
    } else {   /* collaborators: "lena;jun" */
      char *copy = arena_strdup(a, v);
      size_t max = 1;
      for (const char *q = v; *q; q++) max += *q == ';' || *q == '|';
      s->collaborators = arena_alloc(a, max * sizeof *s->collaborators);
      for (char *save = NULL, *t = strtok_r(copy, ";|", &save); t; t = strtok_r(NULL, ";|", &save)) {
        while (*t == ' ') t++;
        for (char *e = t + strlen(t); e > t && e[-1] == ' ';) *--e = '\0';
        if (*t) s->collaborators[s->n_collaborators++] = t;
      }
    }
  }
  if (!*s->source && source) s->source = (char *)source;
  return 0;
}

/* The import's state: --source, and the service's verdicts summed over the batches. */
typedef struct signals_import {
  const char *path, *source;
  size_t created, dups, invalid, awards;
} signals_import;

static int check_header(void *arg, const int *have, const char **what, const char **detail) {
  const signals_import *si = arg;
  *what = "missing column";
  *detail = "(external_id, member_id, kind, occurred_at and source or --source)";
  return have[S_EXT] && have[S_MEMBER] && have[S_KIND] && have[S_AT] && (have[S_SOURCE] || si->source) ? 0 : -1;
}

static ProtobufCMessage *row(void *arg, arena *a, char **cell, int n, const int *col_of, char *err, size_t cap) {
  const signals_import *si = arg;
  Accolade__V1__Signal *s = arena_alloc(a, sizeof *s);
  accolade__v1__signal__init(s);
  return row_to_signal(a, cell, n, col_of, si->source, s, err, cap) ? NULL : &s->base;
}

static int send(void *arg, const cli *c, ProtobufCMessage **items, size_t n, const int *lines, int tty) {
  signals_import *si = arg;
  Accolade__V1__IngestSignalsRequest req = ACCOLADE__V1__INGEST_SIGNALS_REQUEST__INIT;
  req.signals = (Accolade__V1__Signal **)items;
  req.n_signals = n;
  arena call;
  arena_init(&call);
  Accolade__V1__IngestSignalsResponse *resp = NULL;
  int rc = cli_call(c, "signals import", "/accolade.v1.SignalService/IngestSignals", &req.base,
                    &accolade__v1__ingest_signals_response__descriptor, 1, 0, &call, (void **)&resp);
  if (rc == 0) {
    si->created += (size_t)resp->created;
    si->dups += (size_t)resp->duplicates;
    si->invalid += (size_t)resp->invalid;
    si->awards += resp->n_award_ids;
    for (size_t k = 0; k < resp->n_results; k++)
      if (resp->results[k]->status == ACCOLADE__V1__SIGNAL_RESULT__STATUS__INVALID)
        fprintf(stderr, "%saccolade signals import: %s:%d: %s\n", tty ? "\n" : "", si->path,
                lines[resp->results[k]->index], resp->results[k]->error);
  }
  arena_free(&call);
  return rc;
}

int cmd_signals_import(const cli *c, int argc, char **argv, int i) {
  signals_import si = {0};
  long batch = 500;
  int dry = 0;
  /* --source S is ours; the rest are the import options every import takes. */
  char **rest = malloc(sizeof *rest * (size_t)(argc + 1));
  int nrest = 0;
  for (int k = i; k < argc; k++) {
    if (!strcmp(argv[k], "--source") && k + 1 < argc) si.source = argv[++k];
    else rest[nrest++] = argv[k];
  }
  int bad = csv_import_args("signals import", nrest, rest, 0, &si.path, &batch, &dry);
  free(rest);
  if (bad) return EXIT_USAGE;
  const csv_import im = {
      .what = "signals import",
      .noun = "signals",
      .verb = "sent",
      .header_hint = "(source,external_id,member_id,kind,occurred_at,...)",
      .max_cols = MAX_COLS,
      .column_of = column_of,
      .check_header = check_header,
      .row = row,
      .send = send,
      .arg = &si,
  };
  size_t total, batches;
  int rc = csv_import_run(c, &im, si.path, batch, dry, &total, &batches);
  if (rc == 0) {
    if (c->json)
      printf("{\"rows\":%zu,\"created\":%zu,\"duplicates\":%zu,\"invalid\":%zu,\"awards\":%zu,\"batches\":%zu,"
             "\"dry_run\":%s}\n",
             total, si.created, si.dups, si.invalid, si.awards, batches, dry ? "true" : "false");
    else if (dry)
      printf("%s: %zu signals, all readable (dry run: nothing sent)\n", si.path, total);
    else
      printf("%zu signals from %s: %zu new, %zu already there, %zu invalid; %zu awards granted\n", total, si.path,
             si.created, si.dups, si.invalid, si.awards);
    if (si.invalid) rc = EXIT_DATAERR;
  }
  return rc;
}
