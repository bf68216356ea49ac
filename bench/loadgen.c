/* accolade-loadgen - a small gRPC load generator on the runtime's client,
 * for calls whose bodies must differ per call (h2load sends one fixed body).
 *
 *   accolade-loadgen --addr 127.0.0.1:50050 --method CreateNomination \
 *     --fields 'badge_id=deal-closer;nominee_ids[]=m{n%500};request_id=load-{n};justification=...' \
 *     --jwt-secret S --org bench --user 'g{n%100}' --role member -n 20000 -c 32
 *
 * Templates in --fields, --user and --org: {n} the call's number (0-based),
 * {n%K} it modulo K, {id} line n of the --ids file. Each of the -c threads
 * makes blocking calls one after another (so -c is the number in flight);
 * tokens are minted once per distinct user and org. With --sign the calls
 * carry the identity signed with ACCOLADE_INTERNAL_KEY instead of a token,
 * as the gateway forwards them (for a service or a proxy without auth). With --rate R, call n starts no sooner
 * than n/R seconds after the first (a steady load below saturation, for
 * latency goals; -c bounds what is in flight), each call's latency counted
 * from the time it was due. Prints one line:
 *   method calls concurrency req/s p50_ms p99_ms errors [first error]
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "accolade/v1/award.pb-c.h"
#include "accolade/v1/leaderboard.pb-c.h"
#include "accolade/v1/nomination.pb-c.h"
#include "accolade/v1/notify.pb-c.h"
#include "log.h"
#include "pbfill.h"
#include "identity.h"
#include "rpc_client.h"
#include "token.h"
#include "clock.h"

#define D(name) &accolade__v1__##name##__descriptor

static const struct method {
  const char *path;
  const ProtobufCMessageDescriptor *req, *resp;
} methods[] = {
    {"/accolade.v1.LeaderboardService/GetTop", D(get_top_request), D(get_top_response)},
    {"/accolade.v1.LeaderboardService/GetRank", D(get_rank_request), D(get_rank_response)},
    {"/accolade.v1.AwardService/GetProfile", D(get_profile_request), D(profile)},
    {"/accolade.v1.NotifyService/ListInbox", D(list_inbox_request), D(list_inbox_response)},
    {"/accolade.v1.NominationService/CreateNomination", D(create_nomination_request), D(nomination)},
    {"/accolade.v1.NominationService/ReviewNomination", D(review_nomination_request), D(nomination)},
};

static struct {
  const char *addr, *fields, *secret, *org, *user, *role;
  const struct method *m;
  long n;
  int c;
  char **ids;
  long nids;
  double rate;   /* calls per second; 0: as fast as -c allows */
  int sign;      /* signed identity instead of a token */
} g;
static int64_t g_start_us;

static atomic_long g_next;
static int64_t *g_lat_us;
static int *g_code;
static char g_first_error[256];
static pthread_mutex_t g_mu = PTHREAD_MUTEX_INITIALIZER;

/* Tokens by user, minted once. */
typedef struct tok {
  char user[64], org[64];
  char bearer[1200];
} tok;
static tok **g_toks;   /* each allocated once: callers keep pointers into them */
static int g_ntoks, g_captoks;


/* expand writes |tpl| with {n}, {n%K} and {id} filled for call |n|. */
static char *expand(arena *a, const char *tpl, long n) {
  size_t cap = strlen(tpl) + 64 + (g.nids ? strlen(g.ids[n % g.nids]) : 0), len = 0;
  char *out = arena_alloc(a, cap + 1);
  for (const char *p = tpl; *p && len < cap;) {
    if (!strncmp(p, "{n}", 3)) {
      len += (size_t)snprintf(out + len, cap - len, "%ld", n);
      p += 3;
    } else if (!strncmp(p, "{n%", 3) && strchr(p, '}')) {
      long k = atol(p + 3);
      len += (size_t)snprintf(out + len, cap - len, "%ld", k > 0 ? n % k : n);
      p = strchr(p, '}') + 1;
    } else if (!strncmp(p, "{id}", 4) && g.nids) {
      len += (size_t)snprintf(out + len, cap - len, "%s", g.ids[n % g.nids]);
      p += 4;
    } else {
      out[len++] = *p++;
    }
  }
  out[len] = '\0';
  return out;
}

static const char *bearer_for(const char *user, const char *org) {
  pthread_mutex_lock(&g_mu);
  for (int i = 0; i < g_ntoks; i++)
    if (!strcmp(g_toks[i]->user, user) && !strcmp(g_toks[i]->org, org)) {
      pthread_mutex_unlock(&g_mu);
      return g_toks[i]->bearer;
    }
  if (g_ntoks == g_captoks) {
    g_captoks = g_captoks ? 2 * g_captoks : 64;
    g_toks = realloc(g_toks, sizeof *g_toks * (size_t)g_captoks);
  }
  tok *t = g_toks[g_ntoks++] = calloc(1, sizeof *t);
  snprintf(t->user, sizeof t->user, "%s", user);
  snprintf(t->org, sizeof t->org, "%s", org);
  int64_t now = (int64_t)time(NULL);
  strcpy(t->bearer, "Bearer ");
  if (token_mint(g.secret, user, org, g.role, "", now, now + 3600, t->bearer + 7, sizeof t->bearer - 7) != 0)
    t->bearer[7] = '\0';
  pthread_mutex_unlock(&g_mu);
  return t->bearer;
}

static void *worker(void *arg) {
  (void)arg;
  for (;;) {
    long n = atomic_fetch_add(&g_next, 1);
    if (n >= g.n) return NULL;
    int64_t due = 0;
    if (g.rate > 0) {   /* pace: call n is due n/rate seconds after the start */
      due = g_start_us + (int64_t)((double)n * 1e6 / g.rate);
      int64_t wait = due - clock_now_us();
      if (wait > 0) {
        struct timespec ts = {(time_t)(wait / 1000000), (long)(wait % 1000000) * 1000};
        nanosleep(&ts, NULL);
      }
    }
    arena a;
    arena_init(&a);
    void *req = arena_alloc(&a, g.m->req->sizeof_message);
    protobuf_c_message_init(g.m->req, req);
    char err[256];
    if (pb_fill(&a, g.m->req, req, expand(&a, g.fields, n), err, sizeof err) != 0) {
      fprintf(stderr, "accolade-loadgen: --fields: %s\n", err);
      exit(64);
    }
    const char *user = expand(&a, g.user, n), *org = expand(&a, g.org, n);
    const char *md[] = {"authorization", g.sign ? NULL : bearer_for(user, org), NULL};
    identity id;
    rpc_call_opts o = {.timeout_ms = 10000, .metadata = g.sign ? NULL : md};
    if (g.sign && identity_make(&id, org, user, g.role, "") == 0) o.as = &id;
    void *out;
    rpc_status st;
    /* Under --rate a call's latency counts from when it was due, not from
     * when a free thread got to it: a stall shows in every call it delayed
     * (no coordinated omission). */
    int64_t t0 = due ? due : clock_now_us();
    int code = rpc_call(g.addr, g.m->path, req, g.m->resp, &o, &a, &out, &st);
    g_lat_us[n] = clock_now_us() - t0;
    g_code[n] = code;
    if (code != RPC_OK) {
      pthread_mutex_lock(&g_mu);
      if (!g_first_error[0])
        snprintf(g_first_error, sizeof g_first_error, "%s: %s", rpc_code_name(code), st.message ? st.message : "");
      pthread_mutex_unlock(&g_mu);
    }
    arena_free(&a);
  }
}

static int cmp64(const void *x, const void *y) {
  int64_t a = *(const int64_t *)x, b = *(const int64_t *)y;
  return a < b ? -1 : a > b;
}

static void read_ids(const char *path) {
  FILE *f = fopen(path, "r");
  if (!f) {
    fprintf(stderr, "accolade-loadgen: cannot read %s\n", path);
    exit(64);
  }
  char line[256];
  long cap = 0;
  while (fgets(line, sizeof line, f)) {
    line[strcspn(line, "\r\n")] = '\0';
    if (!*line) continue;
    if (g.nids == cap) {
      cap = cap ? 2 * cap : 1024;
      g.ids = realloc(g.ids, sizeof(char *) * (size_t)cap);
    }
    g.ids[g.nids++] = strdup(line);
  }
  fclose(f);
}

int main(int argc, char **argv) {
  g.addr = "127.0.0.1:50050";
  g.fields = "";
  g.org = "bench";
  g.user = "bench";
  g.role = "member";
  g.n = 10000;
  g.c = 16;
  g.secret = getenv("ACCOLADE_JWT_HS256_SECRET");
  const char *method = NULL;
  for (int i = 1; i + 1 < argc; i += 2) {
    const char *k = argv[i], *v = argv[i + 1];
    if (!strcmp(k, "--addr")) g.addr = v;
    else if (!strcmp(k, "--method")) method = v;
    else if (!strcmp(k, "--fields")) g.fields = v;
    else if (!strcmp(k, "--jwt-secret")) g.secret = v;
    else if (!strcmp(k, "--org")) g.org = v;
    else if (!strcmp(k, "--user")) g.user = v;
    else if (!strcmp(k, "--role")) g.role = v;
    else if (!strcmp(k, "-n")) g.n = atol(v);
    else if (!strcmp(k, "-c")) g.c = atoi(v);
    else if (!strcmp(k, "--ids")) read_ids(v);
    else if (!strcmp(k, "--rate")) g.rate = atof(v);
    else if (!strcmp(k, "--sign")) g.sign = atoi(v);
    else {
      fprintf(stderr, "accolade-loadgen: unknown option %s\n", k);
      return 64;
    }
  }
  for (size_t i = 0; method && i < sizeof methods / sizeof methods[0]; i++) {
    const char *slash = strrchr(methods[i].path, '/');
    if (!strcmp(method, slash + 1) || !strcmp(method, methods[i].path)) g.m = &methods[i];
  }
  if (!g.m || (!g.secret && !g.sign) || g.n <= 0 || g.c <= 0 || g.c > 1024) {
    fprintf(stderr, "usage: accolade-loadgen --method NAME [--addr A] [--fields SPEC] [--jwt-secret S] "
                    "[--org O] [--user U] [--role R] [-n CALLS] [-c THREADS] [--ids FILE] [--rate PER_SECOND] [--sign 1]\n"
                    "methods: GetTop GetRank GetProfile ListInbox CreateNomination ReviewNomination\n");
    return 64;
  }
  log_init("loadgen", "error");
  const char *key = getenv("ACCOLADE_INTERNAL_KEY");
  if (key) identity_set_key(key);
  rpc_runtime_init();
  g_lat_us = calloc((size_t)g.n, sizeof *g_lat_us);
  g_code = calloc((size_t)g.n, sizeof *g_code);
  pthread_t *t = calloc((size_t)g.c, sizeof *t);
  int64_t t0 = clock_now_us();
  g_start_us = t0;
  for (int i = 0; i < g.c; i++) pthread_create(&t[i], NULL, worker, NULL);
  for (int i = 0; i < g.c; i++) pthread_join(t[i], NULL);
  double secs = (double)(clock_now_us() - t0) / 1e6;
  long errors = 0;
  for (long i = 0; i < g.n; i++) errors += g_code[i] != RPC_OK;
  qsort(g_lat_us, (size_t)g.n, sizeof *g_lat_us, cmp64);
  printf("%-18s %7ld %4d %10.1f %8.2f %8.2f %7ld %s\n", strrchr(g.m->path, '/') + 1, g.n, g.c, (double)g.n / secs,
         (double)g_lat_us[g.n / 2] / 1000.0, (double)g_lat_us[(long)((double)g.n * 0.99)] / 1000.0, errors,
         g_first_error);
  free(t);
  free(g_lat_us);
  free(g_code);
  for (long i = 0; i < g.nids; i++) free(g.ids[i]);
  free(g.ids);
  for (int i = 0; i < g_ntoks; i++) free(g_toks[i]);
  free(g_toks);
  rpc_client_shutdown();
  return errors == g.n ? 1 : 0;
}
