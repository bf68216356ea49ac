/* svc-notify over real gRPC and Postgres, with a local HTTP receiver. */
#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <netinet/in.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "accolade/v1/notify.pb-c.h"
#include "harness.h"
#include <libpq-fe.h>

#define SVC "/accolade.v1.NotifyService/"
#define SECRET "channel-secret-0123456789"

static th_proc nt;
static const char *dsn;
static char org[64];
static identity svc, ann, admin;

/* svc-notify's environment; the last slots are free for a test to add to. */
static const char *nt_env[12];

static void setup(void) {
  th_init();
  static char pg[600];
  dsn = th_new_database("notify");
  snprintf(pg, sizeof pg, "ACCOLADE_NOTIFY_PG=%s", dsn);
  /* no svc-leaderboard, svc-award or svc-nomination here: the digest must say so */
  static char lb[64], aw[64], no[64];
  snprintf(lb, sizeof lb, "ACCOLADE_LEADERBOARD_ADDR=127.0.0.1:%d", th_free_port());
  snprintf(aw, sizeof aw, "ACCOLADE_AWARD_ADDR=127.0.0.1:%d", th_free_port());
  snprintf(no, sizeof no, "ACCOLADE_NOMINATION_ADDR=127.0.0.1:%d", th_free_port());
  const char *env[] = {pg, lb, aw, no, "ACCOLADE_NOTIFY_ALLOW_PRIVATE=1", "ACCOLADE_NOTIFY_RETRY_BASE_MS=50",
                       "ACCOLADE_NOTIFY_DIGEST_SCAN_MS=200", NULL};
  memcpy(nt_env, env, sizeof env);
  cr_assert_eq(th_start(&nt, th_bin("svc-notify"), nt_env), 0, "svc-notify did not start");
  static int seq;
  snprintf(org, sizeof org, "nt-%d-%d", getpid(), seq++);
  th_as(&svc, org, "svc:award", "service", "");
  th_as(&ann, org, "ann", "member", "east");
  th_as(&admin, org, "ada", "admin", "");
}

static void teardown(void) {
  cr_assert_eq(th_stop(&nt), 0);
  th_fini();
}

TestSuite(notify, .init = setup, .fini = teardown, .timeout = 120);

static int publish_award(const char *event_id, const char *recipient, const char *badge, int64_t points, int64_t ms,
                         int *accepted) {
  arena a;
  arena_init(&a);
  Accolade__V1__AwardRecord rec = ACCOLADE__V1__AWARD_RECORD__INIT;
  rec.award_id = (char *)event_id;
  rec.org = org;
  rec.badge_id = (char *)badge;
  rec.badge_name = !strcmp(badge, "knowledge-sharer") ? "Knowledge Sharer" : "Deal Closer";
  rec.points = points;
  rec.granted_at_ms = ms;
  rec.recipient_id = (char *)recipient;
  rec.recipient_team = "east";
  rec.public_ = 1;
  rec.justification = "Closed Northwind";
  rec.source_id = (char *)event_id;   /* as if nomination |event_id| gave it */
  Accolade__V1__Event ev = ACCOLADE__V1__EVENT__INIT;
  ev.event_id = (char *)event_id;
  ev.org = org;
  ev.kind_case = ACCOLADE__V1__EVENT__KIND_AWARD_GRANTED;
  ev.award_granted = &rec;
  Accolade__V1__PublishEventResponse *out;
  rpc_status st;
  int rc = th_call(nt.addr, SVC "PublishEvent", &ev, &accolade__v1__publish_event_response__descriptor, &svc, &a,
                   (void **)&out, &st);
  if (rc == RPC_OK && accepted) *accepted = out->accepted;
  arena_free(&a);
  return rc;
}

/* publish_approved: svc-nomination's NominationApproved for nomination |id|. */
static void publish_approved(const char *id, const char *nominee, int64_t endorsements, int public_, int64_t ms) {
  arena a;
  arena_init(&a);
  Accolade__V1__NominationEvent n = ACCOLADE__V1__NOMINATION_EVENT__INIT;
  char *nominees[] = {(char *)nominee};
  n.nomination_id = (char *)id;
  n.badge_name = "Deal Closer";
  n.nominator_id = "zed";
  n.nominee_ids = nominees;
  n.n_nominee_ids = 1;
  n.justification = "Turned the Northwind renewal around in a week";
  n.public_ = public_;
  n.endorsements = endorsements;
  Accolade__V1__Event ev = ACCOLADE__V1__EVENT__INIT;
  ev.event_id = arena_printf(&a, "nomination-approved:%s", id);
  ev.org = org;
  ev.occurred_at_ms = ms;
  ev.kind_case = ACCOLADE__V1__EVENT__KIND_NOMINATION_APPROVED;
  ev.nomination_approved = &n;
  void *out;
  rpc_status st;
  cr_assert_eq(th_call(nt.addr, SVC "PublishEvent", &ev, &accolade__v1__publish_event_response__descriptor, &svc, &a,
                       &out, &st), RPC_OK, "%s", st.message);
  arena_free(&a);
}

static int publish(const char *event_id, const char *recipient, int *accepted) {
  return publish_award(event_id, recipient, "deal-closer", 50, 0, accepted);
}

static int inbox_count(const identity *who) {
  arena a;
  arena_init(&a);
  Accolade__V1__ListInboxRequest r = ACCOLADE__V1__LIST_INBOX_REQUEST__INIT;
  Accolade__V1__ListInboxResponse *out;
  rpc_status st;
  cr_assert_eq(th_call(nt.addr, SVC "ListInbox", &r, &accolade__v1__list_inbox_response__descriptor, who, &a,
                       (void **)&out, &st), RPC_OK, "%s", st.message);
  int n = (int)out->n_notifications;
  arena_free(&a);
  return n;
}

Test(notify, the_same_event_three_times_gives_one_inbox_row) {
  int acc[3];
  for (int i = 0; i < 3; i++) cr_assert_eq(publish("ev-1", "ann", &acc[i]), RPC_OK);
  cr_assert_eq(acc[0], 1);
  cr_assert_eq(acc[1], 0);
  cr_assert_eq(acc[2], 0);
  cr_assert_eq(inbox_count(&ann), 1);
  identity other;
  char org_b[80];
  snprintf(org_b, sizeof org_b, "%s-b", org);
  th_as(&other, org_b, "ann", "member", "");
  cr_assert_eq(inbox_count(&other), 0, "org B's ann sees nothing of org A's");
  cr_assert_eq(publish("ev-x", "ann", NULL), RPC_OK);
  arena a;
  arena_init(&a);
  Accolade__V1__MarkReadRequest mr = ACCOLADE__V1__MARK_READ_REQUEST__INIT;
  mr.all = 1;
  Accolade__V1__MarkReadResponse *m;
  rpc_status st;
  cr_assert_eq(th_call(nt.addr, SVC "MarkRead", &mr, &accolade__v1__mark_read_response__descriptor, &ann, &a, (void **)&m, &st),
               RPC_OK);
  cr_assert_eq(m->marked, 2);
  cr_assert_eq(m->unread_count, 0);
  /* Only services publish. */
  Accolade__V1__Event ev = ACCOLADE__V1__EVENT__INIT;
  ev.event_id = "forged";
  ev.org = org;
  cr_assert_eq(th_call(nt.addr, SVC "PublishEvent", &ev, &accolade__v1__publish_event_response__descriptor, &admin, &a,
                       (void **)&m, &st), RPC_PERMISSION_DENIED);
  arena_free(&a);
}

Test(notify, muted_kinds_are_not_delivered) {
  arena a;
  arena_init(&a);
  char *muted[] = {"award_granted"};
  Accolade__V1__Preferences p = ACCOLADE__V1__PREFERENCES__INIT;
  p.muted_kinds = muted;
  p.n_muted_kinds = 1;
  Accolade__V1__UpdatePreferencesRequest r = ACCOLADE__V1__UPDATE_PREFERENCES_REQUEST__INIT;
  r.preferences = &p;
  void *out;
  rpc_status st;
  cr_assert_eq(th_call(nt.addr, SVC "UpdatePreferences", &r, &accolade__v1__preferences__descriptor, &ann, &a, &out, &st), RPC_OK,
               "%s", st.message);
  cr_assert_eq(publish("ev-m", "ann", NULL), RPC_OK);
  cr_assert_eq(inbox_count(&ann), 0);
  char *bad[] = {"everything"};
  p.muted_kinds = bad;
  cr_assert_eq(th_call(nt.addr, SVC "UpdatePreferences", &r, &accolade__v1__preferences__descriptor, &ann, &a, &out, &st),
               RPC_INVALID_ARGUMENT);
  cr_assert(strstr(st.message, "preferences.muted_kinds[0]"), "%s", st.message);
  arena_free(&a);
}

typedef struct sub {
  int64_t after;
  int want;
  int got;
  int64_t ids[64];
} sub;

static int on_note(void *arg, const uint8_t *buf, size_t len) {
  sub *s = arg;
  Accolade__V1__Notification *n = accolade__v1__notification__unpack(NULL, len, buf);
  if (!n) return 1;
  if (!n->heartbeat && s->got < 64) s->ids[s->got++] = n->id;
  accolade__v1__notification__free_unpacked(n, NULL);
  return s->got >= s->want;   /* then hang up */
}

static void subscribe(sub *s, int from_start) {
  arena a;
  arena_init(&a);
  Accolade__V1__SubscribeRequest r = ACCOLADE__V1__SUBSCRIBE_REQUEST__INIT;
  r.after_id = s->after;
  r.from_start = from_start;
  r.heartbeat_seconds = 1;
  uint8_t buf[64];
  size_t n = accolade__v1__subscribe_request__pack(&r, buf);
  rpc_call_opts o = {.as = &ann, .timeout_ms = 15000};
  rpc_status st;
  rpc_call_stream_raw(nt.addr, SVC "Subscribe", buf, n, &o, &a, on_note, s, NULL, &st);
  arena_free(&a);
}

static void *subscribe_new(void *s) {
  subscribe(s, 0);
  return NULL;
}

Test(notify, a_subscriber_that_resumes_gets_everything_exactly_once) {
  for (int i = 0; i < 3; i++) {
    char id[16];
    snprintf(id, sizeof id, "s%d", i);
    publish(id, "ann", NULL);
  }
  sub first = {.want = 2};
  subscribe(&first, 1);   /* reads 2 of 3, then disconnects */
  cr_assert_eq(first.got, 2);
  for (int i = 3; i < 5; i++) {
    char id[16];
    snprintf(id, sizeof id, "s%d", i);
    publish(id, "ann", NULL);
  }
  sub second = {.after = first.ids[1], .want = 3};
  subscribe(&second, 0);
  cr_assert_eq(second.got, 3, "the rest: one missed before, two new");
  int64_t all[5] = {first.ids[0], first.ids[1], second.ids[0], second.ids[1], second.ids[2]};
  for (int i = 1; i < 5; i++) cr_assert_gt(all[i], all[i - 1], "in order, none twice");
  /* Live: a notification published while subscribed arrives. */
  sub live = {.after = all[4], .want = 1};
  pthread_t t;
  pthread_create(&t, NULL, subscribe_new, &live);
  usleep(300 * 1000);
  publish("s-live", "ann", NULL);
  pthread_join(t, NULL);
  cr_assert_eq(live.got, 1);
}

/* ---- a local HTTP receiver ---- */

typedef struct receiver {
  int fd, port;
  atomic_int requests;
  int fail_first;   /* answer 500 to this many requests, then 200 */
  int hold_ms;      /* wait this long before answering */
  char last_ts[32], last_sig[100], last_body[4096];
  pthread_t thread;
} receiver;

static void *serve(void *arg) {
  receiver *r = arg;
  for (;;) {
    int c = accept(r->fd, NULL, NULL);
    if (c < 0) return NULL;
    char buf[16384];
    size_t n = 0;
    ssize_t k;
    char *body = NULL;
    long want = -1;
    while ((k = read(c, buf + n, sizeof buf - 1 - n)) > 0) {
      n += (size_t)k;
      buf[n] = 0;
      char *end = strstr(buf, "\r\n\r\n");
      if (end && want < 0) {
        char *cl = strcasestr(buf, "content-length:");
        want = cl ? atol(cl + 15) : 0;
        body = end + 4;
      }
      if (body && (long)(n - (size_t)(body - buf)) >= want) break;
    }
    int i = atomic_fetch_add(&r->requests, 1);
    char *h = strcasestr(buf, "x-accolade-timestamp: ");
    if (h) sscanf(h + 22, "%31s", r->last_ts);
    h = strcasestr(buf, "x-accolade-signature: ");
    if (h) sscanf(h + 22, "%99s", r->last_sig);
    if (body) snprintf(r->last_body, sizeof r->last_body, "%s", body);
    if (r->hold_ms) usleep((useconds_t)r->hold_ms * 1000);
    const char *resp = i < r->fail_first ? "HTTP/1.1 500 Oops\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
                                         : "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok";
    if (write(c, resp, strlen(resp)) < 0) {
    }
    close(c);
  }
}

static void receiver_start(receiver *r, int fail_first) {
  memset(r, 0, sizeof *r);
  r->fail_first = fail_first;
  r->fd = socket(AF_INET, SOCK_STREAM, 0);
  struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
  socklen_t len = sizeof a;
  bind(r->fd, (struct sockaddr *)&a, sizeof a);
  listen(r->fd, 16);
  getsockname(r->fd, (struct sockaddr *)&a, &len);
  r->port = ntohs(a.sin_port);
  pthread_create(&r->thread, NULL, serve, r);
}

static char *create_channel_as(arena *a, const char *url, const char *format, rpc_status *st, int *rc) {
  Accolade__V1__Channel c = ACCOLADE__V1__CHANNEL__INIT;
  c.url = (char *)url;
  c.secret = SECRET;
  c.format = (char *)format;
  Accolade__V1__CreateChannelRequest r = ACCOLADE__V1__CREATE_CHANNEL_REQUEST__INIT;
  r.channel = &c;
  Accolade__V1__Channel *out;
  *rc = th_call(nt.addr, SVC "CreateChannel", &r, &accolade__v1__channel__descriptor, &admin, a, (void **)&out, st);
  return *rc == RPC_OK ? out->id : NULL;
}

static char *create_channel(arena *a, const char *url, rpc_status *st, int *rc) {
  return create_channel_as(a, url, "", st, rc);
}

static Accolade__V1__Delivery *wait_delivery(arena *a, const char *channel, const char *status) {
  Accolade__V1__ListDeliveriesRequest r = ACCOLADE__V1__LIST_DELIVERIES_REQUEST__INIT;
  r.channel_id = (char *)channel;
  Accolade__V1__ListDeliveriesResponse *out;
  rpc_status st;
  for (int i = 0; i < 200; i++) {
    cr_assert_eq(th_call(nt.addr, SVC "ListDeliveries", &r, &accolade__v1__list_deliveries_response__descriptor, &admin, a,
                         (void **)&out, &st), RPC_OK, "%s", st.message);
    if (out->n_deliveries && !strcmp(out->deliveries[0]->status, status)) return out->deliveries[0];
    usleep(50 * 1000);
  }
  return out->n_deliveries ? out->deliveries[0] : NULL;
}

static void receiver_stop(receiver *r) {
  shutdown(r->fd, SHUT_RDWR);
  close(r->fd);
  pthread_join(r->thread, NULL);
}

/* hook_channel starts |rcv| (answering 500 to the first |fail_first|
 * requests) and creates a channel posting to it; returns the channel id. */
static char *hook_channel(receiver *rcv, int fail_first, arena *a) {
  receiver_start(rcv, fail_first);
  char url[96];
  snprintf(url, sizeof url, "http://127.0.0.1:%d/hook", rcv->port);
  rpc_status st;
  int rc;
  char *ch = create_channel(a, url, &st, &rc);
  cr_assert_eq(rc, RPC_OK, "%s", st.message);
  return ch;
}

Test(notify, webhooks_are_signed_retried_on_500_and_dead_lettered) {
  receiver rcv;
  arena a;
  arena_init(&a);
  char *ch = hook_channel(&rcv, 1, &a);
  rpc_status st;
  int rc;
  cr_assert_eq(publish("ev-w", "ann", NULL), RPC_OK);
  Accolade__V1__Delivery *d = wait_delivery(&a, ch, "delivered");
  cr_assert_not_null(d);
  cr_assert_str_eq(d->status, "delivered");
  cr_assert_eq(d->attempts, 2, "the 500 was retried once");
  cr_assert_eq(atomic_load(&rcv.requests), 2);
  /* The signature verifies: HMAC-SHA256(secret, ts "." body). */
  char msg[5000];
  snprintf(msg, sizeof msg, "%s.%s", rcv.last_ts, rcv.last_body);
  unsigned char mac[32];
  unsigned int ml;
  HMAC(EVP_sha256(), SECRET, (int)strlen(SECRET), (unsigned char *)msg, strlen(msg), mac, &ml);
  char want[80] = "sha256=";
  for (int i = 0; i < 32; i++) sprintf(want + 7 + 2 * i, "%02x", mac[i]);
  cr_assert_str_eq(rcv.last_sig, want);
  cr_assert(strstr(rcv.last_body, "\"text\":\"ann earned Deal Closer"), "%s", rcv.last_body);
  /* A dead endpoint ends in dead-letter with its last error. */
  char dead_url[96];
  snprintf(dead_url, sizeof dead_url, "http://127.0.0.1:%d/gone", th_free_port());
  char *dead = create_channel(&a, dead_url, &st, &rc);
  cr_assert_eq(rc, RPC_OK);
  Accolade__V1__TestChannelRequest tr = ACCOLADE__V1__TEST_CHANNEL_REQUEST__INIT;
  tr.channel_id = dead;
  void *out;
  cr_assert_eq(th_call(nt.addr, SVC "TestChannel", &tr, &accolade__v1__test_channel_response__descriptor, &admin, &a, &out, &st),
               RPC_OK);
  d = wait_delivery(&a, dead, "dead");
  cr_assert_not_null(d);
  cr_assert_str_eq(d->status, "dead");
  cr_assert_eq(d->attempts, 5);
  cr_assert(*d->last_error, "the last error is kept");
  /* Field limits. */
  Accolade__V1__Channel c = ACCOLADE__V1__CHANNEL__INIT;
  c.url = "http://127.0.0.1:9/hook";
  c.secret = "short";
  Accolade__V1__CreateChannelRequest cr = ACCOLADE__V1__CREATE_CHANNEL_REQUEST__INIT;
  cr.channel = &c;
  cr_assert_eq(th_call(nt.addr, SVC "CreateChannel", &cr, &accolade__v1__channel__descriptor, &admin, &a, &out, &st),
               RPC_INVALID_ARGUMENT);
  cr_assert(strstr(st.message, "channel.secret"), "%s", st.message);
  cr_assert_eq(th_call(nt.addr, SVC "CreateChannel", &cr, &accolade__v1__channel__descriptor, &ann, &a, &out, &st),
               RPC_PERMISSION_DENIED);
  arena_free(&a);
  receiver_stop(&rcv);
}

/* While an endpoint takes its time, svc-notify holds no transaction open
 * (and so no delivery row locked): the deliveries are claimed by a lease
 * and sent outside any transaction. */
Test(notify, a_slow_endpoint_holds_no_transaction_open) {
  receiver rcv;
  arena a;
  arena_init(&a);
  char *ch = hook_channel(&rcv, 0, &a);
  rcv.hold_ms = 1500;
  cr_assert_eq(publish("ev-slow", "ann", NULL), RPC_OK);
  for (int i = 0; i < 200 && atomic_load(&rcv.requests) == 0; i++) usleep(20 * 1000);
  cr_assert_eq(atomic_load(&rcv.requests), 1, "the endpoint was called");
  usleep(200 * 1000);   /* well inside the hold */
  char *open = th_sql(dsn, "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                           "AND state LIKE 'idle in transaction%'");
  cr_assert_str_eq(open, "0", "a transaction stays open while the endpoint answers");
  free(open);
  char *leased = th_sql(dsn, "SELECT count(*) FROM notify.delivery WHERE status = 'pending' AND next_attempt_at > now()");
  cr_assert_str_eq(leased, "1", "the delivery in flight is leased (%s)", leased);
  free(leased);
  /* For longer than any delivery can take (an email's 15 s), so no other
   * replica sends it again while it is on its way. */
  leased = th_sql(dsn, "SELECT count(*) FROM notify.delivery WHERE status = 'pending' "
                       "AND next_attempt_at > now() + interval '15 seconds'");
  cr_assert_str_eq(leased, "1", "the lease ends before an email's timeout");
  free(leased);
  Accolade__V1__Delivery *d = wait_delivery(&a, ch, "delivered");
  cr_assert_not_null(d);
  cr_assert_str_eq(d->status, "delivered");
  cr_assert_eq(d->attempts, 1);
  arena_free(&a);
  receiver_stop(&rcv);
}

/* tarpit listens on a loopback port (|*port|) where the kernel completes
 * the handshakes and nobody reads or answers; close the socket it returns. */
static int tarpit(int *port) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
  socklen_t len = sizeof sa;
  cr_assert_eq(bind(fd, (struct sockaddr *)&sa, sizeof sa), 0);
  cr_assert_eq(listen(fd, 64), 0);
  getsockname(fd, (struct sockaddr *)&sa, &len);
  *port = ntohs(sa.sin_port);
  return fd;
}

/* A channel whose endpoint takes connections and never answers (a tarpit,
 * or a chat service down behind its load balancer) costs its own
 * deliveries their timeout (5 s), not the deliveries queued beside them: a
 * round's POSTs go at once, and a channel found slow is marked so and its
 * deliveries go by a lane of their own, so no later round of other
 * channels' deliveries waits for it. One POST at a time, the answering
 * channel had fewer than 3 deliveries after 8 s; a round at a time with no
 * lanes, 40 events (80 deliveries, 16 a round) took it 20 s. */
Test(notify, an_endpoint_that_never_answers_holds_up_no_other_channel) {
  int port, tar = tarpit(&port);
  arena a;
  arena_init(&a);
  char url[96];
  snprintf(url, sizeof url, "http://127.0.0.1:%d/tarpit", port);
  rpc_status st;
  int rc;
  char *slow = create_channel(&a, url, &st, &rc);
  cr_assert_not_null(slow, "%s", st.message);
  receiver rcv;
  char *ch = hook_channel(&rcv, 0, &a);
  /* Each event is a delivery to each channel, the tarpit's claimed first. */
  enum { EVENTS = 40 };
  int64_t t0 = rpc_now_ms();
  for (int i = 0; i < EVENTS; i++) {
    char ev[32];
    snprintf(ev, sizeof ev, "ev-tarpit-%d", i);
    cr_assert_eq(publish(ev, "ann", NULL), RPC_OK);
  }
  while (atomic_load(&rcv.requests) < EVENTS && rpc_now_ms() - t0 < 30000) usleep(20 * 1000);
  int64_t took = rpc_now_ms() - t0;
  cr_assert_eq(atomic_load(&rcv.requests), EVENTS);
  /* One round's wait (5 s) when the tarpit is first found slow, no more. */
  cr_expect_lt(took, 9000, "the answering channel waited %lld ms behind the tarpit", (long long)took);
  cr_assert_not_null(wait_delivery(&a, ch, "delivered"));
  char sql[256];
  snprintf(sql, sizeof sql,
           "SELECT string_agg(CASE WHEN slow_until > now() THEN 'slow' ELSE 'fast' END, ',' ORDER BY id::text <> '%s') "
           "FROM notify.channel",
           slow);
  char *lanes = th_sql(dsn, sql);
  cr_expect_str_eq(lanes, "slow,fast", "the tarpit, then the answering channel: %s", lanes);
  free(lanes);
  /* Admins see it: ListChannels gives the tarpit's slow_until_ms, minutes ahead. */
  Accolade__V1__ListChannelsRequest lr = ACCOLADE__V1__LIST_CHANNELS_REQUEST__INIT;
  Accolade__V1__ListChannelsResponse *lc;
  cr_assert_eq(th_call(nt.addr, SVC "ListChannels", &lr, &accolade__v1__list_channels_response__descriptor, &admin, &a,
                       (void **)&lc, &st), RPC_OK, "%s", st.message);
  cr_assert_eq(lc->n_channels, 2);
  int64_t now_ms = (int64_t)time(NULL) * 1000;
  for (size_t i = 0; i < lc->n_channels; i++) {
    if (strcmp(lc->channels[i]->id, slow)) cr_expect_eq(lc->channels[i]->slow_until_ms, 0);
    else cr_expect(lc->channels[i]->slow_until_ms > now_ms + 300000, "slow until %lld", (long long)lc->channels[i]->slow_until_ms);
  }
  close(tar);
  arena_free(&a);
  receiver_stop(&rcv);
}

/* Emails have a lane of their own: a relay that takes connections and never
 * answers (15 s an email before it gives up), with a week's member mails
 * waiting, holds up no webhook. In the webhooks' rounds, 40 mails claimed
 * 16 a round before them held the events' webhooks 15 s or more. */
Test(notify, a_mail_relay_that_never_answers_holds_up_no_webhook) {
  int port, tar = tarpit(&port);
  static char smtp[96];
  snprintf(smtp, sizeof smtp, "ACCOLADE_SMTP_URL=smtp://127.0.0.1:%d", port);
  nt_env[7] = smtp;
  cr_assert_eq(th_restart(&nt, th_bin("svc-notify"), nt_env), 0);
  /* A week's digest to 40 members, due before any webhook. */
  char sql[600];
  snprintf(sql, sizeof sql,
           "INSERT INTO notify.delivery (org, event_id, body, mail_to, user_id, next_attempt_at) "
           "SELECT '%s', 'digest:2026-W48', 'Subject: The week\r\n\r\nHello', 'm' || i || '@example.com', 'm' || i, "
           "now() - interval '1 minute' FROM generate_series(1, 40) i RETURNING 1",
           org);
  free(th_sql(dsn, sql));
  arena a;
  arena_init(&a);
  receiver rcv;
  hook_channel(&rcv, 0, &a);
  int64_t t0 = rpc_now_ms();
  for (int i = 0; i < 3; i++) {
    char ev[32];
    snprintf(ev, sizeof ev, "ev-relay-%d", i);
    cr_assert_eq(publish(ev, "ann", NULL), RPC_OK);
  }
  while (atomic_load(&rcv.requests) < 3 && rpc_now_ms() - t0 < 30000) usleep(20 * 1000);
  int64_t took = rpc_now_ms() - t0;
  cr_assert_eq(atomic_load(&rcv.requests), 3);
  cr_expect_lt(took, 4000, "the webhooks waited %lld ms behind the mails", (long long)took);
  /* The mails are on their way meanwhile (leased), not skipped. */
  char *leased = th_sql(dsn, "SELECT count(*) > 0 FROM notify.delivery WHERE channel_id IS NULL AND status = 'pending' "
                             "AND next_attempt_at > now()");
  cr_expect_str_eq(leased, "t");
  free(leased);
  close(tar);
  arena_free(&a);
  receiver_stop(&rcv);
}

#define MOST_CHANNELS 50          /* NOTIFY_MAX_CHANNELS, svc-notify/notify.h */
#define MOST_CHANNELS_A_DAY 100   /* NOTIFY_MAX_CHANNELS_A_DAY */

/* An org has at most MOST_CHANNELS channels (each a delivery per
 * event, each a new endpoint that may turn out slow): past it CreateChannel
 * is RESOURCE_EXHAUSTED naming the field, until one is deleted; another org
 * is not counted with it. */
Test(notify, an_org_has_at_most_its_most_channels) {
  arena a;
  arena_init(&a);
  rpc_status st;
  int rc;
  char *first = NULL;
  for (int i = 0; i < MOST_CHANNELS; i++) {
    char url[64];
    snprintf(url, sizeof url, "http://127.0.0.1:9/hook-%d", i);
    char *id = create_channel(&a, url, &st, &rc);
    cr_assert_not_null(id, "channel %d: %s", i, st.message);
    if (!first) first = id;
  }
  cr_assert_null(create_channel(&a, "http://127.0.0.1:9/one-more", &st, &rc));
  cr_assert_eq(rc, RPC_RESOURCE_EXHAUSTED);
  cr_assert(strstr(st.message, "channel:") && strstr(st.message, "50"), "%s", st.message);
  char *count = th_sql(dsn, "SELECT count(*) FROM notify.channel WHERE deleted_at IS NULL");
  cr_assert_str_eq(count, "50");
  free(count);
  /* ListChannels pages through all 50, each once, none slow. */
  Accolade__V1__ListChannelsRequest lr = ACCOLADE__V1__LIST_CHANNELS_REQUEST__INIT;
  lr.page_size = 20;
  int listed = 0, pages = 0;
  char seen[MOST_CHANNELS][40];
  do {
    Accolade__V1__ListChannelsResponse *lc;
    cr_assert_eq(th_call(nt.addr, SVC "ListChannels", &lr, &accolade__v1__list_channels_response__descriptor, &admin,
                         &a, (void **)&lc, &st), RPC_OK, "%s", st.message);
    for (size_t i = 0; i < lc->n_channels; i++) {
      for (int k = 0; k < listed; k++)
        cr_assert_str_neq(seen[k], lc->channels[i]->id, "page %d lists a channel again", pages + 1);
      cr_assert_lt(listed, MOST_CHANNELS);
      snprintf(seen[listed++], sizeof seen[0], "%s", lc->channels[i]->id);
      cr_assert_eq(lc->channels[i]->slow_until_ms, 0);
    }
    lr.page_token = lc->next_page_token;
  } while (*lr.page_token && ++pages < 10);
  cr_assert_eq(listed, MOST_CHANNELS);
  /* Another org has room of its own. */
  identity admin2;
  char org2[80];
  snprintf(org2, sizeof org2, "%s-other", org);
  th_as(&admin2, org2, "ada", "admin", "");
  Accolade__V1__Channel c = ACCOLADE__V1__CHANNEL__INIT;
  c.url = "http://127.0.0.1:9/other-org";
  c.secret = SECRET;
  Accolade__V1__CreateChannelRequest cr = ACCOLADE__V1__CREATE_CHANNEL_REQUEST__INIT;
  cr.channel = &c;
  void *out;
  cr_assert_eq(th_call(nt.addr, SVC "CreateChannel", &cr, &accolade__v1__channel__descriptor, &admin2, &a, &out, &st),
               RPC_OK, "%s", st.message);
  /* One deleted, one more fits. */
  Accolade__V1__DeleteChannelRequest dr = ACCOLADE__V1__DELETE_CHANNEL_REQUEST__INIT;
  dr.channel_id = first;
  cr_assert_eq(th_call(nt.addr, SVC "DeleteChannel", &dr, &accolade__v1__delete_channel_response__descriptor, &admin, &a,
                       &out, &st), RPC_OK, "%s", st.message);
  cr_assert_not_null(create_channel(&a, "http://127.0.0.1:9/one-more", &st, &rc), "%s", st.message);
  arena_free(&a);
}

/* Deleting and making channels again does not get past the bound: an org
 * makes at most MOST_CHANNELS_A_DAY in 24 hours, deleted ones counted. */
Test(notify, an_org_makes_at_most_its_most_channels_a_day) {
  arena a;
  arena_init(&a);
  rpc_status st;
  int rc;
  void *out;
  for (int i = 0; i < MOST_CHANNELS_A_DAY; i++) {
    char url[64];
    snprintf(url, sizeof url, "http://127.0.0.1:9/churn-%d", i);
    char *id = create_channel(&a, url, &st, &rc);
    cr_assert_not_null(id, "channel %d: %s", i, st.message);
    Accolade__V1__DeleteChannelRequest dr = ACCOLADE__V1__DELETE_CHANNEL_REQUEST__INIT;
    dr.channel_id = id;
    cr_assert_eq(th_call(nt.addr, SVC "DeleteChannel", &dr, &accolade__v1__delete_channel_response__descriptor, &admin,
                         &a, &out, &st), RPC_OK, "%s", st.message);
  }
  cr_assert_null(create_channel(&a, "http://127.0.0.1:9/one-more", &st, &rc), "no channel is live, but 100 were made");
  cr_assert_eq(rc, RPC_RESOURCE_EXHAUSTED);
  cr_assert(strstr(st.message, "channel:") && strstr(st.message, "100 a day"), "%s", st.message);
  /* A day on, the org makes channels again. */
  char *moved = th_sql(dsn, "UPDATE notify.channel SET created_at = created_at - interval '25 hours' RETURNING 1");
  free(moved);
  cr_assert_not_null(create_channel(&a, "http://127.0.0.1:9/one-more", &st, &rc), "%s", st.message);
  arena_free(&a);
}

Test(notify, private_addresses_are_refused_by_default) {
  th_proc strict;
  static char pg[600];
  snprintf(pg, sizeof pg, "ACCOLADE_NOTIFY_PG=%s", th_new_database("notifystrict"));
  const char *env[] = {pg, NULL};
  cr_assert_eq(th_start(&strict, th_bin("svc-notify"), env), 0);
  arena a;
  arena_init(&a);
  const char *urls[] = {"http://127.0.0.1:9/x", "http://10.1.2.3/x", "http://169.254.169.254/latest/meta-data",
                        "http://[::1]:8080/x", "http://192.168.1.1/x"};
  for (size_t i = 0; i < sizeof urls / sizeof urls[0]; i++) {
    Accolade__V1__Channel c = ACCOLADE__V1__CHANNEL__INIT;
    c.url = (char *)urls[i];
    c.secret = SECRET;
    Accolade__V1__CreateChannelRequest r = ACCOLADE__V1__CREATE_CHANNEL_REQUEST__INIT;
    r.channel = &c;
    void *out;
    rpc_status st;
    cr_assert_eq(th_call(strict.addr, SVC "CreateChannel", &r, &accolade__v1__channel__descriptor, &admin, &a, &out, &st),
                 RPC_INVALID_ARGUMENT, "%s was accepted", urls[i]);
    cr_assert(strstr(st.message, "channel.url"), "%s", st.message);
  }
  arena_free(&a);
  cr_assert_eq(th_stop(&strict), 0);
}

Test(notify, the_weekly_digest_lists_top_recognitions_and_new_badge_holders) {
  int64_t now = (int64_t)time(NULL) * 1000;
  /* 2026-11-18 was a Wednesday of ISO week 2026-W47. */
  int64_t w47 = 1794960000000LL;
  publish_award("d1", "ann", "deal-closer", 50, w47, NULL);
  publish_award("d2", "bob", "knowledge-sharer", 20, w47 + 1000, NULL);
  publish_award("d3", "ann", "deal-closer", 50, w47 + 2000, NULL);   /* not a new holder any more */
  publish_award("d4", "cy", "knowledge-sharer", 20, w47 - 7 * 86400000LL, NULL);   /* the week before */
  publish_approved("d1", "ann", 1, 1, w47);
  publish_approved("d2", "bob", 3, 1, w47 + 1000);
  publish_approved("d5", "cy", 9, 0, w47 + 2000);                     /* private: not in the digest */
  publish_approved("d6", "cy", 7, 1, w47 - 7 * 86400000LL);           /* the week before */
  publish_approved("d7", "dan", 0, 1, w47);                           /* nobody endorsed it */
  (void)now;
  arena a;
  arena_init(&a);
  Accolade__V1__GetDigestRequest r = ACCOLADE__V1__GET_DIGEST_REQUEST__INIT;
  r.week = "2026-W47";
  Accolade__V1__Digest *d;
  rpc_status st;
  cr_assert_eq(th_call(nt.addr, SVC "GetDigest", &r, &accolade__v1__digest__descriptor, &ann, &a, (void **)&d, &st), RPC_OK,
               "%s", st.message);
  cr_assert_eq(d->awards, 3);
  cr_assert_eq(d->points, 120);
  cr_assert_eq(d->recipients, 2);
  cr_assert_eq(d->n_top_recognitions, 3);
  cr_assert_str_eq(d->top_recognitions[0]->award_id, "d1");
  cr_assert_str_eq(d->top_recognitions[2]->award_id, "d2");
  cr_assert_eq(d->n_new_badge_holders, 2, "ann's second Deal Closer is not new");
  cr_assert(strstr(d->markdown, "# Recognition digest, 2026-W47"), "%s", d->markdown);
  cr_assert(strstr(d->markdown, "bob earned Knowledge Sharer for the first time"), "%s", d->markdown);
  cr_assert_eq(d->n_most_endorsed, 2, "public, this week, endorsed");
  cr_assert_str_eq(d->most_endorsed[0]->nomination_id, "d2");
  cr_assert_eq(d->most_endorsed[0]->endorsements, 3);
  cr_assert_str_eq(d->most_endorsed[0]->nominee_ids[0], "bob");
  cr_assert_str_eq(d->most_endorsed[1]->nomination_id, "d1");
  cr_assert(strstr(d->markdown, "## Most endorsed"), "%s", d->markdown);
  cr_assert(strstr(d->markdown, "**bob**, 3 endorsements"), "%s", d->markdown);
  cr_assert(d->movers_unavailable, "svc-leaderboard is not running");
  cr_assert_eq(d->n_movers, 0);
  cr_assert(strstr(d->markdown, "movers are not available"), "%s", d->markdown);
  r.team = "west";
  cr_assert_eq(th_call(nt.addr, SVC "GetDigest", &r, &accolade__v1__digest__descriptor, &ann, &a, (void **)&d, &st), RPC_OK);
  cr_assert_eq(d->n_most_endorsed, 0, "no award of d1 or d2 went to team west");
  /* the month: November 2026 holds all four awards; rendered as HTML and text */
  r.team = "";
  r.week = "";
  r.month = "2026-11";
  r.format = ACCOLADE__V1__DIGEST_FORMAT__DIGEST_FORMAT_HTML;
  cr_assert_eq(th_call(nt.addr, SVC "GetDigest", &r, &accolade__v1__digest__descriptor, &ann, &a, (void **)&d, &st), RPC_OK,
               "%s", st.message);
  cr_assert_eq(d->awards, 4);
  cr_assert_str_eq(d->month, "2026-11");
  cr_assert_eq(d->start_time_ms, 1793491200000LL, "2026-11-01 00:00 UTC");
  cr_assert(!strncmp(d->html, "<!DOCTYPE html>", 15) && strstr(d->html, "November 2026"), "%.300s", d->html);
  cr_assert(strstr(d->html, "The leaderboard is not available right now"), "no svc-leaderboard here, said so");
  cr_assert(strstr(d->text, "RECOGNITION DIGEST - November 2026"), "%.300s", d->text);
  cr_assert_eq(d->n_category_weeks >= 12, 1, "12 weeks of the chart, each at least one row");
  r.format = ACCOLADE__V1__DIGEST_FORMAT__DIGEST_FORMAT_TEXT;
  cr_assert_eq(th_call(nt.addr, SVC "GetDigest", &r, &accolade__v1__digest__descriptor, &ann, &a, (void **)&d, &st), RPC_OK);
  cr_assert(*d->text && !*d->html, "text only");
  r.format = ACCOLADE__V1__DIGEST_FORMAT__DIGEST_FORMAT_DATA;
  cr_assert_eq(th_call(nt.addr, SVC "GetDigest", &r, &accolade__v1__digest__descriptor, &ann, &a, (void **)&d, &st), RPC_OK);
  cr_assert(!*d->text && !*d->html, "data only");
  r.week = "2026-W47";
  cr_assert_eq(th_call(nt.addr, SVC "GetDigest", &r, &accolade__v1__digest__descriptor, &ann, &a, (void **)&d, &st),
               RPC_INVALID_ARGUMENT);
  cr_assert(strstr(st.message, "month"), "a week and a month: %s", st.message);
  r.week = "";
  r.month = "2026-13";
  cr_assert_eq(th_call(nt.addr, SVC "GetDigest", &r, &accolade__v1__digest__descriptor, &ann, &a, (void **)&d, &st),
               RPC_INVALID_ARGUMENT);
  cr_assert(strstr(st.message, "month"), "%s", st.message);
  r.month = "";
  r.format = 9;
  cr_assert_eq(th_call(nt.addr, SVC "GetDigest", &r, &accolade__v1__digest__descriptor, &ann, &a, (void **)&d, &st),
               RPC_INVALID_ARGUMENT);
  cr_assert(strstr(st.message, "format"), "%s", st.message);
  r.format = 0;
  r.week = "2026-47";
  cr_assert_eq(th_call(nt.addr, SVC "GetDigest", &r, &accolade__v1__digest__descriptor, &ann, &a, (void **)&d, &st),
               RPC_INVALID_ARGUMENT);
  cr_assert(strstr(st.message, "week"), "%s", st.message);
  arena_free(&a);
}

Test(notify, channels_that_ask_for_the_digest_receive_it) {
  /* the schedule (org settings) comes from svc-nomination: the default one, due as the week begins */
  th_proc nom;
  static char npg[600], naddr[96];
  snprintf(npg, sizeof npg, "ACCOLADE_NOMINATION_PG=%s", dsn);
  const char *nenv[] = {npg, NULL};
  cr_assert_eq(th_start(&nom, th_bin("svc-nomination"), nenv), 0, "svc-nomination did not start");
  snprintf(naddr, sizeof naddr, "ACCOLADE_NOMINATION_ADDR=%s", nom.addr);
  nt_env[3] = naddr;
  cr_assert_eq(th_restart(&nt, th_bin("svc-notify"), nt_env), 0);
  receiver rcv;
  receiver_start(&rcv, 0);
  arena a;
  arena_init(&a);
  publish_award("last-week", "ann", "deal-closer", 50, (int64_t)time(NULL) * 1000 - 7 * 86400000LL, NULL);
  char url[96];
  snprintf(url, sizeof url, "http://127.0.0.1:%d/digest", rcv.port);
  char *kinds[] = {"digest"};
  Accolade__V1__Channel c = ACCOLADE__V1__CHANNEL__INIT;
  c.url = url;
  c.secret = SECRET;
  c.kinds = kinds;
  c.n_kinds = 1;
  Accolade__V1__CreateChannelRequest cr = ACCOLADE__V1__CREATE_CHANNEL_REQUEST__INIT;
  cr.channel = &c;
  Accolade__V1__Channel *ch;
  rpc_status st;
  cr_assert_eq(th_call(nt.addr, SVC "CreateChannel", &cr, &accolade__v1__channel__descriptor, &admin, &a, (void **)&ch, &st),
               RPC_OK, "%s", st.message);
  Accolade__V1__Delivery *d = wait_delivery(&a, ch->id, "delivered");
  cr_assert_not_null(d);
  cr_assert(strncmp(d->event_id, "digest:", 7) == 0, "%s", d->event_id);
  cr_assert(strstr(rcv.last_body, "Recognition digest"), "%s", rcv.last_body);
  usleep(600 * 1000);
  cr_assert_eq(atomic_load(&rcv.requests), 1, "once per week");
  arena_free(&a);
  receiver_stop(&rcv);
  cr_assert_eq(th_stop(&nom), 0);
}

/* Each channel gets the payload of its format: Slack Block Kit, a Teams
 * Adaptive Card, the plain JSON; all from the one event. */
Test(notify, slack_and_teams_channels_get_their_own_payloads) {
  receiver slack, teams, plain;
  arena a;
  arena_init(&a);
  receiver *r[] = {&slack, &teams, &plain};
  const char *formats[] = {"slack", "teams", "json"};
  char *ids[3];
  for (int i = 0; i < 3; i++) {
    receiver_start(r[i], 0);
    char url[96];
    snprintf(url, sizeof url, "http://127.0.0.1:%d/hook", r[i]->port);
    rpc_status st;
    int rc;
    ids[i] = create_channel_as(&a, url, formats[i], &st, &rc);
    cr_assert_eq(rc, RPC_OK, "%s", st.message);
  }
  cr_assert_eq(publish("ev-chat", "ann", NULL), RPC_OK);
  for (int i = 0; i < 3; i++) {
    Accolade__V1__Delivery *d = wait_delivery(&a, ids[i], "delivered");
    cr_assert(d && !strcmp(d->status, "delivered"), "%s channel", formats[i]);
  }
  cr_assert(strstr(slack.last_body, "\"blocks\":[{\"type\":\"header\""), "%s", slack.last_body);
  cr_assert(strstr(slack.last_body, "\"text\":\"*Who*\\nann\""), "%s", slack.last_body);
  cr_assert(strstr(slack.last_body, ">Closed Northwind"), "the justification as a quote: %s", slack.last_body);
  cr_assert(strstr(teams.last_body, "\"contentType\":\"application/vnd.microsoft.card.adaptive\""), "%s",
            teams.last_body);
  cr_assert(strstr(teams.last_body, "\"type\":\"AdaptiveCard\""), "%s", teams.last_body);
  cr_assert(strstr(plain.last_body, "\"text\":\"ann earned Deal Closer"), "%s", plain.last_body);
  cr_assert_null(strstr(plain.last_body, "blocks"));
  rpc_status st;
  int rc;
  create_channel_as(&a, "http://127.0.0.1:9/hook", "discord", &st, &rc);
  cr_assert_eq(rc, RPC_INVALID_ARGUMENT);
  cr_assert(strstr(st.message, "channel.format"), "%s", st.message);
  for (int i = 0; i < 3; i++) receiver_stop(r[i]);
  arena_free(&a);
}

/* Asserts |rc| is INVALID_ARGUMENT and the message names |field|. */
static void expect_invalid(int rc, const rpc_status *st, const char *field) {
  cr_assert_eq(rc, RPC_INVALID_ARGUMENT, "%s: got %d (%s)", field, rc, st->message);
  cr_assert(strstr(st->message, field), "'%s' does not name %s", st->message, field);
}

Test(notify, another_orgs_inbox_and_channels_are_invisible) {
  receiver rcv;
  arena a;
  arena_init(&a);
  char *ch = hook_channel(&rcv, 0, &a);
  rpc_status st;
  int rc;
  cr_assert_eq(publish("ev-iso", "ann", NULL), RPC_OK);
  cr_assert_eq(inbox_count(&ann), 1);
  /* The same user id and role in another org. */
  char other[80];
  snprintf(other, sizeof other, "%s-other", org);
  identity ann2, admin2, svc2;
  th_as(&ann2, other, "ann", "member", "east");
  th_as(&admin2, other, "ada", "admin", "");
  th_as(&svc2, other, "svc:award", "service", "");
  cr_assert_eq(inbox_count(&ann2), 0, "another org's inbox rows leaked");
  Accolade__V1__MarkReadRequest mr = ACCOLADE__V1__MARK_READ_REQUEST__INIT;
  mr.all = 1;
  Accolade__V1__MarkReadResponse *m;
  cr_assert_eq(th_call(nt.addr, SVC "MarkRead", &mr, &accolade__v1__mark_read_response__descriptor, &ann2, &a, (void **)&m, &st),
               RPC_OK, "%s", st.message);
  cr_assert_eq(m->marked, 0);
  Accolade__V1__ListChannelsRequest lr = ACCOLADE__V1__LIST_CHANNELS_REQUEST__INIT;
  Accolade__V1__ListChannelsResponse *lc;
  cr_assert_eq(th_call(nt.addr, SVC "ListChannels", &lr, &accolade__v1__list_channels_response__descriptor, &admin2, &a,
                       (void **)&lc, &st), RPC_OK, "%s", st.message);
  cr_assert_eq(lc->n_channels, 0, "another org's channels leaked");
  void *out;
  Accolade__V1__TestChannelRequest tr = ACCOLADE__V1__TEST_CHANNEL_REQUEST__INIT;
  tr.channel_id = ch;
  cr_assert_eq(th_call(nt.addr, SVC "TestChannel", &tr, &accolade__v1__test_channel_response__descriptor, &admin2, &a, &out, &st),
               RPC_NOT_FOUND);
  Accolade__V1__DeleteChannelRequest dr = ACCOLADE__V1__DELETE_CHANNEL_REQUEST__INIT;
  dr.channel_id = ch;
  cr_assert_eq(th_call(nt.addr, SVC "DeleteChannel", &dr, &accolade__v1__delete_channel_response__descriptor, &admin2, &a, &out,
                       &st), RPC_NOT_FOUND);
  Accolade__V1__ListDeliveriesRequest ld = ACCOLADE__V1__LIST_DELIVERIES_REQUEST__INIT;
  ld.channel_id = ch;
  Accolade__V1__ListDeliveriesResponse *dl;
  rc = th_call(nt.addr, SVC "ListDeliveries", &ld, &accolade__v1__list_deliveries_response__descriptor, &admin2, &a,
               (void **)&dl, &st);
  cr_assert(rc == RPC_NOT_FOUND || (rc == RPC_OK && dl->n_deliveries == 0), "another org's deliveries leaked (%d)", rc);
  /* A service in the other org cannot publish into this one. */
  Accolade__V1__AwardRecord rec = ACCOLADE__V1__AWARD_RECORD__INIT;
  rec.award_id = "ev-cross";
  rec.org = org;
  rec.badge_id = "deal-closer";
  rec.badge_name = "Deal Closer";
  rec.recipient_id = "ann";
  Accolade__V1__Event ev = ACCOLADE__V1__EVENT__INIT;
  ev.event_id = "ev-cross";
  ev.org = org;
  ev.kind_case = ACCOLADE__V1__EVENT__KIND_AWARD_GRANTED;
  ev.award_granted = &rec;
  cr_assert_eq(th_call(nt.addr, SVC "PublishEvent", &ev, &accolade__v1__publish_event_response__descriptor, &svc2, &a, &out, &st),
               RPC_PERMISSION_DENIED);
  /* The owner still sees and can delete its channel. */
  cr_assert_eq(th_call(nt.addr, SVC "DeleteChannel", &dr, &accolade__v1__delete_channel_response__descriptor, &admin, &a, &out,
                       &st), RPC_OK, "%s", st.message);
  cr_assert_eq(inbox_count(&ann), 1);
  arena_free(&a);
  receiver_stop(&rcv);
}

Test(notify, field_limits_are_invalid_argument_naming_the_field) {
  arena a;
  arena_init(&a);
  rpc_status st;
  void *out;
  char long_id[300];
  memset(long_id, 'e', sizeof long_id - 1);
  long_id[sizeof long_id - 1] = 0;
  Accolade__V1__AwardRecord rec = ACCOLADE__V1__AWARD_RECORD__INIT;
  rec.org = org;
  rec.recipient_id = "ann";
  Accolade__V1__Event ev = ACCOLADE__V1__EVENT__INIT;
  ev.event_id = long_id;
  ev.org = org;
  ev.kind_case = ACCOLADE__V1__EVENT__KIND_AWARD_GRANTED;
  ev.award_granted = &rec;
  expect_invalid(th_call(nt.addr, SVC "PublishEvent", &ev, &accolade__v1__publish_event_response__descriptor, &svc, &a, &out, &st),
                 &st, "event_id");
  ev.event_id = "";
  expect_invalid(th_call(nt.addr, SVC "PublishEvent", &ev, &accolade__v1__publish_event_response__descriptor, &svc, &a, &out, &st),
                 &st, "event_id");
  Accolade__V1__Event none = ACCOLADE__V1__EVENT__INIT;
  none.event_id = "ev-nokind";
  none.org = org;
  expect_invalid(th_call(nt.addr, SVC "PublishEvent", &none, &accolade__v1__publish_event_response__descriptor, &svc, &a, &out, &st),
                 &st, "kind");
  Accolade__V1__MarkReadRequest mr = ACCOLADE__V1__MARK_READ_REQUEST__INIT;
  expect_invalid(th_call(nt.addr, SVC "MarkRead", &mr, &accolade__v1__mark_read_response__descriptor, &ann, &a, &out, &st), &st,
                 "ids");
  Accolade__V1__ListInboxRequest lr = ACCOLADE__V1__LIST_INBOX_REQUEST__INIT;
  lr.page_size = 201;
  expect_invalid(th_call(nt.addr, SVC "ListInbox", &lr, &accolade__v1__list_inbox_response__descriptor, &ann, &a, &out, &st), &st,
                 "page_size");
  lr.page_size = 0;
  lr.page_token = "not-a-token!";
  expect_invalid(th_call(nt.addr, SVC "ListInbox", &lr, &accolade__v1__list_inbox_response__descriptor, &ann, &a, &out, &st), &st,
                 "page_token");
  char *kinds[] = {"no_such_kind"};
  Accolade__V1__Preferences pr = ACCOLADE__V1__PREFERENCES__INIT;
  pr.muted_kinds = kinds;
  pr.n_muted_kinds = 1;
  Accolade__V1__UpdatePreferencesRequest ur = ACCOLADE__V1__UPDATE_PREFERENCES_REQUEST__INIT;
  ur.preferences = &pr;
  expect_invalid(th_call(nt.addr, SVC "UpdatePreferences", &ur, &accolade__v1__preferences__descriptor, &ann, &a, &out, &st),
                 &st, "preferences.muted_kinds");
  Accolade__V1__Channel c = ACCOLADE__V1__CHANNEL__INIT;
  c.url = "ftp://example.com/x";
  c.secret = SECRET;
  Accolade__V1__CreateChannelRequest cr = ACCOLADE__V1__CREATE_CHANNEL_REQUEST__INIT;
  cr.channel = &c;
  expect_invalid(th_call(nt.addr, SVC "CreateChannel", &cr, &accolade__v1__channel__descriptor, &admin, &a, &out, &st), &st,
                 "channel.url");
  Accolade__V1__DeleteChannelRequest dr = ACCOLADE__V1__DELETE_CHANNEL_REQUEST__INIT;
  dr.channel_id = "not-a-uuid";
  expect_invalid(th_call(nt.addr, SVC "DeleteChannel", &dr, &accolade__v1__delete_channel_response__descriptor, &admin, &a, &out,
                         &st), &st, "channel_id");
  Accolade__V1__GetDigestRequest gr = ACCOLADE__V1__GET_DIGEST_REQUEST__INIT;
  gr.week = "2026-W99";
  expect_invalid(th_call(nt.addr, SVC "GetDigest", &gr, &accolade__v1__digest__descriptor, &admin, &a, &out, &st), &st, "week");
  arena_free(&a);
}

/* A statement outside any transaction (MarkRead's UPDATE) that waits on a
 * row lock is cancelled at Postgres at the call's deadline. */
Test(notify, a_statement_blocked_by_a_lock_is_cancelled_at_the_deadline) {
  int accepted = 0;
  cr_assert_eq(publish_award("award-locked-1", "ann", "deal-closer", 10, 1767225600000, &accepted), RPC_OK);
  PGconn *hold = PQconnectdb(dsn);
  cr_assert_eq(PQstatus(hold), CONNECTION_OK);
  PQclear(PQexec(hold, "BEGIN"));
  const char *p[] = {org};
  PGresult *r = PQexecParams(hold, "SELECT id FROM notify.inbox WHERE org = $1 FOR UPDATE", 1, NULL, p, NULL, NULL, 0);
  cr_assert_eq(PQresultStatus(r), PGRES_TUPLES_OK);
  cr_assert_gt(PQntuples(r), 0);
  PQclear(r);
  arena a;
  arena_init(&a);
  Accolade__V1__MarkReadRequest mr = ACCOLADE__V1__MARK_READ_REQUEST__INIT;
  mr.all = 1;
  Accolade__V1__MarkReadResponse *m;
  rpc_status st;
  rpc_call_opts o = {.timeout_ms = 1000, .as = &ann};
  int64_t t0 = rpc_now_ms();
  int rc = rpc_call(nt.addr, SVC "MarkRead", &mr.base, &accolade__v1__mark_read_response__descriptor, &o, &a,
                    (void **)&m, &st);
  cr_expect_eq(rc, RPC_DEADLINE_EXCEEDED, "%d %s", rc, st.message ? st.message : "");
  cr_expect_lt(rpc_now_ms() - t0, 1800, "at its deadline");
  int waiting = -1;
  for (int i = 0; i < 20 && waiting != 0; i++) {
    char *w = th_sql(dsn, "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                          "AND wait_event_type = 'Lock'");
    waiting = w ? atoi(w) : -1;
    free(w);
    if (waiting) usleep(50 * 1000);
  }
  cr_expect_eq(waiting, 0, "the UPDATE still waits at Postgres after its caller's deadline");
  PQclear(PQexec(hold, "ROLLBACK"));
  PQfinish(hold);
  cr_expect_eq(rpc_call(nt.addr, SVC "MarkRead", &mr.base, &accolade__v1__mark_read_response__descriptor, &o, &a,
                        (void **)&m, &st),
               RPC_OK, "once the lock is gone");
  arena_free(&a);
}
