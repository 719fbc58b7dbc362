/*
 * ir_spec.c - model specs built in C for the IR tests (see ir_spec.h).
 * Allocation failures abort the current test.
 */
#include "tests/ir/ir_spec.h"

#include <check.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#define IRT_START 0.01
#define IRT_END 1e4

static void *irt_alloc(size_t n) {
  void *p = calloc(1, n ? n : 1);
  ck_assert_ptr_nonnull(p);
  return p;
}

static char *irt_strdup(const char *s) {
  char *p = strdup(s);
  ck_assert_ptr_nonnull(p);
  return p;
}

double irt_geometric(uint32_t t, uint32_t steps) {
  return IRT_START * pow(IRT_END / IRT_START, (double)(t - 1) / (double)(steps - 1));
}

static void irt_spec_header(model_spec *s, const char *name, uint32_t dim, uint32_t steps) {
  memset(s, 0, sizeof *s);
  s->path = irt_strdup("test.yaml");
  s->name = irt_strdup(name);
  s->pair = SPEC_PAIR_NORMAL_NORMAL;
  s->rank = 1;
  s->shape[0] = dim;
  s->data_elems = dim;
  s->prior_mean = 0.0;
  s->prior_precision = 1.0;
  s->schedule.kind = SPEC_SCHEDULE_GEOMETRIC;
  s->schedule.steps = steps;
  s->schedule.start = IRT_START;
  s->schedule.end = IRT_END;
  s->schedule.rho = 7.0;
  s->sampler = SPEC_SAMPLER_PMM;
  s->output = SPEC_OUTPUT_POSTERIOR_MEAN;
  weight_set_init(&s->weights);
}

void irt_spec_exact(model_spec *s, const char *name, uint32_t dim, size_t k, const double *weight,
                    const double *mean, const double *std, uint32_t steps) {
  irt_spec_header(s, name, dim, steps);
  s->network.kind = SPEC_NETWORK_EXACT;
  s->network.ncomponents = k;
  s->network.mixture = irt_alloc(k * sizeof *s->network.mixture);
  for (size_t j = 0; j < k; j++) {
    spec_component *c = &s->network.mixture[j];
    c->weight = weight[j];
    c->std = std[j];
    c->mean = irt_alloc(dim * sizeof *c->mean);
    memcpy(c->mean, mean + j * dim, dim * sizeof *c->mean);
  }
}

void irt_spec_graph(model_spec *s, const char *name, uint32_t dim, uint32_t steps) {
  irt_spec_header(s, name, dim, steps);
  s->network.kind = SPEC_NETWORK_GRAPH;
}

spec_layer *irt_spec_layer(model_spec *s, const char *name, spec_layer_op op, const char *inputs) {
  spec_network *n = &s->network;
  spec_layer *layers = realloc(n->layers, (n->nlayers + 1) * sizeof *layers);
  ck_assert_ptr_nonnull(layers);
  n->layers = layers;
  spec_layer *l = &layers[n->nlayers++];
  memset(l, 0, sizeof *l);
  l->name = irt_strdup(name);
  l->op = op;
  l->eps = 1e-5;
  char *copy = irt_strdup(inputs), *save = NULL;
  size_t cap = strlen(inputs) / 2 + 1;
  l->inputs = irt_alloc(cap * sizeof *l->inputs);
  l->input_locs = irt_alloc(cap * sizeof *l->input_locs);
  for (char *tok = strtok_r(copy, " ", &save); tok; tok = strtok_r(NULL, " ", &save))
    l->inputs[l->ninputs++] = irt_strdup(tok);
  free(copy);
  return l;
}

void irt_spec_tensor(model_spec *s, const char *name, uint32_t rank, const uint64_t *shape,
                     double scale, uint32_t salt) {
  uint64_t n = 1;
  for (uint32_t d = 0; d < rank; d++) n *= shape[d];
  float *data = irt_alloc(n * sizeof *data);
  uint32_t x = salt * 2654435761u + 12345u;
  for (uint64_t i = 0; i < n; i++) {
    x = x * 1664525u + 1013904223u;
    data[i] = (float)(scale * (2.0 * (x >> 8) / 16777216.0 - 1.0));
  }
  ck_assert_int_eq(weight_set_add(&s->weights, name, rank, shape, data), 0);
  free(data);
}

void irt_spec_gamma(model_spec *s, double shape, double rate) {
  s->pair = SPEC_PAIR_GAMMA_POISSON;
  s->prior_shape = shape;
  s->prior_rate = rate;
}

void irt_spec_categorical(model_spec *s, const char *vocab, int pad, double beta, double eps) {
  s->pair = SPEC_PAIR_DIRICHLET_CATEGORICAL;
  s->vocab_size = (uint32_t)strlen(vocab);
  s->vocab = irt_alloc(s->vocab_size * sizeof *s->vocab);
  for (uint32_t k = 0; k < s->vocab_size; k++) {
    char sym[2] = {vocab[k], '\0'};
    s->vocab[k] = irt_strdup(sym);
  }
  s->pad_symbol = pad ? 0 : -1;
  s->prior_concentration = beta;
  s->prior_smoothing = eps;
}

void irt_spec_atoms(model_spec *s, size_t k, const float *values, const double *weights) {
  spec_network *n = &s->network;
  n->kind = SPEC_NETWORK_EXACT;
  n->natoms = k;
  n->atoms = irt_alloc(k * s->data_elems * sizeof *n->atoms);
  memcpy(n->atoms, values, k * s->data_elems * sizeof *n->atoms);
  if (weights) {
    double sum = 0;
    for (size_t j = 0; j < k; j++) sum += weights[j];
    n->atom_weights = irt_alloc(k * sizeof *n->atom_weights);
    for (size_t j = 0; j < k; j++) n->atom_weights[j] = weights[j] / sum;
  }
}
