/*
 * embed_api.c - the exported functions of an embedded model (embed_api.h).
 * Their behaviour is the runtime's (runtime/embed.c); the comments here are
 * what a user reads in the generated header.
 */
#include "compiler/codegen/embed_api.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>

static const embed_api_fn embed_api[] = {
    {"open", "ipppz", "{p}_status",
     "const {p}_params *params, {p}_model **model, char *err, size_t errlen",
     "Open the model: *model receives an immutable handle that any number of\n"
     "threads may share.  params may be NULL (embedded weights, malloc);\n"
     "otherwise start from {p}_params_init.  On failure *model is NULL and err\n"
     "(errlen bytes, may be NULL) holds a message."},
    {"close", "vp", "void", "{p}_model *model", "Release a handle (NULL is allowed)."},
    {"get_info", "ip", "{p}_status", "{p}_info *info", "What the model is; strings are static."},
    {"status_string", "pi", "const char *", "{p}_status status",
     "A short English description of a status."},
    {"sample", "ippzllzpz", "{p}_status",
     "const {p}_model *model, void *workspace, size_t workspace_bytes, uint64_t seed,\n"
     "    uint64_t first_index, size_t n, float *out, size_t out_len",
     "Samples first_index .. first_index + n - 1 on the calling thread:\n"
     "out (out_len floats) receives n * {P}_SAMPLE_ELEMS floats, sample after\n"
     "sample.  workspace: at least {P}_WORKSPACE_BYTES bytes aligned to\n"
     "{P}_WORKSPACE_ALIGN, owned by this call while it runs.  Allocates\n"
     "nothing.  Sample i depends only on (this build, seed, i): the same bits\n"
     "as the sampler executable's `-s SEED --first-index I`."},
    {"sample_mt", "ipullzpz", "{p}_status",
     "const {p}_model *model, uint32_t threads, uint64_t seed, uint64_t first_index,\n"
     "    size_t n, float *out, size_t out_len",
     "{p}_sample on `threads` threads (0: one per online CPU), with\n"
     "workspaces from the handle's allocator; the same bits."},
    {"predict", "ippzppzpz", "{p}_status",
     "const {p}_model *model, void *workspace, size_t workspace_bytes, const float *mu,\n"
     "    const float *tau, size_t n, float *out, size_t out_len",
     "The network alone, as `pmmc predict`: row r of out ({P}_PREDICT_OUT_ELEMS\n"
     "floats) from mu[r] ({P}_PREDICT_IN_ELEMS floats) and tau[r].\n"
     "{P}_ERR_UNSUPPORTED for a model without a network (exact posterior means)."},
};

const embed_api_fn *embed_api_list(size_t *n) {
  *n = sizeof embed_api / sizeof embed_api[0];
  return embed_api;
}

char *embed_expand(const char *s, const char *prefix) {
  size_t plen = strlen(prefix), len = 0;
  for (const char *q = s; *q; q++)
    len += (q[0] == '{' && strchr("pP", q[1]) && q[2] == '}') ? plen : 1;
  char *out = malloc(len + 1), *o = out;
  if (!out) return NULL;
  while (*s) {
    if (s[0] == '{' && (s[1] == 'p' || s[1] == 'P') && s[2] == '}') {
      for (size_t i = 0; i < plen; i++)
        *o++ = s[1] == 'P' ? (char)toupper((unsigned char)prefix[i]) : prefix[i];
      s += 3;
    } else {
      *o++ = *s++;
    }
  }
  *o = '\0';
  return out;
}
