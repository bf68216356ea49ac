/* store_intake.c - svc-notify's SQL for a batch of events (store.h):
 * statements that each do for the whole batch what the intake does per
 * event in store.c. */
#include <stdio.h>
#include <string.h>

#include "notify.h"
#include "pg.h"
#include "store.h"

int store_intake_begin(arena *a, const char *org, const char *const *users, size_t n, int *channels) {
  const char *q[] = {org, pg_text_array(a, users, n)};
  PGresult *r;
  int rc = pg_query(&r,
                    "SELECT EXISTS (SELECT 1 FROM channel WHERE org = $1 AND deleted_at IS NULL AND format <> 'email'), "
                    "(SELECT count(*) FROM (SELECT pg_advisory_xact_lock(hashtext('notify.inbox'), k) FROM "
                    "(SELECT DISTINCT hashtext($1 || '/' || u) AS k FROM unnest($2::text[]) u ORDER BY k OFFSET 0) s) l)",
                    2, q);
  if (rc) return rc;
  *channels = pg_str(r, 0, 0)[0] == 't';
  PQclear(r);
  return RPC_OK;
}

int store_events_claim_many(arena *a, const char *org, const char *const *ids, size_t n, int **first) {
  const char *q[] = {org, pg_text_array(a, ids, n)};
  PGresult *r;
  int rc = pg_query(&r,
                    "INSERT INTO event_seen (org, event_id) SELECT $1, e FROM unnest($2::text[]) WITH ORDINALITY "
                    "AS u(e, k) ORDER BY k ON CONFLICT DO NOTHING RETURNING event_id",
                    2, q);
  if (rc) return rc;
  for (size_t i = 0; i < n; i++) *first[i] = 0;
  for (int k = 0; k < PQntuples(r); k++)
    for (size_t i = 0; i < n; i++)
      if (!*first[i] && !strcmp(ids[i], pg_str(r, k, 0))) {
        *first[i] = 1;
        break;
      }
  PQclear(r);
  return RPC_OK;
}

void store_intake_rows_init(arena *a, store_intake_rows *rows, size_t cap) {
  memset(rows, 0, sizeof *rows);
  const char ***cols[] = {&rows->user, &rows->event_id, &rows->kind, &rows->title, &rows->body, &rows->recog_ms};
  for (size_t c = 0; c < sizeof cols / sizeof cols[0]; c++) *cols[c] = ARENA_ARRAY(a, const char *, cap + 1);
  rows->recog = ARENA_ARRAY(a, const Accolade__V1__AwardRecord *, cap + 1);
}

/* inbox_rows: the inbox rows (as store_inbox_add writes them, locks taken
 * at the batch's start), and their members' Subscribe streams woken after
 * the commit. */
static int inbox_rows(arena *a, const char *org, const store_intake_rows *w) {
  const char *q[] = {org, pg_text_array(a, w->user, w->n_inbox), pg_text_array(a, w->event_id, w->n_inbox),
                     pg_text_array(a, w->kind, w->n_inbox), pg_text_array(a, w->title, w->n_inbox),
                     pg_text_array(a, w->body, w->n_inbox)};
  int rc = pg_exec("INSERT INTO inbox (org, user_id, event_id, kind, title, body) "
                   "SELECT $1, u, e, k, t, b FROM unnest($2::text[], $3::text[], $4::text[], $5::text[], $6::text[]) "
                   "WITH ORDINALITY AS x(u, e, k, t, b, o) WHERE NOT EXISTS (SELECT 1 FROM preferences "
                   "WHERE org = $1 AND user_id = u AND k = ANY (muted_kinds)) ORDER BY o ON CONFLICT DO NOTHING",
                   6, q);
  for (size_t i = 0; i < w->n_inbox && !rc; i++)
    rc = pg_notify_after_commit(LIVE_CHANNEL, arena_printf(a, "%s/%s", org, w->user[i]));
  return rc;
}

/* recognitions: store_recognition_add for each, in one statement. */
static int recognitions(arena *a, const char *org, const store_intake_rows *w) {
  size_t n = w->n_recog;
  const char **col[11];
  for (int c = 0; c < 11; c++) col[c] = ARENA_ARRAY(a, const char *, n + 1);
  for (size_t i = 0; i < n; i++) {
    const Accolade__V1__AwardRecord *x = w->recog[i];
    const char *v[11] = {x->award_id, x->recipient_id, x->recipient_team, x->badge_id, x->badge_name,
                         arena_printf(a, "%lld", (long long)x->points), x->justification, w->recog_ms[i],
                         x->source_id, x->category, x->recipient_name};
    for (int c = 0; c < 11; c++) col[c][i] = v[c];
  }
  const char *q[12] = {org};
  for (int c = 0; c < 11; c++) q[c + 1] = pg_text_array(a, col[c], n);
  return pg_exec("INSERT INTO recognition (org, award_id, recipient_id, recipient_team, badge_id, badge_name, points, "
                 "justification, granted_at, source_id, category, recipient_name) "
                 "SELECT $1, i, r, t, b, bn, p::bigint, j, to_timestamp(g::bigint / 1000.0), s, c, nm FROM "
                 "unnest($2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[], $8::text[], "
                 "$9::text[], $10::text[], $11::text[], $12::text[]) AS x(i, r, t, b, bn, p, j, g, s, c, nm) "
                 "ON CONFLICT DO NOTHING",
                 12, q);
}

int store_intake_rows_write(arena *a, const char *org, const store_intake_rows *w) {
  int rc = w->n_inbox ? inbox_rows(a, org, w) : RPC_OK;
  return rc || !w->n_recog ? rc : recognitions(a, org, w);
}
