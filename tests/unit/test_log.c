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
}
