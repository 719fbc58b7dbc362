/*
 * exact_atoms.c - exact posterior means E[x | mu_t] when the data are a
 * finite set of atoms x_1..x_K with weights w_k (docs/model-yaml.md), for
 * all three conjugate pairs.
 *
 * Each row's posterior over atoms is r_k ~ w_k L_k, L_k the likelihood of
 * the row's sufficient statistics under atom k, with every factor common to
 * all atoms dropped:
 *   normal       log L_k = -(A/2) ||z - x_k||^2,  z = (lambda_t mu - lambda0 m0)/A
 *   gamma        log L_k = sum_d S_d log(A x_kd) - A x_kd,  S = round(mu (b0 + A) - a0)
 *                (x_kd <= 0 allows only S_d = 0)
 *   categorical  with m_k = sum_l C[l, x_kl] and N = sum_{l,c} C[l, c]:
 *                eps > 0: log L_k = m_k log(1 + K (1 - eps) / eps)
 *                eps = 0: log L_k = 0 if m_k = N, else -inf (a count off the
 *                atom's symbol is impossible; since C[l, x_kl] <= N_l per
 *                position, m_k = N checks every position at once)
 * Counts are sums of Poisson draws and so integers; they are rounded to
 * the nearest one (negative ones to 0), which undoes the float rounding of
 * mu that would otherwise make "S_d = 0" false.
 *
 * Impossible atoms.  Each atom also gets miss_k, the number of counts it
 * cannot explain: sum of S_d over its coordinates x_kd <= 0 (gamma), N - m_k
 * (categorical, eps = 0), 0 otherwise.  The posterior is taken over the
 * atoms with the fewest misses, weights w_k L_k (the likelihood without the
 * missed coordinates).  When some atom explains everything (miss 0) this is
 * the exact posterior and impossible atoms get weight 0.  When none does -
 * which a chain with finite steps reaches when two jumps of one step come
 * from different atoms, and which is then permanent, counts only growing -
 * it is the limit of the exact posterior as the impossible becomes merely
 * unlikely: smoothing eps -> 0+ (categorical; weights w_k e^(gain m_k) with
 * gain -> inf) or zero coordinates -> 0+ (gamma; log L gains S_d log x_kd).
 * Falling back to the prior instead would freeze such a chain on the prior
 * marginals and produce non-atoms.  Rows whose every score is undefined
 * (NaN statistics, or A = inf) use the prior weights, and uniform ones if
 * all weights are 0: the result is always a finite, deterministic mean of
 * atoms.  A <= 0 (no observation yet) gives the prior mean.
 *
 * Numerics: everything in double; r_k = exp(lp_k - max) / sum exp(lp - max)
 * with the maximum and the sum maintained in one streaming pass, so neither
 * counts of 1e7 nor 1e4 atoms overflow or underflow to 0/0.
 *
 * The kernels cannot fail, so they do not allocate: the scores of up to
 * ATOM_CACHE atoms are kept on the stack (32 KiB), and the output is
 * accumulated CELL_CHUNK cells at a time, each chunk a pass over the atoms
 * (recomputing the log posteriors when there are more atoms than the cache
 * holds).  Outputs must not overlap inputs.
 */
#include <math.h>

#include "runtime/pmmrt.h"

#define ATOM_CACHE 2048
#define CELL_CHUNK 64

typedef enum atom_pair { ATOM_PAIR_NORMAL, ATOM_PAIR_GAMMA, ATOM_PAIR_CATEGORICAL } atom_pair;

/* Which weights a row uses: its posterior, or a fallback. */
typedef enum atom_mode { ATOM_MODE_POSTERIOR, ATOM_MODE_PRIOR, ATOM_MODE_UNIFORM } atom_mode;

/* One call's parameters plus one row's statistics. */
typedef struct atom_ctx {
  const pmm_atoms *a;
  atom_pair pair;
  atom_mode mode;
  const float *row; /* mu (normal, gamma) or counts (categorical) */
  double A;
  double z_scale, z_shift; /* normal: z = z_scale mu - z_shift */
  double b_t, a0, log_A;   /* gamma: S = round(mu b_t - a0) */
  double gain;             /* categorical, eps > 0: log(1 + K (1 - eps) / eps) */
  int hard;                /* categorical, eps = 0 */
  double total;            /* categorical: N */
} atom_ctx;

/* An atom's standing for one row: `miss` counts it cannot explain (0 for
 * an atom the likelihood allows) and lp = log w_k + the log likelihood of
 * the rest; lp = -inf for atoms of weight 0 (or NaN statistics). */
typedef struct atom_score {
  double miss, lp;
} atom_score;

static double round_count(double c) { return c > 0.0 ? floor(c + 0.5) : 0.0; }

/* The atom's symbol at one position, clamped into the vocabulary (the front
 * end rejects other values; clamping only keeps memory accesses in range). */
static uint64_t atom_symbol(const pmm_atoms *a, float v) {
  if (!(v >= 0.0f)) return 0;
  if ((double)v >= (double)(a->vocab - 1)) return a->vocab - 1;
  return (uint64_t)v;
}

static void score_normal(const atom_ctx *c, const float *x, atom_score *s) {
  double d2 = 0.0;
  for (uint64_t d = 0; d < c->a->dim; d++) {
    double e = c->z_scale * (double)c->row[d] - c->z_shift - (double)x[d];
    d2 += e * e;
  }
  s->lp += -0.5 * c->A * d2;
}

/* A zero coordinate with a positive count cannot be explained: the count
 * goes to miss and the coordinate out of the likelihood (the limit of a
 * coordinate tending to 0 from above, see the file comment). */
static void score_gamma(const atom_ctx *c, const float *x, atom_score *s) {
  for (uint64_t d = 0; d < c->a->dim; d++) {
    double n = round_count((double)c->row[d] * c->b_t - c->a0);
    if (x[d] > 0.0f)
      s->lp += n * (c->log_A + log((double)x[d])) - c->A * (double)x[d];
    else
      s->miss += n;
  }
}

static void score_categorical(const atom_ctx *c, const float *x, atom_score *s) {
  const pmm_atoms *a = c->a;
  double m = 0.0;
  for (uint64_t l = 0; l < a->dim; l++)
    m += round_count((double)c->row[l * a->vocab + atom_symbol(a, x[l])]);
  if (c->hard)
    s->miss = c->total - m;
  else
    s->lp += c->gain * m;
}

static atom_score atom_score_of(const atom_ctx *c, uint64_t k) {
  atom_score s = {0.0, c->mode == ATOM_MODE_UNIFORM ? 0.0 : (double)c->a->log_weight[k]};
  if (c->mode == ATOM_MODE_POSTERIOR && s.lp > -INFINITY) {
    const float *x = c->a->value + k * c->a->dim;
    switch (c->pair) {
    case ATOM_PAIR_NORMAL: score_normal(c, x, &s); break;
    case ATOM_PAIR_GAMMA: score_gamma(c, x, &s); break;
    case ATOM_PAIR_CATEGORICAL: score_categorical(c, x, &s); break;
    }
  }
  if (!(s.lp > -INFINITY) || isnan(s.miss)) s.lp = -INFINITY;
  return s;
}

/* The weights of one row: atoms with the fewest misses, exp(lp - best) /
 * sum.  Found in one streaming pass; `cache` (when the atoms fit) keeps
 * every score for the later passes. */
typedef struct atom_norm {
  double miss, best, sum;
} atom_norm;

static void atom_normalise(const atom_ctx *c, atom_score *cache, atom_norm *nm) {
  nm->miss = INFINITY;
  nm->best = -INFINITY;
  nm->sum = 0.0;
  for (uint64_t k = 0; k < c->a->k; k++) {
    atom_score s = atom_score_of(c, k);
    if (cache) cache[k] = s;
    if (s.lp == -INFINITY || s.miss > nm->miss) continue;
    if (s.miss < nm->miss) {
      nm->miss = s.miss;
      nm->best = s.lp;
      nm->sum = 1.0;
    } else if (s.lp > nm->best) {
      nm->sum = nm->sum * exp(nm->best - s.lp) + 1.0;
      nm->best = s.lp;
    } else {
      nm->sum += exp(s.lp - nm->best);
    }
  }
}

/* out[j] for cells j in [j0, j0 + n). */
static void atom_accumulate(const atom_ctx *c, const atom_score *cache, const atom_norm *nm,
                            uint64_t j0, uint64_t n, float *out) {
  const pmm_atoms *a = c->a;
  double acc[CELL_CHUNK] = {0};
  for (uint64_t k = 0; k < a->k; k++) {
    atom_score s = cache ? cache[k] : atom_score_of(c, k);
    if (s.lp == -INFINITY || s.miss != nm->miss) continue;
    double w = exp(s.lp - nm->best);
    const float *x = a->value + k * a->dim;
    if (c->pair != ATOM_PAIR_CATEGORICAL) {
      for (uint64_t j = 0; j < n; j++) acc[j] += w * (double)x[j0 + j];
      continue;
    }
    /* Atom k puts its weight on cell l * K + x_kl of each position l. */
    for (uint64_t l = j0 / a->vocab; l * a->vocab < j0 + n; l++) {
      uint64_t cell = l * a->vocab + atom_symbol(a, x[l]);
      if (cell >= j0 && cell < j0 + n) acc[cell - j0] += w;
    }
  }
  for (uint64_t j = 0; j < n; j++) out[j0 + j] = (float)(acc[j] / nm->sum);
}

/* One row of any pair: normalise (falling back to the prior, then to
 * uniform weights, when no atom has a finite score), then accumulate. */
static void atom_row(atom_ctx *c, uint64_t cells, float *out) {
  atom_score cache_buf[ATOM_CACHE];
  atom_score *cache = c->a->k <= ATOM_CACHE ? cache_buf : NULL;
  atom_norm nm;
  atom_normalise(c, cache, &nm);
  if (nm.best == -INFINITY && c->mode == ATOM_MODE_POSTERIOR) {
    c->mode = ATOM_MODE_PRIOR;
    atom_normalise(c, cache, &nm);
  }
  if (nm.best == -INFINITY) {
    c->mode = ATOM_MODE_UNIFORM;
    atom_normalise(c, cache, &nm);
  }
  for (uint64_t j0 = 0; j0 < cells; j0 += CELL_CHUNK) {
    uint64_t n = cells - j0 < CELL_CHUNK ? cells - j0 : CELL_CHUNK;
    atom_accumulate(c, cache, &nm, j0, n, out);
  }
}

void pmm_kernel_exact_atoms_normal(const pmm_atoms *a, double prior_mean, double prior_precision,
                                   double A, size_t rows, const float *mu, float *xhat) {
  if (a->k == 0) return;
  atom_ctx c = {.a = a, .pair = ATOM_PAIR_NORMAL, .A = A};
  if (A > 0.0) {
    c.z_scale = (prior_precision + A) / A;
    c.z_shift = prior_precision * prior_mean / A;
  }
  for (size_t r = 0; r < rows; r++) {
    c.mode = A > 0.0 ? ATOM_MODE_POSTERIOR : ATOM_MODE_PRIOR;
    c.row = mu + r * a->dim;
    atom_row(&c, a->dim, xhat + r * a->dim);
  }
}

void pmm_kernel_exact_atoms_gamma(const pmm_atoms *a, double prior_shape, double prior_rate,
                                  double A, size_t rows, const float *mu, float *xhat) {
  if (a->k == 0) return;
  atom_ctx c = {.a = a, .pair = ATOM_PAIR_GAMMA, .A = A};
  c.b_t = prior_rate + A;
  c.a0 = prior_shape;
  c.log_A = A > 0.0 ? log(A) : 0.0;
  for (size_t r = 0; r < rows; r++) {
    c.mode = A > 0.0 ? ATOM_MODE_POSTERIOR : ATOM_MODE_PRIOR;
    c.row = mu + r * a->dim;
    atom_row(&c, a->dim, xhat + r * a->dim);
  }
}

void pmm_kernel_exact_atoms_categorical(const pmm_atoms *a, double smoothing, size_t rows,
                                        const float *counts, float *p) {
  if (a->k == 0 || a->vocab == 0) return;
  atom_ctx c = {.a = a, .pair = ATOM_PAIR_CATEGORICAL};
  c.hard = !(smoothing > 0.0);
  if (!c.hard)
    c.gain = smoothing >= 1.0 ? 0.0 : log1p((double)a->vocab * (1.0 - smoothing) / smoothing);
  uint64_t cells = a->dim * a->vocab;
  for (size_t r = 0; r < rows; r++) {
    c.mode = ATOM_MODE_POSTERIOR;
    c.row = counts + r * cells;
    c.total = 0.0;
    for (uint64_t j = 0; j < cells; j++) c.total += round_count((double)c.row[j]);
    atom_row(&c, cells, p + r * cells);
  }
}
