/* visibility.c - who may see a nomination, and what blind review hides.
 * Pure logic (no I/O), linked into nomination_core so unit tests reach it. */
#include <string.h>

#include "nom.h"

static int listed(char **ids, size_t n, const char *who) {
  for (size_t i = 0; i < n; i++)
    if (!strcmp(ids[i], who)) return 1;
  return 0;
}

int nom_visible(rpc_ctx *ctx, Accolade__V1__Nomination *n, int blind) {
  const char *me = ctx->id.user;
  int nominator = !strcmp(n->nominator_id, me);
  int nominee = listed(n->nominee_ids, n->n_nominee_ids, me);
  int reviewer = ctx->id.role == ROLE_ADMIN || listed(n->reviewer_ids, n->n_reviewer_ids, me);
  if (n->visibility == ACCOLADE__V1__VISIBILITY__PRIVATE && !nominator && !nominee && !reviewer) return 0;
  if (blind && reviewer && !nominator) n->nominator_id = "";
  return 1;
}
