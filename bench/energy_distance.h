/*
 * energy_distance.h - the energy distance between two sets of 2-D points,
 * as the V-statistic (all pairs, i = j included), shared by bench/energy
 * and tests/e2e/test_energy so the benchmark and the acceptance test
 * measure the same thing.
 *
 *     double yw = energy_mean_within(y, m);        // reuse for many x sets
 *     double ed = energy_distance(x, n, y, m, yw);
 *
 * Points are stored as x0, y0, x1, y1, ... in double.
 */
#ifndef PMMC_BENCH_ENERGY_DISTANCE_H
#define PMMC_BENCH_ENERGY_DISTANCE_H

#include <stddef.h>

/* Mean |a_i - b_j| over all n * m pairs. */
double energy_mean_cross(const double *a, size_t n, const double *b, size_t m);
/* Mean |a_i - a_i'| over all n^2 ordered pairs (i = i' included). */
double energy_mean_within(const double *a, size_t n);
/* 2 mean_cross(x, y) - mean_within(x) - y_within, y_within being
 * energy_mean_within(y, m). */
double energy_distance(const double *x, size_t n, const double *y, size_t m, double y_within);

#endif
