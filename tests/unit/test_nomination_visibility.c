/* nom_visible: private nominations and blind review, without a server. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

#include "nom.h"

static char *nominees[] = {"ann", "cat"};
static char *reviewers[] = {"mgr"};

static Accolade__V1__Nomination nomination(int private_) {
  Accolade__V1__Nomination n = ACCOLADE__V1__NOMINATION__INIT;
  n.nominator_id = "bob";
  n.nominee_ids = nominees;
  n.n_nominee_ids = 2;
  n.reviewer_ids = reviewers;
  n.n_reviewer_ids = 1;
  n.visibility = private_ ? ACCOLADE__V1__VISIBILITY__PRIVATE : ACCOLADE__V1__VISIBILITY__PUBLIC;
  return n;
}

static rpc_ctx as(const char *user, identity_role role) {
  rpc_ctx c;
  memset(&c, 0, sizeof c);
  c.id.valid = 1;
  c.id.role = role;
  snprintf(c.id.user, sizeof c.id.user, "%s", user);
  return c;
}

Test(nomination_visibility, a_public_nomination_is_visible_to_any_member) {
  Accolade__V1__Nomination n = nomination(0);
  rpc_ctx c = as("dan", ROLE_MEMBER);
  cr_assert(nom_visible(&c, &n, 0));
  cr_assert_str_eq(n.nominator_id, "bob");
}

Test(nomination_visibility, a_private_nomination_is_hidden_from_outsiders_only) {
  const char *who[] = {"bob", "ann", "cat", "mgr"};
  for (size_t i = 0; i < 4; i++) {
    Accolade__V1__Nomination n = nomination(1);
    rpc_ctx c = as(who[i], ROLE_MEMBER);
    cr_assert(nom_visible(&c, &n, 0), "%s sees it", who[i]);
  }
  Accolade__V1__Nomination n = nomination(1);
  rpc_ctx out = as("dan", ROLE_MANAGER);
  cr_assert_not(nom_visible(&out, &n, 0), "a manager it was not routed to");
  rpc_ctx admin = as("ada", ROLE_ADMIN);
  cr_assert(nom_visible(&admin, &n, 0), "admins review everything");
}

Test(nomination_visibility, blind_review_blanks_the_nominator_for_reviewers_only) {
  Accolade__V1__Nomination n = nomination(0);
  rpc_ctx mgr = as("mgr", ROLE_MANAGER);
  cr_assert(nom_visible(&mgr, &n, 1));
  cr_assert_str_eq(n.nominator_id, "", "the routed reviewer does not see who nominated");
  n = nomination(0);
  rpc_ctx admin = as("ada", ROLE_ADMIN);
  cr_assert(nom_visible(&admin, &n, 1));
  cr_assert_str_eq(n.nominator_id, "", "nor does an admin reviewing");
  n = nomination(0);
  rpc_ctx bob = as("bob", ROLE_MEMBER);
  cr_assert(nom_visible(&bob, &n, 1));
  cr_assert_str_eq(n.nominator_id, "bob", "the nominator still sees themselves");
  n = nomination(0);
  cr_assert(nom_visible(&mgr, &n, 0));
  cr_assert_str_eq(n.nominator_id, "bob", "without blind review the reviewer sees the nominator");
}
