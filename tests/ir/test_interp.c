/*
 * test_interp.c - the interpreter on hand-built modules with known output,
 * its descriptor, and a statistical test of a lowered exact model.
 *
 * Tolerances: the affine chain is exact in float (all values are dyadic);
 * network ops are compared with a double implementation within 1e-5
 * absolute + 1e-5 relative; noise must equal the runtime's draws bit for
 * bit.  The statistical test is stated at its definition.
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
#include "tests/util/testutil.h"

#define OPS_TOL 1e-5

static int32_t emit(ir_block *b, ir_op op, uint32_t nargs, const int32_t *args, uint32_t len,
                    int uniform) {
  int32_t i = ir_emit(b, op, nargs, args, len, uniform);
  ck_assert_int_ge(i, 0);
  return i;
}

static void module_header(ir_module *m, const char *name, uint32_t steps, uint32_t dim,
                          uint32_t block) {
  ck_assert_int_eq(ir_module_init(m, name), 0);
  m->steps = steps;
  m->schedule_steps = steps;
  m->rank = 1;
  m->shape[0] = dim;
  m->state_len = dim;
  m->out_len = dim;
  m->block_size = block;
  m->prior_precision = 1.0;
}

/* The memory plan of the IR as lowered, unoptimised (the passes have
 * tests/opt; these tests are about the interpreter). */
static void plan_ok(ir_module *m) {
  char err[512];
  ck_assert_msg(opt_plan_memory(m, err, sizeof err) == 0, "%s", err);
}

/* A plan without reuse: the state, then every other value in a slot of its
 * own, 16-float aligned, so the arena still holds every value of the last
 * step after a run (the liveness plan would have reused them). */
static void plan_keep_all(ir_module *m) {
  uint64_t off = ((uint64_t)m->block_size * m->state_len + 15) / 16 * 16;
  m->state_offset = 0;
  for (int k = 0; k < IR_BLOCK_COUNT; k++)
    for (uint32_t i = 0; i < m->blocks[k].count; i++) {
      ir_inst *in = &m->blocks[k].insts[i];
      if (in->op == IR_OP_STATE) {
        in->offset = m->state_offset;
        continue;
      }
      in->offset = off;
      off += ((uint64_t)(in->uniform ? 1 : m->block_size) * in->len + 15) / 16 * 16;
    }
  m->scratch_floats = off;
}

/* Run one block of the verified, planned m starting at sample `first`; out
 * holds block_size * out_len floats.  Returns the scratch arena (the caller
 * frees it). */
static float *run_planned(const ir_module *m, uint64_t seed, uint64_t first, float *out) {
  char err[512];
  interp *ip;
  ck_assert_msg(interp_init(&ip, m, err, sizeof err) == 0, "%s", err);
  float *scratch = aligned_alloc(64, (m->scratch_floats * 4 + 63) / 64 * 64);
  ck_assert_ptr_nonnull(scratch);
  for (uint64_t i = 0; i < m->scratch_floats; i++) scratch[i] = NAN; /* undefined on entry */
  pmm_block blk = {.seed = seed, .first_index = first, .out = out, .scratch = scratch};
  pmm_rng_key(seed, 0, blk.key);
  ck_assert_int_eq(interp_run_block(ip, &blk), 0);
  interp_free(ip);
  return scratch;
}

/* Verify, plan without reuse and run: after the run the arena holds every
 * value of the last step. */
static float *run_module_keep(ir_module *m, uint64_t seed, uint64_t first, float *out) {
  char err[512];
  ck_assert_msg(ir_verify(m, err, sizeof err) == 0, "%s", err);
  plan_keep_all(m);
  return run_planned(m, seed, first, out);
}

/* Verify, plan from liveness (values share floats) and run. */
static void run_module(ir_module *m, uint64_t seed, uint64_t first, float *out) {
  char err[512];
  ck_assert_msg(ir_verify(m, err, sizeof err) == 0, "%s", err);
  plan_ok(m);
  free(run_planned(m, seed, first, out));
}

/* init mu = 4; step mu <- c_t * mu + 1 with c = {0.5, 0.25, 2}; final
 * mu - 0.5: 4 -> 3 -> 1.75 -> 4.5 -> 4.0, exactly. */
START_TEST(test_interp_affine_chain) {
  ir_module m;
  module_header(&m, "affine", 3, 3, 5);
  static const float c[3] = {0.5f, 0.25f, 2.0f};
  ck_assert_int_eq(ir_add_table(&m, "c", 3, c), 0);
  ir_block *b = &m.blocks[IR_BLOCK_INIT];
  b->result = emit(b, IR_OP_FILL, 0, NULL, 3, 0);
  b->insts[b->result].fattr = 4.0f;

  b = &m.blocks[IR_BLOCK_STEP];
  int32_t mu = emit(b, IR_OP_STATE, 0, NULL, 3, 0);
  int32_t t = emit(b, IR_OP_TABLE, 0, NULL, 1, 1);
  b->insts[t].table = 0;
  int32_t x = emit(b, IR_OP_MUL, 2, (int32_t[]){mu, t}, 3, 0); /* scalar on the right */
  int32_t one = emit(b, IR_OP_CONST, 0, NULL, 1, 1);
  b->insts[one].fattr = 1.0f;
  b->result = emit(b, IR_OP_ADD, 2, (int32_t[]){one, x}, 3, 0); /* and on the left */

  b = &m.blocks[IR_BLOCK_FINAL];
  int32_t s = emit(b, IR_OP_STATE, 0, NULL, 3, 0);
  int32_t h = emit(b, IR_OP_CONST, 0, NULL, 1, 1);
  b->insts[h].fattr = 0.5f;
  b->result = emit(b, IR_OP_SUB, 2, (int32_t[]){s, h}, 3, 0);

  float out[5 * 3];
  run_module(&m, 1, 0, out);
  for (int i = 0; i < 15; i++)
    ck_assert_msg(out[i] == 4.0f, "out[%d] = %.9g, expected 4", i, out[i]);
  ir_module_free(&m);
}
END_TEST

/* Network ops against a double implementation, one step from a known state:
 *   %0 state [3]; %1 table tau; %2 sinusoidal(%1) uniform [4]
 *   %3 dense wt (%2) uniform [3]; %4 concat(%0, %1) [4]; %5 dense w, b (%4) [3]
 *   %6 act tanh; %7 add(%6, %3) (uniform row broadcast); %8 layernorm g (%7)
 *   %9 const 2; %10 sub(%9, %8); return %10
 * from the state init fills with 0.75. */
START_TEST(test_interp_network_ops) {
  enum { ROWS = 3, D = 3 };
  ir_module m;
  module_header(&m, "ops", 1, D, ROWS);
  static const float tau[1] = {0.7f};
  static const float wt[3 * 4] = {0.1f,  -0.2f, 0.3f, 0.4f,  0.5f, 0.6f,
                                  -0.7f, 0.8f,  0.9f, -1.0f, 1.1f, 0.2f};
  static const float w[3 * 4] = {0.3f, -0.1f, 0.2f, 0.5f, -0.4f, 0.6f,
                                 0.1f, -0.3f, 0.7f, 0.2f, -0.5f, 0.25f};
  static const float bias[3] = {0.05f, -0.1f, 0.2f}, g[3] = {1.5f, 0.5f, -1.0f};
  ck_assert_int_eq(ir_add_table(&m, "tau", 1, tau), 0);
  ck_assert_int_eq(ir_add_tensor(&m, "wt", 2, (uint64_t[]){3, 4}, wt), 0);
  ck_assert_int_eq(ir_add_tensor(&m, "w", 2, (uint64_t[]){3, 4}, w), 1);
  ck_assert_int_eq(ir_add_tensor(&m, "b", 1, (uint64_t[]){3}, bias), 2);
  ck_assert_int_eq(ir_add_tensor(&m, "g", 1, (uint64_t[]){3}, g), 3);
  ir_block *b = &m.blocks[IR_BLOCK_INIT];
  b->result = emit(b, IR_OP_FILL, 0, NULL, D, 0);
  b->insts[0].fattr = 0.75f;
  b = &m.blocks[IR_BLOCK_STEP];
  int32_t mu = emit(b, IR_OP_STATE, 0, NULL, D, 0);
  int32_t t = emit(b, IR_OP_TABLE, 0, NULL, 1, 1);
  b->insts[t].table = 0;
  int32_t sn = emit(b, IR_OP_SINUSOIDAL, 1, &t, 4, 1);
  b->insts[sn].dim = 4;
  int32_t tp = emit(b, IR_OP_DENSE, 1, &sn, 3, 1);
  b->insts[tp].weight = 0;
  int32_t cc = emit(b, IR_OP_CONCAT, 2, (int32_t[]){mu, t}, 4, 0);
  int32_t d = emit(b, IR_OP_DENSE, 1, &cc, 3, 0);
  b->insts[d].weight = 1;
  b->insts[d].bias = 2;
  int32_t a = emit(b, IR_OP_ACT, 1, &d, 3, 0);
  b->insts[a].act = PMM_ACT_TANH;
  int32_t s = emit(b, IR_OP_ADD, 2, (int32_t[]){a, tp}, 3, 0);
  int32_t ln = emit(b, IR_OP_LAYERNORM, 1, &s, 3, 0);
  b->insts[ln].weight = 3;
  b->insts[ln].fattr = 1e-5f;
  int32_t two = emit(b, IR_OP_CONST, 0, NULL, 1, 1);
  b->insts[two].fattr = 2.0f;
  b->result = emit(b, IR_OP_SUB, 2, (int32_t[]){two, ln}, D, 0);
  b = &m.blocks[IR_BLOCK_FINAL];
  b->result = emit(b, IR_OP_STATE, 0, NULL, D, 0);

  float out[ROWS * D];
  run_module(&m, 3, 0, out);

  /* the same in double */
  double tv = tau[0], emb[4], tproj[3], x[4] = {0.75, 0.75, 0.75, tv}, h[3], want[3];
  for (int j = 0; j < 2; j++) {
    double f = exp(-log(10000.0) * j / 2);
    emb[j] = sin(tv * f);
    emb[2 + j] = cos(tv * f);
  }
  for (int o = 0; o < 3; o++) {
    tproj[o] = 0;
    h[o] = bias[o];
    for (int k = 0; k < 4; k++) {
      tproj[o] += (double)wt[o * 4 + k] * emb[k];
      h[o] += (double)w[o * 4 + k] * x[k];
    }
    h[o] = tanh(h[o]) + tproj[o];
  }
  double mean = (h[0] + h[1] + h[2]) / 3, var = 0;
  for (int o = 0; o < 3; o++) var += (h[o] - mean) * (h[o] - mean) / 3;
  for (int o = 0; o < 3; o++) want[o] = 2.0 - (h[o] - mean) / sqrt(var + 1e-5) * g[o];
  for (int r = 0; r < ROWS; r++)
    for (int o = 0; o < 3; o++)
      ck_assert_msg(fabs(out[r * D + o] - want[o]) <= OPS_TOL + OPS_TOL * fabs(want[o]),
                    "row %d elem %d: %.9g, expected %.9g", r, o, out[r * D + o], want[o]);
  ir_module_free(&m);
}
END_TEST

/* RANDN stream 0 uses the block's key, stream 3 a key from (seed, 3); both
 * at step t for the block's samples, bit for bit. */
START_TEST(test_interp_noise_streams) {
  enum { ROWS = 4, D = 5, STEPS = 2 };
  const uint64_t seed = 99, first = 8;
  printf("test_interp_noise_streams: seed %llu, first index %llu\n", (unsigned long long)seed,
         (unsigned long long)first);
  ir_module m;
  module_header(&m, "noise", STEPS, D, ROWS);
  ir_block *b = &m.blocks[IR_BLOCK_INIT];
  b->result = emit(b, IR_OP_FILL, 0, NULL, D, 0);
  b = &m.blocks[IR_BLOCK_STEP]; /* mu_t = mu + e0 - e3 */
  int32_t mu = emit(b, IR_OP_STATE, 0, NULL, D, 0);
  int32_t e0 = emit(b, IR_OP_RANDN, 0, NULL, D, 0);
  int32_t e3 = emit(b, IR_OP_RANDN, 0, NULL, D, 0);
  b->insts[e3].stream = 3;
  int32_t s = emit(b, IR_OP_ADD, 2, (int32_t[]){mu, e0}, D, 0);
  b->result = emit(b, IR_OP_SUB, 2, (int32_t[]){s, e3}, D, 0);
  b = &m.blocks[IR_BLOCK_FINAL];
  b->result = emit(b, IR_OP_STATE, 0, NULL, D, 0);
  float out[ROWS * D];
  run_module(&m, seed, first, out);

  uint32_t k0[2], k3[2];
  pmm_rng_key(seed, 0, k0);
  pmm_rng_key(seed, 3, k3);
  float want[ROWS * D] = {0}, a[ROWS * D], c[ROWS * D];
  for (uint32_t t = 1; t <= STEPS; t++) {
    pmm_rng_normal_block(k0, first, ROWS, t, D, a);
    pmm_rng_normal_block(k3, first, ROWS, t, D, c);
    for (int i = 0; i < ROWS * D; i++) {
      float sum = want[i] + a[i];
      want[i] = sum - c[i];
    }
  }
  for (int i = 0; i < ROWS * D; i++)
    ck_assert_msg(memcmp(&out[i], &want[i], sizeof(float)) == 0, "out[%d] = %.9g, expected %.9g", i,
                  out[i], want[i]);
  ir_module_free(&m);
}
END_TEST

/* The discrete ops, each checked on the values of the last step left in
 * the arena (2 steps, L = 2 positions of K = 3 symbols, 5 rows):
 *   %0 state C; %1 randn; %2 mul (%1, %1); %3 table scale {3, 40};
 *   %4 mul (%3, %2) (rates); %5 poisson stream=2 (%4); %6 add (%0, %5) -> C_t
 *   %7 dirichlet_mean dim=3 beta=0.7 (%6); %8 softmax axis=1 (%1); %9 argmax dim=3 (%1)
 *   final: argmax k=3 (state)
 * poisson, softmax and argmax must equal the runtime's calls bit for bit;
 * dirichlet_mean must equal ir.h's float formula bit for bit and the double
 * one within 1e-6 relative. */
START_TEST(test_interp_discrete_ops) {
  enum { ROWS = 5, L = 2, K = 3, N = L * K };
  const uint64_t seed = 4242, first = 10;
  printf("test_interp_discrete_ops: seed %llu, first index %llu\n", (unsigned long long)seed,
         (unsigned long long)first);
  ir_module m;
  module_header(&m, "disc", 2, N, ROWS);
  m.shape[0] = L;
  m.out_len = L;
  static const float scale[2] = {3.0f, 40.0f};
  ck_assert_int_eq(ir_add_table(&m, "scale", 2, scale), 0);
  ir_block *b = &m.blocks[IR_BLOCK_INIT];
  b->result = emit(b, IR_OP_FILL, 0, NULL, N, 0);
  b = &m.blocks[IR_BLOCK_STEP];
  int32_t c = emit(b, IR_OP_STATE, 0, NULL, N, 0);
  /* noise of shape [L, K], so that the softmax below runs over each row of K */
  const tshape lk = tshape_make(2, (uint32_t[]){L, K});
  int32_t e = ir_emit_shaped(b, IR_OP_RANDN, 0, NULL, &lk, 0);
  int32_t sq = ir_emit_shaped(b, IR_OP_MUL, 2, (int32_t[]){e, e}, &lk, 0);
  int32_t t = emit(b, IR_OP_TABLE, 0, NULL, 1, 1);
  b->insts[t].table = 0;
  int32_t rate = ir_emit_shaped(b, IR_OP_MUL, 2, (int32_t[]){t, sq}, &lk, 0);
  int32_t y = ir_emit_shaped(b, IR_OP_POISSON, 1, &rate, &lk, 0);
  b->insts[y].stream = 2;
  int32_t ct = emit(b, IR_OP_ADD, 2, (int32_t[]){c, y}, N, 0);
  int32_t dm = emit(b, IR_OP_DIRICHLET_MEAN, 1, &ct, N, 0);
  b->insts[dm].dim = K;
  b->insts[dm].fattr = 0.7f;
  int32_t sm = ir_emit_shaped(b, IR_OP_SOFTMAX, 1, &e, &lk, 0);
  b->insts[sm].axis = 1;
  int32_t am = emit(b, IR_OP_ARGMAX, 1, &e, L, 0);
  b->insts[am].dim = K;
  b->result = ct;
  b = &m.blocks[IR_BLOCK_FINAL];
  int32_t s = emit(b, IR_OP_STATE, 0, NULL, N, 0);
  b->result = emit(b, IR_OP_ARGMAX, 1, &s, L, 0);
  b->insts[b->result].dim = K;

  float out[ROWS * L];
  float *arena = run_module_keep(&m, seed, first, out);
  const ir_block *sb = &m.blocks[IR_BLOCK_STEP];
#define VAL(i) (arena + sb->insts[i].offset)
  uint32_t k0[2], k2[2];
  pmm_rng_key(seed, 0, k0);
  pmm_rng_key(seed, 2, k2);
  float want[ROWS * N], wl[ROWS * L];
  pmm_rng_normal_block(k0, first, ROWS, 2, N, want);
  ck_assert_int_eq(memcmp(VAL(e), want, sizeof want), 0);
  pmm_rng_poisson_block(k2, first, ROWS, 2, N, VAL(rate), want);
  ck_assert_int_eq(memcmp(VAL(y), want, sizeof want), 0);
  pmm_kernel_softmax(ROWS, L, K, VAL(e), want);
  ck_assert_int_eq(memcmp(VAL(sm), want, sizeof want), 0);
  pmm_kernel_argmax(ROWS, L, K, VAL(e), wl);
  ck_assert_int_eq(memcmp(VAL(am), wl, sizeof wl), 0);
  pmm_kernel_argmax(ROWS, L, K, VAL(ct), wl);
  ck_assert_int_eq(memcmp(out, wl, sizeof wl), 0);

  double total = 0;
  const float *counts = VAL(ct), *mean = VAL(dm);
  for (int g = 0; g < ROWS * L; g++) {
    const float *cg = counts + g * K;
    float n = 0.0f;
    for (int j = 0; j < K; j++) n = n + cg[j];
    float den = (float)K * 0.7f + n;
    double nd = 0;
    for (int j = 0; j < K; j++) nd += cg[j];
    for (int j = 0; j < K; j++) {
      float wf = (0.7f + cg[j]) / den;
      double wd = (0.7 + cg[j]) / (K * 0.7 + nd);
      ck_assert_msg(memcmp(&mean[g * K + j], &wf, sizeof wf) == 0,
                    "dirichlet_mean[%d] = %.9g, float formula %.9g", g * K + j, mean[g * K + j],
                    wf);
      ck_assert_msg(fabs(mean[g * K + j] - wd) <= 1e-6 * wd, "dirichlet_mean[%d] = %.9g vs %.9g",
                    g * K + j, mean[g * K + j], wd);
      ck_assert(cg[j] >= 0 && cg[j] == floorf(cg[j])); /* counts stay integers */
    }
    total += nd;
  }
  ck_assert_msg(total > ROWS * L, "counts too small to test anything: %g", total);
#undef VAL
  free(arena);
  ir_module_free(&m);
}
END_TEST

START_TEST(test_interp_init_rejects) {
  ir_module m;
  module_header(&m, "bad", 1, 2, 4);
  interp *ip;
  char err[256];
  ck_assert_int_ne(interp_init(&ip, &m, err, sizeof err), 0); /* no blocks */
  ck_assert_ptr_null(ip);
  ck_assert_ptr_nonnull(strstr(err, "init block: missing result"));
  for (int k = 0; k < IR_BLOCK_COUNT; k++) {
    ir_block *b = &m.blocks[k];
    b->result = emit(b, k == IR_BLOCK_INIT ? IR_OP_FILL : IR_OP_STATE, 0, NULL, 2, 0);
  }
  ck_assert_int_ne(interp_init(&ip, &m, err, sizeof err), 0); /* valid, but not planned */
  ck_assert_ptr_nonnull(strstr(err, "no memory plan"));
  plan_ok(&m);
  ck_assert_msg(interp_init(&ip, &m, err, sizeof err) == 0, "%s", err);
  interp_free(ip);
  ir_module_free(&m);
}
END_TEST

/* ---- a lowered exact model --------------------------------------------------- */

#define G_MEAN 1.5
#define G_STD 0.3
#define G_STEPS 200

/* The lowered chain is linear-Gaussian for a single-Gaussian target:
 * xhat = a_t + b_t mu, so mu_T ~ N(E, V) with
 *   E' = (cm + cx b) E + cx a,   V' = (cm + cx b)^2 V + cn^2,  E_0 = m0, V_0 = 0.
 * This gives the sampler's exact output law (the finite-step PMM sampler
 * is not exactly the target: its std is 1.7% low at 200 steps). */
static void gaussian_chain_law(double *mean, double *sd) {
  double E = 0.0, V = 0.0, s2 = G_STD * G_STD;
  for (uint32_t t = 1; t <= G_STEPS; t++) {
    double Ap = t > 1 ? irt_geometric(t - 1, G_STEPS) : 0.0, At = irt_geometric(t, G_STEPS);
    double lp = 1.0 + Ap, lt = 1.0 + At, alpha = At - Ap, a = G_MEAN, b = 0.0;
    if (Ap > 0) {
      double g = s2 / (s2 + 1.0 / Ap); /* xhat = m + g (z - m), z = lp mu / Ap */
      a = G_MEAN * (1.0 - g);
      b = g * lp / Ap;
    }
    double cm = lp / lt, cx = alpha / lt, cn = sqrt(alpha) / lt, k = cm + cx * b;
    E = k * E + cx * a;
    V = k * k * V + cn * cn;
  }
  *mean = E;
  *sd = sqrt(V);
}

/* 20,000 samples of a 1-D model whose data is N(1.5, 0.3^2), through
 * lower_model + interpreter + pmm_sampler_generate (2 threads).
 * - sample mean within 5 standard errors (5 * 0.3 / sqrt(n) = 0.0106) of
 *   the chain's exact mean, and of the target's 1.5 within 0.0106 + 0.001;
 * - sample std within 5 standard errors (5 * sd / sqrt(2n) = 0.0075) of the
 *   chain's exact std, which is within 2% of the target's 0.3;
 * - KS of the standardised samples against N(0, 1): p > 0.001. */
START_TEST(test_interp_exact_gaussian_statistics) {
  enum { N = 20000 };
  const uint64_t seed = 20240607;
  printf("test_interp_exact_gaussian_statistics: seed %llu, %d samples\n", (unsigned long long)seed,
         N);
  model_spec s;
  irt_spec_exact(&s, "g1", 1, 1, (double[]){1.0}, (double[]){G_MEAN}, (double[]){G_STD}, G_STEPS);
  ir_module m;
  diag_list dl;
  diag_list_init(&dl);
  int rc = lower_model(&s, NULL, &m, &dl);
  if (rc != 0) diag_print(&dl, stderr);
  ck_assert_int_eq(rc, 0);
  diag_list_free(&dl);
  plan_ok(&m);
  interp *ip;
  char err[256];
  ck_assert_msg(interp_init(&ip, &m, err, sizeof err) == 0, "%s", err);
  pmm_model_desc d;
  interp_describe(ip, &d);
  float *out = malloc(N * sizeof *out);
  ck_assert_ptr_nonnull(out);
  ck_assert_int_eq(pmm_sampler_generate(&d, seed, 0, N, 2, out, err, sizeof err), PMM_OK);

  double sum = 0, sq = 0;
  for (int i = 0; i < N; i++) sum += out[i];
  double mean = sum / N;
  for (int i = 0; i < N; i++) sq += (out[i] - mean) * (out[i] - mean);
  double sd = sqrt(sq / (N - 1)), law_mean, law_sd;
  gaussian_chain_law(&law_mean, &law_sd);
  printf("  sample mean %.5f sd %.5f; chain law mean %.5f sd %.5f; target %.2f %.2f\n", mean, sd,
         law_mean, law_sd, G_MEAN, G_STD);
  double se_mean = 5 * law_sd / sqrt(N), se_sd = 5 * law_sd / sqrt(2.0 * N);
  ck_assert_msg(fabs(mean - law_mean) < se_mean, "mean %.5f vs %.5f", mean, law_mean);
  ck_assert_msg(fabs(mean - G_MEAN) < 5 * G_STD / sqrt(N) + 0.001, "mean %.5f vs 1.5", mean);
  ck_assert_msg(fabs(sd - law_sd) < se_sd, "sd %.5f vs %.5f", sd, law_sd);
  ck_assert_msg(fabs(law_sd - G_STD) < 0.02 * G_STD, "chain sd %.5f vs 0.3", law_sd);

  double *z = malloc(N * sizeof *z);
  ck_assert_ptr_nonnull(z);
  for (int i = 0; i < N; i++) z[i] = (out[i] - law_mean) / law_sd;
  double p = tu_ks_normal_pvalue(z, N);
  printf("  KS p-value %.4f\n", p);
  ck_assert_msg(p > 0.001, "KS p-value %.3g", p);

  /* bits do not depend on the thread count */
  float *again = malloc(N * sizeof *again);
  ck_assert_ptr_nonnull(again);
  ck_assert_int_eq(pmm_sampler_generate(&d, seed, 0, N, 1, again, err, sizeof err), PMM_OK);
  ck_assert_int_eq(memcmp(out, again, N * sizeof *out), 0);
  free(again);
  free(z);
  free(out);
  interp_free(ip);
  ir_module_free(&m);
  spec_free(&s);
}
END_TEST

START_TEST(test_interp_describe) {
  model_spec s;
  irt_spec_exact(&s, "g1", 1, 1, (double[]){1.0}, (double[]){G_MEAN}, (double[]){G_STD}, 10);
  ir_module m;
  diag_list dl;
  diag_list_init(&dl);
  ck_assert_int_eq(lower_model(&s, &(lower_options){.block_size = 32}, &m, &dl), 0);
  diag_list_free(&dl);
  plan_ok(&m);
  interp *ip;
  char err[256];
  ck_assert_int_eq(interp_init(&ip, &m, err, sizeof err), 0);
  pmm_model_desc d;
  interp_describe(ip, &d);
  ck_assert_uint_eq(d.abi, PMM_DESC_ABI);
  ck_assert_str_eq(d.name, "g1");
  ck_assert_str_eq(d.pair, "normal-normal");
  ck_assert_str_eq(d.sampler, "pmm");
  ck_assert_str_eq(d.output, "posterior-mean");
  ck_assert_str_eq(d.schedule,
                   "geometric, 10 steps, A_1=0.01 .. A_T=10000, 10 network evaluations");
  ck_assert_ptr_nonnull(strstr(d.engine, "interpreter"));
  ck_assert_str_eq(d.weight_hash, m.weight_hash);
  ck_assert_ptr_null(d.vocab);
  ck_assert_uint_eq(d.steps, 10);
  ck_assert_uint_eq(d.rank, 1);
  ck_assert_uint_eq(d.shape[0], 1);
  ck_assert_uint_eq(d.sample_elems, 1);
  ck_assert_uint_eq(d.block_size, 32);
  ck_assert_uint_eq(d.scratch_bytes, m.scratch_floats * 4);
  /* per step: exact_gmm k=1 dim=1 (16), randn (4), 3 mul + 2 add (5) */
  ck_assert_uint_eq(d.flops_per_sample, 10 * 25);
  /* 4 tables of 10, mixture 1 + 1 + 1 */
  ck_assert_uint_eq(d.weight_bytes, (40 + 3) * 4);
  ck_assert_uint_eq(d.vocab_size, 0);
  ck_assert_int_eq(d.pad_symbol, -1);
  ck_assert(d.range_lo == 0.0 && d.range_hi == 0.0);
  ck_assert(d.run_block == interp_run_block);
  ck_assert_ptr_eq(d.user, ip);
  interp_free(ip);
  ir_module_free(&m);
  spec_free(&s);
}
END_TEST

/* Lower s and draw n samples with the interpreter (2 threads); the caller
 * frees the result. */
static float *sample_lowered(const model_spec *s, uint64_t seed, size_t n, ir_module *m) {
  diag_list dl;
  diag_list_init(&dl);
  int rc = lower_model(s, NULL, m, &dl);
  if (rc != 0) diag_print(&dl, stderr);
  ck_assert_int_eq(rc, 0);
  diag_list_free(&dl);
  plan_ok(m);
  interp *ip;
  char err[256];
  ck_assert_msg(interp_init(&ip, m, err, sizeof err) == 0, "%s", err);
  pmm_model_desc d;
  interp_describe(ip, &d);
  float *out = malloc(n * m->out_len * sizeof *out);
  ck_assert_ptr_nonnull(out);
  ck_assert_int_eq(pmm_sampler_generate(&d, seed, 0, n, 2, out, err, sizeof err), PMM_OK);
  interp_free(ip);
  return out;
}

/* Gamma-Poisson with a one-atom set x = (3, 0, 12): the exact network returns
 * x at every step (also at A = 0, the prior mean of the set), so the draws
 * are y_t ~ Poisson(alpha_t x) and S_T = mu_T (b0 + A_T) - a0 ~ Poisson(A_T x)
 * exactly (a0 = 2, b0 = 0.5, A_T = 1e4, 200 steps).  With n = 4000:
 * - every sample within 6 sd (sqrt(x / A_T) / (1 + b0/A_T)) + 1e-3 of its
 *   expectation (a0 + A_T x) / (b0 + A_T), which is within 2.5e-4 of x;
 * - the mean of S within 5 standard errors sqrt(A_T x / n) of A_T x, and its
 *   variance within 5 * sqrt(2/n) = 11% of A_T x (Poisson); the zero
 *   coordinate is a0 / (b0 + A_T) within 1e-6 in every sample. */
START_TEST(test_interp_gamma_one_atom) {
  enum { N = 4000 };
  const uint64_t seed = 77031;
  const double x[3] = {3.0, 0.0, 12.0}, a0 = 2.0, b0 = 0.5, AT = 1e4;
  printf("test_interp_gamma_one_atom: seed %llu, %d samples\n", (unsigned long long)seed, N);
  model_spec s;
  irt_spec_graph(&s, "gone", 3, 200);
  irt_spec_gamma(&s, a0, b0);
  irt_spec_atoms(&s, 1, (const float[]){3.0f, 0.0f, 12.0f}, NULL);
  ir_module m;
  float *out = sample_lowered(&s, seed, N, &m);
  for (int d = 0; d < 3; d++) {
    double want = (a0 + AT * x[d]) / (b0 + AT), sd = sqrt(x[d] * AT) / (b0 + AT);
    ck_assert(fabs(want - x[d]) < 5e-4);
    double sum = 0, sq = 0;
    for (int i = 0; i < N; i++) {
      double v = out[i * 3 + d];
      ck_assert_msg(fabs(v - want) <= 6 * sd + (d == 1 ? 1e-6 : 1e-3),
                    "sample %d coordinate %d = %.6g, atom %g", i, d, v, x[d]);
      double S = v * (b0 + AT) - a0;
      sum += S;
      sq += S * S;
    }
    if (x[d] == 0) continue;
    double mean = sum / N, var = sq / N - mean * mean, lam = AT * x[d];
    printf("  coordinate %d: mean S %.2f var %.1f, Poisson %.0f\n", d, mean, var, lam);
    ck_assert_msg(fabs(mean - lam) < 5 * sqrt(lam / N), "mean of S %.2f vs %.0f", mean, lam);
    ck_assert_msg(fabs(var / lam - 1) < 5 * sqrt(2.0 / N), "variance of S %.1f vs %.0f", var, lam);
  }
  free(out);
  ir_module_free(&m);
  spec_free(&s);
}
END_TEST

/* Dirichlet-Categorical with a one-word atom set: every sample is that word,
 * without and with smoothing (0.3), as posterior mean and as prediction.
 * Not statistical: a single atom makes p one-hot, so the counts off the
 * word's symbols grow at rate eps/K only; with A_T = 1e4 and 0.76 vs 0.06
 * per unit of A a wrong argmax would be a many-sigma event. */
START_TEST(test_interp_categorical_one_word) {
  enum { N = 1000, L = 5 };
  static const float word[L] = {3, 1, 2, 0, 0}; /* "cab" and two padding symbols */
  static const struct {
    double eps;
    spec_output output;
  } cases[] = {{0.0, SPEC_OUTPUT_POSTERIOR_MEAN},
               {0.3, SPEC_OUTPUT_POSTERIOR_MEAN},
               {0.3, SPEC_OUTPUT_PREDICTION}};
  for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
    const uint64_t seed = 1000 + c;
    printf("test_interp_categorical_one_word: seed %llu, smoothing %.1f, %s\n",
           (unsigned long long)seed, cases[c].eps, spec_output_name(cases[c].output));
    model_spec s;
    irt_spec_graph(&s, "word1", L, 100);
    irt_spec_categorical(&s, "_abcd", 1, 0.5, cases[c].eps);
    irt_spec_atoms(&s, 1, word, NULL);
    s.output = cases[c].output;
    ir_module m;
    float *out = sample_lowered(&s, seed, N, &m);
    ck_assert_uint_eq(m.state_len, L * 5);
    ck_assert_uint_eq(m.out_len, L);
    for (int i = 0; i < N; i++)
      for (int l = 0; l < L; l++)
        ck_assert_msg(out[i * L + l] == word[l], "sample %d position %d: symbol %g, expected %g", i,
                      l, out[i * L + l], word[l]);
    free(out);
    ir_module_free(&m);
    spec_free(&s);
  }
}
END_TEST

START_TEST(test_interp_describe_categorical) {
  model_spec s;
  irt_spec_graph(&s, "cat", 4, 10);
  irt_spec_categorical(&s, "_xyz", 1, 0.5, 0.1);
  irt_spec_atoms(&s, 2, (const float[]){1, 2, 3, 0, 3, 3, 0, 0}, (const double[]){1, 3});
  s.data_range[0] = -2;
  s.data_range[1] = 5;
  ir_module m;
  diag_list dl;
  diag_list_init(&dl);
  ck_assert_int_eq(lower_model(&s, NULL, &m, &dl), 0);
  diag_list_free(&dl);
  plan_ok(&m);
  interp *ip;
  char err[256];
  ck_assert_int_eq(interp_init(&ip, &m, err, sizeof err), 0);
  pmm_model_desc d;
  interp_describe(ip, &d);
  ck_assert_str_eq(d.pair, "dirichlet-categorical");
  ck_assert_str_eq(d.vocab, "_xyz");
  ck_assert_uint_eq(d.vocab_size, 4);
  ck_assert_int_eq(d.pad_symbol, 0);
  ck_assert(d.range_lo == -2.0 && d.range_hi == 5.0);
  ck_assert_uint_eq(d.steps, 10);
  ck_assert_uint_eq(d.sample_elems, 4);
  ck_assert_uint_eq(d.rank, 1);
  ck_assert_uint_eq(d.shape[0], 4);
  /* 10 tables of alpha, atoms 2 x 4 values + 2 log weights */
  ck_assert_uint_eq(d.weight_bytes, (10 + 8 + 2) * 4);
  ck_assert(m.atoms[0].log_weight[0] == (float)log(0.25));
  ck_assert(m.atoms[0].log_weight[1] == (float)log(0.75));
  interp_free(ip);
  ir_module_free(&m);
  spec_free(&s);
}
END_TEST

static Suite *interp_suite(void) {
  Suite *s = suite_create("interp");
  TCase *tc = tcase_create("interp");
  tcase_add_test(tc, test_interp_affine_chain);
  tcase_add_test(tc, test_interp_network_ops);
  tcase_add_test(tc, test_interp_noise_streams);
  tcase_add_test(tc, test_interp_discrete_ops);
  tcase_add_test(tc, test_interp_init_rejects);
  tcase_add_test(tc, test_interp_describe);
  tcase_add_test(tc, test_interp_exact_gaussian_statistics);
  tcase_add_test(tc, test_interp_describe_categorical);
  tcase_add_test(tc, test_interp_gamma_one_atom);
  tcase_add_test(tc, test_interp_categorical_one_word);
  suite_add_tcase(s, tc);
  return s;
}

int main(void) {
  SRunner *sr = srunner_create(interp_suite());
  srunner_run_all(sr, CK_NORMAL);
  int failed = srunner_ntests_failed(sr);
  srunner_free(sr);
  return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
