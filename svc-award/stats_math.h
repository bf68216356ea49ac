/* stats_math.h - inequality measures for award analytics (pure functions). */
#ifndef AWARD_STATS_MATH_H
#define AWARD_STATS_MATH_H

#include <stddef.h>

/* stats_gini: the Gini coefficient of |n| non-negative values sorted
 * ascending (0: all equal; (n-1)/n: one holds everything; 0 for n == 0 or an
 * all-zero input). */
double stats_gini(const double *sorted, size_t n);

/* stats_top_share: the share of the total held by the top |fraction| of
 * values (at least one value), |sorted| ascending. 0 for an empty or zero total. */
double stats_top_share(const double *sorted, size_t n, double fraction);

#endif
