/*
 * rng_normal.c - standard normal variates from Philox counters.
 *
 * One Philox block (counter = element / 4, step, sample index) gives four
 * uniforms u0..u3 and so four normals by Box-Muller, in double:
 *   r = sqrt(-2 ln u0), z0 = r cos(2 pi u1), z1 = r sin(2 pi u1)
 *   r = sqrt(-2 ln u2), z2 = r cos(2 pi u3), z3 = r sin(2 pi u3)
 * Element e takes z[e % 4], rounded to float.  Box-Muller rather than a
 * table method (ziggurat) because it consumes a fixed number of bits per
 * variate, which counter-based generation requires; its output is bounded
 * by sqrt(-2 ln 2^-33) ~ 6.8, a tail of probability ~1e-11.
 */
#include <math.h>

#include "runtime/pmmrt.h"

/* z[0 .. m-1] of the Philox block `group`; only the Box-Muller pairs that
 * are needed are computed (the values do not depend on m). */
static void philox_normals(const uint32_t key[2], uint64_t sample, uint32_t step, uint32_t group,
                           size_t m, double z[4]) {
  uint32_t ctr[4] = {group, step, (uint32_t)sample, (uint32_t)(sample >> 32)};
  uint32_t u[4];
  pmm_philox4x32_10(ctr, key, u);
  const double two_pi = 6.283185307179586476925286766559;
  for (size_t pair = 0; 2 * pair < m; pair++) {
    double r = sqrt(-2.0 * log(pmm_uniform_from_u32(u[2 * pair])));
    double theta = two_pi * pmm_uniform_from_u32(u[2 * pair + 1]);
    z[2 * pair] = r * cos(theta);
    z[2 * pair + 1] = r * sin(theta);
  }
}

void pmm_rng_normal_block(const uint32_t key[2], uint64_t first_sample, size_t rows, uint32_t step,
                          size_t n, float *out) {
  for (size_t r = 0; r < rows; r++) {
    float *row = out + r * n;
    uint64_t sample = first_sample + r;
    for (size_t e = 0; e < n; e += 4) {
      double z[4];
      size_t m = n - e < 4 ? n - e : 4;
      philox_normals(key, sample, step, (uint32_t)(e / 4), m, z);
      for (size_t j = 0; j < m; j++) row[e + j] = (float)z[j];
    }
  }
}
