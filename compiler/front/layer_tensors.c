/*
 * layer_tensors.c - the tensors each op reads from the weights file, under
 * the names and layouts of its PyTorch module (layers.h): a state_dict
 * saved with safetensors.torch.save_file loads unchanged.  Optional
 * tensors (biases, which PyTorch's bias=False omits) set has_bias /
 * has_out_bias when present.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "compiler/front/layers.h"
#include "compiler/util/xalloc.h"

const char *front_dims_text(char *buf, size_t len, uint32_t rank, const uint64_t *dims) {
  size_t used = (size_t)snprintf(buf, len, "[");
  for (uint32_t i = 0; i < rank && used < len; i++)
    used += (size_t)snprintf(buf + used, len - used, "%s%llu", i ? ", " : "",
                             (unsigned long long)dims[i]);
  if (used < len) snprintf(buf + used, len - used, "]");
  return buf;
}

static int same_dims(const weight_tensor *t, uint32_t rank, const uint64_t *dims) {
  if (t->rank != rank) return 0;
  for (uint32_t i = 0; i < rank; i++)
    if (t->shape[i] != dims[i]) return 0;
  return 1;
}

/* dims, or with TENSOR_OR_BATCH1 also [1] + dims (PyTorch parameters are
 * often stored with a leading batch axis of 1). */
static int shape_fits(const weight_tensor *t, uint32_t rank, const uint64_t *dims, unsigned flags) {
  if (same_dims(t, rank, dims)) return 1;
  return (flags & TENSOR_OR_BATCH1) && t->rank == rank + 1 && t->shape[0] == 1 &&
         memcmp(t->shape + 1, dims, rank * sizeof *dims) == 0;
}

static void hint_similar(tensor_ctx *t, const char *name) {
  const weight_set *ws = &t->s->weights;
  const char **cands = xmalloc_array(ws->count, sizeof *cands);
  if (!cands) return;
  for (size_t i = 0; i < ws->count; i++) cands[i] = ws->tensors[i].name;
  const char *sug = diag_suggest(name, cands, ws->count);
  if (sug) diag_hint(t->c->dl, "the file has a tensor '%s'", sug);
  free(cands);
}

int tensor_expect(tensor_ctx *t, const spec_layer *l, const char *suffix, uint32_t rank,
                  const uint64_t *dims, unsigned flags, const char *context) {
  const weight_set *ws = &t->s->weights;
  char name[FRONT_MAX_LAYER_NAME + 32], want[256], got[160];
  snprintf(name, sizeof name, "%s%s%s", l->name, suffix ? "." : "", suffix ? suffix : "");
  size_t n = strlen(front_dims_text(want, sizeof want, rank, dims));
  if (flags & TENSOR_OR_BATCH1) {
    uint64_t lead[TSHAPE_MAX_RANK + 1] = {1};
    memcpy(lead + 1, dims, rank * sizeof *dims);
    snprintf(want + n, sizeof want - n, " or ");
    front_dims_text(want + n + 4, sizeof want - n - 4, rank + 1, lead);
  }
  const char *opn = layer_kind_name(l);
  const weight_tensor *w = weights_find(ws, name);
  if (!w) {
    if (!(flags & TENSOR_REQUIRED)) return 0;
    front_error(t->c, l->loc,
                "found no tensor '%s' in '%s', expected one of shape %s for %s layer '%s'%s", name,
                t->s->weights_path, want, opn, l->name, context);
    hint_similar(t, name);
    return 0;
  }
  t->used[w - ws->tensors] = 1;
  if (!shape_fits(w, rank, dims, flags))
    front_error(t->c, l->loc,
                "found tensor '%s' of shape %s in '%s', expected shape %s for %s layer '%s'%s",
                name, front_dims_text(got, sizeof got, w->rank, w->shape), t->s->weights_path, want,
                opn, l->name, context);
  return 1;
}

static uint32_t last_dim(const tshape *s) { return s->dim[s->rank - 1]; }

/* " (input [4, 9, 9])" for messages. */
static const char *input_context(const tshape *in, char *buf, size_t len) {
  char t[TSHAPE_TEXT];
  snprintf(buf, len, " (input %s)", tshape_format(in, t, sizeof t));
  return buf;
}

/* nn.Linear: weight [units, in], bias [units]. */
void tensors_dense(tensor_ctx *t, spec_layer *l, const tshape *in) {
  uint64_t w[2] = {l->units, last_dim(in)}, b[1] = {l->units};
  tensor_expect(t, l, "weight", 2, w, TENSOR_REQUIRED, "");
  l->has_bias = tensor_expect(t, l, "bias", 1, b, 0, "");
}

/* nn.LayerNorm(E): weight [E], bias [E] (bias=False omits it); none
 * with elementwise_affine=False. */
void tensors_layernorm(tensor_ctx *t, spec_layer *l, const tshape *in) {
  uint64_t e[1] = {last_dim(in)};
  l->has_bias = 0;
  if (!l->affine) return;
  tensor_expect(t, l, "weight", 1, e, TENSOR_REQUIRED, "");
  l->has_bias = tensor_expect(t, l, "bias", 1, e, 0, "");
}

/* nn.Conv2d: weight [channels, C / groups, k, k], bias [channels]. */
void tensors_conv2d(tensor_ctx *t, spec_layer *l, const tshape *in) {
  uint64_t w[4] = {l->channels, in->dim[0] / l->groups, l->kernel, l->kernel};
  uint64_t b[1] = {l->channels};
  char t_in[TSHAPE_TEXT], context[TSHAPE_TEXT + 48];
  snprintf(context, sizeof context, " (input %s, groups %u)", tshape_format(in, t_in, sizeof t_in),
           l->groups);
  tensor_expect(t, l, "weight", 4, w, TENSOR_REQUIRED, context);
  l->has_bias = tensor_expect(t, l, "bias", 1, b, 0, context);
}

/* nn.GroupNorm (affine): weight [C] and bias [C], both always saved. */
void tensors_groupnorm(tensor_ctx *t, spec_layer *l, const tshape *in) {
  uint64_t c[1] = {in->dim[0]};
  char context[TSHAPE_TEXT + 16];
  input_context(in, context, sizeof context);
  tensor_expect(t, l, "weight", 1, c, TENSOR_REQUIRED, context);
  l->has_bias = tensor_expect(t, l, "bias", 1, c, TENSOR_REQUIRED, context);
}

/* nn.MultiheadAttention(E, heads, batch_first=True): the packed q, k, v
 * projection and the output projection. */
void tensors_attention(tensor_ctx *t, spec_layer *l, const tshape *in) {
  uint64_t e = in->dim[1];
  uint64_t in_w[2] = {3 * e, e}, in_b[1] = {3 * e}, out_w[2] = {e, e}, out_b[1] = {e};
  char context[TSHAPE_TEXT + 16];
  input_context(in, context, sizeof context);
  tensor_expect(t, l, "in_proj_weight", 2, in_w, TENSOR_REQUIRED, context);
  l->has_bias = tensor_expect(t, l, "in_proj_bias", 1, in_b, 0, context);
  tensor_expect(t, l, "out_proj.weight", 2, out_w, TENSOR_REQUIRED, context);
  l->has_out_bias = tensor_expect(t, l, "out_proj.bias", 1, out_b, 0, context);
}

/* x @ W with W [K, units]: nn.Embedding's table applied to a distribution
 * over the K symbols (a one-hot row picks an embedding). */
void tensors_embed(tensor_ctx *t, spec_layer *l, const tshape *in) {
  uint64_t w[2] = {last_dim(in), l->units};
  char context[TSHAPE_TEXT + 16];
  input_context(in, context, sizeof context);
  tensor_expect(t, l, "weight", 2, w, TENSOR_REQUIRED, context);
  l->has_bias = 0;
}

/* nn.Parameter: the tensor is named by the layer itself. */
void tensors_param(tensor_ctx *t, spec_layer *l, const tshape *in) {
  (void)in;
  uint64_t d[TSHAPE_MAX_RANK];
  for (uint32_t i = 0; i < l->target.rank; i++) d[i] = l->target.dim[i];
  tensor_expect(t, l, NULL, l->target.rank, d, TENSOR_REQUIRED | TENSOR_OR_BATCH1, "");
}
