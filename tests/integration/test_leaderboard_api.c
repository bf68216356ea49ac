/* svc-leaderboard over real gRPC against real Postgres and Redis. */
#include <criterion/criterion.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "accolade/v1/leaderboard.pb-c.h"
#include "harness.h"
#include <libpq-fe.h>
#include "redis.h"

#define SVC "/accolade.v1.LeaderboardService/"
#define DEC31_2026 1798718400000LL   /* Thu 2026-12-31T12:00Z, ISO 2026-W53 */
#define DAY 86400000LL

static th_proc lb;
static const char *dsn;
static char org[64];
static identity svc, member, admin;
static const char *lb_env[4];   /* room for one more setting */
static const char *via;          /* record(), retract() and top() call this address, else lb's */
#define VIA (via ? via : lb.addr)

static void setup(void) {
  th_init();
  dsn = th_new_database("leaderboard");
  static char pg[600], redis[64];
  snprintf(pg, sizeof pg, "ACCOLADE_LEADERBOARD_PG=%s", dsn);
  snprintf(redis, sizeof redis, "ACCOLADE_REDIS=127.0.0.1:%d", th_redis_port());
  lb_env[0] = pg;
  lb_env[1] = redis;
  lb_env[2] = NULL;
  cr_assert_eq(th_start(&lb, th_bin("svc-leaderboard"), lb_env), 0, "svc-leaderboard did not start");
  static int seq;
  snprintf(org, sizeof org, "lbo-%d-%d", getpid(), seq++);
  th_as(&svc, org, "svc:award", "service", "");
  th_as(&member, org, "mia", "member", "east");
  th_as(&admin, org, "ada", "admin", "");
}

static void teardown(void) {
  via = NULL;
  cr_assert_eq(th_stop(&lb), 0);
  th_fini();
}

TestSuite(leaderboard, .init = setup, .fini = teardown, .timeout = 120);

static const char *next_name;       /* the recipient's display name for the next record() */
static const char *next_category;   /* its badge's category ("sales" when NULL) */

static int record(const char *id, const char *who, const char *team, const char *badge, int64_t points,
                  int64_t ms, int *recorded) {
  arena a;
  arena_init(&a);
  Accolade__V1__AwardRecord r = ACCOLADE__V1__AWARD_RECORD__INIT;
  r.award_id = (char *)id;
  r.org = org;
  r.recipient_id = (char *)who;
  r.recipient_team = (char *)team;
  r.badge_id = (char *)badge;
  r.category = next_category ? (char *)next_category : "sales";
  next_category = NULL;
  r.points = points;
  r.granted_at_ms = ms;
  r.recipient_name = next_name ? (char *)next_name : "";
  next_name = NULL;
  Accolade__V1__RecordAwardResponse *out;
  rpc_status st;
  int rc = th_call(VIA, SVC "RecordAward", &r, &accolade__v1__record_award_response__descriptor, &svc, &a,
                   (void **)&out, &st);
  if (rc == RPC_OK && recorded) *recorded = out->recorded;
  arena_free(&a);
  return rc;
}

static int retract(const char *id) {
  arena a;
  arena_init(&a);
  Accolade__V1__RetractAwardRequest r = ACCOLADE__V1__RETRACT_AWARD_REQUEST__INIT;
  r.award_id = (char *)id;
  r.org = org;
  Accolade__V1__RetractAwardResponse *out;
  rpc_status st;
  int rc = th_call(VIA, SVC "RetractAward", &r, &accolade__v1__retract_award_response__descriptor, &svc, &a,
                   (void **)&out, &st);
  arena_free(&a);
  return rc;
}

/* top renders a board as "id=points,id=points" (ranked order). */
static char *top(Accolade__V1__Window w, const char *period, Accolade__V1__Scope scope, const char *scope_id,
                 Accolade__V1__Subject subject, char *buf, size_t cap) {
  arena a;
  arena_init(&a);
  Accolade__V1__BoardSpec b = ACCOLADE__V1__BOARD_SPEC__INIT;
  b.window = w;
  b.period = (char *)period;
  b.scope = scope;
  b.scope_id = (char *)scope_id;
  b.subject = subject;
  Accolade__V1__GetTopRequest r = ACCOLADE__V1__GET_TOP_REQUEST__INIT;
  r.board = &b;
  r.page_size = 100;
  Accolade__V1__GetTopResponse *out;
  rpc_status st;
  int rc = th_call(VIA, SVC "GetTop", &r, &accolade__v1__get_top_response__descriptor, &member, &a,
                   (void **)&out, &st);
  cr_assert_eq(rc, RPC_OK, "%s", st.message);
  size_t k = 0;
  buf[0] = 0;
  for (size_t i = 0; i < out->n_entries; i++) {
    cr_assert_eq(out->entries[i]->rank, (int64_t)i + 1);
    k += (size_t)snprintf(buf + k, cap - k, "%s%s=%lld", i ? "," : "", out->entries[i]->subject_id,
                          (long long)out->entries[i]->points);
  }
  arena_free(&a);
  return buf;
}

#define ALL(buf) top(ACCOLADE__V1__WINDOW__ALL_TIME, "", 0, "", 0, buf, sizeof buf)

Test(leaderboard, the_same_award_recorded_five_times_counts_once) {
  int recorded = -1;
  cr_assert_eq(record("aw-1", "alice", "east", "deal-closer", 50, DEC31_2026, &recorded), RPC_OK);
  cr_assert_eq(recorded, 1);
  for (int i = 0; i < 4; i++) {
    cr_assert_eq(record("aw-1", "alice", "east", "deal-closer", 50, DEC31_2026, &recorded), RPC_OK);
    cr_assert_eq(recorded, 0);
  }
  char buf[512];
  cr_assert_str_eq(ALL(buf), "alice=50");
  cr_assert_str_eq(top(ACCOLADE__V1__WINDOW__WEEK, "2026-W53", 0, "", 0, buf, sizeof buf), "alice=50");
  cr_assert_str_eq(top(ACCOLADE__V1__WINDOW__ALL_TIME, "", 0, "", ACCOLADE__V1__SUBJECT__TEAMS, buf, sizeof buf),
                   "east=50");
}

static void *rec_thread(void *p) {
  (void)p;
  record("aw-c", "carl", "west", "deal-closer", 30, DEC31_2026, NULL);
  return NULL;
}

Test(leaderboard, concurrent_duplicates_count_once) {
  pthread_t t[8];
  for (int i = 0; i < 8; i++) pthread_create(&t[i], NULL, rec_thread, NULL);
  for (int i = 0; i < 8; i++) pthread_join(t[i], NULL);
  char buf[512];
  cr_assert_str_eq(ALL(buf), "carl=30");
  char q[256];
  snprintf(q, sizeof q, "SELECT count(*) FROM leaderboard.ledger WHERE org = '%s'", org);
  char *n = th_sql(dsn, q);
  cr_assert_str_eq(n, "1");
  free(n);
}

Test(leaderboard, retract_takes_the_points_off_and_is_idempotent) {
  record("r1", "rita", "east", "deal-closer", 50, DEC31_2026, NULL);
  record("r2", "rita", "east", "knowledge-sharer", 20, DEC31_2026, NULL);
  char buf[512];
  cr_assert_str_eq(ALL(buf), "rita=70");
  cr_assert_eq(retract("r1"), RPC_OK);
  cr_assert_eq(retract("r1"), RPC_OK);
  cr_assert_str_eq(ALL(buf), "rita=20");
  cr_assert_eq(retract("r2"), RPC_OK);
  cr_assert_str_eq(ALL(buf), "", "a member at zero leaves the board");
  /* A retraction that arrives before its award: the award never counts. */
  cr_assert_eq(retract("early"), RPC_OK);
  cr_assert_eq(record("early", "eve", "east", "deal-closer", 50, DEC31_2026, NULL), RPC_OK);
  cr_assert_str_eq(ALL(buf), "");
}

Test(leaderboard, window_boundaries_iso_week_53_year_end_and_month_end) {
  record("w1", "wes", "", "deal-closer", 10, DEC31_2026, NULL);            /* Thu 2026-12-31 */
  record("w2", "wes", "", "deal-closer", 20, DEC31_2026 + DAY, NULL);      /* Fri 2027-01-01 */
  record("w3", "wes", "", "deal-closer", 40, DEC31_2026 + 4 * DAY, NULL);  /* Mon 2027-01-04 */
  record("m1", "meg", "", "deal-closer", 5, 1769903999000LL, NULL);       /* 2026-01-31T23:59:59Z */
  record("m2", "meg", "", "deal-closer", 7, 1769904000000LL, NULL);       /* 2026-02-01T00:00:00Z */
  char buf[512];
  cr_assert_str_eq(top(ACCOLADE__V1__WINDOW__WEEK, "2026-W53", 0, "", 0, buf, sizeof buf), "wes=30");
  cr_assert_str_eq(top(ACCOLADE__V1__WINDOW__WEEK, "2027-W01", 0, "", 0, buf, sizeof buf), "wes=40");
  cr_assert_str_eq(top(ACCOLADE__V1__WINDOW__YEAR, "2026", 0, "", 0, buf, sizeof buf), "meg=12,wes=10");
  cr_assert_str_eq(top(ACCOLADE__V1__WINDOW__YEAR, "2027", 0, "", 0, buf, sizeof buf), "wes=60");
  cr_assert_str_eq(top(ACCOLADE__V1__WINDOW__QUARTER, "2026-Q4", 0, "", 0, buf, sizeof buf), "wes=10");
  cr_assert_str_eq(top(ACCOLADE__V1__WINDOW__MONTH, "2026-01", 0, "", 0, buf, sizeof buf), "meg=5");
  cr_assert_str_eq(top(ACCOLADE__V1__WINDOW__MONTH, "2026-02", 0, "", 0, buf, sizeof buf), "meg=7");
  cr_assert_str_eq(top(ACCOLADE__V1__WINDOW__MONTH, "2026-12", ACCOLADE__V1__SCOPE__BADGE, "deal-closer", 0, buf,
                       sizeof buf),
                   "wes=10");
}

Test(leaderboard, ties_rank_who_reached_the_score_first_higher) {
  record("t1", "late", "", "deal-closer", 50, DEC31_2026 + 60000, NULL);
  record("t2", "early", "", "deal-closer", 50, DEC31_2026, NULL);
  record("t3", "most", "", "deal-closer", 51, DEC31_2026 + 120000, NULL);
  char buf[512];
  cr_assert_str_eq(ALL(buf), "most=51,early=50,late=50");
}

Test(leaderboard, rank_and_neighbours_and_an_unknown_member) {
  for (int i = 0; i < 7; i++) {
    char id[16], who[16];
    snprintf(id, sizeof id, "n%d", i);
    snprintf(who, sizeof who, "m%d", i);
    record(id, who, "", "deal-closer", 10 * (i + 1), DEC31_2026, NULL);
  }
  arena a;
  arena_init(&a);
  Accolade__V1__GetRankRequest r = ACCOLADE__V1__GET_RANK_REQUEST__INIT;
  r.subject_id = "m4";
  Accolade__V1__GetRankResponse *out;
  rpc_status st;
  cr_assert_eq(th_call(lb.addr, SVC "GetRank", &r, &accolade__v1__get_rank_response__descriptor, &member, &a,
                       (void **)&out, &st), RPC_OK, "%s", st.message);
  cr_assert(out->ranked);
  cr_assert_eq(out->entry->rank, 3);
  cr_assert_eq(out->entry->points, 50);
  cr_assert_eq(out->total, 7);
  r.subject_id = "nobody";
  cr_assert_eq(th_call(lb.addr, SVC "GetRank", &r, &accolade__v1__get_rank_response__descriptor, &member, &a,
                       (void **)&out, &st), RPC_OK);
  cr_assert_eq(out->ranked, 0);
  cr_assert_null(out->entry);
  Accolade__V1__GetAroundRequest ar = ACCOLADE__V1__GET_AROUND_REQUEST__INIT;
  ar.subject_id = "m4";
  ar.above = 1;
  ar.below = 2;
  Accolade__V1__GetAroundResponse *around;
  cr_assert_eq(th_call(lb.addr, SVC "GetAround", &ar, &accolade__v1__get_around_response__descriptor, &member, &a,
                       (void **)&around, &st), RPC_OK);
  cr_assert_eq(around->n_entries, 4);
  cr_assert_str_eq(around->entries[0]->subject_id, "m5");
  cr_assert_str_eq(around->entries[1]->subject_id, "m4");
  cr_assert_str_eq(around->entries[3]->subject_id, "m2");
  /* Paging through the top. */
  Accolade__V1__GetTopRequest tr = ACCOLADE__V1__GET_TOP_REQUEST__INIT;
  tr.page_size = 3;
  Accolade__V1__GetTopResponse *t;
  int seen = 0;
  do {
    cr_assert_eq(th_call(lb.addr, SVC "GetTop", &tr, &accolade__v1__get_top_response__descriptor, &member, &a,
                         (void **)&t, &st), RPC_OK);
    for (size_t i = 0; i < t->n_entries; i++) cr_assert_eq(t->entries[i]->rank, ++seen);
    tr.page_token = t->next_page_token;
  } while (*t->next_page_token);
  cr_assert_eq(seen, 7);
  arena_free(&a);
}

Test(leaderboard, internal_writes_need_the_service_identity_and_bad_specs_name_the_field) {
  arena a;
  arena_init(&a);
  Accolade__V1__AwardRecord r = ACCOLADE__V1__AWARD_RECORD__INIT;
  r.award_id = "x";
  r.org = org;
  r.recipient_id = "x";
  r.badge_id = "b";
  r.granted_at_ms = DEC31_2026;
  Accolade__V1__RecordAwardResponse *out;
  rpc_status st;
  cr_assert_eq(th_call(lb.addr, SVC "RecordAward", &r, &accolade__v1__record_award_response__descriptor, &admin, &a,
                       (void **)&out, &st), RPC_PERMISSION_DENIED);
  r.org = "another-org";
  cr_assert_eq(th_call(lb.addr, SVC "RecordAward", &r, &accolade__v1__record_award_response__descriptor, &svc, &a,
                       (void **)&out, &st), RPC_PERMISSION_DENIED);
  r.org = org;
  r.points = -5;
  cr_assert_eq(th_call(lb.addr, SVC "RecordAward", &r, &accolade__v1__record_award_response__descriptor, &svc, &a,
                       (void **)&out, &st), RPC_INVALID_ARGUMENT);
  cr_assert(strstr(st.message, "points"), "%s", st.message);
  Accolade__V1__BoardSpec b = ACCOLADE__V1__BOARD_SPEC__INIT;
  b.window = ACCOLADE__V1__WINDOW__WEEK;
  b.period = "2026-13";
  Accolade__V1__GetTopRequest tr = ACCOLADE__V1__GET_TOP_REQUEST__INIT;
  tr.board = &b;
  Accolade__V1__GetTopResponse *t;
  cr_assert_eq(th_call(lb.addr, SVC "GetTop", &tr, &accolade__v1__get_top_response__descriptor, &member, &a,
                       (void **)&t, &st), RPC_INVALID_ARGUMENT);
  cr_assert(strstr(st.message, "board.period"), "%s", st.message);
  b.period = "";
  b.scope = ACCOLADE__V1__SCOPE__TEAM;
  cr_assert_eq(th_call(lb.addr, SVC "GetTop", &tr, &accolade__v1__get_top_response__descriptor, &member, &a,
                       (void **)&t, &st), RPC_INVALID_ARGUMENT);
  cr_assert(strstr(st.message, "board.scope_id"), "%s", st.message);
  tr.board = NULL;
  tr.page_size = 101;
  cr_assert_eq(th_call(lb.addr, SVC "GetTop", &tr, &accolade__v1__get_top_response__descriptor, &member, &a,
                       (void **)&t, &st), RPC_INVALID_ARGUMENT);
  cr_assert(strstr(st.message, "page_size"), "%s", st.message);
  cr_assert_eq(th_call(lb.addr, SVC "GetTop", &tr, &accolade__v1__get_top_response__descriptor, NULL, &a,
                       (void **)&t, &st), RPC_UNAUTHENTICATED);
  arena_free(&a);
}

/* rebuild_as calls RebuildLeaderboards; |res| gets the reply's counts. */
static int rebuild_as(identity *who, Accolade__V1__RebuildLeaderboardsResponse *res) {
  arena a;
  arena_init(&a);
  Accolade__V1__RebuildLeaderboardsRequest rr = ACCOLADE__V1__REBUILD_LEADERBOARDS_REQUEST__INIT;
  Accolade__V1__RebuildLeaderboardsResponse *out;
  rpc_status st;
  int rc = th_call(lb.addr, SVC "RebuildLeaderboards", &rr, &accolade__v1__rebuild_leaderboards_response__descriptor,
                   who, &a, (void **)&out, &st);
  if (rc == RPC_OK && res) *res = *out;
  arena_free(&a);
  return rc;
}

static void rebuild(void) { cr_assert_eq(rebuild_as(&admin, NULL), RPC_OK); }

Test(leaderboard, rebuild_reproduces_the_boards_exactly) {
  record("b1", "ann", "east", "deal-closer", 50, DEC31_2026, NULL);
  record("b2", "bea", "east", "knowledge-sharer", 20, DEC31_2026 + 1000, NULL);
  record("b3", "cal", "west", "deal-closer", 50, DEC31_2026 + 2000, NULL);
  record("b4", "ann", "east", "knowledge-sharer", 20, DEC31_2026 + 3 * DAY, NULL);
  char before[3][512], after[3][512];
  ALL(before[0]);
  top(ACCOLADE__V1__WINDOW__WEEK, "2026-W53", ACCOLADE__V1__SCOPE__TEAM, "east", 0, before[1], 512);
  top(ACCOLADE__V1__WINDOW__YEAR, "2027", 0, "", ACCOLADE__V1__SUBJECT__TEAMS, before[2], 512);
  Accolade__V1__RebuildLeaderboardsResponse out;
  cr_assert_eq(rebuild_as(&member, &out), RPC_PERMISSION_DENIED);
  cr_assert_eq(rebuild_as(&admin, &out), RPC_OK);
  cr_assert_eq(out.awards, 4);
  cr_assert_gt(out.boards, 10);
  ALL(after[0]);
  top(ACCOLADE__V1__WINDOW__WEEK, "2026-W53", ACCOLADE__V1__SCOPE__TEAM, "east", 0, after[1], 512);
  top(ACCOLADE__V1__WINDOW__YEAR, "2027", 0, "", ACCOLADE__V1__SUBJECT__TEAMS, after[2], 512);
  for (int i = 0; i < 3; i++) cr_assert_str_eq(after[i], before[i], "board %d", i);
  cr_assert_str_eq(before[0], "ann=70,cal=50,bea=20");
}

static int64_t now_ms(void) {
  struct timespec t;
  clock_gettime(CLOCK_REALTIME, &t);
  return (int64_t)t.tv_sec * 1000 + t.tv_nsec / 1000000;
}


#define ROLLING(buf) top(ACCOLADE__V1__WINDOW__ROLLING_30_DAYS, "", 0, "", 0, buf, sizeof buf)

Test(leaderboard, the_rolling_30_days_sum_the_daily_buckets_and_follow_every_write) {
  int64_t now = now_ms();
  record("r30-old", "olga", "east", "deal-closer", 90, now - 30 * DAY, NULL);   /* one day too old */
  record("r30-edge", "bob", "west", "deal-closer", 40, now - 29 * DAY, NULL);   /* the window's first day */
  record("r30-a1", "alice", "east", "deal-closer", 20, now - 10 * DAY, NULL);
  record("r30-a2", "alice", "east", "knowledge-sharer", 30, now, NULL);
  char buf[512];
  cr_assert_str_eq(ROLLING(buf), "alice=50,bob=40");
  /* The window is materialized now; later writes must show in it. */
  record("r30-b2", "bob", "west", "deal-closer", 15, now, NULL);
  cr_assert_str_eq(ROLLING(buf), "bob=55,alice=50");
  cr_assert_eq(retract("r30-a1"), RPC_OK);
  cr_assert_str_eq(ROLLING(buf), "bob=55,alice=30");
  cr_assert_str_eq(top(ACCOLADE__V1__WINDOW__ROLLING_30_DAYS, "", ACCOLADE__V1__SCOPE__TEAM, "west", 0, buf, sizeof buf),
                   "bob=55");
  cr_assert_str_eq(top(ACCOLADE__V1__WINDOW__DAY, "", 0, "", 0, buf, sizeof buf), "alice=30,bob=15");
  /* A rolling window that ended 5 days ago: without today's awards. */
  char period[16];
  time_t t = (time_t)((now - 5 * DAY) / 1000);
  strftime(period, sizeof period, "%Y-%m-%d", gmtime(&t));
  cr_assert_str_eq(top(ACCOLADE__V1__WINDOW__ROLLING_30_DAYS, period, 0, "", 0, buf, sizeof buf), "olga=90,bob=40");
  rebuild();
  cr_assert_str_eq(ROLLING(buf), "bob=55,alice=30", "the rebuild drops the materialized window and agrees");
  /* A window ending in the future cannot be kept current: refused. */
  t = (time_t)((now + 5 * DAY) / 1000);
  strftime(period, sizeof period, "%Y-%m-%d", gmtime(&t));
  arena a;
  arena_init(&a);
  Accolade__V1__BoardSpec b = ACCOLADE__V1__BOARD_SPEC__INIT;
  b.window = ACCOLADE__V1__WINDOW__ROLLING_30_DAYS;
  b.period = period;
  Accolade__V1__GetTopRequest r = ACCOLADE__V1__GET_TOP_REQUEST__INIT;
  r.board = &b;
  Accolade__V1__GetTopResponse *out;
  rpc_status st;
  cr_assert_eq(th_call(lb.addr, SVC "GetTop", &r, &accolade__v1__get_top_response__descriptor, &member, &a,
                       (void **)&out, &st), RPC_INVALID_ARGUMENT);
  cr_assert(strstr(st.message, "board.period"), "%s", st.message);
  arena_free(&a);
}

Test(leaderboard, get_top_shows_each_members_latest_name_and_team) {
  next_name = "Dana Old";
  record("dn-1", "dana", "east", "deal-closer", 10, DEC31_2026, NULL);
  next_name = "Dana Scully";
  record("dn-2", "dana", "west", "deal-closer", 10, DEC31_2026 + 1000, NULL);
  record("dn-3", "ed", "east", "deal-closer", 5, DEC31_2026, NULL);   /* no name known */
  for (int pass = 0; pass < 2; pass++) {
    arena a;
    arena_init(&a);
    Accolade__V1__GetTopRequest r = ACCOLADE__V1__GET_TOP_REQUEST__INIT;
    Accolade__V1__GetTopResponse *out;
    rpc_status st;
    cr_assert_eq(th_call(lb.addr, SVC "GetTop", &r, &accolade__v1__get_top_response__descriptor, &member, &a,
                         (void **)&out, &st), RPC_OK, "%s", st.message);
    cr_assert_eq(out->n_entries, 2);
    cr_assert_str_eq(out->entries[0]->subject_id, "dana");
    cr_assert_str_eq(out->entries[0]->display_name, "Dana Scully", "pass %d", pass);
    cr_assert_str_eq(out->entries[0]->team, "west");
    cr_assert_str_eq(out->entries[1]->display_name, "");
    arena_free(&a);
    rebuild();   /* the second pass reads what the rebuild wrote */
  }
}

static int str_cmp(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

static char *unversioned(char *key);

/* key_cmp orders keys by their names without the generation. */
static int key_cmp(const void *a, const void *b) {
  char x[512], y[512];
  snprintf(x, sizeof x, "%s", *(char *const *)a);
  snprintf(y, sizeof y, "%s", *(char *const *)b);
  return strcmp(unversioned(x), unversioned(y));
}

/* unversioned: |key| without its generation ("lb:{org}:g3:members:..." ->
 * "lb:{org}:members:..."), in place. */
static char *unversioned(char *key) {
  char *g = strstr(key, "}:g");
  if (!g) return key;
  char *end = g + 3;
  while (*end >= '0' && *end <= '9') end++;
  if (end > g + 3 && *end == ':') memmove(g + 1, end, strlen(end) + 1);
  return key;
}

/* stale_keys: how many keys of the org belong to a generation other than
 * the live one, after waiting (up to 5 s) for the background drop of old
 * generations to get rid of them. */
static int stale_keys(void) {
  int stale = 0;
  for (int tries = 0; tries < 100; tries++) {
    redisReply *gen = redis_cmd("GET lb:{%s}:gen", org);
    cr_assert(gen && (gen->type == REDIS_REPLY_NIL || gen->type == REDIS_REPLY_STRING));
    long long live = gen->type == REDIS_REPLY_STRING ? atoll(gen->str) : 0;
    freeReplyObject(gen);
    char plain[128];
    int plain_len = snprintf(plain, sizeof plain, "lb:{%s}:", org);
    redisReply *keys = redis_cmd("KEYS lb:{%s}:*", org);
    cr_assert(keys && keys->type == REDIS_REPLY_ARRAY);
    stale = 0;
    for (size_t i = 0; i < keys->elements; i++) {
      const char *rest = keys->element[i]->str + plain_len;
      long long g = 0;
      if (rest[0] == 'g' && rest[1] >= '0' && rest[1] <= '9')
        g = atoll(rest + 1);
      else if (strncmp(rest, "members:", 8) != 0 && strncmp(rest, "teams:", 6) != 0 && strcmp(rest, "keys") != 0)
        continue;   /* not a generation's: gen, who, pending markers */
      stale += g != live;
    }
    freeReplyObject(keys);
    if (!stale) break;
    usleep(50 * 1000);
  }
  return stale;
}

/* snapshot renders every sorted set of the org's live generation (each
 * member and exact score, and whether it expires) and its display hash, keys
 * in order, named without their generation; returns the number of sorted
 * sets. Nothing of an older generation may be left. */
static int snapshot(char *buf, size_t cap) {
  cr_assert_eq(stale_keys(), 0, "keys of an old generation are left");
  redisReply *gen = redis_cmd("GET lb:{%s}:gen", org);
  cr_assert(gen && (gen->type == REDIS_REPLY_NIL || gen->type == REDIS_REPLY_STRING));
  char live[128];
  snprintf(live, sizeof live, "lb:{%s}:g%s:", org, gen->type == REDIS_REPLY_STRING ? gen->str : "0");
  char registry[160];   /* boards.h: the live generation's registry */
  if (gen->type == REDIS_REPLY_STRING && strcmp(gen->str, "0") != 0)
    snprintf(registry, sizeof registry, "lb:{%s}:g%s:keys", org, gen->str);
  else
    snprintf(registry, sizeof registry, "lb:{%s}:keys", org);
  freeReplyObject(gen);
  redisReply *keys = redis_cmd("KEYS lb:{%s}:*", org);
  cr_assert(keys && keys->type == REDIS_REPLY_ARRAY);
  char **names = malloc(sizeof(char *) * (keys->elements + 1));   /* sorted below */
  for (size_t i = 0; i < keys->elements; i++) {
    names[i] = keys->element[i]->str;
    char *g = strstr(names[i], "}:g");
    if (g && g[3] >= '0' && g[3] <= '9')   /* a generation's key: the live one's only */
      cr_assert(strncmp(names[i], live, strlen(live)) == 0, "%s is left from another generation than %s", names[i],
                live);
  }
  qsort(names, keys->elements, sizeof(char *), key_cmp);
  size_t k = 0;
  int zsets = 0;
  buf[0] = 0;
  for (size_t i = 0; i < keys->elements; i++) {
    redisReply *type = redis_cmd("TYPE %s", names[i]);
    int zset = strcmp(type->str, "zset") == 0, hash = strcmp(type->str, "hash") == 0;
    freeReplyObject(type);
    if (!zset && !hash) continue;   /* the key registry and the marker sets */
    if (zset) {   /* every board is named in its generation's registry */
      redisReply *in = redis_cmd("SISMEMBER %s %s", registry, names[i]);
      cr_assert(in && in->type == REDIS_REPLY_INTEGER && in->integer == 1, "%s is not in %s", names[i], registry);
      freeReplyObject(in);
    }
    redisReply *ttl = redis_cmd("TTL %s", names[i]);
    redisReply *r = zset ? redis_cmd("ZRANGE %s 0 -1 WITHSCORES", names[i]) : redis_cmd("HGETALL %s", names[i]);
    cr_assert(r && r->type == REDIS_REPLY_ARRAY && r->elements > 0, "%s", names[i]);
    char shown[512];
    snprintf(shown, sizeof shown, "%s", names[i]);
    k += (size_t)snprintf(buf + k, cap - k, "%s%s:", unversioned(shown), ttl->integer > 0 ? " (expires)" : "");
    /* a hash's fields in order */
    char **f = malloc(sizeof(char *) * r->elements);
    for (size_t j = 0; j < r->elements; j += 2) {
      f[j / 2] = malloc(512);
      snprintf(f[j / 2], 512, "%s=%s", r->element[j]->str, r->element[j + 1]->str);
    }
    if (hash) qsort(f, r->elements / 2, sizeof(char *), str_cmp);
    for (size_t j = 0; j < r->elements / 2; j++) {
      k += (size_t)snprintf(buf + k, cap - k, " %s", f[j]);
      free(f[j]);
    }
    k += (size_t)snprintf(buf + k, cap - k, "\n");
    cr_assert_lt(k, cap - 1, "the snapshot buffer is too small");
    free(f);
    freeReplyObject(r);
    freeReplyObject(ttl);
    zsets += zset;
  }
  free(names);
  freeReplyObject(keys);
  return zsets;
}

/* Every board and the display hash, byte for byte, as the awards wrote
 * them, after a rebuild in each write mode: RESTORE with small boards as
 * listpacks (Redis told to check every payload deeply), RESTORE of sorted
 * sets only, ZADD. */
Test(leaderboard, a_rebuild_writes_every_board_as_the_awards_did, .timeout = 300) {
  redis_setup("127.0.0.1", th_redis_port(), NULL);
  srand(11);
  static const char *teams[] = {"east", "west", "north", ""};
  static const char *badges[] = {"deal-closer", "knowledge-sharer", "customer-champion"};
  static const char *cats[] = {"sales", "enablement", ""};
  static const char *names[] = {"Ann", "Bo Lee", "Cy \"Tab\"\tTrent", ""};
  int64_t now = now_ms();
  for (int i = 0; i < 160; i++) {
    char id[32], who[16];
    snprintf(id, sizeof id, "rw-%d", i);
    snprintf(who, sizeof who, "u%d", rand() % 25);
    next_name = names[rand() % 4];
    next_category = cats[rand() % 3];
    /* Within the day buckets' retention (62 days). A live write keeps a board
     * for the retention from the write, a rebuild from the board's last
     * award: a backdated award's expired periods are not rebuilt. In time
     * order, as awards arrive: a member's name is that of the latest. */
    int64_t ms = now - 60 * DAY + i * (60 * DAY / 160) + rand() % 1000;
    cr_assert_eq(record(id, who, teams[rand() % 4], badges[rand() % 3], 1 + rand() % 40, ms, NULL), RPC_OK);
  }
  for (int i = 0; i < 160; i += 9) {
    char id[32];
    snprintf(id, sizeof id, "rw-%d", i);
    cr_assert_eq(retract(id), RPC_OK);
  }
  size_t cap = 1 << 20;
  char *before = malloc(cap), *after = malloc(cap);
  int zsets = snapshot(before, cap);
  cr_assert_gt(zsets, 300, "%d boards", zsets);
  redisReply *r = redis_cmd("CONFIG SET sanitize-dump-payload yes");
  cr_assert(r && r->type == REDIS_REPLY_STATUS);
  freeReplyObject(r);
  static const char *modes[] = {NULL, "ACCOLADE_LEADERBOARD_REBUILD_WRITE=restore",
                                "ACCOLADE_LEADERBOARD_REBUILD_WRITE=zadd"};
  for (int mode = 0; mode < 3; mode++) {
    if (mode) {   /* as against a server refusing listpacks, or every payload */
      cr_assert_eq(th_stop(&lb), 0);
      lb_env[2] = modes[mode];
      cr_assert_eq(th_start(&lb, th_bin("svc-leaderboard"), lb_env), 0);
    }
    Accolade__V1__RebuildLeaderboardsResponse out;
    cr_assert_eq(rebuild_as(&admin, &out), RPC_OK);
    int now_zsets = snapshot(after, cap);
    if (strcmp(before, after) != 0) {   /* show where they part */
      size_t d = 0;
      while (before[d] == after[d]) d++;
      while (d > 0 && before[d - 1] != '\n') d--;
      cr_assert_fail("mode %d: the boards differ from here:\n--- before\n%.600s\n--- after\n%.600s", mode, before + d,
                     after + d);
    }
    cr_assert_eq(now_zsets, zsets);
    cr_assert_eq(out.boards, zsets, "%lld boards rebuilt, %d in Redis", (long long)out.boards, zsets);
    cr_assert_eq(out.awards, 160 - 18);
  }
  r = redis_cmd("CONFIG SET sanitize-dump-payload no");
  freeReplyObject(r);
  free(before);
  free(after);
}

/* Two processes share the boards; one rebuilds (a new generation of keys).
 * The other, still naming keys in the old one, learns of it at its next
 * write or read and lands in the new one; nothing of the old is left. */
Test(leaderboard, a_second_process_follows_the_generation_a_rebuild_switched_to) {
  redis_setup("127.0.0.1", th_redis_port(), NULL);
  th_proc lb2;
  cr_assert_eq(th_start(&lb2, th_bin("svc-leaderboard"), lb_env), 0);
  char buf[256];
  int64_t now = now_ms();
  record("gen-1", "ann", "east", "deal-closer", 10, now - DAY, NULL);
  via = lb2.addr;
  cr_assert_str_eq(ALL(buf), "ann=10");
  via = NULL;
  rebuild();
  rebuild();   /* generation 2: the second process knows only 0 */
  redisReply *g = redis_cmd("GET lb:{%s}:gen", org);
  cr_assert_str_eq(g->str, "2");
  freeReplyObject(g);
  via = lb2.addr;
  record("gen-2", "bob", "west", "deal-closer", 20, now, NULL);
  cr_assert_str_eq(ALL(buf), "bob=20,ann=10");
  cr_assert_str_eq(ROLLING(buf), "bob=20,ann=10");
  via = NULL;
  cr_assert_str_eq(ALL(buf), "bob=20,ann=10");
  cr_assert_eq(stale_keys(), 0, "keys of generations 0 and 1 are left");
  cr_assert_eq(th_stop(&lb2), 0);
}

/* What a process that died mid-rebuild leaves behind: the generation it was
 * writing (registered, never live) and the one it had not dropped yet. The
 * next rebuild finds both through their registries: neither shows, neither
 * is left. */
Test(leaderboard, a_rebuild_clears_what_a_dead_one_left) {
  redis_setup("127.0.0.1", th_redis_port(), NULL);
  char buf[256];
  record("dead-1", "ann", "east", "deal-closer", 10, DEC31_2026, NULL);
  rebuild();   /* generation 1 is live */
  char g2[96], g0[96];
  snprintf(g2, sizeof g2, "lb:{%s}:g2", org);   /* a rebuild to 2 that died */
  snprintf(g0, sizeof g0, "lb:{%s}", org);      /* generation 0, never dropped */
  redisReply *r[] = {redis_cmd("SADD %s:keys %s:members:all:all", g2, g2),
                     redis_cmd("ZADD %s:members:all:all 99 ghost", g2),
                     redis_cmd("SADD %s:keys %s:members:all:all", g0, g0),
                     redis_cmd("ZADD %s:members:all:all 99 ghost0", g0)};
  for (size_t i = 0; i < sizeof r / sizeof r[0]; i++) {
    cr_assert(r[i] && r[i]->type == REDIS_REPLY_INTEGER);
    freeReplyObject(r[i]);
  }
  rebuild();   /* to generation 2 */
  cr_assert_str_eq(ALL(buf), "ann=10", "the dead rebuild's board does not show");
  cr_assert_eq(stale_keys(), 0, "generations 0 and 1 are gone");
}

/* A process stopped while it dropped an old generation: the next one to
 * start drops what is left. */
Test(leaderboard, a_restart_drops_what_a_stopped_drop_left) {
  redis_setup("127.0.0.1", th_redis_port(), NULL);
  char buf[256];
  record("left-1", "ann", "east", "deal-closer", 10, DEC31_2026, NULL);
  rebuild();   /* generation 1 is live */
  cr_assert_eq(stale_keys(), 0);
  char g0[96];
  snprintf(g0, sizeof g0, "lb:{%s}", org);   /* generation 0, as if its drop was cut short */
  redisReply *r[] = {redis_cmd("SADD %s:keys %s:members:all:all", g0, g0),
                     redis_cmd("ZADD %s:members:all:all 99 ghost0", g0)};
  for (size_t i = 0; i < sizeof r / sizeof r[0]; i++) {
    cr_assert(r[i] && r[i]->type == REDIS_REPLY_INTEGER);
    freeReplyObject(r[i]);
  }
  cr_assert_eq(th_stop(&lb), 0);
  cr_assert_eq(th_start(&lb, th_bin("svc-leaderboard"), lb_env), 0);
  cr_assert_eq(stale_keys(), 0, "generation 0 is dropped at start");
  cr_assert_str_eq(ALL(buf), "ann=10");
}

/* lock_waiters: sessions of the test database waiting on a lock, or idle in
 * an open transaction (a worker that left one behind). */
static int lock_waiters(void) {
  char *n = th_sql(dsn, "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                        "AND (wait_event_type = 'Lock' OR state LIKE 'idle in transaction%')");
  int v = n ? atoi(n) : -1;
  free(n);
  return v;
}

Test(leaderboard, a_record_behind_a_held_lock_ends_at_its_deadline_and_postgres_lets_go) {
  /* A session holds the org's lock, as a rebuild does for its whole run. */
  PGconn *hold = PQconnectdb(dsn);
  cr_assert_eq(PQstatus(hold), CONNECTION_OK);
  const char *p[] = {org};
  PGresult *r = PQexecParams(hold, "SELECT pg_advisory_lock(hashtext('lb.org'), hashtext($1))", 1, NULL, p, NULL, NULL, 0);
  cr_assert_eq(PQresultStatus(r), PGRES_TUPLES_OK);
  PQclear(r);
  arena a;
  arena_init(&a);
  Accolade__V1__AwardRecord rec = ACCOLADE__V1__AWARD_RECORD__INIT;
  rec.award_id = "held-1";
  rec.org = org;
  rec.recipient_id = "mia";
  rec.recipient_team = "east";
  rec.badge_id = "deal-closer";
  rec.category = "sales";
  rec.points = 10;
  rec.granted_at_ms = 1767225600000;
  rpc_call_opts o = {.timeout_ms = 1000, .as = &svc};
  Accolade__V1__RecordAwardResponse *out;
  rpc_status st;
  int64_t t0 = rpc_now_ms();
  int rc = rpc_call(lb.addr, SVC "RecordAward", &rec.base, &accolade__v1__record_award_response__descriptor, &o, &a,
                    (void **)&out, &st);
  int64_t took = rpc_now_ms() - t0;
  cr_expect_eq(rc, RPC_DEADLINE_EXCEEDED, "%d %s", rc, st.message);
  cr_expect_lt(took, 1800, "answered at its deadline, not later (%lld ms)", (long long)took);
  /* Postgres cancelled the wait itself: nothing of the call is left there. */
  int left = -1;
  for (int i = 0; i < 20 && left != 0; i++) {
    left = lock_waiters();
    if (left) usleep(50 * 1000);
  }
  cr_expect_eq(left, 0, "no session still waits on the lock or idles in a transaction");
  PQfinish(hold);
  /* The worker is free, and the award is recorded once the lock is gone. */
  int recorded = 0;
  cr_expect_eq(record("held-1", "mia", "east", "deal-closer", 10, 1767225600000, &recorded), RPC_OK);
  cr_expect_eq(recorded, 1);
  arena_free(&a);
}
