/*
 * test_samplers.c - lowering of every pair and sampler beyond the
 * normal-normal PMM chain (test_lower.c): euler-maruyama, heun, gamma-poisson
 * and dirichlet-categorical.  For each: the per-step tables against the
 * formulas of docs/pmm.md and docs/samplers.md, the block structure
 * (ops, streams, constants, network evaluations), and the whole lowered
 * chain run by the interpreter against an independent double precision
 * implementation written from the formulas, using the same noise.
 *
 * Tolerances: tables are stored as float, so each entry must equal the
 * double formula within 1e-6 relative (float rounding is 6e-8); constants
 * likewise.  Chains allow 1e-4 absolute + 1e-4 relative per output element
 * (float kernels against double over 20 steps).  Poisson draws are taken
 * from pmm_rng_poisson_block at the direct implementation's rates rounded
 * to float, so counts agree exactly unless a rate lies within float
 * rounding of an inversion threshold; the seeds are fixed, so the tests are
 * deterministic.
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
#define ROWS 8
#define STEPS 20
#define MAXW 32 /* widest value of the test networks */

static void lower_ok(const model_spec *s, ir_module *m) {
  diag_list dl;
  diag_list_init(&dl);
  lower_options o = {.block_size = ROWS};
  int rc = lower_model(s, &o, m, &dl);
  if (rc != 0) diag_print(&dl, stderr);
  ck_assert_int_eq(rc, 0);
  diag_list_free(&dl);
  char err[512];
  ck_assert_msg(ir_verify(m, err, sizeof err) == 0, "%s", err);
  /* the IR as lowered, unoptimised: planned only so the interpreter can run it */
  ck_assert_msg(opt_plan_memory(m, err, sizeof err) == 0, "%s", err);
}

static const ir_table *find_table(const ir_module *m, const char *name) {
  for (uint32_t i = 0; i < m->ntables; i++)
    if (strcmp(m->tables[i].name, name) == 0) return &m->tables[i];
  return NULL;
}

static uint32_t count_ops(const ir_block *b, ir_op op) {
  uint32_t n = 0;
  for (uint32_t i = 0; i < b->count; i++) n += b->insts[i].op == op;
  return n;
}

static const ir_inst *find_op(const ir_block *b, ir_op op) {
  for (uint32_t i = 0; i < b->count; i++)
    if (b->insts[i].op == op) return &b->insts[i];
  return NULL;
}

static void assert_close(double got, double want, double rel, const char *what) {
  ck_assert_msg(fabs(got - want) <= rel * fabs(want), "%s = %.9g, expected %.9g", what, got, want);
}

static double A_of(uint32_t s, uint32_t steps) { return s ? irt_geometric(s, steps) : 0.0; }
static double sigma_of(uint32_t s, uint32_t steps) { return 1.0 / sqrt(A_of(s, steps)); }

/* Entry t-1 of each table of a model with T schedule steps.  Point tables
 * "X", "X[t]", "X[t+1]" hold X at A_{t-1}, A_t, A_{t+1}; Heun's coefficients
 * belong to the interval sigma_t -> sigma_{t+1} (h = sigma_{t+1} - sigma_t). */
static double expected_table(const model_spec *sp, const char *name, uint32_t t, uint32_t T) {
  double Ap = A_of(t - 1, T), At = A_of(t, T), alpha = At - Ap;
  double l0 = sp->prior_precision, b0 = sp->prior_rate;
  char base[32];
  const char *br = strchr(name, '[');
  size_t n = br ? (size_t)(br - name) : strlen(name);
  ck_assert_uint_lt(n, sizeof base);
  memcpy(base, name, n);
  base[n] = '\0';
  double As = A_of(!br ? t - 1 : !strcmp(br, "[t]") ? t : t + 1, T);
  if (!strcmp(base, "tau")) return log(1.0 + As);
  if (!strcmp(base, "A")) return As;
  if (!strcmp(base, "mu_scale")) return As / (l0 + As);
  if (!strcmp(base, "mu_shift")) return l0 * sp->prior_mean / (l0 + As);
  if (!strcmp(name, "em_mu")) return 1.0 - alpha / (l0 + Ap);
  if (!strcmp(name, "em_xhat")) return alpha / (l0 + Ap);
  if (!strcmp(name, "em_noise")) return sqrt(alpha) / (l0 + Ap);
  if (!strcmp(name, "alpha")) return alpha;
  if (!strcmp(name, "gamma_mu")) return (b0 + Ap) / (b0 + At);
  if (!strcmp(name, "gamma_y")) return 1.0 / (b0 + At);
  double h = sigma_of(t + 1, T) - sigma_of(t, T);
  if (!strcmp(name, "heun_k")) return h / sigma_of(t, T);
  if (!strcmp(name, "heun_c1")) return h / (2 * sigma_of(t, T));
  if (!strcmp(name, "heun_c2")) return h / (2 * sigma_of(t + 1, T));
  ck_abort_msg("unexpected table '%s'", name);
  return 0;
}

static void check_tables(const model_spec *sp, const ir_module *m, const char *const *names,
                         size_t n) {
  ck_assert_uint_eq(m->ntables, n);
  for (size_t k = 0; k < n; k++) {
    const ir_table *t = find_table(m, names[k]);
    ck_assert_msg(t != NULL, "table '%s' missing", names[k]);
    ck_assert_uint_eq(t->count, m->steps);
    for (uint32_t s = 1; s <= m->steps; s++) {
      char what[64];
      snprintf(what, sizeof what, "%s[%u]", names[k], s - 1);
      assert_close(t->data[s - 1], expected_table(sp, names[k], s, m->schedule_steps),
                   TABLE_REL_TOL, what);
    }
  }
}

/* ---- the test network -------------------------------------------------------
 * temb = sinusoidal(time, 4); h = concat(mu, temb); fc1 = dense(h, 8, act);
 * out = dense(fc1, out_len) (activation out_act), mu of length mu_len. */

static void make_net(model_spec *s, uint32_t mu_len, uint32_t out_len, pmm_act out_act) {
  /* mu flattened (the categorical mu is [L, K]) */
  spec_layer *l = irt_spec_layer(s, "flat", SPEC_LAYER_RESHAPE, "mu");
  l->target = tshape_vec(mu_len);
  l = irt_spec_layer(s, "temb", SPEC_LAYER_SINUSOIDAL, "time");
  l->dim = 4;
  irt_spec_layer(s, "h", SPEC_LAYER_CONCAT, "flat temb");
  l = irt_spec_layer(s, "fc1", SPEC_LAYER_DENSE, "h");
  l->units = 8, l->activation = PMM_ACT_TANH, l->has_bias = 1;
  l = irt_spec_layer(s, "out", SPEC_LAYER_DENSE, "fc1");
  l->units = out_len, l->activation = out_act, l->has_bias = 1;
  irt_spec_tensor(s, "fc1.weight", 2, (uint64_t[]){8, mu_len + 4}, 0.6, 31);
  irt_spec_tensor(s, "fc1.bias", 1, (uint64_t[]){8}, 0.2, 32);
  irt_spec_tensor(s, "out.weight", 2, (uint64_t[]){out_len, 8}, 0.8, 33);
  irt_spec_tensor(s, "out.bias", 1, (uint64_t[]){out_len}, 0.5, 34);
}

/* The test network in double, straight from the weights (no activation on
 * the output: the callers apply the pair's mapping). */
static void naive_net(const model_spec *s, const double *mu, uint32_t mu_len, double tau,
                      double *out, uint32_t out_len) {
  double h[MAXW], f[8];
  ck_assert_uint_le(mu_len + 4, MAXW);
  for (uint32_t k = 0; k < mu_len; k++) h[k] = mu[k];
  for (int j = 0; j < 2; j++) {
    double fr = exp(-log(10000.0) * j / 2);
    h[mu_len + j] = sin(tau * fr);
    h[mu_len + 2 + j] = cos(tau * fr);
  }
  const weight_tensor *w1 = weights_find(&s->weights, "fc1.weight");
  const weight_tensor *b1 = weights_find(&s->weights, "fc1.bias");
  const weight_tensor *w2 = weights_find(&s->weights, "out.weight");
  const weight_tensor *b2 = weights_find(&s->weights, "out.bias");
  for (int o = 0; o < 8; o++) {
    double acc = b1->data[o];
    for (uint32_t k = 0; k < mu_len + 4; k++) acc += (double)w1->data[o * (mu_len + 4) + k] * h[k];
    f[o] = tanh(acc);
  }
  for (uint32_t o = 0; o < out_len; o++) {
    double acc = b2->data[o];
    for (int k = 0; k < 8; k++) acc += (double)w2->data[o * 8 + k] * f[k];
    out[o] = acc;
  }
}

static double softplus(double x) { return x > 20 ? x : log1p(exp(x)); }

/* Run one block of the lowered s; returns the arena (state left in it). */
static float *run_block(const ir_module *m, uint64_t seed, uint64_t first, float *out) {
  interp *ip;
  char err[256];
  ck_assert_msg(interp_init(&ip, m, err, sizeof err) == 0, "%s", err);
  float *scratch = aligned_alloc(64, (m->scratch_floats * 4 + 63) / 64 * 64);
  ck_assert_ptr_nonnull(scratch);
  pmm_block blk = {.seed = seed, .first_index = first, .out = out, .scratch = scratch};
  pmm_rng_key(seed, 0, blk.key);
  ck_assert_int_eq(interp_run_block(ip, &blk), 0);
  interp_free(ip);
  return scratch;
}

static void check_output(const float *got, const double *want, size_t n, uint64_t seed) {
  for (size_t i = 0; i < n; i++)
    ck_assert_msg(fabs(got[i] - want[i]) <= CHAIN_ABS_TOL + CHAIN_REL_TOL * fabs(want[i]),
                  "seed %llu element %zu: interpreter %.9g, direct %.9g", (unsigned long long)seed,
                  i, got[i], want[i]);
}

/* ---- euler-maruyama ----------------------------------------------------------- */

#define D 2

static void make_normal(model_spec *s, const char *name, spec_sampler_kind sampler,
                        uint32_t steps) {
  irt_spec_graph(s, name, D, steps);
  s->sampler = sampler;
  s->prior_mean = 0.5;
  s->prior_precision = 2.0;
  make_net(s, D, D, PMM_ACT_NONE);
}

START_TEST(test_em_tables) {
  model_spec s;
  make_normal(&s, "em", SPEC_SAMPLER_EULER_MARUYAMA, STEPS);
  ir_module m;
  lower_ok(&s, &m);
  static const char *const names[] = {"tau", "em_mu", "em_xhat", "em_noise"};
  check_tables(&s, &m, names, 4);
  ck_assert_str_eq(m.sampler, "euler-maruyama");
  ck_assert_uint_eq(m.steps, STEPS);
  ck_assert_uint_eq(m.nfe, STEPS);
  const ir_block *b = &m.blocks[IR_BLOCK_STEP];
  ck_assert_uint_eq(count_ops(b, IR_OP_RANDN), 1);
  ck_assert_uint_eq(count_ops(b, IR_OP_DENSE), 2);
  ck_assert(m.blocks[IR_BLOCK_INIT].insts[0].fattr == 0.5f);
  ir_module_free(&m);
  spec_free(&s);
}
END_TEST

/* mu_t = mu + (alpha_t/lambda_{t-1}) (xhat - mu) + (sqrt(alpha_t)/lambda_{t-1}) eps. */
START_TEST(test_em_chain) {
  const uint64_t seed = 31337, first = 16;
  printf("test_em_chain: seed %llu, first index %llu\n", (unsigned long long)seed,
         (unsigned long long)first);
  model_spec s;
  make_normal(&s, "em", SPEC_SAMPLER_EULER_MARUYAMA, STEPS);
  ir_module m;
  lower_ok(&s, &m);
  float out[ROWS * D], eps[ROWS * D];
  free(run_block(&m, seed, first, out));
  uint32_t key[2];
  pmm_rng_key(seed, 0, key);
  double mu[ROWS * D], xhat[D];
  for (int i = 0; i < ROWS * D; i++) mu[i] = s.prior_mean;
  for (uint32_t t = 1; t <= STEPS; t++) {
    double Ap = A_of(t - 1, STEPS), alpha = A_of(t, STEPS) - Ap, lp = s.prior_precision + Ap;
    pmm_rng_normal_block(key, first, ROWS, t, D, eps);
    for (int r = 0; r < ROWS; r++) {
      naive_net(&s, mu + r * D, D, log1p(Ap), xhat, D);
      for (int k = 0; k < D; k++) {
        double *x = &mu[r * D + k];
        *x = *x + alpha / lp * (xhat[k] - *x) + sqrt(alpha) / lp * eps[r * D + k];
      }
    }
  }
  check_output(out, mu, ROWS * D, seed);
  ir_module_free(&m);
  spec_free(&s);
}
END_TEST

/* ---- heun -------------------------------------------------------------------- */

START_TEST(test_heun_structure) {
  model_spec s;
  make_normal(&s, "heun", SPEC_SAMPLER_HEUN, STEPS);
  ir_module m;
  lower_ok(&s, &m);
  static const char *const names[] = {"tau[t]",      "tau[t+1]",      "mu_scale[t]",
                                      "mu_shift[t]", "mu_scale[t+1]", "mu_shift[t+1]",
                                      "heun_k",      "heun_c1",       "heun_c2"};
  check_tables(&s, &m, names, 9);
  ck_assert_uint_eq(m.schedule_steps, STEPS);
  ck_assert_uint_eq(m.steps, STEPS - 2);
  ck_assert_uint_eq(m.nfe, 2 * (STEPS - 2) + 1);
  ck_assert_ptr_nonnull(strstr(m.schedule, ", 37 network evaluations"));

  /* init: z_1 = m0 + sqrt(1/lambda0 + sigma_1^2) eps, eps drawn at step 0 */
  const ir_block *b = &m.blocks[IR_BLOCK_INIT];
  ck_assert_uint_eq(count_ops(b, IR_OP_RANDN), 1);
  ck_assert_uint_eq(count_ops(b, IR_OP_CONST), 2);
  assert_close(b->insts[1].fattr, sqrt(1 / 2.0 + 1 / A_of(1, STEPS)), TABLE_REL_TOL, "start sd");
  ck_assert(b->insts[3].fattr == 0.5f);
  /* two network evaluations a step, one in final (the Euler step) */
  ck_assert_uint_eq(count_ops(&m.blocks[IR_BLOCK_STEP], IR_OP_DENSE), 4);
  ck_assert_uint_eq(count_ops(&m.blocks[IR_BLOCK_STEP], IR_OP_RANDN), 0);
  b = &m.blocks[IR_BLOCK_FINAL];
  ck_assert_uint_eq(count_ops(b, IR_OP_DENSE), 2);
  /* final constants: mu_scale and mu_shift at T-1 and T, the Euler k at T-1 */
  double AT1 = A_of(STEPS - 1, STEPS), AT = A_of(STEPS, STEPS);
  const double want[] = {AT1 / (2 + AT1), 2 * 0.5 / (2 + AT1),
                         log1p(AT1),      sigma_of(STEPS, STEPS) / sigma_of(STEPS - 1, STEPS) - 1,
                         AT / (2 + AT),   2 * 0.5 / (2 + AT)};
  size_t n = 0;
  for (uint32_t i = 0; i < b->count; i++)
    if (b->insts[i].op == IR_OP_CONST) {
      ck_assert_uint_lt(n, 6);
      assert_close(b->insts[i].fattr, want[n++], TABLE_REL_TOL, "final constant");
    }
  ck_assert_uint_eq(n, 6);
  ir_module_free(&m);

  s.output = SPEC_OUTPUT_PREDICTION;
  lower_ok(&s, &m);
  ck_assert_uint_eq(m.nfe, 2 * (STEPS - 2) + 2);
  ck_assert_uint_eq(count_ops(&m.blocks[IR_BLOCK_FINAL], IR_OP_DENSE), 4);
  ir_module_free(&m);
  spec_free(&s);

  /* T = 2: no Heun step, one Euler step in final; T = 1: the start alone */
  for (uint32_t T = 1; T <= 2; T++) {
    make_normal(&s, "heun", SPEC_SAMPLER_HEUN, 2);
    s.schedule.kind = SPEC_SCHEDULE_TABLE;
    s.schedule.steps = T;
    s.schedule.values = malloc(2 * sizeof *s.schedule.values);
    ck_assert_ptr_nonnull(s.schedule.values);
    s.schedule.values[0] = 0.25;
    s.schedule.values[1] = 100;
    lower_ok(&s, &m);
    ck_assert_uint_eq(m.steps, 0);
    ck_assert_uint_eq(m.nfe, T - 1);
    ck_assert_uint_eq(count_ops(&m.blocks[IR_BLOCK_FINAL], IR_OP_DENSE), 2 * (T - 1));
    /* still runs: mu_T = (A_T z + lambda0 m0) / lambda_T, z = m0 + sd eps */
    float out[ROWS * D], eps[ROWS * D];
    free(run_block(&m, 5, 0, out));
    if (T == 1) {
      uint32_t key[2];
      pmm_rng_key(5, 0, key);
      pmm_rng_normal_block(key, 0, ROWS, 0, D, eps);
      double w[ROWS * D];
      for (int i = 0; i < ROWS * D; i++)
        w[i] = (0.25 * (0.5 + sqrt(0.5 + 4.0) * eps[i]) + 2 * 0.5) / 2.25;
      check_output(out, w, ROWS * D, 5);
    }
    ir_module_free(&m);
    spec_free(&s);
  }
}
END_TEST

/* D(z, s) of the probability-flow ODE: the network at mu = (A z + l0 m0)/lambda. */
static void heun_denoise(const model_spec *s, const double *z, uint32_t i, double *out) {
  double A = A_of(i, STEPS), l0 = s->prior_precision, mu[D];
  for (int k = 0; k < D; k++) mu[k] = (A * z[k] + l0 * s->prior_mean) / (l0 + A);
  naive_net(s, mu, D, log1p(A), out, D);
}

/* Textbook Heun (EDM algorithm 1, last step Euler) on dz/dsigma = (z - D)/sigma
 * over sigma_1 > ... > sigma_T, from z_1 = m0 + sqrt(1/lambda0 + sigma_1^2) eps. */
static void check_heun_chain(spec_output output, uint64_t seed, uint64_t first) {
  model_spec s;
  make_normal(&s, "heun", SPEC_SAMPLER_HEUN, STEPS);
  s.output = output;
  ir_module m;
  lower_ok(&s, &m);
  float out[ROWS * D], eps[ROWS * D];
  free(run_block(&m, seed, first, out));
  uint32_t key[2];
  pmm_rng_key(seed, 0, key);
  pmm_rng_normal_block(key, first, ROWS, 0, D, eps);
  double want[ROWS * D], l0 = s.prior_precision, m0 = s.prior_mean;
  for (int r = 0; r < ROWS; r++) {
    double z[D], zp[D], d1[D], d2[D], Dz[D];
    for (int k = 0; k < D; k++) z[k] = m0 + sqrt(1 / l0 + 1 / A_of(1, STEPS)) * eps[r * D + k];
    for (uint32_t i = 1; i < STEPS; i++) {
      double si = sigma_of(i, STEPS), sn = sigma_of(i + 1, STEPS), h = sn - si;
      heun_denoise(&s, z, i, Dz);
      for (int k = 0; k < D; k++) d1[k] = (z[k] - Dz[k]) / si;
      if (i + 1 == STEPS) {
        for (int k = 0; k < D; k++) z[k] += h * d1[k];
        break;
      }
      for (int k = 0; k < D; k++) zp[k] = z[k] + h * d1[k];
      heun_denoise(&s, zp, i + 1, Dz);
      for (int k = 0; k < D; k++) d2[k] = (zp[k] - Dz[k]) / sn;
      for (int k = 0; k < D; k++) z[k] += h * 0.5 * (d1[k] + d2[k]);
    }
    double AT = A_of(STEPS, STEPS);
    if (output == SPEC_OUTPUT_PREDICTION)
      heun_denoise(&s, z, STEPS, want + r * D);
    else
      for (int k = 0; k < D; k++) want[r * D + k] = (AT * z[k] + l0 * m0) / (l0 + AT);
  }
  check_output(out, want, ROWS * D, seed);
  ir_module_free(&m);
  spec_free(&s);
}

START_TEST(test_heun_chain) {
  printf("test_heun_chain: seeds 99 (first index 0) and 2024 (first index 8)\n");
  check_heun_chain(SPEC_OUTPUT_POSTERIOR_MEAN, 99, 0);
  check_heun_chain(SPEC_OUTPUT_PREDICTION, 2024, 8);
}
END_TEST

#undef D

/* ---- gamma-poisson -------------------------------------------------------------- */

#define GD 3
#define GA0 2.0
#define GB0 0.5

static void make_gamma(model_spec *s, pmm_act out_act) {
  irt_spec_graph(s, "gp", GD, STEPS);
  irt_spec_gamma(s, GA0, GB0);
  make_net(s, GD, GD, out_act);
}

START_TEST(test_gamma_structure) {
  model_spec s;
  make_gamma(&s, PMM_ACT_NONE);
  ir_module m;
  lower_ok(&s, &m);
  static const char *const names[] = {"tau", "alpha", "gamma_mu", "gamma_y"};
  check_tables(&s, &m, names, 4);
  ck_assert_str_eq(m.pair, "gamma-poisson");
  ck_assert(m.prior_shape == GA0 && m.prior_rate == GB0);
  ck_assert(m.blocks[IR_BLOCK_INIT].insts[0].fattr == (float)(GA0 / GB0)); /* mu_0 = a0/b0 */
  const ir_block *b = &m.blocks[IR_BLOCK_STEP];
  const ir_inst *sp = find_op(b, IR_OP_ACT);
  ck_assert_ptr_nonnull(sp); /* fc1's tanh comes first */
  uint32_t softplus_n = 0;
  for (uint32_t i = 0; i < b->count; i++)
    softplus_n += b->insts[i].op == IR_OP_ACT && b->insts[i].act == PMM_ACT_SOFTPLUS;
  ck_assert_uint_eq(softplus_n, 1);
  const ir_inst *y = find_op(b, IR_OP_POISSON);
  ck_assert_ptr_nonnull(y);
  ck_assert_uint_eq(y->stream, 1);
  ck_assert_uint_eq(count_ops(b, IR_OP_RANDN), 0);
  ck_assert_uint_eq(m.nfe, STEPS);
  ir_module_free(&m);
  spec_free(&s);

  /* an output layer with its own activation is not wrapped in softplus */
  make_gamma(&s, PMM_ACT_RELU);
  lower_ok(&s, &m);
  b = &m.blocks[IR_BLOCK_STEP];
  for (uint32_t i = 0; i < b->count; i++)
    ck_assert(!(b->insts[i].op == IR_OP_ACT && b->insts[i].act == PMM_ACT_SOFTPLUS));
  ir_module_free(&m);
  spec_free(&s);

  /* exact atoms: (mu, A_{t-1}) into exact_atoms_gamma */
  irt_spec_graph(&s, "gpx", 2, STEPS);
  irt_spec_gamma(&s, GA0, GB0);
  irt_spec_atoms(&s, 3, (const float[]){1, 2, 0, 5, 3, 3}, (const double[]){1, 1, 2});
  s.output = SPEC_OUTPUT_PREDICTION;
  lower_ok(&s, &m);
  static const char *const xnames[] = {"A", "alpha", "gamma_mu", "gamma_y"};
  check_tables(&s, &m, xnames, 4);
  ck_assert_uint_eq(m.natoms, 1);
  ck_assert_uint_eq(m.atoms[0].k, 3);
  ck_assert_uint_eq(m.atoms[0].dim, 2);
  ck_assert_uint_eq(m.atoms[0].vocab, 0);
  ck_assert(m.atoms[0].log_weight[2] == (float)log(0.5));
  const ir_inst *x = find_op(&m.blocks[IR_BLOCK_STEP], IR_OP_EXACT_ATOMS_GAMMA);
  ck_assert_ptr_nonnull(x);
  ck_assert_int_eq(m.blocks[IR_BLOCK_STEP].insts[x->args[1]].op, IR_OP_TABLE);
  x = find_op(&m.blocks[IR_BLOCK_FINAL], IR_OP_EXACT_ATOMS_GAMMA);
  ck_assert_ptr_nonnull(x);
  ck_assert(m.blocks[IR_BLOCK_FINAL].insts[x->args[1]].fattr == (float)A_of(STEPS, STEPS));
  ck_assert_uint_eq(m.nfe, STEPS + 1);
  ir_module_free(&m);
  spec_free(&s);
}
END_TEST

/* mu_0 = a0/b0; xhat = softplus(net(mu, tau_{t-1})); y ~ Poisson(alpha_t xhat);
 * mu_t = (b_{t-1} mu + y) / b_t. */
static void check_gamma_chain(spec_output output, uint64_t seed, uint64_t first) {
  model_spec s;
  make_gamma(&s, PMM_ACT_NONE);
  s.output = output;
  ir_module m;
  lower_ok(&s, &m);
  float out[ROWS * GD], rate[ROWS * GD], y[ROWS * GD];
  free(run_block(&m, seed, first, out));
  uint32_t key[2];
  pmm_rng_key(seed, 1, key);
  double mu[ROWS * GD], xhat[GD], want[ROWS * GD];
  for (int i = 0; i < ROWS * GD; i++) mu[i] = GA0 / GB0;
  for (uint32_t t = 1; t <= STEPS; t++) {
    double Ap = A_of(t - 1, STEPS), At = A_of(t, STEPS);
    for (int r = 0; r < ROWS; r++) {
      naive_net(&s, mu + r * GD, GD, log1p(Ap), xhat, GD);
      for (int k = 0; k < GD; k++) rate[r * GD + k] = (float)((At - Ap) * softplus(xhat[k]));
    }
    pmm_rng_poisson_block(key, first, ROWS, t, GD, rate, y);
    for (int i = 0; i < ROWS * GD; i++) mu[i] = ((GB0 + Ap) * mu[i] + y[i]) / (GB0 + At);
  }
  for (int r = 0; r < ROWS; r++) {
    if (output == SPEC_OUTPUT_PREDICTION) {
      naive_net(&s, mu + r * GD, GD, log1p(A_of(STEPS, STEPS)), xhat, GD);
      for (int k = 0; k < GD; k++) want[r * GD + k] = softplus(xhat[k]);
    } else {
      for (int k = 0; k < GD; k++) want[r * GD + k] = mu[r * GD + k];
    }
  }
  check_output(out, want, ROWS * GD, seed);
  ir_module_free(&m);
  spec_free(&s);
}

START_TEST(test_gamma_chain) {
  printf("test_gamma_chain: seeds 8 (first index 0) and 515 (first index 24)\n");
  check_gamma_chain(SPEC_OUTPUT_POSTERIOR_MEAN, 8, 0);
  check_gamma_chain(SPEC_OUTPUT_PREDICTION, 515, 24);
}
END_TEST

/* ---- dirichlet-categorical --------------------------------------------------------- */

#define CL 2
#define CK 3
#define CN (CL * CK)
#define CBETA 0.5
#define CEPS 0.2

static void make_categorical(model_spec *s, double eps) {
  irt_spec_graph(s, "cat", CL, STEPS);
  irt_spec_categorical(s, "_ab", 1, CBETA, eps);
  make_net(s, CN, CN, PMM_ACT_NONE);
}

START_TEST(test_categorical_structure) {
  model_spec s;
  make_categorical(&s, CEPS);
  ir_module m;
  lower_ok(&s, &m);
  static const char *const names[] = {"tau", "alpha"};
  check_tables(&s, &m, names, 2);
  ck_assert_uint_eq(m.state_len, CN);
  ck_assert_uint_eq(m.out_len, CL);
  ck_assert_str_eq(m.vocab, "_ab");
  ck_assert_uint_eq(m.vocab_size, CK);
  ck_assert_int_eq(m.pad_symbol, 0);
  ck_assert(m.blocks[IR_BLOCK_INIT].insts[0].fattr == 0.0f); /* C_0 = 0 */
  const ir_block *b = &m.blocks[IR_BLOCK_STEP];
  const ir_inst *dm = find_op(b, IR_OP_DIRICHLET_MEAN), *sm = find_op(b, IR_OP_SOFTMAX);
  ck_assert(dm && sm);
  ck_assert_uint_eq(dm->dim, CK);
  ck_assert(dm->fattr == (float)CBETA);
  ck_assert_int_eq(b->insts[dm->args[0]].op, IR_OP_STATE);
  /* the softmax runs over K, the last axis of [L, K] */
  ck_assert_uint_eq(sm->axis, 1);
  ck_assert_uint_eq(sm->shape.dim[1], CK);
  /* thetahat = (1 - eps) p + eps / K */
  ck_assert_uint_eq(count_ops(b, IR_OP_CONST), 2);
  const ir_inst *c1 = find_op(b, IR_OP_CONST);
  ck_assert(c1->fattr == (float)(1 - CEPS));
  ck_assert(c1[2].op == IR_OP_CONST && c1[2].fattr == (float)(CEPS / CK));
  ck_assert_uint_eq(find_op(b, IR_OP_POISSON)->stream, 1);
  const ir_inst *am = find_op(&m.blocks[IR_BLOCK_FINAL], IR_OP_ARGMAX);
  ck_assert(am && am->dim == CK && am->len == CL);
  ck_assert_int_eq(m.blocks[IR_BLOCK_FINAL].insts[am->args[0]].op, IR_OP_STATE);
  ir_module_free(&m);

  /* prediction: argmax of the network's p at (C_T, tau_T) */
  s.output = SPEC_OUTPUT_PREDICTION;
  lower_ok(&s, &m);
  am = find_op(&m.blocks[IR_BLOCK_FINAL], IR_OP_ARGMAX);
  ck_assert_int_eq(m.blocks[IR_BLOCK_FINAL].insts[am->args[0]].op, IR_OP_SOFTMAX);
  ck_assert_uint_eq(m.nfe, STEPS + 1);
  ir_module_free(&m);
  spec_free(&s);

  /* exact atoms read the counts; no smoothing ops when eps = 0 */
  irt_spec_graph(&s, "catx", CL, STEPS);
  irt_spec_categorical(&s, "_ab", 0, CBETA, 0.0);
  irt_spec_atoms(&s, 2, (const float[]){1, 2, 2, 0}, NULL);
  lower_ok(&s, &m);
  ck_assert_int_eq(m.pad_symbol, -1);
  ck_assert_uint_eq(m.atoms[0].vocab, CK);
  b = &m.blocks[IR_BLOCK_STEP];
  const ir_inst *x = find_op(b, IR_OP_EXACT_ATOMS_CATEGORICAL);
  ck_assert_ptr_nonnull(x);
  ck_assert_int_eq(b->insts[x->args[0]].op, IR_OP_STATE);
  ck_assert_uint_eq(count_ops(b, IR_OP_DIRICHLET_MEAN), 0);
  ck_assert_uint_eq(count_ops(b, IR_OP_CONST), 0);
  ir_module_free(&m);
  spec_free(&s);
}
END_TEST

/* p = softmax(net(mu, tau)) per position, mu = (beta + C)/(K beta + N). */
static void categorical_p(const model_spec *s, const double *C, double tau, double *p) {
  double mu[CN];
  for (int l = 0; l < CL; l++) {
    double n = 0;
    for (int k = 0; k < CK; k++) n += C[l * CK + k];
    for (int k = 0; k < CK; k++) mu[l * CK + k] = (CBETA + C[l * CK + k]) / (CK * CBETA + n);
  }
  naive_net(s, mu, CN, tau, p, CN);
  for (int l = 0; l < CL; l++) {
    double mx = p[l * CK], sum = 0;
    for (int k = 1; k < CK; k++) mx = fmax(mx, p[l * CK + k]);
    for (int k = 0; k < CK; k++) sum += p[l * CK + k] = exp(p[l * CK + k] - mx);
    for (int k = 0; k < CK; k++) p[l * CK + k] /= sum;
  }
}

static int argmax_of(const double *x) {
  int best = 0;
  for (int k = 1; k < CK; k++)
    if (x[k] > x[best]) best = k;
  return best;
}

/* C_0 = 0; p = categorical_p(C, tau_{t-1}); thetahat = (1 - eps) p + eps/K;
 * C_t = C + Poisson(alpha_t thetahat); output argmax_k C_T, or argmax_k of
 * p(C_T, tau_T).  The counts must agree exactly, and so must the symbols. */
static void check_categorical_chain(spec_output output, uint64_t seed, uint64_t first) {
  model_spec s;
  make_categorical(&s, CEPS);
  s.output = output;
  ir_module m;
  lower_ok(&s, &m);
  float out[ROWS * CL], rate[ROWS * CN], c[ROWS * CN];
  float *arena = run_block(&m, seed, first, out);
  uint32_t key[2];
  pmm_rng_key(seed, 1, key);
  double C[ROWS * CN] = {0}, p[CN];
  for (uint32_t t = 1; t <= STEPS; t++) {
    double Ap = A_of(t - 1, STEPS), alpha = A_of(t, STEPS) - Ap;
    for (int r = 0; r < ROWS; r++) {
      categorical_p(&s, C + r * CN, log1p(Ap), p);
      for (int i = 0; i < CN; i++)
        rate[r * CN + i] = (float)(alpha * ((1 - CEPS) * p[i] + CEPS / CK));
    }
    pmm_rng_poisson_block(key, first, ROWS, t, CN, rate, c);
    for (int i = 0; i < ROWS * CN; i++) C[i] += c[i];
  }
  double total = 0;
  for (int i = 0; i < ROWS * CN; i++) {
    ck_assert_msg(arena[m.state_offset + i] == C[i], "seed %llu count %d: %g, direct %g",
                  (unsigned long long)seed, i, arena[m.state_offset + i], C[i]);
    total += C[i];
  }
  ck_assert_msg(total > ROWS * CL, "too few counts to test anything: %g", total);
  for (int r = 0; r < ROWS; r++) {
    categorical_p(&s, C + r * CN, log1p(A_of(STEPS, STEPS)), p);
    for (int l = 0; l < CL; l++) {
      int want =
          output == SPEC_OUTPUT_PREDICTION ? argmax_of(p + l * CK) : argmax_of(C + r * CN + l * CK);
      ck_assert_msg(out[r * CL + l] == want, "seed %llu row %d position %d: symbol %g, direct %d",
                    (unsigned long long)seed, r, l, out[r * CL + l], want);
    }
  }
  free(arena);
  ir_module_free(&m);
  spec_free(&s);
}

START_TEST(test_categorical_chain) {
  printf("test_categorical_chain: seeds 3 (first index 0) and 777 (first index 40)\n");
  check_categorical_chain(SPEC_OUTPUT_POSTERIOR_MEAN, 3, 0);
  check_categorical_chain(SPEC_OUTPUT_PREDICTION, 777, 40);
}
END_TEST

START_TEST(test_categorical_errors) {
  model_spec s;
  make_categorical(&s, 1.0);
  ir_module m;
  diag_list dl;
  diag_list_init(&dl);
  ck_assert_int_ne(lower_model(&s, NULL, &m, &dl), 0);
  ck_assert_ptr_nonnull(strstr(dl.items[0].message, "smoothing 1 in [0, 1)"));
  diag_list_free(&dl);
  s.prior_smoothing = 0;
  s.prior_concentration = 0;
  diag_list_init(&dl);
  ck_assert_int_ne(lower_model(&s, NULL, &m, &dl), 0);
  ck_assert_ptr_nonnull(strstr(dl.items[0].message, "concentration 0 must be positive"));
  diag_list_free(&dl);
  spec_free(&s);
}
END_TEST

static Suite *samplers_suite(void) {
  Suite *s = suite_create("samplers");
  TCase *tc = tcase_create("normal");
  tcase_add_test(tc, test_em_tables);
  tcase_add_test(tc, test_em_chain);
  tcase_add_test(tc, test_heun_structure);
  tcase_add_test(tc, test_heun_chain);
  suite_add_tcase(s, tc);
  tc = tcase_create("discrete");
  tcase_add_test(tc, test_gamma_structure);
  tcase_add_test(tc, test_gamma_chain);
  tcase_add_test(tc, test_categorical_structure);
  tcase_add_test(tc, test_categorical_chain);
  tcase_add_test(tc, test_categorical_errors);
  suite_add_tcase(s, tc);
  return s;
}

int main(void) {
  SRunner *sr = srunner_create(samplers_suite());
  srunner_run_all(sr, CK_NORMAL);
  int failed = srunner_ntests_failed(sr);
  srunner_free(sr);
  return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
