/* live.c - waking Subscribe streams when their member's inbox changes.
 *
 * One thread per process LISTENs on LIVE_CHANNEL; the intake asks for
 * pg_notify(LIVE_CHANNEL, 'org/user') for every inbox row it writes, sent
 * after its transaction commits (pg_notify_after_commit), so the notification
 * arrives after the row is committed. Each (org, user) maps
 * to one of LIVE_BUCKETS version counters; a stream queries Postgres only when
 * its counter moves (a hash collision costs one extra query, never a missed
 * row). Streams sleep in the runtime's scheduler with "my counter moved" as
 * their condition, and each batch of notifications kicks it (rpc_streams_kick).
 * When the LISTEN connection is lost and made again, every counter's base
 * moves, so every stream queries once: nothing committed meanwhile is missed.
 * Streams also query every LIVE_FALLBACK_MS regardless, as a last resort.
 */
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "hash.h"
#include "log.h"
#include "notify.h"
#include "pg.h"

#define LIVE_BUCKETS 4096

static _Atomic uint64_t g_bucket[LIVE_BUCKETS];
static _Atomic uint64_t g_epoch;   /* moves on every (re)connect of the listener */
static pthread_t g_thread;
static atomic_int g_stop;
static int g_started;

static uint32_t key_hash(const char *org, const char *user) {
  return hash_str(hash_str(hash_str(HASH_INIT, org), "/"), user);   /* "org/user" */
}

uint64_t live_version(const char *org, const char *user) {
  return atomic_load(&g_bucket[key_hash(org, user) % LIVE_BUCKETS]) + atomic_load(&g_epoch);
}

static void bump(const char *payload) {
  const char *slash = strchr(payload, '/');
  if (!slash) return;
  char org[256];
  snprintf(org, sizeof org, "%.*s", (int)(slash - payload), payload);
  uint32_t b = key_hash(org, slash + 1) % LIVE_BUCKETS;
  atomic_fetch_add(&g_bucket[b], 1);
}

static void bump_all(void) {
  atomic_fetch_add(&g_epoch, 1);
  rpc_streams_kick();
}

static void *listener(void *arg) {
  (void)arg;
  PGconn *c = NULL;
  while (!atomic_load(&g_stop)) {
    if (!c || PQstatus(c) != CONNECTION_OK) {
      if (c) PQfinish(c);
      c = pg_connect_new();
      PGresult *r = c ? PQexec(c, "LISTEN " LIVE_CHANNEL) : NULL;
      int ok = r && PQresultStatus(r) == PGRES_COMMAND_OK;
      PQclear(r);
      if (!ok) {
        if (c) PQfinish(c);
        c = NULL;
        for (int i = 0; i < 10 && !atomic_load(&g_stop); i++) {   /* retry in 1 s */
          struct timespec t = {0, 100 * 1000000L};
          nanosleep(&t, NULL);
        }
        continue;
      }
      bump_all();   /* whatever committed while nobody listened */
    }
    struct pollfd p = {PQsocket(c), POLLIN, 0};
    if (poll(&p, 1, 200) <= 0) continue;
    if (!PQconsumeInput(c)) {
      log_warn("live: the LISTEN connection failed: %s", PQerrorMessage(c));
      PQfinish(c);
      c = NULL;
      continue;
    }
    int any = 0;
    for (PGnotify *n; (n = PQnotifies(c)); PQfreemem(n), any = 1) bump(n->extra);
    if (any) rpc_streams_kick();
  }
  if (c) PQfinish(c);
  return NULL;
}

void live_start(void) {
  atomic_store(&g_stop, 0);
  g_started = pthread_create(&g_thread, NULL, listener, NULL) == 0;
}

void live_stop(void) {
  atomic_store(&g_stop, 1);
  if (g_started) pthread_join(g_thread, NULL);
  g_started = 0;
}
