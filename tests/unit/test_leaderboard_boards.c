#include <criterion/criterion.h>
#include <string.h>

#include "boards.h"

/* 2026-12-31T12:00:00Z (Thursday) */
#define DEC31_2026 1798718400000LL

static const char *period(int w, int64_t ms) {
  static char buf[32];
  boards_period(w, ms, buf, sizeof buf);
  return buf;
}

Test(leaderboard_boards, iso_week_53_and_year_end) {
  cr_assert_str_eq(period(WIN_WEEK, DEC31_2026), "2026-W53");
  cr_assert_str_eq(period(WIN_WEEK, DEC31_2026 + 86400000LL), "2026-W53");   /* Fri 2027-01-01 */
  cr_assert_str_eq(period(WIN_YEAR, DEC31_2026 + 86400000LL), "2027");
  cr_assert_str_eq(period(WIN_WEEK, DEC31_2026 + 4 * 86400000LL), "2027-W01"); /* Mon 2027-01-04 */
  cr_assert_str_eq(period(WIN_QUARTER, DEC31_2026), "2026-Q4");
  cr_assert_str_eq(period(WIN_QUARTER, DEC31_2026 + 86400000LL), "2027-Q1");
}

Test(leaderboard_boards, month_end_in_utc) {
  int64_t jan31_last = 1769903999000LL;   /* 2026-01-31T23:59:59Z */
  cr_assert_str_eq(period(WIN_MONTH, jan31_last), "2026-01");
  cr_assert_str_eq(period(WIN_MONTH, jan31_last + 1000), "2026-02");
  cr_assert_str_eq(period(WIN_ALL, jan31_last), "all");
}

Test(leaderboard_boards, periods_validate) {
  cr_assert(boards_period_valid(WIN_WEEK, "2026-W53"));
  cr_assert(!boards_period_valid(WIN_WEEK, "2026-W54"));
  cr_assert(!boards_period_valid(WIN_WEEK, "2026-11"));
  cr_assert(boards_period_valid(WIN_MONTH, "2026-11"));
  cr_assert(!boards_period_valid(WIN_MONTH, "2026-13"));
  cr_assert(boards_period_valid(WIN_QUARTER, "2026-Q4"));
  cr_assert(!boards_period_valid(WIN_QUARTER, "2026-Q5"));
  cr_assert(boards_period_valid(WIN_YEAR, "2026"));
  cr_assert(boards_period_valid(WIN_ALL, "all"));
}

Test(leaderboard_boards, an_award_counts_toward_every_board_once) {
  board_ref refs[BOARDS_MAX_PER_AWARD];
  int n = boards_for_award("lb:{acme}", "alice", "east", "deal-closer", "sales", DEC31_2026, refs, BOARDS_MAX_PER_AWARD);
  cr_assert_eq(n, 42, "5 windows and the day bucket x (4 member boards + 3 team boards)");
  cr_assert_str_eq(refs[0].key, "lb:{acme}:members:week:2026-W53");
  cr_assert_str_eq(refs[0].member, "alice");
  cr_assert_str_eq(refs[1].key, "lb:{acme}:members:week:2026-W53:team:east");
  cr_assert_str_eq(refs[4].key, "lb:{acme}:teams:week:2026-W53");
  cr_assert_str_eq(refs[4].member, "east");
  for (int i = 0; i < n; i++)
    for (int k = i + 1; k < n; k++) cr_assert_str_neq(refs[i].key, refs[k].key);
  /* No team and no category: only the member boards of org and badge. */
  n = boards_for_award("lb:{acme}", "bob", "", "deal-closer", "", DEC31_2026, refs, BOARDS_MAX_PER_AWARD);
  cr_assert_eq(n, 12);
  cr_assert_str_eq(refs[n - 1].key, "lb:{acme}:members:day:2026-12-31:badge:deal-closer");
  cr_assert_eq(refs[n - 1].window, WIN_DAY);
}

Test(leaderboard_boards, days_shift_across_month_and_year_ends_and_validate) {
  char d[16];
  cr_assert_eq(boards_day_shift("2026-12-31", 1, d, sizeof d), 0);
  cr_assert_str_eq(d, "2027-01-01");
  boards_day_shift("2028-03-01", -1, d, sizeof d);
  cr_assert_str_eq(d, "2028-02-29", "leap year");
  boards_day_shift("2026-11-22", -29, d, sizeof d);
  cr_assert_str_eq(d, "2026-10-24");
  cr_assert_str_eq(period(WIN_ROLLING, DEC31_2026), "2026-12-31");
  cr_assert(boards_period_valid(WIN_ROLLING, "2026-02-28"));
  cr_assert(!boards_period_valid(WIN_ROLLING, "2026-02-29"), "not a day of 2026");
  cr_assert(!boards_period_valid(WIN_DAY, "2026-13-01"));
  cr_assert(!boards_period_valid(WIN_DAY, "2026-1-01"));
  cr_assert(!boards_period_valid(WIN_DAY, "2026-W53"));
}

Test(leaderboard_boards, a_day_bucket_feeds_the_rolling_windows_ending_on_it_through_tomorrow) {
  board_ref refs[BOARDS_MAX_PER_AWARD], caches[ROLLING_DAYS];
  int n = boards_for_award("lb:{acme}", "alice", "east", "deal-closer", "sales", DEC31_2026, refs, BOARDS_MAX_PER_AWARD);
  const board_ref *day = NULL;
  for (int i = 0; i < n; i++)
    if (refs[i].window == WIN_DAY && refs[i].scope == SCOPE_TEAM) day = &refs[i];
  cr_assert_not_null(day);
  /* Granted today: today's and tomorrow's windows. */
  int c = boards_rolling_caches("lb:{acme}", day, "2026-12-31", "2026-12-31", caches, ROLLING_DAYS);
  cr_assert_eq(c, 2);
  cr_assert_str_eq(caches[0].key, "lb:{acme}:members:r30:2026-12-31:team:east");
  cr_assert_str_eq(caches[1].key, "lb:{acme}:members:r30:2027-01-01:team:east");
  cr_assert_str_eq(caches[1].member, "alice");
  /* Granted long ago: the 30 windows that include its day, no more. */
  c = boards_rolling_caches("lb:{acme}", day, "2026-12-31", "2027-06-01", caches, ROLLING_DAYS);
  cr_assert_eq(c, ROLLING_DAYS);
  cr_assert_str_eq(caches[ROLLING_DAYS - 1].key, "lb:{acme}:members:r30:2027-01-29:team:east");
}

Test(leaderboard_boards, ties_favour_who_got_there_first_without_losing_points) {
  double early = boards_score(300, 1790000000), late = boards_score(300, 1790000100);
  cr_assert_gt(early, late);
  cr_assert_lt(late, boards_score(301, 1800000000), "more points always rank higher");
  cr_assert_eq(boards_points(early), 300);
  cr_assert_eq(boards_points(boards_score(SCORE_MAX_POINTS, 2700000000LL)), SCORE_MAX_POINTS);
  cr_assert_eq(boards_points(boards_score(0, 1704067200)), 0);
}
