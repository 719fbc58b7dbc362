/*
 * yaml_model.c - the model YAML's sections, read into a model_spec.
 *
 * Each section is checked independently so one run reports every mistake
 * that can be judged on its own; what depends on another section (mixture
 * means on the data size, graph shapes on the layers) is skipped when that
 * section already failed, so errors never cascade.
 */
#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "compiler/front/front.h"
#include "compiler/util/xalloc.h"

#define COUNT(a) (sizeof(a) / sizeof((a)[0]))

/* "training" holds the Python trainer's defaults (python/pmm/train.py); pmmc ignores it. */
static const char *const top_keys[] = {"name",    "pair",    "data",    "prior",   "schedule",
                                       "sampler", "network", "weights", "training"};
static const char *const pair_names[] = {"normal-normal", "gamma-poisson", "dirichlet-categorical"};
static const char *const sampler_names[] = {"pmm", "euler-maruyama", "heun"};
static const char *const output_names[] = {"posterior-mean", "prediction"};
static const char *const net_kinds[] = {"exact", "graph"};

#define NAME_EXPECT                                                                                \
  "a C identifier of at most 64 characters (letters, digits and '_', not starting with a digit)"

static size_t seq_len(const yaml_node_t *n) {
  return (size_t)(n->data.sequence.items.top - n->data.sequence.items.start);
}

static yaml_node_t *seq_item(const front_ctx *c, const yaml_node_t *n, size_t i) {
  return front_node(c, n->data.sequence.items.start[i]);
}

/* ---- name, pair, data, prior, sampler ----------------------------------- */

static void parse_name(front_ctx *c, const yaml_node_t *root, model_spec *s) {
  yaml_node_t *n = front_map_get(c, root, "name");
  if (!n) {
    front_missing(c, root, "name", "at the top level");
    return;
  }
  const char *v = front_scalar(c, n, "'name'", NAME_EXPECT);
  if (!v) return;
  if (!front_is_identifier(v)) {
    front_expected(c, n, "'name'", NAME_EXPECT);
    return;
  }
  s->name = front_strdup(c, v);
  s->name_loc = front_loc(n);
}

/* 0 when the pair was read. */
static int parse_pair(front_ctx *c, const yaml_node_t *root, model_spec *s) {
  yaml_node_t *n = front_map_get(c, root, "pair");
  if (!n) {
    front_missing(c, root, "pair", "at the top level");
    return -1;
  }
  int k;
  if (front_read_choice(c, n, "'pair'", pair_names, COUNT(pair_names), &k) != 0) return -1;
  s->pair = (spec_pair)k;
  return 0;
}

/* The prior keys of each pair, with what each value must be. */
typedef struct prior_key {
  const char *key;
  spec_pair pair;
  const char *expect;
} prior_key;

static const prior_key prior_keys[] = {
    {"mean", SPEC_PAIR_NORMAL_NORMAL, "a finite number"},
    {"precision", SPEC_PAIR_NORMAL_NORMAL, "a finite number > 0"},
    {"shape", SPEC_PAIR_GAMMA_POISSON, "a finite number > 0"},
    {"rate", SPEC_PAIR_GAMMA_POISSON, "a finite number > 0"},
    {"concentration", SPEC_PAIR_DIRICHLET_CATEGORICAL, "a finite number > 0"},
    {"smoothing", SPEC_PAIR_DIRICHLET_CATEGORICAL, "a number >= 0 and < 1"},
};

static double *prior_field(model_spec *s, size_t i) {
  double *f[] = {&s->prior_mean, &s->prior_precision,     &s->prior_shape,
                 &s->prior_rate, &s->prior_concentration, &s->prior_smoothing};
  return f[i];
}

static int prior_value_ok(size_t i, double v) {
  if (!isfinite(v)) return 0;
  if (!strcmp(prior_keys[i].key, "mean")) return 1;
  if (!strcmp(prior_keys[i].key, "smoothing")) return v >= 0 && v < 1;
  return v > 0;
}

static void parse_prior(front_ctx *c, const yaml_node_t *root, model_spec *s) {
  const char *mine[COUNT(prior_keys)], *others[COUNT(prior_keys)];
  size_t nmine = 0, nothers = 0;
  for (size_t i = 0; i < COUNT(prior_keys); i++) {
    if (prior_keys[i].pair == s->pair)
      mine[nmine++] = prior_keys[i].key;
    else
      others[nothers++] = prior_keys[i].key;
  }
  s->prior_mean = 0.0;
  s->prior_precision = 1.0;
  s->prior_shape = 1.0;
  s->prior_rate = 1.0;
  s->prior_concentration = 1.0;
  s->prior_smoothing = 0.0;
  s->prior_loc = front_loc(root);
  yaml_node_t *n = front_map_get(c, root, "prior");
  if (!n) return;
  s->prior_loc = front_loc(n);
  front_check_keys_known(c, n, "'prior'", "in 'prior'", mine, nmine, others, nothers);
  if (n->type != YAML_MAPPING_NODE) return;
  char list[128];
  front_join(mine, nmine, list, sizeof list);
  for (size_t i = 0; i < COUNT(prior_keys); i++) {
    const prior_key *pk = &prior_keys[i];
    if (pk->pair != s->pair) {
      yaml_node_t *k = front_map_key(c, n, pk->key);
      if (k) {
        front_error(c, front_loc(k),
                    "found key '%s' in 'prior', expected %s (the prior keys of pair '%s')", pk->key,
                    list, spec_pair_name(s->pair));
        diag_hint(c->dl, "'%s' is a prior key of pair %s", pk->key, spec_pair_name(pk->pair));
      }
      continue;
    }
    yaml_node_t *v = front_map_get(c, n, pk->key);
    char what[48];
    snprintf(what, sizeof what, "'prior.%s'", pk->key);
    if (v && front_read_double(c, v, what, pk->expect, prior_field(s, i)) == 0 &&
        !prior_value_ok(i, *prior_field(s, i)))
      front_expected(c, v, what, pk->expect);
  }
  /* The sampler starts from the prior mean, a float32. */
  if (s->pair == SPEC_PAIR_GAMMA_POISSON && prior_value_ok(2, s->prior_shape) &&
      prior_value_ok(3, s->prior_rate) && s->prior_shape / s->prior_rate > FLT_MAX) {
    front_error(c, s->prior_loc,
                "found a prior mean 'shape' / 'rate' = %.9g, expected at most %.9g (float32's "
                "largest value)",
                s->prior_shape / s->prior_rate, (double)FLT_MAX);
  }
}

static void parse_sampler(front_ctx *c, const yaml_node_t *root, model_spec *s, int pair_known) {
  static const char *const keys[] = {"kind", "output"};
  s->sampler = SPEC_SAMPLER_PMM;
  s->output = SPEC_OUTPUT_POSTERIOR_MEAN;
  s->sampler_loc = front_loc(root);
  yaml_node_t *n = front_map_get(c, root, "sampler");
  if (!n) return;
  s->sampler_loc = front_loc(n);
  front_check_keys(c, n, "'sampler'", "in 'sampler'", keys, COUNT(keys));
  if (n->type != YAML_MAPPING_NODE) return;
  int k;
  yaml_node_t *kind = front_map_get(c, n, "kind");
  if (kind &&
      front_read_choice(c, kind, "'sampler.kind'", sampler_names, COUNT(sampler_names), &k) == 0) {
    s->sampler = (spec_sampler_kind)k;
    if (pair_known && s->sampler != SPEC_SAMPLER_PMM && s->pair != SPEC_PAIR_NORMAL_NORMAL) {
      front_error(c, front_loc(kind),
                  "found '%s' for 'sampler.kind' with pair '%s', expected pmm (sampler '%s' "
                  "supports pair normal-normal only)",
                  sampler_names[k], spec_pair_name(s->pair), sampler_names[k]);
      diag_hint(c->dl, "%s integrates the normal-normal %s; sampler pmm works for every pair",
                sampler_names[k], s->sampler == SPEC_SAMPLER_HEUN ? "probability-flow ODE" : "SDE");
    }
  }
  yaml_node_t *out = front_map_get(c, n, "output");
  if (out &&
      front_read_choice(c, out, "'sampler.output'", output_names, COUNT(output_names), &k) == 0)
    s->output = (spec_output)k;
}

/* ---- network: exact ----------------------------------------------------- */

static int parse_positive(front_ctx *c, const yaml_node_t *n, const char *what, double *out) {
  if (front_read_double(c, n, what, "a finite number > 0", out) != 0) return -1;
  if (!(isfinite(*out) && *out > 0)) {
    front_expected(c, n, what, "a finite number > 0");
    return -1;
  }
  return 0;
}

static void parse_component(front_ctx *c, const yaml_node_t *n, size_t idx, model_spec *s,
                            int data_ok, spec_component *comp) {
  static const char *const keys[] = {"weight", "mean", "std"};
  char what[96], where[96];
  snprintf(what, sizeof what, "'network.mixture[%zu]'", idx);
  snprintf(where, sizeof where, "in 'network.mixture[%zu]'", idx);
  comp->loc = front_loc(n);
  front_check_keys(c, n, what, where, keys, COUNT(keys));
  if (n->type != YAML_MAPPING_NODE) return;
  yaml_node_t *w = front_map_get(c, n, "weight");
  yaml_node_t *m = front_map_get(c, n, "mean");
  yaml_node_t *sd = front_map_get(c, n, "std");
  for (size_t k = 0; k < COUNT(keys); k++)
    if (!front_map_get(c, n, keys[k])) front_missing(c, n, keys[k], where);
  if (w) {
    snprintf(what, sizeof what, "'network.mixture[%zu].weight'", idx);
    parse_positive(c, w, what, &comp->weight);
  }
  if (sd) {
    snprintf(what, sizeof what, "'network.mixture[%zu].std'", idx);
    parse_positive(c, sd, what, &comp->std);
  }
  if (!m) return;
  snprintf(what, sizeof what, "'network.mixture[%zu].mean'", idx);
  if (m->type != YAML_SEQUENCE_NODE || seq_len(m) == 0) {
    front_expected(c, m, what, "a sequence of numbers, one for each data element");
    return;
  }
  size_t len = seq_len(m);
  if (data_ok && len != s->data_elems) {
    front_error(c, front_loc(m),
                "found %zu numbers for %s, expected %llu (the number of data elements)", len, what,
                (unsigned long long)s->data_elems);
    return;
  }
  double *mean = data_ok ? xmalloc_array(len, sizeof *mean) : NULL;
  if (data_ok && !mean) {
    diag_error(c->dl, c->file, 0, 0, "out of memory");
    return;
  }
  for (size_t i = 0; i < len; i++) {
    char wi[112];
    double v;
    yaml_node_t *it = seq_item(c, m, i);
    snprintf(wi, sizeof wi, "'network.mixture[%zu].mean[%zu]'", idx, i);
    if (front_read_double(c, it, wi, "a finite number", &v) != 0) continue;
    if (!isfinite(v))
      front_expected(c, it, wi, "a finite number");
    else if (mean)
      mean[i] = v;
  }
  comp->mean = mean;
}

static void parse_mixture(front_ctx *c, const yaml_node_t *n, model_spec *s, int data_ok) {
  spec_network *net = &s->network;
  if (n->type != YAML_SEQUENCE_NODE || seq_len(n) == 0) {
    front_expected(c, n, "'network.mixture'", "a sequence of components {weight, mean, std}");
    return;
  }
  size_t k = seq_len(n);
  net->mixture = xcalloc_array(k, sizeof *net->mixture);
  if (!net->mixture) {
    diag_error(c->dl, c->file, 0, 0, "out of memory");
    return;
  }
  net->ncomponents = k;
  size_t before = c->dl->errors;
  double sum = 0;
  for (size_t i = 0; i < k; i++) {
    parse_component(c, seq_item(c, n, i), i, s, data_ok, &net->mixture[i]);
    sum += net->mixture[i].weight;
  }
  if (c->dl->errors == before && fabs(sum - 1.0) > 1e-6)
    front_error(c, front_loc(n),
                "found mixture weights summing to %.9g for 'network.mixture', expected a sum of 1 "
                "(within 1e-6)",
                sum);
}

/* The path in an `atoms:` or `atom_weights:` value, resolved against the
 * YAML file; NULL after an error. */
static char *read_path(front_ctx *c, const yaml_node_t *n, const char *what, const char *expect) {
  const char *v = front_scalar(c, n, what, expect);
  if (v && !v[0]) front_expected(c, n, what, expect);
  return v && v[0] ? front_resolve_path(c, v) : NULL;
}

/* A key of an exact network that the pair does not take. */
static void exact_key_error(front_ctx *c, const yaml_node_t *n, const char *key,
                            const model_spec *s, const char *expect, const char *hint) {
  front_error(c, front_loc(front_map_key(c, n, key)),
              "found key '%s' in an exact 'network', expected %s (the keys of pair '%s')", key,
              expect, spec_pair_name(s->pair));
  diag_hint(c->dl, "%s", hint);
}

/* An exact network: a Gaussian mixture (normal-normal) or an atom set. */
static void parse_exact(front_ctx *c, const yaml_node_t *n, model_spec *s, int pair_known,
                        int data_ok) {
  static const char *const all[] = {"kind", "mixture", "atoms", "atom_weights"};
  spec_network *net = &s->network;
  int mixtures = !pair_known || s->pair == SPEC_PAIR_NORMAL_NORMAL;
  int categorical = pair_known && s->pair == SPEC_PAIR_DIRICHLET_CATEGORICAL;
  const char *allowed[COUNT(all)];
  size_t na = 0;
  allowed[na++] = "kind";
  if (mixtures) allowed[na++] = "mixture";
  allowed[na++] = "atoms";
  if (!categorical) allowed[na++] = "atom_weights";
  front_check_keys_known(c, n, "'network'", "in an exact 'network'", allowed, na, all, COUNT(all));
  yaml_node_t *m = front_map_get(c, n, "mixture"), *a = front_map_get(c, n, "atoms");
  yaml_node_t *w = front_map_get(c, n, "atom_weights");
  int wrong_mixture = m && !mixtures;
  if (wrong_mixture) {
    exact_key_error(c, n, "mixture", s,
                    categorical ? "kind or atoms" : "kind, atoms or atom_weights",
                    "Gaussian mixtures are exact networks of pair normal-normal; write `atoms: "
                    "FILE` for a finite set of data points");
    m = NULL;
  }
  if (w && categorical) {
    exact_key_error(c, n, "atom_weights", s, "kind or atoms",
                    "give a sequence's weight in the atoms file: a TAB and a positive number "
                    "after the sequence");
    w = NULL;
  }
  if (m && a) {
    front_error(c, front_loc(front_map_key(c, n, "atoms")),
                "found both 'mixture' and 'atoms' in an exact 'network', expected one of them");
    diag_hint(c->dl, "'mixture' is a Gaussian mixture written inline; 'atoms' names a file of "
                     "data points");
    return;
  }
  if (w && !a) {
    if (m)
      front_error(c, front_loc(front_map_key(c, n, "atom_weights")),
                  "found key 'atom_weights' with 'mixture' in an exact 'network', expected it "
                  "only with 'atoms' (mixture components carry their own weights)");
    else
      front_missing(c, n, "atoms", "in an exact 'network' (atom_weights weighs its rows)");
    return;
  }
  if (!m && !a) {
    if (!mixtures) {
      if (!wrong_mixture) /* else saying 'atoms' is missing would repeat that error */
        front_missing(c, n, "atoms", "in an exact 'network'");
      return;
    }
    static const char *const either[] = {"mixture", "atoms"};
    for (yaml_node_pair_t *p = n->data.mapping.pairs.start; p < n->data.mapping.pairs.top; p++) {
      yaml_node_t *k = front_node(c, p->key);
      if (k->type == YAML_SCALAR_NODE &&
          diag_suggest((const char *)k->data.scalar.value, either, 2))
        return; /* a misspelling, already reported with a suggestion */
    }
    front_error(c, front_loc(n), "missing required key 'mixture' or 'atoms' in an exact 'network'");
    return;
  }
  if (m) {
    parse_mixture(c, m, s, data_ok);
    return;
  }
  const char *expect = categorical ? "the path of a text file of sequences, one per line"
                                   : "the path of a .npy file of atoms, one per row";
  net->atoms_loc = front_loc(a);
  net->atoms_path = read_path(c, a, "'network.atoms'", expect);
  char *wpath = w ? read_path(c, w, "'network.atom_weights'",
                              "the path of a .npy file of positive weights, one per atom")
                  : NULL;
  if (net->atoms_path && (!w || wpath) && pair_known && data_ok)
    front_load_atoms(c, s, wpath, w ? front_loc(w) : net->atoms_loc);
  free(wpath);
}

/* 0 when the network section is free of errors; *kind_known tells whether
 * network.kind was readable (what `weights:` is judged against). */
static int parse_network(front_ctx *c, const yaml_node_t *root, model_spec *s, int pair_known,
                         int data_ok, int *kind_known, layer_args **args) {
  static const char *const all_keys[] = {"kind",         "mixture", "atoms",
                                         "atom_weights", "layers",  "output"};
  static const char *const graph_keys[] = {"kind", "layers", "output"};
  spec_network *net = &s->network;
  yaml_node_t *n = front_map_get(c, root, "network");
  if (!n) {
    front_missing(c, root, "network", "at the top level");
    return -1;
  }
  size_t before = c->dl->errors;
  net->loc = front_loc(n);
  if (n->type != YAML_MAPPING_NODE) {
    front_expected(c, n, "'network'", "a mapping");
    return -1;
  }
  int k = front_read_kind(c, n, "network", net_kinds, COUNT(net_kinds), all_keys, COUNT(all_keys));
  if (k < 0) return -1;
  net->kind = (spec_network_kind)k;
  *kind_known = 1;
  if (net->kind == SPEC_NETWORK_EXACT) {
    parse_exact(c, n, s, pair_known, data_ok);
    return c->dl->errors == before ? 0 : -1;
  }
  front_check_keys(c, n, "'network'", "in a graph 'network'", graph_keys, COUNT(graph_keys));
  yaml_node_t *layers = front_map_get(c, n, "layers");
  if (!layers)
    front_missing(c, n, "layers", "in 'network'");
  else
    front_parse_layers(c, layers, net, args);
  yaml_node_t *out = front_map_get(c, n, "output");
  if (out) {
    const char *v = front_scalar(c, out, "'network.output'", "the name of a layer");
    if (v) {
      net->output = front_strdup(c, v);
      net->output_loc = front_loc(out);
    }
  } else if (net->nlayers > 0 && net->layers[net->nlayers - 1].name) {
    net->output = front_strdup(c, net->layers[net->nlayers - 1].name);
    net->output_loc = net->layers[net->nlayers - 1].loc;
  }
  return c->dl->errors == before ? 0 : -1;
}

/* ---- weights ------------------------------------------------------------ */

static int parse_weights(front_ctx *c, const yaml_node_t *root, model_spec *s, int network_known) {
  yaml_node_t *n = front_map_get(c, root, "weights");
  if (!n) return 0;
  s->weights_loc = front_loc(n);
  const char *v = front_scalar(c, n, "'weights'", "the path of a .safetensors file");
  if (v && !v[0]) front_expected(c, n, "'weights'", "the path of a .safetensors file");
  if (!v || !v[0]) return 0;
  if (network_known && s->network.kind == SPEC_NETWORK_EXACT) {
    front_expected(c, n, "'weights'",
                   "no weights with an exact network (it computes the posterior mean in closed "
                   "form)");
    return 0;
  }
  s->weights_path = front_resolve_path(c, v);
  return s->weights_path != NULL;
}

void front_parse_model(front_ctx *c, const yaml_node_t *root, model_spec *s, front_status *st) {
  memset(st, 0, sizeof *st);
  if (root->type != YAML_MAPPING_NODE) {
    front_expected(c, root, "the model", "a mapping of model keys (name, pair, data, ...)");
    return;
  }
  front_check_keys(c, root, "the model", "at the top level", top_keys, COUNT(top_keys));
  parse_name(c, root, s);
  int pair_ok = parse_pair(c, root, s) == 0;
  st->data_ok = front_parse_data(c, root, s, pair_ok) == 0;
  if (pair_ok) parse_prior(c, root, s);
  yaml_node_t *sched = front_map_get(c, root, "schedule");
  if (!sched)
    front_missing(c, root, "schedule", "at the top level");
  else
    front_parse_schedule(c, sched, &s->schedule);
  parse_sampler(c, root, s, pair_ok);
  int kind_known = 0;
  st->network_ok =
      parse_network(c, root, s, pair_ok, st->data_ok, &kind_known, &st->layer_args) == 0;
  st->weights_ok = parse_weights(c, root, s, kind_known);
}
