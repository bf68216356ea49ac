/* token.h - minting local HS256 JWTs for trying Accolade out. */
#ifndef ACCOLADE_CLI_TOKEN_H
#define ACCOLADE_CLI_TOKEN_H

#include <stddef.h>
#include <stdint.h>

/* token_mint writes "header.payload.signature" for the claims into |out|.
 * Returns 0, or -1 when |out| is too small or a claim holds a quote or
 * backslash (claims are ids, not free text). */
int token_mint(const char *secret, const char *sub, const char *org, const char *role,
               const char *team, int64_t iat, int64_t exp, char *out, size_t cap);

#endif
