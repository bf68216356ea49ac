/* migrate.c - apply NNN_*.sql files once each, in order, under an advisory lock. */
#include "migrate.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "pg.h"

#ifndef ACCOLADE_COMMON_MIGRATIONS
#define ACCOLADE_COMMON_MIGRATIONS "common/migrations"
#endif

const char *migrate_common_dir(void) {
  const char *d = getenv("ACCOLADE_COMMON_MIGRATIONS");
  return d && *d ? d : ACCOLADE_COMMON_MIGRATIONS;
}

static int cmp_version(const void *a, const void *b) {
  const migration_file *x = a, *y = b;
  return (x->version > y->version) - (x->version < y->version);
}

/* parse_name accepts "NNN_name.sql" and returns the version, or -1. */
static int parse_name(const char *name) {
  const char *p = name;
  long v = 0;
  if (!isdigit((unsigned char)*p)) return -1;
  while (isdigit((unsigned char)*p)) {
    v = v * 10 + (*p - '0');
    if (v > 1000000) return -1;
    p++;
  }
  if (*p != '_' || v <= 0) return -1;
  size_t n = strlen(name);
  if (n < 5 || strcmp(name + n - 4, ".sql") != 0) return -1;
  return (int)v;
}

int migrate_list(const char *dir, migration_file *out, int cap, char *err, size_t errlen) {
  DIR *d = opendir(dir);
  if (!d) {
    snprintf(err, errlen, "cannot read migrations folder %s: %s", dir, strerror(errno));
    return -1;
  }
  int n = 0;
  struct dirent *e;
  while ((e = readdir(d))) {
    int v = parse_name(e->d_name);
    if (v < 0) continue;
    if (n == cap || strlen(e->d_name) >= sizeof out[0].name) {
      snprintf(err, errlen, "too many migrations or name too long in %s", dir);
      closedir(d);
      return -1;
    }
    out[n].version = v;
    snprintf(out[n].name, sizeof out[n].name, "%s", e->d_name);
    n++;
  }
  closedir(d);
  qsort(out, (size_t)n, sizeof *out, cmp_version);
  for (int i = 1; i < n; i++) {
    if (out[i].version == out[i - 1].version) {
      snprintf(err, errlen, "migrations %s and %s share version %d", out[i - 1].name, out[i].name,
               out[i].version);
      return -1;
    }
  }
  return n;
}

static char *read_file(const char *path) {
  FILE *f = fopen(path, "rb");
  if (!f) return NULL;
  fseek(f, 0, SEEK_END);
  long n = ftell(f);
  fseek(f, 0, SEEK_SET);
  char *buf = malloc((size_t)n + 1);
  if (buf && fread(buf, 1, (size_t)n, f) != (size_t)n) {
    free(buf);
    buf = NULL;
  }
  if (buf) buf[n] = '\0';
  fclose(f);
  return buf;
}

/* apply_stream applies the files of |dir| not yet recorded under |stream|. */
static int apply_stream(PGconn *c, const char *stream, const char *dir) {
  static migration_file files[MIGRATE_MAX_FILES];
  char err[512];
  int n = migrate_list(dir, files, MIGRATE_MAX_FILES, err, sizeof err);
  if (n < 0) {
    log_error("migrations: %s", err);
    return -1;
  }
  for (int i = 0; i < n; i++) {
    char ver[16];
    snprintf(ver, sizeof ver, "%d", files[i].version);
    const char *p[] = {stream, ver};
    PGresult *r = PQexecParams(c, "SELECT 1 FROM schema_migrations WHERE stream=$1 AND version=$2",
                               2, NULL, p, NULL, NULL, 0);
    int done = PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) == 1;
    int failed = PQresultStatus(r) != PGRES_TUPLES_OK;
    PQclear(r);
    if (failed) return -1;
    if (done) continue;
    char path[1024];
    snprintf(path, sizeof path, "%s/%s", dir, files[i].name);
    char *sql = read_file(path);
    if (!sql) {
      log_error("migrations: cannot read %s", path);
      return -1;
    }
    PGresult *b = PQexec(c, "BEGIN");
    PQclear(b);
    /* A migration file is trusted code of the service, run as a script. */
    PGresult *m = PQexec(c, sql);
    int ok = PQresultStatus(m) == PGRES_COMMAND_OK || PQresultStatus(m) == PGRES_TUPLES_OK;
    if (!ok) log_error("migration %s/%s failed: %s", stream, files[i].name, PQresultErrorMessage(m));
    PQclear(m);
    free(sql);
    if (ok) {
      const char *q[] = {stream, ver, files[i].name};
      PGresult *rec = PQexecParams(
          c, "INSERT INTO schema_migrations(stream, version, name) VALUES ($1, $2, $3)", 3, NULL, q,
          NULL, NULL, 0);
      ok = PQresultStatus(rec) == PGRES_COMMAND_OK;
      PQclear(rec);
    }
    PGresult *e = PQexec(c, ok ? "COMMIT" : "ROLLBACK");
    ok = ok && PQresultStatus(e) == PGRES_COMMAND_OK;
    PQclear(e);
    if (!ok) return -1;
    log_info("migration applied: %s/%s", stream, files[i].name);
  }
  return 0;
}

static int exec_ok(PGconn *c, const char *sql) {
  PGresult *r = PQexec(c, sql);
  int ok = PQresultStatus(r) == PGRES_COMMAND_OK || PQresultStatus(r) == PGRES_TUPLES_OK;
  if (!ok) log_error("migrations: %s: %s", sql, PQresultErrorMessage(r));
  PQclear(r);
  return ok ? 0 : -1;
}

int migrate_run(const char *dir) {
  PGconn *c = pg_conn();
  if (!c) {
    log_error("migrations: postgres unreachable");
    return -1;
  }
  const char *schema = pg_schema();
  char *ident = PQescapeIdentifier(c, schema, strlen(schema));
  char sql[256];
  int rc = -1;
  const char *p[] = {schema};
  /* One lock per schema: hashtext gives a stable 32-bit key. */
  PGresult *l = PQexecParams(c, "SELECT pg_advisory_lock(hashtext('accolade.migrate.' || $1))", 1,
                             NULL, p, NULL, NULL, 0);
  int locked = PQresultStatus(l) == PGRES_TUPLES_OK;
  PQclear(l);
  if (!locked) {
    log_error("migrations: cannot take the advisory lock: %s", PQerrorMessage(c));
    PQfreemem(ident);
    return -1;
  }
  snprintf(sql, sizeof sql, "CREATE SCHEMA IF NOT EXISTS %s", ident);
  if (exec_ok(c, sql) != 0) goto out;
  /* Re-resolve search_path now that the schema surely exists. */
  snprintf(sql, sizeof sql, "SET search_path TO %s, public", ident);
  if (exec_ok(c, sql) != 0) goto out;
  if (exec_ok(c, "CREATE TABLE IF NOT EXISTS schema_migrations ("
                 " stream text NOT NULL, version integer NOT NULL, name text NOT NULL,"
                 " applied_at timestamptz NOT NULL DEFAULT now(),"
                 " PRIMARY KEY (stream, version))") != 0)
    goto out;
  if (apply_stream(c, "common", migrate_common_dir()) != 0) goto out;
  if (dir && apply_stream(c, "service", dir) != 0) goto out;
  rc = 0;
out:;
  PGresult *u = PQexecParams(c, "SELECT pg_advisory_unlock(hashtext('accolade.migrate.' || $1))",
                             1, NULL, p, NULL, NULL, 0);
  PQclear(u);
  PQfreemem(ident);
  return rc;
}
