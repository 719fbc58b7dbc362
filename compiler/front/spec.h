/*
 * spec.h - the checked model specification: what a model YAML file says,
 * validated, with the source location of every part kept for later errors.
 *
 *     model_spec spec;
 *     diag_list dl;
 *     diag_list_init(&dl);
 *     if (spec_load("models/gmm8/model.yaml", &spec, &dl) != 0) {
 *         diag_print(&dl, stderr);     // file:line:col: error: ...
 *     } else {
 *         ... lower_model(&spec, ...) ...
 *         spec_free(&spec);
 *     }
 *
 * spec_load parses the YAML (libyaml document API), checks every key, type and
 * value (which keys exist depends on the pair: docs/model-yaml.md), resolves
 * `weights:` and an exact network's `atoms:` / `atom_weights:` relative to the
 * YAML file and loads them (safetensors, see weights.h; .npy or text), infers
 * every layer's per-sample output shape (`out`), resolving the attributes
 * that depend on the input (axes, a reshape's -1, a conv's default padding),
 * and checks each layer's tensors against them under PyTorch's names and
 * layouts ("<layer>.weight" [units, in], "<layer>.bias" [units], ...; biases
 * may be absent, as PyTorch's bias=False omits them).  A spec that loads is
 * fully checked: lowering never has to report a user error.
 */
#ifndef PMMC_SPEC_H
#define PMMC_SPEC_H

#include <stddef.h>
#include <stdint.h>

#include "compiler/front/weights.h"
#include "compiler/util/diag.h"
#include "compiler/util/tshape.h"
#include "runtime/pmmrt.h"

#define SPEC_MAX_RANK TSHAPE_MAX_RANK

/* Where something was written: 1-based line and column in spec->path. */
typedef struct spec_loc {
  int line, col;
} spec_loc;

typedef enum spec_pair {
  SPEC_PAIR_NORMAL_NORMAL,
  SPEC_PAIR_GAMMA_POISSON,
  SPEC_PAIR_DIRICHLET_CATEGORICAL
} spec_pair;

typedef enum spec_schedule_kind {
  SPEC_SCHEDULE_GEOMETRIC, /* start, end */
  SPEC_SCHEDULE_LINEAR,    /* start, end */
  SPEC_SCHEDULE_KARRAS,    /* sigma_min, sigma_max, rho */
  SPEC_SCHEDULE_TABLE      /* values */
} spec_schedule_kind;

typedef struct spec_schedule {
  spec_schedule_kind kind;
  uint32_t steps;    /* T >= 1 (for table: number of values) */
  double start, end; /* geometric, linear: A_1 and A_T */
  double sigma_min, sigma_max, rho;
  double *values; /* table: A_1..A_T, malloc'd */
  spec_loc loc;
} spec_schedule;

typedef enum spec_sampler_kind {
  SPEC_SAMPLER_PMM,
  SPEC_SAMPLER_EULER_MARUYAMA,
  SPEC_SAMPLER_HEUN
} spec_sampler_kind;

typedef enum spec_output { SPEC_OUTPUT_POSTERIOR_MEAN, SPEC_OUTPUT_PREDICTION } spec_output;

typedef enum spec_network_kind { SPEC_NETWORK_EXACT, SPEC_NETWORK_GRAPH } spec_network_kind;

/* Layer ops, as written in `op:` (docs/model-yaml.md has every key). */
typedef enum spec_layer_op {
  SPEC_LAYER_DENSE,      /* input, units, activation: nn.Linear over the last axis */
  SPEC_LAYER_ADD,        /* inputs (>= 2), NumPy broadcasting, left to right */
  SPEC_LAYER_MUL,        /* inputs (>= 2), NumPy broadcasting, left to right */
  SPEC_LAYER_CONCAT,     /* inputs (>= 2), axis */
  SPEC_LAYER_SINUSOIDAL, /* input ([1]), dim (even), order */
  SPEC_LAYER_LAYERNORM,  /* input, eps, affine: over the last axis */
  SPEC_LAYER_CONV2D,     /* input [C,H,W], channels, kernel, stride, padding, groups, activation */
  SPEC_LAYER_GROUPNORM,  /* input [C,...], groups, eps, activation */
  SPEC_LAYER_UPSAMPLE,   /* input [C,H,W], factor: nearest */
  SPEC_LAYER_AVGPOOL,    /* input [C,H,W], kernel (stride = kernel) */
  SPEC_LAYER_ATTENTION,  /* input [L,E], heads: nn.MultiheadAttention self-attention */
  SPEC_LAYER_EMBED,      /* input [..., K], units: x @ W, W [K, units] */
  SPEC_LAYER_PARAM,      /* no input; shape: a learned tensor */
  SPEC_LAYER_RESHAPE,    /* input, shape (one -1) */
  SPEC_LAYER_TRANSPOSE,  /* input, perm */
  SPEC_LAYER_CHUNK,      /* input, chunks, index, axis */
  SPEC_LAYER_MODULATE,   /* inputs = {input, shift, scale}: x * (1 + scale) + shift */
  SPEC_LAYER_SOFTMAX,    /* input, axis */
  SPEC_LAYER_ACT         /* input; `activation` says which (op: silu, gelu-tanh, ...) */
} spec_layer_op;

typedef struct spec_layer {
  char *name; /* may contain dots: "down.0.conv1" */
  spec_layer_op op;
  char **inputs; /* names: "mu", "time" or an earlier layer; modulate: input, shift,
                  * scale; param: none */
  spec_loc *input_locs;
  size_t ninputs;               /* a missing `input:` defaults to the previous layer */
  uint32_t units;               /* dense, embed */
  uint32_t channels;            /* conv2d: output channels */
  uint32_t kernel;              /* conv2d (required), avgpool (default 2; stride = kernel) */
  uint32_t stride;              /* conv2d (default 1) */
  uint32_t padding;             /* conv2d: zeros on each side of H and W; when not written,
                                 * (kernel - 1) / 2, filled in by shape inference */
  uint32_t groups;              /* conv2d (default 1), groupnorm (required); divides the channels */
  uint32_t heads;               /* attention; divides E */
  uint32_t factor;              /* upsample (default 2) */
  uint32_t chunks, index;       /* chunk: torch.chunk(x, chunks, axis)[index] */
  uint32_t axis;                /* concat (default 0), chunk, softmax (default -1): normalised to
                                 * 0..rank-1 of the (first) input by shape inference */
  uint32_t dim;                 /* sinusoidal: the output length (even) */
  int cos_first;                /* sinusoidal: 1 for order cos-sin, 0 for sin-cos (default) */
  pmm_act activation;           /* dense, conv2d, groupnorm (default none, applied after the op);
                                 * SPEC_LAYER_ACT: the activation the op names */
  double eps;                   /* layernorm, groupnorm, default 1e-5 */
  int affine;                   /* layernorm, default 1; 0: no tensors */
  uint32_t perm[SPEC_MAX_RANK]; /* transpose: out.dim[i] = input dim perm[i]; one entry per
                                 * input axis (out.rank entries) */
  tshape target;                /* reshape: `shape` with its -1 resolved; param: `shape`; both
                                 * equal `out` */
  int has_bias;                 /* present in the weights: "<name>.bias" (dense, conv2d, layernorm,
                                 * groupnorm, which requires it) or "<name>.in_proj_bias"
                                 * (attention); 0 for every other op */
  int has_out_bias;             /* attention: "<name>.out_proj.bias" present */
  tshape out;                   /* filled by the front end's shape inference: the
                                 * per-sample output shape (time is [1]; mu is the data
                                 * shape, [L, K] for dirichlet-categorical) */
  spec_loc loc;                 /* the layer's mapping */
} spec_layer;

typedef struct spec_component {
  double weight;
  double *mean; /* [data_elems] */
  double std;
  spec_loc loc;
} spec_component;

typedef struct spec_network {
  spec_network_kind kind;
  /* exact: a Gaussian mixture (normal-normal) ... */
  spec_component *mixture;
  size_t ncomponents;
  /* ... or a finite atom set (every pair): `atoms: FILE` (.npy rows [k, D]
   * for normal-normal and gamma-poisson; for dirichlet-categorical a text
   * file, one sequence per line, optional TAB and weight), optional
   * `atom_weights: FILE.npy` [k] for .npy atoms.  Paths relative to the YAML. */
  char *atoms_path;
  spec_loc atoms_loc;
  uint64_t natoms;
  float *atoms;         /* [natoms, data_elems]: values, or symbol indices
                         * for dirichlet-categorical (short sequences padded
                         * with the padding symbol 0) */
  double *atom_weights; /* [natoms], positive, normalised to sum 1 (uniform when
                         * the model gives no weights) */
  /* graph */
  spec_layer *layers;
  size_t nlayers;
  char *output; /* layer name; defaults to the last layer */
  spec_loc output_loc;
  spec_loc loc;
} spec_network;

typedef struct model_spec {
  char *path; /* the YAML file as given */
  char *name; /* C identifier */
  spec_loc name_loc;
  spec_pair pair;
  uint32_t rank;
  uint32_t shape[SPEC_MAX_RANK];
  uint64_t data_elems; /* product of shape */
  spec_loc data_loc;
  double data_range[2]; /* data.range: [lo, hi] for --format png, default [0, 1] */
  /* dirichlet-categorical: data.vocab is a string, one symbol per UTF-8
   * code point; with data.padding: true the first symbol is padding */
  char **vocab;
  uint32_t vocab_size;                         /* K */
  int pad_symbol;                              /* 0 when data.padding is true, else -1 */
  double prior_mean, prior_precision;          /* normal-normal */
  double prior_shape, prior_rate;              /* gamma-poisson: Gamma(shape a0, rate b0) */
  double prior_concentration, prior_smoothing; /* dirichlet-categorical: beta > 0, eps in [0, 1) */
  spec_loc prior_loc;
  spec_schedule schedule;
  spec_sampler_kind sampler;
  spec_output output;
  spec_loc sampler_loc;
  spec_network network;
  char *weights_path; /* resolved relative to the YAML file; NULL if none */
  spec_loc weights_loc;
  weight_set weights; /* loaded from weights_path (empty when none) */
} model_spec;

/* Parse, check and load.  Returns 0 on success; otherwise nonzero with at
 * least one error in dl and *spec zeroed (nothing to free). */
int spec_load(const char *path, model_spec *spec, diag_list *dl);
/* spec_load with flags: SPEC_LOAD_ANY_OUTPUT skips the check that the
 * output layer has the data shape (or its flattening), for `pmmc predict`,
 * which evaluates the network alone. */
#define SPEC_LOAD_ANY_OUTPUT 1u
int spec_load_flags(const char *path, unsigned flags, model_spec *spec, diag_list *dl);
void spec_free(model_spec *spec);

/* The YAML spelling of enum values ("normal-normal", "geometric", ...);
 * spec_layer_op_name(SPEC_LAYER_ACT) is "act" (an activation layer is
 * written with its activation's name: op: silu). */
const char *spec_pair_name(spec_pair p);
const char *spec_schedule_kind_name(spec_schedule_kind k);
const char *spec_sampler_kind_name(spec_sampler_kind k);
const char *spec_output_name(spec_output o);
const char *spec_layer_op_name(spec_layer_op op);

/* Cumulative precisions A_1..A_T of the schedule into a[0..steps-1]
 * (docs/model-yaml.md, `schedule`; a must hold schedule.steps doubles). */
void spec_schedule_values(const spec_schedule *s, double *a);

#endif
