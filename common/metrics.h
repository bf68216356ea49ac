/* metrics.h - Prometheus text metrics on an HTTP port (libmicrohttpd).
 *
 * The runtime records every RPC (accolade_rpc_requests_total{method,code},
 * accolade_rpc_latency_seconds{method} histogram), dependency health
 * (accolade_dependency_up{dependency}) and the outbox (accolade_outbox_backlog,
 * accolade_outbox_oldest_age_seconds, accolade_outbox_dead). Services add
 * their own counters with metrics_count. GET /metrics serves them all.
 */
#ifndef ACCOLADE_METRICS_H
#define ACCOLADE_METRICS_H

#include <stddef.h>
#include <stdint.h>

/* metrics_start serves /metrics on 0.0.0.0:|port| (0: not served). */
int metrics_start(int port);
void metrics_stop(void);

/* metrics_register_method gives |method| ("/pkg.Service/Method") a series
 * of its own; the server registers every method of its table. */
void metrics_register_method(const char *method);

/* metrics_observe_rpc records one finished call: under its method's name
 * when registered, else under method="unknown" (names come from callers). */
void metrics_observe_rpc(const char *method, int code, int64_t latency_us);

/* metrics_count adds |n| to the counter |name| with |labels| (a Prometheus
 * label list without braces, e.g. "outcome=\"delivered\"", or ""). Names and
 * labels are constants of the code, never user input. */
void metrics_count(const char *name, const char *labels, int64_t n);

/* A gauge computed at scrape time: |fn| appends text in exposition format. */
typedef void (*metrics_collect_fn)(char *buf, size_t cap, size_t *len);
void metrics_add_collector(metrics_collect_fn fn);

/* metrics_render writes the whole exposition into |buf| (for tests). */
size_t metrics_render(char *buf, size_t cap);

#endif
