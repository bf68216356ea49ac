/* award.h - svc-award's handlers and what they share.
 *
 * Decisions the issue leaves open:
 * - A new org's five default badges are created the first time any call
 *   names that org (idempotent and race-free: an insert that does nothing
 *   on a conflict).
 * - Reads need a verified identity of the org (any role); catalog and rule
 *   writes, revocation and direct grants need admin; GrantAward also accepts
 *   the service role (svc-nomination's outbox); GetAwardStats needs manager
 *   or admin.
 * - GrantAward on a retired badge is FAILED_PRECONDITION; a retired badge
 *   stays on profiles and in lists of awards.
 * - GrantAwards takes up to 100 GrantAwardRequests (svc-nomination's
 *   outbox sends a round's approvals so) from the same callers as GrantAward
 *   (the gateway does not route it) and applies them in one transaction
 *   (batch.h): every grant's badge and recipient locks first, in one order,
 *   then one query finding the awards made before, one statement making
 *   the new ones (badges with caps: grant by grant, counting), the milestone
 *   rules evaluated per recipient as GrantAward does (they see every award of
 *   the batch), and one statement per receiver for the outbox. A result per
 *   grant: the status GrantAward would have answered and, when OK, its
 *   GrantAwardResponse, so the outbox's reply hook sees each grant's own
 *   reply. A grant refused by its checks fails alone (naming the field); one
 *   whose statements fail rolls the batch back and each grant runs again
 *   alone. Replays are idempotent as for GrantAward.
 * - Caps count unrevoked awards since the start of the current UTC period
 *   (ISO week, month, quarter, year). Grants of one badge in one org are
 *   serialised by an advisory lock so concurrent grants cannot exceed a cap.
 * - Milestones: source_id "rule:<rule id>", so the (org, source, recipient)
 *   unique key makes each milestone once per member, ever. A milestone can
 *   trigger further rules, at most MILESTONE_DEPTH levels deep. Revoking an
 *   award does not revoke milestones already earned (they are history).
 * - Every new award writes two outbox rows in its transaction: RecordAward
 *   (AwardRecord) for svc-leaderboard and PublishEvent(award_granted) for
 *   svc-notify; a revocation writes RetractAward and PublishEvent(award_revoked).
 * - Page tokens are keyset positions (time, id), stable under inserts.
 * - GetProfile: one round trip (profile_read, migration 007) for the totals
 *   the award trigger keeps, recent awards and milestones; that part is kept
 *   in the process and used while the member's and the org's tokens in Redis
 *   are unchanged (profcache.h). Grants, revokes, signal imports and catalog
 *   changes set those tokens before their call returns, or fail UNAVAILABLE
 *   (committed; a repeat sets them). Rule, signal-rule and journey progress
 *   is computed at each read.
 *
 * Open Badges 3.0 credentials (CredentialService, credential.c + ob3.c):
 * - GetCredential turns one public, unrevoked award into an
 *   OpenBadgeCredential (VC data model 2.0 contexts, OB 3.0 context 3.0.3)
 *   signed as a VC-JWT: a compact JWS whose payload is the credential itself
 *   (VC-JOSE-COSE: typ "vc+jwt", cty "vc"), RS256 or ES256 (raw r || s).
 *   Nothing is stored but the award's salt and status bit (fixed on first
 *   export), so every export of an award names the recipient the same way and
 *   a new export is signed by the current key.
 * - Who: the recipient (any role) for their own award, an admin for any award
 *   of the org; another member is PERMISSION_DENIED, another org's award
 *   NOT_FOUND. Private, revoked, or export turned off by the recipient
 *   (UpdateCredentialPreferences; svc-award holds that consent, as it is the
 *   one that enforces it): FAILED_PRECONDITION.
 * - The recipient is named only by an IdentityObject: "sha256$" + hex
 *   SHA-256 of their email (trimmed, lower-cased) + a random 16-byte salt.
 *   The email is NOT stored here: svc-award asks the members directory
 *   (NominationService.GetMember, over gRPC, on behalf of the caller, who may
 *   read any member of the org) at export time. No email: FAILED_PRECONDITION.
 * - Issuer: each org's Profile (UpdateIssuer, admins; an https id, name,
 *   optional image and email) kept in svc-award's schema; unset, the id is
 *   <base>/orgs/<org> and the name the org id. <base> is
 *   ACCOLADE_CREDENTIAL_BASE_URL (CREDENTIAL_DEFAULT_BASE); achievements are
 *   <base>/orgs/<org>/badges/<badge>, the status list
 *   <base>/orgs/<org>/credentials/status/revocation: the org publishes what
 *   GetIssuerKeys and GetCredentialStatusList return at those URLs.
 * - Keys: ACCOLADE_CREDENTIAL_KEYS="kid=path.pem,..." (PEM private keys:
 *   RSA of 2048+ bits signs RS256, EC P-256 ES256), all loaded at start and
 *   all published by GetIssuerKeys (public parts), so a credential signed by
 *   an older key keeps verifying by its kid after a rotation; the signer is
 *   ACCOLADE_CREDENTIAL_SIGNING_KID, else the last listed. Unset: an
 *   ephemeral ES256 key generated at start, with a warning (development only).
 * - Revocation: a W3C Bitstring Status List per org (purpose revocation, at
 *   least 131072 bits, gzip + multibase base64url), built from the awards at
 *   each GetCredentialStatusList and signed as a VC-JWT like the credentials;
 *   a revoked award's credential keeps its valid signature and its bit is on.
 */
#ifndef AWARD_H
#define AWARD_H

#include "accolade/v1/award.pb-c.h"
#include "accolade/v1/credential.pb-c.h"
#include "config.h"
#include "rpc.h"

#define MILESTONE_DEPTH 5
#define GRANT_MAX_RECIPIENTS 20
#define GRANT_MAX_EVIDENCE 5

/* award_begin checks the caller's roles and makes sure the org exists. */
int award_begin(rpc_ctx *ctx, unsigned roles);
#define ANY_ROLE (ROLE_MEMBER | ROLE_MANAGER | ROLE_ADMIN | ROLE_SERVICE)

int catalog_create_badge(rpc_ctx *ctx, const void *req, void *resp);
int catalog_update_badge(rpc_ctx *ctx, const void *req, void *resp);
int catalog_retire_badge(rpc_ctx *ctx, const void *req, void *resp);
int catalog_get_badge(rpc_ctx *ctx, const void *req, void *resp);
int catalog_list_badges(rpc_ctx *ctx, const void *req, void *resp);
int grant_award(rpc_ctx *ctx, const void *req, void *resp);
/* grant_awards: GrantAwards, the batch form of GrantAward that
 * svc-nomination's outbox sends (see the header comment above). */
int grant_awards(rpc_ctx *ctx, const void *req, void *resp);
int grant_revoke(rpc_ctx *ctx, const void *req, void *resp);
int rules_create(rpc_ctx *ctx, const void *req, void *resp);
int rules_get(rpc_ctx *ctx, const void *req, void *resp);
int rules_update(rpc_ctx *ctx, const void *req, void *resp);
int rules_list(rpc_ctx *ctx, const void *req, void *resp);
int rules_delete(rpc_ctx *ctx, const void *req, void *resp);
int reads_list_awards(rpc_ctx *ctx, const void *req, void *resp);
int reads_get_profile(rpc_ctx *ctx, const void *req, void *resp);
/* award_touched: RPC_OK when |rc|, a profcache_touch_* result, is 0; else
 * fails the call UNAVAILABLE (its change is committed; a repeat tells the
 * profile caches). */
int award_touched(rpc_ctx *ctx, int rc);
/* award_org_changed tells the profile caches that the org's catalog
 * changed (badges, rules, signal rules, journeys): RPC_OK, or as
 * award_touched. */
int award_org_changed(rpc_ctx *ctx);
int stats_get(rpc_ctx *ctx, const void *req, void *resp);

/* CredentialService (credential.c). credential_init loads the signing keys
 * (settings below) before serving; non-zero stops the start. */
#define CREDENTIAL_DEFAULT_BASE "https://accolade.localhost"
int credential_init(const config *cfg);
void credential_fini(void);
int credential_get_issuer(rpc_ctx *ctx, const void *req, void *resp);
int credential_update_issuer(rpc_ctx *ctx, const void *req, void *resp);
int credential_get_keys(rpc_ctx *ctx, const void *req, void *resp);
int credential_get(rpc_ctx *ctx, const void *req, void *resp);
int credential_status_list(rpc_ctx *ctx, const void *req, void *resp);
int credential_get_prefs(rpc_ctx *ctx, const void *req, void *resp);
int credential_update_prefs(rpc_ctx *ctx, const void *req, void *resp);
/* award_page reads a keyset page request whose token holds a time (us) and
 * a UUID: |out->limit| from |page_size| (0: 50, at most 200), and where the
 * page starts. Fails the call with INVALID_ARGUMENT on bad input. */
typedef struct award_keyset {
  int limit;
  int64_t after_us;       /* 0 and */
  const char *after_id;   /* NULL: the first page */
} award_keyset;
int award_page(rpc_ctx *ctx, int32_t page_size, const char *token, award_keyset *out);

/* rules_evaluate grants the milestones |member| has now reached (inside the
 * caller's transaction), appending them to |*out| (arena). */
int rules_evaluate(rpc_ctx *ctx, const char *member, const char *team, int depth,
                   Accolade__V1__Award ***out, size_t *n, size_t *cap);
/* emit.c. emit_granted writes the outbox rows announcing |a|, and
 * emit_granted_many those announcing each of the |n| |a| (one statement per
 * receiver); emit_revoked those retracting |a| (|reason| as given); inside
 * the caller's transaction. */
int emit_granted(rpc_ctx *ctx, Accolade__V1__Award *a);
int emit_granted_many(rpc_ctx *ctx, Accolade__V1__Award *const *a, size_t n);
int emit_revoked(rpc_ctx *ctx, const Accolade__V1__Award *a, const char *reason);

struct award_new;
/* emit_auto_grant grants an award no one reviews (a milestone, a signal rule)
 * inside the caller's transaction and announces it: RPC_OK with |*out|,
 * RPC_ALREADY_EXISTS when (source, recipient) has one, RPC_FAILED_PRECONDITION
 * when the badge is retired (nothing is granted). */
int emit_auto_grant(rpc_ctx *ctx, const struct award_new *an, Accolade__V1__Award **out);
/* emit_rule_award grants what a rule earned (a milestone, a signal rule):
 * |badge| to |member| from no giver, public, under |source|; RPC_OK with
 * |*out| the award, or NULL when (source, member) has one or the badge is
 * retired. |milestone_rule_id| may be NULL. */
int emit_rule_award(rpc_ctx *ctx, const char *badge, const char *member, const char *team, const char *source,
                    const char *justification, const char *milestone_rule_id, Accolade__V1__Award **out);
/* award_list_push appends |a| to the arena-grown list (*out, *n, *cap). */
void award_list_push(rpc_ctx *ctx, Accolade__V1__Award *a, Accolade__V1__Award ***out, size_t *n, size_t *cap);

#endif
