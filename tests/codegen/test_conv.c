/*
 * test_conv.c - the LLVM conv2d kernels (compiler/codegen/conv.c),
 * JIT-compiled for this machine, against a double-precision reference and
 * the runtime's pmm_kernel_conv2d on random inputs.
 *
 * Shapes: every 3x3 pad 1 stride 1 convolution on 28x28, 14x14 and 7x7
 * with ci, co in {1, 3, 16, 32, 48}; then stride 2, 1x1 (the pointwise path
 * and a strided one), 5x5 pad 2, pad 0, 9x7 images, groups 2, depthwise,
 * channels that are not whole vectors (5, 17, 40, 80) or a few (1 to 3:
 * the narrow kernel), rows 1, 5 and 64, no bias, an epilogue, and 8- and
 * 4-float vectors.  Each output must satisfy |y - ref| <= 1e-4 (1 + |ref|).  The seed is printed
 * (PMMC_TEST_SEED overrides it).
 *
 * test_conv_compiled then builds CONV2D instructions into a sampler (the
 * code generator's emit_conv2d, the workspace the memory plan reserves) and
 * checks its samples the same way, with --gemm=auto and --gemm=blas, and
 * that a sample computed alone has the bits it has inside a block.
 */
#include "config.h"

#include <check.h>
#include <limits.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <llvm-c/Core.h>

#include "compiler/codegen/conv.h"
#include "compiler/codegen/emit.h"
#include "compiler/codegen/gemm.h"
#include "compiler/ir/ir.h"
#include "compiler/opt/opt.h"
#include "runtime/pmmrt.h"
#include "tests/util/testutil.h"

typedef void (*conv_kernel_fn)(const float *x, float *y, float *scratch);

/* rows, ci, h, w, co, k, stride, pad, groups, bias?, vector width (0: the
 * host's), epilogue? */
typedef struct conv_case {
  uint64_t rows, ci, h, w, co, k, stride, pad, groups;
  int bias;
  unsigned width;
  int epilogue;
} conv_case;

static const conv_case special[] = {
    {64, 16, 28, 28, 32, 3, 2, 1, 1, 1, 0, 0}, /* stride 2 */
    {5, 3, 9, 7, 5, 3, 2, 1, 1, 1, 0, 0},      /* stride 2, 9x7, co 5 */
    {64, 16, 14, 14, 32, 1, 1, 0, 1, 1, 0, 0}, /* 1x1: the pointwise path */
    {3, 48, 28, 28, 16, 1, 1, 0, 1, 1, 0, 0},  /* 1x1, 784 pixels */
    {3, 16, 14, 14, 17, 1, 2, 0, 1, 1, 0, 0},  /* 1x1 stride 2 */
    {2, 5, 9, 7, 3, 1, 1, 1, 1, 1, 0, 0},      /* 1x1 pad 1 */
    {3, 3, 14, 14, 16, 5, 1, 2, 1, 1, 0, 0},   /* 5x5 pad 2 */
    {2, 16, 9, 7, 5, 5, 1, 2, 1, 1, 0, 0},     /* 5x5 pad 2, 9x7 */
    {2, 16, 14, 14, 16, 3, 1, 0, 1, 1, 0, 0},  /* pad 0 */
    {1, 3, 9, 7, 5, 3, 1, 1, 1, 1, 0, 0},      /* 9x7, rows 1 */
    {2, 16, 28, 28, 32, 3, 1, 1, 2, 1, 0, 0},  /* groups 2 */
    {3, 6, 9, 7, 4, 3, 1, 1, 2, 1, 0, 0},      /* groups 2, 9x7 */
    {2, 16, 14, 14, 16, 3, 1, 1, 16, 1, 0, 0}, /* depthwise */
    {2, 32, 9, 7, 64, 3, 2, 1, 32, 1, 0, 0},   /* depthwise, multiplier 2 */
    {2, 16, 14, 14, 40, 3, 1, 1, 1, 1, 0, 0},  /* co 40: a whole and a partial panel */
    {3, 16, 28, 28, 1, 1, 1, 0, 1, 1, 0, 0},   /* few channels, pointwise: 49 vectors */
    {2, 8, 9, 7, 2, 5, 1, 2, 1, 1, 0, 0},      /* few channels, 5x5 */
    {2, 4, 9, 7, 3, 3, 1, 0, 1, 1, 0, 0},      /* few channels, pad 0 */
    {2, 32, 7, 7, 80, 3, 1, 1, 1, 1, 0, 0},    /* co 80 */
    {64, 32, 7, 7, 32, 3, 1, 1, 1, 1, 0, 0},   /* rows 64 */
    {5, 16, 14, 14, 32, 3, 1, 1, 1, 0, 0, 0},  /* no bias */
    {3, 16, 9, 7, 40, 3, 1, 1, 1, 1, 0, 1},    /* epilogue */
    {2, 16, 14, 14, 32, 1, 1, 0, 1, 0, 0, 1},
    {2, 3, 9, 7, 5, 3, 2, 1, 1, 1, 8, 1},
    {2, 3, 9, 7, 2, 3, 1, 1, 1, 1, 0, 1},
    {2, 16, 28, 28, 32, 3, 1, 1, 1, 1, 8, 0}, /* AVX-sized vectors */
    {2, 3, 9, 7, 17, 3, 2, 1, 1, 1, 8, 0},
    {2, 16, 14, 14, 16, 1, 1, 0, 1, 1, 8, 0},
    {2, 5, 9, 7, 2, 3, 1, 1, 1, 1, 8, 0},
    {2, 16, 14, 14, 32, 3, 1, 1, 1, 1, 4, 0}, /* SSE-sized vectors */
    {2, 3, 9, 7, 5, 5, 1, 2, 1, 1, 4, 0},
    {2, 5, 14, 14, 1, 3, 1, 1, 1, 1, 4, 0},
};
#define NSPECIAL (sizeof special / sizeof special[0])

static const uint64_t sweep_hw[] = {28, 14, 7};
static const uint64_t sweep_ch[] = {1, 3, 16, 32, 48};
#define NCH (sizeof sweep_ch / sizeof sweep_ch[0])

static uint64_t test_seed(const char *test, uint64_t fallback) {
  const char *env = getenv("PMMC_TEST_SEED");
  uint64_t seed = env && *env ? strtoull(env, NULL, 10) : fallback;
  printf("%s: seed %llu\n", test, (unsigned long long)seed);
  return seed;
}

/* Uniform in [-scale, scale) from a 64-bit LCG. */
static void fill(float *a, size_t n, uint64_t *state, float scale) {
  for (size_t i = 0; i < n; i++) {
    *state = *state * 6364136223846793005ull + 1442695040888963407ull;
    a[i] = scale * ((float)(*state >> 40) / 8388608.0f - 1.0f);
  }
}

/* The epilogue's tag of an output: distinct for neighbouring samples,
 * channels and pixels, small enough to stay exact next to a conv value. */
static double epi_tag(uint64_t sample, uint64_t channel, uint64_t pixel) {
  return (double)(sample * 7 + channel * 3 + pixel);
}

/* conv_epilogue_fn: acc + epi_tag(sample, channel, pixel + lane). */
static LLVMValueRef epi_fn(void *user, LLVMValueRef acc, LLVMValueRef sample, LLVMValueRef channel,
                           LLVMValueRef pixel, LLVMValueRef mask) {
  conv_emitter *e = user;
  (void)mask;
  LLVMTypeRef i64 = LLVMInt64TypeInContext(e->ctx), f32 = LLVMFloatTypeInContext(e->ctx);
  unsigned n = LLVMGetVectorSize(LLVMTypeOf(acc));
  LLVMValueRef t = LLVMBuildMul(e->b, sample, LLVMConstInt(i64, 7, 0), "");
  t = LLVMBuildAdd(e->b, t, LLVMBuildMul(e->b, channel, LLVMConstInt(i64, 3, 0), ""), "");
  t = LLVMBuildAdd(e->b, t, pixel, "");
  gemm_emitter g = {e->ctx, e->mod, e->b, e->fn, n, NULL, NULL};
  LLVMValueRef lanes[16];
  for (unsigned l = 0; l < n; l++) lanes[l] = LLVMConstReal(f32, (double)l);
  LLVMValueRef tv = gemm_splat(&g, LLVMBuildUIToFP(e->b, t, f32, ""), n);
  tv = LLVMBuildFAdd(e->b, tv, LLVMConstVector(lanes, n), "");
  return LLVMBuildFAdd(e->b, acc, tv, "");
}

static uint64_t out_dim(uint64_t n, const conv_case *t) {
  return (n + 2 * t->pad - t->k) / t->stride + 1;
}

/* nn.Conv2d in double. */
static double ref_at(const conv_case *t, const float *x, const float *w, const float *b, uint64_t r,
                     uint64_t o, uint64_t oh, uint64_t ow) {
  uint64_t cin = t->ci / t->groups, cout = t->co / t->groups, g = o / cout;
  double acc = b ? b[o] : 0.0;
  for (uint64_t c = 0; c < cin; c++)
    for (uint64_t kh = 0; kh < t->k; kh++)
      for (uint64_t kw = 0; kw < t->k; kw++) {
        int64_t iy = (int64_t)(oh * t->stride + kh) - (int64_t)t->pad;
        int64_t ix = (int64_t)(ow * t->stride + kw) - (int64_t)t->pad;
        if (iy < 0 || ix < 0 || iy >= (int64_t)t->h || ix >= (int64_t)t->w) continue;
        double xv = x[((r * t->ci + g * cin + c) * t->h + (uint64_t)iy) * t->w + (uint64_t)ix];
        acc += xv * w[((o * cin + c) * t->k + kh) * t->k + kw];
      }
  return acc;
}

/* JIT conv_emit's kernel for s with vectors of `width` floats. */
static conv_kernel_fn jit_kernel(const conv_shape *s, unsigned width, int epilogue,
                                 emit_kernel_jit *jit) {
  char err[1024];
  codegen_options o;
  codegen_options_init(&o);
  emit_target t;
  ck_assert_msg(emit_target_init(&t, &o, err, sizeof err) == 0, "%s", err);
  emit_kernel_jit_begin(jit, &t, 3);
  LLVMValueRef fn = jit->fn;
  conv_emitter e = {jit->ctx, jit->mod, jit->b, fn, width ? width : gemm_target_width(t.features),
                    NULL,     NULL};
  if (epilogue) {
    e.epilogue = epi_fn;
    e.user = &e;
  }
  int rc = conv_emit(&e, s, LLVMGetParam(fn, 0), LLVMGetParam(fn, 1), LLVMGetParam(fn, 2), err,
                     sizeof err);
  ck_assert_msg(rc == 0, "conv_emit: %s", err);
  void *addr = NULL;
  ck_assert_msg(emit_kernel_jit_finish(jit, &t, &addr, err, sizeof err) == 0, "%s", err);
  emit_target_free(&t);
  return (conv_kernel_fn)(uintptr_t)addr;
}

/* Run case t: the kernel against the double reference and against
 * pmm_kernel_conv2d; also checks that the last sample alone gives the
 * bits it gave inside the block (without the epilogue, whose tag depends on
 * the sample's index).  Returns the largest |y - ref| / (1 + |ref|). */
static double run_case(const conv_case *t, uint64_t seed) {
  uint64_t ho = out_dim(t->h, t), wo = out_dim(t->w, t), cin = t->ci / t->groups;
  size_t nx = t->rows * t->ci * t->h * t->w, ny = t->rows * t->co * ho * wo;
  size_t nw = t->co * cin * t->k * t->k, plane = t->co * ho * wo;
  float *x = malloc(nx * sizeof *x), *w = malloc(nw * sizeof *w), *b = malloc(t->co * sizeof *b);
  float *y = malloc(ny * sizeof *y), *yr = malloc(ny * sizeof *yr),
        *y1 = malloc(plane * sizeof *y1);
  ck_assert(x && w && b && y && yr && y1);
  uint64_t st = seed;
  fill(x, nx, &st, 1.0f);
  fill(w, nw, &st, 1.0f / sqrtf((float)(cin * t->k * t->k)));
  fill(b, t->co, &st, 0.5f);
  conv_shape s = {
      t->rows, t->ci, t->h, t->w, t->co, t->k, t->stride, t->pad, t->groups, w, t->bias ? b : NULL,
      "test"};
  uint64_t ns = conv_scratch_floats(&s);
  ck_assert(ns != UINT64_MAX);
  float *scratch = malloc((ns ? ns : 1) * sizeof *scratch);
  ck_assert(scratch);
  emit_kernel_jit jit;
  conv_kernel_fn kern = jit_kernel(&s, t->width, t->epilogue, &jit);
  kern(x, y, scratch);
  pmm_kernel_conv2d(t->rows, t->ci, t->h, t->w, t->co, t->k, t->stride, t->pad, t->groups, x, w,
                    s.bias, yr);
  double worst = 0.0;
  for (uint64_t r = 0; r < t->rows; r++)
    for (uint64_t o = 0; o < t->co; o++)
      for (uint64_t oh = 0; oh < ho; oh++)
        for (uint64_t ow = 0; ow < wo; ow++) {
          size_t i = ((r * t->co + o) * ho + oh) * wo + ow;
          double tag = t->epilogue ? epi_tag(r, o, oh * wo + ow) : 0.0;
          double ref = ref_at(t, x, w, s.bias, r, o, oh, ow) + tag;
          double e = fabs(y[i] - ref) / (1.0 + fabs(ref));
          double eb = fabs(y[i] - (yr[i] + tag)) / (1.0 + fabs(yr[i] + tag));
          ck_assert_msg(e <= 1e-4 && eb <= 1e-4,
                        "rows %llu ci %llu %llux%llu co %llu k %llu s %llu p %llu g %llu: "
                        "y[%llu][%llu][%llu][%llu] = %.9g, reference %.9g, runtime %.9g",
                        (unsigned long long)t->rows, (unsigned long long)t->ci,
                        (unsigned long long)t->h, (unsigned long long)t->w,
                        (unsigned long long)t->co, (unsigned long long)t->k,
                        (unsigned long long)t->stride, (unsigned long long)t->pad,
                        (unsigned long long)t->groups, (unsigned long long)r, (unsigned long long)o,
                        (unsigned long long)oh, (unsigned long long)ow, y[i], ref, yr[i]);
          if (e > worst) worst = e;
        }
  emit_kernel_jit_free(&jit);
  if (t->rows > 1 && !t->epilogue) {
    /* the last sample computed alone: the same bits as inside the block */
    conv_shape s1 = s;
    s1.rows = 1;
    kern = jit_kernel(&s1, t->width, t->epilogue, &jit);
    kern(x + (t->rows - 1) * t->ci * t->h * t->w, y1, scratch);
    ck_assert_msg(memcmp(y1, y + (t->rows - 1) * plane, plane * sizeof *y1) == 0,
                  "sample %llu alone differs from inside the block",
                  (unsigned long long)t->rows - 1);
    emit_kernel_jit_free(&jit);
  }
  free(x);
  free(w);
  free(b);
  free(y);
  free(yr);
  free(y1);
  free(scratch);
  return worst;
}

START_TEST(test_conv_sweep) {
  uint64_t hw = sweep_hw[_i];
  uint64_t seed = test_seed("test_conv_sweep", 1000 + hw);
  double worst = 0.0;
  for (size_t a = 0; a < NCH; a++)
    for (size_t c = 0; c < NCH; c++) {
      conv_case t = {2, sweep_ch[a], hw, hw, sweep_ch[c], 3, 1, 1, 1, 1, 0, 0};
      double e = run_case(&t, seed + a * NCH + c);
      if (e > worst) worst = e;
    }
  printf("  3x3 pad 1 on %llux%llu: largest error %.2e\n", (unsigned long long)hw,
         (unsigned long long)hw, worst);
}
END_TEST

START_TEST(test_conv_special) {
  const conv_case *t = &special[_i];
  uint64_t seed = test_seed("test_conv_special", 2000 + (uint64_t)_i);
  double e = run_case(t, seed);
  printf("  rows %llu ci %llu %llux%llu co %llu k %llu stride %llu pad %llu groups %llu%s "
         "width %u%s: largest error %.2e\n",
         (unsigned long long)t->rows, (unsigned long long)t->ci, (unsigned long long)t->h,
         (unsigned long long)t->w, (unsigned long long)t->co, (unsigned long long)t->k,
         (unsigned long long)t->stride, (unsigned long long)t->pad, (unsigned long long)t->groups,
         t->bias ? "" : " no bias", t->width, t->epilogue ? " epilogue" : "", e);
}
END_TEST

START_TEST(test_conv_check) {
  char why[256];
  conv_shape s = {1, 3, 8, 8, 4, 3, 1, 1, 2, NULL, NULL, "bad"};
  ck_assert_int_eq(conv_check(&s, why, sizeof why), -1); /* groups do not divide 3 */
  s.groups = 1;
  ck_assert_int_eq(conv_check(&s, why, sizeof why), 0);
  s.k = 11;
  ck_assert_int_eq(conv_check(&s, why, sizeof why), -1); /* kernel larger than 8 + 2 */
  ck_assert_uint_eq(conv_scratch_floats(&s), UINT64_MAX);
  s.k = 3;
  s.rows = UINT64_MAX / 2;
  ck_assert_int_eq(conv_check(&s, why, sizeof why), -1); /* sizes overflow */
  s.rows = 1;
  ck_assert_uint_eq(conv_scratch_floats(&s), 3 * 10 * 10);
  s.pad = 0;
  ck_assert_uint_eq(conv_scratch_floats(&s), 0);
}
END_TEST

/* ---- CONV2D in a compiled sampler ------------------------------------------ */

/* The module's convolutions of x = randn [16, 14, 14]: 3x3 16 -> 32, 3x3
 * in 2 groups to 8 (the narrow kernel), 1x1 to 16 without bias, 3x3
 * stride 2 to 16. */
static const conv_case compiled_convs[] = {
    {1, 16, 14, 14, 32, 3, 1, 1, 1, 1, 0, 0},
    {1, 16, 14, 14, 8, 3, 1, 1, 2, 1, 0, 0},
    {1, 16, 14, 14, 16, 1, 1, 0, 1, 0, 0, 0},
    {1, 16, 14, 14, 16, 3, 2, 1, 1, 1, 0, 0},
};
#define NCOMPILED (sizeof compiled_convs / sizeof compiled_convs[0])

static int32_t emit_shaped(ir_block *b, ir_op op, int32_t x, uint32_t rank, const uint32_t *dims) {
  tshape sh = tshape_make(rank, dims);
  int32_t i = ir_emit_shaped(b, op, x >= 0, &x, &sh, 0);
  ck_assert_int_ge(i, 0);
  return i;
}

static int32_t add_tensor(ir_module *m, const char *name, uint32_t rank, const uint64_t *shape,
                          uint64_t *state, float scale) {
  uint64_t n = 1;
  for (uint32_t d = 0; d < rank; d++) n *= shape[d];
  float *data = malloc(n * sizeof *data);
  ck_assert_ptr_nonnull(data);
  fill(data, n, state, scale);
  int32_t t = ir_add_tensor(m, name, rank, shape, data);
  free(data);
  ck_assert_int_ge(t, 0);
  return t;
}

/* A sample is x, then each convolution's output, flattened; wt and bt
 * receive the convolutions' tensors (bt -1 without bias). */
static void build_module(ir_module *m, uint64_t seed, int32_t *wt, int32_t *bt) {
  ck_assert_int_eq(ir_module_init(m, "convtest"), 0);
  ir_block *b = &m->blocks[IR_BLOCK_INIT];
  int32_t parts[1 + NCOMPILED];
  uint32_t len = 16 * 14 * 14;
  int32_t x = emit_shaped(b, IR_OP_RANDN, -1, 3, (uint32_t[]){16, 14, 14});
  parts[0] = emit_shaped(b, IR_OP_RESHAPE, x, 1, &len);
  for (size_t i = 0; i < NCOMPILED; i++) {
    const conv_case *t = &compiled_convs[i];
    uint32_t ho = (uint32_t)out_dim(t->h, t), wo = (uint32_t)out_dim(t->w, t);
    uint32_t n = (uint32_t)t->co * ho * wo;
    char name[32];
    snprintf(name, sizeof name, "w%zu", i);
    uint64_t ws[4] = {t->co, t->ci / t->groups, t->k, t->k};
    int32_t w = wt[i] =
        add_tensor(m, name, 4, ws, &seed, 1.0f / sqrtf((float)(ws[1] * t->k * t->k)));
    int32_t bias = bt[i] = -1;
    if (t->bias) {
      snprintf(name, sizeof name, "b%zu", i);
      bias = bt[i] = add_tensor(m, name, 1, &t->co, &seed, 0.5f);
    }
    int32_t c = emit_shaped(b, IR_OP_CONV2D, x, 3, (uint32_t[]){(uint32_t)t->co, ho, wo});
    ir_inst *in = &b->insts[c];
    in->weight = w;
    in->bias = bias;
    in->stride = (uint32_t)t->stride;
    in->pad = (uint32_t)t->pad;
    in->groups = (uint32_t)t->groups;
    parts[1 + i] = emit_shaped(b, IR_OP_RESHAPE, c, 1, &n);
    len += n;
  }
  tshape all = tshape_vec(len);
  b->result = ir_emit_shaped(b, IR_OP_CONCAT, 1 + NCOMPILED, parts, &all, 0);
  m->steps = 0;
  m->schedule_steps = 1;
  m->state_len = m->out_len = m->shape[0] = len;
  m->rank = 1;
  for (int k = IR_BLOCK_STEP; k <= IR_BLOCK_FINAL; k++) {
    ir_block *s = &m->blocks[k]; /* the step block never runs (steps = 0) */
    s->result = emit_shaped(s, IR_OP_STATE, -1, 1, &len);
  }
  char err[1024];
  ck_assert_msg(ir_verify(m, err, sizeof err) == 0, "%s", err);
  ck_assert_msg(opt_plan_memory(m, err, sizeof err) == 0, "%s", err);
}

/* Each convolution of one sample (x first) against the double reference;
 * returns the largest |y - ref| / (1 + |ref|). */
static double check_sample(const ir_module *m, const int32_t *wt, const int32_t *bt,
                           const float *sample) {
  const float *x = sample, *y = sample + 16 * 14 * 14;
  double worst = 0.0;
  for (size_t i = 0; i < NCOMPILED; i++) {
    const conv_case *t = &compiled_convs[i];
    const float *w = m->tensors[wt[i]].data, *b = bt[i] >= 0 ? m->tensors[bt[i]].data : NULL;
    uint64_t ho = out_dim(t->h, t), wo = out_dim(t->w, t);
    for (uint64_t o = 0; o < t->co; o++)
      for (uint64_t p = 0; p < ho * wo; p++) {
        double ref = ref_at(t, x, w, b, 0, o, p / wo, p % wo);
        double e = fabs(y[o * ho * wo + p] - ref) / (1.0 + fabs(ref));
        ck_assert_msg(e <= 1e-4, "conv %zu channel %llu pixel %llu: %.9g, reference %.9g", i,
                      (unsigned long long)o, (unsigned long long)p, y[o * ho * wo + p], ref);
        if (e > worst) worst = e;
      }
    y += t->co * ho * wo;
  }
  return worst;
}

static void compile_run(const ir_module *m, codegen_gemm gemm, const char *exe, const char *npy,
                        const char *args, pmm_array *out) {
  codegen_options o;
  codegen_options_init(&o);
  o.output = exe;
  o.gemm = gemm;
  o.runtime_lib = getenv("PMMC_RUNTIME_LIB");
  ck_assert_msg(o.runtime_lib && *o.runtime_lib, "PMMC_RUNTIME_LIB is not set");
  char err[4096];
  ck_assert_msg(codegen_compile(m, &o, err, sizeof err) == 0, "codegen: %s", err);
  ck_assert_int_eq(tu_run("'%s' %s -o '%s'", exe, args, npy), 0);
  tu_read_npy(npy, out);
}

START_TEST(test_conv_compiled) {
  uint64_t seed = test_seed("test_conv_compiled", 3000);
  ir_module m;
  int32_t wt[NCOMPILED], bt[NCOMPILED];
  build_module(&m, seed, wt, bt);
  char dir[PATH_MAX], exe[PATH_MAX + 16], npy[PATH_MAX + 16], args[128];
  tu_make_tmpdir(dir, sizeof dir);
  static const codegen_gemm kinds[2] = {CODEGEN_GEMM_AUTO, CODEGEN_GEMM_BLAS};
  static const char *const names[2] = {"auto", "blas"};
  pmm_array a[2], one;
  const uint64_t n = 2 * (uint64_t)m.block_size + 1;
  snprintf(args, sizeof args, "-n %llu -s %llu", (unsigned long long)n, (unsigned long long)seed);
  for (int k = 0; k < 2; k++) {
    snprintf(exe, sizeof exe, "%s/%s", dir, names[k]);
    snprintf(npy, sizeof npy, "%s/%s.npy", dir, names[k]);
    compile_run(&m, kinds[k], exe, npy, args, &a[k]);
    ck_assert_uint_eq(a[k].count, n * m.out_len);
    double worst = 0.0;
    for (uint64_t i = 0; i < n; i++) {
      double e = check_sample(&m, wt, bt, a[k].data + i * m.out_len);
      if (e > worst) worst = e;
    }
    printf("  --gemm=%s: largest error %.2e\n", names[k], worst);
  }
  /* sample 70 alone: the bits it has as row 6 of the second block */
  snprintf(exe, sizeof exe, "%s/auto", dir);
  snprintf(npy, sizeof npy, "%s/one.npy", dir);
  ck_assert_int_eq(
      tu_run("'%s' -n 1 --first-index 70 -s %llu -o '%s'", exe, (unsigned long long)seed, npy), 0);
  tu_read_npy(npy, &one);
  ck_assert(memcmp(one.data, a[0].data + 70 * m.out_len, m.out_len * sizeof(float)) == 0);
  pmm_array_free(&one);
  pmm_array_free(&a[0]);
  pmm_array_free(&a[1]);
  tu_remove_tree(dir);
  ir_module_free(&m);
}
END_TEST

static Suite *conv_suite(void) {
  Suite *s = suite_create("conv");
  TCase *tc = tcase_create("kernels");
  tcase_set_timeout(tc, 600);
  tcase_add_loop_test(tc, test_conv_sweep, 0, (int)(sizeof sweep_hw / sizeof sweep_hw[0]));
  tcase_add_loop_test(tc, test_conv_special, 0, (int)NSPECIAL);
  tcase_add_test(tc, test_conv_check);
  tcase_add_test(tc, test_conv_compiled);
  suite_add_tcase(s, tc);
  return s;
}

int main(void) {
  SRunner *sr = srunner_create(conv_suite());
  srunner_run_all(sr, CK_NORMAL);
  int failed = srunner_ntests_failed(sr);
  srunner_free(sr);
  return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
