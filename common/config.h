/* config.h - settings from flags, environment variables and defaults.
 *
 * A setting is looked up, in order, as a command-line flag (--name=value or
 * --name value), as an environment variable, and finally its default:
 *
 *   config cfg;
 *   if (config_parse(&cfg, argc, argv, err, sizeof err) != 0) usage(err);
 *   const char *port = config_str(&cfg, "port", "ACCOLADE_AWARD_PORT", "50052");
 *
 * The config keeps pointers into argv; argv must outlive it.
 */
#ifndef ACCOLADE_CONFIG_H
#define ACCOLADE_CONFIG_H

#include <stddef.h>

#define CONFIG_MAX_FLAGS 64

typedef struct config {
  int nflags;
  const char *names[CONFIG_MAX_FLAGS];   /* without the leading "--" */
  const char *values[CONFIG_MAX_FLAGS];  /* "true" for a bare boolean flag */
  size_t name_lens[CONFIG_MAX_FLAGS];
} config;

/* config_parse reads argv[1..]. Returns 0, or -1 with a message in |err| for a
 * positional argument or too many flags. */
int config_parse(config *cfg, int argc, char **argv, char *err, size_t errlen);

/* config_str returns the flag |flag|, else the env var |env| (may be NULL), else |def|. */
const char *config_str(const config *cfg, const char *flag, const char *env, const char *def);

/* config_int reads an integer setting into |*out|. Returns 0, or -1 with a
 * message naming the flag when the value is not an integer in [min, max]. */
int config_int(const config *cfg, const char *flag, const char *env, long def, long min,
               long max, long *out, char *err, size_t errlen);

/* config_bool: "1", "true", "yes", "on" are true; "0", "false", "no", "off" false. */
int config_bool(const config *cfg, const char *flag, const char *env, int def, int *out,
                char *err, size_t errlen);

#endif
