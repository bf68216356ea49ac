/* front_admit.c - a call's admission on the front, once its HEADERS are in:
 * a path outside the authorization table is passed through to the
 * gateway's own server; any other is checked as the gRPC-core path checks
 * it (admit.c: token, method, role), its rate limits taken (by the limiter
 * threads when a lease must come from Redis), and sent to its service with
 * the HEADERS rewritten: the signed identity, a request id, the deadline. */
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "authz.h"
#include "front_internal.h"
#include "hex.h"
#include "identity.h"

/* ---- forwarding ------------------------------------------------------ */

/* pass_through sends a path outside the table to the gateway's own server
 * with the caller's headers as they came. */
static void pass_through(pstream *ps) {
  conn *up = front_upstream(ps->down->lp, INNER);
  if (!up || front_submit(ps, up, hdrs_seal(&ps->qh), (size_t)ps->qh.n) != 0)
    front_ps_refuse(ps, RPC_UNAVAILABLE, "UNAVAILABLE: the gateway is starting or stopping");
  ps->inner = 1;
}

static void send_upstream(pstream *ps);

/* ---- the limiter ----------------------------------------------------- */

/* QUEUE_PUSH appends |item| to the list |head|..|tail| linked by |link|. */
#define QUEUE_PUSH(head, tail, item, link) \
  do {                                      \
    (item)->link = NULL;                    \
    if (tail) (tail)->link = (item);        \
    else (head) = (item);                   \
    (tail) = (item);                        \
  } while (0)

/* A lease left low by a call that went on: topped up in the background. */
typedef struct refill_job {
  identity id;
  int which;   /* RL_MEMBER, RL_ORG */
  struct refill_job *next;
} refill_job;

/* The limiter: threads that fetch rate-limit leases from Redis for the
 * loops, which never wait on Redis themselves. */
static struct {
  pthread_mutex_t jmu;
  pthread_cond_t jcv;
  pstream *head, *tail;   /* first come, first served */
  int n;                  /* waiting, at most front_cfg.limiter_queue */
  refill_job *refills, *refills_tail;   /* after the waiting calls */
  int nrefills;           /* at most front_cfg.limiter_queue; past it dropped */
  int refilling;          /* threads on a refill: at most half, so that calls
                           * waiting for a lease never wait behind refills
                           * when Redis is slow */
  int stop;
  pthread_t threads[LIMITERS];
} lim = {.jmu = PTHREAD_MUTEX_INITIALIZER, .jcv = PTHREAD_COND_INITIALIZER};

/* refill_next (jmu held) runs the oldest refill, unlocking meanwhile. */
static void refill_next(void) {
  refill_job *j = lim.refills;
  lim.refills = j->next;
  if (!lim.refills) lim.refills_tail = NULL;
  lim.nrefills--;
  lim.refilling++;
  pthread_mutex_unlock(&lim.jmu);
  ratelimit_refill(front_cfg.gw, &j->id, j->which);
  free(j);
  pthread_mutex_lock(&lim.jmu);
  lim.refilling--;
}

/* limiter: takes a waiting stream's rate limits (the Redis round trip of a
 * lease) and hands it back to its loop; with no stream waiting, tops up a
 * lease left low. */
static void *limiter(void *arg) {
  (void)arg;
  pthread_mutex_lock(&lim.jmu);
  for (;;) {
    int refill_due = 0;
    while (!lim.head && !(refill_due = lim.refills && lim.refilling < LIMITERS / 2) && !lim.stop)
      pthread_cond_wait(&lim.jcv, &lim.jmu);
    if (!lim.head && refill_due && !lim.stop) {
      refill_next();
      continue;
    }
    if (!lim.head) break;
    pstream *ps = lim.head;
    lim.head = ps->next_job;
    if (!lim.head) lim.tail = NULL;
    lim.n--;
    pthread_mutex_unlock(&lim.jmu);
    ps->limited = ratelimit_take(front_cfg.gw, &ps->id);
    loop *lp = ps->lp;
    pthread_mutex_lock(&lp->mu);
    ps->next_job = lp->answered;
    lp->answered = ps;
    pthread_mutex_unlock(&lp->mu);
    loop_kick(lp);
    pthread_mutex_lock(&lim.jmu);
  }
  pthread_mutex_unlock(&lim.jmu);
  return NULL;
}

/* limiter_answered: the streams the limiter let through go on, the others
 * are refused. */
void limiter_answered(pstream *ps) {
  while (ps) {
    pstream *next = ps->next_job;
    if (!ps->down || ps->responded) {}   /* the caller left, or it was refused, meanwhile */
    else if (ps->limited) front_ps_refuse(ps, RPC_RESOURCE_EXHAUSTED, ps->limited);
    else send_upstream(ps);
    front_unref(ps);   /* the limiter's reference */
    ps = next;
  }
}

void limiter_start(void) {
  for (int i = 0; i < LIMITERS; i++) pthread_create(&lim.threads[i], NULL, limiter, NULL);
}

void limiter_stop(void) {
  pthread_mutex_lock(&lim.jmu);
  lim.stop = 1;
  pthread_cond_broadcast(&lim.jcv);
  pthread_mutex_unlock(&lim.jmu);
  for (int i = 0; i < LIMITERS; i++) pthread_join(lim.threads[i], NULL);
  while (lim.refills) {   /* the threads end once no call waits; refills left are dropped */
    refill_job *j = lim.refills;
    lim.refills = j->next;
    free(j);
  }
  lim.refills_tail = NULL;
  lim.nrefills = 0;
}

/* refill_ask queues a top-up of the leases in |which| for |id|. */
static void refill_ask(const identity *id, int which) {
  refill_job *j = malloc(sizeof *j);
  if (!j) abort();
  j->id = *id;
  j->which = which;
  pthread_mutex_lock(&lim.jmu);
  int full = lim.nrefills >= front_cfg.limiter_queue;
  if (!full) {
    QUEUE_PUSH(lim.refills, lim.refills_tail, j, next);
    lim.nrefills++;
    pthread_cond_signal(&lim.jcv);
  }
  pthread_mutex_unlock(&lim.jmu);
  if (full) free(j);   /* the lease's mark lapses after LEASE_MS; a later call asks again */
}

/* ---- admission ------------------------------------------------------- */

void front_forward(pstream *ps) {
  if (!authz_find(ps->path)) return pass_through(ps);
  char msg[300];
  int code = gateway_admit(front_cfg.gw, ps->path, ps->auth, (int64_t)time(NULL), &ps->id, &ps->rule, msg,
                           sizeof msg);
  if (code != RPC_OK) return front_ps_refuse(ps, code, msg);
  int refill;
  if (ratelimit_take_local(front_cfg.gw, &ps->id, &refill)) {
    if (refill) refill_ask(&ps->id, refill);
    return send_upstream(ps);
  }
  /* A lease to fetch: the limiter waits on Redis, not the loop. The stream
   * keeps what the caller sends meanwhile. While Redis is slow the calls
   * waiting are bounded: past the bound a call is refused at once (calls
   * retry UNAVAILABLE), neither let through unlimited nor held. */
  pthread_mutex_lock(&lim.jmu);
  int full = lim.n >= front_cfg.limiter_queue;
  if (!full) {
    ps->refs++;
    QUEUE_PUSH(lim.head, lim.tail, ps, next_job);
    lim.n++;
    pthread_cond_signal(&lim.jcv);
  }
  pthread_mutex_unlock(&lim.jmu);
  if (full) front_ps_refuse(ps, RPC_UNAVAILABLE, "rate limits: too many calls waiting for the rate limiter (Redis slow); retry");
}

static void send_upstream(pstream *ps) {
  const authz_rule *rule = ps->rule;
  char msg[160];
  if (rule->stream) {
    if (!gateway_stream_enter(&ps->id, front_cfg.gw->max_streams)) {
      snprintf(msg, sizeof msg, "streams: at most %d open streams per member", front_cfg.gw->max_streams);
      return front_ps_refuse(ps, RPC_RESOURCE_EXHAUSTED, msg);
    }
    ps->slot = 1;
  }
  int svc = 0;
  while (svc < NSERVICES && strcmp(k_services[svc], rule->service)) svc++;
  conn *up = svc < NSERVICES ? front_upstream(ps->down->lp, svc) : NULL;
  if (!up) return front_ps_refuse(ps, RPC_UNAVAILABLE, "UNAVAILABLE: cannot reach the service");

  char ts[24], sig[65];
  long long t = (long long)time(NULL);
  snprintf(ts, sizeof ts, "%lld", t);
  identity_sign(&ps->id, t, sig);
  if (!ps->reqid[0]) hex_random(ps->reqid, 8);   /* as the runtime does: one when the caller sent none */
  /* A unary call without a deadline gets the gateway's 30 s, as forward.c. */
  int own_timeout = !ps->timeout[0] && !rule->stream;
  if (own_timeout) snprintf(ps->timeout, sizeof ps->timeout, "30S");
  nghttp2_nv nv[16] = {NV(":method", "POST"), NV(":scheme", "http"), NV(":authority", k_services[svc]),
                       NV(":path", ps->path), NV("content-type", "application/grpc"), NV("te", "trailers"),
                       NV("x-accolade-org", ps->id.org), NV("x-accolade-user", ps->id.user),
                       NV("x-accolade-role", identity_role_name(ps->id.role)), NV("x-accolade-team", ps->id.team),
                       NV("x-accolade-ts", ts), NV("x-accolade-sig", sig), NV_ONCE("x-request-id", ps->reqid)};
  size_t n = 13;
  /* The gateway's 30S repeats; a caller's remaining time differs each call. */
  if (own_timeout) nv[n++] = (nghttp2_nv)NV("grpc-timeout", ps->timeout);
  else if (ps->timeout[0]) nv[n++] = (nghttp2_nv)NV_ONCE("grpc-timeout", ps->timeout);
  if (ps->enc[0]) nv[n++] = (nghttp2_nv)NV("grpc-encoding", ps->enc);
  if (ps->accept_enc[0]) nv[n++] = (nghttp2_nv)NV("grpc-accept-encoding", ps->accept_enc);
  if (front_submit(ps, up, nv, n) != 0) front_ps_refuse(ps, RPC_UNAVAILABLE, "UNAVAILABLE: cannot reach the service");
}
