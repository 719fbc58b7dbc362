/*
 * embed.c - the API of an embedded model (pmmrt.h, "embedded models"): the
 * generated NAME_* functions call these with their model's pmm_embed_def.
 *
 * A handle is immutable once opened, so any number of threads may share it;
 * everything that changes lives in the caller's workspace (NAME_sample,
 * NAME_predict, which allocate nothing) or in workspaces NAME_sample_mt
 * takes from the handle's allocator.  Every argument is checked and answered
 * with a status: nothing here aborts, exits or touches process-wide state.
 */
#include <stdint.h>
#include <string.h>

#include "runtime/embed.h"

typedef struct embed_model {
  const pmm_embed_def *def;
  pmm_allocator alloc;
} embed_model;

static const char *const embed_messages[] = {
#define PMM_EMBED_STATUS(suffix, value, message) [value] = message,
#include "runtime/embed_status.def"
#undef PMM_EMBED_STATUS
};

const char *pmm_embed_status_string(const pmm_embed_def *def, int32_t status) {
  (void)def;
  if (status < 0 || status >= PMM_EMBED_STATUS_COUNT) return "unknown status";
  return embed_messages[status];
}

static size_t round_up64(size_t n) { return (n + 63) / 64 * 64; }

size_t pmm_embed_workspace_bytes(const pmm_model_desc *desc, uint64_t predict_scratch_bytes,
                                 uint64_t predict_out_elems) {
  size_t sample = pmm_generate_workspace_bytes(desc);
  if (sample == SIZE_MAX) return SIZE_MAX;
  uint64_t limit = SIZE_MAX / 4;
  if (predict_scratch_bytes > limit || predict_out_elems > limit / sizeof(float) ||
      desc->block_size > limit / sizeof(float) / (predict_out_elems ? predict_out_elems : 1))
    return SIZE_MAX;
  size_t predict = round_up64((size_t)predict_scratch_bytes) +
                   round_up64((size_t)(desc->block_size * predict_out_elems) * sizeof(float));
  return sample > predict ? sample : predict;
}

static void embed_message(char *err, size_t errlen, const char *msg) {
  if (err && errlen > 0) {
    size_t n = strlen(msg);
    if (n >= errlen) n = errlen - 1;
    memcpy(err, msg, n);
    err[n] = '\0';
  }
}

/* zlib's rule: a caller built against another header gets a status, not
 * a crash, so the params are read only after their size and version. */
static int32_t embed_check_params(const pmm_embed_def *def, const pmm_embed_params *p, char *err,
                                  size_t errlen) {
  if (p->struct_size < sizeof *p || p->api_version != PMM_EMBED_API_VERSION ||
      def->api_version != PMM_EMBED_API_VERSION) {
    embed_message(err, errlen,
                  "the model's header and library were made for different API "
                  "versions: rebuild the program against this library's header");
    return PMM_EMBED_ERR_VERSION;
  }
  if (p->build_id && strcmp(p->build_id, def->build_id) != 0) {
    embed_message(err, errlen,
                  "the model's header comes from another build than its library "
                  "(NAME_BUILD_ID differs): use the header pmmc wrote with it");
    return PMM_EMBED_ERR_VERSION;
  }
  if ((p->alloc == NULL) != (p->free == NULL)) {
    embed_message(err, errlen, "params: alloc and free must be given together");
    return PMM_EMBED_ERR_ARGUMENT;
  }
  return PMM_EMBED_OK;
}

int32_t pmm_embed_open(const pmm_embed_def *def, const pmm_embed_params *params, void **model,
                       char *err, size_t errlen) {
  embed_message(err, errlen, "");
  if (!model) {
    embed_message(err, errlen, "open: model (the handle's address) is NULL");
    return PMM_EMBED_ERR_ARGUMENT;
  }
  *model = NULL;
  pmm_allocator alloc = pmm_default_allocator;
  if (params) {
    int32_t st = embed_check_params(def, params, err, errlen);
    if (st != PMM_EMBED_OK) return st;
    if (params->alloc) {
      alloc.alloc = params->alloc;
      alloc.free = params->free;
      alloc.ctx = params->alloc_ctx;
    }
  }
  if (def->weights_external) {
    int32_t st = pmm_embed_load_weights(def, params, err, errlen);
    if (st != PMM_EMBED_OK) return st;
  }
  embed_model *m = alloc.alloc(alloc.ctx, sizeof *m, sizeof(void *));
  if (!m) {
    embed_message(err, errlen, "open: out of memory");
    return PMM_EMBED_ERR_NOMEM;
  }
  m->def = def;
  m->alloc = alloc;
  *model = m;
  return PMM_EMBED_OK;
}

void pmm_embed_close(const pmm_embed_def *def, void *model) {
  embed_model *m = model;
  if (m && m->def == def) m->alloc.free(m->alloc.ctx, m);
}

int32_t pmm_embed_get_info(const pmm_embed_def *def, pmm_embed_info *info) {
  if (!info) return PMM_EMBED_ERR_ARGUMENT;
  const pmm_model_desc *d = def->desc;
  memset(info, 0, sizeof *info);
  info->name = d->name;
  info->pair = d->pair;
  info->sampler = d->sampler;
  info->output = d->output;
  info->schedule = d->schedule;
  info->engine = d->engine;
  info->target = def->target;
  info->weight_hash = d->weight_hash;
  info->vocab = d->vocab;
  info->build_id = def->build_id;
  info->steps = d->steps;
  info->rank = d->rank;
  memcpy(info->shape, d->shape, sizeof info->shape);
  info->sample_elems = d->sample_elems;
  info->block_size = d->block_size;
  info->workspace_bytes = def->workspace_bytes;
  info->workspace_align = PMM_EMBED_WORKSPACE_ALIGN;
  info->weight_bytes = d->weight_bytes;
  info->flops_per_sample = d->flops_per_sample;
  info->vocab_size = d->vocab_size;
  info->pad_symbol = d->pad_symbol;
  info->predict_in_elems = def->predict ? def->predict_in_elems : 0;
  info->predict_out_elems = def->predict ? def->predict_out_elems : 0;
  info->range_lo = d->range_lo;
  info->range_hi = d->range_hi;
  return PMM_EMBED_OK;
}

/* The checks every sampling call shares: the handle, the range and the
 * output buffer. */
static int32_t embed_check_sample(const pmm_embed_def *def, const void *model, uint64_t first_index,
                                  size_t n, const float *out, size_t out_len) {
  const embed_model *m = model;
  if (!m || m->def != def) return PMM_EMBED_ERR_ARGUMENT;
  if (n == 0) return PMM_EMBED_OK;
  if (pmm_generate_check(def->desc, first_index, n, NULL, 0) != PMM_OK) return PMM_EMBED_ERR_RANGE;
  if (!out) return PMM_EMBED_ERR_ARGUMENT;
  if (out_len / def->desc->sample_elems < n) return PMM_EMBED_ERR_BUFFER;
  return PMM_EMBED_OK;
}

static int32_t embed_check_workspace(const pmm_embed_def *def, const void *workspace,
                                     size_t workspace_bytes) {
  if (!workspace || (uintptr_t)workspace % PMM_EMBED_WORKSPACE_ALIGN != 0 ||
      workspace_bytes < def->workspace_bytes)
    return PMM_EMBED_ERR_WORKSPACE;
  return PMM_EMBED_OK;
}

static int32_t embed_status_of(pmm_status st) {
  return st == PMM_OK          ? PMM_EMBED_OK
         : st == PMM_ERR_NOMEM ? PMM_EMBED_ERR_NOMEM
                               : PMM_EMBED_ERR_MODEL;
}

int32_t pmm_embed_sample(const pmm_embed_def *def, const void *model, void *workspace,
                         size_t workspace_bytes, uint64_t seed, uint64_t first_index, size_t n,
                         float *out, size_t out_len) {
  int32_t st = embed_check_sample(def, model, first_index, n, out, out_len);
  if (st != PMM_EMBED_OK || n == 0) return st;
  if ((st = embed_check_workspace(def, workspace, workspace_bytes)) != PMM_EMBED_OK) return st;
  return embed_status_of(
      pmm_generate_serial(def->desc, seed, first_index, n, workspace, out, NULL, 0));
}

int32_t pmm_embed_sample_mt(const pmm_embed_def *def, const void *model, uint32_t threads,
                            uint64_t seed, uint64_t first_index, size_t n, float *out,
                            size_t out_len) {
  int32_t st = embed_check_sample(def, model, first_index, n, out, out_len);
  if (st != PMM_EMBED_OK || n == 0) return st;
  const embed_model *m = model;
  return embed_status_of(
      pmm_generate(def->desc, seed, first_index, n, threads, &m->alloc, out, NULL, 0));
}

int32_t pmm_embed_predict(const pmm_embed_def *def, const void *model, void *workspace,
                          size_t workspace_bytes, const float *mu, const float *tau, size_t n,
                          float *out, size_t out_len) {
  const embed_model *m = model;
  if (!m || m->def != def) return PMM_EMBED_ERR_ARGUMENT;
  if (!def->predict) return PMM_EMBED_ERR_UNSUPPORTED;
  if (n == 0) return PMM_EMBED_OK;
  if (!mu || !tau || !out) return PMM_EMBED_ERR_ARGUMENT;
  if (out_len / def->predict_out_elems < n) return PMM_EMBED_ERR_BUFFER;
  int32_t st = embed_check_workspace(def, workspace, workspace_bytes);
  if (st != PMM_EMBED_OK) return st;
  float *res = (float *)((char *)workspace + round_up64((size_t)def->predict_scratch_bytes));
  int rc = pmm_predict_rows(def->predict, NULL, (size_t)def->desc->block_size,
                            (size_t)def->predict_state_offset, (size_t)def->predict_in_elems,
                            (size_t)def->predict_out_elems, workspace, res, mu, tau, n, out);
  return rc == 0 ? PMM_EMBED_OK : PMM_EMBED_ERR_MODEL;
}
