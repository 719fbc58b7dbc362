/*
 * test_spec.c - the front end in process: spec_load of shipped models,
 * schedules against hand-computed values, diagnostics, safetensors
 * (round trip, F16/BF16/F64 conversion, malformed files), the three pairs'
 * keys, defaults and exact atom sets (.npy and text), and the layer
 * vocabulary's inferred shapes and resolved attributes.
 *
 * Nothing here is random.  Tolerances: schedules are compared with a
 * relative tolerance of 1e-12 (pow/exp rounding); everything read from a
 * file or converted from F16/BF16 must be bit-exact.
 */
#define _GNU_SOURCE /* open_memstream */
#include <check.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "compiler/front/spec.h"
#include "compiler/front/weights.h"
#include "compiler/util/diag.h"
#include "tests/util/testutil.h"

#define REL_TOL 1e-12

static void assert_rel(double got, double want, const char *what) {
  ck_assert_msg(fabs(got - want) <= REL_TOL * fabs(want), "%s = %.17g, expected %.17g (rel 1e-12)",
                what, got, want);
}

/* Load a model from the source tree; the test fails with the diagnostics
 * when it does not load. */
static void load_ok(const char *rel, model_spec *s) {
  char path[PATH_MAX];
  snprintf(path, sizeof path, "%s/%s", tu_srcdir(), rel);
  diag_list dl;
  diag_list_init(&dl);
  int rc = spec_load(path, s, &dl);
  if (rc != 0) diag_print(&dl, stderr);
  ck_assert_msg(rc == 0, "spec_load(%s) failed", path);
  ck_assert_uint_eq(dl.errors, 0);
  diag_list_free(&dl);
}

/* ---- models -------------------------------------------------------------- */

START_TEST(test_gmm8) {
  model_spec s;
  load_ok("models/gmm8/model.yaml", &s);
  ck_assert_str_eq(s.name, "gmm8");
  ck_assert_int_eq(s.pair, SPEC_PAIR_NORMAL_NORMAL);
  ck_assert_uint_eq(s.rank, 1);
  ck_assert_uint_eq(s.shape[0], 2);
  ck_assert_uint_eq(s.data_elems, 2);
  ck_assert(s.prior_mean == 0.0 && s.prior_precision == 1.0);
  ck_assert_int_eq(s.schedule.kind, SPEC_SCHEDULE_GEOMETRIC);
  ck_assert_uint_eq(s.schedule.steps, 200);
  ck_assert(s.schedule.start == 0.01 && s.schedule.end == 10000.0);
  ck_assert_int_eq(s.sampler, SPEC_SAMPLER_PMM);
  ck_assert_int_eq(s.output, SPEC_OUTPUT_POSTERIOR_MEAN);
  ck_assert_int_eq(s.network.kind, SPEC_NETWORK_EXACT);
  ck_assert_uint_eq(s.network.ncomponents, 8);
  for (size_t k = 0; k < 8; k++) {
    const spec_component *c = &s.network.mixture[k];
    double ang = (double)k * M_PI / 4;
    ck_assert(c->weight == 0.125 && c->std == 0.1);
    /* the file gives 10 decimals of 2 cos, 2 sin */
    ck_assert_msg(fabs(c->mean[0] - 2 * cos(ang)) < 1e-9 && fabs(c->mean[1] - 2 * sin(ang)) < 1e-9,
                  "component %zu mean (%g, %g)", k, c->mean[0], c->mean[1]);
    ck_assert_int_eq(c->loc.line, 12 + (int)k);
    ck_assert_int_eq(c->loc.col, 7);
  }
  ck_assert_ptr_null(s.weights_path);
  ck_assert_uint_eq(s.weights.count, 0);
  ck_assert_int_eq(s.name_loc.line, 3);
  ck_assert_int_eq(s.name_loc.col, 7);
  spec_free(&s);
}
END_TEST

typedef struct want_layer {
  const char *name;
  spec_layer_op op;
  const char *inputs;
  uint32_t out; /* every shape here is a vector [out] */
} want_layer;

START_TEST(test_graph_model) {
  static const want_layer want[] = {
      {"temb", SPEC_LAYER_SINUSOIDAL, "time", 4},
      {"h0", SPEC_LAYER_CONCAT, "mu,temb,time", 8},
      {"fc1", SPEC_LAYER_DENSE, "h0", 5},
      {"ln", SPEC_LAYER_LAYERNORM, "fc1", 5}, /* input defaulted */
      {"fc2", SPEC_LAYER_DENSE, "ln", 5},
      {"res", SPEC_LAYER_ADD, "ln,fc2", 5},
      {"gate", SPEC_LAYER_MUL, "res,fc1", 5},
      {"out", SPEC_LAYER_DENSE, "gate", 3},
  };
  model_spec s;
  load_ok("tests/frontend/good/graph.yaml", &s);
  ck_assert_str_eq(s.name, "tiny_graph");
  ck_assert(s.prior_mean == 0.5 && s.prior_precision == 2.0);
  ck_assert_int_eq(s.output, SPEC_OUTPUT_PREDICTION);
  ck_assert_int_eq(s.network.kind, SPEC_NETWORK_GRAPH);
  ck_assert_uint_eq(s.network.nlayers, 8);
  ck_assert_str_eq(s.network.output, "out");
  for (size_t i = 0; i < 8; i++) {
    const spec_layer *l = &s.network.layers[i];
    ck_assert_str_eq(l->name, want[i].name);
    ck_assert_int_eq(l->op, want[i].op);
    char joined[64] = "";
    for (size_t k = 0; k < l->ninputs; k++) {
      strcat(joined, k ? "," : "");
      strcat(joined, l->inputs[k]);
    }
    ck_assert_str_eq(joined, want[i].inputs);
    ck_assert_msg(l->out.rank == 1 && l->out.dim[0] == want[i].out,
                  "layer %s: out rank %u "
                  "dim %u, expected [%u]",
                  l->name, l->out.rank, l->out.dim[0], want[i].out);
    ck_assert_int_eq(l->loc.line, 12 + (int)i);
  }
  const spec_layer *L = s.network.layers;
  ck_assert_uint_eq(L[0].dim, 4);
  ck_assert_int_eq(L[2].activation, PMM_ACT_SILU);
  ck_assert_int_eq(L[2].has_bias, 1);
  ck_assert(L[3].eps == 0.001 && L[3].affine == 1);
  ck_assert_uint_eq(L[1].axis, 0);
  ck_assert_int_eq(L[0].cos_first, 0);
  ck_assert_int_eq(L[3].has_bias, 1);
  ck_assert_int_eq(L[4].activation, PMM_ACT_GELU);
  ck_assert_int_eq(L[4].has_bias, 0); /* fc2.bias is not in the file */
  ck_assert_int_eq(L[7].activation, PMM_ACT_NONE);
  ck_assert_int_eq(L[7].has_bias, 1);

  /* Weights: gen_weights.py's values ((seed*7 + i*5) % 32 - 16) / 8, with
   * the tensor's position in the file as seed; F16/BF16 convert exactly. */
  ck_assert_uint_eq(s.weights.count, 7);
  static const struct {
    const char *name;
    int seed;
    uint64_t count;
  } tensors[] = {{"fc1.weight", 0, 40}, {"fc1.bias", 1, 5},    {"ln.weight", 2, 5},
                 {"ln.bias", 3, 5},     {"fc2.weight", 4, 25}, {"out.weight", 5, 15},
                 {"out.bias", 6, 3}};
  for (size_t t = 0; t < 7; t++) {
    const weight_tensor *w = weights_find(&s.weights, tensors[t].name);
    ck_assert_msg(w != NULL, "tensor %s missing", tensors[t].name);
    ck_assert_uint_eq(w->count, tensors[t].count);
    for (uint64_t i = 0; i < w->count; i++) {
      float want = (float)(((tensors[t].seed * 7 + (int)i * 5) % 32 - 16) / 8.0);
      ck_assert_msg(w->data[i] == want, "%s[%llu] = %g, expected %g", w->name,
                    (unsigned long long)i, w->data[i], want);
    }
  }
  const weight_tensor *w = weights_find(&s.weights, "fc1.weight");
  ck_assert(w->rank == 2 && w->shape[0] == 5 && w->shape[1] == 8);

  /* karras, rho defaulted to 7: A_1 = 1/sigma_max^2, A_T = 1/sigma_min^2. */
  ck_assert_int_eq(s.schedule.kind, SPEC_SCHEDULE_KARRAS);
  ck_assert(s.schedule.rho == 7.0);
  double a[10];
  spec_schedule_values(&s.schedule, a);
  assert_rel(a[0], 0.01, "A_1");
  ck_assert_msg(fabs(a[9] - 1e4) <= 1e-9 * 1e4, "A_10 = %.17g, expected 1e4 (rel 1e-9)", a[9]);
  for (int i = 1; i < 10; i++) ck_assert(a[i] > a[i - 1]);
  spec_free(&s);
}
END_TEST

START_TEST(test_gamma_model) {
  model_spec s;
  load_ok("tests/frontend/good/gamma.yaml", &s);
  ck_assert_str_eq(s.name, "counts");
  ck_assert_int_eq(s.pair, SPEC_PAIR_GAMMA_POISSON);
  ck_assert_uint_eq(s.rank, 2);
  ck_assert(s.shape[0] == 2 && s.shape[1] == 2 && s.data_elems == 4);
  ck_assert(s.data_range[0] == 0.0 && s.data_range[1] == 20.0);
  ck_assert(s.prior_shape == 2.5 && s.prior_rate == 0.5);
  ck_assert_int_eq(s.prior_loc.line, 6);
  ck_assert_ptr_null(s.vocab);
  ck_assert_int_eq(s.pad_symbol, -1);
  ck_assert_int_eq(s.schedule.kind, SPEC_SCHEDULE_TABLE);
  ck_assert_uint_eq(s.schedule.steps, 5);
  ck_assert_int_eq(s.output, SPEC_OUTPUT_PREDICTION);
  ck_assert_int_eq(s.network.kind, SPEC_NETWORK_EXACT);
  ck_assert_uint_eq(s.network.ncomponents, 0);
  /* gen_weights.py: int64 counts [5, 2, 2], weights 1, 2, 3, 4, 10 (sum 20). */
  static const float atoms[20] = {0, 1, 2, 3, 4, 5, 6, 7, 10, 0, 0, 10, 1, 1, 1, 1, 20, 15, 3, 0};
  static const double weights[5] = {0.05, 0.1, 0.15, 0.2, 0.5};
  ck_assert_uint_eq(s.network.natoms, 5);
  for (int i = 0; i < 20; i++)
    ck_assert_msg(s.network.atoms[i] == atoms[i], "atoms[%d] = %g, expected %g", i,
                  s.network.atoms[i], atoms[i]);
  for (int i = 0; i < 5; i++) assert_rel(s.network.atom_weights[i], weights[i], "atom weight");
  const char *tail = "tests/frontend/good/gamma_atoms.npy";
  size_t n = strlen(s.network.atoms_path);
  ck_assert(n >= strlen(tail));
  ck_assert_str_eq(s.network.atoms_path + n - strlen(tail), tail); /* relative to the YAML */
  ck_assert_int_eq(s.network.atoms_loc.line, 11);
  ck_assert_int_eq(s.network.atoms_loc.col, 10);
  spec_free(&s);
}
END_TEST

START_TEST(test_words_model) {
  static const char *const vocab[7] = {"_", "a", "b", "c", "d", "e", "\xc3\xa9"};
  model_spec s;
  load_ok("tests/frontend/good/words.yaml", &s);
  ck_assert_int_eq(s.pair, SPEC_PAIR_DIRICHLET_CATEGORICAL);
  ck_assert(s.rank == 1 && s.shape[0] == 6 && s.data_elems == 6);
  ck_assert_uint_eq(s.vocab_size, 7);
  for (int i = 0; i < 7; i++) ck_assert_str_eq(s.vocab[i], vocab[i]);
  ck_assert_int_eq(s.pad_symbol, 0);
  ck_assert(s.prior_concentration == 0.5 && s.prior_smoothing == 0.3);
  /* words.txt: "abc\t2", "bead\t1", a blank line, "décade\t0.5" (CRLF), "cab\t5e-1". */
  static const float rows[4][6] = {
      {1, 2, 3, 0, 0, 0}, {2, 5, 1, 4, 0, 0}, {4, 6, 3, 1, 4, 5}, {3, 1, 2, 0, 0, 0}};
  static const double weights[4] = {0.5, 0.25, 0.125, 0.125};
  ck_assert_uint_eq(s.network.natoms, 4);
  for (int k = 0; k < 4; k++) {
    for (int l = 0; l < 6; l++)
      ck_assert_msg(s.network.atoms[k * 6 + l] == rows[k][l],
                    "atom %d position %d = %g, "
                    "expected %g",
                    k, l, s.network.atoms[k * 6 + l], rows[k][l]);
    assert_rel(s.network.atom_weights[k], weights[k], "sequence weight");
  }
  spec_free(&s);
}
END_TEST

START_TEST(test_failed_load_is_zeroed) {
  char path[PATH_MAX];
  snprintf(path, sizeof path, "%s/tests/frontend/bad/negative_precision.yaml", tu_srcdir());
  model_spec s;
  memset(&s, 0xab, sizeof s);
  diag_list dl;
  diag_list_init(&dl);
  ck_assert_int_ne(spec_load(path, &s, &dl), 0);
  ck_assert_uint_eq(dl.errors, 1);
  ck_assert_int_eq(dl.items[0].line, 5);
  ck_assert_int_eq(dl.items[0].col, 31);
  ck_assert_ptr_null(s.name);
  ck_assert_ptr_null(s.path);
  ck_assert_uint_eq(s.network.nlayers, 0);
  diag_list_free(&dl);

  /* A missing model file is an error naming it, not a crash. */
  diag_list_init(&dl);
  ck_assert_int_ne(spec_load("/nonexistent/model.yaml", &s, &dl), 0);
  ck_assert_uint_eq(dl.errors, 1);
  ck_assert_str_eq(dl.items[0].message,
                   "/nonexistent/model.yaml: cannot open: No such file or directory");
  diag_list_free(&dl);
}
END_TEST

/* ---- schedules ----------------------------------------------------------- */

START_TEST(test_schedule_values) {
  double a[5];
  spec_schedule g = {.kind = SPEC_SCHEDULE_GEOMETRIC, .steps = 3, .start = 1, .end = 100};
  spec_schedule_values(&g, a);
  assert_rel(a[0], 1, "geometric A_1");
  assert_rel(a[1], 10, "geometric A_2");
  assert_rel(a[2], 100, "geometric A_3");

  spec_schedule l = {.kind = SPEC_SCHEDULE_LINEAR, .steps = 5, .start = 1, .end = 3};
  spec_schedule_values(&l, a);
  for (int i = 0; i < 5; i++) assert_rel(a[i], 1 + 0.5 * i, "linear A_t");

  /* rho 2, sigma 16 -> 1: sigma_i = (4 + i/2 (1 - 4))^2 = 16, 6.25, 1. */
  spec_schedule k = {
      .kind = SPEC_SCHEDULE_KARRAS, .steps = 3, .sigma_min = 1, .sigma_max = 16, .rho = 2};
  spec_schedule_values(&k, a);
  assert_rel(a[0], 1.0 / 256, "karras A_1");
  assert_rel(a[1], 1.0 / 39.0625, "karras A_2");
  assert_rel(a[2], 1.0, "karras A_3");

  double vals[4] = {0.5, 1, 4, 9};
  spec_schedule t = {.kind = SPEC_SCHEDULE_TABLE, .steps = 4, .values = vals};
  spec_schedule_values(&t, a);
  for (int i = 0; i < 4; i++) ck_assert(a[i] == vals[i]);
}
END_TEST

/* ---- diagnostics --------------------------------------------------------- */

START_TEST(test_diag_suggest) {
  static const char *const keys[] = {"name",     "pair",    "data",    "prior",
                                     "schedule", "sampler", "network", "weights"};
  ck_assert_str_eq(diag_suggest("shcedule", keys, 8), "schedule");
  ck_assert_str_eq(diag_suggest("wieghts", keys, 8), "weights");
  ck_assert_str_eq(diag_suggest("nme", keys, 8), "name");
  ck_assert_ptr_null(diag_suggest("xyz", keys, 8));
  ck_assert_ptr_null(diag_suggest("layers", keys, 8));
  static const char *const sched[] = {"kind", "steps", "sigma_min", "sigma_max", "rho"};
  ck_assert_str_eq(diag_suggest("sigma_mn", sched, 5), "sigma_min");
  ck_assert_str_eq(diag_suggest("step", sched, 5), "steps");
  /* distance 2 on a 5-letter word is beyond max(1, 5/3) */
  ck_assert_ptr_null(diag_suggest("stxpx", sched, 5));
}
END_TEST

START_TEST(test_diag_print) {
  diag_list dl;
  diag_list_init(&dl);
  diag_error(&dl, "m.yaml", 3, 5, "unknown key '%s' in 'data'", "shapes");
  diag_hint(&dl, "did you mean '%s'?", "shape");
  diag_warning(&dl, "m.yaml", 0, 0, "just %d warning", 1);
  diag_error(&dl, NULL, 0, 0, "no file");
  ck_assert_uint_eq(dl.errors, 2);
  ck_assert(diag_has_errors(&dl));
  char *buf = NULL;
  size_t len = 0;
  FILE *f = open_memstream(&buf, &len);
  ck_assert_ptr_nonnull(f);
  diag_print(&dl, f);
  fclose(f);
  ck_assert_str_eq(buf, "m.yaml:3:5: error: unknown key 'shapes' in 'data'\n"
                        "  hint: did you mean 'shape'?\n"
                        "m.yaml: warning: just 1 warning\n"
                        "error: no file\n");
  free(buf);
  diag_list_free(&dl);
  ck_assert(!diag_has_errors(&dl));
}
END_TEST

/* ---- files in a temporary folder ------------------------------------------- */

static char tmpdir[PATH_MAX];

static void setup_tmp(void) { tu_make_tmpdir(tmpdir, sizeof tmpdir); }
static void teardown_tmp(void) { tu_remove_tree(tmpdir); }

/* ---- pairs, data and atom sets (files in tmpdir) ------------------------- */

static void write_tmp(const char *name, const char *text) {
  char path[PATH_MAX + 64];
  snprintf(path, sizeof path, "%s/%s", tmpdir, name);
  tu_write_file(path, text, strlen(text));
}

/* A float32 .npy of the given shape in tmpdir. */
static void write_tmp_npy(const char *name, uint32_t rank, const uint64_t *shape, const float *v,
                          size_t n) {
  char path[PATH_MAX + 64];
  snprintf(path, sizeof path, "%s/%s", tmpdir, name);
  FILE *f = fopen(path, "wb");
  ck_assert_ptr_nonnull(f);
  ck_assert_int_eq(pmm_npy_write_header(f, rank, shape), PMM_OK);
  ck_assert_uint_eq(fwrite(v, sizeof *v, n, f), n);
  ck_assert_int_eq(fclose(f), 0);
}

/* spec_load of tmpdir/name: the status, diagnostics left in dl. */
static int load_tmp(const char *name, model_spec *s, diag_list *dl) {
  char path[PATH_MAX + 64];
  snprintf(path, sizeof path, "%s/%s", tmpdir, name);
  diag_list_init(dl);
  return spec_load(path, s, dl);
}

static void load_tmp_ok(const char *name, model_spec *s) {
  diag_list dl;
  int rc = load_tmp(name, s, &dl);
  if (rc != 0) diag_print(&dl, stderr);
  ck_assert_msg(rc == 0, "spec_load(%s) failed", name);
  diag_list_free(&dl);
}

#define SCHED "schedule: {kind: geometric, steps: 10, start: 0.1, end: 100}\n"

START_TEST(test_pair_defaults) {
  model_spec s;
  write_tmp("n.yaml", "name: n\npair: normal-normal\ndata: {shape: [2]}\n" SCHED
                      "sampler: {kind: heun}\nnetwork: {kind: exact, mixture: "
                      "[{weight: 1, mean: [0, 0], std: 1}]}\n");
  load_tmp_ok("n.yaml", &s);
  ck_assert(s.prior_mean == 0.0 && s.prior_precision == 1.0);
  ck_assert(s.data_range[0] == 0.0 && s.data_range[1] == 1.0);
  ck_assert_int_eq(s.sampler, SPEC_SAMPLER_HEUN);
  ck_assert_ptr_null(s.vocab);
  ck_assert_uint_eq(s.vocab_size, 0);
  ck_assert_int_eq(s.pad_symbol, -1);
  ck_assert_uint_eq(s.network.natoms, 0);
  spec_free(&s);

  static const float g[2] = {0, 3};
  write_tmp_npy("g.npy", 2, (const uint64_t[]){2, 1}, g, 2);
  write_tmp("g.yaml", "name: g\npair: gamma-poisson\ndata: {shape: [1], range: [-2.5, 1e3]}\n" SCHED
                      "network: {kind: exact, atoms: g.npy}\n");
  load_tmp_ok("g.yaml", &s);
  ck_assert(s.prior_shape == 1.0 && s.prior_rate == 1.0);
  ck_assert(s.data_range[0] == -2.5 && s.data_range[1] == 1000.0);
  ck_assert_uint_eq(s.network.natoms, 2);
  ck_assert(s.network.atoms[0] == 0.0f && s.network.atoms[1] == 3.0f);
  ck_assert(s.network.atom_weights[0] == 0.5 && s.network.atom_weights[1] == 0.5);
  spec_free(&s);

  write_tmp("c.txt", "ab\nba\nbb\n");
  write_tmp("c.yaml", "name: c\npair: dirichlet-categorical\ndata: {shape: [2], vocab: 'ab', "
                      "padding: false}\n" SCHED "sampler: {kind: pmm}\n"
                      "network: {kind: exact, atoms: c.txt}\n");
  load_tmp_ok("c.yaml", &s);
  ck_assert(s.prior_concentration == 1.0 && s.prior_smoothing == 0.0);
  ck_assert_int_eq(s.pad_symbol, -1);
  ck_assert_uint_eq(s.vocab_size, 2);
  ck_assert_uint_eq(s.network.natoms, 3);
  static const float rows[6] = {0, 1, 1, 0, 1, 1};
  for (int i = 0; i < 6; i++) ck_assert(s.network.atoms[i] == rows[i]);
  for (int i = 0; i < 3; i++) assert_rel(s.network.atom_weights[i], 1.0 / 3, "uniform weight");
  spec_free(&s);
}
END_TEST

/* `mu` of a dirichlet-categorical graph is [L, K]; so may the output be. */
START_TEST(test_categorical_graph) {
  write_tmp("cg.yaml",
            "name: cg\npair: dirichlet-categorical\ndata: {shape: [3], vocab: abcd}\n" SCHED
            "network:\n  kind: graph\n  layers:\n"
            "    - {name: t, op: concat, inputs: [time, time]}\n"
            "    - {name: out, op: add, inputs: [mu, mu]}\n");
  model_spec s;
  load_tmp_ok("cg.yaml", &s);
  ck_assert_uint_eq(s.network.nlayers, 2);
  const tshape *out = &s.network.layers[1].out;
  ck_assert(out->rank == 2 && out->dim[0] == 3 && out->dim[1] == 4);
  ck_assert(s.network.layers[0].out.rank == 1 && s.network.layers[0].out.dim[0] == 2);
  ck_assert_str_eq(s.network.output, "out");
  spec_free(&s);

  /* A normal-normal graph over the same shape sees mu of shape [3]. */
  write_tmp("ng.yaml", "name: ng\npair: normal-normal\ndata: {shape: [3]}\n" SCHED
                       "sampler: {kind: euler-maruyama}\nnetwork:\n  kind: graph\n  layers:\n"
                       "    - {name: out, op: mul, inputs: [mu, mu]}\n");
  load_tmp_ok("ng.yaml", &s);
  ck_assert_int_eq(s.sampler, SPEC_SAMPLER_EULER_MARUYAMA);
  ck_assert(s.network.layers[0].out.rank == 1 && s.network.layers[0].out.dim[0] == 3);
  spec_free(&s);
}
END_TEST

/* Atoms as [k, D] or [k, *data.shape]; both give rows of D floats. */
START_TEST(test_atoms_npy_shapes) {
  float v[12];
  for (int i = 0; i < 12; i++) v[i] = (float)i - 5.5f;
  write_tmp_npy("flat.npy", 2, (const uint64_t[]){2, 6}, v, 12);
  write_tmp_npy("full.npy", 3, (const uint64_t[]){2, 2, 3}, v, 12);
  write_tmp_npy("w.npy", 1, (const uint64_t[]){2}, (const float[]){3e38f, 1e38f}, 2);
  static const char *const files[2] = {"flat.npy", "full.npy"};
  for (int f = 0; f < 2; f++) {
    char yaml[512];
    snprintf(yaml, sizeof yaml,
             "name: a\npair: normal-normal\ndata: {shape: [2, 3]}\nprior: {mean: -1, precision: "
             "4}\n" SCHED "network: {kind: exact, atoms: %s, atom_weights: w.npy}\n",
             files[f]);
    write_tmp("a.yaml", yaml);
    model_spec s;
    load_tmp_ok("a.yaml", &s);
    ck_assert(s.prior_mean == -1.0 && s.prior_precision == 4.0);
    ck_assert_uint_eq(s.network.natoms, 2);
    for (int i = 0; i < 12; i++) ck_assert(s.network.atoms[i] == v[i]);
    /* huge weights normalise without overflow */
    double w0 = 3e38f, w1 = 1e38f;
    assert_rel(s.network.atom_weights[0], w0 / (w0 + w1), "weight 0");
    assert_rel(s.network.atom_weights[1], w1 / (w0 + w1), "weight 1");
    spec_free(&s);
  }
}
END_TEST

/* Errors in an atoms text file name that file (resolved against the YAML's
 * directory), with line and column in characters. */
START_TEST(test_atoms_text_errors) {
  /* é is \xc3\xa9; \xc0\x80 is an overlong NUL, \xed\xa0\x80 a surrogate */
  write_tmp("bad.txt", "ab\xc3\xa9\n"
                       "\xc3\xa9\xc3\xa9z\n"
                       "\xc3\xa9\xc0\x80\n"
                       "\xed\xa0\x80\n"
                       "a\n"
                       "ab\xc3\xa9\tx\n");
  write_tmp("e.yaml", "name: e\npair: dirichlet-categorical\n"
                      "data: {shape: [3], vocab: \"ab\xc3\xa9\"}\n" SCHED
                      "network: {kind: exact, atoms: bad.txt}\n");
  model_spec s;
  diag_list dl;
  ck_assert_int_ne(load_tmp("e.yaml", &s, &dl), 0);
  char want_file[PATH_MAX + 64];
  snprintf(want_file, sizeof want_file, "%s/bad.txt", tmpdir);
  static const struct {
    int line, col;
    const char *phrase;
  } want[] = {{2, 3, "symbol 'z' (U+007A)"},
              {3, 2, "invalid UTF-8"}, /* overlong */
              {4, 1, "invalid UTF-8"}, /* surrogate */
              {5, 0, "sequence of 1 symbol, expected 3"},
              {6, 5, "'x' for the weight"}};
  ck_assert_uint_eq(dl.errors, 5);
  for (size_t i = 0; i < 5; i++) {
    const diag *d = &dl.items[i];
    ck_assert_str_eq(d->file, want_file);
    ck_assert_msg(d->line == want[i].line && d->col == want[i].col,
                  "error %zu at %lld:%lld, expected %d:%d (%s)", i, d->line, d->col, want[i].line,
                  want[i].col, d->message);
    ck_assert_msg(strstr(d->message, want[i].phrase), "error %zu: '%s' lacks '%s'", i, d->message,
                  want[i].phrase);
  }
  ck_assert_ptr_nonnull(strstr(dl.items[0].hint, "e.yaml:5:31"));
  ck_assert_ptr_null(s.name);
  diag_list_free(&dl);
}
END_TEST

/* ---- the layer vocabulary: shapes and resolved attributes ---------------- */

typedef struct tensor_spec {
  const char *name;
  uint32_t rank;
  uint64_t shape[5];
} tensor_spec;

/* tmpdir/file: the given tensors, every value 0.25. */
static void write_tmp_weights(const char *file, const tensor_spec *t, size_t n) {
  weight_set ws;
  weight_set_init(&ws);
  for (size_t i = 0; i < n; i++) {
    uint64_t count = 1;
    for (uint32_t d = 0; d < t[i].rank; d++) count *= t[i].shape[d];
    float *v = malloc(count * sizeof *v);
    ck_assert_ptr_nonnull(v);
    for (uint64_t k = 0; k < count; k++) v[k] = 0.25f;
    ck_assert_int_eq(weight_set_add(&ws, t[i].name, t[i].rank, t[i].shape, v), 0);
    free(v);
  }
  char path[PATH_MAX + 64], err[256];
  snprintf(path, sizeof path, "%s/%s", tmpdir, file);
  ck_assert_msg(weights_save_safetensors(path, &ws, err, sizeof err) == 0, "%s", err);
  weight_set_free(&ws);
}

static const spec_layer *layer_named(const model_spec *s, const char *name) {
  for (size_t i = 0; i < s->network.nlayers; i++)
    if (!strcmp(s->network.layers[i].name, name)) return &s->network.layers[i];
  ck_abort_msg("no layer '%s'", name);
  return NULL;
}

#define SHAPE(...)                                                                                 \
  tshape_make(sizeof((uint32_t[]){__VA_ARGS__}) / sizeof(uint32_t), (uint32_t[]){__VA_ARGS__})

static void assert_out(const model_spec *s, const char *name, tshape want) {
  const spec_layer *l = layer_named(s, name);
  char got[TSHAPE_TEXT], exp[TSHAPE_TEXT];
  ck_assert_msg(tshape_equal(&l->out, &want), "layer %s: out %s, expected %s", name,
                tshape_format(&l->out, got, sizeof got), tshape_format(&want, exp, sizeof exp));
}

#define GRAPH_HEAD(NAME, PAIR, DATA)                                                               \
  "name: " NAME "\npair: " PAIR "\ndata: " DATA "\n" SCHED "network:\n  kind: graph\n  layers:\n"

/* A small U-Net-like conv net with a time embedding, under dotted names. */
START_TEST(test_conv_net) {
  static const tensor_spec t[] = {
      {"time.proj.weight", 2, {16, 8}},
      {"time.proj.bias", 1, {16}},
      {"down.0.conv1.weight", 4, {16, 3, 3, 3}},
      {"down.0.conv1.bias", 1, {16}},
      {"down.0.norm.weight", 1, {16}},
      {"down.0.norm.bias", 1, {16}},
      {"down.1.weight", 4, {16, 8, 3, 3}},
      {"head.out.weight", 4, {3, 32, 1, 1}},
      {"head.out.bias", 1, {3}},
  };
  write_tmp_weights("conv.safetensors", t, sizeof t / sizeof t[0]);
  write_tmp("conv.yaml",
            GRAPH_HEAD(
                "conv", "normal-normal",
                "{shape: [3, 8, 8]}") "    - {name: temb, op: sinusoidal, input: time, dim: 8}\n"
                                      "    - {name: time.proj, op: dense, units: 16}\n"
                                      "    - {name: tshift, op: reshape, shape: [-1, 1, 1]}\n"
                                      "    - {name: down.0.conv1, op: conv2d, input: mu, channels: "
                                      "16, kernel: 3, "
                                      "activation: silu}\n"
                                      "    - {name: h, op: add, inputs: [down.0.conv1, tshift]}\n"
                                      "    - {name: down.0.norm, op: groupnorm, groups: 4, eps: "
                                      "1e-6, activation: silu}\n"
                                      "    - {name: down.1, op: conv2d, channels: 16, kernel: 3, "
                                      "stride: 2, padding: 1, "
                                      "groups: 2}\n"
                                      "    - {name: pool, op: avgpool, input: down.0.norm}\n"
                                      "    - {name: cat, op: concat, inputs: [down.1, pool]}\n"
                                      "    - {name: up, op: upsample, factor: 2}\n"
                                      "    - {name: head.out, op: conv2d, channels: 3, kernel: 1}\n"
                                      "weights: conv.safetensors\n");
  model_spec s;
  load_tmp_ok("conv.yaml", &s);
  assert_out(&s, "temb", SHAPE(8));
  assert_out(&s, "time.proj", SHAPE(16));
  assert_out(&s, "tshift", SHAPE(16, 1, 1));
  assert_out(&s, "down.0.conv1", SHAPE(16, 8, 8));
  assert_out(&s, "h", SHAPE(16, 8, 8));
  assert_out(&s, "down.0.norm", SHAPE(16, 8, 8));
  assert_out(&s, "down.1", SHAPE(16, 4, 4));
  assert_out(&s, "pool", SHAPE(16, 4, 4));
  assert_out(&s, "cat", SHAPE(32, 4, 4));
  assert_out(&s, "up", SHAPE(32, 8, 8));
  assert_out(&s, "head.out", SHAPE(3, 8, 8));
  const spec_layer *c1 = layer_named(&s, "down.0.conv1"), *d1 = layer_named(&s, "down.1");
  const spec_layer *out = layer_named(&s, "head.out"), *gn = layer_named(&s, "down.0.norm");
  ck_assert(c1->op == SPEC_LAYER_CONV2D && c1->channels == 16 && c1->kernel == 3);
  ck_assert(c1->stride == 1 && c1->padding == 1 && c1->groups == 1); /* defaults */
  ck_assert(c1->activation == PMM_ACT_SILU && c1->has_bias == 1);
  ck_assert(d1->stride == 2 && d1->padding == 1 && d1->groups == 2 && d1->has_bias == 0);
  ck_assert(out->padding == 0 && out->has_bias == 1); /* (1 - 1) / 2 */
  ck_assert(gn->op == SPEC_LAYER_GROUPNORM && gn->groups == 4 && gn->eps == 1e-6);
  ck_assert(gn->activation == PMM_ACT_SILU && gn->has_bias == 1);
  ck_assert(layer_named(&s, "pool")->kernel == 2 && layer_named(&s, "up")->factor == 2);
  ck_assert_uint_eq(layer_named(&s, "cat")->axis, 0);
  const tshape tt = SHAPE(16, 1, 1);
  ck_assert(tshape_equal(&layer_named(&s, "tshift")->target, &tt));
  ck_assert_str_eq(layer_named(&s, "tshift")->inputs[0], "time.proj"); /* previous layer */
  spec_free(&s);
}
END_TEST

/* A transformer block over mu [L, E] = [8, 16], modulated by time. */
START_TEST(test_attention_block) {
  static const tensor_spec t[] = {
      {"ln.weight", 1, {16}},
      {"ln.bias", 1, {16}},
      {"attn.in_proj_weight", 2, {48, 16}},
      {"attn.in_proj_bias", 1, {48}},
      {"attn.out_proj.weight", 2, {16, 16}},
      {"emb.weight", 2, {32, 16}},
      {"emb.bias", 1, {32}},
      {"mlp.weight", 2, {16, 16}},
  };
  write_tmp_weights("attn.safetensors", t, sizeof t / sizeof t[0]);
  write_tmp(
      "attn.yaml",
      GRAPH_HEAD(
          "attn", "normal-normal",
          "{shape: [8, 16]}") "    - {name: ln, op: layernorm, input: mu}\n"
                              "    - {name: attn, op: attention, heads: 4}\n"
                              "    - {name: res, op: add, inputs: [mu, attn]}\n"
                              "    - {name: temb, op: sinusoidal, input: time, dim: 16, order: "
                              "cos-sin}\n"
                              "    - {name: emb, op: dense, units: 32, activation: silu}\n"
                              "    - {name: shift, op: chunk, chunks: 2, index: 0}\n"
                              "    - {name: scale, op: chunk, input: emb, chunks: 2, index: 1, "
                              "axis: 0}\n"
                              "    - {name: m, op: modulate, input: res, shift: shift, scale: "
                              "scale}\n"
                              "    - {name: ln2, op: layernorm, affine: false, eps: 1e-6}\n"
                              "    - {name: sm, op: softmax, axis: -2}\n"
                              "    - {name: mlp, op: dense, units: 16, activation: gelu-tanh}\n"
                              "    - {name: g, op: gelu-tanh}\n"
                              "    - {name: out, op: add, inputs: [g, m]}\n"
                              "weights: attn.safetensors\n");
  model_spec s;
  load_tmp_ok("attn.yaml", &s);
  static const char *const rows[] = {"ln", "attn", "res", "m", "ln2", "sm", "mlp", "g", "out"};
  for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) assert_out(&s, rows[i], SHAPE(8, 16));
  assert_out(&s, "temb", SHAPE(16));
  assert_out(&s, "emb", SHAPE(32));
  assert_out(&s, "shift", SHAPE(16));
  assert_out(&s, "scale", SHAPE(16));
  const spec_layer *a = layer_named(&s, "attn"), *m = layer_named(&s, "m");
  ck_assert(a->op == SPEC_LAYER_ATTENTION && a->heads == 4);
  ck_assert(a->has_bias == 1 && a->has_out_bias == 0);
  ck_assert(layer_named(&s, "ln")->affine == 1 && layer_named(&s, "ln")->has_bias == 1);
  ck_assert(layer_named(&s, "ln2")->affine == 0 && layer_named(&s, "ln2")->has_bias == 0);
  ck_assert_int_eq(layer_named(&s, "temb")->cos_first, 1);
  ck_assert_uint_eq(layer_named(&s, "shift")->axis, 0); /* -1 of a rank-1 input */
  ck_assert(layer_named(&s, "scale")->chunks == 2 && layer_named(&s, "scale")->index == 1);
  ck_assert_uint_eq(layer_named(&s, "sm")->axis, 0); /* -2 of a rank-2 input */
  ck_assert(m->op == SPEC_LAYER_MODULATE && m->ninputs == 3);
  ck_assert_str_eq(m->inputs[0], "res");
  ck_assert_str_eq(m->inputs[1], "shift");
  ck_assert_str_eq(m->inputs[2], "scale");
  ck_assert_int_eq(layer_named(&s, "mlp")->activation, PMM_ACT_GELU_TANH);
  const spec_layer *g = layer_named(&s, "g");
  ck_assert(g->op == SPEC_LAYER_ACT && g->activation == PMM_ACT_GELU_TANH);
  ck_assert_str_eq(spec_layer_op_name(SPEC_LAYER_ATTENTION), "attention");
  spec_free(&s);
}
END_TEST

/* Categorical mu [L, K] = [4, 5]: embed, a learned position table stored
 * with a leading 1, transpose, reshape with -1, flattened logits. */
START_TEST(test_reshape_net) {
  static const tensor_spec t[] = {
      {"e.weight", 2, {5, 8}}, {"pos", 3, {1, 4, 8}}, {"out.weight", 2, {20, 32}}};
  write_tmp_weights("rs.safetensors", t, sizeof t / sizeof t[0]);
#define RS_LAYERS                                                                                  \
  GRAPH_HEAD("rs", "dirichlet-categorical", "{shape: [4], vocab: abcde}")                          \
  "    - {name: e, op: embed, input: mu, units: 8}\n"                                              \
  "    - {name: pos, op: param, shape: [4, 8]}\n"                                                  \
  "    - {name: h, op: add, inputs: [e, pos]}\n"                                                   \
  "    - {name: t, op: transpose, perm: [1, 0]}\n"                                                 \
  "    - {name: r, op: reshape, shape: [2, -1]}\n"                                                 \
  "    - {name: flat, op: reshape, shape: [-1]}\n"                                                 \
  "    - {name: out, op: dense, units: 20}\n"
  write_tmp("rs.yaml", RS_LAYERS "weights: rs.safetensors\n");
  model_spec s;
  load_tmp_ok("rs.yaml", &s);
  assert_out(&s, "e", SHAPE(4, 8));
  assert_out(&s, "pos", SHAPE(4, 8));
  assert_out(&s, "h", SHAPE(4, 8));
  assert_out(&s, "t", SHAPE(8, 4));
  assert_out(&s, "r", SHAPE(2, 16));
  assert_out(&s, "flat", SHAPE(32));
  assert_out(&s, "out", SHAPE(20)); /* L*K logits */
  const spec_layer *tr = layer_named(&s, "t"), *r = layer_named(&s, "r");
  ck_assert(tr->perm[0] == 1 && tr->perm[1] == 0);
  const tshape rt = SHAPE(2, 16), pt = SHAPE(4, 8);
  ck_assert(tshape_equal(&r->target, &rt));
  ck_assert(tshape_equal(&layer_named(&s, "pos")->target, &pt));
  ck_assert_uint_eq(layer_named(&s, "pos")->ninputs, 0);
  ck_assert(layer_named(&s, "e")->units == 8 && layer_named(&s, "e")->has_bias == 0);
  spec_free(&s);

  /* Output r [2, 16] is neither [4, 5] nor [20]: an error, unless the
   * caller evaluates the network alone. */
  write_tmp("rs2.yaml", RS_LAYERS "  output: r\nweights: rs.safetensors\n");
  diag_list dl;
  ck_assert_int_ne(load_tmp("rs2.yaml", &s, &dl), 0);
  ck_assert_uint_eq(dl.errors, 1);
  ck_assert_ptr_nonnull(strstr(dl.items[0].message, "expected [4, 5] or [20]"));
  diag_list_free(&dl);
  char path[PATH_MAX + 64];
  snprintf(path, sizeof path, "%s/rs2.yaml", tmpdir);
  diag_list_init(&dl);
  ck_assert_int_eq(spec_load_flags(path, SPEC_LOAD_ANY_OUTPUT, &s, &dl), 0);
  ck_assert_str_eq(s.network.output, "r");
  diag_list_free(&dl);
  spec_free(&s);
}
END_TEST

int main(void) {
  printf("test_spec: deterministic (no random seeds); source tree %s\n", tu_srcdir());
  Suite *s = suite_create("frontend-spec");
  TCase *models = tcase_create("models");
  tcase_add_test(models, test_gmm8);
  tcase_add_test(models, test_graph_model);
  tcase_add_test(models, test_gamma_model);
  tcase_add_test(models, test_words_model);
  tcase_add_test(models, test_failed_load_is_zeroed);
  suite_add_tcase(s, models);
  TCase *sched = tcase_create("schedule");
  tcase_add_test(sched, test_schedule_values);
  suite_add_tcase(s, sched);
  TCase *diag = tcase_create("diag");
  tcase_add_test(diag, test_diag_suggest);
  tcase_add_test(diag, test_diag_print);
  suite_add_tcase(s, diag);
  TCase *pairs = tcase_create("pairs");
  tcase_add_checked_fixture(pairs, setup_tmp, teardown_tmp);
  tcase_add_test(pairs, test_pair_defaults);
  tcase_add_test(pairs, test_categorical_graph);
  tcase_add_test(pairs, test_atoms_npy_shapes);
  tcase_add_test(pairs, test_atoms_text_errors);
  suite_add_tcase(s, pairs);
  TCase *layers = tcase_create("layers");
  tcase_add_checked_fixture(layers, setup_tmp, teardown_tmp);
  tcase_add_test(layers, test_conv_net);
  tcase_add_test(layers, test_attention_block);
  tcase_add_test(layers, test_reshape_net);
  suite_add_tcase(s, layers);
  int failed = tu_run_suite(s);
  return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
