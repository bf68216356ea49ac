/* dump.c - the RESTORE payload of a sorted set (see dump.h). */
#include "dump.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define RDB_TYPE_ZSET_2 5
#define RDB_TYPE_ZSET_LISTPACK 17
#define RDB_VERSION 9
#define RDB_VERSION_LISTPACK 10
#define CRC64_JONES_REFLECTED 0x95ac9329ac4bc9b5ULL

static uint64_t crc_table[8][256];
static pthread_once_t crc_once = PTHREAD_ONCE_INIT;

/* Slicing by 8: table[k][b] is the CRC of byte b followed by k zero bytes. */
static void crc_init(void) {
  for (int i = 0; i < 256; i++) {
    uint64_t c = (uint64_t)i;
    for (int k = 0; k < 8; k++) c = (c & 1) ? (c >> 1) ^ CRC64_JONES_REFLECTED : c >> 1;
    crc_table[0][i] = c;
  }
  for (int i = 0; i < 256; i++)
    for (int k = 1; k < 8; k++) crc_table[k][i] = crc_table[0][crc_table[k - 1][i] & 0xff] ^ (crc_table[k - 1][i] >> 8);
}

uint64_t dump_crc64(uint64_t crc, const void *data, size_t n) {
  pthread_once(&crc_once, crc_init);
  const unsigned char *p = data;
  for (; n >= 8; n -= 8, p += 8) {
    uint64_t w = 0;
    for (int i = 0; i < 8; i++) w |= (uint64_t)p[i] << (8 * i);   /* a little-endian load */
    crc ^= w;
    crc = crc_table[7][crc & 0xff] ^ crc_table[6][(crc >> 8) & 0xff] ^ crc_table[5][(crc >> 16) & 0xff] ^
          crc_table[4][(crc >> 24) & 0xff] ^ crc_table[3][(crc >> 32) & 0xff] ^ crc_table[2][(crc >> 40) & 0xff] ^
          crc_table[1][(crc >> 48) & 0xff] ^ crc_table[0][crc >> 56];
  }
  for (; n; n--, p++) crc = crc_table[0][(crc ^ *p) & 0xff] ^ (crc >> 8);
  return crc;
}

static void reserve(dump_buf *b, size_t more) {
  if (b->n + more <= b->cap) return;
  size_t cap = b->cap ? b->cap : 4096;
  while (cap < b->n + more) cap *= 2;
  b->p = realloc(b->p, cap);
  if (!b->p) abort();
  b->cap = cap;
}

/* put_len: RDB's length encoding (6, 14, 32 or 64 bits, big-endian). */
static void put_len(dump_buf *b, uint64_t len) {
  unsigned char *p = b->p + b->n;
  if (len < (1u << 6)) {
    p[0] = (unsigned char)len;
    b->n += 1;
  } else if (len < (1u << 14)) {
    p[0] = (unsigned char)(0x40 | (len >> 8));
    p[1] = (unsigned char)len;
    b->n += 2;
  } else if (len <= UINT32_MAX) {
    p[0] = 0x80;
    for (int i = 0; i < 4; i++) p[1 + i] = (unsigned char)(len >> (24 - 8 * i));
    b->n += 5;
  } else {
    p[0] = 0x81;
    for (int i = 0; i < 8; i++) p[1 + i] = (unsigned char)(len >> (56 - 8 * i));
    b->n += 9;
  }
}

static void put_le64(dump_buf *b, uint64_t v) {
  for (int i = 0; i < 8; i++) b->p[b->n++] = (unsigned char)(v >> (8 * i));
}

static void put_footer(dump_buf *b, int version) {
  reserve(b, 2 + 8);
  b->p[b->n++] = (unsigned char)(version & 0xff);
  b->p[b->n++] = (unsigned char)(version >> 8);
  put_le64(b, dump_crc64(0, b->p, b->n));
}

void dump_zset(dump_buf *b, const board_entry *entries, size_t n) {
  b->n = 0;
  reserve(b, 1 + 9);
  b->p[b->n++] = RDB_TYPE_ZSET_2;
  put_len(b, n);
  for (size_t i = 0; i < n; i++) {
    size_t len = strlen(entries[i].id);
    reserve(b, 9 + len + 8);
    put_len(b, len);
    memcpy(b->p + b->n, entries[i].id, len);
    b->n += len;
    uint64_t bits;
    memcpy(&bits, &entries[i].score, 8);
    put_le64(b, bits);
  }
  put_footer(b, RDB_VERSION);
}

/* ---- listpack (Redis's listpack.c format) ---- */

/* lp_string: an entry holding |len| (< 4096) bytes; returns its size. */
static size_t lp_string(unsigned char *p, const char *s, size_t len) {
  size_t h;
  if (len < 64) {
    p[0] = (unsigned char)(0x80 | len);
    h = 1;
  } else {
    p[0] = (unsigned char)(0xe0 | (len >> 8));
    p[1] = (unsigned char)len;
    h = 2;
  }
  memcpy(p + h, s, len);
  return h + len;
}

/* lp_int: an integer entry in the smallest encoding; returns its size. */
static size_t lp_int(unsigned char *p, int64_t v) {
  uint64_t u = (uint64_t)v;
  if (v >= 0 && v <= 127) {
    p[0] = (unsigned char)v;
    return 1;
  }
  if (v >= -4096 && v <= 4095) {
    u &= 0x1fff;
    p[0] = (unsigned char)(0xc0 | (u >> 8));
    p[1] = (unsigned char)u;
    return 2;
  }
  int bytes = v >= -32768 && v <= 32767 ? 2 : v >= -8388608 && v <= 8388607 ? 3 : v >= INT32_MIN && v <= INT32_MAX ? 4 : 8;
  p[0] = bytes == 2 ? 0xf1 : bytes == 3 ? 0xf2 : bytes == 4 ? 0xf3 : 0xf4;
  for (int i = 0; i < bytes; i++) p[1 + i] = (unsigned char)(u >> (8 * i));
  return 1 + (size_t)bytes;
}

/* lp_entry finishes an entry of |len| bytes at p with its back-length (one
 * byte: entries here are under 128 bytes). */
static size_t lp_back(unsigned char *p, size_t len) {
  p[len] = (unsigned char)len;
  return len + 1;
}

static int member_cmp(const board_entry *a, const board_entry *b) {
  if (a->score != b->score) return a->score < b->score ? -1 : 1;
  size_t la = strlen(a->id), lb = strlen(b->id);
  int c = memcmp(a->id, b->id, la < lb ? la : lb);
  return c ? c : (la > lb) - (la < lb);
}

int dump_zset_listpack(dump_buf *b, const board_entry *entries, size_t n) {
  if (n == 0 || n > DUMP_LISTPACK_MAX) return -1;
  board_entry order[DUMP_LISTPACK_MAX];
  for (size_t i = 0; i < n; i++) {
    if (strlen(entries[i].id) > DUMP_LISTPACK_VALUE_MAX) return -1;
    /* Lowest first; insertion keeps it cheap for input that is the reverse. */
    board_entry e = entries[n - 1 - i];
    size_t j = i;
    for (; j > 0 && member_cmp(&order[j - 1], &e) > 0; j--) order[j] = order[j - 1];
    order[j] = e;
  }
  /* The listpack: total bytes (u32), element count (u16), entries, 0xff. */
  unsigned char lp[6 + DUMP_LISTPACK_MAX * (2 + DUMP_LISTPACK_VALUE_MAX + 1 + 32) + 1];
  size_t k = 6;
  for (size_t i = 0; i < n; i++) {
    k += lp_back(lp + k, lp_string(lp + k, order[i].id, strlen(order[i].id)));
    double s = order[i].score;
    if (s == (double)(int64_t)s && s > -9007199254740992.0 && s < 9007199254740992.0) {
      k += lp_back(lp + k, lp_int(lp + k, (int64_t)s));
    } else {   /* as Redis writes a score that is not an integer */
      char txt[32];
      int len = snprintf(txt, sizeof txt, "%.17g", s);
      k += lp_back(lp + k, lp_string(lp + k, txt, (size_t)len));
    }
  }
  lp[k++] = 0xff;
  for (int i = 0; i < 4; i++) lp[i] = (unsigned char)(k >> (8 * i));
  lp[4] = (unsigned char)(2 * n);
  lp[5] = (unsigned char)((2 * n) >> 8);
  b->n = 0;
  reserve(b, 1 + 9 + k);
  b->p[b->n++] = RDB_TYPE_ZSET_LISTPACK;
  put_len(b, k);
  memcpy(b->p + b->n, lp, k);
  b->n += k;
  put_footer(b, RDB_VERSION_LISTPACK);
  return 0;
}

void dump_buf_free(dump_buf *b) {
  free(b->p);
  b->p = NULL;
  b->n = b->cap = 0;
}
