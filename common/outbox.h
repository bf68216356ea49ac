/* outbox.h - events and commands that leave a service, exactly as its state.
 *
 * outbox_enqueue writes a row in the caller's open transaction: the message is
 * sent only if that transaction commits. Dispatcher threads deliver the rows
 * with the delivery engine (delivery.h): claimed 16 at a time with a lease
 * (SKIP LOCKED, so several replicas share the work; if its claimer dies, a
 * claimed row comes due again 6 s times its place in the round after the
 * claim), the round's 16 calls in flight at once, each made over gRPC as the
 * service acting for the row's org with no transaction open, and the round's
 * outcomes recorded (its delivered rows in one transaction). Failures, reply-hook
 * failures included, count an attempt and are retried with exponential
 * backoff (100 ms doubling, capped at 30 s) until the last attempt
 * (outbox_set_max_attempts, 100 by default), which dead-letters the row; a
 * permanent error (INVALID_ARGUMENT, NOT_FOUND, PERMISSION_DENIED,
 * UNAUTHENTICATED, FAILED_PRECONDITION, ALREADY_EXISTS) dead-letters it at once. Delivery is at least once: receivers must be
 * idempotent. A dispatcher sleeps until a transaction of its process that
 * enqueued commits (then one is woken, with no NOTIFY), or until a NOTIFY
 * from a process without dispatchers (one LISTEN connection per process),
 * or 250 ms pass; so a committed event leaves in milliseconds.
 *
 * Batches: a method given a batch form (outbox_batch_as) has a round's rows
 * for one target and org sent as one call of the batch method, which the
 * receiver applies in one transaction (one commit for many events) and
 * answers with a status per row; each row's status is then recorded as if
 * it had gone alone, its reply hook included (run with the row's own reply,
 * which the batch's result for it carries). A receiver that does not know
 * the batch method (UNIMPLEMENTED: an older one), or refuses the batch as a
 * whole with a permanent error, or answers with the wrong number of results
 * (or without the reply a delivered row's hook needs), gets the rows again
 * one call each (after UNIMPLEMENTED, without trying a batch for a minute).
 */
#ifndef ACCOLADE_OUTBOX_H
#define ACCOLADE_OUTBOX_H

#include <protobuf-c/protobuf-c.h>

#include <stddef.h>
#include <stdint.h>

#include "arena.h"

/* A target is a logical service name ("award", "leaderboard", "notify") resolved
 * to an address by the resolver given to outbox_start (svc_addr). */
typedef const char *(*outbox_resolve_fn)(const char *target);

/* outbox_enqueue adds a call of |service|'s method |method| (its name:
 * "GrantAward") with |msg| for |org|, on this thread's connection (inside
 * the caller's pg_tx). The method and the message's type are checked against
 * the descriptors; the target is the service's logical name, its short name
 * lower-cased without "Service" ("AwardService" -> "award"), resolved by the
 * resolver given to outbox_start. The row goes to Postgres with the
 * transaction's next statement or its COMMIT (pg_exec_later): a failure
 * to write it fails the transaction. Returns RPC_OK, RPC_UNAVAILABLE or
 * RPC_INTERNAL (logged), also for a method or type that does not fit. */
int outbox_enqueue(const ProtobufCServiceDescriptor *service, const char *method, const char *org,
                   const ProtobufCMessage *msg);
/* outbox_enqueue_many is outbox_enqueue for each of the |n| |msgs| (all
 * for |org|), in one statement. */
int outbox_enqueue_many(const ProtobufCServiceDescriptor *service, const char *method, const char *org,
                        const ProtobufCMessage *const *msgs, size_t n);

/* A reply hook sees the reply to a delivered call, with its request, inside
 * the transaction that marks the row delivered: what it writes commits with
 * the delivery. Returning non-zero (or failing a statement) rolls both back,
 * counts an attempt, and the call is made again later (hooks must be
 * idempotent) until the last attempt dead-letters the row. */
typedef int (*outbox_reply_fn)(const char *org, const uint8_t *req, size_t req_len, const uint8_t *reply,
                               size_t reply_len);
/* outbox_on_reply registers |fn| for replies to |service|'s |method| (its
 * name; before outbox_start). The registration lives as long as the process. */
void outbox_on_reply(const ProtobufCServiceDescriptor *service, const char *method, outbox_reply_fn fn);

/* outbox_batch_as makes |service|'s |batch_method| the batch form of its
 * |method| (names; before outbox_start): its request's field 1 repeats
 * |method|'s request (the rows' payloads), its reply's field 1 repeats a
 * message of {int32 code = 1; string message = 2}, a gRPC status per row in
 * the request's order. If that message also has a field of |method|'s reply
 * type (GrantAwardResult.response), it is the row's reply when its code is
 * 0, and the method's reply hook (outbox_on_reply) runs on it for each
 * delivered row; without such a field, a method with a reply hook is never
 * batched. Returns 0, or -1 (logged) when the methods do not have those
 * shapes. */
int outbox_batch_as(const ProtobufCServiceDescriptor *service, const char *method, const char *batch_method);

/* outbox_start starts |threads| dispatcher threads (0 = 1) for this process's
 * schema; |service_name| signs the calls. outbox_stop stops and joins them. */
int outbox_start(const char *service_name, outbox_resolve_fn resolve, int threads);
void outbox_stop(void);

/* outbox_set_max_attempts: attempts before a row is dead-lettered (> 0). */
void outbox_set_max_attempts(int n);

/* outbox_set_batch: the most rows in one batch call (> 0; 1: every row a
 * call of its own; 16 by default: a round's rows, the most it can be). */
void outbox_set_batch(int n);

/* Admission: a call that will write rows here waits first, while the
 * dispatchers are behind, so that a burst of calls cannot queue more work
 * than they deliver: what a call announces becomes visible within about the
 * admission lag of its commit, and the call takes longer instead.
 * outbox_admit waits while a row has been due for longer than the admission
 * lag (250 ms by default) without a dispatcher taking it (measured every
 * 50 ms), for at most the admission wait (1000 ms) and nine tenths of
 * |remaining_ms| (the caller's time left; INT64_MAX: none), then lets the
 * call go on whatever the lag: a call is slowed, never refused. Rows
 * waiting for a retry after a failed delivery are not due and hold nothing
 * back, nor does a lag not measured for a second (Postgres away). Returns
 * the ms waited (counted in accolade_outbox_admission_wait_ms_total). Call
 * it with no transaction open and no lock held. Without dispatchers
 * (outbox_start) it returns at once. */
int64_t outbox_admit(int64_t remaining_ms);
/* outbox_set_admission: the lag past which calls wait, and the longest
 * wait (ms; 0 for either: no admission); |waiters|, the most calls that
 * wait at once (they hold worker threads; svc.c keeps two workers free):
 * past it a call goes on at once (accolade_outbox_admission_full_total). */
void outbox_set_admission(int lag_ms, int wait_ms, int waiters);

/* outbox_dispatch_once delivers the due rows once on the calling thread and
 * returns how many were attempted, or -1 when Postgres is unreachable (tests). */
int outbox_dispatch_once(const char *service_name, outbox_resolve_fn resolve);

#endif
