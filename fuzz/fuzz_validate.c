/* Fuzzes what every service does with a request before touching a store:
 * decoding each request type of all five services (found through the
 * generated service descriptors, so a new RPC is covered without editing
 * this file) and the shared validators on the bytes as text - field checks,
 * page tokens (which decode client-supplied hex), leaderboard periods and
 * board keys. Only crashes, sanitizer reports and broken invariants count. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "accolade/v1/award.pb-c.h"
#include "accolade/v1/leaderboard.pb-c.h"
#include "accolade/v1/nomination.pb-c.h"
#include "accolade/v1/notify.pb-c.h"
#include "arena.h"
#include "boards.h"
#include "check.h"
#include "rpc.h"

static const ProtobufCServiceDescriptor *const services[] = {
    &accolade__v1__nomination_service__descriptor, &accolade__v1__award_service__descriptor,
    &accolade__v1__leaderboard_service__descriptor, &accolade__v1__notify_service__descriptor,
};

static void decode_request(arena *a, uint8_t pick, const uint8_t *data, size_t size) {
  size_t total = 0;
  for (size_t i = 0; i < sizeof services / sizeof services[0]; i++) total += services[i]->n_methods;
  size_t k = pick % total;
  const ProtobufCMethodDescriptor *m = NULL;
  for (size_t i = 0; i < sizeof services / sizeof services[0] && !m; i++) {
    if (k < services[i]->n_methods) m = &services[i]->methods[k];
    else k -= services[i]->n_methods;
  }
  ProtobufCMessage *msg = protobuf_c_message_unpack(m->input, &a->pb, size, data);
  if (msg && !protobuf_c_message_check(msg)) abort();   /* decoded means well-formed */
}

static void validate_text(arena *a, uint8_t pick, const char *s) {
  rpc_ctx ctx;
  memset(&ctx, 0, sizeof ctx);
  ctx.arena = a;
  int has;
  int64_t n;
  char *rest;
  char key[BOARD_KEY_MAX];
  switch (pick % 8) {
    case 0: (void)check_len(&ctx, "f", s, 0, 200); break;
    case 1: (void)check_id(&ctx, "f", s, 128); break;
    case 2: (void)check_slug(&ctx, "f", s); break;
    case 3: (void)check_url(&ctx, "f", s, 2048); break;
    case 4: (void)check_uuid(&ctx, "f", s); break;
    case 5:
      if (page_token_parse(&ctx, s, &has, &n, &rest) == RPC_OK && has) {
        /* A token that parses round-trips. */
        char *again = page_token_make(&ctx, n, rest);
        int64_t n2;
        char *rest2;
        if (page_token_parse(&ctx, again, &has, &n2, &rest2) != RPC_OK || n2 != n || strcmp(rest, rest2)) abort();
      }
      break;
    case 6:
      for (int w = WIN_WEEK; w <= WIN_LAST; w++)
        if (boards_period_valid(w, s) && boards_key(key, sizeof key, "org", SUBJ_MEMBERS, w, s, SCOPE_BADGE, s) == 0 &&
            !strstr(key, s))
          abort();
      break;
    default: {
      char day[16];
      if (boards_period_valid(WIN_DAY, s) && boards_day_shift(s, -29, day, sizeof day) == 0 &&
          !boards_period_valid(WIN_DAY, day))
        abort();
    }
  }
  if (ctx.code != RPC_OK && ctx.code != RPC_INVALID_ARGUMENT) abort();   /* validators only refuse */
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size < 2) return 0;
  arena a;
  arena_init(&a);
  if (data[0] & 1) {
    decode_request(&a, data[1], data + 2, size - 2);
  } else {
    char *s = arena_alloc(&a, size - 1);
    memcpy(s, data + 2, size - 2);
    s[size - 2] = '\0';
    validate_text(&a, data[1], s);
  }
  arena_free(&a);
  return 0;
}
