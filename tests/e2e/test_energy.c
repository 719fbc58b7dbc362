/*
 * test_energy.c - sample quality on the eight-Gaussian target by energy
 * distance: Heun (models/gmm8-heun, at most 40 network evaluations) and PMM
 * with 500 steps (models/gmm8 with steps: 500, written by this test) must both
 * come within 2x of the noise floor.
 *
 * The target.  Both samplers output mu_T, which for a perfect sampler is
 * E[x | y_1..y_T] with x from the data; for Normal-Normal that is
 * c (x + e / sqrt(A_T)) + (1 - c) m0, c = A_T / (lambda0 + A_T), e ~ N(0, I)
 * (test_gmm8.c derives it; Heun's ODE ends at sigma_min = A_T^(-1/2), the
 * same law).  With m0 = 0, lambda0 = 1, A_T = 1e4 (both models), component k
 * is N(c m_k, c^2 (0.1^2 + 1e-4) I).  Target sets are drawn here from that
 * law with GSL's mt19937 (seed TARGET_SEED).
 *
 * The statistic.  Energy distance between sets X (n) and Y (m), as the
 * V-statistic (all pairs, i = j included):
 *     ED = 2/(n m) sum |x_i - y_j| - 1/n^2 sum |x_i - x_i'| - 1/m^2 sum |y_j - y_j'|.
 * For X and Y from the same law its expectation is E|X - X'| (1/n + 1/m) > 0,
 * the noise floor; a sampler whose law differs by a true energy distance D
 * averages floor + D.  (The U-statistic would average 0 and make a ratio
 * meaningless.)
 *
 * Sizes.  REPS = 32 repetitions, each comparing N = 2000 model samples (rows
 * r N .. r N + N - 1 of one sampler run) with a fresh target set Y_r of
 * M = 2000, and the floor as the energy distance between another independent
 * target set P_r (N) and Y_r.  The ratio is mean(model) / mean(floor).  One
 * repetition's value is a weighted sum of a few chi-squares (the eight
 * component counts dominate), so single values scatter by +-70%; over 32
 * repetitions a simulation of perfect samplers (9 seeds) gave ratios
 * 0.82..1.25, so 2x is about 5 standard deviations away.
 *
 * What 2x catches at these sizes (same simulation): one component 3% heavier
 * than the others gives 1.5, 10% heavier about 7 (checked below as a
 * control, so the criterion demonstrably can fail); it is blind to a
 * component width off by 25% (ratio ~1), which test_gmm8 checks directly.
 */
#include <check.h>
#include <gsl/gsl_randist.h>
#include <gsl/gsl_rng.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench/energy_distance.h"
#include "tests/e2e/e2e.h"

#define REPS 32
#define N_SET 2000
#define N_SAMPLES (REPS * N_SET)
#define TARGET_SEED 8675309UL
#define SEED_HEUN 4711ULL
#define SEED_PMM 1729ULL
#define MAX_NFE 40
#define RATIO_MAX 2.0
#define CONTROL_EXTRA 0.10 /* the control's extra weight on component 0 */

#define A_T 1e4
#define COMP_STD 0.1
#define RADIUS 2.0

static e2e_env env;
static char heun_yaml[PATH_MAX], pmm_yaml[PATH_MAX], heun_bin[PATH_MAX], pmm_bin[PATH_MAX];
static int st_heun = -1, st_pmm = -1, setup_status = -1;
static char setup_error[512];

/* n points of the mu_T law; with extra > 0 component 0 gets that much more
 * probability (the control). */
static void draw_target(gsl_rng *r, size_t n, double extra, double *x) {
  const double c = A_T / (1.0 + A_T), sd = c * sqrt(COMP_STD * COMP_STD + 1.0 / A_T);
  for (size_t i = 0; i < n; i++) {
    unsigned k = extra > 0.0 && gsl_rng_uniform(r) < extra ? 0 : gsl_rng_uniform_int(r, 8);
    x[2 * i] = c * RADIUS * cos(k * M_PI / 4.0) + gsl_ran_gaussian(r, sd);
    x[2 * i + 1] = c * RADIUS * sin(k * M_PI / 4.0) + gsl_ran_gaussian(r, sd);
  }
}

/* Sum over repetitions of ED(model rows, Y_r) into *model and ED(P_r, Y_r)
 * into *floor.  samples == NULL: the model rows are the control set. */
static void energy_reps(const float *samples, double *model, double *floor_) {
  gsl_rng *r = gsl_rng_alloc(gsl_rng_mt19937);
  ck_assert_msg(r != NULL, "gsl_rng_alloc failed");
  gsl_rng_set(r, TARGET_SEED);
  double *x = malloc(2 * N_SET * sizeof *x), *y = malloc(2 * N_SET * sizeof *y),
         *p = malloc(2 * N_SET * sizeof *p);
  ck_assert_msg(x && y && p, "out of memory");
  *model = *floor_ = 0.0;
  for (size_t rep = 0; rep < REPS; rep++) {
    draw_target(r, N_SET, 0.0, y);
    draw_target(r, N_SET, 0.0, p);
    if (samples) {
      for (size_t i = 0; i < 2 * N_SET; i++) x[i] = samples[rep * 2 * N_SET + i];
    } else {
      draw_target(r, N_SET, CONTROL_EXTRA, x);
    }
    double yw = energy_mean_within(y, N_SET);
    *model += energy_distance(x, N_SET, y, N_SET, yw) / REPS;
    *floor_ += energy_distance(p, N_SET, y, N_SET, yw) / REPS;
  }
  free(x);
  free(y);
  free(p);
  gsl_rng_free(r);
}

/* The nfe= field of `pmmc build --emit=ir`'s module line. */
static long network_evaluations(const char *yaml) {
  char *out = NULL;
  int st = tu_run_capture(&out, NULL, "'%s' build '%s' --emit=ir -o -", tu_pmmc(), yaml);
  ck_assert_msg(st == 0, "pmmc build --emit=ir %s exited with %d", yaml, st);
  const char *at = strstr(out, " nfe=");
  ck_assert_msg(at != NULL, "the IR dump of %s has no nfe= field", yaml);
  long nfe = strtol(at + 5, NULL, 10);
  free(out);
  return nfe;
}

static void check_sampler(const char *yaml, const char *bin, int build_st, unsigned long long seed,
                          const char *who, long max_nfe) {
  ck_assert_msg(build_st == 0, "%s: pmmc build of %s failed with status %d", who, yaml, build_st);
  long nfe = network_evaluations(yaml);
  printf("%s: %ld network evaluations per sample\n", who, nfe);
  ck_assert_msg(nfe >= 1 && nfe <= max_nfe, "%s: %ld network evaluations, allowed 1..%ld", who, nfe,
                max_nfe);
  char out[PATH_MAX];
  e2e_path(out, sizeof out, "%s.npy", bin);
  printf("%s: seed %llu, %d samples (%d sets of %d); target seed %lu\n", who, seed, N_SAMPLES, REPS,
         N_SET, TARGET_SEED);
  int st = tu_run("'%s' -n %d -s %llu --threads 2 -o '%s'", bin, N_SAMPLES, seed, out);
  ck_assert_msg(st == 0, "%s: compiled sampler exited with %d", who, st);
  e2e_npy s;
  e2e_npy_load(out, N_SAMPLES, 2, &s);
  for (size_t i = 0; i < 2 * (size_t)N_SAMPLES; i++)
    ck_assert_msg(isfinite(s.a.data[i]), "%s: value %zu is not finite", who, i);
  double model, floor_;
  energy_reps(s.a.data, &model, &floor_);
  double ratio = model / floor_;
  printf("%s: energy distance (V-statistic, mean of %d) %.5f, noise floor %.5f, ratio %.3f "
         "(allowed %.1f)\n",
         who, REPS, model, floor_, ratio, RATIO_MAX);
  ck_assert_msg(floor_ > 0.0, "%s: noise floor %.3g is not positive", who, floor_);
  ck_assert_msg(ratio <= RATIO_MAX,
                "%s seed %llu: energy distance %.5f is %.2f times the noise floor %.5f "
                "(allowed %.1f)",
                who, seed, model, ratio, floor_, RATIO_MAX);
  e2e_npy_free(&s);
}

START_TEST(test_heun) {
  check_sampler(heun_yaml, heun_bin, st_heun, SEED_HEUN, "heun (models/gmm8-heun)", MAX_NFE);
}
END_TEST

START_TEST(test_pmm500) {
  ck_assert_msg(setup_status == 0, "writing the 500-step model failed: %s", setup_error);
  check_sampler(pmm_yaml, pmm_bin, st_pmm, SEED_PMM, "pmm, 500 steps", 500);
}
END_TEST

/* The criterion can fail: a target with one component 10% heavier. */
START_TEST(test_control) {
  double model, floor_;
  energy_reps(NULL, &model, &floor_);
  printf("control (component 0 has %.0f%% extra weight): energy distance %.5f, floor %.5f, "
         "ratio %.3f\n",
         CONTROL_EXTRA * 100.0, model, floor_, model / floor_);
  ck_assert_msg(model / floor_ > RATIO_MAX,
                "a distorted target set passes the criterion (ratio %.3f <= %.1f): the test "
                "has no power at these sizes",
                model / floor_, RATIO_MAX);
}
END_TEST

/* The constants above describe the two models; and gmm8 with 500 steps. */
static int setup_models(void) {
  char *heun = tu_read_file(heun_yaml, NULL), *gmm8 = tu_read_file(env.gmm8_yaml, NULL);
  int rc = -1;
  const char *key = "steps: 200";
  char *at = gmm8 ? strstr(gmm8, key) : NULL;
  if (!heun || !at) {
    e2e_format(setup_error, sizeof setup_error, "cannot read %s, or it lacks '%s'", env.gmm8_yaml,
               key);
  } else if (!strstr(gmm8, "end: 10000") || !strstr(gmm8, "std: 0.1}") ||
             !strstr(heun, "sigma_min: 0.01") || !strstr(heun, "std: 0.1}") ||
             !strstr(heun, "precision: 1.0") || !strstr(gmm8, "precision: 1.0")) {
    e2e_format(setup_error, sizeof setup_error,
               "gmm8 or gmm8-heun no longer has A_T = 1e4, lambda0 = 1 and std 0.1: update "
               "test_energy's target");
  } else {
    memcpy(at, "steps: 500", strlen(key));
    if (e2e_format(pmm_yaml, sizeof pmm_yaml, "%s/gmm8_500.yaml", env.dir) == 0 &&
        e2e_write_text(pmm_yaml, gmm8, setup_error, sizeof setup_error) == 0)
      rc = 0;
  }
  free(heun);
  free(gmm8);
  return rc;
}

int main(void) {
  if (e2e_env_init(&env, "energy") != 0 ||
      e2e_model_yaml("gmm8-heun", heun_yaml, sizeof heun_yaml) != 0)
    return EXIT_FAILURE;
  setup_status = setup_models();
  if (setup_status != 0) fprintf(stderr, "setup failed: %s\n", setup_error);
  st_heun = e2e_build(heun_yaml, "", env.dir, "gmm8_heun", heun_bin, sizeof heun_bin);
  if (setup_status == 0)
    st_pmm = e2e_build(pmm_yaml, "", env.dir, "gmm8_500", pmm_bin, sizeof pmm_bin);

  Suite *s = suite_create("e2e_energy");
  TCase *tc = tcase_create("energy");
  tcase_set_timeout(tc, 900);
  tcase_add_test(tc, test_control);
  tcase_add_test(tc, test_heun);
  tcase_add_test(tc, test_pmm500);
  suite_add_tcase(s, tc);
  int failed = tu_run_suite(s);
  e2e_env_finish(&env, failed);
  return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
