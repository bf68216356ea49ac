/* hex.h - bytes as lowercase hex, without printf (signatures and request
 * ids are written on every call; 32 snprintf calls a signature showed in
 * perf of the hot read path). */
#ifndef ACCOLADE_HEX_H
#define ACCOLADE_HEX_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

/* hex_encode writes 2 * |n| hex digits of |in| and a NUL to |out|. */
static inline void hex_encode(char *out, const unsigned char *in, size_t n) {
  static const char digits[] = "0123456789abcdef";
  for (size_t i = 0; i < n; i++) {
    out[2 * i] = digits[in[i] >> 4];
    out[2 * i + 1] = digits[in[i] & 15];
  }
  out[2 * n] = '\0';
}

/* hex_random writes 2 * |n| (|n| <= 32) hex digits of this thread's
 * xorshift stream and a NUL: request ids, unique enough for logs, never a
 * secret. Each thread seeds itself from the clock and its own address. */
static inline void hex_random(char *out, size_t n) {
  static _Thread_local unsigned long long state;
  if (!state) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    state = ((unsigned long long)ts.tv_sec * 1000000000ull + (unsigned long long)ts.tv_nsec) ^
            ((unsigned long long)(uintptr_t)&state << 1);
    if (!state) state = 1;
  }
  unsigned char b[32];
  if (n > sizeof b) n = sizeof b;
  for (size_t i = 0; i < n; i++) {
    state ^= state << 13;
    state ^= state >> 7;
    state ^= state << 17;
    b[i] = (unsigned char)(state >> 24);
  }
  hex_encode(out, b, n);
}

#endif
