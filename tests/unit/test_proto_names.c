/* The renamed fields of issue 20 keep their numbers and types, so a client
 * built from an older proto/ still talks to the services (proto/README.md):
 * a message packed under the new name reads back under it, byte for byte
 * what the old name packed. */
#include <criterion/criterion.h>
#include <string.h>

#include "accolade/v1/award.pb-c.h"
#include "accolade/v1/leaderboard.pb-c.h"
#include "accolade/v1/nomination.pb-c.h"
#include "accolade/v1/notify.pb-c.h"

typedef struct renamed {
  const ProtobufCMessageDescriptor *d;
  const char *name, *old_name;
  unsigned number;
} renamed;

static const renamed fields[] = {
    {&accolade__v1__member__descriptor, "member_id", "user_id", 1},
    {&accolade__v1__get_member_request__descriptor, "member_id", "user_id", 1},
    {&accolade__v1__deactivate_member_request__descriptor, "member_id", "user_id", 1},
    {&accolade__v1__reactivate_member_request__descriptor, "member_id", "user_id", 1},
    {&accolade__v1__reflection__descriptor, "member_id", "user_id", 2},
    {&accolade__v1__recipient__descriptor, "member_id", "user_id", 1},
    {&accolade__v1__digest_reflection__descriptor, "member_id", "user_id", 1},
    {&accolade__v1__entry__descriptor, "subject_id", "id", 2},
    {&accolade__v1__get_rank_request__descriptor, "subject_id", "id", 2},
    {&accolade__v1__get_around_request__descriptor, "subject_id", "id", 2},
    {&accolade__v1__digest_board_entry__descriptor, "subject_id", "id", 2},
};

Test(proto_names, renamed_fields_keep_their_numbers_and_types) {
  for (size_t i = 0; i < sizeof fields / sizeof fields[0]; i++) {
    const renamed *r = &fields[i];
    const ProtobufCFieldDescriptor *f = protobuf_c_message_descriptor_get_field_by_name(r->d, r->name);
    cr_assert_not_null(f, "%s.%s", r->d->name, r->name);
    cr_expect_eq(f->id, r->number, "%s.%s is field %u", r->d->name, r->name, f->id);
    cr_expect_eq(f->type, PROTOBUF_C_TYPE_STRING, "%s.%s is a string", r->d->name, r->name);
    cr_expect_null(protobuf_c_message_descriptor_get_field_by_name(r->d, r->old_name), "%s.%s is gone", r->d->name,
                   r->old_name);
  }
}

Test(proto_names, a_member_packed_by_an_old_client_reads_as_member_id) {
  /* Member{user_id: "ann", deactivated: unset} as an old client packs it:
   * field 1, length-delimited, "ann". */
  const uint8_t old_bytes[] = {0x0a, 0x03, 'a', 'n', 'n'};
  Accolade__V1__Member *m = accolade__v1__member__unpack(NULL, sizeof old_bytes, old_bytes);
  cr_assert_not_null(m);
  cr_expect_str_eq(m->member_id, "ann");
  cr_expect(!m->deactivated, "active unless deactivated");
  uint8_t again[16];
  cr_expect_eq(accolade__v1__member__pack(m, again), sizeof old_bytes);
  cr_expect_eq(memcmp(again, old_bytes, sizeof old_bytes), 0, "packs to the same bytes");
  accolade__v1__member__free_unpacked(m, NULL);
}
