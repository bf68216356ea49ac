/* identity.h - the caller's verified identity, carried in signed metadata.
 *
 * The gateway (and every service calling another) sends
 *   x-accolade-org, x-accolade-user, x-accolade-role, x-accolade-team,
 *   x-accolade-ts   (unix seconds when signed)
 *   x-accolade-sig  (hex HMAC-SHA256 over "v1\n" org "\n" user "\n" role "\n"
 *                    team "\n" ts "\n" with the internal key)
 * A service trusts these only when the signature verifies and the timestamp is
 * within IDENTITY_MAX_SKEW_S of its clock; otherwise the call has no identity.
 */
#ifndef ACCOLADE_IDENTITY_H
#define ACCOLADE_IDENTITY_H

#include <stddef.h>
#include <stdint.h>

#define IDENTITY_FIELD_MAX 128
#define IDENTITY_MAX_SKEW_S 300

typedef enum {
  ROLE_NONE = 0,
  ROLE_MEMBER = 1 << 0,
  ROLE_MANAGER = 1 << 1,
  ROLE_ADMIN = 1 << 2,
  ROLE_SERVICE = 1 << 3,
  ROLE_INTEGRATION = 1 << 4,   /* a CRM or enablement tool pushing signals */
} identity_role;

typedef struct identity {
  int valid;                         /* 1 when the signature verified */
  identity_role role;
  char org[IDENTITY_FIELD_MAX];
  char user[IDENTITY_FIELD_MAX];
  char team[IDENTITY_FIELD_MAX];
} identity;

/* identity_set_key sets the process-wide internal HMAC key (copied). */
void identity_set_key(const char *key);

identity_role identity_role_parse(const char *s);   /* ROLE_NONE if unknown */
const char *identity_role_name(identity_role r);     /* "member", ... or "" */

/* identity_make fills |id| (valid=1) from parts; returns -1 if a field is too
 * long, empty (org, user) or holds a newline, or the role is unknown. */
int identity_make(identity *id, const char *org, const char *user, const char *role,
                  const char *team);

/* identity_sign writes the 64 hex digits (+NUL) of the signature of |id| at
 * time |ts| into |out_hex| (65 bytes). */
void identity_sign(const identity *id, int64_t ts, char out_hex[65]);

/* identity_verify checks the metadata fields (NULL means absent) against the
 * signature |sig_hex| and the clock |now|. On success fills |out| (valid=1)
 * and returns 0; otherwise zeroes |out| and returns -1 with the reason in |why|. */
int identity_verify(const char *org, const char *user, const char *role, const char *team,
                    const char *ts, const char *sig_hex, int64_t now, identity *out,
                    const char **why);

#endif
