/*
 * front.h - private to the front end (compiler/front): reading a libyaml
 * document with located, uniform error messages, and the passes spec_load
 * runs over it.
 *
 *     front_ctx c = { .file = path, .doc = &doc, .dl = dl };
 *     yaml_node_t *steps = front_map_get(&c, sched, "steps");
 *     uint32_t t;
 *     if (steps) front_read_u32(&c, steps, "'schedule.steps'", "an integer >= 2", 2, 1000000, &t);
 *
 * Every value error has the form
 *     FILE:LINE:COL: error: found <what was there> for <what>, expected <what>
 * so reader functions take the phrase naming the value ("'schedule.steps'",
 * "'units' of layer 'fc1'") and the phrase describing what is allowed.
 */
#ifndef PMMC_FRONT_H
#define PMMC_FRONT_H

#include <yaml.h>

#include "compiler/front/spec.h"

/* Largest dim and element count of any value, per sample (2^24). */
#define FRONT_MAX_LEN (UINT32_C(1) << 24)
/* Largest number of schedule steps. */
#define FRONT_MAX_STEPS 1000000u
/* Longest model name (a C identifier prefixing generated symbols). */
#define FRONT_MAX_NAME 64
/* Deepest nesting of sequences and mappings in a model file (a model needs
 * 5: network, layers, a layer, shape, ...). */
#define FRONT_MAX_DEPTH 64
/* Longest layer name: dotted PyTorch module paths run longer. */
#define FRONT_MAX_LAYER_NAME 128

typedef struct front_ctx {
  const char *file; /* the YAML path as given, for messages */
  yaml_document_t *doc;
  diag_list *dl;
} front_ctx;

/* ---- yaml_read.c: node access and typed readers ------------------------- */

yaml_node_t *front_node(const front_ctx *c, int id);
spec_loc front_loc(const yaml_node_t *n);
void front_error(front_ctx *c, spec_loc loc, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* "a mapping", "a sequence", "an empty value", "'abc'", "the quoted string '5'". */
const char *front_describe(const yaml_node_t *n, char *buf, size_t len);
/* Report "found <n> for <what>, expected <expect>". */
void front_expected(front_ctx *c, const yaml_node_t *n, const char *what, const char *expect);

/* The scalar's text, or NULL (after an error naming `what`) when n is not a
 * scalar or contains a NUL byte. */
const char *front_scalar(front_ctx *c, const yaml_node_t *n, const char *what, const char *expect);

/* Check a mapping's keys: every key a name from allowed[0..n), none twice.
 * `where` completes "unknown key 'x' ..." ("in 'data'", "at the top level").
 * Returns the number of errors reported; reports and returns 1 when map is
 * not a mapping.  The _known variant also lets known[0..nknown) through
 * silently (the caller explains why they do not belong); suggestions come
 * from allowed only. */
int front_check_keys(front_ctx *c, const yaml_node_t *map, const char *what, const char *where,
                     const char *const *allowed, size_t n);
int front_check_keys_known(front_ctx *c, const yaml_node_t *map, const char *what,
                           const char *where, const char *const *allowed, size_t n,
                           const char *const *known, size_t nknown);
/* The value of the first `key` in a mapping, NULL when absent. */
yaml_node_t *front_map_get(const front_ctx *c, const yaml_node_t *map, const char *key);
/* The key node of the first `key` (for locating errors about a key itself). */
yaml_node_t *front_map_key(const front_ctx *c, const yaml_node_t *map, const char *key);
/* "missing required key '<key>' <where>", unless the mapping has a near miss
 * of key (already reported as unknown, with a suggestion). */
void front_missing(front_ctx *c, const yaml_node_t *map, const char *key, const char *where);

/* xstrdup that reports running out of memory as an error. */
char *front_strdup(front_ctx *c, const char *s);
/* rel resolved against the directory of the YAML file (absolute paths and
 * YAML files without a directory part leave it unchanged); malloc'd. */
char *front_resolve_path(front_ctx *c, const char *rel);

/* Nonzero unless x is finite and nonzero but outside float32's normal
 * range (magnitudes FLT_MIN..FLT_MAX), where storing it as a float would
 * make it infinite, zero or imprecise.  Non-finite values pass: callers
 * that take only finite numbers say so in their own words. */
int front_fits_float(double x);
/* The hint given with a number that does not fit. */
#define FRONT_FLOAT_HINT                                                                           \
  "numbers are stored as float32: magnitudes from 1.17549435e-38 to 3.40282347e+38, or 0"

/* Readers: 0 on success, -1 after reporting an error (also for a number
 * front_fits_float refuses). */
int front_read_double(front_ctx *c, const yaml_node_t *n, const char *what, const char *expect,
                      double *out);
int front_read_u32(front_ctx *c, const yaml_node_t *n, const char *what, const char *expect,
                   uint32_t min, uint32_t max, uint32_t *out);
int front_read_int(front_ctx *c, const yaml_node_t *n, const char *what, const char *expect,
                   int64_t min, int64_t max, int64_t *out);
/* YAML 1.2 core booleans: true, True, TRUE, false, False, FALSE (plain). */
int front_read_bool(front_ctx *c, const yaml_node_t *n, const char *what, int *out);
/* One of names[0..n) (an index into it); a near miss gets "did you mean". */
int front_read_choice(front_ctx *c, const yaml_node_t *n, const char *what,
                      const char *const *names, size_t count, int *out);
/* The `kind` of section mapping map (section e.g. "schedule"): its index in
 * names, or -1 after reporting it missing or unknown and checking the
 * mapping's other keys against keys[0..nkeys). */
int front_read_kind(front_ctx *c, const yaml_node_t *map, const char *section,
                    const char *const *names, size_t count, const char *const *keys, size_t nkeys);
/* Nonzero when s is a C identifier of at most FRONT_MAX_NAME characters. */
int front_is_identifier(const char *s);
/* "a, b or c" into buf. */
const char *front_join(const char *const *names, size_t n, char *buf, size_t len);

/* ---- yaml_model.c ------------------------------------------------------- */

/* What a graph layer said beyond its spec_layer (layers.h). */
typedef struct layer_args layer_args;

/* What front_parse_model could establish, so later passes skip what depends
 * on a section that already failed (no cascades). */
typedef struct front_status {
  int data_ok;            /* shape and data_elems are valid */
  int network_ok;         /* network parsed without errors */
  int weights_ok;         /* weights_path is set and should be loaded */
  layer_args *layer_args; /* graph: one per layer (malloc'd; the caller frees it) */
} front_status;

void front_parse_model(front_ctx *c, const yaml_node_t *root, model_spec *s, front_status *st);

/* ---- layers.c ----------------------------------------------------------- */

/* `network.layers` (a graph's layers) into net->layers, with what each
 * layer said beyond its spec_layer into *args (one per layer). */
void front_parse_layers(front_ctx *c, const yaml_node_t *n, spec_network *net, layer_args **args);

/* ---- data.c ------------------------------------------------------------- */

/* `data:` (shape, range, vocab, padding).  pair_known says whether s->pair
 * was readable; keys that belong to another pair are judged only then.
 * Returns 0 when shape, data_elems and (dirichlet-categorical) the vocab
 * are valid. */
int front_parse_data(front_ctx *c, const yaml_node_t *root, model_spec *s, int pair_known);

/* Decode one UTF-8 code point from s[0..n) (n >= 1) into *cp; returns its
 * length in bytes, or 0 for an invalid, overlong or surrogate sequence. */
size_t front_utf8_decode(const unsigned char *s, size_t n, uint32_t *cp);

/* ---- atoms.c ------------------------------------------------------------ */

/* Load the exact network's atom set from s->network.atoms_path (resolved;
 * s->network.atoms_loc is where the YAML names it) and, for .npy atoms, the
 * optional weights file weights_path (NULL for none; named at weights_loc).
 * Fills natoms, atoms and atom_weights (normalised; uniform without a
 * weights file or column).  Needs a valid data section.  0 on success. */
int front_load_atoms(front_ctx *c, model_spec *s, const char *weights_path, spec_loc weights_loc);

/* ---- schedule.c --------------------------------------------------------- */

void front_parse_schedule(front_ctx *c, const yaml_node_t *n, spec_schedule *s);

/* ---- graph_check.c ------------------------------------------------------ */

/* Resolve layer inputs, infer every layer's shape, check the output shape
 * against the data (unless flags has SPEC_LOAD_ANY_OUTPUT) and, when
 * weights_loaded, every layer's tensors against the weight set. */
void front_check_graph(front_ctx *c, model_spec *s, const front_status *st, int weights_loaded,
                       unsigned flags);

#endif
