/* render_chat.c - shout-outs and the digest for chat channels: Slack Block
 * Kit and Teams Adaptive Cards (see render.h). */
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "render.h"
#include "render_sb.h"

/* mrkdwn: |s| with Slack's three control characters escaped. */
static char *mrkdwn(const char *s) {
  sb b = {0};
  for (; *s; s++) {
    if (*s == '&') sb_str(&b, "&amp;");
    else if (*s == '<') sb_str(&b, "&lt;");
    else if (*s == '>') sb_str(&b, "&gt;");
    else sb_put(&b, s, 1);
  }
  return sb_take(&b);
}

static json_object *jtext(const char *type, const char *text) {
  json_object *t = json_object_new_object();
  json_object_object_add(t, "type", json_object_new_string(type));
  json_object_object_add(t, "text", json_object_new_string(text));
  return t;
}

static json_object *jblock(const char *type) {
  json_object *o = json_object_new_object();
  json_object_object_add(o, "type", json_object_new_string(type));
  return o;
}

static char *json_take(json_object *o) {
  sb b = {0};
  sb_str(&b, json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE));
  json_object_put(o);
  return sb_take(&b);
}

/* slack_header: a header block (plain text, at most 150 characters). */
static json_object *slack_header(const char *text) {
  json_object *h = jblock("header");
  char *ex = render_excerpt(text, 140);
  json_object *t = jtext("plain_text", ex);
  json_object_object_add(t, "emoji", json_object_new_boolean(1));
  json_object_object_add(h, "text", t);
  free(ex);
  return h;
}

static json_object *slack_section(const char *mrkdwn_text) {
  json_object *s = jblock("section");
  json_object_object_add(s, "text", jtext("mrkdwn", mrkdwn_text));
  return s;
}

static json_object *slack_button(const char *label, const char *url) {
  json_object *a = jblock("actions"), *els = json_object_new_array(), *btn = jblock("button");
  json_object_object_add(btn, "text", jtext("plain_text", label));
  json_object_object_add(btn, "url", json_object_new_string(url));
  json_object_object_add(btn, "action_id", json_object_new_string("open_recognition"));
  json_object_array_add(els, btn);
  json_object_object_add(a, "elements", els);
  return a;
}

char *render_slack(const render_shout *s, const char *link_base) {
  json_object *o = json_object_new_object(), *blocks = json_object_new_array();
  json_object_object_add(o, "text", json_object_new_string(s->title));   /* notifications, old clients */
  json_object_array_add(blocks, slack_header(s->title));
  if (*s->who || *s->badge) {
    json_object *sec = jblock("section"), *fields = json_object_new_array();
    char *who = mrkdwn(*s->who ? s->who : "-"), *badge = mrkdwn(*s->badge ? s->badge : "-");
    sb f = {0};
    sb_printf(&f, "*Who*\n%s", who);
    json_object_array_add(fields, jtext("mrkdwn", f.p));
    f.n = 0;
    sb_printf(&f, "*Badge*\n%s", badge);
    if (s->points) sb_printf(&f, " (+%lld points)", (long long)s->points);
    json_object_array_add(fields, jtext("mrkdwn", f.p));
    free(f.p);
    free(who);
    free(badge);
    json_object_object_add(sec, "fields", fields);
    json_object_array_add(blocks, sec);
  }
  if (*s->justification) {
    char *ex = render_excerpt(s->justification, 600), *md = mrkdwn(ex);
    sb q = {0};
    sb_str(&q, ">");
    for (const char *p = md; *p; p++) sb_str(&q, *p == '\n' ? "\n>" : (char[2]){*p, 0});
    json_object_array_add(blocks, slack_section(q.p));
    free(q.p);
    free(md);
    free(ex);
  }
  sb link = {0};
  if (link_to(&link, link_base, s->source_id)) json_object_array_add(blocks, slack_button("View recognition", link.p));
  free(link.p);
  json_object_object_add(o, "blocks", blocks);
  return json_take(o);
}

static json_object *card_text(const char *text, const char *size, int bold, int subtle) {
  json_object *t = jblock("TextBlock");
  json_object_object_add(t, "text", json_object_new_string(text));
  json_object_object_add(t, "wrap", json_object_new_boolean(1));
  if (size) json_object_object_add(t, "size", json_object_new_string(size));
  if (bold) json_object_object_add(t, "weight", json_object_new_string("Bolder"));
  if (subtle) json_object_object_add(t, "isSubtle", json_object_new_boolean(1));
  return t;
}

static json_object *card_fact(const char *title, const char *value) {
  json_object *f = json_object_new_object();
  json_object_object_add(f, "title", json_object_new_string(title));
  json_object_object_add(f, "value", json_object_new_string(value));
  return f;
}

/* teams_message wraps the card |body| (and |link| as an Action.OpenUrl) in
 * the message envelope Teams incoming webhooks take. */
static char *teams_message(json_object *body, const char *link, const char *link_title) {
  json_object *card = jblock("AdaptiveCard");
  json_object_object_add(card, "$schema", json_object_new_string("http://adaptivecards.io/schemas/adaptive-card.json"));
  json_object_object_add(card, "version", json_object_new_string("1.4"));
  json_object_object_add(card, "body", body);
  if (link) {
    json_object *actions = json_object_new_array(), *open = jblock("Action.OpenUrl");
    json_object_object_add(open, "title", json_object_new_string(link_title));
    json_object_object_add(open, "url", json_object_new_string(link));
    json_object_array_add(actions, open);
    json_object_object_add(card, "actions", actions);
  }
  json_object *att = json_object_new_object();
  json_object_object_add(att, "contentType", json_object_new_string("application/vnd.microsoft.card.adaptive"));
  json_object_object_add(att, "contentUrl", NULL);
  json_object_object_add(att, "content", card);
  json_object *atts = json_object_new_array();
  json_object_array_add(atts, att);
  json_object *o = jblock("message");
  json_object_object_add(o, "attachments", atts);
  return json_take(o);
}

char *render_teams(const render_shout *s, const char *link_base) {
  json_object *body = json_object_new_array();
  json_object_array_add(body, card_text(s->title, "Medium", 1, 0));
  if (*s->who || *s->badge) {
    json_object *fs = jblock("FactSet"), *facts = json_object_new_array();
    if (*s->who) json_object_array_add(facts, card_fact("Who", s->who));
    if (*s->badge) {
      char v[256];
      if (s->points) snprintf(v, sizeof v, "%.200s (+%lld points)", s->badge, (long long)s->points);
      else snprintf(v, sizeof v, "%.200s", s->badge);
      json_object_array_add(facts, card_fact("Badge", v));
    }
    json_object_object_add(fs, "facts", facts);
    json_object_array_add(body, fs);
  }
  if (*s->justification) {
    char *ex = render_excerpt(s->justification, 600);
    json_object_array_add(body, card_text(ex, NULL, 0, 1));
    free(ex);
  }
  sb link = {0};
  char *out = teams_message(body, link_to(&link, link_base, s->source_id) ? link.p : NULL, "View recognition");
  free(link.p);
  return out;
}

/* digest_lines: one line per top recognition, for chat. */
static char *digest_lines(const Accolade__V1__Digest *d, int slack) {
  sb b = {0};
  for (size_t i = 0; i < d->n_top_recognitions; i++) {
    const Accolade__V1__DigestItem *it = d->top_recognitions[i];
    char *ex = render_excerpt(it->justification, 160);
    sb_printf(&b, "%s%s%s%s earned %s (+%lld): %s\n", slack ? "• " : "- ", slack ? "*" : "**", item_name(it),
              slack ? "*" : "**", it->badge_name, (long long)it->points, ex);
    free(ex);
  }
  if (!d->n_top_recognitions) sb_str(&b, "No recognitions in this period yet.");
  char *out = slack ? mrkdwn(b.p) : NULL;
  if (out) {
    free(b.p);
    return out;
  }
  return sb_take(&b);
}

char *render_digest_slack(const Accolade__V1__Digest *d, const char *link_base) {
  (void)link_base;
  char when[64], title[128];
  period_label(d, when, sizeof when);
  snprintf(title, sizeof title, "Recognition digest: %s", when);
  json_object *o = json_object_new_object(), *blocks = json_object_new_array();
  json_object_object_add(o, "text", json_object_new_string(title));
  json_object_array_add(blocks, slack_header(title));
  sb s = {0};
  sb_printf(&s, "*%lld* awards, *%lld* points, *%lld* people recognised.", (long long)d->awards, (long long)d->points,
            (long long)d->recipients);
  json_object_array_add(blocks, slack_section(s.p));
  free(s.p);
  json_object_array_add(blocks, jblock("divider"));
  char *lines = digest_lines(d, 1);
  char *cut = render_excerpt(lines, 2900);
  json_object_array_add(blocks, slack_section(cut));
  free(cut);
  free(lines);
  json_object_object_add(o, "blocks", blocks);
  return json_take(o);
}

char *render_digest_teams(const Accolade__V1__Digest *d, const char *link_base) {
  (void)link_base;
  char when[64], title[128], stats[160];
  period_label(d, when, sizeof when);
  snprintf(title, sizeof title, "Recognition digest: %s", when);
  snprintf(stats, sizeof stats, "%lld awards, %lld points, %lld people recognised.", (long long)d->awards,
           (long long)d->points, (long long)d->recipients);
  json_object *body = json_object_new_array();
  json_object_array_add(body, card_text(title, "Large", 1, 0));
  json_object_array_add(body, card_text(stats, NULL, 0, 1));
  char *lines = digest_lines(d, 0);
  json_object_array_add(body, card_text(lines, NULL, 0, 0));
  free(lines);
  return teams_message(body, NULL, NULL);
}
