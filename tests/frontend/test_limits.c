/*
 * test_limits.c - inputs too big, too deep or not files at all, made at run
 * time in a temporary folder: each must be refused (or, when valid,
 * accepted) with its exact message, without hanging, and in time linear in
 * its size.
 *
 * The time bounds are complexity checks, not benchmarks: each input is
 * large enough that a quadratic front end takes minutes (10^5-deep YAML,
 * 10^5 layers, 10^5 tensors, a 6 GiB file) while the linear one needs well
 * under a second.  They count the CPU time of the command (or of this
 * process, for in-process loads), so a busy machine does not fail them;
 * commands that could block run under timeout(1), whose status 124 fails
 * the exit-status check.  No randomness here.
 */
#include <check.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "compiler/front/weights.h"
#include "runtime/infile.h"
#include "tests/util/testutil.h"

/* CPU seconds a complexity check may take (each needs well under 1). */
#define CPU_BOUND 5.0

static char tmpdir[PATH_MAX];

static void setup_tmp(void) { tu_make_tmpdir(tmpdir, sizeof tmpdir); }
static void teardown_tmp(void) { tu_remove_tree(tmpdir); }

static double cpu_seconds(int who) {
  struct rusage ru;
  ck_assert_int_eq(getrusage(who, &ru), 0);
  return (double)ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 + (double)ru.ru_stime.tv_sec +
         ru.ru_stime.tv_usec / 1e6;
}

static void path_in(char *out, size_t len, const char *name) {
  ck_assert_int_lt(snprintf(out, len, "%s/%s", tmpdir, name), (int)len);
}

static void write_text(const char *name, const char *text) {
  char path[PATH_MAX + 64];
  path_in(path, sizeof path, name);
  tu_write_file(path, text, strlen(text));
}

/* A file of size bytes starting with head, the rest a hole (no disk). */
static void write_sparse(const char *name, const void *head, size_t n, off_t size) {
  char path[PATH_MAX + 64];
  path_in(path, sizeof path, name);
  tu_write_file(path, head, n);
  ck_assert_int_eq(truncate(path, size), 0);
}

/* `pmmc check MODEL` in tmpdir under timeout(1): stderr must be exactly
 * want, the status `status`, and the CPU time within CPU_BOUND. */
static void check_model(const char *model, int status, const char *want) {
  double t0 = cpu_seconds(RUSAGE_CHILDREN);
  char *err = NULL;
  int st =
      tu_run_capture(NULL, &err, "cd '%s' && timeout 60 '%s' check '%s'", tmpdir, tu_pmmc(), model);
  double cpu = cpu_seconds(RUSAGE_CHILDREN) - t0;
  ck_assert_msg(st == status, "%s: exit status %d, expected %d", model, st, status);
  ck_assert_str_eq(err, want);
  ck_assert_msg(cpu < CPU_BOUND, "%s: %.2f s of CPU, expected under %.0f s", model, cpu, CPU_BOUND);
  free(err);
}

/* The top of a model whose network and weights the caller appends. */
#define MODEL_HEAD                                                                                 \
  "name: limits\n"                                                                                 \
  "pair: normal-normal\n"                                                                          \
  "data: {shape: [2]}\n"                                                                           \
  "schedule: {kind: geometric, steps: 10, start: 0.01, end: 1000}\n"

/* ---- nesting ------------------------------------------------------------- */

/* libyaml's scanner takes time quadratic in the nesting depth (23 s for
 * 10^5 levels); reading stops at the 65th level. */
START_TEST(test_deep_nesting) {
  enum { DEPTH = 100000 };
  static const struct {
    const char *open, *close, *kind;
  } forms[] = {{"[", "]", "sequence"}, {"{a: ", "}", "mapping"}, {"- ", "", "sequence"}};
  for (size_t f = 0; f < sizeof forms / sizeof forms[0]; f++) {
    size_t lo = strlen(forms[f].open), lc = strlen(forms[f].close);
    size_t len = 32 + DEPTH * (lo + lc);
    char *text = malloc(len);
    ck_assert_ptr_nonnull(text);
    /* block sequences start on their own line, flow ones after the key */
    size_t n = (size_t)snprintf(text, len, "name: deep\nfoo:%s", lc ? " " : "\n  ");
    for (int i = 0; i < DEPTH; i++, n += lo) memcpy(text + n, forms[f].open, lo);
    text[n++] = '1';
    for (int i = 0; i < DEPTH; i++, n += lc) memcpy(text + n, forms[f].close, lc);
    text[n++] = '\n';
    text[n] = '\0';
    write_text("deep.yaml", text);
    free(text);
    /* the root mapping is level 1; the 64th opening is level 65 */
    size_t col = (lc ? 6 : 3) + 63 * lo;
    char want[256];
    snprintf(want, sizeof want,
             "deep.yaml:%d:%zu: error: found a %s nested 65 deep, expected at most 64 levels of "
             "nesting\n",
             lc ? 2 : 3, col, forms[f].kind);
    check_model("deep.yaml", 1, want);
  }
}
END_TEST

/* ---- size-driven costs ---------------------------------------------------- */

/* A valid graph of 10^5 layers: name lookups were linear (62 s). */
START_TEST(test_many_layers) {
  enum { LAYERS = 100000 };
  size_t len = 512 + (size_t)LAYERS * 48, n = 0;
  char *text = malloc(len);
  ck_assert_ptr_nonnull(text);
  n += (size_t)snprintf(text + n, len - n,
                        MODEL_HEAD "network:\n  kind: graph\n  layers:\n"
                                   "    - {name: l0, op: dense, input: mu, units: 2}\n");
  for (int i = 1; i < LAYERS; i++)
    n += (size_t)snprintf(text + n, len - n, "    - {name: l%d, op: %s}\n", i,
                          i % 2 ? "silu" : "tanh");
  n += (size_t)snprintf(text + n, len - n, "  output: l%d\nweights: w.safetensors\n", LAYERS / 2);
  ck_assert_uint_lt(n, len);
  write_text("layers.yaml", text);
  free(text);
  weight_set ws;
  weight_set_init(&ws);
  float w[4] = {1, 0, 0, 1}, b[2] = {0, 0};
  ck_assert_int_eq(weight_set_add(&ws, "l0.weight", 2, (uint64_t[]){2, 2}, w), 0);
  ck_assert_int_eq(weight_set_add(&ws, "l0.bias", 1, (uint64_t[]){2}, b), 0);
  char path[PATH_MAX + 64], err[512];
  path_in(path, sizeof path, "w.safetensors");
  ck_assert_msg(weights_save_safetensors(path, &ws, err, sizeof err) == 0, "%s", err);
  weight_set_free(&ws);
  check_model("layers.yaml", 0, "");
}
END_TEST

/* 10^5 tensors: sorting by name and finding each were quadratic (> 150 s). */
START_TEST(test_many_tensors) {
  enum { TENSORS = 100000 };
  size_t len = 64 + (size_t)TENSORS * 80, n = 0;
  char *json = malloc(len);
  ck_assert_ptr_nonnull(json);
  json[n++] = '{';
  /* written in reverse name order, so the loader's sort has work to do */
  for (int i = TENSORS - 1; i >= 0; i--)
    n += (size_t)snprintf(json + n, len - n,
                          "\"t%06d\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[%d,%d]}%s",
                          i, 4 * i, 4 * i + 4, i ? "," : "}");
  ck_assert_uint_lt(n, len);
  size_t total = 8 + n + 4 * (size_t)TENSORS;
  unsigned char *file = calloc(total, 1);
  ck_assert_ptr_nonnull(file);
  for (int i = 0; i < 8; i++) file[i] = (unsigned char)((uint64_t)n >> (8 * i));
  memcpy(file + 8, json, n);
  char path[PATH_MAX + 64], err[512], name[16];
  path_in(path, sizeof path, "many.safetensors");
  tu_write_file(path, file, total);
  double t0 = cpu_seconds(RUSAGE_SELF);
  weight_set ws;
  ck_assert_msg(weights_load_safetensors(path, &ws, err, sizeof err) == 0, "%s", err);
  ck_assert_uint_eq(ws.count, TENSORS);
  for (int i = 0; i < TENSORS; i++) {
    snprintf(name, sizeof name, "t%06d", i);
    const weight_tensor *t = weights_find(&ws, name);
    ck_assert_msg(t == &ws.tensors[i], "tensor %s not found in name order", name);
  }
  weight_set_free(&ws);
  /* the last key repeats the first: reported by name, not as an offset */
  memcpy(json + n - 1, ",\"t099999\":{}}", 15);
  size_t n2 = n + 13;
  for (int i = 0; i < 8; i++) file[i] = (unsigned char)((uint64_t)n2 >> (8 * i));
  unsigned char *file2 = malloc(8 + n2);
  ck_assert_ptr_nonnull(file2);
  memcpy(file2, file, 8);
  memcpy(file2 + 8, json, n2);
  tu_write_file(path, file2, 8 + n2);
  ck_assert_int_ne(weights_load_safetensors(path, &ws, err, sizeof err), 0);
  char want[PATH_MAX + 256];
  snprintf(want, sizeof want,
           "%s: tensor 't099999' is named twice in the header, expected unique names", path);
  ck_assert_str_eq(err, want);
  double cpu = cpu_seconds(RUSAGE_SELF) - t0;
  ck_assert_msg(cpu < CPU_BOUND, "%.2f s of CPU, expected under %.0f s", cpu, CPU_BOUND);
  free(file);
  free(file2);
  free(json);
}
END_TEST

/* A header length that does not fit the file is refused before anything
 * past the length is read (a 6 GiB file used to be read whole first). */
START_TEST(test_lying_header_length) {
  static const uint64_t lengths[] = {UINT64_C(1) << 40, UINT64_C(200) << 20};
  const off_t size = (off_t)6 << 30;
  for (size_t i = 0; i < 2; i++) {
    unsigned char head[10] = {0};
    for (int k = 0; k < 8; k++) head[k] = (unsigned char)(lengths[i] >> (8 * k));
    memcpy(head + 8, "{}", 2);
    write_sparse("big.safetensors", head, sizeof head, size);
    char path[PATH_MAX + 64], err[512], want[PATH_MAX + 256];
    path_in(path, sizeof path, "big.safetensors");
    double t0 = cpu_seconds(RUSAGE_SELF);
    weight_set ws;
    ck_assert_int_ne(weights_load_safetensors(path, &ws, err, sizeof err), 0);
    double cpu = cpu_seconds(RUSAGE_SELF) - t0;
    snprintf(want, sizeof want, "%s: header length %llu does not fit a file of %llu bytes%s", path,
             (unsigned long long)lengths[i], (unsigned long long)size,
             i ? " (headers are limited to 100 MiB)" : "");
    ck_assert_str_eq(err, want);
    ck_assert_msg(cpu < 1.0, "%.2f s of CPU reading a header", cpu);
  }
}
END_TEST

/* ---- special files ----------------------------------------------------------- */

#define GRAPH_MODEL                                                                                \
  MODEL_HEAD "network:\n  kind: graph\n  layers:\n"                                                \
             "    - {name: out, op: dense, input: mu, units: 2}\n"

/* A FIFO blocked forever, /dev/zero read until memory ran out, a directory
 * was "invalid text at byte 0". */
START_TEST(test_special_files) {
  char fifo[PATH_MAX + 64], dir[PATH_MAX + 64];
  path_in(fifo, sizeof fifo, "fifo");
  path_in(dir, sizeof dir, "dir.yaml");
  ck_assert_int_eq(mkfifo(fifo, 0600), 0);
  ck_assert_int_eq(mkdir(dir, 0700), 0);
  check_model("fifo", 1, "error: 'fifo' is not a regular file (a FIFO)\n");
  check_model("dir.yaml", 1, "error: 'dir.yaml' is not a regular file (a directory)\n");
  check_model("/dev/zero", 1, "error: '/dev/zero' is not a regular file (a character device)\n");

  write_text("weights.yaml", GRAPH_MODEL "weights: fifo\n");
  check_model("weights.yaml", 1,
              "weights.yaml:9:10: error: 'fifo' is not a regular file (a FIFO)\n");

  static const char *const atoms[][2] = {
      {"fifo", "normal-normal"},
      {"/dev/zero", "normal-normal"},
      {"fifo", "dirichlet-categorical"},
      {"/dev/zero", "dirichlet-categorical"},
  };
  for (size_t i = 0; i < sizeof atoms / sizeof atoms[0]; i++) {
    int cat = atoms[i][1][0] == 'd';
    char text[512], want[256];
    snprintf(text, sizeof text,
             "name: limits\npair: %s\ndata: {shape: [2]%s}\n"
             "schedule: {kind: geometric, steps: 10, start: 0.01, end: 1000}\n"
             "network: {kind: exact, atoms: %s}\n",
             atoms[i][1], cat ? ", vocab: ab" : "", atoms[i][0]);
    write_text("atoms.yaml", text);
    snprintf(want, sizeof want, "atoms.yaml:5:31: error: '%s' is not a regular file (%s)\n",
             atoms[i][0], atoms[i][0][0] == '/' ? "a character device" : "a FIFO");
    check_model("atoms.yaml", 1, want);
  }
}
END_TEST

/* Text inputs are read whole, so each has a size limit (checked before a
 * byte is read: these files are holes). */
START_TEST(test_size_limits) {
  write_sparse("big.yaml", "name: big\n", 10, (off_t)PMM_INFILE_MAX_MODEL + 1);
  char want[512];
  snprintf(want, sizeof want,
           "error: 'big.yaml' is too large: %llu bytes, the limit for a model file is %llu\n",
           (unsigned long long)PMM_INFILE_MAX_MODEL + 1, (unsigned long long)PMM_INFILE_MAX_MODEL);
  check_model("big.yaml", 1, want);

  write_sparse("big.txt", "ab\n", 3, (off_t)PMM_INFILE_MAX_ATOMS_TEXT + 1);
  write_text("atoms.yaml", "name: limits\npair: dirichlet-categorical\ndata: {shape: [2], vocab: "
                           "ab}\nschedule: {kind: geometric, steps: 10, start: 0.01, end: 1000}\n"
                           "network: {kind: exact, atoms: big.txt}\n");
  snprintf(want, sizeof want,
           "atoms.yaml:5:31: error: 'big.txt' is too large: %llu bytes, the limit for an atoms "
           "file is %llu\n",
           (unsigned long long)PMM_INFILE_MAX_ATOMS_TEXT + 1,
           (unsigned long long)PMM_INFILE_MAX_ATOMS_TEXT);
  check_model("atoms.yaml", 1, want);
}
END_TEST

int main(void) {
  printf("test_limits: generated inputs in a temporary folder (no random seeds used)\n");
  Suite *s = suite_create("frontend-limits");
  TCase *tc = tcase_create("limits");
  tcase_add_checked_fixture(tc, setup_tmp, teardown_tmp);
  tcase_set_timeout(tc, 600);
  tcase_add_test(tc, test_deep_nesting);
  tcase_add_test(tc, test_many_layers);
  tcase_add_test(tc, test_many_tensors);
  tcase_add_test(tc, test_lying_header_length);
  tcase_add_test(tc, test_special_files);
  tcase_add_test(tc, test_size_limits);
  suite_add_tcase(s, tc);
  int failed = tu_run_suite(s);
  return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
