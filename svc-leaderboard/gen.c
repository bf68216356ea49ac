/* gen.c - the generations last seen, per org (see gen.h). A fixed table:
 * an org whose slot another took starts again from 0 and learns its
 * generation from its next round trip. */
#include "gen.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hash.h"

#define SLOTS 1024

static struct {
  char org[136];
  int64_t gen;
} g_slots[SLOTS];
static pthread_mutex_t g_mu = PTHREAD_MUTEX_INITIALIZER;

int64_t lb_gen_get(const char *org) {
  unsigned i = hash_str(HASH_INIT, org) % SLOTS;
  pthread_mutex_lock(&g_mu);
  int64_t gen = strcmp(g_slots[i].org, org) == 0 ? g_slots[i].gen : 0;
  pthread_mutex_unlock(&g_mu);
  return gen;
}

void lb_gen_set(const char *org, int64_t gen) {
  unsigned i = hash_str(HASH_INIT, org) % SLOTS;
  pthread_mutex_lock(&g_mu);
  snprintf(g_slots[i].org, sizeof g_slots[i].org, "%s", org);
  g_slots[i].gen = gen;
  pthread_mutex_unlock(&g_mu);
}

void lb_gen_key(char *out, size_t cap, const char *org) { snprintf(out, cap, "lb:{%s}:gen", org); }

int64_t lb_gen_parse(const char *s) { return s && *s ? strtoll(s, NULL, 10) : 0; }
