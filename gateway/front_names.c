/* front_names.c - the services' addresses, looked up off the loops.
 *
 * A name lookup (getaddrinfo) waits on DNS, seconds when DNS is slow; on a
 * loop it would hold every caller of that loop meanwhile. One thread looks
 * each service's name up every resolve_ms, and at once (at most every
 * NAMES_RETRY_MS) when a loop finds none of a service's addresses
 * answering, and publishes what it found; a loop takes the new list when
 * its generation has moved (names_take, one atomic load per call otherwise).
 * A lookup that finds nothing keeps the last addresses found: a DNS outage
 * is no reason to drop connections to services that still answer. */
#include <netdb.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>

#include "clock.h"
#include "front_internal.h"
#include "log.h"
#include "svc.h"

enum { NAMES_RETRY_MS = 1000 };

const char *const k_services[NSERVICES] = {"award", "nomination", "leaderboard", "notify"};

static struct {
  pthread_mutex_t mu;
  pthread_cond_t cv;
  pthread_t th;
  int running, stop;          /* under mu */
  int every_ms;
  names list[NSERVICES];      /* under mu */
  atomic_uint gen[NSERVICES]; /* moves when list[] changes */
  int asked[NSERVICES];       /* under mu: a loop found nothing answering */
  int64_t looked_ms[NSERVICES];
} g = {.mu = PTHREAD_MUTEX_INITIALIZER, .cv = PTHREAD_COND_INITIALIZER};

char *front_host_port(char *hp, const char **port) {
  char *colon = strrchr(hp, ':');
  if (!colon) return NULL;
  *colon = '\0';
  *port = colon + 1;
  if (hp[0] == '[' && colon > hp + 1 && colon[-1] == ']') {   /* [::1]:50051 */
    colon[-1] = '\0';
    hp++;
  }
  return hp;
}

/* look_up fills |out| with the distinct addresses of |target| ("host:port"
 * or "[v6]:port", several comma-separated, "ipv4:", "ipv6:" or "dns:///" in
 * front, every record of a name, IPv4 and IPv6). */
static void look_up(const char *target, names *out) {
  memset(out, 0, sizeof *out);
  char list[512];
  snprintf(list, sizeof list, "%s", target);
  char *t = list;
  if (!strncmp(t, "ipv4:", 5) || !strncmp(t, "ipv6:", 5)) t += 5;
  if (!strncmp(t, "dns:///", 7)) t += 7;
  for (char *save = NULL, *hp = strtok_r(t, ",", &save); hp && out->n < MAX_NAMES; hp = strtok_r(NULL, ",", &save)) {
    const char *port;
    const char *host = front_host_port(hp, &port);
    if (!host) continue;
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM}, *ai = NULL;
    if (getaddrinfo(host, port, &hints, &ai) != 0) continue;
    for (struct addrinfo *a = ai; a && out->n < MAX_NAMES; a = a->ai_next) {
      int seen = 0;
      for (int i = 0; i < out->n && !seen; i++)
        seen = out->alen[i] == a->ai_addrlen && !memcmp(&out->addr[i], a->ai_addr, a->ai_addrlen);
      if (seen) continue;
      memcpy(&out->addr[out->n], a->ai_addr, a->ai_addrlen);
      out->alen[out->n++] = a->ai_addrlen;
    }
    freeaddrinfo(ai);
  }
}

/* refresh (mu not held) looks service |s| up and publishes a change. */
static void refresh(int s) {
  names fresh;
  const char *target = svc_addr(k_services[s]);
  look_up(target, &fresh);
  pthread_mutex_lock(&g.mu);
  if (fresh.n == 0) {
    if (g.list[s].n > 0) log_warn("front: %s (%s) found no address; keeping the last %d", k_services[s], target,
                                  g.list[s].n);
  } else if (memcmp(&fresh, &g.list[s], sizeof fresh) != 0) {
    g.list[s] = fresh;
    atomic_fetch_add(&g.gen[s], 1);
  }
  pthread_mutex_unlock(&g.mu);
}

static void *names_main(void *arg) {
  (void)arg;
  pthread_mutex_lock(&g.mu);
  while (!g.stop) {
    int64_t now = clock_now_us() / 1000, wait_ms = g.every_ms;
    for (int s = 0; s < NSERVICES; s++) {
      int64_t since = now - g.looked_ms[s];
      int64_t due_in = g.asked[s] ? NAMES_RETRY_MS - since : g.every_ms - since;
      if (due_in > 0) {
        if (due_in < wait_ms) wait_ms = due_in;
        continue;
      }
      g.asked[s] = 0;
      g.looked_ms[s] = now;
      pthread_mutex_unlock(&g.mu);
      refresh(s);
      pthread_mutex_lock(&g.mu);
    }
    struct timespec at = clock_deadline_after((int)wait_ms);
    clock_cond_wait(&g.cv, &g.mu, &at);
  }
  pthread_mutex_unlock(&g.mu);
  return NULL;
}

int front_names_start(int every_ms) {
  g.every_ms = every_ms > 0 ? every_ms : 30000;
  g.stop = 0;
  int64_t now = clock_now_us() / 1000;
  for (int s = 0; s < NSERVICES; s++) {   /* the first calls find addresses */
    g.looked_ms[s] = now;
    refresh(s);
  }
  if (pthread_create(&g.th, NULL, names_main, NULL) != 0) return -1;
  g.running = 1;
  return 0;
}

void front_names_stop(void) {
  if (!g.running) return;
  pthread_mutex_lock(&g.mu);
  g.stop = 1;
  pthread_cond_signal(&g.cv);
  pthread_mutex_unlock(&g.mu);
  pthread_join(g.th, NULL);
  g.running = 0;
}

int front_names_take(int s, unsigned *gen, names *out) {
  if (atomic_load_explicit(&g.gen[s], memory_order_acquire) == *gen) return 0;
  pthread_mutex_lock(&g.mu);
  *out = g.list[s];
  *gen = atomic_load(&g.gen[s]);
  pthread_mutex_unlock(&g.mu);
  return 1;
}

void front_names_ask(int s) {
  pthread_mutex_lock(&g.mu);
  if (!g.asked[s]) {
    g.asked[s] = 1;
    pthread_cond_signal(&g.cv);
  }
  pthread_mutex_unlock(&g.mu);
}
