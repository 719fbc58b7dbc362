/*
 * test_fold.c - pass 'fold' (compiler/opt/fold.c): what it folds, what it
 * splits, and that samples do not change.
 *
 * Modules come from the shipped models (front end + lowering), from specs
 * built in C (tests/ir/ir_spec.h) and by hand.  The pass runs on its own
 * (after 'shapes', as in the pipeline); dce may not have run, so structure
 * is checked on the instructions the block result still reaches.
 *
 * Tolerances: folding a uniform chain must not change a bit (same kernels,
 * same float expressions as the interpreter).  Splitting a dense layer over
 * concat(mu, temb) reorders float sums, so bench-mlp's samples after all
 * 100 steps may move by at most 1e-5 relative (|a - b| <= 1e-5 max(|b|, 1));
 * its folded bias table, summed in double by the pass, must match a double
 * recomputation here within 1e-6 absolute (float rounding of values below
 * 4, plus an ulp of the embedding's frequencies).  Seeds are printed.
 */
#define _GNU_SOURCE /* open_memstream */
#include <check.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "compiler/front/spec.h"
#include "compiler/interp/interp.h"
#include "compiler/ir/ir.h"
#include "compiler/lower/lower.h"
#include "compiler/opt/opt.h"
#include "runtime/pmmrt.h"
#include "tests/ir/ir_spec.h"
#include "tests/util/testutil.h"

#define SPLIT_REL_TOL 1e-5
#define BIAS_ABS_TOL 1e-6

/* ---- helpers ----------------------------------------------------------------- */

static void lower_spec_ok(const model_spec *s, uint32_t block_size, ir_module *m) {
  diag_list dl;
  diag_list_init(&dl);
  lower_options o = {.block_size = block_size};
  int rc = lower_model(s, &o, m, &dl);
  if (rc != 0) diag_print(&dl, stderr);
  ck_assert_int_eq(rc, 0);
  diag_list_free(&dl);
}

/* models/<name>/model.yaml, loaded and lowered. */
static void lower_shipped(const char *name, uint32_t block_size, ir_module *m) {
  char path[PATH_MAX];
  snprintf(path, sizeof path, "%s/models/%s/model.yaml", tu_srcdir(), name);
  model_spec s;
  diag_list dl;
  diag_list_init(&dl);
  int rc = spec_load(path, &s, &dl);
  if (rc != 0) diag_print(&dl, stderr);
  ck_assert_msg(rc == 0, "spec_load(%s) failed", path);
  diag_list_free(&dl);
  lower_spec_ok(&s, block_size, m);
  spec_free(&s);
}

/* shapes then fold, then a verification. */
static void fold_ok(ir_module *m) {
  char err[512];
  ck_assert_msg(opt_infer_shapes(m, err, sizeof err) == 0, "shapes: %s", err);
  ck_assert_msg(opt_fold_constants(m, err, sizeof err) == 0, "fold: %s", err);
  ck_assert_msg(ir_verify(m, err, sizeof err) == 0, "after fold: %s", err);
}

/* The module's text (ir_print), malloc'd. */
static char *module_text(const ir_module *m) {
  char *buf = NULL;
  size_t len = 0;
  FILE *f = open_memstream(&buf, &len);
  ck_assert_ptr_nonnull(f);
  ir_print(m, f);
  ck_assert_int_eq(fclose(f), 0);
  return buf;
}

/* One block of samples (first index 0) run by the interpreter after
 * planning memory; returns block_size * out_len floats (malloc'd). */
static float *run_interp(ir_module *m, uint64_t seed) {
  char err[512];
  ck_assert_msg(opt_plan_memory(m, err, sizeof err) == 0, "%s", err);
  interp *ip;
  ck_assert_msg(interp_init(&ip, m, err, sizeof err) == 0, "%s", err);
  float *scratch = aligned_alloc(64, (m->scratch_floats * 4 + 63) / 64 * 64);
  float *out = malloc((size_t)m->block_size * m->out_len * sizeof *out);
  ck_assert(scratch && out);
  for (uint64_t i = 0; i < m->scratch_floats; i++) scratch[i] = NAN;
  pmm_block blk = {.seed = seed, .first_index = 0, .out = out, .scratch = scratch};
  pmm_rng_key(seed, 0, blk.key);
  ck_assert_int_eq(interp_run_block(ip, &blk), 0);
  interp_free(ip);
  free(scratch);
  return out;
}

/* live[i] = 1 when block b's result reaches instruction i. */
static uint8_t *live_set(const ir_block *b) {
  uint8_t *live = calloc(b->count, 1);
  ck_assert_ptr_nonnull(live);
  live[b->result] = 1;
  for (uint32_t i = b->count; i-- > 0;)
    if (live[i])
      for (uint32_t a = 0; a < b->insts[i].nargs; a++) live[b->insts[i].args[a]] = 1;
  return live;
}

static uint32_t count_live(const ir_block *b, ir_op op) {
  uint8_t *live = live_set(b);
  uint32_t n = 0;
  for (uint32_t i = 0; i < b->count; i++) n += live[i] && b->insts[i].op == op;
  free(live);
  return n;
}

/* Every uniform value the result reaches is a constant source. */
static void assert_no_live_computed_uniform(const ir_module *m, ir_block_kind k) {
  const ir_block *b = &m->blocks[k];
  uint8_t *live = live_set(b);
  for (uint32_t i = 0; i < b->count; i++) {
    const ir_inst *in = &b->insts[i];
    ck_assert_msg(!live[i] || !in->uniform || in->op == IR_OP_CONST || in->op == IR_OP_TABLE ||
                      in->op == IR_OP_TENSOR,
                  "%s block %%%u (%s) is a uniform value still computed at run time",
                  ir_block_name(k), i, ir_op_name(in->op));
  }
  free(live);
}

static int32_t find_table(const ir_module *m, const char *name) {
  for (uint32_t i = 0; i < m->ntables; i++)
    if (strcmp(m->tables[i].name, name) == 0) return (int32_t)i;
  return -1;
}

static int32_t find_tensor(const ir_module *m, const char *name) {
  for (uint32_t i = 0; i < m->ntensors; i++)
    if (strcmp(m->tensors[i].name, name) == 0) return (int32_t)i;
  return -1;
}

/* ---- (a) bench-mlp: the structure after folding --------------------------------- */

START_TEST(test_fold_bench_mlp_structure) {
  ir_module m;
  lower_shipped("bench-mlp", 64, &m);
  /* the unfolded data we check the fold against */
  int32_t w0 = find_tensor(&m, "fc1.weight"), b0 = find_tensor(&m, "fc1.bias"),
          tau0 = find_table(&m, "tau");
  ck_assert(w0 >= 0 && b0 >= 0 && tau0 >= 0);
  ck_assert_uint_eq(m.tensors[w0].shape[1], 34);
  uint32_t steps = m.steps;
  ck_assert_uint_eq(steps, 100);
  float *w = malloc(256 * 34 * sizeof *w), *bias = malloc(256 * sizeof *bias),
        *tau = malloc(steps * sizeof *tau);
  ck_assert(w && bias && tau);
  memcpy(w, m.tensors[w0].data, 256 * 34 * sizeof *w);
  memcpy(bias, m.tensors[b0].data, 256 * sizeof *bias);
  memcpy(tau, m.tables[tau0].data, steps * sizeof *tau);
  ck_assert_uint_eq(count_live(&m.blocks[IR_BLOCK_STEP], IR_OP_SINUSOIDAL), 1);

  fold_ok(&m);
  const ir_block *b = &m.blocks[IR_BLOCK_STEP];
  ck_assert_uint_eq(count_live(b, IR_OP_SINUSOIDAL), 0);
  ck_assert_uint_eq(count_live(b, IR_OP_CONCAT), 0);
  ck_assert_uint_eq(count_live(b, IR_OP_DENSE), 4);
  assert_no_live_computed_uniform(&m, IR_BLOCK_STEP);

  /* the first live dense: mu's two columns of fc1.weight, no bias, then
   * add(dense, table fc1.bias@t) */
  uint8_t *live = live_set(b);
  uint32_t d = 0;
  while (!(live[d] && b->insts[d].op == IR_OP_DENSE)) d++;
  const ir_inst *dense = &b->insts[d];
  ck_assert_str_eq(dense->label, "fc1");
  ck_assert_int_eq(b->insts[dense->args[0]].op, IR_OP_STATE);
  ck_assert_int_eq(dense->bias, -1);
  const ir_tensor *wps = &m.tensors[dense->weight];
  ck_assert_str_eq(wps->name, "fc1.weight[mu]");
  ck_assert_uint_eq(wps->rank, 2);
  ck_assert_uint_eq(wps->shape[0], 256);
  ck_assert_uint_eq(wps->shape[1], 2);
  for (uint32_t o = 0; o < 256; o++)
    for (uint32_t j = 0; j < 2; j++) ck_assert(wps->data[o * 2 + j] == w[o * 34 + j]);
  const ir_inst *add = NULL;
  for (uint32_t i = d + 1; i < b->count && !add; i++)
    if (live[i] && b->insts[i].nargs && b->insts[i].args[0] == (int32_t)d) add = &b->insts[i];
  ck_assert_ptr_nonnull(add);
  ck_assert_int_eq(add->op, IR_OP_ADD);
  ck_assert_str_eq(add->label, "fc1");
  const ir_inst *src = &b->insts[add->args[1]];
  ck_assert_int_eq(src->op, IR_OP_TABLE);
  ck_assert_uint_eq(src->len, 256);
  const ir_table *bt = &m.tables[src->table];
  ck_assert_str_eq(bt->name, "fc1.bias@t");
  ck_assert_uint_eq(bt->count, steps);
  ck_assert_uint_eq(bt->width, 256);
  /* row t-1 = temb(tau_t) W_u^T + b, recomputed in double */
  double worst = 0;
  for (uint32_t t = 0; t < steps; t++) {
    double temb[32];
    for (uint32_t j = 0; j < 16; j++) {
      double f = exp(-log(10000.0) * j / 16.0);
      temb[j] = (float)sin(tau[t] * f);
      temb[16 + j] = (float)cos(tau[t] * f);
    }
    for (uint32_t o = 0; o < 256; o++) {
      double want = bias[o];
      for (uint32_t j = 0; j < 32; j++) want += temb[j] * w[o * 34 + 2 + j];
      double diff = fabs(bt->data[(size_t)t * 256 + o] - want);
      if (diff > worst) worst = diff;
    }
  }
  printf("test_fold_bench_mlp_structure: bias table max |error| vs double %.3g\n", worst);
  ck_assert_msg(worst <= BIAS_ABS_TOL, "bias table off by %g", worst);
  /* the per-step coefficient tables are still plain reads */
  ck_assert_int_ge(find_table(&m, "coef_mu"), 0);
  ck_assert_int_eq(find_table(&m, "temb@t"), -1);
  free(live);
  free(w);
  free(bias);
  free(tau);
  ir_module_free(&m);
}
END_TEST

/* ---- (b) samples before and after ------------------------------------------------ */

START_TEST(test_fold_gmm8_unchanged) {
  const uint64_t seed = 20261123;
  printf("test_fold_gmm8_unchanged: seed %llu\n", (unsigned long long)seed);
  ir_module a, b;
  lower_shipped("gmm8", 64, &a);
  lower_shipped("gmm8", 64, &b);
  char *before = module_text(&b);
  fold_ok(&b);
  char *after = module_text(&b);
  ck_assert_str_eq(before, after); /* nothing uniform is computed: nothing to fold */
  float *x = run_interp(&a, seed), *y = run_interp(&b, seed);
  ck_assert(memcmp(x, y, (size_t)a.block_size * a.out_len * sizeof *x) == 0);
  free(x);
  free(y);
  free(before);
  free(after);
  ir_module_free(&a);
  ir_module_free(&b);
}
END_TEST

START_TEST(test_fold_bench_mlp_samples) {
  const uint64_t seed = 7;
  ir_module a, b;
  lower_shipped("bench-mlp", 64, &a);
  lower_shipped("bench-mlp", 64, &b);
  fold_ok(&b);
  float *x = run_interp(&a, seed), *y = run_interp(&b, seed);
  size_t n = (size_t)a.block_size * a.out_len;
  double worst = 0, worst_rel = 0;
  int differ = 0;
  for (size_t i = 0; i < n; i++) {
    ck_assert(isfinite(x[i]) && isfinite(y[i]));
    double diff = fabs((double)x[i] - y[i]), scale = fmax(fabs((double)x[i]), 1.0);
    differ |= x[i] != y[i];
    if (diff > worst) worst = diff;
    if (diff / scale > worst_rel) worst_rel = diff / scale;
  }
  printf("test_fold_bench_mlp_samples: seed %llu, %zu values, max |diff| %.3g, max rel %.3g%s\n",
         (unsigned long long)seed, n, worst, worst_rel, differ ? "" : " (bit-identical)");
  ck_assert_msg(worst_rel <= SPLIT_REL_TOL, "folded samples differ by %g relative", worst_rel);
  free(x);
  free(y);
  ir_module_free(&a);
  ir_module_free(&b);
}
END_TEST

/* A graph whose time path never meets mu inside a dense layer, so folding
 * it is exact:  temb = sinusoidal(time, 8); tproj = dense(temb, 8, silu);
 * tgate = layernorm(tproj); h = dense(mu, 8, tanh); gate = mul(h, tgate);
 * out = dense(gate, 2).  With a prediction output the final block runs it
 * at t = T, where it folds to tensors. */
static void make_uniform_graph(model_spec *s) {
  irt_spec_graph(s, "ugraph", 2, 12);
  s->output = SPEC_OUTPUT_PREDICTION;
  spec_layer *l = irt_spec_layer(s, "temb", SPEC_LAYER_SINUSOIDAL, "time");
  l->dim = 8;
  l = irt_spec_layer(s, "tproj", SPEC_LAYER_DENSE, "temb");
  l->units = 8, l->activation = PMM_ACT_SILU, l->has_bias = 1;
  l = irt_spec_layer(s, "tgate", SPEC_LAYER_LAYERNORM, "tproj");
  l->eps = 1e-5, l->affine = 1, l->has_bias = 1;
  l = irt_spec_layer(s, "h", SPEC_LAYER_DENSE, "mu");
  l->units = 8, l->activation = PMM_ACT_TANH, l->has_bias = 1;
  irt_spec_layer(s, "gate", SPEC_LAYER_MUL, "h tgate");
  l = irt_spec_layer(s, "out", SPEC_LAYER_DENSE, "gate");
  l->units = 2, l->has_bias = 1;
  irt_spec_tensor(s, "tproj.weight", 2, (uint64_t[]){8, 8}, 0.5, 1);
  irt_spec_tensor(s, "tproj.bias", 1, (uint64_t[]){8}, 0.1, 2);
  irt_spec_tensor(s, "tgate.weight", 1, (uint64_t[]){8}, 1.0, 3);
  irt_spec_tensor(s, "tgate.bias", 1, (uint64_t[]){8}, 0.1, 4);
  irt_spec_tensor(s, "h.weight", 2, (uint64_t[]){8, 2}, 0.5, 5);
  irt_spec_tensor(s, "h.bias", 1, (uint64_t[]){8}, 0.1, 6);
  irt_spec_tensor(s, "out.weight", 2, (uint64_t[]){2, 8}, 0.5, 7);
  irt_spec_tensor(s, "out.bias", 1, (uint64_t[]){2}, 0.1, 8);
}

START_TEST(test_fold_uniform_chain_exact) {
  const uint64_t seed = 99;
  printf("test_fold_uniform_chain_exact: seed %llu\n", (unsigned long long)seed);
  model_spec s;
  make_uniform_graph(&s);
  ir_module a, b;
  lower_spec_ok(&s, 16, &a);
  lower_spec_ok(&s, 16, &b);
  spec_free(&s);
  fold_ok(&b);
  for (int k = 0; k < IR_BLOCK_COUNT; k++) assert_no_live_computed_uniform(&b, (ir_block_kind)k);
  /* the chain sinusoidal -> dense -> silu -> layernorm is one table */
  const ir_block *st = &b.blocks[IR_BLOCK_STEP];
  ck_assert_uint_eq(count_live(st, IR_OP_SINUSOIDAL), 0);
  ck_assert_uint_eq(count_live(st, IR_OP_LAYERNORM), 0);
  ck_assert_uint_eq(count_live(st, IR_OP_DENSE), 2);
  int32_t t = find_table(&b, "tgate@t");
  ck_assert_int_ge(t, 0);
  ck_assert_uint_eq(b.tables[t].width, 8);
  ck_assert_uint_eq(b.tables[t].count, 12);
  ck_assert_int_eq(find_table(&b, "tproj@t"), -1); /* inside the chain: not kept */
  const ir_block *fin = &b.blocks[IR_BLOCK_FINAL];
  ck_assert_uint_eq(count_live(fin, IR_OP_TENSOR), 1);
  int32_t ft = find_tensor(&b, "tgate@final");
  ck_assert_int_ge(ft, 0);
  ck_assert_uint_eq(b.tensors[ft].rank, 1);
  ck_assert_uint_eq(b.tensors[ft].shape[0], 8);
  float *x = run_interp(&a, seed), *y = run_interp(&b, seed);
  ck_assert(memcmp(x, y, (size_t)a.block_size * a.out_len * sizeof *x) == 0);
  free(x);
  free(y);
  ir_module_free(&a);
  ir_module_free(&b);
}
END_TEST

/* ---- (c) init and final blocks, by hand -------------------------------------------- */

/* state [4], 3 steps:
 *   init:  %0 const 2; %1 sinusoidal dim 4 (%0); %2 act tanh (%1);
 *          %3 fill 1 [4]; %4 mul (%3, %2)                    -> %4
 *   step:  %0 state; %1 table tau; %2 mul (%1, %1); %3 add (%0, %2) -> %3
 *   final: %0 state; %1 const 3; %2 sinusoidal dim 4 (%1);
 *          %3 dense W (%2); %4 const 0.5; %5 mul (%4, %4); %6 mul (%3, %5);
 *          %7 add (%0, %6)                                   -> %7 */
static void make_hand_module(ir_module *m) {
  ck_assert_int_eq(ir_module_init(m, "hand"), 0);
  m->steps = m->schedule_steps = 3;
  m->rank = 1;
  m->shape[0] = 4;
  m->state_len = m->out_len = 4;
  m->block_size = 4;
  static const float tau[3] = {0.25f, 0.5f, 1.5f};
  ck_assert_int_ge(ir_add_table(m, "tau", 3, tau), 0);
  float w[16];
  for (int i = 0; i < 16; i++) w[i] = (float)(i % 5) * 0.25f - 0.5f;
  ck_assert_int_ge(ir_add_tensor(m, "W", 2, (uint64_t[]){4, 4}, w), 0);

  ir_block *b = &m->blocks[IR_BLOCK_INIT];
  ck_assert_int_eq(ir_emit(b, IR_OP_CONST, 0, NULL, 1, 1), 0);
  b->insts[0].fattr = 2.0f;
  ck_assert_int_eq(ir_emit(b, IR_OP_SINUSOIDAL, 1, (int32_t[]){0}, 4, 1), 1);
  b->insts[1].dim = 4;
  ck_assert_int_eq(ir_emit(b, IR_OP_ACT, 1, (int32_t[]){1}, 4, 1), 2);
  b->insts[2].act = PMM_ACT_TANH;
  b->insts[2].label = strdup("emb");
  ck_assert_int_eq(ir_emit(b, IR_OP_FILL, 0, NULL, 4, 0), 3);
  b->insts[3].fattr = 1.0f;
  b->result = ir_emit(b, IR_OP_MUL, 2, (int32_t[]){3, 2}, 4, 0);

  b = &m->blocks[IR_BLOCK_STEP];
  ck_assert_int_eq(ir_emit(b, IR_OP_STATE, 0, NULL, 4, 0), 0);
  ck_assert_int_eq(ir_emit(b, IR_OP_TABLE, 0, NULL, 1, 1), 1);
  b->insts[1].table = 0;
  ck_assert_int_eq(ir_emit(b, IR_OP_MUL, 2, (int32_t[]){1, 1}, 1, 1), 2);
  b->result = ir_emit(b, IR_OP_ADD, 2, (int32_t[]){0, 2}, 4, 0);

  b = &m->blocks[IR_BLOCK_FINAL];
  ck_assert_int_eq(ir_emit(b, IR_OP_STATE, 0, NULL, 4, 0), 0);
  ck_assert_int_eq(ir_emit(b, IR_OP_CONST, 0, NULL, 1, 1), 1);
  b->insts[1].fattr = 3.0f;
  ck_assert_int_eq(ir_emit(b, IR_OP_SINUSOIDAL, 1, (int32_t[]){1}, 4, 1), 2);
  b->insts[2].dim = 4;
  ck_assert_int_eq(ir_emit(b, IR_OP_DENSE, 1, (int32_t[]){2}, 4, 1), 3);
  b->insts[3].weight = 0;
  b->insts[3].label = strdup("proj");
  ck_assert_int_eq(ir_emit(b, IR_OP_CONST, 0, NULL, 1, 1), 4);
  b->insts[4].fattr = 0.5f;
  ck_assert_int_eq(ir_emit(b, IR_OP_MUL, 2, (int32_t[]){4, 4}, 1, 1), 5);
  ck_assert_int_eq(ir_emit(b, IR_OP_MUL, 2, (int32_t[]){3, 5}, 4, 1), 6);
  b->result = ir_emit(b, IR_OP_ADD, 2, (int32_t[]){0, 6}, 4, 0);
  char err[512];
  ck_assert_msg(ir_verify(m, err, sizeof err) == 0, "%s", err);
}

START_TEST(test_fold_init_final_tensors) {
  const uint64_t seed = 3;
  printf("test_fold_init_final_tensors: seed %llu\n", (unsigned long long)seed);
  ir_module a, b;
  make_hand_module(&a);
  make_hand_module(&b);
  fold_ok(&b);

  /* init: tanh(sinusoidal(2)) as the tensor emb@init, bit for bit */
  const ir_inst *in = &b.blocks[IR_BLOCK_INIT].insts[2];
  ck_assert_int_eq(in->op, IR_OP_TENSOR);
  ck_assert_uint_eq(in->nargs, 0);
  ck_assert_str_eq(in->label, "emb");
  const ir_tensor *t = &b.tensors[in->weight];
  ck_assert_str_eq(t->name, "emb@init");
  ck_assert_uint_eq(t->rank, 1);
  ck_assert_uint_eq(t->count, 4);
  float two = 2.0f, want[4];
  pmm_kernel_sinusoidal(1, 4, &two, 1, 0, want);
  pmm_kernel_act(PMM_ACT_TANH, 4, want, want);
  ck_assert(memcmp(t->data, want, sizeof want) == 0);

  /* step: tau * tau is a table of width 1 */
  in = &b.blocks[IR_BLOCK_STEP].insts[2];
  ck_assert_int_eq(in->op, IR_OP_TABLE);
  const ir_table *tb = &b.tables[in->table];
  ck_assert_str_eq(tb->name, "mul%2@t");
  ck_assert_uint_eq(tb->width, 1);
  ck_assert_uint_eq(tb->count, 3);
  static const float tau[3] = {0.25f, 0.5f, 1.5f};
  for (int s = 0; s < 3; s++) ck_assert(tb->data[s] == tau[s] * tau[s]);

  /* final: the whole uniform term dense(sinusoidal(3)) * (0.5 * 0.5) is one
   * tensor; the scalar 0.25 on its own would be a CONST, but only the
   * product is read by per-sample work */
  const ir_block *fin = &b.blocks[IR_BLOCK_FINAL];
  in = &fin->insts[6];
  ck_assert_int_eq(in->op, IR_OP_TENSOR);
  ck_assert_str_eq(b.tensors[in->weight].name, "mul%6@final");
  ck_assert_uint_eq(count_live(fin, IR_OP_DENSE), 0);
  ck_assert_uint_eq(count_live(fin, IR_OP_SINUSOIDAL), 0);
  float three = 3.0f, emb[4], proj[4];
  pmm_kernel_sinusoidal(1, 4, &three, 1, 0, emb);
  pmm_kernel_dense(1, 4, 4, emb, a.tensors[0].data, NULL, proj);
  for (int j = 0; j < 4; j++) ck_assert(b.tensors[in->weight].data[j] == proj[j] * 0.25f);

  float *x = run_interp(&a, seed), *y = run_interp(&b, seed);
  ck_assert(memcmp(x, y, 16 * sizeof *x) == 0);
  free(x);
  free(y);
  ir_module_free(&a);
  ir_module_free(&b);
}
END_TEST

/* A uniform scalar that is not per step folds to a CONST; the step block
 * has no steps to read a table at, so only such values fold there. */
START_TEST(test_fold_scalar_const_and_no_steps) {
  ir_module m;
  make_hand_module(&m);
  /* final %5 = 0.5 * 0.5 is read by per-sample work once %6 is per-sample */
  ir_block *fin = &m.blocks[IR_BLOCK_FINAL];
  fin->insts[6].args[0] = 0;
  fin->insts[6].uniform = 0;
  m.steps = 0; /* the tau table then has no rows the step block could read */
  m.tables[0].count = 0;
  fold_ok(&m);
  const ir_inst *in = &m.blocks[IR_BLOCK_FINAL].insts[5];
  ck_assert_int_eq(in->op, IR_OP_CONST);
  ck_assert(in->fattr == 0.25f);
  ck_assert_int_eq(m.blocks[IR_BLOCK_STEP].insts[2].op, IR_OP_MUL);
  ir_module_free(&m);
}
END_TEST

/* ---- (d) idempotence, and the size limit -------------------------------------------- */

START_TEST(test_fold_idempotent) {
  ir_module m;
  lower_shipped("bench-mlp", 64, &m);
  fold_ok(&m);
  char *once = module_text(&m);
  uint32_t tables = m.ntables, tensors = m.ntensors;
  fold_ok(&m);
  char *twice = module_text(&m);
  ck_assert_str_eq(once, twice);
  ck_assert_uint_eq(m.ntables, tables);
  ck_assert_uint_eq(m.ntensors, tensors);
  free(once);
  free(twice);
  ir_module_free(&m);

  model_spec s;
  make_uniform_graph(&s);
  lower_spec_ok(&s, 16, &m);
  spec_free(&s);
  fold_ok(&m);
  once = module_text(&m);
  fold_ok(&m);
  twice = module_text(&m);
  ck_assert_str_eq(once, twice);
  free(once);
  free(twice);
  ir_module_free(&m);
}
END_TEST

/* Heun evaluates the network twice a step: both dense layers split, the
 * per-sample weight is shared and the two bias tables get distinct names. */
START_TEST(test_fold_heun_two_evaluations) {
  model_spec s;
  irt_spec_graph(&s, "heun", 2, 10);
  s.sampler = SPEC_SAMPLER_HEUN;
  spec_layer *l = irt_spec_layer(&s, "temb", SPEC_LAYER_SINUSOIDAL, "time");
  l->dim = 4;
  irt_spec_layer(&s, "h0", SPEC_LAYER_CONCAT, "temb mu");
  l = irt_spec_layer(&s, "fc1", SPEC_LAYER_DENSE, "h0");
  l->units = 2, l->has_bias = 1;
  irt_spec_tensor(&s, "fc1.weight", 2, (uint64_t[]){2, 6}, 0.5, 1);
  irt_spec_tensor(&s, "fc1.bias", 1, (uint64_t[]){2}, 0.1, 2);
  ir_module m;
  lower_spec_ok(&s, 8, &m);
  spec_free(&s);
  fold_ok(&m);
  ck_assert_uint_eq(count_live(&m.blocks[IR_BLOCK_STEP], IR_OP_CONCAT), 0);
  ck_assert_int_ge(find_table(&m, "fc1.bias@t"), 0);
  ck_assert_int_ge(find_table(&m, "fc1.bias@t#2"), 0);
  int32_t w = find_tensor(&m, "fc1.weight[mu]");
  ck_assert_int_ge(w, 0);
  ck_assert_int_eq(find_tensor(&m, "fc1.weight[mu]#2"), -1);
  /* mu's columns are the last two of six */
  int32_t w0 = find_tensor(&m, "fc1.weight");
  for (int o = 0; o < 2; o++)
    for (int j = 0; j < 2; j++)
      ck_assert(m.tensors[w].data[o * 2 + j] == m.tensors[w0].data[o * 6 + 4 + j]);
  /* the final block's Euler step evaluates it once more, at a fixed time */
  ck_assert_int_ge(find_tensor(&m, "fc1.bias@final"), 0);
  ck_assert_uint_eq(count_live(&m.blocks[IR_BLOCK_FINAL], IR_OP_CONCAT), 0);
  ir_module_free(&m);
}
END_TEST

/* A time embedding of 20000 floats over 1000 steps needs 80 MB of table:
 * above the 64 MiB limit it stays computed, and the module stays valid. */
START_TEST(test_fold_size_limit) {
  ir_module m;
  ck_assert_int_eq(ir_module_init(&m, "big"), 0);
  m.steps = m.schedule_steps = 1000;
  m.rank = 1;
  m.shape[0] = 20000;
  m.state_len = m.out_len = 20000;
  m.block_size = 1;
  float *tau = calloc(1000, sizeof *tau);
  ck_assert_ptr_nonnull(tau);
  ck_assert_int_ge(ir_add_table(&m, "tau", 1000, tau), 0);
  free(tau);
  ir_block *b = &m.blocks[IR_BLOCK_INIT];
  b->result = ir_emit(b, IR_OP_FILL, 0, NULL, 20000, 0);
  b = &m.blocks[IR_BLOCK_STEP];
  ck_assert_int_eq(ir_emit(b, IR_OP_STATE, 0, NULL, 20000, 0), 0);
  ck_assert_int_eq(ir_emit(b, IR_OP_TABLE, 0, NULL, 1, 1), 1);
  b->insts[1].table = 0;
  ck_assert_int_eq(ir_emit(b, IR_OP_SINUSOIDAL, 1, (int32_t[]){1}, 20000, 1), 2);
  b->insts[2].dim = 20000;
  b->result = ir_emit(b, IR_OP_ADD, 2, (int32_t[]){0, 2}, 20000, 0);
  b = &m.blocks[IR_BLOCK_FINAL];
  b->result = ir_emit(b, IR_OP_STATE, 0, NULL, 20000, 0);
  fold_ok(&m);
  ck_assert_int_eq(m.blocks[IR_BLOCK_STEP].insts[2].op, IR_OP_SINUSOIDAL);
  ck_assert_uint_eq(m.ntables, 1);
  ir_module_free(&m);
}
END_TEST

static Suite *fold_suite(void) {
  Suite *s = suite_create("fold");
  TCase *tc = tcase_create("fold");
  tcase_add_test(tc, test_fold_bench_mlp_structure);
  tcase_add_test(tc, test_fold_gmm8_unchanged);
  tcase_add_test(tc, test_fold_bench_mlp_samples);
  tcase_add_test(tc, test_fold_uniform_chain_exact);
  tcase_add_test(tc, test_fold_init_final_tensors);
  tcase_add_test(tc, test_fold_scalar_const_and_no_steps);
  tcase_add_test(tc, test_fold_idempotent);
  tcase_add_test(tc, test_fold_heun_two_evaluations);
  tcase_add_test(tc, test_fold_size_limit);
  suite_add_tcase(s, tc);
  return s;
}

int main(void) {
  SRunner *sr = srunner_create(fold_suite());
  srunner_run_all(sr, CK_NORMAL);
  int failed = srunner_ntests_failed(sr);
  srunner_free(sr);
  return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
