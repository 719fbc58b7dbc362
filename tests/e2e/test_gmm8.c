/*
 * test_gmm8.c - models/gmm8 end to end: the sampler pmmc compiles, and the
 * same IR run by `pmmc run`, must reproduce the eight-Gaussian target.
 *
 * What the samples should look like.  gmm8's network is the exact posterior
 * mean E[x | mu_t] of the data distribution
 *     x ~ sum_k (1/8) N(m_k, s^2 I),  m_k = 2 (cos(k pi/4), sin(k pi/4)),  s = 0.1,
 * so in the small-step limit the sampler's chain has the law of the true
 * posterior-mean process: x drawn from the data, y_t ~ N(x, 1/alpha_t),
 * mu_t = E_prior[x | y_1..y_t].  For Normal-Normal with prior N(m0, 1/lambda0)
 * that posterior mean is
 *     mu_T = (lambda0 m0 + A_T z_T) / lambda_T,  z_T = sum_t alpha_t y_t / A_T ~ N(x, 1/A_T),
 * i.e. given x: mu_T ~ N((lambda0 m0 + A_T x)/lambda_T, A_T/lambda_T^2).  With
 * m0 = 0, lambda0 = 1, A_T = 10000 and c = A_T/(lambda0 + A_T) = 10000/10001,
 * averaging over x in component k:
 *     mu_T | k ~ N(c m_k, c^2 (s^2 + 1/A_T) I)
 * so each component's mean is c m_k (|m_k - c m_k| = 2e-4) and each
 * coordinate's standard deviation is c sqrt(0.01 + 1e-4) = 0.100489.
 *
 * The 200-step chain is not exactly that limit: a synthetic observation is
 * drawn as N(xhat, 1/alpha_t), without the Var(x | mu) the true predictive
 * carries, so the chain is slightly under-dispersed.  A double-precision
 * simulation of the discrete chain (written while designing this test; 200,000
 * samples) gave per-coordinate stds averaging 0.0991 (1.4% low) and component
 * means within statistical noise of c m_k; runs of 20,000 gave stds between
 * 0.094 and 0.102 and never a sample farther than 0.51 from its mean.
 *
 * Tolerances (n = 20,000, about 2,500 per component):
 *  - component counts: Pearson chi-square against 1/8 each, p > 0.001.
 *  - strays: a sample farther than 0.6 (about 6 std) from every mean has
 *    probability exp(-0.6^2 / (2 * 0.1005^2)) ~ 2e-8 under the target, so
 *    none is expected; at most STRAY_MAX (10, i.e. 0.05%) are allowed.  Strays
 *    are left out of the per-component moments (10 of them at distance 0.7
 *    would inflate a component's std by 20%), and are bounded by this check.
 *  - component mean, per coordinate: within 0.01 of c m_k.  Standard error is
 *    0.1/sqrt(2500) = 0.002, so 0.01 is 5 SE (family-wise false alarm over
 *    16 coordinates about 1e-5), while wrong shrinkage (e.g. lambda_T in
 *    place of A_T) or a mode pulled toward the origin is caught.
 *  - component std, per coordinate: within 10% of 0.100489.  The sample
 *    std's standard error is about 1.4%; 10% leaves 6 SE beyond the 1.5%
 *    discretisation bias, and catches a missing or doubled noise term.
 */
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tests/e2e/e2e.h"

#define N_SAMPLES 20000
#define N_COMP 8
#define SEED_COMPILED 20240611ULL
#define SEED_INTERP 977ULL
#define STRAY_DIST 0.6
#define STRAY_MAX 10
#define MEAN_TOL 0.01
#define STD_REL_TOL 0.10

/* Constants of models/gmm8/model.yaml (checked against its text below). */
#define A_T 10000.0
#define LAMBDA0 1.0
#define COMP_STD 0.1
#define RADIUS 2.0

static e2e_env env;
static char sampler[PATH_MAX];
static int build_status = -1;

static void component_mean(int k, double m[2]) {
  m[0] = RADIUS * cos(k * M_PI / 4.0);
  m[1] = RADIUS * sin(k * M_PI / 4.0);
}

/* Apply every acceptance check to the samples in path. */
static void check_samples(const char *path, const char *who, unsigned long long seed) {
  e2e_npy s;
  e2e_npy_load(path, N_SAMPLES, 2, &s);
  const float *x = s.a.data;
  const double c = A_T / (LAMBDA0 + A_T);
  const double want_std = c * sqrt(COMP_STD * COMP_STD + 1.0 / A_T);

  uint64_t count[N_COMP] = {0}, kept[N_COMP] = {0};
  double sum[N_COMP][2] = {{0}}, sumsq[N_COMP][2] = {{0}};
  long strays = 0;
  double farthest = 0.0;
  for (size_t i = 0; i < N_SAMPLES; i++) {
    double p[2] = {x[2 * i], x[2 * i + 1]};
    if (!isfinite(p[0]) || !isfinite(p[1]))
      ck_abort_msg("%s seed %llu: sample %zu is not finite", who, seed, i);
    int best = 0;
    double bestd = INFINITY;
    for (int k = 0; k < N_COMP; k++) {
      double m[2];
      component_mean(k, m);
      double d = hypot(p[0] - m[0], p[1] - m[1]);
      if (d < bestd) {
        bestd = d;
        best = k;
      }
    }
    count[best]++;
    if (bestd > farthest) farthest = bestd;
    if (bestd > STRAY_DIST) {
      strays++;
      continue;
    }
    kept[best]++;
    for (int d = 0; d < 2; d++) {
      sum[best][d] += p[d];
      sumsq[best][d] += p[d] * p[d];
    }
  }

  double prob[N_COMP];
  for (int k = 0; k < N_COMP; k++) prob[k] = 1.0 / N_COMP;
  double pval = tu_chisq_pvalue(count, prob, N_COMP);
  printf("%s seed %llu: counts", who, seed);
  for (int k = 0; k < N_COMP; k++) printf(" %llu", (unsigned long long)count[k]);
  printf("; chi-square p = %.4g; strays (> %.2f from every mean) %ld, farthest %.4f\n", pval,
         STRAY_DIST, strays, farthest);
  ck_assert_msg(pval > 0.001,
                "%s seed %llu: component frequencies fail chi-square against 1/8: p = %.3g "
                "<= 0.001",
                who, seed, pval);
  ck_assert_msg(strays <= STRAY_MAX,
                "%s seed %llu: %ld of %d samples are farther than %.2f from every mean "
                "(allowed %d; the target puts ~2e-8 of its mass there)",
                who, seed, strays, N_SAMPLES, STRAY_DIST, STRAY_MAX);

  for (int k = 0; k < N_COMP; k++) {
    double m[2];
    component_mean(k, m);
    ck_assert_msg(kept[k] >= 2, "%s seed %llu: component %d has %llu samples", who, seed, k,
                  (unsigned long long)kept[k]);
    double nk = (double)kept[k];
    for (int d = 0; d < 2; d++) {
      double mean = sum[k][d] / nk;
      double var = (sumsq[k][d] - nk * mean * mean) / (nk - 1.0);
      double sd = sqrt(var > 0.0 ? var : 0.0);
      double want_mean = c * m[d];
      printf("%s seed %llu: component %d coord %d: n %llu mean %.5f (want %.5f) std %.5f "
             "(want %.5f)\n",
             who, seed, k, d, (unsigned long long)kept[k], mean, want_mean, sd, want_std);
      ck_assert_msg(fabs(mean - want_mean) <= MEAN_TOL,
                    "%s seed %llu: component %d coordinate %d mean %.5f, want %.5f +- %.3f", who,
                    seed, k, d, mean, want_mean, MEAN_TOL);
      ck_assert_msg(fabs(sd - want_std) <= STD_REL_TOL * want_std,
                    "%s seed %llu: component %d coordinate %d std %.5f, want %.5f +- %.0f%%", who,
                    seed, k, d, sd, want_std, STD_REL_TOL * 100.0);
    }
  }
  e2e_npy_free(&s);
}

/* The constants above describe models/gmm8/model.yaml; fail loudly if the
 * model changes under the test. */
START_TEST(test_model_constants) {
  char *text = tu_read_file(env.gmm8_yaml, NULL);
  ck_assert_msg(text != NULL, "cannot read %s", env.gmm8_yaml);
  const char *expect[] = {"precision: 1.0", "mean: 0.0", "end: 10000",
                          "steps: 200",     "std: 0.1",  "output: posterior-mean"};
  for (size_t i = 0; i < sizeof expect / sizeof expect[0]; i++)
    ck_assert_msg(strstr(text, expect[i]) != NULL,
                  "%s no longer contains '%s': update test_gmm8's constants", env.gmm8_yaml,
                  expect[i]);
  free(text);
}
END_TEST

START_TEST(test_compiled) {
  ck_assert_msg(build_status == 0, "pmmc build of %s failed with status %d", env.gmm8_yaml,
                build_status);
  char out[PATH_MAX];
  e2e_path(out, sizeof out, "%s/compiled.npy", env.dir);
  printf("compiled sampler: seed %llu, %d samples\n", SEED_COMPILED, N_SAMPLES);
  int st = tu_run("'%s' -n %d --seed %llu -o '%s'", sampler, N_SAMPLES, SEED_COMPILED, out);
  ck_assert_msg(st == 0, "compiled gmm8 sampler exited with %d", st);
  check_samples(out, "compiled", SEED_COMPILED);
}
END_TEST

START_TEST(test_interpreted) {
  char out[PATH_MAX];
  e2e_path(out, sizeof out, "%s/interp.npy", env.dir);
  printf("pmmc run: seed %llu, %d samples\n", SEED_INTERP, N_SAMPLES);
  int st = tu_run("'%s' run '%s' -n %d --seed %llu -o '%s'", tu_pmmc(), env.gmm8_yaml, N_SAMPLES,
                  SEED_INTERP, out);
  ck_assert_msg(st == 0, "pmmc run on %s exited with %d", env.gmm8_yaml, st);
  check_samples(out, "interpreted", SEED_INTERP);
}
END_TEST

int main(void) {
  if (e2e_env_init(&env, "gmm8") != 0) return EXIT_FAILURE;
  build_status = e2e_build(env.gmm8_yaml, "", env.dir, "gmm8", sampler, sizeof sampler);

  Suite *s = suite_create("e2e_gmm8");
  TCase *tc = tcase_create("gmm8");
  tcase_set_timeout(tc, 900);
  tcase_add_test(tc, test_model_constants);
  tcase_add_test(tc, test_compiled);
  tcase_add_test(tc, test_interpreted);
  suite_add_tcase(s, tc);
  int failed = tu_run_suite(s);
  e2e_env_finish(&env, failed);
  return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
