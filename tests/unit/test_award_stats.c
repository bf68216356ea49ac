#include <criterion/criterion.h>
#include <math.h>

#include "stats_math.h"

Test(award_stats, gini_of_equal_shares_is_zero) {
  double x[] = {5, 5, 5, 5};
  cr_assert_float_eq(stats_gini(x, 4), 0.0, 1e-12);
}

Test(award_stats, gini_when_one_holds_everything_is_n_minus_1_over_n) {
  double x[] = {0, 0, 0, 100};
  cr_assert_float_eq(stats_gini(x, 4), 0.75, 1e-12);
}

Test(award_stats, gini_matches_the_mean_difference_definition) {
  double x[] = {1, 2, 3, 4, 10};
  /* G = sum_i sum_j |xi - xj| / (2 n^2 mean) */
  double sum = 0, mean = 4.0;
  for (int i = 0; i < 5; i++)
    for (int j = 0; j < 5; j++) sum += fabs(x[i] - x[j]);
  cr_assert_float_eq(stats_gini(x, 5), sum / (2.0 * 25 * mean), 1e-12);
}

Test(award_stats, empty_and_zero_inputs) {
  double z[] = {0, 0};
  cr_assert_float_eq(stats_gini(NULL, 0), 0.0, 1e-12);
  cr_assert_float_eq(stats_gini(z, 2), 0.0, 1e-12);
  cr_assert_float_eq(stats_top_share(z, 2, 0.1), 0.0, 1e-12);
}

Test(award_stats, top_decile_share_takes_at_least_one_recipient) {
  double x[] = {10, 10, 10, 70};
  cr_assert_float_eq(stats_top_share(x, 4, 0.10), 0.70, 1e-12);
  double y[20];
  for (int i = 0; i < 20; i++) y[i] = i < 18 ? 1 : 41;   /* top 2 of 20 hold 82 of 100 */
  cr_assert_float_eq(stats_top_share(y, 20, 0.10), 0.82, 1e-12);
}
