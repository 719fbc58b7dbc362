/*
 * lower_sampler.c - the init, step and final blocks of each pair and sampler
 * (docs/pmm.md; derivations in docs/samplers.md), with the schedule
 * folded into per-step tables (computed in double, stored as float, entry
 * t-1 read at step t; only the tables a model uses are emitted).
 *
 * A_0 = 0, alpha_t = A_t - A_{t-1}, lambda_s = lambda0 + A_s, b_s = b0 + A_s,
 * sigma_s = A_s^(-1/2), tau_s = ln(1 + A_s).
 *
 * normal-normal, pmm:   state mu, mu_0 = m0;  xhat = net(mu, tau_{t-1})
 *   mu_t = coef_mu mu + coef_xhat xhat + coef_noise eps,  eps ~ N(0, I)
 *   (lambda_{t-1}/lambda_t, alpha_t/lambda_t, sqrt(alpha_t)/lambda_t)
 * normal-normal, euler-maruyama: the same with drift and diffusion at the
 *   step's start: (1 - alpha_t/lambda_{t-1}, alpha_t/lambda_{t-1},
 *   sqrt(alpha_t)/lambda_{t-1})
 * gamma-poisson, pmm:   state mu, mu_0 = a0/b0;  y ~ Poisson(alpha_t xhat)
 *   mu_t = (b_{t-1}/b_t) mu + (1/b_t) y
 * dirichlet-categorical, pmm: state C [L*K], C_0 = 0;  p = net(C, tau_{t-1})
 *   thetahat = (1 - eps) p + eps/K;  C_t = C + Poisson(alpha_t thetahat);
 *   output argmax_k C_{T,l} (= argmax of mu), or argmax of p at T
 * normal-normal, heun:  state z; z_1 = m0 + sqrt(1/lambda0 + sigma_1^2) eps
 *   drawn in init; step t = 1..T-2 is a Heun step sigma_t -> sigma_{t+1};
 *   the final block takes the Euler step sigma_{T-1} -> sigma_T and returns
 *   mu_T = (A_T z + lambda0 m0)/lambda_T, or D at sigma_T.
 *   Network evaluations: 2 (T - 2) + 1 for T >= 2 (+1 for prediction).
 *
 * Noise: RANDN on stream 0, POISSON on stream 1 (pmmrt.h).
 */
#include <math.h>
#include <stdlib.h>

#include "compiler/lower/lower_int.h"
#include "compiler/util/xalloc.h"

static const char *const lower_table_names[LOWER_TABLE_COUNT] = {
    "tau",     "A",        "mu_scale", "mu_shift", "coef_mu", "coef_xhat", "coef_noise", "em_mu",
    "em_xhat", "em_noise", "alpha",    "gamma_mu", "gamma_y", "heun_k",    "heun_c1",    "heun_c2"};

static const char *const lower_shift_names[LOWER_SHIFTS] = {"", "[t]", "[t+1]"};

static int lower_is_point(lower_table_kind k) {
  return k == LOWER_TABLE_TAU || k == LOWER_TABLE_A || k == LOWER_TABLE_MU_SCALE ||
         k == LOWER_TABLE_MU_SHIFT;
}

/* Point kinds: the value at schedule index s.  Step kinds: the coefficient
 * of step s (A_{s-1} -> A_s).  Heun kinds: the interval sigma_s -> sigma_{s+1}. */
double lower_coef(const lower_ctx *c, lower_table_kind k, uint32_t s) {
  const model_spec *sp = c->spec;
  const double *A = c->A;
  double l0 = sp->prior_precision, alpha = s > 0 ? A[s] - A[s - 1] : 0.0;
  double lam = l0 + A[s], lam_prev = s > 0 ? l0 + A[s - 1] : l0;
  double b = sp->prior_rate + A[s], b_prev = s > 0 ? sp->prior_rate + A[s - 1] : sp->prior_rate;
  switch (k) {
  case LOWER_TABLE_TAU: return log1p(A[s]);
  case LOWER_TABLE_A: return A[s];
  case LOWER_TABLE_MU_SCALE: return A[s] / lam;
  case LOWER_TABLE_MU_SHIFT: return l0 * sp->prior_mean / lam;
  case LOWER_TABLE_COEF_MU: return lam_prev / lam;
  case LOWER_TABLE_COEF_XHAT: return alpha / lam;
  case LOWER_TABLE_COEF_NOISE: return sqrt(alpha) / lam;
  case LOWER_TABLE_EM_MU: return 1.0 - alpha / lam_prev;
  case LOWER_TABLE_EM_XHAT: return alpha / lam_prev;
  case LOWER_TABLE_EM_NOISE: return sqrt(alpha) / lam_prev;
  case LOWER_TABLE_ALPHA: return alpha;
  case LOWER_TABLE_GAMMA_MU: return b_prev / b;
  case LOWER_TABLE_GAMMA_Y: return 1.0 / b;
  case LOWER_TABLE_HEUN_K: return sqrt(A[s] / A[s + 1]) - 1.0;
  case LOWER_TABLE_HEUN_C1: return 0.5 * (sqrt(A[s] / A[s + 1]) - 1.0);
  case LOWER_TABLE_HEUN_C2: return 0.5 * (1.0 - sqrt(A[s + 1] / A[s]));
  case LOWER_TABLE_COUNT: break;
  }
  return 0.0;
}

static int32_t lower_table(lower_ctx *c, lower_table_kind k, uint32_t shift) {
  if (c->table[k][shift] >= 0) return c->table[k][shift];
  uint32_t steps = c->m->steps;
  float *data = xmalloc_array(steps ? steps : 1, sizeof *data);
  if (!data) return lower_oom(c);
  char name[64];
  snprintf(name, sizeof name, "%s%s", lower_table_names[k], lower_shift_names[shift]);
  for (uint32_t t = 1; t <= steps; t++) {
    double v = lower_coef(c, k, lower_is_point(k) ? t - 1 + shift : t);
    data[t - 1] = (float)v;
    /* Each input fits a float, but extreme combinations of schedule and
     * prior (A_T near FLT_MAX over a tiny precision) can give a coefficient
     * that does not: a user error, found before any sample is drawn. */
    if (!isfinite(data[t - 1])) {
      free(data);
      lower_error_at(c, c->spec->schedule.loc,
                     "found the step coefficient %s = %g at step %u, expected a value within "
                     "float32's range (+-3.40282347e+38)",
                     name, v, t);
      diag_hint(c->dl, "the schedule's precisions are too large for the prior's; narrow the "
                       "schedule or raise the prior precision");
      return -1;
    }
  }
  c->table[k][shift] = ir_add_table(c->m, name, steps, data);
  free(data);
  return c->table[k][shift] >= 0 ? c->table[k][shift] : lower_oom(c);
}

int32_t lower_table_read(lower_ctx *c, lower_table_kind k, uint32_t shift) {
  if (shift >= LOWER_SHIFTS || (shift && !lower_is_point(k)))
    return lower_error_at(c, c->spec->schedule.loc, "internal error: bad table shift");
  int32_t t = lower_table(c, k, shift);
  if (t < 0) return -1;
  int32_t i = ir_emit(&c->m->blocks[IR_BLOCK_STEP], IR_OP_TABLE, 0, NULL, 1, 1);
  if (i < 0) return lower_oom(c);
  c->m->blocks[IR_BLOCK_STEP].insts[i].table = t;
  return i;
}

/* coef * x with coef a table of the step block. */
static int32_t lower_term(lower_ctx *c, lower_table_kind k, uint32_t shift, int32_t x) {
  int32_t coef = lower_table_read(c, k, shift);
  return coef >= 0 ? lower_binary(c, IR_BLOCK_STEP, IR_OP_MUL, coef, x) : -1;
}

/* x itself when per-sample; a uniform x is broadcast to every row (x + 0). */
static int32_t lower_per_sample(lower_ctx *c, ir_block_kind bk, int32_t x) {
  const ir_inst *in = &c->m->blocks[bk].insts[x];
  if (!in->uniform) return x;
  tshape shape = in->shape;
  int32_t zero = lower_emit_shaped(c, bk, IR_OP_FILL, 0, NULL, &shape);
  int32_t r = zero >= 0 ? lower_binary(c, bk, IR_OP_ADD, x, zero) : -1;
  return r >= 0 && lower_label(c, bk, r, "broadcast") == 0 ? r : -1;
}

static int32_t lower_state(lower_ctx *c, ir_block_kind bk, const char *label) {
  int32_t s = lower_emit_shaped(c, bk, IR_OP_STATE, 0, NULL, &c->m->state_shape);
  return s >= 0 && lower_label(c, bk, s, label) == 0 ? s : -1;
}

static int32_t lower_noise(lower_ctx *c, ir_block_kind bk, ir_op op, int32_t rate, uint32_t stream,
                           const char *label) {
  int32_t r = lower_emit_shaped(c, bk, op, rate >= 0 ? 1 : 0, &rate, &c->m->state_shape);
  if (r < 0) return -1;
  c->m->blocks[bk].insts[r].stream = stream;
  return lower_label(c, bk, r, label) == 0 ? r : -1;
}

static int lower_result(lower_ctx *c, ir_block_kind bk, int32_t r, const char *label) {
  if (r < 0) return -1;
  c->m->blocks[bk].result = r;
  return label ? lower_label(c, bk, r, label) : 0;
}

/* ---- init ------------------------------------------------------------------- */

static int lower_fill_init(lower_ctx *c, double v, const char *label) {
  int32_t r = lower_emit_shaped(c, IR_BLOCK_INIT, IR_OP_FILL, 0, NULL, &c->m->state_shape);
  if (r < 0) return -1;
  c->m->blocks[IR_BLOCK_INIT].insts[r].fattr = (float)v;
  return lower_result(c, IR_BLOCK_INIT, r, label);
}

/* Heun's start: z at sigma_1 is x + sigma_1 eps; with x from the PMM prior
 * N(m0, 1/lambda0), z_1 = m0 + sqrt(1/lambda0 + sigma_1^2) eps. */
static int lower_heun_init(lower_ctx *c) {
  const model_spec *s = c->spec;
  ir_block_kind bk = IR_BLOCK_INIT;
  int32_t eps = lower_noise(c, bk, IR_OP_RANDN, -1, 0, "eps");
  int32_t sd = eps >= 0 ? lower_const(c, bk, sqrt(1.0 / s->prior_precision + 1.0 / c->A[1])) : -1;
  int32_t x = sd >= 0 ? lower_binary(c, bk, IR_OP_MUL, sd, eps) : -1;
  if (x < 0 || s->prior_mean == 0.0) return lower_result(c, bk, x, "z_1");
  int32_t m0 = lower_const(c, bk, s->prior_mean);
  return lower_result(c, bk, m0 >= 0 ? lower_binary(c, bk, IR_OP_ADD, x, m0) : -1, "z_1");
}

static int lower_init_block(lower_ctx *c) {
  const model_spec *s = c->spec;
  if (s->sampler == SPEC_SAMPLER_HEUN) return lower_heun_init(c);
  switch (s->pair) {
  case SPEC_PAIR_NORMAL_NORMAL: return lower_fill_init(c, s->prior_mean, "prior mean");
  case SPEC_PAIR_GAMMA_POISSON:
    return lower_fill_init(c, s->prior_shape / s->prior_rate, "prior mean");
  case SPEC_PAIR_DIRICHLET_CATEGORICAL: return lower_fill_init(c, 0.0, "counts");
  }
  return lower_error_at(c, s->prior_loc, "internal error: unknown pair");
}

/* ---- step ------------------------------------------------------------------- */

static int lower_step_normal(lower_ctx *c, int em) {
  ir_block_kind bk = IR_BLOCK_STEP;
  int32_t mu = lower_state(c, bk, "mu");
  if (mu < 0) return -1;
  lower_inputs io = {bk, mu, -1, 0, -1, -1};
  int32_t xhat = lower_network(c, &io);
  int32_t eps = xhat >= 0 ? lower_noise(c, bk, IR_OP_RANDN, -1, 0, "eps") : -1;
  int32_t a = eps >= 0 ? lower_term(c, em ? LOWER_TABLE_EM_MU : LOWER_TABLE_COEF_MU, 0, mu) : -1;
  int32_t b =
      a >= 0 ? lower_term(c, em ? LOWER_TABLE_EM_XHAT : LOWER_TABLE_COEF_XHAT, 0, xhat) : -1;
  int32_t s = b >= 0 ? lower_binary(c, bk, IR_OP_ADD, a, b) : -1;
  int32_t n =
      s >= 0 ? lower_term(c, em ? LOWER_TABLE_EM_NOISE : LOWER_TABLE_COEF_NOISE, 0, eps) : -1;
  return lower_result(c, bk, n >= 0 ? lower_binary(c, bk, IR_OP_ADD, s, n) : -1, "mu_t");
}

/* Poisson draws at rate alpha_t * x (stream 1). */
static int32_t lower_poisson_step(lower_ctx *c, int32_t x, const char *label) {
  int32_t rate = lower_term(c, LOWER_TABLE_ALPHA, 0, x);
  if (rate < 0 || lower_label(c, IR_BLOCK_STEP, rate, "rate") != 0) return -1;
  rate = lower_per_sample(c, IR_BLOCK_STEP, rate);
  return rate >= 0 ? lower_noise(c, IR_BLOCK_STEP, IR_OP_POISSON, rate, 1, label) : -1;
}

static int lower_step_gamma(lower_ctx *c) {
  ir_block_kind bk = IR_BLOCK_STEP;
  int32_t mu = lower_state(c, bk, "mu");
  if (mu < 0) return -1;
  lower_inputs io = {bk, mu, -1, 0, -1, -1};
  int32_t xhat = lower_network(c, &io);
  int32_t y = xhat >= 0 ? lower_poisson_step(c, xhat, "y") : -1;
  int32_t a = y >= 0 ? lower_term(c, LOWER_TABLE_GAMMA_MU, 0, mu) : -1;
  int32_t b = a >= 0 ? lower_term(c, LOWER_TABLE_GAMMA_Y, 0, y) : -1;
  return lower_result(c, bk, b >= 0 ? lower_binary(c, bk, IR_OP_ADD, a, b) : -1, "mu_t");
}

/* thetahat = (1 - eps) p + eps/K; p itself when eps = 0. */
static int32_t lower_smooth(lower_ctx *c, ir_block_kind bk, int32_t p) {
  double eps = c->spec->prior_smoothing;
  if (eps == 0.0) return p;
  int32_t keep = lower_const(c, bk, 1.0 - eps);
  int32_t x = keep >= 0 ? lower_binary(c, bk, IR_OP_MUL, keep, p) : -1;
  int32_t floor_ = x >= 0 ? lower_const(c, bk, eps / c->m->vocab_size) : -1;
  int32_t r = floor_ >= 0 ? lower_binary(c, bk, IR_OP_ADD, x, floor_) : -1;
  return r >= 0 && lower_label(c, bk, r, "thetahat") == 0 ? r : -1;
}

static int lower_step_categorical(lower_ctx *c) {
  ir_block_kind bk = IR_BLOCK_STEP;
  int32_t counts = lower_state(c, bk, "counts");
  if (counts < 0) return -1;
  lower_inputs io = {bk, counts, -1, 0, -1, -1};
  int32_t p = lower_network(c, &io);
  int32_t theta = p >= 0 ? lower_smooth(c, bk, p) : -1;
  int32_t n = theta >= 0 ? lower_poisson_step(c, theta, "new counts") : -1;
  return lower_result(c, bk, n >= 0 ? lower_binary(c, bk, IR_OP_ADD, counts, n) : -1, "counts_t");
}

/* A coefficient: a table read in the step block (at = shift), a constant at
 * schedule index `at` elsewhere. */
static int32_t lower_point(lower_ctx *c, ir_block_kind bk, lower_table_kind k, uint32_t at) {
  if (bk == IR_BLOCK_STEP) return lower_table_read(c, k, at);
  return lower_const(c, bk, lower_coef(c, k, at));
}

/* mu = scale z + shift (the shift lambda0 m0 / lambda is left out when
 * m0 = 0). */
static int32_t lower_z_to_mu(lower_ctx *c, ir_block_kind bk, int32_t z, uint32_t at) {
  int32_t scale = lower_point(c, bk, LOWER_TABLE_MU_SCALE, at);
  int32_t r = scale >= 0 ? lower_binary(c, bk, IR_OP_MUL, scale, z) : -1;
  if (r >= 0 && c->spec->prior_mean != 0.0) {
    int32_t shift = lower_point(c, bk, LOWER_TABLE_MU_SHIFT, at);
    r = shift >= 0 ? lower_binary(c, bk, IR_OP_ADD, r, shift) : -1;
  }
  return r >= 0 && lower_label(c, bk, r, "mu") == 0 ? r : -1;
}

/* D(z, sigma_s) - as the network at mu(z) - and d = z - D. */
static int32_t lower_denoise(lower_ctx *c, ir_block_kind bk, int32_t z, uint32_t at, int32_t *D) {
  int32_t mu = lower_z_to_mu(c, bk, z, at);
  if (mu < 0) return -1;
  lower_inputs io = {bk, mu, -1, at, -1, -1};
  if ((*D = lower_network(c, &io)) < 0 || lower_label(c, bk, *D, "D") != 0) return -1;
  int32_t d = lower_binary(c, bk, IR_OP_SUB, z, *D);
  return d >= 0 && lower_label(c, bk, d, "z - D") == 0 ? d : -1;
}

/* One Heun step sigma_t -> sigma_{t+1} (h = sigma_{t+1} - sigma_t):
 *   d1 = z - D(z, sigma_t);  zp = z + (h/sigma_t) d1
 *   d2 = zp - D(zp, sigma_{t+1});  z' = z + (h/(2 sigma_t)) d1 + (h/(2 sigma_{t+1})) d2 */
static int lower_step_heun(lower_ctx *c) {
  ir_block_kind bk = IR_BLOCK_STEP;
  int32_t z = lower_state(c, bk, "z"), D1, D2;
  int32_t d1 = z >= 0 ? lower_denoise(c, bk, z, 1, &D1) : -1;
  int32_t k = d1 >= 0 ? lower_term(c, LOWER_TABLE_HEUN_K, 0, d1) : -1;
  int32_t zp = k >= 0 ? lower_binary(c, bk, IR_OP_ADD, z, k) : -1;
  if (zp < 0 || lower_label(c, bk, zp, "z euler") != 0) return -1;
  int32_t d2 = lower_denoise(c, bk, zp, 2, &D2);
  int32_t a = d2 >= 0 ? lower_term(c, LOWER_TABLE_HEUN_C1, 0, d1) : -1;
  int32_t s = a >= 0 ? lower_binary(c, bk, IR_OP_ADD, z, a) : -1;
  int32_t b = s >= 0 ? lower_term(c, LOWER_TABLE_HEUN_C2, 0, d2) : -1;
  return lower_result(c, bk, b >= 0 ? lower_binary(c, bk, IR_OP_ADD, s, b) : -1, "z_t");
}

static int lower_step_block(lower_ctx *c) {
  const model_spec *s = c->spec;
  if (s->sampler == SPEC_SAMPLER_HEUN) return lower_step_heun(c);
  if (s->sampler == SPEC_SAMPLER_EULER_MARUYAMA) return lower_step_normal(c, 1);
  switch (s->pair) {
  case SPEC_PAIR_NORMAL_NORMAL: return lower_step_normal(c, 0);
  case SPEC_PAIR_GAMMA_POISSON: return lower_step_gamma(c);
  case SPEC_PAIR_DIRICHLET_CATEGORICAL: return lower_step_categorical(c);
  }
  return lower_error_at(c, s->prior_loc, "internal error: unknown pair");
}

/* ---- final ------------------------------------------------------------------ */

/* Heun's last interval sigma_{T-1} -> sigma_T as one Euler step (EDM: no
 * correction on the last step), then mu_T. */
static int32_t lower_heun_final(lower_ctx *c, int32_t z) {
  ir_block_kind bk = IR_BLOCK_FINAL;
  uint32_t T = c->m->schedule_steps;
  if (T >= 2) {
    int32_t D, d = lower_denoise(c, bk, z, T - 1, &D);
    int32_t k = d >= 0 ? lower_const(c, bk, lower_coef(c, LOWER_TABLE_HEUN_K, T - 1)) : -1;
    int32_t kd = k >= 0 ? lower_binary(c, bk, IR_OP_MUL, k, d) : -1;
    if (kd < 0 || (z = lower_binary(c, bk, IR_OP_ADD, z, kd)) < 0 ||
        lower_label(c, bk, z, "z_T") != 0)
      return -1;
  }
  return lower_z_to_mu(c, bk, z, T);
}

static int32_t lower_argmax(lower_ctx *c, int32_t x) {
  int32_t r = lower_emit(c, IR_BLOCK_FINAL, IR_OP_ARGMAX, 1, &x, c->m->out_len);
  if (r < 0) return -1;
  c->m->blocks[IR_BLOCK_FINAL].insts[r].dim = c->m->vocab_size;
  return lower_label(c, IR_BLOCK_FINAL, r, "symbols") == 0 ? r : -1;
}

static int lower_final_block(lower_ctx *c) {
  const model_spec *s = c->spec;
  ir_block_kind bk = IR_BLOCK_FINAL;
  uint32_t T = c->m->schedule_steps;
  int categorical = s->pair == SPEC_PAIR_DIRICHLET_CATEGORICAL;
  int32_t st = lower_state(c, bk,
                           s->sampler == SPEC_SAMPLER_HEUN ? "z"
                           : categorical                   ? "counts"
                                                           : "mu");
  if (st < 0) return -1;
  int32_t r = st;
  if (s->sampler == SPEC_SAMPLER_HEUN && (r = lower_heun_final(c, st)) < 0) return -1;
  if (s->output == SPEC_OUTPUT_PREDICTION) {
    lower_inputs io = {bk, r, -1, T, -1, -1};
    if ((r = lower_network(c, &io)) < 0) return -1;
  }
  if (categorical && (r = lower_argmax(c, r)) < 0) return -1;
  /* a network that ignores its input: every sample gets the same row */
  if ((r = lower_per_sample(c, bk, r)) < 0) return -1;
  return lower_result(c, bk, r, NULL);
}

int lower_blocks(lower_ctx *c) {
  if (lower_init_block(c) != 0 || lower_step_block(c) != 0 || lower_final_block(c) != 0) return -1;
  /* network evaluations per sample: one a step, Heun's 2 a Heun step and 1
   * for the final Euler step, and one more for a prediction output */
  uint32_t T = c->m->schedule_steps, pred = c->spec->output == SPEC_OUTPUT_PREDICTION;
  if (c->spec->sampler == SPEC_SAMPLER_HEUN)
    c->m->nfe = (T >= 2 ? 2 * (T - 2) + 1 : 0) + pred;
  else
    c->m->nfe = T + pred;
  return 0;
}
