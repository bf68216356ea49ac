/* gen.h - the generation of an org's boards.
 *
 * lb:{org}:gen holds the generation whose keys are live (absent: 0; see
 * boards_prefix). A rebuild writes generation N+1 beside the live N and
 * switches with one SET, then drops generation N: Redis is never held for
 * longer than that SET, however many boards the org has.
 *
 * Readers and writers name keys by the generation this process last saw
 * for the org (lb_gen_get) and check it in the same round trip: a read
 * pipelines GET lb:{org}:gen ahead of its commands, a write's script
 * compares it. When it moved (another process rebuilt, or Redis lost it
 * all), they learn the new one (lb_gen_set) and go again. A read that
 * checked just before a switch still reads the old generation whole: it is
 * dropped only a grace period after the switch.
 */
#ifndef LEADERBOARD_GEN_H
#define LEADERBOARD_GEN_H

#include <stddef.h>
#include <stdint.h>

/* lb_gen_get: the generation last seen for |org| (0 when none yet). */
int64_t lb_gen_get(const char *org);
/* lb_gen_set records the generation Redis holds for |org|. */
void lb_gen_set(const char *org, int64_t gen);
/* lb_gen_key writes the key holding |org|'s generation. */
void lb_gen_key(char *out, size_t cap, const char *org);
/* lb_gen_parse reads a GET reply's value ("" or NULL: 0). */
int64_t lb_gen_parse(const char *s);

#endif
