/*
 * test_atoms.c - exact posterior means over finite atom sets
 * (pmm_kernel_exact_atoms_{normal,gamma,categorical}).
 *
 * References are brute force: each atom's likelihood as a plain product of
 * densities (GSL's Gaussian and Poisson pmf, with every constant the kernels
 * drop left in, including A for the categorical pair), normalised in double
 * without logarithms.  That only works for moderate statistics; large
 * counts are checked against closed-form log-odds of two atoms instead.
 * Random instances use a fixed, printed seed (PMMC_TEST_SEED overrides).
 * Tolerance: |got - want| <= 1e-5 (1 + |want|) (the outputs are floats).
 */
#include <check.h>
#include <gsl/gsl_randist.h>
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

/* xorshift64*: test data only. */
static double rand_unit(uint64_t *s) {
  *s ^= *s >> 12;
  *s ^= *s << 25;
  *s ^= *s >> 27;
  return (double)((*s * 0x2545F4914F6CDD1DULL) >> 11) * 0x1p-53;
}

/* Knuth's multiplication method, for the small means of the test data. */
static double rand_poisson(uint64_t *s, double mu) {
  double limit = exp(-mu), prod = rand_unit(s);
  double k = 0.0;
  while (prod > limit) {
    prod *= rand_unit(s);
    k += 1.0;
  }
  return k;
}

static void assert_close(const float *got, const double *want, size_t n, const char *what) {
  for (size_t i = 0; i < n; i++)
    ck_assert_msg(fabs(got[i] - want[i]) <= 1e-5 * (1.0 + fabs(want[i])),
                  "%s: element %zu is %.9g, want %.9g", what, i, got[i], want[i]);
}

/* An atom set with owned storage. */
typedef struct test_atoms {
  pmm_atoms a;
  float *value, *log_weight;
  double *weight; /* the same weights, linear, normalised */
} test_atoms;

static void atoms_make(test_atoms *t, uint64_t k, uint64_t dim, uint64_t vocab, uint64_t *rng,
                       double scale) {
  t->value = malloc(k * dim * sizeof(float));
  t->log_weight = malloc(k * sizeof(float));
  t->weight = malloc(k * sizeof(double));
  ck_assert(t->value && t->log_weight && t->weight);
  double total = 0.0;
  for (uint64_t i = 0; i < k; i++) {
    t->log_weight[i] = (float)(2.0 * rand_unit(rng) - 1.0);
    total += exp((double)t->log_weight[i]);
    for (uint64_t d = 0; d < dim; d++) {
      double u = rand_unit(rng);
      t->value[i * dim + d] = vocab ? (float)floor(u * (double)vocab) : (float)(scale * u);
    }
  }
  for (uint64_t i = 0; i < k; i++) t->weight[i] = exp((double)t->log_weight[i]) / total;
  t->a = (pmm_atoms){k, dim, vocab, t->value, t->log_weight};
}

static void atoms_free(test_atoms *t) {
  free(t->value);
  free(t->log_weight);
  free(t->weight);
}

/* sum_k lik[k] w_k x_k / sum_k lik[k] w_k, in double. */
static void weighted_mean(const test_atoms *t, const double *lik, double *out) {
  double norm = 0.0;
  for (uint64_t k = 0; k < t->a.k; k++) norm += lik[k] * t->weight[k];
  for (uint64_t d = 0; d < t->a.dim; d++) {
    double acc = 0.0;
    for (uint64_t k = 0; k < t->a.k; k++) acc += lik[k] * t->weight[k] * t->value[k * t->a.dim + d];
    out[d] = acc / norm;
  }
}

/* ---- normal ------------------------------------------------------------ */

/* Brute force: z from mu, Gaussian density of z around each atom. */
static void normal_reference(const test_atoms *t, double m0, double lambda0, double A,
                             const float *mu, double *out) {
  double *lik = malloc(t->a.k * sizeof *lik);
  ck_assert_ptr_nonnull(lik);
  for (uint64_t k = 0; k < t->a.k; k++) {
    lik[k] = 1.0;
    for (uint64_t d = 0; d < t->a.dim; d++) {
      double z = ((lambda0 + A) * mu[d] - lambda0 * m0) / A;
      lik[k] *= gsl_ran_gaussian_pdf(z - t->value[k * t->a.dim + d], 1.0 / sqrt(A));
    }
  }
  weighted_mean(t, lik, out);
  free(lik);
}

/* mu of a sample whose z lies near atom `near`. */
static void normal_mu(const test_atoms *t, uint64_t near, double m0, double lambda0, double A,
                      uint64_t *rng, float *mu) {
  for (uint64_t d = 0; d < t->a.dim; d++) {
    double z = t->value[near * t->a.dim + d] + (rand_unit(rng) - 0.5) * 2.0 / sqrt(A);
    mu[d] = (float)((lambda0 * m0 + A * z) / (lambda0 + A));
  }
}

static void check_normal_case(uint64_t *rng, uint64_t k, uint64_t dim, double A, size_t rows) {
  test_atoms t;
  atoms_make(&t, k, dim, 0, rng, 2.0);
  const double m0 = 0.3, lambda0 = 1.5;
  float *mu = malloc(rows * dim * sizeof(float)), *got = malloc(rows * dim * sizeof(float));
  double *want = malloc(dim * sizeof(double));
  ck_assert(mu && got && want);
  for (size_t r = 0; r < rows; r++)
    normal_mu(&t, (uint64_t)(rand_unit(rng) * (double)k), m0, lambda0, A, rng, mu + r * dim);
  pmm_kernel_exact_atoms_normal(&t.a, m0, lambda0, A, rows, mu, got);
  char what[96];
  snprintf(what, sizeof what, "normal K=%llu D=%llu A=%g", (unsigned long long)k,
           (unsigned long long)dim, A);
  for (size_t r = 0; r < rows; r++) {
    normal_reference(&t, m0, lambda0, A, mu + r * dim, want);
    assert_close(got + r * dim, want, dim, what);
  }
  free(mu);
  free(got);
  free(want);
  atoms_free(&t);
}

START_TEST(test_atoms_normal_reference) {
  uint64_t rng = test_seed("atoms_normal_reference", 11) | 1;
  const double As[] = {0.3, 2.0, 15.0};
  for (int i = 0; i < 3; i++) check_normal_case(&rng, 7, 3, As[i], 20);
  /* Several output chunks (D > 64), with and without the log-posterior
   * cache (K above 2048 recomputes). */
  check_normal_case(&rng, 2000, 70, 0.02, 3);
  check_normal_case(&rng, 10000, 70, 0.02, 2);
}
END_TEST

/* ---- gamma ------------------------------------------------------------- */

static double poisson_pmf(double s, double rate) {
  if (rate == 0.0) return s == 0.0 ? 1.0 : 0.0;
  return gsl_ran_poisson_pdf((unsigned)s, rate);
}

static void gamma_reference(const test_atoms *t, double A, const double *S, double *out) {
  double *lik = malloc(t->a.k * sizeof *lik);
  ck_assert_ptr_nonnull(lik);
  for (uint64_t k = 0; k < t->a.k; k++) {
    lik[k] = 1.0;
    for (uint64_t d = 0; d < t->a.dim; d++)
      lik[k] *= poisson_pmf(S[d], A * t->value[k * t->a.dim + d]);
  }
  weighted_mean(t, lik, out);
  free(lik);
}

START_TEST(test_atoms_gamma_reference) {
  uint64_t rng = test_seed("atoms_gamma_reference", 12) | 1;
  const double a0 = 0.7, b0 = 1.3, As[] = {0.5, 3.0, 12.0};
  test_atoms t;
  atoms_make(&t, 6, 4, 0, &rng, 3.0);
  /* an atom with a zero coordinate: impossible whenever S there is > 0 */
  t.value[2 * 4 + 1] = 0.0f;
  for (int i = 0; i < 3; i++) {
    double A = As[i];
    for (int r = 0; r < 30; r++) {
      uint64_t near = (uint64_t)(rand_unit(&rng) * 6.0);
      double S[4];
      float mu[4], got[4];
      for (int d = 0; d < 4; d++) {
        S[d] = rand_poisson(&rng, A * t.value[near * 4 + d]);
        mu[d] = (float)((a0 + S[d]) / (b0 + A));
      }
      pmm_kernel_exact_atoms_gamma(&t.a, a0, b0, A, 1, mu, got);
      double want[4];
      gamma_reference(&t, A, S, want);
      char what[64];
      snprintf(what, sizeof what, "gamma A=%g row %d", A, r);
      assert_close(got, want, 4, what);
    }
  }
  atoms_free(&t);
}
END_TEST

/* ---- categorical ----------------------------------------------------- */

/* Brute force over all L x K Poisson counts, A and all. */
static void categorical_reference(const test_atoms *t, double eps, double A, const float *counts,
                                  double *p) {
  uint64_t L = t->a.dim, K = t->a.vocab;
  double *lik = malloc(t->a.k * sizeof *lik);
  ck_assert_ptr_nonnull(lik);
  double norm = 0.0;
  for (uint64_t k = 0; k < t->a.k; k++) {
    lik[k] = 1.0;
    for (uint64_t l = 0; l < L; l++) {
      for (uint64_t c = 0; c < K; c++) {
        double theta = eps / (double)K + (c == (uint64_t)t->value[k * L + l] ? 1.0 - eps : 0.0);
        lik[k] *= poisson_pmf(counts[l * K + c], A * theta);
      }
    }
    norm += lik[k] * t->weight[k];
  }
  for (uint64_t j = 0; j < L * K; j++) p[j] = 0.0;
  for (uint64_t k = 0; k < t->a.k; k++) {
    for (uint64_t l = 0; l < L; l++)
      p[l * K + (uint64_t)t->value[k * L + l]] += lik[k] * t->weight[k] / norm;
  }
  free(lik);
}

START_TEST(test_atoms_categorical_reference) {
  uint64_t rng = test_seed("atoms_categorical_reference", 13) | 1;
  enum { K = 5, L = 4, N = 9 };
  test_atoms t;
  atoms_make(&t, N, L, K, &rng, 0.0);
  const double epss[] = {0.0, 0.3, 0.9}, As[] = {0.4, 2.0, 8.0};
  for (int e = 0; e < 3; e++) {
    for (int i = 0; i < 3; i++) {
      for (int r = 0; r < 20; r++) {
        uint64_t near = (uint64_t)(rand_unit(&rng) * N);
        float counts[L * K], got[L * K];
        for (int l = 0; l < L; l++) {
          for (int c = 0; c < K; c++) {
            double theta = epss[e] / K + (c == (int)t.value[near * L + l] ? 1.0 - epss[e] : 0.0);
            counts[l * K + c] = (float)rand_poisson(&rng, As[i] * theta);
          }
        }
        pmm_kernel_exact_atoms_categorical(&t.a, epss[e], 1, counts, got);
        double want[L * K];
        categorical_reference(&t, epss[e], As[i], counts, want);
        char what[64];
        snprintf(what, sizeof what, "categorical eps=%g A=%g row %d", epss[e], As[i], r);
        assert_close(got, want, L * K, what);
        /* every position's probabilities sum to 1 */
        for (int l = 0; l < L; l++) {
          double sum = 0.0;
          for (int c = 0; c < K; c++) sum += got[l * K + c];
          ck_assert_msg(fabs(sum - 1.0) < 1e-5, "%s: position %d sums to %.9g", what, l, sum);
        }
      }
    }
  }
  atoms_free(&t);
}
END_TEST

/* A vocabulary above the 64-cell output chunk, many positions, and more
 * atoms than the cache: against the same brute force. */
START_TEST(test_atoms_categorical_wide) {
  uint64_t rng = test_seed("atoms_categorical_wide", 14) | 1;
  enum { K = 70, L = 3 };
  const uint64_t sizes[] = {40, 5000};
  for (int s = 0; s < 2; s++) {
    test_atoms t;
    atoms_make(&t, sizes[s], L, K, &rng, 0.0);
    float counts[L * K], got[L * K];
    double want[L * K];
    for (int j = 0; j < L * K; j++) counts[j] = (float)rand_poisson(&rng, 0.05);
    pmm_kernel_exact_atoms_categorical(&t.a, 0.5, 1, counts, got);
    categorical_reference(&t, 0.5, 2.0, counts, want);
    assert_close(got, want, L * K, "categorical K=70");
    atoms_free(&t);
  }
}
END_TEST

/* ---- limits ------------------------------------------------------------ */

START_TEST(test_atoms_prior_mean) {
  uint64_t rng = test_seed("atoms_prior_mean", 15) | 1;
  test_atoms t;
  atoms_make(&t, 9, 5, 0, &rng, 4.0);
  double *ones = malloc(9 * sizeof *ones), want[5];
  ck_assert_ptr_nonnull(ones);
  for (int k = 0; k < 9; k++) ones[k] = 1.0;
  weighted_mean(&t, ones, want);
  float mu[2 * 5], got[2 * 5];
  for (int i = 0; i < 10; i++) mu[i] = (float)(i * 0.37 - 1.0);
  pmm_kernel_exact_atoms_normal(&t.a, 0.2, 1.0, 0.0, 2, mu, got);
  assert_close(got, want, 5, "normal at A = 0");
  assert_close(got + 5, want, 5, "normal at A = 0, row 2");
  pmm_kernel_exact_atoms_gamma(&t.a, 1.0, 1.0, 0.0, 2, mu, got);
  assert_close(got + 5, want, 5, "gamma at A = 0");
  atoms_free(&t);
  free(ones);

  /* categorical without counts: the prior marginal of each position */
  test_atoms c;
  atoms_make(&c, 6, 3, 4, &rng, 0.0);
  float counts[12] = {0}, p[12];
  double pw[12] = {0};
  for (int k = 0; k < 6; k++) {
    for (int l = 0; l < 3; l++) pw[l * 4 + (int)c.value[k * 3 + l]] += c.weight[k];
  }
  pmm_kernel_exact_atoms_categorical(&c.a, 0.0, 1, counts, p);
  assert_close(p, pw, 12, "categorical without counts, eps 0");
  pmm_kernel_exact_atoms_categorical(&c.a, 0.2, 1, counts, p);
  assert_close(p, pw, 12, "categorical without counts, eps 0.2");
  atoms_free(&c);
}
END_TEST

/* Impossible atoms get weight 0; when all are impossible the prior
 * weights are used; weights of 0 (log -inf) never count. */
START_TEST(test_atoms_impossible) {
  /* gamma: atom 0 is 0 where a count was seen */
  float v[3 * 2] = {0.0f, 1.0f, 3.0f, 5.0f, 2.0f, 0.0f};
  float lw[3] = {logf(0.25f), logf(0.5f), logf(0.25f)};
  pmm_atoms a = {3, 2, 0, v, lw};
  const double a0 = 1.0, b0 = 1.0, A = 4.0;
  float mu[2] = {(float)((a0 + 2.0) / (b0 + A)), (float)((a0 + 0.0) / (b0 + A))}, got[2];
  pmm_kernel_exact_atoms_gamma(&a, a0, b0, A, 1, mu, got);
  /* S = (2, 0): atom 0 (x_0 = 0, S_0 = 2) is impossible; atom 2's zero
   * meets S_1 = 0 and is fine.  The posterior is over atoms 1 and 2. */
  double l1 = 0.5 * gsl_ran_poisson_pdf(2, A * 3.0) * gsl_ran_poisson_pdf(0, A * 5.0);
  double l2 = 0.25 * gsl_ran_poisson_pdf(2, A * 2.0) * 1.0;
  double want[2] = {(3.0 * l1 + 2.0 * l2) / (l1 + l2), (5.0 * l1) / (l1 + l2)};
  assert_close(got, want, 2, "gamma, one impossible atom");
  /* S = (0, 1): atom 2 (x_1 = 0) impossible, atom 0 (x_0 = 0, S_0 = 0) fine */
  mu[0] = (float)(a0 / (b0 + A));
  mu[1] = (float)((a0 + 1.0) / (b0 + A));
  pmm_kernel_exact_atoms_gamma(&a, a0, b0, A, 1, mu, got);
  l1 = 0.5 * gsl_ran_poisson_pdf(0, A * 3.0) * gsl_ran_poisson_pdf(1, A * 5.0);
  double l0 = 0.25 * 1.0 * gsl_ran_poisson_pdf(1, A * 1.0);
  double want2[2] = {3.0 * l1 / (l0 + l1), (1.0 * l0 + 5.0 * l1) / (l0 + l1)};
  assert_close(got, want2, 2, "gamma, S_0 = 0 on a zero coordinate");

  /* every atom impossible: the atom leaving fewer counts unexplained wins
   * (atom 1 misses S_1 = 2, atom 0 misses S_0 = 3) */
  float v2[2 * 2] = {0.0f, 1.0f, 4.0f, 0.0f};
  float lw2[2] = {logf(0.25f), logf(0.75f)};
  pmm_atoms b = {2, 2, 0, v2, lw2};
  mu[0] = (float)((a0 + 3.0) / (b0 + A));
  mu[1] = (float)((a0 + 2.0) / (b0 + A));
  pmm_kernel_exact_atoms_gamma(&b, a0, b0, A, 1, mu, got);
  double fewest[2] = {4.0, 0.0};
  assert_close(got, fewest, 2, "gamma, every atom impossible: fewest misses");
  /* a tie (2 missed counts each): weights times the rest of the likelihood */
  mu[0] = (float)((a0 + 2.0) / (b0 + A));
  pmm_kernel_exact_atoms_gamma(&b, a0, b0, A, 1, mu, got);
  double t0 = 0.25 * gsl_ran_poisson_pdf(2, A * 1.0), t1 = 0.75 * gsl_ran_poisson_pdf(2, A * 4.0);
  double tie[2] = {4.0 * t1 / (t0 + t1), 1.0 * t0 / (t0 + t1)};
  assert_close(got, tie, 2, "gamma, every atom impossible, tied misses");

  /* categorical, eps 0 (K = 4, L = 2; atom 2 has weight 0): a count on
   * symbol 2 at position 0 rules out every atom without it there */
  float cv[3 * 2] = {0, 1, 2, 1, 2, 3};
  float clw[3] = {0.0f, logf(3.0f), -INFINITY};
  pmm_atoms c = {3, 2, 4, cv, clw};
  float counts[8] = {0, 0, 7, 0, 0, 0, 0, 0}, p[8];
  pmm_kernel_exact_atoms_categorical(&c, 0.0, 1, counts, p);
  double only1[8] = {0, 0, 1, 0, 0, 1, 0, 0};
  assert_close(p, only1, 8, "categorical eps 0, one atom left");
  /* counts on two symbols at one position: every atom impossible; atom 1
   * misses 1 count, atom 0 misses 7 */
  counts[0] = 1.0f;
  pmm_kernel_exact_atoms_categorical(&c, 0.0, 1, counts, p);
  assert_close(p, only1, 8, "categorical eps 0, every atom impossible: fewest misses");
  /* the same ranking as a tiny smoothing: the eps -> 0+ limit */
  pmm_kernel_exact_atoms_categorical(&c, 1e-6, 1, counts, p);
  assert_close(p, only1, 8, "categorical eps 1e-6, same counts");
  /* only the weight-0 atom fits: atoms 0 and 1 tie (5 misses each) and
   * share the mass by their weights; atom 2 never appears */
  float c3[8] = {0, 0, 0, 0, 0, 0, 0, 5};
  pmm_kernel_exact_atoms_categorical(&c, 0.0, 1, c3, p);
  double prior_p[8] = {0.25, 0, 0.75, 0, 0, 1.0, 0, 0};
  assert_close(p, prior_p, 8, "categorical eps 0, only a zero-weight atom fits");

  /* undefined statistics (NaN) give the prior mean; all weights 0 give the
   * plain mean */
  float nan_mu[2] = {NAN, 1.0f};
  pmm_kernel_exact_atoms_normal(&b, 0.0, 1.0, 2.0, 1, nan_mu, got);
  double prior[2] = {3.0, 0.25};
  assert_close(got, prior, 2, "normal, NaN mu: prior mean");
  float zero_w[2] = {-INFINITY, -INFINITY};
  pmm_atoms z = {2, 2, 0, v2, zero_w};
  pmm_kernel_exact_atoms_normal(&z, 0.0, 1.0, 2.0, 1, nan_mu, got);
  double plain[2] = {2.0, 0.5};
  assert_close(got, plain, 2, "normal, all weights 0: plain mean");
}
END_TEST

/* Counts near 1e7 (and A = 2^23): two atoms whose log-odds is O(1)
 * although each log-likelihood is ~1e8; the kernels must get the odds. */
START_TEST(test_atoms_large_counts) {
  /* gamma: b0 + A = 2^23 makes mu = (a0 + S) / 2^23 exact in float */
  const double a0 = 1.0, b0 = 0.5, A = 8388608.0 - 0.5;
  float v[2 * 2] = {1.0f, 1.0f, 1.0001f, 2.0f};
  float lw[2] = {0.0f, 0.0f};
  pmm_atoms a = {2, 2, 0, v, lw};
  double S0 = floor(A * 1.00005), S1 = floor(A / log(2.0)) + 1.0;
  float mu[2] = {(float)((a0 + S0) / (b0 + A)), (float)((a0 + S1) / (b0 + A))}, got[2];
  ck_assert(S0 < 16777216.0 && S1 < 16777216.0);
  double x1 = (double)v[2];
  double odds = S0 * log(x1) - A * (x1 - 1.0) + S1 * log(2.0) - A * 1.0;
  double r1 = 1.0 / (1.0 + exp(-odds));
  fprintf(stderr, "gamma large counts: S = (%.0f, %.0f), log-odds %.6f\n", S0, S1, odds);
  ck_assert(fabs(odds) < 5.0);
  pmm_kernel_exact_atoms_gamma(&a, a0, b0, A, 1, mu, got);
  double want[2] = {(1.0 - r1) * 1.0 + r1 * x1, 1.0 + r1};
  assert_close(got, want, 2, "gamma, counts ~1e7");

  /* normal at A = 1e7 */
  const double An = 1e7;
  float nv[2 * 2] = {0.0f, -1.0f, 0.001f, 1.0f};
  pmm_atoms n = {2, 2, 0, nv, lw};
  float nmu[2] = {(float)(An * 0.0005 / (1.0 + An)), 0.0f};
  double z0 = (1.0 + An) * nmu[0] / An, z1 = (1.0 + An) * nmu[1] / An;
  double nodds =
      -0.5 * An *
      ((z0 - nv[2]) * (z0 - nv[2]) - z0 * z0 + (z1 - 1.0) * (z1 - 1.0) - (z1 + 1.0) * (z1 + 1.0));
  double nr1 = 1.0 / (1.0 + exp(-nodds));
  pmm_kernel_exact_atoms_normal(&n, 0.0, 1.0, An, 1, nmu, got);
  double nwant[2] = {nr1 * nv[2], -1.0 + 2.0 * nr1};
  fprintf(stderr, "normal A=1e7: log-odds %.6f\n", nodds);
  assert_close(got, nwant, 2, "normal, A = 1e7");

  /* categorical: 1e7 counts on both atoms' symbols, one more on atom 1's */
  float cv[2 * 2] = {0, 1, 0, 2};
  pmm_atoms c = {2, 2, 3, cv, lw};
  float counts[6] = {2e7f, 0, 0, 0, 1e7f, 1e7f + 1.0f}, p[6];
  const double eps = 0.3;
  double gain = log(1.0 + 3.0 * (1.0 - eps) / eps);
  double cr1 = 1.0 / (1.0 + exp(-gain));
  pmm_kernel_exact_atoms_categorical(&c, eps, 1, counts, p);
  double cwant[6] = {1.0, 0.0, 0.0, 0.0, 1.0 - cr1, cr1};
  assert_close(p, cwant, 6, "categorical, counts ~1e7");
  ck_assert(isfinite(p[4]) && isfinite(p[5]));

  /* 10^4 atoms at large A: finite, and the nearest atom dominates */
  uint64_t rng = test_seed("atoms_large_counts", 16) | 1;
  test_atoms t;
  atoms_make(&t, 10000, 2, 0, &rng, 100.0);
  float one[2];
  normal_mu(&t, 1234, 0.0, 1.0, 1e7, &rng, one);
  pmm_kernel_exact_atoms_normal(&t.a, 0.0, 1.0, 1e7, 1, one, got);
  ck_assert_msg(fabs(got[0] - t.value[1234 * 2]) < 1e-3 &&
                    fabs(got[1] - t.value[1234 * 2 + 1]) < 1e-3,
                "10^4 atoms at A = 1e7: (%g, %g), atom (%g, %g)", got[0], got[1], t.value[1234 * 2],
                t.value[1234 * 2 + 1]);
  atoms_free(&t);
}
END_TEST

int main(void) {
  Suite *s = suite_create("atoms");
  TCase *tc = tcase_create("atoms");
  tcase_set_timeout(tc, 120);
  tcase_add_test(tc, test_atoms_normal_reference);
  tcase_add_test(tc, test_atoms_gamma_reference);
  tcase_add_test(tc, test_atoms_categorical_reference);
  tcase_add_test(tc, test_atoms_categorical_wide);
  tcase_add_test(tc, test_atoms_prior_mean);
  tcase_add_test(tc, test_atoms_impossible);
  tcase_add_test(tc, test_atoms_large_counts);
  suite_add_tcase(s, tc);
  int failed = tu_run_suite(s);
  return failed == 0 ? 0 : 1;
}
