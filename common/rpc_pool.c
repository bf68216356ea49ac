/* rpc_pool.c - the threads serving the server's completion queues.
 *
 * A queue per core and one thread polling each, as gRPC's own C++ server
 * runs: the thread that takes a call runs its handler where it arrived, so a
 * quick call costs no hand-off and no thread switch. The other threads
 * (threads - queues of them) are spares, parked. When a handler is about to
 * block while its thread is the only one polling its queue, a spare is woken
 * to poll that queue meanwhile; when the handler returns and the queue has a
 * poller again, its thread parks. A handler says it blocks through
 * blocking_enter (pg.c and the blocking client calls do). For one that
 * blocks without saying so (a long computation, a sleep, a stalled Redis)
 * the watcher looks at every queue each WATCH_BUSY_MS while one has no
 * poller, and wakes a spare for a queue that took no event for WATCH_LOOKS
 * looks. So a call waits behind a blocked handler only when every thread is
 * busy, as it did with all threads on one queue, but a quick call is never
 * handed from thread to thread.
 */
#include <grpc/grpc.h>
#include <grpc/support/time.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "blocking.h"
#include "clock.h"
#include "log.h"
#include "rpc_call.h"

/* The watcher's pace: while some queue has no poller, and while all have;
 * and how many looks in a row a queue's handler must hold it (a thread merely
 * preempted for a few milliseconds on a busy machine is not blocked). */
enum { WATCH_BUSY_MS = 2, WATCH_IDLE_MS = 20, WATCH_LOOKS = 3 };

static _Thread_local worker *t_serving;   /* the queue whose event this thread handles */
static _Thread_local int t_handed;         /* a spare was woken for it already */

/* claim_spare (the pool's lock held): a parked spare, not yet claimed, is
 * told to poll |w|; 0 if there is none. */
static int claim_spare(thread_pool *p, worker *w) {
  if (p->stop || p->parked <= p->nwanted) return 0;
  atomic_fetch_add(&w->polling, 1);
  p->wanted[p->nwanted++] = w;
  pthread_cond_signal(&p->cv);
  return 1;
}

static void wake_spare(worker *w) {
  thread_pool *p = &w->srv->pool;
  pthread_mutex_lock(&p->mu);
  claim_spare(p, w);
  pthread_mutex_unlock(&p->mu);
}

/* on_blocking: blocking_enter's hook. */
static void on_blocking(void) {
  worker *w = t_serving;
  if (!w || t_handed) return;
  t_handed = 1;
  if (atomic_load(&w->polling) == 0) wake_spare(w);
}

/* park waits until the thread is told to poll a queue (returned, counted in
 * its |polling| already), or the pool stops (NULL). */
static worker *park(rpc_server *s) {
  thread_pool *p = &s->pool;
  pthread_mutex_lock(&p->mu);
  p->parked++;
  while (!p->stop && p->nwanted == 0) pthread_cond_wait(&p->cv, &p->mu);
  p->parked--;
  worker *w = NULL;
  if (p->nwanted > 0) {   /* taken even when stopping: the queue counts on it */
    w = p->wanted[0];
    memmove(p->wanted, p->wanted + 1, (size_t)--p->nwanted * sizeof *p->wanted);
  }
  pthread_mutex_unlock(&p->mu);
  return w;
}

static void *thread_main(void *arg) {
  rpc_server *s = arg;
  worker *w = park(s);
  while (w) {
    grpc_event ev = grpc_completion_queue_next(w->cq, gpr_inf_future(GPR_CLOCK_REALTIME), NULL);
    atomic_fetch_sub(&w->polling, 1);
    if (ev.type == GRPC_QUEUE_SHUTDOWN) break;
    atomic_fetch_add_explicit(&w->taken, 1, memory_order_relaxed);
    if (ev.type == GRPC_OP_COMPLETE) {
      t_serving = w;
      t_handed = 0;
      rpc_tag *t = ev.tag;
      t->on_event(t, ev.success);
      server_after_call();
      t_serving = NULL;
    }
    /* Back to the queue, unless a spare polls it now: then park. */
    if (atomic_load(&w->polling) > 0)
      w = park(s);
    else
      atomic_fetch_add(&w->polling, 1);
  }
  return NULL;
}

static void *watcher_main(void *arg) {
  rpc_server *s = arg;
  thread_pool *p = &s->pool;
  pthread_mutex_lock(&p->mu);
  while (!p->stop) {
    int busy = 0;
    for (int i = 0; i < s->ncqs; i++) {
      worker *w = &s->workers[i];
      unsigned taken = atomic_load_explicit(&w->taken, memory_order_relaxed);
      if (atomic_load(&w->polling) == 0) {
        busy = 1;
        w->stuck = taken == w->seen ? w->stuck + 1 : 0;
        if (w->stuck >= WATCH_LOOKS && claim_spare(p, w)) {
          w->stuck = 0;
          log_debug("%s: queue %d held by a handler; a spare polls it", s->name, i);
        }
      } else {
        w->stuck = 0;
      }
      w->seen = taken;
    }
    struct timespec at = clock_deadline_after(busy ? WATCH_BUSY_MS : WATCH_IDLE_MS);
    clock_cond_wait(&p->watch_cv, &p->mu, &at);
  }
  pthread_mutex_unlock(&p->mu);
  return NULL;
}

int pool_start(rpc_server *s) {
  thread_pool *p = &s->pool;
  pthread_mutex_init(&p->mu, NULL);
  pthread_cond_init(&p->cv, NULL);
  pthread_cond_init(&p->watch_cv, NULL);
  p->wanted = calloc((size_t)s->nworkers, sizeof *p->wanted);
  p->threads = calloc((size_t)s->nworkers, sizeof *p->threads);
  if (!p->wanted || !p->threads) return -1;
  /* As many requests posted ahead per method as threads could take them. */
  int ahead = (s->nworkers + s->ncqs - 1) / s->ncqs;
  for (int i = 0; i < s->ncqs; i++) {
    worker *w = &s->workers[i];
    for (int k = 0; k < ahead; k++) server_post_requests(w);
    atomic_store(&w->polling, 1);   /* the first threads take these */
    p->wanted[p->nwanted++] = w;
  }
  blocking_set_hook(on_blocking);
  for (; p->nthreads < s->nworkers; p->nthreads++)
    if (pthread_create(&p->threads[p->nthreads], NULL, thread_main, s) != 0) return -1;
  if (pthread_create(&p->watcher, NULL, watcher_main, s) != 0) return -1;
  p->watching = 1;
  return 0;
}

void pool_stop(rpc_server *s) {
  thread_pool *p = &s->pool;
  pthread_mutex_lock(&p->mu);
  p->stop = 1;
  pthread_cond_broadcast(&p->cv);
  pthread_cond_broadcast(&p->watch_cv);
  pthread_mutex_unlock(&p->mu);
  for (int i = 0; i < p->nthreads; i++) pthread_join(p->threads[i], NULL);
  if (p->watching) pthread_join(p->watcher, NULL);
  /* A queue whose threads parked as it shut down: what is left on it. */
  for (int i = 0; i < s->ncqs; i++) {
    for (;;) {
      grpc_event ev = grpc_completion_queue_next(s->workers[i].cq, gpr_inf_future(GPR_CLOCK_REALTIME), NULL);
      if (ev.type == GRPC_QUEUE_SHUTDOWN) break;
      if (ev.type == GRPC_OP_COMPLETE) ((rpc_tag *)ev.tag)->on_event(ev.tag, ev.success);
    }
  }
  free(p->wanted);
  free(p->threads);
  pthread_cond_destroy(&p->cv);
  pthread_cond_destroy(&p->watch_cv);
  pthread_mutex_destroy(&p->mu);
}
