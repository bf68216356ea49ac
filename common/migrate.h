/* migrate.h - schema migrations, applied once each, in order.
 *
 * A migrations folder holds NNN_name.sql files (NNN a positive integer). Each
 * is applied in its own transaction, in numeric order, and recorded in
 * <schema>.schema_migrations (stream, version, name, applied_at). The whole run
 * holds a Postgres advisory lock on the schema name, so replicas starting
 * together apply each file exactly once. The runtime's own tables (the outbox)
 * come first as the stream "common".
 */
#ifndef ACCOLADE_MIGRATE_H
#define ACCOLADE_MIGRATE_H

#include <stddef.h>

#define MIGRATE_MAX_FILES 256

typedef struct migration_file {
  int version;
  char name[256];     /* file name, "001_init.sql" */
} migration_file;

/* migrate_list reads |dir| and fills |out| (capacity |cap|) sorted by version.
 * Files not named NNN_*.sql are ignored. Returns the count, or -1 with |err|
 * set for an unreadable folder or two files with one version. */
int migrate_list(const char *dir, migration_file *out, int cap, char *err, size_t errlen);

/* migrate_run creates the schema if needed and applies, under the advisory
 * lock, the runtime's own migrations then those in |dir| not yet recorded.
 * Uses the calling thread's pg connection. Returns 0 or -1 (logged). */
int migrate_run(const char *dir);

/* The folder holding the runtime's own migrations (set at build time). */
const char *migrate_common_dir(void);

#endif
