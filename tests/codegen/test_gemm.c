/*
 * test_gemm.c - the LLVM dense kernels (compiler/codegen/gemm.c) on awkward
 * shapes, against a double-precision reference and against OpenBLAS, and
 * the determinism of samplers that use them.
 *
 * A hand-built module computes, in its init block (steps = 0), for every
 * (in, out) in {1, 5, 34, 256} x {1, 2, 17, 256} and block sizes (rows)
 * 1, 3, 64 and 100: x = randn(in), e = randn(out) and four DENSE layers of the
 * same weight - without bias, with bias, and each again with the epilogue
 * silu(acc) * e + v - c (v a uniform tensor, c a uniform scalar) - and
 * returns them all side by side, so the sample holds the GEMM inputs next
 * to its outputs.
 *
 * Tolerance: with S = sum_k |x_k w_k| + |b|, the float GEMM may differ from
 * the exact value by (in + 2) 2^-24 S (the bound for a sequential or
 * blocked float sum, plus the bias add); the epilogue multiplies that by at
 * most 1.1 |e| (silu' < 1.1) and rounds a few times more, so each output
 * must satisfy |y - ref| <= (in + 4) 2^-24 (1 + S)(1 + |e|) + 4 2^-24 |ref|,
 * for --gemm=llvm and --gemm=blas alike.
 */
#include "config.h"

#include <check.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "compiler/codegen/codegen.h"
#include "compiler/ir/ir.h"
#include "compiler/opt/opt.h"
#include "runtime/pmmrt.h"
#include "tests/util/testutil.h"

static const uint32_t gemm_ins[] = {1, 5, 34, 256};
static const uint32_t gemm_outs[] = {1, 2, 17, 256};
#define NIN (sizeof gemm_ins / sizeof gemm_ins[0])
#define NOUT (sizeof gemm_outs / sizeof gemm_outs[0])
#define EPI_C 0.375f

static int32_t emit(ir_block *b, ir_op op, uint32_t nargs, const int32_t *args, uint32_t len,
                    int uniform) {
  int32_t i = ir_emit(b, op, nargs, args, len, uniform);
  ck_assert_int_ge(i, 0);
  return i;
}

/* Deterministic weights in [-scale, scale) from an LCG. */
static int32_t add_tensor(ir_module *m, const char *name, uint32_t rank, uint64_t rows,
                          uint64_t cols, uint32_t *state, float scale) {
  uint64_t shape[2] = {rows, cols}, n = rank == 2 ? rows * cols : rows;
  float *data = malloc(n * sizeof *data);
  ck_assert_ptr_nonnull(data);
  for (uint64_t i = 0; i < n; i++) {
    *state = *state * 1664525u + 1013904223u;
    data[i] = scale * ((float)(*state >> 8) / 8388608.0f - 1.0f);
  }
  int32_t t = ir_add_tensor(m, name, rank, shape, data);
  free(data);
  ck_assert_int_ge(t, 0);
  return t;
}

/* silu(ARG 0) * ARG 1 + ARG 2 - ARG 3 */
static int32_t add_epilogue(ir_module *m) {
  ir_uop u[8];
  memset(u, 0, sizeof u);
  u[0].kind = IR_UOP_ARG, u[0].a = 0;
  u[1].kind = IR_UOP_ACT, u[1].a = 0, u[1].act = PMM_ACT_SILU;
  u[2].kind = IR_UOP_ARG, u[2].a = 1;
  u[3].kind = IR_UOP_MUL, u[3].a = 1, u[3].b = 2;
  u[4].kind = IR_UOP_ARG, u[4].a = 2;
  u[5].kind = IR_UOP_ADD, u[5].a = 3, u[5].b = 4;
  u[6].kind = IR_UOP_ARG, u[6].a = 3;
  u[7].kind = IR_UOP_SUB, u[7].a = 5, u[7].b = 6;
  int32_t p = ir_add_prog(m, 8, u);
  ck_assert_int_ge(p, 0);
  return p;
}

/* Per (in, out): x, e, then the four layers (bias 0/1) x (epilogue 0/1). */
static uint32_t sample_len(void) {
  uint32_t n = 0;
  for (size_t i = 0; i < NIN; i++)
    for (size_t o = 0; o < NOUT; o++) n += gemm_ins[i] + 5 * gemm_outs[o];
  return n;
}

static void build_module(ir_module *m, uint32_t rows) {
  ck_assert_int_eq(ir_module_init(m, "gemmtest"), 0);
  uint32_t len = sample_len();
  m->steps = 0;
  m->schedule_steps = 1;
  m->state_len = len;
  m->out_len = len;
  m->rank = 1;
  m->shape[0] = len;
  m->block_size = rows;
  uint32_t rng = 20250101u;
  int32_t prog = add_epilogue(m);
  ir_block *b = &m->blocks[IR_BLOCK_INIT];
  int32_t c = emit(b, IR_OP_CONST, 0, NULL, 1, 1);
  b->insts[c].fattr = EPI_C;
  int32_t parts[NIN * NOUT * 6], np = 0;
  for (size_t i = 0; i < NIN; i++)
    for (size_t o = 0; o < NOUT; o++) {
      uint32_t in = gemm_ins[i], out = gemm_outs[o];
      char name[64];
      snprintf(name, sizeof name, "w%ux%u", out, in);
      int32_t w = add_tensor(m, name, 2, out, in, &rng, 1.0f / sqrtf((float)in));
      snprintf(name, sizeof name, "b%ux%u", out, in);
      int32_t bias = add_tensor(m, name, 1, out, 0, &rng, 0.5f);
      snprintf(name, sizeof name, "v%ux%u", out, in);
      int32_t vt = add_tensor(m, name, 1, out, 0, &rng, 1.0f);
      int32_t x = emit(b, IR_OP_RANDN, 0, NULL, in, 0);
      int32_t e = emit(b, IR_OP_RANDN, 0, NULL, out, 0);
      b->insts[e].stream = 2;
      int32_t v = emit(b, IR_OP_TENSOR, 0, NULL, out, 1);
      b->insts[v].weight = vt;
      parts[np++] = x;
      parts[np++] = e;
      for (int epi = 0; epi < 2; epi++)
        for (int hb = 0; hb < 2; hb++) {
          int32_t args[4] = {x, e, v, c};
          int32_t d = emit(b, IR_OP_DENSE, epi ? 4 : 1, args, out, 0);
          b->insts[d].weight = w;
          b->insts[d].bias = hb ? bias : -1;
          b->insts[d].prog = epi ? prog : -1;
          parts[np++] = d;
        }
    }
  b->result = emit(b, IR_OP_CONCAT, (uint32_t)np, parts, len, 0);
  b = &m->blocks[IR_BLOCK_STEP]; /* never run (steps = 0), but a block needs a result */
  b->result = emit(b, IR_OP_STATE, 0, NULL, len, 0);
  b = &m->blocks[IR_BLOCK_FINAL];
  b->result = emit(b, IR_OP_STATE, 0, NULL, len, 0);
  char err[1024];
  ck_assert_msg(ir_verify(m, err, sizeof err) == 0, "%s", err);
  ck_assert_msg(opt_plan_memory(m, err, sizeof err) == 0, "%s", err);
}

static void compile_exe(const ir_module *m, codegen_gemm gemm, const char *path) {
  codegen_options o;
  codegen_options_init(&o);
  o.output = path;
  o.gemm = gemm;
  o.runtime_lib = getenv("PMMC_RUNTIME_LIB");
  ck_assert_msg(o.runtime_lib && *o.runtime_lib, "PMMC_RUNTIME_LIB is not set");
  char err[4096];
  ck_assert_msg(codegen_compile(m, &o, err, sizeof err) == 0, "codegen: %s", err);
}

static double silu(double a) { return a / (1.0 + exp(-a)); }

/* Check one sample's layers against the double reference; returns the
 * largest error over bound seen. */
static double check_sample(const ir_module *m, const float *s, const char *what, uint64_t idx) {
  double worst = 0.0;
  size_t t = 0;
  for (size_t i = 0; i < NIN; i++)
    for (size_t o = 0; o < NOUT; o++) {
      uint32_t in = gemm_ins[i], out = gemm_outs[o];
      const float *w = m->tensors[3 * t].data, *bias = m->tensors[3 * t + 1].data,
                  *v = m->tensors[3 * t + 2].data;
      const float *x = s, *e = s + in, *y = s + in + out;
      for (uint32_t j = 0; j < out; j++) {
        double acc = 0.0, mag = 0.0;
        for (uint32_t k = 0; k < in; k++) {
          double p = (double)x[k] * w[(size_t)j * in + k];
          acc += p;
          mag += fabs(p);
        }
        for (int epi = 0; epi < 2; epi++)
          for (int hb = 0; hb < 2; hb++) {
            double a = acc + (hb ? bias[j] : 0.0), S = mag + (hb ? fabs(bias[j]) : 0.0);
            double ref = epi ? silu(a) * e[j] + v[j] - EPI_C : a;
            double got = y[(size_t)(epi * 2 + hb) * out + j];
            double bound = (in + 4) * 0x1p-24 * (1.0 + S) * (1.0 + (epi ? fabs(e[j]) : 0.0)) +
                           4 * 0x1p-24 * fabs(ref);
            double r = fabs(got - ref) / bound;
            ck_assert_msg(r <= 1.0,
                          "%s sample %llu: in %u out %u bias %d epilogue %d col %u: got %.9g, "
                          "reference %.9g, bound %.3g",
                          what, (unsigned long long)idx, in, out, hb, epi, j, got, ref, bound);
            if (r > worst) worst = r;
          }
      }
      s += in + 5 * out;
      t++;
    }
  return worst;
}

static void run_exe(const char *exe, const char *out, uint64_t n, uint64_t seed) {
  ck_assert_int_eq(tu_run("'%s' -n %llu -s %llu -o '%s'", exe, (unsigned long long)n,
                          (unsigned long long)seed, out),
                   0);
}

/* 100: an LLVM tile tail (100 = 16 x 6 + 4) and, with --gemm=blas, two
 * epilogue chunks of 64 and 36 rows for out = 256 */
static const uint32_t gemm_rows[] = {1, 3, 64, 100};

START_TEST(test_gemm_shapes) {
  uint32_t rows = gemm_rows[_i];
  const uint64_t seed = 4242 + rows;
  printf("test_gemm_shapes: block size %u, seed %llu\n", rows, (unsigned long long)seed);
  ir_module m;
  build_module(&m, rows);
  char dir[PATH_MAX], exe[2][PATH_MAX + 16], npy[2][PATH_MAX + 16];
  tu_make_tmpdir(dir, sizeof dir);
  static const codegen_gemm kinds[2] = {CODEGEN_GEMM_LLVM, CODEGEN_GEMM_BLAS};
  static const char *const names[2] = {"llvm", "blas"};
  pmm_array a[2];
  /* two blocks and a partial third: every row of a block is exercised */
  uint64_t n = 2 * (uint64_t)rows + 1;
  for (int k = 0; k < 2; k++) {
    snprintf(exe[k], sizeof exe[k], "%s/%s", dir, names[k]);
    snprintf(npy[k], sizeof npy[k], "%s/%s.npy", dir, names[k]);
    compile_exe(&m, kinds[k], exe[k]);
    run_exe(exe[k], npy[k], n, seed);
    tu_read_npy(npy[k], &a[k]);
    ck_assert_uint_eq(a[k].count, n * m.out_len);
  }
  for (int k = 0; k < 2; k++) {
    double worst = 0.0;
    for (uint64_t i = 0; i < n; i++) {
      double w = check_sample(&m, a[k].data + i * m.out_len, names[k], i);
      if (w > worst) worst = w;
    }
    printf("  --gemm=%s: largest error %.3f of the bound\n", names[k], worst);
  }
  /* the inputs are the same noise; the outputs agree within twice the bound */
  for (uint64_t i = 0; i < a[0].count; i++) {
    double d = fabs((double)a[0].data[i] - a[1].data[i]);
    ck_assert_msg(d <= 1e-4 * (1.0 + fabs(a[1].data[i])), "llvm vs blas at %llu: %g vs %g",
                  (unsigned long long)i, a[0].data[i], a[1].data[i]);
  }
  pmm_array_free(&a[0]);
  pmm_array_free(&a[1]);
  tu_remove_tree(dir);
  ir_module_free(&m);
}
END_TEST

static int same_rows(const pmm_array *a, uint64_t a0, const pmm_array *b, uint64_t b0, uint64_t n,
                     uint64_t len) {
  return memcmp(a->data + a0 * len, b->data + b0 * len, n * len * sizeof(float)) == 0;
}

/* The compiled bench-mlp with LLVM kernels: the same bits for any -n,
 * --threads and --first-index (docs/determinism.md). */
START_TEST(test_gemm_determinism) {
  const uint64_t seed = 77;
  printf("test_gemm_determinism: seed %llu\n", (unsigned long long)seed);
  char dir[PATH_MAX], exe[PATH_MAX + 16], p[4][PATH_MAX + 16];
  tu_make_tmpdir(dir, sizeof dir);
  snprintf(exe, sizeof exe, "%s/mlp", dir);
  ck_assert_int_eq(tu_run("'%s' build '%s/models/bench-mlp/model.yaml' --gemm=llvm "
                          "--block-size 16 -o '%s'",
                          tu_pmmc(), tu_srcdir(), exe),
                   0);
  for (int i = 0; i < 4; i++) snprintf(p[i], sizeof p[i], "%s/o%d.npy", dir, i);
  ck_assert_int_eq(
      tu_run("'%s' -n 100 -s %llu --threads 1 -o '%s'", exe, (unsigned long long)seed, p[0]), 0);
  ck_assert_int_eq(
      tu_run("'%s' -n 100 -s %llu --threads 2 -o '%s'", exe, (unsigned long long)seed, p[1]), 0);
  ck_assert_int_eq(tu_run("'%s' -n 1 -s %llu -o '%s'", exe, (unsigned long long)seed, p[2]), 0);
  ck_assert_int_eq(tu_run("'%s' -n 9 --first-index 37 -s %llu --threads 2 -o '%s'", exe,
                          (unsigned long long)seed, p[3]),
                   0);
  pmm_array a[4];
  for (int i = 0; i < 4; i++) tu_read_npy(p[i], &a[i]);
  ck_assert_uint_eq(a[0].count, 200);
  ck_assert(same_rows(&a[0], 0, &a[1], 0, 100, 2));
  ck_assert(same_rows(&a[0], 0, &a[2], 0, 1, 2));
  ck_assert(same_rows(&a[0], 37, &a[3], 0, 9, 2));
  for (uint64_t i = 0; i < a[0].count; i++) ck_assert(isfinite(a[0].data[i]));
  for (int i = 0; i < 4; i++) pmm_array_free(&a[i]);
  tu_remove_tree(dir);
}
END_TEST

static Suite *gemm_suite(void) {
  Suite *s = suite_create("gemm");
  TCase *tc = tcase_create("kernels");
  tcase_set_timeout(tc, 300);
  tcase_add_loop_test(tc, test_gemm_shapes, 0, (int)(sizeof gemm_rows / sizeof gemm_rows[0]));
  tcase_add_test(tc, test_gemm_determinism);
  suite_add_tcase(s, tc);
  return s;
}

int main(void) {
  SRunner *sr = srunner_create(gemm_suite());
  srunner_run_all(sr, CK_NORMAL);
  int failed = srunner_ntests_failed(sr);
  srunner_free(sr);
  return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
