/*
 * driver.h - what the pmmc subcommands (pmmc.c, predict.c) share.
 */
#ifndef PMMC_DRIVER_H
#define PMMC_DRIVER_H

#include <stddef.h>
#include <stdint.h>

enum { DRIVER_EXIT_BAD_INPUT = 1, DRIVER_EXIT_USAGE = 2 };

/* Print "pmmc: error: " fmt (one %s: arg) and the --help hint; returns
 * DRIVER_EXIT_USAGE. */
int driver_usage_error(const char *fmt, const char *arg);
/* A decimal integer in 1..65536; -1 otherwise. */
int driver_parse_block_size(const char *s, uint32_t *out);

/* Find `file`, one of the files installed with pmmc (installed.c): the path
 * in $envvar when set; else <dir of this executable>/build_tree_rel/file (a
 * build tree); else installed_dir/file, under the staging root when this
 * executable is <root>PMMC_BINDIR/pmmc (make install DESTDIR=<root>).  0 with
 * the path in buf, else -1 with a message naming the path looked for and
 * envvar in err. */
int driver_find_installed(const char *envvar, const char *build_tree_rel, const char *installed_dir,
                          const char *file, char *buf, size_t len, char *err, size_t errlen);

/* pmmc predict (predict.c); argv[0] is "predict". */
int driver_predict(int argc, char **argv);

#endif
