/*
 * compare.c - do two sample files agree?  bench/run's correctness check.
 *
 *     bench/compare [--exact | --tol T] A.npy B.npy
 *
 * Both files hold samples along the first axis with the same per-sample
 * shape.  Sample i depends only on (model, seed, i) (docs/determinism.md), so
 * when the files hold different numbers of samples the common leading ones
 * are compared.  Default: every element within |a - b| <= T (1 + |b|),
 * T = 1e-4, the interpreter-vs-compiled tolerance of docs/determinism.md;
 * non-finite values fail.  --exact: identical bits.
 * Prints one line with the samples compared and the largest differences.
 * Exit status 0 when they agree, 1 when not (or a file is unreadable),
 * 2 for a usage error.
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "runtime/pmmrt.h"

static int compare_usage(const char *prog) {
  fprintf(stderr, "usage: %s [--exact | --tol T] A.npy B.npy\n", prog);
  return 2;
}

/* Same per-sample shape (every axis after the first); 0 when it matches. */
static int compare_check_shapes(const pmm_array *a, const pmm_array *b) {
  if (a->rank < 1 || a->rank != b->rank) return -1;
  for (uint32_t i = 1; i < a->rank; i++)
    if (a->shape[i] != b->shape[i]) return -1;
  return 0;
}

static void compare_print_shape(const pmm_array *a) {
  fputc('[', stderr);
  for (uint32_t i = 0; i < a->rank; i++)
    fprintf(stderr, "%s%llu", i ? ", " : "", (unsigned long long)a->shape[i]);
  fputc(']', stderr);
}

int main(int argc, char **argv) {
  int exact = 0, argi = 1;
  double tol = 1e-4;
  if (argi < argc && strcmp(argv[argi], "--exact") == 0) {
    exact = 1;
    argi++;
  } else if (argi + 1 < argc && strcmp(argv[argi], "--tol") == 0) {
    char *end;
    errno = 0;
    tol = strtod(argv[argi + 1], &end);
    if (errno || end == argv[argi + 1] || *end || !(tol >= 0.0)) return compare_usage(argv[0]);
    argi += 2;
  }
  if (argc - argi != 2) return compare_usage(argv[0]);
  const char *pa = argv[argi], *pb = argv[argi + 1];

  pmm_array a = {0}, b = {0};
  char err[512];
  if (pmm_npy_read(pa, &a, err, sizeof err) != PMM_OK ||
      pmm_npy_read(pb, &b, err, sizeof err) != PMM_OK) {
    fprintf(stderr, "%s: %s\n", argv[0], err);
    pmm_array_free(&a);
    return 1;
  }
  int rc = 1;
  if (compare_check_shapes(&a, &b) != 0) {
    fprintf(stderr, "%s: %s has shape ", argv[0], pa);
    compare_print_shape(&a);
    fprintf(stderr, " and %s has shape ", pb);
    compare_print_shape(&b);
    fprintf(stderr, ": the per-sample shapes differ\n");
    goto done;
  }
  uint64_t rows = a.shape[0] < b.shape[0] ? a.shape[0] : b.shape[0];
  if (rows == 0) {
    fprintf(stderr, "%s: no samples to compare in %s and %s\n", argv[0], pa, pb);
    goto done;
  }
  uint64_t per = a.count / a.shape[0], n = rows * per; /* n <= a.count: no overflow */
  uint64_t bad = 0, first_bad = 0;
  double max_abs = 0.0, max_scaled = 0.0;
  for (uint64_t i = 0; i < n; i++) {
    double x = a.data[i], y = b.data[i], d = fabs(x - y), scaled = d / (1.0 + fabs(y));
    int ok = exact ? memcmp(&a.data[i], &b.data[i], sizeof(float)) == 0
                   : isfinite(x) && isfinite(y) && d <= tol * (1.0 + fabs(y));
    if (!ok && bad++ == 0) first_bad = i;
    if (d > max_abs) max_abs = d;
    if (scaled > max_scaled) max_scaled = scaled;
  }
  printf("%llu samples compared: max |a-b| %.3g, max |a-b|/(1+|b|) %.3g, %s\n",
         (unsigned long long)rows, max_abs, max_scaled,
         bad == 0 ? (exact ? "identical bits" : "within tolerance")
                  : (exact ? "NOT identical" : "OUT OF TOLERANCE"));
  if (bad) {
    fprintf(stderr,
            "%s: %s and %s differ in %llu of %llu values; first at sample %llu element %llu: "
            "%.9g vs %.9g ",
            argv[0], pa, pb, (unsigned long long)bad, (unsigned long long)n,
            (unsigned long long)(first_bad / per), (unsigned long long)(first_bad % per),
            (double)a.data[first_bad], (double)b.data[first_bad]);
    if (exact)
      fprintf(stderr, "(expected identical bits)\n");
    else
      fprintf(stderr, "(tolerance |a-b| <= %g (1 + |b|))\n", tol);
    goto done;
  }
  rc = 0;
done:
  pmm_array_free(&a);
  pmm_array_free(&b);
  return rc;
}
