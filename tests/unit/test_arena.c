/* arena: a call's scratch memory. */
#include <criterion/criterion.h>
#include <stdint.h>
#include <string.h>

#include "arena.h"

Test(arena, allocations_are_zeroed_and_aligned) {
  arena a;
  arena_init(&a);
  for (int i = 1; i < 5000; i += 37) {
    unsigned char *p = arena_alloc(&a, (size_t)i);
    cr_assert_eq(((uintptr_t)p) % 16, 0);
    for (int k = 0; k < i; k++) cr_assert_eq(p[k], 0);
    memset(p, 0xab, (size_t)i);
  }
  char *big = arena_alloc(&a, 1 << 20);
  big[(1 << 20) - 1] = 1;
  cr_assert_str_eq(arena_printf(&a, "%s-%d", "x", 42), "x-42");
  arena_free(&a);
}
