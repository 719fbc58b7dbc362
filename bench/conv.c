/*
 * conv.c - pmmc's LLVM conv2d kernel against the runtime's reference
 * kernel and im2col + OpenBLAS (docs/conv.md).
 *
 *     make bench/conv && bench/conv [--cpu-time] [REPS]
 *
 * For each convolution of models/unet-tiny (block of 64 samples), and a few
 * grouped ones, it times
 *   llvm    the kernel pmmc build emits (compiler/codegen/conv.c),
 *           JIT-compiled through ORC for this machine at -O2, bias included;
 *   ref     pmm_kernel_conv2d, the interpreter's kernel;
 *   im2col  per sample an im2col copy into a temporary, then cblas_sgemm
 *           (OpenBLAS, 1 thread) on it plus the bias;
 * each the median of REPS (default 5) timings of enough calls to last
 * 20 ms, after a warm-up call, and checks that llvm and im2col agree with
 * ref within |a - b| <= 1e-4 (1 + |b|).  The peak is OpenBLAS's sgemm on
 * 1024^3 (1 thread), timed like the engines before every layer, the median
 * of those timings (robust to other jobs starting or stopping on a shared
 * machine).  It prints a Markdown table of GFLOP/s and the LLVM kernel's %
 * of that peak, and the U-Net's totals (every convolution of one network
 * evaluation).  --cpu-time times with the thread's CPU clock instead of
 * the wall clock.  Exit status 1 when any result disagrees.
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

#include "bench/bench_util.h"
#include "compiler/codegen/conv.h"
#include "compiler/codegen/emit.h"
#include "compiler/codegen/gemm.h"
#include "runtime/pmmrt.h"

typedef void (*bench_kernel_fn)(const float *x, float *y, float *scratch);

/* The U-Net's convolutions (models/unet-tiny/model.yaml), 3x3 ones padded
 * by 1, how many times each shape occurs in one network evaluation, and
 * grouped convolutions (count 0: not in the U-Net, not in its total). */
typedef struct bench_layer {
  const char *name;
  uint64_t ci, co, h, k, stride, groups, count;
} bench_layer;

static const bench_layer bench_layers[] = {
    {"conv_in", 1, 16, 28, 3, 1, 1, 1},
    {"res 16->16 @28", 16, 16, 28, 3, 1, 1, 3},
    {"down 16 @28 s2", 16, 16, 28, 3, 2, 1, 1},
    {"res 16->32 @14", 16, 32, 14, 3, 1, 1, 1},
    {"res 32->32 @14", 32, 32, 14, 3, 1, 1, 3},
    {"skip 16->32 @14", 16, 32, 14, 1, 1, 1, 1},
    {"down 32 @14 s2", 32, 32, 14, 3, 2, 1, 1},
    {"res 32->32 @7", 32, 32, 7, 3, 1, 1, 7},
    {"res 64->32 @7", 64, 32, 7, 3, 1, 1, 1},
    {"skip 64->32 @7", 64, 32, 7, 1, 1, 1, 1},
    {"res 64->32 @14", 64, 32, 14, 3, 1, 1, 1},
    {"skip 64->32 @14", 64, 32, 14, 1, 1, 1, 1},
    {"up 32->32 @28", 32, 32, 28, 3, 1, 1, 1},
    {"res 48->16 @28", 48, 16, 28, 3, 1, 1, 1},
    {"skip 48->16 @28", 48, 16, 28, 1, 1, 1, 1},
    {"out 16->1 @28", 16, 1, 28, 3, 1, 1, 1},
    {"depthwise 32 @14", 32, 32, 14, 3, 1, 32, 0},
    {"depthwise 32 @14 s2", 32, 32, 14, 3, 2, 32, 0},
    {"groups 4 32->32 @14", 32, 32, 14, 3, 1, 4, 0},
    {"groups 2 32->32 @14", 32, 32, 14, 3, 1, 2, 0},
};

#define BENCH_ROWS 64

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

/* Per sample: im2col, then per group one sgemm onto the bias. */
static void bench_im2col_gemm(const bench_case *c) {
  const conv_shape *s = &c->s;
  int n = (int)(c->ho * c->wo), kk = (int)(s->ci / s->groups * s->k * s->k);
  int m = (int)(s->co / s->groups);
  for (uint64_t r = 0; r < s->rows; r++) {
    float *y = c->y + r * s->co * (uint64_t)n;
    bench_im2col(c, c->x + r * s->ci * s->h * s->w);
    for (uint64_t o = 0; o < s->co; o++)
      for (int i = 0; i < n; i++) y[o * n + i] = s->bias[o];
    for (uint64_t g = 0; g < s->groups; g++)
      cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, m, n, kk, 1.0f, s->w_data + g * m * kk,
                  kk, c->col + g * kk * n, n, 1.0f, y + g * m * n, n);
  }
}

static void bench_call(const void *arg, int engine) {
  const bench_case *c = arg;
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

/* Median seconds per call of one engine (bench_util.h). */
static double bench_time(const bench_case *c, int engine, int reps) {
  return bench_median_time(bench_call, c, engine, reps);
}

/* JIT the LLVM kernel for c's shape into *jit; 0 on success. */
static int bench_jit(bench_case *c, const emit_target *t, emit_kernel_jit *jit, char *err,
                     size_t errlen) {
  emit_kernel_jit_begin(jit, t, 3);
  conv_emitter e = {jit->ctx, jit->mod, jit->b, jit->fn, gemm_target_width(t->features),
                    NULL,     NULL};
  LLVMValueRef fn = jit->fn;
  void *addr = NULL;
  if (conv_emit(&e, &c->s, LLVMGetParam(fn, 0), LLVMGetParam(fn, 1), LLVMGetParam(fn, 2), err,
                errlen) != 0 ||
      emit_kernel_jit_finish(jit, t, &addr, err, errlen) != 0)
    return -1;
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

/* OpenBLAS sgemm on 1024^3 (1 thread): GFLOP/s, the yardstick; 0 when out
 * of memory. */
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

/* One layer's measurements. */
typedef struct bench_result {
  double flop, sec[3], err;
} bench_result;

/* Time one layer on all engines into *res; 0 on success, -1 on error. */
static int bench_layer_run(const bench_layer *l, const emit_target *t, int reps,
                           bench_result *res) {
  bench_case c;
  memset(&c, 0, sizeof c);
  uint64_t pad = l->k / 2;
  c.s = (conv_shape){BENCH_ROWS, l->ci, l->h,      l->h, l->co, l->k,
                     l->stride,  pad,   l->groups, NULL, NULL,  "bench"};
  c.ho = c.wo = (l->h + 2 * pad - l->k) / l->stride + 1;
  size_t nx = BENCH_ROWS * l->ci * l->h * l->h, ny = BENCH_ROWS * l->co * c.ho * c.wo;
  size_t nw = l->co * l->ci / l->groups * l->k * l->k, ncol = l->ci * l->k * l->k * c.ho * c.wo;
  uint64_t ns = conv_scratch_floats(&c.s);
  float *x = malloc(nx * sizeof *x), *w = malloc(nw * sizeof *w), *b = malloc(l->co * sizeof *b);
  float *y[3] = {malloc(ny * sizeof(float)), malloc(ny * sizeof(float)),
                 malloc(ny * sizeof(float))};
  c.scratch = malloc((ns ? ns : 1) * sizeof(float));
  c.col = malloc(ncol * sizeof(float));
  char err[1024];
  emit_kernel_jit jit = {0};
  int rc = -1;
  if (!x || !w || !b || !y[0] || !y[1] || !y[2] || !c.scratch || !c.col) {
    fprintf(stderr, "bench/conv: out of memory\n");
    goto done;
  }
  bench_fill(x, nx, 3, 1.0f);
  bench_fill(w, nw, 1, 1.0f / sqrtf((float)(l->ci / l->groups * l->k * l->k)));
  bench_fill(b, l->co, 2, 0.5f);
  c.x = x;
  c.s.w_data = w;
  c.s.bias = b;
  if (bench_jit(&c, t, &jit, err, sizeof err) != 0) {
    fprintf(stderr, "bench/conv: %s\n", err);
    goto done;
  }
  for (int e = 0; e < 3; e++) {
    c.y = y[e];
    res->sec[e] = bench_time(&c, e, reps);
  }
  double e_llvm = bench_err(y[BENCH_LLVM], y[BENCH_REF], ny);
  double e_blas = bench_err(y[BENCH_IM2COL], y[BENCH_REF], ny);
  res->err = e_llvm > e_blas ? e_llvm : e_blas;
  res->flop = 2.0 * (double)ny * (double)(l->ci / l->groups * l->k * l->k);
  rc = 0;
done:
  emit_kernel_jit_free(&jit);
  free(x);
  free(w);
  free(b);
  for (int e = 0; e < 3; e++) free(y[e]);
  free(c.scratch);
  free(c.col);
  return rc;
}

/* A table row: GFLOP/s of the three engines for flop in sec[], % of peak,
 * speed-ups. */
static void bench_row(const char *name, const char *count, const bench_result *r, double peak) {
  double g[3];
  for (int e = 0; e < 3; e++) g[e] = r->flop / r->sec[e] * 1e-9;
  printf("| %s | %s | %.1f | %.1f | %.0f%% | %.1f | %.1f | %.2f | %.2f |", name, count,
         r->flop * 1e-6, g[BENCH_LLVM], 100.0 * g[BENCH_LLVM] / peak, g[BENCH_REF], g[BENCH_IM2COL],
         r->sec[BENCH_REF] / r->sec[BENCH_LLVM], r->sec[BENCH_IM2COL] / r->sec[BENCH_LLVM]);
  if (r->err >= 0)
    printf(" %.1e |\n", r->err);
  else
    printf(" |\n");
}

#define BENCH_NLAYERS (sizeof bench_layers / sizeof bench_layers[0])

int main(int argc, char **argv) {
  int reps = 5, arg = 1;
  if (arg < argc && strcmp(argv[arg], "--cpu-time") == 0) {
    bench_clock = CLOCK_THREAD_CPUTIME_ID;
    arg++;
  }
  if (argc > arg + 1 || (argc == arg + 1 && ((reps = atoi(argv[arg])) < 1 || reps > 64))) {
    fprintf(stderr, "usage: %s [--cpu-time] [REPS (1..64, default 5)]\n", argv[0]);
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
  bench_result res[BENCH_NLAYERS], total = {0, {0, 0, 0}, -1};
  double peaks[BENCH_NLAYERS];
  int bad = 0;
  for (size_t i = 0; i < BENCH_NLAYERS; i++) {
    peaks[i] = bench_peak(reps);
    if (bench_layer_run(&bench_layers[i], &t, reps, &res[i]) != 0) return 1;
    bad |= !(res[i].err <= 1e-4);
    total.flop += res[i].flop * (double)bench_layers[i].count;
    for (int e = 0; e < 3; e++) total.sec[e] += res[i].sec[e] * (double)bench_layers[i].count;
  }
  double peak = bench_median(peaks, BENCH_NLAYERS); /* sorts: peaks[0] is the lowest */
  printf("LLVM kernel: %s, %u floats a vector; OpenBLAS core %s, 1 thread; median of %d; "
         "block of %d samples; %s time\n",
         t.cpu, gemm_target_width(t.features), openblas_get_corename(), reps, BENCH_ROWS,
         bench_clock == CLOCK_MONOTONIC ? "wall" : "CPU");
  printf("peak: OpenBLAS sgemm 1024^3, 1 thread: %.1f GFLOP/s (median of %zu, %.1f .. %.1f)\n\n",
         peak, BENCH_NLAYERS, peaks[0], peaks[BENCH_NLAYERS - 1]);
  printf("| conv | count | MFLOP | llvm GFLOP/s | llvm %% peak | ref GFLOP/s | im2col+blas GFLOP/s "
         "| llvm / ref | llvm / im2col | max err |\n");
  printf("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n");
  for (size_t i = 0; i < BENCH_NLAYERS; i++) {
    char count[16];
    snprintf(count, sizeof count, "%llu", (unsigned long long)bench_layers[i].count);
    bench_row(bench_layers[i].name, count, &res[i], peak);
  }
  bench_row("U-Net, all convs", "", &total, peak);
  emit_target_free(&t);
  if (bad) fprintf(stderr, "bench/conv: an engine disagrees with ref beyond 1e-4 (1 + |b|)\n");
  return bad;
}
