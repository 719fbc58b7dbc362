/*
 * exact_gmm.c - the exact posterior mean E[x | mu_t] of a Normal-Normal
 * PMM when the data follow an isotropic Gaussian mixture (docs/pmm.md):
 *
 *   z    = (lambda_t mu - lambda0 m0) / A,  lambda_t = lambda0 + A
 *   v_k  = s_k^2 + 1/A
 *   r_k ~ pi_k N(z; m_k, v_k I)                       (normalised over k)
 *   xhat = sum_k r_k (m_k + (s_k^2 / v_k) (z - m_k))
 *
 * and xhat = sum_k pi_k m_k at A = 0.  Everything is in double; the
 * responsibilities use a streaming log-sum-exp (running maximum, sums
 * rescaled when it grows), so no component underflows to a 0/0.
 *
 * The kernel cannot fail, so it does not allocate.  Per-component
 * constants (which depend on A but not on the row) live in a stack table
 * of COMP_CHUNK entries, filled once per call when the mixture fits in it
 * and once per row and chunk otherwise; the output accumulator likewise
 * covers ACC_CHUNK coordinates at a time, the responsibilities being
 * recomputed for each further chunk (so xhat must not overlap mu: later
 * chunks still read mu).
 */
#include <math.h>

#include "runtime/pmmrt.h"

#define ACC_CHUNK 64
#define COMP_CHUNK 64

/* The map mu -> z of one call. */
typedef struct gmm_frame {
  double lambda_t, offset, A;
} gmm_frame;

/* What component k contributes, for the A of the call. */
typedef struct gmm_comp {
  double log_norm; /* log pi_k - (dim/2) log v_k (the 2 pi factor is common) */
  double half_inv_v;
  double shrink; /* s_k^2 / v_k */
  int absent;    /* pi_k = 0 */
} gmm_comp;

static double frame_z(const gmm_frame *f, float mu) {
  return (f->lambda_t * (double)mu - f->offset) / f->A;
}

static void comp_table_fill(const pmm_gmm *g, const gmm_frame *f, uint64_t k0, uint64_t nk,
                            gmm_comp *table) {
  for (uint64_t i = 0; i < nk; i++) {
    uint64_t k = k0 + i;
    double s2 = (double)g->std[k] * (double)g->std[k];
    double v = s2 + 1.0 / f->A;
    table[i].absent = !(g->weight[k] > 0.0f);
    table[i].log_norm =
        table[i].absent ? 0.0 : log((double)g->weight[k]) - 0.5 * (double)g->dim * log(v);
    table[i].half_inv_v = 0.5 / v;
    /* s^2 / v written so that it stays exact when 1/A is tiny */
    table[i].shrink = f->A * s2 / (f->A * s2 + 1.0);
  }
}

static void mixture_mean(const pmm_gmm *g, float *xhat) {
  for (uint64_t d = 0; d < g->dim; d++) {
    double acc = 0.0;
    for (uint64_t k = 0; k < g->k; k++) acc += (double)g->weight[k] * g->mean[k * g->dim + d];
    xhat[d] = (float)acc;
  }
}

/* One row.  `table` holds all components already when `filled`. */
static void posterior_mean_row(const pmm_gmm *g, const gmm_frame *f, gmm_comp *table, int filled,
                               const float *mu, float *xhat) {
  for (uint64_t d0 = 0; d0 < g->dim; d0 += ACC_CHUNK) {
    uint64_t nd = g->dim - d0 < ACC_CHUNK ? g->dim - d0 : ACC_CHUNK;
    double acc[ACC_CHUNK];
    double best = -INFINITY, total = 0.0;
    for (uint64_t d = 0; d < nd; d++) acc[d] = 0.0;
    for (uint64_t k0 = 0; k0 < g->k; k0 += COMP_CHUNK) {
      uint64_t nk = g->k - k0 < COMP_CHUNK ? g->k - k0 : COMP_CHUNK;
      if (!filled) comp_table_fill(g, f, k0, nk, table);
      for (uint64_t i = 0; i < nk; i++) {
        const gmm_comp *c = &table[i];
        if (c->absent) continue;
        const float *m = g->mean + (k0 + i) * g->dim;
        double d2 = 0.0;
        for (uint64_t d = 0; d < g->dim; d++) {
          double e = frame_z(f, mu[d]) - m[d];
          d2 += e * e;
        }
        double lp = c->log_norm - d2 * c->half_inv_v, w;
        if (lp > best) {
          double scale = exp(best - lp);
          total *= scale;
          for (uint64_t d = 0; d < nd; d++) acc[d] *= scale;
          best = lp;
          w = 1.0;
        } else {
          w = exp(lp - best);
        }
        total += w;
        for (uint64_t d = 0; d < nd; d++)
          acc[d] += w * (m[d0 + d] + c->shrink * (frame_z(f, mu[d0 + d]) - m[d0 + d]));
      }
    }
    for (uint64_t d = 0; d < nd; d++) xhat[d0 + d] = (float)(acc[d] / total);
  }
}

void pmm_kernel_exact_gmm(const pmm_gmm *g, double prior_mean, double prior_precision, double A,
                          size_t rows, const float *mu, float *xhat) {
  size_t dim = (size_t)g->dim;
  if (!(A > 0.0)) {
    for (size_t r = 0; r < rows; r++) mixture_mean(g, xhat + r * dim);
    return;
  }
  gmm_frame f = {prior_precision + A, prior_precision * prior_mean, A};
  gmm_comp table[COMP_CHUNK];
  int filled = g->k <= COMP_CHUNK;
  if (filled) comp_table_fill(g, &f, 0, g->k, table);
  for (size_t r = 0; r < rows; r++)
    posterior_mean_row(g, &f, table, filled, mu + r * dim, xhat + r * dim);
}
