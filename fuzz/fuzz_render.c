/* Fuzzes svc-notify's renderings (render.h) over any digest a decoder lets
 * through: the HTML email, its text, the MIME message, Slack and Teams
 * payloads. Beyond crashes: no "<script" may reach the HTML (all user text
 * is escaped), and the chat payloads must be JSON. */
#include <json-c/json.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "accolade/v1/notify.pb-c.h"
#include "arena.h"
#include "render.h"

static void json_or_die(char *s) {
  json_object *o = json_tokener_parse(s);
  if (!o) abort();
  json_object_put(o);
  free(s);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  arena a;
  arena_init(&a);
  Accolade__V1__Digest *d = accolade__v1__digest__unpack(&a.pb, size, data);
  if (d) {
    char *html = render_digest_html(d, "org<x>", "https://accolade.example.com");
    if (strstr(html, "<script")) abort();
    char *text = render_digest_text(d, "org", "");
    char *subject = render_digest_subject(d);
    render_mail m = {.from = "a@b", .to = "c@d", .subject = subject, .date = "Mon, 23 Nov 2026 09:00:00 +0000",
                     .message_id = d->week, .text = text, .html = html};
    free(render_mime(&m));
    free(subject);
    free(text);
    free(html);
    json_or_die(render_digest_slack(d, ""));
    json_or_die(render_digest_teams(d, ""));
    if (d->n_top_recognitions) {
      const Accolade__V1__DigestItem *it = d->top_recognitions[0];
      render_shout s = {.kind = "award_granted", .title = it->badge_name, .who = it->recipient_id,
                        .badge = it->badge_name, .justification = it->justification, .source_id = it->source_id,
                        .points = it->points};
      json_or_die(render_slack(&s, "https://accolade.example.com"));
      json_or_die(render_teams(&s, "https://accolade.example.com"));
    }
  }
  arena_free(&a);
  return 0;
}
