/* svc-leaderboard: Redis sorted-set leaderboards over a Postgres ledger.
 * Wiring only; see lb.h for the decisions and boards.h for keys and ties. */
#include "lb.h"
#include "topcache.h"
#include "svc.h"

#define M(name, req, resp, fn) \
  RPC_UNARY("/accolade.v1.LeaderboardService/" name, accolade__v1__##req, accolade__v1__##resp, fn)

static const rpc_method methods[] = {
    M("RecordAward", award_record, record_award_response, lb_record),
    M("RecordAwards", record_awards_request, record_awards_response, lb_record_many),
    M("RetractAward", retract_award_request, retract_award_response, lb_retract),
    M("GetTop", get_top_request, get_top_response, lb_get_top),
    M("GetRank", get_rank_request, get_rank_response, lb_get_rank),
    M("GetAround", get_around_request, get_around_response, lb_get_around),
    M("RebuildLeaderboards", rebuild_leaderboards_request, rebuild_leaderboards_response, lb_rebuild),
};

static int init(const config *cfg, void **app) {
  (void)cfg;
  (void)app;
  lb_config_load();
  topcache_init();
  lb_repair_start();
  return 0;
}

static void fini(void *app) {
  (void)app;
  lb_repair_stop();
}

int main(int argc, char **argv) {
  static const svc_def def = {
      .name = "svc-leaderboard",
      .env = "LEADERBOARD",
      .port = 50053,
      .schema = "leaderboard",
      .migrations = LEADERBOARD_MIGRATIONS_DIR,
      .redis = SVC_REDIS_REQUIRED,
      .methods = methods,
      .nmethods = (int)(sizeof methods / sizeof methods[0]),
      .init = init,
      .fini = fini,
  };
  return svc_main(argc, argv, &def);
}
