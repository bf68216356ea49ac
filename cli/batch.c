/* batch.c - an import from a CSV file in checked batches, the frame that
 * `members import` (import.c) and `signals import` (signals.c) share: read
 * the file, map its header, convert every row before the first call (a bad
 * row imports nothing), then send the rows in batches with progress, and
 * stop at the first batch that fails (the calls are idempotent: a rerun of
 * the file is safe). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"

#define BATCH_MAX_COLS 32

static int data_error(const csv_import *im, const char *path, int line, const char *what, const char *detail) {
  fprintf(stderr, "accolade %s: %s:%d: %s%s%s\n", im->what, path, line, what, detail ? " " : "",
          detail ? detail : "");
  return EXIT_DATAERR;
}

/* read_header maps the header row's columns into |col_of|; 0 or the exit status. */
static int read_header(const csv_import *im, arena *a, const char **p, int *line, const char *path, int *col_of,
                       int *ncols) {
  char *cell[BATCH_MAX_COLS];
  int have[BATCH_MAX_COLS] = {0};
  if (!strncmp(*p, "\xEF\xBB\xBF", 3)) *p += 3;   /* a spreadsheet's UTF-8 mark */
  *ncols = csv_row(a, p, line, cell, im->max_cols);
  if (*ncols <= 0) return data_error(im, path, 1, "no header row", im->header_hint);
  for (int k = 0; k < *ncols; k++) {
    if ((col_of[k] = im->column_of(cell[k])) < 0) return data_error(im, path, 1, "unknown column", cell[k]);
    have[col_of[k]] = 1;
  }
  const char *what = NULL, *detail = NULL;
  if (im->check_header(im->arg, have, &what, &detail)) return data_error(im, path, 1, what, detail);
  return 0;
}

/* read_rows converts every data row; 0 or the exit status. The caller frees
 * *items and *lines (the rows' first lines). */
static int read_rows(const csv_import *im, arena *a, const char **p, int *line, const char *path, const int *col_of,
                     int ncols, ProtobufCMessage ***items, int **lines, size_t *total) {
  char *cell[BATCH_MAX_COLS], err[256];
  size_t cap = 1024;
  *total = 0;
  *items = malloc(cap * sizeof **items);
  *lines = malloc(cap * sizeof **lines);
  for (;;) {
    int at, n = csv_next(a, p, line, cell, im->max_cols, ncols, &at, err, sizeof err);
    if (n == 0) return 0;
    if (n < 0) return data_error(im, path, at, err, NULL);
    ProtobufCMessage *m = im->row(im->arg, a, cell, n, col_of, err, sizeof err);
    if (!m) return data_error(im, path, at, err, NULL);
    if (*total == cap) {
      cap *= 2;
      *items = realloc(*items, cap * sizeof **items);
      *lines = realloc(*lines, cap * sizeof **lines);
    }
    (*lines)[*total] = at;
    (*items)[(*total)++] = m;
  }
}

int csv_import_run(const cli *c, const csv_import *im, const char *path, long batch, int dry, size_t *rows,
                   size_t *batches) {
  size_t len;
  char *text = csv_slurp(path, &len);
  if (!text) {
    fprintf(stderr, "accolade %s: cannot read %s\n", im->what, path);
    return EXIT_NOINPUT;
  }
  arena a;
  arena_init(&a);
  int line = 1, col_of[BATCH_MAX_COLS], ncols;
  const char *p = text;
  ProtobufCMessage **items = NULL;
  int *lines = NULL;
  *rows = *batches = 0;
  int rc = read_header(im, &a, &p, &line, path, col_of, &ncols);
  if (rc == 0) rc = read_rows(im, &a, &p, &line, path, col_of, ncols, &items, &lines, rows);
  size_t done = 0, total = *rows;
  int tty = isatty(2) && !c->json;
  for (size_t at = 0; rc == 0 && !dry && at < total; at += (size_t)batch) {
    size_t n = total - at < (size_t)batch ? total - at : (size_t)batch;
    rc = im->send(im->arg, c, items + at, n, lines + at, tty);
    if (rc == 0) {
      done += n;
      (*batches)++;
      fprintf(stderr, tty ? "\r%s %zu/%zu %s" : "%s %zu/%zu %s\n", im->verb, done, total, im->noun);
    } else {
      fprintf(stderr, "%saccolade %s: stopped at row %zu of %zu; %zu %s (a rerun is safe)\n", tty ? "\n" : "",
              im->what, at + 1, total, done, im->verb);
    }
  }
  if (tty && *batches) fputc('\n', stderr);
  free(items);
  free(lines);
  arena_free(&a);
  free(text);
  return rc;
}
