/* config.c - flags, then environment, then defaults. */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

int config_parse(config *cfg, int argc, char **argv, char *err, size_t errlen) {
  memset(cfg, 0, sizeof *cfg);
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i];
    if (strncmp(a, "--", 2) != 0 || a[2] == '\0') {
      snprintf(err, errlen, "unexpected argument '%s' (settings are --name=value)", a);
      return -1;
    }
    if (cfg->nflags == CONFIG_MAX_FLAGS) {
      snprintf(err, errlen, "too many flags (at most %d)", CONFIG_MAX_FLAGS);
      return -1;
    }
    const char *name = a + 2;
    const char *eq = strchr(name, '=');
    int k = cfg->nflags++;
    cfg->names[k] = name;
    if (eq) {
      cfg->name_lens[k] = (size_t)(eq - name);
      cfg->values[k] = eq + 1;
    } else {
      cfg->name_lens[k] = strlen(name);
      if (i + 1 < argc && strncmp(argv[i + 1], "--", 2) != 0) {
        cfg->values[k] = argv[++i];
      } else {
        cfg->values[k] = "true";
      }
    }
  }
  return 0;
}

const char *config_str(const config *cfg, const char *flag, const char *env, const char *def) {
  if (cfg && flag) {
    size_t fl = strlen(flag);
    /* The last occurrence wins, as with most command-line tools. */
    for (int i = cfg->nflags - 1; i >= 0; i--)
      if (cfg->name_lens[i] == fl && strncmp(cfg->names[i], flag, fl) == 0) return cfg->values[i];
  }
  if (env) {
    const char *v = getenv(env);
    if (v && *v) return v;
  }
  return def;
}

int config_int(const config *cfg, const char *flag, const char *env, long def, long min,
               long max, long *out, char *err, size_t errlen) {
  const char *v = config_str(cfg, flag, env, NULL);
  if (!v) {
    *out = def;
    return 0;
  }
  char *end;
  errno = 0;
  long n = strtol(v, &end, 10);
  if (errno || end == v || *end != '\0' || n < min || n > max) {
    snprintf(err, errlen, "--%s%s%s: '%s' is not an integer in [%ld, %ld]", flag,
             env ? " / " : "", env ? env : "", v, min, max);
    return -1;
  }
  *out = n;
  return 0;
}

int config_bool(const config *cfg, const char *flag, const char *env, int def, int *out,
                char *err, size_t errlen) {
  const char *v = config_str(cfg, flag, env, NULL);
  if (!v) {
    *out = def;
    return 0;
  }
  static const char *const yes[] = {"1", "true", "yes", "on"};
  static const char *const no[] = {"0", "false", "no", "off"};
  for (int i = 0; i < 4; i++) {
    if (strcasecmp(v, yes[i]) == 0) { *out = 1; return 0; }
    if (strcasecmp(v, no[i]) == 0) { *out = 0; return 0; }
  }
  snprintf(err, errlen, "--%s%s%s: '%s' is not a boolean (true/false)", flag, env ? " / " : "",
           env ? env : "", v);
  return -1;
}
