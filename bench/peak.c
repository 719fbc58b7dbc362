/*
 * peak.c - the machine's sgemm speed, the yardstick bench/run measures
 * samplers against.
 *
 *     OPENBLAS_CORETYPE=SKYLAKEX OPENBLAS_NUM_THREADS=2 bench/peak [N [REPS]]
 *
 * Times REPS (default 5) calls of cblas_sgemm on N x N x N (default 2048)
 * row-major single-precision matrices after one warm-up call, and prints one
 * line:  "core CORENAME threads T n N gflops BEST"  where BEST is 2 N^3 over
 * the fastest call.  OpenBLAS picks its kernels (the "core") once per process
 * from OPENBLAS_CORETYPE or its own CPU detection; CORENAME is what it chose.
 * Exit status 0, or 1 with a message on stderr.
 */
#include <cblas.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static double peak_now_seconds(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* A positive decimal integer no larger than max, or 0 when malformed. */
static long peak_parse_count(const char *s, long max) {
  char *end;
  errno = 0;
  long v = strtol(s, &end, 10);
  if (errno || end == s || *end || v < 1 || v > max) return 0;
  return v;
}

/* Deterministic values in [-1, 1): the result's magnitude stays far from
 * overflow and denormals, which could otherwise change the timing. */
static void peak_fill_matrix(float *a, size_t count, uint32_t seed) {
  uint32_t x = seed * 2654435761u + 1u;
  for (size_t i = 0; i < count; i++) {
    x = x * 1664525u + 1013904223u;
    a[i] = (float)(x >> 8) * (2.0f / 16777216.0f) - 1.0f;
  }
}

int main(int argc, char **argv) {
  long n = 2048, reps = 5;
  if (argc > 3 || (argc > 1 && !(n = peak_parse_count(argv[1], 16384))) ||
      (argc > 2 && !(reps = peak_parse_count(argv[2], 1000)))) {
    fprintf(stderr, "usage: %s [N (1..16384, default 2048) [REPS (1..1000, default 5)]]\n",
            argv[0]);
    return 2;
  }
  size_t count = (size_t)n * (size_t)n; /* n <= 16384: no overflow */
  float *a = malloc(count * sizeof *a), *b = malloc(count * sizeof *b),
        *c = malloc(count * sizeof *c);
  if (!a || !b || !c) {
    fprintf(stderr, "%s: out of memory for three %ld x %ld matrices\n", argv[0], n, n);
    free(a);
    free(b);
    free(c);
    return 1;
  }
  peak_fill_matrix(a, count, 1);
  peak_fill_matrix(b, count, 2);
  int dim = (int)n;
  double best = 0.0;
  for (long r = 0; r <= reps; r++) {
    double t0 = peak_now_seconds();
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, dim, dim, dim, 1.0f, a, dim, b, dim,
                0.0f, c, dim);
    double t = peak_now_seconds() - t0;
    if (r > 0 && (best == 0.0 || t < best)) best = t; /* r == 0 warms up */
  }
  /* Use the result so the calls cannot be dropped, and catch a broken
   * kernel: row 0, column 0 of A B recomputed in double. */
  double ref = 0.0;
  for (long k = 0; k < n; k++) ref += (double)a[k] * (double)b[(size_t)k * (size_t)n];
  double diff = (double)c[0] - ref;
  int ok = diff < 1e-3 * (double)n && diff > -1e-3 * (double)n;
  if (ok)
    printf("core %s threads %d n %ld gflops %.1f\n", openblas_get_corename(),
           openblas_get_num_threads(), n, 2.0 * (double)n * (double)n * (double)n / best * 1e-9);
  else
    fprintf(stderr, "%s: sgemm result wrong: C[0][0] = %g, expected %g\n", argv[0], (double)c[0],
            ref);
  free(a);
  free(b);
  free(c);
  return ok ? 0 : 1;
}
