/*
 * test_codegen.c - the LLVM back end on hand-built IR modules: compiled
 * samplers against the interpreter, the emitted module's shape, the output
 * kinds, cross targets and link errors.
 *
 * Tolerance: compiled and interpreted samples must be equal bit for bit
 * (0 ULP).  Both call the same runtime kernels with the same shapes, and the
 * inline elementwise code performs the interpreter's float operations in its
 * order with no fast-math flags and no contraction, so any difference is a
 * back-end bug, at -O0 as at -O3 (vectorised).
 *
 * The compiled side is a real executable (codegen_compile with
 * CODEGEN_EMIT_EXE, linked with $PMMC_RUNTIME_LIB) run as
 * `EXE -n N --seed S --first-index F -o out.npy`; the interpreted side is
 * pmm_sampler_generate over interp_run_block in this process.  The modules
 * compared are hand-built (every op) and lowered from specs built in C: every
 * pair and sampler, graph and exact networks, both outputs.
 */
#include "config.h"

#include <check.h>
#include <dirent.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "compiler/codegen/codegen.h"
#include "compiler/interp/interp.h"
#include "compiler/ir/ir.h"
#include "compiler/lower/lower.h"
#include "compiler/opt/opt.h"
#include "runtime/pmmrt.h"
#include "tests/ir/ir_spec.h"
#include "tests/util/testutil.h"

static int32_t emit(ir_block *b, ir_op op, uint32_t nargs, const int32_t *args, uint32_t len,
                    int uniform) {
  int32_t i = ir_emit(b, op, nargs, args, len, uniform);
  ck_assert_int_ge(i, 0);
  return i;
}

static int32_t emit_fattr(ir_block *b, ir_op op, uint32_t len, int uniform, float v) {
  int32_t i = emit(b, op, 0, NULL, len, uniform);
  b->insts[i].fattr = v;
  return i;
}

static int32_t emit_unary(ir_block *b, ir_op op, int32_t x, uint32_t len, int uniform) {
  return emit(b, op, 1, &x, len, uniform);
}

static int32_t emit_binary(ir_block *b, ir_op op, int32_t x, int32_t y) {
  int32_t args[2] = {x, y};
  const ir_inst *a = &b->insts[x], *c = &b->insts[y];
  uint32_t len = a->len > c->len ? a->len : c->len;
  return emit(b, op, 2, args, len, a->uniform && c->uniform);
}

static int32_t emit_act(ir_block *b, pmm_act act, int32_t x) {
  int32_t i = emit_unary(b, IR_OP_ACT, x, b->insts[x].len, b->insts[x].uniform);
  b->insts[i].act = act;
  return i;
}

static int32_t emit_dense(ir_block *b, int32_t x, uint32_t out, int32_t w, int32_t bias) {
  int32_t i = emit_unary(b, IR_OP_DENSE, x, out, b->insts[x].uniform);
  b->insts[i].weight = w;
  b->insts[i].bias = bias;
  return i;
}

/* Deterministic pseudo-random weights in [-scale, scale). */
static int32_t add_tensor(ir_module *m, const char *name, uint64_t rows, uint64_t cols,
                          uint32_t *state, float scale) {
  uint64_t shape[2] = {rows, cols}, n = cols ? rows * cols : rows;
  float *data = malloc(n * sizeof *data);
  ck_assert_ptr_nonnull(data);
  for (uint64_t i = 0; i < n; i++) {
    *state = *state * 1664525u + 1013904223u;
    data[i] = scale * ((float)(*state >> 8) / 8388608.0f - 1.0f);
  }
  int32_t t = ir_add_tensor(m, name, cols ? 2 : 1, shape, data);
  free(data);
  ck_assert_int_ge(t, 0);
  return t;
}

static void module_header(ir_module *m, const char *name, uint32_t steps, uint32_t state_len,
                          uint32_t block) {
  ck_assert_int_eq(ir_module_init(m, name), 0);
  m->steps = steps;
  m->schedule_steps = steps;
  m->state_len = state_len;
  m->block_size = block;
  m->prior_mean = 0.25;
  m->prior_precision = 1.5;
}

/* Every op of the IR: a small network with all activations, uniform and
 * per-sample broadcasting, a uniform DENSE, two noise streams (one drawn
 * twice), LayerNorm, and an exact-GMM final block.  Sample shape [2, 3]. */
static void build_net(ir_module *m, uint32_t steps) {
  module_header(m, "cgnet", steps, 6, 16);
  m->rank = 2;
  m->shape[0] = 2;
  m->shape[1] = 3;
  m->out_len = 6;
  uint32_t rng = 20240601u;
  int32_t w1 = add_tensor(m, "fc1.weight", 24, 11, &rng, 0.6f);
  int32_t b1 = add_tensor(m, "fc1.bias", 24, 0, &rng, 0.3f);
  int32_t wt = add_tensor(m, "temb.weight", 24, 4, &rng, 0.5f);
  int32_t lw = add_tensor(m, "ln.weight", 24, 0, &rng, 1.0f);
  int32_t lb = add_tensor(m, "ln.bias", 24, 0, &rng, 0.2f);
  int32_t w2 = add_tensor(m, "fc2.weight", 6, 24, &rng, 0.4f);
  int32_t b2 = add_tensor(m, "fc2.bias", 6, 0, &rng, 0.1f);
  float *tau = malloc(steps * sizeof *tau), *coef = malloc(steps * sizeof *coef);
  ck_assert(tau && coef);
  for (uint32_t t = 0; t < steps; t++) {
    tau[t] = 0.05f + 0.37f * (float)t;
    coef[t] = 0.9f / (1.0f + (float)t);
  }
  int32_t ttau = ir_add_table(m, "tau", steps, tau);
  int32_t tcoef = ir_add_table(m, "coef", steps, coef);
  free(tau);
  free(coef);
  float gw[3] = {0.2f, 0.3f, 0.5f}, gs[3] = {0.1f, 0.4f, 1.2f};
  float gm[18] = {1, 0, -1, 0.5f, 2, 0, -1, 2, 0, 0, 0.3f, 1, 0.5f, 0.5f, -2, 1, 0, 0};
  int32_t mix = ir_add_mixture(m, 3, 6, gw, gm, gs);
  ck_assert(ttau >= 0 && tcoef >= 0 && mix >= 0);

  ir_block *b = &m->blocks[IR_BLOCK_INIT];
  int32_t half = emit_fattr(b, IR_OP_CONST, 1, 1, 0.5f);
  int32_t emb = emit_unary(b, IR_OP_SINUSOIDAL, half, 6, 1);
  b->insts[emb].dim = 6;
  int32_t fill = emit_fattr(b, IR_OP_FILL, 6, 0, 0.25f);
  b->result = emit_binary(b, IR_OP_ADD, fill, emb);

  b = &m->blocks[IR_BLOCK_STEP];
  int32_t s = emit(b, IR_OP_STATE, 0, NULL, 6, 0);
  int32_t t = emit(b, IR_OP_TABLE, 0, NULL, 1, 1);
  b->insts[t].table = ttau;
  int32_t temb = emit_unary(b, IR_OP_SINUSOIDAL, t, 4, 1);
  b->insts[temb].dim = 4;
  int32_t cat_args[3] = {s, temb, t};
  int32_t h0 = emit(b, IR_OP_CONCAT, 3, cat_args, 11, 0);
  int32_t h1 = emit_dense(b, h0, 24, w1, b1);
  int32_t big = emit_binary(b, IR_OP_MUL, h1, emit_fattr(b, IR_OP_CONST, 1, 1, 13.0f));
  int32_t sp = emit_act(b, PMM_ACT_SOFTPLUS, big); /* both sides of its threshold 20 */
  int32_t x =
      emit_binary(b, IR_OP_ADD, emit_act(b, PMM_ACT_SILU, h1), emit_act(b, PMM_ACT_GELU, h1));
  x = emit_binary(b, IR_OP_SUB, x, emit_act(b, PMM_ACT_TANH, h1));
  x = emit_binary(b, IR_OP_MUL, x, emit_act(b, PMM_ACT_SIGMOID, h1));
  x = emit_binary(b, IR_OP_ADD, x, emit_act(b, PMM_ACT_RELU, h1));
  x = emit_binary(b, IR_OP_MUL, x, sp);
  int32_t ln = emit_unary(b, IR_OP_LAYERNORM, x, 24, 0);
  b->insts[ln].weight = lw;
  b->insts[ln].bias = lb;
  b->insts[ln].fattr = 1e-5f;
  int32_t tproj = emit_dense(b, temb, 24, wt, -1); /* uniform */
  x = emit_binary(b, IR_OP_ADD, ln, emit_act(b, PMM_ACT_SILU, tproj));
  int32_t h2 = emit_dense(b, x, 6, w2, b2);
  int32_t n0 = emit(b, IR_OP_RANDN, 0, NULL, 6, 0);
  int32_t n5 = emit(b, IR_OP_RANDN, 0, NULL, 6, 0);
  b->insts[n5].stream = 5;
  int32_t n5b = emit(b, IR_OP_RANDN, 0, NULL, 6, 0);
  b->insts[n5b].stream = 5;
  int32_t c = emit(b, IR_OP_TABLE, 0, NULL, 1, 1);
  b->insts[c].table = tcoef;
  x = emit_binary(b, IR_OP_SUB, h2, emit_binary(b, IR_OP_MUL, c, n0));
  x = emit_binary(b, IR_OP_ADD, x, emit_binary(b, IR_OP_SUB, n5, n5b)); /* exactly 0 */
  x = emit_binary(b, IR_OP_ADD, x,
                  emit_binary(b, IR_OP_MUL, n5, emit_fattr(b, IR_OP_CONST, 1, 1, 0.01f)));
  int32_t decay = emit_binary(b, IR_OP_MUL, t, c); /* uniform scalar */
  b->result = emit_binary(b, IR_OP_ADD, emit_binary(b, IR_OP_MUL, s, decay), x);

  b = &m->blocks[IR_BLOCK_FINAL];
  s = emit(b, IR_OP_STATE, 0, NULL, 6, 0);
  int32_t gargs[2] = {s, emit_fattr(b, IR_OP_CONST, 1, 1, 2.5f)};
  int32_t g = emit(b, IR_OP_EXACT_GMM, 2, gargs, 6, 0);
  b->insts[g].mixture = mix;
  b->result = emit_binary(b, IR_OP_SUB, g, emit_act(b, PMM_ACT_SIGMOID, s));

  char err[512];
  ck_assert_msg(ir_verify(m, err, sizeof err) == 0, "%s", err);
  ck_assert_msg(opt_plan_memory(m, err, sizeof err) == 0, "%s", err);
}

/* Edge cases: a scalar state (per-sample values of length 1 next to uniform
 * scalars), an odd block size, and a final block that concatenates the
 * state with a uniform constant.  Sample shape [3]. */
static void build_scalar(ir_module *m) {
  module_header(m, "cgscalar", 4, 1, 3);
  m->rank = 1;
  m->shape[0] = 3;
  m->out_len = 3;
  float tab[4] = {0.5f, -1.25f, 2.0f, 0.75f};
  int32_t tt = ir_add_table(m, "coef", 4, tab);
  ck_assert_int_ge(tt, 0);

  ir_block *b = &m->blocks[IR_BLOCK_INIT];
  b->result = emit_fattr(b, IR_OP_FILL, 1, 0, 2.0f);

  b = &m->blocks[IR_BLOCK_STEP];
  int32_t s = emit(b, IR_OP_STATE, 0, NULL, 1, 0);
  int32_t t = emit(b, IR_OP_TABLE, 0, NULL, 1, 1);
  b->insts[t].table = tt;
  int32_t n = emit(b, IR_OP_RANDN, 0, NULL, 1, 0);
  b->result = emit_binary(b, IR_OP_ADD, emit_binary(b, IR_OP_MUL, s, t), n);

  b = &m->blocks[IR_BLOCK_FINAL];
  s = emit(b, IR_OP_STATE, 0, NULL, 1, 0);
  int32_t args[3] = {s, emit_fattr(b, IR_OP_CONST, 1, 1, -3.0f), 0};
  args[2] = emit_act(b, PMM_ACT_TANH, s);
  b->result = emit(b, IR_OP_CONCAT, 3, args, 3, 0);

  char err[512];
  ck_assert_msg(ir_verify(m, err, sizeof err) == 0, "%s", err);
  ck_assert_msg(opt_plan_memory(m, err, sizeof err) == 0, "%s", err);
}

/* The discrete ops and noise in init (L = 2 positions of K = 3 symbols):
 *   init  counts_0 = randn(stream 4)^2 (drawn at step 0)
 *   step  mu = dirichlet_mean(C); p = softmax(mu); y = poisson(alpha_t p), stream 3;
 *         q = exact_atoms_categorical(C); g = exact_atoms_gamma(exact_atoms_normal(mu, A), A);
 *         C_t = ((C + y) + q) + g * 0.01
 *   final concat(C, argmax(C), dirichlet_mean(C))  (sample shape [14]: the bits of the
 *         counts and of the inline dirichlet_mean are compared too) */
static void build_discrete(ir_module *m) {
  module_header(m, "cgdisc", 6, 6, 8);
  m->rank = 1;
  m->shape[0] = 14;
  m->out_len = 14;
  m->vocab_size = 3;
  m->pad_symbol = 0;
  m->prior_shape = 1.5;
  m->prior_rate = 0.7;
  m->prior_smoothing = 0.1;
  static const float alpha[6] = {0.5f, 1, 2, 4, 8, 16}, A[6] = {0, 0.5f, 1.5f, 3.5f, 7.5f, 15.5f};
  static const float words[6] = {1, 2, 2, 0, 0, 0}, lw0[3] = {-0.2f, -1.5f, -2.0f};
  static const float rows[12] = {0.2f, 0.3f, 0.5f, 0.1f, 0.1f, 0.8f,
                                 0.6f, 0.2f, 0.2f, 0.3f, 0.3f, 0.4f};
  static const float lw1[2] = {-0.7f, -0.7f};
  int32_t ta = ir_add_table(m, "alpha", 6, alpha), tA = ir_add_table(m, "A", 6, A);
  ck_assert(ta >= 0 && tA >= 0);
  ck_assert_int_eq(ir_add_atoms(m, 3, 2, 3, words, lw0), 0);
  ck_assert_int_eq(ir_add_atoms(m, 2, 6, 0, rows, lw1), 1);

  ir_block *b = &m->blocks[IR_BLOCK_INIT];
  int32_t e = emit(b, IR_OP_RANDN, 0, NULL, 6, 0);
  b->insts[e].stream = 4;
  b->result = emit_binary(b, IR_OP_MUL, e, e);

  b = &m->blocks[IR_BLOCK_STEP];
  int32_t c = emit(b, IR_OP_STATE, 0, NULL, 6, 0);
  int32_t mu = emit_unary(b, IR_OP_DIRICHLET_MEAN, c, 6, 0);
  b->insts[mu].dim = 3;
  b->insts[mu].fattr = 0.3f;
  int32_t p = emit_unary(b, IR_OP_SOFTMAX, mu, 6, 0);
  b->insts[p].dim = 3;
  int32_t t = emit(b, IR_OP_TABLE, 0, NULL, 1, 1);
  b->insts[t].table = ta;
  int32_t y = emit_unary(b, IR_OP_POISSON, emit_binary(b, IR_OP_MUL, t, p), 6, 0);
  b->insts[y].stream = 3;
  int32_t q = emit_unary(b, IR_OP_EXACT_ATOMS_CATEGORICAL, c, 6, 0);
  b->insts[q].atoms = 0;
  int32_t a = emit(b, IR_OP_TABLE, 0, NULL, 1, 1);
  b->insts[a].table = tA;
  int32_t n = emit(b, IR_OP_EXACT_ATOMS_NORMAL, 2, (int32_t[]){mu, a}, 6, 0);
  b->insts[n].atoms = 1;
  int32_t g = emit(b, IR_OP_EXACT_ATOMS_GAMMA, 2, (int32_t[]){n, a}, 6, 0);
  b->insts[g].atoms = 1;
  int32_t x = emit_binary(b, IR_OP_ADD, emit_binary(b, IR_OP_ADD, c, y), q);
  g = emit_binary(b, IR_OP_MUL, g, emit_fattr(b, IR_OP_CONST, 1, 1, 0.01f));
  b->result = emit_binary(b, IR_OP_ADD, x, g);

  b = &m->blocks[IR_BLOCK_FINAL];
  int32_t s = emit(b, IR_OP_STATE, 0, NULL, 6, 0);
  int32_t am = emit_unary(b, IR_OP_ARGMAX, s, 2, 0);
  b->insts[am].dim = 3;
  int32_t dm = emit_unary(b, IR_OP_DIRICHLET_MEAN, s, 6, 0);
  b->insts[dm].dim = 3;
  b->insts[dm].fattr = 0.3f;
  b->result = emit(b, IR_OP_CONCAT, 3, (int32_t[]){s, am, dm}, 14, 0);

  char err[512];
  ck_assert_msg(ir_verify(m, err, sizeof err) == 0, "%s", err);
  ck_assert_msg(opt_plan_memory(m, err, sizeof err) == 0, "%s", err);
}

/* ---- lowered models ----------------------------------------------------- */

/* A small graph: flat = reshape(mu, [-1]) (the categorical mu is [L, K]);
 * temb = sinusoidal(time, 4); h = concat(flat, temb); fc1 = dense(h, 8,
 * silu); out = dense(fc1, n). */
static void spec_net(model_spec *s, uint32_t mu_len, uint32_t n) {
  spec_layer *l = irt_spec_layer(s, "flat", SPEC_LAYER_RESHAPE, "mu");
  l->target = tshape_vec(mu_len);
  l = irt_spec_layer(s, "temb", SPEC_LAYER_SINUSOIDAL, "time");
  l->dim = 4;
  irt_spec_layer(s, "h", SPEC_LAYER_CONCAT, "flat temb");
  l = irt_spec_layer(s, "fc1", SPEC_LAYER_DENSE, "h");
  l->units = 8, l->activation = PMM_ACT_SILU, l->has_bias = 1;
  l = irt_spec_layer(s, "out", SPEC_LAYER_DENSE, "fc1");
  l->units = n, l->has_bias = 1;
  irt_spec_tensor(s, "fc1.weight", 2, (uint64_t[]){8, mu_len + 4}, 0.7, 41);
  irt_spec_tensor(s, "fc1.bias", 1, (uint64_t[]){8}, 0.2, 42);
  irt_spec_tensor(s, "out.weight", 2, (uint64_t[]){n, 8}, 0.9, 43);
  irt_spec_tensor(s, "out.bias", 1, (uint64_t[]){n}, 0.4, 44);
}

typedef enum lowered_kind {
  LOWERED_NORMAL_PMM,    /* graph, prediction */
  LOWERED_NORMAL_EM,     /* graph */
  LOWERED_NORMAL_EM_GMM, /* exact mixture */
  LOWERED_HEUN,          /* graph, prediction, prior mean 0.5 */
  LOWERED_HEUN_ATOMS,    /* exact atom set */
  LOWERED_HEUN_T2,       /* two steps: the step block never runs */
  LOWERED_GAMMA,         /* graph (softplus) */
  LOWERED_GAMMA_ATOMS,   /* exact atom set, prediction */
  LOWERED_CAT,           /* graph, smoothing 0.2, prediction */
  LOWERED_CAT_ATOMS      /* exact atom set, no smoothing */
} lowered_kind;

static void build_lowered(ir_module *m, lowered_kind kind) {
  static const float natoms[6] = {1, -1, 0.5f, 2, -2, 0}, gatoms[6] = {1, 4, 0, 2, 7, 3};
  static const float words[8] = {1, 2, 3, 0, 3, 3, 1, 2};
  model_spec s;
  uint32_t dim = kind >= LOWERED_CAT ? 4 : kind >= LOWERED_GAMMA ? 3 : 2;
  irt_spec_graph(&s, "lowered", dim, kind == LOWERED_HEUN_T2 ? 2 : 12);
  switch (kind) {
  case LOWERED_NORMAL_PMM:
  case LOWERED_NORMAL_EM:
    s.sampler = kind == LOWERED_NORMAL_EM ? SPEC_SAMPLER_EULER_MARUYAMA : SPEC_SAMPLER_PMM;
    s.output = kind == LOWERED_NORMAL_PMM ? SPEC_OUTPUT_PREDICTION : SPEC_OUTPUT_POSTERIOR_MEAN;
    spec_net(&s, 2, 2);
    break;
  case LOWERED_NORMAL_EM_GMM:
    spec_free(&s);
    irt_spec_exact(&s, "lowered", 2, 2, (double[]){0.3, 0.7}, (double[]){1, 1, -1, 0.5},
                   (double[]){0.2, 0.5}, 12);
    s.sampler = SPEC_SAMPLER_EULER_MARUYAMA;
    break;
  case LOWERED_HEUN:
  case LOWERED_HEUN_T2:
    s.sampler = SPEC_SAMPLER_HEUN;
    s.output = SPEC_OUTPUT_PREDICTION;
    s.prior_mean = 0.5;
    spec_net(&s, 2, 2);
    break;
  case LOWERED_HEUN_ATOMS:
    s.sampler = SPEC_SAMPLER_HEUN;
    irt_spec_atoms(&s, 3, natoms, (double[]){1, 2, 3});
    break;
  case LOWERED_GAMMA:
    irt_spec_gamma(&s, 2.0, 0.5);
    spec_net(&s, 3, 3);
    break;
  case LOWERED_GAMMA_ATOMS:
    irt_spec_gamma(&s, 1.0, 1.0);
    s.output = SPEC_OUTPUT_PREDICTION;
    irt_spec_atoms(&s, 2, gatoms, NULL);
    break;
  case LOWERED_CAT:
    irt_spec_categorical(&s, "_abc", 1, 0.5, 0.2);
    s.output = SPEC_OUTPUT_PREDICTION;
    spec_net(&s, 16, 16);
    break;
  case LOWERED_CAT_ATOMS:
    irt_spec_categorical(&s, "_abc", 1, 0.5, 0.0);
    irt_spec_atoms(&s, 2, words, NULL);
    break;
  }
  s.data_range[0] = -1;
  s.data_range[1] = 3;
  diag_list dl;
  diag_list_init(&dl);
  int rc = lower_model(&s, &(lower_options){.block_size = 16}, m, &dl);
  if (rc != 0) diag_print(&dl, stderr);
  ck_assert_int_eq(rc, 0);
  diag_list_free(&dl);
  spec_free(&s);
  /* what `pmmc build` compiles: the optimised module (the interpreter runs
   * the same module in these comparisons, fused ops included) */
  opt_options oo;
  opt_options_init(&oo, OPT_PIPELINE_COMPILED);
  char err[1024];
  ck_assert_msg(opt_run_pipeline(m, &oo, err, sizeof err) == 0, "%s", err);
}

static const char *runtime_lib(void) {
  const char *p = getenv("PMMC_RUNTIME_LIB");
  ck_assert_msg(p && *p, "PMMC_RUNTIME_LIB is not set (run through make check)");
  return p;
}

static void compile_to(const ir_module *m, codegen_emit kind, int opt, const char *path) {
  codegen_options o;
  codegen_options_init(&o);
  o.opt_level = opt;
  o.emit = kind;
  o.output = path;
  o.gemm = CODEGEN_GEMM_BLAS; /* the interpreter's GEMM, for bit-for-bit comparisons */
  o.runtime_lib = runtime_lib();
  char err[4096];
  ck_assert_msg(codegen_compile(m, &o, err, sizeof err) == 0, "codegen: %s", err);
}

/* Entries of dir other than . and .. */
static int count_entries(const char *dir) {
  DIR *d = opendir(dir);
  ck_assert_ptr_nonnull(d);
  int n = 0;
  struct dirent *e;
  while ((e = readdir(d)))
    if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0) n++;
  closedir(d);
  return n;
}

static int count_substr(const char *s, const char *sub) {
  int n = 0;
  for (const char *p = strstr(s, sub); p; p = strstr(p + 1, sub)) n++;
  return n;
}

/* ---- compiled == interpreted, bit for bit -------------------------------- */

enum { MODEL_NET = -3, MODEL_SCALAR = -2, MODEL_DISCRETE = -1 }; /* else a lowered_kind */

static const struct {
  int model;
  int opt;
  uint64_t seed, first, n;
} compare_cases[] = {
    {MODEL_NET, 0, 7, 5, 50},
    {MODEL_NET, 3, 7, 5, 50},
    {MODEL_NET, 3, 918273645, 0, 33},
    {MODEL_SCALAR, 0, 1234, 2, 11},
    {MODEL_SCALAR, 3, 1234, 2, 11},
    {MODEL_DISCRETE, 0, 55, 3, 20},
    {MODEL_DISCRETE, 3, 55, 3, 20},
    {LOWERED_NORMAL_PMM, 3, 21, 7, 40},
    {LOWERED_NORMAL_EM, 0, 22, 0, 40},
    {LOWERED_NORMAL_EM_GMM, 3, 23, 16, 40},
    {LOWERED_HEUN, 3, 24, 1, 40},
    {LOWERED_HEUN_ATOMS, 2, 25, 0, 40},
    {LOWERED_HEUN_T2, 3, 26, 9, 40},
    {LOWERED_GAMMA, 3, 27, 0, 40},
    {LOWERED_GAMMA_ATOMS, 1, 28, 4, 40},
    {LOWERED_CAT, 3, 29, 0, 40},
    {LOWERED_CAT_ATOMS, 3, 30, 2, 40},
};

START_TEST(test_compiled_equals_interpreted) {
  int model = compare_cases[_i].model, opt = compare_cases[_i].opt;
  uint64_t seed = compare_cases[_i].seed, first = compare_cases[_i].first;
  uint64_t n = compare_cases[_i].n;
  ir_module m;
  if (model == MODEL_NET)
    build_net(&m, 7);
  else if (model == MODEL_SCALAR)
    build_scalar(&m);
  else if (model == MODEL_DISCRETE)
    build_discrete(&m);
  else
    build_lowered(&m, (lowered_kind)model);
  printf("compare %s (%s, %s) -O%d: seed %llu, samples [%llu, %llu)\n", m.name,
         m.pair ? m.pair : "hand-built", m.sampler ? m.sampler : "-", opt, (unsigned long long)seed,
         (unsigned long long)first, (unsigned long long)(first + n));

  char dir[PATH_MAX], exe[PATH_MAX + 16], npy[PATH_MAX + 16];
  tu_make_tmpdir(dir, sizeof dir);
  snprintf(exe, sizeof exe, "%s/%s", dir, m.name);
  snprintf(npy, sizeof npy, "%s/out.npy", dir);
  compile_to(&m, CODEGEN_EMIT_EXE, opt, exe);
  ck_assert_int_eq(count_entries(dir), 1); /* no temporary object left */
  ck_assert_int_eq(tu_run("'%s' -n %llu --seed %llu --first-index %llu -o '%s'", exe,
                          (unsigned long long)n, (unsigned long long)seed,
                          (unsigned long long)first, npy),
                   0);
  pmm_array got;
  tu_read_npy(npy, &got);
  ck_assert_uint_eq(got.count, n * m.out_len);

  char err[512];
  interp *ip;
  ck_assert_msg(interp_init(&ip, &m, err, sizeof err) == 0, "%s", err);
  pmm_model_desc d;
  interp_describe(ip, &d);
  float *want = malloc(n * m.out_len * sizeof *want);
  ck_assert_ptr_nonnull(want);
  ck_assert_msg(pmm_sampler_generate(&d, seed, first, n, 1, want, err, sizeof err) == PMM_OK, "%s",
                err);

  uint64_t bad = 0, first_bad = 0;
  double sum = 0.0;
  for (uint64_t i = 0; i < got.count; i++) {
    sum += want[i] * (double)want[i];
    if (memcmp(&got.data[i], &want[i], sizeof(float)) != 0 && bad++ == 0) first_bad = i;
  }
  ck_assert_msg(bad == 0,
                "%llu of %llu floats differ; first at %llu: compiled %.9g, "
                "interpreted %.9g",
                (unsigned long long)bad, (unsigned long long)got.count,
                (unsigned long long)first_bad, (double)got.data[first_bad],
                (double)want[first_bad]);
  ck_assert_msg(sum > 0.0, "all-zero samples compare nothing"); /* the test has teeth */

  free(want);
  interp_free(ip);
  pmm_array_free(&got);
  tu_remove_tree(dir);
  ir_module_free(&m);
}
END_TEST

/* ---- the emitted module -------------------------------------------------- */

START_TEST(test_llvm_text_shape) {
  ir_module m;
  build_net(&m, 50);
  char dir[PATH_MAX], path[PATH_MAX + 16];
  tu_make_tmpdir(dir, sizeof dir);
  snprintf(path, sizeof path, "%s/cgnet.ll", dir);
  compile_to(&m, CODEGEN_EMIT_LLVM, 0, path);
  char *text = tu_read_file(path, NULL);
  ck_assert_ptr_nonnull(text);
  ck_assert_ptr_nonnull(strstr(text, "define i32 @cgnet_run_block(ptr"));
  ck_assert_ptr_nonnull(strstr(text, "@cgnet_desc = constant"));
  /* weights are one byte array each (264 floats), not a constant per float */
  ck_assert_ptr_nonnull(strstr(text, "@cgnet.tensor.fc1.weight = internal unnamed_addr constant "
                                     "[1056 x i8]"));
  ck_assert_ptr_nonnull(strstr(text, "align 64"));
  ck_assert_ptr_null(strstr(text, "@main("));
  /* the step loop is a loop: 50 steps, still one call per RANDN */
  ck_assert_int_eq(count_substr(text, "call void @pmm_rng_normal_block("), 3);
  ck_assert_int_eq(count_substr(text, "call void @pmm_rng_key("), 1); /* stream 5, once */
  ck_assert_int_eq(count_substr(text, "call void @pmm_kernel_dense("), 3);
  /* the five exponentials are inline (runtime/fastmath.h: each adds and
   * subtracts 1.5 * 2^23, 0x4168000000000000 as LLVM prints it); the other
   * activations call libm by name; no fast-math, no FMA */
  ck_assert_int_eq(count_substr(text, "call float @expf("), 0);
  ck_assert_int_eq(count_substr(text, ", 0x4168000000000000"), 10);
  ck_assert_int_eq(count_substr(text, "call float @erff("), 1);
  ck_assert_ptr_null(strstr(text, " fast "));
  ck_assert_ptr_null(strstr(text, "contract"));
  ck_assert_ptr_null(strstr(text, "fmuladd"));
  free(text);

  /* optimised code still calls erff (not an intrinsic), turns no
   * exponential into a call, and never fuses */
  compile_to(&m, CODEGEN_EMIT_LLVM, 3, path);
  text = tu_read_file(path, NULL);
  ck_assert_ptr_nonnull(text);
  ck_assert_ptr_nonnull(strstr(text, "call float @erff("));
  ck_assert_ptr_null(strstr(text, "@expf("));
  ck_assert_ptr_null(strstr(text, "llvm.exp."));
  ck_assert_ptr_null(strstr(text, "fmuladd"));
  ck_assert_ptr_null(strstr(text, "llvm.fma"));
  free(text);
  tu_remove_tree(dir);
  ir_module_free(&m);
}
END_TEST

START_TEST(test_object_and_asm) {
  ir_module m;
  build_scalar(&m);
  char dir[PATH_MAX], path[PATH_MAX + 16];
  tu_make_tmpdir(dir, sizeof dir);
  snprintf(path, sizeof path, "%s/cgscalar.o", dir);
  compile_to(&m, CODEGEN_EMIT_OBJ, 2, path);
  size_t len;
  char *obj = tu_read_file(path, &len);
  ck_assert_ptr_nonnull(obj);
  ck_assert_uint_gt(len, 64);
  ck_assert_int_eq(memcmp(obj, "\177ELF", 4), 0);
  free(obj);
  ck_assert_int_eq(tu_run("nm '%s' | grep -q ' T cgscalar_run_block$'", path), 0);
  /* the descriptor holds pointers, so PIC puts it in .data.rel.ro ('D') */
  ck_assert_int_eq(tu_run("nm '%s' | grep -q ' D cgscalar_desc$'", path), 0);
  ck_assert_int_eq(tu_run("nm '%s' | grep -q ' U pmm_rng_normal_block$'", path), 0);
  ck_assert_int_ne(tu_run("nm '%s' | grep -q ' main$'", path), 0);
  /* an object's descriptor has no build info, so it links on its own */
  ck_assert_int_ne(tu_run("nm '%s' | grep -q build_info", path), 0);

  snprintf(path, sizeof path, "%s/cgscalar.s", dir);
  compile_to(&m, CODEGEN_EMIT_ASM, 1, path);
  char *text = tu_read_file(path, NULL);
  ck_assert_ptr_nonnull(text);
  ck_assert_ptr_nonnull(strstr(text, "cgscalar_run_block:"));
  free(text);
  ck_assert_int_eq(count_entries(dir), 2);
  tu_remove_tree(dir);
  ir_module_free(&m);
}
END_TEST

START_TEST(test_descriptor_info) {
  ir_module m;
  build_net(&m, 7);
  char dir[PATH_MAX], exe[PATH_MAX + 16];
  tu_make_tmpdir(dir, sizeof dir);
  snprintf(exe, sizeof exe, "%s/cgnet", dir);
  compile_to(&m, CODEGEN_EMIT_EXE, 3, exe);
  char *out = NULL;
  ck_assert_int_eq(tu_run_capture(&out, NULL, "'%s' --info", exe), 0);
  ck_assert_ptr_nonnull(out);
  ck_assert_msg(strstr(out, "pmmc " PACKAGE_VERSION ", LLVM " PMMC_LLVM_VERSION ", -O3, "),
                "engine string missing from --info:\n%s", out);
  char flops[64];
  snprintf(flops, sizeof flops, "%llu", (unsigned long long)ir_count_flops(&m));
  ck_assert_msg(strstr(out, flops), "FLOPs %s missing from --info:\n%s", flops, out);
  free(out);

  /* an engine string given by the caller is recorded verbatim */
  codegen_options o;
  codegen_options_init(&o);
  o.output = exe;
  o.runtime_lib = runtime_lib();
  o.engine = "test engine 42";
  codegen_report rep;
  o.report = &rep;
  char err[4096];
  ck_assert_msg(codegen_compile(&m, &o, err, sizeof err) == 0, "%s", err);
  ck_assert_int_eq(tu_run_capture(&out, NULL, "'%s' --info", exe), 0);
  ck_assert_ptr_nonnull(strstr(out, "test engine 42"));
  /* the report is the descriptor the sampler carries, build info included */
  ck_assert_str_eq(rep.desc.engine, "test engine 42");
  ck_assert_uint_eq(rep.desc.flops_per_sample, ir_count_flops(&m));
  ck_assert_ptr_eq(rep.desc.build, &rep.build);
  ck_assert_msg(rep.build.code_bytes > 0 && rep.build.code_bytes < 10u << 20, "code bytes %llu",
                (unsigned long long)rep.build.code_bytes);
  ck_assert_uint_gt(rep.build.compile_us, 0);
  char line[128];
  snprintf(line, sizeof line, "code bytes:       %llu\ncompile time:     %.3f ms\n",
           (unsigned long long)rep.build.code_bytes, rep.build.compile_us / 1000.0);
  ck_assert_msg(strstr(out, line), "'%s' missing from --info:\n%s", line, out);
  free(out);
  tu_remove_tree(dir);
  ir_module_free(&m);
}
END_TEST

/* The runtime calls of the discrete ops: one each, keys for streams 3 and 4
 * made once, and still no fused multiply-add after optimisation. */
START_TEST(test_llvm_discrete_calls) {
  ir_module m;
  build_discrete(&m);
  char dir[PATH_MAX], path[PATH_MAX + 16];
  tu_make_tmpdir(dir, sizeof dir);
  snprintf(path, sizeof path, "%s/cgdisc.ll", dir);
  compile_to(&m, CODEGEN_EMIT_LLVM, 0, path);
  char *text = tu_read_file(path, NULL);
  ck_assert_ptr_nonnull(text);
  static const char *const once[] = {"call void @pmm_rng_poisson_block(",
                                     "call void @pmm_kernel_softmax(",
                                     "call void @pmm_kernel_exact_atoms_categorical(",
                                     "call void @pmm_kernel_exact_atoms_normal(",
                                     "call void @pmm_kernel_exact_atoms_gamma(",
                                     "call void @pmm_rng_normal_block("};
  for (size_t i = 0; i < sizeof once / sizeof once[0]; i++)
    ck_assert_msg(count_substr(text, once[i]) == 1, "%s appears %d times", once[i],
                  count_substr(text, once[i]));
  ck_assert_int_eq(count_substr(text, "call void @pmm_kernel_argmax("), 1);
  ck_assert_int_eq(count_substr(text, "call void @pmm_rng_key("), 2);
  ck_assert_ptr_nonnull(strstr(text, "%pmm_atoms = type { i64, i64, i64, ptr, ptr }"));
  free(text);
  compile_to(&m, CODEGEN_EMIT_LLVM, 3, path);
  text = tu_read_file(path, NULL);
  ck_assert_ptr_nonnull(text);
  ck_assert_ptr_null(strstr(text, "fmuladd"));
  ck_assert_ptr_null(strstr(text, " fast "));
  free(text);
  tu_remove_tree(dir);
  ir_module_free(&m);
}
END_TEST

/* The descriptor of lowered models, as the compiled sampler's --info
 * shows it: the schedule's T (not the step block's runs), the network
 * evaluations, the vocabulary and padding symbol, the value range. */
START_TEST(test_descriptor_pairs) {
  char dir[PATH_MAX], exe[PATH_MAX + 16];
  tu_make_tmpdir(dir, sizeof dir);
  snprintf(exe, sizeof exe, "%s/lowered", dir);
  static const struct {
    lowered_kind kind;
    const char *lines[4];
  } cases[] = {
      {LOWERED_HEUN,
       {"sampler:          heun\n", "steps:            12\n", ", 22 network evaluations\n",
        "value range:      [-1, 3]\n"}},
      {LOWERED_CAT,
       {"pair:             dirichlet-categorical\n", "vocabulary:       4 symbols \"_abc\"\n",
        "padding symbol:   '_' (index 0)\n", "steps:            12\n"}},
  };
  for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
    ir_module m;
    build_lowered(&m, cases[c].kind);
    compile_to(&m, CODEGEN_EMIT_EXE, 1, exe);
    char *out = NULL;
    ck_assert_int_eq(tu_run_capture(&out, NULL, "'%s' --info", exe), 0);
    ck_assert_ptr_nonnull(out);
    for (int i = 0; i < 4; i++)
      ck_assert_msg(strstr(out, cases[c].lines[i]), "'%s' missing from --info:\n%s",
                    cases[c].lines[i], out);
    free(out);
    ir_module_free(&m);
  }
  tu_remove_tree(dir);
}
END_TEST

/* ---- targets and errors -------------------------------------------------- */

START_TEST(test_cross_target_object) {
  ir_module m;
  build_net(&m, 3);
  char dir[PATH_MAX], path[PATH_MAX + 16];
  tu_make_tmpdir(dir, sizeof dir);
  snprintf(path, sizeof path, "%s/cgnet.o", dir);
  codegen_options o;
  codegen_options_init(&o);
  o.emit = CODEGEN_EMIT_OBJ;
  o.output = path;
  o.triple = "aarch64-unknown-linux-gnu";
  char err[4096];
  ck_assert_msg(codegen_compile(&m, &o, err, sizeof err) == 0, "%s", err);
  size_t len;
  unsigned char *obj = (unsigned char *)tu_read_file(path, &len);
  ck_assert_ptr_nonnull(obj);
  ck_assert_uint_gt(len, 20);
  ck_assert_int_eq(obj[18] | obj[19] << 8, 183); /* e_machine = EM_AARCH64 */
  free(obj);

  o.triple = "no-such-target";
  ck_assert_int_ne(codegen_compile(&m, &o, err, sizeof err), 0);
  ck_assert_msg(strstr(err, "no-such-target"), "error does not name the triple: %s", err);
  tu_remove_tree(dir);
  ir_module_free(&m);
}
END_TEST

START_TEST(test_link_failure) {
  ir_module m;
  build_scalar(&m);
  char dir[PATH_MAX], exe[PATH_MAX + 16];
  tu_make_tmpdir(dir, sizeof dir);
  snprintf(exe, sizeof exe, "%s/with space", dir);
  codegen_options o;
  codegen_options_init(&o);
  o.output = exe;
  o.runtime_lib = "/nonexistent/libpmmrt.a";
  char err[4096];
  ck_assert_int_ne(codegen_compile(&m, &o, err, sizeof err), 0);
  ck_assert_msg(strstr(err, "exited with status"), "no exit status in: %s", err);
  ck_assert_msg(strstr(err, "/nonexistent/libpmmrt.a"), "linker output missing: %s", err);
  ck_assert_int_eq(count_entries(dir), 0); /* neither the executable nor temporaries */

  setenv("CC", "pmmc-no-such-compiler", 1);
  o.runtime_lib = runtime_lib();
  int rc = codegen_compile(&m, &o, err, sizeof err);
  unsetenv("CC");
  ck_assert_int_ne(rc, 0);
  ck_assert_msg(strstr(err, "pmmc-no-such-compiler"), "error does not name CC: %s", err);
  ck_assert_int_eq(count_entries(dir), 0);

  /* a path with a space links fine once the compiler exists */
  ck_assert_msg(codegen_compile(&m, &o, err, sizeof err) == 0, "%s", err);
  ck_assert_int_eq(tu_run("'%s' -n 3 --format csv -o /dev/null", exe), 0);
  tu_remove_tree(dir);
  ir_module_free(&m);
}
END_TEST

START_TEST(test_bad_output_and_module) {
  ir_module m;
  build_scalar(&m);
  codegen_options o;
  codegen_options_init(&o);
  o.emit = CODEGEN_EMIT_LLVM;
  o.output = "/nonexistent-dir/x.ll";
  char err[4096];
  ck_assert_int_ne(codegen_compile(&m, &o, err, sizeof err), 0);
  ck_assert_msg(strstr(err, "cannot create '/nonexistent-dir/x.ll'"), "%s", err);

  o.emit = CODEGEN_EMIT_EXE;
  o.output = "-";
  ck_assert_int_ne(codegen_compile(&m, &o, err, sizeof err), 0);

  /* an unplanned module is refused, not compiled into out-of-bounds code */
  o.emit = CODEGEN_EMIT_OBJ;
  o.output = "/dev/null";
  m.scratch_floats = 0;
  ck_assert_int_ne(codegen_compile(&m, &o, err, sizeof err), 0);
  ck_assert_msg(strstr(err, "memory plan"), "%s", err);
  char why[512];
  ck_assert_msg(opt_plan_memory(&m, why, sizeof why) == 0, "%s", why);
  m.blocks[IR_BLOCK_STEP].insts[1].offset = m.scratch_floats;
  ck_assert_int_ne(codegen_compile(&m, &o, err, sizeof err), 0);
  ck_assert_msg(strstr(err, "outside the scratch arena"), "%s", err);

  /* an invalid module is refused with the verifier's message */
  ck_assert_msg(opt_plan_memory(&m, why, sizeof why) == 0, "%s", why);
  m.blocks[IR_BLOCK_STEP].result = -1;
  ck_assert_int_ne(codegen_compile(&m, &o, err, sizeof err), 0);
  ck_assert_msg(strstr(err, "step block"), "%s", err);
  ir_module_free(&m);
}
END_TEST

static Suite *codegen_suite(void) {
  Suite *s = suite_create("codegen");
  TCase *tc = tcase_create("compare");
  tcase_add_loop_test(tc, test_compiled_equals_interpreted, 0,
                      (int)(sizeof compare_cases / sizeof compare_cases[0]));
  suite_add_tcase(s, tc);
  tc = tcase_create("module");
  tcase_add_test(tc, test_llvm_text_shape);
  tcase_add_test(tc, test_object_and_asm);
  tcase_add_test(tc, test_descriptor_info);
  tcase_add_test(tc, test_llvm_discrete_calls);
  tcase_add_test(tc, test_descriptor_pairs);
  suite_add_tcase(s, tc);
  tc = tcase_create("errors");
  tcase_add_test(tc, test_cross_target_object);
  tcase_add_test(tc, test_link_failure);
  tcase_add_test(tc, test_bad_output_and_module);
  suite_add_tcase(s, tc);
  return s;
}

int main(void) {
  SRunner *sr = srunner_create(codegen_suite());
  srunner_run_all(sr, CK_NORMAL);
  int failed = srunner_ntests_failed(sr);
  srunner_free(sr);
  return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
