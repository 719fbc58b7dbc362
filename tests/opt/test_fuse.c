/*
 * test_fuse.c - pass 'fuse' (compiler/opt/fuse.c): the structure it leaves
 * on lowered models and on hand-built chains, and that it changes no bit.
 *
 * Tolerances: the interpreter's samples before and after fusion must be
 * identical bit for bit (memcmp): a fused program performs the float
 * operations of the instructions it replaced, one for one.  The compiled
 * sampler of a fused module is compared with the interpreter of the same
 * module: bit for bit when its GEMMs go through OpenBLAS like the
 * interpreter's (the epilogues, activations included, compute the same
 * float operations), and within docs/determinism.md's
 * |a - b| <= 1e-4 (1 + |b|) per element with the default GEMM choice, whose
 * LLVM kernels may sum in another order (the test prints how many floats
 * are identical).
 *
 * Structure is counted over live instructions only (those the block's
 * result depends on), so the test does not depend on what dce removes.
 */
#include "config.h"

#include <check.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "compiler/codegen/codegen.h"
#include "compiler/front/spec.h"
#include "compiler/interp/interp.h"
#include "compiler/ir/ir.h"
#include "compiler/lower/lower.h"
#include "compiler/opt/opt.h"
#include "runtime/pmmrt.h"
#include "tests/util/testutil.h"

#define PASSES_BEFORE "shapes,fold,dce"
#define PASSES_AFTER "shapes,fold,dce,fuse,dce"

static void load_model(const char *name, ir_module *m) {
  char path[PATH_MAX];
  snprintf(path, sizeof path, "%s/models/%s/model.yaml", tu_srcdir(), name);
  model_spec spec;
  diag_list dl;
  diag_list_init(&dl);
  int rc = spec_load(path, &spec, &dl);
  if (rc == 0) {
    lower_options lo = {.block_size = 0};
    rc = lower_model(&spec, &lo, m, &dl);
    spec_free(&spec);
  }
  if (rc != 0) diag_print(&dl, stderr);
  diag_list_free(&dl);
  ck_assert_msg(rc == 0, "cannot load %s", path);
}

static void run_passes(ir_module *m, const char *passes) {
  opt_options o;
  opt_options_init(&o, OPT_PIPELINE_COMPILED);
  o.passes = passes;
  char err[1024];
  ck_assert_msg(opt_run_pipeline(m, &o, err, sizeof err) == 0, "%s: %s", passes, err);
}

/* Which instructions of a block its result depends on. */
static uint8_t *live_set(const ir_block *b) {
  uint8_t *live = calloc(b->count ? b->count : 1, 1);
  ck_assert_ptr_nonnull(live);
  if (b->result >= 0) live[b->result] = 1;
  for (uint32_t i = b->count; i-- > 0;)
    if (live[i])
      for (uint32_t a = 0; a < b->insts[i].nargs; a++) live[b->insts[i].args[a]] = 1;
  return live;
}

typedef struct op_counts {
  uint32_t op[IR_OP_COUNT];
  uint32_t epilogues; /* live DENSE with a program */
} op_counts;

static op_counts count_live(const ir_block *b) {
  op_counts c;
  memset(&c, 0, sizeof c);
  uint8_t *live = live_set(b);
  for (uint32_t i = 0; i < b->count; i++) {
    if (!live[i]) continue;
    c.op[b->insts[i].op]++;
    if (b->insts[i].op == IR_OP_DENSE && b->insts[i].prog >= 0) c.epilogues++;
  }
  free(live);
  return c;
}

static uint32_t count_elementwise(const op_counts *c) {
  return c->op[IR_OP_ACT] + c->op[IR_OP_ADD] + c->op[IR_OP_SUB] + c->op[IR_OP_MUL];
}

/* n samples from first, seed, by the interpreter; caller frees. */
static float *interpret(const ir_module *m, uint64_t seed, uint64_t first, uint64_t n) {
  char err[512];
  interp *ip;
  ck_assert_msg(interp_init(&ip, m, err, sizeof err) == 0, "%s", err);
  pmm_model_desc d;
  interp_describe(ip, &d);
  float *out = malloc(n * m->out_len * sizeof *out);
  ck_assert_ptr_nonnull(out);
  ck_assert_msg(pmm_sampler_generate(&d, seed, first, n, 1, out, err, sizeof err) == PMM_OK, "%s",
                err);
  interp_free(ip);
  return out;
}

/* Interpreted samples of the unfused and fused modules, bit for bit. */
static void check_same_bits(const ir_module *before, const ir_module *after, uint64_t seed,
                            uint64_t n) {
  ck_assert_uint_eq(before->out_len, after->out_len);
  float *a = interpret(before, seed, 3, n), *b = interpret(after, seed, 3, n);
  uint64_t count = n * before->out_len, bad = 0, first_bad = 0;
  double norm = 0.0;
  for (uint64_t i = 0; i < count; i++) {
    norm += fabs((double)a[i]);
    if (memcmp(&a[i], &b[i], sizeof a[i]) != 0 && bad++ == 0) first_bad = i;
  }
  printf("%s: seed %llu, %llu samples from 3: %llu of %llu floats differ after fusion\n",
         before->name, (unsigned long long)seed, (unsigned long long)n, (unsigned long long)bad,
         (unsigned long long)count);
  ck_assert_msg(bad == 0, "%s: float %llu is %.9g unfused, %.9g fused", before->name,
                (unsigned long long)first_bad, (double)a[first_bad], (double)b[first_bad]);
  ck_assert_msg(norm > 0.0, "all-zero samples compare nothing");
  free(a);
  free(b);
}

/* Every program within the limits the consumers rely on. */
static void check_prog_limits(const ir_module *m) {
  for (int k = 0; k < IR_BLOCK_COUNT; k++) {
    const ir_block *b = &m->blocks[k];
    for (uint32_t i = 0; i < b->count; i++) {
      const ir_inst *in = &b->insts[i];
      if (in->prog < 0) continue;
      ck_assert_uint_le(m->progs[in->prog].count, IR_PROG_MAX_UOPS);
      ck_assert_uint_le(in->nargs, IR_PROG_MAX_UOPS);
    }
  }
}

/* Float operations (not ARG or CONST uops) of an instruction's program. */
static uint32_t prog_ops(const ir_module *m, const ir_inst *in) {
  const ir_prog *p = &m->progs[in->prog];
  uint32_t ops = 0;
  for (uint32_t u = 0; u < p->count; u++)
    ops += p->uops[u].kind != IR_UOP_ARG && p->uops[u].kind != IR_UOP_CONST;
  return ops;
}

static int has_operand(const ir_block *b, const ir_inst *in, ir_op op) {
  for (uint32_t a = 0; a < in->nargs; a++)
    if (b->insts[in->args[a]].op == op) return 1;
  return 0;
}

/* ---- lowered models -------------------------------------------------------- */

START_TEST(test_bench_mlp_structure) {
  ir_module m;
  load_model("bench-mlp", &m);
  run_passes(&m, PASSES_AFTER);
  const ir_block *b = &m.blocks[IR_BLOCK_STEP];
  op_counts c = count_live(b);
  /* fc1+silu, fc2+silu, fc3+silu+residual, out+conjugate update */
  ck_assert_uint_eq(c.op[IR_OP_DENSE], 4);
  ck_assert_uint_eq(c.epilogues, 4);
  ck_assert_uint_eq(c.op[IR_OP_FUSED], 0);
  ck_assert_uint_eq(count_elementwise(&c), 0);
  ck_assert_uint_eq(c.op[IR_OP_RANDN], 1);
  /* the block's result is the output layer with the update as epilogue,
   * reading the state, the noise and the three coefficients */
  const ir_inst *r = &b->insts[b->result];
  ck_assert_int_eq(r->op, IR_OP_DENSE);
  ck_assert_uint_eq(prog_ops(&m, r), 5); /* three muls, two adds */
  ck_assert(has_operand(b, r, IR_OP_STATE) && has_operand(b, r, IR_OP_RANDN));
  /* the residual layer: silu of the GEMM plus fc1's activation, itself a
   * dense layer with epilogue, as an extra operand */
  uint32_t residual = 0;
  uint8_t *live = live_set(b);
  for (uint32_t i = 0; i < b->count; i++) {
    const ir_inst *in = &b->insts[i];
    if (!live[i] || in->op != IR_OP_DENSE) continue;
    for (uint32_t a = 1; a < in->nargs; a++) {
      const ir_inst *extra = &b->insts[in->args[a]];
      residual += extra->op == IR_OP_DENSE && extra->prog >= 0;
    }
  }
  free(live);
  ck_assert_uint_eq(residual, 1);
  check_prog_limits(&m);
  ir_module_free(&m);
}
END_TEST

START_TEST(test_gmm8_structure) {
  ir_module m;
  load_model("gmm8", &m);
  run_passes(&m, PASSES_AFTER);
  const ir_block *b = &m.blocks[IR_BLOCK_STEP];
  op_counts c = count_live(b);
  ck_assert_uint_eq(c.op[IR_OP_FUSED], 1);
  ck_assert_uint_eq(count_elementwise(&c), 0);
  ck_assert_uint_eq(c.op[IR_OP_EXACT_GMM], 1);
  const ir_inst *r = &b->insts[b->result];
  ck_assert_int_eq(r->op, IR_OP_FUSED);
  /* mu, xhat, eps and the coefficients; three muls, two adds */
  ck_assert_uint_eq(prog_ops(&m, r), 5);
  ck_assert(has_operand(b, r, IR_OP_STATE) && has_operand(b, r, IR_OP_RANDN) &&
            has_operand(b, r, IR_OP_EXACT_GMM));
  ir_module_free(&m);
}
END_TEST

/* fused: whether the pass finds a chain (words50's step block is one
 * multiplication feeding the Poisson draw and one addition after it). */
static const struct {
  const char *model;
  uint64_t seed, n;
  int fused;
} same_bits_cases[] = {
    {"bench-mlp", 11, 70, 1}, {"gmm8", 12, 100, 1},      {"counts5", 13, 100, 1},
    {"words50", 14, 40, 0},   {"gmm8-heun", 15, 100, 1},
};

START_TEST(test_interpreter_same_bits) {
  ir_module before, after;
  load_model(same_bits_cases[_i].model, &before);
  load_model(same_bits_cases[_i].model, &after);
  run_passes(&before, PASSES_BEFORE);
  run_passes(&after, PASSES_AFTER);
  uint32_t fused = 0;
  for (int k = 0; k < IR_BLOCK_COUNT; k++) {
    op_counts c = count_live(&after.blocks[k]);
    fused += c.op[IR_OP_FUSED] + c.epilogues;
  }
  /* fusion happened where it can: the comparison has teeth */
  ck_assert_uint_eq(fused > 0, same_bits_cases[_i].fused);
  check_prog_limits(&after);
  check_same_bits(&before, &after, same_bits_cases[_i].seed, same_bits_cases[_i].n);
  ir_module_free(&before);
  ir_module_free(&after);
}
END_TEST

/* ---- hand-built chains ------------------------------------------------------ */

static int32_t emit(ir_block *b, ir_op op, uint32_t nargs, const int32_t *args, uint32_t len,
                    int uniform) {
  int32_t i = ir_emit(b, op, nargs, args, len, uniform);
  ck_assert_int_ge(i, 0);
  return i;
}

static int32_t emit_bin(ir_block *b, ir_op op, int32_t x, int32_t y) {
  int32_t args[2] = {x, y};
  const ir_inst *a = &b->insts[x], *c = &b->insts[y];
  uint32_t len = a->len > c->len ? a->len : c->len;
  return emit(b, op, 2, args, len, a->uniform && c->uniform);
}

static int32_t emit_act(ir_block *b, pmm_act act, int32_t x) {
  int32_t i = emit(b, IR_OP_ACT, 1, &x, b->insts[x].len, b->insts[x].uniform);
  b->insts[i].act = act;
  return i;
}

static int32_t emit_const(ir_block *b, float v) {
  int32_t i = emit(b, IR_OP_CONST, 0, NULL, 1, 1);
  b->insts[i].fattr = v;
  return i;
}

enum { CHAIN_LONG = 90 };

/* Step block (state of 4):
 *   u = coef * coef                    uniform: stays as it is
 *   h = softplus(tanh(u * mu)) + eps   (chain; h also feeds the dense layer)
 *   g = sigmoid(0.5 * h - vec)         (vec a uniform [4] table row)
 *   mu_t = gelu(silu(dense(h))) * g + mu
 * Final block: a chain of CHAIN_LONG adds of constants, longer than one
 * program holds. */
static void build_chain(ir_module *m, int32_t *h_out) {
  ck_assert_int_eq(ir_module_init(m, "fusechain"), 0);
  m->steps = m->schedule_steps = 5;
  m->state_len = 4;
  m->out_len = 4;
  m->rank = 1;
  m->shape[0] = 4;
  m->block_size = 8;
  static const float coef[5] = {0.9f, 0.8f, 0.7f, 0.6f, 0.5f};
  float vec[20], w[16], bias[4];
  for (int i = 0; i < 20; i++) vec[i] = 0.05f * (float)i - 0.3f;
  for (int i = 0; i < 16; i++) w[i] = 0.1f * (float)((i * 7) % 11) - 0.5f;
  for (int i = 0; i < 4; i++) bias[i] = 0.1f * (float)i;
  int32_t tc = ir_add_table(m, "coef", 5, coef), tv = ir_add_table_rows(m, "vec", 5, 4, vec);
  uint64_t wshape[2] = {4, 4}, bshape[1] = {4};
  int32_t tw = ir_add_tensor(m, "w", 2, wshape, w), tb = ir_add_tensor(m, "b", 1, bshape, bias);
  ck_assert(tc >= 0 && tv >= 0 && tw >= 0 && tb >= 0);

  ir_block *b = &m->blocks[IR_BLOCK_INIT];
  int32_t f = emit(b, IR_OP_FILL, 0, NULL, 4, 0);
  b->insts[f].fattr = 0.5f;
  b->result = f;

  b = &m->blocks[IR_BLOCK_STEP];
  int32_t mu = emit(b, IR_OP_STATE, 0, NULL, 4, 0);
  int32_t c = emit(b, IR_OP_TABLE, 0, NULL, 1, 1);
  b->insts[c].table = tc;
  int32_t v = emit(b, IR_OP_TABLE, 0, NULL, 4, 1);
  b->insts[v].table = tv;
  int32_t eps = emit(b, IR_OP_RANDN, 0, NULL, 4, 0);
  int32_t u = emit_bin(b, IR_OP_MUL, c, c);
  int32_t th = emit_act(b, PMM_ACT_TANH, emit_bin(b, IR_OP_MUL, u, mu));
  int32_t h = emit_bin(b, IR_OP_ADD, emit_act(b, PMM_ACT_SOFTPLUS, th), eps);
  int32_t half = emit_const(b, 0.5f);
  int32_t g =
      emit_act(b, PMM_ACT_SIGMOID, emit_bin(b, IR_OP_SUB, emit_bin(b, IR_OP_MUL, half, h), v));
  int32_t d = emit(b, IR_OP_DENSE, 1, &h, 4, 0);
  b->insts[d].weight = tw;
  b->insts[d].bias = tb;
  int32_t s = emit_act(b, PMM_ACT_GELU, emit_act(b, PMM_ACT_SILU, d));
  b->result = emit_bin(b, IR_OP_ADD, emit_bin(b, IR_OP_MUL, s, g), mu);
  *h_out = h;

  b = &m->blocks[IR_BLOCK_FINAL];
  int32_t x = emit(b, IR_OP_STATE, 0, NULL, 4, 0);
  for (int i = 0; i < CHAIN_LONG; i++)
    x = emit_bin(b, i % 3 ? IR_OP_ADD : IR_OP_MUL, x, emit_const(b, 1.0f + 0.001f * (float)i));
  b->result = x;
  char err[512];
  ck_assert_msg(ir_verify(m, err, sizeof err) == 0, "%s", err);
}

START_TEST(test_hand_built_chain) {
  ir_module before, after;
  int32_t h;
  build_chain(&before, &h);
  build_chain(&after, &h);
  run_passes(&before, "shapes");
  /* fuse alone: every index stays where it was */
  run_passes(&after, "shapes,fuse");

  const ir_block *b = &after.blocks[IR_BLOCK_STEP];
  op_counts c = count_live(b);
  ck_assert_uint_eq(c.epilogues, 1);
  ck_assert_uint_eq(c.op[IR_OP_DENSE], 1);
  ck_assert_uint_eq(c.op[IR_OP_FUSED], 1);
  ck_assert_uint_eq(c.op[IR_OP_MUL], 1); /* the uniform u = coef * coef */
  ck_assert_uint_eq(count_elementwise(&c), 1);
  /* h is read by the dense layer and by the epilogue: it stays materialised,
   * as the fused chain softplus(tanh(u * mu)) + eps */
  const ir_inst *hi = &b->insts[h];
  ck_assert_int_eq(hi->op, IR_OP_FUSED);
  ck_assert_uint_eq(after.progs[hi->prog].count, 7); /* u, mu, mul, tanh, softplus, eps, add */
  const ir_inst *r = &b->insts[b->result];
  ck_assert_int_eq(r->op, IR_OP_DENSE);
  ck_assert_int_eq(r->args[0], h);
  /* epilogue: h, 0.5 (a CONST uop), vec, mu and the GEMM; silu, gelu,
   * sigmoid, mul, sub, mul, add */
  const ir_prog *p = &after.progs[r->prog];
  uint32_t consts = 0;
  for (uint32_t u = 0; u < p->count; u++) consts += p->uops[u].kind == IR_UOP_CONST;
  ck_assert_uint_eq(consts, 1);
  ck_assert_uint_eq(p->count, 12);

  /* the long chain is cut into programs that fit */
  op_counts fc = count_live(&after.blocks[IR_BLOCK_FINAL]);
  ck_assert_uint_ge(fc.op[IR_OP_FUSED], 2);
  ck_assert_uint_eq(count_elementwise(&fc), 0);
  check_prog_limits(&after);

  check_same_bits(&before, &after, 99, 20);
  ir_module_free(&before);
  ir_module_free(&after);
}
END_TEST

/* ---- compiled code of fused modules ------------------------------------------ */

/* GEMM through OpenBLAS, as the interpreter does: the same bits are
 * required; the default and the LLVM GEMM kernels (which sum in another
 * order, and run the epilogue on vectors) must stay within the tolerance. */
static const struct {
  const char *model; /* NULL: the hand-built chains */
  codegen_gemm gemm;
  int exact;
} compiled_cases[] = {
    {"bench-mlp", CODEGEN_GEMM_BLAS, 1},
    {"bench-mlp", CODEGEN_GEMM_AUTO, 0},
    {NULL, CODEGEN_GEMM_BLAS, 1},
    {NULL, CODEGEN_GEMM_LLVM, 0},
};

START_TEST(test_compiled_matches_interpreter) {
  ir_module m;
  int32_t h;
  if (compiled_cases[_i].model)
    load_model(compiled_cases[_i].model, &m);
  else
    build_chain(&m, &h);
  run_passes(&m, PASSES_AFTER);
  const uint64_t seed = 2024, first = 5, n = 70;
  char dir[PATH_MAX], exe[PATH_MAX + 16], npy[PATH_MAX + 16];
  tu_make_tmpdir(dir, sizeof dir);
  snprintf(exe, sizeof exe, "%s/%s", dir, m.name);
  snprintf(npy, sizeof npy, "%s/out.npy", dir);
  const char *lib = getenv("PMMC_RUNTIME_LIB");
  ck_assert_msg(lib && *lib, "PMMC_RUNTIME_LIB is not set (run through make check)");
  codegen_options o;
  codegen_options_init(&o);
  o.output = exe;
  o.runtime_lib = lib;
  o.gemm = compiled_cases[_i].gemm;
  char err[4096];
  ck_assert_msg(codegen_compile(&m, &o, err, sizeof err) == 0, "codegen: %s", err);
  ck_assert_int_eq(tu_run("'%s' -n %llu --seed %llu --first-index %llu -o '%s'", exe,
                          (unsigned long long)n, (unsigned long long)seed,
                          (unsigned long long)first, npy),
                   0);
  pmm_array got;
  tu_read_npy(npy, &got);
  ck_assert_uint_eq(got.count, n * m.out_len);
  float *want = interpret(&m, seed, first, n);
  uint64_t same = 0;
  double worst = 0.0, norm = 0.0;
  for (uint64_t i = 0; i < got.count; i++) {
    double d = fabs((double)got.data[i] - want[i]), tol = 1e-4 * (1.0 + fabs((double)want[i]));
    same += memcmp(&got.data[i], &want[i], sizeof want[i]) == 0;
    norm += fabs((double)want[i]);
    if (d / tol > worst) worst = d / tol;
    ck_assert_msg(d <= tol, "float %llu: compiled %.9g, interpreted %.9g", (unsigned long long)i,
                  (double)got.data[i], (double)want[i]);
  }
  printf("%s fused, compiled (gemm mode %d) vs interpreted: seed %llu, %llu of %llu floats "
         "identical, worst %.3g of the tolerance\n",
         m.name, (int)compiled_cases[_i].gemm, (unsigned long long)seed, (unsigned long long)same,
         (unsigned long long)got.count, worst);
  if (compiled_cases[_i].exact) ck_assert_uint_eq(same, got.count);
  ck_assert_msg(norm > 0.0, "all-zero samples compare nothing");
  free(want);
  pmm_array_free(&got);
  tu_remove_tree(dir);
  ir_module_free(&m);
}
END_TEST

int main(void) {
  Suite *s = suite_create("fuse");
  TCase *tc = tcase_create("fuse");
  tcase_add_test(tc, test_bench_mlp_structure);
  tcase_add_test(tc, test_gmm8_structure);
  tcase_add_loop_test(tc, test_interpreter_same_bits, 0,
                      (int)(sizeof same_bits_cases / sizeof same_bits_cases[0]));
  tcase_add_test(tc, test_hand_built_chain);
  tcase_add_loop_test(tc, test_compiled_matches_interpreter, 0,
                      (int)(sizeof compiled_cases / sizeof compiled_cases[0]));
  suite_add_tcase(s, tc);
  int failed = tu_run_suite(s);
  return failed == 0 ? 0 : 1;
}
