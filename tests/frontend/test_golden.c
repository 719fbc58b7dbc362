/*
 * test_golden.c - the malformed-model corpus: every tests/frontend/bad/NAME.yaml,
 * checked with `pmmc check NAME.yaml` from inside that folder, must exit with
 * status 1, print nothing on stdout and print exactly NAME.err on stderr,
 * within 2 s and 1 GiB of address space.
 *
 * A new case is a new pair of files; no code changes.  No randomness here.
 */
#include <check.h>
#include <dirent.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tests/util/testutil.h"

static char corpus_dir[PATH_MAX];
static char **cases; /* NAME of each NAME.yaml, sorted */
static size_t ncases;

static int cmp_str(const void *a, const void *b) {
  return strcmp(*(char *const *)a, *(char *const *)b);
}

static int has_suffix(const char *s, const char *suf) {
  size_t n = strlen(s), k = strlen(suf);
  return n > k && !strcmp(s + n - k, suf);
}

/* Base names of the files in corpus_dir ending in suffix, sorted. */
static char **list_corpus(const char *suffix, size_t *count) {
  DIR *d = opendir(corpus_dir);
  if (!d) {
    fprintf(stderr, "test_golden: cannot open %s\n", corpus_dir);
    exit(EXIT_FAILURE);
  }
  char **names = NULL;
  size_t n = 0, cap = 0;
  struct dirent *e;
  while ((e = readdir(d))) {
    if (!has_suffix(e->d_name, suffix)) continue;
    if (n == cap) {
      cap = cap ? 2 * cap : 64;
      names = realloc(names, cap * sizeof *names);
      if (!names) exit(EXIT_FAILURE);
    }
    size_t len = strlen(e->d_name) - strlen(suffix);
    if (!(names[n] = strndup(e->d_name, len))) exit(EXIT_FAILURE);
    n++;
  }
  closedir(d);
  if (n) qsort(names, n, sizeof *names, cmp_str);
  *count = n;
  return names;
}

/* 1-based number of the first line where a and b differ; the line texts
 * are copied (truncated) into la and lb. */
static int first_diff_line(const char *a, const char *b, char *la, char *lb, size_t len) {
  int line = 1;
  const char *sa = a, *sb = b;
  while (*a && *a == *b) {
    if (*a == '\n') {
      line++;
      sa = a + 1;
      sb = b + 1;
    }
    a++, b++;
  }
  snprintf(la, len, "%.*s", (int)strcspn(sa, "\n"), sa);
  snprintf(lb, len, "%.*s", (int)strcspn(sb, "\n"), sb);
  return line;
}

START_TEST(test_corpus_size) {
  ck_assert_msg(ncases >= 20, "only %zu malformed models in %s, expected at least 20", ncases,
                corpus_dir);
  /* Every .err belongs to a .yaml: a stale golden file is a mistake too. */
  size_t nerr;
  char **errs = list_corpus(".err", &nerr);
  for (size_t i = 0; i < nerr; i++) {
    int found = bsearch(&errs[i], cases, ncases, sizeof *cases, cmp_str) != NULL;
    ck_assert_msg(found, "%s/%s.err has no %s.yaml", corpus_dir, errs[i], errs[i]);
  }
  ck_assert_uint_eq(nerr, ncases);
  for (size_t i = 0; i < nerr; i++) free(errs[i]);
  free(errs);
}
END_TEST

START_TEST(test_corpus_case) {
  const char *name = cases[_i];
  char path[PATH_MAX + 64];
  snprintf(path, sizeof path, "%s/%s.err", corpus_dir, name);
  char *expected = tu_read_file(path, NULL);
  ck_assert_msg(expected != NULL, "%s is missing", path);
  char *out = NULL, *err = NULL;
  /* the corpus's limits (docs/testing.md): 2 s and 1 GiB a case, but in a
   * sanitizer build (ASan reserves address space it never uses) */
  const char *sanitized = getenv("PMMC_SANITIZED");
  int asan = sanitized && strcmp(sanitized, "yes") == 0;
  int st =
      tu_run_capture(&out, &err, "cd '%s' && ulimit -v %s && timeout -k 1 %d '%s' check '%s.yaml'",
                     corpus_dir, asan ? "unlimited" : "1048576", asan ? 20 : 2, tu_pmmc(), name);
  if (strcmp(err, expected) != 0) {
    char la[256], lb[256];
    int line = first_diff_line(expected, err, la, lb, sizeof la);
    fprintf(stderr, "---- %s.yaml: expected stderr (%s.err)\n%s---- actual stderr\n%s---- end\n",
            name, name, expected, err);
    ck_abort_msg("%s.yaml: stderr differs from %s.err at line %d:\n  expected: %s\n  actual:   %s",
                 name, name, line, la, lb);
  }
  ck_assert_msg(st == 1, "%s.yaml: exit status %d, expected 1", name, st);
  ck_assert_msg(out[0] == '\0', "%s.yaml: stdout not empty: %s", name, out);
  free(out);
  free(err);
  free(expected);
}
END_TEST

int main(void) {
  snprintf(corpus_dir, sizeof corpus_dir, "%s/tests/frontend/bad", tu_srcdir());
  cases = list_corpus(".yaml", &ncases);
  printf("test_golden: %zu malformed models in %s (no random seeds used)\n", ncases, corpus_dir);

  Suite *s = suite_create("frontend-golden");
  TCase *tc = tcase_create("corpus");
  tcase_add_test(tc, test_corpus_size);
  tcase_add_loop_test(tc, test_corpus_case, 0, (int)ncases);
  suite_add_tcase(s, tc);
  int failed = tu_run_suite(s);
  for (size_t i = 0; i < ncases; i++) free(cases[i]);
  free(cases);
  return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
