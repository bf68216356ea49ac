/* store.c - see store.h. */
#include "store.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "notify.h"
#include "pg.h"

#define INBOX_COLS \
  "id, kind, title, body, event_id, (extract(epoch from created_at) * 1000)::bigint, read_at IS NOT NULL"
#define CHANNEL_COLS \
  "id, url, array_to_string(kinds, ','), team, (extract(epoch from created_at) * 1000)::bigint, format, " \
  "CASE WHEN slow_until > now() THEN (extract(epoch from slow_until) * 1000)::bigint ELSE 0 END"
#define ITEM_COLS                                                                                   \
  "award_id, recipient_id, recipient_team, badge_id, badge_name, points, justification, "          \
  "(extract(epoch from granted_at) * 1000)::bigint, category, source_id, recipient_name"
/* A digest's parameters: $1 org, $2 first day, $3 team ("" for all), $4 the day after the last. */
#define PERIOD_START "$2::date::timestamptz"
#define PERIOD_END "$4::date::timestamptz"
#define PERIOD_WHERE                                                                               \
  " org = $1 AND NOT revoked AND granted_at >= " PERIOD_START " AND granted_at < " PERIOD_END      \
  " AND ($3 = '' OR recipient_team = $3) "

static const char *i64(arena *a, int64_t v) { return arena_printf(a, "%lld", (long long)v); }

/* split_csv splits |s| (arena memory) at commas into |*out|. */
static void split_csv(arena *a, const char *s, char ***out, size_t *n, size_t max) {
  char *copy = arena_strdup(a, s), *save = NULL;
  *out = ARENA_ARRAY(a, char *, max + 1);
  *n = 0;
  for (char *t = strtok_r(copy, ",", &save); t && *n < max; t = strtok_r(NULL, ",", &save)) (*out)[(*n)++] = t;
}

/* ---- intake ---------------------------------------------------------- */

int store_event_claim(const char *org, const char *event_id, int *first) {
  const char *p[] = {org, event_id};
  PGresult *r;
  int rc = pg_query(&r, "INSERT INTO event_seen (org, event_id) VALUES ($1, $2) ON CONFLICT DO NOTHING RETURNING 1", 2, p);
  if (rc) return rc;
  *first = PQntuples(r) == 1;
  PQclear(r);
  return RPC_OK;
}

int store_inbox_add(const char *org, const char *user, const char *event_id, const char *kind, const char *title,
                    const char *body) {
  /* One writer per inbox at a time: ids then commit in order, so a
   * Subscribe cursor can never pass a row that commits later. The lock (taken
   * before the row's id is drawn: the insert reads it first) and the row are
   * one statement; this member's Subscribe streams are woken after the commit
   * (live.c). */
  const char *q[] = {org, user, event_id, kind, title, body};
  int rc = pg_exec("WITH l AS (SELECT pg_advisory_xact_lock(hashtext('notify.inbox'), hashtext($1 || '/' || $2))) "
                   "INSERT INTO inbox (org, user_id, event_id, kind, title, body) "
                   "SELECT $1, $2, $3, $4, $5, $6 FROM l WHERE NOT EXISTS (SELECT 1 FROM preferences "
                   "WHERE org = $1 AND user_id = $2 AND $4 = ANY (muted_kinds)) ON CONFLICT DO NOTHING",
                   6, q);
  if (rc) return rc;
  char who[300];
  snprintf(who, sizeof who, "%s/%s", org, user);
  return pg_notify_after_commit(LIVE_CHANNEL, who);
}

int store_endorsed_add(arena *a, const char *org, const Accolade__V1__NominationEvent *n, int64_t approved_ms) {
  const char *q[] = {org, n->nomination_id, n->badge_name,
                     pg_text_array(a, (const char *const *)n->nominee_ids, n->n_nominee_ids), i64(a, n->endorsements),
                     n->justification, i64(a, approved_ms)};
  return pg_exec("INSERT INTO endorsed (org, nomination_id, badge_name, nominee_ids, endorsements, justification, "
                 "approved_at) VALUES ($1, $2, $3, $4::text[], $5, $6, to_timestamp($7::bigint / 1000.0)) "
                 "ON CONFLICT DO NOTHING",
                 7, q);
}

int store_recognition_add(const char *org, const Accolade__V1__AwardRecord *a, int64_t granted_ms) {
  char pts[24], ms[24];
  snprintf(pts, sizeof pts, "%lld", (long long)a->points);
  snprintf(ms, sizeof ms, "%lld", (long long)granted_ms);
  const char *q[] = {org, a->award_id, a->recipient_id, a->recipient_team, a->badge_id, a->badge_name, pts,
                     a->justification, ms, a->source_id, a->category, a->recipient_name};
  return pg_exec("INSERT INTO recognition (org, award_id, recipient_id, recipient_team, badge_id, badge_name, points, "
                 "justification, granted_at, source_id, category, recipient_name) VALUES ($1,$2,$3,$4,$5,$6,$7,$8, "
                 "to_timestamp($9::bigint / 1000.0), $10, $11, $12) ON CONFLICT DO NOTHING",
                 12, q);
}

int store_recognition_revoke(const char *org, const char *award_id) {
  const char *q[] = {org, award_id};
  return pg_exec("UPDATE recognition SET revoked = true WHERE org = $1 AND award_id = $2", 2, q);
}

/* Each channel gets the body of its format. */
#define BODY_BY_FORMAT(json, slack, teams) \
  "CASE format WHEN 'slack' THEN " slack " WHEN 'teams' THEN " teams " ELSE " json " END"

int store_deliveries_queue(const char *org, const char *event_id, const store_bodies *b, const char *kind,
                           const char *team) {
  const char *q[] = {org, event_id, b->json, kind, team, b->slack, b->teams};
  return pg_exec("INSERT INTO delivery (org, channel_id, event_id, body) SELECT $1, id, $2, " BODY_BY_FORMAT("$3", "$6", "$7")
                 " FROM channel WHERE org = $1 AND deleted_at IS NULL AND (cardinality(kinds) = 0 OR $4 = ANY (kinds)) "
                 "AND (team = '' OR team = $5) AND format <> 'email' ON CONFLICT DO NOTHING",
                 7, q);
}

/* ---- inbox and preferences ------------------------------------------- */

static Accolade__V1__Notification *note_row(arena *a, PGresult *r, int i) {
  Accolade__V1__Notification *n = ARENA_NEW(a, Accolade__V1__Notification);
  accolade__v1__notification__init(n);
  n->id = pg_int(r, i, 0);
  n->kind = arena_strdup(a, pg_str(r, i, 1));
  n->title = arena_strdup(a, pg_str(r, i, 2));
  n->body = arena_strdup(a, pg_str(r, i, 3));
  n->event_id = arena_strdup(a, pg_str(r, i, 4));
  n->create_time_ms = pg_int(r, i, 5);
  n->read = pg_str(r, i, 6)[0] == 't';
  return n;
}
static void *note_item(void *arg, PGresult *r, int i) { return note_row(arg, r, i); }

static int notes(arena *a, const char *sql, int np, const char *const *p, Accolade__V1__Notification ***out,
                 size_t *n) {
  return pg_page(a, sql, np, p, note_item, a, out, -1, NULL, n);
}

/* one_int runs |sql| and reads an int64 from its first cell. */
static int one_int(const char *sql, int np, const char *const *p, int64_t *out) {
  PGresult *r;
  int rc = pg_query(&r, sql, np, p);
  if (rc) return rc;
  *out = PQntuples(r) ? pg_int(r, 0, 0) : 0;
  PQclear(r);
  return RPC_OK;
}

int store_unread(const char *org, const char *user, int64_t *n) {
  const char *p[] = {org, user};
  return one_int("SELECT count(*) FROM inbox WHERE org=$1 AND user_id=$2 AND read_at IS NULL", 2, p, n);
}

int store_inbox_page(arena *a, const char *org, const char *user, int64_t before, int unread_only, int limit,
                     Accolade__V1__Notification ***out, size_t *n) {
  const char *p[] = {org, user, i64(a, before), unread_only ? "true" : "false", i64(a, limit)};
  return notes(a,
               "SELECT " INBOX_COLS " FROM inbox WHERE org=$1 AND user_id=$2 AND id < $3::bigint "
               "AND (NOT $4::boolean OR read_at IS NULL) ORDER BY id DESC LIMIT $5",
               5, p, out, n);
}

int store_inbox_after(arena *a, const char *org, const char *user, int64_t after, int limit,
                      Accolade__V1__Notification ***out, size_t *n) {
  const char *p[] = {org, user, i64(a, after), i64(a, limit)};
  return notes(a,
               "SELECT " INBOX_COLS " FROM inbox WHERE org=$1 AND user_id=$2 AND id > $3::bigint ORDER BY id LIMIT $4",
               4, p, out, n);
}

int store_inbox_last_id(const char *org, const char *user, int64_t *id) {
  const char *p[] = {org, user};
  return one_int("SELECT coalesce(max(id), 0) FROM inbox WHERE org=$1 AND user_id=$2", 2, p, id);
}

int store_mark_read(const char *org, const char *user, int all, const int64_t *ids, size_t nids, int64_t *marked) {
  /* The ids as an int8[] literal. */
  char *arr = malloc(24 * (nids + 1) + 3);
  size_t k = 0;
  arr[k++] = '{';
  for (size_t i = 0; i < nids; i++) k += (size_t)sprintf(arr + k, "%s%lld", i ? "," : "", (long long)ids[i]);
  arr[k++] = '}';
  arr[k] = 0;
  const char *p[] = {org, user, all ? "true" : "false", arr};
  PGresult *r;
  int rc = pg_query(&r,
                    "UPDATE inbox SET read_at = now() WHERE org=$1 AND user_id=$2 AND read_at IS NULL "
                    "AND ($3::boolean OR id = ANY ($4::int8[])) RETURNING id",
                    4, p);
  free(arr);
  if (rc) return rc;
  *marked = PQntuples(r);
  PQclear(r);
  return RPC_OK;
}

int store_prefs_get(arena *a, const char *org, const char *user, Accolade__V1__Preferences *out) {
  const char *p[] = {org, user};
  PGresult *r;
  int rc = pg_query(&r, "SELECT array_to_string(muted_kinds, ','), weekly_digest FROM preferences WHERE org=$1 AND user_id=$2",
                    2, p);
  if (rc) return rc;
  out->weekly_digest = 1;
  if (PQntuples(r)) {
    split_csv(a, pg_str(r, 0, 0), &out->muted_kinds, &out->n_muted_kinds, 16);
    out->weekly_digest = pg_str(r, 0, 1)[0] == 't';
  }
  PQclear(r);
  return RPC_OK;
}

int store_prefs_put(arena *a, const char *org, const char *user, const Accolade__V1__Preferences *pr) {
  const char *p[] = {org, user, pg_text_array(a, (const char *const *)pr->muted_kinds, pr->n_muted_kinds),
                     pr->weekly_digest ? "true" : "false"};
  return pg_exec("INSERT INTO preferences VALUES ($1, $2, $3::text[], $4) ON CONFLICT (org, user_id) "
                 "DO UPDATE SET muted_kinds = $3::text[], weekly_digest = $4",
                 4, p);
}

/* ---- channels and deliveries ----------------------------------------- */

static Accolade__V1__Channel *channel_row(arena *a, PGresult *r, int i) {
  Accolade__V1__Channel *c = ARENA_NEW(a, Accolade__V1__Channel);
  accolade__v1__channel__init(c);
  c->id = arena_strdup(a, pg_str(r, i, 0));
  c->url = arena_strdup(a, pg_str(r, i, 1));
  split_csv(a, pg_str(r, i, 2), &c->kinds, &c->n_kinds, 8);
  c->team = arena_strdup(a, pg_str(r, i, 3));
  c->create_time_ms = pg_int(r, i, 4);
  c->format = arena_strdup(a, pg_str(r, i, 5));
  c->slow_until_ms = pg_int(r, i, 6);
  return c;   /* the secret is write-only */
}
static void *channel_item(void *arg, PGresult *r, int i) { return channel_row(arg, r, i); }

typedef struct channel_tx {
  arena *a;
  const char *const *p;
  Accolade__V1__Channel *made;
} channel_tx;

/* channel_insert: the org's channel lock, then the row unless the org has
 * its most live channels already, or has made its most today (counted after
 * the lock: two creates cannot both pass). */
static int channel_insert(void *arg) {
  channel_tx *t = arg;
  t->made = NULL;
  int rc = pg_exec_later("SELECT pg_advisory_xact_lock(hashtext('notify.channel'), hashtext($1))", 1, t->p, NULL, NULL);
  PGresult *r;
  if (!rc)
    rc = pg_query(&r,
                  "INSERT INTO channel (org, url, secret, kinds, team, format) "
                  "SELECT $1, $2, $3, $4::text[], $5, $6 "
                  "FROM (SELECT count(*) FILTER (WHERE deleted_at IS NULL) AS live, "
                  "  count(*) FILTER (WHERE created_at > now() - interval '1 day') AS today FROM channel WHERE org = $1) n "
                  "WHERE n.live < " PG_SQL_INT(NOTIFY_MAX_CHANNELS) " AND n.today < " PG_SQL_INT(
                      NOTIFY_MAX_CHANNELS_A_DAY) " RETURNING " CHANNEL_COLS,
                  6, t->p);
  if (rc) return rc;
  if (PQntuples(r) == 1) t->made = channel_row(t->a, r, 0);
  PQclear(r);
  return RPC_OK;
}

int store_channel_create(arena *a, const char *org, const Accolade__V1__Channel *c, Accolade__V1__Channel **out) {
  const char *p[] = {org, c->url, c->secret, pg_text_array(a, (const char *const *)c->kinds, c->n_kinds), c->team,
                     *c->format ? c->format : "json"};
  channel_tx t = {a, p, NULL};
  int rc = pg_tx(channel_insert, &t);
  if (rc) return rc;
  *out = t.made;
  return t.made ? RPC_OK : PG_NO_ROW;
}

int store_channel_page(arena *a, const char *org, int64_t after_us, int limit, Accolade__V1__Channel ***out,
                       int64_t **cursors, size_t *n) {
  const char *p[] = {org, i64(a, after_us), i64(a, limit)};
  return pg_page(a,
                 "SELECT " CHANNEL_COLS ", (extract(epoch from created_at) * 1000000)::bigint FROM channel "
                 "WHERE org = $1 AND deleted_at IS NULL AND (extract(epoch from created_at) * 1000000)::bigint > $2::bigint "
                 "ORDER BY created_at LIMIT $3",
                 3, p, channel_item, a, out, 7, cursors, n);
}

/* found_rows runs |sql| and says whether it returned a row. */
static int found_rows(const char *sql, int np, const char *const *p, int *found) {
  int rc = pg_one(sql, np, p, NULL, NULL, NULL);
  *found = rc == PG_OK;
  return rc == PG_NO_ROW ? PG_OK : rc;
}

int store_channel_delete(const char *org, const char *id, int *found) {
  const char *p[] = {org, id};
  return found_rows("UPDATE channel SET deleted_at = now() WHERE org=$1 AND id=$2::uuid AND deleted_at IS NULL "
                    "RETURNING id", 2, p, found);
}

int store_channel_mail_to(arena *a, const char *org, const char *id, char **to) {
  const char *p[] = {org, id};
  PGresult *r;
  int rc = pg_query(&r, "SELECT substr(url, 8) FROM channel WHERE org = $1 AND id = $2::uuid AND format = 'email' "
                        "AND deleted_at IS NULL", 2, p);
  if (rc) return rc;
  *to = PQntuples(r) ? arena_strdup(a, pg_str(r, 0, 0)) : NULL;
  PQclear(r);
  return RPC_OK;
}

int store_channel_exists(const char *org, const char *id, int *found) {
  const char *p[] = {org, id};
  return found_rows("SELECT 1 FROM channel WHERE org = $1 AND id = $2::uuid", 2, p, found);
}

int store_delivery_test(const char *org, const char *id, const char *event_id, const char *body,
                        int64_t *delivery_id) {
  const char *p[] = {org, id, event_id, body};
  return one_int("INSERT INTO delivery (org, channel_id, event_id, body) SELECT $1, id, $3, $4 FROM channel "
                 "WHERE org = $1 AND id = $2::uuid AND deleted_at IS NULL RETURNING id", 4, p, delivery_id);
}

static void *delivery_item(void *arg, PGresult *r, int i) {
  arena *a = arg;
  Accolade__V1__Delivery *d = ARENA_NEW(a, Accolade__V1__Delivery);
  accolade__v1__delivery__init(d);
  d->id = pg_int(r, i, 0);
  d->channel_id = arena_strdup(a, pg_str(r, i, 1));
  d->event_id = arena_strdup(a, pg_str(r, i, 2));
  d->status = arena_strdup(a, pg_str(r, i, 3));
  d->attempts = (int32_t)pg_int(r, i, 4);
  d->last_error = arena_strdup(a, pg_str(r, i, 5));
  d->create_time_ms = pg_int(r, i, 6);
  d->deliver_time_ms = pg_int(r, i, 7);
  return d;
}

int store_delivery_page(arena *a, const char *org, const char *channel_id, int64_t before, int limit,
                        Accolade__V1__Delivery ***out, size_t *n) {
  const char *p[] = {org, channel_id, i64(a, before), i64(a, limit)};
  return pg_page(a,
                 "SELECT id, channel_id, event_id, status, attempts, last_error, "
                 "(extract(epoch from created_at) * 1000)::bigint, coalesce((extract(epoch from delivered_at) * 1000)::bigint, 0) "
                 "FROM delivery WHERE org = $1 AND ($2 = '' OR channel_id::text = $2) AND id < $3::bigint "
                 "ORDER BY id DESC LIMIT $4",
                 4, p, delivery_item, a, out, -1, NULL, n);
}

void store_delivery_statements(delivery_engine *e, delivery_lane lane) {
  /* The main lane: the due webhooks but those of channels marked slow. The
   * slow lane: those, from the channels (few) to their due rows. The mail
   * lane: member mails (no channel) and email channels' (never marked). */
#define CLAIM_REST                                                                                                \
  "due AS (SELECT id, row_number() OVER (ORDER BY next_attempt_at, id) AS place FROM claimed), "                  \
  "leased AS (UPDATE delivery d SET next_attempt_at = now() + $1::interval * ((due.place - 1) / $2::int + 1) "    \
  "FROM due WHERE d.id = due.id "                                                                                 \
  "RETURNING d.id, d.attempts, coalesce((SELECT url FROM channel c WHERE c.id = d.channel_id), 'mailto:' || d.mail_to), " \
  "coalesce((SELECT secret FROM channel c WHERE c.id = d.channel_id), ''), d.body, coalesce(d.channel_id::text, ''), due.place) " \
  "SELECT * FROM leased ORDER BY place"
  static const char *const claims[] = {
      [LANE_MAIN] = "WITH claimed AS (SELECT id, next_attempt_at FROM delivery d WHERE status = 'pending' "
                    "AND next_attempt_at <= now() AND channel_id IS NOT NULL AND NOT EXISTS (SELECT 1 FROM channel c "
                    "  WHERE c.id = d.channel_id AND (c.slow_until > now() OR c.format = 'email')) "
                    "ORDER BY next_attempt_at, id LIMIT " PG_SQL_INT(WEBHOOK_ROUND) " FOR UPDATE SKIP LOCKED), " CLAIM_REST,
      [LANE_SLOW] = "WITH claimed AS (SELECT d.id, d.next_attempt_at FROM channel c JOIN delivery d ON d.channel_id = c.id "
                    "WHERE c.slow_until > now() AND c.format <> 'email' AND d.status = 'pending' "
                    "AND d.next_attempt_at <= now() ORDER BY d.next_attempt_at, d.id "
                    "LIMIT " PG_SQL_INT(WEBHOOK_ROUND) " FOR UPDATE OF d SKIP LOCKED), " CLAIM_REST,
      [LANE_MAIL] = "WITH claimed AS (SELECT id, next_attempt_at FROM delivery d WHERE status = 'pending' "
                    "AND next_attempt_at <= now() AND (channel_id IS NULL OR EXISTS (SELECT 1 FROM channel c "
                    "  WHERE c.id = d.channel_id AND c.format = 'email')) "
                    "ORDER BY next_attempt_at, id LIMIT " PG_SQL_INT(WEBHOOK_ROUND) " FOR UPDATE SKIP LOCKED), " CLAIM_REST,
  };
  e->claim_sql = claims[lane];
#undef CLAIM_REST
  e->delivered_sql = "UPDATE delivery SET status='delivered', attempts=attempts+1, delivered_at=now(), last_error='' "
                     "WHERE id=$1 AND status='pending'";
  e->failed_sql = "UPDATE delivery SET status = CASE WHEN $4::bool THEN 'dead' ELSE 'pending' END, "
                  "attempts=attempts+1, last_error=$2, next_attempt_at = now() + $3::interval "
                  "WHERE id=$1 AND status='pending'";
}

int store_channels_slow(arena *a, const char *const *ids, size_t n, int hold_s) {
  const char *p[] = {pg_text_array(a, ids, n), i64(a, hold_s)};
  return pg_exec("UPDATE channel SET slow_until = now() + make_interval(secs => $2::int) WHERE id = ANY ($1::uuid[])", 2,
                 p);
}

/* ---- the digest ------------------------------------------------------ */

int store_digest_totals(const char *const *wp, int64_t *awards, int64_t *points, int64_t *recipients) {
  PGresult *r;
  int rc = pg_query(&r, "SELECT count(*), coalesce(sum(points), 0), count(DISTINCT recipient_id) FROM recognition WHERE" PERIOD_WHERE,
                    4, wp);
  if (rc) return rc;
  *awards = pg_int(r, 0, 0);
  *points = pg_int(r, 0, 1);
  *recipients = pg_int(r, 0, 2);
  PQclear(r);
  return RPC_OK;
}

static int items(arena *a, const char *sql, const char *const *p, Accolade__V1__DigestItem ***out, size_t *n) {
  PGresult *r;
  int rc = pg_query(&r, sql, 4, p);
  if (rc) return rc;
  *n = (size_t)PQntuples(r);
  *out = ARENA_ARRAY(a, Accolade__V1__DigestItem *, *n + 1);
  for (size_t i = 0; i < *n; i++) {
    Accolade__V1__DigestItem *d = ARENA_NEW(a, Accolade__V1__DigestItem);
    accolade__v1__digest_item__init(d);
    d->award_id = arena_strdup(a, pg_str(r, (int)i, 0));
    d->recipient_id = arena_strdup(a, pg_str(r, (int)i, 1));
    d->recipient_team = arena_strdup(a, pg_str(r, (int)i, 2));
    d->badge_id = arena_strdup(a, pg_str(r, (int)i, 3));
    d->badge_name = arena_strdup(a, pg_str(r, (int)i, 4));
    d->points = pg_int(r, (int)i, 5);
    d->justification = arena_strdup(a, pg_str(r, (int)i, 6));
    d->grant_time_ms = pg_int(r, (int)i, 7);
    d->category = arena_strdup(a, pg_str(r, (int)i, 8));
    d->source_id = arena_strdup(a, pg_str(r, (int)i, 9));
    d->recipient_name = arena_strdup(a, pg_str(r, (int)i, 10));
    (*out)[i] = d;
  }
  PQclear(r);
  return RPC_OK;
}

int store_digest_top(arena *a, const char *const *wp, Accolade__V1__DigestItem ***out, size_t *n) {
  return items(a, "SELECT " ITEM_COLS " FROM recognition WHERE" PERIOD_WHERE "ORDER BY points DESC, granted_at LIMIT 5", wp,
               out, n);
}

int store_digest_new_holders(arena *a, const char *const *wp, Accolade__V1__DigestItem ***out, size_t *n) {
  return items(a,
               "SELECT " ITEM_COLS " FROM recognition x WHERE" PERIOD_WHERE
               "AND NOT EXISTS (SELECT 1 FROM recognition y WHERE y.org = x.org AND y.recipient_id = x.recipient_id "
               "AND y.badge_id = x.badge_id AND NOT y.revoked AND (y.granted_at, y.award_id) < (x.granted_at, x.award_id)) "
               "ORDER BY granted_at LIMIT 20",
               wp, out, n);
}

int store_digest_endorsed(arena *a, const char *const *wp, Accolade__V1__DigestEndorsed ***out, size_t *n) {
  PGresult *r;
  int rc = pg_query(&r,
                    "SELECT nomination_id, badge_name, array_to_string(nominee_ids, ','), endorsements, justification "
                    "FROM endorsed e WHERE e.org = $1 AND e.approved_at >= " PERIOD_START " "
                    "AND e.approved_at < " PERIOD_END " AND ($3 = '' OR "
                    "EXISTS (SELECT 1 FROM recognition x WHERE x.org = e.org AND x.source_id = e.nomination_id "
                    "AND x.recipient_team = $3)) ORDER BY endorsements DESC, approved_at, nomination_id LIMIT 5",
                    4, wp);
  if (rc) return rc;
  *n = (size_t)PQntuples(r);
  *out = ARENA_ARRAY(a, Accolade__V1__DigestEndorsed *, *n + 1);
  for (size_t i = 0; i < *n; i++) {
    Accolade__V1__DigestEndorsed *e = ARENA_NEW(a, Accolade__V1__DigestEndorsed);
    accolade__v1__digest_endorsed__init(e);
    e->nomination_id = arena_strdup(a, pg_str(r, (int)i, 0));
    e->badge_name = arena_strdup(a, pg_str(r, (int)i, 1));
    split_csv(a, pg_str(r, (int)i, 2), &e->nominee_ids, &e->n_nominee_ids, 20);
    e->endorsements = pg_int(r, (int)i, 3);
    e->justification = arena_strdup(a, pg_str(r, (int)i, 4));
    (*out)[i] = e;
  }
  PQclear(r);
  return RPC_OK;
}

int store_digest_category_weeks(arena *a, const char *org, const char *team, const char *end,
                                Accolade__V1__DigestCategoryWeek ***out, char ***badge_ids, size_t *n) {
  const char *p[] = {org, end, team};
  PGresult *r;
  int rc = pg_query(&r,
                    "SELECT to_char(w.ws, 'IYYY-\"W\"IW'), coalesce(x.category, ''), coalesce(x.badge_id, ''), "
                    "count(x.award_id) FROM generate_series(date_trunc('week', $2::date - 1) - interval '77 days', "
                    "date_trunc('week', $2::date - 1), interval '7 days') AS w(ws) "
                    "LEFT JOIN recognition x ON x.org = $1 AND NOT x.revoked AND x.granted_at >= w.ws "
                    "AND x.granted_at < w.ws + interval '7 days' AND ($3 = '' OR x.recipient_team = $3) "
                    "GROUP BY w.ws, x.category, x.badge_id ORDER BY w.ws, 2, 3",
                    3, p);
  if (rc) return rc;
  *n = (size_t)PQntuples(r);
  *out = ARENA_ARRAY(a, Accolade__V1__DigestCategoryWeek *, *n + 1);
  *badge_ids = ARENA_ARRAY(a, char *, *n + 1);
  for (size_t i = 0; i < *n; i++) {
    Accolade__V1__DigestCategoryWeek *c = ARENA_NEW(a, Accolade__V1__DigestCategoryWeek);
    accolade__v1__digest_category_week__init(c);
    c->week = arena_strdup(a, pg_str(r, (int)i, 0));
    c->category = arena_strdup(a, pg_str(r, (int)i, 1));
    (*badge_ids)[i] = arena_strdup(a, pg_str(r, (int)i, 2));
    c->awards = pg_int(r, (int)i, 3);
    (*out)[i] = c;
  }
  PQclear(r);
  return RPC_OK;
}

/* org_list runs |sql| (one column of orgs) into |*orgs|. */
static int org_list(arena *a, const char *sql, char ***orgs, size_t *n) {
  PGresult *r;
  int rc = pg_query(&r, sql, 0, NULL);
  if (rc) return rc;
  *n = (size_t)PQntuples(r);
  *orgs = ARENA_ARRAY(a, char *, *n + 1);
  for (size_t i = 0; i < *n; i++) (*orgs)[i] = arena_strdup(a, pg_str(r, (int)i, 0));
  PQclear(r);
  return RPC_OK;
}

int store_digest_channel_orgs(arena *a, char ***orgs, size_t *n) {
  return org_list(a,
                  "SELECT DISTINCT org FROM channel WHERE deleted_at IS NULL AND 'digest' = ANY (kinds) "
                  "AND format <> 'email'",
                  orgs, n);
}

int store_digest_sent(const char *org, const char *week, int *sent) {
  const char *p[] = {org, week};
  return found_rows("SELECT 1 FROM digest_sent WHERE org = $1 AND week = $2", 2, p, sent);
}

int store_local_clock(const char *tz, char *week, size_t cap, int *isodow, int *hour) {
  const char *p[] = {tz};
  PGresult *r;
  int rc = pg_query(&r,
                    "SELECT to_char(now() AT TIME ZONE $1, 'IYYY-\"W\"IW'), "
                    "extract(isodow from now() AT TIME ZONE $1)::int, extract(hour from now() AT TIME ZONE $1)::int",
                    1, p);
  if (rc) return rc;
  snprintf(week, cap, "%s", pg_str(r, 0, 0));
  *isodow = (int)pg_int(r, 0, 1);
  *hour = (int)pg_int(r, 0, 2);
  PQclear(r);
  return RPC_OK;
}

int store_digest_queue(const char *org, const char *week, const store_bodies *b, const char *event_id, int *queued) {
  int rc = pg_exec("BEGIN", 0, NULL);
  if (rc) return rc;
  const char *s[] = {org, week};
  const char *q[] = {org, event_id, b->json, b->slack, b->teams};
  rc = found_rows("INSERT INTO digest_sent (org, week) VALUES ($1, $2) ON CONFLICT DO NOTHING RETURNING 1", 2, s,
                  queued);
  if (!rc && *queued)
    rc = pg_exec("INSERT INTO delivery (org, channel_id, event_id, body) SELECT $1, id, $2, " BODY_BY_FORMAT("$3", "$4", "$5")
                 " FROM channel WHERE org = $1 AND deleted_at IS NULL AND 'digest' = ANY (kinds) AND format <> 'email' "
                 "ON CONFLICT DO NOTHING",
                 5, q);
  int end = pg_exec(rc || !*queued ? "ROLLBACK" : "COMMIT", 0, NULL);
  return rc ? rc : end;
}

/* ---- the digest by email --------------------------------------------- */

int store_mail_orgs(arena *a, char ***orgs, size_t *n) {
  return org_list(a,
                  "SELECT DISTINCT org FROM recognition WHERE NOT revoked AND granted_at > now() - interval '15 days'",
                  orgs, n);
}

int store_mail_pending(const char *org, const char *week, int *pending) {
  const char *p[] = {org, week};
  return found_rows("SELECT 1 FROM recognition x WHERE x.org = $1 AND NOT x.revoked "
                    "AND x.granted_at >= to_date($2, 'IYYY-\"W\"IW')::timestamptz "
                    "AND x.granted_at < to_date($2, 'IYYY-\"W\"IW')::timestamptz + interval '7 days' "
                    "AND NOT EXISTS (SELECT 1 FROM digest_mailed m WHERE m.org = $1 AND m.week = $2) LIMIT 1",
                    2, p, pending);
}

int store_mail_channels(arena *a, const char *org, store_mail_channel **out, size_t *n) {
  const char *p[] = {org};
  PGresult *r;
  int rc = pg_query(&r,
                    "SELECT id, substr(url, 8), team FROM channel WHERE org = $1 AND deleted_at IS NULL "
                    "AND format = 'email' AND (cardinality(kinds) = 0 OR 'digest' = ANY (kinds)) ORDER BY created_at",
                    1, p);
  if (rc) return rc;
  *n = (size_t)PQntuples(r);
  *out = ARENA_ARRAY(a, store_mail_channel, *n + 1);
  for (size_t i = 0; i < *n; i++)
    (*out)[i] = (store_mail_channel){.id = arena_strdup(a, pg_str(r, (int)i, 0)),
                                     .to = arena_strdup(a, pg_str(r, (int)i, 1)),
                                     .team = arena_strdup(a, pg_str(r, (int)i, 2))};
  PQclear(r);
  return RPC_OK;
}

static int mail_queue_tx(const char *org, const char *week, const char *event, const store_mail *mails, size_t nm,
                         const store_mail_channel *chans, size_t nc, int *queued) {
  const char *s[] = {org, week};
  int rc = found_rows("INSERT INTO digest_mailed (org, week) VALUES ($1, $2) ON CONFLICT DO NOTHING RETURNING 1", 2, s,
                      queued);
  for (size_t i = 0; !rc && *queued && i < nm; i++) {
    const char *q[] = {org, event, mails[i].body, mails[i].to, mails[i].user_id};
    rc = pg_exec("INSERT INTO delivery (org, channel_id, event_id, body, mail_to, user_id) "
                 "SELECT $1, NULL, $2, $3, $4, $5 WHERE NOT EXISTS (SELECT 1 FROM preferences "
                 "WHERE org = $1 AND user_id = $5 AND NOT weekly_digest) "
                 "ON CONFLICT (org, user_id, event_id) WHERE channel_id IS NULL DO NOTHING",
                 5, q);
  }
  for (size_t i = 0; !rc && *queued && i < nc; i++) {
    const char *q[] = {org, chans[i].id, event, chans[i].body};
    rc = pg_exec("INSERT INTO delivery (org, channel_id, event_id, body) VALUES ($1, $2::uuid, $3, $4) "
                 "ON CONFLICT DO NOTHING",
                 4, q);
  }
  return rc;
}

int store_mail_queue(const char *org, const char *week, const char *event, const store_mail *mails, size_t nm,
                     const store_mail_channel *chans, size_t nc, int *queued) {
  int rc = pg_exec("BEGIN", 0, NULL);
  if (rc) return rc;
  rc = mail_queue_tx(org, week, event, mails, nm, chans, nc, queued);
  int end = pg_exec(rc || !*queued ? "ROLLBACK" : "COMMIT", 0, NULL);
  return rc ? rc : end;
}
