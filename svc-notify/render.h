/* render.h - the digest and shout-outs as people read them.
 *
 * Pure functions over the protobuf messages: no database, no network, no
 * clock; unit-tested on their own (tests/unit/test_notify_render.c). Every
 * result is one malloc'd NUL-terminated string the caller frees.
 *
 * Decisions:
 * - Every piece of user text (names, justifications, badge names, team ids)
 *   is escaped for where it lands: HTML text and attributes, Slack mrkdwn
 *   (& < >), JSON (by json-c). A "<script>" in a justification is text.
 * - The HTML email is one table-based page with inline styles, a light card
 *   on an explicit background (so a client that inverts colours keeps it
 *   readable) and a prefers-color-scheme block that darkens it where the
 *   client supports that; charts are inline SVG with their own background.
 * - A badge image is its image_url when that is an http(s) URL, else an
 *   inline SVG medal as a data: URI: never a broken image.
 * - Links are |link_base| + "/recognitions/<nomination id>"; a |link_base|
 *   that is not http(s) gives no links.
 */
#ifndef NOTIFY_RENDER_H
#define NOTIFY_RENDER_H

#include <stddef.h>
#include <stdint.h>

#include "accolade/v1/notify.pb-c.h"

/* render_digest_html: |d| as a self-contained HTML email for |org|. */
char *render_digest_html(const Accolade__V1__Digest *d, const char *org, const char *link_base);
/* render_digest_text: the plain-text part beside it. */
char *render_digest_text(const Accolade__V1__Digest *d, const char *org, const char *link_base);

/* render_digest_subject: "Recognition digest: Week 47, 2026" (or the month). */
char *render_digest_subject(const Accolade__V1__Digest *d);

/* render_html_escape: |s| with & < > " ' as entities. */
char *render_html_escape(const char *s);
/* render_badge_image: the src of |b|'s image (its http(s) image_url, or a
 * data:image/svg+xml URI drawn from its name and category). */
char *render_badge_image(const char *image_url, const char *name, const char *category);
/* render_excerpt: at most |max| bytes of |s| cut at a UTF-8 boundary (and
 * on a space when one is near), with "..." when cut. */
char *render_excerpt(const char *s, size_t max);

/* One email: multipart/alternative, the plain text first and the HTML
 * second (clients show the last they can), both UTF-8 in base64. */
typedef struct render_mail {
  const char *from, *to;      /* addresses, "Name <a@b>" or "a@b" */
  const char *subject;        /* UTF-8; encoded (RFC 2047) when not ASCII */
  const char *date;           /* RFC 5322, e.g. "Mon, 23 Nov 2026 09:00:00 +0000" */
  const char *message_id;     /* without the angle brackets */
  const char *text, *html;
} render_mail;
/* render_mime: |m| as a message ready for SMTP DATA (CRLF line ends). CR
 * and LF in header values are dropped: no header injection. */
char *render_mime(const render_mail *m);

/* A shout-out for a chat channel: one event, in words. */
typedef struct render_shout {
  const char *kind;           /* award_granted, nomination_created, ... */
  const char *title;          /* one line, already in words */
  const char *who;            /* the recipient's name or id ("" if none) */
  const char *badge;          /* badge name ("" if none) */
  const char *justification;  /* user text ("" if none) */
  const char *source_id;      /* nomination id for the link ("" : no link) */
  int64_t points;
} render_shout;

/* render_slack: a Slack incoming-webhook body with Block Kit blocks
 * (header, section with fields, the justification excerpt, a button link)
 * and "text" as the notification fallback. */
char *render_slack(const render_shout *s, const char *link_base);
/* render_teams: a Microsoft Teams incoming-webhook message carrying one
 * Adaptive Card (version 1.4: TextBlocks, a FactSet, Action.OpenUrl). */
char *render_teams(const render_shout *s, const char *link_base);
/* render_digest_slack / render_digest_teams: the digest's markdown, in the same shapes. */
char *render_digest_slack(const Accolade__V1__Digest *d, const char *link_base);
char *render_digest_teams(const Accolade__V1__Digest *d, const char *link_base);

#endif
