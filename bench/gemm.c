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
#include <llvm-c/LLJIT.h>
#include <llvm-c/Orc.h>

#include "compiler/codegen/emit.h"
#include "compiler/codegen/gemm.h"
#include "runtime/pmmrt.h"

typedef void (*bench_kernel_fn)(const float *x, float *y);

static double bench_now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static void bench_fill(float *a, size_t n, uint32_t seed) {
  uint32_t x = seed * 2654435761u + 1u;
  for (size_t i = 0; i < n; i++) {
    x = x * 1664525u + 1013904223u;
    a[i] = (float)(x >> 8) * (2.0f / 16777216.0f) - 1.0f;
  }
}

static int bench_cmp_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

/* One GEMM call's inputs and both engines. */
typedef struct bench_case {
  uint64_t m, n, k;
  const float *x, *w, *b;
  float *y;
  bench_kernel_fn kern;
} bench_case;

static void bench_call(const bench_case *c, int llvm) {
  if (llvm)
    c->kern(c->x, c->y);
  else
    pmm_kernel_dense(c->m, c->k, c->n, c->x, c->w, c->b, c->y);
}

/* Median seconds per call over reps timings of `calls` calls each. */
static double bench_time(const bench_case *c, int llvm, int reps) {
  bench_call(c, llvm);
  double t0 = bench_now();
  long calls = 1;
  bench_call(c, llvm);
  double once = bench_now() - t0;
  if (once < 0.02) calls = (long)(0.02 / (once > 1e-7 ? once : 1e-7)) + 1;
  double t[64];
  for (int r = 0; r < reps; r++) {
    t0 = bench_now();
    for (long i = 0; i < calls; i++) bench_call(c, llvm);
    t[r] = (bench_now() - t0) / (double)calls;
  }
  qsort(t, (size_t)reps, sizeof t[0], bench_cmp_double);
  return reps % 2 ? t[reps / 2] : 0.5 * (t[reps / 2 - 1] + t[reps / 2]);
}

/* JIT the LLVM kernel for c's shape into *jit; 0 on success. */
static int bench_jit(bench_case *c, const emit_target *t, LLVMOrcLLJITRef *jit, char *err,
                     size_t errlen) {
  LLVMOrcThreadSafeContextRef tsc = LLVMOrcCreateNewThreadSafeContext();
  LLVMContextRef ctx = LLVMOrcThreadSafeContextGetContext(tsc);
  LLVMModuleRef mod = LLVMModuleCreateWithNameInContext("bench_gemm", ctx);
  emit_target_apply(t, mod);
  LLVMBuilderRef b = LLVMCreateBuilderInContext(ctx);
  LLVMTypeRef ptr = LLVMPointerTypeInContext(ctx, 0), params[2] = {ptr, ptr};
  LLVMValueRef fn = LLVMAddFunction(
      mod, "kern", LLVMFunctionType(LLVMVoidTypeInContext(ctx), params, 2, 0));
  const char *keys[2] = {"target-cpu", "target-features"}, *vals[2] = {t->cpu, t->features};
  for (int i = 0; i < 2; i++)
    LLVMAddAttributeAtIndex(fn, LLVMAttributeFunctionIndex,
                            LLVMCreateStringAttribute(ctx, keys[i], (unsigned)strlen(keys[i]),
                                                      vals[i], (unsigned)strlen(vals[i])));
  LLVMPositionBuilderAtEnd(b, LLVMAppendBasicBlockInContext(ctx, fn, "entry"));
  gemm_emitter g = {ctx, mod, b, fn, gemm_target_width(t->features), NULL, NULL};
  gemm_shape s = {c->m, c->k, c->n, c->w, c->b, "bench"};
  int rc = gemm_emit(&g, &s, LLVMGetParam(fn, 0), LLVMGetParam(fn, 1), err, errlen);
  LLVMBuildRetVoid(b);
  LLVMDisposeBuilder(b);
  if (rc == 0) rc = emit_module_optimise(t, mod, 2, err, errlen);
  if (rc != 0) {
    LLVMDisposeModule(mod);
    LLVMOrcDisposeThreadSafeContext(tsc);
    return -1;
  }
  LLVMOrcThreadSafeModuleRef tsm = LLVMOrcCreateNewThreadSafeModule(mod, tsc);
  LLVMOrcDisposeThreadSafeContext(tsc);
  LLVMErrorRef e = LLVMOrcCreateLLJIT(jit, NULL);
  if (!e) e = LLVMOrcLLJITAddLLVMIRModule(*jit, LLVMOrcLLJITGetMainJITDylib(*jit), tsm);
  else LLVMOrcDisposeThreadSafeModule(tsm);
  LLVMOrcExecutorAddress addr = 0;
  if (!e) e = LLVMOrcLLJITLookup(*jit, &addr, "kern");
  if (e) {
    char *msg = LLVMGetErrorMessage(e);
    snprintf(err, errlen, "JIT: %s", msg);
    LLVMDisposeErrorMessage(msg);
    return -1;
  }
  c->kern = (bench_kernel_fn)(uintptr_t)addr;
  return 0;
}

int main(int argc, char **argv) {
  static const uint64_t ms[] = {1, 16, 64, 256, 1024, 4096};
  static const uint64_t nk[][2] = {{2, 34}, {256, 34}, {256, 256}, {2, 256}, {512, 512},
                                   {1024, 1024}};
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
  printf("LLVM kernel: %s, %u floats a vector; OpenBLAS core %s, 1 thread; median of %d\n\n",
         t.cpu, width, openblas_get_corename(), reps);
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
    bench_fill(w, n * k, 1);
    bench_fill(bias, n, 2);
    for (size_t i = 0; i < sizeof ms / sizeof ms[0]; i++) {
      uint64_t m = ms[i];
      float *x = malloc(m * k * sizeof *x), *y1 = malloc(m * n * sizeof *y1),
            *y2 = malloc(m * n * sizeof *y2);
      if (!x || !y1 || !y2) {
        fprintf(stderr, "bench/gemm: out of memory\n");
        return 1;
      }
      bench_fill(x, m * k, 3);
      bench_case c = {m, n, k, x, w, bias, y1, NULL};
      LLVMOrcLLJITRef jit = NULL;
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
             (unsigned long long)m, (unsigned long long)n, (unsigned long long)k,
             flop / tl * 1e-9, flop / tb * 1e-9, tb / tl, tl < tb ? "llvm" : "blas",
             gemm_prefer_llvm(k, n) ? "llvm" : "blas", worst);
      fflush(stdout);
      LLVMOrcDisposeLLJIT(jit);
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
