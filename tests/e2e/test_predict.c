/*
 * test_predict.c - `pmmc predict` against PyTorch: every fixture in
 * tests/fixtures/ops/NAME (model.yaml, mu.npy, tau.npy and PyTorch's own
 * out.npy, written by tests/fixtures/gen_fixtures.py) and the two shipped
 * networks (models/unet-tiny, models/dit-tiny with their references in
 * tests/fixtures/models/), through the interpreter and the JIT-compiled
 * code.  Tolerance: |pmmc - torch| <= 1e-4 (1 + |torch|) for every element.
 */
#include <check.h>
#include <dirent.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tests/e2e/e2e.h"

static e2e_env env;
static char **cases; /* "ops/NAME" or "models/NAME", sorted */
static size_t ncases;
static const char *const engines[2] = {"interp", "compiled"};

static int cmp_str(const void *a, const void *b) {
  return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Every directory under tests/fixtures/ops, then the shipped networks. */
static int list_cases(void) {
  char dir[PATH_MAX];
  if (e2e_format(dir, sizeof dir, "%s/tests/fixtures/ops", tu_srcdir()) != 0) return -1;
  DIR *d = opendir(dir);
  if (!d) {
    fprintf(stderr, "cannot open %s\n", dir);
    return -1;
  }
  static const char *const models[] = {"models/unet-tiny", "models/dit-tiny"};
  size_t cap = 256;
  cases = calloc(cap + 2, sizeof *cases);
  struct dirent *e;
  while (cases && (e = readdir(d)) != NULL)
    if (e->d_name[0] != '.' && ncases < cap && (cases[ncases] = malloc(strlen(e->d_name) + 5)))
      sprintf(cases[ncases++], "ops/%s", e->d_name);
  closedir(d);
  if (!cases) return -1;
  qsort(cases, ncases, sizeof *cases, cmp_str);
  for (size_t i = 0; i < 2; i++) cases[ncases++] = strdup(models[i]);
  return 0;
}

/* The model of a case: the fixture's own, or the shipped one. */
static void case_paths(const char *c, char *model, char *fix, size_t len) {
  if (strncmp(c, "models/", 7) == 0) {
    e2e_path(model, len, "%s/%s/model.yaml", tu_srcdir(), c);
    e2e_path(fix, len, "%s/tests/fixtures/%s", tu_srcdir(), c);
  } else {
    e2e_path(model, len, "%s/tests/fixtures/%s/model.yaml", tu_srcdir(), c);
    e2e_path(fix, len, "%s/tests/fixtures/%s", tu_srcdir(), c);
  }
}

START_TEST(test_fixture) {
  const char *c = cases[_i / 2], *engine = engines[_i % 2];
  char model[PATH_MAX], fix[PATH_MAX], out[PATH_MAX], name[PATH_MAX];
  case_paths(c, model, fix, sizeof model);
  snprintf(name, sizeof name, "%s", c);
  for (char *p = name; *p; p++)
    if (*p == '/') *p = '_';
  e2e_path(out, sizeof out, "%s/%s-%s.npy", env.dir, name, engine);
  int st = tu_run("'%s' predict '%s' --mu '%s/mu.npy' --time '%s/tau.npy' -o '%s' --engine %s",
                  tu_pmmc(), model, fix, fix, out, engine);
  ck_assert_msg(st == 0, "%s (%s): pmmc predict exited with %d", c, engine, st);
  pmm_array got, want;
  char ref[PATH_MAX];
  e2e_path(ref, sizeof ref, "%s/out.npy", fix);
  tu_read_npy(out, &got);
  tu_read_npy(ref, &want);
  ck_assert_msg(got.rank == want.rank && got.count == want.count, "%s (%s): shape differs", c,
                engine);
  for (uint32_t d = 0; d < got.rank; d++)
    ck_assert_msg(got.shape[d] == want.shape[d], "%s (%s): dim %u is %llu, torch has %llu", c,
                  engine, d, (unsigned long long)got.shape[d], (unsigned long long)want.shape[d]);
  double worst = 0;
  uint64_t at = 0;
  for (uint64_t i = 0; i < got.count; i++) {
    double ratio = fabs((double)got.data[i] - want.data[i]) / (1.0 + fabs((double)want.data[i]));
    if (!(ratio <= worst)) {
      worst = ratio;
      at = i;
    }
  }
  printf("%-28s %-8s max |pmmc - torch| / (1 + |torch|) = %.3g\n", c, engine, worst);
  ck_assert_msg(worst <= 1e-4, "%s (%s): element %llu is %.9g, torch %.9g", c, engine,
                (unsigned long long)at, (double)got.data[at], (double)want.data[at]);
  pmm_array_free(&got);
  pmm_array_free(&want);
}
END_TEST

int main(void) {
  if (e2e_env_init(&env, "predict") != 0 || list_cases() != 0) return EXIT_FAILURE;
  Suite *s = suite_create("predict");
  TCase *tc = tcase_create("fixtures");
  tcase_add_loop_test(tc, test_fixture, 0, (int)(2 * ncases));
  suite_add_tcase(s, tc);
  int failed = tu_run_suite(s);
  e2e_env_finish(&env, failed);
  return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
