/* nom.h - svc-nomination's handlers and what they share.
 *
 * Decisions:
 * - Any verified member may nominate; nominees must be active members of the
 *   org's directory. A nomination is routed to the nominees' managers (from
 *   the directory); with none, any admin reviews. Admins may always review.
 * - Checks, in order: fields; request_id replay (the same nomination back);
 *   badge (AwardService.GetBadge, cached 30 s; retired: FAILED_PRECONDITION);
 *   nominees exist and are active; no self-nomination; no identical open
 *   nomination (ALREADY_EXISTS); the monthly allowance and the per-pair
 *   quarterly cap (RESOURCE_EXHAUSTED naming when it resets). These run under
 *   a per-nominator advisory lock so concurrent requests cannot overspend.
 *   Scarcity caps are svc-award's to enforce at grant time (it answers
 *   CAP_REACHED per recipient). Not done here: that outcome is not fed back,
 *   so a nomination approved past a cap stays APPROVED with no award for the
 *   capped recipient, and nominations are not refused early against caps.
 * - AUTO badges are approved at once. Approval writes the GrantAward command
 *   for svc-award (source_id = nomination id) and a NominationApproved event
 *   in the same transaction; creation writes NominationCreated, rejection
 *   NominationRejected.
 * - Blind review (org setting): reviewers who are not the nominator see no
 *   nominator id.
 * - Private nominations are visible to the nominator, nominees, reviewers
 *   and admins only; others get NOT_FOUND.
 * - ReviewOverdue: a scheduler thread (ACCOLADE_NOMINATION_OVERDUE_SCAN_MS,
 *   default 60 s) sends one reminder per nomination pending longer than the
 *   org's overdue_days, and once per ISO week a Nudge naming the members who
 *   have not nominated anyone for the org's nudge_after_weeks (svc-notify puts
 *   it in their inboxes).
 */
#ifndef NOMINATION_NOM_H
#define NOMINATION_NOM_H

#include "accolade/v1/nomination.pb-c.h"
#include "rpc.h"

#define ANY_ROLE (ROLE_MEMBER | ROLE_MANAGER | ROLE_ADMIN)
#define MAX_NOMINEES 20
#define MAX_EVIDENCE 5

int members_upsert(rpc_ctx *ctx, const void *req, void *resp);
int members_get(rpc_ctx *ctx, const void *req, void *resp);
int members_list(rpc_ctx *ctx, const void *req, void *resp);
int members_deactivate(rpc_ctx *ctx, const void *req, void *resp);
int members_reactivate(rpc_ctx *ctx, const void *req, void *resp);
int nominate_create(rpc_ctx *ctx, const void *req, void *resp);
int nominate_get(rpc_ctx *ctx, const void *req, void *resp);
int nominate_list(rpc_ctx *ctx, const void *req, void *resp);
int nominate_withdraw(rpc_ctx *ctx, const void *req, void *resp);
int nominate_allowance(rpc_ctx *ctx, const void *req, void *resp);
int review_decide(rpc_ctx *ctx, const void *req, void *resp);
int review_endorse(rpc_ctx *ctx, const void *req, void *resp);
int review_reflect(rpc_ctx *ctx, const void *req, void *resp);
int review_reflections(rpc_ctx *ctx, const void *req, void *resp);
int search_recognitions(rpc_ctx *ctx, const void *req, void *resp);
int stats_participation(rpc_ctx *ctx, const void *req, void *resp);
int settings_get(rpc_ctx *ctx, const void *req, void *resp);
int settings_update(rpc_ctx *ctx, const void *req, void *resp);

/* nom_status_name: "APPROVED" for ACCOLADE__V1__NOMINATION_STATUS__APPROVED. */
const char *nom_status_name(int status);
/* nom_visible: may the caller see |n| (already loaded)? Applies blind review. */
int nom_visible(rpc_ctx *ctx, Accolade__V1__Nomination *n, int blind);
/* nom_on_grant_reply: svc-award's answer to an approval's GrantAward (an
 * outbox reply hook): nominees the badge's cap kept from an award are noted
 * on the nomination (not_awarded_ids). */
int nom_on_grant_reply(const char *org, const uint8_t *req, size_t req_len, const uint8_t *reply,
                       size_t reply_len);
/* nom_approve marks |n| approved and sends GrantAward and the approval event
 * through the outbox (inside the caller's transaction). */
int nom_approve(rpc_ctx *ctx, Accolade__V1__Nomination *n, const char *reviewer, const char *comment);
/* nom_event writes a notify event for |n| (kind: created, approved, rejected). */
int nom_event(rpc_ctx *ctx, const Accolade__V1__Nomination *n, const char *kind);

/* nom_event_overdue writes a ReviewOverdue event for |n|. */
int nom_event_overdue(rpc_ctx *ctx, const Accolade__V1__Nomination *n, int64_t days);
void scheduler_start(void);
void scheduler_stop(void);
int scheduler_scan_once(void);
int scheduler_nudge_once(void);

#endif
