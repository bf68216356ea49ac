/* boards.h - which boards an award counts toward, their Redis keys, periods
 * and the score encoding. Pure functions (unit-tested).
 *
 * Key: <prefix>:<subject>:<window>:<period>[:<scope>:<scope id>], the
 *   prefix lb:{<org>} for generation 0, else lb:{<org>}:g<generation> (see
 *   gen.h: a rebuild writes the next generation beside the live one);
 *   subject members|teams; window week|month|quarter|year|all|day|r30;
 *   period 2026-W47 | 2026-11 | 2026-Q4 | 2026 | all | 2026-11-22 (UTC;
 *   ISO weeks). A day board is a daily bucket; the rolling 30 days ending on
 *   day D ("r30", period D) is the sum of the buckets D-29..D, materialized
 *   on first read into a cache key that writes keep up to date.
 * The {org} hash tag keeps one org's boards in one Redis Cluster slot.
 *
 * Score: points * 2^30 + (2^30 - 1 - t), t = seconds since 2024-01-01 when
 * the entry reached its points (its latest award). At equal points the entry
 * that got there first has the larger score and ranks higher. Exact in a
 * double for points < 2^23 (8,388,607) and t < 2^30 (34 years).
 */
#ifndef LEADERBOARD_BOARDS_H
#define LEADERBOARD_BOARDS_H

#include <stddef.h>
#include <stdint.h>

#define BOARDS_MAX_PER_AWARD 48
#define ROLLING_DAYS 30
#define BOARD_KEY_MAX 400
#define SCORE_SHIFT 1073741824.0   /* 2^30 */
#define SCORE_EPOCH_S 1704067200LL /* 2024-01-01T00:00:00Z */
#define SCORE_MAX_POINTS 8388607LL

/* The values of accolade.v1.Window. */
enum { WIN_WEEK = 1, WIN_MONTH = 2, WIN_QUARTER = 3, WIN_YEAR = 4, WIN_ALL = 5, WIN_ROLLING = 6, WIN_DAY = 7 };
#define WIN_LAST WIN_DAY
enum { SUBJ_MEMBERS = 1, SUBJ_TEAMS = 2 };
enum { SCOPE_ORG = 1, SCOPE_TEAM = 2, SCOPE_BADGE = 3, SCOPE_CATEGORY = 4 };

/* boards_period writes the period of |window| containing |ms| (UTC). */
void boards_period(int window, int64_t ms, char *out, size_t cap);
/* boards_period_valid: 1 if |period| is a well-formed period of |window|. */
int boards_period_valid(int window, const char *period);

/* boards_prefix writes the keys' prefix of |org|'s boards of generation
 * |gen|. 0, or -1 if it does not fit. */
int boards_prefix(char *out, size_t cap, const char *org, int64_t gen);

/* boards_registry writes the key of the set naming every board key under
 * |prefix| (a generation's registry). 0, or -1 if it does not fit. */
int boards_registry(char *out, size_t cap, const char *prefix);

/* boards_key builds one key; |scope_id| is ignored for SCOPE_ORG. */
int boards_key(char *out, size_t cap, const char *prefix, int subject, int window, const char *period,
               int scope, const char *scope_id);

typedef struct board_ref {
  char key[BOARD_KEY_MAX];
  const char *member;   /* points into the award's fields */
  int subject, window, scope;
  const char *scope_id; /* points into the award's fields */
} board_ref;

/* boards_for_award lists every (key, member) an award counts toward.
 * Returns the count. */
int boards_for_award(const char *prefix, const char *recipient, const char *team, const char *badge,
                     const char *category, int64_t granted_ms, board_ref *out, int cap);

/* boards_rolling_caches lists the rolling-window keys that the bucket |day|
 * (of day |d|, YYYY-MM-DD) feeds: the windows ending on |d| through |today|+1 (later ones cannot exist
 * yet; one day of grace for clocks that disagree), at most ROLLING_DAYS.
 * Returns the count. */
int boards_rolling_caches(const char *prefix, const board_ref *day, const char *d, const char *today,
                          board_ref *out, int cap);

/* boards_day_shift writes the day |days| after the day |day| (YYYY-MM-DD). */
int boards_day_shift(const char *day, int days, char *out, size_t cap);

double boards_score(int64_t points, int64_t reached_s);

/* One member of a board and its score. */
typedef struct board_entry {
  const char *id;
  double score;
} board_entry;
int64_t boards_points(double score);

#endif
