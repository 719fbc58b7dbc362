/*
 * testutil.c - helpers shared by the Check suites (see testutil.h).
 *
 * Failures inside a helper abort the current test with ck_abort_msg: a
 * helper that cannot do its job must never let a test pass silently.
 */
#define _GNU_SOURCE /* nftw's FTW_DEPTH/FTW_PHYS, mkdtemp */
#include "tests/util/testutil.h"

#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <gsl/gsl_cdf.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

const char *tu_pmmc(void) {
  const char *p = getenv("PMMC");
  return p && *p ? p : "pmmc";
}

const char *tu_srcdir(void) {
  const char *p = getenv("PMMC_SRCDIR");
  return p && *p ? p : ".";
}

void tu_make_tmpdir(char *out, size_t outlen) {
  const char *base = getenv("TMPDIR");
  if (!base || !*base) base = "/tmp";
  int n = snprintf(out, outlen, "%s/pmmc-test-XXXXXX", base);
  if (n < 0 || (size_t)n >= outlen)
    ck_abort_msg("tu_make_tmpdir: path under %s does not fit %zu bytes", base, outlen);
  if (!mkdtemp(out)) ck_abort_msg("tu_make_tmpdir: mkdtemp(%s): %s", out, strerror(errno));
}

static int remove_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw) {
  (void)sb;
  (void)flag;
  (void)ftw;
  if (remove(path) != 0)
    fprintf(stderr, "tu_remove_tree: cannot remove %s: %s\n", path, strerror(errno));
  return 0;
}

void tu_remove_tree(const char *dir) {
  if (dir && *dir) nftw(dir, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
}

/* printf into a fresh buffer; aborts the test when out of memory. */
static char *format_command(const char *fmt, va_list ap) {
  va_list ap2;
  va_copy(ap2, ap);
  int n = vsnprintf(NULL, 0, fmt, ap2);
  va_end(ap2);
  if (n < 0) ck_abort_msg("tu_run: bad command format \"%s\"", fmt);
  char *cmd = malloc((size_t)n + 1);
  if (!cmd) ck_abort_msg("tu_run: out of memory");
  vsnprintf(cmd, (size_t)n + 1, fmt, ap);
  return cmd;
}

/* Exit status of a wait status.  /bin/sh reports a child killed by signal N
 * as exit status 128 + N, so those count as crashes too. */
static int decode_status(int ws, const char *cmd) {
  if (WIFEXITED(ws)) {
    int st = WEXITSTATUS(ws);
    if (st > 128 && st <= 128 + 64) {
      fprintf(stderr, "tu_run: command killed by signal %d: %s\n", st - 128, cmd);
      return -1;
    }
    return st;
  }
  if (WIFSIGNALED(ws))
    fprintf(stderr, "tu_run: shell killed by signal %d: %s\n", WTERMSIG(ws), cmd);
  return -1;
}

int tu_run(const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  char *cmd = format_command(fmt, ap);
  va_end(ap);
  fprintf(stderr, "+ %s\n", cmd);
  fflush(NULL);
  int ws = system(cmd);
  int st = ws == -1 ? -1 : decode_status(ws, cmd);
  free(cmd);
  return st;
}

/* The whole contents of an open stream, from its start, NUL-terminated. */
static char *slurp_stream(FILE *f) {
  if (fseek(f, 0, SEEK_END) != 0)
    ck_abort_msg("tu_run_capture: cannot seek captured output: %s", strerror(errno));
  long len = ftell(f);
  if (len < 0 || fseek(f, 0, SEEK_SET) != 0)
    ck_abort_msg("tu_run_capture: cannot size captured output: %s", strerror(errno));
  char *buf = malloc((size_t)len + 1);
  if (!buf) ck_abort_msg("tu_run_capture: out of memory for %ld bytes", len);
  size_t got = fread(buf, 1, (size_t)len, f);
  if (got != (size_t)len) ck_abort_msg("tu_run_capture: short read of captured output");
  buf[got] = '\0';
  return buf;
}

int tu_run_capture(char **out, char **err, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  char *cmd = format_command(fmt, ap);
  va_end(ap);
  fprintf(stderr, "+ %s\n", cmd);
  fflush(NULL);

  /* Temporary files rather than pipes: no deadlock however much either
   * stream produces, and no cleanup (tmpfile is already unlinked). */
  FILE *fo = tmpfile(), *fe = tmpfile();
  if (!fo || !fe) ck_abort_msg("tu_run_capture: tmpfile: %s", strerror(errno));
  pid_t pid = fork();
  if (pid < 0) ck_abort_msg("tu_run_capture: fork: %s", strerror(errno));
  if (pid == 0) {
    if (dup2(fileno(fo), STDOUT_FILENO) < 0 || dup2(fileno(fe), STDERR_FILENO) < 0) _exit(127);
    execl("/bin/sh", "sh", "-c", cmd, (char *)NULL);
    _exit(127);
  }
  int ws = 0;
  while (waitpid(pid, &ws, 0) < 0) {
    if (errno != EINTR) ck_abort_msg("tu_run_capture: waitpid: %s", strerror(errno));
  }
  int st = decode_status(ws, cmd);
  free(cmd);

  char *so = slurp_stream(fo), *se = slurp_stream(fe);
  fclose(fo);
  fclose(fe);
  /* Echo stderr so a failing test's log shows what the command said. */
  if (*se) fprintf(stderr, "%s", se);
  if (out)
    *out = so;
  else
    free(so);
  if (err)
    *err = se;
  else
    free(se);
  return st;
}

/* path = dir/name in a fresh buffer. */
static char *join_path(const char *dir, const char *name) {
  size_t len = strlen(dir) + strlen(name) + 2;
  char *p = malloc(len);
  if (!p) ck_abort_msg("tu_sampler_main: out of memory");
  snprintf(p, len, "%s/%s", dir, name);
  return p;
}

int tu_sampler_main(const pmm_model_desc *d, const char *capdir, char **out, char **err, int argc,
                    char **argv) {
  if (mkdir(capdir, 0700) != 0 && errno != EEXIST)
    ck_abort_msg("tu_sampler_main: mkdir %s: %s", capdir, strerror(errno));
  char *opath = join_path(capdir, "stdout"), *epath = join_path(capdir, "stderr");
  fflush(stdout);
  fflush(stderr);
  int save_out = dup(STDOUT_FILENO), save_err = dup(STDERR_FILENO);
  int fo = open(opath, O_WRONLY | O_CREAT | O_TRUNC, 0600);
  int fe = open(epath, O_WRONLY | O_CREAT | O_TRUNC, 0600);
  if (save_out < 0 || save_err < 0 || fo < 0 || fe < 0)
    ck_abort_msg("tu_sampler_main: cannot redirect output: %s", strerror(errno));
  dup2(fo, STDOUT_FILENO);
  dup2(fe, STDERR_FILENO);
  close(fo);
  close(fe);
  int st = pmm_sampler_main(argc, argv, d);
  fflush(stdout);
  fflush(stderr);
  clearerr(stdout);
  dup2(save_out, STDOUT_FILENO);
  dup2(save_err, STDERR_FILENO);
  close(save_out);
  close(save_err);

  char *so = tu_read_file(opath, NULL), *se = tu_read_file(epath, NULL);
  if (!so || !se) ck_abort_msg("tu_sampler_main: cannot read the captured output in %s", capdir);
  fprintf(stderr, "sampler:");
  for (int i = 0; i < argc; i++) fprintf(stderr, " %s", argv[i]);
  fprintf(stderr, " -> %d\n%s", st, se);
  if (out)
    *out = so;
  else
    free(so);
  if (err)
    *err = se;
  else
    free(se);
  free(opath);
  free(epath);
  return st;
}

char *tu_read_file(const char *path, size_t *len) {
  FILE *f = fopen(path, "rb");
  if (!f) return NULL;
  size_t cap = 4096, n = 0;
  char *buf = malloc(cap);
  while (buf) {
    n += fread(buf + n, 1, cap - 1 - n, f);
    if (n < cap - 1) break;
    char *bigger = cap > SIZE_MAX / 2 ? NULL : realloc(buf, cap * 2);
    if (!bigger) {
      free(buf);
      buf = NULL;
      break;
    }
    buf = bigger;
    cap *= 2;
  }
  int bad = ferror(f);
  fclose(f);
  if (!buf || bad) {
    free(buf);
    return NULL;
  }
  buf[n] = '\0';
  if (len) *len = n;
  return buf;
}

void tu_read_npy(const char *path, pmm_array *out) {
  char err[512];
  pmm_status st = pmm_npy_read(path, out, err, sizeof err);
  if (st != PMM_OK) ck_abort_msg("tu_read_npy: %s", err);
}

double tu_chisq_pvalue(const uint64_t *observed, const double *prob, size_t k) {
  double total = 0.0;
  for (size_t i = 0; i < k; i++) total += (double)observed[i];
  double chi2 = 0.0;
  size_t cells = 0;
  for (size_t i = 0; i < k; i++) {
    if (prob[i] <= 0.0) {
      /* An observation where none can occur is infinitely unlikely. */
      if (observed[i] > 0) return 0.0;
      continue;
    }
    double e = total * prob[i];
    double d = (double)observed[i] - e;
    chi2 += d * d / e;
    cells++;
  }
  if (cells < 2) ck_abort_msg("tu_chisq_pvalue: need at least two cells with positive probability");
  return gsl_cdf_chisq_Q(chi2, (double)(cells - 1));
}

static int compare_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

/* Survival function of the Kolmogorov distribution, P(K > lambda).  The
 * alternating series 2 sum (-1)^(j-1) exp(-2 j^2 lambda^2) converges fast
 * for large lambda; for small lambda the Jacobi theta form
 * P(K <= lambda) = sqrt(2 pi)/lambda sum exp(-(2j-1)^2 pi^2 / (8 lambda^2))
 * does. */
static double kolmogorov_q(double lambda) {
  if (lambda <= 0.0) return 1.0;
  if (lambda < 1.0) {
    double s = 0.0, c = M_PI * M_PI / (8.0 * lambda * lambda);
    for (int j = 1; j <= 50; j++) {
      double t = exp(-(double)((2 * j - 1) * (2 * j - 1)) * c);
      s += t;
      if (t < 1e-17 * s) break;
    }
    return 1.0 - sqrt(2.0 * M_PI) / lambda * s;
  }
  double s = 0.0, sign = 1.0;
  for (int j = 1; j <= 100; j++) {
    double t = exp(-2.0 * (double)j * (double)j * lambda * lambda);
    s += sign * t;
    if (t < 1e-17) break;
    sign = -sign;
  }
  double q = 2.0 * s;
  return q < 0.0 ? 0.0 : q > 1.0 ? 1.0 : q;
}

double tu_ks_normal_pvalue(double *xs, size_t n) {
  if (n == 0) ck_abort_msg("tu_ks_normal_pvalue: no samples");
  qsort(xs, n, sizeof *xs, compare_double);
  double d = 0.0, nn = (double)n;
  for (size_t i = 0; i < n; i++) {
    double f = gsl_cdf_ugaussian_P(xs[i]);
    double above = (double)(i + 1) / nn - f, below = f - (double)i / nn;
    if (above > d) d = above;
    if (below > d) d = below;
  }
  /* Stephens' small-sample correction of the asymptotic distribution. */
  double sq = sqrt(nn);
  return kolmogorov_q((sq + 0.12 + 0.11 / sq) * d);
}

void tu_write_file(const char *path, const void *data, size_t n) {
  FILE *f = fopen(path, "wb");
  ck_assert_msg(f != NULL, "cannot write %s", path);
  ck_assert_uint_eq(fwrite(data, 1, n, f), n);
  ck_assert_int_eq(fclose(f), 0);
}

int tu_run_suite(Suite *s) {
  SRunner *sr = srunner_create(s);
  srunner_run_all(sr, CK_NORMAL);
  int failed = srunner_ntests_failed(sr);
  srunner_free(sr);
  return failed;
}
