/* log: JSON-lines output. */
#include <criterion/criterion.h>

#include "log.h"

Test(log, json_escaping_is_safe) {
  char out[32];
  log_json_escape(out, sizeof out, "a\"b\\c\nd\x01");
  cr_assert_str_eq(out, "a\\\"b\\\\c\\nd\\u0001");
  char tiny[4];
  log_json_escape(tiny, sizeof tiny, "\"\"\"\"");
  cr_assert_str_eq(tiny, "\\\"");
  /* Plain runs are cut at the room left, escapes never split. */
  cr_assert_eq(log_json_escape(tiny, sizeof tiny, "abcdef"), 3);
  cr_assert_str_eq(tiny, "abc");
  char five[5];
  cr_assert_eq(log_json_escape(five, sizeof five, "ab\"cd"), 4);
  cr_assert_str_eq(five, "ab\\\"");
  cr_assert_eq(log_json_escape(tiny, sizeof tiny, "ab\"cd"), 2);
  cr_assert_str_eq(tiny, "ab");
  /* UTF-8 passes through; a NULL is empty. */
  cr_assert_eq(log_json_escape(out, sizeof out, "caf\xc3\xa9 \t"), 8);
  cr_assert_str_eq(out, "caf\xc3\xa9 \\t");
  cr_assert_eq(log_json_escape(out, sizeof out, NULL), 0);
  cr_assert_str_eq(out, "");
}
