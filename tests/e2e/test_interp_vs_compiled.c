/*
 * test_interp_vs_compiled.c - the interpreter (`pmmc run`) and the compiled
 * sampler (`pmmc build`, at -O0 and -O3) run the same IR, so with the same
 * seed they must produce the same samples.
 *
 * The model is a random-weight graph network written by this test: a
 * sinusoidal time embedding, concat, dense layers with every activation,
 * add (a residual), mul (a gate), layernorm, a dense layer without bias and
 * the scalar time input inside a concat; a nonzero prior mean; a 50-step
 * geometric schedule.  It is checked with output: posterior-mean and with
 * output: prediction.  The exact gmm8 model is compared too.
 *
 * Tolerance: |compiled - interpreted| <= 1e-4 (1 + |interpreted|) for every
 * value.  Both engines call the same runtime kernels (GEMM through the same
 * cblas_sgemm, the same activation, layernorm, sinusoidal and RNG code) and
 * the same libm functions, so differences can come only from LLVM's
 * instruction selection for the code it generates around the kernels (e.g.
 * fused multiply-add contraction or reassociation in the conjugate update);
 * those are a few float32 ulps per step, and 50..200 steps of a contracting
 * update keep them far below 1e-4.  In practice the difference is expected to
 * be exactly 0; the test prints the actual maximum.
 */
#include <check.h>
#include <gsl/gsl_randist.h>
#include <gsl/gsl_rng.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "compiler/front/weights.h"
#include "tests/e2e/e2e.h"

#define WEIGHT_SEED 4242UL
#define SAMPLE_SEED 123457ULL
#define N_SAMPLES 500
#define TOL 1e-4

static e2e_env env;
static char yaml_post[PATH_MAX], yaml_pred[PATH_MAX];
static char bin_post0[PATH_MAX], bin_post3[PATH_MAX], bin_pred0[PATH_MAX], bin_pred3[PATH_MAX],
    bin_gmm8[PATH_MAX];
static int setup_status = -1; /* model files written */
static int st_post0 = -1, st_post3 = -1, st_pred0 = -1, st_pred3 = -1, st_gmm8 = -1;
static char setup_error[512];

static const char model_head[] = "pair: normal-normal\n"
                                 "data: {shape: [2]}\n"
                                 "prior: {mean: 0.5, precision: 2.0}\n"
                                 "schedule: {kind: geometric, steps: 50, start: 0.05, end: 2000}\n";

static const char model_network[] =
    "network:\n"
    "  kind: graph\n"
    "  layers:\n"
    "    - {name: temb, op: sinusoidal, input: time, dim: 32}\n"
    "    - {name: h0, op: concat, inputs: [mu, temb]}\n"
    "    - {name: fc1, op: dense, input: h0, units: 64, activation: silu}\n"
    "    - {name: fc2, op: dense, units: 64, activation: silu}\n"
    "    - {name: res, op: add, inputs: [fc1, fc2]}\n"
    "    - {name: ln, op: layernorm, input: res}\n"
    "    - {name: ga, op: dense, input: ln, units: 48, activation: gelu}\n"
    "    - {name: th, op: dense, input: ln, units: 48, activation: tanh}\n"
    "    - {name: gate, op: mul, inputs: [ga, th]}\n"
    "    - {name: rl, op: dense, input: gate, units: 32, activation: relu}\n"
    "    - {name: sg, op: dense, input: gate, units: 32, activation: sigmoid}\n"
    "    - {name: sp, op: dense, input: gate, units: 32, activation: softplus}\n"
    "    - {name: mix, op: concat, inputs: [rl, sg, sp, time]}\n"
    "    - {name: lin, op: dense, input: mix, units: 16, activation: none}\n"
    "    - {name: out, op: dense, units: 2}\n"
    "  output: out\n"
    "weights: rnd.safetensors\n";

/* Parameter tensors of the network above. */
typedef struct param_layer {
  const char *name;
  int layernorm;
  uint64_t in, units;
  int bias;
} param_layer;

static const param_layer params[] = {
    {"fc1", 0, 34, 64, 1}, {"fc2", 0, 64, 64, 1}, {"ln", 1, 64, 64, 1}, {"ga", 0, 64, 48, 1},
    {"th", 0, 64, 48, 1},  {"rl", 0, 48, 32, 1},  {"sg", 0, 48, 32, 1}, {"sp", 0, 48, 32, 1},
    {"lin", 0, 97, 16, 0}, {"out", 0, 16, 2, 1},
};

/* Gaussian weights with std 1/sqrt(fan_in) (dense weight and bias);
 * layernorm gamma 1 + 0.1 N(0,1), beta 0.1 N(0,1). */
static int write_weights(const char *path) {
  gsl_rng *r = gsl_rng_alloc(gsl_rng_mt19937);
  if (!r) {
    e2e_format(setup_error, sizeof setup_error, "gsl_rng_alloc failed");
    return -1;
  }
  gsl_rng_set(r, WEIGHT_SEED);
  weight_set ws;
  weight_set_init(&ws);
  int rc = 0;
  float *buf = malloc(64 * 97 * sizeof *buf);
  if (!buf) {
    e2e_format(setup_error, sizeof setup_error, "out of memory");
    rc = -1;
  }
  for (size_t l = 0; rc == 0 && l < sizeof params / sizeof params[0]; l++) {
    const param_layer *p = &params[l];
    char name[64];
    if (p->layernorm) {
      uint64_t shape[1] = {p->units};
      for (uint64_t i = 0; i < p->units; i++)
        buf[i] = (float)(1.0 + 0.1 * gsl_ran_gaussian(r, 1.0));
      e2e_format(name, sizeof name, "%s.weight", p->name);
      rc = weight_set_add(&ws, name, 1, shape, buf);
      for (uint64_t i = 0; rc == 0 && i < p->units; i++)
        buf[i] = (float)(0.1 * gsl_ran_gaussian(r, 1.0));
      e2e_format(name, sizeof name, "%s.bias", p->name);
      if (rc == 0) rc = weight_set_add(&ws, name, 1, shape, buf);
    } else {
      double sd = 1.0 / sqrt((double)p->in);
      uint64_t wshape[2] = {p->units, p->in}, bshape[1] = {p->units};
      for (uint64_t i = 0; i < p->units * p->in; i++) buf[i] = (float)gsl_ran_gaussian(r, sd);
      e2e_format(name, sizeof name, "%s.weight", p->name);
      rc = weight_set_add(&ws, name, 2, wshape, buf);
      if (rc == 0 && p->bias) {
        for (uint64_t i = 0; i < p->units; i++) buf[i] = (float)gsl_ran_gaussian(r, sd);
        e2e_format(name, sizeof name, "%s.bias", p->name);
        rc = weight_set_add(&ws, name, 1, bshape, buf);
      }
    }
    if (rc != 0) e2e_format(setup_error, sizeof setup_error, "weight_set_add(%s) failed", name);
  }
  if (rc == 0) {
    char err[256];
    rc = weights_save_safetensors(path, &ws, err, sizeof err);
    if (rc != 0) e2e_format(setup_error, sizeof setup_error, "weights_save_safetensors: %s", err);
  }
  free(buf);
  weight_set_free(&ws);
  gsl_rng_free(r);
  return rc;
}

static int write_yaml(const char *path, const char *name, const char *output) {
  FILE *f = fopen(path, "w");
  if (!f) {
    e2e_format(setup_error, sizeof setup_error, "cannot write %s", path);
    return -1;
  }
  fprintf(f, "# written by tests/e2e/test_interp_vs_compiled (weights seed %lu)\n", WEIGHT_SEED);
  fprintf(f, "name: %s\n%ssampler: {kind: pmm, output: %s}\n%s", name, model_head, output,
          model_network);
  if (fclose(f) != 0) {
    e2e_format(setup_error, sizeof setup_error, "cannot write %s", path);
    return -1;
  }
  return 0;
}

static int setup_models(void) {
  char path[PATH_MAX];
  if (e2e_format(path, sizeof path, "%s/rnd.safetensors", env.dir) != 0 ||
      e2e_format(yaml_post, sizeof yaml_post, "%s/rnd.yaml", env.dir) != 0 ||
      e2e_format(yaml_pred, sizeof yaml_pred, "%s/rndpred.yaml", env.dir) != 0) {
    e2e_format(setup_error, sizeof setup_error, "scratch directory path too long");
    return -1;
  }
  printf("random weights: seed %lu (mt19937), std 1/sqrt(fan_in), written to %s\n", WEIGHT_SEED,
         path);
  if (write_weights(path) != 0) return -1;
  if (write_yaml(yaml_post, "rnd", "posterior-mean") != 0 ||
      write_yaml(yaml_pred, "rndpred", "prediction") != 0)
    return -1;
  return 0;
}

static void require_setup(void) {
  ck_assert_msg(setup_status == 0, "writing the random-weight model failed: %s", setup_error);
}

/* Run the compiled sampler and `pmmc run` on yaml with the same seed and
 * compare every value. */
static void compare(const char *yaml, const char *bin, int build_st, const char *what) {
  ck_assert_msg(build_st == 0, "%s: pmmc build of %s failed with status %d", what, yaml, build_st);
  char cpath[PATH_MAX], ipath[PATH_MAX];
  e2e_path(cpath, sizeof cpath, "%s.compiled.npy", bin);
  e2e_path(ipath, sizeof ipath, "%s.interp.npy", bin);
  printf("%s: seed %llu, -n %d\n", what, SAMPLE_SEED, N_SAMPLES);
  int st = tu_run("'%s' -s %llu -n %d -o '%s'", bin, SAMPLE_SEED, N_SAMPLES, cpath);
  ck_assert_msg(st == 0, "%s: compiled sampler exited with %d", what, st);
  st =
      tu_run("'%s' run '%s' -s %llu -n %d -o '%s'", tu_pmmc(), yaml, SAMPLE_SEED, N_SAMPLES, ipath);
  ck_assert_msg(st == 0, "%s: pmmc run exited with %d", what, st);

  e2e_npy c, i;
  e2e_npy_load(cpath, N_SAMPLES, 2, &c);
  e2e_npy_load(ipath, N_SAMPLES, 2, &i);
  size_t n = 2 * N_SAMPLES, where, differing = 0;
  double sum[2] = {0}, sumsq[2] = {0};
  for (size_t k = 0; k < n; k++) {
    if (!isfinite(i.a.data[k])) ck_abort_msg("%s: interpreted value %zu is not finite", what, k);
    sum[k % 2] += i.a.data[k];
    sumsq[k % 2] += (double)i.a.data[k] * i.a.data[k];
    if (memcmp(&c.a.data[k], &i.a.data[k], sizeof(float)) != 0) differing++;
  }
  /* Non-vacuity: the samples must actually vary (a pipeline that ignored the
   * noise or the network would agree with itself trivially). */
  for (int d = 0; d < 2; d++) {
    double mean = sum[d] / N_SAMPLES, var = sumsq[d] / N_SAMPLES - mean * mean;
    printf("%s: coordinate %d mean %.4f std %.4f\n", what, d, mean, sqrt(var > 0 ? var : 0));
    ck_assert_msg(var > 1e-6, "%s: coordinate %d is constant across samples (var %.3g)", what, d,
                  var);
  }
  double worst = e2e_max_scaled_diff(c.a.data, i.a.data, n, &where);
  printf("%s: max |compiled - interpreted| / (1 + |interpreted|) = %.3g (at value %zu: %.9g vs "
         "%.9g); %zu of %zu values differ in bits\n",
         what, worst, where, (double)c.a.data[where], (double)i.a.data[where], differing, n);
  ck_assert_msg(worst <= TOL,
                "%s: compiled and interpreted differ by %.3g (relative to 1 + |value|) at value "
                "%zu (row %zu): %.9g vs %.9g; tolerance %.0e",
                what, worst, where, where / 2, (double)c.a.data[where], (double)i.a.data[where],
                TOL);
  e2e_npy_free(&c);
  e2e_npy_free(&i);
}

START_TEST(test_check_accepts_model) {
  require_setup();
  int st = tu_run("'%s' check '%s'", tu_pmmc(), yaml_post);
  ck_assert_msg(st == 0, "pmmc check rejects the generated model %s (status %d)", yaml_post, st);
  st = tu_run("'%s' check '%s'", tu_pmmc(), yaml_pred);
  ck_assert_msg(st == 0, "pmmc check rejects the generated model %s (status %d)", yaml_pred, st);
}
END_TEST

START_TEST(test_posterior_mean_O0) {
  require_setup();
  compare(yaml_post, bin_post0, st_post0, "graph, posterior-mean, -O0");
}
END_TEST

START_TEST(test_posterior_mean_O3) {
  require_setup();
  compare(yaml_post, bin_post3, st_post3, "graph, posterior-mean, -O3");
}
END_TEST

START_TEST(test_prediction_O0) {
  require_setup();
  compare(yaml_pred, bin_pred0, st_pred0, "graph, prediction, -O0");
}
END_TEST

START_TEST(test_prediction_O3) {
  require_setup();
  compare(yaml_pred, bin_pred3, st_pred3, "graph, prediction, -O3");
}
END_TEST

START_TEST(test_gmm8_exact) {
  compare(env.gmm8_yaml, bin_gmm8, st_gmm8, "gmm8 (exact network), -O2");
}
END_TEST

int main(void) {
  if (e2e_env_init(&env, "interp") != 0) return EXIT_FAILURE;
  setup_status = setup_models();
  if (setup_status == 0) {
    st_post0 = e2e_build(yaml_post, "-O0", env.dir, "rnd_O0", bin_post0, sizeof bin_post0);
    st_post3 = e2e_build(yaml_post, "-O3", env.dir, "rnd_O3", bin_post3, sizeof bin_post3);
    st_pred0 = e2e_build(yaml_pred, "-O0", env.dir, "rndpred_O0", bin_pred0, sizeof bin_pred0);
    st_pred3 = e2e_build(yaml_pred, "-O3", env.dir, "rndpred_O3", bin_pred3, sizeof bin_pred3);
  } else {
    fprintf(stderr, "setup failed: %s\n", setup_error);
  }
  st_gmm8 = e2e_build(env.gmm8_yaml, "-O2", env.dir, "gmm8", bin_gmm8, sizeof bin_gmm8);

  Suite *s = suite_create("e2e_interp_vs_compiled");
  TCase *tc = tcase_create("interp_vs_compiled");
  tcase_set_timeout(tc, 900);
  tcase_add_test(tc, test_check_accepts_model);
  tcase_add_test(tc, test_posterior_mean_O0);
  tcase_add_test(tc, test_posterior_mean_O3);
  tcase_add_test(tc, test_prediction_O0);
  tcase_add_test(tc, test_prediction_O3);
  tcase_add_test(tc, test_gmm8_exact);
  suite_add_tcase(s, tc);
  int failed = tu_run_suite(s);
  e2e_env_finish(&env, failed);
  return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
