/*
 * dense_blas.c - the runtime's dense layer, on OpenBLAS: the one kernel
 * that needs BLAS, in a file of its own so that the other kernels depend
 * on libc and libm alone (sampler.c, which limits OpenBLAS's threads, is
 * the runtime's only other BLAS user).
 */
#include <cblas.h>
#include <limits.h>

#include "runtime/pmmrt.h"

/* cblas takes int dimensions: in and out must not exceed INT_MAX (a layer
 * that wide could not be stored anyway); rows are fed in chunks. */
void pmm_kernel_dense(size_t rows, size_t in, size_t out, const float *x, const float *w,
                      const float *b, float *y) {
  if (rows == 0 || out == 0) return;
  if (in == 0) {
    for (size_t r = 0; r < rows; r++) {
      for (size_t o = 0; o < out; o++) y[r * out + o] = b ? b[o] : 0.0f;
    }
    return;
  }
  for (size_t r0 = 0; r0 < rows; r0 += (size_t)INT_MAX) {
    size_t m = rows - r0 < (size_t)INT_MAX ? rows - r0 : (size_t)INT_MAX;
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)m, (int)out, (int)in, 1.0f,
                x + r0 * in, (int)in, w, (int)in, 0.0f, y + r0 * out, (int)out);
  }
  if (b) {
    for (size_t r = 0; r < rows; r++) {
      float *yr = y + r * out;
      for (size_t o = 0; o < out; o++) yr[o] += b[o];
    }
  }
}
