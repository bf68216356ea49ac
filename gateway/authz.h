/* authz.h - the gateway's one table: which roles may call which method, and
 * which service owns it. Deny by default: a method not in the table is
 * UNIMPLEMENTED; an internal method (service-to-service only) is
 * PERMISSION_DENIED from outside. */
#ifndef GATEWAY_AUTHZ_H
#define GATEWAY_AUTHZ_H

#define AZ_M 1   /* member */
#define AZ_G 2   /* manager */
#define AZ_A 4   /* admin */
#define AZ_I 8   /* integration: a CRM pushing signals, nothing else */
#define AZ_ALL (AZ_M | AZ_G | AZ_A)
#define AZ_INTERNAL 0

typedef struct authz_rule {
  const char *method;     /* "/accolade.v1.AwardService/GrantAward" */
  const char *service;    /* logical upstream: award, nomination, leaderboard, notify */
  unsigned roles;         /* AZ_* mask; AZ_INTERNAL never from outside */
  int stream;             /* server streaming */
} authz_rule;

/* authz_find: the rule of |method| or NULL. */
const authz_rule *authz_find(const char *method);
/* authz_count / authz_at: the table itself (for the test that checks it
 * against the compiled protos). */
int authz_count(void);
const authz_rule *authz_at(int i);
/* authz_role_bit: AZ_M / AZ_G / AZ_A for a role name, 0 otherwise. */
unsigned authz_role_bit(const char *role);

#endif
