/* watch.c - `accolade watch`: the caller's notifications as they come
 * (NotifyService/Subscribe through the gateway). Each line carries the
 * notification id; `--after ID` resumes after it, missing nothing. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <json-c/json.h>

#include "accolade/v1/notify.pb-c.h"
#include "cli.h"
#include "pbfill.h"
#include "pbprint.h"

typedef struct watch {
  const cli *c;
  long left;    /* stop after this many notifications; <0: never */
  int bad;
} watch;

static int on_message(void *arg, const uint8_t *buf, size_t len) {
  watch *w = arg;
  Accolade__V1__Notification *n = accolade__v1__notification__unpack(NULL, len, buf);
  if (!n) {
    w->bad = 1;
    return 1;
  }
  if (!n->heartbeat) {
    if (w->c->json) {
      json_object *o = pb_to_json(&n->base);
      printf("%s\n", json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE));
      json_object_put(o);
    } else {
      time_t t = (time_t)(n->create_time_ms / 1000);
      struct tm tm;
      char when[32];
      gmtime_r(&t, &tm);
      strftime(when, sizeof when, "%Y-%m-%d %H:%M:%S", &tm);
      printf("%-8lld %s  %-20s %s\n", (long long)n->id, when, n->kind, n->title);
    }
    fflush(stdout);
    if (w->left > 0) w->left--;
  }
  accolade__v1__notification__free_unpacked(n, NULL);
  return w->left == 0;
}

int cmd_watch(const cli *c, int argc, char **argv, int i) {
  arena a;
  arena_init(&a);
  Accolade__V1__SubscribeRequest req = ACCOLADE__V1__SUBSCRIBE_REQUEST__INIT;
  watch w = {.c = c, .left = -1};
  static const struct {
    const char *flag, *field;
  } map[] = {{"after", "after_id"}, {"heartbeat", "heartbeat_seconds"}};
  char err[256];
  int rc = 0;
  for (int k = i; k < argc; k++) {
    const char *t = argv[k], *v = k + 1 < argc ? argv[k + 1] : NULL;
    int known = 0;
    for (size_t m = 0; m < sizeof map / sizeof map[0]; m++) {
      if (strcmp(t + 2, map[m].flag) || strncmp(t, "--", 2)) continue;
      known = 1;
      if (!v || pb_set(&a, req.base.descriptor, &req, map[m].field, v, err, sizeof err)) {
        fprintf(stderr, "accolade watch: --%s: %s\n", map[m].flag, v ? err : "needs a value");
        rc = EXIT_USAGE;
        goto out;
      }
      k++;
    }
    if (known) continue;
    if (!strcmp(t, "--from-start")) {
      req.from_start = 1;
    } else if (!strcmp(t, "--count") && v && atol(v) > 0) {
      w.left = atol(v);
      k++;
    } else {
      fprintf(stderr, "accolade watch: unexpected argument '%s' (--after ID, --from-start, --count N, "
                      "--heartbeat S)\n", t);
      rc = EXIT_USAGE;
      goto out;
    }
  }
  size_t len = protobuf_c_message_get_packed_size(&req.base);
  uint8_t *buf = arena_alloc(&a, len + 1);
  protobuf_c_message_pack(&req.base, buf);
  const char *md[3];
  char bearer[8192];
  rpc_call_opts o = cli_opts(c, md, bearer, sizeof bearer);
  o.timeout_ms = c->timeout_ms;   /* a stream has no deadline unless asked */
  rpc_status st = {0};
  int code = rpc_call_stream_raw(c->addr, "/accolade.v1.NotifyService/Subscribe", buf, len, &o, &a, on_message, &w,
                                 NULL, &st);
  if (w.bad) {
    rpc_status bad = {.code = RPC_INTERNAL, .message = "a notification does not decode"};
    rc = cli_fail(c, "watch", &bad);
  } else if (w.left == 0) {
    rc = 0;   /* we ended it after --count notifications */
  } else if (code != RPC_OK) {
    rc = cli_fail(c, "watch", &st);
  }
out:
  arena_free(&a);
  return rc;
}
