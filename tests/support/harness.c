/* harness.c - real Postgres, Redis and service processes for integration tests. */
#include "harness.h"

#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <dirent.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <errno.h>
#include <fcntl.h>
#include <hiredis/hiredis.h>
#include <libpq-fe.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "grpc/health/v1/health.pb-c.h"
#include "jws.h"
#include "log.h"
#include "pbfill.h"
#include "rpc.h"

void th_init(void) {
  rpc_runtime_init();
  identity_set_key(TH_INTERNAL_KEY);
  log_init("test", getenv("ACCOLADE_TEST_LOG_LEVEL") ? getenv("ACCOLADE_TEST_LOG_LEVEL") : "warn");
}

void th_fini(void) {
  rpc_client_shutdown();
  rpc_runtime_shutdown();
}

const char *th_env(const char *name) {
  const char *v = getenv(name);
  if (!v || !*v) cr_assert_fail("%s is not set: run the tests with scripts/test", name);
  return v;
}

static PGconn *admin_conn(void) {
  char dsn[256];
  snprintf(dsn, sizeof dsn, "host=%s port=%s user=postgres dbname=postgres connect_timeout=5",
           th_env("ACCOLADE_TEST_PG_HOST"), th_env("ACCOLADE_TEST_PG_PORT"));
  PGconn *c = PQconnectdb(dsn);
  if (PQstatus(c) != CONNECTION_OK) cr_assert_fail("cannot reach the test postgres: %s", PQerrorMessage(c));
  return c;
}

const char *th_new_database(const char *label) {
  static char dsn[512];
  char name[64];
  static unsigned seq;
  snprintf(name, sizeof name, "t_%.24s_%d_%u_%ld", label, (int)getpid(), seq++, (long)time(NULL) % 100000);
  for (char *p = name; *p; p++)
    if (!((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') || *p == '_')) *p = '_';
  PGconn *c = admin_conn();
  char sql[160];
  snprintf(sql, sizeof sql, "CREATE DATABASE %s", name);
  PGresult *r = PQexec(c, sql);
  if (PQresultStatus(r) != PGRES_COMMAND_OK) cr_assert_fail("CREATE DATABASE: %s", PQresultErrorMessage(r));
  PQclear(r);
  PQfinish(c);
  snprintf(dsn, sizeof dsn, "host=%s port=%s user=postgres dbname=%s", th_env("ACCOLADE_TEST_PG_HOST"),
           th_env("ACCOLADE_TEST_PG_PORT"), name);
  return dsn;
}

int th_redis_port(void) { return atoi(th_env("ACCOLADE_TEST_REDIS_PORT")); }

/* bindable: 1 if |port| (0: any) can be bound on 127.0.0.1 now; the port
 * bound in |*got|. */
static int bindable(int port, int *got) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  struct sockaddr_in a = {0};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  a.sin_port = htons((uint16_t)port);
  socklen_t len = sizeof a;
  int ok = fd >= 0 && bind(fd, (struct sockaddr *)&a, sizeof a) == 0 &&
           getsockname(fd, (struct sockaddr *)&a, &len) == 0;
  if (ok) *got = ntohs(a.sin_port);
  if (fd >= 0) close(fd);
  return ok;
}

/* Ports are picked below the kernel's ephemeral range (ip_local_port_range),
 * at random: a port bound to 0 comes from that range, where every outgoing
 * connection (to Postgres, Redis, a service) and any other process on the
 * machine that asks for a free port (scripts/lib.sh, a bench) draw theirs,
 * and one of them could take it between the pick and the service's bind. */
int th_free_port(void) {
  static _Thread_local unsigned seed;
  if (!seed) seed = (unsigned)getpid() ^ (unsigned)time(NULL) ^ (unsigned)(uintptr_t)&seed;
  int low = 0, port = 0;
  FILE *f = fopen("/proc/sys/net/ipv4/ip_local_port_range", "r");
  if (f) {
    if (fscanf(f, "%d", &low) != 1) low = 0;
    fclose(f);
  }
  int from = 10000, to = low - 1;   /* [from, to] */
  for (int i = 0; to - from >= 1000 && i < 64; i++)
    if (bindable(from + (int)(rand_r(&seed) % (unsigned)(to - from + 1)), &port)) return port;
  if (!bindable(0, &port)) cr_assert_fail("cannot find a free port: %s", strerror(errno));
  return port;
}

const char *th_bin(const char *name) {
  static char path[1024];
  snprintf(path, sizeof path, "%s/bin/%s", ACCOLADE_BUILD_DIR, name);
  if (access(path, X_OK) != 0) cr_assert_fail("%s is not built", path);
  return path;
}

int th_health(const char *addr) {
  arena a;
  arena_init(&a);
  Grpc__Health__V1__HealthCheckRequest req = GRPC__HEALTH__V1__HEALTH_CHECK_REQUEST__INIT;
  Grpc__Health__V1__HealthCheckResponse *resp = NULL;
  rpc_call_opts o = {.timeout_ms = 1000};
  rpc_status st;
  int rc = rpc_call(addr, "/grpc.health.v1.Health/Check", &req.base,
                    &grpc__health__v1__health_check_response__descriptor, &o, &a, (void **)&resp, &st);
  int out = rc == RPC_OK ? (int)resp->status : -1;
  arena_free(&a);
  return out;
}

int th_wait_health(const char *addr, int want, int timeout_ms) {
  for (int waited = 0; waited <= timeout_ms; waited += 50) {
    if (th_health(addr) == want) return 0;
    usleep(50 * 1000);
  }
  return -1;
}

/* env_key_len: the length of the name in "NAME=value" (all of it without '='). */
static size_t env_key_len(const char *e) {
  const char *eq = strchr(e, '=');
  return eq ? (size_t)(eq - e) : strlen(e);
}

static int env_has(char *const *list, int n, const char *e) {
  size_t k = env_key_len(e);
  for (int i = 0; i < n; i++)
    if (env_key_len(list[i]) == k && strncmp(list[i], e, k) == 0) return 1;
  return 0;
}

/* child_env builds a started service's environment in the parent: the
 * harness's settings, then |env| (a later entry for a name wins), then the
 * test's own environment. The child of a threaded process may only call
 * async-signal-safe functions before exec: a setenv there can wait forever
 * on a lock another thread held at the fork (a replica of
 * test_replicas_serial, started while two others were, never answered). */
static char **child_env(const char *const *env) {
  extern char **environ;
  static char key[] = "ACCOLADE_INTERNAL_KEY=" TH_INTERNAL_KEY, level[] = "ACCOLADE_LOG_LEVEL=warn",
              metrics[] = "ACCOLADE_METRICS_PORT=0";   /* tests run many instances at once */
  int n_env = 0, n_own = 0;
  while (env && env[n_env]) n_env++;
  while (environ[n_own]) n_own++;
  char **out = calloc((size_t)(n_env + n_own + 4), sizeof *out);
  cr_assert(out);
  int n = 0;
  for (int i = n_env - 1; i >= 0; i--)
    if (!env_has(out, n, env[i])) out[n++] = (char *)env[i];
  char *mine[] = {key, metrics, getenv("ACCOLADE_LOG_LEVEL") ? NULL : level};
  for (int i = 0; i < 3; i++)
    if (mine[i] && !env_has(out, n, mine[i])) out[n++] = mine[i];
  for (int i = 0; i < n_own; i++)
    if (!env_has(out, n, environ[i])) out[n++] = environ[i];
  return out;
}

pid_t th_spawn(const char *binary, int port, const char *const *env, int delay_ms) {
  char listen[64];
  snprintf(listen, sizeof listen, "127.0.0.1:%d", port);
  return th_spawn_listen(binary, listen, env, delay_ms);
}

pid_t th_spawn_listen(const char *binary, const char *address, const char *const *env, int delay_ms) {
  char listen[160];
  snprintf(listen, sizeof listen, "--listen=%s", address);
  char **envp = child_env(env);
  pid_t pid = fork();
  if (pid == 0) {
    /* A test that fails an assertion exits at once: the service must not
     * outlive it (it would hold ctest's output pipe open until the timeout). */
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (delay_ms > 0) {
      struct timespec d = {delay_ms / 1000, (long)(delay_ms % 1000) * 1000000L};
      nanosleep(&d, NULL);
    }
    char *const argv[] = {(char *)binary, listen, NULL};
    execve(binary, argv, envp);
    _exit(127);
  }
  free(envp);
  return pid;
}

static int start_on(th_proc *p, int port, const char *binary, const char *const *env) {
  memset(p, 0, sizeof *p);
  p->port = port;
  snprintf(p->addr, sizeof p->addr, "127.0.0.1:%d", p->port);
  pid_t pid = th_spawn(binary, p->port, env, 0);
  if (pid < 0) return -1;
  p->pid = pid;
  /* 60 s: under ASan on 2 busy cores, three replicas migrating one empty
   * database at once took longer than 20 s to answer health. */
  for (int waited = 0; waited < 60000; waited += 50) {
    int status;
    if (waitpid(pid, &status, WNOHANG) == pid) {
      p->pid = 0;
      return -2;   /* it exited: a bad setting, or its port was taken */
    }
    if (th_health(p->addr) == 1) return 0;
    usleep(50 * 1000);
  }
  th_kill(p);
  return -1;
}

/* th_free_port's port is free when it is picked, not when the process
 * binds it: another test's process or an outgoing connection may take it
 * meanwhile (seen: a replica of test_replicas_serial exiting "cannot listen
 * on ...: Address already in use"). A process that exits at once is started
 * again on a fresh port, twice at most. */
int th_start(th_proc *p, const char *binary, const char *const *env) {
  int rc = -2;
  for (int attempt = 0; attempt < 3 && rc == -2; attempt++) rc = start_on(p, th_free_port(), binary, env);
  return rc == 0 ? 0 : -1;
}

int th_start_on(th_proc *p, int port, const char *binary, const char *const *env) {
  return start_on(p, port, binary, env) == 0 ? 0 : -1;
}

int th_restart(th_proc *p, const char *binary, const char *const *env) {
  th_kill(p);
  int port = p->port;
  /* The old socket may linger a moment: retry the same port for a while. */
  for (int i = 0; i < 20; i++) {
    if (start_on(p, port, binary, env) == 0) return 0;
    usleep(250 * 1000);
  }
  return -1;
}

int th_stop(th_proc *p) {
  if (p->pid <= 0) return -1;
  kill(p->pid, SIGTERM);
  int status = 0;
  for (int waited = 0; waited < 30000; waited += 20) {
    if (waitpid(p->pid, &status, WNOHANG) == p->pid) {
      /* Said here: the caller's assertion can only say "not 0". */
      if (WIFSIGNALED(status))
        fprintf(stderr, "th_stop: the process on port %d died of signal %d\n", p->port, WTERMSIG(status));
      else if (WEXITSTATUS(status))
        fprintf(stderr, "th_stop: the process on port %d exited %d\n", p->port, WEXITSTATUS(status));
      p->pid = 0;
      return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    }
    usleep(20 * 1000);
  }
  fprintf(stderr, "th_stop: the process on port %d did not stop within 30 s of SIGTERM\n", p->port);
  th_kill(p);
  return -1;
}

void th_kill(th_proc *p) {
  if (p->pid <= 0) return;
  kill(p->pid, SIGKILL);
  waitpid(p->pid, NULL, 0);
  p->pid = 0;
}

void th_as(identity *id, const char *org, const char *user, const char *role, const char *team) {
  if (identity_make(id, org, user, role, team) != 0) cr_assert_fail("bad test identity %s/%s/%s", org, user, role);
}

int th_call(const char *addr, const char *method, const void *req,
            const ProtobufCMessageDescriptor *resp_desc, const identity *as, arena *a, void **out,
            rpc_status *st) {
  rpc_call_opts o = {.as = as, .timeout_ms = 5000};
  return rpc_call(addr, method, req, resp_desc, &o, a, out, st);
}

int th_via(const char *gateway, const char *token, int timeout_ms, const char *method, const void *req,
           const ProtobufCMessageDescriptor *resp_desc, arena *a, void **out, rpc_status *st) {
  char bearer[2100];
  snprintf(bearer, sizeof bearer, "Bearer %s", token ? token : "");
  const char *md[] = {"authorization", bearer, NULL};
  rpc_call_opts o = {.timeout_ms = timeout_ms, .metadata = token ? md : NULL};
  return rpc_call(gateway, method, req, resp_desc, &o, a, out, st);
}

int th_via_as(const char *gateway, const char *secret, const char *org, const char *user, const char *role,
              const char *team, int timeout_ms, const char *method, const void *req,
              const ProtobufCMessageDescriptor *resp_desc, arena *a, void **out, rpc_status *st) {
  return th_via(gateway, th_jwt(secret, org, user, role, team, 300), timeout_ms, method, req, resp_desc, a, out, st);
}

char *th_sql(const char *dsn, const char *sql) {
  PGconn *c = PQconnectdb(dsn);
  char *out = NULL;
  if (PQstatus(c) == CONNECTION_OK) {
    PGresult *r = PQexec(c, sql);
    if (PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) > 0) out = strdup(PQgetvalue(r, 0, 0));
    PQclear(r);
  }
  PQfinish(c);
  return out;
}

long long th_sql_int(const char *dsn, const char *sql) {
  char *v = th_sql(dsn, sql);
  long long n = v ? atoll(v) : -1;
  free(v);
  return n;
}

void th_b64url(const unsigned char *in, size_t n, char *out) { jws_b64url_encode(in, n, out); }

const char *th_jwt(const char *secret, const char *org, const char *user, const char *role, const char *team,
                   long ttl_s) {
  static _Thread_local char bufs[4][2048];   /* per thread: callers mint from several */
  static _Thread_local int next;
  char *out = bufs[next++ % 4];
  char payload[512], h[128], p[1024], sig[64];
  snprintf(payload, sizeof payload, "{\"sub\":\"%s\",\"org\":\"%s\",\"role\":\"%s\",\"team\":\"%s\",\"exp\":%ld}",
           user, org, role, team ? team : "", (long)time(NULL) + ttl_s);
  const char *header = "{\"alg\":\"HS256\",\"typ\":\"JWT\"}";
  th_b64url((const unsigned char *)header, strlen(header), h);
  th_b64url((const unsigned char *)payload, strlen(payload), p);
  snprintf(out, 2048, "%s.%s", h, p);
  unsigned char mac[32];
  unsigned int ml;
  HMAC(EVP_sha256(), secret, (int)strlen(secret), (unsigned char *)out, strlen(out), mac, &ml);
  th_b64url(mac, ml, sig);
  strcat(out, ".");
  strcat(out, sig);
  return out;
}

/* env_join: |a| then |b| (NULL-terminated lists) into |out| of |cap|. */
static void env_join(const char **out, size_t cap, const char *const *a, const char *const *b) {
  size_t n = 0;
  for (int i = 0; a && a[i] && n + 1 < cap; i++) out[n++] = a[i];
  for (int i = 0; b && b[i] && n + 1 < cap; i++) out[n++] = b[i];
  out[n] = NULL;
}

/* suite_env: the suite's env for process |i| (kept for restarts). */
static const char *const *suite_env(th_suite *s, int i, const char *const *own, const char *const *extra) {
  env_join(s->env[i], sizeof s->env[i] / sizeof s->env[i][0], own, extra);
  return s->env[i];
}

static const char *const suite_bins[] = {"svc-leaderboard", "svc-notify", "svc-award", "svc-nomination", "gateway"};

/* suite_bin: the binary of process |i|; a gateway given a test route is the
 * test build's (bin/gateway-test): the production one has no test route. */
static const char *suite_bin(const th_suite *s, int i) {
  if (i == 4)
    for (int k = 0; s->env[i][k]; k++)
      if (!strncmp(s->env[i][k], "ACCOLADE_GATEWAY_TEST_ROUTE=", 28)) return th_bin("gateway-test");
  return th_bin(suite_bins[i]);
}

void th_suite_start(th_suite *s, const char *db, const char *jwt_secret, const char *const *extra) {
  static char pg[600], redis[64], a_addr[96], l_addr[96], n_addr[96], o_addr[96], secret[256];
  snprintf(s->dsn, sizeof s->dsn, "%s", th_new_database(db));
  snprintf(pg, sizeof pg, "ACCOLADE_PG=%s", s->dsn);
  snprintf(redis, sizeof redis, "ACCOLADE_REDIS=127.0.0.1:%d", th_redis_port());
  th_proc *all[] = {&s->lb, &s->notify, &s->award, &s->nomination, &s->gateway};
  const char *base[] = {pg, redis, NULL};
  cr_assert_eq(th_start(all[0], th_bin(suite_bins[0]), suite_env(s, 0, base, extra)), 0, "svc-leaderboard did not start");
  snprintf(l_addr, sizeof l_addr, "ACCOLADE_LEADERBOARD_ADDR=%s", s->lb.addr);
  /* svc-notify's digest reads the three others, and two of them publish to
   * it: its port is chosen first, and it starts once they run. svc-award
   * reads the directory of svc-nomination, which calls svc-award: the
   * nomination port is chosen first too. */
  int notify_port = th_free_port();
  snprintf(n_addr, sizeof n_addr, "ACCOLADE_NOTIFY_ADDR=127.0.0.1:%d", notify_port);
  int nomination_port = th_free_port();
  snprintf(o_addr, sizeof o_addr, "ACCOLADE_NOMINATION_ADDR=127.0.0.1:%d", nomination_port);
  const char *aenv[] = {pg, redis, l_addr, n_addr, o_addr, NULL};
  cr_assert_eq(th_start(all[2], th_bin(suite_bins[2]), suite_env(s, 2, aenv, extra)), 0, "svc-award did not start");
  snprintf(a_addr, sizeof a_addr, "ACCOLADE_AWARD_ADDR=%s", s->award.addr);
  const char *nenv[] = {pg, redis, a_addr, l_addr, n_addr, NULL};
  cr_assert_eq(th_start_on(all[3], nomination_port, th_bin(suite_bins[3]), suite_env(s, 3, nenv, extra)), 0,
               "svc-nomination did not start");
  const char *tenv[] = {pg, redis, l_addr, a_addr, o_addr, NULL};
  cr_assert_eq(th_start_on(all[1], notify_port, th_bin(suite_bins[1]), suite_env(s, 1, tenv, extra)), 0,
               "svc-notify did not start");
  snprintf(secret, sizeof secret, "ACCOLADE_JWT_HS256_SECRET=%s", jwt_secret);
  const char *genv[] = {redis, a_addr, l_addr, n_addr, o_addr, secret, NULL};
  suite_env(s, 4, genv, extra);
  cr_assert_eq(th_start(all[4], suite_bin(s, 4), s->env[4]), 0, "gateway did not start");
}

int th_suite_restart(th_suite *s, th_proc *p) {
  th_proc *all[] = {&s->lb, &s->notify, &s->award, &s->nomination, &s->gateway};
  for (int i = 0; i < 5; i++)
    if (all[i] == p) return th_restart(p, suite_bin(s, i), s->env[i]);
  return -1;
}

void th_pair_start(th_proc *award, th_proc *nom, char *nom_dsn, size_t cap, const char *nom_env) {
  static char apg[700], npg[700], aaddr[96];
  snprintf(apg, sizeof apg, "ACCOLADE_AWARD_PG=%s", th_new_database("pairaward"));
  const char *aenv[] = {apg, "ACCOLADE_LEADERBOARD_ADDR=127.0.0.1:1", "ACCOLADE_NOTIFY_ADDR=127.0.0.1:1", NULL};
  cr_assert_eq(th_start(award, th_bin("svc-award"), aenv), 0, "svc-award did not start");
  snprintf(nom_dsn, cap, "%s", th_new_database("pairnomination"));
  snprintf(npg, sizeof npg, "ACCOLADE_NOMINATION_PG=%s", nom_dsn);
  snprintf(aaddr, sizeof aaddr, "ACCOLADE_AWARD_ADDR=%s", award->addr);
  const char *nenv[] = {npg, aaddr, "ACCOLADE_NOTIFY_ADDR=127.0.0.1:1", nom_env, NULL};
  cr_assert_eq(th_start(nom, th_bin("svc-nomination"), nenv), 0, "svc-nomination did not start");
}

void th_pair_stop(th_proc *award, th_proc *nom) {
  cr_assert_eq(th_stop(nom), 0);
  cr_assert_eq(th_stop(award), 0);
}

void th_suite_stop(th_suite *s) {
  th_proc *all[] = {&s->gateway, &s->nomination, &s->award, &s->notify, &s->lb};
  static const char *const names[] = {"gateway", "svc-nomination", "svc-award", "svc-notify", "svc-leaderboard"};
  for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) cr_expect_eq(th_stop(all[i]), 0, "%s did not stop cleanly", names[i]);
}

void th_fleet_start(th_fleet *f, const char *db, const char *jwt_secret, const char *const *extra) {
  static char pg[600], redis[64], addrs[4][200], secret[256], listen_env[4 + TH_FLEET_GATEWAYS][TH_FLEET_REPLICAS][300];
  static const char *envs[4 + TH_FLEET_GATEWAYS][TH_FLEET_REPLICAS][48];
  static const char *const names[] = {"LEADERBOARD", "NOTIFY", "AWARD", "NOMINATION"};
  memset(f, 0, sizeof *f);
  snprintf(f->dsn, sizeof f->dsn, "%s", th_new_database(db));
  snprintf(pg, sizeof pg, "ACCOLADE_PG=%s", f->dsn);
  snprintf(redis, sizeof redis, "ACCOLADE_REDIS=127.0.0.1:%d", th_redis_port());
  snprintf(secret, sizeof secret, "ACCOLADE_JWT_HS256_SECRET=%s", jwt_secret);
  /* Every port first: each process is told where all the others are. */
  int port[4][TH_FLEET_REPLICAS];
  for (int i = 0; i < 4; i++) {
    size_t used = (size_t)snprintf(addrs[i], sizeof addrs[i], "ACCOLADE_%s_ADDR=", names[i]);
    for (int r = 0; r < TH_FLEET_REPLICAS; r++) {
      port[i][r] = th_free_port();
      f->svc_metrics[i][r] = th_free_port();
      used += (size_t)snprintf(addrs[i] + used, sizeof addrs[i] - used, "%s127.0.0.1:%d", r ? "," : "", port[i][r]);
    }
  }
  for (int i = 0; i < 4 + TH_FLEET_GATEWAYS; i++) {
    for (int r = 0; r < TH_FLEET_REPLICAS; r++) {
      if (i >= 4 && r > 0) break;
      const char *own[] = {pg, redis, addrs[0], addrs[1], addrs[2], addrs[3], listen_env[i][r], NULL};
      if (i < 4)
        snprintf(listen_env[i][r], sizeof listen_env[i][r], "ACCOLADE_METRICS_PORT=%d", f->svc_metrics[i][r]);
      else
        snprintf(listen_env[i][r], sizeof listen_env[i][r], "%s", secret);
      env_join(envs[i][r], sizeof envs[i][r] / sizeof envs[i][r][0], own, extra);
      int rc = i < 4 ? th_start_on(&f->svc[i][r], port[i][r], th_bin(suite_bins[i]), envs[i][r])
                     : th_start(&f->gateway[i - 4], th_bin("gateway"), envs[i][r]);
      cr_assert_eq(rc, 0, "%s (replica %d) did not start", i < 4 ? suite_bins[i] : "gateway", r);
    }
  }
}

void th_fleet_stop(th_fleet *f) {
  for (int g = 0; g < TH_FLEET_GATEWAYS; g++) th_stop(&f->gateway[g]);
  for (int i = 3; i >= 0; i--)
    for (int r = 0; r < TH_FLEET_REPLICAS; r++) th_stop(&f->svc[i][r]);
}

long long th_metric_sum(int port, const char *name, const char *label) {
  char *text = th_http_get(port, "/metrics");
  if (!text) return -1;
  long long sum = 0;
  size_t n = strlen(name);
  for (char *line = text; line && *line;) {
    char *next = strchr(line, '\n');
    if (next) *next++ = '\0';
    if (!strncmp(line, name, n) && (line[n] == '{' || line[n] == ' ')) {
      char *value = strrchr(line, ' ');
      char *close = strchr(line, '}');
      if (value && (!*label || (close && memmem(line, (size_t)(close - line), label, strlen(label)))))
        sum += atoll(value + 1);
    }
    line = next;
  }
  free(text);
  return sum;
}

void th_fill(arena *a, const ProtobufCMessageDescriptor *d, void *m, const char *spec) {
  char err[256];
  cr_assert_eq(pb_fill(a, d, m, spec, err, sizeof err), 0, "%s", err);
}

/* capture_file: a temporary file for one stream of a child, or -1 (not captured). */
static int capture_file(char *buf) {
  if (!buf) return -1;
  char path[] = "/tmp/accolade-th-runXXXXXX";
  int fd = mkstemp(path);
  cr_assert(fd >= 0, "mkstemp");
  unlink(path);
  return fd;
}

static void captured(int fd, char *buf, size_t cap) {
  if (fd < 0) return;
  ssize_t r = pread(fd, buf, cap - 1, 0);
  buf[r > 0 ? r : 0] = '\0';
  close(fd);
}

int th_run(const char *const *argv, char *out, size_t out_cap, char *err, size_t err_cap) {
  int of = capture_file(out), ef = capture_file(err);
  pid_t pid = fork();
  cr_assert(pid >= 0, "fork");
  if (pid == 0) {
    if (of >= 0) dup2(of, 1);
    if (ef >= 0) dup2(ef, 2);
    execv(argv[0], (char *const *)argv);
    _exit(127);
  }
  int status = 0;
  waitpid(pid, &status, 0);
  captured(of, out, out_cap);
  captured(ef, err, err_cap);
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

/* ---- a local SMTP sink ----------------------------------------------- */

int th_smtp_start(th_smtp *p, int refuse_first) {
  if (system("/usr/bin/python3 -c 'import aiosmtpd' 2>/dev/null") != 0)
    cr_skip_test("python3-aiosmtpd is not installed (scripts/lib.sh installs it)");
  memset(p, 0, sizeof *p);
  snprintf(p->dir, sizeof p->dir, "/tmp/accolade-smtp-XXXXXX");
  if (!mkdtemp(p->dir)) return -1;
  p->proc.port = th_free_port();
  snprintf(p->proc.addr, sizeof p->proc.addr, "127.0.0.1:%d", p->proc.port);
  char port[16], refuse[16], script[600];
  snprintf(port, sizeof port, "%d", p->proc.port);
  snprintf(refuse, sizeof refuse, "%d", refuse_first);
  snprintf(script, sizeof script, "%s/tests/support/smtp_sink.py", ACCOLADE_SOURCE_DIR);
  pid_t pid = fork();
  if (pid < 0) return -1;
  if (pid == 0) {
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    execl("/usr/bin/python3", "python3", script, port, p->dir, refuse, (char *)NULL);
    _exit(127);
  }
  p->proc.pid = pid;
  for (int waited = 0; waited < 10000; waited += 50) {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)p->proc.port),
                            .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    int ok = connect(fd, (struct sockaddr *)&a, sizeof a) == 0;
    close(fd);
    if (ok) return 0;
    usleep(50 * 1000);
  }
  th_kill(&p->proc);
  return -1;
}

/* smtp_files: how many messages the sink accepted for |rcpt| ("" all), the
 * path of one of them in |first| (may be NULL), refusals in |*refused|. */
static int smtp_files(const th_smtp *p, const char *rcpt, int *refused, char *first, size_t cap) {
  DIR *d = opendir(p->dir);
  int n = 0;
  if (refused) *refused = 0;
  if (!d) return 0;
  for (struct dirent *e; (e = readdir(d));) {
    if (!strncmp(e->d_name, "refused-", 8)) {
      if (refused) (*refused)++;
      continue;
    }
    const char *dash = strchr(e->d_name, '-'), *dot = strrchr(e->d_name, '.');
    if (e->d_name[0] == '.' || !dash || !dot || strcmp(dot, ".eml")) continue;
    if (*rcpt && ((size_t)(dot - dash - 1) != strlen(rcpt) || strncmp(dash + 1, rcpt, strlen(rcpt)))) continue;
    if (!n && first) snprintf(first, cap, "%s/%s", p->dir, e->d_name);
    n++;
  }
  closedir(d);
  return n;
}

int th_smtp_count(const th_smtp *p, const char *rcpt, int *refused) {
  return smtp_files(p, rcpt, refused, NULL, 0);
}

char *th_smtp_message(const th_smtp *p, const char *rcpt) {
  char path[600];
  return smtp_files(p, rcpt, NULL, path, sizeof path) ? th_slurp(path) : NULL;
}

char *th_slurp(const char *path) {
  FILE *f = fopen(path, "rb");
  if (!f) return NULL;
  fseek(f, 0, SEEK_END);
  long len = ftell(f);
  fseek(f, 0, SEEK_SET);
  char *s = malloc((size_t)(len > 0 ? len : 0) + 1);
  size_t got = fread(s, 1, (size_t)(len > 0 ? len : 0), f);
  s[got] = 0;
  fclose(f);
  return s;
}

void th_smtp_stop(th_smtp *p) {
  th_stop(&p->proc);
  char cmd[400];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", p->dir);
  if (system(cmd) != 0) {
  }
}

char *th_http_get(int port, const char *path) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  struct sockaddr_in a = {0};
  a.sin_family = AF_INET;
  a.sin_port = htons((uint16_t)port);
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  cr_assert_eq(connect(fd, (struct sockaddr *)&a, sizeof a), 0, "metrics port not open");
  char req[256];
  int n = snprintf(req, sizeof req, "GET %s HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n", path);
  cr_assert_eq(write(fd, req, (size_t)n), n);
  size_t cap = 1 << 20, len = 0;
  char *buf = malloc(cap);
  ssize_t r;
  while ((r = read(fd, buf + len, cap - len - 1)) > 0) len += (size_t)r;
  buf[len] = '\0';
  close(fd);
  return buf;
}

/* ---- Redis Cluster on loopback ---------------------------------------- */

redisReply *th_redis_cmd(int port, const char *fmt, ...) {
  struct timeval tv = {2, 0};
  redisContext *c = redisConnectWithTimeout("127.0.0.1", port, tv);
  if (!c || c->err) {
    if (c) redisFree(c);
    return NULL;
  }
  redisSetTimeout(c, tv);
  va_list ap;
  va_start(ap, fmt);
  redisReply *r = redisvCommand(c, fmt, ap);
  va_end(ap);
  redisFree(c);
  return r;
}

int th_redis_node_start(th_proc *p, const char *dir) {
  memset(p, 0, sizeof *p);
  p->port = th_free_port();
  snprintf(p->addr, sizeof p->addr, "127.0.0.1:%d", p->port);
  char port[16], bus[16], conf[64];
  snprintf(port, sizeof port, "%d", p->port);
  /* The cluster bus on a port of its own (the default, port + 10000, may be
   * taken or past 65535). */
  snprintf(bus, sizeof bus, "%d", th_free_port());
  snprintf(conf, sizeof conf, "nodes-%d.conf", p->port);
  pid_t pid = fork();
  if (pid < 0) return -1;
  if (pid == 0) {
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    int null = open("/dev/null", O_WRONLY);
    if (null >= 0) dup2(null, 1);
    execlp("redis-server", "redis-server", "--bind", "127.0.0.1", "--port", port, "--dir", dir, "--save", "",
           "--appendonly", "no", "--cluster-enabled", "yes", "--cluster-config-file", conf, "--cluster-port", bus,
           "--cluster-node-timeout", "1000", "--cluster-replica-validity-factor", "0",
           "--cluster-require-full-coverage", "no", (char *)NULL);
    _exit(127);
  }
  p->pid = pid;
  for (int waited = 0; waited < 10000; waited += 20) {
    redisReply *r = th_redis_cmd(p->port, "PING");
    int ok = r && r->type == REDIS_REPLY_STATUS;
    if (r) freeReplyObject(r);
    if (ok) return 0;
    usleep(20 * 1000);
  }
  th_kill(p);
  return -1;
}

int th_redis_cluster_start(th_redis_cluster *c) {
  memset(c, 0, sizeof *c);
  snprintf(c->dir, sizeof c->dir, "/tmp/accolade-cluster-XXXXXX");
  if (!mkdtemp(c->dir)) return -1;
  const char *argv[TH_CLUSTER_NODES + 8];
  int k = 0;
  argv[k++] = "/usr/bin/redis-cli";
  argv[k++] = "--cluster";
  argv[k++] = "create";
  size_t used = 0;
  for (int i = 0; i < TH_CLUSTER_NODES; i++) {
    if (th_redis_node_start(&c->node[i], c->dir) != 0) return -1;
    argv[k++] = c->node[i].addr;
    used += (size_t)snprintf(c->seeds + used, sizeof c->seeds - used, "%s%s", i ? "," : "", c->node[i].addr);
  }
  argv[k++] = "--cluster-replicas";
  argv[k++] = "1";
  argv[k++] = "--cluster-yes";
  argv[k] = NULL;
  char out[8192], err[2048];
  if (th_run(argv, out, sizeof out, err, sizeof err) != 0) {
    fprintf(stderr, "redis-cli --cluster create: %s %s\n", out, err);
    return -1;
  }
  return th_redis_cluster_wait_ok(c, 20000);
}

void th_redis_cluster_stop(th_redis_cluster *c) {
  for (int i = 0; i < TH_CLUSTER_NODES; i++) th_kill(&c->node[i]);
  char cmd[200];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", c->dir);
  if (c->dir[0] && system(cmd) != 0) {
  }
}

/* cluster_owners fills |owner| (per slot, a node index or -1) from
 * CLUSTER SLOTS asked of node |asked|; 0, or -1 when it does not answer. */
static int cluster_owners(th_redis_cluster *c, int asked, int *owner) {
  redisReply *r = th_redis_cmd(c->node[asked].port, "CLUSTER SLOTS");
  if (!r || r->type != REDIS_REPLY_ARRAY) {
    if (r) freeReplyObject(r);
    return -1;
  }
  for (int s = 0; s < 16384; s++) owner[s] = -1;
  for (size_t e = 0; e < r->elements; e++) {
    redisReply *x = r->element[e];
    if (x->elements < 3) continue;
    int port = (int)x->element[2]->element[1]->integer, who = -1;
    for (int i = 0; i < TH_CLUSTER_NODES; i++)
      if (c->node[i].port == port) who = i;
    for (long long s = x->element[0]->integer; s <= x->element[1]->integer; s++) owner[s] = who;
  }
  freeReplyObject(r);
  return 0;
}

int th_redis_cluster_owner(th_redis_cluster *c, int slot) {
  static int owner[16384];
  for (int i = 0; i < TH_CLUSTER_NODES; i++)
    if (c->node[i].pid > 0 && cluster_owners(c, i, owner) == 0) return owner[slot];
  return -1;
}

int th_redis_cluster_wait_ok(th_redis_cluster *c, int timeout_ms) {
  static int owner[16384];
  for (int waited = 0; waited <= timeout_ms; waited += 100) {
    int ok = 1;
    for (int i = 0; i < TH_CLUSTER_NODES && ok; i++) {
      if (c->node[i].pid <= 0) continue;
      redisReply *r = th_redis_cmd(c->node[i].port, "CLUSTER INFO");
      ok = r && r->type == REDIS_REPLY_STRING && strstr(r->str, "cluster_state:ok") != NULL;
      if (r) freeReplyObject(r);
      if (ok) ok = cluster_owners(c, i, owner) == 0;
      for (int s = 0; s < 16384 && ok; s++) ok = owner[s] >= 0 && c->node[owner[s]].pid > 0;
    }
    if (ok) return 0;
    usleep(100 * 1000);
  }
  return -1;
}
