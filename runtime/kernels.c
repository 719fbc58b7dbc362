/*
 * kernels.c - activations, sinusoidal time embedding, LayerNorm, softmax
 * and argmax, shared by the interpreter and by generated code (dense layers:
 * dense_blas.c).
 *
 * Activation formulas are part of the contract with code generation: the
 * LLVM back end emits the same float operations in the same order (the
 * exponential exp below is pmm_fastmath_exp, runtime/fastmath.h, inlined
 * operation for operation; the others are calls to the same libm float
 * functions), so compiled and interpreted samplers agree bit for bit on
 * activations.  In float arithmetic, no contraction (-ffp-contract=off):
 *   none      x
 *   relu      x > 0 ? x : 0
 *   silu      x / (1 + exp(-x))
 *   gelu      0.5f * x * (1 + erff(x * 0.70710678f))
 *   tanh      tanhf(x)
 *   sigmoid   1 / (1 + exp(-x))
 *   softplus  x > 20 ? x : log1pf(exp(x))
 *   gelu-tanh x / (1 + exp(-1.5957691216f * (x + 0.044715f * x3)))
 *             with x3 = (x * x) * x (= 0.5 x (1 + tanh(sqrt(2/pi) (..))))
 * (gelu multiplies 0.5f * x first, then by (1 + erff(...)); gelu-tanh
 * evaluates x3, then the exponent's argument, then the quotient.)
 */
#include <math.h>
#include <string.h>

#include "runtime/fastmath.h"
#include "runtime/pmmrt.h"

static const char *const act_names[PMM_ACT_COUNT] = {
    [PMM_ACT_NONE] = "none",         [PMM_ACT_RELU] = "relu",
    [PMM_ACT_SILU] = "silu",         [PMM_ACT_GELU] = "gelu",
    [PMM_ACT_TANH] = "tanh",         [PMM_ACT_SIGMOID] = "sigmoid",
    [PMM_ACT_SOFTPLUS] = "softplus", [PMM_ACT_GELU_TANH] = "gelu-tanh",
};

const char *pmm_act_name(pmm_act act) {
  if ((unsigned)act >= PMM_ACT_COUNT) return NULL;
  return act_names[act];
}

static inline float act_relu(float x) { return x > 0.0f ? x : 0.0f; }

static inline float act_silu(float x) { return x / (1.0f + pmm_fastmath_exp(-x)); }

static inline float act_gelu(float x) { return 0.5f * x * (1.0f + erff(x * 0.70710678f)); }

static inline float act_sigmoid(float x) { return 1.0f / (1.0f + pmm_fastmath_exp(-x)); }

static inline float act_softplus(float x) { return x > 20.0f ? x : log1pf(pmm_fastmath_exp(x)); }

/* 0.5 x (1 + tanh(z)) = x sigmoid(2 z): the inline exponential instead of
 * tanhf (which costs a libm call and vectorises nowhere), and no
 * cancellation in 1 + tanh(z) for z << 0.  1.5957691216f is 2 sqrt(2 / pi)
 * rounded to float. */
static inline float act_gelu_tanh(float x) {
  float x3 = (x * x) * x;
  float z = 1.5957691216f * (x + 0.044715f * x3);
  return x / (1.0f + pmm_exp_f32(-z));
}

float pmm_act_eval(pmm_act act, float x) {
  switch (act) {
  case PMM_ACT_NONE:
  case PMM_ACT_COUNT: return x;
  case PMM_ACT_RELU: return act_relu(x);
  case PMM_ACT_SILU: return act_silu(x);
  case PMM_ACT_GELU: return act_gelu(x);
  case PMM_ACT_TANH: return tanhf(x);
  case PMM_ACT_SIGMOID: return act_sigmoid(x);
  case PMM_ACT_SOFTPLUS: return act_softplus(x);
  case PMM_ACT_GELU_TANH: return act_gelu_tanh(x);
  }
  return x;
}

/* One loop per activation, the switch outside, so the branch-free ones
 * (relu, silu, sigmoid) vectorise. */
void pmm_kernel_act(pmm_act act, size_t n, const float *x, float *y) {
  switch (act) {
  case PMM_ACT_NONE:
  case PMM_ACT_COUNT:
    if (x != y) memmove(y, x, n * sizeof *y);
    return;
  case PMM_ACT_RELU:
    for (size_t i = 0; i < n; i++) y[i] = act_relu(x[i]);
    return;
  case PMM_ACT_SILU:
    for (size_t i = 0; i < n; i++) y[i] = act_silu(x[i]);
    return;
  case PMM_ACT_GELU:
    for (size_t i = 0; i < n; i++) y[i] = act_gelu(x[i]);
    return;
  case PMM_ACT_TANH:
    for (size_t i = 0; i < n; i++) y[i] = tanhf(x[i]);
    return;
  case PMM_ACT_SIGMOID:
    for (size_t i = 0; i < n; i++) y[i] = act_sigmoid(x[i]);
    return;
  case PMM_ACT_SOFTPLUS:
    for (size_t i = 0; i < n; i++) y[i] = act_softplus(x[i]);
    return;
  case PMM_ACT_GELU_TANH:
    for (size_t i = 0; i < n; i++) y[i] = act_gelu_tanh(x[i]);
    return;
  }
}

/* Frequencies and angles in double, rounded once to float: the embedding
 * is then as exact as float allows whatever the time value, and trainer,
 * interpreter and generated code (which calls this kernel) agree. */
void pmm_kernel_sinusoidal(size_t rows, size_t dim, const float *t, int t_uniform, int cos_first,
                           float *y) {
  size_t half = dim / 2, s = cos_first ? half : 0, c = cos_first ? 0 : half;
  const double ln_10000 = 9.2103403719761827360719658187375;
  for (size_t r = 0; r < rows; r++) {
    double tr = t_uniform ? t[0] : t[r];
    float *yr = y + r * dim;
    for (size_t j = 0; j < half; j++) {
      double f = exp(-ln_10000 * (double)j / (double)half);
      yr[s + j] = (float)sin(tr * f);
      yr[c + j] = (float)cos(tr * f);
    }
  }
}

/* Statistics accumulate in double (two passes: mean, then centred
 * variance) so a large mean does not cancel the variance.  gamma and beta
 * may be NULL (LayerNorm without elementwise affine). */
double pmm_lane_sum(size_t n, const float *x, double shift, int square) {
  double lane[PMM_SUM_LANES] = {0};
  size_t i = 0;
  for (; i + PMM_SUM_LANES <= n; i += PMM_SUM_LANES)
    for (size_t k = 0; k < PMM_SUM_LANES; k++) {
      double d = x[i + k] - shift;
      lane[k] += square ? d * d : d;
    }
  for (size_t k = 0; i < n; i++, k++) {
    double d = x[i] - shift;
    lane[k] += square ? d * d : d;
  }
  double sum = 0.0;
  for (size_t k = 0; k < PMM_SUM_LANES; k++) sum += lane[k];
  return sum;
}

void pmm_kernel_layernorm(size_t rows, size_t n, const float *x, const float *gamma,
                          const float *beta, float eps, float *y) {
  if (n == 0) return;
  for (size_t r = 0; r < rows; r++) {
    const float *xr = x + r * n;
    float *yr = y + r * n;
    double mean = pmm_lane_sum(n, xr, 0.0, 0) / (double)n;
    double var = pmm_lane_sum(n, xr, mean, 1) / (double)n;
    double inv = 1.0 / sqrt(var + (double)eps);
    for (size_t i = 0; i < n; i++) {
      double v = (xr[i] - mean) * inv;
      if (gamma) v *= gamma[i];
      if (beta) v += beta[i];
      yr[i] = (float)v;
    }
  }
}

/* One group: e_i = expf(x_i - max) in float, their sum in double, y_i =
 * e_i / sum rounded once.  The limits are kept where the formula would give
 * inf - inf: entries at +inf share the mass equally, and a group that is -inf
 * throughout is uniform.  A NaN anywhere makes the group NaN. */
static void softmax_group(size_t k, const float *x, float *y) {
  float m = -INFINITY;
  int has_nan = 0;
  for (size_t i = 0; i < k; i++) {
    if (isnan(x[i]))
      has_nan = 1;
    else if (x[i] > m)
      m = x[i];
  }
  if (has_nan) {
    for (size_t i = 0; i < k; i++) y[i] = NAN;
    return;
  }
  if (isinf(m)) {
    size_t hits = 0;
    for (size_t i = 0; i < k; i++) hits += x[i] == m;
    for (size_t i = 0; i < k; i++) y[i] = x[i] == m ? (float)(1.0 / (double)hits) : 0.0f;
    return;
  }
  double sum = 0.0;
  for (size_t i = 0; i < k; i++) {
    y[i] = expf(x[i] - m);
    sum += y[i];
  }
  for (size_t i = 0; i < k; i++) y[i] = (float)((double)y[i] / sum);
}

void pmm_kernel_softmax(size_t rows, size_t groups, size_t k, const float *x, float *y) {
  if (k == 0) return;
  for (size_t g = 0; g < rows * groups; g++) softmax_group(k, x + g * k, y + g * k);
}

/* NaN never wins (comparisons with it are false) unless the whole group is
 * NaN, which gives index 0. */
void pmm_kernel_argmax(size_t rows, size_t groups, size_t k, const float *x, float *y) {
  if (k == 0) return;
  for (size_t g = 0; g < rows * groups; g++) {
    const float *xg = x + g * k;
    size_t best = 0;
    for (size_t i = 1; i < k; i++) {
      if (xg[i] > xg[best] || (isnan(xg[best]) && !isnan(xg[i]))) best = i;
    }
    y[g] = (float)best;
  }
}
