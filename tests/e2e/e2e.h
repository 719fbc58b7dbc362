/*
 * e2e.h - helpers shared by the end-to-end suites, which drive the real
 * `pmmc` binary and the samplers it generates through their command lines.
 *
 * Each suite builds its samplers once, in main() before the Check runner
 * starts (every test then runs in a forked child that inherits the paths and
 * build statuses), and checks the build status inside the tests, so a build
 * failure is reported as a test failure with the command that failed:
 *
 *     static e2e_env env;
 *     int main(void) {
 *         if (e2e_env_init(&env, "gmm8") != 0) return EXIT_FAILURE;
 *         int st = e2e_build(env.gmm8_yaml, "-O2", env.dir, "gmm8", path, sizeof path);
 *         ... srunner_run_all ...
 *         e2e_env_finish(&env, failed);
 *     }
 *
 * Sampler output is read with e2e_npy_load, which asserts the contract's
 * layout (float32, shape [rows, *data_shape]) and keeps the file's bytes so
 * payloads can be compared bytewise.
 */
#ifndef PMMC_E2E_H
#define PMMC_E2E_H

#include <limits.h>
#include <stddef.h>
#include <stdint.h>

#include "tests/util/testutil.h"

typedef struct e2e_env {
  char dir[PATH_MAX];       /* scratch directory for this program */
  char gmm8_yaml[PATH_MAX]; /* models/gmm8/model.yaml in the source tree */
} e2e_env;

/* Make the scratch directory (mkdtemp, no Check calls: usable from main).
 * Prints it.  0 on success. */
int e2e_env_init(e2e_env *env, const char *suite);
/* Remove the scratch directory, or keep it for inspection when tests failed. */
void e2e_env_finish(const e2e_env *env, int failed);

/* snprintf that reports truncation: 0 on success, -1 (with a message on
 * stderr) if the result did not fit.  Usable outside tests. */
int e2e_format(char *out, size_t len, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* The same inside a test: truncation aborts the test. */
void e2e_path(char *out, size_t len, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* `pmmc build MODEL FLAGS -o DIR/NAME`; the output path goes to out.
 * Returns pmmc's exit status (see tu_run). */
int e2e_build(const char *model, const char *flags, const char *dir, const char *name, char *out,
              size_t outlen);

/* A sampler output file: its bytes and its parsed contents. */
typedef struct e2e_npy {
  char *bytes; /* the whole file */
  size_t len;
  size_t payload;     /* offset of the array data in bytes */
  size_t payload_len; /* len - payload */
  pmm_array a;
} e2e_npy;

/* Load PATH and assert it is a C-order little-endian float32 .npy of shape
 * [rows, cols] whose payload is exactly rows * cols * 4 bytes. */
void e2e_npy_load(const char *path, uint64_t rows, uint64_t cols, e2e_npy *out);
/* The same for samples of shape [shape[0], .., shape[rank-1]]: asserts the
 * file's shape is [rows, shape...]. */
void e2e_npy_load_shape(const char *path, uint64_t rows, uint32_t rank, const uint64_t *shape,
                        e2e_npy *out);
void e2e_npy_free(e2e_npy *n);

/* PMMC_SRCDIR/models/NAME/model.yaml into out; 0 on success (usable from main). */
int e2e_model_yaml(const char *name, char *out, size_t len);

/* Write text to path, replacing it; 0 on success, else -1 with a message in
 * err.  Usable from main (no Check calls). */
int e2e_write_text(const char *path, const char *text, char *err, size_t errlen);
/* Write a C-order float32 .npy; 0 on success, else -1 with a message in err. */
int e2e_write_npy(const char *path, uint32_t rank, const uint64_t *shape, const float *data,
                  char *err, size_t errlen);

/* A dense layer of a random-weight network written by a test. */
typedef struct e2e_dense {
  const char *name;
  uint64_t in, units;
  int bias;
} e2e_dense;

/* Write "<name>.weight" [units, in] and "<name>.bias" [units] for each layer,
 * Gaussian with standard deviation scale / sqrt(in), from GSL's mt19937 seeded
 * with seed, as safetensors.  0 on success, else -1 with a message in err. */
int e2e_write_dense_weights(const char *path, const e2e_dense *layers, size_t n, unsigned long seed,
                            double scale, char *err, size_t errlen);

/* A tensor with given values, for weights a test spells out. */
typedef struct e2e_tensor {
  const char *name;
  uint32_t rank;
  uint64_t shape[2];
  const float *data; /* shape[0] x .. floats */
} e2e_tensor;

/* Write the n tensors as safetensors; 0 on success, else -1 with a message
 * in err.  Usable from main. */
int e2e_write_tensors(const char *path, const e2e_tensor *t, size_t n, char *err, size_t errlen);

/* Number of directory entries other than "." and ".."; -1 if unreadable. */
long e2e_count_entries(const char *dir);

/* strstr that tolerates a NULL haystack. */
int e2e_contains(const char *hay, const char *needle);
/* Case-insensitive variant. */
int e2e_contains_nocase(const char *hay, const char *needle);

/* Largest |a[i] - b[i]| / (1 + |b[i]|) over n floats, and the index where it
 * occurs in *where (NaN anywhere counts as infinitely different). */
double e2e_max_scaled_diff(const float *a, const float *b, size_t n, size_t *where);

#endif
