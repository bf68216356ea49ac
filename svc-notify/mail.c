/* mail.c - the digest by email: SMTP through libcurl, and the weekly job
 * that queues one message per opted-in member (see notify.h). */
#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "accolade/v1/nomination.pb-c.h"
#include "log.h"
#include "notify.h"
#include "render.h"
#include "rpc_client.h"
#include "store.h"
#include "svc.h"

static const char *g_url, *g_user, *g_password, *g_from;

void mail_start(void) {
  g_url = getenv("ACCOLADE_SMTP_URL");
  g_user = getenv("ACCOLADE_SMTP_USER");
  g_password = getenv("ACCOLADE_SMTP_PASSWORD");
  g_from = getenv("ACCOLADE_SMTP_FROM");
  if (!g_from || !*g_from) g_from = "Accolade <accolade@localhost>";
}

int mail_configured(void) { return g_url && *g_url; }

/* addr_of: the address inside "Name <a@b>", or all of |s|. */
static void addr_of(const char *s, char *out, size_t cap) {
  const char *lt = strrchr(s, '<'), *gt = lt ? strchr(lt, '>') : NULL;
  if (lt && gt) snprintf(out, cap, "<%.*s>", (int)(gt - lt - 1), lt + 1);
  else snprintf(out, cap, "<%s>", s);
}

typedef struct upload {
  const char *p;
  size_t left;
} upload;

static size_t read_message(char *buf, size_t size, size_t n, void *arg) {
  upload *u = arg;
  size_t k = size * n < u->left ? size * n : u->left;
  memcpy(buf, u->p, k);
  u->p += k;
  u->left -= k;
  return k;
}

long mail_send(const char *rcpt, const char *message, char *err, size_t cap) {
  if (!mail_configured()) {
    snprintf(err, cap, "email is off (ACCOLADE_SMTP_URL is not set)");
    return 0;
  }
  CURL *c = curl_easy_init();
  if (!c) {
    snprintf(err, cap, "curl init failed");
    return 0;
  }
  char from[320], to[320], cerr[CURL_ERROR_SIZE] = "";
  addr_of(g_from, from, sizeof from);
  addr_of(rcpt, to, sizeof to);
  struct curl_slist *rcpts = curl_slist_append(NULL, to);
  upload u = {message, strlen(message)};
  curl_easy_setopt(c, CURLOPT_URL, g_url);
  curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "smtp,smtps");
  curl_easy_setopt(c, CURLOPT_USE_SSL, (long)CURLUSESSL_TRY);   /* STARTTLS when offered */
  if (g_user && *g_user) {
    curl_easy_setopt(c, CURLOPT_USERNAME, g_user);
    curl_easy_setopt(c, CURLOPT_PASSWORD, g_password ? g_password : "");
  }
  curl_easy_setopt(c, CURLOPT_MAIL_FROM, from);
  curl_easy_setopt(c, CURLOPT_MAIL_RCPT, rcpts);
  curl_easy_setopt(c, CURLOPT_READFUNCTION, read_message);
  curl_easy_setopt(c, CURLOPT_READDATA, &u);
  curl_easy_setopt(c, CURLOPT_UPLOAD, 1L);
  curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, MAIL_SEND_TIMEOUT_MS);
  curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, 3000L);
  curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(c, CURLOPT_ERRORBUFFER, cerr);
  CURLcode rc = curl_easy_perform(c);
  long code = 0, status;
  curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &code);
  if (rc == CURLE_OK) {
    status = 200;
  } else {
    snprintf(err, cap, "SMTP %ld: %s", code, cerr[0] ? cerr : curl_easy_strerror(rc));
    status = code >= 500 ? 422 : code >= 400 ? 503 : 0;
  }
  curl_slist_free_all(rcpts);
  curl_easy_cleanup(c);
  return status;
}

/* members: the org's active members with an address, from svc-nomination
 * (every page); -1 when it does not answer. */
static int members(rpc_ctx *ctx, const char *org, Accolade__V1__Member ***out, size_t *n) {
  size_t cap = 64;
  *out = ARENA_ARRAY(ctx->arena, Accolade__V1__Member *, cap);
  *n = 0;
  Accolade__V1__ListMembersRequest req = ACCOLADE__V1__LIST_MEMBERS_REQUEST__INIT;
  req.page_size = 200;
  identity as;
  rpc_service_identity(&as, "svc-notify", org);
  rpc_call_opts o = {.parent = ctx, .as = &as, .timeout_ms = 5000, .idempotent = 1, .max_attempts = 3};
  for (int page = 0; page < 500; page++) {
    Accolade__V1__ListMembersResponse *r = NULL;
    rpc_status st;
    if (rpc_call(svc_addr("nomination"), "/accolade.v1.NominationService/ListMembers", &req.base,
                 &accolade__v1__list_members_response__descriptor, &o, ctx->arena, (void **)&r, &st) != RPC_OK) {
      log_warn("digest mail for org %s: svc-nomination ListMembers: %s", org, st.message ? st.message : "");
      return -1;
    }
    for (size_t i = 0; i < r->n_members; i++) {
      if (!r->members[i]->active || !strchr(r->members[i]->email, '@')) continue;
      if (*n + 1 >= cap) {
        Accolade__V1__Member **grown = ARENA_ARRAY(ctx->arena, Accolade__V1__Member *, cap * 2);
        memcpy(grown, *out, cap * sizeof *grown);
        *out = grown;
        cap *= 2;
      }
      (*out)[(*n)++] = r->members[i];
    }
    if (!*r->next_page_token) return 0;
    req.page_token = r->next_page_token;
  }
  return 0;
}

/* rfc5322_now: the Date header's value for now (UTC). */
static void rfc5322_now(char *date, size_t cap) {
  time_t now = time(NULL);
  struct tm tm;
  gmtime_r(&now, &tm);
  static const char *const days[] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
  static const char *const months[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                       "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
  snprintf(date, cap, "%s, %02d %s %d %02d:%02d:%02d +0000", days[tm.tm_wday], tm.tm_mday, months[tm.tm_mon],
           tm.tm_year + 1900, tm.tm_hour, tm.tm_min, tm.tm_sec);
}

char *mail_test_message(arena *a, const char *to, const char *id) {
  char *msgid = arena_printf(a, "%s@accolade", id), date[64];
  for (char *p = msgid; *p; p++)
    if (*p == ':') *p = '.';   /* a Message-ID's left part is a dot-atom */
  rfc5322_now(date, sizeof date);
  const char *text = "Accolade test message: this email list is connected and will receive the weekly digest.";
  render_mail m = {.from = g_from ? g_from : "Accolade <accolade@localhost>", .to = to,
                   .subject = "Accolade test message", .date = date, .message_id = msgid,
                   .text = text, .html = arena_printf(a, "<p>%s</p>", text)};
  return notify_adopt(a, render_mime(&m));
}

/* message renders |d| as one email to |to|. */
static char *message(rpc_ctx *ctx, const Accolade__V1__Digest *d, const char *org, const char *to, const char *id) {
  char date[64];
  rfc5322_now(date, sizeof date);
  char *subject = notify_adopt(ctx->arena, render_digest_subject(d));
  char *html = notify_adopt(ctx->arena, render_digest_html(d, org, digest_link_base()));
  char *text = notify_adopt(ctx->arena, render_digest_text(d, org, digest_link_base()));
  render_mail m = {.from = g_from, .to = to, .subject = subject, .date = date, .message_id = id, .text = text,
                   .html = html};
  return notify_adopt(ctx->arena, render_mime(&m));
}

/* mail_org queues |p|'s digest for |org|; 1 queued, 0 already done, -1 failed. */
static int mail_org(const char *org, const digest_period *p) {
  arena a;
  rpc_ctx ctx;
  rpc_ctx_background(&ctx, &a, "digest-mail", org);
  int result = -1;
  Accolade__V1__Digest d = ACCOLADE__V1__DIGEST__INIT;
  Accolade__V1__Member **ms;
  size_t nm, nc;
  store_mail_channel *chans;
  if (digest_build(&ctx, org, p, "", &d) != RPC_OK || members(&ctx, org, &ms, &nm) != 0 ||
      store_mail_channels(&a, org, &chans, &nc) != RPC_OK)
    goto out;   /* tried again at the next scan */
  const char *event = arena_printf(&a, "digest:%s", p->week);
  store_mail *mails = ARENA_ARRAY(&a, store_mail, nm + 1);
  for (size_t i = 0; i < nm; i++) {
    const char *to = *ms[i]->display_name ? arena_printf(&a, "%s <%s>", ms[i]->display_name, ms[i]->email)
                                          : ms[i]->email;
    mails[i] = (store_mail){.user_id = ms[i]->member_id, .to = ms[i]->email,
                            .body = message(&ctx, &d, org, to, arena_printf(&a, "%s.%s.%s@accolade", event + 7, org,
                                                                            ms[i]->member_id))};
  }
  for (size_t i = 0; i < nc; i++) {   /* a team's list gets the team's digest */
    Accolade__V1__Digest td = ACCOLADE__V1__DIGEST__INIT;
    const Accolade__V1__Digest *dd = &d;
    if (*chans[i].team) {
      if (digest_build(&ctx, org, p, chans[i].team, &td) != RPC_OK) goto out;
      dd = &td;
    }
    chans[i].body = message(&ctx, dd, org, chans[i].to, arena_printf(&a, "%s.%s.%s@accolade", event + 7, org, chans[i].id));
  }
  int queued = 0;
  if (store_mail_queue(org, p->week, event, mails, nm, chans, nc, &queued) != RPC_OK) goto out;
  if (queued) log_info("digest %s mailed for org %s: %zu members, %zu lists", p->week, org, nm, nc);
  result = queued;
out:
  arena_free(&a);
  return result;
}

/* due: the week |org|'s digest is due by email for, if any (1). */
static int due(const char *org, digest_period *p) {
  arena a;
  rpc_ctx ctx;
  rpc_ctx_background(&ctx, &a, "digest-mail", org);
  int pending = 0;
  int rc = digest_due(&ctx, org, p) == 1 && store_mail_pending(org, p->week, &pending) == RPC_OK && pending;
  arena_free(&a);
  return rc;
}

int mail_digest_due(void) {
  if (!mail_configured()) return 0;
  arena list;
  arena_init(&list);
  char **orgs;
  size_t n;
  int done = 0;
  if (store_mail_orgs(&list, &orgs, &n) != RPC_OK) done = -1;
  for (size_t i = 0; done >= 0 && i < n; i++) {
    digest_period p;
    if (due(orgs[i], &p) && mail_org(orgs[i], &p) > 0) done++;
  }
  arena_free(&list);
  return done;
}
