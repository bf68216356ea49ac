/* stats_math.c - Gini and top-share over sorted values. */
#include "stats_math.h"

#include <math.h>

double stats_gini(const double *x, size_t n) {
  if (n == 0) return 0.0;
  /* G = sum_i (2i - n - 1) x_i / (n * sum x), i = 1..n over ascending x. */
  double total = 0.0, weighted = 0.0;
  for (size_t i = 0; i < n; i++) {
    total += x[i];
    weighted += (2.0 * (double)(i + 1) - (double)n - 1.0) * x[i];
  }
  return total > 0.0 ? weighted / ((double)n * total) : 0.0;
}

double stats_top_share(const double *x, size_t n, double fraction) {
  if (n == 0) return 0.0;
  size_t k = (size_t)ceil((double)n * fraction);
  if (k < 1) k = 1;
  if (k > n) k = n;
  double total = 0.0, top = 0.0;
  for (size_t i = 0; i < n; i++) {
    total += x[i];
    if (i >= n - k) top += x[i];
  }
  return total > 0.0 ? top / total : 0.0;
}
