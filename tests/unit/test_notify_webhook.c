/* Webhook signing and the server-side request forgery guard (svc-notify/webhook.c). */
#include <criterion/criterion.h>
#include <string.h>

#include "notify.h"

Test(notify_webhook, signature_is_hmac_sha256_of_timestamp_dot_body) {
  char a[80], b[80];
  webhook_sign("Jefe", "what do ya want", "for.nothing?", a);
  cr_assert_eq(strncmp(a, "sha256=", 7), 0, "%s", a);
  cr_assert_eq(strlen(a), 7 + 64, "%s", a);
  /* Both sign "what do ya want.for.nothing?". */
  webhook_sign("Jefe", "what do ya want.for", "nothing?", b);
  cr_assert_str_eq(a, b, "the signed message is ts \".\" body");
  webhook_sign("Jefe", "what do ya want", "for.nothing!", b);
  cr_assert_str_neq(a, b, "the body is signed");
  webhook_sign("Jeff", "what do ya want", "for.nothing?", b);
  cr_assert_str_neq(a, b, "the secret is used");
}

/* HMAC-SHA256("key", "The quick brown fox jumps over the lazy dog.") computed
 * independently (Python's hmac module). */
Test(notify_webhook, signature_matches_a_known_vector) {
  char sig[80];
  webhook_sign("key", "The quick brown fox jumps over the lazy dog", "", sig);
  cr_assert_str_eq(sig, "sha256=e98139c39d76eb80d8db982552b44b251b94f312987f91ee72d12ef673caa813");
}

static int allowed(const char *url, int allow_private) {
  char resolve[600];
  const char *why = NULL;
  int rc = webhook_url_allowed(url, allow_private, resolve, sizeof resolve, &why);
  if (rc == 0) cr_assert_null(why);
  else cr_assert_not_null(why);
  return rc == 0;
}

Test(notify_webhook, private_loopback_and_link_local_addresses_are_refused) {
  const char *refused[] = {"http://127.0.0.1/x",       "http://127.1.2.3:8080/x",  "http://10.0.0.1/x",
                           "http://172.16.0.1/x",      "http://172.31.255.255/x",  "http://192.168.0.10/x",
                           "http://169.254.169.254/x", "http://100.64.0.1/x",      "http://0.0.0.0/x",
                           "http://[::1]/x",           "http://[fe80::1]/x",       "http://[fc00::1]/x",
                           "http://[::ffff:127.0.0.1]/x", "http://localhost/x",    "http://224.0.0.1/x"};
  for (size_t i = 0; i < sizeof refused / sizeof refused[0]; i++)
    cr_expect(!allowed(refused[i], 0), "%s was allowed", refused[i]);
}

Test(notify_webhook, public_addresses_are_allowed_and_pinned_for_curl) {
  const char *ok[] = {"http://93.184.216.34/hook", "https://172.32.0.1/x", "http://100.128.0.1/x", "https://8.8.8.8:8443/x"};
  for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) cr_expect(allowed(ok[i], 0), "%s was refused", ok[i]);
  char resolve[600];
  const char *why;
  cr_assert_eq(webhook_url_allowed("https://8.8.8.8:8443/x", 0, resolve, sizeof resolve, &why), 0);
  cr_assert_str_eq(resolve, "8.8.8.8:8443:8.8.8.8", "curl connects to the checked address");
  cr_assert_eq(webhook_url_allowed("http://93.184.216.34/x", 0, resolve, sizeof resolve, &why), 0);
  cr_assert_str_eq(resolve, "93.184.216.34:80:93.184.216.34");
}

Test(notify_webhook, the_setting_allows_private_addresses_for_local_use) {
  cr_assert(allowed("http://127.0.0.1:9/x", 1));
  cr_assert(allowed("http://10.1.2.3/x", 1));
}

Test(notify_webhook, only_http_and_https_urls_are_accepted) {
  const char *bad[] = {"ftp://8.8.8.8/x", "file:///etc/passwd", "gopher://8.8.8.8/", "not a url", ""};
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) cr_expect(!allowed(bad[i], 1), "'%s' was allowed", bad[i]);
}
