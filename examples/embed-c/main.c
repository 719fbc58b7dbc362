/*
 * embed-c - two compiled models in one C program, linked statically
 * (examples/README.md):
 *
 *     embed-c [N [SEED [FIRST_INDEX]]]
 *
 * prints samples FIRST_INDEX .. FIRST_INDEX + N - 1 (default 8, 0, 0) of
 * gmm8 as CSV and of words50 as words, each after a '#' line: the lines a
 * sampler executable built with --gemm=llvm prints with `-s SEED
 * --first-index FIRST_INDEX --format csv` and `--format txt`.
 *
 * gmm8 samples on this thread in a workspace the program owns (gmm8_sample);
 * words50 on one thread per CPU (words50_sample_mt).  Both give the same bits.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>

#include "gmm8.h"
#include "words50.h"

static int parse_u64(const char *s, const char *what, uint64_t *v) {
  char *end;
  errno = 0;
  unsigned long long x = strtoull(s, &end, 10);
  if (*s < '0' || *s > '9' || *end || errno) {
    fprintf(stderr, "embed-c: %s must be a non-negative integer, not '%s'\n", what, s);
    return -1;
  }
  *v = x;
  return 0;
}

static int print_gmm8(size_t n, uint64_t seed, uint64_t first) {
  char err[256];
  gmm8_params params;
  gmm8_params_init(&params); /* lets gmm8_open check that gmm8.h matches the library */
  gmm8_model *model;
  if (gmm8_open(&params, &model, err, sizeof err) != GMM8_OK) {
    fprintf(stderr, "embed-c: gmm8: %s\n", err);
    return -1;
  }
  /* aligned_alloc wants a size that is a multiple of the alignment */
  size_t ws_bytes = (GMM8_WORKSPACE_BYTES + GMM8_WORKSPACE_ALIGN - 1) / GMM8_WORKSPACE_ALIGN *
                    GMM8_WORKSPACE_ALIGN;
  void *ws = aligned_alloc(GMM8_WORKSPACE_ALIGN, ws_bytes);
  float *out = malloc(n * GMM8_SAMPLE_ELEMS * sizeof *out);
  int rc = -1;
  /* malloc(0) may answer NULL, which the library takes as the output of 0 samples */
  if (!ws || (!out && n > 0)) {
    fprintf(stderr, "embed-c: out of memory for %zu samples of gmm8\n", n);
  } else {
    gmm8_status st = gmm8_sample(model, ws, ws_bytes, seed, first, n, out, n * GMM8_SAMPLE_ELEMS);
    if (st != GMM8_OK) {
      fprintf(stderr, "embed-c: gmm8_sample: %s\n", gmm8_status_string(st));
    } else {
      printf("# gmm8: %zu samples, seed %" PRIu64 ", first index %" PRIu64 "\n", n, seed, first);
      for (size_t i = 0; i < n; i++) {
        for (size_t e = 0; e < GMM8_SAMPLE_ELEMS; e++)
          printf(e ? ",%.9g" : "%.9g", out[i * GMM8_SAMPLE_ELEMS + e]);
        putchar('\n');
      }
      rc = 0;
    }
  }
  free(out);
  free(ws);
  gmm8_close(model);
  return rc;
}

/* Bytes of the UTF-8 sequence a lead byte starts; the library's vocabulary
 * is valid UTF-8 (pmmc checks it), one code point a symbol. */
static size_t utf8_length(unsigned char b) {
  return b < 0xC0 ? 1 : b < 0xE0 ? 2 : b < 0xF0 ? 3 : 4;
}

/* One sample of symbol indices as text; trailing padding is dropped, as the
 * sampler's --format txt does, because words shorter than the sequence
 * length are padded at the end. */
static int print_word(const words50_info *info, const char **symbol, const float *x) {
  size_t end = 0;
  for (size_t i = 0; i < WORDS50_SAMPLE_ELEMS; i++) {
    if (!(x[i] >= 0 && x[i] < (float)info->vocab_size && x[i] == (float)(uint64_t)x[i])) {
      fprintf(stderr, "embed-c: words50 gave %g, which is not a symbol index\n", x[i]);
      return -1;
    }
    if ((int64_t)x[i] != info->pad_symbol) end = i + 1;
  }
  for (size_t i = 0; i < end; i++) {
    const char *s = symbol[(size_t)x[i]];
    fwrite(s, 1, utf8_length((unsigned char)*s), stdout);
  }
  putchar('\n');
  return 0;
}

static int print_words50(size_t n, uint64_t seed, uint64_t first) {
  char err[256];
  words50_params params;
  words50_params_init(&params);
  words50_model *model;
  if (words50_open(&params, &model, err, sizeof err) != WORDS50_OK) {
    fprintf(stderr, "embed-c: words50: %s\n", err);
    return -1;
  }
  words50_info info;
  words50_get_info(&info);
  const char *symbol[WORDS50_VOCAB_SIZE];
  const char *s = info.vocab;
  for (size_t k = 0; k < WORDS50_VOCAB_SIZE; k++, s += utf8_length((unsigned char)*s))
    symbol[k] = s;
  float *out = malloc(n * WORDS50_SAMPLE_ELEMS * sizeof *out);
  int rc = -1;
  if (!out && n > 0) {
    fprintf(stderr, "embed-c: out of memory for %zu samples of words50\n", n);
  } else {
    words50_status st = words50_sample_mt(model, 0, seed, first, n, out, n * WORDS50_SAMPLE_ELEMS);
    if (st != WORDS50_OK) {
      fprintf(stderr, "embed-c: words50_sample_mt: %s\n", words50_status_string(st));
    } else {
      printf("# words50: %zu samples, seed %" PRIu64 ", first index %" PRIu64 "\n", n, seed, first);
      rc = 0;
      for (size_t i = 0; i < n && rc == 0; i++)
        rc = print_word(&info, symbol, out + i * WORDS50_SAMPLE_ELEMS);
    }
  }
  free(out);
  words50_close(model);
  return rc;
}

int main(int argc, char **argv) {
  uint64_t n = 8, seed = 0, first = 0;
  if (argc > 4) {
    fprintf(stderr, "usage: embed-c [N [SEED [FIRST_INDEX]]]\n");
    return 2;
  }
  if ((argc > 1 && parse_u64(argv[1], "N", &n) != 0) ||
      (argc > 2 && parse_u64(argv[2], "SEED", &seed) != 0) ||
      (argc > 3 && parse_u64(argv[3], "FIRST_INDEX", &first) != 0))
    return 2;
  if (n > SIZE_MAX / sizeof(float) / (GMM8_SAMPLE_ELEMS + WORDS50_SAMPLE_ELEMS)) {
    fprintf(stderr, "embed-c: N=%" PRIu64 " is too many samples\n", n);
    return 2;
  }
  if (print_gmm8((size_t)n, seed, first) != 0 || print_words50((size_t)n, seed, first) != 0)
    return 1;
  return fflush(stdout) == 0 ? 0 : 1;
}
