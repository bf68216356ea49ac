/* dump.c - the RESTORE payload of a sorted set (see dump.h). */
#include "dump.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#define RDB_TYPE_ZSET_2 5
#define RDB_VERSION 9
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
  reserve(b, 2 + 8);
  b->p[b->n++] = RDB_VERSION & 0xff;
  b->p[b->n++] = RDB_VERSION >> 8;
  put_le64(b, dump_crc64(0, b->p, b->n));
}

void dump_buf_free(dump_buf *b) {
  free(b->p);
  b->p = NULL;
  b->n = b->cap = 0;
}
