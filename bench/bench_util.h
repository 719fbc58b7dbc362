/*
 * bench_util.h - what the kernel benchmarks (bench/gemm, bench/conv) share:
 * a clock, deterministic inputs and the median time of a call.
 *
 *     bench_fill(x, n, 3, 1.0f);
 *     double sec = bench_median_time(run_engine, &my_case, LLVM, 5);   // per call
 */
#ifndef PMMC_BENCH_UTIL_H
#define PMMC_BENCH_UTIL_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

/* The clock bench_now reads: CLOCK_MONOTONIC (wall time) unless a tool
 * switches to CLOCK_THREAD_CPUTIME_ID, which leaves out the time other jobs
 * on a shared machine hold the core. */
extern clockid_t bench_clock;

/* Seconds on bench_clock. */
double bench_now(void);

/* n floats uniform in [-scale, scale) from a fixed LCG stream of seed. */
void bench_fill(float *a, size_t n, uint32_t seed, float scale);

/* The median of t[0..n) (sorted in place; n >= 1). */
double bench_median(double *t, size_t n);

/* Median seconds per call of call(arg, engine) over reps (1..64) timings,
 * each of enough calls to last 20 ms, after a warm-up call. */
double bench_median_time(void (*call)(const void *arg, int engine), const void *arg, int engine,
                         int reps);

#endif
