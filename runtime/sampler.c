/*
 * sampler.c - the blocked, threaded sample loop behind every sampler.
 *
 * Samples are computed in blocks of desc->block_size aligned to absolute
 * sample indices: block b always covers [b B, (b + 1) B), is always computed
 * in full (a partial last block is padded), and lands in a worker-private
 * buffer from which only the requested rows are copied out.  The model thus
 * sees exactly the same GEMM shapes and the same row for sample i whatever
 * -n, --first-index, --threads or --shard are, which is what makes its bits
 * depend only on (desc, seed, i).
 *
 * Workers take block numbers from a shared counter; the order in which
 * blocks complete is irrelevant to the result.  OpenBLAS is limited to one
 * thread so that it does not oversubscribe the cores the workers occupy.
 */
#define _POSIX_C_SOURCE 200809L
#include <cblas.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "runtime/pmmrt.h"

/* Shared by the workers of one pmm_sampler_generate call. */
typedef struct gen_job {
  const pmm_model_desc *desc;
  uint64_t seed;
  uint32_t key[2];
  uint64_t first, count; /* requested samples [first, first + count) */
  uint64_t block0, nblocks;
  size_t row_floats;   /* sample_elems */
  size_t block_floats; /* block_size * sample_elems */
  float *out;

  pthread_mutex_t lock; /* guards next, failed and the error message */
  uint64_t next;        /* next block to hand out, relative to block0 */
  int failed;
  pmm_status status;
  char err[256];
} gen_job;

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

static void *worker_main(void *arg) {
  gen_job *job = arg;
  const pmm_model_desc *desc = job->desc;
  void *buf = NULL, *scratch = NULL;
  if (posix_memalign(&buf, 64, job->block_floats * sizeof(float)) != 0) {
    job_fail(job, PMM_ERR_NOMEM, "out of memory for a block of %llu samples",
             (unsigned long long)desc->block_size);
    return NULL;
  }
  if (desc->scratch_bytes > 0) {
    /* Round up to whole cache lines; overflow was ruled out by the caller. */
    size_t bytes = ((size_t)desc->scratch_bytes + 63) / 64 * 64;
    if (posix_memalign(&scratch, 64, bytes) != 0) {
      free(buf);
      job_fail(job, PMM_ERR_NOMEM, "out of memory for %llu bytes of model scratch",
               (unsigned long long)desc->scratch_bytes);
      return NULL;
    }
  }
  uint64_t b1;
  while ((b1 = job_take(job)) != 0) {
    uint64_t block_first = (job->block0 + b1 - 1) * desc->block_size;
    pmm_block blk = {{job->key[0], job->key[1]}, job->seed, block_first, buf, scratch};
    int rc = desc->run_block(desc->user, &blk);
    if (rc != 0) {
      job_fail(job, PMM_ERR_MODEL, "model %s failed on samples [%llu, %llu) (code %d)",
               desc->name ? desc->name : "?", (unsigned long long)block_first,
               (unsigned long long)(block_first + desc->block_size), rc);
      break;
    }
    uint64_t lo = block_first > job->first ? block_first : job->first;
    uint64_t hi = block_first + desc->block_size;
    if (hi > job->first + job->count) hi = job->first + job->count;
    memcpy(job->out + (size_t)(lo - job->first) * job->row_floats,
           (float *)buf + (size_t)(lo - block_first) * job->row_floats,
           (size_t)(hi - lo) * job->row_floats * sizeof(float));
  }
  free(scratch);
  free(buf);
  return NULL;
}

/* Everything about desc and the request that could overflow or is
 * inconsistent, checked once before any thread starts. */
static pmm_status check_request(const pmm_model_desc *desc, uint64_t first_index, uint64_t count,
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
  size_t limit = SIZE_MAX / sizeof(float);
  if (desc->sample_elems > limit || desc->block_size > limit / desc->sample_elems)
    return gen_fail(err, errlen, PMM_ERR_NOMEM, "a block of %llu x %llu floats is too large",
                    (unsigned long long)desc->block_size, (unsigned long long)desc->sample_elems);
  if (count > limit / desc->sample_elems)
    return gen_fail(err, errlen, PMM_ERR_NOMEM, "%llu samples of %llu floats are too large",
                    (unsigned long long)count, (unsigned long long)desc->sample_elems);
  if (desc->scratch_bytes > SIZE_MAX - 63)
    return gen_fail(err, errlen, PMM_ERR_NOMEM, "model scratch of %llu bytes is too large",
                    (unsigned long long)desc->scratch_bytes);
  return PMM_OK;
}

static unsigned online_cpus(void) {
  long n = sysconf(_SC_NPROCESSORS_ONLN);
  return n > 0 ? (unsigned)(n < 1024 ? n : 1024) : 1;
}

pmm_status pmm_sampler_generate(const pmm_model_desc *desc, uint64_t seed, uint64_t first_index,
                                uint64_t count, unsigned threads, float *out, char *err,
                                size_t errlen) {
  pmm_status st = check_request(desc, first_index, count, err, errlen);
  if (st != PMM_OK || count == 0) return st;

  gen_job job;
  memset(&job, 0, sizeof job);
  job.desc = desc;
  job.seed = seed;
  pmm_rng_key(seed, 0, job.key);
  job.first = first_index;
  job.count = count;
  job.block0 = first_index / desc->block_size;
  job.nblocks = (first_index + count - 1) / desc->block_size - job.block0 + 1;
  job.row_floats = (size_t)desc->sample_elems;
  job.block_floats = (size_t)desc->block_size * job.row_floats;
  job.out = out;
  if (pthread_mutex_init(&job.lock, NULL) != 0)
    return gen_fail(err, errlen, PMM_ERR_NOMEM, "cannot create a mutex");

  if (threads == 0) threads = online_cpus();
  if (threads > job.nblocks) threads = (unsigned)job.nblocks;
  openblas_set_num_threads(1);

  /* The calling thread is worker 0.  If a thread cannot be created the
   * others simply take more blocks: results do not depend on the count. */
  pthread_t *tids = NULL;
  unsigned started = 0;
  if (threads > 1) {
    tids = calloc(threads - 1, sizeof *tids);
    for (unsigned i = 0; tids && i + 1 < threads; i++) {
      if (pthread_create(&tids[i], NULL, worker_main, &job) != 0) break;
      started++;
    }
  }
  worker_main(&job);
  for (unsigned i = 0; i < started; i++) pthread_join(tids[i], NULL);
  free(tids);
  pthread_mutex_destroy(&job.lock);

  if (job.failed) return gen_fail(err, errlen, job.status, "%s", job.err);
  return PMM_OK;
}
