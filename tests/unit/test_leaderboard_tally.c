/* The rebuild's in-memory tally against boards_for_award applied award by
 * award, and the RESTORE payload's encoding. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "boards.h"
#include "dump.h"
#include "tally.h"

#define DAY 86400000LL
#define NOW 1795000000000LL   /* 2026-11-18 */

/* ---- periods ---- */

static void code_name(int w, int64_t c, char *out, size_t cap) {
  switch (w) {
    case WIN_WEEK: snprintf(out, cap, "%04lld-W%02lld", (long long)(c / 100), (long long)(c % 100)); break;
    case WIN_MONTH: snprintf(out, cap, "%04lld-%02lld", (long long)(c / 100), (long long)(c % 100)); break;
    case WIN_QUARTER: snprintf(out, cap, "%04lld-Q%lld", (long long)(c / 10), (long long)(c % 10)); break;
    case WIN_YEAR: snprintf(out, cap, "%04lld", (long long)c); break;
    case WIN_DAY:
      snprintf(out, cap, "%04lld-%02lld-%02lld", (long long)(c / 10000), (long long)(c / 100 % 100),
               (long long)(c % 100));
      break;
    default: snprintf(out, cap, "%s", c == 0 ? "all" : "?");
  }
}

Test(leaderboard_tally, period_codes_name_the_same_periods_as_boards_period) {
  static const int windows[] = {WIN_WEEK, WIN_MONTH, WIN_QUARTER, WIN_YEAR, WIN_ALL, WIN_DAY};
  /* Every day from 1970 to 2100, at the day's first and last second and at noon. */
  for (int64_t day = 0; day < 47482; day++)
    for (int k = 0; k < 3; k++) {
      int64_t ms = day * DAY + (k == 0 ? 0 : k == 1 ? DAY / 2 : DAY - 1000);
      for (size_t w = 0; w < sizeof windows / sizeof windows[0]; w++) {
        char want[32], got[32];
        boards_period(windows[w], ms, want, sizeof want);
        code_name(windows[w], tally_period_code(windows[w], ms), got, sizeof got);
        if (strcmp(want, got) != 0) cr_assert_fail("window %d at %lld: %s, boards_period says %s", windows[w], (long long)ms, got, want);
      }
    }
}

/* ---- the payload ---- */

/* assert_crc_follows: the 8 bytes after the first |n| of |d| are their
 * CRC-64, little-endian. */
static void assert_crc_follows(const dump_buf *d, size_t n) {
  uint64_t crc = 0;
  for (int i = 0; i < 8; i++) crc |= (uint64_t)d->p[n + i] << (8 * i);
  cr_assert_eq(crc, dump_crc64(0, d->p, n));
}

Test(leaderboard_tally, crc64_is_redis_crc64_jones) {
  cr_assert_eq(dump_crc64(0, "123456789", 9), 0xe9c6d914c4b8d9caULL);   /* Redis's own check value */
  /* The 8-byte path agrees with the byte path at every length and split. */
  unsigned char buf[300];
  for (int i = 0; i < 300; i++) buf[i] = (unsigned char)(i * 7 + 3);
  for (size_t n = 0; n < 300; n += 13) {
    uint64_t whole = dump_crc64(0, buf, n), split = 0;
    for (size_t i = 0; i < n; i++) split = dump_crc64(split, buf + i, 1);
    cr_assert_eq(whole, split, "length %zu", n);
  }
}

Test(leaderboard_tally, zset_payload_layout) {
  board_entry e[] = {{"bob", 2.0}, {"a", -0.5}};
  dump_buf d = {0};
  dump_zset(&d, e, 2);
  static const unsigned char want[] = {5, 2,                                   /* ZSET_2, 2 members */
                                       3, 'b', 'o', 'b', 0, 0, 0, 0, 0, 0, 0, 0x40,   /* 2.0 */
                                       1, 'a', 0, 0, 0, 0, 0, 0, 0xe0, 0xbf,          /* -0.5 */
                                       9, 0};                                        /* RDB version 9 */
  cr_assert_eq(d.n, sizeof want + 8);
  cr_assert_eq(memcmp(d.p, want, sizeof want), 0);
  assert_crc_follows(&d, sizeof want);
  /* Lengths past 63 and 16383 take the 14- and 32-bit encodings. */
  char *big = malloc(20000);
  memset(big, 'x', 19999);
  big[19999] = 0;
  big[70] = 0;
  board_entry l[] = {{big, 1}};
  dump_zset(&d, l, 1);
  cr_assert_eq(d.p[2], 0x40);
  cr_assert_eq(d.p[3], 70);
  big[70] = 'x';
  dump_zset(&d, l, 1);
  cr_assert_eq(d.p[2], 0x80);
  cr_assert_eq((d.p[3] << 24) | (d.p[4] << 16) | (d.p[5] << 8) | d.p[6], 19999);
  free(big);
  dump_buf_free(&d);
}

Test(leaderboard_tally, small_sets_go_as_listpacks_in_redis_order) {
  board_entry e[] = {{"bob", 2.0}, {"a", -0.5}};
  dump_buf d = {0};
  cr_assert_eq(dump_zset_listpack(&d, e, 2), 0);
  static const unsigned char want[] = {
      17, 23,                                     /* ZSET_LISTPACK, a 23-byte string */
      23, 0, 0, 0, 4, 0,                          /* listpack: bytes, elements */
      0x81, 'a', 2,                               /* "a" (6-bit string), back-length */
      0x84, '-', '0', '.', '5', 5,                /* -0.5 as Redis writes it */
      0x83, 'b', 'o', 'b', 4, 0x02, 1,            /* "bob", 2 (7-bit integer) */
      0xff,                                       /* end */
      10, 0};                                     /* RDB version 10 */
  cr_assert_eq(d.n, sizeof want + 8);
  cr_assert_eq(memcmp(d.p, want, sizeof want), 0);
  assert_crc_follows(&d, sizeof want);
  /* Equal scores in member order; a score past 32 bits as a 64-bit integer. */
  board_entry tie[] = {{"z", 1099511627776.0}, {"b", 5}, {"a", 5}};
  cr_assert_eq(dump_zset_listpack(&d, tie, 3), 0);
  static const unsigned char lp[] = {0x81, 'a', 2, 5, 1, 0x81, 'b', 2, 5, 1, 0x81, 'z', 2,
                                     0xf4, 0, 0, 0, 0, 0, 1, 0, 0, 9, 0xff};
  cr_assert_eq(memcmp(d.p + 2 + 6, lp, sizeof lp), 0);
  /* Too many members, or one too long: not a listpack. */
  board_entry many[DUMP_LISTPACK_MAX + 1];
  for (size_t i = 0; i <= DUMP_LISTPACK_MAX; i++) many[i] = (board_entry){"m", (double)i};
  cr_assert_eq(dump_zset_listpack(&d, many, DUMP_LISTPACK_MAX + 1), -1);
  char longid[DUMP_LISTPACK_VALUE_MAX + 2];
  memset(longid, 'x', sizeof longid - 1);
  longid[sizeof longid - 1] = 0;
  board_entry l[] = {{longid, 1}};
  cr_assert_eq(dump_zset_listpack(&d, l, 1), -1);
  dump_buf_free(&d);
}

/* ---- the boards ---- */

/* What each (key, member) must hold, from boards_for_award award by award. */
typedef struct want {
  char key[BOARD_KEY_MAX + 64];   /* key NUL member */
  int64_t points, last;
  int seen;
} want;

static want *wants;
static size_t n_wants;

static int want_cmp(const void *a, const void *b) { return strcmp(((const want *)a)->key, ((const want *)b)->key); }

static want *find(const char *key, const char *member) {
  want k;
  snprintf(k.key, sizeof k.key, "%s|%s", key, member);
  return bsearch(&k, wants, n_wants, sizeof *wants, want_cmp);
}

typedef struct seen {
  size_t boards, entries;
} seen;

static int check_board(void *arg, const tally_board *b) {
  seen *s = arg;
  s->boards++;
  int64_t last = 0;
  for (size_t i = 0; i < b->n; i++) {
    want *w = find(b->key, b->entries[i].id);
    cr_assert(w, "%s has %s, which no award put there", b->key, b->entries[i].id);
    cr_assert_eq(w->seen, 0, "%s lists %s twice", b->key, b->entries[i].id);
    w->seen = 1;
    cr_assert_eq(b->entries[i].score, boards_score(w->points, w->last / 1000), "%s %s", b->key, b->entries[i].id);
    if (i) cr_assert_geq(b->entries[i - 1].score, b->entries[i].score, "%s is not sorted", b->key);
    if (w->last > last) last = w->last;
    s->entries++;
  }
  cr_assert_eq(b->last_ms, last, "%s", b->key);
  return 0;
}

static void cutoffs(int64_t *from) {
  for (int w = 0; w <= WIN_LAST; w++) from[w] = w == WIN_ALL ? INT64_MIN : NOW - (w == WIN_DAY ? 62 : 400) * DAY;
}

Test(leaderboard_tally, every_board_is_what_the_awards_give_one_by_one) {
  srand(7);
  tally *t = tally_new();
  static const char *badges[] = {"deal-closer", "knowledge-sharer", "b3"};
  static const char *cats[] = {"sales", "", "teamwork"};
  int64_t from[WIN_LAST + 1];
  cutoffs(from);
  size_t cap = 200000;
  wants = calloc(cap, sizeof *wants);
  n_wants = 0;
  want *raw = calloc(cap, sizeof *raw);
  size_t n_raw = 0;
  int counted = 0;
  for (int i = 0; i < 3000; i++) {
    char who[16], team[16];
    snprintf(who, sizeof who, "m%d", rand() % 300);
    if (rand() % 10 == 0)
      team[0] = 0;   /* no team */
    else
      snprintf(team, sizeof team, "t%d", rand() % 12);
    if (rand() % 50 == 0) who[0] = 0;   /* a team's award, no member */
    const char *badge = badges[rand() % 3], *cat = cats[rand() % 3];
    int64_t points = rand() % 40 == 0 ? 0 : 1 + rand() % 50, ms = NOW - (int64_t)(rand() % (3 * 365)) * DAY - rand() % DAY;
    int live = rand() % 8 != 0;   /* some retracted */
    tally_add(t, who, team, badge, cat, points, ms, "", live);
    counted += live;
    board_ref refs[BOARDS_MAX_PER_AWARD];
    int n = boards_for_award("lb:{o}", who, team, badge, cat, ms, refs, BOARDS_MAX_PER_AWARD);
    for (int k = 0; k < n; k++) {
      if (refs[k].window != WIN_ALL) {   /* the retention: periods from the cutoff's on */
        char p[32], cut[32];
        boards_period(refs[k].window, ms, p, sizeof p);
        boards_period(refs[k].window, from[refs[k].window], cut, sizeof cut);
        if (strcmp(p, cut) < 0) continue;
      }
      cr_assert_lt(n_raw, cap);
      want *w = &raw[n_raw++];
      int len = snprintf(w->key, sizeof w->key, "%.399s|%.60s", refs[k].key, refs[k].member);
      cr_assert_lt((size_t)len, sizeof w->key);
      w->points = live ? points : 0;   /* a retracted award: its time only */
      w->last = ms;
    }
  }
  /* Sum the raw rows per (key, member). */
  qsort(raw, n_raw, sizeof *raw, want_cmp);
  for (size_t i = 0; i < n_raw; i++) {
    if (n_wants && strcmp(wants[n_wants - 1].key, raw[i].key) == 0) {
      wants[n_wants - 1].points += raw[i].points;
      if (raw[i].last > wants[n_wants - 1].last) wants[n_wants - 1].last = raw[i].last;
    } else {
      wants[n_wants++] = raw[i];
    }
  }
  size_t kept = 0;   /* entries with no points are not on the board */
  for (size_t i = 0; i < n_wants; i++)
    if (wants[i].points > 0) wants[kept++] = wants[i];
  cr_assert_lt(kept, n_wants, "some entries have only retracted or pointless awards");
  n_wants = kept;
  cr_assert_eq(tally_awards(t), counted);
  seen s = {0};
  cr_assert_eq(tally_boards(t, "lb:{o}", from, check_board, &s), 0);
  cr_assert_eq(s.entries, n_wants, "every (board, member) the awards give, and no other");
  cr_assert_gt(s.boards, 1000);
  free(raw);
  free(wants);
  tally_free(t);
}

static int stop_at_third(void *arg, const tally_board *b) {
  (void)b;
  return ++*(int *)arg == 3 ? 42 : 0;
}

typedef struct names_seen {
  char buf[256];
} names_seen;

static int list_name(void *arg, const char *id, const char *team, const char *name) {
  names_seen *n = arg;
  size_t k = strlen(n->buf);
  snprintf(n->buf + k, sizeof n->buf - k, "%s%s=%s/%s", k ? "," : "", id, team, name);
  return 0;
}

Test(leaderboard_tally, names_are_each_recipients_latest_and_a_callback_can_stop) {
  tally *t = tally_new();
  tally_add(t, "ann", "east", "b", "c", 10, NOW, "Ann Old", 1);
  tally_add(t, "ann", "west", "b", "c", 10, NOW + 5, "Ann New", 0);   /* retracted: still names her */
  tally_add(t, "ann", "east", "b", "c", 10, NOW + 9, "", 1);          /* no name: keeps the last one */
  tally_add(t, "bo", "east", "b", "c", 10, NOW + 1, "Bo", 1);
  tally_add(t, "bo", "north", "b", "c", 10, NOW, "Bo Earlier", 1);
  tally_add(t, "cy", "east", "b", "c", 10, NOW, "", 1);
  names_seen n = {{0}};
  cr_assert_eq(tally_names(t, list_name, &n), 0);
  cr_assert_str_eq(n.buf, "ann=west/Ann New,bo=east/Bo");
  cr_assert_eq(tally_awards(t), 5);
  int64_t from[WIN_LAST + 1];
  cutoffs(from);
  int calls = 0;
  cr_assert_eq(tally_boards(t, "lb:{o}", from, stop_at_third, &calls), 42);
  cr_assert_eq(calls, 3);
  tally_free(t);
}
