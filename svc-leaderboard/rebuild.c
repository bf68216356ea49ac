/* rebuild.c - recompute an org's boards from the ledger as a new
 * generation of keys and switch to it atomically (gen.h: one SET).
 *
 * The org's ledger is read once (a binary COPY) into a tally (tally.h),
 * which hands out every board with its members sorted by score; each board
 * is written under the next generation with one RESTORE of a sorted-set
 * payload (dump.h), from a writer thread with 64 commands in flight while
 * the tally goes on, or with ZADDs where the server refuses the payload.
 * Every key is added to the generation's registry before it is written, so
 * a rebuild that dies half-way leaves nothing the next one cannot find: it
 * starts by dropping whatever its generation already holds (and what is
 * left of the generation before the live one). After the
 * switch, and a grace period for reads that named the old generation just
 * before it, the old generation is dropped key by key (UNLINK), from a
 * thread of its own after the reply. Windowed
 * boards are only rebuilt for periods that the retention still keeps, each
 * expiring when it would have (its last award plus the retention), so a
 * rebuild never brings expired periods back.
 *
 * Costs (bench/leaderboard.sh, 10M awards to 1M members, 2 cores): see
 * bench/README.md; the process peaks at 1.6 GB RSS. */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "boards.h"
#include "dump.h"
#include "gen.h"
#include "lb.h"
#include "log.h"
#include "pg.h"
#include "pg_status.h"
#include "redis.h"
#include "store.h"
#include "tally.h"
#include "topcache.h"

#define ZADD_BATCH 500
/* How boards are written: ZADD; RESTORE of RDB sorted sets; the same with
 * small boards as listpacks (Redis 7.0 on). */
enum { WRITE_ZADD, WRITE_RESTORE, WRITE_LISTPACK };

#define REGISTER_BATCH 1000         /* boards named in one SADD to the registry */
#define HELD_BYTES (64 << 20)       /* commands held back until their boards are registered */
#define RESTORE_MAX 8000000         /* members; ~25 bytes each in a payload */
#define QUEUE_BYTES (256 << 20)     /* commands formatted and not yet sent */
#define REBUILD_REDIS_TIMEOUT_MS 300000
#define SWITCH_GRACE_US 300000      /* reads naming the old generation finish within it */

typedef struct held {
  char *cmd;
  size_t len;
} held;

typedef struct rebuild {
  const char *org;
  int64_t now_ms;
  int64_t gen;                     /* the generation written */
  char registry[BOARD_KEY_MAX + 8];   /* its key registry */
  char *names[REGISTER_BATCH];     /* boards not registered yet */
  int n_names;
  held *cmds;                      /* their commands, sent once they are */
  int n_cmds, cap_cmds;
  size_t held_bytes;
  int64_t boards, pairs;
  int restore;                     /* WRITE_ZADD, WRITE_RESTORE or WRITE_LISTPACK */
  dump_buf payload;
  redis_writer *w;                 /* the writes go out from a thread of their own */
} rebuild;

static int send(rebuild *rb, int argc, const char **argv, const size_t *len) {
  return redis_writer_send(rb->w, argc, argv, len);
}

/* release registers the boards held back (one SADD) and sends their commands. */
static int release(rebuild *rb) {
  int rc = 0;
  if (rb->n_names) {
    const char *argv[2 + REGISTER_BATCH];
    argv[0] = "SADD";
    argv[1] = rb->registry;
    for (int i = 0; i < rb->n_names; i++) argv[2 + i] = rb->names[i];
    rc = send(rb, 2 + rb->n_names, argv, NULL);
    for (int i = 0; i < rb->n_names; i++) free(rb->names[i]);
    rb->n_names = 0;
  }
  for (int i = 0; i < rb->n_cmds; i++) {
    if (!rc)
      rc = redis_writer_send_formatted(rb->w, rb->cmds[i].cmd, rb->cmds[i].len);
    else
      redisFreeCommand(rb->cmds[i].cmd);
  }
  rb->n_cmds = 0;
  rb->held_bytes = 0;
  return rc;
}

/* hold formats a command for a board not registered yet. */
static void hold(rebuild *rb, int argc, const char **argv, const size_t *len) {
  if (rb->n_cmds == rb->cap_cmds) {
    rb->cap_cmds = rb->cap_cmds ? rb->cap_cmds * 2 : 1024;
    rb->cmds = realloc(rb->cmds, sizeof *rb->cmds * (size_t)rb->cap_cmds);
    if (!rb->cmds) abort();
  }
  char *cmd;
  long long n = redisFormatCommandArgv(&cmd, argc, argv, len);
  if (n < 0) abort();   /* out of memory */
  rb->cmds[rb->n_cmds++] = (held){cmd, (size_t)n};
  rb->held_bytes += (size_t)n;
}

static void hold_zadd(rebuild *rb, const tally_board *b, const char *expire_at) {
  const char *argv[2 + 2 * ZADD_BATCH];
  char scores[ZADD_BATCH][32];
  for (size_t i = 0; i < b->n;) {
    int k = 0;
    argv[k++] = "ZADD";
    argv[k++] = b->key;
    for (int m = 0; m < ZADD_BATCH && i < b->n; m++, i++) {
      snprintf(scores[m], sizeof scores[m], "%.17g", b->entries[i].score);
      argv[k++] = scores[m];
      argv[k++] = b->entries[i].id;
    }
    hold(rb, k, argv, NULL);
  }
  if (!expire_at) return;
  const char *px[] = {"PEXPIREAT", b->key, expire_at};
  hold(rb, 3, px, NULL);
}

/* write_board writes one board from the tally, expiring when it would have
 * (its last award plus the retention); a board already past that is left
 * out. */
static int write_board(void *arg, const tally_board *b) {
  rebuild *rb = arg;
  if (lb_stopping()) return -1;
  long ttl = lb_board_ttl(b->window);
  char at[24];
  if (ttl > 0) {
    int64_t expire_at = b->last_ms + (int64_t)ttl * 1000;
    if (expire_at <= rb->now_ms) return 0;
    snprintf(at, sizeof at, "%lld", (long long)expire_at);
  }
  if ((rb->n_names == REGISTER_BATCH || rb->held_bytes > HELD_BYTES) && release(rb) != 0) return -1;
  rb->names[rb->n_names++] = strdup(b->key);
  rb->boards++;
  rb->pairs += (int64_t)b->n;
  /* A board past RESTORE_MAX members would make a payload near Redis's
   * 512 MB limit on one argument (proto-max-bulk-len): ZADDs instead. */
  if (rb->restore == WRITE_ZADD || b->n > RESTORE_MAX) {
    hold_zadd(rb, b, ttl > 0 ? at : NULL);
    return 0;
  }
  if (rb->restore != WRITE_LISTPACK || dump_zset_listpack(&rb->payload, b->entries, b->n) != 0)
    dump_zset(&rb->payload, b->entries, b->n);
  const char *argv[] = {"RESTORE", b->key, ttl > 0 ? at : "0", (const char *)rb->payload.p, "REPLACE", "ABSTTL"};
  size_t lens[] = {7, strlen(b->key), strlen(argv[2]), rb->payload.n, 7, 6};
  hold(rb, ttl > 0 ? 6 : 5, argv, lens);
  return 0;
}

/* probe restores |payload| into |key| and reads it back: 1 if it holds
 * b=2.5 and a=-1, 0 if not (logged), -1 if Redis is unreachable. */
static int probe(const char *key, const dump_buf *payload, const char *what) {
  const char *argv[] = {"RESTORE", key, "0", (const char *)payload->p, "REPLACE"};
  size_t lens[] = {7, strlen(key), 1, payload->n, 7};
  redisReply *r = redis_cmd_argv(5, argv, lens);
  if (!r) return -1;
  int ok = r->type == REDIS_REPLY_STATUS;
  if (!ok) log_warn("rebuild: Redis refuses %s payloads (%s)", what, r->str);
  freeReplyObject(r);
  if (!ok) return 0;
  r = redis_cmd("ZRANGE %s 0 -1 WITHSCORES", key);
  if (!r) return -1;
  ok = r->type == REDIS_REPLY_ARRAY && r->elements == 4 && strcmp(r->element[0]->str, "a") == 0 &&
       strtod(r->element[1]->str, NULL) == -1 && strcmp(r->element[2]->str, "b") == 0 &&
       strtod(r->element[3]->str, NULL) == 2.5;
  if (!ok) log_warn("rebuild: a restored %s payload reads back wrong", what);
  freeReplyObject(r);
  r = redis_cmd("DEL %s", key);
  if (r) freeReplyObject(r);
  return ok;
}

/* write_mode: how this Redis takes the fresh boards (asked once per
 * process, with two-member probes). ACCOLADE_LEADERBOARD_REBUILD_WRITE=zadd
 * or =restore stops at that mode. -1: Redis unreachable. */
static int write_mode(const char *org) {
  static int known = -1;
  int k = __atomic_load_n(&known, __ATOMIC_ACQUIRE);
  if (k >= 0) return k;
  const char *cap = getenv("ACCOLADE_LEADERBOARD_REBUILD_WRITE");
  int most = !cap || !*cap ? WRITE_LISTPACK : strcmp(cap, "zadd") == 0 ? WRITE_ZADD : WRITE_RESTORE;
  char key[BOARD_KEY_MAX];
  snprintf(key, sizeof key, "lb:{%s}:restore-probe", org);
  board_entry e[] = {{"b", 2.5}, {"a", -1}};
  dump_buf d = {0};
  int mode = WRITE_ZADD, ok = 1;
  if (most >= WRITE_RESTORE) {
    dump_zset(&d, e, 2);
    ok = probe(key, &d, "sorted-set");
    if (ok == 1) mode = WRITE_RESTORE;
  }
  if (ok == 1 && most >= WRITE_LISTPACK) {
    dump_zset_listpack(&d, e, 2);
    ok = probe(key, &d, "listpack sorted-set");
    if (ok == 1) mode = WRITE_LISTPACK;
  }
  dump_buf_free(&d);
  if (ok < 0) return -1;
  if (mode < most) log_warn("rebuild: boards are written with %s", mode == WRITE_ZADD ? "ZADD" : "RESTORE");
  __atomic_store_n(&known, mode, __ATOMIC_RELEASE);
  return mode;
}

/* add_row takes one ledger row (store_ledger_read) into the tally. */
static int add_row(void *arg, char **f, const int *lens, int n) {
  if (n != 8) return RPC_INTERNAL;
  for (int i = 0; i < 8; i++)
    if (!f[i]) return RPC_INTERNAL;   /* every column is NOT NULL */
  if (lens[4] != 8 || lens[5] != 8 || lens[7] != 1) return RPC_INTERNAL;
  tally_add(arg, f[0], f[1], f[2], f[3], pg_int8(f[4]), pg_int8(f[5]), f[6], f[7][0] == 1);
  return 0;
}

typedef struct names {
  rebuild *rb;
  const char *argv[2 + 2 * 1000];
  size_t len[2 + 2 * 1000];
  char *values[1000];
  int n;
} names;

static int names_flush(names *w) {
  if (!w->n) return 0;
  int rc = send(w->rb, 2 + 2 * w->n, w->argv, w->len);
  for (int i = 0; i < w->n; i++) free(w->values[i]);
  w->n = 0;
  return rc;
}

static int add_name(void *arg, const char *id, const char *team, const char *name) {
  names *w = arg;
  size_t len = strlen(team) + 1 + strlen(name);
  char *v = malloc(len + 1);
  snprintf(v, len + 1, "%s\t%s", team, name);
  w->values[w->n] = v;
  w->argv[2 + 2 * w->n] = id;
  w->len[2 + 2 * w->n] = strlen(id);
  w->argv[3 + 2 * w->n] = v;
  w->len[3 + 2 * w->n] = len;
  return ++w->n == 1000 ? names_flush(w) : 0;
}

/* write_names rewrites the org's display hash from the latest award of each
 * recipient that carried a name. */
static int write_names(rebuild *rb, tally *t) {
  char who[BOARD_KEY_MAX];
  snprintf(who, sizeof who, "lb:{%s}:who", rb->org);
  names *w = calloc(1, sizeof *w);
  if (!w) abort();
  w->rb = rb;
  w->argv[0] = "HSET";
  w->len[0] = 4;
  w->argv[1] = who;
  w->len[1] = strlen(who);
  int rc = tally_names(t, add_name, w);
  if (!rc) rc = names_flush(w);
  for (int i = 0; i < w->n; i++) free(w->values[i]);
  free(w);
  return rc;
}

/* drop_generation deletes every key of |org|'s generation |gen| named in
 * its registry, then the registry, a thousand keys a command (SSCAN), so
 * Redis is never held long. 0, or -1 when Redis is unreachable. */
static int drop_generation(const char *org, int64_t gen) {
  char prefix[BOARD_KEY_MAX], registry[BOARD_KEY_MAX + 8];
  if (boards_prefix(prefix, sizeof prefix, org, gen) != 0) return 0;
  boards_registry(registry, sizeof registry, prefix);
  char cursor[32] = "0";
  do {
    redisReply *r = redis_cmd("SSCAN %s %s COUNT 1000", registry, cursor);
    if (!r) return -1;
    if (r->type != REDIS_REPLY_ARRAY || r->elements != 2) {
      freeReplyObject(r);
      return -1;
    }
    snprintf(cursor, sizeof cursor, "%s", r->element[0]->str);
    redisReply *keys = r->element[1];
    if (keys->elements) {
      const char **argv = malloc(sizeof(char *) * (keys->elements + 1));
      argv[0] = "UNLINK";
      for (size_t i = 0; i < keys->elements; i++) argv[i + 1] = keys->element[i]->str;
      redisReply *d = redis_cmd_argv((int)keys->elements + 1, argv, NULL);
      free(argv);
      if (!d) {
        freeReplyObject(r);
        return -1;
      }
      freeReplyObject(d);
    }
    freeReplyObject(r);
  } while (strcmp(cursor, "0") != 0 && !lb_stopping());
  if (lb_stopping()) return -1;   /* the next rebuild finishes it */
  redisReply *d = redis_cmd("UNLINK %s", registry);
  if (!d) return -1;
  freeReplyObject(d);
  return 0;
}

static int64_t mono_us(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (int64_t)t.tv_sec * 1000000 + t.tv_nsec / 1000;
}

/* The old generation is dropped after the reply, from a thread of its own:
 * a million boards take seconds to delete and nothing waits for them. */
typedef struct dropper {
  char org[136];
  int64_t gen;
} dropper;

static atomic_int g_droppers;

static void *drop_later(void *arg) {
  dropper *d = arg;
  usleep(SWITCH_GRACE_US);
  int64_t t0 = mono_us();
  if (drop_generation(d->org, d->gen) != 0)
    log_warn("rebuild %s: generation %lld not dropped yet (the next rebuild drops it)", d->org, (long long)d->gen);
  else
    log_info("rebuild %s: generation %lld dropped in %lld ms", d->org, (long long)d->gen,
             (long long)((mono_us() - t0) / 1000));
  redis_disconnect();
  free(d);
  atomic_fetch_sub(&g_droppers, 1);
  return NULL;
}

static void drop_in_background(const char *org, int64_t gen) {
  dropper *d = malloc(sizeof *d);
  if (!d) abort();
  snprintf(d->org, sizeof d->org, "%s", org);
  d->gen = gen;
  atomic_fetch_add(&g_droppers, 1);
  pthread_t t;
  pthread_attr_t attr;
  pthread_attr_init(&attr);
  pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
  if (pthread_create(&t, &attr, drop_later, d) != 0) {   /* then here and now */
    drop_later(d);
  }
  pthread_attr_destroy(&attr);
}

/* live_generation reads |org|'s generation from Redis; -1 if unreachable. */
static int64_t live_generation(const char *org) {
  char genkey[BOARD_KEY_MAX];
  lb_gen_key(genkey, sizeof genkey, org);
  redisReply *r = redis_cmd("GET %s", genkey);
  if (!r) return -1;
  int64_t gen = r->type == REDIS_REPLY_STRING || r->type == REDIS_REPLY_NIL
                    ? lb_gen_parse(r->type == REDIS_REPLY_STRING ? r->str : NULL)
                    : -1;
  freeReplyObject(r);
  return gen;
}

int lb_drop_leftovers(void) {
  char **orgs;
  int n, rc = 0;
  if (store_orgs(&orgs, &n) != RPC_OK) return -1;
  for (int i = 0; i < n; i++) {
    int64_t live = rc ? 0 : live_generation(orgs[i]);
    if (live < 0 || (live > 0 && drop_generation(orgs[i], live - 1) != 0)) rc = -1;
    free(orgs[i]);
  }
  free(orgs);
  return rc;
}

void lb_rebuild_wait_drops(void) {
  for (int i = 0; i < 200 && atomic_load(&g_droppers) > 0; i++) usleep(10 * 1000);
}

/* switch_to makes generation |to| live if |from| still is (WATCH), and
 * clears the marker sets (every award is on the new boards). All of it on
 * one connection, to the node of the org's slot: a slot that moved meanwhile
 * fails the switch (the repair thread starts again). */
static int switch_to(const char *org, int64_t from, int64_t to) {
  char genkey[BOARD_KEY_MAX], add[BOARD_KEY_MAX], sub[BOARD_KEY_MAX];
  lb_gen_key(genkey, sizeof genkey, org);
  snprintf(add, sizeof add, "lb:{%s}:pending:add", org);
  snprintf(sub, sizeof sub, "lb:{%s}:pending:sub", org);
  redisContext *c = redis_conn_for(genkey);
  if (!c) return -1;
  redisAppendCommand(c, "WATCH %s", genkey);
  redisAppendCommand(c, "GET %s", genkey);
  redisReply *r[4] = {0};
  int ok = 1;
  for (int i = 0; i < 2; i++)
    if (redisGetReply(c, (void **)&r[i]) != REDIS_OK || !r[i]) ok = 0;
  int64_t now = -1;
  if (ok && r[0]->type == REDIS_REPLY_STATUS && (r[1]->type == REDIS_REPLY_STRING || r[1]->type == REDIS_REPLY_NIL))
    now = lb_gen_parse(r[1]->type == REDIS_REPLY_STRING ? r[1]->str : NULL);
  for (int i = 0; i < 2; i++)
    if (r[i]) freeReplyObject(r[i]);
  if (!ok) {
    redis_disconnect();
    return -1;
  }
  if (now != from) {   /* Redis lost its data meanwhile (or the slot moved): the repair thread starts again */
    log_error("rebuild %s: generation %lld went live meanwhile", org, (long long)now);
    redisReply *u = redisCommand(c, "UNWATCH");
    if (u) freeReplyObject(u);
    else redis_disconnect();
    return -1;
  }
  redisAppendCommand(c, "MULTI");
  redisAppendCommand(c, "SET %s %lld", genkey, (long long)to);
  redisAppendCommand(c, "DEL %s %s", add, sub);
  redisAppendCommand(c, "EXEC");
  for (int i = 0; i < 4; i++) {
    if (redisGetReply(c, (void **)&r[i]) != REDIS_OK || !r[i]) {
      for (int k = 0; k < i; k++) freeReplyObject(r[k]);
      redis_disconnect();
      return -1;
    }
  }
  ok = r[3]->type == REDIS_REPLY_ARRAY;
  for (int i = 0; i < 4; i++) freeReplyObject(r[i]);
  return ok ? 0 : -1;
}

/* next_generation names the generation |rb| writes (the live one + 1, in
 * |*old| the live one) and its key prefix, cleared of anything a rebuild
 * that died left in it, and of the one before the live one, should a
 * process have died before it dropped it. RPC_OK or RPC_UNAVAILABLE. */
static int next_generation(rebuild *rb, int64_t *old, char prefix[BOARD_KEY_MAX]) {
  *old = live_generation(rb->org);
  rb->gen = *old + 1;
  if (*old < 0 || boards_prefix(prefix, BOARD_KEY_MAX, rb->org, rb->gen) != 0 ||
      drop_generation(rb->org, rb->gen) != 0 || (*old > 0 && drop_generation(rb->org, *old - 1) != 0))
    return RPC_UNAVAILABLE;
  boards_registry(rb->registry, sizeof rb->registry, prefix);
  return RPC_OK;
}

/* write_generation writes every board of |t| and the display names into the
 * new generation. RPC_OK or RPC_UNAVAILABLE. */
static int write_generation(rebuild *rb, tally *t, const char *prefix, const int64_t *from_ms) {
  rb->w = redis_writer_start(QUEUE_BYTES, REBUILD_REDIS_TIMEOUT_MS);
  int sent = tally_boards(t, prefix, from_ms, write_board, rb) == 0 && release(rb) == 0 && write_names(rb, t) == 0;
  if (redis_writer_finish(rb->w) == 0 && sent) return RPC_OK;
  if (lb_stopping())   /* shutting down: the next start repairs */
    log_warn("rebuild %s: given up, the service is stopping", rb->org);
  else
    log_error("rebuild %s: writing the new boards failed (redis)", rb->org);
  return RPC_UNAVAILABLE;
}

int lb_rebuild_org(const char *org, int64_t *awards, int64_t *boards) {
  *awards = *boards = 0;
  struct timespec now;
  clock_gettime(CLOCK_REALTIME, &now);
  int64_t now_ms = (int64_t)now.tv_sec * 1000 + now.tv_nsec / 1000000;
  int64_t t0 = mono_us(), t_read = 0, t_write = 0;
  rebuild rb = {.org = org, .now_ms = now_ms};
  int64_t from_ms[WIN_LAST + 1];
  for (int w = 0; w <= WIN_LAST; w++) {
    long ttl = lb_board_ttl(w);
    from_ms[w] = ttl > 0 ? now_ms - (int64_t)ttl * 1000 : INT64_MIN;
  }
  if (store_begin() != RPC_OK) return RPC_UNAVAILABLE;
  redis_set_timeout_ms(REBUILD_REDIS_TIMEOUT_MS);
  tally *t = tally_new();
  int rc = store_lock_org(org, 1);
  int64_t old = -1;
  char prefix[BOARD_KEY_MAX];
  if (!rc) rc = next_generation(&rb, &old, prefix);
  if (!rc) rc = store_ledger_read(org, add_row, t);
  t_read = mono_us();
  if (!rc) {
    rb.restore = write_mode(org);
    if (rb.restore < 0) rc = RPC_UNAVAILABLE;
  }
  if (!rc) rc = write_generation(&rb, t, prefix, from_ms);
  t_write = mono_us();
  /* The ledger's rows are marked applied in the transaction that commits
   * after the switch: a switch that fails rolls the marks back with it. */
  if (!rc) rc = store_mark_all_applied(org);
  int switched = 0;
  if (!rc) {
    switched = switch_to(org, old, rb.gen) == 0 || live_generation(org) == rb.gen;   /* a lost reply is not a failed switch */
    if (!switched) {
      log_error("rebuild %s: switching to generation %lld failed (redis)", org, (long long)rb.gen);
      rc = RPC_UNAVAILABLE;
    }
  }
  int64_t t_switch = mono_us();
  int end = store_end(rc == RPC_OK);
  if (!rc && end) {   /* the boards are switched, their ledger marks are not: pending rows may count twice */
    log_error("rebuild %s: the ledger's commit failed after the switch", org);
    rc = end;
  }
  *awards = tally_awards(t);
  tally_free(t);
  for (int i = 0; i < rb.n_names; i++) free(rb.names[i]);
  for (int i = 0; i < rb.n_cmds; i++) redisFreeCommand(rb.cmds[i].cmd);
  free(rb.cmds);
  dump_buf_free(&rb.payload);
  if (switched) {   /* the new generation is live, whatever else failed: drop the old one */
    lb_gen_set(org, rb.gen);
    topcache_invalidate();
    drop_in_background(org, old);
    if (!rc) *boards = rb.boards;
  } else if (old >= 0) {
    drop_generation(org, rb.gen);   /* leave nothing of it behind */
  }
  redis_set_timeout_ms(2000);
  log_info("rebuilt org %s: %lld awards, %lld boards, %lld entries (%s); ledger read %lld ms, boards and names "
           "written %lld ms, ledger marked and switch %lld ms, the rest %lld ms",
           org, (long long)*awards, (long long)*boards, (long long)rb.pairs,
           rb.restore == WRITE_LISTPACK ? "RESTORE, listpacks" : rb.restore == WRITE_RESTORE ? "RESTORE" : "ZADD",
           (long long)((t_read - t0) / 1000), (long long)((t_write - t_read) / 1000),
           (long long)((t_switch - t_write) / 1000), (long long)((mono_us() - t_switch) / 1000));
  return rc;
}

int lb_rebuild(rpc_ctx *ctx, const void *req, void *resp) {
  (void)req;
  Accolade__V1__RebuildLeaderboardsResponse *out = resp;
  if (rpc_require(ctx, ROLE_ADMIN)) return ctx->code;
  struct timespec t0, t1;
  clock_gettime(CLOCK_MONOTONIC, &t0);
  int rc = lb_rebuild_org(ctx->id.org, &out->awards, &out->boards);
  if (rc == RPC_UNAVAILABLE) return rpc_fail(ctx, RPC_UNAVAILABLE, "rebuild: redis or postgres unavailable");
  if (rc) return pg_fail(ctx, rc, "rebuild");
  clock_gettime(CLOCK_MONOTONIC, &t1);
  out->duration_ms = (t1.tv_sec - t0.tv_sec) * 1000 + (t1.tv_nsec - t0.tv_nsec) / 1000000;
  return RPC_OK;
}
