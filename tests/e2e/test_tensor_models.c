/*
 * test_tensor_models.c - the shipped tensor networks sample end to end:
 * models/unet-tiny (normal-normal images, an ADM-style U-Net) and
 * models/dit-tiny (dirichlet-categorical text, a DiT-style transformer)
 * build, sample through the compiled sampler and the interpreter, agree
 * within docs/determinism.md's tolerance (1e-4 (1 + |interp|)), give the
 * same bits for any -n, --threads, --shard and --first-index, and write
 * --format png (unet-tiny) and --format txt (dit-tiny).
 *
 * Blocks of 2 samples keep the runs short (a sample costs 7 and 11 GFLOP
 * over the whole chain); block size changes no sample's value beyond
 * summation order, and every run here uses the same one.
 */
#include <check.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tests/e2e/e2e.h"

#define N 4

static e2e_env env;

typedef struct model_case {
  const char *name;
  uint32_t rank;
  uint64_t shape[3];
  const char *format, *format_file;
  char yaml[PATH_MAX], exe[PATH_MAX];
  int build_status;
} model_case;

static model_case models[2] = {
    {"unet-tiny", 3, {1, 28, 28}, "png", "grid.png", "", "", -1},
    {"dit-tiny", 1, {32}, "txt", "words.txt", "", "", -1},
};

/* Run the compiled sampler with args, output to dir/file. */
static void sample(const model_case *mc, const char *args, const char *file) {
  char out[PATH_MAX];
  e2e_path(out, sizeof out, "%s/%s-%s", env.dir, mc->name, file);
  int st = tu_run("'%s' -s 11 %s -o '%s'", mc->exe, args, out);
  ck_assert_msg(st == 0, "%s %s exited with %d", mc->exe, args, st);
}

static void load(const model_case *mc, const char *file, uint64_t rows, e2e_npy *n) {
  char path[PATH_MAX];
  e2e_path(path, sizeof path, "%s/%s-%s", env.dir, mc->name, file);
  e2e_npy_load_shape(path, rows, mc->rank, mc->shape, n);
}

static void assert_same_bytes(const e2e_npy *a, size_t off, const e2e_npy *b, const char *what) {
  ck_assert_msg(memcmp(a->bytes + a->payload + off, b->bytes + b->payload, b->payload_len) == 0,
                "%s: not the same bits", what);
}

START_TEST(test_determinism) {
  const model_case *mc = &models[_i];
  ck_assert_msg(mc->build_status == 0, "pmmc build %s failed (%d)", mc->yaml, mc->build_status);
  sample(mc, "-n 4", "all.npy");
  sample(mc, "-n 4 --threads 2", "threads.npy");
  sample(mc, "-n 4 --shard 1/2", "shard.npy");
  sample(mc, "-n 2 --first-index 2", "tail.npy");
  e2e_npy all, threads, shard, tail;
  load(mc, "all.npy", N, &all);
  load(mc, "threads.npy", N, &threads);
  load(mc, "shard.npy", N / 2, &shard);
  load(mc, "tail.npy", N / 2, &tail);
  size_t half = all.payload_len / 2;
  assert_same_bytes(&all, 0, &threads, "--threads 2");
  assert_same_bytes(&all, half, &shard, "--shard 1/2");
  assert_same_bytes(&all, half, &tail, "--first-index 2");
  for (uint64_t i = 0; i < all.a.count; i++)
    ck_assert_msg(all.a.data[i] == all.a.data[i], "%s: sample value %llu is NaN", mc->name,
                  (unsigned long long)i);
  e2e_npy_free(&all);
  e2e_npy_free(&threads);
  e2e_npy_free(&shard);
  e2e_npy_free(&tail);
}
END_TEST

START_TEST(test_interp_vs_compiled) {
  const model_case *mc = &models[_i];
  ck_assert_msg(mc->build_status == 0, "pmmc build %s failed (%d)", mc->yaml, mc->build_status);
  char ref[PATH_MAX];
  e2e_path(ref, sizeof ref, "%s/%s-interp.npy", env.dir, mc->name);
  int st = tu_run("'%s' run '%s' --block-size 2 -s 11 -n 4 -o '%s'", tu_pmmc(), mc->yaml, ref);
  ck_assert_msg(st == 0, "pmmc run %s exited with %d", mc->yaml, st);
  sample(mc, "-n 4", "compiled.npy");
  e2e_npy a, b;
  load(mc, "compiled.npy", N, &a);
  e2e_npy_load_shape(ref, N, mc->rank, mc->shape, &b);
  size_t where;
  double d = e2e_max_scaled_diff(a.a.data, b.a.data, a.a.count, &where);
  printf("%s: compiled vs interpreter, max |c - i| / (1 + |i|) = %.3g\n", mc->name, d);
  ck_assert_msg(d <= 1e-4, "%s: element %zu: compiled %.9g, interpreter %.9g", mc->name, where,
                (double)a.a.data[where], (double)b.a.data[where]);
  e2e_npy_free(&a);
  e2e_npy_free(&b);
}
END_TEST

/* unet-tiny writes a PNG grid; dit-tiny decodes its symbols to words. */
START_TEST(test_formats) {
  const model_case *mc = &models[_i];
  ck_assert_msg(mc->build_status == 0, "pmmc build %s failed (%d)", mc->yaml, mc->build_status);
  char args[64];
  snprintf(args, sizeof args, "-n 4 --format %s", mc->format);
  sample(mc, args, mc->format_file);
  char path[PATH_MAX];
  e2e_path(path, sizeof path, "%s/%s-%s", env.dir, mc->name, mc->format_file);
  size_t len;
  char *text = tu_read_file(path, &len);
  ck_assert_ptr_nonnull(text);
  if (strcmp(mc->format, "png") == 0) {
    ck_assert_msg(len > 8 && memcmp(text, "\x89PNG\r\n\x1a\n", 8) == 0, "%s is not a PNG", path);
  } else {
    size_t lines = 0;
    for (size_t i = 0; i < len; i++) {
      if (text[i] == '\n') {
        lines++;
        continue;
      }
      ck_assert_msg(text[i] >= 'a' && text[i] <= 'z', "%s: byte %zu is '%c', not a-z", path, i,
                    text[i]);
    }
    ck_assert_uint_eq(lines, N);
  }
  free(text);
}
END_TEST

int main(void) {
  if (e2e_env_init(&env, "tensor-models") != 0) return EXIT_FAILURE;
  for (int i = 0; i < 2; i++) {
    model_case *mc = &models[i];
    if (e2e_model_yaml(mc->name, mc->yaml, sizeof mc->yaml) != 0) return EXIT_FAILURE;
    mc->build_status =
        e2e_build(mc->yaml, "--block-size 2", env.dir, mc->name, mc->exe, sizeof mc->exe);
  }
  Suite *s = suite_create("tensor-models");
  TCase *tc = tcase_create("models");
  tcase_add_loop_test(tc, test_determinism, 0, 2);
  tcase_add_loop_test(tc, test_interp_vs_compiled, 0, 2);
  tcase_add_loop_test(tc, test_formats, 0, 2);
  suite_add_tcase(s, tc);
  int failed = tu_run_suite(s);
  e2e_env_finish(&env, failed);
  return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
