/* tokens.h - verified bearer tokens, remembered.
 *
 * Verifying a token costs base64url, two JSON parses and a signature (an
 * RSA or ECDSA verification for RS256/ES256); a client sends the same token
 * with every call. The cache keeps the claims of tokens that verified, keyed
 * by the token's bytes (compared whole: a different byte is a different
 * token; the slot comes from a cheap hash, since only tokens that verified
 * are put, and a SHA-256 per call cost the front about 4% of its CPU), until
 * the token stops being accepted: |not_after| is its exp plus the leeway. It
 * holds TOKENS_SLOTS entries of at most TOKENS_MAX_BYTES (a newer token
 * takes an older one's slot; a longer one is verified every time), is
 * shared by every thread (striped locks), and forgets everything with the
 * process: keys and settings change only with a restart.
 */
#ifndef GATEWAY_TOKENS_H
#define GATEWAY_TOKENS_H

#include <stdint.h>

#include "jwt.h"

#define TOKENS_SLOTS 4096
#define TOKENS_MAX_BYTES 4096   /* so at most 16 MiB of tokens */

/* tokens_get fills |out| with the claims of |token| if it verified before and
 * |now| (seconds) is not past its not_after; returns 1 then, else 0. */
int tokens_get(const char *token, int64_t now, jwt_claims *out);
/* tokens_put remembers the claims of |token|, which just verified. */
void tokens_put(const char *token, const jwt_claims *claims, int64_t not_after);

#endif
