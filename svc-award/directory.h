/* directory.h - svc-nomination's members directory, read over gRPC (svc-award
 * never reads another service's schema). Failures other than NOT_FOUND fail
 * the call with UNAVAILABLE (or DEADLINE_EXCEEDED) naming |field|. */
#ifndef AWARD_DIRECTORY_H
#define AWARD_DIRECTORY_H

#include <stddef.h>

#include "accolade/v1/nomination.pb-c.h"
#include "rpc.h"

#define DIRECTORY_PAGES 25   /* 25 pages of 200: at most 5,000 members read */

/* dir_get: one member, read as the caller or, with |as_service|, as svc-award
 * (for callers the directory does not admit, such as an integration).
 * RPC_NOT_FOUND when the directory does not know |id|. */
int dir_get(rpc_ctx *ctx, int as_service, const char *field, const char *id, Accolade__V1__Member **out);
/* dir_list: the active members of |team| ("" every team), read as the caller. */
int dir_list(rpc_ctx *ctx, const char *field, const char *team, Accolade__V1__Member ***out, size_t *n);

#endif
