/*
 * graph_check.c - a graph network's structure: unique names, inputs that
 * refer to 'mu', 'time' or earlier layers (so layer order is a topological
 * order and lowering can emit layers as written), the shape of every layer
 * (each op's rule in layer_shapes.c), the output shape against the data,
 * and each layer's tensors against the weights file (layer_tensors.c).
 *
 * Each phase runs only when the ones before it found nothing wrong: shapes
 * are meaningless with a dangling input, tensors with an unknown shape.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "compiler/front/layers.h"
#include "compiler/util/strmap.h"
#include "compiler/util/xalloc.h"

/* The index of the first layer named name, or -1 (names: check_names). */
static long find_layer(const strmap *names, const char *name) {
  size_t i;
  return strmap_get(names, name, &i) ? (long)i : -1;
}

static int is_builtin(const char *name) { return !strcmp(name, "mu") || !strcmp(name, "time"); }

/* Every layer's name into names (the first of equal names wins), which
 * keeps lookups constant-time for graphs of any size. */
static int check_names(front_ctx *c, const spec_network *net, strmap *names) {
  int bad = 0;
  for (size_t i = 0; i < net->nlayers; i++) {
    const spec_layer *l = &net->layers[i];
    size_t j;
    if (!l->name) continue; /* reported when parsed */
    int added = strmap_put(names, l->name, i, &j);
    if (added < 0) {
      diag_error(c->dl, c->file, 0, 0, "out of memory");
      return -1;
    }
    if (added == 0) {
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
  if (!cands) return;
  cands[0] = "mu";
  cands[1] = "time";
  for (size_t j = 0; j < i; j++) cands[j + 2] = net->layers[j].name;
  const char *s = diag_suggest(word, cands, i + 2);
  if (s) diag_hint(c->dl, "did you mean '%s'?", s);
  free(cands);
}

static int check_inputs(front_ctx *c, const spec_network *net, const strmap *names) {
  int bad = 0;
  for (size_t i = 0; i < net->nlayers; i++) {
    const spec_layer *l = &net->layers[i];
    for (size_t k = 0; k < l->ninputs; k++) {
      const char *in = l->inputs[k], *key = layer_input_key(l, k);
      long j = is_builtin(in) ? -2 : find_layer(names, in);
      if (j == -2 || (j >= 0 && (size_t)j < i)) continue;
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
        diag_hint(c->dl, "layers are evaluated in the order written; move '%s' before '%s'", in,
                  l->name);
      }
    }
  }
  return bad ? -1 : 0;
}

static long check_output(front_ctx *c, const spec_network *net, const strmap *names) {
  long j = find_layer(names, net->output);
  if (j >= 0) return j;
  front_error(c, net->output_loc, "found '%s' for 'network.output', expected the name of a layer",
              net->output);
  const char **cands = xmalloc_array(net->nlayers, sizeof *cands);
  if (cands) {
    for (size_t i = 0; i < net->nlayers; i++) cands[i] = net->layers[i].name;
    const char *s = diag_suggest(net->output, cands, net->nlayers);
    if (s) diag_hint(c->dl, "did you mean '%s'?", s);
    free(cands);
  }
  return -1;
}

/* What shape inference works with. */
typedef struct graph_ctx {
  front_ctx *c;
  model_spec *s;
  const layer_args *args; /* one per layer */
  tshape mu;              /* the data shape; dirichlet-categorical: [L, K] */
  const strmap *names;    /* layer name -> index */
} graph_ctx;

static tshape mu_shape(const model_spec *s) {
  tshape mu = tshape_make(s->rank, s->shape);
  if (s->pair == SPEC_PAIR_DIRICHLET_CATEGORICAL)
    mu.dim[mu.rank++] = s->vocab_size; /* data.c keeps categorical data rank 1 */
  return mu;
}

static const tshape *input_shape(const graph_ctx *g, const char *name) {
  static const tshape time = {1, {1}};
  if (!strcmp(name, "mu")) return &g->mu;
  if (!strcmp(name, "time")) return &time;
  return &g->s->network.layers[find_layer(g->names, name)].out;
}

/* Every layer's `out`, in order.  A layer whose rule fails keeps rank 0,
 * and layers reading it are skipped, so each error is independent. */
static int infer_shapes(graph_ctx *g) {
  spec_network *net = &g->s->network;
  size_t most = 1;
  for (size_t i = 0; i < net->nlayers; i++)
    most = net->layers[i].ninputs > most ? net->layers[i].ninputs : most;
  tshape *in = xmalloc_array(most, sizeof *in);
  if (!in) {
    diag_error(g->c->dl, g->c->file, 0, 0, "out of memory");
    return -1;
  }
  int bad = 0;
  for (size_t i = 0; i < net->nlayers; i++) {
    spec_layer *l = &net->layers[i];
    int known = 1;
    for (size_t k = 0; k < l->ninputs; k++) {
      in[k] = *input_shape(g, l->inputs[k]);
      known &= in[k].rank != 0;
    }
    shape_ctx x = {g->c, l, &g->args[i], in};
    if (!known || layer_def(l)->shape(&x) != 0) {
      memset(&l->out, 0, sizeof l->out);
      bad = 1;
    }
  }
  free(in);
  return bad ? -1 : 0;
}

/* The output is the data shape or its flattening (for
 * dirichlet-categorical: logits [L, K] or [L*K]). */
static void check_output_shape(const graph_ctx *g, const spec_layer *o) {
  const model_spec *s = g->s;
  tshape flat = tshape_vec((uint32_t)tshape_numel(&g->mu)); /* <= 2^24, checked by data.c */
  if (tshape_equal(&o->out, &g->mu) || tshape_equal(&o->out, &flat)) return;
  char got[TSHAPE_TEXT], want[TSHAPE_TEXT], flat_text[TSHAPE_TEXT];
  tshape_format(&o->out, got, sizeof got);
  tshape_format(&g->mu, want, sizeof want);
  tshape_format(&flat, flat_text, sizeof flat_text);
  spec_loc at = s->network.output_loc;
  if (s->pair == SPEC_PAIR_DIRICHLET_CATEGORICAL) {
    front_error(g->c, at,
                "found shape %s for output layer '%s', expected %s or %s (logits: L = %u "
                "positions by K = %u symbols)",
                got, o->name, want, flat_text, s->shape[0], s->vocab_size);
    diag_hint(g->c->dl, "the output is read as [L, K] in row-major order; the sampler applies "
                        "the softmax over K at each position");
  } else if (g->mu.rank == 1) {
    front_error(g->c, at, "found shape %s for output layer '%s', expected %s (the data shape)", got,
                o->name, want);
  } else {
    front_error(g->c, at,
                "found shape %s for output layer '%s', expected %s (the data shape) or its "
                "flattening %s",
                got, o->name, want, flat_text);
  }
}

static void check_tensors(graph_ctx *g) {
  const weight_set *ws = &g->s->weights;
  tensor_ctx t = {g->c, g->s, xcalloc_array(ws->count ? ws->count : 1, 1)};
  if (!t.used) {
    diag_error(g->c->dl, g->c->file, 0, 0, "out of memory");
    return;
  }
  for (size_t i = 0; i < g->s->network.nlayers; i++) {
    spec_layer *l = &g->s->network.layers[i];
    const layer_op_def *d = layer_def(l);
    if (d->tensors) d->tensors(&t, l, l->ninputs ? input_shape(g, l->inputs[0]) : NULL);
  }
  for (size_t i = 0; i < ws->count; i++)
    if (!t.used[i])
      diag_warning(g->c->dl, g->c->file, g->s->weights_loc.line, g->s->weights_loc.col,
                   "tensor '%s' in '%s' is not used by any layer", ws->tensors[i].name,
                   g->s->weights_path);
  free(t.used);
}

/* A layer with tensors needs a weights file; say so once, at the first. */
static int check_weights_given(front_ctx *c, const model_spec *s) {
  if (s->weights_loc.line != 0) return 0; /* given (and loaded, or already reported) */
  for (size_t i = 0; i < s->network.nlayers; i++) {
    const spec_layer *l = &s->network.layers[i];
    if (layer_has_tensors(l)) {
      front_error(c, l->loc,
                  "found no 'weights' key, expected a safetensors file holding the tensors of "
                  "%s layer '%s'",
                  layer_kind_name(l), l->name);
      diag_hint(c->dl, "add `weights: FILE.safetensors` (relative to the model file)");
      return -1;
    }
  }
  return 0;
}

void front_check_graph(front_ctx *c, model_spec *s, const front_status *st, int weights_loaded,
                       unsigned flags) {
  spec_network *net = &s->network;
  strmap names;
  strmap_init(&names);
  if (check_names(c, net, &names) == 0 && check_inputs(c, net, &names) == 0) {
    long out = check_output(c, net, &names);
    int given = check_weights_given(c, s);
    graph_ctx g = {c, s, st->layer_args, mu_shape(s), &names};
    if (out >= 0 && given == 0 && st->data_ok && infer_shapes(&g) == 0) {
      if (!(flags & SPEC_LOAD_ANY_OUTPUT)) check_output_shape(&g, &net->layers[out]);
      if (weights_loaded) check_tensors(&g);
    }
  }
  strmap_free(&names);
}
