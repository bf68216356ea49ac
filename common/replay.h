/* replay.h - a retried call answers what its first attempt answered.
 *
 * A client whose reply was lost (a gateway restart, a Postgres restart a few
 * ms after the commit) retries; for a call that changes state the second
 * attempt must not read as a failure ("the nomination is not pending") or do
 * the work twice. So every unary method of a service with a schema whose
 * request has a `request_id` field (proto/README.md) gets this, from the
 * runtime, before its handler: a non-empty request_id (1..128 of
 * [A-Za-z0-9._:@-]) seen before from the same caller (org and user) on the
 * same method answers the reply stored then, byte for byte; else the handler
 * runs and a success is stored (the common migration request_reply, kept 7
 * days). Failures are not stored: a retry after one runs again. An empty
 * request_id is no key: the call runs as it comes.
 *
 * A method whose handler keys its write by the request_id itself, read in
 * its own transaction (RPC_UNARY_OWN_REPLAY: CreateNomination, where it is a
 * unique key of the nomination), skips this: its retry answers what that key
 * made, as it stands, and the call pays neither the lookup nor the stored
 * reply's transaction.
 *
 * The reply is stored right after the handler's transaction, not inside it:
 * a crash between the two leaves the retry to the handler, which is why
 * state changes also answer their own repetition (ReviewNomination: the same
 * decision by the same reviewer answers the nomination as it stands). For
 * the same reason its commit is not waited on (synchronous_commit off for
 * that one transaction): a stored reply that a Postgres crash loses within
 * its last moments is that case again, and a call costs one durable commit,
 * its handler's, not two.
 */
#ifndef ACCOLADE_REPLAY_H
#define ACCOLADE_REPLAY_H

#include "rpc.h"

/* replay_run runs |fn| on |req| under the rule above (the runtime calls it,
 * rpc_set_replay). */
int replay_run(rpc_ctx *ctx, const void *req, void *resp, rpc_unary_fn fn);

/* replay_key: the request_id of |req| if its type has one ("" if empty), or
 * NULL when the type has no such field. */
const char *replay_key(const ProtobufCMessage *req);

#endif
