/* log.c - JSON lines on stderr. Lines are whole in every write(2), so they
 * never interleave; access lines are gathered in a buffer (log_set_buffer)
 * and written together by a thread of their own, at the latest LOG_FLUSH_MS
 * after the first. */
#include "log.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "clock.h"

static char g_service[64] = "accolade";
static log_level g_level = LOG_INFO;
static const char *const level_names[] = {"debug", "info", "warn", "error"};

/* The access-log buffers. Lines go into |g_buf|; a full one is handed to
 * the flusher thread (|g_full|), which writes it outside the lock while
 * lines go into the other (|g_spare| is NULL meanwhile), and which hands off
 * and writes a buffer whose first line has waited LOG_FLUSH_MS. So no caller
 * of log_access waits for a write(2), only for the lock (a memcpy) or, when
 * both buffers are full, for the flusher. Other lines first wait until
 * everything buffered is written, so lines keep their order. */
#define LOG_FLUSH_MS 500
static pthread_mutex_t g_buf_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t g_buf_cv = PTHREAD_COND_INITIALIZER;       /* the flusher waits here */
static pthread_cond_t g_written_cv = PTHREAD_COND_INITIALIZER;   /* a write is done */
static char *g_buf, *g_full, *g_spare;
static size_t g_buf_cap, g_buf_len, g_full_len;
static struct timespec g_due;   /* LOG_FLUSH_MS after g_buf's first line */
static pthread_t g_flusher;
static int g_flusher_running, g_flusher_stop;

static void write_all(const char *p, size_t n) {
  while (n > 0) {
    ssize_t w = write(STDERR_FILENO, p, n);
    if (w <= 0) return;
    p += w;
    n -= (size_t)w;
  }
}

/* hand_off_locked gives g_buf to the flusher and fills the spare next,
 * waiting for the flusher to finish with it first. */
static void hand_off_locked(void) {
  while (!g_spare) pthread_cond_wait(&g_written_cv, &g_buf_mu);
  g_full = g_buf;
  g_full_len = g_buf_len;
  g_buf = g_spare;
  g_spare = NULL;
  g_buf_len = 0;
  pthread_cond_signal(&g_buf_cv);
}

/* flush_locked writes everything buffered, in order (lock held). */
static void flush_locked(void) {
  while (g_buf && !g_spare) pthread_cond_wait(&g_written_cv, &g_buf_mu);   /* the flusher's write */
  if (g_buf_len) write_all(g_buf, g_buf_len);
  g_buf_len = 0;
}

static void *flusher_main(void *arg) {
  (void)arg;
  pthread_mutex_lock(&g_buf_mu);
  for (;;) {
    if (g_full) {   /* write it outside the lock */
      char *p = g_full;
      size_t n = g_full_len;
      g_full = NULL;
      pthread_mutex_unlock(&g_buf_mu);
      write_all(p, n);
      pthread_mutex_lock(&g_buf_mu);
      g_spare = p;
      pthread_cond_broadcast(&g_written_cv);
      continue;
    }
    if (g_flusher_stop) break;
    if (!g_buf_len) {
      pthread_cond_wait(&g_buf_cv, &g_buf_mu);   /* until a line is buffered */
      continue;
    }
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    if (now.tv_sec > g_due.tv_sec || (now.tv_sec == g_due.tv_sec && now.tv_nsec >= g_due.tv_nsec))
      hand_off_locked();
    else
      clock_cond_wait(&g_buf_cv, &g_buf_mu, &g_due);
  }
  pthread_mutex_unlock(&g_buf_mu);
  return NULL;
}

void log_set_buffer(size_t bytes) {
  pthread_mutex_lock(&g_buf_mu);
  flush_locked();
  free(g_buf);
  free(g_spare);
  g_buf = g_spare = NULL;
  g_buf_cap = 0;
  if (bytes >= 4096 && (g_buf = malloc(bytes)) && (g_spare = malloc(bytes))) {
    g_buf_cap = bytes;
  } else {
    free(g_buf);
    g_buf = NULL;
  }
  if (g_buf && !g_flusher_running) {
    g_flusher_stop = 0;
    g_flusher_running = pthread_create(&g_flusher, NULL, flusher_main, NULL) == 0;
    if (!g_flusher_running) {   /* no thread to write them: every line at once */
      free(g_buf);
      free(g_spare);
      g_buf = g_spare = NULL;
      g_buf_cap = 0;
    }
  }
  pthread_mutex_unlock(&g_buf_mu);
}

void log_flush(void) {
  pthread_mutex_lock(&g_buf_mu);
  int running = g_flusher_running;
  g_flusher_stop = 1;
  g_flusher_running = 0;
  pthread_cond_broadcast(&g_buf_cv);
  pthread_mutex_unlock(&g_buf_mu);
  if (running) pthread_join(g_flusher, NULL);   /* it writes what it was handed first */
  pthread_mutex_lock(&g_buf_mu);
  flush_locked();
  free(g_buf);
  free(g_spare);
  g_buf = g_spare = NULL;
  g_buf_cap = 0;
  pthread_mutex_unlock(&g_buf_mu);
}

void log_set_level(log_level level) { g_level = level; }

void log_init(const char *service, const char *level) {
  if (service) snprintf(g_service, sizeof g_service, "%s", service);
  if (!level) return;
  for (int i = 0; i < 4; i++)
    if (strcasecmp(level, level_names[i]) == 0) g_level = (log_level)i;
}

/* plain: the bytes JSON takes as they are (not NUL, a control, '"' or '\\'). */
static int plain(unsigned char c) { return c >= 0x20 && c != '"' && c != '\\'; }

size_t log_json_escape(char *out, size_t cap, const char *s) {
  size_t n = 0;
  if (cap == 0) return 0;
  while (s && *s) {
    /* A run that needs no escape goes at once (most of an access line). */
    size_t run = 0;
    while (plain((unsigned char)s[run])) run++;
    if (run) {
      size_t fit = run < cap - 1 - n ? run : cap - 1 - n;
      memcpy(out + n, s, fit);
      n += fit;
      if (fit < run) break;
      s += run;
      continue;
    }
    unsigned char c = (unsigned char)*s++;
    char tmp[8];
    const char *rep = tmp;
    size_t rlen = 2;
    switch (c) {
      case '"': rep = "\\\""; break;
      case '\\': rep = "\\\\"; break;
      case '\n': rep = "\\n"; break;
      case '\r': rep = "\\r"; break;
      case '\t': rep = "\\t"; break;
      default:
        snprintf(tmp, sizeof tmp, "\\u%04x", c);
        rlen = 6;
    }
    if (n + rlen >= cap) break;
    memcpy(out + n, rep, rlen);
    n += rlen;
  }
  out[n] = '\0';
  return n;
}

static size_t stamp(char *buf, size_t cap, log_level level) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  struct tm tm;
  gmtime_r(&ts.tv_sec, &tm);
  int n = snprintf(buf, cap, "{\"ts\":\"%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ\",\"level\":\"%s\",\"svc\":\"%s\"",
                   tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
                   ts.tv_nsec / 1000000, level_names[level], g_service);
  return n < 0 ? 0 : (size_t)n;
}

/* emit ends the line in |buf| and writes it: into the access buffer when
 * |buffered| and there is one, else at once (after what is buffered). */
static void emit(char *buf, size_t n, size_t cap, int buffered) {
  if (n + 3 > cap) n = cap - 3;
  buf[n++] = '}';
  buf[n++] = '\n';
  pthread_mutex_lock(&g_buf_mu);
  if (buffered && g_buf) {
    if (g_buf_len + n > g_buf_cap) hand_off_locked();
    if (g_buf_len == 0) {   /* the flusher starts its clock */
      g_due = clock_deadline_after(LOG_FLUSH_MS);
      pthread_cond_signal(&g_buf_cv);
    }
    memcpy(g_buf + g_buf_len, buf, n);
    g_buf_len += n;
  } else {
    flush_locked();
    write_all(buf, n);
  }
  pthread_mutex_unlock(&g_buf_mu);
}

void log_msg(log_level level, const char *fmt, ...) {
  if (level < g_level) return;
  char msg[2048], esc[4096], buf[4600];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  log_json_escape(esc, sizeof esc, msg);
  size_t n = stamp(buf, sizeof buf, level);
  int m = snprintf(buf + n, sizeof buf - n, ",\"msg\":\"%s\"", esc);
  if (m > 0) n += (size_t)m;
  emit(buf, n < sizeof buf ? n : sizeof buf - 1, sizeof buf, 0);
}

/* put appends |s| (|n| bytes) at |*at| in |buf| of |cap|, as far as it fits. */
static void put(char *buf, size_t cap, size_t *at, const char *s, size_t n) {
  if (*at >= cap) return;
  if (n > cap - *at) n = cap - *at;
  memcpy(buf + *at, s, n);
  *at += n;
}
#define PUT_LIT(lit) put(buf, sizeof buf, &n, lit, sizeof(lit) - 1)

/* put_escaped appends |s| as JSON string content. */
static void put_escaped(char *buf, size_t cap, size_t *at, const char *s) {
  if (*at < cap) *at += log_json_escape(buf + *at, cap - *at, s);
}

/* put_uint appends |v| in decimal, at least |width| digits (zero-padded). */
static void put_uint(char *buf, size_t cap, size_t *at, unsigned long long v, int width) {
  char d[24];
  int k = 0;
  do {
    d[k++] = (char)('0' + v % 10);
    v /= 10;
  } while (v || k < width);
  while (k && *at < cap) buf[(*at)++] = d[--k];
}

/* The access line is built by hand (no printf: it is written for every
 * call, and formatting was a few percent of a call's CPU); its timestamp's
 * date and time are formatted once a second per thread. */
void log_access(const char *method, int code, const char *message, int64_t latency_us,
                const char *peer, const char *request_id, const char *org, const char *user) {
  if (LOG_INFO < g_level) return;
  static _Thread_local char t_prefix[128];
  static _Thread_local size_t t_prefix_len;
  static _Thread_local time_t t_prefix_sec = -1;
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  if (ts.tv_sec != t_prefix_sec) {
    struct tm tm;
    gmtime_r(&ts.tv_sec, &tm);
    int k = snprintf(t_prefix, sizeof t_prefix, "{\"ts\":\"%04d-%02d-%02dT%02d:%02d:%02d.", tm.tm_year + 1900,
                     tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec);
    t_prefix_len = k > 0 ? (size_t)k : 0;
    t_prefix_sec = ts.tv_sec;
  }
  char buf[1600];
  size_t n = 0;
  put(buf, sizeof buf, &n, t_prefix, t_prefix_len);
  put_uint(buf, sizeof buf, &n, (unsigned long long)(ts.tv_nsec / 1000000), 3);
  PUT_LIT("Z\",\"level\":\"info\",\"svc\":\"");
  put(buf, sizeof buf, &n, g_service, strlen(g_service));
  PUT_LIT("\",\"type\":\"access\",\"method\":\"");
  put_escaped(buf, sizeof buf, &n, method);
  PUT_LIT("\",\"code\":");
  if (code < 0) {
    PUT_LIT("-");
    code = -code;
  }
  put_uint(buf, sizeof buf, &n, (unsigned long long)code, 1);
  PUT_LIT(",\"message\":\"");
  put_escaped(buf, sizeof buf, &n, message);
  PUT_LIT("\",\"latency_ms\":");
  if (latency_us < 0) latency_us = 0;
  put_uint(buf, sizeof buf, &n, (unsigned long long)latency_us / 1000, 1);
  PUT_LIT(".");
  put_uint(buf, sizeof buf, &n, (unsigned long long)latency_us % 1000, 3);
  PUT_LIT(",\"peer\":\"");
  put_escaped(buf, sizeof buf, &n, peer);
  PUT_LIT("\",\"request_id\":\"");
  put_escaped(buf, sizeof buf, &n, request_id);
  PUT_LIT("\",\"org\":\"");
  put_escaped(buf, sizeof buf, &n, org);
  PUT_LIT("\",\"user\":\"");
  put_escaped(buf, sizeof buf, &n, user);
  PUT_LIT("\"");
  emit(buf, n < sizeof buf ? n : sizeof buf - 1, sizeof buf, 1);
}
