/* import.c - `accolade members import FILE.csv`: the members directory from
 * a spreadsheet export, in batches of UpsertMembers (idempotent, so a batch
 * that meets UNAVAILABLE is retried and a rerun of the whole file is safe).
 *
 * The first row names the columns, in any order: member_id (or user_id, id), and any of
 * display_name (name), email, team, manager_id (manager), remote, active
 * or deactivated (a member is active unless the row says otherwise: no such
 * column, or an empty cell, imports an active member).
 * RFC 4180 quoting ("a, b" and "" inside quotes). The whole file is checked
 * before the first call, so a bad row imports nothing.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <json-c/json.h>

#include "accolade/v1/nomination.pb-c.h"
#include "cli.h"
#include "pbfill.h"

#define MAX_COLS 16

enum { C_ID, C_NAME, C_EMAIL, C_TEAM, C_MANAGER, C_REMOTE, C_ACTIVE, C_DEACTIVATED, C_N };

static const struct {
  const char *name, *alias, *field;
} COLUMNS[C_N] = {
    {"member_id", "user_id", "member_id"},       {"display_name", "name", "display_name"}, {"email", NULL, "email"},
    {"team", NULL, "team"},               {"manager_id", "manager", "manager_id"},  {"remote", NULL, "remote"},
    {"active", NULL, "active"},           {"deactivated", NULL, "deactivated"},
};

static int data_error(const char *path, int line, const char *what, const char *detail) {
  fprintf(stderr, "accolade members import: %s:%d: %s%s%s\n", path, line, what, detail ? " " : "",
          detail ? detail : "");
  return EXIT_DATAERR;
}

int cmd_members_import(const cli *c, int argc, char **argv, int i) {
  const char *path = NULL;
  long batch = 500;
  int dry = 0;
  if (csv_import_args("members import", argc, argv, i, &path, &batch, &dry)) return EXIT_USAGE;
  size_t len;
  char *text = csv_slurp(path, &len);
  if (!text) {
    fprintf(stderr, "accolade members import: cannot read %s\n", path);
    return EXIT_NOINPUT;
  }
  arena a;
  arena_init(&a);
  int rc = 0, line = 1, col_of[MAX_COLS];
  char *cell[MAX_COLS], err[256];
  const char *p = text;
  if (!strncmp(p, "\xEF\xBB\xBF", 3)) p += 3;   /* a spreadsheet's UTF-8 mark */
  int ncols = csv_row(&a, &p, &line, cell, MAX_COLS), have_id = 0;
  if (ncols <= 0) {
    rc = data_error(path, 1, "no header row", "(member_id,display_name,email,team,manager_id,remote)");
    goto out;
  }
  for (int k = 0; k < ncols; k++) {
    col_of[k] = -1;
    for (int m = 0; m < C_N; m++)
      if (!strcasecmp(cell[k], COLUMNS[m].name) || (COLUMNS[m].alias && !strcasecmp(cell[k], COLUMNS[m].alias)) ||
          (m == C_ID && !strcasecmp(cell[k], "id")))
        col_of[k] = m;
    if (col_of[k] < 0) {
      rc = data_error(path, 1, "unknown column", cell[k]);
      goto out;
    }
    have_id |= col_of[k] == C_ID;
  }
  if (!have_id) {
    rc = data_error(path, 1, "no member_id (or user_id) column", NULL);
    goto out;
  }
  /* check and convert every row first */
  size_t cap = 1024, total = 0;
  Accolade__V1__Member **all = malloc(cap * sizeof *all);
  for (;;) {
    int at, n = csv_next(&a, &p, &line, cell, MAX_COLS, ncols, &at, err, sizeof err);
    if (n == 0) break;
    if (n < 0) {
      rc = data_error(path, at, err, NULL);
      break;
    }
    Accolade__V1__Member *m = arena_alloc(&a, sizeof *m);
    accolade__v1__member__init(m);
    for (int k = 0; k < n && rc == 0; k++) {
      if (cell[k][0] && pb_set(&a, m->base.descriptor, m, COLUMNS[col_of[k]].field, cell[k], err, sizeof err))
        rc = data_error(path, at, err, NULL);
      /* UpsertMembers reads deactivated (Member.active is for answers). */
      if (cell[k][0] && col_of[k] == C_ACTIVE) m->deactivated = !m->active;
    }
    if (rc) break;
    if (!m->member_id[0]) {
      rc = data_error(path, at, "empty member_id", NULL);
      break;
    }
    if (total == cap) all = realloc(all, (cap *= 2) * sizeof *all);
    all[total++] = m;
  }
  size_t done = 0, batches = 0;
  int tty = isatty(2) && !c->json;
  for (size_t at = 0; rc == 0 && !dry && at < total; at += (size_t)batch) {
    Accolade__V1__UpsertMembersRequest req = ACCOLADE__V1__UPSERT_MEMBERS_REQUEST__INIT;
    req.members = all + at;
    req.n_members = total - at < (size_t)batch ? total - at : (size_t)batch;
    arena call;
    arena_init(&call);
    Accolade__V1__UpsertMembersResponse *resp = NULL;
    rc = cli_call(c, "members import", "/accolade.v1.NominationService/UpsertMembers", &req.base,
                  &accolade__v1__upsert_members_response__descriptor, 1, 0, &call, (void **)&resp);
    if (rc == 0) {
      done += req.n_members;
      batches++;
      fprintf(stderr, tty ? "\rimported %zu/%zu members" : "imported %zu/%zu members\n", done, total);
    } else {
      fprintf(stderr, "%saccolade members import: stopped at row %zu of %zu; %zu imported (a rerun is safe)\n",
              tty ? "\n" : "", at + 1, total, done);
    }
    arena_free(&call);
  }
  if (tty && batches) fputc('\n', stderr);
  if (rc == 0) {
    if (c->json)
      printf("{\"imported\":%zu,\"rows\":%zu,\"batches\":%zu,\"dry_run\":%s}\n", done, total, batches,
             dry ? "true" : "false");
    else if (dry)
      printf("%s: %zu members, all valid (dry run: nothing imported)\n", path, total);
    else
      printf("imported %zu members from %s in %zu batch%s\n", done, path, batches, batches == 1 ? "" : "es");
  }
  free(all);
out:
  arena_free(&a);
  free(text);
  return rc;
}
