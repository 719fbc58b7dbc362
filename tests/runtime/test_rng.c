/*
 * test_rng.c - Philox4x32-10, key derivation, uniforms and normal variates.
 *
 * Statistical tests use fixed seeds, printed; PMMC_TEST_SEED overrides them
 * to re-run with fresh randomness.  Tolerances are five standard errors
 * (a false alarm about once in 1.7 million runs per check) and p > 0.001.
 */
#include <check.h>
#include <gsl/gsl_cdf.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "tests/util/testutil.h"

static uint64_t test_seed(const char *test, uint64_t fallback) {
  const char *env = getenv("PMMC_TEST_SEED");
  uint64_t seed = env && *env ? strtoull(env, NULL, 10) : fallback;
  fprintf(stderr, "%s: seed=%llu\n", test, (unsigned long long)seed);
  return seed;
}

/* Random123's tests/kat_vectors, the three "philox4x32 10" lines:
 * counter (4 words), key (2 words), expected output (4 words). */
START_TEST(test_philox_known_answers) {
  static const uint32_t kat[3][10] = {
      {0x00000000, 0x00000000, 0x00000000, 0x00000000, 0x00000000, 0x00000000, 0x6627e8d5,
       0xe169c58d, 0xbc57ac4c, 0x9b00dbd8},
      {0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff, 0x408f276d,
       0x41c83b0e, 0xa20bc7c6, 0x6d5451fd},
      {0x243f6a88, 0x85a308d3, 0x13198a2e, 0x03707344, 0xa4093822, 0x299f31d0, 0xd16cfe09,
       0x94fdcceb, 0x5001e420, 0x24126ea1},
  };
  for (int i = 0; i < 3; i++) {
    uint32_t out[4];
    pmm_philox4x32_10(kat[i], kat[i] + 4, out);
    for (int j = 0; j < 4; j++)
      ck_assert_msg(out[j] == kat[i][6 + j], "vector %d word %d: got %08x, expected %08x", i, j,
                    out[j], kat[i][6 + j]);
  }
}
END_TEST

/* Flipping one input bit must flip about half of the 128 output bits
 * (binomial(128, 1/2): mean 64, sd 5.66; the mean over 192 flips per
 * trial has sd 0.41, so |mean - 64| < 2 is about 5 sd). */
START_TEST(test_philox_avalanche) {
  uint64_t seed = test_seed("philox_avalanche", 11);
  uint32_t key[2];
  pmm_rng_key(seed, 0, key);
  for (uint32_t trial = 0; trial < 20; trial++) {
    uint32_t ctr[4] = {trial, trial * 7u, trial * 13u, 0}, base[4];
    pmm_philox4x32_10(ctr, key, base);
    double total = 0.0;
    for (int bit = 0; bit < 192; bit++) {
      uint32_t c[4] = {ctr[0], ctr[1], ctr[2], ctr[3]}, k[2] = {key[0], key[1]}, out[4];
      if (bit < 128)
        c[bit / 32] ^= 1u << (bit % 32);
      else
        k[(bit - 128) / 32] ^= 1u << (bit % 32);
      pmm_philox4x32_10(c, k, out);
      for (int j = 0; j < 4; j++) total += __builtin_popcount(out[j] ^ base[j]);
    }
    double mean = total / 192.0;
    ck_assert_msg(fabs(mean - 64.0) < 2.0, "trial %u: mean flipped bits %.3f", trial, mean);
  }
}
END_TEST

static int compare_u64(const void *a, const void *b) {
  uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
  return (x > y) - (x < y);
}

START_TEST(test_rng_key) {
  uint32_t a[2], b[2];
  pmm_rng_key(7, 0, a);
  pmm_rng_key(7, 0, b);
  ck_assert(a[0] == b[0] && a[1] == b[1]);
  /* Pinned (splitmix64 twice, computed independently): every compiled sampler's samples depend on
   * this mapping, so a change here must be deliberate (it changes all outputs). */
  pmm_rng_key(0, 0, a);
  uint64_t k00 = ((uint64_t)a[1] << 32) | a[0];
  ck_assert_msg(k00 == 0xa706dd2f4d197e6fULL, "key(0, 0) = %016llx", (unsigned long long)k00);

  /* Distinct seeds and streams give distinct keys (no collisions among
   * 20000 64-bit keys; a bijection per stream guarantees it). */
  size_t n = 20000;
  uint64_t *keys = malloc(n * sizeof *keys);
  ck_assert_ptr_nonnull(keys);
  for (size_t i = 0; i < n; i++) {
    pmm_rng_key(i / 2, (uint32_t)(i % 2), a);
    keys[i] = ((uint64_t)a[1] << 32) | a[0];
  }
  qsort(keys, n, sizeof *keys, compare_u64);
  for (size_t i = 1; i < n; i++)
    ck_assert_msg(keys[i - 1] != keys[i], "two (seed, stream) pairs share key %016llx",
                  (unsigned long long)keys[i]);
  free(keys);
}
END_TEST

START_TEST(test_uniform_from_u32) {
  ck_assert(pmm_uniform_from_u32(0) == 0.5 / 4294967296.0);
  ck_assert(pmm_uniform_from_u32(UINT32_MAX) == 1.0 - 0.5 / 4294967296.0);
  ck_assert(pmm_uniform_from_u32(0x80000000u) == 0.5 + 0.5 / 4294967296.0);
  ck_assert(pmm_uniform_from_u32(UINT32_MAX) < 1.0);
}
END_TEST

/* Uniforms from consecutive counters, binned: chi-square p > 0.001. */
START_TEST(test_uniform_chisq) {
  uint64_t seed = test_seed("uniform_chisq", 12);
  uint32_t key[2];
  pmm_rng_key(seed, 0, key);
  enum { BINS = 100 };
  uint64_t counts[BINS] = {0};
  double prob[BINS];
  for (int i = 0; i < BINS; i++) prob[i] = 1.0 / BINS;
  for (uint32_t c = 0; c < 50000; c++) {
    uint32_t ctr[4] = {c, 0, 0, 0}, out[4];
    pmm_philox4x32_10(ctr, key, out);
    for (int j = 0; j < 4; j++) counts[(int)(pmm_uniform_from_u32(out[j]) * BINS)]++;
  }
  double p = tu_chisq_pvalue(counts, prob, BINS);
  fprintf(stderr, "uniform_chisq: p=%g\n", p);
  ck_assert_msg(p > 0.001, "chi-square p = %g", p);
}
END_TEST

/* The documented counter layout: element e of sample s at step t is word
 * e % 4 of Philox({e / 4, t, s_lo, s_hi}) through Box-Muller. */
START_TEST(test_normal_counter_layout) {
  uint32_t key[2];
  pmm_rng_key(3, 0, key);
  uint64_t sample = 0x100000005ULL; /* exercises the high word */
  float got[7];
  pmm_rng_normal_block(key, sample, 1, 9, 7, got);
  for (uint32_t e = 0; e < 7; e++) {
    uint32_t ctr[4] = {e / 4, 9, 5, 1}, u[4];
    pmm_philox4x32_10(ctr, key, u);
    int pair = (int)(e % 4) / 2;
    double r = sqrt(-2.0 * log(pmm_uniform_from_u32(u[2 * pair])));
    double th = 2.0 * M_PI * pmm_uniform_from_u32(u[2 * pair + 1]);
    float want = (float)(e % 2 == 0 ? r * cos(th) : r * sin(th));
    ck_assert_msg(got[e] == want, "element %u: %.9g vs %.9g", e, got[e], want);
  }
  float low[1];
  pmm_rng_normal_block(key, 5, 1, 9, 1, low);
  ck_assert_msg(low[0] != got[0], "sample index high word ignored");
}
END_TEST

/* A draw depends on (key, sample, step, element) only: not on how many
 * rows or elements were requested alongside it. */
START_TEST(test_normal_block_independent_of_shape) {
  uint32_t key[2];
  pmm_rng_key(4, 0, key);
  float big[10 * 11];
  pmm_rng_normal_block(key, 100, 10, 3, 11, big);
  for (size_t r = 0; r < 10; r++) {
    for (size_t n = 1; n <= 11; n++) {
      float small[11];
      pmm_rng_normal_block(key, 100 + r, 1, 3, n, small);
      for (size_t e = 0; e < n; e++)
        ck_assert_msg(small[e] == big[r * 11 + e], "row %zu n %zu element %zu", r, n, e);
    }
  }
  float other[11];
  pmm_rng_normal_block(key, 100, 1, 4, 11, other);
  int same = 0;
  for (size_t e = 0; e < 11; e++) same += other[e] == big[e];
  ck_assert_msg(same == 0, "step 3 and step 4 share %d of 11 draws", same);
}
END_TEST

enum { MOMENT_ROWS = 250000, MOMENT_N = 4 };

/* Mean, variance, skewness and excess kurtosis of 10^6 draws, each within
 * five standard errors: sqrt(1/N), sqrt(2/N), sqrt(6/N), sqrt(24/N). */
START_TEST(test_normal_moments) {
  uint64_t seed = test_seed("normal_moments", 13);
  uint32_t key[2];
  pmm_rng_key(seed, 0, key);
  size_t n = (size_t)MOMENT_ROWS * MOMENT_N;
  float *z = malloc(n * sizeof *z);
  ck_assert_ptr_nonnull(z);
  pmm_rng_normal_block(key, 0, MOMENT_ROWS, 0, MOMENT_N, z);
  double m1 = 0, m2 = 0, m3 = 0, m4 = 0;
  for (size_t i = 0; i < n; i++) m1 += z[i];
  m1 /= (double)n;
  for (size_t i = 0; i < n; i++) {
    double d = z[i] - m1, d2 = d * d;
    m2 += d2;
    m3 += d2 * d;
    m4 += d2 * d2;
  }
  m2 /= (double)n;
  m3 /= (double)n;
  m4 /= (double)n;
  double skew = m3 / pow(m2, 1.5), kurt = m4 / (m2 * m2) - 3.0, nn = (double)n;
  fprintf(stderr, "normal_moments: mean=%g var=%g skew=%g excess kurtosis=%g\n", m1, m2, skew,
          kurt);
  ck_assert_msg(fabs(m1) < 5.0 * sqrt(1.0 / nn), "mean %g", m1);
  ck_assert_msg(fabs(m2 - 1.0) < 5.0 * sqrt(2.0 / nn), "variance %g", m2);
  ck_assert_msg(fabs(skew) < 5.0 * sqrt(6.0 / nn), "skewness %g", skew);
  ck_assert_msg(fabs(kurt) < 5.0 * sqrt(24.0 / nn), "excess kurtosis %g", kurt);
  free(z);
}
END_TEST

/* Kolmogorov-Smirnov against N(0, 1): all 200,000 draws together, and
 * each Box-Muller lane (element % 4) on its own, p > 0.001. */
START_TEST(test_normal_ks) {
  uint64_t seed = test_seed("normal_ks", 14);
  uint32_t key[2];
  pmm_rng_key(seed, 0, key);
  enum { ROWS = 50000, N = 4 };
  float *z = malloc((size_t)ROWS * N * sizeof *z);
  double *all = malloc((size_t)ROWS * N * sizeof *all), *lane = malloc(ROWS * sizeof *lane);
  ck_assert(z && all && lane);
  pmm_rng_normal_block(key, 1000, ROWS, 5, N, z);
  for (size_t i = 0; i < (size_t)ROWS * N; i++) all[i] = z[i];
  double p = tu_ks_normal_pvalue(all, (size_t)ROWS * N);
  fprintf(stderr, "normal_ks: all lanes p=%g\n", p);
  ck_assert_msg(p > 0.001, "KS p = %g over %d draws", p, ROWS * N);
  for (int l = 0; l < N; l++) {
    for (size_t r = 0; r < ROWS; r++) lane[r] = z[r * N + (size_t)l];
    p = tu_ks_normal_pvalue(lane, ROWS);
    fprintf(stderr, "normal_ks: lane %d p=%g\n", l, p);
    ck_assert_msg(p > 0.001, "lane %d: KS p = %g", l, p);
  }
  free(z);
  free(all);
  free(lane);
}
END_TEST

/* The KS helper itself: uniform data must fail, exact normal quantiles
 * must pass with a p-value near 1. */
START_TEST(test_ks_helper) {
  enum { N = 20000 };
  double *xs = malloc(N * sizeof *xs);
  ck_assert_ptr_nonnull(xs);
  for (int i = 0; i < N; i++) xs[i] = -2.0 + 4.0 * ((double)i + 0.5) / N;
  double p = tu_ks_normal_pvalue(xs, N);
  ck_assert_msg(p < 1e-6, "uniform data passed KS with p = %g", p);
  for (int i = 0; i < N; i++) xs[N - 1 - i] = gsl_cdf_ugaussian_Pinv(((double)i + 0.5) / N);
  p = tu_ks_normal_pvalue(xs, N);
  ck_assert_msg(p > 0.99, "exact normal quantiles gave KS p = %g", p);
  for (int i = 0; i < N; i++) /* N(0.05, 1): a shift of 7 standard errors */
    xs[i] = 0.05 + gsl_cdf_ugaussian_Pinv(((double)i + 0.5) / N);
  p = tu_ks_normal_pvalue(xs, N);
  ck_assert_msg(p < 1e-3, "shifted normal passed KS with p = %g", p);
  free(xs);
}
END_TEST

/* Pearson correlation of x[i] and y[i]. */
static double correlation(const float *x, const float *y, size_t n, size_t stride) {
  double mx = 0, my = 0;
  for (size_t i = 0; i < n; i++) {
    mx += x[i * stride];
    my += y[i * stride];
  }
  mx /= (double)n;
  my /= (double)n;
  double sxy = 0, sxx = 0, syy = 0;
  for (size_t i = 0; i < n; i++) {
    double a = x[i * stride] - mx, b = y[i * stride] - my;
    sxy += a * b;
    sxx += a * a;
    syy += b * b;
  }
  return sxy / sqrt(sxx * syy);
}

/* Draws at neighbouring counters are uncorrelated: adjacent elements
 * (same and different Philox block), adjacent samples, adjacent steps, and
 * the two streams of one seed.  Under independence the correlation of n
 * pairs has standard error 1/sqrt(n); the bound is 5/sqrt(n).  Squares are
 * also checked, since Box-Muller pairs share a radius. */
START_TEST(test_normal_neighbours_independent) {
  uint64_t seed = test_seed("normal_neighbours", 15);
  uint32_t key[2], key1[2];
  pmm_rng_key(seed, 0, key);
  pmm_rng_key(seed, 1, key1);
  enum { ROWS = 100000, N = 8 };
  size_t total = (size_t)ROWS * N;
  float *a = malloc(total * sizeof *a), *b = malloc(total * sizeof *b);
  float *c = malloc(total * sizeof *c), *sq = malloc(total * sizeof *sq);
  ck_assert(a && b && c && sq);
  pmm_rng_normal_block(key, 0, ROWS, 0, N, a);
  pmm_rng_normal_block(key, 0, ROWS, 1, N, b);  /* next step */
  pmm_rng_normal_block(key1, 0, ROWS, 0, N, c); /* other stream */
  for (size_t i = 0; i < total; i++) sq[i] = a[i] * a[i];
  double bound = 5.0 / sqrt((double)ROWS);
  struct {
    const char *what;
    const float *x, *y;
    size_t stride, n;
  } pairs[] = {
      {"elements 0,1", a, a + 1, N, ROWS},
      {"elements 1,2", a + 1, a + 2, N, ROWS},
      {"elements 3,4 (next Philox block)", a + 3, a + 4, N, ROWS},
      {"squares of elements 0,1", sq, sq + 1, N, ROWS},
      {"squares of elements 1,2", sq + 1, sq + 2, N, ROWS},
      {"samples r,r+1", a, a + N, N, ROWS - 1},
      {"steps 0,1", a, b, 1, total},
      {"streams 0,1", a, c, 1, total},
  };
  for (size_t i = 0; i < sizeof pairs / sizeof pairs[0]; i++) {
    double r = correlation(pairs[i].x, pairs[i].y, pairs[i].n, pairs[i].stride);
    fprintf(stderr, "normal_neighbours: %s: corr=%g (bound %g)\n", pairs[i].what, r, bound);
    ck_assert_msg(fabs(r) < bound, "%s: correlation %g", pairs[i].what, r);
  }
  free(a);
  free(b);
  free(c);
  free(sq);
}
END_TEST

int main(void) {
  Suite *s = suite_create("rng");
  TCase *tc = tcase_create("rng");
  tcase_set_timeout(tc, 120);
  tcase_add_test(tc, test_philox_known_answers);
  tcase_add_test(tc, test_philox_avalanche);
  tcase_add_test(tc, test_rng_key);
  tcase_add_test(tc, test_uniform_from_u32);
  tcase_add_test(tc, test_uniform_chisq);
  tcase_add_test(tc, test_normal_counter_layout);
  tcase_add_test(tc, test_normal_block_independent_of_shape);
  tcase_add_test(tc, test_normal_moments);
  tcase_add_test(tc, test_normal_ks);
  tcase_add_test(tc, test_ks_helper);
  tcase_add_test(tc, test_normal_neighbours_independent);
  suite_add_tcase(s, tc);
  int failed = tu_run_suite(s);
  return failed == 0 ? 0 : 1;
}
