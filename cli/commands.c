/* commands.c - the accolade subcommands, as a table.
 *
 * Most commands are one RPC: their flags and positional arguments name
 * request fields, set with pb_set (so a typo'd number or enum is a usage error
 * naming the flag), and the reply prints through pbprint. A new command is a
 * table row, not new code. members import and watch have code of their own.
 * Over 600 lines because of the table (some 230 lines, a row per command):
 * the table and the code that reads it share the row's types, which no
 * other file needs.
 */
#include <openssl/rand.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "accolade/v1/award.pb-c.h"
#include "accolade/v1/credential.pb-c.h"
#include "accolade/v1/leaderboard.pb-c.h"
#include "accolade/v1/nomination.pb-c.h"
#include "accolade/v1/notify.pb-c.h"
#include "accolade/v1/signal.pb-c.h"
#include "cli.h"
#include "hex.h"
#include "method_paths.h"
#include "pbfill.h"

#define D(x) &accolade__v1__##x##__descriptor

enum {
  A_VAL,    /* --flag VALUE: field = VALUE */
  A_LIST,   /* --flag a,b (repeatable): field[] += each; "" empties the list */
  A_FLAG,   /* --flag: sets |also| */
  A_POS,    /* a positional argument */
  A_WORDS,  /* every remaining positional: joined with spaces, or one each into field[] */
};

enum { OPTIONAL = 0, REQUIRED = 1, DEFAULT_ME = 2 };

typedef struct arg {
  const char *flag;     /* without "--"; for positionals the name shown in help */
  const char *field;    /* pb_set name; NULL for A_FLAG */
  int kind;
  int need;
  const char *also;     /* "name=value;..." also set when the argument is given */
} arg;

enum {
  F_IDEM = 1,       /* safe to retry: reads, and writes keyed by a request id */
  F_ONE_OF = 4,     /* exactly one of the first two arguments is required */
  F_MASK = 8,       /* update_mask[] lists the badge.* fields given */
  F_PROGRESS = 16,  /* a long call: show elapsed time while waiting */
  F_RENDERED = 32,  /* a reply with a non-empty "html" (else "text") field prints that, as is */
};

typedef struct command {
  const char *name, *sub;
  const char *method;
  const ProtobufCMessageDescriptor *req, *resp;
  arg args[16];
  const char *fixed;          /* always set */
  const char *rows, *cols;    /* table of repeated field |rows|; cols per pbprint */
  unsigned flags;
  const char *merge;          /* method whose reply fills field |merge_into| first */
  const char *merge_into;
  int timeout_ms;             /* 0: the global --timeout-ms */
  const char *help;
} command;

#define PAGE {"limit", "page_size", A_VAL, 0, NULL}, {"page-token", "page_token", A_VAL, 0, NULL}
#define BOARD                                                                                              \
  {"window", "board.window", A_VAL, 0, NULL}, {"subject", "board.subject", A_VAL, 0, NULL},                \
      {"scope", "board.scope", A_VAL, 0, NULL}, {"scope-id", "board.scope_id", A_VAL, 0, NULL},            \
      {"team", "board.scope_id", A_VAL, 0, "board.scope=TEAM"},                                            \
      {"badge", "board.scope_id", A_VAL, 0, "board.scope=BADGE"},                                          \
      {"category", "board.scope_id", A_VAL, 0, "board.scope=CATEGORY"},                                    \
      {"period", "board.period", A_VAL, 0, NULL}
#define BADGE_FIELDS                                                                                       \
  {"name", "badge.name", A_VAL, 0, NULL}, {"description", "badge.description", A_VAL, 0, NULL},            \
      {"category", "badge.category", A_VAL, 0, NULL}, {"criteria", "badge.criteria", A_VAL, 0, NULL},      \
      {"points", "badge.points", A_VAL, 0, NULL}, {"policy", "badge.approval_policy", A_VAL, 0, NULL},     \
      {"image-url", "badge.image_url", A_VAL, 0, NULL},                                                    \
      {"cap-per-recipient", "badge.cap_per_recipient", A_VAL, 0, NULL},                                    \
      {"cap-per-team", "badge.cap_per_team", A_VAL, 0, NULL},                                              \
      {"cap-period", "badge.cap_period", A_VAL, 0, NULL}, {"active", "badge.active", A_VAL, 0, NULL}
#define NOMINATION_COLS "id,status,badge_id,nominee_ids,nominator_id,endorsements,create_time_ms"
#define AWARD_COLS "id,badge_name,recipient_id,recipient_team,points,giver_id,grant_time_ms"

static const command COMMANDS[] = {
    /* recognition */
    {"nominate", NULL, NO "CreateNomination", D(create_nomination_request), D(nomination),
     {{"badge", "badge_id", A_VAL, REQUIRED, NULL}, {"to", "nominee_ids[]", A_LIST, REQUIRED, NULL},
      {"why", "justification", A_VAL, REQUIRED, NULL}, {"link", "evidence_links[]", A_LIST, 0, NULL},
      {"private", NULL, A_FLAG, 0, "visibility=PRIVATE"}, {"request-id", "request_id", A_VAL, 0, NULL}},
     NULL, NULL, NULL, F_IDEM, NULL, NULL, 0,
     "nominate colleagues (--to a,b) for a badge, with a specific justification (40+ characters)"},
    {"nominations", NULL, NO "ListNominations", D(list_nominations_request), D(list_nominations_response),
     {{"role", "role", A_VAL, 0, NULL}, {"status", "status", A_VAL, 0, NULL}, {"badge", "badge_id", A_VAL, 0, NULL},
      PAGE},
     NULL, "nominations", NOMINATION_COLS, F_IDEM, NULL, NULL, 0,
     "yours (--role nominator|nominee|reviewer, --status pending|approved|rejected|withdrawn)"},
    {"nomination", NULL, NO "GetNomination", D(get_nomination_request), D(nomination),
     {{"ID", "nomination_id", A_POS, REQUIRED, NULL}}, NULL, NULL, NULL, F_IDEM, NULL, NULL, 0, "one nomination"},
    {"review", NULL, NO "ReviewNomination", D(review_nomination_request), D(nomination),
     {{"approve", NULL, A_FLAG, 0, "approve=true"}, {"reject", NULL, A_FLAG, 0, "approve=false"},
      {"ID", "nomination_id", A_POS, REQUIRED, NULL}, {"comment", "comment", A_VAL, 0, NULL}},
     NULL, NULL, NULL, F_ONE_OF, NULL, NULL, 0, "approve or reject a nomination you review"},
    {"withdraw", NULL, NO "WithdrawNomination", D(withdraw_nomination_request), D(nomination),
     {{"ID", "nomination_id", A_POS, REQUIRED, NULL}}, NULL, NULL, NULL, 0, NULL, NULL, 0,
     "withdraw your pending nomination"},
    {"endorse", NULL, NO "EndorseNomination", D(endorse_nomination_request), D(endorse_nomination_response),
     {{"ID", "nomination_id", A_POS, REQUIRED, NULL}, {"comment", "comment", A_VAL, 0, NULL}}, NULL, NULL, NULL,
     F_IDEM, NULL, NULL, 0, "add your voice to a nomination"},
    {"reflect", NULL, NO "AddReflection", D(add_reflection_request), D(add_reflection_response),
     {{"ID", "nomination_id", A_POS, REQUIRED, NULL}, {"text", "text", A_VAL, REQUIRED, NULL}}, NULL, NULL, NULL,
     0, NULL, NULL, 0, "say what a recognition of you taught you (20+ characters)"},
    {"reflections", NULL, NO "ListReflections", D(list_reflections_request), D(list_reflections_response),
     {{"IDS", "nomination_ids[]", A_WORDS, REQUIRED, NULL}}, NULL, "reflections",
     "nomination_id,member_id,text,create_time_ms", F_IDEM, NULL, NULL, 0, "what nominees wrote on recognitions"},
    {"search", NULL, NO "SearchRecognitions", D(search_recognitions_request), D(search_recognitions_response),
     {{"WORDS", "query", A_WORDS, REQUIRED, NULL}, {"badge", "badge_id", A_VAL, 0, NULL},
      {"team", "team", A_VAL, 0, NULL}, {"limit", "page_size", A_VAL, 0, NULL}},
     NULL, "hits", "nomination_id,badge_id,nominee_ids,snippet,decide_time_ms", F_IDEM, NULL, NULL, 0,
     "search approved recognitions (the knowledge base)"},
    {"allowance", NULL, NO "GetAllowance", D(get_allowance_request), D(allowance), {{0}}, NULL, NULL, NULL, F_IDEM,
     NULL, NULL, 0, "nominations you have left this month"},

    /* leaderboards and profiles */
    {"leaderboard", "rank", LB "GetRank", D(get_rank_request), D(get_rank_response),
     {{"ID", "subject_id", A_POS, DEFAULT_ME, NULL}, BOARD}, NULL, NULL, NULL, F_IDEM, NULL, NULL, 0,
     "rank and points of a member or team (default: you)"},
    {"leaderboard", "around", LB "GetAround", D(get_around_request), D(get_around_response),
     {{"ID", "subject_id", A_POS, DEFAULT_ME, NULL}, {"above", "above", A_VAL, 0, NULL}, {"below", "below", A_VAL, 0, NULL},
      BOARD},
     NULL, "entries", "rank,subject_id,display_name,team,points", F_IDEM, NULL, NULL, 0,
     "the members just above and below one (default: you)"},
    {"leaderboard", NULL, LB "GetTop", D(get_top_request), D(get_top_response), {BOARD, PAGE}, NULL, "entries",
     "rank,subject_id,display_name,team,points", F_IDEM, NULL, NULL, 0,
     "the top (--window week|month|quarter|year|all-time|rolling-30-days|day, --subject members|teams, "
     "--team T | --badge B | --category C, --period 2026-W47)"},
    {"profile", NULL, AW "GetProfile", D(get_profile_request), D(profile),
     {{"MEMBER", "member_id", A_POS, DEFAULT_ME, NULL}}, NULL, NULL,
     "badges:badge_name,count,points;recent_awards:badge_name,points,giver_id,grant_time_ms;"
     "milestones:badge_name,grant_time_ms;progress:rule_name,text,earned;"
     "journeys:name,steps_done,steps_total,next_text",
     F_IDEM, NULL, NULL, 0, "badges, points, recent awards, milestones (default: you)"},
    {"awards", NULL, AW "ListAwards", D(list_awards_request), D(list_awards_response),
     {{"member", "recipient_id", A_VAL, 0, NULL}, {"badge", "badge_id", A_VAL, 0, NULL},
      {"category", "category", A_VAL, 0, NULL}, {"team", "team", A_VAL, 0, NULL},
      {"revoked", NULL, A_FLAG, 0, "include_revoked=true"}, {"public", NULL, A_FLAG, 0, "public_only=true"}, PAGE},
     NULL, "awards", AWARD_COLS, F_IDEM, NULL, NULL, 0, "awards, newest first"},

    /* Open Badges credentials (credential.c has the commands that print files) */
    {"credential", "export", CR "UpdateCredentialPreferences", D(update_credential_preferences_request),
     D(credential_preferences),
     {{"off", NULL, A_FLAG, 0, "preferences.export_disabled=true"},
      {"on", NULL, A_FLAG, 0, "preferences.export_disabled=false"}},
     NULL, NULL, NULL, F_IDEM, CR "GetCredentialPreferences", "preferences", 0,
     "whether your awards may be exported as credentials (--off, --on; neither: show)"},
    {"credential", "set-issuer", CR "UpdateIssuer", D(update_issuer_request), D(issuer_profile),
     {{"id", "issuer.id", A_VAL, 0, NULL}, {"name", "issuer.name", A_VAL, 0, NULL},
      {"image-url", "issuer.image_url", A_VAL, 0, NULL}, {"email", "issuer.email", A_VAL, 0, NULL}},
     NULL, NULL, NULL, F_IDEM, CR "GetIssuer", "issuer", 0,
     "change the given fields of the org's issuer profile (admin; --id takes an https URL)"},
    {"credential", "issuer", CR "GetIssuer", D(get_issuer_request), D(issuer_profile), {{0}}, NULL, NULL, NULL,
     F_IDEM, NULL, NULL, 0, "the org as an Open Badges issuer: id, name, image, email"},

    /* inbox */
    {"inbox", "read", NT "MarkRead", D(mark_read_request), D(mark_read_response),
     {{"IDS", "ids[]", A_WORDS, 0, NULL}, {"all", NULL, A_FLAG, 0, "all=true"}}, NULL, NULL, NULL, F_IDEM, NULL,
     NULL, 0, "mark notifications read (ids, or --all)"},
    {"inbox", NULL, NT "ListInbox", D(list_inbox_request), D(list_inbox_response),
     {{"unread", NULL, A_FLAG, 0, "unread_only=true"}, PAGE}, NULL, "notifications",
     "id,kind,title,read,create_time_ms", F_IDEM, NULL, NULL, 0, "your notifications (--unread)"},
    {"preferences", "set", NT "UpdatePreferences", D(update_preferences_request), D(preferences),
     {{"mute", "preferences.muted_kinds[]", A_LIST, 0, NULL},
      {"digest", "preferences.weekly_digest", A_VAL, 0, NULL}},
     NULL, NULL, NULL, F_IDEM, NT "GetPreferences", "preferences", 0,
     "--mute kind,kind (replaces the list; '' for none), --digest on|off"},
    {"preferences", NULL, NT "GetPreferences", D(get_preferences_request), D(preferences), {{0}}, NULL, NULL, NULL,
     F_IDEM, NULL, NULL, 0, "muted kinds and the weekly digest"},
    {"digest", NULL, NT "GetDigest", D(get_digest_request), D(digest),
     {{"week", "week", A_VAL, 0, NULL}, {"month", "month", A_VAL, 0, NULL}, {"team", "team", A_VAL, 0, NULL},
      {"html", NULL, A_FLAG, 0, "format=DIGEST_FORMAT_HTML"}, {"text", NULL, A_FLAG, 0, "format=DIGEST_FORMAT_TEXT"}},
     NULL, NULL,
     "top_recognitions:recipient_id,badge_name,points,justification;new_badge_holders:recipient_id,badge_name;"
     "most_endorsed:nomination_id,badge_name,endorsements;movers:id,display_name,rank,previous_rank,points",
     F_IDEM | F_RENDERED, NULL, NULL, 0,
     "the week's recognitions (--week 2026-W47 or --month 2026-11, --team T; --html or --text: the newsletter)"},

    /* admin: catalog */
    {"badges", "create", AW "CreateBadge", D(create_badge_request), D(badge),
     {{"id", "badge.id", A_VAL, REQUIRED, NULL}, BADGE_FIELDS}, NULL, NULL, NULL, 0, NULL, NULL, 0,
     "define a badge (--id slug --name N --points P --policy auto|manager-review ...)"},
    {"badges", "update", AW "UpdateBadge", D(update_badge_request), D(badge),
     {{"ID", "badge.id", A_POS, REQUIRED, NULL}, BADGE_FIELDS}, NULL, NULL, NULL, F_IDEM | F_MASK, NULL, NULL, 0,
     "change the given fields of a badge"},
    {"badges", "retire", AW "RetireBadge", D(retire_badge_request), D(badge),
     {{"ID", "badge_id", A_POS, REQUIRED, NULL}}, NULL, NULL, NULL, F_IDEM, NULL, NULL, 0,
     "retire a badge (it stays on profiles)"},
    {"badges", "get", AW "GetBadge", D(get_badge_request), D(badge), {{"ID", "badge_id", A_POS, REQUIRED, NULL}},
     NULL, NULL, NULL, F_IDEM, NULL, NULL, 0, "one badge"},
    {"badges", NULL, AW "ListBadges", D(list_badges_request), D(list_badges_response),
     {{"all", NULL, A_FLAG, 0, "include_retired=true"}, {"category", "category", A_VAL, 0, NULL}, PAGE}, NULL,
     "badges", "id,name,category,points,approval_policy,active,cap_per_recipient,cap_period", F_IDEM, NULL, NULL, 0,
     "the badge catalog (--all with retired ones)"},
    {"rules", "create", AW "CreateRule", D(create_rule_request), D(rule),
     {{"name", "rule.name", A_VAL, REQUIRED, NULL}, {"kind", "rule.kind", A_VAL, REQUIRED, NULL},
      {"badge", "rule.badge_id", A_VAL, 0, NULL}, {"category", "rule.category", A_VAL, 0, NULL},
      {"threshold", "rule.threshold", A_VAL, REQUIRED, NULL}, {"window-days", "rule.window_days", A_VAL, 0, NULL},
      {"grant", "rule.grant_badge_id", A_VAL, REQUIRED, NULL}},
     NULL, NULL, NULL, 0, NULL, NULL, 0,
     "a milestone rule (--kind badge-count|category-count|points-total --threshold N --grant BADGE)"},
    {"rules", "get", AW "GetRule", D(get_rule_request), D(rule), {{"ID", "rule_id", A_POS, REQUIRED, NULL}}, NULL,
     NULL, NULL, F_IDEM, NULL, NULL, 0, "one milestone rule"},
    {"rules", "update", AW "UpdateRule", D(update_rule_request), D(rule),
     {{"ID", "rule.id", A_POS, REQUIRED, NULL}, {"name", "rule.name", A_VAL, 0, "update_mask[]=name"},
      {"threshold", "rule.threshold", A_VAL, 0, "update_mask[]=threshold"},
      {"window-days", "rule.window_days", A_VAL, 0, "update_mask[]=window_days"},
      {"grant", "rule.grant_badge_id", A_VAL, 0, "update_mask[]=grant_badge_id"}},
     NULL, NULL, NULL, F_IDEM, NULL, NULL, 0, "change the given fields of a rule (--name, --threshold, ...)"},
    {"rules", "delete", AW "DeleteRule", D(delete_rule_request), D(delete_rule_response),
     {{"ID", "rule_id", A_POS, REQUIRED, NULL}}, NULL, NULL, NULL, F_IDEM, NULL, NULL, 0, "delete a rule"},
    {"rules", NULL, AW "ListRules", D(list_rules_request), D(list_rules_response), {PAGE}, NULL, "rules",
     "id,name,kind,badge_id,category,threshold,window_days,grant_badge_id", F_IDEM, NULL, NULL, 0,
     "the milestone rules"},
    {"revoke", NULL, AW "RevokeAward", D(revoke_award_request), D(award),
     {{"ID", "award_id", A_POS, REQUIRED, NULL}, {"reason", "reason", A_VAL, REQUIRED, NULL}}, NULL, NULL, NULL,
     F_IDEM, NULL, NULL, 0, "revoke an award (admin)"},

    /* admin: members, settings, analytics */
    {"members", "get", NO "GetMember", D(get_member_request), D(member),
     {{"ID", "member_id", A_POS, DEFAULT_ME, NULL}}, NULL, NULL, NULL, F_IDEM, NULL, NULL, 0, "one member"},
    {"members", "deactivate", NO "DeactivateMember", D(deactivate_member_request), D(member),
     {{"ID", "member_id", A_POS, REQUIRED, NULL}}, NULL, NULL, NULL, F_IDEM, NULL, NULL, 0,
     "deactivate a member (admin)"},
    {"members", "reactivate", NO "ReactivateMember", D(reactivate_member_request), D(member),
     {{"ID", "member_id", A_POS, REQUIRED, NULL}}, NULL, NULL, NULL, F_IDEM, NULL, NULL, 0,
     "reactivate a member (admin)"},
    {"members", NULL, NO "ListMembers", D(list_members_request), D(list_members_response),
     {{"team", "team", A_VAL, 0, NULL}, {"inactive", NULL, A_FLAG, 0, "include_inactive=true"}, PAGE}, NULL,
     "members", "member_id,display_name,team,manager_id,remote,active", F_IDEM, NULL, NULL, 0,
     "the directory (--team T, --inactive)"},
    {"settings", "set", NO "UpdateOrgSettings", D(update_org_settings_request), D(org_settings),
     {{"allowance", "settings.allowance_per_month", A_VAL, 0, NULL},
      {"pair-cap", "settings.pair_cap_per_quarter", A_VAL, 0, NULL},
      {"blind-review", "settings.blind_review", A_VAL, 0, NULL},
      {"overdue-days", "settings.overdue_days", A_VAL, 0, NULL},
      {"nudge-weeks", "settings.nudge_after_weeks", A_VAL, 0, NULL},
      {"time-zone", "settings.time_zone", A_VAL, 0, NULL},
      {"digest-weekday", "settings.digest_weekday", A_VAL, 0, NULL},
      {"digest-hour", "settings.digest_hour", A_VAL, 0, NULL}},
     NULL, NULL, NULL, F_IDEM, NO "GetOrgSettings", "settings", 0, "change the org's settings (admin)"},
    {"settings", NULL, NO "GetOrgSettings", D(get_org_settings_request), D(org_settings), {{0}}, NULL, NULL, NULL,
     F_IDEM, NULL, NULL, 0, "the org's settings"},
    {"stats", "awards", AW "GetAwardStats", D(get_award_stats_request), D(award_stats),
     {{"team", "team", A_VAL, 0, NULL}, {"from-ms", "start_time_ms", A_VAL, 0, NULL},
      {"to-ms", "end_time_ms", A_VAL, 0, NULL}},
     NULL, NULL, NULL, F_IDEM, NULL, NULL, 0, "award distribution: by badge, category, team, week; Gini"},
    {"stats", NULL, NO "GetParticipationStats", D(get_participation_stats_request), D(participation_stats),
     {{"team", "team", A_VAL, 0, NULL}, {"from-ms", "start_time_ms", A_VAL, 0, NULL},
      {"to-ms", "end_time_ms", A_VAL, 0, NULL}},
     NULL, NULL, NULL, F_IDEM, NULL, NULL, 0, "participation: who gives, who receives, who is never seen"},
    {"rebuild", NULL, LB "RebuildLeaderboards", D(rebuild_leaderboards_request), D(rebuild_leaderboards_response),
     {{0}}, NULL, NULL, NULL, F_IDEM | F_PROGRESS, NULL, NULL, 600000,
     "recompute every board of the org from the ledger (admin)"},

    /* signals (CRM events) and rules over them */
    {"signals", "rules", SG "ListSignalRules", D(list_signal_rules_request), D(list_signal_rules_response), {PAGE},
     NULL, "rules", "id,name,signal_kind,aggregate,threshold,period,window_days,min_amount_minor,currency,grant_badge_id",
     F_IDEM, NULL, NULL, 0, "the rules over signals"},
    {"signals", "rule-create", SG "CreateSignalRule", D(create_signal_rule_request), D(signal_rule),
     {{"name", "rule.name", A_VAL, REQUIRED, NULL}, {"kind", "rule.signal_kind", A_VAL, REQUIRED, NULL},
      {"sum", NULL, A_FLAG, 0, "rule.aggregate=SIGNAL_SUM_AMOUNT"},
      {"threshold", "rule.threshold", A_VAL, REQUIRED, NULL}, {"period", "rule.period", A_VAL, 0, NULL},
      {"window-days", "rule.window_days", A_VAL, 0, NULL}, {"min-amount-minor", "rule.min_amount_minor", A_VAL, 0, NULL},
      {"currency", "rule.currency", A_VAL, 0, NULL}, {"account", "rule.account", A_VAL, 0, NULL},
      {"grant", "rule.grant_badge_id", A_VAL, REQUIRED, NULL}},
     NULL, NULL, NULL, 0, NULL, NULL, 0,
     "a rule over signals (--kind deal-won --threshold 3 --period quarter --min-amount-minor 5000000 --grant B; --sum)"},
    {"signals", "rule-delete", SG "DeleteSignalRule", D(delete_signal_rule_request), D(delete_signal_rule_response),
     {{"ID", "rule_id", A_POS, REQUIRED, NULL}}, NULL, NULL, NULL, F_IDEM, NULL, NULL, 0, "delete a signal rule"},
    {"suggest", NULL, SG "SuggestRecognitions", D(suggest_recognitions_request), D(suggest_recognitions_response),
     {{"MEMBER", "member_id", A_POS, 0, NULL}, {"limit", "limit", A_VAL, 0, NULL},
      {"window-days", "window_days", A_VAL, 0, NULL}},
     NULL, "suggestions", "colleague_id,suggested_badge_name,reason", F_IDEM, NULL, NULL, 0,
     "colleagues you have reason to recognize now, with a badge and the reason"},
    {"journeys", "create", SG "CreateJourney", D(create_journey_request), D(journey),
     {{"name", "journey.name", A_VAL, REQUIRED, NULL}, {"description", "journey.description", A_VAL, 0, NULL},
      {"team", "journey.team", A_VAL, 0, NULL}, {"min-tenure-days", "journey.min_tenure_days", A_VAL, 0, NULL},
      {"max-tenure-days", "journey.max_tenure_days", A_VAL, 0, NULL},
      {"badge-step", "journey.steps[].badge_id", A_LIST, 0, NULL},
      {"rule-step", "journey.steps[].rule_id", A_LIST, 0, NULL},
      {"signal-rule-step", "journey.steps[].signal_rule_id", A_LIST, 0, NULL}},
     NULL, NULL, NULL, 0, NULL, NULL, 0,
     "a badge journey (admin): steps in the order given (--badge-step B, --rule-step ID, --signal-rule-step ID)"},
    {"journeys", "retire", SG "UpdateJourney", D(update_journey_request), D(journey),
     {{"ID", "journey.id", A_POS, REQUIRED, NULL}}, "journey.active=false;update_mask[]=active", NULL, NULL, F_IDEM,
     NULL, NULL, 0, "retire a badge journey (admin)"},
    {"journeys", NULL, SG "ListJourneys", D(list_journeys_request), D(list_journeys_response),
     {{"all", NULL, A_FLAG, 0, "include_inactive=true"}, PAGE}, NULL, "journeys",
     "id,name,team,min_tenure_days,max_tenure_days,active", F_IDEM, NULL, NULL, 0,
     "badge journeys (--all with retired ones); each member's progress is on their profile"},
    {"outcomes", NULL, SG "GetOutcomeStats", D(get_outcome_stats_request), D(outcome_stats),
     {{"team", "team", A_VAL, 0, NULL}, {"badge", "badge_id", A_VAL, 0, NULL}, {"category", "category", A_VAL, 0, NULL},
      {"currency", "currency", A_VAL, 0, NULL}, {"from-ms", "start_time_ms", A_VAL, 0, NULL},
      {"to-ms", "end_time_ms", A_VAL, 0, NULL}},
     NULL, "figures", "group,metric,text", F_IDEM, NULL, NULL, 0,
     "recognized members' deals, ramp and departures next to others' (correlations; managers: your team)"},
    {"signals", NULL, SG "ListSignals", D(list_signals_request), D(list_signals_response),
     {{"member", "member_id", A_VAL, 0, NULL}, {"kind", "kind", A_VAL, 0, NULL},
      {"from-ms", "start_time_ms", A_VAL, 0, NULL}, {"to-ms", "end_time_ms", A_VAL, 0, NULL}, PAGE},
     NULL, "signals", "id,kind,member_id,occur_time_ms,account,amount_minor,currency,title,source,external_id", F_IDEM,
     NULL, NULL, 0, "signals, newest first: yours, your reports' (managers), anyone's (admins) (--member M, --kind K)"},

    /* admin: channels */
    {"channels", "create", NT "CreateChannel", D(create_channel_request), D(channel),
     {{"url", "channel.url", A_VAL, REQUIRED, NULL}, {"secret", "channel.secret", A_VAL, 0, NULL},
      {"kinds", "channel.kinds[]", A_LIST, 0, NULL}, {"team", "channel.team", A_VAL, 0, NULL},
      {"format", "channel.format", A_VAL, 0, NULL}},
     NULL, NULL, NULL, 0, NULL, NULL, 0,
     "a webhook (--url --secret, --kinds award_granted,digest, --team, --format json|slack|teams) or an email list "
     "for the digest (--url mailto:list@example.com --format email)"},
    {"channels", "delete", NT "DeleteChannel", D(delete_channel_request), D(delete_channel_response),
     {{"ID", "channel_id", A_POS, REQUIRED, NULL}}, NULL, NULL, NULL, F_IDEM, NULL, NULL, 0, "delete a webhook"},
    {"channels", "test", NT "TestChannel", D(test_channel_request), D(test_channel_response),
     {{"ID", "channel_id", A_POS, REQUIRED, NULL}}, NULL, NULL, NULL, 0, NULL, NULL, 0, "send a test delivery"},
    {"channels", "deliveries", NT "ListDeliveries", D(list_deliveries_request), D(list_deliveries_response),
     {{"ID", "channel_id", A_POS, REQUIRED, NULL}, PAGE}, NULL, "deliveries",
     "id,event_id,status,attempts,last_error,create_time_ms", F_IDEM, NULL, NULL, 0,
     "a webhook's deliveries, attempts and errors"},
    {"channels", NULL, NT "ListChannels", D(list_channels_request), D(list_channels_response), {PAGE}, NULL,
     "channels", "id,url,format,kinds,team,create_time_ms,slow_until_ms", F_IDEM, NULL, NULL, 0, "the webhooks and email lists"},
};

#define N_COMMANDS (sizeof COMMANDS / sizeof COMMANDS[0])

__attribute__((format(printf, 2, 3))) static int usage_error(const command *cmd, const char *fmt, ...) {
  fprintf(stderr, "accolade %s%s%s: ", cmd->name, cmd->sub ? " " : "", cmd->sub ? cmd->sub : "");
  va_list ap;
  va_start(ap, fmt);
  vfprintf(stderr, fmt, ap);
  va_end(ap);
  fputc('\n', stderr);
  return EXIT_USAGE;
}

static int set(arena *a, const command *cmd, void *req, const char *field, const char *value, const char *flag) {
  char err[512];
  if (pb_set(a, cmd->req, req, field, value, err, sizeof err) == 0) return 0;
  char msg[600];
  snprintf(msg, sizeof msg, "%s%s: %s", flag[0] >= 'A' && flag[0] <= 'Z' ? "" : "--", flag, err);
  return usage_error(cmd, "%s", msg);
}

/* set_spec applies "name=value;..." (constants from the table). */
static int set_spec(arena *a, const command *cmd, void *req, const char *spec, const char *flag) {
  char buf[256];
  snprintf(buf, sizeof buf, "%s", spec);
  char *save = NULL;
  for (char *p = strtok_r(buf, ";", &save); p; p = strtok_r(NULL, ";", &save)) {
    char *eq = strchr(p, '=');
    *eq = '\0';
    if (set(a, cmd, req, p, eq + 1, flag)) return EXIT_USAGE;
  }
  return 0;
}

/* clear_list empties repeated field |path| (dotted) of |m|, if it exists yet. */
static void clear_list(const ProtobufCMessageDescriptor *d, void *m, const char *path) {
  const char *dot = strchr(path, '.');
  char head[64];
  snprintf(head, sizeof head, "%.*s", dot ? (int)(dot - path) : (int)strcspn(path, "["), path);
  const ProtobufCFieldDescriptor *f = protobuf_c_message_descriptor_get_field_by_name(d, head);
  if (!f) return;
  if (dot) {
    void *sub = *(void **)((char *)m + f->offset);
    if (sub) clear_list(f->descriptor, sub, dot + 1);
  } else if (f->label == PROTOBUF_C_LABEL_REPEATED) {
    *(size_t *)((char *)m + f->quantifier_offset) = 0;
  }
}

static const arg *find_flag(const command *cmd, const char *name, size_t len) {
  for (const arg *g = cmd->args; g->flag; g++)
    if (g->kind != A_POS && g->kind != A_WORDS && strlen(g->flag) == len && !strncmp(g->flag, name, len)) return g;
  return NULL;
}

typedef struct progress {
  pthread_t thread;
  pthread_mutex_t mu;
  pthread_cond_t cv;
  int done;
  const char *what;
} progress;

static void *progress_main(void *p_) {
  progress *p = p_;
  int64_t start = rpc_now_ms();
  pthread_mutex_lock(&p->mu);
  while (!p->done) {
    struct timespec until = rpc_deadline_after(1000);
    rpc_cond_wait(&p->cv, &p->mu, &until);
    if (!p->done) fprintf(stderr, "\r%s: %llds elapsed", p->what, (long long)((rpc_now_ms() - start) / 1000));
  }
  pthread_mutex_unlock(&p->mu);
  fputs("\r\033[K", stderr);
  return NULL;
}

static void request_id(char *out) {
  unsigned char r[12];
  if (RAND_bytes(r, sizeof r) != 1) {
    snprintf(out, 32, "cli-%ld-%d", (long)time(NULL), (int)getpid());
    return;
  }
  memcpy(out, "cli-", 4);
  hex_encode(out + 4, r, sizeof r);
}

/* print_rendered writes the reply's "html" field, else its "text" field, as
 * is (accolade digest --html > digest.html); 0 when both are empty. */
static int print_rendered(const ProtobufCMessage *m) {
  const char *names[] = {"html", "text"};
  for (int k = 0; k < 2; k++) {
    const ProtobufCFieldDescriptor *f = protobuf_c_message_descriptor_get_field_by_name(m->descriptor, names[k]);
    const char *v = f && f->type == PROTOBUF_C_TYPE_STRING ? *(const char *const *)((const char *)m + f->offset) : NULL;
    if (v && *v) {
      fputs(v, stdout);
      return 1;
    }
  }
  return 0;
}

/* parse_args fills |req| from argv[i..]: options, positionals and the words
 * of a free-text argument (into |words|, |*wlen|); |*given| gets a bit per
 * argument named. 0 or the exit status. */
static int parse_args(arena *a, const command *cmd, ProtobufCMessage *req, int argc, char **argv, int i,
                      unsigned *given, char *words, size_t cap, size_t *wlen) {
  int rc;
  const arg *pos = cmd->args;
  for (; i < argc; i++) {
    const char *t = argv[i];
    if (!strncmp(t, "--", 2) && t[2]) {
      const char *eq = strchr(t + 2, '=');
      size_t len = eq ? (size_t)(eq - t - 2) : strlen(t + 2);
      const arg *g = find_flag(cmd, t + 2, len);
      if (!g) return usage_error(cmd, "unknown option %s (see accolade --help)", t);
      *given |= 1u << (g - cmd->args);
      if (g->kind == A_FLAG) {
        if (eq) return usage_error(cmd, "--%s takes no value", g->flag);
        if ((rc = set_spec(a, cmd, req, g->also, g->flag))) return rc;
        continue;
      }
      const char *v = eq ? eq + 1 : i + 1 < argc ? argv[++i] : NULL;
      if (!v) return usage_error(cmd, "--%s needs a value", g->flag);
      if (g->also && (rc = set_spec(a, cmd, req, g->also, g->flag))) return rc;
      if (g->kind == A_LIST) {
        if (!*v) clear_list(cmd->req, req, g->field);
        char *copy = arena_strdup(a, v), *save = NULL;
        for (char *p = strtok_r(copy, ",", &save); p; p = strtok_r(NULL, ",", &save))
          if ((rc = set(a, cmd, req, g->field, p, g->flag))) return rc;
      } else if ((rc = set(a, cmd, req, g->field, v, g->flag))) {
        return rc;
      }
      continue;
    }
    while (pos->flag && pos->kind != A_POS && pos->kind != A_WORDS) pos++;
    if (!pos->flag) return usage_error(cmd, "unexpected argument '%s'", t);
    *given |= 1u << (pos - cmd->args);
    if (pos->kind == A_WORDS && pos->field[strlen(pos->field) - 1] != ']') {
      *wlen += (size_t)snprintf(words + *wlen, cap - *wlen, "%s%s", *wlen ? " " : "", t);
      if (*wlen >= cap) *wlen = cap - 1;
      continue;
    }
    if ((rc = set(a, cmd, req, pos->field, t, pos->flag))) return rc;
    if (pos->kind == A_POS) pos++;
  }
  return 0;
}

/* complete_request sets the words, the defaults (the caller's own id) and
 * what the command's flags add, and refuses what is missing. 0 or the exit
 * status. */
static int complete_request(arena *a, const cli *c, const command *cmd, ProtobufCMessage *req, unsigned given,
                            const char *words, size_t wlen) {
  int rc;
  for (const arg *g = cmd->args; g->flag; g++) {
    int have = (given >> (g - cmd->args)) & 1;
    if (g->kind == A_WORDS && have && wlen && (rc = set(a, cmd, req, g->field, words, g->flag))) return rc;
    if (have || g->need == OPTIONAL) continue;
    if (g->need == DEFAULT_ME) {
      const char *me = cli_me(c, a);
      if (!me) return usage_error(cmd, "give %s (the token names no user)", g->flag);
      if ((rc = set(a, cmd, req, g->field, me, g->flag))) return rc;
      continue;
    }
    return usage_error(cmd, "%s%s is required", g->kind == A_POS || g->kind == A_WORDS ? "" : "--", g->flag);
  }
  if ((cmd->flags & F_ONE_OF) && ((given & 3) == 0 || (given & 3) == 3))
    return usage_error(cmd, "give exactly one of --%s and --reject", cmd->args[0].flag);
  if (cmd->flags & F_MASK) {
    for (const arg *g = cmd->args; g->flag; g++)
      if (((given >> (g - cmd->args)) & 1) && g->kind == A_VAL && !strncmp(g->field, "badge.", 6) &&
          (rc = set(a, cmd, req, "update_mask[]", g->field + 6, g->flag)))
        return rc;
  }
  /* Every write that takes a request id gets a fresh one (unless given), so
   * a retry on UNAVAILABLE is answered with the first answer (replay.h). */
  const ProtobufCFieldDescriptor *rid = protobuf_c_message_descriptor_get_field_by_name(cmd->req, "request_id");
  if (rid) {
    const char **slot = (const char **)((char *)req + rid->offset);
    if (!*slot || !**slot) {
      char id[40];
      request_id(id);
      *slot = arena_strdup(a, id);
    }
  }
  return 0;
}

/* call_with_progress makes the command's call, with a progress line on a
 * terminal for the slow ones (F_PROGRESS). */
static int call_with_progress(const cli *c, const command *cmd, const ProtobufCMessage *req, arena *a, void **resp) {
  progress pr = {.done = 0, .what = cmd->name};
  int show = (cmd->flags & F_PROGRESS) && isatty(2) && !c->json;
  if (show) {
    pthread_mutex_init(&pr.mu, NULL);
    pthread_cond_init(&pr.cv, NULL);
    pthread_create(&pr.thread, NULL, progress_main, &pr);
  }
  char what[64];
  snprintf(what, sizeof what, "%s%s%s", cmd->name, cmd->sub ? " " : "", cmd->sub ? cmd->sub : "");
  /* a write that takes a request id is retried on UNAVAILABLE: its replay answers */
  int idem = (cmd->flags & F_IDEM) || protobuf_c_message_descriptor_get_field_by_name(cmd->req, "request_id");
  int rc = cli_call(c, what, cmd->method, req, cmd->resp, idem, cmd->timeout_ms, a, resp);
  if (show) {
    pthread_mutex_lock(&pr.mu);
    pr.done = 1;
    pthread_cond_signal(&pr.cv);
    pthread_mutex_unlock(&pr.mu);
    pthread_join(pr.thread, NULL);
  }
  return rc;
}

static int run(const cli *c, const command *cmd, int argc, char **argv, int i) {
  arena a;
  arena_init(&a);
  ProtobufCMessage *req = arena_alloc(&a, cmd->req->sizeof_message);
  protobuf_c_message_init(cmd->req, req);
  int rc = 0;
  unsigned given = 0;   /* bit per arg index */
  char words[8192] = "";
  size_t wlen = 0;
  void *resp = NULL;
  if (cmd->merge) {   /* read-modify-write: start from the current value */
    const ProtobufCFieldDescriptor *f = protobuf_c_message_descriptor_get_field_by_name(cmd->req, cmd->merge_into);
    void *cur = NULL;
    if ((rc = cli_call(c, cmd->name, cmd->merge, NULL, f->descriptor, 1, 0, &a, &cur))) goto out;
    *(void **)((char *)req + f->offset) = cur;
  }
  if ((cmd->fixed && (rc = set_spec(&a, cmd, req, cmd->fixed, "fixed"))) ||
      (rc = parse_args(&a, cmd, req, argc, argv, i, &given, words, sizeof words, &wlen)) ||
      (rc = complete_request(&a, c, cmd, req, given, words, wlen)) ||
      (rc = call_with_progress(c, cmd, req, &a, &resp)))
    goto out;
  if (!((cmd->flags & F_RENDERED) && !c->json && print_rendered(resp))) cli_print(c, resp, cmd->rows, cmd->cols);
out:
  arena_free(&a);
  return rc;
}

int commands_run(const cli *c, int argc, char **argv, int i) {
  const char *name = argv[i], *sub = i + 1 < argc ? argv[i + 1] : "";
  if (!strcmp(name, "members") && !strcmp(sub, "import")) return cmd_members_import(c, argc, argv, i + 2);
  if (!strcmp(name, "signals") && !strcmp(sub, "import")) return cmd_signals_import(c, argc, argv, i + 2);
  if (!strcmp(name, "watch")) return cmd_watch(c, argc, argv, i + 1);
  if (!strcmp(name, "credential") && strcmp(sub, "export") && strcmp(sub, "issuer") && strcmp(sub, "set-issuer"))
    return cmd_credential(c, argc, argv, i + 1);
  for (size_t k = 0; k < N_COMMANDS; k++) {
    const command *cmd = &COMMANDS[k];
    if (strcmp(cmd->name, name)) continue;
    if (cmd->sub && strcmp(cmd->sub, sub)) continue;
    /* "badges list", "settings get", "leaderboard top": the same as without */
    int words = 0;
    for (const arg *g = cmd->args; g->flag; g++) words |= g->kind == A_WORDS;
    if (!cmd->sub && !words && (!strcmp(sub, "list") || !strcmp(sub, "get") || !strcmp(sub, "top")))
      return run(c, cmd, argc, argv, i + 2);
    return run(c, cmd, argc, argv, i + (cmd->sub ? 2 : 1));
  }
  return -1;
}

void commands_usage(FILE *f) {
  for (size_t k = 0; k < N_COMMANDS; k++) {
    const command *cmd = &COMMANDS[k];
    char head[160];
    size_t n = (size_t)snprintf(head, sizeof head, "  %s%s%s", cmd->name, cmd->sub ? " " : "", cmd->sub ? cmd->sub : "");
    for (const arg *g = cmd->args; g->flag && n < sizeof head; g++)
      if (g->kind == A_POS || g->kind == A_WORDS)
        n += (size_t)snprintf(head + n, sizeof head - n, g->need == REQUIRED ? " %s" : " [%s]", g->flag);
    fprintf(f, "%-34s %s\n", head, cmd->help);
    char flags[512];
    size_t m = 0;
    flags[0] = '\0';
    for (const arg *g = cmd->args; g->flag && m < sizeof flags; g++) {
      if (g->kind == A_POS || g->kind == A_WORDS) continue;
      const char *v = g->kind == A_FLAG ? "" : g->kind == A_LIST ? " a,b" : " V";
      m += (size_t)snprintf(flags + m, sizeof flags - m, g->need == REQUIRED ? " --%s%s" : " [--%s%s]", g->flag, v);
    }
    if (m) fprintf(f, "%-34s%s\n", "", flags);
  }
  fprintf(f, "%-34s %s\n%-34s %s\n%-34s %s\n%-34s %s\n", "  credential AWARD_ID",
          "an award as an Open Badges 3.0 VC-JWT (--json: the document; --out FILE)", "  credential keys",
          "the issuer's JWKS, to verify credentials offline", "  credential status",
          "the signed revocation status list (--json: the document)", "  credential verify FILE",
          "check a credential offline: --jwks KEYS.json (exit 65 when invalid)");
  fprintf(f, "%-34s %s\n%-34s %s\n", "  members import FILE.csv",
          "add or update members from a CSV file, in batches (admin; --batch N, --dry-run)", "  signals import FILE.csv",
          "CRM events from a CSV export, in batches; a rerun lands nothing twice (admin, integration; --source S)");
  fprintf(f, "%-34s %s\n", "  watch",
          "your notifications, live (--after ID, --from-start, --count N, --heartbeat S)");
}
