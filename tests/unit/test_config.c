#include <criterion/criterion.h>
#include <stdlib.h>

#include "config.h"

Test(config, flag_beats_env_beats_default) {
  char *argv[] = {"svc", "--port=1", NULL};
  config c;
  char err[256];
  cr_assert_eq(config_parse(&c, 2, argv, err, sizeof err), 0);
  setenv("ACC_TEST_PORT", "2", 1);
  cr_assert_str_eq(config_str(&c, "port", "ACC_TEST_PORT", "3"), "1");
  cr_assert_str_eq(config_str(&c, "other", "ACC_TEST_PORT", "3"), "2");
  unsetenv("ACC_TEST_PORT");
  cr_assert_str_eq(config_str(&c, "other", "ACC_TEST_PORT", "3"), "3");
}

Test(config, separate_value_and_bare_boolean_flags) {
  char *argv[] = {"svc", "--pg", "dbname=x", "--verbose", "--threads", "8", NULL};
  config c;
  char err[256];
  cr_assert_eq(config_parse(&c, 6, argv, err, sizeof err), 0);
  cr_assert_str_eq(config_str(&c, "pg", NULL, NULL), "dbname=x");
  int v = 0;
  cr_assert_eq(config_bool(&c, "verbose", NULL, 0, &v, err, sizeof err), 0);
  cr_assert_eq(v, 1);
  long t = 0;
  cr_assert_eq(config_int(&c, "threads", NULL, 4, 1, 64, &t, err, sizeof err), 0);
  cr_assert_eq(t, 8);
}

Test(config, bad_integers_name_the_flag) {
  char *argv[] = {"svc", "--threads=eight", "--port=70000", NULL};
  config c;
  char err[256];
  cr_assert_eq(config_parse(&c, 3, argv, err, sizeof err), 0);
  long t;
  cr_assert_eq(config_int(&c, "threads", "ACC_T", 4, 1, 64, &t, err, sizeof err), -1);
  cr_assert(strstr(err, "--threads") != NULL, "%s", err);
  cr_assert_eq(config_int(&c, "port", NULL, 1, 1, 65535, &t, err, sizeof err), -1);
  cr_assert(strstr(err, "--port") != NULL, "%s", err);
  cr_assert_eq(config_int(&c, "absent", NULL, 7, 1, 65535, &t, err, sizeof err), 0);
  cr_assert_eq(t, 7);
}

Test(config, positional_arguments_are_refused) {
  char *argv[] = {"svc", "oops", NULL};
  config c;
  char err[256];
  cr_assert_eq(config_parse(&c, 2, argv, err, sizeof err), -1);
  cr_assert(strstr(err, "oops") != NULL);
}

Test(config, booleans_accept_common_spellings_only) {
  char *argv[] = {"svc", "--a=off", "--b=maybe", NULL};
  config c;
  char err[256];
  int v = 1;
  cr_assert_eq(config_parse(&c, 3, argv, err, sizeof err), 0);
  cr_assert_eq(config_bool(&c, "a", NULL, 1, &v, err, sizeof err), 0);
  cr_assert_eq(v, 0);
  cr_assert_eq(config_bool(&c, "b", NULL, 1, &v, err, sizeof err), -1);
  cr_assert(strstr(err, "--b") != NULL);
}
