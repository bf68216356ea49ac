/* redis_key_slot against the Redis Cluster specification's examples and
 * against Redis's own CLUSTER KEYSLOT, asked of a cluster-enabled
 * redis-server this test starts. */
#include <criterion/criterion.h>
#include <hiredis/hiredis.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "harness.h"
#include "redis.h"

static unsigned slot(const char *key) { return redis_key_slot(key, strlen(key)); }

Test(redis, key_slot_matches_the_specification_examples) {
  cr_assert_eq(slot("123456789"), 0x31C3u % 16384);   /* the CRC16 (XMODEM) check value */
  cr_assert_eq(slot("somekey"), 11058u);
  cr_assert_eq(slot("foo{hash_tag}"), 2515u);
  cr_assert_eq(slot("{user1000}.following"), slot("{user1000}.followers"));
  cr_assert_eq(slot("foo{}{bar}"), slot("foo{}{bar}"));
  cr_assert_neq(slot("foo{}{bar}"), slot("bar"), "an empty tag hashes the whole key");
  cr_assert_eq(slot("foo{{bar}}zap"), slot("{bar"), "the tag ends at the first '}'");
  cr_assert_eq(slot("foo{bar}{zap}"), slot("bar"), "only the first tag counts");
  cr_assert_eq(slot("lb:{acme}:g3:members:all:all"), slot("rl:{acme}:org"), "one org, one slot");
  cr_assert_eq(redis_key_slot("a\0{b}", 5), slot("b"), "binary keys");
}

/* A key of |n| bytes from a small alphabet heavy in braces. */
static size_t random_key(char *out, unsigned *seed) {
  static const char alphabet[] = "{}{}ab:z0\x01\xff";
  size_t n = (size_t)(rand_r(seed) % 24);
  for (size_t i = 0; i < n; i++) out[i] = alphabet[rand_r(seed) % (sizeof alphabet - 1)];
  return n;
}

Test(redis, key_slot_equals_cluster_keyslot_of_a_real_node, .timeout = 60) {
  th_proc node;
  char dir[] = "/tmp/accolade-keyslot-XXXXXX";
  cr_assert(mkdtemp(dir));
  cr_assert_eq(th_redis_node_start(&node, dir), 0, "a cluster-enabled redis-server did not start");
  redisContext *c = redisConnect("127.0.0.1", node.port);
  cr_assert(c && !c->err, "cannot reach the cluster-enabled redis-server");
  unsigned seed = 19;
  char key[32];
  for (int i = 0; i < 2000; i++) {
    size_t n = i == 0 ? 0 : random_key(key, &seed);
    redisReply *r = redisCommand(c, "CLUSTER KEYSLOT %b", key, n);
    cr_assert(r && r->type == REDIS_REPLY_INTEGER, "CLUSTER KEYSLOT: %s", r ? r->str : c->errstr);
    cr_assert_eq(redis_key_slot(key, n), (unsigned)r->integer, "key %.*s", (int)n, key);
    freeReplyObject(r);
  }
  redisFree(c);
  th_kill(&node);
  char rm[128];
  snprintf(rm, sizeof rm, "rm -rf '%s'", dir);
  cr_expect_eq(system(rm), 0);
}
