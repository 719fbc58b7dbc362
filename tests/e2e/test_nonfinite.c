/*
 * test_nonfinite.c - a model whose numbers are all finite float32 but whose
 * arithmetic overflows while sampling makes the sampler stop (docs/samplers.md,
 * "Non-finite values"): exit status 1, a message naming the sample block,
 * the step and the layer, and no output file (nor its sidecar, nor a
 * temporary) left behind, for each pair and both engines (`pmmc run`, the
 * interpreter; `pmmc build`, compiled code).
 *
 * Each model is a small graph network whose layer 'big' is a dense layer
 * over a value that grows with the steps, with finite weights large enough
 * that it overflows to inf at a known step and not before; from there 'out'
 * (weights 0) is 0 * inf = NaN.  Tables of A (A_0 = 0) fix the steps:
 *   normal-normal: out = 1e38 pulls mu_t = 1e38 A_t / (1 + A_t) (prior
 *     N(0, 1), noise ~1e-1); big = 8 mu_{t-1} is 2.7e38 at step 4, 5.3e38
 *     (inf) at step 5.  The chain then writes NaN rows.
 *   gamma-poisson: softplus(out) = 1e6 makes mu_t ~ (1 + 1e6 A_t) / (1 + A_t)
 *     (prior shape 1, rate 1; Poisson noise ~1e-3 relative); big = 6.8e32
 *     mu_{t-1} is 2.3e38 at step 4, 4.5e38 at step 5.  A NaN rate draws 0
 *     counts, so the chain goes on to plausible-looking samples.
 *   dirichlet-categorical (L = 4, K = 3): logits favour symbol 'a'; big =
 *     9.45e37 times the sum over positions of p_a = (0.5 + C_a) / (1.5 + n),
 *     the network's input.  A = 0.01, 0.02 leave the counts almost surely 0
 *     (p_a <= 0.71 even with two counts: <= 2.7e38), the jump to A = 1000
 *     makes p_a ~ 0.999 at step 4: 3.8e38.  NaN logits also draw 0 counts.
 * Without the checks every one of these runs exits 0.
 *
 * Control: the same networks with small weights run to exit 0 with finite
 * samples, the compiled sampler (--gemm=blas, whose GEMM is the
 * interpreter's) giving the interpreter's bits: the checks change nothing
 * in a finite run.
 */
#include <check.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "tests/e2e/e2e.h"

#define SEED 5ULL
#define N_SAMPLES 100 /* two blocks of 64 */

static e2e_env env;
static char setup_error[512];
static int setup_status = -1;

/* One pair's model; <name>.yaml overflows, <name>_ok.yaml is the control. */
typedef struct nf_case {
  const char *name;
  const char *model; /* the YAML after `name:` and before `weights:` */
  const char *ext;   /* output format, so each writer's file is seen removed */
  unsigned step;     /* where 'big' overflows */
  unsigned steps;
  uint64_t cols; /* floats per sample */
} nf_case;

#define TABLE6 "schedule: {kind: table, values: [0.1, 0.2, 0.5, 2.0, 5.0, 10.0]}\n"

static const nf_case cases[] = {
    {"nf_normal",
     "pair: normal-normal\n"
     "data: {shape: [2]}\n"
     "prior: {mean: 0.0, precision: 1.0}\n" TABLE6 "network:\n"
     "  kind: graph\n"
     "  layers:\n"
     "    - {name: big, op: dense, input: mu, units: 2}\n"
     "    - {name: out, op: dense, input: big, units: 2}\n"
     "  output: out\n",
     ".npy", 5, 6, 2},
    {"nf_gamma",
     "pair: gamma-poisson\n"
     "data: {shape: [3]}\n"
     "prior: {shape: 1.0, rate: 1.0}\n" TABLE6 "network:\n"
     "  kind: graph\n"
     "  layers:\n"
     "    - {name: big, op: dense, input: mu, units: 3}\n"
     "    - {name: out, op: dense, input: big, units: 3, activation: softplus}\n"
     "  output: out\n",
     ".csv", 5, 6, 3},
    {"nf_categorical",
     "pair: dirichlet-categorical\n"
     "data: {shape: [4], vocab: \"_ab\", padding: true}\n"
     "prior: {concentration: 0.5}\n"
     "schedule: {kind: table, values: [0.01, 0.02, 1000, 1000000, 2000000]}\n"
     "network:\n"
     "  kind: graph\n"
     "  layers:\n"
     "    - {name: flat, op: reshape, input: mu, shape: [-1]}\n"
     "    - {name: big, op: dense, input: flat, units: 1}\n"
     "    - {name: out, op: dense, input: big, units: 12}\n"
     "  output: out\n",
     ".txt", 4, 5, 4},
};
#define N_CASES (sizeof cases / sizeof cases[0])

/* Compiled samplers: [case][0] overflowing, [case][1] control. */
static char bin[N_CASES][2][PATH_MAX];
static int build_st[N_CASES][2];

/* The weights of case i, overflowing (ok = 0) or the control's. */
static int write_weights(size_t i, int ok, const char *path) {
  float big[12] = {0}, w[12] = {0}, b[12] = {0};
  e2e_tensor t[3] = {
      {"big.weight", 2, {0, 0}, big}, {"out.weight", 2, {0, 0}, w}, {"out.bias", 1, {0, 0}, b}};
  if (i < 2) { /* big = g I, out = w big + b over n = 2 or 3 values */
    uint64_t n = i == 0 ? 2 : 3;
    float g = i == 0 ? 8.0f : 6.8e32f;
    for (uint64_t j = 0; j < n; j++) {
      big[j * n + j] = ok ? 1.0f : g;
      b[j] = ok ? 1.0f : i == 0 ? 1e38f : 1e6f;
      for (uint64_t k = 0; k < n; k++) w[j * n + k] = ok ? 0.5f : 0.0f;
    }
    t[0].shape[0] = t[0].shape[1] = t[1].shape[0] = t[1].shape[1] = t[2].shape[0] = n;
  } else { /* big = g sum of p_a over [L, K] = [4, 3]; out = w big + b, 12 logits */
    for (int j = 0; j < 12; j++) {
      big[j] = j % 3 == 1 ? (ok ? 1.0f : 9.45e37f) : 0.0f;
      w[j] = ok ? 1.0f : 0.0f;
      b[j] = !ok && j % 3 == 1 ? 20.0f : 0.0f;
    }
    t[0].shape[0] = 1;
    t[0].shape[1] = 12;
    t[1].shape[0] = 12;
    t[1].shape[1] = 1;
    t[2].shape[0] = 12;
  }
  return e2e_write_tensors(path, t, 3, setup_error, sizeof setup_error);
}

static int setup_models(void) {
  for (size_t i = 0; i < N_CASES; i++)
    for (int ok = 0; ok < 2; ok++) {
      const char *tag = ok ? "_ok" : "";
      char path[PATH_MAX], text[2048];
      if (e2e_format(path, sizeof path, "%s/%s%s.safetensors", env.dir, cases[i].name, tag) != 0 ||
          write_weights(i, ok, path) != 0 ||
          e2e_format(text, sizeof text, "name: %s%s\n%sweights: %s%s.safetensors\n", cases[i].name,
                     tag, cases[i].model, cases[i].name, tag) != 0 ||
          e2e_format(path, sizeof path, "%s/%s%s.yaml", env.dir, cases[i].name, tag) != 0 ||
          e2e_write_text(path, text, setup_error, sizeof setup_error) != 0)
        return -1;
    }
  return 0;
}

static void yaml_path(size_t i, int ok, char *out, size_t len) {
  e2e_path(out, len, "%s/%s%s.yaml", env.dir, cases[i].name, ok ? "_ok" : "");
}

/* The command running case i's model in engine e (0 compiled, 1 interpreter). */
static void command(size_t i, int ok, int e, char *out, size_t len) {
  ck_assert_msg(setup_status == 0, "setup failed: %s", setup_error);
  if (e == 1) {
    char yaml[PATH_MAX];
    yaml_path(i, ok, yaml, sizeof yaml);
    e2e_path(out, len, "'%s' run '%s'", tu_pmmc(), yaml);
    return;
  }
  ck_assert_msg(build_st[i][ok] == 0, "pmmc build of %s%s failed with status %d", cases[i].name,
                ok ? "_ok" : "", build_st[i][ok]);
  e2e_path(out, len, "'%s'", bin[i][ok]);
}

static const char *const engine_names[2] = {"compiled", "interp"};

/* Run `cmd OPTIONS -o DIR/samples<ext>` into an empty DIR named by tag;
 * expect status 1, a message naming block [0, 64) (or any block with
 * several threads), the step and layer 'big', and DIR still empty. */
static void expect_failure(size_t i, int e, const char *options, const char *tag, int any_block) {
  const nf_case *c = &cases[i];
  char cmd[PATH_MAX + 64], dir[PATH_MAX], want[256];
  command(i, 0, e, cmd, sizeof cmd);
  e2e_path(dir, sizeof dir, "%s/out_%s_%s_%s", env.dir, c->name, engine_names[e], tag);
  ck_assert_msg(mkdir(dir, 0755) == 0, "mkdir %s: %s", dir, strerror(errno));
  char *err = NULL;
  int st = tu_run_capture(NULL, &err, "%s %s -s %llu -o '%s/samples%s'", cmd, options, SEED, dir,
                          c->ext);
  printf("%s, %s, %s: status %d: %s", c->name, engine_names[e], options, st, err ? err : "");
  ck_assert_msg(st == 1, "%s (%s): exit status %d, expected 1; stderr: %s", c->name,
                engine_names[e], st, err);
  e2e_path(want, sizeof want, "non-finite value (inf) at step %u of %u in layer 'big'", c->step,
           c->steps);
  ck_assert_msg(e2e_contains(err, want), "%s (%s): the message lacks '%s': %s", c->name,
                engine_names[e], want, err);
  const char *block = any_block ? "sample block [" : "sample block [0, 64): ";
  ck_assert_msg(e2e_contains(err, block), "%s (%s): the message lacks '%s': %s", c->name,
                engine_names[e], block, err);
  long left = e2e_count_entries(dir);
  ck_assert_msg(left == 0, "%s (%s): %ld file(s) left in %s", c->name, engine_names[e], left, dir);
  free(err);
}

/* _i = 2 case + engine */
START_TEST(test_overflow_fails) {
  expect_failure((size_t)_i / 2, _i % 2, "-n 100 --threads 1", "one", 0);
}
END_TEST

/* Several workers, several blocks failing: still status 1 and nothing left. */
START_TEST(test_overflow_fails_threads) {
  expect_failure((size_t)_i / 2, _i % 2, "-n 300 --threads 2", "two", 1);
}
END_TEST

/* The controls: both engines exit 0 with finite samples and the same bits. */
START_TEST(test_control_finite) {
  const nf_case *c = &cases[_i];
  char path[2][PATH_MAX];
  for (int e = 0; e < 2; e++) {
    char cmd[PATH_MAX + 64];
    command((size_t)_i, 1, e, cmd, sizeof cmd);
    e2e_path(path[e], sizeof path[e], "%s/%s_ok.%s.npy", env.dir, c->name, engine_names[e]);
    int st = tu_run("%s -n %d -s %llu -o '%s'", cmd, N_SAMPLES, SEED, path[e]);
    ck_assert_msg(st == 0, "%s_ok (%s): exit status %d", c->name, engine_names[e], st);
  }
  e2e_npy a, b;
  e2e_npy_load(path[0], N_SAMPLES, c->cols, &a);
  e2e_npy_load(path[1], N_SAMPLES, c->cols, &b);
  for (uint64_t j = 0; j < a.a.count; j++)
    ck_assert_msg(isfinite(a.a.data[j]), "%s_ok: value %llu is %g", c->name, (unsigned long long)j,
                  (double)a.a.data[j]);
  ck_assert_msg(a.payload_len == b.payload_len &&
                    memcmp(a.bytes + a.payload, b.bytes + b.payload, a.payload_len) == 0,
                "%s_ok: the compiled sampler's samples differ from the interpreter's", c->name);
  printf("%s_ok: %d finite samples, compiled == interpreted\n", c->name, N_SAMPLES);
  e2e_npy_free(&a);
  e2e_npy_free(&b);
}
END_TEST

int main(void) {
  if (e2e_env_init(&env, "nonfinite") != 0) return EXIT_FAILURE;
  setup_status = setup_models();
  if (setup_status != 0) fprintf(stderr, "setup failed: %s\n", setup_error);
  for (size_t i = 0; i < N_CASES && setup_status == 0; i++)
    for (int ok = 0; ok < 2; ok++) {
      char yaml[PATH_MAX], name[64];
      const char *tag = ok ? "_ok" : "";
      build_st[i][ok] =
          e2e_format(yaml, sizeof yaml, "%s/%s%s.yaml", env.dir, cases[i].name, tag) != 0 ||
                  e2e_format(name, sizeof name, "%s%s", cases[i].name, tag) != 0
              ? -1
              : e2e_build(yaml, "--gemm=blas", env.dir, name, bin[i][ok], sizeof bin[i][ok]);
    }

  Suite *s = suite_create("e2e_nonfinite");
  TCase *tc = tcase_create("nonfinite");
  tcase_set_timeout(tc, 300);
  tcase_add_loop_test(tc, test_overflow_fails, 0, 2 * (int)N_CASES);
  tcase_add_loop_test(tc, test_overflow_fails_threads, 0, 2 * (int)N_CASES);
  tcase_add_loop_test(tc, test_control_finite, 0, (int)N_CASES);
  suite_add_tcase(s, tc);
  SRunner *sr = srunner_create(s);
  srunner_run_all(sr, CK_NORMAL);
  int failed = srunner_ntests_failed(sr);
  srunner_free(sr);
  e2e_env_finish(&env, failed);
  return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
