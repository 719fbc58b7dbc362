/*
 * lower_net.c - the network inside a block: graph layers bound to weight
 * tensors, or an exact posterior mean (Gaussian mixture, atom set), then the
 * pair's output mapping (DESIGN.md section 1):
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

/* The module tensor called name, added from the spec's weights on first
 * use; -1 with an error naming the layer when it does not exist. */
static int32_t lower_tensor(lower_ctx *c, const spec_layer *l, const char *suffix) {
  char name[512];
  if ((size_t)snprintf(name, sizeof name, "%s.%s", l->name, suffix) >= sizeof name)
    return lower_error_at(c, l->loc, "layer name '%s' is too long", l->name);
  for (uint32_t i = 0; i < c->m->ntensors; i++)
    if (strcmp(c->m->tensors[i].name, name) == 0) return (int32_t)i;
  const weight_tensor *w = weights_find(&c->spec->weights, name);
  if (!w) return lower_error_at(c, l->loc, "internal error: weight tensor '%s' is missing", name);
  if (w->rank > 4)
    return lower_error_at(c, l->loc, "internal error: weight tensor '%s' has rank above 4", name);
  int32_t t = ir_add_tensor(c->m, name, w->rank, w->shape, w->data);
  return t >= 0 ? t : lower_oom(c);
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

/* Mark the layers the output depends on; the rest are dead and not lowered. */
static int lower_mark_live(lower_ctx *c) {
  const spec_network *net = &c->spec->network;
  if (net->nlayers == 0 || net->nlayers > INT32_MAX)
    return lower_error_at(c, net->loc, "internal error: network has %s layers",
                          net->nlayers ? "too many" : "no");
  size_t o = net->nlayers - 1;
  if (net->output) {
    for (o = net->nlayers; o-- > 0;)
      if (strcmp(net->layers[o].name, net->output) == 0) break;
    if (o == (size_t)-1)
      return lower_error_at(c, net->output_loc, "internal error: output layer '%s' not found",
                            net->output);
  }
  c->live[o] = 1;
  for (size_t i = o + 1; i-- > 0;) {
    if (!c->live[i]) continue;
    if (net->layers[i].ninputs == 0)
      return lower_error_at(c, net->layers[i].loc, "internal error: layer '%s' has no inputs",
                            net->layers[i].name);
    for (size_t a = 0; a < net->layers[i].ninputs; a++) {
      int s = lower_layer_source(net, i, a);
      if (s == LOWER_SRC_NONE)
        return lower_error_at(c, net->layers[i].loc,
                              "internal error: an input of layer '%s' is not defined",
                              net->layers[i].name);
      if (s >= 0) c->live[s] = 1;
    }
  }
  c->out_layer = o;
  return 0;
}

/* dense: DENSE (+ ACT); both carry the layer's name. */
static int32_t lower_dense(lower_ctx *c, ir_block_kind bk, const spec_layer *l, int32_t x) {
  int32_t w = lower_tensor(c, l, "weight");
  int32_t bias = w >= 0 && l->has_bias ? lower_tensor(c, l, "bias") : -1;
  if (w < 0 || (l->has_bias && bias < 0)) return -1;
  const ir_tensor *wt = &c->m->tensors[w];
  uint32_t units = wt->rank == 2 && wt->shape[0] <= UINT32_MAX ? (uint32_t)wt->shape[0] : 0;
  int32_t r = lower_emit(c, bk, IR_OP_DENSE, 1, &x, units);
  if (r < 0) return -1;
  c->m->blocks[bk].insts[r].weight = w;
  c->m->blocks[bk].insts[r].bias = bias;
  if (l->activation == PMM_ACT_NONE) return r;
  if (lower_label(c, bk, r, l->name) != 0) return -1;
  int32_t d = r;
  if ((r = lower_emit(c, bk, IR_OP_ACT, 1, &d, units)) < 0) return -1;
  c->m->blocks[bk].insts[r].act = l->activation;
  return r;
}

/* add / mul of n >= 2 inputs: a left-to-right chain of binary ops. */
static int32_t lower_chain(lower_ctx *c, ir_block_kind bk, const spec_layer *l, const int32_t *args,
                           size_t n) {
  if (n < 2) return lower_error_at(c, l->loc, "internal error: layer '%s' has one input", l->name);
  ir_op op = l->op == SPEC_LAYER_ADD ? IR_OP_ADD : IR_OP_MUL;
  int32_t r = args[0];
  for (size_t a = 1; a < n; a++)
    if ((r = lower_binary(c, bk, op, r, args[a])) < 0 || lower_label(c, bk, r, l->name) != 0)
      return -1;
  return r;
}

static int32_t lower_layernorm(lower_ctx *c, ir_block_kind bk, const spec_layer *l, int32_t x) {
  int32_t w = lower_tensor(c, l, "weight");
  if (w < 0) return -1;
  /* PyTorch's LayerNorm(bias=False) has no "<name>.bias" */
  char bname[512];
  snprintf(bname, sizeof bname, "%s.bias", l->name);
  int32_t bias = -1;
  if (weights_find(&c->spec->weights, bname) && (bias = lower_tensor(c, l, "bias")) < 0) return -1;
  int32_t r = lower_emit(c, bk, IR_OP_LAYERNORM, 1, &x, c->m->blocks[bk].insts[x].len);
  if (r < 0) return -1;
  c->m->blocks[bk].insts[r].weight = w;
  c->m->blocks[bk].insts[r].bias = bias;
  c->m->blocks[bk].insts[r].fattr = (float)l->eps;
  return r;
}

/* One layer over its resolved inputs; returns its (last) instruction. */
static int32_t lower_layer_op(lower_ctx *c, ir_block_kind bk, const spec_layer *l,
                              const int32_t *args, size_t n, uint64_t total) {
  int32_t r = -1;
  switch (l->op) {
  case SPEC_LAYER_DENSE: return lower_dense(c, bk, l, args[0]);
  case SPEC_LAYER_ADD:
  case SPEC_LAYER_MUL: return lower_chain(c, bk, l, args, n);
  case SPEC_LAYER_CONCAT:
    if (total > UINT32_MAX) return lower_error_at(c, l->loc, "layer '%s' is too wide", l->name);
    return lower_emit(c, bk, IR_OP_CONCAT, (uint32_t)n, args, (uint32_t)total);
  case SPEC_LAYER_SINUSOIDAL:
    if ((r = lower_emit(c, bk, IR_OP_SINUSOIDAL, 1, args, l->dim)) >= 0)
      c->m->blocks[bk].insts[r].dim = l->dim;
    return r;
  case SPEC_LAYER_LAYERNORM: return lower_layernorm(c, bk, l, args[0]);
  case SPEC_LAYER_RESHAPE: return args[0]; /* same floats, same C order */
  default: break;
  }
  return lower_error_at(c, l->loc, "internal error: layer '%s' has an unknown op", l->name);
}

/* Layer i: resolve its inputs, lower it, record it in c->value[i]. */
static int lower_layer(lower_ctx *c, lower_inputs *io, size_t i) {
  const spec_network *net = &c->spec->network;
  const spec_layer *l = &net->layers[i];
  size_t n = l->ninputs;
  if (n > UINT32_MAX) return lower_oom(c);
  int32_t *args = xmalloc_array(n, sizeof *args);
  if (!args) return lower_oom(c);
  uint64_t total = 0;
  int32_t r = 0;
  for (size_t a = 0; a < n && r >= 0; a++) {
    int s = lower_layer_source(net, i, a);
    r = args[a] = s == LOWER_SRC_MU     ? lower_mu_input(c, io)
                  : s == LOWER_SRC_TIME ? lower_time_value(c, io, LOWER_TABLE_TAU)
                                        : c->value[s];
    if (r >= 0) total += c->m->blocks[io->block].insts[r].len;
  }
  if (r >= 0) r = lower_layer_op(c, io->block, l, args, n, total);
  free(args);
  if (r < 0 || lower_label(c, io->block, r, l->name) != 0) return -1;
  c->value[i] = r;
  return 0;
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
  for (size_t i = 0; i <= c->out_layer; i++)
    if (c->live[i] && lower_layer(c, io, i) != 0) return -1;
  int32_t r = c->value[c->out_layer];
  uint32_t len = c->m->blocks[io->block].insts[r].len;
  if (len != c->m->state_len)
    return lower_error_at(c, net->layers[c->out_layer].loc,
                          "internal error: output layer '%s' has %u floats, the %s needs %u",
                          net->layers[c->out_layer].name, len,
                          c->spec->pair == SPEC_PAIR_DIRICHLET_CATEGORICAL ? "logits [L, K]"
                                                                           : "data",
                          c->m->state_len);
  return r;
}

/* The pair's mapping of the graph's output: softplus for gamma-poisson
 * (unless the output dense layer has an activation), per-position softmax
 * for dirichlet-categorical. */
static int32_t lower_graph_output(lower_ctx *c, lower_inputs *io, int32_t r) {
  const spec_layer *out = &c->spec->network.layers[c->out_layer];
  uint32_t len = c->m->state_len;
  switch (c->spec->pair) {
  case SPEC_PAIR_NORMAL_NORMAL: return r;
  case SPEC_PAIR_GAMMA_POISSON:
    if (out->op == SPEC_LAYER_DENSE && out->activation != PMM_ACT_NONE) return r;
    if ((r = lower_emit(c, io->block, IR_OP_ACT, 1, &r, len)) < 0) return -1;
    c->m->blocks[io->block].insts[r].act = PMM_ACT_SOFTPLUS;
    return lower_label(c, io->block, r, "softplus") == 0 ? r : -1;
  case SPEC_PAIR_DIRICHLET_CATEGORICAL:
    if ((r = lower_emit(c, io->block, IR_OP_SOFTMAX, 1, &r, len)) < 0) return -1;
    c->m->blocks[io->block].insts[r].dim = c->m->vocab_size;
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
  ir_op op = mixture                              ? IR_OP_EXACT_GMM
             : pair == SPEC_PAIR_NORMAL_NORMAL    ? IR_OP_EXACT_ATOMS_NORMAL
             : pair == SPEC_PAIR_GAMMA_POISSON    ? IR_OP_EXACT_ATOMS_GAMMA
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
  return lower_label(c, io->block, r, op == IR_OP_EXACT_ATOMS_CATEGORICAL ? "p" : "xhat") == 0
             ? r
             : -1;
}

int32_t lower_network(lower_ctx *c, lower_inputs *io) {
  if (c->spec->network.kind == SPEC_NETWORK_EXACT) return lower_exact(c, io);
  int32_t r = lower_graph(c, io);
  return r >= 0 ? lower_graph_output(c, io, r) : -1;
}
