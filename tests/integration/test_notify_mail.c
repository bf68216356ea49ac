/* The digest by email: svc-notify (two replicas on one database) sends last
 * week's digest through SMTP to a local sink (tests/support/smtp_sink.py):
 * one multipart message per opted-in member and per email channel, none to
 * a member who turned the digest off, none twice (a restart, a second
 * replica), and a refused message delivered once on a retry. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "accolade/v1/nomination.pb-c.h"
#include "accolade/v1/notify.pb-c.h"
#include "harness.h"

#define NT "/accolade.v1.NotifyService/"

static th_suite suite;
static th_smtp sink;
static char org[64];

static void call_ok(const char *addr, const char *method, const void *req, const ProtobufCMessageDescriptor *resp,
                    const identity *as, arena *a) {
  void *out;
  rpc_status st;
  cr_assert_eq(th_call(addr, method, req, resp, as, a, &out, &st), RPC_OK, "%s: %s", method, st.message);
}

static Accolade__V1__Member *member(arena *a, const char *id, const char *name, const char *email, const char *team) {
  Accolade__V1__Member *m = ARENA_NEW(a, Accolade__V1__Member);
  accolade__v1__member__init(m);
  m->member_id = (char *)id;
  m->display_name = (char *)name;
  m->email = (char *)email;
  m->team = (char *)team;
  m->active = 1;
  return m;
}

/* start: the sink (refusing the first |refuse|), the suite mailing to it. */
static void start(int refuse) {
  th_init();
  cr_assert_eq(th_smtp_start(&sink, refuse), 0, "the SMTP sink did not start");
  snprintf(org, sizeof org, "mail-%d", getpid());
  static char smtp[96];
  snprintf(smtp, sizeof smtp, "ACCOLADE_SMTP_URL=smtp://127.0.0.1:%d", sink.proc.port);
  const char *extra[] = {smtp, "ACCOLADE_SMTP_FROM=Accolade <digest@accolade.example>",
                         "ACCOLADE_NOTIFY_DIGEST_SCAN_MS=200", "ACCOLADE_NOTIFY_RETRY_BASE_MS=50", NULL};
  th_suite_start(&suite, "mail", "mail-secret", extra);
}

/* publish_award: svc-award's AwardGranted for ann, granted at |ms|. */
static void publish_award(arena *a, int64_t ms) {
  identity svc;
  th_as(&svc, org, "svc:award", "service", "");
  Accolade__V1__AwardRecord rec = ACCOLADE__V1__AWARD_RECORD__INIT;
  rec.award_id = "aw-1";
  rec.org = org;
  rec.badge_id = "deal-closer";
  rec.badge_name = "Deal Closer";
  rec.category = "sales";
  rec.points = 50;
  rec.granted_at_ms = ms;
  rec.recipient_id = "ann";
  rec.recipient_name = "Ann Lee";
  rec.recipient_team = "east";
  rec.public_ = 1;
  rec.justification = "Closed Northwind <early> & at full price";
  Accolade__V1__Event ev = ACCOLADE__V1__EVENT__INIT;
  ev.event_id = "aw-1";
  ev.org = org;
  ev.kind_case = ACCOLADE__V1__EVENT__KIND_AWARD_GRANTED;
  ev.award_granted = &rec;
  call_ok(suite.notify.addr, NT "PublishEvent", &ev, &accolade__v1__publish_event_response__descriptor, &svc, a);
}

/* wait_for: until the sink holds |n| messages in all, or 20 s. */
static int wait_for(int n) {
  for (int i = 0; i < 400 && th_smtp_count(&sink, "", NULL) < n; i++) usleep(50 * 1000);
  return th_smtp_count(&sink, "", NULL);
}

Test(mail, the_digest_reaches_each_opted_in_member_once, .timeout = 180) {
  start(1);
  th_proc replica;   /* a second svc-notify on the same database */
  cr_assert_eq(th_start(&replica, th_bin("svc-notify"), suite.env[1]), 0, "the second replica did not start");

  arena a;
  arena_init(&a);
  identity admin, cy;
  th_as(&admin, org, "ada", "admin", "");
  th_as(&cy, org, "cy", "member", "east");
  Accolade__V1__Member *ms[] = {member(&a, "ann", "Ann Lee", "ann@mail.example", "east"),
                                member(&a, "bob", "Bob Ray", "bob@mail.example", "west"),
                                member(&a, "cy", "Cy Twombly", "cy@mail.example", "east"),
                                member(&a, "dan", "Dan No-Mail", "", "east")};
  Accolade__V1__UpsertMembersRequest um = ACCOLADE__V1__UPSERT_MEMBERS_REQUEST__INIT;
  um.members = ms;
  um.n_members = 4;
  call_ok(suite.nomination.addr, "/accolade.v1.NominationService/UpsertMembers", &um,
          &accolade__v1__upsert_members_response__descriptor, &admin, &a);
  rpc_status st;
  /* cy turns the digest off */
  Accolade__V1__Preferences pr = ACCOLADE__V1__PREFERENCES__INIT;
  Accolade__V1__UpdatePreferencesRequest up = ACCOLADE__V1__UPDATE_PREFERENCES_REQUEST__INIT;
  up.preferences = &pr;
  call_ok(suite.notify.addr, NT "UpdatePreferences", &up, &accolade__v1__preferences__descriptor, &cy, &a);
  /* the east team's list address */
  char *kinds[] = {"digest"};
  Accolade__V1__Channel ch = ACCOLADE__V1__CHANNEL__INIT;
  ch.url = "mailto:east-team@mail.example";
  ch.format = "email";
  ch.team = "east";
  ch.kinds = kinds;
  ch.n_kinds = 1;
  Accolade__V1__CreateChannelRequest cc = ACCOLADE__V1__CREATE_CHANNEL_REQUEST__INIT;
  cc.channel = &ch;
  Accolade__V1__Channel *list;
  cr_assert_eq(th_call(suite.notify.addr, NT "CreateChannel", &cc, &accolade__v1__channel__descriptor, &admin, &a,
                       (void **)&list, &st), RPC_OK, "%s", st.message);
  ch.url = "mailto:not an address";
  void *out;
  cr_assert_eq(th_call(suite.notify.addr, NT "CreateChannel", &cc, &accolade__v1__channel__descriptor, &admin, &a, &out,
                       &st), RPC_INVALID_ARGUMENT);
  cr_assert(strstr(st.message, "channel.url"), "%s", st.message);

  /* last week: an award to ann, so the org has a digest to send */
  publish_award(&a, (int64_t)time(NULL) * 1000 - 7 * 86400000LL);

  cr_assert_eq(wait_for(3), 3, "ann, bob and the east list");
  usleep(1500 * 1000);   /* a few more scans by both replicas */
  int refused = 0;
  cr_assert_eq(th_smtp_count(&sink, "ann@mail.example", &refused), 1);
  cr_assert_eq(refused, 1, "the sink refused the first message once");
  cr_assert_eq(th_smtp_count(&sink, "bob@mail.example", NULL), 1);
  cr_assert_eq(th_smtp_count(&sink, "east-team@mail.example", NULL), 1);
  cr_assert_eq(th_smtp_count(&sink, "cy@mail.example", NULL), 0, "cy turned the digest off");
  cr_assert_eq(th_smtp_count(&sink, "", NULL), 3, "nobody else, nothing twice");
  char *count = th_sql(suite.dsn, "SELECT count(*) FROM notify.delivery WHERE status = 'delivered' AND attempts = 2");
  cr_assert_str_eq(count, "1", "the refused message went on its second attempt");
  free(count);

  char *msg = th_smtp_message(&sink, "ann@mail.example");
  cr_assert_not_null(msg);
  cr_assert(strstr(msg, "To: Ann Lee <ann@mail.example>"), "%.600s", msg);
  cr_assert(strstr(msg, "From: Accolade <digest@accolade.example>"), "%.600s", msg);
  cr_assert(strstr(msg, "Subject: Recognition digest: Week "), "%.600s", msg);
  cr_assert(strstr(msg, "Content-Type: multipart/alternative; boundary="), "%.600s", msg);
  cr_assert(strstr(msg, "Content-Type: text/plain; charset=utf-8"));
  cr_assert(strstr(msg, "Content-Type: text/html; charset=utf-8"));
  free(msg);
  msg = th_smtp_message(&sink, "east-team@mail.example");
  cr_assert(strstr(msg, "Subject: Recognition digest: Week ") && strstr(msg, ", team east"), "%.600s", msg);
  free(msg);

  /* a re-run sends nothing: svc-notify restarted, both replicas scanning */
  cr_assert_eq(th_suite_restart(&suite, &suite.notify), 0);
  usleep(1500 * 1000);
  cr_assert_eq(th_smtp_count(&sink, "", NULL), 3, "a restart sent the digest again");
  char *mailed = th_sql(suite.dsn, "SELECT count(*) FROM notify.digest_mailed");
  cr_assert_str_eq(mailed, "1");
  free(mailed);

  /* TestChannel on the list: a short test email */
  Accolade__V1__TestChannelRequest tc = ACCOLADE__V1__TEST_CHANNEL_REQUEST__INIT;
  tc.channel_id = list->id;
  call_ok(suite.notify.addr, NT "TestChannel", &tc, &accolade__v1__test_channel_response__descriptor, &admin, &a);
  cr_assert_eq(wait_for(4), 4, "the test email");
  cr_assert_eq(th_smtp_count(&sink, "east-team@mail.example", NULL), 2);

  th_stop(&replica);
  th_suite_stop(&suite);
  th_smtp_stop(&sink);
  arena_free(&a);
}

/* sql_int: the first cell of |sql| on the suite's database, as a number. */
static long long sql_int(const char *sql) {
  char *v = th_sql(suite.dsn, sql);
  cr_assert_not_null(v, "%s", sql);
  long long n = atoll(v);
  free(v);
  return n;
}

/* set_schedule: the org's digest day and hour in |tz|; returns the call's code. */
static int set_schedule(arena *a, const char *tz, int weekday, int hour, rpc_status *st) {
  identity admin;
  th_as(&admin, org, "ada", "admin", "");
  Accolade__V1__GetOrgSettingsRequest g = ACCOLADE__V1__GET_ORG_SETTINGS_REQUEST__INIT;
  Accolade__V1__OrgSettings *s;
  cr_assert_eq(th_call(suite.nomination.addr, "/accolade.v1.NominationService/GetOrgSettings", &g,
                       &accolade__v1__org_settings__descriptor, &admin, a, (void **)&s, st), RPC_OK);
  s->time_zone = (char *)tz;
  s->digest_weekday = weekday;
  s->digest_hour = hour;
  Accolade__V1__UpdateOrgSettingsRequest u = ACCOLADE__V1__UPDATE_ORG_SETTINGS_REQUEST__INIT;
  u.settings = s;
  void *out;
  return th_call(suite.nomination.addr, "/accolade.v1.NominationService/UpdateOrgSettings", &u,
                 &accolade__v1__org_settings__descriptor, &admin, a, &out, st);
}

Test(mail, the_digest_waits_for_the_orgs_local_day_and_hour, .timeout = 180) {
  start(0);
  arena a;
  arena_init(&a);
  rpc_status st;
  cr_assert_eq(set_schedule(&a, "Mars/Olympus_Mons", 1, 9, &st), RPC_INVALID_ARGUMENT);
  cr_assert(strstr(st.message, "settings.time_zone"), "%s", st.message);
  cr_assert_eq(set_schedule(&a, "UTC", 8, 9, &st), RPC_INVALID_ARGUMENT);
  cr_assert(strstr(st.message, "settings.digest_weekday"), "%s", st.message);

  /* Tokyo's clock now (or New York's, when Tokyo is in the last hour of its week) */
  const char *tz = "Asia/Tokyo";
  if (sql_int("SELECT extract(isodow from now() AT TIME ZONE 'Asia/Tokyo') * 100 + "
              "extract(hour from now() AT TIME ZONE 'Asia/Tokyo')") == 723)
    tz = "America/New_York";
  char q[400];
  snprintf(q, sizeof q, "SELECT extract(isodow from now() AT TIME ZONE '%s') * 100 + extract(hour from now() AT TIME ZONE '%s')",
           tz, tz);
  long long now = sql_int(q);
  int day = (int)(now / 100), hour = (int)(now % 100);
  /* the digest of the org's local week before: an award in it (its Tuesday) */
  snprintf(q, sizeof q,
           "SELECT (extract(epoch from date_trunc('week', now() AT TIME ZONE '%s') - interval '6 days') * 1000)::bigint", tz);
  identity admin;
  th_as(&admin, org, "ada", "admin", "");
  Accolade__V1__Member *ms[] = {member(&a, "ann", "Ann Lee", "ann@mail.example", "east")};
  Accolade__V1__UpsertMembersRequest um = ACCOLADE__V1__UPSERT_MEMBERS_REQUEST__INIT;
  um.members = ms;
  um.n_members = 1;
  call_ok(suite.nomination.addr, "/accolade.v1.NominationService/UpsertMembers", &um,
          &accolade__v1__upsert_members_response__descriptor, &admin, &a);

  /* an hour from now, local: not yet */
  cr_assert_eq(set_schedule(&a, tz, hour < 23 ? day : day + 1, hour < 23 ? hour + 1 : 0, &st), RPC_OK, "%s", st.message);
  publish_award(&a, sql_int(q));
  usleep(1500 * 1000);   /* several scans */
  cr_assert_eq(th_smtp_count(&sink, "", NULL), 0, "the digest went out before its local hour");
  cr_assert_eq(sql_int("SELECT count(*) FROM notify.digest_mailed"), 0);

  /* this very hour, local: due, once */
  cr_assert_eq(set_schedule(&a, tz, day, hour, &st), RPC_OK, "%s", st.message);
  cr_assert_eq(wait_for(1), 1, "the digest did not go out at its local hour");
  usleep(1000 * 1000);
  cr_assert_eq(th_smtp_count(&sink, "ann@mail.example", NULL), 1);
  snprintf(q, sizeof q,
           "SELECT count(*) FROM notify.digest_mailed WHERE week = to_char(now() AT TIME ZONE '%s' - interval '7 days', "
           "'IYYY-\"W\"IW')", tz);
  cr_assert_eq(sql_int(q), 1, "the week mailed is the org's local week before");

  th_suite_stop(&suite);
  th_smtp_stop(&sink);
  arena_free(&a);
}
