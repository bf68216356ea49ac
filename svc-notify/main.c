/* svc-notify: inbox, live stream, preferences, webhook channels.
 * Wiring only; see notify.h for the decisions. */
#include "notify.h"
#include "svc.h"

#define M(name, req, resp, fn) \
  RPC_UNARY("/accolade.v1.NotifyService/" name, accolade__v1__##req, accolade__v1__##resp, fn)

static const rpc_method methods[] = {
    M("PublishEvent", event, publish_event_response, intake_publish),
    M("PublishEvents", publish_events_request, publish_events_response, intake_publish_many),
    M("ListInbox", list_inbox_request, list_inbox_response, inbox_list),
    M("MarkRead", mark_read_request, mark_read_response, inbox_mark_read),
    RPC_STREAM("/accolade.v1.NotifyService/Subscribe", accolade__v1__subscribe_request, accolade__v1__notification,
               inbox_subscribe),
    M("GetPreferences", get_preferences_request, preferences, prefs_get),
    M("UpdatePreferences", update_preferences_request, preferences, prefs_update),
    M("CreateChannel", create_channel_request, channel, channels_create),
    M("ListChannels", list_channels_request, list_channels_response, channels_list),
    M("DeleteChannel", delete_channel_request, delete_channel_response, channels_delete),
    M("TestChannel", test_channel_request, test_channel_response, channels_test),
    M("ListDeliveries", list_deliveries_request, list_deliveries_response, channels_deliveries),
    M("GetDigest", get_digest_request, digest, digest_get),
};

static int init(const config *cfg, void **app) {
  (void)app;
  int allow = 0;
  char err[256];
  if (config_bool(cfg, "allow-private", "ACCOLADE_NOTIFY_ALLOW_PRIVATE", 0, &allow, err, sizeof err) != 0) return -1;
  mail_start();
  webhook_start(allow);
  live_start();
  return 0;
}

static void fini(void *app) {
  (void)app;
  live_stop();
  webhook_stop();
}

int main(int argc, char **argv) {
  static const svc_def def = {
      .name = "svc-notify",
      .env = "NOTIFY",
      .port = 50054,
      .schema = "notify",
      .migrations = NOTIFY_MIGRATIONS_DIR,
      .methods = methods,
      .nmethods = (int)(sizeof methods / sizeof methods[0]),
      .init = init,
      .fini = fini,
  };
  return svc_main(argc, argv, &def);
}
