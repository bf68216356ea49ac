/* The digest as people read it: the demo org seeded through the public API
 * on the whole suite, `accolade digest --html` written to a file and opened
 * in headless Chromium (tests/support/page_check.py, over the DevTools
 * protocol). The page must load without console errors, every image and
 * chart must be there and visible, and the top recognition's text must
 * show, as text even when it holds a <script>; every text must keep WCAG AA
 * contrast in light and in dark mode. The page and its screenshots stay in
 * build/artifacts/newsletter/ for CI to keep.
 */
#include <criterion/criterion.h>
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "accolade/v1/nomination.pb-c.h"
#include "harness.h"

#define SECRET "newsletter-suite-secret"
#define ARTIFACTS ACCOLADE_SOURCE_DIR "/build/artifacts/newsletter"
#define HOSTILE "<script>document.title='pwned'</script> Rewrote the Initech onboarding guide & cut setup time in half"
#define REFLECTION "What I would do again: ask the support team which step <b>hurts</b> most, first."

static th_suite suite;
static char org[64];

/* sh runs |cmd| with /bin/sh; returns its exit status. */
static int sh(const char *cmd) {
  int st = system(cmd);
  return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

/* cli runs the accolade CLI as |user| (|role|) with |args| (shell words),
 * stdout to |out_path|; returns its exit status. */
static int cli(const char *user, const char *role, const char *args, const char *out_path) {
  char cmd[4096];
  snprintf(cmd, sizeof cmd, "%s --addr %s --token %s %s > %s 2>>%s/cli.err", th_bin("accolade"), suite.gateway.addr,
           th_jwt(SECRET, org, user, role, "", 600), args, out_path, ARTIFACTS);
  return sh(cmd);
}

static char *slurp(const char *path) {
  char *s = th_slurp(path);
  cr_assert_not_null(s, "cannot read %s", path);
  return s;
}

static json_object *key(json_object *o, const char *k) {
  json_object *v = NULL;
  cr_assert(json_object_object_get_ex(o, k, &v), "no %s in %s", k, json_object_to_json_string(o));
  return v;
}

/* page_check opens |page| in Chromium, screenshot to |shot| (and, in dark
 * mode, to |dark| unless NULL); the report, or the test is skipped when
 * Chromium is not installed. */
static json_object *page_check(const char *page, const char *shot, const char *dark) {
  char cmd[2048], report[600];
  snprintf(report, sizeof report, "%s/report.json", ARTIFACTS);
  snprintf(cmd, sizeof cmd, "/usr/bin/python3 %s/tests/support/page_check.py %s %s %s > %s", ACCOLADE_SOURCE_DIR, page,
           shot, dark ? dark : "", report);
  int rc = sh(cmd);
  if (rc == 77) cr_skip_test("chromium is not installed (scripts/lib.sh installs the Debian package)");
  cr_assert_eq(rc, 0, "page_check.py failed on %s", page);
  char *text = slurp(report);
  json_object *o = json_tokener_parse(text);
  cr_assert_not_null(o, "page_check.py said: %s", text);
  free(text);
  return o;
}

/* The checker itself fails a broken page: a missing image, an error on the
 * console, text too faint to read. */
static void checker_sees_a_broken_page(void) {
  const char *page = ARTIFACTS "/broken.html";
  FILE *f = fopen(page, "w");
  fputs("<html><body><img src=\"missing.png\" width=\"40\" height=\"40\"><script>console.error('broken')</script>"
        "<p style=\"color:#dddddd\">faint</p></body></html>", f);
  fclose(f);
  json_object *r = page_check(page, ARTIFACTS "/broken.png", NULL);
  cr_assert_geq(json_object_array_length(key(r, "console_errors")), 2, "the checker missed the errors: %s",
                json_object_to_json_string(r));
  json_object *img = json_object_array_get_idx(key(r, "images"), 0);
  cr_assert_eq(json_object_get_int(key(img, "natural_width")), 0, "the checker missed the broken image");
  cr_assert_lt(json_object_get_double(key(key(r, "contrast"), "min")), 2.0, "the checker missed the faint text");
  json_object_put(r);
  unlink(page);
}

Test(newsletter, the_demo_digest_opens_in_chromium_with_every_image_and_chart_and_no_console_errors, .timeout = 300) {
  th_init();
  mkdir(ACCOLADE_SOURCE_DIR "/build", 0755);
  mkdir(ACCOLADE_SOURCE_DIR "/build/artifacts", 0755);
  mkdir(ARTIFACTS, 0755);
  unlink(ARTIFACTS "/cli.err");
  checker_sees_a_broken_page();
  snprintf(org, sizeof org, "demo-%d", getpid());
  const char *extra[] = {"ACCOLADE_NOTIFY_LINK_BASE=https://accolade.example.com", NULL};
  th_suite_start(&suite, "newsletter", SECRET, extra);
  char cmd[2048];
  snprintf(cmd, sizeof cmd,
           "ACCOLADE_ADDR=%s ACCOLADE_CLI=%s ACCOLADE_JWT_HS256_SECRET=%s ACCOLADE_DEMO_ORG=%s "
           "/bin/bash %s/scripts/demo >/dev/null 2>%s/demo.log",
           suite.gateway.addr, th_bin("accolade"), SECRET, org, ACCOLADE_SOURCE_DIR, ARTIFACTS);
  cr_assert_eq(sh(cmd), 0, "scripts/demo failed: see %s/demo.log", ARTIFACTS);

  /* A recognition whose justification carries a script, on a badge worth the most: the top one. */
  cr_assert_eq(cli("ada", "admin",
                   "badges create --id hero --name 'Hero <b>of</b> the week' --category spotlight --points 500 "
                   "--policy auto --description 'The week s biggest save.' --criteria 'Picked by the team.'",
                   "/dev/null"),
               0, "see %s/cli.err", ARTIFACTS);
  const char *nominated = ARTIFACTS "/hero.json";
  cr_assert_eq(cli("jun", "member", "--json nominate --badge hero --to lena --why \"" HOSTILE "\" --request-id hero-1",
                   nominated),
               0, "see %s/cli.err", ARTIFACTS);
  char *hero_json = slurp(nominated);
  json_object *hero = json_tokener_parse(hero_json);
  free(hero_json);
  cr_assert_not_null(hero);
  char reflect[512];
  snprintf(reflect, sizeof reflect, "reflect %s --text \"" REFLECTION "\"", json_object_get_string(key(hero, "id")));
  json_object_put(hero);
  const char *data = ARTIFACTS "/digest.json";
  json_object *d = NULL, *top = NULL;
  for (int i = 0; i < 100; i++) {   /* the award reaches svc-notify through two outboxes */
    cr_assert_eq(cli("ada", "admin", "--json digest", data), 0, "see %s/cli.err", ARTIFACTS);
    json_object_put(d);
    char *s = slurp(data);
    d = json_tokener_parse(s);
    free(s);
    json_object *tops = key(d, "top_recognitions");
    top = json_object_array_length(tops) ? json_object_array_get_idx(tops, 0) : NULL;
    if (top && !strcmp(json_object_get_string(key(top, "badge_id")), "hero") &&
        json_object_array_length(key(top, "reflections")))
      break;
    if (top && !strcmp(json_object_get_string(key(top, "badge_id")), "hero"))   /* approved: lena may reflect */
      cli("lena", "member", reflect, "/dev/null");
    usleep(200 * 1000);
  }
  cr_assert(top && !strcmp(json_object_get_string(key(top, "badge_id")), "hero"), "the hero award never arrived: %s",
            json_object_to_json_string(d));
  cr_assert_str_eq(json_object_get_string(key(top, "justification")), HOSTILE);
  json_object *refl = json_object_array_get_idx(key(top, "reflections"), 0);
  cr_assert(refl && !strcmp(json_object_get_string(key(refl, "text")), REFLECTION), "lena's reflection: %s",
            json_object_to_json_string(top));
  cr_assert_gt(json_object_array_length(key(d, "new_badge_holders")), 3, "the demo's awards are this week's");

  const char *page = ARTIFACTS "/digest.html";
  cr_assert_eq(cli("ada", "admin", "digest --html", page), 0, "see %s/cli.err", ARTIFACTS);
  char *html = slurp(page);
  cr_assert(!strncmp(html, "<!DOCTYPE html>", 15), "not the HTML page: %.200s", html);
  cr_assert_null(strstr(html, "<script>"), "a justification's script reached the page");
  free(html);

  json_object *r = page_check(page, ARTIFACTS "/digest.png", ARTIFACTS "/digest-dark.png");
  json_object *errors = key(r, "console_errors");
  cr_assert_eq(json_object_array_length(errors), 0, "console errors: %s", json_object_to_json_string(errors));
  json_object *imgs = key(r, "images");
  size_t nimg = json_object_array_length(imgs);
  cr_assert_geq(nimg, 4, "a badge image per top recognition and new holder: %s", json_object_to_json_string(imgs));
  for (size_t i = 0; i < nimg; i++) {
    json_object *im = json_object_array_get_idx(imgs, i);
    cr_assert(json_object_get_boolean(key(im, "complete")) && json_object_get_int(key(im, "natural_width")) > 0,
              "image %zu did not load: %s", i, json_object_to_json_string(im));
    cr_assert(json_object_get_double(key(im, "width")) > 0 && json_object_get_double(key(im, "height")) > 0 &&
                  json_object_get_boolean(key(im, "visible")),
              "image %zu is not visible: %s", i, json_object_to_json_string(im));
  }
  json_object *charts = key(r, "charts");
  cr_assert_eq(json_object_array_length(charts), 3, "%s", json_object_to_json_string(charts));
  const char *want[] = {"chart-categories", "chart-participation", "chart-board"};
  for (size_t i = 0; i < 3; i++) {
    json_object *c = json_object_array_get_idx(charts, i);
    cr_assert_str_eq(json_object_get_string(key(c, "id")), want[i]);
    cr_assert(json_object_get_double(key(c, "width")) > 0 && json_object_get_double(key(c, "height")) > 0 &&
                  json_object_get_boolean(key(c, "visible")),
              "chart %s is not visible: %s", want[i], json_object_to_json_string(c));
  }
  const char *text = json_object_get_string(key(r, "text"));
  cr_assert(strstr(text, HOSTILE), "the top recognition's text (with its <script> as text) is not on the page");
  cr_assert(strstr(text, "Hero <b>of</b> the week"), "the badge name is text too");
  cr_assert(strstr(text, "lena reflects: \u201c" REFLECTION "\u201d"), "the reflection is under it: %s", text);
  cr_assert(strstr(text, "Lena Fischer earned Hero"), "the recipient is named");
  cr_assert_null(strstr(text, "not available right now"), "every service answered: %s", text);

  /* readable in light and in dark mode: WCAG AA contrast for every text */
  json_object *light = key(r, "contrast"), *dark = key(r, "dark_contrast");
  cr_assert_geq(json_object_get_double(key(light, "min")), 4.5, "light: %s", json_object_to_json_string(light));
  cr_assert_geq(json_object_get_double(key(dark, "min")), 4.5, "dark: %s", json_object_to_json_string(dark));

  struct stat st;
  cr_assert_eq(stat(ARTIFACTS "/digest-dark.png", &st), 0);
  cr_assert_eq(stat(ARTIFACTS "/digest.png", &st), 0);
  cr_assert_gt(st.st_size, 10000, "the screenshot is a real page");
  char *png = slurp(ARTIFACTS "/digest.png");
  cr_assert(!memcmp(png, "\x89PNG", 4));
  free(png);
  json_object_put(r);
  json_object_put(d);

  /* ListReflections (what the digest reads) names a bad field */
  arena a;
  arena_init(&a);
  identity ada;
  th_as(&ada, org, "ada", "admin", "");
  Accolade__V1__ListReflectionsRequest lr = ACCOLADE__V1__LIST_REFLECTIONS_REQUEST__INIT;
  void *out;
  rpc_status rs;
  cr_assert_eq(th_call(suite.nomination.addr, "/accolade.v1.NominationService/ListReflections", &lr,
                       &accolade__v1__list_reflections_response__descriptor, &ada, &a, &out, &rs), RPC_INVALID_ARGUMENT);
  cr_assert(strstr(rs.message, "nomination_ids"), "%s", rs.message);
  char *bad[] = {"not-a-uuid"};
  lr.nomination_ids = bad;
  lr.n_nomination_ids = 1;
  cr_assert_eq(th_call(suite.nomination.addr, "/accolade.v1.NominationService/ListReflections", &lr,
                       &accolade__v1__list_reflections_response__descriptor, &ada, &a, &out, &rs), RPC_INVALID_ARGUMENT);
  cr_assert(strstr(rs.message, "nomination_ids"), "%s", rs.message);
  arena_free(&a);
  th_suite_stop(&suite);
}
