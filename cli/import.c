/* import.c - `accolade members import FILE.csv`: the members directory from
 * a spreadsheet export, in batches of UpsertMembers (idempotent, so a batch
 * that meets UNAVAILABLE is retried and a rerun of the whole file is safe).
 *
 * The first row names the columns, in any order: user_id (or id), and any of
 * display_name (name), email, team, manager_id (manager), remote, active.
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

enum { C_ID, C_NAME, C_EMAIL, C_TEAM, C_MANAGER, C_REMOTE, C_ACTIVE, C_N };

static const struct {
  const char *name, *alias, *field;
} COLUMNS[C_N] = {
    {"user_id", "id", "user_id"},         {"display_name", "name", "display_name"}, {"email", NULL, "email"},
    {"team", NULL, "team"},               {"manager_id", "manager", "manager_id"},  {"remote", NULL, "remote"},
    {"active", NULL, "active"},
};

/* csv_row splits the record at |*p| into |cell| (memory from |a|), moving
 * |*p| past it and counting physical lines in |*line|. Returns the number of
 * cells, 0 at the end of input, -1 on a malformed record. */
static int csv_row(arena *a, const char **p, int *line, char **cell, int max) {
  const char *s = *p;
  if (!*s) return 0;
  int n = 0;
  for (;;) {
    char *out = arena_alloc(a, strlen(s) + 1), *o = out;
    if (*s == '"') {
      s++;
      for (;;) {
        if (!*s) return -1;   /* unterminated quote */
        if (*s == '"' && s[1] == '"') {
          *o++ = '"';
          s += 2;
        } else if (*s == '"') {
          s++;
          break;
        } else {
          if (*s == '\n') (*line)++;
          *o++ = *s++;
        }
      }
      if (*s && *s != ',' && *s != '\n' && *s != '\r') return -1;
    } else {
      while (*s && *s != ',' && *s != '\n' && *s != '\r') *o++ = *s++;
    }
    *o = '\0';
    if (n == max) return -1;
    /* trim spaces around unquoted cells */
    char *t = out;
    while (*t == ' ') t++;
    for (char *e = t + strlen(t); e > t && e[-1] == ' ';) *--e = '\0';
    cell[n++] = t;
    if (*s == ',') {
      s++;
      continue;
    }
    if (*s == '\r') s++;
    if (*s == '\n') s++;
    (*line)++;
    *p = s;
    return n;
  }
}

static char *slurp(const char *path, size_t *len) {
  FILE *f = strcmp(path, "-") ? fopen(path, "rb") : stdin;
  if (!f) return NULL;
  size_t cap = 1 << 16, n = 0;
  char *buf = malloc(cap);
  for (size_t r; (r = fread(buf + n, 1, cap - n - 1, f)) > 0;) {
    n += r;
    if (n + 1 == cap) buf = realloc(buf, cap *= 2);
  }
  if (f != stdin) fclose(f);
  buf[n] = '\0';
  *len = n;
  return buf;
}

static int data_error(const char *path, int line, const char *what, const char *detail) {
  fprintf(stderr, "accolade members import: %s:%d: %s%s%s\n", path, line, what, detail ? " " : "",
          detail ? detail : "");
  return EXIT_DATAERR;
}

static int blank(char **cell, int n) {
  return n == 1 && !cell[0][0];
}

int cmd_members_import(const cli *c, int argc, char **argv, int i) {
  const char *path = NULL;
  long batch = 500;
  int dry = 0;
  for (int k = i; k < argc; k++) {
    if (!strcmp(argv[k], "--batch") && k + 1 < argc) {
      batch = atol(argv[++k]);
    } else if (!strcmp(argv[k], "--dry-run")) {
      dry = 1;
    } else if (argv[k][0] != '-' || !strcmp(argv[k], "-")) {
      if (path) {
        fprintf(stderr, "accolade members import: one file at a time\n");
        return EXIT_USAGE;
      }
      path = argv[k];
    } else {
      fprintf(stderr, "accolade members import: unknown option %s (--batch N, --dry-run)\n", argv[k]);
      return EXIT_USAGE;
    }
  }
  if (!path || batch < 1 || batch > 1000) {
    fprintf(stderr, "usage: accolade members import FILE.csv [--batch 1..1000] [--dry-run]\n");
    return EXIT_USAGE;
  }
  size_t len;
  char *text = slurp(path, &len);
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
    rc = data_error(path, 1, "no header row", "(user_id,display_name,email,team,manager_id,remote)");
    goto out;
  }
  for (int k = 0; k < ncols; k++) {
    col_of[k] = -1;
    for (int m = 0; m < C_N; m++)
      if (!strcasecmp(cell[k], COLUMNS[m].name) || (COLUMNS[m].alias && !strcasecmp(cell[k], COLUMNS[m].alias)))
        col_of[k] = m;
    if (col_of[k] < 0) {
      rc = data_error(path, 1, "unknown column", cell[k]);
      goto out;
    }
    have_id |= col_of[k] == C_ID;
  }
  if (!have_id) {
    rc = data_error(path, 1, "no user_id column", NULL);
    goto out;
  }
  /* check and convert every row first */
  size_t cap = 1024, total = 0;
  Accolade__V1__Member **all = malloc(cap * sizeof *all);
  for (;;) {
    int at = line, n = csv_row(&a, &p, &line, cell, MAX_COLS);
    if (n == 0) break;
    if (n < 0) {
      rc = data_error(path, at, "malformed row", "(quotes, or too many cells)");
      break;
    }
    if (blank(cell, n)) continue;
    if (n != ncols) {
      snprintf(err, sizeof err, "(%d cells, the header has %d)", n, ncols);
      rc = data_error(path, at, "wrong number of cells", err);
      break;
    }
    Accolade__V1__Member *m = arena_alloc(&a, sizeof *m);
    accolade__v1__member__init(m);
    m->active = 1;
    for (int k = 0; k < n && rc == 0; k++)
      if (cell[k][0] && pb_set(&a, m->base.descriptor, m, COLUMNS[col_of[k]].field, cell[k], err, sizeof err))
        rc = data_error(path, at, err, NULL);
    if (rc) break;
    if (!m->user_id[0]) {
      rc = data_error(path, at, "empty user_id", NULL);
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
