/* Fuzzes the gateway's JWT verifier: the input is the bearer token, as any
 * caller on the internet controls it. A verification must never crash or
 * overflow (ASan + UBSan), must say why when it refuses, and must never
 * accept a token that is not signed with the configured secret. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "jwt.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  static jwt_config c;
  if (c.nkeys == 0) {
    c.leeway_s = 30;
    jwt_add_hs256(&c, "", "fuzz-secret");
  }
  char *tok = malloc(size + 1);
  memcpy(tok, data, size);
  tok[size] = '\0';
  jwt_claims cl;
  const char *why = NULL;
  int rc = jwt_verify(&c, tok, 1700000000, &cl, &why);
  /* Random bytes cannot carry a valid HMAC-SHA256: acceptance is a bug. */
  if (rc == 0 || !why) abort();
  free(tok);
  return 0;
}
