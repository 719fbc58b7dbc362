/*
 * test_kernels.c - activations, dense, sinusoidal, LayerNorm, softmax,
 * argmax and the exact Gaussian-mixture posterior mean, each against a
 * naive double-precision reference written here.
 *
 * Tolerances: activations agree with the float formulas of kernels.c bit
 * for bit (that is the contract with generated code) and with exact double
 * formulas within 2e-6 relative; dense within 1e-5 of sum |x w| (float
 * GEMM accumulation); sinusoidal within 1e-6 absolute; LayerNorm within
 * 2e-6 relative to the output scale; exact_gmm within 1e-6 relative to the
 * data scale (the kernel rounds a double result to float once); softmax
 * within 1e-6 relative of exp(x_i) / sum exp(x) in double.
 */
#include <check.h>
#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tests/util/testutil.h"

/* A small deterministic generator for test inputs (not the RNG under
 * test): xorshift64*, uniform in [lo, hi). */
static uint64_t rng_state = 0x9E3779B97F4A7C15ULL;

static double uniform(double lo, double hi) {
  rng_state ^= rng_state >> 12;
  rng_state ^= rng_state << 25;
  rng_state ^= rng_state >> 27;
  uint64_t bits = rng_state * 0x2545F4914F6CDD1DULL;
  return lo + (hi - lo) * (double)(bits >> 11) * (1.0 / 9007199254740992.0);
}

static void fill(float *x, size_t n, double lo, double hi) {
  for (size_t i = 0; i < n; i++) x[i] = (float)uniform(lo, hi);
}

/* ---- activations -------------------------------------------------------- */

START_TEST(test_act_names) {
  static const char *const want[PMM_ACT_COUNT] = {"none", "relu",    "silu",     "gelu",
                                                  "tanh", "sigmoid", "softplus", "gelu-tanh"};
  for (int a = 0; a < PMM_ACT_COUNT; a++) ck_assert_str_eq(pmm_act_name((pmm_act)a), want[a]);
  ck_assert_ptr_null(pmm_act_name(PMM_ACT_COUNT));
  ck_assert_ptr_null(pmm_act_name((pmm_act)-1));
}
END_TEST

/* The float formula generated code must reproduce, written out again (the
 * exponential is pmm_exp_f32, tested against expf in test_fastmath.c). */
static float act_contract(pmm_act act, float x) {
  switch (act) {
  case PMM_ACT_RELU: return x > 0.0f ? x : 0.0f;
  case PMM_ACT_SILU: return x / (1.0f + pmm_exp_f32(-x));
  case PMM_ACT_GELU: return 0.5f * x * (1.0f + erff(x * 0.70710678f));
  case PMM_ACT_TANH: return tanhf(x);
  case PMM_ACT_SIGMOID: return 1.0f / (1.0f + pmm_exp_f32(-x));
  case PMM_ACT_SOFTPLUS: return x > 20.0f ? x : log1pf(pmm_exp_f32(x));
  case PMM_ACT_GELU_TANH: {
    float x3 = (x * x) * x;
    float z = 1.5957691216f * (x + 0.044715f * x3);
    return x / (1.0f + pmm_exp_f32(-z));
  }
  default: return x;
  }
}

/* The mathematical function, in double. */
static double act_exact(pmm_act act, double x) {
  switch (act) {
  case PMM_ACT_RELU: return x > 0 ? x : 0;
  case PMM_ACT_SILU: return x / (1.0 + exp(-x));
  case PMM_ACT_GELU: return 0.5 * x * (1.0 + erf(x / sqrt(2.0)));
  case PMM_ACT_TANH: return tanh(x);
  case PMM_ACT_SIGMOID: return 1.0 / (1.0 + exp(-x));
  case PMM_ACT_SOFTPLUS: return x > 20 ? x : log1p(exp(x));
  case PMM_ACT_GELU_TANH:
    return 0.5 * x * (1.0 + tanh(sqrt(2.0 / M_PI) * (x + 0.044715 * x * x * x)));
  default: return x;
  }
}

START_TEST(test_act_values) {
  for (int a = 0; a < PMM_ACT_COUNT; a++) {
    for (int i = -4000; i <= 4000; i++) {
      float x = (float)i * 0.01f; /* [-40, 40] */
      float got = pmm_act_eval((pmm_act)a, x);
      float contract = act_contract((pmm_act)a, x);
      ck_assert_msg(memcmp(&got, &contract, sizeof got) == 0,
                    "%s(%.9g) = %.9g, contract formula gives %.9g", pmm_act_name((pmm_act)a), x,
                    got, contract);
      double ref = act_exact((pmm_act)a, x);
      double tol = 2e-6 * fabs(ref) + 1e-37;
      /* silu and gelu of large negative x are tiny differences of large
       * numbers in float: absolute accuracy relative to |x| is what the
       * float formula can give. */
      if (a == PMM_ACT_SILU || a == PMM_ACT_GELU || a == PMM_ACT_GELU_TANH) tol += 2e-7 * fabs(x);
      ck_assert_msg(fabs(got - ref) <= tol, "%s(%.9g) = %.9g, exact %.17g",
                    pmm_act_name((pmm_act)a), x, got, ref);
    }
  }
  ck_assert(pmm_act_eval(PMM_ACT_SOFTPLUS, 25.0f) == 25.0f);
  ck_assert(pmm_act_eval(PMM_ACT_RELU, -0.5f) == 0.0f);
  ck_assert(pmm_act_eval(PMM_ACT_SIGMOID, 0.0f) == 0.5f);
}
END_TEST

START_TEST(test_kernel_act) {
  enum { N = 257 };
  float x[N], y[N];
  fill(x, N, -6, 6);
  for (int a = 0; a < PMM_ACT_COUNT; a++) {
    pmm_kernel_act((pmm_act)a, N, x, y);
    for (int i = 0; i < N; i++) ck_assert(y[i] == pmm_act_eval((pmm_act)a, x[i]));
    float z[N];
    memcpy(z, x, sizeof z);
    pmm_kernel_act((pmm_act)a, N, z, z); /* in place */
    ck_assert(memcmp(z, y, sizeof z) == 0);
  }
}
END_TEST

/* ---- dense -------------------------------------------------------------- */

static void check_dense(size_t rows, size_t in, size_t out, int with_bias) {
  float *x = malloc((rows * in + 1) * sizeof *x), *w = malloc((out * in + 1) * sizeof *w);
  float *b = malloc(out * sizeof *b), *y = malloc(rows * out * sizeof *y);
  ck_assert(x && w && b && y);
  fill(x, rows * in, -2, 2);
  fill(w, out * in, -1, 1);
  fill(b, out, -3, 3);
  pmm_kernel_dense(rows, in, out, x, w, with_bias ? b : NULL, y);
  for (size_t r = 0; r < rows; r++) {
    for (size_t o = 0; o < out; o++) {
      double acc = with_bias ? b[o] : 0.0, mag = fabs(acc);
      for (size_t i = 0; i < in; i++) {
        acc += (double)x[r * in + i] * w[o * in + i];
        mag += fabs((double)x[r * in + i] * w[o * in + i]);
      }
      ck_assert_msg(fabs(y[r * out + o] - acc) <= 1e-5 * mag + 1e-30,
                    "dense %zux%zu->%zu: y[%zu][%zu] = %.9g, reference %.9g", rows, in, out, r, o,
                    y[r * out + o], acc);
    }
  }
  free(x);
  free(w);
  free(b);
  free(y);
}

START_TEST(test_dense) {
  check_dense(1, 1, 1, 1);
  check_dense(7, 13, 5, 1);
  check_dense(7, 13, 5, 0);
  check_dense(64, 34, 256, 1);
  check_dense(33, 256, 2, 1);
  check_dense(3, 0, 4, 1); /* no inputs: the bias */
  check_dense(3, 0, 4, 0);
}
END_TEST

/* ---- sinusoidal and LayerNorm ------------------------------------------- */

START_TEST(test_sinusoidal) {
  enum { ROWS = 5, DIM = 32 };
  float t[ROWS] = {0.0f, 0.01f, 1.0f, 4.6f, 9.21f}, y[ROWS * DIM], yu[ROWS * DIM];
  pmm_kernel_sinusoidal(ROWS, DIM, t, 0, 0, y);
  pmm_kernel_sinusoidal(ROWS, DIM, t + 3, 1, 0, yu);
  for (int r = 0; r < ROWS; r++) {
    for (int j = 0; j < DIM / 2; j++) {
      double f = pow(10000.0, -(double)j / (DIM / 2));
      ck_assert_msg(fabs(y[r * DIM + j] - sin(t[r] * f)) <= 1e-6, "sin r%d j%d", r, j);
      ck_assert_msg(fabs(y[r * DIM + DIM / 2 + j] - cos(t[r] * f)) <= 1e-6, "cos r%d j%d", r, j);
      ck_assert(yu[r * DIM + j] == y[3 * DIM + j]);
      ck_assert(yu[r * DIM + DIM / 2 + j] == y[3 * DIM + DIM / 2 + j]);
    }
  }
  ck_assert(y[0] == 0.0f && y[DIM / 2] == 1.0f); /* t = 0 */
}
END_TEST

static void check_layernorm(size_t rows, size_t n, double offset, int affine) {
  float *x = malloc(rows * n * sizeof *x), *y = malloc(rows * n * sizeof *y);
  float *g = malloc(n * sizeof *g), *b = malloc(n * sizeof *b);
  ck_assert(x && y && g && b);
  fill(x, rows * n, offset - 3, offset + 3);
  fill(g, n, 0.5, 1.5);
  fill(b, n, -1, 1);
  const float eps = 1e-5f;
  pmm_kernel_layernorm(rows, n, x, affine ? g : NULL, affine ? b : NULL, eps, y);
  for (size_t r = 0; r < rows; r++) {
    double mean = 0, var = 0;
    for (size_t i = 0; i < n; i++) mean += x[r * n + i];
    mean /= (double)n;
    for (size_t i = 0; i < n; i++) var += (x[r * n + i] - mean) * (x[r * n + i] - mean);
    var /= (double)n;
    for (size_t i = 0; i < n; i++) {
      double want = (x[r * n + i] - mean) / sqrt(var + eps);
      if (affine) want = want * g[i] + b[i];
      ck_assert_msg(fabs(y[r * n + i] - want) <= 2e-6 * (fabs(want) + 1.0),
                    "layernorm n=%zu offset=%g: y[%zu][%zu] = %.9g, reference %.9g", n, offset, r,
                    i, y[r * n + i], want);
    }
  }
  free(x);
  free(y);
  free(g);
  free(b);
}

START_TEST(test_layernorm) {
  check_layernorm(4, 64, 0.0, 1);
  check_layernorm(4, 64, 0.0, 0);
  check_layernorm(3, 7, 1000.0, 1); /* a large mean must not cancel the variance */
  check_layernorm(2, 1, 0.0, 1);    /* one feature: y = beta */
}
END_TEST

/* ---- exact Gaussian-mixture posterior mean ------------------------------ */

/* docs/pmm.md's formula, written directly: full densities in log space with
 * the 2 pi factors, max-shifted, then the weighted component posteriors. */
static void gmm_reference(const pmm_gmm *g, double m0, double lambda0, double A, const float *mu,
                          double *out) {
  size_t k = (size_t)g->k, dim = (size_t)g->dim;
  double *logp = malloc(k * sizeof *logp), *z = malloc(dim * sizeof *z);
  ck_assert(logp && z);
  double lambda = lambda0 + A, best = -INFINITY;
  for (size_t d = 0; d < dim; d++) z[d] = (lambda * mu[d] - lambda0 * m0) / A;
  for (size_t c = 0; c < k; c++) {
    double v = (double)g->std[c] * g->std[c] + 1.0 / A, q = 0;
    for (size_t d = 0; d < dim; d++)
      q += (z[d] - g->mean[c * dim + d]) * (z[d] - g->mean[c * dim + d]);
    logp[c] = log((double)g->weight[c]) - 0.5 * (double)dim * log(2 * M_PI * v) - 0.5 * q / v;
    if (logp[c] > best) best = logp[c];
  }
  double total = 0;
  for (size_t c = 0; c < k; c++) total += exp(logp[c] - best);
  for (size_t d = 0; d < dim; d++) {
    double acc = 0;
    for (size_t c = 0; c < k; c++) {
      double s2 = (double)g->std[c] * g->std[c], v = s2 + 1.0 / A;
      double m = g->mean[c * dim + d];
      acc += exp(logp[c] - best) / total * (m + s2 / v * (z[d] - m));
    }
    out[d] = acc;
  }
  free(logp);
  free(z);
}

typedef struct test_mixture {
  pmm_gmm g;
  float *weight, *mean, *std;
} test_mixture;

static void mixture_init(test_mixture *m, size_t k, size_t dim, double spread) {
  m->weight = malloc(k * sizeof(float));
  m->mean = malloc(k * dim * sizeof(float));
  m->std = malloc(k * sizeof(float));
  ck_assert(m->weight && m->mean && m->std);
  double total = 0;
  for (size_t c = 0; c < k; c++) {
    m->weight[c] = (float)uniform(0.2, 1.0);
    total += m->weight[c];
    m->std[c] = (float)uniform(0.05, 0.6);
  }
  for (size_t c = 0; c < k; c++) m->weight[c] = (float)(m->weight[c] / total);
  fill(m->mean, k * dim, -spread, spread);
  m->g = (pmm_gmm){k, dim, m->weight, m->mean, m->std};
}

static void mixture_free(test_mixture *m) {
  free(m->weight);
  free(m->mean);
  free(m->std);
}

static void check_gmm_against_reference(size_t k, size_t dim) {
  test_mixture m;
  mixture_init(&m, k, dim, 2.0);
  const double m0 = 0.3, lambda0 = 1.5;
  const double As[] = {1e-3, 0.05, 1.0, 30.0, 1e4};
  enum { ROWS = 6 };
  float *mu = malloc(ROWS * dim * sizeof *mu), *xhat = malloc(ROWS * dim * sizeof *xhat);
  double *want = malloc(dim * sizeof *want);
  ck_assert(mu && xhat && want);
  for (size_t ai = 0; ai < sizeof As / sizeof As[0]; ai++) {
    double A = As[ai];
    /* mu as the sampler would see it: mu = (lambda0 m0 + A z) / lambda
     * for z near the data. */
    for (size_t i = 0; i < ROWS * dim; i++)
      mu[i] = (float)((lambda0 * m0 + A * uniform(-2.5, 2.5)) / (lambda0 + A));
    pmm_kernel_exact_gmm(&m.g, m0, lambda0, A, ROWS, mu, xhat);
    for (size_t r = 0; r < ROWS; r++) {
      gmm_reference(&m.g, m0, lambda0, A, mu + r * dim, want);
      for (size_t d = 0; d < dim; d++)
        ck_assert_msg(fabs(xhat[r * dim + d] - want[d]) <= 1e-6 * (fabs(want[d]) + 1.0),
                      "k=%zu dim=%zu A=%g row %zu coord %zu: %.9g vs reference %.17g", k, dim, A, r,
                      d, xhat[r * dim + d], want[d]);
    }
  }
  free(mu);
  free(xhat);
  free(want);
  mixture_free(&m);
}

START_TEST(test_exact_gmm_reference) {
  check_gmm_against_reference(1, 1);
  check_gmm_against_reference(8, 2);
  check_gmm_against_reference(5, 3);
  check_gmm_against_reference(3, 100); /* wider than the kernel's 64-wide chunks */
  check_gmm_against_reference(70, 2);  /* more components than its 64-entry table */
  check_gmm_against_reference(130, 70);
}
END_TEST

START_TEST(test_exact_gmm_limits) {
  test_mixture m;
  mixture_init(&m, 6, 3, 2.0);
  double mix[3] = {0, 0, 0};
  for (size_t c = 0; c < 6; c++) {
    for (size_t d = 0; d < 3; d++) mix[d] += (double)m.weight[c] * m.mean[c * 3 + d];
  }
  const double m0 = -0.4, lambda0 = 2.0;
  float mu[2 * 3] = {0.7f, -1.2f, 3.0f, 0.1f, 0.2f, 0.3f}, xhat[2 * 3];

  /* A = 0: the mixture mean, whatever mu is. */
  pmm_kernel_exact_gmm(&m.g, m0, lambda0, 0.0, 2, mu, xhat);
  for (size_t i = 0; i < 6; i++)
    ck_assert_msg(fabs(xhat[i] - mix[i % 3]) <= 1e-6, "A=0 coord %zu: %.9g vs %.9g", i, xhat[i],
                  mix[i % 3]);

  /* A -> 0 with mu at the prior mean (where mu_0 starts): continuous. */
  float at_prior[3] = {(float)m0, (float)m0, (float)m0};
  pmm_kernel_exact_gmm(&m.g, m0, lambda0, 1e-9, 1, at_prior, xhat);
  for (size_t d = 0; d < 3; d++)
    ck_assert_msg(fabs(xhat[d] - mix[d]) <= 1e-5, "A=1e-9 coord %zu: %.9g vs %.9g", d, xhat[d],
                  mix[d]);

  /* Huge A: z is observed almost exactly, so E[x | mu] ~ z ~ mu. */
  double A = 1e12;
  pmm_kernel_exact_gmm(&m.g, m0, lambda0, A, 2, mu, xhat);
  for (size_t i = 0; i < 6; i++) {
    double z = ((lambda0 + A) * mu[i] - lambda0 * m0) / A;
    ck_assert_msg(fabs(xhat[i] - z) <= 1e-5 * (fabs(z) + 1.0), "A=1e12 coord %zu: %.9g vs %.9g", i,
                  xhat[i], z);
  }

  /* Far from every component, with narrow components: linear-space
   * densities all underflow, log-sum-exp must still pick the nearest. */
  float sd[2] = {0.01f, 0.01f}, w[2] = {0.5f, 0.5f}, mean[2] = {-1.0f, 1.0f};
  pmm_gmm narrow = {2, 1, w, mean, sd};
  float far[1] = {300.0f}, out[1];
  pmm_kernel_exact_gmm(&narrow, 0.0, 1.0, 1e6, 1, far, out);
  double z = (1e6 + 1.0) * 300.0 / 1e6, s2 = 1e-4, shrink = s2 / (s2 + 1e-6);
  double want = 1.0 + shrink * (z - 1.0);
  ck_assert_msg(isfinite(out[0]) && fabs(out[0] - want) <= 1e-6 * fabs(want),
                "far point: %.9g vs %.9g", out[0], want);

  /* A zero-weight component takes no part, even where it is nearest (the
   * reference gives it log 0 = -inf). */
  float w3[3] = {0.5f, 0.0f, 0.5f}, mean3[3] = {-2.0f, 0.0f, 2.0f}, sd3[3] = {0.3f, 0.3f, 0.3f};
  pmm_gmm holes = {3, 1, w3, mean3, sd3};
  float at0[1] = {0.05f};
  double ref[1];
  pmm_kernel_exact_gmm(&holes, 0.0, 1.0, 4.0, 1, at0, out);
  gmm_reference(&holes, 0.0, 1.0, 4.0, at0, ref);
  ck_assert_msg(fabs(out[0] - ref[0]) <= 1e-6, "zero weight: %.9g vs %.9g", out[0], ref[0]);
  mixture_free(&m);
}
END_TEST

/* ---- softmax and argmax ------------------------------------------------ */

START_TEST(test_softmax) {
  enum { ROWS = 3, GROUPS = 4, K = 7 };
  float x[ROWS * GROUPS * K], y[ROWS * GROUPS * K];
  fill(x, ROWS * GROUPS * K, -8.0, 8.0);
  /* one group far out in both directions: max subtraction keeps it finite */
  for (int i = 0; i < K; i++) x[K + i] = 1000.0f + (float)i;
  for (int i = 0; i < K; i++) x[2 * K + i] = -1000.0f - 3.0f * (float)i;
  pmm_kernel_softmax(ROWS, GROUPS, K, x, y);
  for (int g = 0; g < ROWS * GROUPS; g++) {
    double m = -INFINITY, sum = 0.0, ysum = 0.0;
    for (int i = 0; i < K; i++) m = fmax(m, x[g * K + i]);
    for (int i = 0; i < K; i++) sum += exp((double)x[g * K + i] - m);
    for (int i = 0; i < K; i++) {
      double want = exp((double)x[g * K + i] - m) / sum;
      ck_assert_msg(fabs(y[g * K + i] - want) <= 1e-6 * want + 1e-12,
                    "group %d entry %d: %.9g, want %.9g", g, i, y[g * K + i], want);
      ysum += y[g * K + i];
    }
    ck_assert_msg(fabs(ysum - 1.0) < 1e-6, "group %d sums to %.9g", g, ysum);
  }
  /* in place */
  float z[ROWS * GROUPS * K];
  memcpy(z, x, sizeof z);
  pmm_kernel_softmax(ROWS, GROUPS, K, z, z);
  ck_assert(memcmp(z, y, sizeof z) == 0);

  /* limits: +inf entries share the mass, all -inf is uniform, NaN poisons */
  float lim[3 * 4] = {INFINITY,  1.0f,      INFINITY, -INFINITY, -INFINITY, -INFINITY,
                      -INFINITY, -INFINITY, 0.0f,     NAN,       1.0f,      2.0f};
  float out[12];
  pmm_kernel_softmax(1, 3, 4, lim, out);
  const float want[8] = {0.5f, 0.0f, 0.5f, 0.0f, 0.25f, 0.25f, 0.25f, 0.25f};
  for (int i = 0; i < 8; i++)
    ck_assert_msg(out[i] == want[i], "limit case %d: %g, want %g", i, out[i], want[i]);
  for (int i = 8; i < 12; i++) ck_assert(isnan(out[i]));
  /* one symbol: always 1 */
  float one = -3.5f, p1;
  pmm_kernel_softmax(1, 1, 1, &one, &p1);
  ck_assert(p1 == 1.0f);
}
END_TEST

START_TEST(test_argmax) {
  const float x[5 * 4] = {
      0.1f,     0.7f,  0.7f,      0.2f,  /* tie: first */
      -5.0f,    -4.0f, -3.0f,     -2.0f, /* last */
      NAN,      1.0f,  NAN,       3.0f,  /* NaN never wins */
      NAN,      NAN,   NAN,       NAN,   /* all NaN: 0 */
      INFINITY, 1e30f, -INFINITY, 0.0f   /* +inf */
  };
  float y[5];
  pmm_kernel_argmax(1, 5, 4, x, y);
  const float want[5] = {1.0f, 3.0f, 3.0f, 0.0f, 0.0f};
  for (int g = 0; g < 5; g++)
    ck_assert_msg(y[g] == want[g], "group %d: %g, want %g", g, y[g], want[g]);
  /* rows x groups layout, on random data against a plain loop */
  enum { ROWS = 6, GROUPS = 5, K = 9 };
  float r[ROWS * GROUPS * K], idx[ROWS * GROUPS];
  fill(r, ROWS * GROUPS * K, -1.0, 1.0);
  pmm_kernel_argmax(ROWS, GROUPS, K, r, idx);
  for (int g = 0; g < ROWS * GROUPS; g++) {
    int best = 0;
    for (int i = 1; i < K; i++) best = r[g * K + i] > r[g * K + best] ? i : best;
    ck_assert_int_eq((int)idx[g], best);
  }
}
END_TEST

int main(void) {
  fprintf(stderr, "test_kernels: inputs from xorshift64* with fixed state %#llx\n",
          (unsigned long long)rng_state);
  Suite *s = suite_create("kernels");
  TCase *tc = tcase_create("kernels");
  tcase_add_test(tc, test_act_names);
  tcase_add_test(tc, test_act_values);
  tcase_add_test(tc, test_kernel_act);
  tcase_add_test(tc, test_dense);
  tcase_add_test(tc, test_sinusoidal);
  tcase_add_test(tc, test_layernorm);
  tcase_add_test(tc, test_exact_gmm_reference);
  tcase_add_test(tc, test_exact_gmm_limits);
  tcase_add_test(tc, test_softmax);
  tcase_add_test(tc, test_argmax);
  suite_add_tcase(s, tc);
  int failed = tu_run_suite(s);
  return failed == 0 ? 0 : 1;
}
