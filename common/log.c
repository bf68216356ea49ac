/* log.c - JSON lines on stderr. Lines are whole in every write(2), so they
 * never interleave; access lines are gathered in a buffer (log_set_buffer)
 * and written together, at the latest LOG_FLUSH_MS after the first. */
#include "log.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

static char g_service[64] = "accolade";
static log_level g_level = LOG_INFO;
static const char *const level_names[] = {"debug", "info", "warn", "error"};

/* The access-log buffer, and the thread that flushes it once a line has
 * waited LOG_FLUSH_MS. Other lines flush it first, so lines keep their order. */
#define LOG_FLUSH_MS 500
static pthread_mutex_t g_buf_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t g_buf_cv = PTHREAD_COND_INITIALIZER;
static char *g_buf;
static size_t g_buf_cap, g_buf_len;
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

/* flush_locked writes what the buffer holds (lock held). */
static void flush_locked(void) {
  if (g_buf_len) write_all(g_buf, g_buf_len);
  g_buf_len = 0;
}

static void *flusher_main(void *arg) {
  (void)arg;
  pthread_mutex_lock(&g_buf_mu);
  while (!g_flusher_stop) {
    if (!g_buf_len) {
      pthread_cond_wait(&g_buf_cv, &g_buf_mu);   /* until a line is buffered */
      continue;
    }
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    ts.tv_nsec += LOG_FLUSH_MS * 1000000L;
    ts.tv_sec += ts.tv_nsec / 1000000000L;
    ts.tv_nsec %= 1000000000L;
    pthread_cond_timedwait(&g_buf_cv, &g_buf_mu, &ts);
    if (!g_flusher_stop) flush_locked();
  }
  flush_locked();
  pthread_mutex_unlock(&g_buf_mu);
  return NULL;
}

void log_set_buffer(size_t bytes) {
  pthread_mutex_lock(&g_buf_mu);
  flush_locked();
  free(g_buf);
  g_buf = NULL;
  g_buf_cap = 0;
  if (bytes >= 4096 && (g_buf = malloc(bytes))) g_buf_cap = bytes;
  if (g_buf && !g_flusher_running) {
    g_flusher_stop = 0;
    g_flusher_running = pthread_create(&g_flusher, NULL, flusher_main, NULL) == 0;
  }
  pthread_mutex_unlock(&g_buf_mu);
}

void log_flush(void) {
  pthread_mutex_lock(&g_buf_mu);
  flush_locked();
  int running = g_flusher_running;
  g_flusher_stop = 1;
  g_flusher_running = 0;
  pthread_cond_broadcast(&g_buf_cv);
  pthread_mutex_unlock(&g_buf_mu);
  if (running) pthread_join(g_flusher, NULL);
  pthread_mutex_lock(&g_buf_mu);
  flush_locked();
  free(g_buf);
  g_buf = NULL;
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

size_t log_json_escape(char *out, size_t cap, const char *s) {
  size_t n = 0;
  if (cap == 0) return 0;
  for (; s && *s; s++) {
    unsigned char c = (unsigned char)*s;
    char tmp[8];
    const char *rep = NULL;
    size_t rlen = 1;
    switch (c) {
      case '"': rep = "\\\""; rlen = 2; break;
      case '\\': rep = "\\\\"; rlen = 2; break;
      case '\n': rep = "\\n"; rlen = 2; break;
      case '\r': rep = "\\r"; rlen = 2; break;
      case '\t': rep = "\\t"; rlen = 2; break;
      default:
        if (c < 0x20) {
          snprintf(tmp, sizeof tmp, "\\u%04x", c);
          rep = tmp;
          rlen = 6;
        }
    }
    if (n + (rep ? rlen : 1) >= cap) break;
    if (rep) {
      memcpy(out + n, rep, rlen);
      n += rlen;
    } else {
      out[n++] = (char)c;
    }
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
    if (g_buf_len + n > g_buf_cap) flush_locked();
    memcpy(g_buf + g_buf_len, buf, n);
    if (g_buf_len == 0) pthread_cond_signal(&g_buf_cv);   /* the flusher starts its clock */
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

void log_access(const char *method, int code, const char *message, int64_t latency_us,
                const char *peer, const char *request_id, const char *org, const char *user) {
  if (LOG_INFO < g_level) return;
  char m[256], msg[512], p[96], rid[96], o[160], u[160], buf[1600];
  log_json_escape(m, sizeof m, method);
  log_json_escape(msg, sizeof msg, message);
  log_json_escape(p, sizeof p, peer);
  log_json_escape(rid, sizeof rid, request_id);
  log_json_escape(o, sizeof o, org);
  log_json_escape(u, sizeof u, user);
  size_t n = stamp(buf, sizeof buf, LOG_INFO);
  int k = snprintf(buf + n, sizeof buf - n,
                   ",\"type\":\"access\",\"method\":\"%s\",\"code\":%d,\"message\":\"%s\","
                   "\"latency_ms\":%.3f,\"peer\":\"%s\",\"request_id\":\"%s\",\"org\":\"%s\",\"user\":\"%s\"",
                   m, code, msg, (double)latency_us / 1000.0, p, rid, o, u);
  if (k > 0) n += (size_t)k;
  emit(buf, n < sizeof buf ? n : sizeof buf - 1, sizeof buf, 1);
}
