/* Fuzzes request decoding as the runtime does it: the first byte picks a
 * message type of the contract, the rest is decoded into an arena (the
 * runtime's allocator) and, when it decodes, re-encoded and decoded again.
 * The second decode may legitimately fail: protobuf-c keeps an unknown field
 * numbered 0 (reachable with a non-minimal varint key, e.g. 82 00) and
 * re-encodes it, but refuses it on input. The runtime never re-encodes a
 * request, so only crashes and size mismatches count. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "accolade/v1/award.pb-c.h"
#include "accolade/v1/events.pb-c.h"
#include "arena.h"
#include "grpc/health/v1/health.pb-c.h"
#include "grpc/reflection/v1alpha/reflection.pb-c.h"

static const ProtobufCMessageDescriptor *const types[] = {
    &grpc__health__v1__health_check_request__descriptor,
    &grpc__reflection__v1alpha__server_reflection_request__descriptor,
    &accolade__v1__event__descriptor,
    &accolade__v1__award_record__descriptor,
    &accolade__v1__create_badge_request__descriptor,
    &accolade__v1__update_badge_request__descriptor,
    &accolade__v1__grant_award_request__descriptor,
    &accolade__v1__list_awards_request__descriptor,
    &accolade__v1__create_rule_request__descriptor,
    &accolade__v1__get_award_stats_request__descriptor,
};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size < 1) return 0;
  const ProtobufCMessageDescriptor *d = types[data[0] % (sizeof types / sizeof types[0])];
  arena a;
  arena_init(&a);
  ProtobufCMessage *m = protobuf_c_message_unpack(d, &a.pb, size - 1, data + 1);
  if (m) {
    size_t n = protobuf_c_message_get_packed_size(m);
    uint8_t *buf = arena_alloc(&a, n + 1);
    if (protobuf_c_message_pack(m, buf) != n) abort();
    (void)protobuf_c_message_unpack(d, &a.pb, n, buf);
  }
  arena_free(&a);
  return 0;
}
