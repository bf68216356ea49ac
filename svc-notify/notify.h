/* notify.h - svc-notify's handlers and pieces.
 *
 * Every SQL statement is in store.c (store.h); handlers validate, call the
 * store, map errors to statuses.
 *
 * Decisions:
 * - PublishEvent (service identity) is idempotent on (org, event_id): the
 *   first call writes inbox rows for the recipients (muted kinds skipped) and
 *   a webhook delivery per matching channel, in one transaction; repeats
 *   answer accepted = false and write nothing.
 * - PublishEvents (the outboxes' batches, batch.h) does the same for many
 *   events in one transaction: one statement takes the recipients' inbox
 *   locks in one order (no deadlock between batches) and asks whether the
 *   org has channels (none: no webhook body is rendered), one claims the
 *   events, one writes the inbox rows, one the recognitions (store_intake.c).
 * - Recipients: nomination_created and review_overdue go to the reviewers,
 *   nomination_approved/rejected to the nominator, award_granted/revoked to
 *   the recipient, nudges to the members named.
 * - Subscribe streams the caller's inbox rows with id > cursor in id order,
 *   then new ones as they commit, with heartbeats; a client that resumes with
 *   the last id it saw misses nothing and sees nothing twice. A stream queries
 *   Postgres when woken by LISTEN/NOTIFY for its member (live.c), not on a
 *   timer: idle streams cost no queries (one every 5 s as a safety net).
 * - Webhooks: each channel has a format. "json" (the default) is JSON that
 *   Slack-style incoming webhooks accept ("text", plus structured fields);
 *   "slack" is Block Kit (header, who and badge, the justification quoted,
 *   a button to ACCOLADE_NOTIFY_LINK_BASE/recognitions/<id> when that is
 *   set); "teams" a message with one Adaptive Card 1.4 (render.h). The
 *   intake renders all three and each channel's row takes its own. Signed
 *   with headers X-Accolade-Timestamp and
 *   X-Accolade-Signature: sha256=HMAC(secret, timestamp + "." + body).
 *   Failures and 5xx are retried with backoff (1 s doubling, 5 attempts;
 *   ACCOLADE_NOTIFY_RETRY_BASE_MS sets the first delay), then
 *   dead-lettered; 4xx other than 408/429 are dead at once. The URL's host is
 *   resolved and every address checked: private, loopback, link-local and
 *   unspecified addresses are refused unless ACCOLADE_NOTIFY_ALLOW_PRIVATE=1,
 *   and curl connects to the checked address only (CURLOPT_RESOLVE). A
 *   round's deliveries (16 at most, emails too) are posted at once, each
 *   bounded by its timeout (5 s a POST, 15 s an email): an endpoint that
 *   never answers costs its own rows that time, not the rows of other
 *   channels claimed with them. The next round waits for the round, so a
 *   channel whose delivery took 2 s or more (to answer or to fail) is marked
 *   slow (channel.slow_until, 10 minutes from its last slow delivery) and its
 *   deliveries go by a second lane, a thread and rounds of its own: a slow
 *   endpoint delays other channels' deliveries by one round when it is
 *   found slow, not every round (accolade_webhook_channels_slowed_total),
 *   and an org has at most NOTIFY_MAX_CHANNELS channels and makes at most
 *   NOTIFY_MAX_CHANNELS_A_DAY (CreateChannel past either:
 *   RESOURCE_EXHAUSTED), so one org's new slow endpoints hold up a bounded
 *   number of rounds a day.
 *   Emails (member mails, and email channels' list addresses) have a third
 *   lane: one SMTP relay serves them all, and a week's digest mails, or a
 *   relay slow to answer, hold up no webhook (and are never marked slow).
 * - The digest is built from the public awards svc-notify has seen (top
 *   recognitions by points, first-time badge holders), the public
 *   nominations approved that week with the endorsements they gathered (the
 *   NominationApproved event carries the count), and the week's movers: the
 *   weekly member board of svc-leaderboard (GetTop, this week and the week
 *   before). If svc-leaderboard does not answer, the digest says so
 *   (movers_unavailable) and is otherwise whole. A digest covers an ISO week
 *   or a calendar month (UTC bounds) and also carries badge images (svc-award
 *   ListBadges), awards by category for 12 weeks, participation (svc-nomination
 *   GetParticipationStats) and the period's board of teams (or of the team's
 *   members); each missing source is said so in the render, never an error.
 *   GetDigest with format HTML or TEXT renders it (render.c: one
 *   self-contained HTML email with inline SVG charts, and its plain text).
 * - The weekly job (every ACCOLADE_NOTIFY_DIGEST_SCAN_MS, default 1 h) asks
 *   svc-nomination for each org's schedule (time zone, ISO weekday, hour;
 *   default Monday 00:00 UTC) and from that local hour on sends the local
 *   week before: to channels whose kinds include "digest" (digest_sent) and,
 *   when ACCOLADE_SMTP_URL is set, by email (mail.c, digest_mailed) to each
 *   active member with an address who has not turned the digest off and to
 *   email channels (mailto: list addresses; a team's gets the team's digest).
 *   One row per org and week, inserted in the same transaction as the
 *   deliveries, makes it once across replicas and restarts; member mails are
 *   deliveries unique per member and week, with the webhooks' lease, retries
 *   and dead-letter (SMTP 4xx retried, 5xx dead). Nudges are svc-nomination's
 *   weekly job; they arrive here as events.
 */
#ifndef NOTIFY_H
#define NOTIFY_H

#include "accolade/v1/events.pb-c.h"
#include "accolade/v1/notify.pb-c.h"
#include "rpc.h"

#include <time.h>

#define ANY_ROLE (ROLE_MEMBER | ROLE_MANAGER | ROLE_ADMIN)

int intake_publish(rpc_ctx *ctx, const void *req, void *resp);
int intake_publish_many(rpc_ctx *ctx, const void *req, void *resp);   /* PublishEvents */
int inbox_list(rpc_ctx *ctx, const void *req, void *resp);
int inbox_mark_read(rpc_ctx *ctx, const void *req, void *resp);
int inbox_subscribe(rpc_ctx *ctx, const void *req, rpc_stream *s);
int prefs_get(rpc_ctx *ctx, const void *req, void *resp);
int prefs_update(rpc_ctx *ctx, const void *req, void *resp);
/* notify_check_kinds: every one of |list| is an event kind of the one list
 * (inbox.c) that preferences mute and channels subscribe to. */
int notify_check_kinds(rpc_ctx *ctx, const char *field, char *const *list, size_t n);
int channels_create(rpc_ctx *ctx, const void *req, void *resp);
int channels_list(rpc_ctx *ctx, const void *req, void *resp);
int channels_delete(rpc_ctx *ctx, const void *req, void *resp);
int channels_test(rpc_ctx *ctx, const void *req, void *resp);
int digest_get(rpc_ctx *ctx, const void *req, void *resp);
int digest_post_due(void);

/* A digest's period: an ISO week or a calendar month, [start, end) in UTC. */
typedef struct digest_period {
  char week[16], month[16];   /* one of them set */
  time_t start, end;
} digest_period;
/* digest_period_parse reads |week| ("2026-W47") or, when it is empty, |month|
 * ("2026-11"); 0, or -1 when that is no real week or month. */
int digest_period_parse(const char *week, const char *month, digest_period *out);
/* digest_period_before: the week or month before |p|. */
void digest_period_before(const digest_period *p, digest_period *out);
/* digest_link_base: ACCOLADE_NOTIFY_LINK_BASE, where people open Accolade ("": no links). */
const char *digest_link_base(void);
/* digest_build fills |out| (memory from ctx's arena) for |org|, period |p|
 * and |team| ("" for the whole org), asking the other services for images,
 * participation and boards. RPC_OK or a pg.h code. */
int digest_build(rpc_ctx *ctx, const char *org, const digest_period *p, const char *team, Accolade__V1__Digest *out);
/* digest_due: whether |org|'s weekly digest is due by its schedule (time
 * zone, ISO weekday and hour in svc-nomination's org settings: due from that
 * local day and hour on), and then, in |out|, which week: the one before the
 * local week. 1 due, 0 not yet, -1 unknown (svc-nomination did not answer:
 * nothing goes out early or late by a guess; the next scan asks again).
 * Each job keeps a row per org and week, so it sends once across replicas. */
int digest_due(rpc_ctx *ctx, const char *org, digest_period *out);
/* notify_adopt: |s| (malloc'd, from render.h) copied into |a|, then freed. */
char *notify_adopt(arena *a, char *s);

/* mail.c: the digest by email (SMTP through libcurl: STARTTLS when the
 * server offers it, AUTH with ACCOLADE_SMTP_USER/PASSWORD when set). Off
 * unless ACCOLADE_SMTP_URL (smtp://host:port or smtps://) is set. */
void mail_start(void);
int mail_configured(void);
/* mail_send delivers |message| to |rcpt| within MAIL_SEND_TIMEOUT_MS;
 * returns an HTTP-like status for the delivery worker's judge: 200 sent, 503
 * a transient SMTP refusal (4xx), 422 a permanent one (5xx), 0 with |err|
 * when no SMTP answer came. */
#define MAIL_SEND_TIMEOUT_MS 15000L
/* The most channels (webhooks and email lists) an org has at once, and
 * makes in 24 hours (deleted or not): each is a delivery per event, and each
 * new endpoint that turns out slow holds up one round of the main lane
 * (webhook.c), so an org that deletes and makes again is bounded too. */
#define NOTIFY_MAX_CHANNELS 50
#define NOTIFY_MAX_CHANNELS_A_DAY 100
/* Webhook and email deliveries a lane claims a round (and posts at once). */
#define WEBHOOK_ROUND 16
long mail_send(const char *rcpt, const char *message, char *err, size_t cap);
/* mail_digest_due queues last week's digest, once per org and week (across
 * replicas), to every active member with an address who has not turned the
 * digest off, and to the org's email channels (a team's channel gets the
 * team's digest); returns how many orgs it queued, -1 on a failure. */
int mail_digest_due(void);
/* mail_test_message: a short test email to |to| (TestChannel on an email channel). */
char *mail_test_message(arena *a, const char *to, const char *id);

/* live.c: Subscribe wake-ups. The intake sends pg_notify(LIVE_CHANNEL,
 * 'org/user') for each inbox row; live_version moves when that member's inbox
 * may have changed (every batch of notifications kicks the stream scheduler). */
#define LIVE_CHANNEL "accolade_inbox"
#define LIVE_FALLBACK_MS 5000
void live_start(void);
void live_stop(void);
uint64_t live_version(const char *org, const char *user);
int channels_deliveries(rpc_ctx *ctx, const void *req, void *resp);

/* webhook_url_allowed resolves |url| and checks its addresses; fills
 * |resolve| with "host:port:addr" for CURLOPT_RESOLVE. 0 or -1 with |why|. */
int webhook_url_allowed(const char *url, int allow_private, char *resolve, size_t cap, const char **why);
/* webhook_sign writes "sha256=<hex>" for |ts| and |body|. */
void webhook_sign(const char *secret, const char *ts, const char *body, char out[80]);
void webhook_start(int allow_private);
void webhook_stop(void);
int webhook_allow_private(void);

#endif
