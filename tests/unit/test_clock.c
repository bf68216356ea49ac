/* The runtime's timed waits (clock.h): a deadline from clock_deadline_after
 * is on the clock clock_cond_wait waits on. Were they on different clocks
 * (a monotonic deadline given to a wait on the wall clock, which is some
 * 1.7e9 s ahead), the wait would end at once, or never. */
#include <criterion/criterion.h>
#include <errno.h>
#include <pthread.h>

#include "clock.h"

Test(clock, a_wait_lasts_until_its_deadline_and_no_longer) {
  pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
  pthread_cond_t cv = PTHREAD_COND_INITIALIZER;   /* as the static ones in the runtime */
  pthread_mutex_lock(&mu);
  int64_t t0 = clock_now_ms();
  struct timespec at = clock_deadline_after(150);
  int rc = 0;
  while (rc != ETIMEDOUT) rc = clock_cond_wait(&cv, &mu, &at);   /* spurious wake-ups go on waiting */
  int64_t waited = clock_now_ms() - t0;
  pthread_mutex_unlock(&mu);
  cr_expect_geq(waited, 150, "waited %lld ms for a deadline 150 ms away", (long long)waited);
  cr_expect_lt(waited, 2000, "waited %lld ms for a deadline 150 ms away", (long long)waited);
}

Test(clock, a_deadline_is_ms_from_now_on_the_monotonic_clock) {
  struct timespec now, at = clock_deadline_after(1500);
  clock_gettime(CLOCK_MONOTONIC, &now);
  int64_t ahead = ((int64_t)at.tv_sec - now.tv_sec) * 1000 + (at.tv_nsec - now.tv_nsec) / 1000000;
  cr_expect(ahead > 1400 && ahead <= 1500, "deadline %lld ms ahead of CLOCK_MONOTONIC", (long long)ahead);
  cr_expect(at.tv_nsec >= 0 && at.tv_nsec < 1000000000L);
}
