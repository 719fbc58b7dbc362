/*
 * test_interp_pairs.c - the interpreter (`pmmc run`) and the compiled sampler
 * agree for every conjugate pair and every sampler (issue 3), with the same
 * seed: test_interp_vs_compiled covers Normal-Normal PMM; this covers
 *   normal-normal: euler-maruyama and heun, each with a random-weight graph
 *                  and with the exact gmm8 mixture; pmm with an exact atom set
 *   gamma-poisson: the exact counts5 atoms; a random-weight graph with a
 *                  softplus output (posterior-mean and prediction output)
 *   dirichlet-categorical: the exact words50 atoms; a random-weight graph
 *                  producing [L*K] logits (posterior-mean and prediction; the
 *                  prediction model adds 4 mu to the logits, since a random
 *                  net alone hardly depends on mu and would predict the same
 *                  sequence for every sample)
 * Model files and weights are written to the scratch directory (weights: GSL
 * mt19937, seed WEIGHT_SEED + i, std 1/sqrt(fan_in)); shipped models are used as
 * they are.
 *
 * Tolerance.  Both engines run the same IR with the same runtime kernels
 * (GEMM, activations, exact posterior means, normal and Poisson draws), so
 * the outputs are expected to be bit-identical; what LLVM may legally change
 * is rounding in the elementwise code around the kernels (contraction or
 * reassociation), a few ulps.
 *  - Normal-Normal: every value within 1e-4 (1 + |interpreted|), as in
 *    test_interp_vs_compiled.
 *  - Poisson pairs: an ulp of difference in a rate changes a Poisson draw
 *    only when the draw's uniform falls within an ulp of a CDF step (about
 *    1e-7 a draw), after which that sample's chain legitimately diverges.  So
 *    a sample counts as agreeing when all its values are within 1e-4
 *    (1 + |interpreted|) (categorical: equal indices), and at most
 *    MAX_DIVERGED_FRAC = 1% of samples may disagree.
 * The test prints the number of values differing in bits (expected: 0), and
 * checks the samples vary (a pipeline ignoring noise or network would agree
 * with itself trivially).
 */
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tests/e2e/e2e.h"

#define WEIGHT_SEED 60606UL
#define SAMPLE_SEED 424242ULL
#define N_SAMPLES 256
#define TOL 1e-4
#define MAX_DIVERGED_FRAC 0.01

static e2e_env env;
static char setup_error[512];
static int setup_status = -1;

/* One model compared.  yaml == NULL: a shipped model (models/<shipped>). */
typedef struct pair_case {
  const char *name; /* also the output file name */
  const char *shipped;
  const char *yaml; /* written to <scratch>/<name>.yaml */
  uint64_t cols;    /* floats per sample */
  int poisson;      /* a pair with Poisson draws: divergence tolerance */
  int discrete;     /* outputs are symbol indices */
} pair_case;

#define NORMAL_GRAPH(OUT)                                                                          \
  "network:\n"                                                                                     \
  "  kind: graph\n"                                                                                \
  "  layers:\n"                                                                                    \
  "    - {name: temb, op: sinusoidal, input: time, dim: 16}\n"                                     \
  "    - {name: h0, op: concat, inputs: [mu, temb]}\n"                                             \
  "    - {name: fc1, op: dense, input: h0, units: 32, activation: silu}\n"                         \
  "    - {name: out, op: dense, units: " OUT "}\n"                                                 \
  "  output: out\n"

static const pair_case cases[] = {
    {"normal_graph_em", NULL,
     "name: normal_graph_em\n"
     "pair: normal-normal\n"
     "data: {shape: [2]}\n"
     "prior: {mean: 0.5, precision: 2.0}\n"
     "schedule: {kind: geometric, steps: 50, start: 0.05, end: 2000}\n"
     "sampler: {kind: euler-maruyama, output: posterior-mean}\n" NORMAL_GRAPH(
         "2") "weights: normal.safetensors\n",
     2, 0, 0},
    {"normal_graph_heun", NULL,
     "name: normal_graph_heun\n"
     "pair: normal-normal\n"
     "data: {shape: [2]}\n"
     "prior: {mean: 0.5, precision: 2.0}\n"
     "schedule: {kind: karras, steps: 20, sigma_min: 0.02, sigma_max: 20, rho: 7}\n"
     "sampler: {kind: heun, output: prediction}\n" NORMAL_GRAPH(
         "2") "weights: normal.safetensors\n",
     2, 0, 0},
    {"normal_exact_em", NULL, NULL /* gmm8 with euler-maruyama, see setup */, 2, 0, 0},
    {"normal_exact_heun", "gmm8-heun", NULL, 2, 0, 0},
    {"normal_atoms", NULL,
     "name: normal_atoms\n"
     "pair: normal-normal\n"
     "data: {shape: [2]}\n"
     "prior: {mean: 0.0, precision: 1.0}\n"
     "schedule: {kind: linear, steps: 100, start: 0.5, end: 5000}\n"
     "sampler: {kind: pmm, output: posterior-mean}\n"
     "network: {kind: exact, atoms: normal_atoms.npy, atom_weights: normal_weights.npy}\n",
     2, 0, 0},
    {"gamma_exact", "counts5", NULL, 3, 1, 0},
    {"gamma_graph", NULL,
     "name: gamma_graph\n"
     "pair: gamma-poisson\n"
     "data: {shape: [3]}\n"
     "prior: {shape: 2.0, rate: 1.0}\n"
     "schedule: {kind: geometric, steps: 50, start: 0.01, end: 500}\n"
     "sampler: {kind: pmm, output: posterior-mean}\n" NORMAL_GRAPH(
         "3, activation: softplus") "weights: gamma.safetensors\n",
     3, 1, 0},
    {"gamma_graph_pred", NULL,
     "name: gamma_graph_pred\n"
     "pair: gamma-poisson\n"
     "data: {shape: [3]}\n"
     "prior: {shape: 2.0, rate: 1.0}\n"
     "schedule: {kind: table, values: [0.1, 0.3, 1, 3, 10, 30, 100, 300]}\n"
     "sampler: {kind: pmm, output: prediction}\n" NORMAL_GRAPH(
         "3, activation: softplus") "weights: gamma.safetensors\n",
     3, 1, 0},
    {"categorical_exact", "words50", NULL, 8, 1, 1},
    {"categorical_graph", NULL,
     "name: categorical_graph\n"
     "pair: dirichlet-categorical\n"
     "data: {shape: [4], vocab: \"_abcd\", padding: true}\n"
     "prior: {concentration: 0.5, smoothing: 0.1}\n"
     "schedule: {kind: geometric, steps: 50, start: 0.01, end: 200}\n"
     "sampler: {kind: pmm, output: posterior-mean}\n"
     "network:\n"
     "  kind: graph\n"
     "  layers:\n"
     "    - {name: flat, op: reshape, input: mu, shape: [-1]}\n" /* mu is [L, K] */
     "    - {name: temb, op: sinusoidal, input: time, dim: 16}\n"
     "    - {name: h0, op: concat, inputs: [flat, temb]}\n"
     "    - {name: fc1, op: dense, input: h0, units: 32, activation: silu}\n"
     "    - {name: out, op: dense, units: 20}\n"
     "  output: out\n"
     "weights: categorical.safetensors\n",
     4, 1, 1},
    {"categorical_graph_pred", NULL,
     "name: categorical_graph_pred\n"
     "pair: dirichlet-categorical\n"
     "data: {shape: [4], vocab: \"_abcd\", padding: true}\n"
     "prior: {concentration: 1.0}\n"
     "schedule: {kind: karras, steps: 30, sigma_min: 0.1, sigma_max: 10}\n"
     "sampler: {kind: pmm, output: prediction}\n"
     "network:\n"
     "  kind: graph\n"
     "  layers:\n"
     "    - {name: flat, op: reshape, input: mu, shape: [-1]}\n"
     "    - {name: temb, op: sinusoidal, input: time, dim: 16}\n"
     "    - {name: h0, op: concat, inputs: [flat, temb]}\n"
     "    - {name: fc1, op: dense, input: h0, units: 32, activation: silu}\n"
     "    - {name: out, op: dense, units: 20}\n"
     "    - {name: logits, op: add, inputs: [out, flat, flat, flat, flat]}\n"
     "  output: logits\n"
     "weights: categorical.safetensors\n",
     4, 1, 1},
};
#define N_CASES (sizeof cases / sizeof cases[0])

static char yaml_path[N_CASES][PATH_MAX], bin_path[N_CASES][PATH_MAX];
static int build_st[N_CASES];

/* The three random networks: input mu (2, 3, or [L, K] = [4, 5] flattened
 * to 20) and 16 time features. */
static int write_weights(void) {
  static const struct {
    const char *file;
    uint64_t mu_len;
  } nets[] = {{"normal.safetensors", 2}, {"gamma.safetensors", 3}, {"categorical.safetensors", 20}};
  for (size_t i = 0; i < sizeof nets / sizeof nets[0]; i++) {
    char path[PATH_MAX];
    e2e_dense layers[] = {{"fc1", nets[i].mu_len + 16, 32, 1}, {"out", 32, nets[i].mu_len, 1}};
    if (e2e_format(path, sizeof path, "%s/%s", env.dir, nets[i].file) != 0 ||
        e2e_write_dense_weights(path, layers, 2, WEIGHT_SEED + i, 1.0, setup_error,
                                sizeof setup_error) != 0)
      return -1;
  }
  return 0;
}

/* Four atoms in R^2 with unequal weights for normal_atoms. */
static int write_atoms(void) {
  static const float atoms[] = {0.0f, 0.0f, 1.0f, 2.0f, -1.0f, 1.0f, 2.0f, -1.0f};
  static const float weights[] = {0.1f, 0.2f, 0.3f, 0.4f};
  uint64_t ashape[2] = {4, 2}, wshape[1] = {4};
  char path[PATH_MAX];
  if (e2e_format(path, sizeof path, "%s/normal_atoms.npy", env.dir) != 0 ||
      e2e_write_npy(path, 2, ashape, atoms, setup_error, sizeof setup_error) != 0 ||
      e2e_format(path, sizeof path, "%s/normal_weights.npy", env.dir) != 0 ||
      e2e_write_npy(path, 1, wshape, weights, setup_error, sizeof setup_error) != 0)
    return -1;
  return 0;
}

/* gmm8 with sampler euler-maruyama. */
static int write_gmm8_em(const char *path) {
  char *text = tu_read_file(env.gmm8_yaml, NULL);
  const char *key = "sampler: {kind: pmm,";
  char *at = text ? strstr(text, key) : NULL;
  int rc = -1;
  if (!at) {
    e2e_format(setup_error, sizeof setup_error, "cannot read %s, or it lacks '%s'", env.gmm8_yaml,
               key);
  } else {
    size_t head = (size_t)(at - text);
    char *out = malloc(strlen(text) + 64);
    if (out) {
      memcpy(out, text, head);
      strcpy(out + head, "sampler: {kind: euler-maruyama,");
      strcat(out, at + strlen(key));
      rc = e2e_write_text(path, out, setup_error, sizeof setup_error);
      free(out);
    } else {
      e2e_format(setup_error, sizeof setup_error, "out of memory");
    }
  }
  free(text);
  return rc;
}

static int setup_models(void) {
  printf("random weights: GSL mt19937, seeds %lu + i, std 1/sqrt(fan_in)\n", WEIGHT_SEED);
  if (write_weights() != 0 || write_atoms() != 0) return -1;
  for (size_t i = 0; i < N_CASES; i++) {
    const pair_case *c = &cases[i];
    if (c->shipped) {
      if (e2e_model_yaml(c->shipped, yaml_path[i], sizeof yaml_path[i]) != 0) return -1;
      continue;
    }
    if (e2e_format(yaml_path[i], sizeof yaml_path[i], "%s/%s.yaml", env.dir, c->name) != 0)
      return -1;
    int rc = c->yaml ? e2e_write_text(yaml_path[i], c->yaml, setup_error, sizeof setup_error)
                     : write_gmm8_em(yaml_path[i]);
    if (rc != 0) return -1;
  }
  return 0;
}

START_TEST(test_pair) {
  const pair_case *c = &cases[_i];
  ck_assert_msg(setup_status == 0, "writing the models failed: %s", setup_error);
  ck_assert_msg(build_st[_i] == 0, "%s: pmmc build of %s failed with status %d", c->name,
                yaml_path[_i], build_st[_i]);
  char cpath[PATH_MAX], ipath[PATH_MAX];
  e2e_path(cpath, sizeof cpath, "%s.compiled.npy", bin_path[_i]);
  e2e_path(ipath, sizeof ipath, "%s.interp.npy", bin_path[_i]);
  printf("%s: seed %llu, -n %d\n", c->name, SAMPLE_SEED, N_SAMPLES);
  int st = tu_run("'%s' -s %llu -n %d -o '%s'", bin_path[_i], SAMPLE_SEED, N_SAMPLES, cpath);
  ck_assert_msg(st == 0, "%s: compiled sampler exited with %d", c->name, st);
  st = tu_run("'%s' run '%s' -s %llu -n %d -o '%s'", tu_pmmc(), yaml_path[_i], SAMPLE_SEED,
              N_SAMPLES, ipath);
  ck_assert_msg(st == 0, "%s: pmmc run exited with %d", c->name, st);

  e2e_npy cn, in;
  e2e_npy_load(cpath, N_SAMPLES, c->cols, &cn);
  e2e_npy_load(ipath, N_SAMPLES, c->cols, &in);
  const float *a = cn.a.data, *b = in.a.data;
  size_t bits = 0, diverged = 0, first_diverged = N_SAMPLES;
  double worst = 0.0;
  for (size_t i = 0; i < N_SAMPLES; i++) {
    size_t where;
    const float *ra = a + i * c->cols, *rb = b + i * c->cols;
    for (uint64_t k = 0; k < c->cols; k++) {
      ck_assert_msg(isfinite(rb[k]), "%s: interpreted sample %zu value %llu is not finite", c->name,
                    i, (unsigned long long)k);
      if (memcmp(&ra[k], &rb[k], sizeof(float)) != 0) bits++;
    }
    double d = e2e_max_scaled_diff(ra, rb, c->cols, &where);
    if (c->discrete && d > 0.0) d = INFINITY;
    if (d > TOL) {
      if (!c->poisson)
        ck_abort_msg("%s: sample %zu value %zu: compiled %.9g, interpreted %.9g (tolerance %.0e "
                     "relative to 1 + |value|)",
                     c->name, i, where, (double)ra[where], (double)rb[where], TOL);
      if (diverged++ == 0) first_diverged = i;
    } else if (d > worst) {
      worst = d;
    }
  }
  /* Non-vacuity: some coordinate must vary across samples. */
  double spread = 0.0;
  for (uint64_t k = 0; k < c->cols; k++) {
    double lo = b[k], hi = b[k];
    for (size_t i = 1; i < N_SAMPLES; i++) {
      lo = fmin(lo, b[i * c->cols + k]);
      hi = fmax(hi, b[i * c->cols + k]);
    }
    spread = fmax(spread, hi - lo);
  }
  printf("%s: %zu of %llu values differ in bits; largest difference among agreeing samples "
         "%.3g; %zu samples diverged (first: %zu); largest spread of a coordinate %.4g\n",
         c->name, bits, (unsigned long long)(N_SAMPLES * c->cols), worst, diverged,
         diverged ? first_diverged : 0, spread);
  ck_assert_msg(spread > 0.0, "%s: every sample is the same", c->name);
  ck_assert_msg((double)diverged <= MAX_DIVERGED_FRAC * N_SAMPLES,
                "%s: %zu of %d samples differ between compiled and interpreted (first: sample "
                "%zu; allowed %.0f%%)",
                c->name, diverged, N_SAMPLES, first_diverged, MAX_DIVERGED_FRAC * 100.0);
  e2e_npy_free(&cn);
  e2e_npy_free(&in);
}
END_TEST

int main(void) {
  if (e2e_env_init(&env, "interp-pairs") != 0) return EXIT_FAILURE;
  setup_status = setup_models();
  if (setup_status != 0) fprintf(stderr, "setup failed: %s\n", setup_error);
  for (size_t i = 0; i < N_CASES; i++)
    build_st[i] = setup_status == 0 ? e2e_build(yaml_path[i], "", env.dir, cases[i].name,
                                                bin_path[i], sizeof bin_path[i])
                                    : -1;

  Suite *s = suite_create("e2e_interp_pairs");
  TCase *tc = tcase_create("interp_pairs");
  tcase_set_timeout(tc, 900);
  tcase_add_loop_test(tc, test_pair, 0, (int)N_CASES);
  suite_add_tcase(s, tc);
  int failed = tu_run_suite(s);
  e2e_env_finish(&env, failed);
  return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
