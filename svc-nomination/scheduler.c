/* scheduler.c - ReviewOverdue reminders: a nomination pending longer than its
 * org's overdue_days gets one reminder to its reviewers, through the outbox
 * (one per nomination, recorded in overdue_reminder in the same transaction).
 * Nudges: once per org and ISO week, one event naming the members who have
 * not nominated anyone for nudge_after_weeks. */
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "accolade/v1/events.pb-c.h"
#include "accolade/v1/notify.pb-c.h"
#include "log.h"
#include "outbox.h"
#include "nom.h"
#include "pg.h"
#include "rpc_client.h"
#include "store.h"

static atomic_int g_stop;
static pthread_t g_thread;
static long g_scan_ms = 60000;

typedef struct remind_tx {
  rpc_ctx *ctx;
  const char *id;
  int64_t days;
} remind_tx;

static int remind_run(void *arg) {
  remind_tx *t = arg;
  const char *p[] = {t->id};
  PGresult *r;
  int rc = pg_query(&r, "INSERT INTO overdue_reminder (nomination_id) VALUES ($1::uuid) ON CONFLICT DO NOTHING RETURNING 1",
                    1, p);
  if (rc) return rc;
  int fresh = PQntuples(r) == 1;
  PQclear(r);
  if (!fresh) return RPC_OK;
  Accolade__V1__Nomination *n;
  if ((rc = store_nomination_get(t->ctx, t->ctx->id.org, t->id, 0, &n))) return rc;
  n->decide_time_ms = 0;
  return nom_event_overdue(t->ctx, n, t->days);
}

/* scan_once reminds for every overdue nomination; returns how many. */
int scheduler_scan_once(void) {
  PGresult *r;
  if (pg_query(&r,
               "SELECT n.id, n.org, extract(day from now() - n.created_at)::bigint FROM nomination n "
               "LEFT JOIN org_settings s ON s.org = n.org WHERE n.status = 1 "
               "AND n.created_at < now() - make_interval(days => coalesce(s.overdue_days, 7)) "
               "AND NOT EXISTS (SELECT 1 FROM overdue_reminder o WHERE o.nomination_id = n.id) LIMIT 100",
               0, NULL) != RPC_OK)
    return -1;
  int n = PQntuples(r);
  for (int i = 0; i < n; i++) {
    arena a;
    rpc_ctx ctx;
    rpc_ctx_background(&ctx, &a, "scheduler", pg_str(r, i, 1));
    remind_tx t = {&ctx, pg_str(r, i, 0), pg_int(r, i, 2)};
    if (pg_tx(remind_run, &t) != RPC_OK) log_warn("overdue reminder for %s failed; will retry", t.id);
    arena_free(&a);
  }
  PQclear(r);
  return n;
}

/* nudge_once: once per org and ISO week, one Nudge event naming the active
 * members who have not nominated anyone for the org's nudge_after_weeks. */
int scheduler_nudge_once(void) {
  PGresult *r;
  if (pg_query(&r,
               "SELECT o.org, to_char(now(), 'IYYY-\"W\"IW'), coalesce(s.nudge_after_weeks, 4), "
               "(SELECT string_agg(m.user_id, ',' ORDER BY m.user_id) FROM (SELECT user_id FROM member m WHERE m.org = o.org "
               " AND m.active AND NOT EXISTS (SELECT 1 FROM nomination n WHERE n.org = m.org AND n.nominator_id = m.user_id "
               " AND n.created_at >= now() - make_interval(weeks => coalesce(s.nudge_after_weeks, 4))) "
               " ORDER BY user_id LIMIT 500) m) "
               "FROM (SELECT DISTINCT org FROM member) o LEFT JOIN org_settings s ON s.org = o.org "
               "WHERE coalesce(s.nudge_after_weeks, 4) > 0 AND NOT EXISTS (SELECT 1 FROM nudge_sent x "
               "WHERE x.org = o.org AND x.week = to_char(now(), 'IYYY-\"W\"IW'))",
               0, NULL) != RPC_OK)
    return -1;
  int n = PQntuples(r);
  for (int i = 0; i < n; i++) {
    arena a;
    arena_init(&a);
    const char *org = pg_str(r, i, 0), *week = pg_str(r, i, 1), *list = pg_str(r, i, 3);
    size_t count = 0;
    char *copy = arena_strdup(&a, list), *save = NULL;
    char **ids = ARENA_ARRAY(&a, char *, 501);
    for (char *t = strtok_r(copy, ",", &save); t && count < 500; t = strtok_r(NULL, ",", &save)) ids[count++] = t;
    char cnt[16];
    snprintf(cnt, sizeof cnt, "%zu", count);
    const char *p[] = {org, week, cnt};
    int ok = pg_exec("BEGIN", 0, NULL) == RPC_OK &&
             pg_exec("INSERT INTO nudge_sent (org, week, members) VALUES ($1, $2, $3)", 3, p) == RPC_OK;
    if (ok && count) {
      Accolade__V1__Nudge nudge = ACCOLADE__V1__NUDGE__INIT;
      nudge.member_ids = ids;
      nudge.n_member_ids = count;
      nudge.weeks_quiet = pg_int(r, i, 2);
      nudge.text = arena_printf(&a, "Who helped you win lately? You have not recognised anyone for %lld weeks.",
                                (long long)pg_int(r, i, 2));
      Accolade__V1__Event ev = ACCOLADE__V1__EVENT__INIT;
      ev.event_id = arena_printf(&a, "nudge:%s", week);
      ev.org = (char *)org;
      ev.kind_case = ACCOLADE__V1__EVENT__KIND_NUDGE;
      ev.nudge = &nudge;
      ok = outbox_enqueue(&accolade__v1__notify_service__descriptor, "PublishEvent", org, &ev.base, NULL) == RPC_OK;
    }
    pg_exec(ok ? "COMMIT" : "ROLLBACK", 0, NULL);
    arena_free(&a);
  }
  PQclear(r);
  return n;
}

static void *scheduler_main(void *arg) {
  (void)arg;
  while (!atomic_load(&g_stop)) {
    scheduler_scan_once();
    scheduler_nudge_once();
    pg_release();   /* not held while it sleeps */
    for (long waited = 0; waited < g_scan_ms && !atomic_load(&g_stop); waited += 50) usleep(50 * 1000);
  }
  return NULL;
}

void scheduler_start(void) {
  const char *ms = getenv("ACCOLADE_NOMINATION_OVERDUE_SCAN_MS");
  if (ms && atol(ms) > 0) g_scan_ms = atol(ms);
  atomic_store(&g_stop, 0);
  pthread_create(&g_thread, NULL, scheduler_main, NULL);
}

void scheduler_stop(void) {
  atomic_store(&g_stop, 1);
  pthread_join(g_thread, NULL);
}
