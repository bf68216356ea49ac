/* Fuzzes the identity verifier: the input is split on '\n' into org, user,
 * role, team, ts and signature, as a caller controls every one of them. A
 * verification must never crash, and must never accept without the key. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "identity.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  char *buf = malloc(size + 1);
  memcpy(buf, data, size);
  buf[size] = '\0';
  const char *f[6] = {NULL, NULL, NULL, NULL, NULL, NULL};
  char *p = buf;
  for (int i = 0; i < 6 && p; i++) {
    f[i] = p;
    char *nl = strchr(p, '\n');
    if (nl) *nl++ = '\0';
    p = nl;
  }
  identity_set_key("fuzz-key");
  identity out;
  const char *why = NULL;
  int rc = identity_verify(f[0], f[1], f[2], f[3], f[4], f[5], 1700000000, &out, &why);
  if (rc == 0) {
    /* Accepted: it must be exactly what signing those fields gives. */
    char sig[65];
    identity_sign(&out, strtoll(f[4], NULL, 10), sig);
    if (strcmp(sig, f[5]) != 0) abort();
  } else if (!why || out.valid) {
    abort();
  }
  free(buf);
  return 0;
}
