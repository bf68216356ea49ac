/* health.h - serving status for grpc.health.v1.Health.
 *
 * The process is SERVING while every registered dependency answers its probe.
 * A monitor thread runs the probes every |interval_ms|; when one fails the
 * status turns NOT_SERVING at once, and SERVING again when all pass. Check and
 * Watch answer for the service "" and for the process name; Watch streams
 * every change.
 */
#ifndef ACCOLADE_HEALTH_H
#define ACCOLADE_HEALTH_H

#include <stdint.h>

#include "rpc.h"

typedef enum { HEALTH_UNKNOWN = 0, HEALTH_SERVING = 1, HEALTH_NOT_SERVING = 2 } health_status;

/* A probe returns 0 when the dependency is reachable. */
typedef int (*health_probe_fn)(void *arg);

/* health_add_dependency registers a probe before health_start. */
void health_add_dependency(const char *name, health_probe_fn probe, void *arg);
/* health_start runs every probe once (setting the initial status) and starts
 * the monitor thread. With no dependencies the process is simply SERVING.
 * Check and Watch answer for "" (the process) and |service| (its name). */
void health_start(const char *service, int interval_ms);
void health_stop(void);

health_status health_get(void);
/* health_version increases at every status change (for Watch). */
uint64_t health_version(void);
/* health_set_shutting_down: NOT_SERVING from now on (graceful shutdown). */
void health_set_shutting_down(void);

/* The Health service methods, registered by rpc_server_new on every server. */
extern const rpc_method health_methods[2];

#endif
