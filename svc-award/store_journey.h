/* store_journey.h - the SQL of badge journeys (migrations/005_journeys.sql)
 * and the step checks they need. Same conventions as store.h. */
#ifndef AWARD_STORE_JOURNEY_H
#define AWARD_STORE_JOURNEY_H

#include <stddef.h>
#include <stdint.h>

#include "accolade/v1/signal.pb-c.h"
#include "rpc.h"

/* jr_store_insert stores |j| and its steps; |*out| is the stored journey. */
int jr_store_insert(rpc_ctx *ctx, const char *org, const Accolade__V1__Journey *j, Accolade__V1__Journey **out);
/* jr_store_update writes every field of |j| (already merged), steps replaced. */
int jr_store_update(rpc_ctx *ctx, const char *org, const Accolade__V1__Journey *j, Accolade__V1__Journey **out);
int jr_store_get(rpc_ctx *ctx, const char *org, const char *id, Accolade__V1__Journey **out);
/* jr_store_list: by creation, keyset paged, with their steps. */
int jr_store_list(rpc_ctx *ctx, const char *org, int include_inactive, int64_t after_us, const char *after_id,
                  int limit, Accolade__V1__Journey ***out, int64_t **cursors, size_t *n);

/* jr_store_rule_exists: whether an undeleted milestone rule (|signal| 0) or
 * signal rule (1) |id| exists in the org; its name in |*name|. */
int jr_store_rule_exists(rpc_ctx *ctx, const char *org, int signal, const char *id, int *yes, char **name);
/* jr_store_has_badge: the member's unrevoked awards of |badge_id|. */
int jr_store_badge_count(const char *org, const char *member, const char *badge_id, int64_t *count);
/* jr_store_earned: whether the member holds an award whose source starts with |prefix|. */
int jr_store_earned(const char *org, const char *member, const char *prefix, int *yes);
/* jr_store_tenure_days: days since the start_date of the member's latest
 * MEMBER_HIRED signal; |*known| 0 when there is none. */
int jr_store_tenure_days(const char *org, const char *member, int *known, int64_t *days);

#endif
