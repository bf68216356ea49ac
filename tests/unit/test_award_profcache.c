/* svc-award/profcache.c: the copies kept in the process (tokens given here;
 * Redis and replicas are test_award_profile_cache's). */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "profcache.h"

static const profcache_tokens t1 = {"org-token-1", "member-token-1"};

static int get(const char *org, const char *member, const profcache_tokens *t, char *out, size_t cap) {
  arena a;
  arena_init(&a);
  const uint8_t *buf;
  size_t len;
  int hit = profcache_get(org, member, t, &a, &buf, &len);
  if (hit) snprintf(out, cap, "%.*s", (int)len, (const char *)buf);
  arena_free(&a);
  return hit;
}

static void put(const char *org, const char *member, const profcache_tokens *t, const char *s) {
  profcache_put(org, member, t, (const uint8_t *)s, strlen(s));
}

Test(profcache, a_copy_is_read_back_only_under_both_of_its_tokens) {
  profcache_config(1 << 20, 60000);
  put("o", "m", &t1, "profile one");
  char got[64];
  cr_assert(get("o", "m", &t1, got, sizeof got));
  cr_assert_str_eq(got, "profile one");
  profcache_tokens member_moved = t1, org_moved = t1;
  snprintf(member_moved.member, sizeof member_moved.member, "member-token-2");
  snprintf(org_moved.org, sizeof org_moved.org, "org-token-2");
  cr_assert_not(get("o", "m", &org_moved, got, sizeof got), "the org's token moved: a miss");
  cr_assert_not(get("o", "m", &member_moved, got, sizeof got), "the member's token moved: a miss");
  cr_assert_not(get("o", "m", &t1, got, sizeof got), "an outdated copy is dropped, not kept for later");
  cr_assert_not(get("o", "other", &t1, got, sizeof got));
  cr_assert_not(get("other", "m", &t1, got, sizeof got));
  cr_assert_eq(profcache_bytes(), 0);
}

Test(profcache, the_bytes_kept_stay_within_the_budget) {
  size_t budget = 256 << 10;
  profcache_config(budget, 60000);
  char blob[3000];
  memset(blob, 'x', sizeof blob - 1);
  blob[sizeof blob - 1] = '\0';
  for (int i = 0; i < 5000; i++) {
    char m[32];
    snprintf(m, sizeof m, "m%d", i);
    put("o", m, &t1, blob);
    cr_assert_leq(profcache_bytes(), budget, "after %d copies", i + 1);
  }
  cr_assert_gt(profcache_bytes(), budget / 2, "the budget is used, not left empty");
  char got[4000];
  cr_assert(get("o", "m4999", &t1, got, sizeof got), "the newest copy is kept");
  profcache_config(0, 60000);
  cr_assert_not(get("o", "m4999", &t1, got, sizeof got), "off: nothing is read");
}

Test(profcache, a_copy_larger_than_a_64th_of_the_budget_is_not_kept) {
  profcache_config(64 << 10, 60000);
  static char big[2048];
  memset(big, 'y', sizeof big - 1);
  put("o", "big", &t1, big);
  char got[16];
  cr_assert_not(get("o", "big", &t1, got, sizeof got));
  cr_assert_eq(profcache_bytes(), 0);
}

Test(profcache, a_copy_expires) {
  profcache_config(1 << 20, 50);
  put("o", "m", &t1, "short-lived");
  char got[64];
  cr_assert(get("o", "m", &t1, got, sizeof got));
  usleep(80 * 1000);
  cr_assert_not(get("o", "m", &t1, got, sizeof got));
}

Test(profcache, a_thousand_members_copies_are_all_kept_when_the_budget_allows) {
  /* 4096 buckets of four: members whose hashes collide share a bucket
   * instead of pushing each other out at every read. */
  profcache_config(16 << 20, 60000);
  for (int i = 0; i < 1000; i++) {
    char m[32];
    snprintf(m, sizeof m, "m%d", i);
    put("bench", m, &t1, m);
  }
  for (int i = 0; i < 1000; i++) {
    char m[32], got[32];
    snprintf(m, sizeof m, "m%d", i);
    cr_assert(get("bench", m, &t1, got, sizeof got), "%s was pushed out", m);
    cr_assert_str_eq(got, m);
  }
}
