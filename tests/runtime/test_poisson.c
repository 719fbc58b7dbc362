/*
 * test_poisson.c - Poisson variates (pmm_rng_poisson_block): the counter
 * layout, special rates, moments over six decades of means and the
 * distribution itself (chi-square against GSL's pmf and cdf).
 *
 * Statistical checks use fixed seeds, printed; PMMC_TEST_SEED overrides
 * them.  Tolerances: five standard errors (a false alarm about once in 1.7
 * million per check) and chi-square p > 0.001.
 */
#include <check.h>
#include <gsl/gsl_cdf.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tests/util/testutil.h"

static uint64_t test_seed(const char *test, uint64_t fallback) {
  const char *env = getenv("PMMC_TEST_SEED");
  uint64_t seed = env && *env ? strtoull(env, NULL, 10) : fallback;
  fprintf(stderr, "%s: seed=%llu\n", test, (unsigned long long)seed);
  return seed;
}

/* rows x n draws at one mean (sample indices from `first`, step 1). */
static float *draw(uint64_t seed, uint64_t first, size_t rows, size_t n, uint32_t step,
                   float mean) {
  uint32_t key[2];
  pmm_rng_key(seed, 1, key);
  float *x = malloc(rows * n * sizeof *x);
  ck_assert_ptr_nonnull(x);
  for (size_t i = 0; i < rows * n; i++) x[i] = mean;
  pmm_rng_poisson_block(key, first, rows, step, n, x, x);
  return x;
}

/* The documented layout, for means below 10: the round-0 block
 * {e, step, s_lo, s_hi} gives u = (m + 0.5) 2^-52 from its first two words
 * (m = w0 << 20 | w1 >> 12), and the draw is the smallest k with
 * u <= P(K <= k).  Computed here with GSL's cdf for many (sample, step,
 * element), including sample indices past 2^32. */
START_TEST(test_poisson_counter_layout) {
  uint64_t seed = test_seed("poisson_counter_layout", 21);
  uint32_t key[2];
  pmm_rng_key(seed, 1, key);
  const uint64_t samples[] = {0, 1, 77, (1ULL << 32) + 5, UINT64_MAX};
  const uint32_t steps[] = {0, 1, 999999};
  const double means[] = {0.01, 0.7, 3.0, 9.99};
  size_t checked = 0;
  for (size_t si = 0; si < 5; si++) {
    for (size_t ti = 0; ti < 3; ti++) {
      for (uint32_t e = 0; e < 40; e++) {
        double mu = (float)means[e % 4];
        uint32_t ctr[4] = {e, steps[ti], (uint32_t)samples[si], (uint32_t)(samples[si] >> 32)};
        uint32_t w[4];
        pmm_philox4x32_10(ctr, key, w);
        uint64_t m = ((uint64_t)w[0] << 20) | (w[1] >> 12);
        double u = ((double)m + 0.5) * 0x1p-52;
        unsigned k = 0;
        while (u > gsl_cdf_poisson_P(k, mu)) k++;
        float rate[40], out[40];
        for (int j = 0; j < 40; j++) rate[j] = (float)means[j % 4];
        pmm_rng_poisson_block(key, samples[si], 1, steps[ti], 40, rate, out);
        /* The float mean differs from the double one by < 1e-7 relative;
         * u would have to fall within that of a cdf step to matter. */
        ck_assert_msg(out[e] == (float)k, "sample %llu step %u element %u mean %g: %g, want %u",
                      (unsigned long long)samples[si], steps[ti], e, mu, out[e], k);
        checked++;
      }
    }
  }
  ck_assert_uint_eq(checked, 600);
}
END_TEST

/* A value depends on (key, sample, step, element) only: not on rows, n,
 * the other rates, or where the block starts. */
START_TEST(test_poisson_independent_of_shape) {
  uint32_t key[2];
  pmm_rng_key(test_seed("poisson_independent_of_shape", 5), 1, key);
  enum { ROWS = 9, N = 13 };
  float rate[ROWS * N], big[ROWS * N];
  for (int i = 0; i < ROWS * N; i++)
    rate[i] = (float)(0.05 * (i % 7) + (i % 3 == 0 ? 25.0 * (i % 5) : 0.0) + (i % 11 == 0) * 1e6);
  pmm_rng_poisson_block(key, 100, ROWS, 4, N, rate, big);
  for (int r = 0; r < ROWS; r++) {
    for (int e = 0; e < N; e++) {
      /* the same element alone, in a shorter row with other rates before it */
      float rates[N], one[N];
      for (int j = 0; j < N; j++) rates[j] = j == e ? rate[r * N + e] : 2.5f;
      pmm_rng_poisson_block(key, 100 + (uint64_t)r, 1, 4, (size_t)e + 1, rates, one);
      ck_assert_msg(one[e] == big[r * N + e], "row %d element %d: %g vs %g", r, e, one[e],
                    big[r * N + e]);
    }
  }
  /* Another step, sample or key changes values. */
  float other[ROWS * N];
  int same = 0;
  pmm_rng_poisson_block(key, 100, ROWS, 5, N, rate, other);
  for (int i = 0; i < ROWS * N; i++) same += other[i] == big[i] && rate[i] > 20.0f;
  ck_assert_msg(same < 10, "%d of the large draws repeat at the next step", same);
}
END_TEST

START_TEST(test_poisson_special_rates) {
  uint32_t key[2];
  pmm_rng_key(test_seed("poisson_special_rates", 3), 1, key);
  float rate[6] = {0.0f, -1.0f, -INFINITY, NAN, INFINITY, 1e-30f}, out[6];
  for (uint64_t s = 0; s < 1000; s++) {
    pmm_rng_poisson_block(key, s, 1, 1, 6, rate, out);
    ck_assert(out[0] == 0.0f && out[1] == 0.0f && out[2] == 0.0f && out[3] == 0.0f);
    ck_assert(isinf(out[4]) && out[4] > 0.0f);
    ck_assert(out[5] == 0.0f);
  }
  /* Elements past the documented 2^24 limit are NaN, never aliases of the
   * rounds of element 0.  out may equal rate. */
  size_t n = (size_t)PMM_POISSON_MAX_ELEMS + 1;
  float *x = calloc(n, sizeof *x);
  ck_assert_ptr_nonnull(x);
  x[0] = 50.0f;
  x[n - 2] = 50.0f;
  x[n - 1] = 50.0f;
  pmm_rng_poisson_block(key, 0, 1, 1, n, x, x);
  ck_assert(x[0] >= 0.0f && x[n - 2] >= 0.0f && isnan(x[n - 1]));
  ck_assert(x[1] == 0.0f);
  free(x);
}
END_TEST

/* Mean and variance within 5 standard errors: SE(mean) = sqrt(mu / N),
 * SE(variance) = sqrt((mu + 2 mu^2) / N) (Poisson fourth central moment
 * mu + 3 mu^2).  Every value must be a non-negative integer. */
START_TEST(test_poisson_moments) {
  uint64_t seed = test_seed("poisson_moments", 1234);
  const double means[] = {0.01, 1.0, 9.5, 10.0, 30.0, 1e4, 1e7};
  const size_t rows = 2000, n = 500, count = rows * n;
  for (size_t m = 0; m < sizeof means / sizeof means[0]; m++) {
    float mean = (float)means[m];
    double mu = mean;
    float *x = draw(seed + m, 0, rows, n, 1, mean);
    double s1 = 0.0, s2 = 0.0;
    for (size_t i = 0; i < count; i++) {
      ck_assert_msg(x[i] >= 0.0f && x[i] == floorf(x[i]), "mean %g: draw %g", mu, x[i]);
      double d = x[i] - mu;
      s1 += d;
      s2 += d * d;
    }
    double avg = mu + s1 / (double)count;
    double var = (s2 - s1 * s1 / (double)count) / (double)(count - 1);
    double se_mean = sqrt(mu / (double)count), se_var = sqrt((mu + 2 * mu * mu) / (double)count);
    fprintf(stderr, "mean %g: sample mean %.6g (%.2f SE), variance %.6g (%.2f SE)\n", mu, avg,
            (avg - mu) / se_mean, var, (var - mu) / se_var);
    ck_assert_msg(fabs(avg - mu) < 5 * se_mean, "mean %g: sample mean %.8g, SE %.3g", mu, avg,
                  se_mean);
    ck_assert_msg(fabs(var - mu) < 5 * se_var, "mean %g: sample variance %.8g, SE %.3g", mu, var,
                  se_var);
    free(x);
  }
}
END_TEST

/* P(K = k), from lgamma in double: relative error about 1e-16 times the
 * size of the exponent's terms (< 1e-7 at mean 1e7), plenty for a
 * chi-square.  (GSL's incomplete gamma fails at such means.) */
static double poisson_pmf(double k, double mu) { return exp(-mu + k * log(mu) - lgamma(k + 1.0)); }

/* P(lo <= K < hi), summed over at most 80 standard deviations around the
 * mean: the mass beyond is below 1e-300. */
static double poisson_mass(double lo, double hi, double mu) {
  double reach = 40.0 * sqrt(mu) + 40.0;
  if (lo < mu - reach) lo = fmax(0.0, ceil(mu - reach));
  if (hi > mu + reach) hi = floor(mu + reach);
  double sum = 0.0;
  for (double k = lo; k < hi; k += 1.0) sum += poisson_pmf(k, mu);
  return sum;
}

/* Pearson's chi-square of draws at one mean against the Poisson pmf, in
 * bins [edge_i, edge_{i+1}) with open ends, edges chosen by the caller so
 * that every bin expects plenty of draws. */
static double poisson_chisq(uint64_t seed, double mean, const unsigned *edges, size_t nedges,
                            size_t rows, size_t n) {
  float *x = draw(seed, 0, rows, n, 7, (float)mean);
  double mu = (float)mean;
  size_t bins = nedges + 1;
  uint64_t *obs = calloc(bins, sizeof *obs);
  double *prob = calloc(bins, sizeof *prob);
  ck_assert(obs && prob);
  for (size_t i = 0; i < rows * n; i++) {
    size_t b = 0;
    while (b < nedges && x[i] >= (float)edges[b]) b++;
    obs[b]++;
  }
  for (size_t b = 0; b <= nedges; b++) {
    double lo = b == 0 ? 0.0 : edges[b - 1];
    double hi = b == nedges ? INFINITY : edges[b];
    prob[b] = poisson_mass(lo, hi, mu);
  }
  double p = tu_chisq_pvalue(obs, prob, bins);
  fprintf(stderr, "chi-square at mean %g over %zu bins: p = %.4g\n", mean, bins, p);
  free(obs);
  free(prob);
  free(x);
  return p;
}

/* Mean 3: every value 1..12 its own bin (12+ pooled): inversion. */
START_TEST(test_poisson_chisq_pmf) {
  uint64_t seed = test_seed("poisson_chisq_pmf", 77);
  unsigned edges[12];
  for (unsigned i = 0; i < 12; i++) edges[i] = i + 1;
  double p = poisson_chisq(seed, 3.0, edges, 12, 1000, 1000);
  ck_assert_msg(p > 0.001, "mean 3: chi-square p = %g", p);
}
END_TEST

/* PTRS: near its lower limit (10.5), at 30 (value bins), and at 1e4 and
 * 1e7 (bins a quarter of a standard deviation wide within +-4 sd). */
START_TEST(test_poisson_chisq_ptrs) {
  uint64_t seed = test_seed("poisson_chisq_ptrs", 78);
  unsigned edges[40];
  for (unsigned i = 0; i < 20; i++) edges[i] = 3 + i;
  double p = poisson_chisq(seed, 10.5, edges, 20, 1000, 500);
  ck_assert_msg(p > 0.001, "mean 10.5: chi-square p = %g", p);
  for (unsigned i = 0; i < 40; i++) edges[i] = 14 + i;
  p = poisson_chisq(seed + 1, 30.0, edges, 40, 1000, 500);
  ck_assert_msg(p > 0.001, "mean 30: chi-square p = %g", p);
  const double big[] = {1e4, 1e7};
  for (int m = 0; m < 2; m++) {
    double sd = sqrt(big[m]);
    unsigned e[33];
    for (int i = 0; i < 33; i++) e[i] = (unsigned)floor(big[m] + (i - 16) * 0.25 * sd);
    p = poisson_chisq(seed + 2 + (uint64_t)m, big[m], e, 33, 1000, 500);
    ck_assert_msg(p > 0.001, "mean %g: chi-square p = %g", big[m], p);
  }
}
END_TEST

/* Neighbouring elements, steps and samples are uncorrelated
 * (|r| < 5 / sqrt(N)) at a small and a large mean. */
START_TEST(test_poisson_neighbours_independent) {
  uint64_t seed = test_seed("poisson_neighbours_independent", 99);
  const float means[] = {3.0f, 40.0f};
  const size_t rows = 1000, n = 200;
  for (int m = 0; m < 2; m++) {
    float *a = draw(seed, 0, rows, n, 1, means[m]);
    float *b = draw(seed, 0, rows, n, 2, means[m]);
    double mu = means[m];
    double se = 1.0 / sqrt((double)(rows * (n - 1)));
    double elem = 0.0, step = 0.0, samp = 0.0;
    for (size_t r = 0; r < rows; r++) {
      for (size_t e = 0; e + 1 < n; e++) {
        elem += (a[r * n + e] - mu) * (a[r * n + e + 1] - mu);
        step += (a[r * n + e] - mu) * (b[r * n + e] - mu);
        if (r + 1 < rows) samp += (a[r * n + e] - mu) * (a[(r + 1) * n + e] - mu);
      }
    }
    double denom = mu * (double)(rows * (n - 1));
    elem /= denom;
    step /= denom;
    samp /= mu * (double)((rows - 1) * (n - 1));
    fprintf(stderr, "mean %g: correlations element %.4f step %.4f sample %.4f (SE %.4f)\n", mu,
            elem, step, samp, se);
    ck_assert_msg(fabs(elem) < 5 * se, "mean %g: neighbouring elements correlate %g", mu, elem);
    ck_assert_msg(fabs(step) < 5 * se, "mean %g: consecutive steps correlate %g", mu, step);
    ck_assert_msg(fabs(samp) < 5 * se, "mean %g: neighbouring samples correlate %g", mu, samp);
    free(a);
    free(b);
  }
}
END_TEST

int main(void) {
  Suite *s = suite_create("poisson");
  TCase *tc = tcase_create("poisson");
  tcase_set_timeout(tc, 300);
  tcase_add_test(tc, test_poisson_counter_layout);
  tcase_add_test(tc, test_poisson_independent_of_shape);
  tcase_add_test(tc, test_poisson_special_rates);
  tcase_add_test(tc, test_poisson_moments);
  tcase_add_test(tc, test_poisson_chisq_pmf);
  tcase_add_test(tc, test_poisson_chisq_ptrs);
  tcase_add_test(tc, test_poisson_neighbours_independent);
  suite_add_tcase(s, tc);
  int failed = tu_run_suite(s);
  return failed == 0 ? 0 : 1;
}
