/*
 * test_value_errors.c - bad values in issue 3's model keys are clear errors
 * through `pmmc build` end to end: exit status 1, a message on stderr that
 * starts with FILE:LINE:COL of the offending value (the front end's golden
 * files in tests/frontend check the full wording), and no sampler written.
 *
 * Cases: negative concentration, smoothing below 0 and at 1 (outside
 * [0, 1)), a vocabulary with a duplicate symbol, a sequence longer than L in
 * an atoms file (located at the file's line, with the YAML's `atoms:` value
 * in the hint), heun and euler-maruyama with non-normal pairs, and bad
 * schedules (a table that decreases, karras with sigma_max < sigma_min, a
 * non-positive start).  Each model is valid except for the one value marked
 * in its case, so the message can only come from that value.  Nothing is
 * random.
 */
#include <check.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "tests/e2e/e2e.h"

static e2e_env env;
static int setup_status = -1;
static char setup_error[512];

typedef struct bad_case {
  const char *name; /* <name>.yaml in the scratch directory */
  const char *yaml;
  const char *marker; /* the offending value as written; its position is the location */
  const char *needle; /* a word the message must contain */
} bad_case;

#define CAT_HEAD                                                                                   \
  "pair: dirichlet-categorical\n"                                                                  \
  "data: {shape: [8], vocab: \"_abcdefghijklmnopqrstuvwxyz\", padding: true}\n"
#define CAT_TAIL                                                                                   \
  "schedule: {kind: geometric, steps: 20, start: 0.01, end: 1000}\n"                               \
  "network: {kind: exact, atoms: words.txt}\n"
#define GAMMA_HEAD                                                                                 \
  "pair: gamma-poisson\n"                                                                          \
  "data: {shape: [3]}\n"                                                                           \
  "prior: {shape: 1.0, rate: 1.0}\n"
#define NORMAL_HEAD                                                                                \
  "pair: normal-normal\n"                                                                          \
  "data: {shape: [2]}\n"                                                                           \
  "prior: {mean: 0.0, precision: 1.0}\n"
#define NORMAL_TAIL                                                                                \
  "network:\n"                                                                                     \
  "  kind: exact\n"                                                                                \
  "  mixture:\n"                                                                                   \
  "    - {weight: 1.0, mean: [0.0, 1.0], std: 0.1}\n"

static const bad_case cases[] = {
    {"concentration",
     "name: bad\n" CAT_HEAD "prior: {concentration: -1.5, smoothing: 0.0}\n" CAT_TAIL, "-1.5",
     "concentration"},
    {"smoothing_neg",
     "name: bad\n" CAT_HEAD "prior: {concentration: 0.5, smoothing: -0.1}\n" CAT_TAIL, "-0.1",
     "smoothing"},
    {"smoothing_one",
     "name: bad\n" CAT_HEAD "prior: {concentration: 0.5, smoothing: 1.0}\n" CAT_TAIL, "1.0}",
     "smoothing"},
    {"vocab_dup",
     "name: bad\n"
     "pair: dirichlet-categorical\n"
     "data: {shape: [8], vocab: \"_abcdefghijklmnopqrstuvwxyzq\", padding: true}\n"
     "prior: {concentration: 0.5}\n" CAT_TAIL,
     "\"_abc", "twice"},
    {"heun_gamma",
     "name: bad\n" GAMMA_HEAD "schedule: {kind: geometric, steps: 20, start: 0.01, end: 1000}\n"
     "sampler: {kind: heun, output: posterior-mean}\n"
     "network: {kind: exact, atoms: counts.npy}\n",
     "heun", "heun"},
    {"heun_categorical",
     "name: bad\n" CAT_HEAD "prior: {concentration: 0.5}\n"
     "sampler: {kind: heun}\n" CAT_TAIL,
     "heun", "heun"},
    {"em_gamma",
     "name: bad\n" GAMMA_HEAD "schedule: {kind: geometric, steps: 20, start: 0.01, end: 1000}\n"
     "sampler: {kind: euler-maruyama}\n"
     "network: {kind: exact, atoms: counts.npy}\n",
     "euler-maruyama", "euler-maruyama"},
    {"table_decreasing",
     "name: bad\n" NORMAL_HEAD
     "schedule: {kind: table, values: [0.1, 0.5, 0.4, 2.0]}\n" NORMAL_TAIL,
     "0.4", "values"},
    {"karras_order",
     "name: bad\n" NORMAL_HEAD
     "schedule: {kind: karras, steps: 20, sigma_min: 5, sigma_max: 0.5}\n" NORMAL_TAIL,
     "0.5}", "sigma_max"},
    {"start_zero",
     "name: bad\n" NORMAL_HEAD
     "schedule: {kind: geometric, steps: 20, start: 0, end: 100}\n" NORMAL_TAIL,
     "0, end", "start"},
};
#define N_CASES (sizeof cases / sizeof cases[0])

/* 1-based line and column of the first occurrence of marker in text. */
static void locate(const char *text, const char *marker, int *line, int *col) {
  const char *at = strstr(text, marker);
  ck_assert_msg(at != NULL, "marker '%s' not in its model", marker);
  *line = 1;
  const char *bol = text;
  for (const char *p = text; p < at; p++)
    if (*p == '\n') {
      (*line)++;
      bol = p + 1;
    }
  *col = (int)(at - bol) + 1;
}

/* Build yaml into an empty directory; expect status 1, message containing
 * every needle, nothing written.  Returns the captured stderr. */
static char *expect_build_error(const char *yaml, const char *tag, const char *const *needles,
                                size_t nneedles) {
  char outdir[PATH_MAX];
  e2e_path(outdir, sizeof outdir, "%s/out_%s", env.dir, tag);
  ck_assert_msg(mkdir(outdir, 0755) == 0, "mkdir %s: %s", outdir, strerror(errno));
  char *err = NULL;
  int st = tu_run_capture(NULL, &err, "'%s' build '%s' -o '%s/sampler'", tu_pmmc(), yaml, outdir);
  ck_assert_msg(st == 1, "%s: pmmc build exited with %d, expected 1; stderr: %s", tag, st, err);
  for (size_t i = 0; i < nneedles; i++)
    ck_assert_msg(e2e_contains(err, needles[i]), "%s: the message does not contain '%s': %s", tag,
                  needles[i], err);
  long left = e2e_count_entries(outdir);
  ck_assert_msg(left == 0, "%s: pmmc build left %ld file(s) in %s", tag, left, outdir);
  return err;
}

START_TEST(test_bad_value) {
  ck_assert_msg(setup_status == 0, "setup failed: %s", setup_error);
  const bad_case *c = &cases[_i];
  char yaml[PATH_MAX], where[PATH_MAX];
  e2e_path(yaml, sizeof yaml, "%s/%s.yaml", env.dir, c->name);
  int line, col;
  locate(c->yaml, c->marker, &line, &col);
  e2e_path(where, sizeof where, "%s.yaml:%d:%d: error", c->name, line, col);
  const char *needles[] = {where, c->needle};
  char *err = expect_build_error(yaml, c->name, needles, 2);
  printf("%s: %s", c->name, err);
  free(err);
}
END_TEST

/* The atoms file's line, and in the hint the YAML's `atoms:` value. */
static const char long_yaml[] = "name: bad\n" CAT_HEAD "prior: {concentration: 0.5}\n"
                                "schedule: {kind: geometric, steps: 20, start: 0.01, end: 1000}\n"
                                "network: {kind: exact, atoms: long.txt}\n";

START_TEST(test_atoms_too_long) {
  ck_assert_msg(setup_status == 0, "setup failed: %s", setup_error);
  char yaml[PATH_MAX], hint[PATH_MAX];
  e2e_path(yaml, sizeof yaml, "%s/long.yaml", env.dir);
  int line, col;
  locate(long_yaml, "long.txt", &line, &col);
  e2e_path(hint, sizeof hint, "long.yaml:%d:%d", line, col);
  const char *needles[] = {"long.txt:3:", hint, "8"};
  char *err = expect_build_error(yaml, "long", needles, 3);
  printf("atoms_too_long: %s", err);
  free(err);
}
END_TEST

static int setup_files(void) {
  char path[PATH_MAX];
  for (size_t i = 0; i < N_CASES; i++) {
    if (e2e_format(path, sizeof path, "%s/%s.yaml", env.dir, cases[i].name) != 0 ||
        e2e_write_text(path, cases[i].yaml, setup_error, sizeof setup_error) != 0)
      return -1;
  }
  static const float counts[] = {0, 1, 2, 3, 4, 5};
  uint64_t shape[2] = {2, 3};
  if (e2e_format(path, sizeof path, "%s/words.txt", env.dir) != 0 ||
      e2e_write_text(path, "cat\ndog\nkitten\n", setup_error, sizeof setup_error) != 0 ||
      e2e_format(path, sizeof path, "%s/long.txt", env.dir) != 0 ||
      e2e_write_text(path, "cat\ndog\nelephants\nox\n", setup_error, sizeof setup_error) != 0 ||
      e2e_format(path, sizeof path, "%s/long.yaml", env.dir) != 0 ||
      e2e_write_text(path, long_yaml, setup_error, sizeof setup_error) != 0 ||
      e2e_format(path, sizeof path, "%s/counts.npy", env.dir) != 0 ||
      e2e_write_npy(path, 2, shape, counts, setup_error, sizeof setup_error) != 0)
    return -1;
  return 0;
}

/* Non-vacuity: the same models with the bad value fixed build. */
START_TEST(test_good_control) {
  ck_assert_msg(setup_status == 0, "setup failed: %s", setup_error);
  static const char *good[] = {
      "name: good_cat\n" CAT_HEAD "prior: {concentration: 0.5, smoothing: 0.3}\n" CAT_TAIL,
      "name: good_gamma\n" GAMMA_HEAD
      "schedule: {kind: geometric, steps: 20, start: 0.01, end: 1000}\n"
      "sampler: {kind: pmm}\n"
      "network: {kind: exact, atoms: counts.npy}\n",
      "name: good_normal\n" NORMAL_HEAD "schedule: {kind: table, values: [0.1, 0.5, 0.6, 2.0]}\n"
      "sampler: {kind: heun}\n" NORMAL_TAIL,
  };
  for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
    char yaml[PATH_MAX];
    e2e_path(yaml, sizeof yaml, "%s/good%zu.yaml", env.dir, i);
    ck_assert_msg(e2e_write_text(yaml, good[i], setup_error, sizeof setup_error) == 0, "%s",
                  setup_error);
    int st = tu_run("'%s' check '%s'", tu_pmmc(), yaml);
    ck_assert_msg(st == 0, "pmmc check rejects the control model %s (status %d)", yaml, st);
  }
}
END_TEST

int main(void) {
  if (e2e_env_init(&env, "value-errors") != 0) return EXIT_FAILURE;
  setup_status = setup_files();
  if (setup_status != 0) fprintf(stderr, "setup failed: %s\n", setup_error);

  Suite *s = suite_create("e2e_value_errors");
  TCase *tc = tcase_create("value_errors");
  tcase_set_timeout(tc, 300);
  tcase_add_test(tc, test_good_control);
  tcase_add_loop_test(tc, test_bad_value, 0, (int)N_CASES);
  tcase_add_test(tc, test_atoms_too_long);
  suite_add_tcase(s, tc);
  int failed = tu_run_suite(s);
  e2e_env_finish(&env, failed);
  return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
