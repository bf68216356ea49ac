/* clock.h - the two clocks the runtime waits on, for modules below the RPC
 * server (pg.c) and the server itself (rpc_realtime_after). */
#ifndef ACCOLADE_CLOCK_H
#define ACCOLADE_CLOCK_H

#include <stdint.h>
#include <time.h>

/* clock_now_ms: CLOCK_MONOTONIC in ms. */
static inline int64_t clock_now_ms(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (int64_t)t.tv_sec * 1000 + t.tv_nsec / 1000000;
}

/* clock_now_us: CLOCK_MONOTONIC in microseconds. */
static inline int64_t clock_now_us(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (int64_t)t.tv_sec * 1000000 + t.tv_nsec / 1000;
}

/* clock_realtime_after: CLOCK_REALTIME |ms| from now, for pthread_cond_timedwait. */
static inline struct timespec clock_realtime_after(int64_t ms) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  ts.tv_sec += (time_t)(ms / 1000);
  ts.tv_nsec += (long)(ms % 1000) * 1000000L;
  if (ts.tv_nsec >= 1000000000L) {
    ts.tv_sec++;
    ts.tv_nsec -= 1000000000L;
  }
  return ts;
}

#endif
