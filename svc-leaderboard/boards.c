/* boards.c - keys, periods and scores of the leaderboards. */
#include "boards.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static const char *const window_names[] = {"", "week", "month", "quarter", "year", "all", "r30", "day"};

void boards_period(int window, int64_t ms, char *out, size_t cap) {
  time_t t = (time_t)(ms / 1000);
  struct tm tm;
  gmtime_r(&t, &tm);
  switch (window) {
    case WIN_WEEK: strftime(out, cap, "%G-W%V", &tm); break;   /* ISO 8601 week-year */
    case WIN_MONTH: strftime(out, cap, "%Y-%m", &tm); break;
    case WIN_QUARTER: snprintf(out, cap, "%04d-Q%d", tm.tm_year + 1900, tm.tm_mon / 3 + 1); break;
    case WIN_YEAR: strftime(out, cap, "%Y", &tm); break;
    case WIN_ROLLING:
    case WIN_DAY: strftime(out, cap, "%Y-%m-%d", &tm); break;
    default: snprintf(out, cap, "all");
  }
}

static int digits(const char *s, int n) {
  for (int i = 0; i < n; i++)
    if (s[i] < '0' || s[i] > '9') return 0;
  return 1;
}

int boards_period_valid(int window, const char *p) {
  size_t n = strlen(p);
  switch (window) {
    case WIN_WEEK:
      return n == 8 && digits(p, 4) && p[4] == '-' && p[5] == 'W' && digits(p + 6, 2) &&
             atoi(p + 6) >= 1 && atoi(p + 6) <= 53;
    case WIN_MONTH:
      return n == 7 && digits(p, 4) && p[4] == '-' && digits(p + 5, 2) && atoi(p + 5) >= 1 &&
             atoi(p + 5) <= 12;
    case WIN_QUARTER:
      return n == 7 && digits(p, 4) && p[4] == '-' && p[5] == 'Q' && p[6] >= '1' && p[6] <= '4';
    case WIN_YEAR: return n == 4 && digits(p, 4);
    case WIN_ROLLING:
    case WIN_DAY: {
      if (n != 10 || !digits(p, 4) || p[4] != '-' || !digits(p + 5, 2) || p[7] != '-' || !digits(p + 8, 2))
        return 0;
      char back[16];   /* a real calendar day: it survives a round trip */
      return boards_day_shift(p, 0, back, sizeof back) == 0 && strcmp(back, p) == 0;
    }
    default: return strcmp(p, "all") == 0;
  }
}

int boards_prefix(char *out, size_t cap, const char *org, int64_t gen) {
  int n = gen ? snprintf(out, cap, "lb:{%s}:g%lld", org, (long long)gen) : snprintf(out, cap, "lb:{%s}", org);
  return n > 0 && (size_t)n < cap ? 0 : -1;
}

int boards_registry(char *out, size_t cap, const char *prefix) {
  int n = snprintf(out, cap, "%s:keys", prefix);
  return n > 0 && (size_t)n < cap ? 0 : -1;
}

int boards_key(char *out, size_t cap, const char *prefix, int subject, int window, const char *period,
               int scope, const char *scope_id) {
  static const char *const scopes[] = {"", "", "team", "badge", "category"};
  int n;
  if (scope == SCOPE_ORG || scope < SCOPE_ORG || scope > SCOPE_CATEGORY)
    n = snprintf(out, cap, "%s:%s:%s:%s", prefix, subject == SUBJ_TEAMS ? "teams" : "members",
                 window_names[window], period);
  else
    n = snprintf(out, cap, "%s:%s:%s:%s:%s:%s", prefix, subject == SUBJ_TEAMS ? "teams" : "members",
                 window_names[window], period, scopes[scope], scope_id);
  return n > 0 && (size_t)n < cap ? 0 : -1;
}

int boards_for_award(const char *prefix, const char *recipient, const char *team, const char *badge,
                     const char *category, int64_t granted_ms, board_ref *out, int cap) {
  int n = 0;
  for (int w = WIN_WEEK; w <= WIN_LAST; w++) {
    if (w == WIN_ROLLING) continue;   /* derived from the day buckets */
    char period[32];
    boards_period(w, granted_ms, period, sizeof period);
    struct {
      int subject, scope;
      const char *id, *member;
    } spec[] = {
        {SUBJ_MEMBERS, SCOPE_ORG, "", recipient},
        {SUBJ_MEMBERS, SCOPE_TEAM, team, recipient},
        {SUBJ_MEMBERS, SCOPE_BADGE, badge, recipient},
        {SUBJ_MEMBERS, SCOPE_CATEGORY, category, recipient},
        {SUBJ_TEAMS, SCOPE_ORG, "", team},
        {SUBJ_TEAMS, SCOPE_BADGE, badge, team},
        {SUBJ_TEAMS, SCOPE_CATEGORY, category, team},
    };
    for (size_t i = 0; i < sizeof spec / sizeof spec[0] && n < cap; i++) {
      /* No team: no team boards; no category: no category boards. */
      if (!*spec[i].member || (spec[i].scope != SCOPE_ORG && !*spec[i].id)) continue;
      if (boards_key(out[n].key, sizeof out[n].key, prefix, spec[i].subject, w, period, spec[i].scope,
                     spec[i].id) != 0)
        continue;
      out[n].member = spec[i].member;
      out[n].subject = spec[i].subject;
      out[n].window = w;
      out[n].scope = spec[i].scope;
      out[n].scope_id = spec[i].id;
      n++;
    }
  }
  return n;
}

int boards_day_shift(const char *day, int days, char *out, size_t cap) {
  struct tm tm = {0};
  if (sscanf(day, "%4d-%2d-%2d", &tm.tm_year, &tm.tm_mon, &tm.tm_mday) != 3) return -1;
  if (tm.tm_mon < 1 || tm.tm_mon > 12 || tm.tm_mday < 1 || tm.tm_mday > 31) return -1;
  tm.tm_year -= 1900;
  tm.tm_mon -= 1;
  tm.tm_mday += days;
  time_t t = timegm(&tm);   /* normalizes the day count */
  gmtime_r(&t, &tm);
  return strftime(out, cap, "%Y-%m-%d", &tm) == 10 ? 0 : -1;
}

int boards_rolling_caches(const char *prefix, const board_ref *day, const char *d, const char *today,
                          board_ref *out, int cap) {
  char last[16];
  if (boards_day_shift(today, 1, last, sizeof last) != 0) return 0;
  int n = 0;
  for (int i = 0; i < ROLLING_DAYS && n < cap; i++) {
    char e[16];
    if (boards_day_shift(d, i, e, sizeof e) != 0 || strcmp(e, last) > 0) break;
    if (boards_key(out[n].key, sizeof out[n].key, prefix, day->subject, WIN_ROLLING, e, day->scope,
                   day->scope_id) != 0)
      continue;
    out[n].member = day->member;
    out[n].subject = day->subject;
    out[n].window = WIN_ROLLING;
    out[n].scope = day->scope;
    out[n].scope_id = day->scope_id;
    n++;
  }
  return n;
}

double boards_score(int64_t points, int64_t reached_s) {
  int64_t t = reached_s - SCORE_EPOCH_S;
  if (t < 0) t = 0;
  if (t > (int64_t)SCORE_SHIFT - 1) t = (int64_t)SCORE_SHIFT - 1;
  if (points > SCORE_MAX_POINTS) points = SCORE_MAX_POINTS;
  return (double)points * SCORE_SHIFT + (SCORE_SHIFT - 1.0 - (double)t);
}

int64_t boards_points(double score) { return (int64_t)floor(score / SCORE_SHIFT); }
