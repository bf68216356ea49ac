/* csv.c - RFC 4180 records from a file, for the import commands. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

int csv_row(arena *a, const char **p, int *line, char **cell, int max) {
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

char *csv_slurp(const char *path, size_t *len) {
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

int csv_blank(char **cell, int n) { return n == 1 && !cell[0][0]; }

int csv_import_args(const char *what, int argc, char **argv, int i, const char **path, long *batch, int *dry) {
  for (int k = i; k < argc; k++) {
    if (!strcmp(argv[k], "--batch") && k + 1 < argc) {
      *batch = atol(argv[++k]);
    } else if (!strcmp(argv[k], "--dry-run")) {
      *dry = 1;
    } else if (argv[k][0] != '-' || !strcmp(argv[k], "-")) {
      if (*path) {
        fprintf(stderr, "accolade %s: one file at a time\n", what);
        return -1;
      }
      *path = argv[k];
    } else {
      fprintf(stderr, "accolade %s: unknown option %s (--batch N, --dry-run)\n", what, argv[k]);
      return -1;
    }
  }
  if (!*path || *batch < 1 || *batch > 1000) {
    fprintf(stderr, "usage: accolade %s FILE.csv [--batch 1..1000] [--dry-run]\n", what);
    return -1;
  }
  return 0;
}

int csv_next(arena *a, const char **p, int *line, char **cell, int max, int ncols, int *at, char *err, size_t cap) {
  for (;;) {
    *at = *line;
    int n = csv_row(a, p, line, cell, max);
    if (n == 0) return 0;
    if (n < 0) return snprintf(err, cap, "malformed row (quotes, or too many cells)"), -1;
    if (csv_blank(cell, n)) continue;
    if (n != ncols) return snprintf(err, cap, "wrong number of cells (%d cells, the header has %d)", n, ncols), -1;
    return n;
  }
}
