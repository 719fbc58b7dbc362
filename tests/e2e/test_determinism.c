/*
 * test_determinism.c - the determinism contract of docs/determinism.md on the
 * gmm8 sampler: sample i depends only on (binary, seed, i), so the same seed
 * gives the same bytes whatever -n, --first-index, --threads or --shard.
 *
 * Everything here is exact: payloads (and, where the same command is
 * repeated, whole files) are compared bytewise; there is no tolerance except
 * for the CSV check, where decimal text is compared with the float32 values.
 * Two samplers are built: the default block size and --block-size 16 (so
 * --first-index 401 and odd shard boundaries fall inside a block).  The
 * Poisson pairs (models/counts5, models/words50, block size 16) are checked
 * too: their draws are keyed like the normals, so the contract is the same.
 */
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tests/e2e/e2e.h"

#define SEED_A 7ULL
#define SEED_B 8ULL

static e2e_env env;
static char sampler[PATH_MAX], sampler16[PATH_MAX];
static int build_status = -1, build16_status = -1;

/* The Poisson pairs: model folder, floats per sample, sampler, build status. */
static struct {
  const char *model;
  uint64_t cols;
  char yaml[PATH_MAX], bin[PATH_MAX];
  int status;
} poisson_models[] = {{"counts5", 3, "", "", -1}, {"words50", 8, "", "", -1}};
#define N_POISSON (sizeof poisson_models / sizeof poisson_models[0])

/* Run SAMPLER -s SEED ARGS -o DIR/NAME.npy and load the result ([rows, 2]). */
static void draw(const char *bin, unsigned long long seed, const char *args, const char *name,
                 uint64_t rows, e2e_npy *out) {
  char path[PATH_MAX];
  e2e_path(path, sizeof path, "%s/%s.npy", env.dir, name);
  int st = tu_run("'%s' -s %llu %s -o '%s'", bin, seed, args, path);
  ck_assert_msg(st == 0, "sampler %s -s %llu %s exited with %d", bin, seed, args, st);
  e2e_npy_load(path, rows, 2, out);
}

static void assert_same_bytes(const e2e_npy *a, const e2e_npy *b, const char *what) {
  ck_assert_msg(a->len == b->len, "%s: files differ in size (%zu vs %zu bytes)", what, a->len,
                b->len);
  size_t i = 0;
  while (i < a->len && a->bytes[i] == b->bytes[i]) i++;
  ck_assert_msg(i == a->len, "%s: files differ first at byte %zu", what, i);
}

/* The payloads of parts[0..nparts) concatenated must equal whole's payload
 * byte for byte. */
static void assert_concat_equals(const e2e_npy *whole, const e2e_npy *parts, size_t nparts,
                                 const char *what) {
  size_t off = 0;
  for (size_t p = 0; p < nparts; p++) {
    ck_assert_msg(off + parts[p].payload_len <= whole->payload_len,
                  "%s: parts hold more data than the whole run", what);
    const char *w = whole->bytes + whole->payload + off;
    const char *q = parts[p].bytes + parts[p].payload;
    size_t i = 0;
    while (i < parts[p].payload_len && w[i] == q[i]) i++;
    ck_assert_msg(i == parts[p].payload_len,
                  "%s: part %zu differs from the whole run at payload byte %zu (row %zu)", what, p,
                  off + i, (off + i) / (whole->payload_len / whole->a.shape[0]));
    off += parts[p].payload_len;
  }
  ck_assert_msg(off == whole->payload_len, "%s: parts cover %zu of %zu payload bytes", what, off,
                whole->payload_len);
}

static void free_all(e2e_npy *v, size_t n) {
  for (size_t i = 0; i < n; i++) e2e_npy_free(&v[i]);
}

static void require_builds(void) {
  ck_assert_msg(build_status == 0, "pmmc build of %s failed with status %d", env.gmm8_yaml,
                build_status);
}

START_TEST(test_same_seed_same_bytes) {
  require_builds();
  printf("same seed: %llu twice, -n 1000\n", SEED_A);
  e2e_npy r[2];
  draw(sampler, SEED_A, "-n 1000", "same1", 1000, &r[0]);
  draw(sampler, SEED_A, "-n 1000", "same2", 1000, &r[1]);
  assert_same_bytes(&r[0], &r[1], "same seed twice");
  free_all(r, 2);
}
END_TEST

START_TEST(test_different_seed_differs) {
  require_builds();
  printf("different seeds: %llu and %llu, -n 1000\n", SEED_A, SEED_B);
  e2e_npy r[2];
  draw(sampler, SEED_A, "-n 1000", "seedA", 1000, &r[0]);
  draw(sampler, SEED_B, "-n 1000", "seedB", 1000, &r[1]);
  /* Continuous float32 output: two seeds agreeing on a whole row would
   * mean the seed does not reach that sample's noise. */
  size_t equal_rows = 0;
  for (size_t i = 0; i < 1000; i++)
    if (memcmp(r[0].a.data + 2 * i, r[1].a.data + 2 * i, 2 * sizeof(float)) == 0) equal_rows++;
  ck_assert_msg(equal_rows == 0, "seeds %llu and %llu give %zu identical rows of 1000", SEED_A,
                SEED_B, equal_rows);
  free_all(r, 2);
}
END_TEST

START_TEST(test_first_index) {
  require_builds();
  printf("first index: seed %llu, -n 1000 vs -n 400 + --first-index 400 -n 600\n", SEED_A);
  e2e_npy whole, parts[2];
  draw(sampler, SEED_A, "-n 1000", "fi_whole", 1000, &whole);
  draw(sampler, SEED_A, "-n 400", "fi_a", 400, &parts[0]);
  draw(sampler, SEED_A, "--first-index 400 -n 600", "fi_b", 600, &parts[1]);
  assert_concat_equals(&whole, parts, 2, "-n 400 + --first-index 400 -n 600 vs -n 1000");
  e2e_npy_free(&whole);
  free_all(parts, 2);
}
END_TEST

START_TEST(test_threads) {
  require_builds();
  printf("threads: seed %llu, -n 1000 with --threads 1, 2 and 3\n", SEED_A);
  e2e_npy r[3];
  draw(sampler, SEED_A, "-n 1000 --threads 1", "thr1", 1000, &r[0]);
  draw(sampler, SEED_A, "-n 1000 --threads 2", "thr2", 1000, &r[1]);
  draw(sampler, SEED_A, "-n 1000 --threads 3", "thr3", 1000, &r[2]);
  assert_same_bytes(&r[0], &r[1], "--threads 1 vs --threads 2");
  assert_same_bytes(&r[0], &r[2], "--threads 1 vs --threads 3");
  free_all(r, 3);
}
END_TEST

/* Shard K of N of -n n holds rows [floor(n K / N), floor(n (K + 1) / N)). */
static void check_shards(const char *bin, uint64_t n, unsigned nshards, const char *tag) {
  printf("shards: seed %llu, -n %llu in %u shards (%s)\n", SEED_A, (unsigned long long)n, nshards,
         tag);
  char args[128], name[64];
  e2e_npy whole, parts[8];
  ck_assert(nshards <= 8);
  e2e_path(args, sizeof args, "-n %llu", (unsigned long long)n);
  e2e_path(name, sizeof name, "%s_sh_whole_%llu", tag, (unsigned long long)n);
  draw(bin, SEED_A, args, name, n, &whole);
  for (unsigned k = 0; k < nshards; k++) {
    uint64_t lo = n * k / nshards, hi = n * (k + 1) / nshards;
    e2e_path(args, sizeof args, "-n %llu --shard %u/%u", (unsigned long long)n, k, nshards);
    e2e_path(name, sizeof name, "%s_sh_%llu_%u_%u", tag, (unsigned long long)n, k, nshards);
    draw(bin, SEED_A, args, name, hi - lo, &parts[k]);
  }
  char what[128];
  e2e_path(what, sizeof what, "%u shards of -n %llu (%s)", nshards, (unsigned long long)n, tag);
  assert_concat_equals(&whole, parts, nshards, what);
  e2e_npy_free(&whole);
  free_all(parts, nshards);
}

START_TEST(test_shards) {
  require_builds();
  check_shards(sampler, 1000, 2, "default");
  check_shards(sampler, 999, 2, "default");
  check_shards(sampler, 1000, 3, "default");
}
END_TEST

START_TEST(test_block_size_16) {
  ck_assert_msg(build16_status == 0, "pmmc build --block-size 16 of %s failed with status %d",
                env.gmm8_yaml, build16_status);
  printf("block size 16: seed %llu\n", SEED_A);
  e2e_npy r[3], parts[2];
  draw(sampler16, SEED_A, "-n 1000 --threads 1", "b16_t1", 1000, &r[0]);
  draw(sampler16, SEED_A, "-n 1000 --threads 2", "b16_t2", 1000, &r[1]);
  draw(sampler16, SEED_A, "-n 1000 --threads 1", "b16_again", 1000, &r[2]);
  assert_same_bytes(&r[0], &r[2], "block size 16, same seed twice");
  assert_same_bytes(&r[0], &r[1], "block size 16, --threads 1 vs --threads 2");
  /* 401 is not a multiple of 16: the split falls inside a block. */
  draw(sampler16, SEED_A, "-n 401", "b16_a", 401, &parts[0]);
  draw(sampler16, SEED_A, "--first-index 401 -n 599", "b16_b", 599, &parts[1]);
  assert_concat_equals(&r[0], parts, 2,
                       "block size 16: -n 401 + --first-index 401 -n 599 vs -n 1000");
  free_all(r, 3);
  free_all(parts, 2);
  check_shards(sampler16, 999, 2, "b16");
}
END_TEST

/* Parse CSV data rows of two numbers each; lines that do not start like a
 * number (a header or a '#' comment) are skipped.  Returns the row count
 * and stores up to cap rows. */
static size_t parse_csv(const char *text, float *vals, size_t cap) {
  size_t rows = 0;
  const char *line = text;
  while (line && *line) {
    const char *next = strchr(line, '\n');
    while (*line == ' ' || *line == '\t') line++;
    if (strchr("0123456789+-.", *line) && *line != '\n' && *line != '\0') {
      char *end;
      double a = strtod(line, &end);
      if (end == line || *end != ',')
        ck_abort_msg("CSV row %zu: expected 'x,y', got '%.40s'", rows, line);
      const char *p = end + 1;
      double b = strtod(p, &end);
      if (end == p) ck_abort_msg("CSV row %zu: expected a second number in '%.40s'", rows, line);
      while (*end == ' ' || *end == '\t' || *end == '\r') end++;
      if (*end != '\n' && *end != '\0')
        ck_abort_msg("CSV row %zu: more than two values: '%.60s'", rows, line);
      if (rows < cap) {
        vals[2 * rows] = (float)a;
        vals[2 * rows + 1] = (float)b;
      }
      rows++;
    }
    line = next ? next + 1 : NULL;
  }
  return rows;
}

/* CSV is decimal text: with at least 6 significant digits, values in
 * [-3, 3] are off by at most 5e-6 absolute, below the 1e-5 (1 + |v|) allowed
 * here; a row shifted, dropped or computed differently is far outside it. */
START_TEST(test_csv_matches_npy) {
  require_builds();
  printf("csv vs npy: seed %llu, -n 300\n", SEED_A);
  enum { N = 300 };
  e2e_npy ref;
  draw(sampler, SEED_A, "-n 300", "csvref", N, &ref);
  char csv[PATH_MAX];
  e2e_path(csv, sizeof csv, "%s/out.csv", env.dir);
  int st = tu_run("'%s' -s %llu -n 300 -o '%s'", sampler, SEED_A, csv);
  ck_assert_msg(st == 0, "sampler -o %s exited with %d", csv, st);
  char *file = tu_read_file(csv, NULL);
  ck_assert_msg(file != NULL, "cannot read %s", csv);
  char *out = NULL;
  st = tu_run_capture(&out, NULL, "'%s' -s %llu -n 300 -o -", sampler, SEED_A);
  ck_assert_msg(st == 0, "sampler -o - exited with %d", st);
  ck_assert_msg(strcmp(out, file) == 0,
                "-o - (CSV on stdout) differs from -o out.csv (CSV by extension)");
  float vals[2 * N];
  size_t rows = parse_csv(file, vals, N);
  ck_assert_msg(rows == N, "CSV has %zu data rows, expected %d", rows, N);
  size_t where;
  double worst = e2e_max_scaled_diff(vals, ref.a.data, 2 * N, &where);
  printf("csv vs npy: max |csv - npy| / (1 + |npy|) = %.3g\n", worst);
  ck_assert_msg(worst <= 1e-5, "CSV value %zu is %.9g, the .npy has %.9g (tolerance 1e-5 (1+|v|))",
                where, (double)vals[where], (double)ref.a.data[where]);
  free(file);
  free(out);
  e2e_npy_free(&ref);
}
END_TEST

/* One run into DIR/NAME.npy, loaded as [rows, cols]. */
static void draw_cols(const char *bin, const char *args, const char *name, uint64_t rows,
                      uint64_t cols, e2e_npy *out) {
  char path[PATH_MAX];
  e2e_path(path, sizeof path, "%s/%s.npy", env.dir, name);
  int st = tu_run("'%s' -s %llu %s -o '%s'", bin, SEED_A, args, path);
  ck_assert_msg(st == 0, "sampler %s -s %llu %s exited with %d", bin, SEED_A, args, st);
  e2e_npy_load(path, rows, cols, out);
}

/* -n 300 on one thread equals -n 131 plus --first-index 131 -n 169 on two
 * threads (131 falls inside a block of 16), and three shards. */
START_TEST(test_poisson_pairs) {
  const char *m = poisson_models[_i].model;
  uint64_t cols = poisson_models[_i].cols;
  const char *bin = poisson_models[_i].bin;
  ck_assert_msg(poisson_models[_i].status == 0,
                "pmmc build --block-size 16 of %s failed with "
                "status %d",
                poisson_models[_i].yaml, poisson_models[_i].status);
  printf("%s (block size 16): seed %llu\n", m, SEED_A);
  char name[64], what[128];
  e2e_npy whole, parts[3];
  e2e_path(name, sizeof name, "%s_whole", m);
  draw_cols(bin, "-n 300 --threads 1", name, 300, cols, &whole);
  e2e_path(name, sizeof name, "%s_a", m);
  draw_cols(bin, "-n 131 --threads 2", name, 131, cols, &parts[0]);
  e2e_path(name, sizeof name, "%s_b", m);
  draw_cols(bin, "--first-index 131 -n 169 --threads 2", name, 169, cols, &parts[1]);
  e2e_path(what, sizeof what, "%s: -n 131 + --first-index 131 -n 169 (2 threads) vs -n 300", m);
  assert_concat_equals(&whole, parts, 2, what);
  free_all(parts, 2);
  uint64_t rows[3] = {100, 100, 100};
  for (unsigned k = 0; k < 3; k++) {
    char args[64];
    e2e_path(args, sizeof args, "-n 300 --shard %u/3", k);
    e2e_path(name, sizeof name, "%s_shard%u", m, k);
    draw_cols(bin, args, name, rows[k], cols, &parts[k]);
  }
  e2e_path(what, sizeof what, "%s: 3 shards of -n 300 vs -n 300", m);
  assert_concat_equals(&whole, parts, 3, what);
  free_all(parts, 3);
  e2e_npy_free(&whole);
}
END_TEST

int main(void) {
  if (e2e_env_init(&env, "determinism") != 0) return EXIT_FAILURE;
  build_status = e2e_build(env.gmm8_yaml, "", env.dir, "gmm8", sampler, sizeof sampler);
  build16_status =
      e2e_build(env.gmm8_yaml, "--block-size 16", env.dir, "gmm8_b16", sampler16, sizeof sampler16);
  for (size_t i = 0; i < N_POISSON; i++) {
    if (e2e_model_yaml(poisson_models[i].model, poisson_models[i].yaml,
                       sizeof poisson_models[i].yaml) == 0)
      poisson_models[i].status =
          e2e_build(poisson_models[i].yaml, "--block-size 16", env.dir, poisson_models[i].model,
                    poisson_models[i].bin, sizeof poisson_models[i].bin);
  }

  Suite *s = suite_create("e2e_determinism");
  TCase *tc = tcase_create("determinism");
  tcase_set_timeout(tc, 900);
  tcase_add_test(tc, test_same_seed_same_bytes);
  tcase_add_test(tc, test_different_seed_differs);
  tcase_add_test(tc, test_first_index);
  tcase_add_test(tc, test_threads);
  tcase_add_test(tc, test_shards);
  tcase_add_test(tc, test_block_size_16);
  tcase_add_test(tc, test_csv_matches_npy);
  tcase_add_loop_test(tc, test_poisson_pairs, 0, (int)N_POISSON);
  suite_add_tcase(s, tc);
  int failed = tu_run_suite(s);
  e2e_env_finish(&env, failed);
  return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
