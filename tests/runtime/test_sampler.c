/*
 * test_sampler.c - the blocked sample loop and the sampler command line,
 * driven by a toy model written in C.
 *
 * The toy's sample i, element e is a fixed function of two Philox normals
 * (steps 0 and 1) and of i, computed a whole block at a time through the
 * worker's scratch memory; so any mix-up of rows, blocks, keys, indices or
 * scratch between threads changes the output.  The toy also returns an
 * error code if the runtime breaks its promises (alignment, block
 * boundaries, key derivation).  pmm_sampler_main runs in-process: Check
 * forks each test, so its global state (stdout, getopt) cannot leak.
 */
#include <check.h>
#include <dirent.h>
#include <fcntl.h>
#include <float.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "tests/util/testutil.h"

#define TOY_BLOCK 8u
#define NEVER UINT64_MAX

typedef struct toy_user {
  uint64_t elems;
  uint64_t fail_at; /* run_block fails on the block holding this index */
} toy_user;

static float toy_value(float z0, float z1, uint64_t index, uint64_t e) {
  return z0 + 0.5f * z1 + 1e-3f * (float)(index % 1000) + 0.01f * (float)e;
}

static int toy_run_block(void *user, const pmm_block *blk) {
  const toy_user *u = user;
  if ((uintptr_t)blk->scratch % 64 != 0) return 7;
  if (blk->first_index % TOY_BLOCK != 0) return 8;
  uint32_t key[2];
  pmm_rng_key(blk->seed, 0, key);
  if (key[0] != blk->key[0] || key[1] != blk->key[1]) return 9;
  if (u->fail_at != NEVER && u->fail_at >= blk->first_index &&
      u->fail_at < blk->first_index + TOY_BLOCK)
    return 3;
  size_t n = (size_t)u->elems;
  float *z0 = blk->scratch, *z1 = z0 + TOY_BLOCK * n;
  pmm_rng_normal_block(blk->key, blk->first_index, TOY_BLOCK, 0, n, z0);
  pmm_rng_normal_block(blk->key, blk->first_index, TOY_BLOCK, 1, n, z1);
  for (size_t r = 0; r < TOY_BLOCK; r++) {
    for (size_t e = 0; e < n; e++)
      blk->out[r * n + e] = toy_value(z0[r * n + e], z1[r * n + e], blk->first_index + r, e);
  }
  return 0;
}

/* The toy's value computed for one sample on its own. */
static void toy_expected(uint64_t seed, uint64_t index, size_t n, float *out) {
  uint32_t key[2];
  pmm_rng_key(seed, 0, key);
  float z0[4096], z1[4096];
  ck_assert(n <= 4096);
  pmm_rng_normal_block(key, index, 1, 0, n, z0);
  pmm_rng_normal_block(key, index, 1, 1, n, z1);
  for (size_t e = 0; e < n; e++) out[e] = toy_value(z0[e], z1[e], index, e);
}

static toy_user toy3 = {3, NEVER}, toy_wide = {4096, NEVER};

static pmm_model_desc toy_desc(toy_user *u) {
  pmm_model_desc d = {
      .abi = PMM_DESC_ABI,
      .name = "toy",
      .pair = "normal-normal",
      .sampler = "pmm",
      .output = "posterior-mean",
      .schedule = "geometric, A from 0.5 to 8",
      .engine = "test harness",
      .weight_hash = "0123abcd",
      .steps = 2,
      .rank = 1,
      .shape = {u->elems},
      .sample_elems = u->elems,
      .block_size = TOY_BLOCK,
      .scratch_bytes = 2 * TOY_BLOCK * u->elems * sizeof(float),
      .flops_per_sample = 42,
      .weight_bytes = 0,
      .run_block = toy_run_block,
      .user = u,
  };
  if (u->elems == 4096) {
    d.rank = 2;
    d.shape[0] = 64;
    d.shape[1] = 64;
  }
  return d;
}

static float *generate(const pmm_model_desc *d, uint64_t seed, uint64_t first, uint64_t count,
                       unsigned threads) {
  float *out = malloc((count ? count : 1) * d->sample_elems * sizeof(float));
  ck_assert_ptr_nonnull(out);
  char err[256] = "";
  pmm_status st = pmm_sampler_generate(d, seed, first, count, threads, out, err, sizeof err);
  ck_assert_msg(st == PMM_OK, "generate(seed %llu, first %llu, count %llu, threads %u): %s",
                (unsigned long long)seed, (unsigned long long)first, (unsigned long long)count,
                threads, err);
  return out;
}

/* ---- pmm_sampler_generate ----------------------------------------------- */

START_TEST(test_generate_values) {
  pmm_model_desc d = toy_desc(&toy3);
  uint64_t seed = 5, first = 5, count = 37;
  fprintf(stderr, "generate_values: seed=%llu\n", (unsigned long long)seed);
  float *got = generate(&d, seed, first, count, 1);
  for (uint64_t i = 0; i < count; i++) {
    float want[3];
    toy_expected(seed, first + i, 3, want);
    ck_assert_msg(memcmp(got + i * 3, want, sizeof want) == 0, "sample %llu differs",
                  (unsigned long long)(first + i));
  }
  free(got);
}
END_TEST

START_TEST(test_generate_threads) {
  pmm_model_desc d = toy_desc(&toy3);
  float *one = generate(&d, 7, 0, 1000, 1);
  const unsigned threads[] = {2, 3, 0, 64};
  for (size_t t = 0; t < sizeof threads / sizeof threads[0]; t++) {
    float *other = generate(&d, 7, 0, 1000, threads[t]);
    ck_assert_msg(memcmp(one, other, 1000 * 3 * sizeof(float)) == 0, "threads %u differ",
                  threads[t]);
    free(other);
  }
  free(one);
}
END_TEST

START_TEST(test_generate_splits) {
  pmm_model_desc d = toy_desc(&toy3);
  float *full = generate(&d, 7, 0, 1000, 2);
  float *a = generate(&d, 7, 0, 400, 2), *b = generate(&d, 7, 400, 600, 3);
  ck_assert(memcmp(full, a, 400 * 3 * sizeof(float)) == 0);
  ck_assert(memcmp(full + 400 * 3, b, 600 * 3 * sizeof(float)) == 0);
  float *odd = generate(&d, 7, 13, 50, 4), *single = generate(&d, 7, 999, 1, 1);
  ck_assert(memcmp(full + 13 * 3, odd, 50 * 3 * sizeof(float)) == 0);
  ck_assert(memcmp(full + 999 * 3, single, 3 * sizeof(float)) == 0);
  free(a);
  free(b);
  free(odd);
  free(single);

  /* Sample indices past 2^32 use the counter's high word. */
  uint64_t far = (1ULL << 40) + 3;
  float *hi = generate(&d, 7, far, 20, 2), want[3];
  for (uint64_t i = 0; i < 20; i++) {
    toy_expected(7, far + i, 3, want);
    ck_assert(memcmp(hi + i * 3, want, sizeof want) == 0);
  }
  ck_assert(memcmp(hi, full + 3 * 3, 3 * sizeof(float)) != 0);
  free(hi);

  /* Seeds matter: no value of seed 8 equals seed 7's. */
  float *other = generate(&d, 8, 0, 1000, 2);
  for (size_t i = 0; i < 3000; i++)
    ck_assert_msg(other[i] != full[i], "seeds 7 and 8 agree at %zu", i);
  free(other);
  free(full);
}
END_TEST

START_TEST(test_generate_errors) {
  pmm_model_desc d = toy_desc(&toy3);
  float out[3 * 64];
  char err[256];
  ck_assert_int_eq(pmm_sampler_generate(&d, 1, 5, 0, 1, out, err, sizeof err), PMM_OK);
  ck_assert_int_eq(pmm_sampler_generate(&d, 1, UINT64_MAX - 1, 3, 1, out, err, sizeof err),
                   PMM_ERR_USAGE);
  ck_assert_ptr_nonnull(strstr(err, "overflows"));
  /* The block holding the last index would end past 2^64. */
  ck_assert_int_eq(pmm_sampler_generate(&d, 1, UINT64_MAX - 5, 3, 1, out, err, sizeof err),
                   PMM_ERR_USAGE);
  ck_assert_int_eq(pmm_sampler_generate(&d, 1, UINT64_MAX - 20, 3, 1, out, err, sizeof err),
                   PMM_OK);

  pmm_model_desc bad = d;
  bad.abi = 1;
  ck_assert_int_eq(pmm_sampler_generate(&bad, 1, 0, 1, 1, out, err, sizeof err), PMM_ERR_USAGE);
  ck_assert_ptr_nonnull(strstr(err, "ABI"));
  bad = d;
  bad.block_size = 0;
  ck_assert_int_eq(pmm_sampler_generate(&bad, 1, 0, 1, 1, out, err, sizeof err), PMM_ERR_USAGE);
  bad = d;
  bad.sample_elems = UINT64_MAX / 4;
  ck_assert_int_eq(pmm_sampler_generate(&bad, 1, 0, 1, 1, out, err, sizeof err), PMM_ERR_NOMEM);
  bad = d;
  bad.scratch_bytes = UINT64_MAX - 10;
  ck_assert_int_eq(pmm_sampler_generate(&bad, 1, 0, 1, 1, out, err, sizeof err), PMM_ERR_NOMEM);
  ck_assert_int_eq(pmm_sampler_generate(NULL, 1, 0, 1, 1, out, err, sizeof err), PMM_ERR_USAGE);

  toy_user failing = {3, 20};
  pmm_model_desc f = toy_desc(&failing);
  for (unsigned threads = 1; threads <= 4; threads++) {
    ck_assert_int_eq(pmm_sampler_generate(&f, 1, 0, 64, threads, out, err, sizeof err),
                     PMM_ERR_MODEL);
    ck_assert_msg(strstr(err, "model toy failed on samples [16, 24) (code 3)") != NULL, "%s", err);
  }
}
END_TEST

/* The toy, except that the block holding sample 20 meets a NaN at step 3
 * of 10, as a compiled sampler reports it. */
static int toy_nonfinite_run_block(void *user, const pmm_block *blk) {
  int rc = toy_run_block(user, blk);
  if (rc != 0 || blk->first_index != 16) return rc;
  const float values[2] = {1.0f, NAN};
  return pmm_check_finite(blk, 3, 10, "layer 'toy'", 2, values);
}

START_TEST(test_generate_nonfinite) {
  pmm_model_desc d = toy_desc(&toy3);
  d.run_block = toy_nonfinite_run_block;
  float out[64 * 3];
  char err[512];
  const char *want = "sample block [16, 24): non-finite value (nan) at step 3 of 10 in layer 'toy'";
  for (unsigned threads = 1; threads <= 4; threads++) {
    ck_assert_int_eq(pmm_sampler_generate(&d, 1, 0, 64, threads, out, err, sizeof err),
                     PMM_ERR_MODEL);
    ck_assert_msg(strcmp(err, want) == 0, "%s", err);
  }
  void *ws = NULL;
  ck_assert_int_eq(posix_memalign(&ws, 64, pmm_generate_workspace_bytes(&d)), 0);
  ck_assert_int_eq(pmm_generate_serial(&d, 1, 0, 64, ws, out, err, sizeof err), PMM_ERR_MODEL);
  ck_assert_msg(strcmp(err, want) == 0, "%s", err);
  ck_assert_int_eq(pmm_generate_serial(&d, 1, 0, 16, ws, out, err, sizeof err), PMM_OK);
  free(ws);
}
END_TEST

/* What counts as non-finite, and the message for each block and class. */
START_TEST(test_check_finite) {
  const float finite[] = {0.0f, -0.0f, 1.0f, FLT_MAX, -FLT_MAX, FLT_MIN, 1e-45f};
  for (size_t n = 0; n <= sizeof finite / sizeof finite[0]; n++)
    ck_assert_int_eq(pmm_any_nonfinite(n, finite), 0);
  const float bad[] = {NAN, INFINITY, -INFINITY, -NAN};
  float x[37] = {0};
  for (size_t b = 0; b < 4; b++)
    for (size_t at = 0; at < 37; at += 6) {
      x[at] = bad[b];
      ck_assert_int_eq(pmm_any_nonfinite(37, x), 1);
      ck_assert_int_eq(pmm_any_nonfinite(at, x), 0);
      x[at] = 0.0f;
    }

  char msg[128];
  pmm_block blk = {.msg = msg, .msg_len = sizeof msg};
  const float v[3] = {2.0f, -INFINITY, NAN};
  ck_assert_int_eq(pmm_check_finite(&blk, 0, 5, "layer 'a'", 1, v), 0);
  ck_assert_int_eq(pmm_check_finite(&blk, 0, 5, "layer 'a'", 3, v), PMM_RUN_NONFINITE);
  ck_assert_str_eq(msg, "non-finite value (-inf) in the init block in layer 'a'");
  ck_assert_int_eq(pmm_check_finite(&blk, 5, 5, "%3 (mul)", 3, v), PMM_RUN_NONFINITE);
  ck_assert_str_eq(msg, "non-finite value (-inf) at step 5 of 5 in %3 (mul)");
  ck_assert_int_eq(pmm_check_finite(&blk, 6, 5, "table 'A'", 1, v + 2), PMM_RUN_NONFINITE);
  ck_assert_str_eq(msg, "non-finite value (nan) in the final block in table 'A'");
  ck_assert_int_eq(pmm_check_finite(&blk, 1, 0, "layer 'b'", 1, (const float[]){INFINITY}),
                   PMM_RUN_NONFINITE);
  ck_assert_str_eq(msg, "non-finite value (inf) in the final block in layer 'b'");
  /* no buffer: the code alone */
  pmm_block quiet = {.msg = NULL};
  ck_assert_int_eq(pmm_check_finite(&quiet, 2, 5, "layer 'a'", 3, v), PMM_RUN_NONFINITE);
}
END_TEST

/* ---- the command line --------------------------------------------------- */

static char tmpdir[4096];

static void setup(void) { tu_make_tmpdir(tmpdir, sizeof tmpdir); }

static void teardown(void) { tu_remove_tree(tmpdir); }

static char *tmp_path(const char *name) {
  size_t len = strlen(tmpdir) + strlen(name) + 2;
  char *p = malloc(len);
  ck_assert_ptr_nonnull(p);
  snprintf(p, len, "%s/%s", tmpdir, name);
  return p;
}

/* Run pmm_sampler_main(argv...) with stdout and stderr captured into
 * files under capture/; returns the exit status.  *out / *err receive the
 * captured text when non-NULL.  The capture files live outside tmpdir's
 * top level so that "no file was created" checks see only outputs. */
static int run_cli(const pmm_model_desc *d, char **out, char **err, ...) {
  char *argv[64];
  int argc = 0;
  argv[argc++] = "toy";
  va_list ap;
  va_start(ap, err);
  const char *a;
  while ((a = va_arg(ap, const char *)) != NULL) {
    ck_assert(argc < 63);
    argv[argc++] = (char *)a;
  }
  va_end(ap);
  argv[argc] = NULL;
  char *capdir = tmp_path("capture");
  int st = tu_sampler_main(d, capdir, out, err, argc, argv);
  free(capdir);
  return st;
}

/* How many entries tmpdir holds besides the capture folder (each named on
 * stderr, so a failing test shows what was left behind). */
static int tmpdir_outputs(void) {
  DIR *dir = opendir(tmpdir);
  ck_assert_ptr_nonnull(dir);
  int n = 0;
  struct dirent *de;
  while ((de = readdir(dir)) != NULL) {
    if (strcmp(de->d_name, ".") && strcmp(de->d_name, "..") && strcmp(de->d_name, "capture")) {
      fprintf(stderr, "tmpdir holds %s\n", de->d_name);
      n++;
    }
  }
  closedir(dir);
  return n;
}

static void read_npy_in_tmp(const char *name, pmm_array *a) {
  char *p = tmp_path(name);
  tu_read_npy(p, a);
  free(p);
}

START_TEST(test_cli_npy_matches_generate) {
  pmm_model_desc d = toy_desc(&toy3);
  char *full = tmp_path("full.npy"), *a = tmp_path("a.npy"), *b = tmp_path("b.npy");
  ck_assert_int_eq(run_cli(&d, NULL, NULL, "-n", "1000", "--seed", "7", "-o", full, NULL), 0);
  ck_assert_int_eq(run_cli(&d, NULL, NULL, "-n", "400", "-s", "7", "-o", a, NULL), 0);
  ck_assert_int_eq(
      run_cli(&d, NULL, NULL, "--first-index", "400", "-n", "600", "-s", "7", "--output", b, NULL),
      0);
  pmm_array fa, aa, ba;
  read_npy_in_tmp("full.npy", &fa);
  read_npy_in_tmp("a.npy", &aa);
  read_npy_in_tmp("b.npy", &ba);
  ck_assert(fa.rank == 2 && fa.shape[0] == 1000 && fa.shape[1] == 3);
  ck_assert(aa.shape[0] == 400 && ba.shape[0] == 600);
  float *ref = generate(&d, 7, 0, 1000, 1);
  ck_assert(memcmp(fa.data, ref, 3000 * sizeof(float)) == 0);
  ck_assert(memcmp(aa.data, ref, 1200 * sizeof(float)) == 0);
  ck_assert(memcmp(ba.data, ref + 1200, 1800 * sizeof(float)) == 0);
  free(ref);
  pmm_array_free(&fa);
  pmm_array_free(&aa);
  pmm_array_free(&ba);

  /* The sidecar records what the .npy header cannot. */
  size_t len = strlen(full) + 6;
  char *side = malloc(len);
  ck_assert_ptr_nonnull(side);
  snprintf(side, len, "%s.json", full);
  char *json = tu_read_file(side, NULL);
  ck_assert_ptr_nonnull(json);
  const char *want[] = {"\"model\": \"toy\"",
                        "\"seed\": 7",
                        "\"first_index\": 0",
                        "\"count\": 1000",
                        "\"shard\": null",
                        "\"shape\": [1000, 3]",
                        "\"pair\": \"normal-normal\"",
                        "\"sampler\": \"pmm\"",
                        "\"weight_hash\": \"0123abcd\"",
                        "\"engine\": \"test harness\""};
  for (size_t i = 0; i < sizeof want / sizeof want[0]; i++)
    ck_assert_msg(strstr(json, want[i]) != NULL, "sidecar lacks %s:\n%s", want[i], json);
  free(json);
  free(side);
  free(full);
  free(a);
  free(b);
}
END_TEST

START_TEST(test_cli_same_bytes) {
  pmm_model_desc d = toy_desc(&toy3);
  char *p1 = tmp_path("t1.npy"), *p2 = tmp_path("t2.npy"), *p3 = tmp_path("t3.npy");
  char *p4 = tmp_path("t4.npy");
  ck_assert_int_eq(
      run_cli(&d, NULL, NULL, "-n", "1000", "-s", "9", "--threads", "1", "-o", p1, NULL), 0);
  ck_assert_int_eq(
      run_cli(&d, NULL, NULL, "-n", "1000", "-s", "9", "--threads", "2", "-o", p2, NULL), 0);
  ck_assert_int_eq(run_cli(&d, NULL, NULL, "-n", "1000", "-s", "9", "-o", p3, NULL), 0);
  ck_assert_int_eq(run_cli(&d, NULL, NULL, "-n", "1000", "-s", "10", "-o", p4, NULL), 0);
  size_t l1, l2, l3, l4;
  char *b1 = tu_read_file(p1, &l1), *b2 = tu_read_file(p2, &l2), *b3 = tu_read_file(p3, &l3);
  char *b4 = tu_read_file(p4, &l4);
  ck_assert(b1 && b2 && b3 && b4);
  ck_assert(l1 == 128 + 12000 && l1 == l2 && l1 == l3 && l1 == l4);
  ck_assert(memcmp(b1, b2, l1) == 0);
  ck_assert(memcmp(b1, b3, l1) == 0);
  ck_assert(memcmp(b1 + 128, b4 + 128, l1 - 128) != 0);
  free(b1);
  free(b2);
  free(b3);
  free(b4);
  free(p1);
  free(p2);
  free(p3);
  free(p4);
}
END_TEST

START_TEST(test_cli_shards) {
  pmm_model_desc d = toy_desc(&toy3);
  float *ref = generate(&d, 4, 0, 1000, 2);
  static const uint64_t expect_count[3] = {333, 333, 334};
  uint64_t at = 0;
  for (int k = 0; k < 3; k++) {
    char name[32], shard[16];
    snprintf(name, sizeof name, "s%d.npy", k);
    snprintf(shard, sizeof shard, "%d/3", k);
    char *p = tmp_path(name);
    ck_assert_int_eq(
        run_cli(&d, NULL, NULL, "-n", "1000", "-s", "4", "--shard", shard, "-o", p, NULL), 0);
    pmm_array a;
    tu_read_npy(p, &a);
    ck_assert_uint_eq(a.shape[0], expect_count[k]);
    ck_assert(memcmp(a.data, ref + at * 3, (size_t)a.count * sizeof(float)) == 0);
    at += a.shape[0];
    pmm_array_free(&a);
    free(p);
  }
  ck_assert_uint_eq(at, 1000);
  free(ref);

  /* With a first index, and more shards than samples (empty shards). */
  char *p = tmp_path("o.npy");
  ck_assert_int_eq(run_cli(&d, NULL, NULL, "--first-index", "10", "-n", "7", "--shard", "1/2", "-s",
                           "4", "-o", p, NULL),
                   0);
  pmm_array a;
  tu_read_npy(p, &a);
  float *part = generate(&d, 4, 13, 4, 1);
  ck_assert(a.shape[0] == 4 && memcmp(a.data, part, 12 * sizeof(float)) == 0);
  free(part);
  pmm_array_free(&a);
  char *side = tmp_path("o.npy.json"), *json = tu_read_file(side, NULL);
  ck_assert_ptr_nonnull(json);
  ck_assert_ptr_nonnull(strstr(json, "\"first_index\": 13"));
  ck_assert_ptr_nonnull(strstr(json, "\"count\": 4"));
  ck_assert_ptr_nonnull(strstr(json, "\"shard\": \"1/2\""));
  free(json);
  free(side);
  uint64_t total = 0;
  for (int k = 0; k < 5; k++) {
    char shard[16];
    snprintf(shard, sizeof shard, "%d/5", k);
    ck_assert_int_eq(run_cli(&d, NULL, NULL, "-n", "3", "--shard", shard, "-o", p, NULL), 0);
    tu_read_npy(p, &a);
    total += a.shape[0];
    pmm_array_free(&a);
  }
  ck_assert_uint_eq(total, 3);
  free(p);
}
END_TEST

START_TEST(test_cli_csv) {
  pmm_model_desc d = toy_desc(&toy3);
  char *p = tmp_path("x.csv");
  ck_assert_int_eq(
      run_cli(&d, NULL, NULL, "-n", "5", "-s", "3", "--first-index", "2", "-o", p, NULL), 0);
  char *text = tu_read_file(p, NULL), *out = NULL;
  ck_assert_ptr_nonnull(text);
  const char *head = "# model=toy seed=3 first_index=2 count=5\n";
  ck_assert_msg(strncmp(text, head, strlen(head)) == 0, "csv starts with: %.60s", text);
  float *ref = generate(&d, 3, 2, 5, 1);
  /* %.9g round-trips float exactly. */
  char *s = text + strlen(head);
  for (int i = 0; i < 15; i++) {
    char *end;
    float v = strtof(s, &end);
    ck_assert_msg(end != s && v == ref[i], "csv value %d: %.9g vs %.9g", i, v, ref[i]);
    ck_assert_int_eq(*end, i % 3 == 2 ? '\n' : ',');
    s = end + 1;
  }
  ck_assert_int_eq(*s, '\0');

  /* Standard output defaults to csv and gets the same text. */
  ck_assert_int_eq(run_cli(&d, &out, NULL, "-n", "5", "-s", "3", "--first-index", "2", NULL), 0);
  ck_assert_str_eq(out, text);
  free(out);
  ck_assert_int_eq(run_cli(&d, &out, NULL, "-n", "5", "-s", "3", "--first-index", "2", "-o", "-",
                           "--format", "csv", NULL),
                   0);
  ck_assert_str_eq(out, text);
  free(out);
  free(ref);
  free(text);
  free(p);
}
END_TEST

/* npy on standard output (explicit --format), an explicit format for an
 * unknown extension, upper-case extensions, and -n 0. */
START_TEST(test_cli_formats) {
  pmm_model_desc d = toy_desc(&toy3);
  ck_assert_int_eq(run_cli(&d, NULL, NULL, "-n", "4", "--format", "npy", NULL), 0);
  pmm_array a;
  read_npy_in_tmp("capture/stdout", &a);
  float *ref = generate(&d, 0, 0, 4, 1);
  ck_assert(a.shape[0] == 4 && memcmp(a.data, ref, 12 * sizeof(float)) == 0);
  pmm_array_free(&a);

  char *dat = tmp_path("x.dat"), *upper = tmp_path("X.NPY"), *empty = tmp_path("e.npy");
  ck_assert_int_eq(run_cli(&d, NULL, NULL, "-n", "4", "--format=npy", "-o", dat, NULL), 0);
  read_npy_in_tmp("x.dat", &a);
  ck_assert(memcmp(a.data, ref, 12 * sizeof(float)) == 0);
  pmm_array_free(&a);
  ck_assert_int_eq(run_cli(&d, NULL, NULL, "-n", "4", "-o", upper, NULL), 0);
  read_npy_in_tmp("X.NPY", &a);
  ck_assert(memcmp(a.data, ref, 12 * sizeof(float)) == 0);
  pmm_array_free(&a);
  ck_assert_int_eq(run_cli(&d, NULL, NULL, "-n", "0", "-o", empty, NULL), 0);
  read_npy_in_tmp("e.npy", &a);
  ck_assert(a.rank == 2 && a.shape[0] == 0 && a.shape[1] == 3 && a.count == 0);
  pmm_array_free(&a);
  free(ref);
  free(dat);
  free(upper);
  free(empty);
}
END_TEST

/* Output larger than one write chunk, and a 2-D sample shape. */
START_TEST(test_cli_streaming_wide) {
  pmm_model_desc d = toy_desc(&toy_wide);
  char *p = tmp_path("w.npy");
  ck_assert_int_eq(run_cli(&d, NULL, NULL, "-n", "3000", "--first-index", "5", "-s", "2",
                           "--threads", "2", "-o", p, NULL),
                   0);
  pmm_array a;
  tu_read_npy(p, &a);
  ck_assert(a.rank == 3 && a.shape[0] == 3000 && a.shape[1] == 64 && a.shape[2] == 64);
  float *ref = generate(&d, 2, 5, 3000, 3);
  ck_assert(memcmp(a.data, ref, (size_t)a.count * sizeof(float)) == 0);
  free(ref);
  pmm_array_free(&a);
  free(p);
}
END_TEST

typedef struct usage_case {
  const char *args[6];
  const char *message;
} usage_case;

START_TEST(test_cli_usage_errors) {
  pmm_model_desc d = toy_desc(&toy3);
  static const usage_case cases[] = {
      {{"--bogus"}, "unknown option '--bogus'"},
      {{"-x"}, "unknown option '-x'"},
      {{"-hx"}, "unknown option '-x'"},
      {{"--bogus=3"}, "unknown option '--bogus'"},
      {{"--info=3"}, "option '--info' takes no value"},
      {{"--help=yes"}, "option '--help' takes no value"},
      {{"-n", "-5"}, "invalid value '-5' for -n/--num-samples"},
      {{"-n", "abc"}, "invalid value 'abc' for -n/--num-samples"},
      {{"-n", "12x"}, "invalid value '12x'"},
      {{"-n", "99999999999999999999999"}, "invalid value"},
      {{"-n"}, "option -n/--num-samples needs a value"},
      {{"--threads"}, "option --threads needs a value"},
      {{"-s", "-1"}, "invalid value '-1' for -s/--seed"},
      {{"--threads", "99999"}, "too many"},
      {{"--first-index", "18446744073709551615", "-n", "2"}, "overflows"},
      {{"--shard", "2/2"}, "invalid shard '2/2'"},
      {{"--shard", "0/0"}, "invalid shard '0/0'"},
      {{"--shard", "1"}, "expected K/N"},
      {{"--shard", "a/b"}, "expected K/N"},
      {{"--format", "jpg"}, "unknown format 'jpg' for --format (expected npy, csv, txt or png)"},
      {{"--format", "txt"},
       "--format txt decodes symbol sequences, and model 'toy' "
       "(normal-normal) has no vocabulary"},
      {{"-o", "x.txt"}, "model 'toy' (normal-normal) has no vocabulary"},
      {{"--format", "png"},
       "--format png draws images of shape [H, W] or [C, H, W] with "
       "C = 1 or 3; the samples of model 'toy' have shape [3]"},
      {{"-o", "x.png"}, "have shape [3]"},
      {{"-n", "3", "extra"}, "unexpected argument 'extra'"},
      {{"-o", "out.dat"}, "cannot tell the format of 'out.dat'"},
      {{"-o", ""}, "empty file name"},
  };
  for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
    const char *const *x = cases[c].args;
    char *err = NULL;
    int st = run_cli(&d, NULL, &err, x[0], x[1], x[2], x[3], x[4], x[5]);
    ck_assert_msg(st == 2, "case %zu (%s): exit %d, expected 2", c, x[0], st);
    ck_assert_msg(strncmp(err, "toy: error: ", 12) == 0, "case %zu: stderr '%s'", c, err);
    ck_assert_msg(strstr(err, cases[c].message) != NULL, "case %zu: '%s' lacks '%s'", c, err,
                  cases[c].message);
    ck_assert_msg(strstr(err, "\nTry 'toy --help'.\n") != NULL, "case %zu: no hint: %s", c, err);
    /* one line of error, one of hint */
    ck_assert_msg(strchr(err, '\n') == strrchr(err, '\n') - strlen("\nTry 'toy --help'."),
                  "case %zu: more than two lines: %s", c, err);
    free(err);
  }
  ck_assert_int_eq(tmpdir_outputs(), 0);
}
END_TEST

START_TEST(test_cli_io_errors) {
  pmm_model_desc d = toy_desc(&toy3);
  char *err = NULL;
  ck_assert_int_eq(run_cli(&d, NULL, &err, "-n", "10", "-o", "/nonexistent-dir/x.npy", NULL), 1);
  ck_assert_ptr_nonnull(strstr(err, "toy: error: cannot create '/nonexistent-dir/x.npy'"));
  ck_assert_ptr_null(strstr(err, "Try"));
  free(err);
  struct stat sb;
  ck_assert_int_ne(stat("/nonexistent-dir/x.npy", &sb), 0);

  /* A model failure half-way: no output, no sidecar, no temporary, and a
   * file that was already there is left as it was. */
  toy_user failing = {3, 500};
  pmm_model_desc f = toy_desc(&failing);
  char *p = tmp_path("x.npy");
  ck_assert_int_eq(run_cli(&f, NULL, &err, "-n", "1000", "-o", p, NULL), 1);
  ck_assert_ptr_nonnull(strstr(err, "model toy failed on samples [496, 504)"));
  free(err);
  ck_assert_int_eq(tmpdir_outputs(), 0);
  FILE *old = fopen(p, "w");
  ck_assert_ptr_nonnull(old);
  fputs("old", old);
  fclose(old);
  ck_assert_int_eq(run_cli(&f, NULL, NULL, "-n", "1000", "-o", p, NULL), 1);
  char *kept = tu_read_file(p, NULL);
  ck_assert_ptr_nonnull(kept);
  ck_assert_str_eq(kept, "old");
  free(kept);
  ck_assert_int_eq(tmpdir_outputs(), 1);
  free(p);

  char *csv = tmp_path("y.csv");
  ck_assert_int_eq(run_cli(&f, NULL, NULL, "-n", "1000", "-o", csv, NULL), 1);
  ck_assert_int_ne(stat(csv, &sb), 0);
  free(csv);
}
END_TEST

/* Writing to a full device is an I/O error (exit 1), not a silent loss. */
START_TEST(test_cli_stdout_full) {
  pmm_model_desc d = toy_desc(&toy3);
  if (access("/dev/full", W_OK) != 0) {
    fprintf(stderr, "cli_stdout_full: /dev/full unavailable, nothing to check\n");
    return;
  }
  fflush(stdout);
  int save = dup(1), full = open("/dev/full", O_WRONLY);
  ck_assert(save >= 0 && full >= 0);
  dup2(full, 1);
  close(full);
  char *argv[] = {"toy", "-n", "20000", NULL};
  int st = pmm_sampler_main(3, argv, &d);
  clearerr(stdout);
  dup2(save, 1);
  close(save);
  ck_assert_int_eq(st, 1);
}
END_TEST

START_TEST(test_cli_info_help_version) {
  pmm_model_desc d = toy_desc(&toy3);
  char *out = NULL;
  ck_assert_int_eq(run_cli(&d, &out, NULL, "--info", NULL), 0);
  const char *want[] = {"model:            toy\n",
                        "pair:             normal-normal\n",
                        "sampler:          pmm\n",
                        "output:           posterior-mean\n",
                        "schedule:         geometric, A from 0.5 to 8\n",
                        "steps:            2\n",
                        "data shape:       [3]\n",
                        "block size:       8\n",
                        "FLOPs per sample: 42\n",
                        "scratch bytes:    192\n",
                        "weight bytes:     0\n",
                        "weight hash:      0123abcd\n",
                        "engine:           test harness\n"};
  for (size_t i = 0; i < sizeof want / sizeof want[0]; i++)
    ck_assert_msg(strstr(out, want[i]) != NULL, "--info lacks '%s':\n%s", want[i], out);
  free(out);
  ck_assert_int_eq(run_cli(&d, &out, NULL, "--help", NULL), 0);
  ck_assert_ptr_nonnull(strstr(out, "Usage: toy [OPTION]..."));
  ck_assert_ptr_nonnull(strstr(out, "--shard K/N"));
  ck_assert_ptr_nonnull(strstr(out, "--first-index"));
  free(out);
  ck_assert_int_eq(run_cli(&d, &out, NULL, "-h", NULL), 0);
  ck_assert_ptr_nonnull(strstr(out, "Usage: toy"));
  free(out);
  ck_assert_int_eq(run_cli(&d, &out, NULL, "--version", NULL), 0);
  ck_assert_str_eq(out, "toy sampler (test harness)\n");
  free(out);
  ck_assert_int_eq(tmpdir_outputs(), 0);

  pmm_model_desc bad = d;
  bad.sample_elems = 4; /* shape says 3 */
  char *err = NULL;
  ck_assert_int_eq(run_cli(&bad, NULL, &err, "-n", "1", NULL), 1);
  ck_assert_ptr_nonnull(strstr(err, "inconsistent"));
  free(err);
}
END_TEST

/* pmm_sampler_print_info with stdout sent to tmpdir/NAME; returns its
 * status, the text printed goes to *out. */
static int print_info_to(const char *name, const pmm_model_desc *d, char **out) {
  char *path = tmp_path(name);
  fflush(stdout);
  int save = dup(1), fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
  ck_assert(save >= 0 && fd >= 0);
  dup2(fd, 1);
  close(fd);
  int st = pmm_sampler_print_info("toy", d);
  fflush(stdout);
  dup2(save, 1);
  close(save);
  *out = tu_read_file(path, NULL);
  ck_assert_ptr_nonnull(*out);
  ck_assert_int_eq(unlink(path), 0);
  free(path);
  return st;
}

/* The build lines of --info: unknown without build info, "n/a
 * (interpreted)" for no machine code, else the values (compile time in ms,
 * three decimals).  pmm_sampler_print_info prints the very same report
 * without needing run_block, and refuses a descriptor of another ABI. */
START_TEST(test_cli_info_build) {
  pmm_model_desc d = toy_desc(&toy3);
  char *out = NULL;
  ck_assert_int_eq(run_cli(&d, &out, NULL, "--info", NULL), 0);
  ck_assert_msg(strstr(out, "weight hash:      0123abcd\ncode bytes:       unknown\n"
                            "compile time:     unknown\nengine:           test harness\n"),
                "--info without build info:\n%s", out);
  free(out);
  pmm_build_info interp = {.code_bytes = 0, .compile_us = 1500};
  d.build = &interp;
  ck_assert_int_eq(run_cli(&d, &out, NULL, "--info", NULL), 0);
  ck_assert_msg(strstr(out, "code bytes:       n/a (interpreted)\ncompile time:     1.500 ms\n"),
                "--info of an interpreted model:\n%s", out);
  free(out);
  pmm_build_info built = {.code_bytes = 4096, .compile_us = 2345678};
  d.build = &built;
  char *cli = NULL;
  ck_assert_int_eq(run_cli(&d, &cli, NULL, "--info", NULL), 0);
  ck_assert_msg(strstr(cli, "code bytes:       4096\ncompile time:     2345.678 ms\n"),
                "--info of a compiled model:\n%s", cli);

  d.run_block = NULL;
  ck_assert_int_eq(print_info_to("info.txt", &d, &out), 0);
  ck_assert_str_eq(out, cli);
  free(out);
  free(cli);
  d.abi = PMM_DESC_ABI - 1;
  ck_assert_int_eq(print_info_to("info.txt", &d, &out), 1);
  ck_assert_str_eq(out, "");
  free(out);
  ck_assert_int_eq(tmpdir_outputs(), 0);
}
END_TEST

/* getopt state is reset between calls. */
START_TEST(test_cli_repeat_calls) {
  pmm_model_desc d = toy_desc(&toy3);
  char *p = tmp_path("r.npy"), *out1 = NULL, *out2 = NULL;
  ck_assert_int_eq(run_cli(&d, &out1, NULL, "-n", "3", "-s", "1", NULL), 0);
  ck_assert_int_eq(run_cli(&d, NULL, NULL, "--bogus", "-n", "3", NULL), 2);
  ck_assert_int_eq(run_cli(&d, NULL, NULL, "-n", NULL), 2);
  ck_assert_int_eq(run_cli(&d, &out2, NULL, "-s", "1", "-n", "3", NULL), 0);
  ck_assert_str_eq(out1, out2);
  ck_assert_int_eq(run_cli(&d, NULL, NULL, "-o", p, "-n", "2", NULL), 0);
  pmm_array a;
  tu_read_npy(p, &a);
  ck_assert_uint_eq(a.shape[0], 2);
  pmm_array_free(&a);
  free(out1);
  free(out2);
  free(p);
}
END_TEST

int main(void) {
  Suite *s = suite_create("sampler");
  TCase *gen = tcase_create("generate");
  tcase_set_timeout(gen, 120);
  tcase_add_test(gen, test_generate_values);
  tcase_add_test(gen, test_generate_threads);
  tcase_add_test(gen, test_generate_splits);
  tcase_add_test(gen, test_generate_errors);
  tcase_add_test(gen, test_generate_nonfinite);
  tcase_add_test(gen, test_check_finite);
  suite_add_tcase(s, gen);
  TCase *cli = tcase_create("cli");
  tcase_set_timeout(cli, 120);
  tcase_add_checked_fixture(cli, setup, teardown);
  tcase_add_test(cli, test_cli_npy_matches_generate);
  tcase_add_test(cli, test_cli_same_bytes);
  tcase_add_test(cli, test_cli_shards);
  tcase_add_test(cli, test_cli_csv);
  tcase_add_test(cli, test_cli_formats);
  tcase_add_test(cli, test_cli_streaming_wide);
  tcase_add_test(cli, test_cli_usage_errors);
  tcase_add_test(cli, test_cli_io_errors);
  tcase_add_test(cli, test_cli_stdout_full);
  tcase_add_test(cli, test_cli_info_help_version);
  tcase_add_test(cli, test_cli_info_build);
  tcase_add_test(cli, test_cli_repeat_calls);
  suite_add_tcase(s, cli);
  int failed = tu_run_suite(s);
  return failed == 0 ? 0 : 1;
}
