/*
 * embed_prog.c - a program embedding two compiled models (gmm8, words50)
 * through their generated headers, driven by test_embed.c:
 *
 *   embed_prog sample N FIRST SEED DIR   write DIR/gmm8.bin and DIR/words50.bin
 *                                        (raw floats; _sample and _sample_mt agree)
 *   embed_prog threads                   8 threads, one handle, own workspaces,
 *                                        overlapping ranges == one call; no
 *                                        allocation inside _sample
 *   embed_prog errors                    every invalid argument gives its status
 *   embed_prog skew                      header/library mismatches give _ERR_VERSION
 *
 * Prints what failed and exits 1, or exits 0.  malloc and friends are
 * interposed to count the calls a thread makes while inside _sample.
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gmm8.h"
#include "words50.h"

extern void *__libc_malloc(size_t);
extern void *__libc_calloc(size_t, size_t);
extern void *__libc_realloc(void *, size_t);
extern void *__libc_memalign(size_t, size_t);

static __thread int in_sample;
static int allocations; /* made while in_sample; atomically incremented */

void *malloc(size_t n) {
  if (in_sample) __atomic_add_fetch(&allocations, 1, __ATOMIC_RELAXED);
  return __libc_malloc(n);
}
void *calloc(size_t k, size_t n) {
  if (in_sample) __atomic_add_fetch(&allocations, 1, __ATOMIC_RELAXED);
  return __libc_calloc(k, n);
}
void *realloc(void *p, size_t n) {
  if (in_sample) __atomic_add_fetch(&allocations, 1, __ATOMIC_RELAXED);
  return __libc_realloc(p, n);
}
int posix_memalign(void **p, size_t align, size_t n) {
  if (in_sample) __atomic_add_fetch(&allocations, 1, __ATOMIC_RELAXED);
  *p = __libc_memalign(align, n);
  return *p ? 0 : 12;
}
void *aligned_alloc(size_t align, size_t n) {
  if (in_sample) __atomic_add_fetch(&allocations, 1, __ATOMIC_RELAXED);
  return __libc_memalign(align, n);
}

static int failures;
#define EXPECT(cond)                                                                               \
  do {                                                                                             \
    if (!(cond)) {                                                                                 \
      fprintf(stderr, "embed_prog:%d: failed: %s\n", __LINE__, #cond);                             \
      failures++;                                                                                  \
    }                                                                                              \
  } while (0)

static int write_raw(const char *dir, const char *name, const float *x, size_t n) {
  char path[4096];
  snprintf(path, sizeof path, "%s/%s", dir, name);
  FILE *f = fopen(path, "wb");
  if (!f || fwrite(x, sizeof *x, n, f) != n || fclose(f) != 0) return -1;
  return 0;
}

static int cmd_sample(char **argv) {
  size_t n = strtoul(argv[0], NULL, 10);
  uint64_t first = strtoull(argv[1], NULL, 10), seed = strtoull(argv[2], NULL, 10);
  char err[256];
  gmm8_params p;
  gmm8_params_init(&p);
  gmm8_model *g;
  words50_model *w;
  if (gmm8_open(&p, &g, err, sizeof err) != GMM8_OK || words50_open(NULL, &w, err, sizeof err)) {
    fprintf(stderr, "embed_prog: %s\n", err);
    return 1;
  }
  size_t ng = n * GMM8_SAMPLE_ELEMS, nw = n * WORDS50_SAMPLE_ELEMS;
  size_t ws_bytes = GMM8_WORKSPACE_BYTES > WORDS50_WORKSPACE_BYTES ? GMM8_WORKSPACE_BYTES
                                                                   : WORDS50_WORKSPACE_BYTES;
  void *ws = aligned_alloc(64, (ws_bytes + 63) / 64 * 64);
  float *a = malloc(ng * sizeof *a), *b = malloc(ng * sizeof *b);
  float *c = malloc(nw * sizeof *c), *d = malloc(nw * sizeof *d);
  EXPECT(gmm8_sample(g, ws, ws_bytes, seed, first, n, a, ng) == GMM8_OK);
  EXPECT(gmm8_sample_mt(g, 3, seed, first, n, b, ng) == GMM8_OK);
  EXPECT(words50_sample(w, ws, ws_bytes, seed, first, n, c, nw) == WORDS50_OK);
  EXPECT(words50_sample_mt(w, 0, seed, first, n, d, nw) == WORDS50_OK);
  EXPECT(memcmp(a, b, ng * sizeof *a) == 0);
  EXPECT(memcmp(c, d, nw * sizeof *c) == 0);
  EXPECT(write_raw(argv[3], "gmm8.bin", a, ng) == 0);
  EXPECT(write_raw(argv[3], "words50.bin", c, nw) == 0);
  free(a), free(b), free(c), free(d), free(ws);
  gmm8_close(g);
  words50_close(w);
  return failures != 0;
}

#define THREADS 8
#define PER_THREAD 100
#define STRIDE 37 /* ranges overlap: thread k takes [k STRIDE, k STRIDE + PER_THREAD) */

typedef struct job {
  const words50_model *model;
  uint64_t first;
  float *out;
  int status;
} job;

static void *thread_main(void *arg) {
  job *j = arg;
  void *ws = aligned_alloc(WORDS50_WORKSPACE_ALIGN, WORDS50_WORKSPACE_BYTES);
  in_sample = 1;
  j->status = words50_sample(j->model, ws, WORDS50_WORKSPACE_BYTES, 11, j->first, PER_THREAD,
                             j->out, PER_THREAD * WORDS50_SAMPLE_ELEMS);
  in_sample = 0;
  free(ws);
  return NULL;
}

static int cmd_threads(void) {
  char err[256];
  words50_model *w;
  if (words50_open(NULL, &w, err, sizeof err) != WORDS50_OK) {
    fprintf(stderr, "embed_prog: %s\n", err);
    return 1;
  }
  size_t total = (THREADS - 1) * STRIDE + PER_THREAD, row = WORDS50_SAMPLE_ELEMS;
  float *ref = malloc(total * row * sizeof *ref);
  EXPECT(words50_sample_mt(w, 1, 11, 0, total, ref, total * row) == WORDS50_OK);
  job jobs[THREADS];
  pthread_t tids[THREADS];
  for (int k = 0; k < THREADS; k++) {
    jobs[k] = (job){w, (uint64_t)k * STRIDE, malloc(PER_THREAD * row * sizeof(float)), -1};
    EXPECT(pthread_create(&tids[k], NULL, thread_main, &jobs[k]) == 0);
  }
  for (int k = 0; k < THREADS; k++) {
    pthread_join(tids[k], NULL);
    EXPECT(jobs[k].status == WORDS50_OK);
    EXPECT(memcmp(jobs[k].out, ref + jobs[k].first * row, PER_THREAD * row * sizeof(float)) == 0);
    free(jobs[k].out);
  }
  EXPECT(allocations == 0);
  printf("threads: %d x %d samples, %d allocations inside words50_sample\n", THREADS, PER_THREAD,
         allocations);
  free(ref);
  words50_close(w);
  return failures != 0;
}

static int cmd_errors(void) {
  char err[256];
  gmm8_model *g;
  EXPECT(gmm8_open(NULL, NULL, err, sizeof err) == GMM8_ERR_ARGUMENT);
  EXPECT(gmm8_open(NULL, &g, err, sizeof err) == GMM8_OK);
  words50_model *w;
  EXPECT(words50_open(NULL, &w, NULL, 0) == WORDS50_OK);
  enum { N = 10 };
  float out[N * GMM8_SAMPLE_ELEMS];
  void *ws = aligned_alloc(64, GMM8_WORKSPACE_BYTES + 64);
  size_t len = N * GMM8_SAMPLE_ELEMS, wsb = GMM8_WORKSPACE_BYTES;
  EXPECT(gmm8_sample(NULL, ws, wsb, 1, 0, N, out, len) == GMM8_ERR_ARGUMENT);
  EXPECT(gmm8_sample((const gmm8_model *)w, ws, wsb, 1, 0, N, out, len) == GMM8_ERR_ARGUMENT);
  EXPECT(gmm8_sample(g, ws, wsb, 1, 0, N, NULL, len) == GMM8_ERR_ARGUMENT);
  EXPECT(gmm8_sample(g, ws, wsb, 1, 0, N, out, len - 1) == GMM8_ERR_BUFFER);
  EXPECT(gmm8_sample(g, ws, wsb, 1, UINT64_MAX - 5, N, out, len) == GMM8_ERR_RANGE);
  EXPECT(gmm8_sample(g, NULL, wsb, 1, 0, N, out, len) == GMM8_ERR_WORKSPACE);
  EXPECT(gmm8_sample(g, ws, wsb - 1, 1, 0, N, out, len) == GMM8_ERR_WORKSPACE);
  EXPECT(gmm8_sample(g, (char *)ws + 16, wsb, 1, 0, N, out, len) == GMM8_ERR_WORKSPACE);
  EXPECT(gmm8_sample(g, ws, wsb, 1, 0, 0, NULL, 0) == GMM8_OK);
  EXPECT(gmm8_sample_mt(g, 2, 1, 0, N, out, len - 1) == GMM8_ERR_BUFFER);
  EXPECT(gmm8_sample_mt(g, 2, 1, UINT64_MAX, 2, out, len) == GMM8_ERR_RANGE);
  EXPECT(gmm8_sample(g, ws, wsb, 1, 0, N, out, len) == GMM8_OK);
  float mu[2] = {0}, tau[1] = {0}, y[2];
  EXPECT(gmm8_predict(g, ws, wsb, mu, tau, 1, y, 2) == GMM8_ERR_UNSUPPORTED);
  gmm8_info info;
  EXPECT(gmm8_get_info(NULL) == GMM8_ERR_ARGUMENT);
  EXPECT(gmm8_get_info(&info) == GMM8_OK);
  EXPECT(strcmp(info.name, "gmm8") == 0 && info.sample_elems == GMM8_SAMPLE_ELEMS &&
         info.workspace_bytes == GMM8_WORKSPACE_BYTES && info.steps == GMM8_STEPS &&
         strcmp(info.build_id, GMM8_BUILD_ID) == 0 && strcmp(info.pair, "normal-normal") == 0);
  words50_info wi;
  EXPECT(words50_get_info(&wi) == WORDS50_OK);
  EXPECT(wi.vocab != NULL && wi.vocab_size == WORDS50_VOCAB_SIZE);
  EXPECT(strcmp(gmm8_status_string(GMM8_ERR_BUFFER), "output buffer too short") == 0);
  EXPECT(strcmp(gmm8_status_string(99), "unknown status") == 0);
  gmm8_close(NULL);
  gmm8_close(g);
  words50_close(w);
  free(ws);
  return failures != 0;
}

static int cmd_skew(void) {
  char err[256];
  gmm8_model *g;
  gmm8_params p;
  gmm8_params_init(&p);
  p.api_version = GMM8_API_VERSION + 1;
  EXPECT(gmm8_open(&p, &g, err, sizeof err) == GMM8_ERR_VERSION && g == NULL);
  EXPECT(strstr(err, "API version") != NULL);
  gmm8_params_init(&p);
  p.struct_size = 4;
  EXPECT(gmm8_open(&p, &g, err, sizeof err) == GMM8_ERR_VERSION);
  gmm8_params_init(&p);
  p.build_id = "0123456789abcdef";
  EXPECT(gmm8_open(&p, &g, err, sizeof err) == GMM8_ERR_VERSION);
  EXPECT(strstr(err, "another build") != NULL);
  gmm8_params_init(&p);
  p.alloc = NULL;
  p.free = (void (*)(void *, void *))1;
  EXPECT(gmm8_open(&p, &g, err, sizeof err) == GMM8_ERR_ARGUMENT);
  return failures != 0;
}

int main(int argc, char **argv) {
  if (argc == 6 && strcmp(argv[1], "sample") == 0) return cmd_sample(argv + 2);
  if (argc == 2 && strcmp(argv[1], "threads") == 0) return cmd_threads();
  if (argc == 2 && strcmp(argv[1], "errors") == 0) return cmd_errors();
  if (argc == 2 && strcmp(argv[1], "skew") == 0) return cmd_skew();
  fprintf(stderr, "usage: embed_prog sample N FIRST SEED DIR | threads | errors | skew\n");
  return 2;
}
