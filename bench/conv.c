/*
 * conv.c - pmmc's LLVM conv2d kernel against the runtime's reference
 * kernel and im2col + OpenBLAS (docs/conv.md).
 *
 *     make bench/conv && bench/conv [REPS]
 *
 * For each convolution of models/unet-tiny (block of 64 samples) it times
 *   llvm    the kernel pmmc build emits (compiler/codegen/conv.c),
 *           JIT-compiled through ORC for this machine at -O2, bias included;
 *   ref     pmm_kernel_conv2d, the interpreter's kernel;
 *   im2col  per sample an im2col copy into a temporary, then cblas_sgemm
 *           (OpenBLAS, 1 thread) on it plus the bias;
 * each the median of REPS (default 5) timings of enough calls to last
 * 20 ms, after a warm-up call, and checks that llvm and im2col agree with
 * ref within |a - b| <= 1e-4 (1 + |b|).  It also times OpenBLAS's sgemm on
 * 1024^3 (1 thread, median) as the peak and prints a Markdown table of
 * GFLOP/s and the LLVM kernel's % of that peak.  Exit status 1 when any
 * result disagrees.
 */
#include "config.h"

#include <cblas.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <llvm-c/Core.h>
#include <llvm-c/LLJIT.h>
#include <llvm-c/Orc.h>

#include "compiler/codegen/conv.h"
#include "compiler/codegen/emit.h"
#include "compiler/codegen/gemm.h"
#include "runtime/pmmrt.h"

typedef void (*bench_kernel_fn)(const float *x, float *y, float *scratch);

/* The U-Net's convolutions (models/unet-tiny/model.yaml), 3x3 ones padded
 * by 1, and how many times each shape occurs in one network evaluation. */
typedef struct bench_layer {
  const char *name;
  uint64_t ci, co, h, k, stride, count;
} bench_layer;

static const bench_layer bench_layers[] = {
    {"conv_in", 1, 16, 28, 3, 1, 1},          {"res 16->16 @28", 16, 16, 28, 3, 1, 3},
    {"down 16 @28 s2", 16, 16, 28, 3, 2, 1},  {"res 16->32 @14", 16, 32, 14, 3, 1, 1},
    {"res 32->32 @14", 32, 32, 14, 3, 1, 3},  {"skip 16->32 @14", 16, 32, 14, 1, 1, 1},
    {"down 32 @14 s2", 32, 32, 14, 3, 2, 1},  {"res 32->32 @7", 32, 32, 7, 3, 1, 7},
    {"res 64->32 @7", 64, 32, 7, 3, 1, 1},    {"skip 64->32 @7", 64, 32, 7, 1, 1, 1},
    {"res 64->32 @14", 64, 32, 14, 3, 1, 1},  {"skip 64->32 @14", 64, 32, 14, 1, 1, 1},
    {"up 32->32 @28", 32, 32, 28, 3, 1, 1},   {"res 48->16 @28", 48, 16, 28, 3, 1, 1},
    {"skip 48->16 @28", 48, 16, 28, 1, 1, 1}, {"out 16->1 @28", 16, 1, 28, 3, 1, 1},
};

#define BENCH_ROWS 64

static double bench_now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static void bench_fill(float *a, size_t n, uint32_t seed, float scale) {
  uint32_t x = seed * 2654435761u + 1u;
  for (size_t i = 0; i < n; i++) {
    x = x * 1664525u + 1013904223u;
    a[i] = scale * ((float)(x >> 8) * (2.0f / 16777216.0f) - 1.0f);
  }
}

static int bench_cmp_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

/* One convolution's data and the engines' state. */
typedef struct bench_case {
  conv_shape s;
  uint64_t ho, wo;
  const float *x;
  float *y, *scratch, *col;
  bench_kernel_fn kern;
} bench_case;

enum { BENCH_LLVM, BENCH_REF, BENCH_IM2COL, BENCH_PEAK };

/* col[(c k + kh) k + kw][oh wo + ow] = x[c][oh s + kh - p][ow s + kw - p] (0 outside). */
static void bench_im2col(const bench_case *c, const float *x) {
  const conv_shape *s = &c->s;
  size_t n = c->ho * c->wo;
  for (uint64_t ch = 0; ch < s->ci; ch++)
    for (uint64_t kh = 0; kh < s->k; kh++)
      for (uint64_t kw = 0; kw < s->k; kw++) {
        float *dst = c->col + ((ch * s->k + kh) * s->k + kw) * n;
        for (uint64_t oh = 0; oh < c->ho; oh++)
          for (uint64_t ow = 0; ow < c->wo; ow++) {
            int64_t iy = (int64_t)(oh * s->stride + kh) - (int64_t)s->pad;
            int64_t ix = (int64_t)(ow * s->stride + kw) - (int64_t)s->pad;
            int in = iy >= 0 && ix >= 0 && iy < (int64_t)s->h && ix < (int64_t)s->w;
            dst[oh * c->wo + ow] = in ? x[(ch * s->h + (uint64_t)iy) * s->w + (uint64_t)ix] : 0.0f;
          }
      }
}

static void bench_im2col_gemm(const bench_case *c) {
  const conv_shape *s = &c->s;
  int n = (int)(c->ho * c->wo), kk = (int)(s->ci * s->k * s->k), m = (int)s->co;
  for (uint64_t r = 0; r < s->rows; r++) {
    float *y = c->y + r * s->co * (uint64_t)n;
    bench_im2col(c, c->x + r * s->ci * s->h * s->w);
    for (int o = 0; o < m; o++)
      for (int i = 0; i < n; i++) y[(size_t)o * n + i] = s->bias[o];
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, m, n, kk, 1.0f, s->w_data, kk, c->col, n,
                1.0f, y, n);
  }
}

static void bench_call(const bench_case *c, int engine) {
  const conv_shape *s = &c->s;
  switch (engine) {
  case BENCH_LLVM: c->kern(c->x, c->y, c->scratch); break;
  case BENCH_REF:
    pmm_kernel_conv2d(s->rows, s->ci, s->h, s->w, s->co, s->k, s->stride, s->pad, s->groups, c->x,
                      s->w_data, s->bias, c->y);
    break;
  case BENCH_IM2COL: bench_im2col_gemm(c); break;
  default: /* BENCH_PEAK: x, y, col are three 1024 x 1024 matrices */
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, 1024, 1024, 1024, 1.0f, c->x, 1024,
                c->col, 1024, 0.0f, c->y, 1024);
  }
}

/* Median seconds per call over reps timings of enough calls for 20 ms. */
static double bench_time(const bench_case *c, int engine, int reps) {
  bench_call(c, engine);
  double t0 = bench_now();
  long calls = 1;
  bench_call(c, engine);
  double once = bench_now() - t0;
  if (once < 0.02) calls = (long)(0.02 / (once > 1e-7 ? once : 1e-7)) + 1;
  double t[64];
  for (int r = 0; r < reps; r++) {
    t0 = bench_now();
    for (long i = 0; i < calls; i++) bench_call(c, engine);
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
  LLVMModuleRef mod = LLVMModuleCreateWithNameInContext("bench_conv", ctx);
  emit_target_apply(t, mod);
  LLVMBuilderRef b = LLVMCreateBuilderInContext(ctx);
  LLVMTypeRef ptr = LLVMPointerTypeInContext(ctx, 0), params[3] = {ptr, ptr, ptr};
  LLVMValueRef fn =
      LLVMAddFunction(mod, "kern", LLVMFunctionType(LLVMVoidTypeInContext(ctx), params, 3, 0));
  const char *keys[2] = {"target-cpu", "target-features"}, *vals[2] = {t->cpu, t->features};
  for (int i = 0; i < 2; i++)
    LLVMAddAttributeAtIndex(fn, LLVMAttributeFunctionIndex,
                            LLVMCreateStringAttribute(ctx, keys[i], (unsigned)strlen(keys[i]),
                                                      vals[i], (unsigned)strlen(vals[i])));
  LLVMPositionBuilderAtEnd(b, LLVMAppendBasicBlockInContext(ctx, fn, "entry"));
  conv_emitter e = {ctx, mod, b, fn, gemm_target_width(t->features), NULL, NULL};
  int rc = conv_emit(&e, &c->s, LLVMGetParam(fn, 0), LLVMGetParam(fn, 1), LLVMGetParam(fn, 2), err,
                     errlen);
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
  LLVMErrorRef er = LLVMOrcCreateLLJIT(jit, NULL);
  if (!er)
    er = LLVMOrcLLJITAddLLVMIRModule(*jit, LLVMOrcLLJITGetMainJITDylib(*jit), tsm);
  else
    LLVMOrcDisposeThreadSafeModule(tsm);
  LLVMOrcExecutorAddress addr = 0;
  if (!er) er = LLVMOrcLLJITLookup(*jit, &addr, "kern");
  if (er) {
    char *msg = LLVMGetErrorMessage(er);
    snprintf(err, errlen, "JIT: %s", msg);
    LLVMDisposeErrorMessage(msg);
    return -1;
  }
  c->kern = (bench_kernel_fn)(uintptr_t)addr;
  return 0;
}

/* The largest |a - b| / (1 + |b|). */
static double bench_err(const float *a, const float *b, size_t n) {
  double worst = 0.0;
  for (size_t i = 0; i < n; i++) {
    double d = fabs((double)a[i] - (double)b[i]) / (1.0 + fabs((double)b[i]));
    if (!(d <= worst)) worst = d;
  }
  return worst;
}

/* OpenBLAS sgemm on 1024^3 (1 thread): GFLOP/s, the yardstick. */
static double bench_peak(int reps) {
  const size_t n = 1024 * 1024;
  float *a = malloc(n * sizeof *a), *b = malloc(n * sizeof *b), *c = malloc(n * sizeof *c);
  double gflops = 0.0;
  if (a && b && c) {
    bench_fill(a, n, 1, 1.0f);
    bench_fill(b, n, 2, 1.0f);
    bench_case bc = {.x = a, .col = b, .y = c};
    gflops = 2.0 * 1024.0 * 1024.0 * 1024.0 / bench_time(&bc, BENCH_PEAK, reps) * 1e-9;
  }
  free(a);
  free(b);
  free(c);
  return gflops;
}

/* Time one layer on all engines; prints its row, adds its times (weighted
 * by its count) to tot; returns 0 when the engines agree, 1 when not, -1
 * on error. */
static int bench_layer_run(const bench_layer *l, const emit_target *t, int reps, double peak,
                           double tot[3], double *flops) {
  bench_case c;
  memset(&c, 0, sizeof c);
  uint64_t pad = l->k / 2;
  c.s = (conv_shape){BENCH_ROWS, l->ci, l->h, l->h, l->co, l->k,
                     l->stride,  pad,   1,    NULL, NULL,  "bench"};
  c.ho = c.wo = (l->h + 2 * pad - l->k) / l->stride + 1;
  size_t nx = BENCH_ROWS * l->ci * l->h * l->h, ny = BENCH_ROWS * l->co * c.ho * c.wo;
  size_t nw = l->co * l->ci * l->k * l->k, ncol = l->ci * l->k * l->k * c.ho * c.wo;
  uint64_t ns = conv_scratch_floats(&c.s);
  float *x = malloc(nx * sizeof *x), *w = malloc(nw * sizeof *w), *b = malloc(l->co * sizeof *b);
  float *y[3] = {malloc(ny * sizeof(float)), malloc(ny * sizeof(float)),
                 malloc(ny * sizeof(float))};
  c.scratch = malloc((ns ? ns : 1) * sizeof(float));
  c.col = malloc(ncol * sizeof(float));
  char err[1024];
  LLVMOrcLLJITRef jit = NULL;
  int rc = -1;
  if (!x || !w || !b || !y[0] || !y[1] || !y[2] || !c.scratch || !c.col) {
    fprintf(stderr, "bench/conv: out of memory\n");
    goto done;
  }
  bench_fill(x, nx, 3, 1.0f);
  bench_fill(w, nw, 1, 1.0f / sqrtf((float)(l->ci * l->k * l->k)));
  bench_fill(b, l->co, 2, 0.5f);
  c.x = x;
  c.s.w_data = w;
  c.s.bias = b;
  if (bench_jit(&c, t, &jit, err, sizeof err) != 0) {
    fprintf(stderr, "bench/conv: %s\n", err);
    goto done;
  }
  double sec[3];
  for (int e = 0; e < 3; e++) {
    c.y = y[e];
    sec[e] = bench_time(&c, e, reps);
    tot[e] += sec[e] * (double)l->count;
  }
  double e_llvm = bench_err(y[BENCH_LLVM], y[BENCH_REF], ny);
  double e_blas = bench_err(y[BENCH_IM2COL], y[BENCH_REF], ny);
  double flop = 2.0 * (double)ny * (double)(l->ci * l->k * l->k);
  *flops += flop * (double)l->count;
  printf("| %s | %llu | %.1f | %.1f | %.1f | %.1f | %.0f%% | %.2f | %.2f | %.1e |\n", l->name,
         (unsigned long long)l->count, flop * 1e-6, flop / sec[BENCH_LLVM] * 1e-9,
         flop / sec[BENCH_REF] * 1e-9, flop / sec[BENCH_IM2COL] * 1e-9,
         100.0 * flop / sec[BENCH_LLVM] * 1e-9 / peak, sec[BENCH_REF] / sec[BENCH_LLVM],
         sec[BENCH_IM2COL] / sec[BENCH_LLVM], e_llvm > e_blas ? e_llvm : e_blas);
  fflush(stdout);
  rc = e_llvm <= 1e-4 && e_blas <= 1e-4 ? 0 : 1;
done:
  if (jit) LLVMOrcDisposeLLJIT(jit);
  free(x);
  free(w);
  free(b);
  for (int e = 0; e < 3; e++) free(y[e]);
  free(c.scratch);
  free(c.col);
  return rc;
}

int main(int argc, char **argv) {
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
    fprintf(stderr, "bench/conv: %s\n", err);
    return 1;
  }
  openblas_set_num_threads(1);
  double peak = bench_peak(reps);
  printf("LLVM kernel: %s, %u floats a vector; OpenBLAS core %s, 1 thread; median of %d; "
         "block of %d samples\n",
         t.cpu, gemm_target_width(t.features), openblas_get_corename(), reps, BENCH_ROWS);
  printf("peak: OpenBLAS sgemm 1024^3, 1 thread: %.1f GFLOP/s\n\n", peak);
  printf("| conv | count | MFLOP | llvm GFLOP/s | ref GFLOP/s | im2col+blas GFLOP/s | llvm %% peak "
         "| llvm / ref | llvm / im2col | max err |\n");
  printf("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n");
  double tot[3] = {0, 0, 0}, flops = 0.0;
  int bad = 0;
  for (size_t i = 0; i < sizeof bench_layers / sizeof bench_layers[0]; i++) {
    int rc = bench_layer_run(&bench_layers[i], &t, reps, peak, tot, &flops);
    if (rc < 0) return 1;
    bad |= rc;
  }
  printf("| U-Net, all convs | | %.1f | %.1f | %.1f | %.1f | %.0f%% | %.2f | %.2f | |\n",
         flops * 1e-6, flops / tot[BENCH_LLVM] * 1e-9, flops / tot[BENCH_REF] * 1e-9,
         flops / tot[BENCH_IM2COL] * 1e-9, 100.0 * flops / tot[BENCH_LLVM] * 1e-9 / peak,
         tot[BENCH_REF] / tot[BENCH_LLVM], tot[BENCH_IM2COL] / tot[BENCH_LLVM]);
  emit_target_free(&t);
  if (bad) fprintf(stderr, "bench/conv: an engine disagrees with ref beyond 1e-4 (1 + |b|)\n");
  return bad;
}
