/*
 * installed.c - where pmmc finds the files it ships with (the runtime library
 * samplers link against, ...), in the order of docs/install.md: an override
 * in the environment, the build tree pmmc was built in, the configured
 * installation directory.
 */
#include "config.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "compiler/driver/driver.h"

/* The directory of the running executable, symlinks resolved, so that a
 * pmmc reached through a link still finds its own tree; 0 on success. */
static int exe_dir(char *buf, size_t len) {
  ssize_t n = readlink("/proc/self/exe", buf, len);
  if (n <= 0 || (size_t)n >= len) return -1;
  buf[n] = '\0';
  char *slash = strrchr(buf, '/');
  if (!slash) return -1;
  *slash = '\0';
  return 0;
}

int driver_find_installed(const char *envvar, const char *build_tree_rel, const char *installed_dir,
                          const char *file, char *buf, size_t len, char *err, size_t errlen) {
  const char *env = getenv(envvar);
  if (env && *env) {
    if (access(env, R_OK) != 0) {
      snprintf(err, errlen, "cannot read %s=%s: %s", envvar, env, strerror(errno));
      return -1;
    }
    if ((size_t)snprintf(buf, len, "%s", env) >= len) {
      snprintf(err, errlen, "%s is too long: %s", envvar, env);
      return -1;
    }
    return 0;
  }
  /* An executable in <root>PMMC_BINDIR was installed with DESTDIR=<root>
   * (or its tree moved there as a whole): its files are under <root> too,
   * and the configured directory may hold another version's. */
  char dir[PATH_MAX] = "";
  size_t root = 0;
  if (exe_dir(dir, sizeof dir) == 0) {
    if ((size_t)snprintf(buf, len, "%s/%s/%s", dir, build_tree_rel, file) < len &&
        access(buf, R_OK) == 0)
      return 0;
    size_t nd = strlen(dir), nb = strlen(PMMC_BINDIR);
    if (nd > nb && strcmp(dir + nd - nb, PMMC_BINDIR) == 0) root = nd - nb;
  }
  if ((size_t)snprintf(buf, len, "%.*s%s/%s", (int)root, dir, installed_dir, file) >= len) {
    snprintf(err, errlen, "the path of %s is too long: %.*s%s", file, (int)root, dir,
             installed_dir);
    return -1;
  }
  if (access(buf, R_OK) != 0) {
    snprintf(err, errlen, "cannot find %s at %s (%s); set %s to its path", file, buf,
             strerror(errno), envvar);
    return -1;
  }
  return 0;
}
