/*
 * embed.h - private to the runtime and to the code pmmc generates: the
 * generic side of embedded models (runtime/embed.c, embed_weights.c).
 * Users never include it: they include the NAME.h pmmc writes.
 */
#ifndef PMMRT_EMBED_H
#define PMMRT_EMBED_H

#include "runtime/pmmrt.h"

/* `pmmc build --emit=lib|shared` generates, for a model named NAME, the
 * functions NAME_open, NAME_sample, ... of NAME.h (docs/embedding.md); each
 * is a one-line call of the pmm_embed_ function of the same suffix with the
 * model's pmm_embed_def as first argument.  The generated header declares
 * structs with the layouts of pmm_embed_params and pmm_embed_info under the
 * model's prefix; every field is 8 bytes wide (but the leading pair of
 * uint32_t) so both sides lay them out alike. */
#define PMM_EMBED_API_VERSION 1u

typedef enum pmm_embed_status {
#define PMM_EMBED_STATUS(suffix, value, message) PMM_EMBED_##suffix = value,
#include "runtime/embed_status.def"
#undef PMM_EMBED_STATUS
  PMM_EMBED_STATUS_COUNT
} pmm_embed_status;

/* What the generated library knows about itself. */
typedef struct pmm_embed_def {
  uint64_t api_version;       /* PMM_EMBED_API_VERSION when it was built */
  const pmm_model_desc *desc; /* the sampler */
  const char *build_id;       /* what NAME_BUILD_ID in its header says */
  const char *target;         /* target triple */
  pmm_run_block_fn predict;   /* the network alone (pmmc predict's module), or NULL */
  uint64_t predict_in_elems;  /* floats of mu a row (tau follows as one more) */
  uint64_t predict_out_elems; /* floats of output a row */
  uint64_t predict_scratch_bytes;
  uint64_t predict_state_offset; /* float offset in scratch where the rows of (mu, tau) go */
  uint64_t workspace_bytes;      /* pmm_embed_workspace_bytes of the above */
  /* The weights: one 64-byte aligned region the code addresses directly.
   * Embedded, it is constant and filled; with --weights=external it is
   * zero-filled, writable, and the first NAME_open copies a NAME.weights
   * file into it (pmm_weights_file below), after which it never changes. */
  void *weights;
  uint64_t weights_bytes;
  uint64_t weights_checksum; /* pmm_weights_checksum of the region's bytes */
  uint64_t weights_external; /* 1 with --weights=external */
} pmm_embed_def;

/* NAME.weights, written by pmmc build --weights=external, all integers
 * little-endian:
 *   0  "PMMCWTS\0"        8 bytes of magic
 *   8  version (1)        u32
 *   12 0x01020304         u32 in the target's byte order (the data's order)
 *   16 data_offset        u64, a multiple of 64
 *   24 data_bytes         u64
 *   32 checksum           u64, pmm_weights_checksum of the data
 *   40 build_id           16 bytes, NAME_BUILD_ID without its NUL
 *   56 tensors            u32, then 4 bytes of zeros
 *   64 the table, 64 bytes a tensor: offset u64 and bytes u64 within the
 *      data, then its name in 48 bytes, NUL-padded (truncated if longer)
 *   data_offset: the data, as the library's code reads it. */
#define PMM_WEIGHTS_MAGIC "PMMCWTS"
#define PMM_WEIGHTS_VERSION 1u
#define PMM_WEIGHTS_HEADER_BYTES 64u
#define PMM_WEIGHTS_ENTRY_BYTES 64u
#define PMM_WEIGHTS_NAME_BYTES 48u

/* 64-bit FNV-1a of n bytes. */
uint64_t pmm_weights_checksum(const void *data, size_t n);

/* Workspace one thread needs for both sampling and prediction (64-byte
 * aligned): the larger of pmm_generate_workspace_bytes(desc) and the
 * predict module's scratch plus one block of output rows; SIZE_MAX on
 * overflow.  pmmc calls it to write NAME_WORKSPACE_BYTES, the library to
 * check the caller's workspace against it. */
size_t pmm_embed_workspace_bytes(const pmm_model_desc *desc, uint64_t predict_scratch_bytes,
                                 uint64_t predict_out_elems);

#define PMM_EMBED_WORKSPACE_ALIGN 64u

typedef struct pmm_embed_params {
  uint32_t struct_size; /* sizeof the caller's struct (NAME_params_init sets it) */
  uint32_t api_version; /* the caller's header's NAME_API_VERSION */
  const char *build_id; /* the caller's header's NAME_BUILD_ID; NULL: not checked */
  void *(*alloc)(void *ctx, size_t bytes, size_t align); /* NULL: posix_memalign */
  void (*free)(void *ctx, void *p);                      /* with alloc */
  void *alloc_ctx;
  /* --weights=external: the NAME.weights file's bytes (weights_data,
   * weights_size) or its path; ignored for embedded weights */
  const void *weights_data;
  uint64_t weights_size;
  const char *weights_path;
} pmm_embed_params;

typedef struct pmm_embed_info {
  const char *name, *pair, *sampler, *output, *schedule, *engine, *target, *weight_hash;
  const char *vocab; /* dirichlet-categorical: the symbols (UTF-8), else NULL */
  const char *build_id;
  uint64_t steps, rank, shape[4], sample_elems, block_size;
  uint64_t workspace_bytes, workspace_align, weight_bytes, flops_per_sample, vocab_size;
  int64_t pad_symbol; /* dirichlet-categorical: the padding symbol's index, else -1 */
  uint64_t predict_in_elems, predict_out_elems; /* 0 when there is no network */
  double range_lo, range_hi;
} pmm_embed_info;

int32_t pmm_embed_open(const pmm_embed_def *def, const pmm_embed_params *params, void **model,
                       char *err, size_t errlen);
void pmm_embed_close(const pmm_embed_def *def, void *model);
int32_t pmm_embed_get_info(const pmm_embed_def *def, pmm_embed_info *info);
const char *pmm_embed_status_string(const pmm_embed_def *def, int32_t status);
int32_t pmm_embed_sample(const pmm_embed_def *def, const void *model, void *workspace,
                         size_t workspace_bytes, uint64_t seed, uint64_t first_index, size_t n,
                         float *out, size_t out_len);
int32_t pmm_embed_sample_mt(const pmm_embed_def *def, const void *model, uint32_t threads,
                            uint64_t seed, uint64_t first_index, size_t n, float *out,
                            size_t out_len);
int32_t pmm_embed_predict(const pmm_embed_def *def, const void *model, void *workspace,
                          size_t workspace_bytes, const float *mu, const float *tau, size_t n,
                          float *out, size_t out_len);

/* embed_weights.c: with --weights=external, check the file params name
 * (or hold) against def and, the first time in the process, copy its data
 * into def->weights.  PMM_EMBED_OK or PMM_EMBED_ERR_WEIGHTS with a message. */
int32_t pmm_embed_load_weights(const pmm_embed_def *def, const pmm_embed_params *p, char *err,
                               size_t errlen);

#endif
