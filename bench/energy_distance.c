/*
 * energy_distance.c - see energy_distance.h.  Row sums are accumulated
 * separately so that the O(n^2) sums keep their precision in double.
 */
#include "bench/energy_distance.h"

#include <math.h>

double energy_mean_cross(const double *a, size_t n, const double *b, size_t m) {
  double s = 0.0;
  for (size_t i = 0; i < n; i++) {
    double row = 0.0;
    for (size_t j = 0; j < m; j++) {
      double dx = a[2 * i] - b[2 * j], dy = a[2 * i + 1] - b[2 * j + 1];
      row += sqrt(dx * dx + dy * dy);
    }
    s += row;
  }
  return s / ((double)n * (double)m);
}

double energy_mean_within(const double *a, size_t n) {
  double s = 0.0;
  for (size_t i = 0; i < n; i++) {
    double row = 0.0;
    for (size_t j = i + 1; j < n; j++) {
      double dx = a[2 * i] - a[2 * j], dy = a[2 * i + 1] - a[2 * j + 1];
      row += sqrt(dx * dx + dy * dy);
    }
    s += row;
  }
  return 2.0 * s / ((double)n * (double)n);
}

double energy_distance(const double *x, size_t n, const double *y, size_t m, double y_within) {
  return 2.0 * energy_mean_cross(x, n, y, m) - energy_mean_within(x, n) - y_within;
}
