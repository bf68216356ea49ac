/* clock.h - the clock the runtime measures and waits on (CLOCK_MONOTONIC:
 * a step of the wall clock moves no deadline), for modules below the RPC
 * server (pg.c) and the server itself (rpc_deadline_after). */
#ifndef ACCOLADE_CLOCK_H
#define ACCOLADE_CLOCK_H

#include <pthread.h>
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

/* clock_deadline_after: CLOCK_MONOTONIC |ms| from now, for clock_cond_wait. */
static inline struct timespec clock_deadline_after(int64_t ms) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  ts.tv_sec += (time_t)(ms / 1000);
  ts.tv_nsec += (long)(ms % 1000) * 1000000L;
  if (ts.tv_nsec >= 1000000000L) {
    ts.tv_sec++;
    ts.tv_nsec -= 1000000000L;
  }
  return ts;
}

/* clock_cond_wait: pthread_cond_timedwait against a clock_deadline_after
 * deadline. A wait against a CLOCK_REALTIME deadline lasts an hour longer
 * when the wall clock is set back an hour (NTP stepping a VM's clock). */
static inline int clock_cond_wait(pthread_cond_t *cv, pthread_mutex_t *mu, const struct timespec *deadline) {
  return pthread_cond_clockwait(cv, mu, CLOCK_MONOTONIC, deadline);
}

#endif
