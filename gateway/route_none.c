/* route_none.c - the production gateway routes the authz table and nothing
 * else. The test build (bin/gateway-test) links
 * tests/support/gateway_test_route.c in place of this file. */
#include <stddef.h>

#include "gateway.h"

const char *gateway_route_outside(const char *method, int *stream) {
  (void)method;
  (void)stream;
  return NULL;
}
