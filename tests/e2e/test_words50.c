/*
 * test_words50.c - models/words50 end to end: the compiled
 * Dirichlet-Categorical sampler with an exact network over 50 words must
 * produce only those words, in proportion to their weights, with smoothing 0
 * (the shipped model) and with smoothing 0.3 (a copy written by this test);
 * and `--format txt` must print exactly the decoded words.
 *
 * What the samples should look like.  The data distribution is
 * sum_k w_k delta(word_k) (models/words50/words.txt: word, TAB, weight; read
 * here).  A sample is the argmax over symbols of mu_T = (beta + C_T) /
 * (K beta + N_T) per position, as symbol indices; with A_T = 1000 the chosen
 * word's symbol has about A_T ((1 - eps) + eps / K) counts at each position
 * (1000 with eps = 0, 711 with eps = 0.3) and every other symbol about
 * A_T eps / K (0 or 11), so the argmax is the chosen word, padded with index 0.
 * A double-precision simulation of this chain (20,000 samples each) produced
 * only words and matched the weights (chi-square p = 0.65 with eps = 0, 0.07
 * with eps = 0.3, where a small discretisation bias shows at that size).
 *
 * With eps = 0 one step can draw two jumps that no single word explains
 * (e.g. 'y' at position 0 from "yips" and 'x' at position 2 from "tax"): about
 * 7% of chains do at 200 steps, and the counts stay.  The simulation then
 * used the eps -> 0 limit of the smoothed posterior, whose log-likelihood
 * m_k log(1 + K (1 - eps) / eps) (m_k: counts on word k's symbols) puts all
 * weight on the words with the largest m_k; later counts come from those
 * words and dominate, so the output is still a word.  Any rule that instead
 * gives up on such counts (e.g. falls back to the prior) decodes position by
 * position and produces non-words, which the membership check catches.
 *
 * Tolerances (n = N_SAMPLES per model, compiled sampler, seeds printed):
 *  - every row is exactly one word's padded index vector (no tolerance: the
 *    output is integer-valued);
 *  - word frequencies: Pearson chi-square against the weights, p > 0.001
 *    (the rarest word expects N_SAMPLES / 125 = 40 samples);
 *  - `--format txt` with the same seed prints N_SAMPLES lines equal, in
 *    order, to the npy rows decoded through the vocabulary with the padding
 *    symbol stripped (exact).
 */
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tests/e2e/e2e.h"

#define N_SAMPLES 5000
#define N_TXT 1000
#define SEED_EPS0 31337ULL
#define SEED_EPS3 271828ULL
#define SEED_TXT 99ULL
#define MAX_WORDS 64
#define LEN 8

static const char vocab[] = "_abcdefghijklmnopqrstuvwxyz";

static e2e_env env;
static char yaml0[PATH_MAX], yaml3[PATH_MAX], bin0[PATH_MAX], bin3[PATH_MAX];
static int st0 = -1, st3 = -1, setup_status = -1;
static char setup_error[512];

typedef struct word_set {
  size_t n;
  char word[MAX_WORDS][LEN + 1];
  double prob[MAX_WORDS];
} word_set;

/* Parse words.txt: "word<TAB>weight" per line. */
static void load_words(word_set *ws) {
  char path[PATH_MAX];
  e2e_path(path, sizeof path, "%s/models/words50/words.txt", tu_srcdir());
  char *text = tu_read_file(path, NULL);
  ck_assert_msg(text != NULL, "cannot read %s", path);
  memset(ws, 0, sizeof *ws);
  double sum = 0.0;
  char *save = NULL;
  for (char *line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
    char *tab = strchr(line, '\t');
    ck_assert_msg(tab != NULL, "%s: line '%s' has no TAB and weight", path, line);
    *tab = '\0';
    size_t len = strlen(line);
    ck_assert_msg(ws->n < MAX_WORDS && len >= 1 && len <= LEN, "%s: bad word '%s'", path, line);
    memcpy(ws->word[ws->n], line, len + 1);
    ws->prob[ws->n] = strtod(tab + 1, NULL);
    ck_assert_msg(ws->prob[ws->n] > 0.0, "%s: bad weight for '%s'", path, line);
    sum += ws->prob[ws->n];
    ws->n++;
  }
  free(text);
  ck_assert_msg(ws->n == 50, "%s has %zu words, expected 50", path, ws->n);
  for (size_t k = 0; k < ws->n; k++) ws->prob[k] /= sum;
}

/* Decode one row of symbol indices; asserts every index is a valid symbol
 * and that padding occurs only as a suffix. */
static void decode_row(const float *row, char *out, size_t i, const char *who) {
  size_t len = 0;
  int padded = 0;
  for (size_t l = 0; l < LEN; l++) {
    float v = row[l];
    ck_assert_msg(v >= 0.0f && v < (float)(sizeof vocab - 1) && v == floorf(v),
                  "%s: sample %zu position %zu is %g, not a symbol index 0..%zu", who, i, l,
                  (double)v, sizeof vocab - 2);
    int c = (int)v;
    if (c == 0) {
      padded = 1;
      continue;
    }
    ck_assert_msg(!padded, "%s: sample %zu has a symbol after padding at position %zu", who, i, l);
    out[len++] = vocab[c];
  }
  out[len] = '\0';
}

/* Sample, check membership and frequencies. */
static void check_model(const char *bin, int build_st, const char *yaml, unsigned long long seed,
                        const char *who) {
  ck_assert_msg(build_st == 0, "%s: pmmc build of %s failed with status %d", who, yaml, build_st);
  word_set ws;
  load_words(&ws);
  char out[PATH_MAX];
  e2e_path(out, sizeof out, "%s.npy", bin);
  printf("%s: seed %llu, %d samples\n", who, seed, N_SAMPLES);
  int st = tu_run("'%s' -n %d -s %llu --threads 2 -o '%s'", bin, N_SAMPLES, seed, out);
  ck_assert_msg(st == 0, "%s: compiled sampler exited with %d", who, st);
  e2e_npy s;
  e2e_npy_load(out, N_SAMPLES, LEN, &s);
  uint64_t count[MAX_WORDS] = {0};
  for (size_t i = 0; i < N_SAMPLES; i++) {
    char w[LEN + 1];
    decode_row(s.a.data + i * LEN, w, i, who);
    size_t k = 0;
    while (k < ws.n && strcmp(ws.word[k], w) != 0) k++;
    ck_assert_msg(k < ws.n, "%s seed %llu: sample %zu is '%s', not one of the 50 words", who, seed,
                  i, w);
    count[k]++;
  }
  double pval = tu_chisq_pvalue(count, ws.prob, ws.n);
  size_t worst = 0;
  double worst_z = 0.0;
  for (size_t k = 0; k < ws.n; k++) {
    double e = ws.prob[k] * N_SAMPLES, z = ((double)count[k] - e) / sqrt(e);
    if (fabs(z) > fabs(worst_z)) {
      worst = k;
      worst_z = z;
    }
  }
  printf("%s seed %llu: all %d samples are words; chi-square p = %.4g (df %zu); largest "
         "deviation '%s': %llu vs %.1f expected (z = %.2f)\n",
         who, seed, N_SAMPLES, pval, ws.n - 1, ws.word[worst], (unsigned long long)count[worst],
         ws.prob[worst] * N_SAMPLES, worst_z);
  ck_assert_msg(pval > 0.001,
                "%s seed %llu: word frequencies fail chi-square against the weights: p = %.3g", who,
                seed, pval);
  e2e_npy_free(&s);
}

START_TEST(test_smoothing0) { check_model(bin0, st0, yaml0, SEED_EPS0, "words50 (smoothing 0)"); }
END_TEST

START_TEST(test_smoothing03) {
  ck_assert_msg(setup_status == 0, "writing the smoothing-0.3 model failed: %s", setup_error);
  check_model(bin3, st3, yaml3, SEED_EPS3, "words50 (smoothing 0.3)");
}
END_TEST

START_TEST(test_format_txt) {
  ck_assert_msg(st0 == 0, "pmmc build of %s failed with status %d", yaml0, st0);
  char npy[PATH_MAX], txt[PATH_MAX];
  e2e_path(npy, sizeof npy, "%s/txt.npy", env.dir);
  e2e_path(txt, sizeof txt, "%s/txt.txt", env.dir);
  printf("--format txt: seed %llu, %d samples\n", SEED_TXT, N_TXT);
  int st = tu_run("'%s' -n %d -s %llu --threads 2 -o '%s'", bin0, N_TXT, SEED_TXT, npy);
  ck_assert_msg(st == 0, "sampler (npy) exited with %d", st);
  st = tu_run("'%s' -n %d -s %llu --threads 2 --format txt -o '%s'", bin0, N_TXT, SEED_TXT, txt);
  ck_assert_msg(st == 0, "sampler (--format txt) exited with %d", st);
  e2e_npy s;
  e2e_npy_load(npy, N_TXT, LEN, &s);
  size_t len;
  char *text = tu_read_file(txt, &len);
  ck_assert_msg(text != NULL, "cannot read %s", txt);
  ck_assert_msg(len > 0 && text[len - 1] == '\n', "%s does not end with a newline", txt);
  ck_assert_msg(strlen(text) == len, "%s contains a NUL byte", txt);
  char *line = text;
  for (size_t i = 0; i < N_TXT; i++) {
    char *nl = strchr(line, '\n');
    ck_assert_msg(nl != NULL, "%s has %zu lines, expected %d", txt, i, N_TXT);
    *nl = '\0';
    char want[LEN + 1];
    decode_row(s.a.data + i * LEN, want, i, "txt reference");
    ck_assert_msg(strcmp(line, want) == 0, "%s line %zu is '%s', the npy row decodes to '%s'", txt,
                  i + 1, line, want);
    line = nl + 1;
  }
  ck_assert_msg(*line == '\0', "%s has more than %d lines", txt, N_TXT);
  printf("--format txt: %d lines match the decoded npy rows\n", N_TXT);
  free(text);
  e2e_npy_free(&s);
}
END_TEST

/* The shipped model with smoothing 0.3, next to a copy of its words. */
static int setup_smoothing(void) {
  char path[PATH_MAX], *words = NULL, *model = NULL;
  int rc = -1;
  if (e2e_format(path, sizeof path, "%s/models/words50/words.txt", tu_srcdir()) != 0) goto out;
  words = tu_read_file(path, NULL);
  if (!words) {
    e2e_format(setup_error, sizeof setup_error, "cannot read %s", path);
    goto out;
  }
  if (e2e_format(path, sizeof path, "%s/words.txt", env.dir) != 0 ||
      e2e_write_text(path, words, setup_error, sizeof setup_error) != 0)
    goto out;
  model = tu_read_file(yaml0, NULL);
  const char *key = "smoothing: 0.0";
  char *at = model ? strstr(model, key) : NULL;
  if (!at) {
    e2e_format(setup_error, sizeof setup_error, "%s does not contain '%s'", yaml0, key);
    goto out;
  }
  memcpy(at, "smoothing: 0.3", strlen(key));
  if (e2e_format(yaml3, sizeof yaml3, "%s/words50s.yaml", env.dir) != 0 ||
      e2e_write_text(yaml3, model, setup_error, sizeof setup_error) != 0)
    goto out;
  rc = 0;
out:
  free(words);
  free(model);
  return rc;
}

int main(void) {
  if (e2e_env_init(&env, "words50") != 0 || e2e_model_yaml("words50", yaml0, sizeof yaml0) != 0)
    return EXIT_FAILURE;
  st0 = e2e_build(yaml0, "", env.dir, "words50", bin0, sizeof bin0);
  setup_status = setup_smoothing();
  if (setup_status == 0)
    st3 = e2e_build(yaml3, "", env.dir, "words50s", bin3, sizeof bin3);
  else
    fprintf(stderr, "setup failed: %s\n", setup_error);

  Suite *s = suite_create("e2e_words50");
  TCase *tc = tcase_create("words50");
  tcase_set_timeout(tc, 900);
  tcase_add_test(tc, test_smoothing0);
  tcase_add_test(tc, test_smoothing03);
  tcase_add_test(tc, test_format_txt);
  suite_add_tcase(s, tc);
  int failed = tu_run_suite(s);
  e2e_env_finish(&env, failed);
  return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
