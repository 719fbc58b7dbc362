/*
 * test_embed.c - compiled models as libraries (issue 9, docs/embedding.md):
 * two models (gmm8, words50) in one C program, linked statically and as
 * shared libraries, reproduce their sampler executables' samples bit for
 * bit; the libraries export only NAME_*; 8 threads sharing a handle match
 * one call and allocate nothing inside NAME_sample; the headers compile as
 * C99 and C++11 with -pedantic -Werror; invalid arguments and header/library
 * skew give statuses; NAME_predict matches `pmmc predict`; a model whose
 * values overflow float32 while sampling gives NAME_ERR_MODEL.
 *
 * main() builds everything once (e2e.h); the test programs are
 * tests/embed/embed_*.c, compiled with $PMMC_TEST_CC / $PMMC_TEST_CXX.
 */
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tests/e2e/e2e.h"

static e2e_env env;
static int built; /* exit status of the builds in main(): 0 when all worked */
static const char *cc, *cxx;

enum { N = 150, FIRST = 37, SEED = 7 };

/* Run a command in env.dir; a failure is printed with the command. */
#define RUN(...)                                                                                   \
  do {                                                                                             \
    if (st == 0 &&                                                                                 \
        (st = tu_run("cd '%s' && " FIRST_ARG(__VA_ARGS__), env.dir, REST_ARGS(__VA_ARGS__))) != 0) \
      fprintf(stderr, "test_embed: failed (%d): " FIRST_ARG(__VA_ARGS__) "\n", st,                 \
              REST_ARGS(__VA_ARGS__));                                                             \
  } while (0)
#define FIRST_ARG(fmt, ...) fmt
#define REST_ARGS(fmt, ...) __VA_ARGS__

/* nf_normal, as in tests/e2e/test_nonfinite.c: big = 8 mu overflows at step 5
 * while out = 1e38 pulls mu up. */
static int write_nonfinite_model(void) {
  static const char yaml[] = "name: nf_normal\n"
                             "pair: normal-normal\n"
                             "data: {shape: [2]}\n"
                             "prior: {mean: 0.0, precision: 1.0}\n"
                             "schedule: {kind: table, values: [0.1, 0.2, 0.5, 2.0, 5.0, 10.0]}\n"
                             "network:\n"
                             "  kind: graph\n"
                             "  layers:\n"
                             "    - {name: big, op: dense, input: mu, units: 2}\n"
                             "    - {name: out, op: dense, input: big, units: 2}\n"
                             "  output: out\n"
                             "weights: nf_normal.safetensors\n";
  static const float big[4] = {8, 0, 0, 8}, w[4] = {0}, b[2] = {1e38f, 1e38f};
  const e2e_tensor t[3] = {
      {"big.weight", 2, {2, 2}, big}, {"out.weight", 2, {2, 2}, w}, {"out.bias", 1, {2, 0}, b}};
  char path[PATH_MAX], err[512];
  if (e2e_format(path, sizeof path, "%s/nf_normal.safetensors", env.dir) != 0 ||
      e2e_write_tensors(path, t, 3, err, sizeof err) != 0 ||
      e2e_format(path, sizeof path, "%s/nf_normal.yaml", env.dir) != 0 ||
      e2e_write_text(path, yaml, err, sizeof err) != 0) {
    fprintf(stderr, "test_embed: %s\n", err);
    return -1;
  }
  return 0;
}

/* Libraries, executables and programs, in env.dir. */
static int build_all(void) {
  const char *src = tu_srcdir(), *p = tu_pmmc();
  static const char *models[] = {"gmm8", "words50"};
  int st = 0;
  for (int i = 0; i < 2; i++) {
    const char *m = models[i];
    RUN("'%s' build '%s/models/%s/model.yaml' --emit=lib -o static", p, src, m);
    RUN("'%s' build '%s/models/%s/model.yaml' --emit=shared -o shared", p, src, m);
    RUN("'%s' build '%s/models/%s/model.yaml' --emit=header -o header", p, src, m);
    RUN("'%s' build '%s/models/%s/model.yaml' --gemm=llvm -o exe-%s", p, src, m, m);
    RUN("./exe-%s -n %d -s %d --first-index %d -o exe-%s.npy", m, N, SEED, FIRST, m);
  }
  RUN("%s -std=c11 -O2 -Wall -Wextra -Werror -Istatic '%s/tests/embed/embed_prog.c' "
      "static/libgmm8.a static/libwords50.a -lm -pthread -o prog-static",
      cc, src);
  RUN("%s -std=c11 -O2 -Wall -Wextra -Werror -Ishared '%s/tests/embed/embed_prog.c' -Lshared "
      "-lgmm8 -lwords50 -Wl,-rpath,'%s/shared' -lm -pthread -o prog-shared",
      cc, src, env.dir);
  if (st == 0) st = write_nonfinite_model();
  RUN("'%s' build nf_normal.yaml --emit=lib -o nonfinite", p);
  RUN("%s -std=c11 -O2 -Wall -Wextra -Werror -Inonfinite '%s/tests/embed/embed_nonfinite.c' "
      "nonfinite/libnf_normal.a -lm -pthread -o nonfinite-prog",
      cc, src);
  RUN("'%s' build '%s/models/two-moons/model.yaml' --emit=shared -o moons", p, src);
  RUN("'%s' build '%s/models/two-moons/model.yaml' --emit=lib --weights=external -o ext", p, src);
  RUN("'%s' build '%s/models/two-moons/model.yaml' --emit=lib --weights=external --block-size 32 "
      "-o ext32",
      p, src);
  RUN("'%s' build '%s/models/two-moons/model.yaml' --gemm=llvm -o exe-moons", p, src);
  RUN("./exe-moons -n %d -s %d -o exe-moons.npy", N, SEED);
  RUN("%s -std=c11 -O2 -Wall -Wextra -Werror -Iext '%s/tests/embed/embed_external.c' "
      "ext/libtwo_moons.a -lm -pthread -o external",
      cc, src);
  RUN("%s -std=c11 -O2 -Wall -Wextra -Werror -Imoons '%s/tests/embed/embed_predict.c' -Lmoons "
      "-ltwo_moons -Wl,-rpath,'%s/moons' -o predict",
      cc, src, env.dir);
  return st;
}

/* The payload of the executable's .npy equals the program's raw floats. */
static void assert_same_bits(const char *model, const char *rawdir, uint32_t rank,
                             const uint64_t *shape) {
  char path[PATH_MAX], raw[PATH_MAX];
  e2e_path(path, sizeof path, "%s/exe-%s.npy", env.dir, model);
  e2e_path(raw, sizeof raw, "%s/%s.bin", rawdir, model);
  e2e_npy npy;
  e2e_npy_load_shape(path, N, rank, shape, &npy);
  size_t len;
  char *bytes = tu_read_file(raw, &len);
  ck_assert_msg(bytes != NULL, "cannot read %s", raw);
  ck_assert_uint_eq(len, npy.payload_len);
  ck_assert_msg(memcmp(bytes, npy.bytes + npy.payload, len) == 0,
                "%s: the library's samples differ from the executable's", model);
  free(bytes);
  e2e_npy_free(&npy);
}

static void check_two_models(const char *prog) {
  ck_assert_int_eq(built, 0);
  char out[PATH_MAX];
  e2e_path(out, sizeof out, "%s/out-%s", env.dir, prog);
  ck_assert_int_eq(tu_run("mkdir -p '%s' && '%s/%s' sample %d %d %d '%s'", out, env.dir, prog, N,
                          FIRST, SEED, out),
                   0);
  assert_same_bits("gmm8", out, 1, (const uint64_t[]){2});
  assert_same_bits("words50", out, 1, (const uint64_t[]){8});
}

START_TEST(test_static_two_models) { check_two_models("prog-static"); }
END_TEST

START_TEST(test_shared_two_models) { check_two_models("prog-shared"); }
END_TEST

/* Every line of `cmd`'s output names a symbol of the prefix. */
static void assert_only_prefix(const char *cmd, const char *prefix) {
  char *out = NULL;
  ck_assert_int_eq(tu_run_capture(&out, NULL, "%s", cmd), 0);
  int count = 0;
  for (char *line = strtok(out, "\n"); line; line = strtok(NULL, "\n")) {
    char *name = strrchr(line, ' ');
    if (!name || line[strlen(line) - 1] == ':') continue; /* "gmm8.o:" member headers */
    ck_assert_msg(strncmp(name + 1, prefix, strlen(prefix)) == 0, "%s exports '%s'", cmd, name + 1);
    count++;
  }
  ck_assert_int_eq(count, 7);
  free(out);
}

START_TEST(test_symbols) {
  ck_assert_int_eq(built, 0);
  char cmd[PATH_MAX * 2];
  e2e_path(cmd, sizeof cmd, "nm -g --defined-only '%s/static/libgmm8.a'", env.dir);
  assert_only_prefix(cmd, "gmm8_");
  e2e_path(cmd, sizeof cmd, "nm -g --defined-only '%s/static/libwords50.a'", env.dir);
  assert_only_prefix(cmd, "words50_");
  e2e_path(cmd, sizeof cmd, "nm -D --defined-only '%s/shared/libgmm8.so.1'", env.dir);
  assert_only_prefix(cmd, "gmm8_");
  /* the shared library needs only the C library, no text relocations */
  char *out = NULL;
  ck_assert_int_eq(tu_run_capture(&out, NULL, "readelf -d '%s/shared/libwords50.so.1'", env.dir),
                   0);
  ck_assert_msg(strstr(out, "Library soname: [libwords50.so.1]") != NULL, "%s", out);
  ck_assert_msg(strstr(out, "TEXTREL") == NULL, "%s", out);
  for (char *p = strstr(out, "Shared library: ["); p; p = strstr(p + 1, "Shared library: [")) {
    const char *lib = p + strlen("Shared library: [");
    ck_assert_msg(strncmp(lib, "libc.so", 7) == 0 || strncmp(lib, "libm.so", 7) == 0 ||
                      strncmp(lib, "libpthread.so", 13) == 0,
                  "libwords50.so.1 needs %.30s", lib);
  }
  free(out);
}
END_TEST

START_TEST(test_threads_no_allocation) {
  ck_assert_int_eq(built, 0);
  ck_assert_int_eq(tu_run("'%s/prog-static' threads", env.dir), 0);
}
END_TEST

START_TEST(test_invalid_arguments) {
  ck_assert_int_eq(built, 0);
  ck_assert_int_eq(tu_run("'%s/prog-static' errors", env.dir), 0);
  ck_assert_int_eq(tu_run("'%s/prog-shared' skew", env.dir), 0);
}
END_TEST

START_TEST(test_headers_compile) {
  ck_assert_int_eq(built, 0);
  const char *src = tu_srcdir();
  ck_assert_int_eq(tu_run("%s -std=c99 -pedantic -Wall -Wextra -Werror -I'%s/header' -c "
                          "'%s/tests/embed/embed_headers.c' -o '%s/h99.o'",
                          cc, env.dir, src, env.dir),
                   0);
  ck_assert_int_eq(tu_run("%s -std=c++11 -pedantic -Wall -Wextra -Werror -I'%s/header' -x c++ -c "
                          "'%s/tests/embed/embed_headers.c' -o '%s/h11.o'",
                          cxx, env.dir, src, env.dir),
                   0);
  /* --emit=header writes the bytes --emit=lib and --emit=shared write */
  ck_assert_int_eq(tu_run("cmp '%s/header/gmm8.h' '%s/static/gmm8.h' && cmp '%s/header/gmm8.h' "
                          "'%s/shared/gmm8.h'",
                          env.dir, env.dir, env.dir, env.dir),
                   0);
}
END_TEST

/* two_moons_predict against `pmmc predict` (interpreter), 1e-5 relative. */
START_TEST(test_predict) {
  ck_assert_int_eq(built, 0);
  enum { R = 100 };
  float mu[R * 2], tau[R];
  unsigned s = 12345;
  for (int i = 0; i < R * 2; i++)
    mu[i] = (float)((s = s * 1103515245u + 12345u) >> 8) / 16777216.0f * 4 - 2;
  for (int i = 0; i < R; i++) tau[i] = (float)i / R;
  char mu_path[PATH_MAX], tau_path[PATH_MAX], err[256];
  e2e_path(mu_path, sizeof mu_path, "%s/mu.npy", env.dir);
  e2e_path(tau_path, sizeof tau_path, "%s/tau.npy", env.dir);
  ck_assert_int_eq(e2e_write_npy(mu_path, 2, (const uint64_t[]){R, 2}, mu, err, sizeof err), 0);
  ck_assert_int_eq(e2e_write_npy(tau_path, 1, (const uint64_t[]){R}, tau, err, sizeof err), 0);
  ck_assert_int_eq(tu_run("'%s' predict '%s/models/two-moons/model.yaml' --mu '%s' --time '%s' "
                          "-o '%s/ref.npy'",
                          tu_pmmc(), tu_srcdir(), mu_path, tau_path, env.dir),
                   0);
  char raw_mu[PATH_MAX], raw_tau[PATH_MAX];
  e2e_path(raw_mu, sizeof raw_mu, "%s/mu.bin", env.dir);
  e2e_path(raw_tau, sizeof raw_tau, "%s/tau.bin", env.dir);
  tu_write_file(raw_mu, mu, sizeof mu);
  tu_write_file(raw_tau, tau, sizeof tau);
  ck_assert_int_eq(tu_run("cd '%s' && ./predict mu.bin tau.bin %d out.bin", env.dir, R), 0);
  char path[PATH_MAX];
  e2e_path(path, sizeof path, "%s/ref.npy", env.dir);
  e2e_npy ref;
  e2e_npy_load(path, R, 2, &ref);
  e2e_path(path, sizeof path, "%s/out.bin", env.dir);
  size_t len;
  float *out = (float *)tu_read_file(path, &len);
  ck_assert_uint_eq(len, sizeof(float) * R * 2);
  for (int i = 0; i < R * 2; i++)
    ck_assert_msg(fabsf(out[i] - ref.a.data[i]) <= 1e-5f * (1 + fabsf(ref.a.data[i])),
                  "row %d: library %.9g, pmmc predict %.9g", i / 2, out[i], ref.a.data[i]);
  free(out);
  e2e_npy_free(&ref);
}
END_TEST

/* --weights=external: the library reads two_moons.weights (from its path or
 * from memory) and samples the executable's bits; a missing, truncated,
 * corrupted or foreign file is refused with its reason. */
START_TEST(test_external_weights) {
  ck_assert_int_eq(built, 0);
  char raw[PATH_MAX], npy_path[PATH_MAX];
  e2e_path(npy_path, sizeof npy_path, "%s/exe-moons.npy", env.dir);
  e2e_npy ref;
  e2e_npy_load(npy_path, N, 2, &ref);
  static const char *modes[] = {"sample", "memory"};
  for (int i = 0; i < 2; i++) {
    ck_assert_int_eq(tu_run("cd '%s' && ./external %s ext/two_moons.weights %d ext-%s.bin", env.dir,
                            modes[i], N, modes[i]),
                     0);
    e2e_path(raw, sizeof raw, "%s/ext-%s.bin", env.dir, modes[i]);
    size_t len;
    char *bytes = tu_read_file(raw, &len);
    ck_assert_uint_eq(len, ref.payload_len);
    ck_assert_msg(memcmp(bytes, ref.bytes + ref.payload, len) == 0,
                  "external weights (%s): samples differ from the executable's", modes[i]);
    free(bytes);
  }
  e2e_npy_free(&ref);
  ck_assert_int_eq(tu_run("cd '%s' && head -c 1000 ext/two_moons.weights > truncated.weights && "
                          "cp ext/two_moons.weights corrupt.weights && printf '\\377' | dd "
                          "of=corrupt.weights bs=1 seek=5000 conv=notrunc 2>/dev/null",
                          env.dir),
                   0);
  static const struct {
    const char *file, *want;
  } bad[] = {
      {"-", "9 weights missing: this library was built with --weights=external"},
      {"no.weights", "9 weights no.weights: No such file or directory"},
      {"truncated.weights", "9 weights truncated.weights: truncated"},
      {"corrupt.weights", "9 weights corrupt.weights: corrupted"},
      {"ext32/two_moons.weights", "9 weights ext32/two_moons.weights: from another build"},
      {"exe-moons.npy", "9 weights exe-moons.npy: not a pmmc weights file"},
  };
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    char *out = NULL;
    ck_assert_int_eq(
        tu_run_capture(&out, NULL, "cd '%s' && ./external open %s", env.dir, bad[i].file), 0);
    ck_assert_msg(strncmp(out, bad[i].want, strlen(bad[i].want)) == 0, "%s: got '%s'", bad[i].file,
                  out);
    free(out);
  }
}
END_TEST

/* A model that overflows float32 while sampling answers NAME_ERR_MODEL. */
START_TEST(test_nonfinite_status) {
  ck_assert_int_eq(built, 0);
  ck_assert_int_eq(tu_run("'%s/nonfinite-prog'", env.dir), 0);
}
END_TEST

/* pmmc's own checks of library options. */
START_TEST(test_build_errors) {
  const char *p = tu_pmmc(), *src = tu_srcdir();
  char *err = NULL;
  ck_assert_int_eq(tu_run_capture(NULL, &err,
                                  "'%s' build '%s/models/gmm8/model.yaml' --emit=lib --name 9x "
                                  "-o '%s/bad'",
                                  p, src, env.dir),
                   1);
  ck_assert_msg(strstr(err, "--name '9x' is not a C identifier") != NULL, "%s", err);
  free(err);
  ck_assert_int_eq(
      tu_run_capture(NULL, &err, "'%s' build '%s/models/gmm8/model.yaml' --name g", p, src), 2);
  ck_assert_msg(strstr(err, "--name names a library's API") != NULL, "%s", err);
  free(err);
  ck_assert_int_eq(tu_run_capture(NULL, &err,
                                  "'%s' build '%s/models/gmm8/model.yaml' --emit=lib -o "
                                  "'%s/exe-gmm8.npy'",
                                  p, src, env.dir),
                   1);
  ck_assert_msg(strstr(err, "is written into a directory") != NULL, "%s", err);
  free(err);
}
END_TEST

/* An AArch64 library: an AArch64 object whose only globals are two_moons_*,
 * with NEON fused multiply-adds in its GEMM kernels. */
START_TEST(test_aarch64) {
  const char *bin = getenv("PMMC_LLVM_BINDIR");
  ck_assert_msg(bin && *bin, "PMMC_LLVM_BINDIR is not set");
  ck_assert_int_eq(tu_run("'%s' build '%s/models/two-moons/model.yaml' --emit=lib --target "
                          "aarch64-linux-gnu -o '%s/arm'",
                          tu_pmmc(), tu_srcdir(), env.dir),
                   0);
  char *out = NULL, cmd[PATH_MAX * 2];
  ck_assert_int_eq(
      tu_run_capture(&out, NULL, "'%s/llvm-readelf' -h '%s/arm/libtwo_moons.a'", bin, env.dir), 0);
  ck_assert_msg(strstr(out, "AArch64") != NULL, "%s", out);
  free(out);
  e2e_path(cmd, sizeof cmd, "'%s/llvm-nm' -g --defined-only '%s/arm/libtwo_moons.a'", bin, env.dir);
  assert_only_prefix(cmd, "two_moons_");
  ck_assert_int_eq(
      tu_run_capture(&out, NULL, "'%s/llvm-objdump' -d '%s/arm/libtwo_moons.a'", bin, env.dir), 0);
  ck_assert_msg(strstr(out, "fmla\tv") != NULL, "no NEON fmla in the AArch64 library");
  free(out);
}
END_TEST

int main(void) {
  cc = getenv("PMMC_TEST_CC");
  cxx = getenv("PMMC_TEST_CXX");
  if (!cc || !*cc) cc = "cc";
  if (!cxx || !*cxx) cxx = "c++";
  if (e2e_env_init(&env, "embed") != 0) return EXIT_FAILURE;
  built = build_all();
  Suite *s = suite_create("embed");
  TCase *tc = tcase_create("libraries");
  tcase_add_test(tc, test_static_two_models);
  tcase_add_test(tc, test_shared_two_models);
  tcase_add_test(tc, test_symbols);
  tcase_add_test(tc, test_threads_no_allocation);
  tcase_add_test(tc, test_invalid_arguments);
  tcase_add_test(tc, test_headers_compile);
  tcase_add_test(tc, test_predict);
  tcase_add_test(tc, test_nonfinite_status);
  tcase_add_test(tc, test_build_errors);
  tcase_add_test(tc, test_external_weights);
  /* configure found no C library headers for AArch64 (libc6-dev-arm64-cross):
   * said, not hidden */
  const char *arm = getenv("PMMC_TEST_AARCH64");
  if (arm && strcmp(arm, "yes") == 0)
    tcase_add_test(tc, test_aarch64);
  else
    fprintf(stderr, "test_embed: no AArch64 runtime configured; the AArch64 test is left out\n");
  suite_add_tcase(s, tc);
  int failed = tu_run_suite(s);
  e2e_env_finish(&env, failed);
  return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
