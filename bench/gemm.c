/*
 * gemm.c - where pmmc's LLVM dense kernel beats OpenBLAS (docs/gemm.md).
 *
 *     make bench/gemm && bench/gemm [REPS]
 *
 * For each layer shape (N outputs, K inputs) and batch M it times
 *   llvm  the kernel pmmc build --gemm=llvm emits (compiler/codegen/gemm.c),
 *         JIT-compiled through ORC for this machine at -O2, bias included;
 *   blas  pmm_kernel_dense: cblas_sgemm plus the bias, OpenBLAS on 1 thread
 *         (as inside every sampler worker);
 * each the median of REPS (default 5) timings of enough calls to last 20 ms,
 * after a warm-up call, and checks that the two results agree within
 * |a - b| <= 1e-4 (1 + |b|).  It prints a Markdown table of GFLOP/s and
 * which is faster, and what --gemm=auto chooses.  Exit status 1 when any
 * result disagrees.
 */
#include "config.h"

#include <cblas.h>
#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <llvm-c/Core.h>

#include "bench/bench_util.h"
#include "compiler/codegen/emit.h"
#include "compiler/codegen/gemm.h"
#include "runtime/pmmrt.h"

typedef void (*bench_kernel_fn)(const float *x, float *y);

/* One GEMM call's inputs and both engines. */
typedef struct bench_case {
  uint64_t m, n, k;
  const float *x, *w, *b;
  float *y;
  bench_kernel_fn kern;
} bench_case;

static void bench_call(const void *arg, int llvm) {
  const bench_case *c = arg;
  if (llvm)
    c->kern(c->x, c->y);
  else
    pmm_kernel_dense(c->m, c->k, c->n, c->x, c->w, c->b, c->y);
}

/* Median seconds per call of one engine (bench_util.h). */
static double bench_time(const bench_case *c, int llvm, int reps) {
  return bench_median_time(bench_call, c, llvm, reps);
}

/* JIT the LLVM kernel for c's shape into *jit; 0 on success. */
static int bench_jit(bench_case *c, const emit_target *t, emit_kernel_jit *jit, char *err,
                     size_t errlen) {
  emit_kernel_jit_begin(jit, t, 2);
  gemm_emitter g = {jit->ctx, jit->mod, jit->b, jit->fn, gemm_target_width(t->features),
                    NULL,     NULL};
  gemm_shape s = {c->m, c->k, c->n, c->w, c->b, "bench"};
  void *addr = NULL;
  if (gemm_emit(&g, &s, LLVMGetParam(jit->fn, 0), LLVMGetParam(jit->fn, 1), err, errlen) != 0 ||
      emit_kernel_jit_finish(jit, t, &addr, err, errlen) != 0)
    return -1;
  c->kern = (bench_kernel_fn)(uintptr_t)addr;
  return 0;
}

int main(int argc, char **argv) {
  static const uint64_t ms[] = {1, 16, 64, 256, 1024, 4096};
  static const uint64_t nk[][2] = {{2, 34},  {256, 34},  {256, 256},
                                   {2, 256}, {512, 512}, {1024, 1024}};
  int reps = 5;
  if (argc > 2 || (argc == 2 && ((reps = atoi(argv[1])) < 1 || reps > 64))) {
    fprintf(stderr, "usage: %s [REPS (1..64, default 5)]\n", argv[0]);
    return 2;
  }
  char err[1024];
  codegen_options o;
  codegen_options_init(&o);
  emit_target t;
  if (emit_target_init(&t, &o, err, sizeof err) != 0) {
    fprintf(stderr, "bench/gemm: %s\n", err);
    return 1;
  }
  openblas_set_num_threads(1);
  unsigned width = gemm_target_width(t.features);
  printf("LLVM kernel: %s, %u floats a vector; OpenBLAS core %s, 1 thread; median of %d\n\n", t.cpu,
         width, openblas_get_corename(), reps);
  printf("| M | N | K | llvm GFLOP/s | blas GFLOP/s | llvm / blas | faster | auto | max err |\n");
  printf("|---:|---:|---:|---:|---:|---:|---|---|---:|\n");
  int bad = 0;
  for (size_t s = 0; s < sizeof nk / sizeof nk[0]; s++) {
    uint64_t n = nk[s][0], k = nk[s][1];
    float *w = malloc(n * k * sizeof *w), *bias = malloc(n * sizeof *bias);
    if (!w || !bias) {
      fprintf(stderr, "bench/gemm: out of memory\n");
      return 1;
    }
    bench_fill(w, n * k, 1, 1.0f);
    bench_fill(bias, n, 2, 1.0f);
    for (size_t i = 0; i < sizeof ms / sizeof ms[0]; i++) {
      uint64_t m = ms[i];
      float *x = malloc(m * k * sizeof *x), *y1 = malloc(m * n * sizeof *y1),
            *y2 = malloc(m * n * sizeof *y2);
      if (!x || !y1 || !y2) {
        fprintf(stderr, "bench/gemm: out of memory\n");
        return 1;
      }
      bench_fill(x, m * k, 3, 1.0f);
      bench_case c = {m, n, k, x, w, bias, y1, NULL};
      emit_kernel_jit jit;
      if (bench_jit(&c, &t, &jit, err, sizeof err) != 0) {
        fprintf(stderr, "bench/gemm: %s\n", err);
        return 1;
      }
      double tl = bench_time(&c, 1, reps);
      c.y = y2;
      double tb = bench_time(&c, 0, reps);
      double worst = 0.0;
      for (uint64_t j = 0; j < m * n; j++) {
        double d = fabs((double)y1[j] - (double)y2[j]) / (1.0 + fabs((double)y2[j]));
        if (!(d <= worst)) worst = d;
      }
      if (!(worst <= 1e-4)) bad = 1;
      double flop = 2.0 * (double)m * (double)n * (double)k;
      printf("| %llu | %llu | %llu | %.1f | %.1f | %.2f | %s | %s | %.1e |\n",
             (unsigned long long)m, (unsigned long long)n, (unsigned long long)k, flop / tl * 1e-9,
             flop / tb * 1e-9, tb / tl, tl < tb ? "llvm" : "blas",
             gemm_prefer_llvm(k, n) ? "llvm" : "blas", worst);
      fflush(stdout);
      emit_kernel_jit_free(&jit);
      free(x);
      free(y1);
      free(y2);
    }
    free(w);
    free(bias);
  }
  emit_target_free(&t);
  if (bad) fprintf(stderr, "bench/gemm: the two engines disagree beyond 1e-4 (1 + |b|)\n");
  return bad;
}
