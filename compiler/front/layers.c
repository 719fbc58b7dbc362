/*
 * layers.c - a graph's layers: each mapping read through the key and op
 * tables (layers.h) into a spec_layer, with what only shape inference can
 * judge (axes, shape lists, where each key was written) into layer_args.
 *
 * Keys are judged against the op: an unknown key gets a "did you mean",
 * a key that belongs to another op says which op takes it, and a missing
 * required key is reported at the layer.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "compiler/front/layers.h"
#include "compiler/util/xalloc.h"

#define LAYER_NAME_EXPECT                                                                          \
  "a name of at most 128 characters: segments of letters, digits and '_' joined by single "        \
  "dots, starting with a letter or '_' (e.g. down.0.conv1)"
#define INPUT_EXPECT "an input name ('mu', 'time' or an earlier layer)"

/* One layer mapping being read. */
typedef struct layer_src {
  front_ctx *c;
  const yaml_node_t *n;
  spec_layer *l;
  layer_args *a;
  char label[FRONT_MAX_LAYER_NAME + 32]; /* "layer 'fc1'", or "'network.layers[3]'" */
  char where[FRONT_MAX_LAYER_NAME + 40]; /* "in <label>" */
} layer_src;

static size_t seq_len(const yaml_node_t *n) {
  return (size_t)(n->data.sequence.items.top - n->data.sequence.items.start);
}

static yaml_node_t *seq_item(const front_ctx *c, const yaml_node_t *n, size_t i) {
  return front_node(c, n->data.sequence.items.start[i]);
}

static int name_char(char ch) {
  return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
         ch == '_';
}

int front_is_layer_name(const char *s) {
  size_t n = strlen(s), seg = 0;
  if (n == 0 || n > FRONT_MAX_LAYER_NAME || (s[0] >= '0' && s[0] <= '9') || s[0] == '.') return 0;
  for (size_t i = 0; i < n; i++) {
    if (s[i] == '.' && seg == 0) return 0; /* "a..b" */
    if (s[i] != '.' && !name_char(s[i])) return 0;
    seg = s[i] == '.' ? 0 : seg + 1;
  }
  return seg > 0; /* not "a." */
}

/* Every key the op takes, structure included. */
static uint32_t op_keys(const layer_op_def *d) {
  static const uint32_t inputs[] = {
      [LA_ONE] = LK_BIT(LK_INPUT),
      [LA_MANY] = LK_BIT(LK_INPUTS),
      [LA_MODULATE] = LK_BIT(LK_INPUT) | LK_BIT(LK_SHIFT) | LK_BIT(LK_SCALE),
      [LA_NONE] = 0,
  };
  return LK_BIT(LK_NAME) | LK_BIT(LK_OP) | inputs[d->arity] | d->keys;
}

static size_t key_names(uint32_t mask, const char **out) {
  size_t n = 0;
  for (int k = 0; k < LK_COUNT; k++)
    if (mask & LK_BIT(k)) out[n++] = layer_keys[k].name;
  return n;
}

/* ---- keys ---------------------------------------------------------------- */

static int key_id(const yaml_node_t *key) {
  for (int k = 0; k < LK_COUNT && key->type == YAML_SCALAR_NODE; k++)
    if (!strcmp((const char *)key->data.scalar.value, layer_keys[k].name)) return k;
  return -1;
}

/* Why key k does not belong to op d, when that is more than "not its key". */
static void hint_other_op(front_ctx *c, const layer_op_def *d, layer_key_id k) {
  int input_key = k == LK_INPUT || k == LK_INPUTS;
  if (input_key && d->arity == LA_MANY)
    diag_hint(c->dl, "op '%s' takes several inputs: write inputs: [a, b]", d->name);
  else if (input_key && d->arity == LA_ONE)
    diag_hint(c->dl, "op '%s' takes one input: write input: NAME", d->name);
  else if (input_key && d->arity == LA_MODULATE)
    diag_hint(c->dl, "op '%s' takes input, shift and scale: write input: X, shift: S, scale: T",
              d->name);
  else if (d->arity == LA_NONE && (input_key || k == LK_SHIFT || k == LK_SCALE))
    diag_hint(c->dl, "op '%s' takes no input: its value is a tensor of the weights file", d->name);
  else {
    const char *ops[LAYER_NOPS];
    size_t n = 0;
    for (size_t i = 0; i < LAYER_NOPS; i++)
      if (op_keys(&layer_ops[i]) & LK_BIT(k)) ops[n++] = layer_ops[i].name;
    char list[256];
    diag_hint(c->dl, "'%s' is a key of op %s", layer_keys[k].name,
              front_join(ops, n, list, sizeof list));
  }
}

/* Unknown and duplicate keys (with suggestions from the op's own keys),
 * then keys of other ops. */
static void check_keys(layer_src *p, const layer_op_def *d) {
  const char *all[LK_COUNT], *mine[LK_COUNT];
  key_names(~UINT32_C(0), all);
  size_t nmine = key_names(op_keys(d), mine);
  front_check_keys_known(p->c, p->n, p->label, p->where, mine, nmine, all, LK_COUNT);
  char list[512];
  front_join(mine, nmine, list, sizeof list);
  const yaml_node_t *n = p->n;
  for (yaml_node_pair_t *kv = n->data.mapping.pairs.start; kv < n->data.mapping.pairs.top; kv++) {
    yaml_node_t *key = front_node(p->c, kv->key);
    int k = key_id(key);
    if (k < 0 || (op_keys(d) & LK_BIT(k))) continue;
    front_error(p->c, front_loc(key), "found key '%s' in %s, expected %s (the keys of op '%s')",
                layer_keys[k].name, p->label, list, d->name);
    hint_other_op(p->c, d, (layer_key_id)k);
  }
}

static void *key_field(layer_src *p, const layer_key *key) {
  return key->in_args ? (char *)p->a + key->offset : (char *)p->l + key->offset;
}

static void apply_defaults(layer_src *p, const layer_op_def *d) {
  for (int k = 0; k < LK_COUNT; k++) {
    const layer_key *key = &layer_keys[k];
    if (!(d->keys & LK_BIT(k))) continue;
    void *f = key_field(p, key);
    switch (key->kind) {
    case LKK_U32: *(uint32_t *)f = (uint32_t)key->def; break;
    case LKK_INT: *(int64_t *)f = k == LK_AXIS ? d->axis : (int64_t)key->def; break;
    case LKK_POSITIVE: *(double *)f = key->def; break;
    case LKK_BOOL:
    case LKK_CHOICE: *(int *)f = (int)key->def; break;
    case LKK_ACT: *(pmm_act *)f = (pmm_act)key->def; break;
    case LKK_INT_LIST:
    case LKK_STRUCTURE: break;
    }
  }
}

static int read_list(layer_src *p, const layer_key *key, const yaml_node_t *v, const char *what,
                     layer_list *out) {
  if (v->type != YAML_SEQUENCE_NODE || seq_len(v) == 0) {
    front_expected(p->c, v, what, key->expect);
    return -1;
  }
  if (seq_len(v) > SPEC_MAX_RANK) {
    front_error(p->c, front_loc(v), "found %zu entries for %s, expected %s", seq_len(v), what,
                key->expect);
    return -1;
  }
  int bad = 0;
  out->n = (uint32_t)seq_len(v);
  for (uint32_t i = 0; i < out->n; i++) {
    yaml_node_t *it = seq_item(p->c, v, i);
    int64_t x;
    if (front_read_int(p->c, it, what, key->expect, key->minus_one ? -1 : key->min, key->max, &x) !=
        0) {
      bad = 1;
    } else if (x < key->min && x != -1) {
      front_expected(p->c, it, what, key->expect);
      bad = 1;
    }
    out->v[i] = x;
    out->at[i] = front_loc(it);
  }
  return bad ? -1 : 0;
}

static int read_choice(layer_src *p, const yaml_node_t *v, const char *what,
                       const char *const *names, int *out) {
  size_t n = 0;
  while (names[n]) n++;
  return front_read_choice(p->c, v, what, names, n, out);
}

static int read_act(layer_src *p, const yaml_node_t *v, const char *what, pmm_act *out) {
  const char *names[PMM_ACT_COUNT + 1];
  for (int i = 0; i < PMM_ACT_COUNT; i++) names[i] = pmm_act_name((pmm_act)i);
  names[PMM_ACT_COUNT] = NULL;
  int a;
  if (read_choice(p, v, what, names, &a) != 0) return -1;
  *out = (pmm_act)a;
  return 0;
}

static int read_value(layer_src *p, const layer_key *key, const yaml_node_t *v) {
  char what[sizeof p->label + 32];
  snprintf(what, sizeof what, "'%s' of %s", key->name, p->label);
  void *f = key_field(p, key);
  double x;
  switch (key->kind) {
  case LKK_U32: {
    uint32_t u;
    if (front_read_u32(p->c, v, what, key->expect, (uint32_t)key->min, (uint32_t)key->max, &u))
      return -1;
    if (key->multiple > 1 && u % key->multiple != 0) {
      front_expected(p->c, v, what, key->expect);
      return -1;
    }
    *(uint32_t *)f = u;
    return 0;
  }
  case LKK_INT: return front_read_int(p->c, v, what, key->expect, key->min, key->max, f);
  case LKK_POSITIVE:
    if (front_read_double(p->c, v, what, key->expect, &x) != 0) return -1;
    if (!(isfinite(x) && x > 0)) {
      front_expected(p->c, v, what, key->expect);
      return -1;
    }
    *(double *)f = x;
    return 0;
  case LKK_BOOL: return front_read_bool(p->c, v, what, f);
  case LKK_ACT: return read_act(p, v, what, f);
  case LKK_CHOICE: return read_choice(p, v, what, key->choices, f);
  case LKK_INT_LIST: return read_list(p, key, v, what, f);
  case LKK_STRUCTURE: break;
  }
  return -1;
}

/* The op's keys in the order written (so errors come in file order), then
 * the required ones left out. */
static void parse_attributes(layer_src *p, const layer_op_def *d) {
  const yaml_node_t *n = p->n;
  uint32_t seen = 0;
  for (yaml_node_pair_t *kv = n->data.mapping.pairs.start; kv < n->data.mapping.pairs.top; kv++) {
    int k = key_id(front_node(p->c, kv->key));
    if (k < 0 || !(d->keys & LK_BIT(k) & ~seen))
      continue; /* not this op's, or given twice: check_keys reports those */
    seen |= LK_BIT(k);
    yaml_node_t *v = front_node(p->c, kv->value);
    if (read_value(p, &layer_keys[k], v) == 0) {
      p->a->given |= LK_BIT(k);
      p->a->at[k] = front_loc(v);
    }
  }
  for (int k = 0; k < LK_COUNT; k++)
    if (d->required & LK_BIT(k) & ~seen) front_missing(p->c, p->n, layer_keys[k].name, p->where);
}

/* ---- inputs -------------------------------------------------------------- */

static int set_inputs(layer_src *p, size_t n) {
  spec_layer *l = p->l;
  l->inputs = xcalloc_array(n, sizeof *l->inputs);
  l->input_locs = xcalloc_array(n, sizeof *l->input_locs);
  if (!l->inputs || !l->input_locs) {
    diag_error(p->c->dl, p->c->file, 0, 0, "out of memory");
    return -1;
  }
  l->ninputs = n;
  return 0;
}

/* Input slot k from the name in node v (key `key`). */
static void read_input(layer_src *p, size_t k, const char *key, const yaml_node_t *v) {
  char what[sizeof p->label + 32];
  snprintf(what, sizeof what, "'%s' of %s", key, p->label);
  const char *name = front_scalar(p->c, v, what, INPUT_EXPECT);
  p->l->input_locs[k] = front_loc(v);
  if (name) p->l->inputs[k] = front_strdup(p->c, name);
}

static void parse_input_list(layer_src *p) {
  yaml_node_t *in = front_map_get(p->c, p->n, "inputs");
  if (!in) {
    if (!front_map_key(p->c, p->n, "input")) /* else reported as another op's key */
      front_missing(p->c, p->n, "inputs", p->where);
    return;
  }
  char what[sizeof p->label + 32];
  snprintf(what, sizeof what, "'inputs' of %s", p->label);
  if (in->type != YAML_SEQUENCE_NODE) {
    front_expected(p->c, in, what, "a sequence of at least 2 input names");
    return;
  }
  size_t n = seq_len(in);
  if (n < 2) {
    front_error(p->c, front_loc(in), "found %zu input%s for %s, expected at least 2", n,
                n == 1 ? "" : "s", what);
    return;
  }
  if (set_inputs(p, n) != 0) return;
  for (size_t i = 0; i < n; i++) {
    yaml_node_t *it = seq_item(p->c, in, i);
    p->l->input_locs[i] = front_loc(it);
    const char *v = front_scalar(p->c, it, what, "a sequence of input names");
    if (v) p->l->inputs[i] = front_strdup(p->c, v);
  }
}

/* Slot 0 from `input:`, or the previous layer when it is absent. */
static void parse_main_input(layer_src *p, const spec_layer *prev) {
  yaml_node_t *in = front_map_get(p->c, p->n, "input");
  if (in) {
    read_input(p, 0, "input", in);
    return;
  }
  if (front_map_key(p->c, p->n, "inputs")) return; /* reported as another op's key */
  if (!prev) {
    front_error(p->c, front_loc(p->n), "missing required key 'input' %s", p->where);
    diag_hint(p->c->dl, "only later layers default to the previous layer; the first layer "
                        "reads 'mu', 'time' or an earlier layer");
    return;
  }
  if (prev->name) {
    p->l->inputs[0] = front_strdup(p->c, prev->name);
    p->l->input_locs[0] = p->l->loc;
  }
}

static void parse_inputs(layer_src *p, const layer_op_def *d, const spec_layer *prev) {
  switch (d->arity) {
  case LA_NONE: return;
  case LA_MANY: parse_input_list(p); return;
  case LA_ONE:
    if (set_inputs(p, 1) == 0) parse_main_input(p, prev);
    return;
  case LA_MODULATE:
    if (set_inputs(p, 3) != 0) return;
    parse_main_input(p, prev);
    for (size_t k = 1; k < 3; k++) {
      const char *key = layer_input_key(p->l, k);
      yaml_node_t *v = front_map_get(p->c, p->n, key);
      if (v)
        read_input(p, k, key, v);
      else
        front_missing(p->c, p->n, key, p->where);
    }
    return;
  }
}

/* ---- a layer ------------------------------------------------------------- */

static void parse_name(layer_src *p, const yaml_node_t *name) {
  char what[sizeof p->label + 16];
  snprintf(what, sizeof what, "'name' of %s", p->label);
  const char *v = front_scalar(p->c, name, what, LAYER_NAME_EXPECT);
  if (v && !front_is_layer_name(v))
    front_expected(p->c, name, what, LAYER_NAME_EXPECT);
  else if (v && (!strcmp(v, "mu") || !strcmp(v, "time")))
    front_expected(p->c, name, what, "a name other than the network inputs 'mu' and 'time'");
  else if (v && (p->l->name = front_strdup(p->c, v)) != NULL)
    snprintf(p->label, sizeof p->label, "layer '%s'", v);
}

/* The op's definition, or NULL after reporting it unknown. */
static const layer_op_def *parse_op(layer_src *p, const yaml_node_t *op) {
  const char *names[LAYER_NOPS];
  for (size_t i = 0; i < LAYER_NOPS; i++) names[i] = layer_ops[i].name;
  char what[sizeof p->label + 16];
  snprintf(what, sizeof what, "'op' of %s", p->label);
  int i;
  return front_read_choice(p->c, op, what, names, LAYER_NOPS, &i) == 0 ? &layer_ops[i] : NULL;
}

static void parse_layer(front_ctx *c, const yaml_node_t *n, size_t idx, spec_layer *l,
                        layer_args *a, const spec_layer *prev) {
  layer_src p = {.c = c, .n = n, .l = l, .a = a};
  snprintf(p.label, sizeof p.label, "'network.layers[%zu]'", idx);
  l->loc = front_loc(n);
  if (n->type != YAML_MAPPING_NODE) {
    front_expected(c, n, p.label, "a layer mapping {name, op, ...}");
    return;
  }
  yaml_node_t *name = front_map_get(c, n, "name"), *op = front_map_get(c, n, "op");
  if (name) parse_name(&p, name);
  snprintf(p.where, sizeof p.where, "in %s", p.label);
  const layer_op_def *d = op ? parse_op(&p, op) : NULL;
  if (!d) {
    /* Without an op only the key names themselves can be judged. */
    const char *all[LK_COUNT];
    front_check_keys(c, n, p.label, p.where, all, key_names(~UINT32_C(0), all));
    if (!name) front_missing(c, n, "name", p.where);
    if (!op) front_missing(c, n, "op", p.where);
    return;
  }
  l->op = d->op;
  l->activation = d->act;
  check_keys(&p, d);
  if (!name) front_missing(c, n, "name", p.where);
  apply_defaults(&p, d);
  parse_inputs(&p, d, prev);
  parse_attributes(&p, d);
}

void front_parse_layers(front_ctx *c, const yaml_node_t *n, spec_network *net, layer_args **args) {
  if (n->type != YAML_SEQUENCE_NODE || seq_len(n) == 0) {
    front_expected(c, n, "'network.layers'", "a sequence of layers {name, op, ...}");
    return;
  }
  size_t k = seq_len(n);
  net->layers = xcalloc_array(k, sizeof *net->layers);
  *args = xcalloc_array(k, sizeof **args);
  if (!net->layers || !*args) {
    free(net->layers);
    free(*args);
    net->layers = NULL;
    *args = NULL;
    diag_error(c->dl, c->file, 0, 0, "out of memory");
    return;
  }
  net->nlayers = k;
  for (size_t i = 0; i < k; i++)
    parse_layer(c, seq_item(c, n, i), i, &net->layers[i], &(*args)[i],
                i ? &net->layers[i - 1] : NULL);
}
