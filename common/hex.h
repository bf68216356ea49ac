/* hex.h - bytes as lowercase hex, without printf (signatures and request
 * ids are written on every call; 32 snprintf calls a signature showed in
 * perf of the hot read path). */
#ifndef ACCOLADE_HEX_H
#define ACCOLADE_HEX_H

#include <stddef.h>

/* hex_encode writes 2 * |n| hex digits of |in| and a NUL to |out|. */
static inline void hex_encode(char *out, const unsigned char *in, size_t n) {
  static const char digits[] = "0123456789abcdef";
  for (size_t i = 0; i < n; i++) {
    out[2 * i] = digits[in[i] >> 4];
    out[2 * i + 1] = digits[in[i] & 15];
  }
  out[2 * n] = '\0';
}

#endif
