/*
 * rng_poisson.c - exact Poisson variates from Philox counters, for any mean.
 *
 * Element e of sample s at step t draws from its own counters
 *     ctr = {e | round << 24, t, s_lo, s_hi}     round = 0 .. 255
 * under the caller's key (stream 1 by convention), so its value depends on
 * (key, s, t, e) only.  Elements are below 2^24 (the front end's largest
 * data or layer size) and the round byte above them keeps the counters of
 * different rounds and elements apart.  One Philox block gives four 32-bit
 * words, used as two 52-bit uniforms ((m + 0.5) 2^-52, never 0 or 1).
 *
 * mean < 10: inversion by sequential search with the round-0 uniform,
 *   walking the cumulative pmf from 0 (p_0 = e^-mu, p_k = p_{k-1} mu / k).
 * mean >= 10: Hormann's PTRS (transformed rejection with squeeze, 1993),
 *   one attempt per round (the first uniform gives U - 1/2, the second V),
 *   with the hat scaled up by 1.01 and the squeeze down by 0.97: checked
 *   numerically, the published constants miss being a bound by up to 0.6%
 *   (docs/poisson.md).  An attempt succeeds with probability >= 0.74, so
 *   256 rounds all fail with probability below 1e-150; the documented
 *   fallback then is floor(mean).
 * The derivation and the numerics (a log pmf stable for huge means) are in
 * docs/poisson.md.
 */
#include <math.h>

#include "runtime/pmmrt.h"

#define POISSON_ROUNDS 256u
#define POISSON_SMALL_MEAN 10.0
/* Stirling's series is used for log k! from here on. */
#define POISSON_STIRLING_MIN 16.0
/* Safety factors on PTRS's hat (inv_alpha) and squeeze (v_r). */
#define PTRS_HAT_SCALE 1.01
#define PTRS_SQUEEZE_SCALE 0.97

/* (m + 0.5) 2^-52 for the top 52 of 64 bits: exact in double, in (0, 1). */
static double uniform52(uint32_t hi, uint32_t lo) {
  uint64_t m = ((uint64_t)hi << 20) | (lo >> 12);
  return ((double)m + 0.5) * 0x1p-52;
}

static void poisson_block(const uint32_t key[2], uint64_t sample, uint32_t step, uint32_t elem,
                          uint32_t round, uint32_t w[4]) {
  uint32_t ctr[4] = {elem | (round << 24), step, (uint32_t)sample, (uint32_t)(sample >> 32)};
  pmm_philox4x32_10(ctr, key, w);
}

/* Sequential search: the smallest k with u <= F(k).  Terms below 2^-60
 * only occur past the mode, where the remaining mass is below the
 * resolution of u, so the search stops there. */
static double poisson_inversion(double mu, double u) {
  double p = exp(-mu), cdf = p, k = 0.0;
  while (u > cdf && p > 0x1p-60) {
    k += 1.0;
    p *= mu / k;
    cdf += p;
  }
  return k;
}

/* h(x) = (1 + x) log(1 + x) - x, so that k log(k/mu) + mu - k = mu h((k - mu)/mu).
 * Near 0 the closed form cancels; its series sum_{n>=2} (-x)^n / (n (n-1))
 * does not. */
static double poisson_h(double x) {
  if (fabs(x) >= 0.25) return (1.0 + x) * log1p(x) - x;
  double term = x * x, sum = 0.0;
  for (int n = 2; n < 60; n++) {
    double t = term / ((double)n * (double)(n - 1));
    sum += t;
    if (fabs(t) <= 1e-17 * sum) break;
    term *= -x;
  }
  return sum;
}

/* log k! - ((k + 1/2) log k - k + log sqrt(2 pi)) by Stirling's series;
 * at k >= 16 the omitted terms are below 1e-16. */
static double stirling_error(double k) {
  double r = 1.0 / k, r2 = r * r;
  return r * (1.0 / 12 - r2 * (1.0 / 360 - r2 * (1.0 / 1260 - r2 * (1.0 / 1680 - r2 / 1188))));
}

/* log P(K = k) for K ~ Poisson(mu), k >= 0 an integer.  For large k the
 * form -mu h((k - mu)/mu) - log sqrt(2 pi k) - stirling_error(k) keeps full
 * accuracy where -mu + k log mu - log k! would cancel terms of size mu. */
static double poisson_log_pmf(double k, double mu) {
  if (k < POISSON_STIRLING_MIN) {
    double log_fact = 0.0;
    for (double i = 2.0; i <= k; i += 1.0) log_fact += log(i);
    return -mu + k * log(mu) - log_fact;
  }
  const double log_2pi = 1.8378770664093454835606594728112;
  return -mu * poisson_h((k - mu) / mu) - 0.5 * (log_2pi + log(k)) - stirling_error(k);
}

/* PTRS's constants for one mean (Hormann 1993, for mu >= 10), with the
 * safety factors. */
typedef struct ptrs_consts {
  double mu, a, b, log_inv_alpha, vr;
} ptrs_consts;

static void ptrs_init(ptrs_consts *c, double mu) {
  c->mu = mu;
  c->b = 0.931 + 2.53 * sqrt(mu);
  c->a = -0.059 + 0.02483 * c->b;
  c->log_inv_alpha = log(PTRS_HAT_SCALE * (1.1239 + 1.1328 / (c->b - 3.4)));
  c->vr = PTRS_SQUEEZE_SCALE * (0.9277 - 3.6224 / (c->b - 2.0));
}

static double poisson_ptrs(const ptrs_consts *c, const uint32_t key[2], uint64_t sample,
                           uint32_t step, uint32_t elem) {
  for (uint32_t round = 0; round < POISSON_ROUNDS; round++) {
    uint32_t w[4];
    poisson_block(key, sample, step, elem, round, w);
    double u = uniform52(w[0], w[1]) - 0.5;
    double v = uniform52(w[2], w[3]);
    double us = 0.5 - fabs(u);
    double k = floor((2.0 * c->a / us + c->b) * u + c->mu + 0.43);
    if (us >= 0.07 && v <= c->vr) return k;
    if (k < 0.0 || (us < 0.013 && v > us)) continue;
    if (log(v) + c->log_inv_alpha - log(c->a / (us * us) + c->b) <= poisson_log_pmf(k, c->mu))
      return k;
  }
  return floor(c->mu);
}

static float poisson_draw(const uint32_t key[2], uint64_t sample, uint32_t step, size_t elem,
                          float rate) {
  if (!(rate > 0.0f)) return 0.0f;
  if (elem >= PMM_POISSON_MAX_ELEMS) return NAN;
  if (isinf(rate)) return rate;
  double mu = rate;
  if (mu < POISSON_SMALL_MEAN) {
    uint32_t w[4];
    poisson_block(key, sample, step, (uint32_t)elem, 0, w);
    return (float)poisson_inversion(mu, uniform52(w[0], w[1]));
  }
  ptrs_consts c;
  ptrs_init(&c, mu);
  return (float)poisson_ptrs(&c, key, sample, step, (uint32_t)elem);
}

void pmm_rng_poisson_block(const uint32_t key[2], uint64_t first_sample, size_t rows, uint32_t step,
                           size_t n, const float *rate, float *out) {
  for (size_t r = 0; r < rows; r++) {
    for (size_t e = 0; e < n; e++)
      out[r * n + e] = poisson_draw(key, first_sample + r, step, e, rate[r * n + e]);
  }
}
