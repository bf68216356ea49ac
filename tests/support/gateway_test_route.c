/* gateway_test_route.c - the test build's gateway_route_outside (see
 * gateway.h): ACCOLADE_GATEWAY_TEST_ROUTE="<method prefix>=<addr>" routes a
 * test service of the tests' own, to any role. Only /accolade.test.*
 * methods: never a way around the authz table. Linked into bin/gateway-test
 * only; the production gateway links gateway/route_none.c. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gateway.h"

static char g_prefix[300], g_addr[300];

/* load reads the route before main, so a route the gateway may not take
 * stops the process at start, as a bad setting does. */
__attribute__((constructor)) static void load(void) {
  const char *test = getenv("ACCOLADE_GATEWAY_TEST_ROUTE");
  if (!test || !strchr(test, '=')) return;
  char buf[300];
  snprintf(buf, sizeof buf, "%s", test);
  char *eq = strchr(buf, '=');
  *eq = '\0';
  if (strncmp(buf, "/accolade.test.", 15) != 0) {
    fprintf(stderr, "ACCOLADE_GATEWAY_TEST_ROUTE may only route /accolade.test.* methods, not %s\n", buf);
    exit(2);
  }
  snprintf(g_prefix, sizeof g_prefix, "%s", buf);
  snprintf(g_addr, sizeof g_addr, "%s", eq + 1);
}

const char *gateway_route_outside(const char *method, int *stream) {
  if (!g_prefix[0] || strncmp(method, g_prefix, strlen(g_prefix)) != 0) return NULL;
  *stream = strstr(method, "/Stream") != NULL;
  return g_addr;
}
