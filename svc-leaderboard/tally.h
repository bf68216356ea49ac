/* tally.h - every board of an org, computed in memory from its ledger rows.
 *
 * A rebuild reads the org's ledger once (COPY) into a tally and then asks
 * for its boards. Memory is 32 bytes per ledger row (twice that while the
 * boards are handed out: a copy ordered by team), each distinct string once,
 * and the entries of one (window, subject, scope) family at a time: an org
 * of 10M awards takes about 1 GB while it is rebuilt. The boards are what boards_for_award() gives award by award
 * (tests/unit/test_leaderboard_tally.c checks exactly that), summed per
 * member as the live script sums them: points added, an entry with no
 * points left out, and the tie-break time that of the member's latest award
 * on the board, retracted ones included (a retraction keeps the time). One
 * history differs: an entry that fell to no points and was awarded again
 * takes, live, the time of the awards since; here, the latest of all.
 *
 * Not thread-safe; one tally per rebuild.
 */
#ifndef LEADERBOARD_TALLY_H
#define LEADERBOARD_TALLY_H

#include <stddef.h>
#include <stdint.h>

#include "boards.h"

typedef struct tally tally;

tally *tally_new(void);
void tally_free(tally *t);

/* tally_add takes one recorded ledger row. |counted|: not retracted, so its
 * points count; every row can name its recipient. */
void tally_add(tally *t, const char *recipient, const char *team, const char *badge, const char *category,
               int64_t points, int64_t granted_ms, const char *name, int counted);

/* tally_awards: the counted rows added so far. */
int64_t tally_awards(const tally *t);

typedef struct tally_board {
  char key[BOARD_KEY_MAX];
  int window;
  int64_t last_ms;              /* its latest award */
  size_t n;
  const board_entry *entries;   /* highest score first; valid during the call */
} tally_board;

/* tally_boards calls |fn| once for each board, its key under |prefix|
 * (boards_prefix); windowed ones only for periods from the one holding
 * from_ms[window] on (from_ms has WIN_LAST + 1 slots, INT64_MIN keeps all). Stops at the first non-zero
 * return of |fn| and returns it; 0 when every board was given. */
int tally_boards(tally *t, const char *prefix, const int64_t *from_ms, int (*fn)(void *arg, const tally_board *b),
                 void *arg);

/* tally_names calls |fn| for each recipient with a name: the team and name
 * of its latest award that carried one. Stops as tally_boards does. */
int tally_names(tally *t, int (*fn)(void *arg, const char *id, const char *team, const char *name), void *arg);

/* tally_period_code: the period of |window| holding |ms| as a number that
 * orders as the period names do (2026-W53 -> 202653, 2026-11 -> 202611,
 * 2026-Q4 -> 20264, 2026 -> 2026, 2026-11-22 -> 20261122, all -> 0). */
int64_t tally_period_code(int window, int64_t ms);

#endif
