/* gateway: JWT authentication, authorization, routing, rate limits.
 * Wiring only; see gateway.h for the settings. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "authz.h"
#include "front.h"
#include "gateway.h"
#include "log.h"
#include "metrics.h"
#include "redis.h"
#include "svc.h"

static gateway g_gw;

static double num(const config *cfg, const char *flag, const char *env, double def) {
  const char *v = config_str(cfg, flag, env, NULL);
  return v ? atof(v) : def;
}

static int load_pem_keys(const char *spec) {
  char buf[2048];
  snprintf(buf, sizeof buf, "%s", spec);
  for (char *save = NULL, *item = strtok_r(buf, ",", &save); item; item = strtok_r(NULL, ",", &save)) {
    char *alg = strchr(item, ':'), *path = alg ? strchr(alg + 1, ':') : NULL;
    if (!alg || !path) {
      log_error("ACCOLADE_JWT_KEYS: '%s' is not kid:ALG:path", item);
      return -1;
    }
    *alg++ = '\0';
    *path++ = '\0';
    jwt_alg a = !strcmp(alg, "RS256") ? JWT_RS256 : !strcmp(alg, "ES256") ? JWT_ES256 : 0;
    FILE *f = fopen(path, "r");
    char pem[16384];
    size_t n = f ? fread(pem, 1, sizeof pem, f) : 0;
    if (f) fclose(f);
    if (!a || !n || jwt_add_pem(&g_gw.jwt, item, a, pem, n) != 0) {
      log_error("ACCOLADE_JWT_KEYS: cannot load %s key '%s' from %s", alg, item, path);
      return -1;
    }
  }
  return 0;
}

static int init(const config *cfg, void **app) {
  const char *secret = config_str(cfg, "jwt-hs256-secret", "ACCOLADE_JWT_HS256_SECRET", NULL);
  if (secret && jwt_add_hs256(&g_gw.jwt, "", secret) != 0) return -1;
  const char *keys = config_str(cfg, "jwt-keys", "ACCOLADE_JWT_KEYS", NULL);
  if (keys && load_pem_keys(keys) != 0) return -1;
  if (g_gw.jwt.nkeys == 0) {
    log_error("no JWT key: set ACCOLADE_JWT_HS256_SECRET or ACCOLADE_JWT_KEYS");
    return -1;
  }
  snprintf(g_gw.jwt.issuer, sizeof g_gw.jwt.issuer, "%s", config_str(cfg, "jwt-issuer", "ACCOLADE_JWT_ISSUER", ""));
  snprintf(g_gw.jwt.audience, sizeof g_gw.jwt.audience, "%s",
           config_str(cfg, "jwt-audience", "ACCOLADE_JWT_AUDIENCE", ""));
  g_gw.jwt.leeway_s = (int)num(cfg, "jwt-leeway-s", "ACCOLADE_JWT_LEEWAY_S", 30);
  g_gw.member_rate = num(cfg, "rate-member", "ACCOLADE_GATEWAY_RATE_MEMBER", 50);
  g_gw.member_burst = num(cfg, "burst-member", "ACCOLADE_GATEWAY_BURST_MEMBER", 100);
  g_gw.org_rate = num(cfg, "rate-org", "ACCOLADE_GATEWAY_RATE_ORG", 1000);
  g_gw.org_burst = num(cfg, "burst-org", "ACCOLADE_GATEWAY_BURST_ORG", 2000);
  g_gw.max_streams = (int)num(cfg, "max-streams", "ACCOLADE_GATEWAY_MAX_STREAMS", 5);
  redis_setup_addr(config_str(cfg, "redis", "ACCOLADE_REDIS", "127.0.0.1:6379"),
                   config_str(cfg, "redis-password", "ACCOLADE_REDIS_PASSWORD", NULL));
  *app = &g_gw;
  return 0;
}

static void fini(void *app) {
  (void)app;
  jwt_config_free(&g_gw.jwt);
}

/* front takes the public port for the frame-level front (front.h), with
 * the public port's TLS (ACCOLADE_TLS_*) when set, unless
 * ACCOLADE_GATEWAY_FRONT=0 or the upstreams take TLS (the front speaks
 * plaintext HTTP/2 to them; with upstream TLS the gateway serves through
 * gRPC core as before). ACCOLADE_GATEWAY_TLS_HANDSHAKE_MS: a caller's TLS
 * handshake must be done within it (10 s, checked every second; the idle
 * bound, 600 s, is far too long for a connection that has proved nothing).
 * ACCOLADE_GATEWAY_LOOPS: its event loops, one per two cores
 * (rounded up): the services and the kernel's network work share the
 * cores. On 2 cores, with h2load and svc-leaderboard beside it, two loops
 * forwarded GetTop 1.20-1.35x HAProxy's rate but with a p99 at -c 4 -m 25
 * of 5.4 ms against HAProxy's 3.9; one loop, 1.11-1.21x with p99s under
 * HAProxy's at both settings (bench/gateway.sh, 2026-12-01);
 * ACCOLADE_GATEWAY_RESOLVE_MS: how often the services' names are looked up
 * again (30 s), on a thread of their own; ACCOLADE_GATEWAY_LIMITER_QUEUE:
 * the calls that may wait for a rate-limit lease from Redis (4096). */
static const char *front(const config *cfg, const char *listen, const tls_files *tls, void *app) {
  int on;
  long cores = sysconf(_SC_NPROCESSORS_ONLN), loops, idle, max_msg, resolve, limiter_queue, handshake;
  char err[256];
  if (config_bool(cfg, "front", "ACCOLADE_GATEWAY_FRONT", 1, &on, err, sizeof err) ||
      config_int(cfg, "loops", "ACCOLADE_GATEWAY_LOOPS", cores > 1 ? (cores + 1) / 2 : 1, 1, 256, &loops, err, sizeof err) ||
      config_int(cfg, "idle-ms", "ACCOLADE_IDLE_MS", 600000, 1000, 86400000, &idle, err, sizeof err) ||
      config_int(cfg, "max-message-bytes", "ACCOLADE_MAX_MESSAGE_BYTES", 4 << 20, 1024, 64 << 20, &max_msg, err,
                 sizeof err) ||
      config_int(cfg, "resolve-ms", "ACCOLADE_GATEWAY_RESOLVE_MS", 30000, 100, 3600000, &resolve, err, sizeof err) ||
      config_int(cfg, "limiter-queue", "ACCOLADE_GATEWAY_LIMITER_QUEUE", 4096, 1, 1000000, &limiter_queue, err,
                 sizeof err) ||
      config_int(cfg, "tls-handshake-ms", "ACCOLADE_GATEWAY_TLS_HANDSHAKE_MS", 10000, 100, 600000, &handshake, err,
                 sizeof err)) {
    log_error("%s", err);
    return NULL;
  }
  if (!on) return listen;
  if (config_str(cfg, "upstream-tls-ca", "ACCOLADE_UPSTREAM_TLS_CA", NULL)) {
    log_info("upstream TLS: the public port is served through gRPC core, not the frame-level front");
    return listen;
  }
  return front_start(app, listen, (int)loops, (int)idle, (size_t)max_msg, (int)resolve, (int)limiter_queue, tls,
                     (int)handshake) == 0
             ? front_inner_address()
             : NULL;
}

static void front_end(void *app, int grace_ms) {
  (void)app;
  front_stop(grace_ms);
}

/* raw_unary forwards a unary call outside the table (an unknown method,
 * refused before any upstream; in the test build, the test route) without holding a worker. */
static int raw_unary(rpc_ctx *ctx, const uint8_t *req, size_t len, uint8_t **out, size_t *out_len) {
  (void)out;
  (void)out_len;
  return gateway_unary_async(ctx, req, len);
}

static const rpc_raw_handler raw = {
    .is_stream = gateway_is_stream,
    .unary = raw_unary,
    .stream = gateway_stream,
};

/* unary_method forwards a public unary method registered with the server:
 * its request arrives with the call, the upstream call completes on the
 * workers' queue and its completion sends the reply, so no worker waits. */
static int unary_method(rpc_ctx *ctx, const void *req, void *resp) {
  (void)resp;
  const rpc_raw_request *r = req;
  return gateway_unary_async(ctx, r->data, r->len);
}

int main(int argc, char **argv) {
  /* Every unary method of the table is registered; streams, unknown methods
   * and the test build's test route take the generic path (raw). */
  static rpc_method methods[128];
  int n = 0;
  for (int i = 0; authz_at(i) && n < (int)(sizeof methods / sizeof methods[0]); i++) {
    metrics_register_method(authz_at(i)->method);   /* streams too: they take the generic path */
    if (!authz_at(i)->stream) methods[n++] = (rpc_method)RPC_RAW_UNARY(authz_at(i)->method, unary_method);
  }
  static svc_def def = {
      .name = "gateway",
      .env = "GATEWAY",
      .port = 50050,
      .raw = &raw,
      /* streams and the generic path wait on their upstream: 16 per core
       * measured best for those (bench/gateway.sh: 6.8k req/s at 6, 8.9k at 32) */
      .threads_per_core = 16,
      .init = init,
      .fini = fini,
      .front = front,
      .front_stop = front_end,
  };
  def.methods = methods;
  def.nmethods = n;
  return svc_main(argc, argv, &def);
}
