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

static int column_of(const char *header) {
  for (int m = 0; m < C_N; m++)
    if (!strcasecmp(header, COLUMNS[m].name) || (COLUMNS[m].alias && !strcasecmp(header, COLUMNS[m].alias)) ||
        (m == C_ID && !strcasecmp(header, "id")))
      return m;
  return -1;
}

static int check_header(void *arg, const int *have, const char **what, const char **detail) {
  (void)arg;
  *what = "no member_id (or user_id) column";
  *detail = NULL;
  return have[C_ID] ? 0 : -1;
}

static ProtobufCMessage *row(void *arg, arena *a, char **cell, int n, const int *col_of, char *err, size_t cap) {
  (void)arg;
  Accolade__V1__Member *m = arena_alloc(a, sizeof *m);
  accolade__v1__member__init(m);
  for (int k = 0; k < n; k++) {
    if (cell[k][0] && pb_set(a, m->base.descriptor, m, COLUMNS[col_of[k]].field, cell[k], err, cap)) return NULL;
    /* UpsertMembers reads deactivated (Member.active is for answers). */
    if (cell[k][0] && col_of[k] == C_ACTIVE) m->deactivated = !m->active;
  }
  if (!m->member_id[0]) {
    snprintf(err, cap, "empty member_id");
    return NULL;
  }
  return &m->base;
}

static int send(void *arg, const cli *c, ProtobufCMessage **items, size_t n, const int *lines, int tty) {
  (void)arg;
  (void)lines;
  (void)tty;
  Accolade__V1__UpsertMembersRequest req = ACCOLADE__V1__UPSERT_MEMBERS_REQUEST__INIT;
  req.members = (Accolade__V1__Member **)items;
  req.n_members = n;
  arena call;
  arena_init(&call);
  Accolade__V1__UpsertMembersResponse *resp = NULL;
  int rc = cli_call(c, "members import", "/accolade.v1.NominationService/UpsertMembers", &req.base,
                    &accolade__v1__upsert_members_response__descriptor, 1, 0, &call, (void **)&resp);
  arena_free(&call);
  return rc;
}

int cmd_members_import(const cli *c, int argc, char **argv, int i) {
  const char *path = NULL;
  long batch = 500;
  int dry = 0;
  if (csv_import_args("members import", argc, argv, i, &path, &batch, &dry)) return EXIT_USAGE;
  static const csv_import im = {
      .what = "members import",
      .noun = "members",
      .verb = "imported",
      .header_hint = "(member_id,display_name,email,team,manager_id,remote)",
      .max_cols = MAX_COLS,
      .column_of = column_of,
      .check_header = check_header,
      .row = row,
      .send = send,
  };
  size_t total, batches;
  int rc = csv_import_run(c, &im, path, batch, dry, &total, &batches);
  if (rc == 0) {
    size_t done = dry ? 0 : total;
    if (c->json)
      printf("{\"imported\":%zu,\"rows\":%zu,\"batches\":%zu,\"dry_run\":%s}\n", done, total, batches,
             dry ? "true" : "false");
    else if (dry)
      printf("%s: %zu members, all valid (dry run: nothing imported)\n", path, total);
    else
      printf("imported %zu members from %s in %zu batch%s\n", done, path, batches, batches == 1 ? "" : "es");
  }
  return rc;
}
