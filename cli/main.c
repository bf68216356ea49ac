/* accolade - the command-line client.
 *
 *   accolade [--addr HOST:PORT] [--token JWT] [--json] [--timeout-ms N] COMMAND [ARGS]
 *
 * Talks to the gateway (ACCOLADE_ADDR, default 127.0.0.1:50050) with the
 * bearer token from --token or ACCOLADE_TOKEN. Exit status: 0 on success, the
 * gRPC status code (1-16) when a call fails, 64 for a usage error.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli.h"
#include "grpc/health/v1/health.pb-c.h"
#include "log.h"
#include "tls.h"
#include "token.h"

static void usage(FILE *f) {
  fprintf(f,
          "usage: accolade [--addr HOST:PORT] [--token JWT] [--json] [--timeout-ms N]\n"
          "                [--tls-ca PEM [--tls-cert PEM --tls-key PEM] [--tls-name NAME]] COMMAND [ARGS]\n"
          "\n"
          "Talks to the gateway at --addr (ACCOLADE_ADDR, default 127.0.0.1:50050) as the bearer of\n"
          "--token (ACCOLADE_TOKEN). Tables for people; --json prints one JSON object per reply\n"
          "(field names as in proto/, enums by name) for scripts. --tls-ca (ACCOLADE_TLS_CA) speaks\n"
          "TLS to a gateway whose certificate that CA signed; --tls-cert/--tls-key present a client\n"
          "certificate (ACCOLADE_TLS_CLIENT_CERT/_KEY); --tls-name checks the certificate against\n"
          "that name instead of the host (ACCOLADE_TLS_NAME).\n"
          "\n"
          "commands:\n");
  commands_usage(f);
  fprintf(f,
          "  health [SERVICE]                   serving status of the process at --addr\n"
          "  token                              mint a local HS256 token (secret: --secret,\n"
          "                                   ACCOLADE_JWT_HS256_SECRET or .accolade/jwt.secret)\n"
          "                                   --user U --org O [--role member|manager|admin|integration] [--team T] [--ttl S]\n"
          "\n"
          "exit status: 0 ok; the gRPC status code (1-16) of a failed call (3 INVALID_ARGUMENT,\n"
          "5 NOT_FOUND, 7 PERMISSION_DENIED, 14 UNAVAILABLE, 16 UNAUTHENTICATED, ...);\n"
          "64 usage error; 65 bad input file; 66 input file not readable\n");
}

/* opt_value finds "--name value" or "--name=value" in argv[from..]. */
static const char *opt_value(int argc, char **argv, int from, const char *name) {
  size_t n = strlen(name);
  for (int i = from; i < argc; i++) {
    if (strncmp(argv[i], "--", 2) || strncmp(argv[i] + 2, name, n)) continue;
    if (argv[i][2 + n] == '=') return argv[i] + 3 + n;
    if (argv[i][2 + n] == '\0' && i + 1 < argc) return argv[i + 1];
  }
  return NULL;
}

static int cmd_health(const cli *c, int argc, char **argv, int i) {
  Grpc__Health__V1__HealthCheckRequest req = GRPC__HEALTH__V1__HEALTH_CHECK_REQUEST__INIT;
  req.service = i < argc && argv[i][0] != '-' ? argv[i] : "";
  const char *md[3];
  char bearer[8192];
  rpc_call_opts o = cli_opts(c, md, bearer, sizeof bearer);
  o.idempotent = 1;
  arena a;
  arena_init(&a);
  Grpc__Health__V1__HealthCheckResponse *resp = NULL;
  rpc_status st;
  int rc = rpc_call(c->addr, "/grpc.health.v1.Health/Check", &req.base,
                    &grpc__health__v1__health_check_response__descriptor, &o, &a, (void **)&resp, &st);
  if (rc != RPC_OK) {
    rc = cli_fail(c, "health", &st);
    arena_free(&a);
    return rc;
  }
  static const char *const names[] = {"UNKNOWN", "SERVING", "NOT_SERVING", "SERVICE_UNKNOWN"};
  const char *s = resp->status <= 3 ? names[resp->status] : "UNKNOWN";
  if (c->json)
    printf("{\"addr\":\"%s\",\"status\":\"%s\"}\n", c->addr, s);
  else
    printf("%s %s\n", c->addr, s);
  int serving = resp->status == GRPC__HEALTH__V1__HEALTH_CHECK_RESPONSE__SERVING_STATUS__SERVING;
  arena_free(&a);
  return serving ? 0 : RPC_UNAVAILABLE;
}

static char *read_secret_file(const char *path, char *buf, size_t cap) {
  FILE *f = fopen(path, "r");
  if (!f) return NULL;
  size_t n = fread(buf, 1, cap - 1, f);
  fclose(f);
  while (n && (buf[n - 1] == '\n' || buf[n - 1] == '\r')) n--;
  buf[n] = '\0';
  return n ? buf : NULL;
}

static int cmd_token(const cli *c, int argc, char **argv, int i) {
  const char *user = opt_value(argc, argv, i, "user"), *org = opt_value(argc, argv, i, "org");
  const char *role = opt_value(argc, argv, i, "role"), *team = opt_value(argc, argv, i, "team");
  const char *ttl_s = opt_value(argc, argv, i, "ttl"), *secret = opt_value(argc, argv, i, "secret");
  char buf[512];
  if (!secret) secret = getenv("ACCOLADE_JWT_HS256_SECRET");
  if (!secret) secret = read_secret_file(".accolade/jwt.secret", buf, sizeof buf);
  if (!user || !org) {
    fprintf(stderr, "accolade token: --user and --org are required\n");
    return EXIT_USAGE;
  }
  if (!secret) {
    fprintf(stderr, "accolade token: no secret (--secret, ACCOLADE_JWT_HS256_SECRET or .accolade/jwt.secret)\n");
    return EXIT_USAGE;
  }
  if (!role) role = "member";
  if (strcmp(role, "member") && strcmp(role, "manager") && strcmp(role, "admin") && strcmp(role, "integration")) {
    fprintf(stderr, "accolade token: --role must be member, manager, admin or integration\n");
    return EXIT_USAGE;
  }
  long ttl = ttl_s ? atol(ttl_s) : 3600;
  if (ttl <= 0 || ttl > 30L * 86400) {
    fprintf(stderr, "accolade token: --ttl must be between 1 and 2592000 seconds\n");
    return EXIT_USAGE;
  }
  char tok[4096];
  int64_t now = (int64_t)time(NULL);
  if (token_mint(secret, user, org, role, team, now, now + ttl, tok, sizeof tok) != 0) {
    fprintf(stderr, "accolade token: claims must not contain quotes, backslashes or newlines\n");
    return EXIT_USAGE;
  }
  if (c->json)
    printf("{\"token\":\"%s\",\"expires_at\":%lld}\n", tok, (long long)(now + ttl));
  else
    printf("%s\n", tok);
  return 0;
}

int main(int argc, char **argv) {
  cli c = {.addr = getenv("ACCOLADE_ADDR"), .token = getenv("ACCOLADE_TOKEN")};
  if (!c.addr || !*c.addr) c.addr = "127.0.0.1:50050";
  const char *tls_ca = getenv("ACCOLADE_TLS_CA"), *tls_cert = getenv("ACCOLADE_TLS_CLIENT_CERT");
  const char *tls_key = getenv("ACCOLADE_TLS_CLIENT_KEY"), *tls_name = getenv("ACCOLADE_TLS_NAME");
  int i = 1;
  for (; i < argc && strncmp(argv[i], "--", 2) == 0; i++) {
    const char *a = argv[i] + 2;
    if (!strcmp(a, "json")) {
      c.json = 1;
    } else if (!strcmp(a, "help")) {
      usage(stdout);
      return 0;
    } else if (i + 1 < argc && (!strcmp(a, "addr") || !strcmp(a, "token") || !strcmp(a, "timeout-ms") ||
                                !strncmp(a, "tls-", 4))) {
      const char *v = argv[++i];
      if (!strcmp(a, "addr")) c.addr = v;
      else if (!strcmp(a, "token")) c.token = v;
      else if (!strcmp(a, "timeout-ms")) c.timeout_ms = atoi(v);
      else if (!strcmp(a, "tls-ca")) tls_ca = v;
      else if (!strcmp(a, "tls-cert")) tls_cert = v;
      else if (!strcmp(a, "tls-key")) tls_key = v;
      else if (!strcmp(a, "tls-name")) tls_name = v;
      else {
        fprintf(stderr, "accolade: unknown option %s\n", argv[i - 1]);
        return EXIT_USAGE;
      }
    } else {
      fprintf(stderr, "accolade: unknown option %s\n", argv[i]);
      usage(stderr);
      return EXIT_USAGE;
    }
  }
  if (i >= argc) {
    usage(stderr);
    return EXIT_USAGE;
  }
  /* --json may also follow the command */
  int kept = i;
  for (int k = i; k < argc; k++) {
    if (!strcmp(argv[k], "--json")) c.json = 1;
    else argv[kept++] = argv[k];
  }
  argc = kept;
  const char *cmd = argv[i++];
  if (!strcmp(cmd, "token")) return cmd_token(&c, argc, argv, i);
  log_init("accolade", "error");
  rpc_runtime_init();
  char err[512];
  if (tls_client_setup(tls_ca && *tls_ca ? tls_ca : NULL, tls_cert, tls_key, tls_name, err, sizeof err) != 0) {
    fprintf(stderr, "accolade: %s\n", err);
    rpc_runtime_shutdown();
    return EXIT_NOINPUT;
  }
  int rc;
  if (!strcmp(cmd, "health")) {
    rc = cmd_health(&c, argc, argv, i);
  } else if ((rc = commands_run(&c, argc, argv, i - 1)) < 0) {
    fprintf(stderr, "accolade: unknown command '%s'\n", cmd);
    usage(stderr);
    rc = EXIT_USAGE;
  }
  rpc_client_shutdown();
  rpc_runtime_shutdown();
  return rc;
}
