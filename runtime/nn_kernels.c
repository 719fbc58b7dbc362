/*
 * nn_kernels.c - reference kernels for convolutional and attention layers:
 * conv2d, GroupNorm, nearest upsampling, average pooling, multi-head
 * self-attention, axis permutation and softmax along an axis.
 *
 * Layouts are PyTorch's, one sample after another (pmmrt.h).  The kernels
 * are single-threaded (the sampler parallelises over blocks of samples),
 * allocate nothing and trust their caller's sizes, like kernels.c.  They
 * aim at being obviously correct and cache-friendly rather than at peak
 * speed: inner loops run along the contiguous last axis.
 */
#include <math.h>
#include <stdint.h>
#include <string.h>

#include "runtime/fastmath.h"
#include "runtime/pmmrt.h"

/* ---- conv2d ------------------------------------------------------------- */

/* The output positions o < n_out whose input position o * stride + off - pad
 * lies in [0, n_in): the interval [*lo, *hi), possibly empty.  Computing it
 * once per kernel tap keeps the padding test out of the inner loop. */
static void conv_valid(size_t n_out, size_t n_in, size_t stride, size_t off, size_t pad, size_t *lo,
                       size_t *hi) {
  *lo = off >= pad ? 0 : (pad - off + stride - 1) / stride;
  *hi = n_in + pad <= off ? 0 : (n_in + pad - off - 1) / stride + 1;
  if (*hi > n_out) *hi = n_out;
  if (*hi < *lo) *hi = *lo;
}

/* y[t] = fma(a, x[t * stride], y[t]) for t < n.  fmaf is exactly rounded
 * everywhere (an instruction where the CPU has one, libm's exact emulation
 * where not), so the result does not depend on the machine; on x86-64 a
 * clone for FMA CPUs is chosen at load time. */
#if defined(__GNUC__) && defined(__x86_64__) && !defined(__clang__)
__attribute__((target_clones("fma", "default")))
#endif
static void
fma_strided(size_t n, float a, const float *restrict x, size_t stride, float *restrict y) {
  if (stride == 1) {
    for (size_t t = 0; t < n; t++) y[t] = fmaf(a, x[t], y[t]);
  } else {
    for (size_t t = 0; t < n; t++) y[t] = fmaf(a, x[t * stride], y[t]);
  }
}

/* A direct loop nest, no im2col buffer: one output plane at a time (it
 * stays in cache), then input channel, kernel row, kernel column, output
 * row, and innermost output column.  Each output is therefore
 * acc = 0; acc = fma(x, w, acc) for (input channel, kernel row, kernel
 * column) in that order, padded taps skipped; then acc + bias: the
 * operations of the compiled kernel (compiler/codegen/conv.c, whose padded
 * taps add exact zeros), so the interpreter and compiled code agree bit
 * for bit on convolutions. */
void pmm_kernel_conv2d(size_t rows, size_t ci, size_t h, size_t w, size_t co, size_t k,
                       size_t stride, size_t pad, size_t groups, const float *x, const float *wt,
                       const float *b, float *y) {
  size_t ho = (h + 2 * pad - k) / stride + 1, wo = (w + 2 * pad - k) / stride + 1;
  size_t cin_g = ci / groups, cout_g = co / groups;
  for (size_t r = 0; r < rows; r++) {
    const float *xr = x + r * ci * h * w;
    for (size_t o = 0; o < co; o++) {
      float *yo = y + (r * co + o) * ho * wo;
      for (size_t i = 0; i < ho * wo; i++) yo[i] = 0.0f;
      const float *xg = xr + (o / cout_g) * cin_g * h * w;
      for (size_t c = 0; c < cin_g; c++) {
        const float *xc = xg + c * h * w;
        const float *wc = wt + (o * cin_g + c) * k * k;
        for (size_t kh = 0; kh < k; kh++) {
          size_t ylo, yhi;
          conv_valid(ho, h, stride, kh, pad, &ylo, &yhi);
          for (size_t kw = 0; kw < k; kw++) {
            size_t xlo, xhi;
            conv_valid(wo, w, stride, kw, pad, &xlo, &xhi);
            float wv = wc[kh * k + kw];
            for (size_t oy = ylo; oy < yhi; oy++) {
              const float *xrow = xc + (oy * stride + kh - pad) * w;
              fma_strided(xhi - xlo, wv, xrow + (xlo * stride + kw - pad), stride,
                          yo + oy * wo + xlo);
            }
          }
        }
      }
      if (b)
        for (size_t i = 0; i < ho * wo; i++) yo[i] = yo[i] + b[o];
    }
  }
}

/* ---- GroupNorm ---------------------------------------------------------- */

/* As pmm_kernel_layernorm: two passes in double (mean, then centred
 * variance) so a large mean does not cancel the variance, and each output
 * rounded to float once. */
void pmm_kernel_groupnorm(size_t rows, size_t c, size_t n, size_t groups, const float *x,
                          const float *gamma, const float *beta, float eps, float *y) {
  pmm_kernel_groupnorm_film(rows, c, n, groups, x, gamma, beta, eps, NULL, NULL, 0, PMM_ACT_NONE,
                            y);
}

/* One channel's n values: normalised, scaled and shifted by FiLM in float,
 * then the activation over the row while it is in cache. */
static void gn_channel(size_t n, const float *x, float *y, double mean, double inv, double ga,
                       double be, const float *mul, const float *add, pmm_act act) {
  for (size_t i = 0; i < n; i++) y[i] = (float)((x[i] - mean) * inv * ga + be);
  if (mul)
    for (size_t i = 0; i < n; i++) y[i] = y[i] * *mul;
  if (add)
    for (size_t i = 0; i < n; i++) y[i] = y[i] + *add;
  if (act != PMM_ACT_NONE) pmm_kernel_act(act, n, y, y);
}

void pmm_kernel_groupnorm_film(size_t rows, size_t c, size_t n, size_t groups, const float *x,
                               const float *gamma, const float *beta, float eps, const float *mul,
                               const float *add, size_t film_stride, pmm_act act, float *y) {
  size_t cpg = c / groups, len = cpg * n;
  if (len == 0) return;
  for (size_t g = 0; g < rows * groups; g++) {
    const float *xg = x + g * len;
    float *yg = y + g * len;
    double mean = pmm_lane_sum(len, xg, 0.0, 0) / (double)len;
    double var = pmm_lane_sum(len, xg, mean, 1) / (double)len;
    double inv = 1.0 / sqrt(var + (double)eps);
    size_t ch0 = (g % groups) * cpg, film = (g / groups) * film_stride;
    for (size_t cc = 0; cc < cpg; cc++) {
      size_t ch = ch0 + cc;
      gn_channel(n, xg + cc * n, yg + cc * n, mean, inv, gamma ? gamma[ch] : 1.0,
                 beta ? beta[ch] : 0.0, mul ? mul + film + ch : NULL, add ? add + film + ch : NULL,
                 act);
    }
  }
}

/* ---- upsampling and pooling --------------------------------------------- */

/* Each input row is widened once, then copied to the f - 1 output rows
 * below it. */
void pmm_kernel_upsample_nearest(size_t rows, size_t c, size_t h, size_t w, size_t f,
                                 const float *x, float *y) {
  size_t wo = w * f;
  for (size_t p = 0; p < rows * c * h; p++) {
    const float *xrow = x + p * w;
    float *yrow = y + p * f * wo;
    for (size_t ix = 0; ix < w; ix++) {
      for (size_t j = 0; j < f; j++) yrow[ix * f + j] = xrow[ix];
    }
    for (size_t j = 1; j < f; j++) memcpy(yrow + j * wo, yrow, wo * sizeof *yrow);
  }
}

/* Each output is the float sum of its window in row-major order (window
 * row, then column), divided by k * k.  Input rows and columns beyond the
 * last full window are ignored (floor). */
void pmm_kernel_avgpool(size_t rows, size_t c, size_t h, size_t w, size_t k, const float *x,
                        float *y) {
  size_t ho = h / k, wo = w / k;
  float area = (float)(k * k);
  for (size_t p = 0; p < rows * c; p++) {
    const float *xp = x + p * h * w;
    float *yp = y + p * ho * wo;
    for (size_t oy = 0; oy < ho; oy++) {
      float *yrow = yp + oy * wo;
      for (size_t ox = 0; ox < wo; ox++) yrow[ox] = 0.0f;
      for (size_t dy = 0; dy < k; dy++) {
        const float *xrow = xp + (oy * k + dy) * w;
        for (size_t ox = 0; ox < wo; ox++) {
          for (size_t dx = 0; dx < k; dx++) yrow[ox] += xrow[ox * k + dx];
        }
      }
      for (size_t ox = 0; ox < wo; ox++) yrow[ox] /= area;
    }
  }
}

/* ---- softmax along an axis ---------------------------------------------- */

/* Columns handled together by softmax_columns: their running maxima and
 * sums live on the stack, so the passes over n run along contiguous
 * memory instead of striding by `inner` for each column separately. */
enum { SOFTMAX_CHUNK = 64 };

/* Softmax down each of the cols <= SOFTMAX_CHUNK columns of x viewed as
 * [n, ld] (the columns are x[j * ld + 0 .. cols - 1]).  Every column gets
 * exactly the operations of the one-column case: max, e = exp(x - max),
 * the float sum of e in index order, e / sum.  x == y is allowed. */
static void softmax_columns(size_t n, size_t cols, size_t ld, const float *x, float *y) {
  float m[SOFTMAX_CHUNK], s[SOFTMAX_CHUNK];
  for (size_t i = 0; i < cols; i++) {
    m[i] = x[i];
    s[i] = 0.0f;
  }
  for (size_t j = 1; j < n; j++) {
    for (size_t i = 0; i < cols; i++) m[i] = x[j * ld + i] > m[i] ? x[j * ld + i] : m[i];
  }
  for (size_t j = 0; j < n; j++) {
    for (size_t i = 0; i < cols; i++) {
      float e = pmm_fastmath_exp(x[j * ld + i] - m[i]);
      y[j * ld + i] = e;
      s[i] += e;
    }
  }
  for (size_t j = 0; j < n; j++) {
    for (size_t i = 0; i < cols; i++) y[j * ld + i] /= s[i];
  }
}

/* Softmax of one contiguous row with the operations of softmax_columns:
 * max, e = exp(x - max), the float sum of e in index order, e / sum; the
 * exponentials and divisions vectorise. */
static void softmax_row(size_t n, const float *x, float *y) {
  float m = x[0], s = 0.0f;
  for (size_t j = 1; j < n; j++) m = x[j] > m ? x[j] : m;
  for (size_t j = 0; j < n; j++) y[j] = pmm_fastmath_exp(x[j] - m);
  for (size_t j = 0; j < n; j++) s += y[j];
  for (size_t j = 0; j < n; j++) y[j] /= s;
}

void pmm_kernel_softmax_axis(size_t outer, size_t n, size_t inner, const float *x, float *y) {
  if (n == 0) return;
  if (inner == 1) {
    for (size_t o = 0; o < outer; o++) softmax_row(n, x + o * n, y + o * n);
    return;
  }
  for (size_t o = 0; o < outer; o++) {
    for (size_t i0 = 0; i0 < inner; i0 += SOFTMAX_CHUNK) {
      size_t cols = inner - i0 < SOFTMAX_CHUNK ? inner - i0 : SOFTMAX_CHUNK;
      size_t off = o * n * inner + i0;
      softmax_columns(n, cols, inner, x + off, y + off);
    }
  }
}

/* ---- attention ---------------------------------------------------------- */

size_t pmm_attention_scratch_floats(size_t L, size_t E) {
  size_t n;
  if (__builtin_add_overflow(L, E, &n) || __builtin_mul_overflow(L, n, &n)) return SIZE_MAX;
  return n;
}

/* A row of C is computed ATTN_CHUNK columns at a time, then in chunks of
 * 16, 8 and 4, then the last few columns.  With a constant width the
 * compiler unrolls the chunk and keeps its sums in vector registers for
 * the whole reduction; with a variable one they would be loaded and stored
 * for every term. */
enum { ATTN_CHUNK = 32 };

/* c[j] = (sum over t < k, in order from 0, of a[t] * b[t * ldb + j]) * scale
 * for j < n <= ATTN_CHUNK. */
static inline __attribute__((always_inline)) void
row_chunk(size_t n, size_t k, const float *a, const float *b, size_t ldb, float scale, float *c) {
  float acc[ATTN_CHUNK] = {0};
  for (size_t t = 0; t < k; t++) {
#pragma GCC unroll 32
    for (size_t j = 0; j < n; j++) acc[j] += a[t] * b[t * ldb + j];
  }
#pragma GCC unroll 32
  for (size_t j = 0; j < n; j++) c[j] = acc[j] * scale;
}

/* C [m, n] = (A [m, k] B [k, n]) * scale, row-major with leading dimensions
 * lda, ldb, ldc: each element the sum of its k products in order, then
 * scaled.  The chunks change which columns are computed together, never an
 * element's operations.  Every clone performs the same float operations
 * (no contraction), so only the vector width depends on the CPU, not the
 * bits. */
#if defined(__GNUC__) && defined(__x86_64__) && !defined(__clang__)
__attribute__((target_clones("avx512f", "avx2", "default")))
#endif
static void
small_gemm(size_t m, size_t n, size_t k, const float *a, size_t lda, const float *b, size_t ldb,
           float scale, float *c, size_t ldc) {
  for (size_t r = 0; r < m; r++) {
    const float *ar = a + r * lda;
    float *cr = c + r * ldc;
    size_t j = 0;
    for (; n - j >= ATTN_CHUNK; j += ATTN_CHUNK)
      row_chunk(ATTN_CHUNK, k, ar, b + j, ldb, scale, cr + j);
    if (n - j >= 16) {
      row_chunk(16, k, ar, b + j, ldb, scale, cr + j);
      j += 16;
    }
    if (n - j >= 8) {
      row_chunk(8, k, ar, b + j, ldb, scale, cr + j);
      j += 8;
    }
    if (n - j >= 4) {
      row_chunk(4, k, ar, b + j, ldb, scale, cr + j);
      j += 4;
    }
    if (j < n) row_chunk(n - j, k, ar, b + j, ldb, scale, cr + j);
  }
}

/* Per sample, k is transposed into scratch (kt [E, L], all heads at once so
 * that each row of k is read as one run of E floats): both products are
 * then small_gemm's row updates along contiguous memory.  Per head,
 * S = (Q Kt) * (1 / sqrt(d)) into the scores [L, L], a softmax along each
 * row of S in place, then Y_head = S V (scale 1, exact) written straight
 * into the head's columns of y.  Q and V are read in place from qkv with
 * leading dimension 3E. */
void pmm_kernel_attention(size_t rows, size_t L, size_t E, size_t heads, const float *qkv,
                          float *scratch, float *y) {
  if (L == 0 || heads == 0 || E / heads == 0) return;
  size_t d = E / heads;
  float alpha = 1.0f / sqrtf((float)d), *s = scratch, *kt = scratch + L * L;
  for (size_t r = 0; r < rows; r++) {
    const float *xr = qkv + r * L * 3 * E;
    float *yr = y + r * L * E;
    for (size_t m = 0; m < L; m++) {
      for (size_t i = 0; i < E; i++) kt[i * L + m] = xr[m * 3 * E + E + i];
    }
    for (size_t j = 0; j < heads; j++) {
      const float *q = xr + j * d, *v = xr + 2 * E + j * d;
      small_gemm(L, L, d, q, 3 * E, kt + j * d * L, L, alpha, s, L);
      pmm_kernel_softmax_axis(L, L, 1, s, s);
      small_gemm(L, d, L, s, L, v, 3 * E, 1.0f, yr + j * d, E);
    }
  }
}

/* ---- transpose ---------------------------------------------------------- */

/* The sample is treated as rank 4 by prepending axes of length 1, then y is
 * walked in its own order with x's strides permuted to match; the
 * innermost loop runs along y's last axis (contiguous writes). */
void pmm_kernel_transpose(size_t rows, size_t rank, const size_t *dims, const size_t *perm,
                          const float *x, float *y) {
  size_t lead = 4 - rank, n = 1, xs[4], od[4], os[4];
  int identity = 1;
  for (size_t a = 0; a < 4; a++) {
    xs[a] = od[a] = 1;
    os[a] = 0;
  }
  for (size_t a = rank; a-- > 0;) {
    xs[lead + a] = n;
    n *= dims[a];
  }
  for (size_t a = 0; a < rank; a++) {
    od[lead + a] = dims[perm[a]];
    os[lead + a] = xs[lead + perm[a]];
    identity &= perm[a] == a;
  }
  if (identity) {
    if (x != y) memcpy(y, x, rows * n * sizeof *y);
    return;
  }
  for (size_t r = 0; r < rows; r++) {
    const float *xr = x + r * n;
    float *yo = y + r * n;
    for (size_t i0 = 0; i0 < od[0]; i0++) {
      for (size_t i1 = 0; i1 < od[1]; i1++) {
        for (size_t i2 = 0; i2 < od[2]; i2++) {
          const float *xp = xr + i0 * os[0] + i1 * os[1] + i2 * os[2];
          for (size_t i3 = 0; i3 < od[3]; i3++) *yo++ = xp[i3 * os[3]];
        }
      }
    }
  }
}
