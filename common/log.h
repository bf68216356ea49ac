/* log.h - JSON-lines logging to stderr.
 *
 * Every line is one JSON object: {"ts":"2026-11-22T11:40:03.123Z","level":"info",
 * "svc":"svc-award","msg":"..."} plus the fields a call adds. The access log has
 * one line per finished RPC with the method, status, latency, peer and request id.
 */
#ifndef ACCOLADE_LOG_H
#define ACCOLADE_LOG_H

#include <stddef.h>
#include <stdint.h>

typedef enum { LOG_DEBUG = 0, LOG_INFO, LOG_WARN, LOG_ERROR } log_level;

/* log_init names the process in every line and sets the lowest level printed
 * ("debug", "info", "warn", "error"; NULL keeps "info"). */
void log_init(const char *service, const char *level);
void log_set_level(log_level level);

void log_msg(log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
#define log_debug(...) log_msg(LOG_DEBUG, __VA_ARGS__)
#define log_info(...) log_msg(LOG_INFO, __VA_ARGS__)
#define log_warn(...) log_msg(LOG_WARN, __VA_ARGS__)
#define log_error(...) log_msg(LOG_ERROR, __VA_ARGS__)

/* log_access writes the access-log line of one call. Any string may be NULL. */
void log_access(const char *method, int code, const char *message, int64_t latency_us,
                const char *peer, const char *request_id, const char *org, const char *user);

/* log_set_buffer gathers access lines in a buffer of |bytes| (0: none, every
 * line written at once), written when full, when another line is logged, at
 * the latest 500 ms after its first line, and by log_flush. A process that
 * crashes loses at most that half second of access lines. */
void log_set_buffer(size_t bytes);
/* log_flush writes what is buffered and stops buffering (at a clean stop). */
void log_flush(void);

/* log_json_escape writes |s| as JSON string content (without quotes) into |out|
 * of |cap| bytes, truncating safely; returns the length written. */
size_t log_json_escape(char *out, size_t cap, const char *s);

#endif
