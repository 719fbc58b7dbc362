/*
 * driver.h - what the pmmc subcommands (pmmc.c, predict.c) share.
 */
#ifndef PMMC_DRIVER_H
#define PMMC_DRIVER_H

#include <stdint.h>

enum { DRIVER_EXIT_BAD_INPUT = 1, DRIVER_EXIT_USAGE = 2 };

/* Print "pmmc: error: " fmt (one %s: arg) and the --help hint; returns
 * DRIVER_EXIT_USAGE. */
int driver_usage_error(const char *fmt, const char *arg);
/* A decimal integer in 1..65536; -1 otherwise. */
int driver_parse_block_size(const char *s, uint32_t *out);

/* pmmc predict (predict.c); argv[0] is "predict". */
int driver_predict(int argc, char **argv);

#endif
