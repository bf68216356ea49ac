/* The runtime's message framing: protobuf <-> gRPC byte buffers. */
#include <criterion/criterion.h>
#include <grpc/byte_buffer.h>
#include <grpc/grpc.h>
#include <string.h>

#include "grpc/health/v1/health.pb-c.h"
#include "accolade/v1/award.pb-c.h"
#include "rpc_internal.h"

Test(framing, message_round_trips_through_a_byte_buffer) {
  grpc_init();
  arena a;
  arena_init(&a);
  Accolade__V1__GetBadgeRequest req = ACCOLADE__V1__GET_BADGE_REQUEST__INIT;
  req.badge_id = "deal-closer";
  grpc_byte_buffer *bb = rpc_byte_buffer_pack(&req.base);
  size_t len;
  uint8_t *buf = rpc_byte_buffer_read(&a, bb, &len);
  cr_assert_eq(len, protobuf_c_message_get_packed_size(&req.base));
  Accolade__V1__GetBadgeRequest *back =
      (void *)protobuf_c_message_unpack(&accolade__v1__get_badge_request__descriptor, &a.pb, len, buf);
  cr_assert_not_null(back);
  cr_assert_str_eq(back->badge_id, "deal-closer");
  grpc_byte_buffer_destroy(bb);
  arena_free(&a);
  grpc_shutdown();
}

Test(framing, multi_slice_buffers_are_joined) {
  grpc_init();
  arena a;
  arena_init(&a);
  grpc_slice s[3] = {grpc_slice_from_static_string("ab"), grpc_slice_from_static_string(""),
                     grpc_slice_from_static_string("cde")};
  grpc_byte_buffer *bb = grpc_raw_byte_buffer_create(s, 3);
  size_t len;
  uint8_t *buf = rpc_byte_buffer_read(&a, bb, &len);
  cr_assert_eq(len, 5);
  cr_assert_eq(memcmp(buf, "abcde", 5), 0);
  grpc_byte_buffer_destroy(bb);
  arena_free(&a);
  grpc_shutdown();
}

Test(framing, empty_message_is_zero_bytes) {
  grpc_init();
  arena a;
  arena_init(&a);
  Grpc__Health__V1__HealthCheckRequest req = GRPC__HEALTH__V1__HEALTH_CHECK_REQUEST__INIT;
  grpc_byte_buffer *bb = rpc_byte_buffer_pack(&req.base);
  size_t len = 99;
  rpc_byte_buffer_read(&a, bb, &len);
  cr_assert_eq(len, 0);
  grpc_byte_buffer_destroy(bb);
  arena_free(&a);
  grpc_shutdown();
}

Test(framing, garbage_does_not_decode) {
  arena a;
  arena_init(&a);
  const uint8_t junk[] = {0xff, 0xff, 0xff, 0xff, 0x0f, 0x12};
  cr_assert_null(protobuf_c_message_unpack(&accolade__v1__get_badge_request__descriptor, &a.pb,
                                           sizeof junk, junk));
  arena_free(&a);
}

Test(framing, deadlines_convert_both_ways) {
  grpc_init();
  int64_t now = rpc_now_ms();
  cr_assert_eq(rpc_deadline_to_ms(rpc_ms_to_deadline(now + 1234)), now + 1234);
  cr_assert_eq(rpc_deadline_to_ms(gpr_inf_future(GPR_CLOCK_REALTIME)), INT64_MAX);
  grpc_shutdown();
}
