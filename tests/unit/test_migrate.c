#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "migrate.h"

static char dir[64];

static void remove_tmp(void) {
  char cmd[128];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
  if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", dir);
}

static void touch(const char *name) {
  char p[256];
  snprintf(p, sizeof p, "%s/%s", dir, name);
  FILE *f = fopen(p, "w");
  cr_assert_not_null(f);
  fputs("SELECT 1;\n", f);
  fclose(f);
}

static void mkdir_tmp(void) {
  snprintf(dir, sizeof dir, "/tmp/acc-migrate-XXXXXX");
  cr_assert_not_null(mkdtemp(dir));
  atexit(remove_tmp);
}

Test(migrate, files_sort_numerically_not_lexically) {
  mkdir_tmp();
  touch("10_ten.sql");
  touch("002_two.sql");
  touch("1_one.sql");
  touch("README.md");
  touch("003_three.sql.bak");
  touch("x_bad.sql");
  touch("0_zero.sql");
  migration_file f[8];
  char err[256];
  int n = migrate_list(dir, f, 8, err, sizeof err);
  cr_assert_eq(n, 3, "%s", err);
  cr_assert_eq(f[0].version, 1);
  cr_assert_str_eq(f[0].name, "1_one.sql");
  cr_assert_eq(f[1].version, 2);
  cr_assert_eq(f[2].version, 10);
}

Test(migrate, duplicate_versions_are_an_error) {
  mkdir_tmp();
  touch("001_a.sql");
  touch("1_b.sql");
  migration_file f[8];
  char err[256];
  cr_assert_eq(migrate_list(dir, f, 8, err, sizeof err), -1);
  cr_assert(strstr(err, "share version 1") != NULL, "%s", err);
}

Test(migrate, missing_folder_is_an_error) {
  migration_file f[8];
  char err[256];
  cr_assert_eq(migrate_list("/nonexistent/acc", f, 8, err, sizeof err), -1);
  cr_assert(strstr(err, "/nonexistent/acc") != NULL);
}

Test(migrate, runtime_migrations_exist) {
  migration_file f[8];
  char err[256];
  int n = migrate_list(migrate_common_dir(), f, 8, err, sizeof err);
  cr_assert_geq(n, 1, "%s", err);
  cr_assert_str_eq(f[0].name, "001_outbox.sql");
}
