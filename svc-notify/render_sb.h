/* render_sb.h - what the digest's renderings (render.c: HTML, text, MIME;
 * render_chat.c: Slack, Teams) write with: a growing string that aborts on
 * out of memory, as every allocation in them, and the helpers their formats
 * share. Internal to svc-notify's rendering. */
#ifndef NOTIFY_RENDER_SB_H
#define NOTIFY_RENDER_SB_H

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "render.h"

typedef struct sb {
  char *p;
  size_t n, cap;
} sb;

static inline void sb_put(sb *b, const char *s, size_t n) {
  if (b->n + n + 1 > b->cap) {
    size_t cap = b->cap ? b->cap : 4096;
    while (b->n + n + 1 > cap) cap *= 2;
    char *p = realloc(b->p, cap);
    if (!p) abort();   /* as every allocation here: out of memory is fatal */
    b->p = p;
    b->cap = cap;
  }
  memcpy(b->p + b->n, s, n);
  b->n += n;
  b->p[b->n] = 0;
}

static inline void sb_str(sb *b, const char *s) { sb_put(b, s, strlen(s)); }

__attribute__((format(printf, 2, 3))) static inline void sb_printf(sb *b, const char *fmt, ...) {
  char small[512];
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(small, sizeof small, fmt, ap);
  va_end(ap);
  if (n < 0) return;
  if ((size_t)n < sizeof small) {
    sb_put(b, small, (size_t)n);
    return;
  }
  char *big = malloc((size_t)n + 1);
  if (!big) abort();
  va_start(ap, fmt);
  vsnprintf(big, (size_t)n + 1, fmt, ap);
  va_end(ap);
  sb_put(b, big, (size_t)n);
  free(big);
}

/* sb_esc appends |s| escaped for HTML text and attribute values. */
static inline void sb_esc(sb *b, const char *s) {
  for (; *s; s++) {
    switch (*s) {
      case '&': sb_str(b, "&amp;"); break;
      case '<': sb_str(b, "&lt;"); break;
      case '>': sb_str(b, "&gt;"); break;
      case '"': sb_str(b, "&quot;"); break;
      case '\'': sb_str(b, "&#39;"); break;
      default: sb_put(b, s, 1);
    }
  }
}

static inline char *sb_take(sb *b) {
  if (!b->p) sb_put(b, "", 0);
  return b->p;
}

/* is_http_url: an http(s) URL with nothing that could break out of an attribute. */
static inline int is_http_url(const char *u) {
  return u && (!strncmp(u, "https://", 8) || !strncmp(u, "http://", 7)) && !strpbrk(u, " \"'<>\\\r\n\t");
}

/* link: |base|/recognitions/<id> into |b| (nothing if |base| is not http(s) or |id| is empty); 1 if written. */
static inline int link_to(sb *b, const char *base, const char *id) {
  if (!is_http_url(base) || !id || !*id) return 0;
  size_t n = strlen(base);
  sb_put(b, base, n && base[n - 1] == '/' ? n - 1 : n);
  sb_str(b, "/recognitions/");
  for (const unsigned char *p = (const unsigned char *)id; *p; p++) {
    if ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') || strchr("-_.~:", *p))
      sb_put(b, (const char *)p, 1);
    else
      sb_printf(b, "%%%02X", *p);
  }
  return 1;
}

/* period_label: the digest's period in words ("March 2026", "Week 12, 2026"). */
static inline const char *period_label(const Accolade__V1__Digest *d, char *buf, size_t cap) {
  static const char *const months[] = {"January", "February", "March",     "April",   "May",      "June",
                                       "July",    "August",   "September", "October", "November", "December"};
  int y = 0, m = 0;
  if (*d->month && sscanf(d->month, "%4d-%2d", &y, &m) == 2 && m >= 1 && m <= 12)
    snprintf(buf, cap, "%s %d", months[m - 1], y);
  else if (sscanf(d->week, "%4d-W%2d", &y, &m) == 2)
    snprintf(buf, cap, "Week %d, %d", m, y);
  else
    snprintf(buf, cap, "%s", *d->month ? d->month : d->week);
  return buf;
}

/* item_name: a digest item's recipient, by name when it has one. */
static inline const char *item_name(const Accolade__V1__DigestItem *it) {
  return *it->recipient_name ? it->recipient_name : it->recipient_id;
}

#endif
