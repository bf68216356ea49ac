/* flow.h - the recognition flow through one or more gateways, for tests
 * that drive many recognitions (Redis Cluster, several replicas).
 *
 * An org set up by th_org_setup has a manager "mgr", members m0..m<n-1>
 * reporting to it and givers g0..g<n-1> who nominate them, with the
 * monthly allowance and the pair cap at their maximum (100). Recognition
 * number k is giver g<k % givers> nominating m<k % members> for
 * deal-closer (50 points) with request id "<org>-<k>", approved by mgr. */
#ifndef ACCOLADE_TEST_FLOW_H
#define ACCOLADE_TEST_FLOW_H

#include "accolade/v1/nomination.pb-c.h"
#include "harness.h"

#define TH_FLOW_POINTS 50   /* deal-closer's default */

typedef struct th_gw {
  const char *addr[4];   /* gateways; call i goes to addr[i % n] */
  int n;
  const char *secret;    /* their HS256 secret */
} th_gw;

/* th_gw_call makes one call through gateway |i % n| as |org|/|user|/|role|,
 * again on UNAVAILABLE or DEADLINE_EXCEEDED up to |tries| times in all
 * (100 ms apart), counting the extra tries in |*retries| (may be NULL). */
int th_gw_call(const th_gw *g, int i, const char *org, const char *user, const char *role, const char *method,
               const void *req, const ProtobufCMessageDescriptor *d, int tries, int *retries, arena *a,
               void **out, rpc_status *st);

/* th_org_setup creates |org|'s members and givers and raises its limits;
 * fails the test when a call fails. */
void th_org_setup(const th_gw *g, const char *org, int members, int givers);

/* th_nominate: |giver| nominates |nominee| for |badge| through gateway
 * |i % n| (th_gw_call's tries), the nomination in |*out| (in |a|). */
int th_nominate(const th_gw *g, int i, const char *org, const char *giver, const char *nominee, const char *badge,
                const char *request_id, int tries, int *retries, arena *a, Accolade__V1__Nomination **out);

/* th_recognize runs recognition |k| of |org| through gateway |k % n|:
 * RPC_OK, or the code of the call that failed after |tries| tries (a
 * retried review finding the nomination approved is fine). */
int th_recognize(const th_gw *g, const char *org, int k, int members, int givers, int tries, int *retries);

/* th_board_matches_ledger: |org|'s all-time members board, read through the
 * gateway, holds exactly the points the ledger (leaderboard.ledger in
 * |dsn|) sums per recipient, and |want| awards are in the ledger; |why|
 * says what was seen. */
int th_board_matches_ledger(const th_gw *g, const char *dsn, const char *org, long want, char *why, size_t cap);

/* th_count: the integer a SQL query on |dsn| returns (-1 on error). */
long long th_count(const char *dsn, const char *sql);

#endif
