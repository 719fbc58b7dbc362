/*
 * bench_util.c - timing and inputs shared by the kernel benchmarks
 * (bench_util.h).
 */
#include "bench/bench_util.h"

#include <stdlib.h>

clockid_t bench_clock = CLOCK_MONOTONIC;

double bench_now(void) {
  struct timespec ts;
  clock_gettime(bench_clock, &ts);
  return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

void bench_fill(float *a, size_t n, uint32_t seed, float scale) {
  uint32_t x = seed * 2654435761u + 1u;
  for (size_t i = 0; i < n; i++) {
    x = x * 1664525u + 1013904223u;
    a[i] = scale * ((float)(x >> 8) * (2.0f / 16777216.0f) - 1.0f);
  }
}

static int bench_cmp_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

double bench_median(double *t, size_t n) {
  qsort(t, n, sizeof t[0], bench_cmp_double);
  return n % 2 ? t[n / 2] : 0.5 * (t[n / 2 - 1] + t[n / 2]);
}

double bench_median_time(void (*call)(const void *arg, int engine), const void *arg, int engine,
                         int reps) {
  if (reps < 1) reps = 1;
  if (reps > 64) reps = 64;
  call(arg, engine);
  double t0 = bench_now();
  long calls = 1;
  call(arg, engine);
  double once = bench_now() - t0;
  if (once < 0.02) calls = (long)(0.02 / (once > 1e-7 ? once : 1e-7)) + 1;
  double t[64];
  for (int r = 0; r < reps; r++) {
    t0 = bench_now();
    for (long i = 0; i < calls; i++) call(arg, engine);
    t[r] = (bench_now() - t0) / (double)calls;
  }
  return bench_median(t, (size_t)reps);
}
