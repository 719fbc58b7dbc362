/*
 * lower_net.c - the network inside a block: graph layers bound to weight
 * tensors, or an exact posterior mean (Gaussian mixture, atom set), then the
 * pair's output mapping (docs/pmm.md):
 *
 *   normal-normal          xhat = output layer (identity)
 *   gamma-poisson          xhat = softplus(output layer), unless the output
 *                          is a dense layer with its own activation
 *   dirichlet-categorical  the graph sees mu = DIRICHLET_MEAN(C) [L*K] and
 *                          returns logits [L*K]; p = per-position softmax.
 *                          The exact atom set maps the counts C straight to p.
 *
 * The time input is a TABLE read in the step block (shifted for Heun's two
 * evaluations) and a constant elsewhere.  Only layers the output depends on
 * are lowered; tensors, mixture and atoms are shared by every evaluation.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "compiler/lower/lower_int.h"
#include "compiler/util/xalloc.h"

/* The network's time input (tau) or exact precision (A) in io's block,
 * emitted once per evaluation. */
static int32_t lower_time_value(lower_ctx *c, lower_inputs *io, lower_table_kind k) {
  int32_t *slot = k == LOWER_TABLE_TAU ? &io->tau : &io->A;
  if (*slot >= 0) return *slot;
  int32_t i = io->block == IR_BLOCK_STEP ? lower_table_read(c, k, io->at)
                                         : lower_const(c, io->block, lower_coef(c, k, io->at));
  if (i < 0) return -1;
  *slot = i;
  return lower_label(c, io->block, i, k == LOWER_TABLE_TAU ? "time" : "A") == 0 ? i : -1;
}

/* The graph's "mu" input: the state, or the Dirichlet posterior mean of
 * the counts for dirichlet-categorical. */
static int32_t lower_mu_input(lower_ctx *c, lower_inputs *io) {
  if (io->mu >= 0) return io->mu;
  if (c->spec->pair != SPEC_PAIR_DIRICHLET_CATEGORICAL) return io->mu = io->state;
  int32_t i = lower_emit(c, io->block, IR_OP_DIRICHLET_MEAN, 1, &io->state, c->m->state_len);
  if (i < 0) return -1;
  c->m->blocks[io->block].insts[i].dim = c->m->vocab_size;
  c->m->blocks[io->block].insts[i].fattr = (float)c->spec->prior_concentration;
  io->mu = i;
  return lower_label(c, io->block, i, "mu") == 0 ? i : -1;
}

/* The module tensor named name from the spec's weights, added on first use
 * (shape: its own, or `shape` when given: a param stored as [1] + shape);
 * -1 with an error naming the layer when it does not exist. */
static int32_t lower_named_tensor(lower_ctx *c, const spec_layer *l, const char *name,
                                  const tshape *shape) {
  size_t at;
  if (strmap_get(&c->tensors, name, &at)) return (int32_t)at;
  const weight_tensor *w = weights_find(&c->spec->weights, name);
  if (!w) return lower_error_at(c, l->loc, "internal error: weight tensor '%s' is missing", name);
  uint64_t dims[TSHAPE_MAX_RANK];
  uint32_t rank = shape ? shape->rank : w->rank;
  for (uint32_t d = 0; d < rank && d < TSHAPE_MAX_RANK; d++)
    dims[d] = shape ? shape->dim[d] : w->shape[d];
  if (rank > TSHAPE_MAX_RANK)
    return lower_error_at(c, l->loc, "internal error: weight tensor '%s' has rank above 4", name);
  int32_t t = ir_add_tensor(c->m, name, rank, dims, w->data);
  /* The module's copy of the name is the key: it lives as long as c. */
  if (t < 0 || strmap_put(&c->tensors, c->m->tensors[t].name, (size_t)t, NULL) < 0)
    return lower_oom(c);
  return t;
}

/* The tensor "<layer>.<suffix>". */
static int32_t lower_tensor(lower_ctx *c, const spec_layer *l, const char *suffix) {
  char name[512];
  if ((size_t)snprintf(name, sizeof name, "%s.%s", l->name, suffix) >= sizeof name)
    return lower_error_at(c, l->loc, "layer name '%s' is too long", l->name);
  return lower_named_tensor(c, l, name, NULL);
}

/* ---- graph networks ---------------------------------------------------- */

enum { LOWER_SRC_MU = -2, LOWER_SRC_TIME = -3, LOWER_SRC_NONE = -4 };

/* Input a of layer i: a layer index, LOWER_SRC_MU / _TIME, or _NONE.  The
 * front end has already resolved a missing `input:` to the previous layer. */
static int lower_layer_source(const spec_network *net, size_t i, size_t a) {
  const char *name = net->layers[i].inputs[a];
  if (strcmp(name, "mu") == 0) return LOWER_SRC_MU;
  if (strcmp(name, "time") == 0) return LOWER_SRC_TIME;
  for (size_t j = i; j-- > 0;)
    if (strcmp(net->layers[j].name, name) == 0) return (int)j;
  return LOWER_SRC_NONE;
}

/* The index of the layer the network's output is (network.output, or the
 * layer named by lower_options' output), or -1 after an error. */
static long lower_output_layer(lower_ctx *c) {
  const spec_network *net = &c->spec->network;
  const char *want = c->output ? c->output : net->output;
  if (!want) return (long)net->nlayers - 1;
  for (size_t o = net->nlayers; o-- > 0;)
    if (strcmp(net->layers[o].name, want) == 0) return (long)o;
  return lower_error_at(c, net->output_loc, "no layer named '%s'", want);
}

/* Mark the layers the output depends on; the rest are dead and not lowered. */
static int lower_mark_live(lower_ctx *c) {
  const spec_network *net = &c->spec->network;
  if (net->nlayers == 0 || net->nlayers > INT32_MAX)
    return lower_error_at(c, net->loc, "internal error: network has %s layers",
                          net->nlayers ? "too many" : "no");
  long o = lower_output_layer(c);
  if (o < 0) return -1;
  c->live[o] = 1;
  for (size_t i = (size_t)o + 1; i-- > 0;) {
    if (!c->live[i]) continue;
    for (size_t a = 0; a < net->layers[i].ninputs; a++) {
      int s = lower_layer_source(net, i, a);
      if (s == LOWER_SRC_NONE)
        return lower_error_at(c, net->layers[i].loc,
                              "internal error: an input of layer '%s' is not defined",
                              net->layers[i].name);
      if (s >= 0) c->live[s] = 1;
    }
  }
  c->out_layer = (size_t)o;
  return 0;
}

/* Emit op over args in the layer's block; attributes are set by the caller,
 * shapes decided when the module is complete. */
static int32_t lower_op(lower_ctx *c, ir_block_kind bk, ir_op op, uint32_t n, const int32_t *args) {
  return lower_emit(c, bk, op, n, args, 0);
}

static ir_inst *lower_inst(lower_ctx *c, ir_block_kind bk, int32_t i) {
  return &c->m->blocks[bk].insts[i];
}

/* r, then its activation when the layer has one. */
static int32_t lower_activation(lower_ctx *c, ir_block_kind bk, const spec_layer *l, int32_t r) {
  if (r < 0 || l->activation == PMM_ACT_NONE) return r;
  if (lower_label(c, bk, r, l->name) != 0) return -1;
  int32_t a = lower_op(c, bk, IR_OP_ACT, 1, &r);
  if (a >= 0) lower_inst(c, bk, a)->act = l->activation;
  return a;
}

/* DENSE of x with the named weight and optional bias. */
static int32_t lower_linear(lower_ctx *c, ir_block_kind bk, const spec_layer *l, int32_t x,
                            const char *weight, const char *bias) {
  int32_t w = lower_tensor(c, l, weight);
  int32_t b = w >= 0 && bias ? lower_tensor(c, l, bias) : -1;
  if (w < 0 || (bias && b < 0)) return -1;
  int32_t r = lower_op(c, bk, IR_OP_DENSE, 1, &x);
  if (r < 0) return -1;
  lower_inst(c, bk, r)->weight = w;
  lower_inst(c, bk, r)->bias = b;
  return r;
}

/* The layer's inputs in the block being lowered (args[0..n-1]). */
typedef struct lower_layer_args {
  const spec_layer *l;
  ir_block_kind bk;
  const int32_t *x;
  size_t n;
} lower_layer_args;

typedef int32_t lower_layer_fn(lower_ctx *c, const lower_layer_args *a);

static int32_t lower_dense(lower_ctx *c, const lower_layer_args *a) {
  const spec_layer *l = a->l;
  return lower_activation(
      c, a->bk, l, lower_linear(c, a->bk, l, a->x[0], "weight", l->has_bias ? "bias" : NULL));
}

/* add / mul of n >= 2 inputs: a left-to-right chain of binary ops. */
static int32_t lower_chain(lower_ctx *c, const lower_layer_args *a) {
  ir_op op = a->l->op == SPEC_LAYER_ADD ? IR_OP_ADD : IR_OP_MUL;
  int32_t r = a->x[0];
  for (size_t k = 1; k < a->n; k++)
    if ((r = lower_binary(c, a->bk, op, r, a->x[k])) < 0 ||
        lower_label(c, a->bk, r, a->l->name) != 0)
      return -1;
  return r;
}

static int32_t lower_concat(lower_ctx *c, const lower_layer_args *a) {
  int32_t r = lower_op(c, a->bk, IR_OP_CONCAT, (uint32_t)a->n, a->x);
  if (r >= 0) lower_inst(c, a->bk, r)->axis = a->l->axis;
  return r;
}

static int32_t lower_sinusoidal(lower_ctx *c, const lower_layer_args *a) {
  int32_t r = lower_op(c, a->bk, IR_OP_SINUSOIDAL, 1, a->x);
  if (r >= 0) {
    lower_inst(c, a->bk, r)->dim = a->l->dim;
    lower_inst(c, a->bk, r)->cos_first = (uint8_t)a->l->cos_first;
  }
  return r;
}

/* A normalisation op with the layer's weight and bias (when present). */
static int32_t lower_norm(lower_ctx *c, const lower_layer_args *a, ir_op op, int affine) {
  const spec_layer *l = a->l;
  int32_t w = affine ? lower_tensor(c, l, "weight") : -1;
  int32_t b = affine && l->has_bias ? lower_tensor(c, l, "bias") : -1;
  if ((affine && w < 0) || (affine && l->has_bias && b < 0)) return -1;
  int32_t r = lower_op(c, a->bk, op, 1, a->x);
  if (r < 0) return -1;
  ir_inst *in = lower_inst(c, a->bk, r);
  in->weight = w;
  in->bias = b;
  in->fattr = (float)l->eps;
  in->groups = l->groups;
  return r;
}

static int32_t lower_layernorm(lower_ctx *c, const lower_layer_args *a) {
  return lower_norm(c, a, IR_OP_LAYERNORM, a->l->affine);
}

static int32_t lower_groupnorm(lower_ctx *c, const lower_layer_args *a) {
  return lower_activation(c, a->bk, a->l, lower_norm(c, a, IR_OP_GROUPNORM, 1));
}

static int32_t lower_conv2d(lower_ctx *c, const lower_layer_args *a) {
  const spec_layer *l = a->l;
  int32_t w = lower_tensor(c, l, "weight");
  int32_t b = w >= 0 && l->has_bias ? lower_tensor(c, l, "bias") : -1;
  if (w < 0 || (l->has_bias && b < 0)) return -1;
  int32_t r = lower_op(c, a->bk, IR_OP_CONV2D, 1, a->x);
  if (r < 0) return -1;
  ir_inst *in = lower_inst(c, a->bk, r);
  in->weight = w;
  in->bias = b;
  in->stride = l->stride;
  in->pad = l->padding;
  in->groups = l->groups;
  return lower_activation(c, a->bk, l, r);
}

static int32_t lower_resample(lower_ctx *c, const lower_layer_args *a) {
  int up = a->l->op == SPEC_LAYER_UPSAMPLE;
  int32_t r = lower_op(c, a->bk, up ? IR_OP_UPSAMPLE : IR_OP_AVGPOOL, 1, a->x);
  if (r >= 0) lower_inst(c, a->bk, r)->factor = up ? a->l->factor : a->l->kernel;
  return r;
}

/* nn.MultiheadAttention: the input projection (q, k, v side by side), the
 * attention of each head, the output projection. */
static int32_t lower_attention(lower_ctx *c, const lower_layer_args *a) {
  const spec_layer *l = a->l;
  int32_t qkv =
      lower_linear(c, a->bk, l, a->x[0], "in_proj_weight", l->has_bias ? "in_proj_bias" : NULL);
  if (qkv < 0 || lower_label(c, a->bk, qkv, l->name) != 0) return -1;
  int32_t r = lower_op(c, a->bk, IR_OP_ATTENTION, 1, &qkv);
  if (r < 0 || lower_label(c, a->bk, r, l->name) != 0) return -1;
  lower_inst(c, a->bk, r)->heads = l->heads;
  return lower_linear(c, a->bk, l, r, "out_proj.weight", l->has_out_bias ? "out_proj.bias" : NULL);
}

/* x @ W for W [K, units]: a dense layer with W^T ("<name>.weight^T"). */
static int32_t lower_embed(lower_ctx *c, const lower_layer_args *a) {
  const spec_layer *l = a->l;
  char name[512], tname[520];
  snprintf(name, sizeof name, "%s.weight", l->name);
  snprintf(tname, sizeof tname, "%s^T", name);
  const weight_tensor *w = weights_find(&c->spec->weights, name);
  if (!w || w->rank != 2)
    return lower_error_at(c, l->loc, "internal error: weight tensor '%s' is missing", name);
  size_t k = (size_t)w->shape[0], u = (size_t)w->shape[1];
  float *t = xmalloc_array(k, u * sizeof *t);
  if (!t) return lower_oom(c);
  for (size_t i = 0; i < k; i++)
    for (size_t j = 0; j < u; j++) t[j * k + i] = w->data[i * u + j];
  uint64_t dims[2] = {u, k};
  int32_t wt = ir_add_tensor(c->m, tname, 2, dims, t);
  free(t);
  if (wt < 0) return lower_oom(c);
  int32_t r = lower_op(c, a->bk, IR_OP_DENSE, 1, a->x);
  if (r >= 0) lower_inst(c, a->bk, r)->weight = wt;
  return r;
}

/* A learned tensor: a uniform value of the layer's shape. */
static int32_t lower_param(lower_ctx *c, const lower_layer_args *a) {
  int32_t t = lower_named_tensor(c, a->l, a->l->name, &a->l->target);
  if (t < 0) return -1;
  int32_t r = lower_emit_shaped(c, a->bk, IR_OP_TENSOR, 0, NULL, &a->l->target);
  if (r >= 0) lower_inst(c, a->bk, r)->weight = t;
  return r;
}

static int32_t lower_reshape(lower_ctx *c, const lower_layer_args *a) {
  return lower_emit_shaped(c, a->bk, IR_OP_RESHAPE, 1, a->x, &a->l->target);
}

static int32_t lower_transpose(lower_ctx *c, const lower_layer_args *a) {
  int32_t r = lower_op(c, a->bk, IR_OP_TRANSPOSE, 1, a->x);
  if (r >= 0)
    for (uint32_t d = 0; d < TSHAPE_MAX_RANK; d++)
      lower_inst(c, a->bk, r)->perm[d] = (uint8_t)a->l->perm[d];
  return r;
}

/* torch.chunk: chunks of ceil(n / chunks) along the axis (the last one
 * shorter); a slice of the input. */
static int32_t lower_chunk(lower_ctx *c, const lower_layer_args *a) {
  const spec_layer *l = a->l;
  uint32_t n = lower_inst(c, a->bk, a->x[0])->shape.dim[l->axis];
  uint32_t size = l->chunks ? (n + l->chunks - 1) / l->chunks : 0, start = l->index * size;
  int32_t r = lower_op(c, a->bk, IR_OP_SLICE, 1, a->x);
  if (r < 0) return -1;
  ir_inst *in = lower_inst(c, a->bk, r);
  in->axis = l->axis;
  in->start = start;
  in->dim = start < n ? (n - start < size ? n - start : size) : 0;
  return r;
}

/* x * (1 + scale) + shift, in PyTorch's order. */
static int32_t lower_modulate(lower_ctx *c, const lower_layer_args *a) {
  int32_t one = lower_const(c, a->bk, 1.0);
  int32_t s = one >= 0 ? lower_binary(c, a->bk, IR_OP_ADD, one, a->x[2]) : -1;
  int32_t m = s >= 0 ? lower_binary(c, a->bk, IR_OP_MUL, a->x[0], s) : -1;
  if (m < 0 || lower_label(c, a->bk, s, a->l->name) != 0 ||
      lower_label(c, a->bk, m, a->l->name) != 0)
    return -1;
  return lower_binary(c, a->bk, IR_OP_ADD, m, a->x[1]);
}

static int32_t lower_softmax(lower_ctx *c, const lower_layer_args *a) {
  int32_t r = lower_op(c, a->bk, IR_OP_SOFTMAX, 1, a->x);
  if (r >= 0) lower_inst(c, a->bk, r)->axis = a->l->axis;
  return r;
}

static int32_t lower_act(lower_ctx *c, const lower_layer_args *a) {
  int32_t r = lower_op(c, a->bk, IR_OP_ACT, 1, a->x);
  if (r >= 0) lower_inst(c, a->bk, r)->act = a->l->activation;
  return r;
}

static lower_layer_fn *const lower_layers[] = {
    [SPEC_LAYER_DENSE] = lower_dense,
    [SPEC_LAYER_ADD] = lower_chain,
    [SPEC_LAYER_MUL] = lower_chain,
    [SPEC_LAYER_CONCAT] = lower_concat,
    [SPEC_LAYER_SINUSOIDAL] = lower_sinusoidal,
    [SPEC_LAYER_LAYERNORM] = lower_layernorm,
    [SPEC_LAYER_CONV2D] = lower_conv2d,
    [SPEC_LAYER_GROUPNORM] = lower_groupnorm,
    [SPEC_LAYER_UPSAMPLE] = lower_resample,
    [SPEC_LAYER_AVGPOOL] = lower_resample,
    [SPEC_LAYER_ATTENTION] = lower_attention,
    [SPEC_LAYER_EMBED] = lower_embed,
    [SPEC_LAYER_PARAM] = lower_param,
    [SPEC_LAYER_RESHAPE] = lower_reshape,
    [SPEC_LAYER_TRANSPOSE] = lower_transpose,
    [SPEC_LAYER_CHUNK] = lower_chunk,
    [SPEC_LAYER_MODULATE] = lower_modulate,
    [SPEC_LAYER_SOFTMAX] = lower_softmax,
    [SPEC_LAYER_ACT] = lower_act,
};

/* The shapes of the instructions a layer emitted (from index first on), so
 * that later layers and the output mapping can read them. */
static int lower_layer_shapes(lower_ctx *c, const spec_layer *l, ir_block_kind bk, uint32_t first) {
  char err[512];
  for (uint32_t i = first; i < c->m->blocks[bk].count; i++)
    if (ir_set_shape(c->m, bk, (int32_t)i, err, sizeof err) != 0)
      return lower_error_at(c, l->loc, "internal error: layer '%s': %s", l->name, err);
  return 0;
}

/* Layer i: resolve its inputs, lower it, record it in c->value[i]. */
static int lower_layer(lower_ctx *c, lower_inputs *io, size_t i) {
  const spec_network *net = &c->spec->network;
  const spec_layer *l = &net->layers[i];
  size_t n = l->ninputs;
  if (n > UINT32_MAX || (unsigned)l->op >= sizeof lower_layers / sizeof lower_layers[0])
    return lower_error_at(c, l->loc, "internal error: layer '%s' cannot be lowered", l->name);
  int32_t *args = xmalloc_array(n ? n : 1, sizeof *args);
  if (!args) return lower_oom(c);
  uint32_t first = c->m->blocks[io->block].count;
  int32_t r = 0;
  for (size_t a = 0; a < n && r >= 0; a++) {
    int s = lower_layer_source(net, i, a);
    r = args[a] = s == LOWER_SRC_MU     ? lower_mu_input(c, io)
                  : s == LOWER_SRC_TIME ? lower_time_value(c, io, LOWER_TABLE_TAU)
                                        : c->value[s];
  }
  lower_layer_args la = {l, io->block, args, n};
  if (r >= 0) r = lower_layers[l->op](c, &la);
  free(args);
  if (r < 0 || lower_label(c, io->block, r, l->name) != 0) return -1;
  c->value[i] = r;
  return lower_layer_shapes(c, l, io->block, first);
}

static int32_t lower_graph(lower_ctx *c, lower_inputs *io) {
  const spec_network *net = &c->spec->network;
  if (!c->live) {
    c->live = xcalloc_array(net->nlayers ? net->nlayers : 1, 1);
    c->value = xmalloc_array(net->nlayers ? net->nlayers : 1, sizeof *c->value);
    if (!c->live || !c->value) return lower_oom(c);
  }
  memset(c->live, 0, net->nlayers);
  if (lower_mark_live(c) != 0) return -1;
  for (size_t i = 0; i < net->nlayers; i++) c->value[i] = -1;
  /* the sampler's values the network reads (state, time) */
  if (lower_layer_shapes(c, &net->layers[c->out_layer], io->block, 0) != 0) return -1;
  for (size_t i = 0; i <= c->out_layer; i++)
    if (c->live[i] && lower_layer(c, io, i) != 0) return -1;
  return c->value[c->out_layer];
}

/* The pair's mapping of the graph's output, read in the state's shape:
 * softplus for gamma-poisson (unless the output layer is a dense or conv
 * layer with an activation of its own), the softmax over K at each position
 * for dirichlet-categorical. */
static int32_t lower_graph_output(lower_ctx *c, lower_inputs *io, int32_t r) {
  const spec_layer *out = &c->spec->network.layers[c->out_layer];
  const tshape *shape = &lower_inst(c, io->block, r)->shape;
  if (tshape_numel(shape) != c->m->state_len)
    return lower_error_at(c, out->loc,
                          "internal error: output layer '%s' has %llu floats, the state %u",
                          out->name, (unsigned long long)tshape_numel(shape), c->m->state_len);
  if (!tshape_equal(shape, &c->m->state_shape) &&
      (r = lower_emit_shaped(c, io->block, IR_OP_RESHAPE, 1, &r, &c->m->state_shape)) < 0)
    return -1;
  switch (c->spec->pair) {
  case SPEC_PAIR_NORMAL_NORMAL: return r;
  case SPEC_PAIR_GAMMA_POISSON:
    if ((out->op == SPEC_LAYER_DENSE || out->op == SPEC_LAYER_CONV2D) &&
        out->activation != PMM_ACT_NONE)
      return r;
    if ((r = lower_op(c, io->block, IR_OP_ACT, 1, &r)) < 0) return -1;
    lower_inst(c, io->block, r)->act = PMM_ACT_SOFTPLUS;
    return lower_label(c, io->block, r, "softplus") == 0 ? r : -1;
  case SPEC_PAIR_DIRICHLET_CATEGORICAL:
    if ((r = lower_op(c, io->block, IR_OP_SOFTMAX, 1, &r)) < 0) return -1;
    lower_inst(c, io->block, r)->axis = 1;
    return lower_label(c, io->block, r, "p") == 0 ? r : -1;
  }
  return lower_error_at(c, c->spec->prior_loc, "internal error: unknown pair");
}

/* ---- exact networks -------------------------------------------------------- */

static int32_t lower_mixture(lower_ctx *c) {
  if (c->mixture >= 0) return c->mixture;
  const spec_network *net = &c->spec->network;
  uint32_t k = (uint32_t)net->ncomponents, dim = c->m->state_len;
  if (net->ncomponents > UINT32_MAX)
    return lower_error_at(c, net->loc, "internal error: mixture has too many components");
  float *w = xmalloc_array(k, sizeof *w), *s = xmalloc_array(k, sizeof *s);
  float *mean = xmalloc_array((size_t)k, (size_t)dim * sizeof *mean);
  int32_t g = -1;
  if (w && s && mean) {
    for (uint32_t j = 0; j < k; j++) {
      w[j] = (float)net->mixture[j].weight;
      s[j] = (float)net->mixture[j].std;
      for (uint32_t d = 0; d < dim; d++) mean[(size_t)j * dim + d] = (float)net->mixture[j].mean[d];
    }
    g = ir_add_mixture(c->m, k, dim, w, mean, s);
  }
  free(w);
  free(s);
  free(mean);
  if (g < 0) return lower_oom(c);
  return c->mixture = g;
}

/* The spec's atom set as module atoms: values as given (symbol indices for
 * dirichlet-categorical), log weights in double rounded to float (uniform
 * when no weights were given). */
static int32_t lower_atom_set(lower_ctx *c) {
  if (c->atoms >= 0) return c->atoms;
  const spec_network *net = &c->spec->network;
  if (net->natoms > UINT32_MAX || !net->atoms)
    return lower_error_at(c, net->atoms_loc, "internal error: atom set has %s atoms",
                          net->atoms ? "too many" : "no");
  uint32_t k = (uint32_t)net->natoms;
  float *lw = xmalloc_array(k, sizeof *lw);
  if (!lw) return lower_oom(c);
  for (uint32_t j = 0; j < k; j++)
    lw[j] = (float)(net->atom_weights ? log(net->atom_weights[j]) : -log((double)k));
  uint32_t vocab = c->spec->pair == SPEC_PAIR_DIRICHLET_CATEGORICAL ? c->m->vocab_size : 0;
  int32_t a = ir_add_atoms(c->m, k, (uint32_t)c->spec->data_elems, vocab, net->atoms, lw);
  free(lw);
  if (a < 0) return lower_oom(c);
  return c->atoms = a;
}

static int32_t lower_exact(lower_ctx *c, lower_inputs *io) {
  const spec_network *net = &c->spec->network;
  spec_pair pair = c->spec->pair;
  int mixture = net->ncomponents > 0;
  if (mixture == (net->natoms > 0) || (mixture && pair != SPEC_PAIR_NORMAL_NORMAL))
    return lower_error_at(c, net->loc,
                          "internal error: an exact network needs exactly one of a mixture "
                          "(normal-normal) and an atom set");
  int32_t data = mixture ? lower_mixture(c) : lower_atom_set(c);
  if (data < 0) return -1;
  ir_op op = mixture                           ? IR_OP_EXACT_GMM
             : pair == SPEC_PAIR_NORMAL_NORMAL ? IR_OP_EXACT_ATOMS_NORMAL
             : pair == SPEC_PAIR_GAMMA_POISSON ? IR_OP_EXACT_ATOMS_GAMMA
                                               : IR_OP_EXACT_ATOMS_CATEGORICAL;
  int32_t args[2] = {io->state, -1}, r;
  if (op == IR_OP_EXACT_ATOMS_CATEGORICAL) {
    r = lower_emit(c, io->block, op, 1, args, c->m->state_len);
  } else {
    if ((args[1] = lower_time_value(c, io, LOWER_TABLE_A)) < 0) return -1;
    r = lower_emit(c, io->block, op, 2, args, c->m->state_len);
  }
  if (r < 0) return -1;
  if (mixture)
    c->m->blocks[io->block].insts[r].mixture = data;
  else
    c->m->blocks[io->block].insts[r].atoms = data;
  return lower_label(c, io->block, r, op == IR_OP_EXACT_ATOMS_CATEGORICAL ? "p" : "xhat") == 0 ? r
                                                                                               : -1;
}

int32_t lower_network_raw(lower_ctx *c, lower_inputs *io) { return lower_graph(c, io); }

int32_t lower_network(lower_ctx *c, lower_inputs *io) {
  if (c->spec->network.kind == SPEC_NETWORK_EXACT) return lower_exact(c, io);
  int32_t r = lower_graph(c, io);
  return r >= 0 ? lower_graph_output(c, io, r) : -1;
}
