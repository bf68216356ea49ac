/* Every string field of every RPC, on the real services: a NUL byte inside
 * (which C would cut the string at, resolving "d1a\0zz" to "d1a") and bytes
 * that are not UTF-8 are INVALID_ARGUMENT naming the field, before any
 * handler runs, whoever calls. Table-driven from the proto descriptors. */
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

#define SECRET "strings-test-secret"

/* field_bytes: a message holding only field |num| (length-delimited) = |v|. */
static size_t field_bytes(uint8_t *out, uint32_t num, const char *v, size_t vlen) {
  size_t n = 0;
  uint32_t key = num << 3 | 2;
  while (key >= 0x80) {
    out[n++] = (uint8_t)(key | 0x80);
    key >>= 7;
  }
  out[n++] = (uint8_t)key;
  out[n++] = (uint8_t)vlen;
  memcpy(out + n, v, vlen);
  return n + vlen;
}

typedef struct bad_value {
  const char *bytes;
  size_t len;
  const char *why;
} bad_value;

static const bad_value bad[] = {
    {"d1a\0zz", 6, "NUL"},
    {"ok\xff", 3, "UTF-8"},
    {"\xc0\xaf", 2, "UTF-8"},   /* an overlong '/' */
};

/* check_service sends every bad value in every string field of every method
 * of |svc| to |addr| (as |as|, may be NULL), and expects INVALID_ARGUMENT
 * naming the field. Returns the number of calls made. */
static int check_service(const ProtobufCServiceDescriptor *svc, const char *addr, const identity *as) {
  int calls = 0;
  arena a;
  arena_init(&a);
  for (unsigned m = 0; m < svc->n_methods; m++) {
    const ProtobufCMethodDescriptor *md = &svc->methods[m];
    char path[256];
    snprintf(path, sizeof path, "/%s/%s", svc->name, md->name);
    for (unsigned f = 0; f < md->input->n_fields; f++) {
      const ProtobufCFieldDescriptor *fd = &md->input->fields[f];
      if (fd->type != PROTOBUF_C_TYPE_STRING) continue;
      for (size_t b = 0; b < sizeof bad / sizeof bad[0]; b++) {
        uint8_t req[64];
        size_t n = field_bytes(req, fd->id, bad[b].bytes, bad[b].len);
        rpc_call_opts o = {.timeout_ms = 5000, .as = as};
        uint8_t *out;
        size_t out_len;
        rpc_status st;
        int rc = rpc_call_raw(addr, path, req, n, &o, &a, &out, &out_len, &st);
        char want[160];
        snprintf(want, sizeof want, fd->label == PROTOBUF_C_LABEL_REPEATED ? "%s[0]: " : "%s: ", fd->name);
        cr_expect_eq(rc, RPC_INVALID_ARGUMENT, "%s %s (%s): %d %s", path, fd->name, bad[b].why, rc,
                     st.message ? st.message : "");
        cr_expect(st.message && strncmp(st.message, want, strlen(want)) == 0, "%s: the message names %s: %s", path,
                  fd->name, st.message ? st.message : "(none)");
        calls++;
      }
    }
    arena_free(&a);
    arena_init(&a);
  }
  arena_free(&a);
  return calls;
}

Test(strings, every_string_field_of_every_rpc_refuses_nul_and_bad_utf8, .timeout = 240) {
  th_init();
  th_suite s;
  th_suite_start(&s, th_new_database("strings"), SECRET, NULL);
  identity admin;
  th_as(&admin, "strorg", "ada", "admin", "east");
  int calls = 0;
  calls += check_service(&accolade__v1__award_service__descriptor, s.award.addr, &admin);
  calls += check_service(&accolade__v1__credential_service__descriptor, s.award.addr, &admin);
  calls += check_service(&accolade__v1__signal_service__descriptor, s.award.addr, &admin);
  calls += check_service(&accolade__v1__leaderboard_service__descriptor, s.lb.addr, &admin);
  calls += check_service(&accolade__v1__nomination_service__descriptor, s.nomination.addr, NULL);
  calls += check_service(&accolade__v1__notify_service__descriptor, s.notify.addr, &admin);
  cr_log_info("%d calls with a bad string", calls);
  cr_expect_gt(calls, 100, "the table covers the API (%d calls)", calls);
  /* Through the gateway, with a token, as a client meets it. */
  static char bearer[1200];
  snprintf(bearer, sizeof bearer, "Bearer %s", th_jwt(SECRET, "strorg", "ada", "admin", "east", 600));
  const char *mdv[] = {"authorization", bearer, NULL};
  uint8_t req[64];
  size_t n = field_bytes(req, 1, "d1a\0zz", 6);   /* GetMember.user_id */
  rpc_call_opts o = {.timeout_ms = 5000, .metadata = mdv};
  arena a;
  arena_init(&a);
  uint8_t *out;
  size_t out_len;
  rpc_status st;
  int rc = rpc_call_raw(s.gateway.addr, "/accolade.v1.NominationService/GetMember", req, n, &o, &a, &out, &out_len,
                        &st);
  cr_expect_eq(rc, RPC_INVALID_ARGUMENT, "%d %s", rc, st.message ? st.message : "");
  cr_expect(st.message && strstr(st.message, "user_id: must not contain a NUL byte"), "%s", st.message);
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
