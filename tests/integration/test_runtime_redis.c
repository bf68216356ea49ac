/* The runtime's Redis client against a real Redis. */
#include <criterion/criterion.h>
#include <string.h>

#include "harness.h"
#include "redis.h"

static redis_script incr_by = {
    .source = "return redis.call('INCRBY', KEYS[1], ARGV[1])",
};

Test(redis, scripts_run_by_sha_and_reload_after_script_flush) {
  th_init();
  redis_setup("127.0.0.1", th_redis_port(), NULL);
  cr_assert_eq(redis_probe(NULL), 0);
  redisReply *r = redis_cmd("DEL %s", "t:redis:counter");
  freeReplyObject(r);
  const char *args[] = {"t:redis:counter", "5"};
  r = redis_eval(&incr_by, 1, 2, args);
  cr_assert_not_null(r);
  cr_assert_eq(r->type, REDIS_REPLY_INTEGER);
  cr_assert_eq(r->integer, 5);
  freeReplyObject(r);
  cr_assert_eq(strlen(incr_by.sha), 40);
  /* A flushed script cache (as after a Redis restart) is handled. */
  r = redis_cmd("SCRIPT FLUSH");
  freeReplyObject(r);
  r = redis_eval(&incr_by, 1, 2, args);
  cr_assert_not_null(r);
  cr_assert_eq(r->type, REDIS_REPLY_INTEGER, "type %d: %s", r->type, r->type == REDIS_REPLY_ERROR ? r->str : "");
  cr_assert_eq(r->integer, 10);
  freeReplyObject(r);
  redis_disconnect();
  th_fini();
}

Test(redis, unreachable_redis_fails_the_probe_and_returns_null) {
  th_init();
  redis_setup("127.0.0.1", th_free_port(), NULL);
  cr_assert_neq(redis_probe(NULL), 0);
  cr_assert_null(redis_cmd("PING"));
  const char *args[] = {"k", "1"};
  cr_assert_null(redis_eval(&incr_by, 1, 2, args));
  th_fini();
}

Test(redis, a_dropped_connection_is_reopened) {
  th_init();
  redis_setup("127.0.0.1", th_redis_port(), NULL);
  redisReply *r = redis_cmd("CLIENT ID");
  cr_assert_eq(r->type, REDIS_REPLY_INTEGER);
  long long id = r->integer;
  freeReplyObject(r);
  /* Kill our own connection (only ours: tests share this Redis) from another. */
  redisContext *other = redisConnect("127.0.0.1", th_redis_port());
  r = redisCommand(other, "CLIENT KILL ID %lld", id);
  cr_assert_eq(r->type, REDIS_REPLY_INTEGER);
  cr_assert_eq(r->integer, 1);
  freeReplyObject(r);
  redisFree(other);
  /* The first command may see the broken socket; the next one reconnects. */
  r = redis_cmd("PING");
  if (r) freeReplyObject(r);
  cr_assert_eq(redis_probe(NULL), 0);
  redis_disconnect();
  th_fini();
}
