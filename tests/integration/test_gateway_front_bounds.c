/* The gateway's frame-level front against a caller that does not read: it
 * opens server streams whose answers are large, never grants HTTP/2 window,
 * and lets the answers pile up. While a service's stream is open its bytes
 * are held back by the windows; once it ends they wait in the gateway
 * outside any window, so the front closes a caller's connection for which it
 * holds more than 32 MiB, and keeps serving everyone else. The client is nghttp2 itself with automatic window updates
 * off: it reads every frame the gateway sends and never consumes one. */
#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <errno.h>
#include <netinet/in.h>
#include <nghttp2/nghttp2.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "accolade/test/v1/test.pb-c.h"
#include "clock.h"
#include "harness.h"

#define SECRET "front-bounds-secret"
#define STREAM "/accolade.test.v1.TestService/Stream"
#define ECHO "/accolade.test.v1.TestService/Echo"

static th_proc gw, testsvc;

static void setup(void) {
  th_init();
  cr_assert_eq(th_start(&testsvc, th_bin("accolade-testsvc"), NULL), 0);
  static char route[160], redis[64];
  snprintf(route, sizeof route, "ACCOLADE_GATEWAY_TEST_ROUTE=/accolade.test.v1.TestService/=%s", testsvc.addr);
  snprintf(redis, sizeof redis, "ACCOLADE_REDIS=127.0.0.1:%d", th_redis_port());
  const char *genv[] = {route, redis, "ACCOLADE_JWT_HS256_SECRET=" SECRET,
                        "ACCOLADE_AWARD_ADDR=127.0.0.1:1", "ACCOLADE_NOMINATION_ADDR=127.0.0.1:1",
                        "ACCOLADE_LEADERBOARD_ADDR=127.0.0.1:1", "ACCOLADE_NOTIFY_ADDR=127.0.0.1:1",
                        "ACCOLADE_GATEWAY_RATE_MEMBER=10000", "ACCOLADE_GATEWAY_BURST_MEMBER=10000",
                        /* one loop: every caller shares its upstream connection */
                        "ACCOLADE_GATEWAY_LOOPS=1", NULL};
  cr_assert_eq(th_start(&gw, th_bin("gateway-test"), genv), 0, "gateway did not start");
}

static void teardown(void) {
  cr_assert_eq(th_stop(&gw), 0, "gateway exit status (sanitizers clean)");
  cr_assert_eq(th_stop(&testsvc), 0);
  th_fini();
}

TestSuite(gateway_front_bounds, .init = setup, .fini = teardown, .timeout = 120);

/* The caller: counts what arrives and never consumes it. */
typedef struct caller {
  int fd;
  size_t data;      /* DATA bytes received, never given back as window */
  int closed_sid;   /* the last stream the gateway closed, */
  uint32_t closed_error;   /* and how */
} caller;

static ssize_t send_cb(nghttp2_session *s, const uint8_t *d, size_t n, int flags, void *ud) {
  (void)s, (void)flags;
  caller *c = ud;
  ssize_t w = send(c->fd, d, n, MSG_NOSIGNAL);
  if (w < 0) return errno == EAGAIN ? NGHTTP2_ERR_WOULDBLOCK : NGHTTP2_ERR_CALLBACK_FAILURE;
  return w;
}

static int data_cb(nghttp2_session *s, uint8_t flags, int32_t sid, const uint8_t *d, size_t n, void *ud) {
  (void)s, (void)flags, (void)sid, (void)d;
  ((caller *)ud)->data += n;
  return 0;
}

static int close_cb(nghttp2_session *s, int32_t sid, uint32_t error, void *ud) {
  (void)s;
  ((caller *)ud)->closed_sid = sid;
  ((caller *)ud)->closed_error = error;
  return 0;
}

/* never_ends: a request body that never comes (the caller's half stays open). */
static ssize_t never_ends(nghttp2_session *s, int32_t sid, uint8_t *out, size_t len, uint32_t *flags,
                          nghttp2_data_source *src, void *ud) {
  (void)s, (void)sid, (void)out, (void)len, (void)flags, (void)src, (void)ud;
  return NGHTTP2_ERR_DEFERRED;
}

/* The request body: one gRPC frame of an EchoRequest asking for |count|
 * replies of |text|. */
static uint8_t g_body[8192];
static size_t g_body_len;
static ssize_t body_cb(nghttp2_session *s, int32_t sid, uint8_t *out, size_t len, uint32_t *flags,
                       nghttp2_data_source *src, void *ud) {
  (void)s, (void)sid, (void)ud;
  size_t *off = src->ptr;
  size_t n = g_body_len - *off < len ? g_body_len - *off : len;
  memcpy(out, g_body + *off, n);
  *off += n;
  if (*off == g_body_len) *flags |= NGHTTP2_DATA_FLAG_EOF;
  return (ssize_t)n;
}

/* A hoarder: one connection, |streams| Stream calls of ~950 KB of answers
 * each (5 per member, the gateway's cap), windows never given back. */
typedef struct hoarder {
  caller c;
  nghttp2_session *s;
  nghttp2_session_callbacks *cbs;
  nghttp2_option *opt;
  int closed;   /* the gateway closed the connection */
} hoarder;

enum { COUNT = 230, MAX_STREAMS = 40 };

static void hoard_start(hoarder *h, int streams) {
  static char text[4001];
  memset(text, 'x', 4000);
  Accolade__Test__V1__EchoRequest req = ACCOLADE__TEST__V1__ECHO_REQUEST__INIT;
  req.text = text;
  req.count = COUNT;
  size_t n = protobuf_c_message_get_packed_size(&req.base);
  cr_assert_lt(n + 5, sizeof g_body);
  g_body[0] = 0;
  g_body[1] = (uint8_t)(n >> 24), g_body[2] = (uint8_t)(n >> 16), g_body[3] = (uint8_t)(n >> 8), g_body[4] = (uint8_t)n;
  protobuf_c_message_pack(&req.base, g_body + 5);
  g_body_len = n + 5;

  memset(h, 0, sizeof *h);
  h->c.fd = socket(AF_INET, SOCK_STREAM, 0);
  struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)gw.port)};
  inet_pton(AF_INET, "127.0.0.1", &sa.sin_addr);
  cr_assert_eq(connect(h->c.fd, (struct sockaddr *)&sa, sizeof sa), 0);
  nghttp2_session_callbacks_new(&h->cbs);
  nghttp2_session_callbacks_set_send_callback(h->cbs, send_cb);
  nghttp2_session_callbacks_set_on_data_chunk_recv_callback(h->cbs, data_cb);
  nghttp2_option_new(&h->opt);
  nghttp2_option_set_no_auto_window_update(h->opt, 1);
  nghttp2_session_client_new2(&h->s, h->cbs, &h->c, h->opt);
  nghttp2_submit_settings(h->s, NGHTTP2_FLAG_NONE, NULL, 0);

  static char bearer[MAX_STREAMS / 5][4096], authority[64];
  static size_t offs[MAX_STREAMS];
  cr_assert_leq(streams, MAX_STREAMS);
  memset(offs, 0, sizeof offs);
  snprintf(authority, sizeof authority, "127.0.0.1:%d", gw.port);
#define HDR(n, v) {(uint8_t *)(n), (uint8_t *)(v), strlen(n), strlen(v), NGHTTP2_NV_FLAG_NONE}
  for (int i = 0; i < streams; i++) {
    if (i % 5 == 0) {
      char user[32];
      snprintf(user, sizeof user, "hoarder-%d", i / 5);
      snprintf(bearer[i / 5], sizeof bearer[0], "Bearer %s", th_jwt(SECRET, "acme", user, "member", "", 600));
    }
    nghttp2_nv nv[] = {HDR(":method", "POST"), HDR(":scheme", "http"), HDR(":path", STREAM),
                       HDR(":authority", authority), HDR("content-type", "application/grpc"),
                       HDR("te", "trailers"), HDR("authorization", bearer[i / 5])};
    nghttp2_data_provider dp = {.source.ptr = &offs[i], .read_callback = body_cb};
    cr_assert_gt(nghttp2_submit_request(h->s, NULL, nv, sizeof nv / sizeof nv[0], &dp, NULL), 0);
  }
  cr_assert_eq(nghttp2_session_send(h->s), 0);
}

/* hoard_for reads everything the gateway sends for |ms|, consuming nothing,
 * or until it closes the connection. */
static void hoard_for(hoarder *h, int ms) {
  int64_t until = clock_now_ms() + ms;
  uint8_t in[65536];
  while (!h->closed && clock_now_ms() < until) {
    struct pollfd p = {.fd = h->c.fd, .events = POLLIN};
    if (poll(&p, 1, 100) <= 0) continue;
    ssize_t k = recv(h->c.fd, in, sizeof in, 0);
    if (k <= 0) {
      h->closed = 1;
      break;
    }
    nghttp2_session_mem_recv(h->s, in, (size_t)k);
    nghttp2_session_send(h->s);   /* SETTINGS and PING acks only: no WINDOW_UPDATE */
  }
}

static void hoard_end(hoarder *h) {
  close(h->c.fd);
  nghttp2_session_del(h->s);
  nghttp2_option_del(h->opt);
  nghttp2_session_callbacks_del(h->cbs);
}

/* served: another member's Echo answers through the gateway. */
static void served(const char *user) {
  arena a;
  arena_init(&a);
  static char bearer[4096];
  snprintf(bearer, sizeof bearer, "Bearer %s", th_jwt(SECRET, "acme", user, "member", "", 600));
  const char *md[] = {"authorization", bearer, NULL};
  rpc_call_opts o = {.timeout_ms = 5000, .metadata = md};
  Accolade__Test__V1__EchoRequest ok = ACCOLADE__TEST__V1__ECHO_REQUEST__INIT;
  ok.text = "still here";
  Accolade__Test__V1__EchoResponse *out;
  rpc_status st;
  cr_assert_eq(rpc_call(gw.addr, ECHO, &ok.base, &accolade__test__v1__echo_response__descriptor, &o, &a,
                        (void **)&out, &st), RPC_OK, "%s", st.message);
  cr_expect_str_eq(out->text, "still here");
  arena_free(&a);
}

Test(gateway_front_bounds, a_caller_that_never_reads_is_cut_off_and_others_are_served) {
  /* 40 streams: ~37 MiB of answers (the bound is 32) for a caller whose
   * windows stay at HTTP/2's 64 KiB. */
  hoarder h;
  hoard_start(&h, 40);
  hoard_for(&h, 30000);
  hoard_end(&h);
  cr_assert(h.closed, "the gateway kept the connection of a caller leaving ~37 MiB unread");
  cr_expect_leq(h.c.data, 65535, "more than the caller's window was sent: %zu bytes", h.c.data);
  served("bob");
}

Test(gateway_front_bounds, a_caller_that_does_not_read_stalls_no_one_else) {
  /* 25 streams: ~23 MiB held for the caller, under the bound but more than
   * the upstream connection's 16 MiB window, which every caller of this
   * loop shares: it must come back as bytes arrive, not as the hoarder
   * reads them. */
  hoarder h;
  hoard_start(&h, 25);
  hoard_for(&h, 2000);
  cr_assert_not(h.closed, "a caller under the bound was cut off");
  int64_t t0 = clock_now_ms();
  served("carol");
  cr_expect_lt(clock_now_ms() - t0, 2000, "another caller waited behind the hoarder");
  hoard_end(&h);
}

Test(gateway_front_bounds, a_stream_answered_while_its_caller_keeps_its_half_open_is_reset) {
  /* No token: refused at once (UNAUTHENTICATED, trailers only), and the
   * caller never ends its half. The gateway resets the stream (NO_ERROR)
   * rather than keep it until the connection closes. */
  caller c = {.fd = socket(AF_INET, SOCK_STREAM, 0)};
  struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)gw.port)};
  inet_pton(AF_INET, "127.0.0.1", &sa.sin_addr);
  cr_assert_eq(connect(c.fd, (struct sockaddr *)&sa, sizeof sa), 0);
  nghttp2_session_callbacks *cbs;
  nghttp2_session_callbacks_new(&cbs);
  nghttp2_session_callbacks_set_send_callback(cbs, send_cb);
  nghttp2_session_callbacks_set_on_stream_close_callback(cbs, close_cb);
  nghttp2_session *s;
  nghttp2_session_client_new(&s, cbs, &c);
  nghttp2_submit_settings(s, NGHTTP2_FLAG_NONE, NULL, 0);
  char authority[64];
  snprintf(authority, sizeof authority, "127.0.0.1:%d", gw.port);
  /* a method of the table: the front answers it itself (a path outside goes
   * to the gateway's gRPC server, which waits first_message_ms for the message) */
  nghttp2_nv nv[] = {HDR(":method", "POST"), HDR(":scheme", "http"),
                     HDR(":path", "/accolade.v1.LeaderboardService/GetTop"), HDR(":authority", authority),
                     HDR("content-type", "application/grpc"), HDR("te", "trailers")};
  nghttp2_data_provider dp = {.read_callback = never_ends};
  int32_t sid = nghttp2_submit_request(s, NULL, nv, sizeof nv / sizeof nv[0], &dp, NULL);
  cr_assert_gt(sid, 0);
  cr_assert_eq(nghttp2_session_send(s), 0);
  int64_t until = clock_now_ms() + 5000;
  uint8_t in[16384];
  while (c.closed_sid != sid && clock_now_ms() < until) {
    struct pollfd p = {.fd = c.fd, .events = POLLIN};
    if (poll(&p, 1, 100) <= 0) continue;
    ssize_t k = recv(c.fd, in, sizeof in, 0);
    if (k <= 0) break;
    nghttp2_session_mem_recv(s, in, (size_t)k);
    nghttp2_session_send(s);
  }
  close(c.fd);
  nghttp2_session_del(s);
  nghttp2_session_callbacks_del(cbs);
  cr_assert_eq(c.closed_sid, sid, "the stream was kept open by the caller's open half");
  cr_expect_eq(c.closed_error, NGHTTP2_NO_ERROR);
}
