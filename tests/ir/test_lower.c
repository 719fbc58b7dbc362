/*
 * test_lower.c - lowering model specs built in C (no YAML front end):
 * module header and strings, per-step tables against docs/pmm.md,
 * tensor binding and dead-layer elimination, errors, and a whole lowered
 * graph model run by the interpreter against an independent double
 * precision implementation of the PMM chain using the same noise draws.
 *
 * Tolerances: tables are stored as float, so each entry must equal the
 * double formula within 1e-6 relative (float rounding is 6e-8).  The chain
 * test allows 1e-4 absolute + 1e-4 relative per output element (float
 * kernels against double over 20 steps).
 */
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "compiler/interp/interp.h"
#include "compiler/ir/ir.h"
#include "compiler/lower/lower.h"
#include "compiler/opt/opt.h"
#include "runtime/pmmrt.h"
#include "tests/ir/ir_spec.h"

#define TABLE_REL_TOL 1e-6
#define CHAIN_ABS_TOL 1e-4
#define CHAIN_REL_TOL 1e-4

/* Lower s; the test fails with the diagnostics when lowering fails. */
static void lower_ok(const model_spec *s, uint32_t block_size, ir_module *m) {
  diag_list dl;
  diag_list_init(&dl);
  lower_options o = {.block_size = block_size};
  int rc = lower_model(s, &o, m, &dl);
  if (rc != 0) diag_print(&dl, stderr);
  ck_assert_int_eq(rc, 0);
  ck_assert_uint_eq(dl.errors, 0);
  diag_list_free(&dl);
  char err[512];
  ck_assert_msg(ir_verify(m, err, sizeof err) == 0, "%s", err);
  ck_assert_uint_eq(m->scratch_floats, 0); /* lowering does not plan memory */
  /* the IR as lowered, unoptimised: planned only so the interpreter can run it */
  ck_assert_msg(opt_plan_memory(m, err, sizeof err) == 0, "%s", err);
  ck_assert_uint_gt(m->scratch_floats, 0);
}

static const ir_table *find_table(const ir_module *m, const char *name) {
  for (uint32_t i = 0; i < m->ntables; i++)
    if (strcmp(m->tables[i].name, name) == 0) return &m->tables[i];
  return NULL;
}

static int find_tensor(const ir_module *m, const char *name) {
  for (uint32_t i = 0; i < m->ntensors; i++)
    if (strcmp(m->tensors[i].name, name) == 0) return (int)i;
  return -1;
}

static uint32_t count_ops(const ir_block *b, ir_op op) {
  uint32_t n = 0;
  for (uint32_t i = 0; i < b->count; i++) n += b->insts[i].op == op;
  return n;
}

static double A_of(uint32_t s, uint32_t steps) { return s ? irt_geometric(s, steps) : 0.0; }

/* docs/pmm.md's coefficients in double: entry t-1 of each table. */
static double expected_table(const char *name, uint32_t t, uint32_t steps, double lambda0) {
  double Ap = A_of(t - 1, steps), At = A_of(t, steps), alpha = At - Ap;
  if (!strcmp(name, "tau")) return log(1.0 + Ap);
  if (!strcmp(name, "A")) return Ap;
  if (!strcmp(name, "coef_mu")) return (lambda0 + Ap) / (lambda0 + At);
  if (!strcmp(name, "coef_xhat")) return alpha / (lambda0 + At);
  if (!strcmp(name, "coef_noise")) return sqrt(alpha) / (lambda0 + At);
  ck_abort_msg("unexpected table '%s'", name);
  return 0;
}

static void check_tables(const ir_module *m, const char *const *names, size_t n) {
  ck_assert_uint_eq(m->ntables, n);
  for (size_t k = 0; k < n; k++) {
    const ir_table *t = find_table(m, names[k]);
    ck_assert_msg(t != NULL, "table '%s' missing", names[k]);
    ck_assert_uint_eq(t->count, m->steps);
    for (uint32_t s = 1; s <= m->steps; s++) {
      double want = expected_table(names[k], s, m->steps, m->prior_precision);
      double got = t->data[s - 1];
      ck_assert_msg(fabs(got - want) <= TABLE_REL_TOL * fabs(want),
                    "%s[%u] = %.9g, expected %.9g (rel 1e-6)", names[k], s - 1, got, want);
    }
  }
}

/* ---- exact networks ------------------------------------------------------- */

static void make_exact2(model_spec *s, uint32_t steps) {
  static const double w[2] = {0.25, 0.75}, mean[4] = {1.0, -2.0, 0.5, 3.0}, sd[2] = {0.1, 0.4};
  irt_spec_exact(s, "mix2", 2, 2, w, mean, sd, steps);
}

START_TEST(test_lower_exact) {
  model_spec s;
  make_exact2(&s, 50);
  ir_module m;
  lower_ok(&s, 0, &m);
  ck_assert_str_eq(m.name, "mix2");
  ck_assert_str_eq(m.pair, "normal-normal");
  ck_assert_str_eq(m.sampler, "pmm");
  ck_assert_str_eq(m.output, "posterior-mean");
  ck_assert_str_eq(m.schedule,
                   "geometric, 50 steps, A_1=0.01 .. A_T=10000, 50 network evaluations");
  ck_assert_uint_eq(m.nfe, 50);
  ck_assert_uint_eq(m.schedule_steps, 50);
  ck_assert_uint_eq(strlen(m.weight_hash), 16);
  ck_assert_uint_eq(strspn(m.weight_hash, "0123456789abcdef"), 16);
  ck_assert_uint_eq(m.steps, 50);
  ck_assert_uint_eq(m.block_size, LOWER_DEFAULT_BLOCK_SIZE);
  ck_assert_uint_eq(m.rank, 1);
  ck_assert_uint_eq(m.shape[0], 2);
  ck_assert_uint_eq(m.state_len, 2);
  ck_assert_uint_eq(m.out_len, 2);
  ck_assert(m.prior_mean == 0.0 && m.prior_precision == 1.0);

  static const char *const names[] = {"A", "coef_mu", "coef_xhat", "coef_noise"};
  check_tables(&m, names, 4);
  ck_assert(find_table(&m, "A")->data[0] == 0.0f); /* A_0 = 0 exactly */

  ck_assert_uint_eq(m.ntensors, 0);
  ck_assert_uint_eq(m.nmixtures, 1);
  const ir_mixture *g = &m.mixtures[0];
  ck_assert_uint_eq(g->k, 2);
  ck_assert_uint_eq(g->dim, 2);
  ck_assert(g->weight[0] == 0.25f && g->weight[1] == 0.75f);
  ck_assert(g->std[0] == 0.1f && g->std[1] == 0.4f);
  ck_assert(g->mean[0] == 1.0f && g->mean[1] == -2.0f && g->mean[2] == 0.5f && g->mean[3] == 3.0f);

  /* init fills the prior mean; step: one exact_gmm fed by table A, one
   * randn on stream 0; final returns the state */
  const ir_block *init = &m.blocks[IR_BLOCK_INIT], *step = &m.blocks[IR_BLOCK_STEP];
  ck_assert_int_eq(init->insts[init->result].op, IR_OP_FILL);
  ck_assert(init->insts[init->result].fattr == 0.0f);
  ck_assert_uint_eq(count_ops(step, IR_OP_EXACT_GMM), 1);
  ck_assert_uint_eq(count_ops(step, IR_OP_RANDN), 1);
  ck_assert_uint_eq(count_ops(step, IR_OP_STATE), 1);
  for (uint32_t i = 0; i < step->count; i++) {
    const ir_inst *in = &step->insts[i];
    if (in->op == IR_OP_RANDN) ck_assert_uint_eq(in->stream, 0);
    if (in->op == IR_OP_EXACT_GMM) {
      const ir_inst *a = &step->insts[in->args[1]];
      ck_assert_int_eq(a->op, IR_OP_TABLE);
      ck_assert_str_eq(m.tables[a->table].name, "A");
      ck_assert_int_eq(step->insts[in->args[0]].op, IR_OP_STATE);
    }
  }
  const ir_block *fin = &m.blocks[IR_BLOCK_FINAL];
  ck_assert_int_eq(fin->insts[fin->result].op, IR_OP_STATE);
  ir_module_free(&m);
  spec_free(&s);
}
END_TEST

START_TEST(test_lower_exact_prediction) {
  model_spec s;
  make_exact2(&s, 10);
  s.output = SPEC_OUTPUT_PREDICTION;
  ir_module m;
  lower_ok(&s, 16, &m);
  ck_assert_uint_eq(m.block_size, 16);
  ck_assert_str_eq(m.output, "prediction");
  ck_assert_uint_eq(m.nfe, 11);
  ck_assert_uint_eq(m.nmixtures, 1); /* shared by step and final */
  const ir_block *fin = &m.blocks[IR_BLOCK_FINAL];
  const ir_inst *r = &fin->insts[fin->result];
  ck_assert_int_eq(r->op, IR_OP_EXACT_GMM);
  const ir_inst *a = &fin->insts[r->args[1]];
  ck_assert_int_eq(a->op, IR_OP_CONST);
  ck_assert(a->fattr == (float)1e4); /* A_T */
  ir_module_free(&m);
  spec_free(&s);
}
END_TEST

/* ---- graph networks ------------------------------------------------------- */

#define GRAPH_DIM 2
#define GRAPH_STEPS 20

/* A graph using every op:
 *   temb = sinusoidal(time, 6); h0 = concat(mu, temb, time)    [9]
 *   fc1 = dense(h0, 8, silu); fc2 = dense(fc1, 8, tanh)
 *   tproj = dense(temb, 8)          (uniform: depends on time only)
 *   res = add(fc1, fc2, fc1); gate = mul(res, tproj)
 *   ln = layernorm(gate); out = dense(ln, 2)
 *   dead = dense(mu, 3)             (not reachable from out) */
static void make_graph(model_spec *s) {
  irt_spec_graph(s, "net", GRAPH_DIM, GRAPH_STEPS);
  spec_layer *l = irt_spec_layer(s, "temb", SPEC_LAYER_SINUSOIDAL, "time");
  l->dim = 6;
  irt_spec_layer(s, "h0", SPEC_LAYER_CONCAT, "mu temb time");
  l = irt_spec_layer(s, "fc1", SPEC_LAYER_DENSE, "h0");
  l->units = 8, l->activation = PMM_ACT_SILU, l->has_bias = 1;
  l = irt_spec_layer(s, "dead", SPEC_LAYER_DENSE, "mu");
  l->units = 3, l->has_bias = 1;
  l = irt_spec_layer(s, "fc2", SPEC_LAYER_DENSE, "fc1");
  l->units = 8, l->activation = PMM_ACT_TANH, l->has_bias = 1;
  l = irt_spec_layer(s, "tproj", SPEC_LAYER_DENSE, "temb");
  l->units = 8, l->has_bias = 1;
  irt_spec_layer(s, "res", SPEC_LAYER_ADD, "fc1 fc2 fc1");
  irt_spec_layer(s, "gate", SPEC_LAYER_MUL, "res tproj");
  l = irt_spec_layer(s, "ln", SPEC_LAYER_LAYERNORM, "gate");
  l->eps = 1e-5, l->affine = 1, l->has_bias = 1;
  l = irt_spec_layer(s, "out", SPEC_LAYER_DENSE, "ln");
  l->units = GRAPH_DIM, l->has_bias = 0;
  s->network.output = strdup("out");
  ck_assert_ptr_nonnull(s->network.output);

  irt_spec_tensor(s, "fc1.weight", 2, (uint64_t[]){8, 9}, 0.5, 1);
  irt_spec_tensor(s, "fc1.bias", 1, (uint64_t[]){8}, 0.1, 2);
  irt_spec_tensor(s, "dead.weight", 2, (uint64_t[]){3, 2}, 0.5, 3);
  irt_spec_tensor(s, "dead.bias", 1, (uint64_t[]){3}, 0.1, 4);
  irt_spec_tensor(s, "fc2.weight", 2, (uint64_t[]){8, 8}, 0.5, 5);
  irt_spec_tensor(s, "fc2.bias", 1, (uint64_t[]){8}, 0.1, 6);
  irt_spec_tensor(s, "tproj.weight", 2, (uint64_t[]){8, 6}, 0.5, 7);
  irt_spec_tensor(s, "tproj.bias", 1, (uint64_t[]){8}, 1.0, 8);
  irt_spec_tensor(s, "ln.weight", 1, (uint64_t[]){8}, 1.0, 9);
  irt_spec_tensor(s, "ln.bias", 1, (uint64_t[]){8}, 0.1, 10);
  irt_spec_tensor(s, "out.weight", 2, (uint64_t[]){GRAPH_DIM, 8}, 0.5, 11);
}

static const ir_inst *find_label(const ir_block *b, const char *label, ir_op op) {
  for (uint32_t i = 0; i < b->count; i++)
    if (b->insts[i].label && !strcmp(b->insts[i].label, label) && b->insts[i].op == op)
      return &b->insts[i];
  return NULL;
}

START_TEST(test_lower_graph) {
  model_spec s;
  make_graph(&s);
  ir_module m;
  lower_ok(&s, 8, &m);
  static const char *const names[] = {"tau", "coef_mu", "coef_xhat", "coef_noise"};
  check_tables(&m, names, 4);
  ck_assert(find_table(&m, "tau")->data[0] == 0.0f); /* tau_0 = ln 1 */

  /* only reachable layers are bound: no dead.* */
  ck_assert_uint_eq(m.ntensors, 9);
  ck_assert_int_lt(find_tensor(&m, "dead.weight"), 0);
  ck_assert_int_lt(find_tensor(&m, "dead.bias"), 0);
  ck_assert_int_ge(find_tensor(&m, "out.weight"), 0);
  ck_assert_int_lt(find_tensor(&m, "out.bias"), 0);
  ck_assert_uint_eq(m.nmixtures, 0);

  const ir_block *b = &m.blocks[IR_BLOCK_STEP];
  ck_assert_uint_eq(count_ops(b, IR_OP_DENSE), 4);
  ck_assert_uint_eq(count_ops(b, IR_OP_ACT), 2);
  ck_assert_uint_eq(count_ops(b, IR_OP_CONCAT), 1);
  ck_assert_uint_eq(count_ops(b, IR_OP_SINUSOIDAL), 1);
  ck_assert_uint_eq(count_ops(b, IR_OP_LAYERNORM), 1);
  /* add of three inputs is a chain of two; plus the two adds of the update */
  ck_assert_uint_eq(count_ops(b, IR_OP_ADD), 4);
  /* the gate, and coef * {mu, xhat, eps} */
  ck_assert_uint_eq(count_ops(b, IR_OP_MUL), 4);
  ck_assert_ptr_null(find_label(b, "dead", IR_OP_DENSE));

  const ir_inst *fc1 = find_label(b, "fc1", IR_OP_ACT);
  ck_assert_ptr_nonnull(fc1);
  ck_assert_int_eq(fc1->act, PMM_ACT_SILU);
  ck_assert(!fc1->uniform);
  const ir_inst *tproj = find_label(b, "tproj", IR_OP_DENSE);
  ck_assert_ptr_nonnull(tproj);
  ck_assert(tproj->uniform); /* depends on time only: computed once a block */
  const ir_inst *h0 = find_label(b, "h0", IR_OP_CONCAT);
  ck_assert_ptr_nonnull(h0);
  ck_assert_uint_eq(h0->len, 9);
  ck_assert_uint_eq(h0->nargs, 3);
  const ir_inst *ln = find_label(b, "ln", IR_OP_LAYERNORM);
  ck_assert_ptr_nonnull(ln);
  ck_assert(ln->fattr == 1e-5f);
  ck_assert_int_ge(ln->bias, 0);
  ck_assert_uint_eq(count_ops(&m.blocks[IR_BLOCK_FINAL], IR_OP_DENSE), 0);
  ck_assert_uint_gt(ir_count_flops(&m), 0);
  ir_module_free(&m);

  /* prediction: the network again in final, at constant tau_T, sharing
   * the tensors; no new tables */
  s.output = SPEC_OUTPUT_PREDICTION;
  lower_ok(&s, 8, &m);
  ck_assert_uint_eq(m.ntensors, 9);
  ck_assert_uint_eq(m.ntables, 4);
  const ir_block *f = &m.blocks[IR_BLOCK_FINAL];
  ck_assert_uint_eq(count_ops(f, IR_OP_DENSE), 4);
  ck_assert_uint_eq(count_ops(f, IR_OP_TABLE), 0);
  ck_assert_uint_eq(count_ops(f, IR_OP_CONST), 1);
  const ir_inst *c = find_label(f, "time", IR_OP_CONST);
  ck_assert_ptr_nonnull(c);
  ck_assert(c->fattr == (float)log1p(1e4));
  ir_module_free(&m);
  spec_free(&s);
}
END_TEST

/* ---- the lowered chain against a direct implementation -------------------- */

#define NAIVE_MAXW 16

/* The spec's network at (mu, tau) in double, straight from the layer list. */
static void naive_network(const model_spec *s, const double *mu, double tau, double *xhat) {
  const spec_network *net = &s->network;
  double val[16][NAIVE_MAXW];
  uint32_t len[16];
  ck_assert_uint_le(net->nlayers, 16);
  size_t out = 0;
  for (size_t i = 0; i < net->nlayers; i++) {
    const spec_layer *l = &net->layers[i];
    const double *in[4];
    uint32_t inlen[4];
    for (size_t a = 0; a < l->ninputs; a++) {
      const char *n = l->inputs[a];
      if (!strcmp(n, "mu"))
        in[a] = mu, inlen[a] = GRAPH_DIM;
      else if (!strcmp(n, "time"))
        in[a] = &tau, inlen[a] = 1;
      else {
        size_t j = 0;
        while (strcmp(net->layers[j].name, n)) j++;
        in[a] = val[j], inlen[a] = len[j];
      }
    }
    double *y = val[i];
    char nm[64];
    switch (l->op) {
    case SPEC_LAYER_DENSE: {
      snprintf(nm, sizeof nm, "%s.weight", l->name);
      const weight_tensor *w = weights_find(&s->weights, nm);
      snprintf(nm, sizeof nm, "%s.bias", l->name);
      const weight_tensor *bt = l->has_bias ? weights_find(&s->weights, nm) : NULL;
      for (uint32_t o = 0; o < l->units; o++) {
        double acc = bt ? bt->data[o] : 0.0;
        for (uint32_t k = 0; k < inlen[0]; k++) acc += (double)w->data[o * inlen[0] + k] * in[0][k];
        if (l->activation == PMM_ACT_SILU) acc = acc / (1.0 + exp(-acc));
        if (l->activation == PMM_ACT_TANH) acc = tanh(acc);
        y[o] = acc;
      }
      len[i] = l->units;
      break;
    }
    case SPEC_LAYER_ADD:
    case SPEC_LAYER_MUL:
      len[i] = inlen[0];
      for (uint32_t k = 0; k < len[i]; k++) {
        y[k] = in[0][k];
        for (size_t a = 1; a < l->ninputs; a++)
          y[k] = l->op == SPEC_LAYER_ADD ? y[k] + in[a][k] : y[k] * in[a][k];
      }
      break;
    case SPEC_LAYER_CONCAT:
      len[i] = 0;
      for (size_t a = 0; a < l->ninputs; a++)
        for (uint32_t k = 0; k < inlen[a]; k++) y[len[i]++] = in[a][k];
      break;
    case SPEC_LAYER_SINUSOIDAL: {
      uint32_t half = l->dim / 2;
      for (uint32_t j = 0; j < half; j++) {
        double f = exp(-log(10000.0) * j / half);
        y[j] = sin(in[0][0] * f);
        y[half + j] = cos(in[0][0] * f);
      }
      len[i] = l->dim;
      break;
    }
    case SPEC_LAYER_LAYERNORM: {
      const weight_tensor *g, *bt;
      snprintf(nm, sizeof nm, "%s.weight", l->name);
      g = weights_find(&s->weights, nm);
      snprintf(nm, sizeof nm, "%s.bias", l->name);
      bt = weights_find(&s->weights, nm);
      double mean = 0, var = 0;
      for (uint32_t k = 0; k < inlen[0]; k++) mean += in[0][k];
      mean /= inlen[0];
      for (uint32_t k = 0; k < inlen[0]; k++) var += (in[0][k] - mean) * (in[0][k] - mean);
      var /= inlen[0];
      for (uint32_t k = 0; k < inlen[0]; k++)
        y[k] = (in[0][k] - mean) / sqrt(var + l->eps) * g->data[k] + bt->data[k];
      len[i] = inlen[0];
      break;
    }
    default: ck_abort_msg("layer %s: op not in this reference", l->name);
    }
    ck_assert_uint_le(len[i], NAIVE_MAXW);
    if (!strcmp(l->name, net->output)) out = i;
  }
  for (uint32_t k = 0; k < GRAPH_DIM; k++) xhat[k] = val[out][k];
}

static void check_chain(spec_output output, uint64_t seed, uint64_t first) {
  model_spec s;
  make_graph(&s);
  s.output = output;
  ir_module m;
  enum { ROWS = 8 };
  lower_ok(&s, ROWS, &m);
  interp *ip;
  char err[256];
  ck_assert_msg(interp_init(&ip, &m, err, sizeof err) == 0, "%s", err);
  float *scratch = aligned_alloc(64, (m.scratch_floats * 4 + 63) / 64 * 64);
  float out[ROWS * GRAPH_DIM];
  ck_assert_ptr_nonnull(scratch);
  pmm_block blk = {.seed = seed, .first_index = first, .out = out, .scratch = scratch};
  pmm_rng_key(seed, 0, blk.key);
  ck_assert_int_eq(interp_run_block(ip, &blk), 0);

  /* the same chain in double, same noise */
  double mu[ROWS][GRAPH_DIM], xhat[GRAPH_DIM];
  float eps[ROWS * GRAPH_DIM];
  for (int r = 0; r < ROWS; r++)
    for (int k = 0; k < GRAPH_DIM; k++) mu[r][k] = s.prior_mean;
  for (uint32_t t = 1; t <= GRAPH_STEPS; t++) {
    double Ap = A_of(t - 1, GRAPH_STEPS), At = A_of(t, GRAPH_STEPS), alpha = At - Ap;
    double lp = s.prior_precision + Ap, lt = s.prior_precision + At;
    pmm_rng_normal_block(blk.key, first, ROWS, t, GRAPH_DIM, eps);
    for (int r = 0; r < ROWS; r++) {
      naive_network(&s, mu[r], log1p(Ap), xhat);
      for (int k = 0; k < GRAPH_DIM; k++)
        mu[r][k] = (lp * mu[r][k] + alpha * (xhat[k] + eps[r * GRAPH_DIM + k] / sqrt(alpha))) / lt;
    }
  }
  for (int r = 0; r < ROWS; r++) {
    double want[GRAPH_DIM];
    if (output == SPEC_OUTPUT_PREDICTION)
      naive_network(&s, mu[r], log1p(A_of(GRAPH_STEPS, GRAPH_STEPS)), want);
    else
      memcpy(want, mu[r], sizeof want);
    for (int k = 0; k < GRAPH_DIM; k++) {
      double got = out[r * GRAPH_DIM + k];
      ck_assert_msg(fabs(got - want[k]) <= CHAIN_ABS_TOL + CHAIN_REL_TOL * fabs(want[k]),
                    "seed %llu sample %d elem %d: interpreter %.9g, direct %.9g",
                    (unsigned long long)seed, r, k, got, want[k]);
    }
  }
  free(scratch);
  interp_free(ip);
  ir_module_free(&m);
  spec_free(&s);
}

START_TEST(test_lower_chain_matches_direct) {
  printf("test_lower_chain_matches_direct: seeds 7 (first index 0) and 12345 (first index 64)\n");
  check_chain(SPEC_OUTPUT_POSTERIOR_MEAN, 7, 0);
  check_chain(SPEC_OUTPUT_PREDICTION, 12345, 64);
}
END_TEST

/* A network of time alone is uniform; the final block still returns one
 * (equal) row per sample. */
START_TEST(test_lower_time_only_network) {
  model_spec s;
  irt_spec_graph(&s, "tonly", 2, 5);
  s.output = SPEC_OUTPUT_PREDICTION;
  spec_layer *l = irt_spec_layer(&s, "temb", SPEC_LAYER_SINUSOIDAL, "time");
  l->dim = 4;
  l = irt_spec_layer(&s, "out", SPEC_LAYER_DENSE, "temb");
  l->units = 2, l->has_bias = 1;
  irt_spec_tensor(&s, "out.weight", 2, (uint64_t[]){2, 4}, 1.0, 21);
  irt_spec_tensor(&s, "out.bias", 1, (uint64_t[]){2}, 1.0, 22);
  ir_module m;
  lower_ok(&s, 4, &m);
  interp *ip;
  char err[256];
  ck_assert_msg(interp_init(&ip, &m, err, sizeof err) == 0, "%s", err);
  float *scratch = aligned_alloc(64, (m.scratch_floats * 4 + 63) / 64 * 64), out[4 * 2];
  ck_assert_ptr_nonnull(scratch);
  pmm_block blk = {.seed = 5, .out = out, .scratch = scratch};
  pmm_rng_key(5, 0, blk.key);
  ck_assert_int_eq(interp_run_block(ip, &blk), 0);
  /* out = W [sin(tau_T f), cos(tau_T f)] + b, tau_T = ln(1 + 1e4), f = {1, 0.01} */
  const weight_tensor *w = weights_find(&s.weights, "out.weight");
  const weight_tensor *b = weights_find(&s.weights, "out.bias");
  double tau = log1p(1e4), e[4] = {sin(tau), sin(tau * 0.01), cos(tau), cos(tau * 0.01)};
  for (int o = 0; o < 2; o++) {
    double want = b->data[o];
    for (int k = 0; k < 4; k++) want += (double)w->data[o * 4 + k] * e[k];
    for (int r = 0; r < 4; r++)
      ck_assert_msg(fabs(out[r * 2 + o] - want) <= 1e-5, "row %d elem %d: %.9g, expected %.9g", r,
                    o, out[r * 2 + o], want);
  }
  free(scratch);
  interp_free(ip);
  ir_module_free(&m);
  spec_free(&s);
}
END_TEST

/* ---- errors ------------------------------------------------------------------ */

static void assert_lower_fails(const model_spec *s, const char *what) {
  ir_module m;
  diag_list dl;
  diag_list_init(&dl);
  ck_assert_int_ne(lower_model(s, NULL, &m, &dl), 0);
  ck_assert_uint_ge(dl.errors, 1);
  ck_assert_msg(strstr(dl.items[0].message, what) != NULL, "message '%s' does not say '%s'",
                dl.items[0].message, what);
  ck_assert_str_eq(dl.items[0].file, "test.yaml");
  ck_assert_ptr_null(m.name); /* left freed */
  diag_list_free(&dl);
}

START_TEST(test_lower_errors) {
  model_spec s;
  make_exact2(&s, 5);
  s.pair = SPEC_PAIR_GAMMA_POISSON;
  s.prior_shape = s.prior_rate = 1;
  s.sampler = SPEC_SAMPLER_HEUN;
  assert_lower_fails(&s, "sampler 'heun' needs the normal-normal pair; this model is "
                         "'gamma-poisson'");
  s.sampler = SPEC_SAMPLER_EULER_MARUYAMA;
  assert_lower_fails(&s, "sampler 'euler-maruyama' needs the normal-normal pair");
  s.sampler = SPEC_SAMPLER_PMM; /* a mixture is normal-normal only */
  assert_lower_fails(&s, "an exact network needs exactly one of a mixture");
  s.prior_rate = 0;
  assert_lower_fails(&s, "prior shape 1 and rate 0 must be positive");
  s.pair = SPEC_PAIR_NORMAL_NORMAL;
  s.prior_precision = 0;
  assert_lower_fails(&s, "prior precision 0 is not positive");
  s.prior_precision = 1;
  s.schedule.kind = SPEC_SCHEDULE_TABLE; /* decreasing: alpha_2 < 0 */
  s.schedule.values = malloc(5 * sizeof *s.schedule.values);
  ck_assert_ptr_nonnull(s.schedule.values);
  memcpy(s.schedule.values, (double[]){1, 0.5, 2, 3, 4}, 5 * sizeof *s.schedule.values);
  assert_lower_fails(&s, "the schedule is not increasing at step 2 (A = 0.5 after 1)");
  spec_free(&s);

  irt_spec_graph(&s, "nw", 2, 5); /* a layer whose tensor is not loaded */
  spec_layer *l = irt_spec_layer(&s, "fc", SPEC_LAYER_DENSE, "mu");
  l->units = 2;
  assert_lower_fails(&s, "weight tensor 'fc.weight' is missing");
  spec_free(&s);
}
END_TEST

static Suite *lower_suite(void) {
  Suite *s = suite_create("lower");
  TCase *tc = tcase_create("lower");
  tcase_add_test(tc, test_lower_exact);
  tcase_add_test(tc, test_lower_exact_prediction);
  tcase_add_test(tc, test_lower_graph);
  tcase_add_test(tc, test_lower_chain_matches_direct);
  tcase_add_test(tc, test_lower_time_only_network);
  tcase_add_test(tc, test_lower_errors);
  suite_add_tcase(s, tc);
  return s;
}

int main(void) {
  SRunner *sr = srunner_create(lower_suite());
  srunner_run_all(sr, CK_NORMAL);
  int failed = srunner_ntests_failed(sr);
  srunner_free(sr);
  return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
