/* webhook.c - signed webhook deliveries with libcurl, retries and an SSRF guard. */
#include <arpa/inet.h>
#include <curl/curl.h>
#include <netdb.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "delivery.h"
#include "hex.h"
#include "log.h"
#include "pg.h"
#include "metrics.h"
#include "notify.h"
#include "store.h"

#define MAX_ATTEMPTS 5
#define POST_TIMEOUT_MS 5000L
#define ROUND WEBHOOK_ROUND   /* deliveries claimed at a time */
/* A delivery that takes this long (to answer or to fail) marks its channel
 * slow for SLOW_HOLD_S: its deliveries then go by the slow lane. */
#define SLOW_MS 2000
#define SLOW_HOLD_S 600

/* Three lanes, a thread each, a round at a time. A round waits for its
 * slowest delivery, so channels that answer slowly (or never, up to the
 * timeout) are taken by a lane of their own: an org's endpoint can delay
 * other orgs' deliveries by one round once, when it is first found slow,
 * and again only after SLOW_HOLD_S without a slow delivery. Emails (member
 * mails and email channels) have the third: one relay serves them all, and
 * a week's digest mails, or a relay slow to answer, hold up no webhook. */
typedef struct lane {
  delivery_lane which;
  pthread_t thread;
  pthread_mutex_t mu;
  const char *slowed[ROUND];   /* channels found slow this round (malloc'd) */
  int nslowed;
} lane;

static atomic_int g_stop;
#define LANES 3
static lane g_lanes[LANES] = {{.which = LANE_MAIN, .mu = PTHREAD_MUTEX_INITIALIZER},
                              {.which = LANE_SLOW, .mu = PTHREAD_MUTEX_INITIALIZER},
                              {.which = LANE_MAIL, .mu = PTHREAD_MUTEX_INITIALIZER}};
static int g_started;
static int g_allow_private;
static long g_retry_base_ms = 1000;   /* ACCOLADE_NOTIFY_RETRY_BASE_MS */

int webhook_allow_private(void) { return g_allow_private; }

void webhook_sign(const char *secret, const char *ts, const char *body, char out[80]) {
  unsigned char mac[EVP_MAX_MD_SIZE];
  unsigned int ml = 0;
  size_t n = strlen(ts) + 1 + strlen(body);
  char *msg = malloc(n + 1);
  snprintf(msg, n + 1, "%s.%s", ts, body);
  HMAC(EVP_sha256(), secret, (int)strlen(secret), (unsigned char *)msg, n, mac, &ml);
  free(msg);
  memcpy(out, "sha256=", 7);
  hex_encode(out + 7, mac, ml < 36 ? ml : 36);   /* 7 + 72 + 1 bytes at most */
}

/* blocked: loopback, private, link-local, CGNAT, unspecified, multicast. */
static int blocked(const struct sockaddr *sa) {
  if (sa->sa_family == AF_INET) {
    uint32_t a = ntohl(((const struct sockaddr_in *)sa)->sin_addr.s_addr);
    return (a >> 24) == 0 || (a >> 24) == 10 || (a >> 24) == 127 || (a >> 16) == 0xa9fe ||
           (a >> 20) == 0xac1 || (a >> 16) == 0xc0a8 || (a >> 22) == (100u << 2 | 1) || (a >> 28) == 0xe ||
           a == 0xffffffffu;
  }
  if (sa->sa_family == AF_INET6) {
    const struct in6_addr *a = &((const struct sockaddr_in6 *)sa)->sin6_addr;
    if (IN6_IS_ADDR_LOOPBACK(a) || IN6_IS_ADDR_UNSPECIFIED(a) || IN6_IS_ADDR_LINKLOCAL(a) ||
        IN6_IS_ADDR_SITELOCAL(a) || IN6_IS_ADDR_MULTICAST(a) || (a->s6_addr[0] & 0xfe) == 0xfc)
      return 1;
    if (IN6_IS_ADDR_V4MAPPED(a)) {
      struct sockaddr_in v4 = {.sin_family = AF_INET};
      memcpy(&v4.sin_addr, a->s6_addr + 12, 4);
      return blocked((struct sockaddr *)&v4);
    }
    return 0;
  }
  return 1;
}

int webhook_url_allowed(const char *url, int allow_private, char *resolve, size_t cap, const char **why) {
  CURLU *u = curl_url();
  char *host = NULL, *port = NULL, *scheme = NULL;
  int rc = -1;
  *why = "not a valid http(s) URL";
  if (curl_url_set(u, CURLUPART_URL, url, 0) != CURLUE_OK || curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) != CURLUE_OK ||
      curl_url_get(u, CURLUPART_HOST, &host, 0) != CURLUE_OK ||
      curl_url_get(u, CURLUPART_PORT, &port, CURLU_DEFAULT_PORT) != CURLUE_OK)
    goto out;
  if (strcmp(scheme, "http") && strcmp(scheme, "https")) goto out;
  char h[256];
  snprintf(h, sizeof h, "%s", host);
  if (h[0] == '[') {   /* [v6] */
    memmove(h, h + 1, strlen(h));
    h[strcspn(h, "]")] = 0;
  }
  struct addrinfo hints = {.ai_socktype = SOCK_STREAM}, *res = NULL;
  if (getaddrinfo(h, port, &hints, &res) != 0 || !res) {
    *why = "the host does not resolve";
    goto out;
  }
  char first[INET6_ADDRSTRLEN] = "";
  int bad = 0;
  for (struct addrinfo *ai = res; ai; ai = ai->ai_next) {
    bad |= blocked(ai->ai_addr);
    if (!first[0]) {
      const void *addr = ai->ai_family == AF_INET ? (const void *)&((struct sockaddr_in *)ai->ai_addr)->sin_addr
                                                  : (const void *)&((struct sockaddr_in6 *)ai->ai_addr)->sin6_addr;
      inet_ntop(ai->ai_family, addr, first, sizeof first);
    }
  }
  freeaddrinfo(res);
  if (bad && !allow_private) {
    *why = "private, loopback and link-local addresses are refused (server-side request forgery guard)";
    goto out;
  }
  /* curl connects to exactly the address checked here. */
  snprintf(resolve, cap, strchr(first, ':') ? "%s:%s:[%s]" : "%s:%s:%s", host, port, first);
  rc = 0;
  *why = NULL;
out:
  curl_free(host);
  curl_free(port);
  curl_free(scheme);
  curl_url_cleanup(u);
  return rc;
}

static size_t discard(char *p, size_t s, size_t n, void *u) {
  (void)p;
  (void)u;
  return s * n;
}

/* post sends one delivery (a "mailto:" one by SMTP, see mail.c); returns the
 * HTTP status, or 0 with |err| set. */
static long post(const char *url, const char *secret, const char *body, char *err, size_t errlen) {
  if (!strncmp(url, "mailto:", 7)) return mail_send(url + 7, body, err, errlen);
  char resolve[600];
  const char *why;
  if (webhook_url_allowed(url, g_allow_private, resolve, sizeof resolve, &why) != 0) {
    snprintf(err, errlen, "refused: %s", why);
    return -1;
  }
  CURL *c = curl_easy_init();
  if (!c) {
    snprintf(err, errlen, "curl init failed");
    return 0;
  }
  char ts[24], sig[80], h1[64], h2[120];
  snprintf(ts, sizeof ts, "%lld", (long long)time(NULL));
  webhook_sign(secret, ts, body, sig);
  snprintf(h1, sizeof h1, "X-Accolade-Timestamp: %s", ts);
  snprintf(h2, sizeof h2, "X-Accolade-Signature: %s", sig);
  struct curl_slist *hdr = curl_slist_append(NULL, "Content-Type: application/json");
  hdr = curl_slist_append(hdr, h1);
  hdr = curl_slist_append(hdr, h2);
  struct curl_slist *res = curl_slist_append(NULL, resolve);
  char cerr[CURL_ERROR_SIZE] = "";
  curl_easy_setopt(c, CURLOPT_URL, url);
  curl_easy_setopt(c, CURLOPT_RESOLVE, res);
  curl_easy_setopt(c, CURLOPT_HTTPHEADER, hdr);
  curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
  curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, POST_TIMEOUT_MS);
  curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, 3000L);
  curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 0L);   /* a redirect could point anywhere */
  curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
  curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, discard);
  curl_easy_setopt(c, CURLOPT_ERRORBUFFER, cerr);
  curl_easy_setopt(c, CURLOPT_USERAGENT, "accolade-webhooks/1");
  long status = 0;
  CURLcode rc = curl_easy_perform(c);
  if (rc == CURLE_OK)
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
  else
    snprintf(err, errlen, "%s", cerr[0] ? cerr : curl_easy_strerror(rc));
  curl_slist_free_all(hdr);
  curl_slist_free_all(res);
  curl_easy_cleanup(c);
  return status;
}

/* found_slow notes that a delivery to |channel| took |ms|. */
static void found_slow(lane *l, const char *channel, int64_t ms) {
  pthread_mutex_lock(&l->mu);
  int seen = 0;
  for (int i = 0; i < l->nslowed && !seen; i++) seen = !strcmp(l->slowed[i], channel);
  if (!seen && l->nslowed < ROUND) {
    char *c = strdup(channel);
    if (c) l->slowed[l->nslowed++] = c;
    if (c && l->which == LANE_MAIN)
      log_warn("webhook: channel %s took %lld ms: its deliveries go by the slow lane for %d s", channel, (long long)ms,
               SLOW_HOLD_S);
  }
  pthread_mutex_unlock(&l->mu);
}

/* deliver_one sends one claimed delivery (id, attempts, url, secret, body,
 * channel): 2xx is delivered; 4xx (but 408 and 429) will not get better, nor
 * will a refused URL; the rest is retried. A slow one marks its channel. */
static delivery_verdict deliver_one(void *arg, delivery_row *row, char *err, size_t cap) {
  int64_t t0 = rpc_now_ms();
  long status = post(pg_str(row->r, row->row, 2), pg_str(row->r, row->row, 3), pg_str(row->r, row->row, 4), err, cap);
  int64_t took = rpc_now_ms() - t0;
  const char *channel = pg_str(row->r, row->row, 5);
  lane *l = arg;
  if (took >= SLOW_MS && channel[0] && l->which != LANE_MAIL) found_slow(l, channel, took);
  if (status >= 200 && status < 300) return DELIVERY_OK;
  if (status > 0) snprintf(err, cap, "HTTP %ld", status);
  int permanent = status == -1 || (status >= 400 && status < 500 && status != 408 && status != 429);
  return permanent ? DELIVERY_DEAD : DELIVERY_RETRY;
}

/* mark_slow records the channels the round found slow (a failure leaves
 * them in the main lane; the next slow delivery tries again). */
static void mark_slow(lane *l) {
  pthread_mutex_lock(&l->mu);
  int n = l->nslowed;
  const char *ids[ROUND];
  memcpy(ids, l->slowed, sizeof *ids * (size_t)n);
  l->nslowed = 0;
  pthread_mutex_unlock(&l->mu);
  if (!n) return;
  arena a;
  arena_init(&a);
  int rc = store_channels_slow(&a, ids, (size_t)n, SLOW_HOLD_S);
  arena_free(&a);
  if (rc != RPC_OK) log_warn("webhook: cannot mark %d slow channels: %s", n, pg_code_name(rc));
  else if (l->which == LANE_MAIN) metrics_count("accolade_webhook_channels_slowed_total", "", n);
  for (int i = 0; i < n; i++) free((void *)ids[i]);
}

/* deliver_due sends |l|'s due deliveries once (the delivery engine, with
 * the statements of store.c); returns how many it tried. */
static int deliver_due(lane *l) {
  delivery_engine e = {
      .name = "webhook",
      /* All of a round at once: an endpoint that never answers costs its
       * own rows a timeout each, not every row behind them in the round. */
      .parallel = ROUND,
      /* per wave: a delivery's longest time (an email's, the longer), so no
       * other replica takes a row while it is still on its way */
      .lease_ms = (int)(MAIL_SEND_TIMEOUT_MS > POST_TIMEOUT_MS ? MAIL_SEND_TIMEOUT_MS : POST_TIMEOUT_MS) + 4000,
      .max_attempts = MAX_ATTEMPTS,
      .retry_base_ms = (int)g_retry_base_ms,
      .retry_max_ms = 3600000,
      .deliver = deliver_one,
      .arg = l,
  };
  store_delivery_statements(&e, l->which);
  int n = delivery_round(&e);
  mark_slow(l);
  return n;
}

/* worker runs one lane; the main lane's also queues the digests when due. */
static void *worker(void *arg) {
  lane *l = arg;
  const char *scan = getenv("ACCOLADE_NOTIFY_DIGEST_SCAN_MS");
  int64_t digest_every = scan && atol(scan) > 0 ? atol(scan) : 3600000, last_digest = 0;
  while (!atomic_load(&g_stop)) {
    if (l->which == LANE_MAIN && rpc_now_ms() - last_digest >= digest_every) {
      digest_post_due();
      mail_digest_due();
      last_digest = rpc_now_ms();
    }
    int n = deliver_due(l);
    pg_release();   /* not held while it sleeps */
    if (n > 0) continue;
    for (int i = 0; i < 4 && !atomic_load(&g_stop); i++) usleep(50 * 1000);
  }
  pg_disconnect();
  return NULL;
}

void webhook_start(int allow_private) {
  g_allow_private = allow_private;
  const char *base = getenv("ACCOLADE_NOTIFY_RETRY_BASE_MS");
  if (base && atol(base) > 0) g_retry_base_ms = atol(base);
  curl_global_init(CURL_GLOBAL_DEFAULT);
  atomic_store(&g_stop, 0);
  g_started = 0;
  for (int i = 0; i < LANES; i++)
    if (pthread_create(&g_lanes[i].thread, NULL, worker, &g_lanes[i]) == 0) g_started |= 1 << i;
}

void webhook_stop(void) {
  atomic_store(&g_stop, 1);
  for (int i = 0; i < LANES; i++)
    if (g_started & 1 << i) pthread_join(g_lanes[i].thread, NULL);
  g_started = 0;
  curl_global_cleanup();
}
