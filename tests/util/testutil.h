/*
 * testutil.h - helpers shared by the Check suites: paths of the build,
 * running pmmc and samplers, reading their .npy output, statistics.
 *
 * The test environment (tests/local.mk) exports:
 *   PMMC             the pmmc binary under test
 *   PMMC_SRCDIR      top source directory (models/, tests/ data)
 *   PMMC_RUNTIME_LIB the runtime library pmmc links samplers against
 *
 *     char dir[PATH_MAX];
 *     tu_make_tmpdir(dir, sizeof dir);               // removed by tu_remove_tree
 *     int st = tu_run("'%s' build '%s/models/gmm8/model.yaml' -o '%s/gmm8'",
 *                     tu_pmmc(), tu_srcdir(), dir);
 *     ck_assert_int_eq(st, 0);
 */
#ifndef PMMC_TESTUTIL_H
#define PMMC_TESTUTIL_H

#include <check.h>
#include <stddef.h>
#include <stdint.h>

#include "runtime/pmmrt.h"

const char *tu_pmmc(void);
const char *tu_srcdir(void);

/* mkdtemp under $TMPDIR (or /tmp); aborts the test on failure. */
void tu_make_tmpdir(char *out, size_t outlen);
void tu_remove_tree(const char *dir);

/* Run a shell command (printf-style); returns its exit status (0..255), or
 * -1 if it did not exit normally (a crash is never a pass). */
int tu_run(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Same, capturing stdout and stderr (each malloc'd, NUL-terminated; either
 * pointer may be NULL to discard). */
int tu_run_capture(char **out, char **err, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Run pmm_sampler_main(argc, argv, d) in this process with stdout and
 * stderr redirected to files in capdir (created if missing); returns its
 * exit status.  *out / *err receive the captured text (malloc'd) when
 * non-NULL; stderr is also echoed to the test log.  Check forks every test,
 * so the sampler's global state (stdout, getopt) cannot leak between tests. */
int tu_sampler_main(const pmm_model_desc *d, const char *capdir, char **out, char **err, int argc,
                    char **argv);

/* Write n bytes to path, replacing it; aborts the test on failure. */
void tu_write_file(const char *path, const void *data, size_t n);

/* Whole file as a malloc'd NUL-terminated string, NULL if unreadable. */
char *tu_read_file(const char *path, size_t *len);

/* Read a float32 .npy; aborts the test with a message on failure. */
void tu_read_npy(const char *path, pmm_array *out);

/* p-value of Pearson's chi-square for observed counts against expected
 * probabilities (k cells, df = k - 1). */
double tu_chisq_pvalue(const uint64_t *observed, const double *prob, size_t k);
/* One-sample Kolmogorov-Smirnov p-value of xs (sorted in place) against the
 * standard normal CDF. */
double tu_ks_normal_pvalue(double *xs, size_t n);

/* Run every test of s (Check forks each) and return how many failed. */
int tu_run_suite(Suite *s);

#endif
