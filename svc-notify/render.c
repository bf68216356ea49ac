/* render.c - see render.h: the digest as HTML (with its charts), text and a
 * MIME message; Slack and Teams are render_chat.c's. */
#include "render.h"

#include <json-c/json.h>
#include <openssl/evp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "render_sb.h"

char *render_html_escape(const char *s) {
  sb b = {0};
  sb_esc(&b, s);
  return sb_take(&b);
}

/* ---- small helpers ---------------------------------------------------- */

char *render_excerpt(const char *s, size_t max) {
  size_t n = strlen(s);
  sb b = {0};
  if (n <= max) {
    sb_put(&b, s, n);
    return sb_take(&b);
  }
  size_t cut = max;
  while (cut > 0 && ((unsigned char)s[cut] & 0xC0) == 0x80) cut--;   /* not inside a character */
  size_t sp = cut;
  while (sp > cut * 3 / 4 && s[sp] != ' ') sp--;
  if (s[sp] == ' ') cut = sp;
  sb_put(&b, s, cut);
  sb_str(&b, "...");
  return sb_take(&b);
}

/* The palette of the charts and badges: readable on white and on dark grey. */
static const char *const PALETTE[] = {"#2563eb", "#d97706", "#059669", "#db2777", "#7c3aed", "#0891b2", "#65a30d",
                                      "#dc2626"};
#define NPALETTE (sizeof PALETTE / sizeof PALETTE[0])

static unsigned hash_str(const char *s) {
  unsigned h = 2166136261u;
  for (; *s; s++) h = (h ^ (unsigned char)*s) * 16777619u;
  return h;
}

/* initials: the first character (UTF-8) of the first two words of |name|. */
static void initials(const char *name, char out[16]) {
  size_t k = 0;
  int words = 0;
  for (const char *p = name; *p && words < 2; p++) {
    if (*p == ' ' || *p == '-') continue;
    size_t len = 1;
    while (p[len] && ((unsigned char)p[len] & 0xC0) == 0x80 && len < 4) len++;
    if (k + len < 15) {
      memcpy(out + k, p, len);
      k += len;
    }
    words++;
    while (*p && p[1] && p[1] != ' ' && p[1] != '-') p++;
  }
  out[k] = 0;
  if (!k) snprintf(out, 16, "*");
}

char *render_badge_image(const char *image_url, const char *name, const char *category) {
  sb b = {0};
  if (is_http_url(image_url)) {
    sb_str(&b, image_url);
    return sb_take(&b);
  }
  char ini[16];
  initials(name, ini);
  const char *color = PALETTE[hash_str(*category ? category : name) % NPALETTE];
  sb svg = {0};
  sb_printf(&svg,
            "<svg xmlns='http://www.w3.org/2000/svg' width='48' height='48' viewBox='0 0 48 48'>"
            "<path d='M16 30 L10 46 L17 42 L21 47 L24 32 Z' fill='%s' opacity='0.7'/>"
            "<path d='M32 30 L38 46 L31 42 L27 47 L24 32 Z' fill='%s' opacity='0.7'/>"
            "<circle cx='24' cy='20' r='17' fill='%s'/><circle cx='24' cy='20' r='13' fill='none' stroke='#ffffff' "
            "stroke-width='1.5' opacity='0.8'/>"
            "<text x='24' y='25' text-anchor='middle' font-family='Arial,Helvetica,sans-serif' font-size='13' "
            "font-weight='bold' fill='#ffffff'>",
            color, color, color);
  sb_esc(&svg, ini);
  sb_str(&svg, "</text></svg>");
  unsigned char *b64 = malloc(4 * ((svg.n + 2) / 3) + 1);
  if (!b64) abort();
  EVP_EncodeBlock(b64, (const unsigned char *)svg.p, (int)svg.n);
  sb_str(&b, "data:image/svg+xml;base64,");
  sb_str(&b, (const char *)b64);
  free(b64);
  free(svg.p);
  return sb_take(&b);
}

static const Accolade__V1__DigestBadge *find_badge(const Accolade__V1__Digest *d, const char *id) {
  for (size_t i = 0; i < d->n_badges; i++)
    if (!strcmp(d->badges[i]->id, id)) return d->badges[i];
  return NULL;
}

static const char *mover_name(const Accolade__V1__DigestMover *m) { return *m->display_name ? m->display_name : m->id; }

/* ---- charts (inline SVG) ---------------------------------------------- */

#define CHART_W 560
#define INK "#1f2933"
#define MUTED "#52606d"

static void svg_open(sb *b, const char *id, int h, const char *label) {
  sb_printf(b,
            "<svg id=\"%s\" class=\"chart\" xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%d\" "
            "viewBox=\"0 0 %d %d\" role=\"img\" aria-label=\"",
            id, CHART_W, h, CHART_W, h);
  sb_esc(b, label);
  sb_printf(b,
            "\" style=\"display:block;max-width:100%%;height:auto;\" font-family=\"Arial,Helvetica,sans-serif\">"
            "<rect x=\"0\" y=\"0\" width=\"%d\" height=\"%d\" rx=\"8\" fill=\"#f8fafc\"/>",
            CHART_W, h);
}

/* bucket: the index of category |cat| in |cats| (added if there is room; the
 * last colour is "other", for no category and for any past the palette). */
static size_t bucket(const char **cats, size_t *nc, const char *cat) {
  if (!*cat) cat = "other";
  for (size_t k = 0; k < *nc; k++)
    if (!strcmp(cats[k], cat)) return k;
  if (*nc < NPALETTE - 1 || (!strcmp(cat, "other") && *nc < NPALETTE)) {
    cats[*nc] = cat;
    return (*nc)++;
  }
  return bucket(cats, nc, "other");   /* only "other" takes the last slot: it is there, or added now */
}

/* chart_categories: stacked bars, one per week, one colour per category. */
static void chart_categories(sb *b, const Accolade__V1__Digest *d) {
  const char *weeks[64], *cats[NPALETTE];
  size_t nw = 0, nc = 0;
  int64_t tot[64] = {0}, max = 0, v[64][NPALETTE] = {{0}};
  for (size_t i = 0; i < d->n_category_weeks; i++) {
    const Accolade__V1__DigestCategoryWeek *c = d->category_weeks[i];
    size_t w = 0;
    while (w < nw && strcmp(weeks[w], c->week)) w++;
    if (w == nw && nw < 64) weeks[nw++] = c->week;
    if (w == nw || c->awards <= 0) continue;
    tot[w] += c->awards;
    v[w][bucket(cats, &nc, c->category)] += c->awards;
  }
  for (size_t w = 0; w < nw; w++) max = tot[w] > max ? tot[w] : max;
  int legend_rows = (int)(nc + 3) / 4, h = 200 + 20 * (legend_rows ? legend_rows : 1);
  svg_open(b, "chart-categories", h, "Badges awarded by category, week by week");
  const int x0 = 40, y0 = 20, pw = CHART_W - 60, ph = 140;
  sb_printf(b, "<line x1=\"%d\" y1=\"%d\" x2=\"%d\" y2=\"%d\" stroke=\"#cbd2d9\"/>", x0, y0 + ph, x0 + pw, y0 + ph);
  sb_printf(b, "<text x=\"%d\" y=\"%d\" font-size=\"11\" fill=\"" MUTED "\" text-anchor=\"end\">%lld</text>", x0 - 6,
            y0 + 10, (long long)max);
  sb_printf(b, "<text x=\"%d\" y=\"%d\" font-size=\"11\" fill=\"" MUTED "\" text-anchor=\"end\">0</text>", x0 - 6,
            y0 + ph);
  double slot = nw ? (double)pw / (double)nw : pw;
  for (size_t w = 0; w < nw; w++) {
    double x = x0 + slot * (double)w + slot * 0.15, bw = slot * 0.7, y = y0 + ph;
    for (size_t k = 0; k < nc && max; k++) {
      if (!v[w][k]) continue;
      double hh = (double)ph * (double)v[w][k] / (double)max;
      y -= hh;
      sb_printf(b, "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" fill=\"%s\"><title>", x, y, bw, hh,
                PALETTE[k]);
      sb_esc(b, cats[k]);
      sb_printf(b, ": %lld</title></rect>", (long long)v[w][k]);
    }
    const char *lab = strchr(weeks[w], 'W');
    sb_printf(b, "<text x=\"%.1f\" y=\"%d\" font-size=\"10\" fill=\"" MUTED "\" text-anchor=\"middle\">", x + bw / 2,
              y0 + ph + 14);
    sb_esc(b, lab ? lab : weeks[w]);
    sb_str(b, "</text>");
  }
  if (!max)
    sb_printf(b, "<text x=\"%d\" y=\"%d\" font-size=\"13\" fill=\"" MUTED "\" text-anchor=\"middle\">No awards in "
                 "these weeks yet</text>", CHART_W / 2, y0 + ph / 2);
  for (size_t k = 0; k < nc; k++) {
    int lx = 40 + (int)(k % 4) * 130, ly = 190 + (int)(k / 4) * 20;
    sb_printf(b, "<rect x=\"%d\" y=\"%d\" width=\"12\" height=\"12\" rx=\"2\" fill=\"%s\"/>", lx, ly, PALETTE[k]);
    sb_printf(b, "<text x=\"%d\" y=\"%d\" font-size=\"12\" fill=\"" INK "\">", lx + 18, ly + 10);
    sb_esc(b, cats[k]);
    sb_str(b, "</text>");
  }
  sb_str(b, "</svg>");
}

/* hbar: one labelled horizontal bar of |v| out of |max| at row |y|. */
static void hbar(sb *b, int y, const char *label, int64_t v, int64_t max, const char *value, const char *color) {
  const int lx = 16, bx = 190, bw = CHART_W - bx - 70;
  sb_printf(b, "<text x=\"%d\" y=\"%d\" font-size=\"13\" fill=\"" INK "\">", lx, y + 14);
  sb_esc(b, label);
  sb_str(b, "</text>");
  sb_printf(b, "<rect x=\"%d\" y=\"%d\" width=\"%d\" height=\"18\" rx=\"3\" fill=\"#e4e7eb\"/>", bx, y, bw);
  double w = max > 0 ? (double)bw * (double)v / (double)max : 0;
  if (w > 0 && w < 2) w = 2;
  sb_printf(b, "<rect x=\"%d\" y=\"%d\" width=\"%.1f\" height=\"18\" rx=\"3\" fill=\"%s\"/>", bx, y, w, color);
  sb_printf(b, "<text x=\"%d\" y=\"%d\" font-size=\"12\" fill=\"" INK "\">", bx + bw + 8, y + 14);
  sb_esc(b, value);
  sb_str(b, "</text>");
}

static void chart_participation(sb *b, const Accolade__V1__DigestParticipation *p) {
  svg_open(b, "chart-participation", 96, "Members who gave and who received recognition");
  if (!p || p->unavailable) {
    sb_printf(b, "<text x=\"%d\" y=\"52\" font-size=\"13\" fill=\"" MUTED "\" text-anchor=\"middle\">Participation "
                 "is not available right now</text></svg>", CHART_W / 2);
    return;
  }
  char v[64];
  snprintf(v, sizeof v, "%lld of %lld", (long long)p->givers, (long long)p->active_members);
  hbar(b, 20, "Gave recognition", p->givers, p->active_members, v, PALETTE[0]);
  snprintf(v, sizeof v, "%lld of %lld", (long long)p->receivers, (long long)p->active_members);
  hbar(b, 56, "Received recognition", p->receivers, p->active_members, v, PALETTE[2]);
  sb_str(b, "</svg>");
}

static void chart_board(sb *b, const Accolade__V1__Digest *d) {
  size_t n = d->n_board < 10 ? d->n_board : 10;
  int h = 24 + 30 * (int)(n ? n : 1);
  svg_open(b, "chart-board", h, *d->team ? "The team's leaderboard" : "The teams' leaderboard");
  if (!n)
    sb_printf(b, "<text x=\"%d\" y=\"%d\" font-size=\"13\" fill=\"" MUTED "\" text-anchor=\"middle\">%s</text>",
              CHART_W / 2, h / 2 + 4, d->movers_unavailable ? "The leaderboard is not available right now"
                                                             : "Nobody on the board yet");
  int64_t max = n ? d->board[0]->points : 0;
  for (size_t i = 0; i < n; i++) {
    const Accolade__V1__DigestBoardEntry *e = d->board[i];
    char label[160], v[32];
    snprintf(label, sizeof label, "%lld. %.60s", (long long)e->rank, *e->display_name ? e->display_name : e->subject_id);
    snprintf(v, sizeof v, "%lld pts", (long long)e->points);
    hbar(b, 12 + 30 * (int)i, label, e->points, max, v, PALETTE[i == 0 ? 1 : 0]);
  }
  sb_str(b, "</svg>");
}

/* ---- the HTML email --------------------------------------------------- */

#define CARD "background-color:#ffffff;color:" INK ";"
#define H2 "margin:28px 0 12px 0;font-size:18px;line-height:24px;color:" INK ";"

static void badge_img(sb *b, const Accolade__V1__Digest *d, const char *badge_id, const char *badge_name,
                      const char *category) {
  const Accolade__V1__DigestBadge *bd = find_badge(d, badge_id);
  char *src = render_badge_image(bd ? bd->image_url : "", badge_name, bd && *bd->category ? bd->category : category);
  sb_str(b, "<img class=\"badge\" src=\"");
  sb_esc(b, src);
  sb_str(b, "\" width=\"48\" height=\"48\" alt=\"");
  sb_esc(b, badge_name);
  sb_str(b, "\" style=\"display:block;width:48px;height:48px;border:0;\">");
  free(src);
}

static void html_head(sb *b, const char *title) {
  sb_str(b, "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
            "<meta name=\"color-scheme\" content=\"light dark\"><meta name=\"supported-color-schemes\" "
            "content=\"light dark\"><title>");
  sb_esc(b, title);
  sb_str(b, "</title><style>@media (prefers-color-scheme: dark) {"
            " .bg { background-color:#111827 !important; }"
            " .card { background-color:#1f2937 !important; color:#e5e7eb !important; }"
            " .card h1, .card h2, .card td, .card p, .card a { color:#e5e7eb !important; }"
            " .quote { background-color:#111827 !important; }"
            " .muted { color:#9ca3af !important; } }</style></head>\n");
}

/* html_masthead: the org, the team and the period's totals. */
static void html_masthead(sb *b, const Accolade__V1__Digest *d, const char *org, const char *when) {
  sb_str(b, "<p class=\"muted\" style=\"margin:0;font-size:13px;color:" MUTED ";\">");
  sb_esc(b, org);
  if (*d->team) {
    sb_str(b, " &middot; team ");
    sb_esc(b, d->team);
  }
  sb_str(b, "</p><h1 style=\"margin:4px 0 8px 0;font-size:26px;line-height:32px;color:" INK ";\">Recognition digest</h1>");
  sb_str(b, "<p style=\"margin:0 0 16px 0;\">");
  sb_esc(b, when);
  sb_printf(b, ": <strong>%lld</strong> award%s, <strong>%lld</strong> points, <strong>%lld</strong> %s recognised.</p>",
            (long long)d->awards, d->awards == 1 ? "" : "s", (long long)d->points, (long long)d->recipients,
            d->recipients == 1 ? "person" : "people");
}

/* html_top: the top recognitions, with their reflections and links. */
static void html_top(sb *b, const Accolade__V1__Digest *d, const char *link_base) {
  sb_str(b, "<h2 style=\"" H2 "\">Top recognitions</h2>");
  if (!d->n_top_recognitions) sb_str(b, "<p class=\"muted\" style=\"color:" MUTED ";\">No recognitions in this period yet.</p>");
  for (size_t i = 0; i < d->n_top_recognitions; i++) {
    const Accolade__V1__DigestItem *it = d->top_recognitions[i];
    sb_str(b, "<table role=\"presentation\" class=\"recognition\" width=\"100%\" cellpadding=\"0\" cellspacing=\"0\" "
              "border=\"0\" style=\"margin:0 0 16px 0;\"><tr><td width=\"60\" valign=\"top\" style=\"width:60px;\">");
    badge_img(b, d, it->badge_id, it->badge_name, it->category);
    sb_str(b, "</td><td valign=\"top\"><p style=\"margin:0 0 6px 0;\"><strong>");
    sb_esc(b, item_name(it));
    sb_str(b, "</strong> earned <strong>");
    sb_esc(b, it->badge_name);
    sb_printf(b, "</strong> <span class=\"muted\" style=\"color:" MUTED ";\">+%lld points", (long long)it->points);
    if (*it->recipient_team) {
      sb_str(b, " &middot; ");
      sb_esc(b, it->recipient_team);
    }
    sb_str(b, "</span></p><p class=\"quote justification\" style=\"margin:0;padding:10px 12px;background-color:#f1f5f9;"
              "border-left:3px solid #2563eb;border-radius:4px;\">");
    sb_esc(b, it->justification);
    sb_str(b, "</p>");
    for (size_t k = 0; k < it->n_reflections; k++) {
      sb_str(b, "<p class=\"reflection\" style=\"margin:6px 0 0 0;font-size:14px;font-style:italic;\">");
      sb_esc(b, it->reflections[k]->member_id);
      sb_str(b, " reflects: &ldquo;");
      sb_esc(b, it->reflections[k]->text);
      sb_str(b, "&rdquo;</p>");
    }
    sb link = {0};
    if (link_to(&link, link_base, it->source_id)) {
      sb_str(b, "<p style=\"margin:6px 0 0 0;font-size:13px;\"><a href=\"");
      sb_esc(b, link.p);
      sb_str(b, "\" style=\"color:#2563eb;\">Read the recognition</a></p>");
    }
    free(link.p);
    sb_str(b, "</td></tr></table>");
  }
}

/* html_holders: who earned a badge for the first time. */
static void html_holders(sb *b, const Accolade__V1__Digest *d) {
  if (d->n_new_badge_holders) {
    sb_str(b, "<h2 style=\"" H2 "\">New badge holders</h2><table role=\"presentation\" width=\"100%\" "
              "cellpadding=\"0\" cellspacing=\"0\" border=\"0\">");
    for (size_t i = 0; i < d->n_new_badge_holders; i++) {
      const Accolade__V1__DigestItem *it = d->new_badge_holders[i];
      sb_str(b, "<tr class=\"holder\"><td width=\"60\" style=\"width:60px;padding:0 0 10px 0;\">");
      badge_img(b, d, it->badge_id, it->badge_name, it->category);
      sb_str(b, "</td><td style=\"padding:0 0 10px 0;\"><strong>");
      sb_esc(b, item_name(it));
      sb_str(b, "</strong> earned <strong>");
      sb_esc(b, it->badge_name);
      sb_str(b, "</strong> for the first time</td></tr>");
    }
    sb_str(b, "</table>");
  }
}

/* html_endorsed: the most endorsed nominations. */
static void html_endorsed(sb *b, const Accolade__V1__Digest *d) {
  if (d->n_most_endorsed) {
    sb_str(b, "<h2 style=\"" H2 "\">Most endorsed</h2>");
    for (size_t i = 0; i < d->n_most_endorsed; i++) {
      const Accolade__V1__DigestEndorsed *e = d->most_endorsed[i];
      sb_str(b, "<p style=\"margin:0 0 10px 0;\"><strong>");
      for (size_t j = 0; j < e->n_nominee_ids; j++) {
        if (j) sb_str(b, ", ");
        sb_esc(b, e->nominee_ids[j]);
      }
      sb_str(b, "</strong> for ");
      sb_esc(b, e->badge_name);
      sb_printf(b, ", %lld endorsement%s: ", (long long)e->endorsements, e->endorsements == 1 ? "" : "s");
      char *ex = render_excerpt(e->justification, 300);
      sb_esc(b, ex);
      free(ex);
      sb_str(b, "</p>");
    }
  }
}

/* html_movers: who climbed the leaderboard. */
static void html_movers(sb *b, const Accolade__V1__Digest *d) {
  sb_str(b, "<h2 style=\"" H2 "\">Leaderboard movers</h2>");
  if (d->movers_unavailable)
    sb_str(b, "<p class=\"muted\" style=\"color:" MUTED ";\">Leaderboard movers are not available right now.</p>");
  else if (!d->n_movers)
    sb_str(b, "<p class=\"muted\" style=\"color:" MUTED ";\">Nobody climbed the board this time.</p>");
  else {
    sb_str(b, "<table role=\"presentation\" width=\"100%\" cellpadding=\"6\" cellspacing=\"0\" border=\"0\" "
              "style=\"border-collapse:collapse;font-size:14px;\">");
    for (size_t i = 0; i < d->n_movers; i++) {
      const Accolade__V1__DigestMover *m = d->movers[i];
      sb_str(b, "<tr class=\"mover\" style=\"border-bottom:1px solid #e4e7eb;\"><td><strong>");
      sb_esc(b, mover_name(m));
      sb_str(b, "</strong>");
      if (*m->team) {
        sb_str(b, " <span class=\"muted\" style=\"color:" MUTED ";\">");
        sb_esc(b, m->team);
        sb_str(b, "</span>");
      }
      if (m->previous_rank)
        sb_printf(b, "</td><td align=\"right\">#%lld &rarr; <strong>#%lld</strong></td>", (long long)m->previous_rank,
                  (long long)m->rank);
      else
        sb_printf(b, "</td><td align=\"right\">new &rarr; <strong>#%lld</strong></td>", (long long)m->rank);
      sb_printf(b, "<td align=\"right\">%lld pts</td></tr>", (long long)m->points);
    }
    sb_str(b, "</table>");
  }
}

char *render_digest_html(const Accolade__V1__Digest *d, const char *org, const char *link_base) {
  sb b = {0};
  char when[64];
  period_label(d, when, sizeof when);
  char title[256];
  snprintf(title, sizeof title, "Recognition digest: %s", when);
  html_head(&b, title);
  sb_str(&b, "<body class=\"bg\" style=\"margin:0;padding:0;background-color:#eef2f6;\">"
             "<table role=\"presentation\" class=\"bg\" width=\"100%\" cellpadding=\"0\" cellspacing=\"0\" border=\"0\" "
             "style=\"background-color:#eef2f6;\"><tr><td align=\"center\" style=\"padding:24px 8px;\">"
             "<table role=\"presentation\" class=\"card\" width=\"600\" cellpadding=\"0\" cellspacing=\"0\" border=\"0\" "
             "style=\"width:600px;max-width:100%;" CARD "border-radius:10px;\"><tr><td style=\"padding:28px 20px;"
             "font-family:Arial,Helvetica,sans-serif;font-size:15px;line-height:22px;color:" INK ";\">");
  html_masthead(&b, d, org, when);
  html_top(&b, d, link_base);
  html_holders(&b, d);
  html_endorsed(&b, d);
  html_movers(&b, d);
  /* charts */
  sb_str(&b, "<h2 style=\"" H2 "\">Badges by category, last 12 weeks</h2>");
  chart_categories(&b, d);
  sb_str(&b, "<h2 style=\"" H2 "\">Participation</h2>");
  chart_participation(&b, d->participation);
  sb_printf(&b, "<h2 style=\"" H2 "\">%s</h2>", *d->team ? "The team's board" : "The teams' board");
  chart_board(&b, d);

  sb_str(&b, "<p class=\"muted\" style=\"margin:28px 0 0 0;font-size:12px;color:" MUTED ";\">You receive this digest "
             "because you opted in to it in Accolade (accolade preferences set --digest off to stop).</p>");
  sb_str(&b, "</td></tr></table></td></tr></table></body></html>\n");
  return sb_take(&b);
}

/* ---- plain text ------------------------------------------------------- */

char *render_digest_text(const Accolade__V1__Digest *d, const char *org, const char *link_base) {
  sb b = {0};
  char when[64];
  period_label(d, when, sizeof when);
  sb_printf(&b, "RECOGNITION DIGEST - %s\n%s%s%s\n\n", when, org, *d->team ? ", team " : "", d->team);
  sb_printf(&b, "%lld award%s, %lld points, %lld %s recognised.\n", (long long)d->awards, d->awards == 1 ? "" : "s",
            (long long)d->points, (long long)d->recipients, d->recipients == 1 ? "person" : "people");
  sb_str(&b, "\nTOP RECOGNITIONS\n\n");
  if (!d->n_top_recognitions) sb_str(&b, "No recognitions in this period yet.\n");
  for (size_t i = 0; i < d->n_top_recognitions; i++) {
    const Accolade__V1__DigestItem *it = d->top_recognitions[i];
    sb_printf(&b, "* %s earned %s (+%lld points)\n  \"%s\"\n", item_name(it), it->badge_name, (long long)it->points,
              it->justification);
    for (size_t k = 0; k < it->n_reflections; k++)
      sb_printf(&b, "  %s reflects: \"%s\"\n", it->reflections[k]->member_id, it->reflections[k]->text);
    sb link = {0};
    if (link_to(&link, link_base, it->source_id)) sb_printf(&b, "  %s\n", link.p);
    free(link.p);
  }
  if (d->n_new_badge_holders) sb_str(&b, "\nNEW BADGE HOLDERS\n\n");
  for (size_t i = 0; i < d->n_new_badge_holders; i++)
    sb_printf(&b, "* %s earned %s for the first time\n", item_name(d->new_badge_holders[i]),
              d->new_badge_holders[i]->badge_name);
  if (d->n_most_endorsed) sb_str(&b, "\nMOST ENDORSED\n\n");
  for (size_t i = 0; i < d->n_most_endorsed; i++) {
    const Accolade__V1__DigestEndorsed *e = d->most_endorsed[i];
    sb_str(&b, "* ");
    for (size_t j = 0; j < e->n_nominee_ids; j++) sb_printf(&b, "%s%s", j ? ", " : "", e->nominee_ids[j]);
    char *ex = render_excerpt(e->justification, 300);
    sb_printf(&b, " for %s, %lld endorsement%s: %s\n", e->badge_name, (long long)e->endorsements,
              e->endorsements == 1 ? "" : "s", ex);
    free(ex);
  }
  sb_str(&b, "\nLEADERBOARD MOVERS\n\n");
  if (d->movers_unavailable) sb_str(&b, "Not available right now.\n");
  for (size_t i = 0; i < d->n_movers; i++) {
    const Accolade__V1__DigestMover *m = d->movers[i];
    char was[32];
    if (m->previous_rank) snprintf(was, sizeof was, "#%lld", (long long)m->previous_rank);
    else snprintf(was, sizeof was, "new");
    sb_printf(&b, "* %s: %s -> #%lld (%lld points)\n", mover_name(m), was, (long long)m->rank, (long long)m->points);
  }
  if (d->participation && !d->participation->unavailable)
    sb_printf(&b, "\nPARTICIPATION\n\n%lld of %lld members gave recognition, %lld received it.\n",
              (long long)d->participation->givers, (long long)d->participation->active_members,
              (long long)d->participation->receivers);
  if (d->n_board) sb_printf(&b, "\n%s\n\n", *d->team ? "THE TEAM'S BOARD" : "THE TEAMS' BOARD");
  for (size_t i = 0; i < d->n_board; i++)
    sb_printf(&b, "%lld. %s, %lld points\n", (long long)d->board[i]->rank,
              *d->board[i]->display_name ? d->board[i]->display_name : d->board[i]->subject_id, (long long)d->board[i]->points);
  return sb_take(&b);
}

/* ---- email ------------------------------------------------------------ */

char *render_digest_subject(const Accolade__V1__Digest *d) {
  char when[64];
  sb b = {0};
  sb_printf(&b, "Recognition digest: %s%s%s", period_label(d, when, sizeof when), *d->team ? ", team " : "", d->team);
  return sb_take(&b);
}

static void sb_b64(sb *b, const char *s, size_t n, int wrap) {
  unsigned char *out = malloc(4 * ((n + 2) / 3) + 1);
  if (!out) abort();
  int len = EVP_EncodeBlock(out, (const unsigned char *)s, (int)n);
  for (int i = 0; i < len; i += 76) {
    sb_put(b, (const char *)out + i, (size_t)(len - i < 76 ? len - i : 76));
    if (wrap) sb_str(b, "\r\n");
  }
  free(out);
}

/* sb_without appends |v| less the characters in |drop|. */
static void sb_without(sb *b, const char *v, const char *drop) {
  for (; *v; v++)
    if (!strchr(drop, *v)) sb_put(b, v, 1);
}

/* header appends "Name: value" with CR/LF removed from |v|. */
static void header(sb *b, const char *name, const char *v) {
  sb_str(b, name);
  sb_str(b, ": ");
  sb_without(b, v, "\r\n");
  sb_str(b, "\r\n");
}

char *render_mime(const render_mail *m) {
  sb b = {0};
  header(&b, "From", m->from);
  header(&b, "To", m->to);
  int ascii = 1;
  for (const char *p = m->subject; *p; p++) ascii &= (unsigned char)*p < 0x80 && *p != '\r' && *p != '\n';
  if (ascii) {
    header(&b, "Subject", m->subject);
  } else {
    sb_str(&b, "Subject: =?UTF-8?B?");
    sb_b64(&b, m->subject, strlen(m->subject), 0);
    sb_str(&b, "?=\r\n");
  }
  header(&b, "Date", m->date);
  sb_str(&b, "Message-ID: <");
  sb_without(&b, m->message_id, "\r\n<>");
  sb_str(&b, ">\r\n");
  char boundary[64];
  snprintf(boundary, sizeof boundary, "accolade-%08x", hash_str(m->message_id));
  sb_printf(&b, "MIME-Version: 1.0\r\nContent-Type: multipart/alternative; boundary=\"%s\"\r\n\r\n", boundary);
  const char *parts[2][2] = {{"text/plain", m->text}, {"text/html", m->html}};
  for (int i = 0; i < 2; i++) {
    sb_printf(&b, "--%s\r\nContent-Type: %s; charset=utf-8\r\nContent-Transfer-Encoding: base64\r\n\r\n", boundary,
              parts[i][0]);
    sb_b64(&b, parts[i][1], strlen(parts[i][1]), 1);
  }
  sb_printf(&b, "--%s--\r\n", boundary);
  return sb_take(&b);
}
