/* dump.h - a sorted set as a Redis DUMP payload, for RESTORE.
 *
 * A rebuild writes each fresh board with one RESTORE instead of ZADDs: Redis
 * then loads the members as it loads a snapshot, with no command parsing and
 * no score parsing per member, and with the members given highest score
 * first each insertion stops at the head of the skiplist. Measured here
 * (Redis 7.0, a 1M-member set): ZADD in batches of 500, 0.34M members/s in
 * random order, 0.85M/s sorted; RESTORE 2M/s. Small sets go as the
 * listpack Redis keeps them in.
 *
 * The payload is the RDB encoding of one value: type RDB_TYPE_ZSET_2 (5),
 * the member count, each member as a length-prefixed string and its score as
 * a little-endian IEEE double; then the RDB version (9: Redis 5.0 and every
 * later version read it) and a CRC-64 (Jones, reflected, as Redis computes it)
 * of everything before, both little-endian. A server that refuses it is
 * written with ZADD instead (rebuild.c probes once).
 */
#ifndef LEADERBOARD_DUMP_H
#define LEADERBOARD_DUMP_H

#include <stddef.h>
#include <stdint.h>

#include "boards.h"

typedef struct dump_buf {
  unsigned char *p;
  size_t n, cap;
} dump_buf;

/* dump_crc64 continues |crc| over |n| bytes (start from 0). */
uint64_t dump_crc64(uint64_t crc, const void *p, size_t n);

/* dump_zset replaces |b|'s contents with the payload of a sorted set of
 * |entries| (n > 0), in the order given. */
void dump_zset(dump_buf *b, const board_entry *entries, size_t n);

/* A small sorted set Redis keeps as a listpack: at most 128 members of at
 * most 64 bytes (Redis's defaults for zset-max-listpack-entries/-value). */
#define DUMP_LISTPACK_MAX 128
#define DUMP_LISTPACK_VALUE_MAX 64

/* dump_zset_listpack writes a small sorted set (|entries| highest score
 * first, as for dump_zset) as RDB_TYPE_ZSET_LISTPACK (17, RDB version 10:
 * Redis 7.0 and later), the encoding Redis keeps it in: Redis takes the
 * listpack as it is instead of building a skiplist and converting it.
 * Members in Redis's order (score, then member bytes); integral scores as
 * listpack integers, as Redis stores them. Returns -1 (|b| untouched) for a
 * set too big for the encoding. */
int dump_zset_listpack(dump_buf *b, const board_entry *entries, size_t n);

void dump_buf_free(dump_buf *b);

#endif
