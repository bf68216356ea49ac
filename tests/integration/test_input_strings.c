/* Every string field of every RPC, at the top and one message deep
 * (members[0].member_id, channel.kinds[0]), on the real services: a NUL byte
 * inside (which C would cut the string at, resolving "d1a\0zz" to "d1a"),
 * bytes that are not UTF-8, a value of blanks only and one over the ceiling
 * of every string (PBWIRE_MAX_CHARS) are INVALID_ARGUMENT naming the field,
 * before any handler runs, whoever calls. Table-driven from the proto
 * descriptors. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

#include "accolade/v1/award.pb-c.h"
#include "accolade/v1/credential.pb-c.h"
#include "accolade/v1/leaderboard.pb-c.h"
#include "accolade/v1/nomination.pb-c.h"
#include "accolade/v1/notify.pb-c.h"
#include "accolade/v1/signal.pb-c.h"
#include "harness.h"
#include "pbwire.h"

#define SECRET "strings-test-secret"

/* put_varint appends |v| to |out| at |*n|. */
static void put_varint(uint8_t *out, size_t *n, uint64_t v) {
  while (v >= 0x80) {
    out[(*n)++] = (uint8_t)(v | 0x80);
    v >>= 7;
  }
  out[(*n)++] = (uint8_t)v;
}

/* field_bytes: a message holding only field |num| (length-delimited) = |v|. */
static size_t field_bytes(uint8_t *out, uint32_t num, const char *v, size_t vlen) {
  size_t n = 0;
  put_varint(out, &n, (uint64_t)num << 3 | 2);
  put_varint(out, &n, vlen);
  memcpy(out + n, v, vlen);
  return n + vlen;
}

typedef struct bad_value {
  const char *bytes;
  size_t len;
  const char *why;   /* what the message says */
} bad_value;

static char g_long[PBWIRE_MAX_CHARS + 2];

static const bad_value bad[] = {
    {"d1a\0zz", 6, "must not contain a NUL byte"},
    {"ok\xff", 3, "must be valid UTF-8"},
    {"\xc0\xaf", 2, "must be valid UTF-8"},   /* an overlong '/' */
    {"   \t ", 5, "must not be blank"},
    {"\xc2\xa0\xe3\x80\x80", 5, "must not be blank"},   /* a no-break and an ideographic space */
    {g_long, PBWIRE_MAX_CHARS + 1, "must be at most"},
};
#define NBAD (sizeof bad / sizeof bad[0])

/* expect_refused sends |req| (|n| bytes) to |path| and expects
 * INVALID_ARGUMENT "<want>: <why>". */
static void expect_refused(const char *addr, const char *path, const identity *as, const uint8_t *req, size_t n,
                           const char *want, const char *why) {
  arena a;
  arena_init(&a);
  rpc_call_opts o = {.timeout_ms = 5000, .as = as};
  uint8_t *out;
  size_t out_len;
  rpc_status st;
  int rc = rpc_call_raw(addr, path, req, n, &o, &a, &out, &out_len, &st);
  char prefix[200];
  snprintf(prefix, sizeof prefix, "%s: %s", want, why);
  cr_expect_eq(rc, RPC_INVALID_ARGUMENT, "%s %s (%s): %d %s", path, want, why, rc, st.message ? st.message : "");
  cr_expect(st.message && strncmp(st.message, prefix, strlen(prefix)) == 0, "%s: expected '%s...', got %s", path,
            prefix, st.message ? st.message : "(none)");
  arena_free(&a);
}

/* name_of: "f", "f[0]" for a repeated field, after |outer| ("outer."). */
static void name_of(char *out, size_t cap, const char *outer, const ProtobufCFieldDescriptor *fd) {
  snprintf(out, cap, fd->label == PROTOBUF_C_LABEL_REPEATED ? "%s%s[0]" : "%s%s", outer, fd->name);
}

/* check_service sends every bad value in every string field of every method
 * of |svc|, and in every string field of each message field of the request,
 * to |addr| (as |as|, may be NULL), and expects INVALID_ARGUMENT naming the
 * field. Returns the number of calls made. */
static int check_service(const ProtobufCServiceDescriptor *svc, const char *addr, const identity *as) {
  static uint8_t inner[PBWIRE_MAX_CHARS + 64], req[PBWIRE_MAX_CHARS + 128];
  int calls = 0;
  for (unsigned m = 0; m < svc->n_methods; m++) {
    const ProtobufCMethodDescriptor *md = &svc->methods[m];
    char path[256];
    snprintf(path, sizeof path, "/%s/%s", svc->name, md->name);
    for (unsigned f = 0; f < md->input->n_fields; f++) {
      const ProtobufCFieldDescriptor *fd = &md->input->fields[f];
      char outer[128];
      name_of(outer, sizeof outer, "", fd);
      if (fd->type == PROTOBUF_C_TYPE_STRING) {
        for (size_t b = 0; b < NBAD; b++) {
          size_t n = field_bytes(req, fd->id, bad[b].bytes, bad[b].len);
          expect_refused(addr, path, as, req, n, outer, bad[b].why);
          calls++;
        }
      } else if (fd->type == PROTOBUF_C_TYPE_MESSAGE) {
        const ProtobufCMessageDescriptor *sub = fd->descriptor;
        strcat(outer, ".");
        for (unsigned g = 0; g < sub->n_fields; g++) {
          const ProtobufCFieldDescriptor *gd = &sub->fields[g];
          if (gd->type != PROTOBUF_C_TYPE_STRING) continue;
          char want[200];
          name_of(want, sizeof want, outer, gd);
          for (size_t b = 0; b < NBAD; b++) {
            size_t in = field_bytes(inner, gd->id, bad[b].bytes, bad[b].len);
            size_t n = field_bytes(req, fd->id, (const char *)inner, in);
            expect_refused(addr, path, as, req, n, want, bad[b].why);
            calls++;
          }
        }
      }
    }
  }
  return calls;
}

Test(strings, every_string_field_of_every_rpc_refuses_nul_bad_utf8_blanks_and_overlong, .timeout = 400) {
  th_init();
  th_suite s;
  th_suite_start(&s, th_new_database("strings"), SECRET, NULL);
  identity admin;
  th_as(&admin, "strorg", "ada", "admin", "east");
  memset(g_long, 'x', PBWIRE_MAX_CHARS + 1);
  int calls = 0;
  calls += check_service(&accolade__v1__award_service__descriptor, s.award.addr, &admin);
  calls += check_service(&accolade__v1__credential_service__descriptor, s.award.addr, &admin);
  calls += check_service(&accolade__v1__signal_service__descriptor, s.award.addr, &admin);
  calls += check_service(&accolade__v1__leaderboard_service__descriptor, s.lb.addr, &admin);
  calls += check_service(&accolade__v1__nomination_service__descriptor, s.nomination.addr, NULL);
  calls += check_service(&accolade__v1__notify_service__descriptor, s.notify.addr, &admin);
  cr_log_info("%d calls with a bad string", calls);
  cr_expect_gt(calls, 1000, "the table covers the API (%d calls)", calls);
  /* Through the gateway, with a token, as a client meets it. */
  static char bearer[1200];
  snprintf(bearer, sizeof bearer, "Bearer %s", th_jwt(SECRET, "strorg", "ada", "admin", "east", 600));
  const char *mdv[] = {"authorization", bearer, NULL};
  uint8_t req[64];
  size_t n = field_bytes(req, 1, "d1a\0zz", 6);   /* GetMember.member_id */
  rpc_call_opts o = {.timeout_ms = 5000, .metadata = mdv};
  arena a;
  arena_init(&a);
  uint8_t *out;
  size_t out_len;
  rpc_status st;
  int rc = rpc_call_raw(s.gateway.addr, "/accolade.v1.NominationService/GetMember", req, n, &o, &a, &out, &out_len,
                        &st);
  cr_expect_eq(rc, RPC_INVALID_ARGUMENT, "%d %s", rc, st.message ? st.message : "");
  cr_expect(st.message && strstr(st.message, "member_id: must not contain a NUL byte"), "%s", st.message);
  arena_free(&a);
  th_suite_stop(&s);
  th_fini();
}

/* Nested and repeated strings carry their path. */
Test(strings, a_bad_string_deep_in_a_batch_is_named_by_its_path) {
  th_init();
  th_suite s;
  th_suite_start(&s, th_new_database("strings_deep"), SECRET, NULL);
  identity admin;
  th_as(&admin, "strorg", "ada", "admin", "east");
  /* IngestSignalsRequest.signals[1].account = "In\0itech": packed with a
   * placeholder of the same length, then the placeholder's byte replaced. */
  arena a;
  arena_init(&a);
  Accolade__V1__Signal s0 = ACCOLADE__V1__SIGNAL__INIT, s1 = ACCOLADE__V1__SIGNAL__INIT;
  Accolade__V1__Signal *sigs[] = {&s0, &s1};
  s0.account = "Globex";
  s1.account = "InXitech";
  Accolade__V1__IngestSignalsRequest r = ACCOLADE__V1__INGEST_SIGNALS_REQUEST__INIT;
  r.signals = sigs;
  r.n_signals = 2;
  uint8_t buf[512];
  size_t n = protobuf_c_message_pack(&r.base, buf);
  uint8_t *x = memmem(buf, n, "InXitech", 8);
  cr_assert_not_null(x);
  x[2] = 0;
  rpc_call_opts o = {.timeout_ms = 5000, .as = &admin};
  uint8_t *out;
  size_t out_len;
  rpc_status st;
  int rc = rpc_call_raw(s.award.addr, "/accolade.v1.SignalService/IngestSignals", buf, n, &o, &a, &out, &out_len,
                        &st);
  cr_expect_eq(rc, RPC_INVALID_ARGUMENT);
  cr_expect(st.message && strstr(st.message, "signals[1].account: must not contain a NUL byte"), "%s",
            st.message ? st.message : "");
  arena_free(&a);
  th_suite_stop(&s);
  th_fini();
}
