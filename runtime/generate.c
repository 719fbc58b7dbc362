/*
 * generate.c - the blocked, threaded sample loop behind every sampler and
 * every embedded model (pmm_generate, pmm_generate_serial), and the block
 * loop of the network alone (pmm_predict_rows).
 *
 * Samples are computed in blocks of desc->block_size aligned to absolute
 * sample indices: block b always covers [b B, (b + 1) B), is always computed
 * in full (a partial last block is padded), and lands in a worker-private
 * buffer from which only the requested rows are copied out.  The model thus
 * sees exactly the same GEMM shapes and the same row for sample i whatever
 * the count, first index, thread count or shard are, which is what makes its
 * bits depend only on (desc, seed, i).
 *
 * Workers take block numbers from a shared counter; the order in which
 * blocks complete is irrelevant to the result.  Nothing here touches
 * process-wide state (an embedded model must not): the sampler executable
 * limits OpenBLAS's threads itself (sampler.c).
 */
#define _POSIX_C_SOURCE 200809L
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "runtime/pmmrt.h"

/* Shared by the workers of one pmm_generate call. */
typedef struct gen_job {
  const pmm_model_desc *desc;
  const pmm_allocator *alloc;
  uint64_t seed;
  uint64_t first, count; /* requested samples [first, first + count) */
  uint64_t block0, nblocks;
  float *out;

  pthread_mutex_t lock; /* guards next, failed and the error message */
  uint64_t next;        /* next block to hand out, relative to block0 */
  int failed;
  pmm_status status;
  char err[512];
} gen_job;

/* Room for what a model says about a failed block (pmm_block.msg). */
#define GEN_MSG_LEN 384

static pmm_status gen_fail(char *err, size_t errlen, pmm_status st, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static pmm_status gen_fail(char *err, size_t errlen, pmm_status st, const char *fmt, ...) {
  if (err && errlen > 0) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
  }
  return st;
}

/* Record the first failure; later ones are consequences or duplicates. */
static void job_fail(gen_job *job, pmm_status st, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void job_fail(gen_job *job, pmm_status st, const char *fmt, ...) {
  pthread_mutex_lock(&job->lock);
  if (!job->failed) {
    job->failed = 1;
    job->status = st;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(job->err, sizeof job->err, fmt, ap);
    va_end(ap);
  }
  pthread_mutex_unlock(&job->lock);
}

/* The next block to compute, or 0 when there is none (blocks are returned
 * 1-based so that 0 can mean "done"). */
static uint64_t job_take(gen_job *job) {
  uint64_t b = 0;
  pthread_mutex_lock(&job->lock);
  if (!job->failed && job->next < job->nblocks) b = ++job->next;
  pthread_mutex_unlock(&job->lock);
  return b;
}

static size_t round_up64(size_t n) { return (n + 63) / 64 * 64; }

size_t pmm_generate_workspace_bytes(const pmm_model_desc *desc) {
  size_t limit = SIZE_MAX / sizeof(float) / 2;
  if (desc->sample_elems > limit || desc->block_size > limit / desc->sample_elems ||
      desc->scratch_bytes > SIZE_MAX / 4)
    return SIZE_MAX;
  return round_up64((size_t)desc->scratch_bytes) +
         round_up64((size_t)(desc->block_size * desc->sample_elems) * sizeof(float));
}

/* Compute block number b (absolute) into the workspace and copy the rows
 * that fall inside [first, first + count) to out (whose row 0 is sample
 * `first`).  Returns run_block's code; after a failure msg holds what the
 * model said about it ("" if nothing). */
static int gen_block(const pmm_model_desc *desc, const uint32_t key[2], uint64_t seed,
                     uint64_t first, uint64_t count, uint64_t b, void *workspace, float *out,
                     char msg[GEN_MSG_LEN]) {
  uint64_t block_first = b * desc->block_size;
  size_t row = (size_t)desc->sample_elems;
  float *buf = (float *)((char *)workspace + round_up64((size_t)desc->scratch_bytes));
  msg[0] = '\0';
  pmm_block blk = {{key[0], key[1]}, seed, block_first, buf, workspace, msg, GEN_MSG_LEN};
  int rc = desc->run_block(desc->user, &blk);
  if (rc != 0) return rc;
  uint64_t lo = block_first > first ? block_first : first;
  uint64_t hi = block_first + desc->block_size;
  if (hi > first + count) hi = first + count;
  memcpy(out + (size_t)(lo - first) * row, buf + (size_t)(lo - block_first) * row,
         (size_t)(hi - lo) * row * sizeof(float));
  return 0;
}

static void *worker_main(void *arg) {
  gen_job *job = arg;
  const pmm_model_desc *desc = job->desc;
  size_t bytes = pmm_generate_workspace_bytes(desc);
  void *ws = job->alloc->alloc(job->alloc->ctx, bytes, 64);
  if (!ws) {
    job_fail(job, PMM_ERR_NOMEM, "out of memory for a %zu-byte workspace", bytes);
    return NULL;
  }
  uint32_t key[2];
  pmm_rng_key(job->seed, 0, key);
  uint64_t b1;
  char msg[GEN_MSG_LEN];
  while ((b1 = job_take(job)) != 0) {
    uint64_t b = job->block0 + b1 - 1;
    int rc = gen_block(desc, key, job->seed, job->first, job->count, b, ws, job->out, msg);
    if (rc != 0) {
      unsigned long long lo = b * desc->block_size, hi = (b + 1) * desc->block_size;
      if (msg[0])
        job_fail(job, PMM_ERR_MODEL, "sample block [%llu, %llu): %s", lo, hi, msg);
      else
        job_fail(job, PMM_ERR_MODEL, "model %s failed on samples [%llu, %llu) (code %d)",
                 desc->name ? desc->name : "?", lo, hi, rc);
      break;
    }
  }
  job->alloc->free(job->alloc->ctx, ws);
  return NULL;
}

pmm_status pmm_generate_check(const pmm_model_desc *desc, uint64_t first_index, uint64_t count,
                              char *err, size_t errlen) {
  if (!desc) return gen_fail(err, errlen, PMM_ERR_USAGE, "no model descriptor");
  if (desc->abi != PMM_DESC_ABI)
    return gen_fail(err, errlen, PMM_ERR_USAGE,
                    "model descriptor has ABI version %llu, this runtime expects %u",
                    (unsigned long long)desc->abi, PMM_DESC_ABI);
  if (!desc->run_block || desc->block_size == 0 || desc->sample_elems == 0)
    return gen_fail(err, errlen, PMM_ERR_USAGE,
                    "model descriptor lacks run_block, block_size or sample_elems");
  if (count > UINT64_MAX - first_index)
    return gen_fail(err, errlen, PMM_ERR_USAGE,
                    "sample range first index %llu + count %llu overflows 64 bits",
                    (unsigned long long)first_index, (unsigned long long)count);
  /* The last block may reach past first + count: its end must be
   * representable too. */
  uint64_t last = first_index + count - 1;
  if (count > 0 && last / desc->block_size >= UINT64_MAX / desc->block_size)
    return gen_fail(err, errlen, PMM_ERR_USAGE, "sample index %llu is out of range",
                    (unsigned long long)last);
  if (pmm_generate_workspace_bytes(desc) == SIZE_MAX)
    return gen_fail(err, errlen, PMM_ERR_NOMEM,
                    "a block of %llu x %llu floats with %llu bytes of scratch is too large",
                    (unsigned long long)desc->block_size, (unsigned long long)desc->sample_elems,
                    (unsigned long long)desc->scratch_bytes);
  if (count > SIZE_MAX / sizeof(float) / desc->sample_elems)
    return gen_fail(err, errlen, PMM_ERR_NOMEM, "%llu samples of %llu floats are too large",
                    (unsigned long long)count, (unsigned long long)desc->sample_elems);
  return PMM_OK;
}

pmm_status pmm_generate_serial(const pmm_model_desc *desc, uint64_t seed, uint64_t first_index,
                               uint64_t count, void *workspace, float *out, char *err,
                               size_t errlen) {
  uint32_t key[2];
  pmm_rng_key(seed, 0, key);
  uint64_t b_last = count ? (first_index + count - 1) / desc->block_size : 0;
  char msg[GEN_MSG_LEN];
  for (uint64_t b = first_index / desc->block_size; count && b <= b_last; b++) {
    int rc = gen_block(desc, key, seed, first_index, count, b, workspace, out, msg);
    if (rc == 0) continue;
    unsigned long long lo = b * desc->block_size, hi = (b + 1) * desc->block_size;
    if (msg[0])
      return gen_fail(err, errlen, PMM_ERR_MODEL, "sample block [%llu, %llu): %s", lo, hi, msg);
    return gen_fail(err, errlen, PMM_ERR_MODEL, "model %s failed on samples [%llu, %llu) (code %d)",
                    desc->name ? desc->name : "?", lo, hi, rc);
  }
  return PMM_OK;
}

static unsigned online_cpus(void) {
  long n = sysconf(_SC_NPROCESSORS_ONLN);
  return n > 0 ? (unsigned)(n < 1024 ? n : 1024) : 1;
}

static void *default_alloc(void *ctx, size_t bytes, size_t align) {
  (void)ctx;
  void *p = NULL;
  return posix_memalign(&p, align, bytes ? bytes : 1) == 0 ? p : NULL;
}

static void default_free(void *ctx, void *p) {
  (void)ctx;
  free(p);
}

const pmm_allocator pmm_default_allocator = {default_alloc, default_free, NULL};

pmm_status pmm_generate(const pmm_model_desc *desc, uint64_t seed, uint64_t first_index,
                        uint64_t count, unsigned threads, const pmm_allocator *alloc, float *out,
                        char *err, size_t errlen) {
  pmm_status st = pmm_generate_check(desc, first_index, count, err, errlen);
  if (st != PMM_OK || count == 0) return st;

  gen_job job;
  memset(&job, 0, sizeof job);
  job.desc = desc;
  job.alloc = alloc ? alloc : &pmm_default_allocator;
  job.seed = seed;
  job.first = first_index;
  job.count = count;
  job.block0 = first_index / desc->block_size;
  job.nblocks = (first_index + count - 1) / desc->block_size - job.block0 + 1;
  job.out = out;
  if (pthread_mutex_init(&job.lock, NULL) != 0)
    return gen_fail(err, errlen, PMM_ERR_NOMEM, "cannot create a mutex");

  if (threads == 0) threads = online_cpus();
  if (threads > job.nblocks) threads = (unsigned)job.nblocks;

  /* The calling thread is worker 0.  If a thread cannot be created the
   * others simply take more blocks: results do not depend on the count. */
  pthread_t *tids = NULL;
  unsigned started = 0;
  if (threads > 1) {
    tids = job.alloc->alloc(job.alloc->ctx, (threads - 1) * sizeof *tids, sizeof(void *));
    for (unsigned i = 0; tids && i + 1 < threads; i++) {
      if (pthread_create(&tids[i], NULL, worker_main, &job) != 0) break;
      started++;
    }
  }
  worker_main(&job);
  for (unsigned i = 0; i < started; i++) pthread_join(tids[i], NULL);
  if (tids) job.alloc->free(job.alloc->ctx, tids);
  pthread_mutex_destroy(&job.lock);

  if (job.failed) return gen_fail(err, errlen, job.status, "%s", job.err);
  return PMM_OK;
}

int pmm_predict_rows(pmm_run_block_fn run, void *user, size_t block_rows, size_t state_offset,
                     size_t in, size_t out_elems, void *scratch, float *res, const float *mu,
                     const float *tau, size_t n, float *out) {
  float *state = (float *)scratch + state_offset;
  for (size_t first = 0; first < n; first += block_rows) {
    size_t k = n - first < block_rows ? n - first : block_rows;
    memset(state, 0, block_rows * (in + 1) * sizeof *state);
    for (size_t r = 0; r < k; r++) {
      memcpy(state + r * (in + 1), mu + (first + r) * in, in * sizeof *state);
      state[r * (in + 1) + in] = tau[first + r];
    }
    pmm_block blk = {{0, 0}, 0, first, res, scratch, NULL, 0};
    int rc = run(user, &blk);
    if (rc != 0) return rc;
    memcpy(out + first * out_elems, res, k * out_elems * sizeof *out);
  }
  return 0;
}
