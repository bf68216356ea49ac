/* The cache of verified tokens: kept until exp + leeway, keyed by every byte. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

#include "tokens.h"

static jwt_claims claims_of(const char *sub) {
  jwt_claims c;
  memset(&c, 0, sizeof c);
  snprintf(c.sub, sizeof c.sub, "%s", sub);
  snprintf(c.org, sizeof c.org, "acme");
  snprintf(c.role, sizeof c.role, "member");
  c.exp = 1000;
  return c;
}

Test(tokens, a_verified_token_is_remembered_until_its_not_after) {
  jwt_claims in = claims_of("ann"), out;
  tokens_put("h.p.sig-ann", &in, 1030);
  cr_assert_eq(tokens_get("h.p.sig-ann", 1030, &out), 1);
  cr_assert_str_eq(out.sub, "ann");
  cr_assert_str_eq(out.org, "acme");
  cr_assert_eq(tokens_get("h.p.sig-ann", 1031, &out), 0, "an expired token is verified again (and refused)");
}

Test(tokens, one_byte_different_is_another_token) {
  jwt_claims in = claims_of("bob"), out;
  tokens_put("h.p.sig-bob", &in, 5000);
  cr_assert_eq(tokens_get("h.p.sig-boc", 100, &out), 0);
  cr_assert_eq(tokens_get("h.p.sig-bo", 100, &out), 0);
  cr_assert_eq(tokens_get("h.p.sig-bob", 100, &out), 1);
}

Test(tokens, many_tokens_stay_within_the_bound_and_never_mix) {
  char tok[64];
  for (int i = 0; i < 3 * TOKENS_SLOTS; i++) {
    snprintf(tok, sizeof tok, "h.p.sig-%d", i);
    jwt_claims in = claims_of(tok);
    tokens_put(tok, &in, 5000);
  }
  int hits = 0;
  for (int i = 0; i < 3 * TOKENS_SLOTS; i++) {
    jwt_claims out;
    snprintf(tok, sizeof tok, "h.p.sig-%d", i);
    if (tokens_get(tok, 100, &out)) {
      hits++;
      cr_assert_str_eq(out.sub, tok, "a hit is always the token's own claims");
    }
  }
  cr_assert_leq(hits, TOKENS_SLOTS, "at most %d remembered", TOKENS_SLOTS);
  snprintf(tok, sizeof tok, "h.p.sig-%d", 3 * TOKENS_SLOTS - 1);
  jwt_claims out;
  cr_assert_eq(tokens_get(tok, 100, &out), 1, "the newest is remembered");
}

Test(tokens, a_token_over_the_size_bound_is_not_kept_and_a_replaced_one_is_forgotten) {
  static char big[TOKENS_MAX_BYTES + 2];
  memset(big, 'x', sizeof big - 1);
  jwt_claims in = claims_of("eve"), out;
  tokens_put(big, &in, 5000);
  cr_assert_eq(tokens_get(big, 100, &out), 0, "verified every time, never held");
  big[TOKENS_MAX_BYTES] = '\0';   /* exactly the bound: kept */
  tokens_put(big, &in, 5000);
  cr_assert_eq(tokens_get(big, 100, &out), 1);
  jwt_claims again = claims_of("eve2");
  tokens_put(big, &again, 6000);   /* the same token again: its slot's copy replaced */
  cr_assert_eq(tokens_get(big, 100, &out), 1);
  cr_assert_str_eq(out.sub, "eve2");
}
