/*
 * test_nn_kernels.c - the convolution and attention kernels of
 * runtime/nn_kernels.c (conv2d, GroupNorm, nearest upsampling, average
 * pooling, attention, transpose, softmax along an axis), LayerNorm
 * without gamma and the gelu-tanh activation, each against a naive
 * double-precision reference written here straight from its definition in
 * pmmrt.h, on random inputs.
 *
 * Tolerance: |kernel - reference| <= 1e-5 * (1 + |reference|) for every
 * output (TOL below); inputs and weights are scaled like a trained
 * network's (weights ~ 1 / sqrt(fan-in)) so outputs are of order 1 and float
 * accumulation stays far inside it.  Upsampling and transpose only move
 * values and must be exact.  gelu-tanh must match the float formula of
 * pmmrt.h bit for bit and the double formula within 1e-6 absolute plus
 * 1e-6 relative.
 */
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tests/util/testutil.h"

#define TOL 1e-5

/* A small deterministic generator for test inputs: xorshift64*, uniform in
 * [lo, hi).  The starting state is printed by main. */
static uint64_t rng_state = 0x2545F4914F6CDD1DULL;

static double uniform(double lo, double hi) {
  rng_state ^= rng_state >> 12;
  rng_state ^= rng_state << 25;
  rng_state ^= rng_state >> 27;
  uint64_t bits = rng_state * 0x2545F4914F6CDD1DULL;
  return lo + (hi - lo) * (double)(bits >> 11) * (1.0 / 9007199254740992.0);
}

static float *random_floats(size_t n, double lo, double hi) {
  float *x = malloc((n + 1) * sizeof *x);
  ck_assert_ptr_nonnull(x);
  for (size_t i = 0; i < n; i++) x[i] = (float)uniform(lo, hi);
  return x;
}

static double *new_doubles(size_t n) {
  double *x = malloc((n + 1) * sizeof *x);
  ck_assert_ptr_nonnull(x);
  return x;
}

/* Every got[i] within TOL * (1 + |want[i]|); `what` names the case. */
static void expect_close(const char *what, size_t n, const float *got, const double *want) {
  for (size_t i = 0; i < n; i++) {
    ck_assert_msg(fabs(got[i] - want[i]) <= TOL * (1.0 + fabs(want[i])),
                  "%s: element %zu = %.9g, reference %.12g", what, i, got[i], want[i]);
  }
}

/* ---- conv2d ------------------------------------------------------------- */

typedef struct conv_case {
  size_t rows, ci, h, w, co, k, stride, pad, groups;
  int bias;
} conv_case;

static void conv_ref(const conv_case *c, const float *x, const float *wt, const float *b,
                     double *y) {
  size_t ho = (c->h + 2 * c->pad - c->k) / c->stride + 1;
  size_t wo = (c->w + 2 * c->pad - c->k) / c->stride + 1;
  size_t cin_g = c->ci / c->groups, cout_g = c->co / c->groups;
  for (size_t r = 0; r < c->rows; r++)
    for (size_t o = 0; o < c->co; o++)
      for (size_t oy = 0; oy < ho; oy++)
        for (size_t ox = 0; ox < wo; ox++) {
          double acc = b ? b[o] : 0.0;
          for (size_t cl = 0; cl < cin_g; cl++) {
            size_t cin = (o / cout_g) * cin_g + cl;
            for (size_t kh = 0; kh < c->k; kh++)
              for (size_t kw = 0; kw < c->k; kw++) {
                long iy = (long)(oy * c->stride + kh) - (long)c->pad;
                long ix = (long)(ox * c->stride + kw) - (long)c->pad;
                if (iy < 0 || ix < 0 || iy >= (long)c->h || ix >= (long)c->w) continue;
                double xv = x[((r * c->ci + cin) * c->h + (size_t)iy) * c->w + (size_t)ix];
                acc += xv * wt[((o * cin_g + cl) * c->k + kh) * c->k + kw];
              }
          }
          y[((r * c->co + o) * ho + oy) * wo + ox] = acc;
        }
}

static void check_conv(conv_case c) {
  size_t ho = (c.h + 2 * c.pad - c.k) / c.stride + 1;
  size_t wo = (c.w + 2 * c.pad - c.k) / c.stride + 1;
  size_t cin_g = c.ci / c.groups, ny = c.rows * c.co * ho * wo;
  double scale = 1.0 / sqrt((double)(cin_g * c.k * c.k));
  float *x = random_floats(c.rows * c.ci * c.h * c.w, -1, 1);
  float *wt = random_floats(c.co * cin_g * c.k * c.k, -scale, scale);
  float *b = random_floats(c.co, -0.5, 0.5);
  float *y = random_floats(ny, 100, 200); /* garbage the kernel must overwrite */
  double *want = new_doubles(ny);
  const float *bias = c.bias ? b : NULL;
  pmm_kernel_conv2d(c.rows, c.ci, c.h, c.w, c.co, c.k, c.stride, c.pad, c.groups, x, wt, bias, y);
  conv_ref(&c, x, wt, bias, want);
  char what[160];
  snprintf(what, sizeof what,
           "conv rows %zu ci %zu h %zu w %zu co %zu k %zu stride %zu pad %zu groups %zu bias %d",
           c.rows, c.ci, c.h, c.w, c.co, c.k, c.stride, c.pad, c.groups, c.bias);
  expect_close(what, ny, y, want);
  free(x);
  free(wt);
  free(b);
  free(y);
  free(want);
}

START_TEST(test_conv2d_basic) {
  /* rows, ci, h, w, co, k, stride, pad, groups, bias; h != w throughout */
  check_conv((conv_case){3, 3, 7, 5, 4, 3, 1, 1, 1, 1});
  check_conv((conv_case){1, 1, 4, 6, 1, 3, 1, 1, 1, 0});
  check_conv((conv_case){2, 3, 6, 9, 5, 3, 1, 0, 1, 1});  /* padding 0 */
  check_conv((conv_case){4, 5, 6, 4, 3, 1, 1, 0, 1, 1});  /* kernel 1 */
  check_conv((conv_case){2, 2, 8, 11, 3, 5, 1, 2, 1, 1}); /* kernel 5 */
  check_conv((conv_case){2, 2, 9, 7, 3, 5, 1, 0, 1, 0});  /* kernel 5, padding 0, no bias */
}
END_TEST

START_TEST(test_conv2d_stride) {
  check_conv((conv_case){2, 4, 9, 6, 6, 3, 2, 1, 1, 1});
  check_conv((conv_case){3, 3, 10, 7, 2, 4, 2, 0, 1, 1}); /* even kernel */
  check_conv((conv_case){2, 2, 8, 8, 4, 3, 2, 1, 1, 0});  /* the usual downsampler */
  check_conv((conv_case){2, 2, 11, 5, 3, 2, 3, 1, 1, 1}); /* stride beyond the kernel */
  check_conv((conv_case){2, 2, 3, 4, 3, 2, 1, 3, 1, 1});  /* padding wider than the kernel */
  check_conv((conv_case){1, 3, 5, 6, 2, 3, 2, 2, 1, 1});
}
END_TEST

START_TEST(test_conv2d_groups) {
  check_conv((conv_case){3, 4, 7, 5, 6, 3, 1, 1, 2, 1}); /* groups 2 */
  check_conv((conv_case){2, 6, 8, 9, 4, 3, 2, 1, 2, 0}); /* groups 2, stride 2 */
  check_conv((conv_case){3, 4, 6, 7, 4, 3, 1, 1, 4, 1}); /* depthwise */
  check_conv((conv_case){2, 3, 5, 8, 6, 3, 1, 1, 3, 0}); /* depthwise, multiplier 2 */
  check_conv((conv_case){2, 4, 9, 6, 4, 5, 2, 2, 4, 1}); /* depthwise, kernel 5, stride 2 */
}
END_TEST

/* ---- GroupNorm ---------------------------------------------------------- */

static void check_groupnorm(size_t rows, size_t c, size_t n, size_t groups, int affine) {
  size_t total = rows * c * n, len = c / groups * n;
  float *x = random_floats(total, -2, 3), *y = random_floats(total, 100, 200);
  float *gamma = random_floats(c, 0.5, 1.5), *beta = random_floats(c, -1, 1);
  double *want = new_doubles(total);
  /* a large offset in one group: the variance must not cancel */
  for (size_t i = 0; i < len; i++) x[i] += 1000.0f;
  const float *g = affine ? gamma : NULL, *be = affine ? beta : NULL;
  const float eps = 1e-5f;
  pmm_kernel_groupnorm(rows, c, n, groups, x, g, be, eps, y);
  for (size_t r = 0; r < rows; r++) {
    for (size_t q = 0; q < groups; q++) {
      const float *xg = x + (r * groups + q) * len;
      double mean = 0, var = 0;
      for (size_t i = 0; i < len; i++) mean += xg[i];
      mean /= (double)len;
      for (size_t i = 0; i < len; i++) var += (xg[i] - mean) * (xg[i] - mean);
      var /= (double)len;
      for (size_t i = 0; i < len; i++) {
        size_t ch = q * (c / groups) + i / n;
        double v = (xg[i] - mean) / sqrt(var + eps);
        want[(r * groups + q) * len + i] = v * (g ? g[ch] : 1.0) + (be ? be[ch] : 0.0);
      }
    }
  }
  char what[96];
  snprintf(what, sizeof what, "groupnorm rows %zu c %zu n %zu groups %zu affine %d", rows, c, n,
           groups, affine);
  expect_close(what, total, y, want);
  pmm_kernel_groupnorm(rows, c, n, groups, x, g, be, eps, x); /* in place */
  ck_assert(memcmp(x, y, total * sizeof *x) == 0);
  free(x);
  free(y);
  free(gamma);
  free(beta);
  free(want);
}

START_TEST(test_groupnorm) {
  check_groupnorm(3, 6, 20, 2, 1); /* 3 channels a group */
  check_groupnorm(2, 9, 12, 3, 1); /* 3 channels a group */
  check_groupnorm(2, 6, 20, 2, 0); /* gamma and beta NULL */
  check_groupnorm(2, 4, 7, 4, 1);  /* one channel a group */
  check_groupnorm(2, 8, 5, 1, 1);  /* one group: LayerNorm over [c, n] */
}
END_TEST

/* ---- upsampling and pooling --------------------------------------------- */

static void check_upsample(size_t rows, size_t c, size_t h, size_t w, size_t f) {
  size_t ho = h * f, wo = w * f;
  float *x = random_floats(rows * c * h * w, -1, 1), *y = random_floats(rows * c * ho * wo, 5, 6);
  pmm_kernel_upsample_nearest(rows, c, h, w, f, x, y);
  for (size_t p = 0; p < rows * c; p++)
    for (size_t i = 0; i < ho; i++)
      for (size_t j = 0; j < wo; j++)
        ck_assert_msg(y[(p * ho + i) * wo + j] == x[(p * h + i / f) * w + j / f],
                      "upsample %zux%zu by %zu: plane %zu (%zu, %zu)", h, w, f, p, i, j);
  free(x);
  free(y);
}

START_TEST(test_upsample) {
  check_upsample(3, 2, 4, 5, 2);
  check_upsample(2, 3, 3, 2, 3);
  check_upsample(2, 1, 1, 1, 3);
  check_upsample(1, 2, 3, 4, 1);
}
END_TEST

static void check_avgpool(size_t rows, size_t c, size_t h, size_t w, size_t k) {
  size_t ho = h / k, wo = w / k, ny = rows * c * ho * wo;
  float *x = random_floats(rows * c * h * w, -2, 2), *y = random_floats(ny, 100, 200);
  double *want = new_doubles(ny);
  pmm_kernel_avgpool(rows, c, h, w, k, x, y);
  for (size_t p = 0; p < rows * c; p++)
    for (size_t i = 0; i < ho; i++)
      for (size_t j = 0; j < wo; j++) {
        double s = 0;
        for (size_t dy = 0; dy < k; dy++)
          for (size_t dx = 0; dx < k; dx++) s += x[(p * h + i * k + dy) * w + j * k + dx];
        want[(p * ho + i) * wo + j] = s / (double)(k * k);
      }
  char what[80];
  snprintf(what, sizeof what, "avgpool rows %zu c %zu %zux%zu k %zu", rows, c, h, w, k);
  expect_close(what, ny, y, want);
  free(x);
  free(y);
  free(want);
}

START_TEST(test_avgpool) {
  check_avgpool(3, 2, 8, 6, 2);
  check_avgpool(2, 3, 7, 5, 2); /* h and w not divisible by k */
  check_avgpool(2, 2, 10, 8, 3);
  check_avgpool(2, 1, 4, 5, 4);
  check_avgpool(1, 2, 3, 3, 1);
}
END_TEST

/* ---- softmax along an axis ---------------------------------------------- */

static void check_softmax_axis(size_t outer, size_t n, size_t inner) {
  size_t total = outer * n * inner;
  float *x = random_floats(total, -8, 8), *y = random_floats(total, 5, 6);
  float *col = random_floats(n, 0, 1), *col_y = random_floats(n, 0, 1);
  double *want = new_doubles(total);
  pmm_kernel_softmax_axis(outer, n, inner, x, y);
  for (size_t o = 0; o < outer; o++)
    for (size_t i = 0; i < inner; i++) {
      double m = -INFINITY, s = 0;
      for (size_t j = 0; j < n; j++) m = fmax(m, x[(o * n + j) * inner + i]);
      for (size_t j = 0; j < n; j++) s += exp(x[(o * n + j) * inner + i] - m);
      for (size_t j = 0; j < n; j++)
        want[(o * n + j) * inner + i] = exp(x[(o * n + j) * inner + i] - m) / s;
      /* a column on its own gives the same bits: the kernel's operations
       * do not depend on inner */
      for (size_t j = 0; j < n; j++) col[j] = x[(o * n + j) * inner + i];
      pmm_kernel_softmax_axis(1, n, 1, col, col_y);
      for (size_t j = 0; j < n; j++) ck_assert(col_y[j] == y[(o * n + j) * inner + i]);
    }
  char what[80];
  snprintf(what, sizeof what, "softmax_axis outer %zu n %zu inner %zu", outer, n, inner);
  expect_close(what, total, y, want);
  pmm_kernel_softmax_axis(outer, n, inner, x, x); /* in place */
  ck_assert(memcmp(x, y, total * sizeof *x) == 0);
  free(x);
  free(y);
  free(col);
  free(col_y);
  free(want);
}

START_TEST(test_softmax_axis) {
  check_softmax_axis(5, 7, 1);
  check_softmax_axis(3, 6, 5);
  check_softmax_axis(2, 4, 130); /* more columns than the kernel takes at once */
  check_softmax_axis(4, 1, 3);   /* a single entry: 1 */
  check_softmax_axis(1, 300, 2);
}
END_TEST

/* ---- attention ---------------------------------------------------------- */

/* The float operations pmmrt.h prescribes for one sample and head, written
 * out again: y_head [L, d] (leading dimension E) from q, k, v (leading
 * dimension 3E). */
static void attention_contract(size_t L, size_t E, size_t d, const float *q, const float *k,
                               const float *v, float *y) {
  float *p = malloc(L * L * sizeof *p);
  ck_assert(p);
  for (size_t l = 0; l < L; l++)
    for (size_t m = 0; m < L; m++) {
      float dot = 0.0f;
      for (size_t i = 0; i < d; i++) dot += q[l * 3 * E + i] * k[m * 3 * E + i];
      p[l * L + m] = dot * (1.0f / sqrtf((float)d));
    }
  pmm_kernel_softmax_axis(L, L, 1, p, p);
  for (size_t l = 0; l < L; l++)
    for (size_t i = 0; i < d; i++) {
      float acc = 0.0f;
      for (size_t m = 0; m < L; m++) acc += p[l * L + m] * v[m * 3 * E + i];
      y[l * E + i] = acc;
    }
  free(p);
}

static void check_attention(size_t rows, size_t L, size_t E, size_t heads) {
  size_t d = E / heads;
  float *qkv = random_floats(rows * L * 3 * E, -1.5, 1.5);
  float *y = random_floats(rows * L * E, 100, 200), *y_contract = random_floats(rows * L * E, 5, 6);
  float *scratch = random_floats(pmm_attention_scratch_floats(L, E), -1e30, 1e30);
  double *want = new_doubles(rows * L * E), *p = new_doubles(L);
  pmm_kernel_attention(rows, L, E, heads, qkv, scratch, y);
  for (size_t r = 0; r < rows; r++)
    for (size_t j = 0; j < heads; j++) {
      const float *x = qkv + r * L * 3 * E + j * d;
      attention_contract(L, E, d, x, x + E, x + 2 * E, y_contract + r * L * E + j * d);
      for (size_t l = 0; l < L; l++) {
        const float *q = qkv + (r * L + l) * 3 * E + j * d;
        double m = -INFINITY, s = 0;
        for (size_t t = 0; t < L; t++) {
          const float *k = qkv + (r * L + t) * 3 * E + E + j * d;
          double dot = 0;
          for (size_t i = 0; i < d; i++) dot += (double)q[i] * k[i];
          p[t] = dot / sqrt((double)d);
          m = fmax(m, p[t]);
        }
        for (size_t t = 0; t < L; t++) {
          p[t] = exp(p[t] - m);
          s += p[t];
        }
        for (size_t i = 0; i < d; i++) {
          double acc = 0;
          for (size_t t = 0; t < L; t++)
            acc += p[t] / s * qkv[(r * L + t) * 3 * E + 2 * E + j * d + i];
          want[(r * L + l) * E + j * d + i] = acc;
        }
      }
    }
  char what[80];
  snprintf(what, sizeof what, "attention rows %zu L %zu E %zu heads %zu", rows, L, E, heads);
  expect_close(what, rows * L * E, y, want);
  ck_assert_msg(memcmp(y, y_contract, rows * L * E * sizeof *y) == 0,
                "%s: not the bits of the prescribed float operations", what);
  free(qkv);
  free(y);
  free(y_contract);
  free(scratch);
  free(want);
  free(p);
}

START_TEST(test_attention) {
  ck_assert_uint_eq(pmm_attention_scratch_floats(7, 16), 7 * (7 + 16));
  ck_assert_uint_eq(pmm_attention_scratch_floats((size_t)1 << (sizeof(size_t) * 4), 16), SIZE_MAX);
  ck_assert_uint_eq(pmm_attention_scratch_floats(8, SIZE_MAX - 4), SIZE_MAX);
  check_attention(3, 7, 16, 1);
  check_attention(3, 7, 16, 4);
  check_attention(2, 1, 8, 1); /* L = 1: y is v */
  check_attention(2, 1, 8, 4);
  check_attention(2, 33, 32, 4);
  check_attention(1, 5, 12, 3);
  check_attention(2, 63, 96, 2); /* every chunk width of both products, and a remainder */
}
END_TEST

/* ---- transpose ---------------------------------------------------------- */

static void check_transpose(size_t rows, size_t rank, const size_t *dims, const size_t *perm) {
  size_t n = 1, ydims[4], xstride[4];
  for (size_t a = rank; a-- > 0;) {
    xstride[a] = n;
    n *= dims[a];
  }
  for (size_t a = 0; a < rank; a++) ydims[a] = dims[perm[a]];
  float *x = random_floats(rows * n, -1, 1), *y = random_floats(rows * n, 5, 6);
  pmm_kernel_transpose(rows, rank, dims, perm, x, y);
  for (size_t r = 0; r < rows; r++)
    for (size_t f = 0; f < n; f++) {
      /* unravel f in y's shape: y index i_a sits on x's axis perm[a] */
      size_t rest = f, src = 0;
      for (size_t a = rank; a-- > 0;) {
        size_t i = rest % ydims[a];
        rest /= ydims[a];
        src += i * xstride[perm[a]];
      }
      ck_assert_msg(y[r * n + f] == x[r * n + src],
                    "transpose rank %zu perm %zu%zu%zu%zu: row %zu element %zu", rank, perm[0],
                    rank > 1 ? perm[1] : 0, rank > 2 ? perm[2] : 0, rank > 3 ? perm[3] : 0, r, f);
    }
  free(x);
  free(y);
}

/* Next permutation in lexicographic order; 0 after the last. */
static int next_perm(size_t *p, size_t n) {
  size_t i = n - 1;
  while (i > 0 && p[i - 1] > p[i]) i--;
  if (i == 0) return 0;
  size_t j = n - 1;
  while (p[j] < p[i - 1]) j--;
  size_t t = p[i - 1];
  p[i - 1] = p[j];
  p[j] = t;
  for (size_t a = i, b = n - 1; a < b; a++, b--) {
    t = p[a];
    p[a] = p[b];
    p[b] = t;
  }
  return 1;
}

START_TEST(test_transpose) {
  /* every permutation (identity first) of ranks 1 to 4, axes of distinct
   * lengths so a wrong axis cannot go unnoticed */
  static const size_t dims[4] = {2, 3, 4, 5};
  size_t count = 0;
  for (size_t rank = 1; rank <= 4; rank++) {
    size_t perm[4] = {0, 1, 2, 3};
    do {
      check_transpose(3, rank, dims + 4 - rank, perm);
      count++;
    } while (next_perm(perm, rank));
  }
  ck_assert_uint_eq(count, 1 + 2 + 6 + 24);
  /* the usual image <-> sequence layouts: [C, H, W] -> [H, W, C] and back */
  static const size_t chw[3] = {6, 3, 4}, hwc[3] = {3, 4, 6};
  static const size_t to_hwc[3] = {1, 2, 0}, to_chw[3] = {2, 0, 1};
  check_transpose(2, 3, chw, to_hwc);
  check_transpose(2, 3, hwc, to_chw);
  static const size_t len1[4] = {1, 7, 1, 2}, p4[4] = {3, 2, 0, 1};
  check_transpose(2, 4, len1, p4);
  /* identity in place */
  float x[24], y[24];
  for (int i = 0; i < 24; i++) x[i] = y[i] = (float)i;
  static const size_t id[3] = {0, 1, 2};
  pmm_kernel_transpose(1, 3, dims, id, x, x);
  ck_assert(memcmp(x, y, sizeof x) == 0);
}
END_TEST

/* ---- LayerNorm without gamma -------------------------------------------- */

/* gamma == NULL means 1 (nn.LayerNorm(elementwise_affine=False), or a
 * bias-only LayerNorm when beta is given): the reference, and the same bits
 * as an explicit gamma of ones. */
static void check_layernorm_no_gamma(size_t rows, size_t n, int with_beta) {
  size_t total = rows * n;
  float *x = random_floats(total, -3, 5), *y = random_floats(total, 100, 200);
  float *y1 = random_floats(total, 100, 200), *ones = random_floats(n, 1, 1);
  float *beta = random_floats(n, -1, 1);
  double *want = new_doubles(total);
  const float eps = 1e-5f, *be = with_beta ? beta : NULL;
  pmm_kernel_layernorm(rows, n, x, NULL, be, eps, y);
  pmm_kernel_layernorm(rows, n, x, ones, be, eps, y1);
  for (size_t r = 0; r < rows; r++) {
    double mean = 0, var = 0;
    for (size_t i = 0; i < n; i++) mean += x[r * n + i];
    mean /= (double)n;
    for (size_t i = 0; i < n; i++) var += (x[r * n + i] - mean) * (x[r * n + i] - mean);
    var /= (double)n;
    for (size_t i = 0; i < n; i++)
      want[r * n + i] = (x[r * n + i] - mean) / sqrt(var + eps) + (be ? be[i] : 0.0);
  }
  char what[64];
  snprintf(what, sizeof what, "layernorm gamma NULL rows %zu n %zu beta %d", rows, n, with_beta);
  expect_close(what, total, y, want);
  ck_assert(memcmp(y, y1, total * sizeof *y) == 0);
  free(x);
  free(y);
  free(y1);
  free(ones);
  free(beta);
  free(want);
}

START_TEST(test_layernorm_gamma_null) {
  check_layernorm_no_gamma(4, 32, 0);
  check_layernorm_no_gamma(3, 7, 1);
  check_layernorm_no_gamma(2, 1, 1); /* one feature: y = beta */
}
END_TEST

/* ---- gelu-tanh ---------------------------------------------------------- */

/* The float operations pmmrt.h prescribes, written out again. */
static float gelu_tanh_contract(float x) {
  float x3 = (x * x) * x;
  float z = 1.5957691216f * (x + 0.044715f * x3);
  return x / (1.0f + pmm_exp_f32(-z));
}

/* Tolerance: 1e-6 absolute plus 1e-6 relative to the double formula. */
START_TEST(test_gelu_tanh) {
  ck_assert_str_eq(pmm_act_name(PMM_ACT_GELU_TANH), "gelu-tanh");
  ck_assert_int_eq(PMM_ACT_GELU_TANH, PMM_ACT_SOFTPLUS + 1);
  ck_assert_int_eq(PMM_ACT_COUNT, PMM_ACT_GELU_TANH + 1);
  enum { N = 24001 };
  float *x = malloc(N * sizeof *x), *y = malloc(N * sizeof *y);
  ck_assert(x && y);
  for (int i = 0; i < N; i++) x[i] = (float)(i - N / 2) * 0.001f; /* [-12, 12] */
  x[0] = -1e20f, x[1] = -1000.0f, x[N - 2] = 1000.0f, x[N - 1] = 1e20f;
  pmm_kernel_act(PMM_ACT_GELU_TANH, N, x, y);
  for (int i = 0; i < N; i++) {
    float got = pmm_act_eval(PMM_ACT_GELU_TANH, x[i]), contract = gelu_tanh_contract(x[i]);
    ck_assert_msg(memcmp(&got, &contract, sizeof got) == 0,
                  "gelu-tanh(%.9g) = %.9g, contract formula gives %.9g", x[i], got, contract);
    ck_assert(memcmp(&got, &y[i], sizeof got) == 0);
    double xd = x[i];
    double ref = 0.5 * xd * (1.0 + tanh(sqrt(2.0 / M_PI) * (xd + 0.044715 * xd * xd * xd)));
    ck_assert_msg(fabs(got - ref) <= 1e-6 + 1e-6 * fabs(ref), "gelu-tanh(%.9g) = %.9g, exact %.17g",
                  x[i], got, ref);
  }
  pmm_kernel_act(PMM_ACT_GELU_TANH, N, x, x); /* in place */
  ck_assert(memcmp(x, y, N * sizeof *x) == 0);
  ck_assert(isnan(pmm_act_eval(PMM_ACT_GELU_TANH, NAN)));
  ck_assert(pmm_act_eval(PMM_ACT_GELU_TANH, 0.0f) == 0.0f);
  free(x);
  free(y);
}
END_TEST

int main(void) {
  fprintf(stderr, "test_nn_kernels: inputs from xorshift64* with fixed state %#llx\n",
          (unsigned long long)rng_state);
  Suite *s = suite_create("nn_kernels");
  TCase *tc = tcase_create("nn_kernels");
  tcase_add_test(tc, test_conv2d_basic);
  tcase_add_test(tc, test_conv2d_stride);
  tcase_add_test(tc, test_conv2d_groups);
  tcase_add_test(tc, test_groupnorm);
  tcase_add_test(tc, test_upsample);
  tcase_add_test(tc, test_avgpool);
  tcase_add_test(tc, test_softmax_axis);
  tcase_add_test(tc, test_attention);
  tcase_add_test(tc, test_transpose);
  tcase_add_test(tc, test_layernorm_gamma_null);
  tcase_add_test(tc, test_gelu_tanh);
  suite_add_tcase(s, tc);
  int failed = tu_run_suite(s);
  return failed == 0 ? 0 : 1;
}
