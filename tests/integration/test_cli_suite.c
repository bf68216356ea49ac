/* The accolade CLI as its users run it: the real binary, every subcommand,
 * against the whole suite (gateway, four services, Postgres, Redis). Replies
 * are read from --json output; exit statuses are checked as scripts see them.
 */
#include <criterion/criterion.h>
#include <fcntl.h>
#include <json-c/json.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness.h"

#define SECRET "cli-suite-secret"

static th_suite suite;
static char org[64];
static char out_buf[1 << 20], err_buf[1 << 16];

static const char *tok(const char *user, const char *role, const char *team) {
  return th_jwt(SECRET, org, user, role, team, 600);
}

/* run_cli runs the CLI with |token| (NULL: none) and the NULL-terminated
 * arguments; stdout/stderr land in out_buf/err_buf. Returns the exit status. */
static int run_cli(const char *token, ...) {
  const char *argv[64];
  int n = 0;
  argv[n++] = th_bin("accolade");
  argv[n++] = "--addr";
  argv[n++] = suite.gateway.addr;
  if (token) {
    argv[n++] = "--token";
    argv[n++] = token;
  }
  va_list ap;
  va_start(ap, token);
  for (const char *s; (s = va_arg(ap, const char *)) && n < 63;) argv[n++] = s;
  va_end(ap);
  argv[n] = NULL;
  return th_run(argv, out_buf, sizeof out_buf, err_buf, sizeof err_buf);
}

/* json_out parses out_buf (one JSON object) or fails the test. */
static json_object *json_out(void) {
  json_object *o = json_tokener_parse(out_buf);
  cr_assert(o, "not JSON: %s (stderr: %s)", out_buf, err_buf);
  return o;
}

static json_object *get(json_object *o, const char *key) {
  json_object *v = NULL;
  cr_assert(json_object_object_get_ex(o, key, &v), "no %s in %s", key, json_object_to_json_string(o));
  return v;
}

static const char *str(json_object *o, const char *key) { return json_object_get_string(get(o, key)); }
static int64_t num(json_object *o, const char *key) { return json_object_get_int64(get(o, key)); }
static size_t len(json_object *o, const char *key) { return json_object_array_length(get(o, key)); }

/* ok runs a --json command that must succeed and returns its reply. */
#define OK(token, ...)                                                                        \
  ({                                                                                          \
    int rc_ = run_cli(token, "--json", __VA_ARGS__, NULL);                                    \
    cr_assert_eq(rc_, 0, "accolade %s: exit %d: %s%s", #__VA_ARGS__, rc_, out_buf, err_buf); \
    json_object_put(last), last = json_out();                                                 \
  })

static json_object *last;

static const char *write_csv(const char *text) {
  static char path[64];
  snprintf(path, sizeof path, "/tmp/accolade-cli-%d.csv", getpid());
  FILE *f = fopen(path, "w");
  fputs(text, f);
  fclose(f);
  return path;
}

Test(cli, every_subcommand_against_the_running_suite, .timeout = 240) {
  th_init();
  snprintf(org, sizeof org, "cli-%d", getpid());
  const char *extra[] = {"ACCOLADE_NOTIFY_ALLOW_PRIVATE=1", NULL};
  th_suite_start(&suite, "cli", SECRET, extra);
  const char *ada = tok("ada", "admin", "hq"), *bob = tok("bob", "member", "east");
  const char *dee = tok("dee", "member", "west"), *cy = tok("cy", "member", "east");

  /* health, and the errors a script sees */
  cr_assert_eq(run_cli(NULL, "health", NULL), 0, "%s", err_buf);
  cr_assert_eq(run_cli(NULL, "badges", NULL), 16, "no token: UNAUTHENTICATED, got %s", err_buf);
  cr_assert_eq(run_cli(bob, "--json", "badges", "create", "--id", "x", "--name", "X", NULL), 7, "%s", out_buf);
  json_object *refused = json_out();
  cr_assert_str_eq(str(get(refused, "error"), "code"), "PERMISSION_DENIED");
  json_object_put(refused);
  cr_assert_eq(run_cli(ada, "nomination", "00000000-0000-4000-8000-000000000000", NULL), 5, "%s", err_buf);
  cr_assert_eq(run_cli(ada, "review", "x", NULL), 64, "review needs --approve or --reject");
  cr_assert_eq(run_cli(ada, "leaderboard", "--window", "fortnight", NULL), 64);
  cr_assert(strstr(err_buf, "--window"), "%s", err_buf);

  /* members: import (bad files first: nothing is imported), list, get, deactivate */
  cr_assert_eq(run_cli(ada, "members", "import", "/nonexistent.csv", NULL), 66);
  const char *bad = write_csv("user_id,name,team\nann,Ann,east\nzed,Zed\n");
  cr_assert_eq(run_cli(ada, "members", "import", bad, NULL), 65);
  cr_assert(strstr(err_buf, ":3:"), "names the line: %s", err_buf);
  const char *csv = write_csv("user_id,display_name,email,team,manager_id,remote\n"
                              "ada,Ada Lovelace,ada@example.com,hq,,no\n"
                              "bob,\"Bob, the Builder\",bob@example.com,east,ada,yes\n"
                              "cy,Cy Twombly,cy@example.com,east,ada,no\n"
                              "dee,Dee Dee,dee@example.com,west,ada,\n"
                              "eve,Eve Quiet,eve@example.com,west,ada,no\n");
  OK(ada, "members", "import", csv, "--batch", "2");
  cr_assert_eq(num(last, "imported"), 5);
  cr_assert_eq(num(last, "batches"), 3);
  cr_assert(strstr(err_buf, "imported 4/5 members"), "progress: %s", err_buf);
  OK(ada, "members", "--team", "east");
  cr_assert_eq(len(last, "members"), 2);
  OK(ada, "members", "get", "bob");
  cr_assert_str_eq(str(last, "display_name"), "Bob, the Builder");
  cr_assert(json_object_get_boolean(get(last, "remote")));
  OK(ada, "members", "deactivate", "eve");
  cr_assert(!json_object_get_boolean(get(last, "active")));
  /* The active column still deactivates; an empty cell means active. */
  OK(ada, "members", "import", write_csv("user_id,team,active\neve,west,no\nfay,west,\n"));
  OK(ada, "members", "get", "eve");
  cr_assert(!json_object_get_boolean(get(last, "active")), "eve stays deactivated");
  cr_assert(json_object_get_boolean(get(last, "deactivated")));
  OK(ada, "members", "get", "fay");
  cr_assert(json_object_get_boolean(get(last, "active")), "a new member is active by default");
  OK(ada, "members", "reactivate", "eve");
  cr_assert(json_object_get_boolean(get(last, "active")));
  OK(ada, "members", "deactivate", "eve");

  /* catalog and rules */
  OK(ada, "badges");
  cr_assert_eq(len(last, "badges"), 5, "the five default badges");
  OK(ada, "badges", "create", "--id", "quota-crusher", "--name", "Quota Crusher", "--points", "40", "--category",
     "sales", "--policy", "auto", "--description", "Beat quota", "--criteria", "Beat the quarterly quota");
  cr_assert_str_eq(str(last, "approval_policy"), "AUTO");
  OK(ada, "badges", "update", "quota-crusher", "--points", "45");
  cr_assert_eq(num(last, "points"), 45);
  cr_assert_str_eq(str(last, "name"), "Quota Crusher", "update changes only the given field");
  OK(ada, "badges", "retire", "quota-crusher");
  cr_assert(!json_object_get_boolean(get(last, "active")));
  OK(ada, "badges", "get", "quota-crusher");
  cr_assert_eq(num(last, "points"), 45);
  OK(ada, "rules", "create", "--name", "Sharer x3", "--kind", "badge-count", "--badge", "knowledge-sharer",
     "--threshold", "3", "--grant", "innovation-driver");
  char rule[64];
  snprintf(rule, sizeof rule, "%s", str(last, "id"));
  OK(ada, "rules");
  cr_assert_eq(len(last, "rules"), 1);
  OK(ada, "rules", "update", rule, "--threshold", "4");
  cr_assert_eq(num(last, "threshold"), 4);
  OK(cy, "rules", "get", rule);
  cr_assert_eq(num(last, "threshold"), 4);
  cr_assert_str_eq(str(last, "name"), "Sharer x3");
  OK(ada, "rules", "delete", rule);
  OK(ada, "rules");
  cr_assert_eq(len(last, "rules"), 0);

  /* settings: set changes only what is given */
  OK(ada, "settings");
  int64_t pair_cap = num(last, "pair_cap_per_quarter");
  OK(ada, "settings", "set", "--allowance", "12");
  cr_assert_eq(num(last, "allowance_per_month"), 12);
  cr_assert_eq(num(last, "pair_cap_per_quarter"), pair_cap);

  /* nominate, list, endorse, review; withdraw and reject */
  const char *why = "Ran three brown-bag sessions on discovery calls that the whole east team now uses.";
  OK(dee, "nominate", "--badge", "knowledge-sharer", "--to", "bob,cy", "--why", why);
  char nom[64];
  snprintf(nom, sizeof nom, "%s", str(last, "id"));
  cr_assert_str_eq(str(last, "status"), "PENDING");
  cr_assert_eq(len(last, "nominee_ids"), 2);
  OK(ada, "nominations", "--role", "reviewer", "--status", "pending");
  cr_assert_eq(len(last, "nominations"), 1);
  OK(ada, "nomination", nom);
  cr_assert_str_eq(str(last, "justification"), why);
  OK(ada, "endorse", nom, "--comment", "Saw it myself");
  cr_assert_eq(num(last, "endorsements"), 1);
  OK(ada, "review", nom, "--approve", "--comment", "Well earned");
  cr_assert_str_eq(str(last, "status"), "APPROVED");
  OK(dee, "nominate", "--badge", "deal-closer", "--to", "cy", "--why",
     "Unblocked the Globex deal by rewriting the security questionnaire answers overnight.");
  OK(dee, "withdraw", str(last, "id"));
  cr_assert_str_eq(str(last, "status"), "WITHDRAWN");
  OK(bob, "nominate", "--badge", "customer-champion", "--to", "dee", "--why",
     "Stayed on the phone with Acme support until their outage was resolved, then wrote it up.", "--private");
  cr_assert_str_eq(str(last, "visibility"), "PRIVATE");
  OK(ada, "review", str(last, "id"), "--reject", "--comment", "Needs the customer's words");
  cr_assert_str_eq(str(last, "status"), "REJECTED");
  OK(dee, "allowance");
  cr_assert_eq(num(last, "used"), 1, "the withdrawn nomination is given back: %s", out_buf);
  cr_assert_eq(num(last, "per_month"), 12);
  OK(dee, "nominations");
  cr_assert_eq(len(last, "nominations"), 2);

  /* the award travels through the outboxes to the board and the inbox */
  int64_t until = rpc_now_ms() + 30000;
  for (;;) {
    OK(ada, "leaderboard");
    if (num(last, "total") == 2 || rpc_now_ms() > until) break;
    usleep(100 * 1000);
  }
  cr_assert_eq(num(last, "total"), 2, "%s", out_buf);
  json_object *top = json_object_array_get_idx(get(last, "entries"), 0);
  cr_assert_eq(num(top, "points"), 20);
  OK(ada, "leaderboard", "rank", "bob", "--window", "week");
  cr_assert(json_object_get_boolean(get(last, "ranked")));
  cr_assert_str_eq(str(get(last, "entry"), "display_name"), "Bob, the Builder");
  OK(dee, "leaderboard", "rank");
  cr_assert(!json_object_get_boolean(get(last, "ranked")), "dee has no points: %s", out_buf);
  OK(bob, "leaderboard", "around", "--above", "1", "--below", "1");
  cr_assert_eq(len(last, "entries"), 2);
  OK(ada, "leaderboard", "--subject", "teams", "--window", "month");
  top = json_object_array_get_idx(get(last, "entries"), 0);
  cr_assert_str_eq(str(top, "subject_id"), "east");
  cr_assert_eq(num(top, "points"), 40);
  OK(ada, "leaderboard", "--badge", "knowledge-sharer", "--window", "rolling-30-days");
  cr_assert_eq(num(last, "total"), 2);
  OK(cy, "profile");
  cr_assert_str_eq(str(last, "member_id"), "cy");
  cr_assert_eq(num(last, "total_points"), 20);
  OK(ada, "awards", "--member", "bob");
  cr_assert_eq(len(last, "awards"), 1);
  char award[64];
  snprintf(award, sizeof award, "%s", str(json_object_array_get_idx(get(last, "awards"), 0), "id"));

  until = rpc_now_ms() + 30000;
  for (;;) {
    OK(bob, "inbox", "--unread");
    if (num(last, "unread_count") >= 1 || rpc_now_ms() > until) break;
    usleep(100 * 1000);
  }
  cr_assert_geq(num(last, "unread_count"), 1, "%s", out_buf);
  cr_assert_eq(run_cli(bob, "--json", "watch", "--from-start", "--count", "1", NULL), 0, "%s", err_buf);
  cr_assert(strstr(out_buf, "\"kind\":\"award_granted\""), "%s", out_buf);
  OK(bob, "inbox", "read", "--all");
  cr_assert_eq(num(last, "unread_count"), 0);
  OK(bob, "reflect", nom, "--text", "Teaching it made me tighten my own discovery questions.");
  OK(ada, "reflections", nom);
  cr_assert_eq(len(last, "reflections"), 1);
  OK(ada, "search", "brown-bag", "discovery");
  cr_assert_eq(len(last, "hits"), 1);
  cr_assert_str_eq(str(json_object_array_get_idx(get(last, "hits"), 0), "nomination_id"), nom);

  /* analytics and the digest */
  OK(ada, "stats");
  cr_assert_eq(num(last, "nominations"), 2, "approved and rejected; withdrawn ones do not count: %s", out_buf);
  cr_assert_eq(json_object_get_double(get(last, "approval_rate")), 0.5);
  OK(ada, "stats", "awards");
  cr_assert_eq(num(last, "total_awards"), 2);
  OK(ada, "digest");
  cr_assert_eq(num(last, "awards"), 2);
  cr_assert(strstr(str(last, "markdown"), "Knowledge Sharer"));
  cr_assert_eq(len(last, "most_endorsed"), 1, "ada endorsed it before approving: %s", out_buf);
  cr_assert_eq(num(json_object_array_get_idx(get(last, "most_endorsed"), 0), "endorsements"), 1);
  cr_assert(!json_object_get_boolean(get(last, "movers_unavailable")), "%s", out_buf);
  cr_assert_eq(len(last, "movers"), 2, "bob and cy are new on this week's board: %s", out_buf);
  json_object *mover = json_object_array_get_idx(get(last, "movers"), 0);
  cr_assert_eq(num(mover, "previous_rank"), 0);
  cr_assert_eq(num(mover, "rank"), 1);
  cr_assert(strstr(str(last, "markdown"), "## Leaderboard movers"), "%s", str(last, "markdown"));

  /* preferences */
  OK(bob, "preferences", "set", "--mute", "nudge,review_overdue", "--digest", "off");
  cr_assert_eq(len(last, "muted_kinds"), 2);
  OK(bob, "preferences", "set", "--mute", "");
  cr_assert_eq(len(last, "muted_kinds"), 0);
  cr_assert(!json_object_get_boolean(get(last, "weekly_digest")), "--digest kept: %s", out_buf);
  OK(bob, "preferences");
  cr_assert_eq(len(last, "muted_kinds"), 0);

  /* channels: an endpoint nobody listens on, so the test delivery fails */
  char url[64];
  snprintf(url, sizeof url, "http://127.0.0.1:%d/hook", th_free_port());
  OK(ada, "channels", "create", "--url", url, "--secret", "0123456789abcdef0123", "--kinds", "award_granted,digest");
  char chan[64];
  snprintf(chan, sizeof chan, "%s", str(last, "id"));
  cr_assert_eq(len(last, "kinds"), 2);
  OK(ada, "channels");
  cr_assert_eq(len(last, "channels"), 1);
  OK(ada, "channels", "test", chan);
  cr_assert_gt(num(last, "delivery_id"), 0);
  OK(ada, "channels", "deliveries", chan);
  cr_assert_geq(len(last, "deliveries"), 1);
  OK(ada, "channels", "delete", chan);
  OK(ada, "channels");
  cr_assert_eq(len(last, "channels"), 0);
  cr_assert_eq(run_cli(ada, "channels", "test", chan, NULL), 5, "deleted: NOT_FOUND; %s", err_buf);

  /* revoke, then rebuild the boards from the ledger */
  OK(ada, "revoke", award, "--reason", "Entered by mistake");
  cr_assert(json_object_get_boolean(get(last, "revoked")));
  OK(ada, "rebuild");
  cr_assert_gt(num(last, "boards"), 0);
  until = rpc_now_ms() + 30000;
  for (;;) {
    OK(ada, "leaderboard", "rank", "bob");
    if (!json_object_get_boolean(get(last, "ranked")) || rpc_now_ms() > until) break;
    usleep(100 * 1000);
  }
  cr_assert(!json_object_get_boolean(get(last, "ranked")), "revoked: %s", out_buf);

  /* the tables people read */
  cr_assert_eq(run_cli(ada, "leaderboard", NULL), 0);
  cr_assert(strstr(out_buf, "RANK") && strstr(out_buf, "Cy Twombly"), "%s", out_buf);
  json_object_put(last);
  last = NULL;
  th_suite_stop(&suite);
}

/* run_demo runs scripts/demo against the suite; returns its exit status. */
static int run_demo(void) {
  char cmd[2048];
  snprintf(cmd, sizeof cmd,
           "ACCOLADE_ADDR=%s ACCOLADE_CLI=%s ACCOLADE_JWT_HS256_SECRET=%s ACCOLADE_DEMO_ORG=%s "
           "/bin/bash %s/scripts/demo >/dev/null 2>/tmp/accolade-demo-%d.log",
           suite.gateway.addr, th_bin("accolade"), SECRET, org, ACCOLADE_SOURCE_DIR, getpid());
  int st = system(cmd);
  return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

Test(cli, signals_import_of_a_crm_export_twice_lands_once, .timeout = 240) {
  th_init();
  snprintf(org, sizeof org, "clisig-%d", getpid());
  th_suite_start(&suite, "clisig", SECRET, NULL);
  /* th_jwt rotates four buffers: keep copies of the tokens used throughout. */
  static char ada[2048], crm[2048], jun[2048];
  snprintf(ada, sizeof ada, "%s", tok("ada", "admin", "hq"));
  snprintf(crm, sizeof crm, "%s", tok("crm", "integration", ""));
  snprintf(jun, sizeof jun, "%s", tok("jun", "member", "east"));
  /* A malformed file imports nothing and names its line. */
  const char *bad = write_csv("Record ID,Owner,Type,Close Date\nr1,lena,DEAL_WON,2025-07-01\nr2,lena,DEAL_WON,July 4th\n");
  cr_assert_eq(run_cli(crm, "signals", "import", bad, "--source", "salesforce", NULL), 65);
  cr_assert(strstr(err_buf, ":3: occurred_at"), "names the line and field: %s", err_buf);
  OK(ada, "signals", "--limit", "500");
  cr_assert_eq(len(last, "signals"), 0);
  /* A CRM-shaped export: its own column names, amounts with separators, a row the service refuses. */
  const char *csv = write_csv(
      "Record ID,Owner,Type,Close Date,Opportunity,Account Name,Amount,Currency,cycle_days,collaborators,title,link\n"
      "006A1,lena,deal-won,2025-07-03T10:00:00Z,opp-1,Initech,\"52,000.00\",USD,41,jun;omar,,\n"
      "006A2,lena,deal-won,2025-08-03,opp-2,Globex,64000,USD,30,,,\n"
      "006A3,jun,DEAL_LOST,2025-08-10,opp-3,Hooli,18000.5,USD,90,,,\n"
      "pb-1,jun,playbook-published,2025-08-11,,,,,,,Discovery checklist,https://wiki.example.com/pb-1\n"
      "mtg-1,omar,meeting-booked,2025-08-12,,Acme,100,USD,,,,\n");
  cr_assert_eq(run_cli(crm, "--json", "signals", "import", csv, "--source", "salesforce", "--batch", "2", NULL), 65,
               "%s %s", out_buf, err_buf);
  cr_assert(strstr(err_buf, ":6: signals[0].amount_minor"), "the refused row, by line and field: %s", err_buf);
  json_object *first = json_out();
  cr_assert_eq(num(first, "rows"), 5);
  cr_assert_eq(num(first, "created"), 4);
  cr_assert_eq(num(first, "invalid"), 1);
  cr_assert_eq(num(first, "batches"), 3);
  json_object_put(first);
  cr_assert_eq(run_cli(crm, "--json", "signals", "import", csv, "--source", "salesforce", NULL), 65);
  json_object *again = json_out();
  cr_assert_eq(num(again, "created"), 0, "imported twice, landed once: %s", out_buf);
  cr_assert_eq(num(again, "duplicates"), 4);
  json_object_put(again);
  OK(ada, "signals", "--limit", "500");
  cr_assert_eq(len(last, "signals"), 4);
  OK(ada, "signals", "--member", "lena", "--kind", "deal-won");
  cr_assert_eq(len(last, "signals"), 2);
  json_object *newest = json_object_array_get_idx(get(last, "signals"), 0);
  cr_assert_str_eq(str(newest, "external_id"), "006A2");
  cr_assert_eq(num(newest, "amount_minor"), 6400000);
  json_object *older = json_object_array_get_idx(get(last, "signals"), 1);
  cr_assert_eq(num(older, "amount_minor"), 5200000);
  cr_assert_eq(len(older, "collaborators"), 2);
  OK(jun, "signals");
  cr_assert_eq(len(last, "signals"), 2, "a member sees their own: %s", out_buf);
  cr_assert_eq(run_cli(jun, "signals", "import", csv, "--source", "salesforce", NULL), 7,
               "members may not import: %s", err_buf);
  /* Rules over signals from the CLI. */
  OK(ada, "signals", "rule-create", "--name", "First playbook", "--kind", "playbook-published", "--threshold", "1",
     "--grant", "knowledge-sharer");
  char first_playbook[64];
  snprintf(first_playbook, sizeof first_playbook, "%s", str(last, "id"));
  OK(ada, "signals", "rules");
  cr_assert_eq(len(last, "rules"), 1);
  OK(ada, "outcomes");
  cr_assert(strstr(str(last, "note"), "Correlations"), "%s", out_buf);
  cr_assert_eq(num(last, "recognized_members"), 0);
  cr_assert_eq(run_cli(jun, "outcomes", NULL), 7, "members may not: %s", err_buf);
  OK(ada, "journeys", "--all");
  cr_assert_eq(len(last, "journeys"), 0);
  cr_assert_eq(run_cli(ada, "journeys", "create", "--name", "Onboarding", "--badge-step", "no-such-badge", NULL), 5,
               "a step naming no badge: %s", err_buf);
  OK(ada, "journeys", "create", "--name", "Onboarding", "--badge-step", "deal-closer", "--signal-rule-step", first_playbook,
     "--badge-step", "knowledge-sharer", "--max-tenure-days", "90");
  char journey[64];
  snprintf(journey, sizeof journey, "%s", str(last, "id"));
  cr_assert_eq(len(last, "steps"), 3);
  json_object *steps = get(last, "steps");
  cr_assert_str_eq(str(json_object_array_get_idx(steps, 0), "badge_id"), "deal-closer");
  cr_assert_str_eq(str(json_object_array_get_idx(steps, 1), "signal_rule_id"), first_playbook);
  cr_assert_str_eq(str(json_object_array_get_idx(steps, 2), "badge_id"), "knowledge-sharer", "in the order given");
  OK(ada, "journeys");
  cr_assert_eq(len(last, "journeys"), 1);
  OK(ada, "journeys", "retire", journey);
  OK(ada, "journeys");
  cr_assert_eq(len(last, "journeys"), 0);
  OK(jun, "suggest", "--window-days", "90");
  cr_assert_eq(len(last, "suggestions"), 0, "nothing recent (the export is from 2025): %s", out_buf);
  json_object_put(last);
  last = NULL;
  th_suite_stop(&suite);
}

Test(cli, the_demo_seeds_an_org_through_the_public_api_and_reruns_without_doubling, .timeout = 240) {
  th_init();
  snprintf(org, sizeof org, "demo-%d", getpid());
  th_suite_start(&suite, "clidemo", SECRET, NULL);
  const char *ada = tok("ada", "admin", "revops");
  cr_assert_eq(run_demo(), 0, "see /tmp/accolade-demo-%d.log", getpid());
  OK(ada, "members");
  cr_assert_eq(len(last, "members"), 15);
  OK(ada, "stats");
  int64_t nominations = num(last, "nominations");
  cr_assert_eq(nominations, 23, "22 reviewed or pending, 1 automatic: %s", out_buf);
  OK(ada, "leaderboard", "--limit", "100");
  int64_t on_board = num(last, "total");
  cr_assert_geq(on_board, 10, "%s", out_buf);
  OK(tok("tom", "manager", "midmarket"), "nominations", "--role", "reviewer", "--status", "pending");
  cr_assert_eq(len(last, "nominations"), 2, "left for tom to review: %s", out_buf);
  OK(ada, "profile", "sofia");
  cr_assert_geq(num(last, "total_awards"), 2, "a deal, a playbook and the automatic Quota Crusher: %s", out_buf);
  OK(ada, "signals", "--limit", "500");
  size_t signals = len(last, "signals");
  cr_assert_geq(signals, 100, "a quarter of signals for three teams: %zu", signals);
  OK(ada, "signals", "rules");
  cr_assert_eq(len(last, "rules"), 3);

  cr_assert_eq(run_demo(), 0, "a second run, see /tmp/accolade-demo-%d.log", getpid());
  OK(ada, "stats");
  cr_assert_eq(num(last, "nominations"), nominations, "a rerun replays the same request ids");
  OK(ada, "signals", "--limit", "500");
  cr_assert_eq(len(last, "signals"), signals, "a rerun sends the same external ids");
  OK(ada, "stats", "awards");
  int64_t awards = num(last, "total_awards");
  OK(ada, "leaderboard", "--limit", "100");
  cr_assert_eq(num(last, "total"), on_board);
  OK(ada, "awards", "--limit", "100");
  cr_assert_eq((int64_t)len(last, "awards"), awards);
  json_object_put(last);
  last = NULL;
  th_suite_stop(&suite);
}
