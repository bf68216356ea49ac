/* render.c: the HTML digest, its plain-text part, and the Slack (Block Kit)
 * and Teams (Adaptive Card) payloads, checked against their documented shapes. */
#include <criterion/criterion.h>
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "notify.h"
#include "render.h"

#define LINK "https://accolade.example.com"

static Accolade__V1__DigestItem item1, item2;
static Accolade__V1__DigestReflection refl;
static Accolade__V1__DigestReflection *refls[1] = {&refl};
static Accolade__V1__DigestItem *tops[2] = {&item1, &item2};
static Accolade__V1__DigestBadge badge_url, badge_js;
static Accolade__V1__DigestBadge *badges[2] = {&badge_url, &badge_js};
static Accolade__V1__DigestCategoryWeek cw[3];
static Accolade__V1__DigestCategoryWeek *cws[3] = {&cw[0], &cw[1], &cw[2]};
static Accolade__V1__DigestParticipation part;
static Accolade__V1__DigestBoardEntry be;
static Accolade__V1__DigestBoardEntry *board[1] = {&be};

/* a digest with a hostile justification and one badge image of each kind */
static Accolade__V1__Digest digest(void) {
  Accolade__V1__Digest d = ACCOLADE__V1__DIGEST__INIT;
  accolade__v1__digest_item__init(&item1);
  item1.recipient_id = "lena";
  item1.recipient_name = "Lena Fischer";
  item1.badge_id = "deal-closer";
  item1.badge_name = "Deal Closer";
  item1.points = 50;
  item1.justification = "<script>alert('x')</script> & closed Initech \"early\"";
  item1.source_id = "nom 1/2";
  accolade__v1__digest_reflection__init(&refl);
  refl.member_id = "lena";
  refl.text = "Write the <i>plan</i> down early";
  item1.reflections = refls;
  item1.n_reflections = 1;
  accolade__v1__digest_item__init(&item2);
  item2.recipient_id = "jun";
  item2.badge_id = "mentor";
  item2.badge_name = "Mentor";
  item2.category = "enablement";
  item2.points = 25;
  item2.justification = "Paired with the new hires";
  accolade__v1__digest_badge__init(&badge_url);
  badge_url.id = "deal-closer";
  badge_url.name = "Deal Closer";
  badge_url.category = "sales";
  badge_url.image_url = "https://img.example.com/deal.png";
  accolade__v1__digest_badge__init(&badge_js);
  badge_js.id = "mentor";
  badge_js.name = "Mentor";
  badge_js.image_url = "javascript:alert(1)";
  const char *weeks[3] = {"2026-W46", "2026-W47", "2026-W47"};
  const char *cats[3] = {"", "sales", "<b>enablement</b>"};
  for (int i = 0; i < 3; i++) {
    accolade__v1__digest_category_week__init(&cw[i]);
    cw[i].week = (char *)weeks[i];
    cw[i].category = (char *)cats[i];
    cw[i].awards = i;
  }
  accolade__v1__digest_participation__init(&part);
  part.active_members = 15;
  part.givers = 9;
  part.receivers = 12;
  accolade__v1__digest_board_entry__init(&be);
  be.rank = 1;
  be.subject_id = "enterprise";
  be.points = 240;
  d.week = "2026-W47";
  d.awards = 2;
  d.points = 75;
  d.recipients = 2;
  d.top_recognitions = tops;
  d.n_top_recognitions = 2;
  d.badges = badges;
  d.n_badges = 2;
  d.category_weeks = cws;
  d.n_category_weeks = 3;
  d.participation = &part;
  d.board = board;
  d.n_board = 1;
  return d;
}

static int count(const char *hay, const char *needle) {
  int n = 0;
  for (const char *p = hay; (p = strstr(p, needle)); p += strlen(needle)) n++;
  return n;
}

Test(render, user_text_in_the_html_is_escaped) {
  Accolade__V1__Digest d = digest();
  char *html = render_digest_html(&d, "demo<org>", LINK);
  cr_assert_null(strstr(html, "<script>"), "a justification's script tag reached the HTML");
  cr_assert(strstr(html, "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt; &amp; closed Initech &quot;early&quot;"),
            "the justification is shown as text");
  cr_assert(strstr(html, "demo&lt;org&gt;"));
  cr_assert(strstr(html, "lena reflects: &ldquo;Write the &lt;i&gt;plan&lt;/i&gt; down early&rdquo;"),
            "the reflection, escaped, under its recognition");
  cr_assert_null(strstr(html, "<b>enablement</b>"), "a category is text in the chart legend too");
  cr_assert(strstr(html, "&lt;b&gt;enablement&lt;/b&gt;"));
  cr_assert(strstr(html, "href=\"" LINK "/recognitions/nom%201%2F2\""), "the link escapes the id");
  free(html);
}

Test(render, every_badge_has_an_image_and_only_http_urls_are_used) {
  Accolade__V1__Digest d = digest();
  char *html = render_digest_html(&d, "demo", LINK);
  cr_assert_eq(count(html, "<img "), 2);
  cr_assert(strstr(html, "src=\"https://img.example.com/deal.png\""));
  cr_assert_null(strstr(html, "javascript:"), "a javascript: image_url is not used");
  cr_assert_eq(count(html, "src=\"data:image/svg+xml;base64,"), 1, "the other badge is drawn inline");
  char *src = render_badge_image("", "Rising Star", "milestone");
  cr_assert(!strncmp(src, "data:image/svg+xml;base64,", 26));
  free(src);
  free(html);
}

Test(render, the_html_is_a_self_contained_email_with_three_charts) {
  Accolade__V1__Digest d = digest();
  char *html = render_digest_html(&d, "demo", LINK);
  cr_assert(!strncmp(html, "<!DOCTYPE html>", 15));
  cr_assert(strstr(html, "<meta name=\"color-scheme\" content=\"light dark\">"), "dark-mode aware");
  cr_assert(strstr(html, "prefers-color-scheme: dark"));
  cr_assert_null(strstr(html, "<link"), "no external stylesheet");
  cr_assert_null(strstr(html, "<script"), "no script in an email");
  cr_assert(strstr(html, "id=\"chart-categories\""));
  cr_assert(strstr(html, "id=\"chart-participation\""));
  cr_assert(strstr(html, "id=\"chart-board\""));
  cr_assert_eq(count(html, "<svg "), 3);
  cr_assert(strstr(html, "9 of 15"), "givers out of active members");
  cr_assert(strstr(html, "Week 47, 2026"));
  cr_assert(strstr(html, "W46") && strstr(html, "W47"), "one bar per week");
  free(html);
}

Test(render, the_text_part_has_the_justification_as_written) {
  Accolade__V1__Digest d = digest();
  char *text = render_digest_text(&d, "demo", LINK);
  cr_assert(strstr(text, "RECOGNITION DIGEST - Week 47, 2026"));
  cr_assert(strstr(text, "Lena Fischer earned Deal Closer (+50 points)"), "by name");
  cr_assert(strstr(text, "jun earned Mentor"), "by id when no name is known");
  cr_assert(strstr(text, "<script>alert('x')</script>"), "plain text is not escaped");
  cr_assert(strstr(text, "lena reflects: \"Write the <i>plan</i> down early\""));
  cr_assert(strstr(text, "9 of 15 members gave recognition, 12 received it."));
  free(text);
}

Test(render, a_month_is_named_and_excerpts_cut_between_characters) {
  Accolade__V1__Digest d = digest();
  d.week = "";
  d.month = "2026-11";
  char *text = render_digest_text(&d, "demo", "");
  cr_assert(strstr(text, "November 2026"));
  cr_assert_null(strstr(text, "/recognitions/"), "no link base, no links");
  free(text);
  char *ex = render_excerpt("Ünïcödé ünïcödé", 3);   /* 'Ü' is 2 bytes, 'n' 1, 'ï' 2 */
  cr_assert_str_eq(ex, "Ün...");
  free(ex);
  ex = render_excerpt("short", 10);
  cr_assert_str_eq(ex, "short");
  free(ex);
}

Test(render, periods_are_real_weeks_and_months) {
  digest_period p, prev;
  cr_assert_eq(digest_period_parse("2026-W47", "", &p), 0);
  cr_assert_eq(p.start, 1794787200, "Monday 2026-11-16 00:00 UTC");
  cr_assert_eq(p.end - p.start, 7 * 86400);
  digest_period_before(&p, &prev);
  cr_assert_str_eq(prev.week, "2026-W46");
  cr_assert_eq(digest_period_parse("2026-W53", "", &p), 0, "2026 has 53 ISO weeks");
  cr_assert_eq(digest_period_parse("2025-W53", "", &p), -1, "2025 has 52");
  cr_assert_eq(digest_period_parse("2026-W00", "", &p), -1);
  cr_assert_eq(digest_period_parse("2026-47", "", &p), -1);
  cr_assert_eq(digest_period_parse("", "2026-12", &p), 0);
  cr_assert_eq(p.end, 1798761600, "to 2027-01-01");
  digest_period_before(&p, &prev);
  cr_assert_str_eq(prev.month, "2026-11");
  cr_assert_eq(digest_period_parse("", "2026-13", &p), -1);
  cr_assert_eq(digest_period_parse("", "2026-1", &p), -1);
}

/* ---- Slack Block Kit ---- */

static json_object *get(json_object *o, const char *k) {
  json_object *v = NULL;
  cr_assert(json_object_object_get_ex(o, k, &v), "no \"%s\" in %s", k, json_object_to_json_string(o));
  return v;
}

static const char *str(json_object *o, const char *k) {
  json_object *v = get(o, k);
  cr_assert(json_object_is_type(v, json_type_string), "\"%s\" is not a string", k);
  return json_object_get_string(v);
}

/* text_object: a Block Kit text object of |type| whose text is at most |max| characters. */
static const char *text_object(json_object *t, const char *type, size_t max) {
  cr_assert_str_eq(str(t, "type"), type);
  const char *s = str(t, "text");
  cr_assert(strlen(s) >= 1 && strlen(s) <= max, "text of %zu characters (1..%zu)", strlen(s), max);
  return s;
}

/* slack_check validates |body| as an incoming-webhook message with blocks;
 * returns the blocks array. */
static json_object *slack_check(json_object *o) {
  cr_assert_not_null(o, "not JSON");
  cr_assert(strlen(str(o, "text")) > 0, "the fallback text is required with blocks");
  json_object *blocks = get(o, "blocks");
  cr_assert(json_object_is_type(blocks, json_type_array));
  size_t n = json_object_array_length(blocks);
  cr_assert(n >= 1 && n <= 50, "1..50 blocks");
  for (size_t i = 0; i < n; i++) {
    json_object *b = json_object_array_get_idx(blocks, i);
    const char *type = str(b, "type");
    if (!strcmp(type, "header")) {
      text_object(get(b, "text"), "plain_text", 150);
    } else if (!strcmp(type, "section")) {
      json_object *t = NULL, *f = NULL;
      int has_text = json_object_object_get_ex(b, "text", &t), has_fields = json_object_object_get_ex(b, "fields", &f);
      cr_assert(has_text || has_fields, "a section needs text or fields");
      if (has_text) text_object(t, "mrkdwn", 3000);
      if (has_fields) {
        size_t nf = json_object_array_length(f);
        cr_assert(nf >= 1 && nf <= 10, "at most 10 fields");
        for (size_t k = 0; k < nf; k++) text_object(json_object_array_get_idx(f, k), "mrkdwn", 2000);
      }
    } else if (!strcmp(type, "actions")) {
      json_object *els = get(b, "elements");
      size_t ne = json_object_array_length(els);
      cr_assert(ne >= 1 && ne <= 25);
      for (size_t k = 0; k < ne; k++) {
        json_object *e = json_object_array_get_idx(els, k);
        cr_assert_str_eq(str(e, "type"), "button");
        text_object(get(e, "text"), "plain_text", 75);
        cr_assert(strlen(str(e, "action_id")) <= 255);
        const char *url = str(e, "url");
        cr_assert(!strncmp(url, "https://", 8) && strlen(url) <= 3000);
      }
    } else {
      cr_assert(!strcmp(type, "divider") || !strcmp(type, "context"), "unexpected block type %s", type);
    }
  }
  return blocks;
}

static render_shout shout(void) {
  return (render_shout){.kind = "award_granted",
                        .title = "Lena Fischer earned Deal Closer (+50 points)",
                        .who = "Lena <Fischer>",
                        .badge = "Deal Closer",
                        .justification = "Rebuilt the <Initech> pricing model & closed the renewal early.",
                        .source_id = "n-42",
                        .points = 50};
}

Test(render, slack_payload_is_block_kit_with_who_badge_excerpt_and_link) {
  render_shout s = shout();
  char *body = render_slack(&s, LINK);
  json_object *o = json_tokener_parse(body);
  json_object *blocks = slack_check(o);
  cr_assert_str_eq(str(json_object_array_get_idx(blocks, 0), "type"), "header");
  cr_assert(strstr(body, "Lena &lt;Fischer&gt;"), "mrkdwn control characters are escaped: %s", body);
  cr_assert(strstr(body, "Rebuilt the &lt;Initech&gt; pricing model &amp; closed"), "%s", body);
  cr_assert(strstr(body, "\"url\":\"" LINK "/recognitions/n-42\""), "%s", body);
  cr_assert(strstr(body, "Deal Closer (+50 points)"));
  json_object_put(o);
  free(body);
  /* a long justification is cut; no link base, no button */
  char longj[5000];
  memset(longj, 'x', sizeof longj - 1);
  longj[sizeof longj - 1] = 0;
  s.justification = longj;
  s.title = longj;
  body = render_slack(&s, "");
  o = json_tokener_parse(body);
  slack_check(o);
  cr_assert_null(strstr(body, "\"actions\""));
  json_object_put(o);
  free(body);
}

Test(render, slack_digest_is_block_kit) {
  Accolade__V1__Digest d = digest();
  char *body = render_digest_slack(&d, LINK);
  json_object *o = json_tokener_parse(body);
  slack_check(o);
  cr_assert(strstr(body, "&lt;script&gt;"), "%s", body);
  json_object_put(o);
  free(body);
}

/* ---- Teams Adaptive Card ---- */

/* teams_check validates |o| as a Teams incoming-webhook message carrying one
 * Adaptive Card; returns the card. */
static json_object *teams_check(json_object *o) {
  cr_assert_not_null(o, "not JSON");
  cr_assert_str_eq(str(o, "type"), "message");
  json_object *atts = get(o, "attachments");
  cr_assert_eq(json_object_array_length(atts), 1);
  json_object *att = json_object_array_get_idx(atts, 0);
  cr_assert_str_eq(str(att, "contentType"), "application/vnd.microsoft.card.adaptive");
  json_object *card = get(att, "content");
  cr_assert_str_eq(str(card, "type"), "AdaptiveCard");
  cr_assert_str_eq(str(card, "$schema"), "http://adaptivecards.io/schemas/adaptive-card.json");
  const char *v = str(card, "version");
  cr_assert(!strcmp(v, "1.0") || !strcmp(v, "1.2") || !strcmp(v, "1.4") || !strcmp(v, "1.5"), "version %s", v);
  json_object *body = get(card, "body");
  cr_assert_gt(json_object_array_length(body), 0);
  for (size_t i = 0; i < json_object_array_length(body); i++) {
    json_object *e = json_object_array_get_idx(body, i);
    const char *type = str(e, "type");
    if (!strcmp(type, "TextBlock")) {
      cr_assert_gt(strlen(str(e, "text")), 0);
    } else if (!strcmp(type, "FactSet")) {
      json_object *facts = get(e, "facts");
      cr_assert_gt(json_object_array_length(facts), 0);
      for (size_t k = 0; k < json_object_array_length(facts); k++) {
        str(json_object_array_get_idx(facts, k), "title");
        str(json_object_array_get_idx(facts, k), "value");
      }
    } else {
      cr_assert_fail("unexpected element %s", type);
    }
  }
  json_object *actions = NULL;
  if (json_object_object_get_ex(card, "actions", &actions))
    for (size_t k = 0; k < json_object_array_length(actions); k++) {
      json_object *a = json_object_array_get_idx(actions, k);
      cr_assert_str_eq(str(a, "type"), "Action.OpenUrl");
      str(a, "title");
      cr_assert(!strncmp(str(a, "url"), "https://", 8));
    }
  return card;
}

Test(render, teams_payload_is_an_adaptive_card_message) {
  render_shout s = shout();
  char *body = render_teams(&s, LINK);
  json_object *o = json_tokener_parse(body);
  json_object *card = teams_check(o);
  json_object *actions = get(card, "actions");
  cr_assert_str_eq(str(json_object_array_get_idx(actions, 0), "url"), LINK "/recognitions/n-42");
  cr_assert(strstr(body, "Lena <Fischer>"), "JSON carries the text as is: %s", body);
  cr_assert(strstr(body, "\"title\":\"Badge\",\"value\":\"Deal Closer (+50 points)\""), "%s", body);
  json_object_put(o);
  free(body);
  Accolade__V1__Digest d = digest();
  body = render_digest_teams(&d, LINK);
  o = json_tokener_parse(body);
  teams_check(o);
  json_object_put(o);
  free(body);
}

Test(render, categories_past_the_palette_are_drawn_as_other) {
  Accolade__V1__Digest d = digest();
  Accolade__V1__DigestCategoryWeek many[10], *pm[10];
  char names[10][8];
  for (int i = 0; i < 10; i++) {
    accolade__v1__digest_category_week__init(&many[i]);
    snprintf(names[i], sizeof names[i], "cat%d", i);
    many[i].week = "2026-W47";
    many[i].category = names[i];
    many[i].awards = 1;
    pm[i] = &many[i];
  }
  d.category_weeks = pm;
  d.n_category_weeks = 10;
  char *html = render_digest_html(&d, "demo", LINK);
  cr_assert(strstr(html, ">cat6</text>"), "seven categories by name");
  cr_assert_null(strstr(html, ">cat7</text>"));
  cr_assert(strstr(html, "<title>other: 3</title>"), "the other three together");
  cr_assert(strstr(html, ">other</text>"), "and in the legend");
  free(html);
}

