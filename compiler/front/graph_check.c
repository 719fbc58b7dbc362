/*
 * graph_check.c - a graph network's structure: unique names, inputs that
 * refer to 'mu', 'time' or earlier layers (so layer order is a topological
 * order and lowering can emit layers as written), the length of every layer,
 * the output length, and each layer's tensors against the weights file.
 *
 * Each phase runs only when the ones before it found nothing wrong: lengths
 * are meaningless with a dangling input, tensor shapes with an unknown length.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "compiler/front/front.h"
#include "compiler/util/xalloc.h"

static long find_layer(const spec_network *net, const char *name) {
  for (size_t i = 0; i < net->nlayers; i++)
    if (net->layers[i].name && !strcmp(net->layers[i].name, name))
      return (long)i;
  return -1;
}

static int is_builtin(const char *name) { return !strcmp(name, "mu") || !strcmp(name, "time"); }

static int check_names(front_ctx *c, const spec_network *net) {
  int bad = 0;
  for (size_t i = 0; i < net->nlayers; i++) {
    const spec_layer *l = &net->layers[i];
    long j = find_layer(net, l->name);
    if (j >= 0 && (size_t)j < i) {
      front_error(c, l->loc, "found a second layer named '%s', expected unique layer names",
                  l->name);
      diag_hint(c->dl, "'%s' is first defined at line %d, column %d", l->name,
                net->layers[j].loc.line, net->layers[j].loc.col);
      bad = 1;
    }
  }
  return bad ? -1 : 0;
}

static void hint_earlier(front_ctx *c, const spec_network *net, size_t i, const char *word) {
  const char **cands = xmalloc_array(i + 2, sizeof *cands);
  if (!cands)
    return;
  cands[0] = "mu";
  cands[1] = "time";
  for (size_t j = 0; j < i; j++)
    cands[j + 2] = net->layers[j].name;
  const char *s = diag_suggest(word, cands, i + 2);
  if (s)
    diag_hint(c->dl, "did you mean '%s'?", s);
  free(cands);
}

static int check_inputs(front_ctx *c, const spec_network *net) {
  int bad = 0;
  for (size_t i = 0; i < net->nlayers; i++) {
    const spec_layer *l = &net->layers[i];
    const char *key = l->ninputs > 1 ? "inputs" : "input";
    for (size_t k = 0; k < l->ninputs; k++) {
      const char *in = l->inputs[k];
      long j = is_builtin(in) ? -2 : find_layer(net, in);
      if (j == -2 || (j >= 0 && (size_t)j < i))
        continue;
      bad = 1;
      if (j < 0) {
        front_error(c, l->input_locs[k],
                    "found '%s' for '%s' of layer '%s', expected 'mu', 'time' or an earlier "
                    "layer (there is no layer '%s')",
                    in, key, l->name, in);
        hint_earlier(c, net, i, in);
      } else if ((size_t)j == i) {
        front_error(c, l->input_locs[k],
                    "found '%s' for '%s' of layer '%s', expected 'mu', 'time' or an earlier "
                    "layer (a layer cannot read its own output)",
                    in, key, l->name);
      } else {
        front_error(c, l->input_locs[k],
                    "found '%s' for '%s' of layer '%s', expected 'mu', 'time' or an earlier "
                    "layer ('%s' is defined later, at line %d)",
                    in, key, l->name, in, net->layers[j].loc.line);
        diag_hint(c->dl, "layers are evaluated in the order written; move '%s' before '%s'",
                  in, l->name);
      }
    }
  }
  return bad ? -1 : 0;
}

static long check_output(front_ctx *c, const spec_network *net) {
  long j = find_layer(net, net->output);
  if (j >= 0)
    return j;
  front_error(c, net->output_loc, "found '%s' for 'network.output', expected the name of a layer",
              net->output);
  const char **cands = xmalloc_array(net->nlayers, sizeof *cands);
  if (cands) {
    for (size_t i = 0; i < net->nlayers; i++)
      cands[i] = net->layers[i].name;
    const char *s = diag_suggest(net->output, cands, net->nlayers);
    if (s)
      diag_hint(c->dl, "did you mean '%s'?", s);
    free(cands);
  }
  return -1;
}

/* The length of `mu` and of the output: one value per data element, or for
 * dirichlet-categorical one per position and symbol (L*K, checked to fit). */
static uint32_t mu_len(const model_spec *s) {
  if (s->pair == SPEC_PAIR_DIRICHLET_CATEGORICAL)
    return (uint32_t)(s->data_elems * s->vocab_size);
  return (uint32_t)s->data_elems;
}

static uint32_t input_len(const model_spec *s, const char *name) {
  if (!strcmp(name, "mu"))
    return mu_len(s);
  if (!strcmp(name, "time"))
    return 1;
  return s->network.layers[find_layer(&s->network, name)].out_len;
}

/* Fill in_len/out_len in layer order.  in_len is the length of the (each)
 * input for single-input ops, add and mul, and the total for concat. */
static int infer_lengths(front_ctx *c, model_spec *s) {
  spec_network *net = &s->network;
  for (size_t i = 0; i < net->nlayers; i++) {
    spec_layer *l = &net->layers[i];
    const char *opn = spec_layer_op_name(l->op);
    uint32_t first = input_len(s, l->inputs[0]);
    switch (l->op) {
    case SPEC_LAYER_DENSE:
      l->in_len = first;
      l->out_len = l->units;
      break;
    case SPEC_LAYER_LAYERNORM:
      l->in_len = l->out_len = first;
      break;
    case SPEC_LAYER_SINUSOIDAL:
      if (first != 1) {
        front_error(c, l->input_locs[0],
                    "found '%s' of length %u for 'input' of sinusoidal layer '%s', expected a "
                    "scalar (length 1) such as 'time'",
                    l->inputs[0], first, l->name);
        return -1;
      }
      l->in_len = 1;
      l->out_len = l->dim;
      break;
    case SPEC_LAYER_ADD:
    case SPEC_LAYER_MUL:
      for (size_t k = 1; k < l->ninputs; k++) {
        uint32_t len = input_len(s, l->inputs[k]);
        if (len != first) {
          front_error(c, l->input_locs[k],
                      "found '%s' of length %u in 'inputs' of %s layer '%s', expected length %u "
                      "like '%s'",
                      l->inputs[k], len, opn, l->name, first, l->inputs[0]);
          diag_hint(c->dl, "%s combines inputs element by element, so all must have the same "
                           "length",
                    opn);
          return -1;
        }
      }
      l->in_len = l->out_len = first;
      break;
    case SPEC_LAYER_CONCAT: {
      uint64_t total = 0;
      for (size_t k = 0; k < l->ninputs; k++)
        total += input_len(s, l->inputs[k]); /* each <= 2^24, count bounded by the file */
      if (total > FRONT_MAX_LEN) {
        front_error(c, l->loc,
                    "found a total length of %llu for concat layer '%s', expected at most %u",
                    (unsigned long long)total, l->name, (unsigned)FRONT_MAX_LEN);
        return -1;
      }
      l->in_len = l->out_len = (uint32_t)total;
      break;
    }
    }
  }
  return 0;
}

static const char *shape_text(char *buf, size_t len, uint32_t rank, const uint64_t *dims) {
  size_t used = 0;
  used += (size_t)snprintf(buf, len, "[");
  for (uint32_t i = 0; i < rank && used < len; i++)
    used += (size_t)snprintf(buf + used, len - used, "%s%llu", i ? ", " : "",
                             (unsigned long long)dims[i]);
  if (used < len)
    snprintf(buf + used, len - used, "]");
  return buf;
}

typedef struct tensor_check {
  front_ctx *c;
  const model_spec *s;
  unsigned char *used; /* per tensor of s->weights */
} tensor_check;

/* Check "<layer>.<suffix>" has the given shape; 1 if present. */
static int check_tensor(tensor_check *tc, const spec_layer *l, const char *suffix, uint32_t rank,
                        const uint64_t *dims, int required) {
  const weight_set *ws = &tc->s->weights;
  char name[FRONT_MAX_NAME + 16], want[96], got[256];
  snprintf(name, sizeof name, "%s.%s", l->name, suffix);
  shape_text(want, sizeof want, rank, dims);
  const char *opn = spec_layer_op_name(l->op);
  const weight_tensor *t = weights_find(ws, name);
  if (!t) {
    if (!required)
      return 0;
    front_error(tc->c, l->loc, "found no tensor '%s' in '%s', expected one of shape %s for %s "
                               "layer '%s'",
                name, tc->s->weights_path, want, opn, l->name);
    const char **cands = xmalloc_array(ws->count, sizeof *cands);
    if (cands) {
      for (size_t i = 0; i < ws->count; i++)
        cands[i] = ws->tensors[i].name;
      const char *sug = diag_suggest(name, cands, ws->count);
      if (sug)
        diag_hint(tc->c->dl, "the file has a tensor '%s'", sug);
      free(cands);
    }
    return 0;
  }
  tc->used[t - ws->tensors] = 1;
  int same = t->rank == rank;
  for (uint32_t i = 0; same && i < rank; i++)
    same = t->shape[i] == dims[i];
  if (!same) {
    front_error(tc->c, l->loc,
                "found tensor '%s' of shape %s in '%s', expected shape %s for %s layer '%s'",
                name, shape_text(got, sizeof got, t->rank, t->shape), tc->s->weights_path, want,
                opn, l->name);
  }
  return 1;
}

static void check_tensors(front_ctx *c, model_spec *s) {
  const weight_set *ws = &s->weights;
  tensor_check tc = {c, s, xcalloc_array(ws->count, 1)};
  if (!tc.used) {
    diag_error(c->dl, c->file, 0, 0, "out of memory");
    return;
  }
  for (size_t i = 0; i < s->network.nlayers; i++) {
    spec_layer *l = &s->network.layers[i];
    if (l->op == SPEC_LAYER_DENSE) {
      uint64_t w[2] = {l->units, l->in_len}, b[1] = {l->units};
      check_tensor(&tc, l, "weight", 2, w, 1);
      l->has_bias = check_tensor(&tc, l, "bias", 1, b, 0);
    } else if (l->op == SPEC_LAYER_LAYERNORM) {
      uint64_t n[1] = {l->in_len};
      check_tensor(&tc, l, "weight", 1, n, 1);
      l->has_bias = check_tensor(&tc, l, "bias", 1, n, 0); /* LayerNorm(bias=False) */
    }
  }
  for (size_t i = 0; i < ws->count; i++)
    if (!tc.used[i])
      diag_warning(c->dl, c->file, s->weights_loc.line, s->weights_loc.col,
                   "tensor '%s' in '%s' is not used by any layer", ws->tensors[i].name,
                   s->weights_path);
  free(tc.used);
}

/* A layer with tensors needs a weights file; say so once, at the first. */
static int check_weights_given(front_ctx *c, const model_spec *s) {
  if (s->weights_loc.line != 0)
    return 0; /* given (and loaded, or already reported) */
  for (size_t i = 0; i < s->network.nlayers; i++) {
    const spec_layer *l = &s->network.layers[i];
    if (l->op == SPEC_LAYER_DENSE || l->op == SPEC_LAYER_LAYERNORM) {
      front_error(c, l->loc,
                  "found no 'weights' key, expected a safetensors file holding the tensors of "
                  "%s layer '%s'",
                  spec_layer_op_name(l->op), l->name);
      diag_hint(c->dl, "add `weights: FILE.safetensors` (relative to the model file)");
      return -1;
    }
  }
  return 0;
}

void front_check_graph(front_ctx *c, model_spec *s, int data_ok, int weights_loaded) {
  spec_network *net = &s->network;
  if (check_names(c, net) != 0 || check_inputs(c, net) != 0)
    return;
  long out = check_output(c, net);
  int given = check_weights_given(c, s);
  if (out < 0 || given != 0 || !data_ok || infer_lengths(c, s) != 0)
    return;
  const spec_layer *o = &net->layers[out];
  if (o->out_len != mu_len(s) && s->pair == SPEC_PAIR_DIRICHLET_CATEGORICAL) {
    front_error(c, net->output_loc,
                "found length %u for output layer '%s', expected %u (L*K = %u*%u logits, one per "
                "position and symbol)",
                o->out_len, o->name, mu_len(s), s->shape[0], s->vocab_size);
    diag_hint(c->dl, "the output is read as [L, K] in row-major order; the sampler applies the "
                     "softmax over K at each position");
  } else if (o->out_len != mu_len(s)) {
    front_error(c, net->output_loc,
                "found length %u for output layer '%s', expected %llu (the number of data "
                "elements)",
                o->out_len, o->name, (unsigned long long)s->data_elems);
  }
  if (weights_loaded)
    check_tensors(c, s);
}
