/* hash.h - a small string hash for in-process tables (FNV-1a, 32 bits).
 * Not for anything an attacker's choice of keys could hurt beyond a slower
 * table: the tables that use it replace or share colliding slots. */
#ifndef ACCOLADE_HASH_H
#define ACCOLADE_HASH_H

#include <stddef.h>
#include <stdint.h>

#define HASH_INIT 2166136261u

/* hash_str folds |s| into |h| (start from HASH_INIT). */
static inline uint32_t hash_str(uint32_t h, const char *s) {
  for (const unsigned char *p = (const unsigned char *)s; *p; p++) h = (h ^ *p) * 16777619u;
  return h;
}

/* hash_mem folds |n| bytes at |p| into |h|. */
static inline uint32_t hash_mem(uint32_t h, const void *p, size_t n) {
  for (const unsigned char *b = p, *end = b + n; b < end; b++) h = (h ^ *b) * 16777619u;
  return h;
}

#endif
