/* store.h - every SQL statement of svc-notify (schema "notify").
 *
 * Functions return RPC_OK or the pg.h code of the failure (handlers map it
 * with pg_fail). Rows are built in the caller's arena. The intake functions
 * run inside the caller's pg_tx transaction.
 */
#ifndef NOTIFY_STORE_H
#define NOTIFY_STORE_H

#include <stddef.h>
#include <stdint.h>

#include "accolade/v1/events.pb-c.h"
#include "accolade/v1/notify.pb-c.h"
#include "arena.h"
#include "delivery.h"

/* Intake (inside one transaction). */
int store_event_claim(const char *org, const char *event_id, int *first);
int store_inbox_add(const char *org, const char *user, const char *event_id, const char *kind, const char *title,
                    const char *body);
int store_endorsed_add(arena *a, const char *org, const Accolade__V1__NominationEvent *n, int64_t approved_ms);
int store_recognition_add(const char *org, const Accolade__V1__AwardRecord *r, int64_t granted_ms);

/* A batch of events (PublishEvents; store_intake.c): its first statement
 * takes the inbox locks of its |n| recipients (those store_inbox_add
 * takes), in one order whatever theirs, and says whether the org has
 * channels (else no delivery is queued, nor a body rendered). */
int store_intake_begin(arena *a, const char *org, const char *const *users, size_t n, int *channels);
/* store_events_claim_many: store_event_claim for |n| events in one
 * statement; |*first[i]| for the first of equal ids only. */
int store_events_claim_many(arena *a, const char *org, const char *const *ids, size_t n, int **first);
/* The inbox rows and recognitions a batch writes at its end, one statement
 * each (arena arrays of |cap|). */
typedef struct store_intake_rows {
  size_t n_inbox, n_recog;
  const char **user, **event_id, **kind, **title, **body;
  const Accolade__V1__AwardRecord **recog;
  const char **recog_ms;
} store_intake_rows;
void store_intake_rows_init(arena *a, store_intake_rows *rows, size_t cap);
int store_intake_rows_write(arena *a, const char *org, const store_intake_rows *rows);
int store_recognition_revoke(const char *org, const char *award_id);
/* One message in each channel format: a channel gets the body of its own. */
typedef struct store_bodies {
  const char *json, *slack, *teams;
} store_bodies;
int store_deliveries_queue(const char *org, const char *event_id, const store_bodies *bodies, const char *kind,
                           const char *team);

/* Inbox and preferences. */
int store_unread(const char *org, const char *user, int64_t *n);
/* store_inbox_page: up to |limit| rows with id < |before|, newest first. */
int store_inbox_page(arena *a, const char *org, const char *user, int64_t before, int unread_only, int limit,
                     Accolade__V1__Notification ***out, size_t *n);
/* store_inbox_after: up to |limit| rows with id > |after|, oldest first. */
int store_inbox_after(arena *a, const char *org, const char *user, int64_t after, int limit,
                      Accolade__V1__Notification ***out, size_t *n);
int store_inbox_last_id(const char *org, const char *user, int64_t *id);
int store_mark_read(const char *org, const char *user, int all, const int64_t *ids, size_t nids, int64_t *marked);
/* store_prefs_get fills |out|; a member without a row has the defaults. */
int store_prefs_get(arena *a, const char *org, const char *user, Accolade__V1__Preferences *out);
int store_prefs_put(arena *a, const char *org, const char *user, const Accolade__V1__Preferences *p);

/* Channels and deliveries. */
/* store_channel_create: PG_NO_ROW when the org has NOTIFY_MAX_CHANNELS
 * channels already, or made NOTIFY_MAX_CHANNELS_A_DAY in the last 24 h. */
int store_channel_create(arena *a, const char *org, const Accolade__V1__Channel *c, Accolade__V1__Channel **out);
/* store_channel_page: up to |limit| channels created after |after_us|, with
 * |*cursors| (same length) the creation time of each in microseconds. */
int store_channel_page(arena *a, const char *org, int64_t after_us, int limit, Accolade__V1__Channel ***out,
                       int64_t **cursors, size_t *n);
int store_channel_delete(const char *org, const char *id, int *found);
int store_channel_exists(const char *org, const char *id, int *found);
/* store_channel_mail_to: the list address of email channel |id|, or NULL
 * when it is no (live) email channel of |org|. */
int store_channel_mail_to(arena *a, const char *org, const char *id, char **to);
/* store_delivery_test queues |body| to channel |id|; *delivery_id 0 when no such channel. */
int store_delivery_test(const char *org, const char *id, const char *event_id, const char *body,
                        int64_t *delivery_id);
int store_delivery_page(arena *a, const char *org, const char *channel_id, int64_t before, int limit,
                        Accolade__V1__Delivery ***out, size_t *n);

/* The webhook and email deliveries' lanes (webhook.c). */
typedef enum {
  LANE_MAIN,   /* webhooks to channels not marked slow */
  LANE_SLOW,   /* webhooks to channels marked slow */
  LANE_MAIL,   /* emails: to members, and to email channels */
} delivery_lane;

/* store_delivery_statements gives the delivery engine (delivery.h) the
 * statements of the webhook and email deliveries: claim (id, attempts, url or
 * "mailto:" list, secret, body, channel id or ""), delivered, failed; the
 * claim takes |lane|'s deliveries only. */
void store_delivery_statements(delivery_engine *e, delivery_lane lane);
/* store_channels_slow marks the |n| channels |ids| slow for |hold_s|
 * seconds from now. */
int store_channels_slow(arena *a, const char *const *ids, size_t n, int hold_s);

/* The digest. |period_params| are {org, first day "YYYY-MM-DD", team ("" for
 * the whole org), the day after the last}. */
int store_digest_totals(const char *const *period_params, int64_t *awards, int64_t *points, int64_t *recipients);
int store_digest_top(arena *a, const char *const *period_params, Accolade__V1__DigestItem ***out, size_t *n);
int store_digest_new_holders(arena *a, const char *const *period_params, Accolade__V1__DigestItem ***out, size_t *n);
int store_digest_endorsed(arena *a, const char *const *period_params, Accolade__V1__DigestEndorsed ***out, size_t *n);
/* store_digest_category_weeks: awards per ISO week, category and badge for
 * the 12 weeks up to the one holding the day before |end| (every week has
 * at least one row, with 0 awards when it had none); |*badge_ids| parallel. */
int store_digest_category_weeks(arena *a, const char *org, const char *team, const char *end,
                                Accolade__V1__DigestCategoryWeek ***out, char ***badge_ids, size_t *n);
/* store_digest_channel_orgs: orgs with a webhook channel that takes the digest. */
int store_digest_channel_orgs(arena *a, char ***orgs, size_t *n);
/* store_digest_sent: whether |org|'s channels had the digest of |week|. */
int store_digest_sent(const char *org, const char *week, int *sent);
/* store_local_clock: now in time zone |tz|: its ISO week, ISO weekday (1
 * Monday) and hour. */
int store_local_clock(const char *tz, char *week, size_t cap, int *isodow, int *hour);
/* store_digest_queue records |week| as sent for |org| and queues |bodies| to
 * its digest channels, atomically; *queued is 0 (and nothing is queued) when
 * it was sent already, by this run or another replica's. */
int store_digest_queue(const char *org, const char *week, const store_bodies *bodies, const char *event_id,
                       int *queued);

/* The digest by email. */
typedef struct store_mail {
  const char *user_id, *to, *body;   /* a member, their address, the message */
} store_mail;
typedef struct store_mail_channel {
  const char *id, *to, *team;        /* an email channel: its list address and team */
  const char *body;                  /* the message, filled in by the caller */
} store_mail_channel;
/* store_mail_orgs: orgs with awards in the last 15 days (a digest to mail, maybe). */
int store_mail_orgs(arena *a, char ***orgs, size_t *n);
/* store_mail_pending: |org| had awards in |week| and its digest is not mailed yet. */
int store_mail_pending(const char *org, const char *week, int *pending);
/* store_mail_channels: |org|'s email channels that take the digest. */
int store_mail_channels(arena *a, const char *org, store_mail_channel **out, size_t *n);
/* store_mail_queue records |week| as mailed for |org| and queues |event| to
 * every member of |mails| who has not turned the digest off and to every
 * channel of |chans|, atomically; *queued is 0 when another run (or
 * replica) had done it already, and then nothing is queued. */
int store_mail_queue(const char *org, const char *week, const char *event, const store_mail *mails, size_t nm,
                     const store_mail_channel *chans, size_t nc, int *queued);

#endif
