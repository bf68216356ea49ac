/* settings.c - what svc-leaderboard reads once at start (how long boards
 * live) and whether the process is stopping; asked by record.c, reads.c and
 * rebuild.c, set by repair.c. */
#include <stdatomic.h>
#include <stdlib.h>

#include "boards.h"
#include "lb.h"

static long g_ttl_s = 400L * 86400;
static long g_day_ttl_s = 62L * 86400;

void lb_config_load(void) {
  const char *days = getenv("ACCOLADE_LEADERBOARD_RETENTION_DAYS");
  if (days && atol(days) > 0) g_ttl_s = atol(days) * 86400;
  days = getenv("ACCOLADE_LEADERBOARD_DAY_RETENTION_DAYS");
  if (days && atol(days) >= ROLLING_DAYS) g_day_ttl_s = atol(days) * 86400;
}

long lb_board_ttl(int window) {
  return window == WIN_ALL ? 0 : window == WIN_DAY ? g_day_ttl_s : g_ttl_s;
}

static atomic_int g_stop;

int lb_stopping(void) { return atomic_load(&g_stop); }

void lb_set_stopping(int stopping) { atomic_store(&g_stop, stopping); }
