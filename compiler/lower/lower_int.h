/*
 * lower_int.h - private to compiler/lower: the context shared by the three
 * parts of lowering.
 *
 *   lower.c          entry point, module header (checks, prior, shapes),
 *                    module strings and weight hash, emit helpers
 *   lower_net.c      the network: graph layers, exact mixtures and atom sets,
 *                    and the pair's output mapping (softplus, softmax)
 *   lower_sampler.c  per-step coefficient tables and the init, step and final
 *                    blocks of each pair and sampler (docs/samplers.md)
 *
 *     int32_t xhat = lower_network(c, &(lower_inputs){IR_BLOCK_STEP, mu, -1, 0, -1, -1});
 *
 * Every function returning an instruction index returns -1 after putting an
 * error in c->dl (out of memory or an internal inconsistency).
 */
#ifndef PMMC_LOWER_INT_H
#define PMMC_LOWER_INT_H

#include "compiler/lower/lower.h"
#include "compiler/util/strmap.h"

/* Per-step tables.  "Point" kinds hold a value at schedule index
 * s = t - 1 + shift (shift 0..2, named "", "[t]", "[t+1]"); the others hold
 * the coefficients of step t (A_{t-1} -> A_t), or for Heun of the interval
 * sigma_t -> sigma_{t+1}.  Formulas at lower_coef in lower_sampler.c. */
typedef enum lower_table_kind {
  LOWER_TABLE_TAU,        /* point: ln(1 + A_s), the network's time input */
  LOWER_TABLE_A,          /* point: A_s, precision input of exact networks */
  LOWER_TABLE_MU_SCALE,   /* point: A_s / lambda_s (Heun: z -> mu) */
  LOWER_TABLE_MU_SHIFT,   /* point: lambda0 m0 / lambda_s */
  LOWER_TABLE_COEF_MU,    /* pmm: lambda_{t-1} / lambda_t */
  LOWER_TABLE_COEF_XHAT,  /* pmm: alpha_t / lambda_t */
  LOWER_TABLE_COEF_NOISE, /* pmm: sqrt(alpha_t) / lambda_t */
  LOWER_TABLE_EM_MU,      /* euler-maruyama: 1 - alpha_t / lambda_{t-1} */
  LOWER_TABLE_EM_XHAT,    /* euler-maruyama: alpha_t / lambda_{t-1} */
  LOWER_TABLE_EM_NOISE,   /* euler-maruyama: sqrt(alpha_t) / lambda_{t-1} */
  LOWER_TABLE_ALPHA,      /* alpha_t, the Poisson rate scale */
  LOWER_TABLE_GAMMA_MU,   /* gamma-poisson: b_{t-1} / b_t */
  LOWER_TABLE_GAMMA_Y,    /* gamma-poisson: 1 / b_t */
  LOWER_TABLE_HEUN_K,     /* heun: sigma_{t+1} / sigma_t - 1 */
  LOWER_TABLE_HEUN_C1,    /* heun: (sigma_{t+1} - sigma_t) / (2 sigma_t) */
  LOWER_TABLE_HEUN_C2,    /* heun: (sigma_{t+1} - sigma_t) / (2 sigma_{t+1}) */
  LOWER_TABLE_COUNT
} lower_table_kind;

#define LOWER_SHIFTS 3

typedef struct lower_ctx {
  const model_spec *spec;
  ir_module *m;
  diag_list *dl;
  double *A;                                      /* A_0..A_T (T + 1 entries) */
  int32_t table[LOWER_TABLE_COUNT][LOWER_SHIFTS]; /* module table index, -1 until used */
  int32_t mixture;                                /* module mixture index, -1 until used */
  int32_t atoms;                                  /* module atom set index, -1 until used */
  strmap tensors;     /* module tensor name -> index: graphs may have 10^5 */
  int32_t *value;     /* graph: a layer's instruction in the current block */
  uint8_t *live;      /* graph: layer reachable from the output */
  size_t out_layer;   /* graph: index of the output layer */
  const char *output; /* graph: the layer to treat as the output, NULL: network.output */
  tshape mu_shape;    /* the graph's `mu` input: the data shape, [L, K] for categorical */
  int failed;         /* an error is already in dl */
} lower_ctx;

/* Where the network's inputs come from in the block being built. */
typedef struct lower_inputs {
  ir_block_kind block;
  int32_t state; /* mu (normal, gamma), or the counts C (categorical) */
  int32_t mu;    /* the graph's "mu" input: the state, or for categorical
                  * DIRICHLET_MEAN(C), emitted on first use (-1 before) */
  uint32_t at;   /* step block: table shift of the time inputs;
                  * other blocks: their schedule index s */
  int32_t tau;   /* time feature, emitted on first use (-1 before) */
  int32_t A;     /* cumulative precision, emitted on first use (-1 before) */
} lower_inputs;

/* lower.c */
int lower_oom(lower_ctx *c);
int lower_error_at(lower_ctx *c, spec_loc loc, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
int32_t lower_emit(lower_ctx *c, ir_block_kind bk, ir_op op, uint32_t nargs, const int32_t *args,
                   uint32_t len);
/* lower_emit with the result's shape given (sources whose shape is their
 * own: fill, noise, reshape).  Other instructions get their shapes from
 * ir_set_shape once the module is lowered. */
int32_t lower_emit_shaped(lower_ctx *c, ir_block_kind bk, ir_op op, uint32_t nargs,
                          const int32_t *args, const tshape *shape);
/* a OP b for elementwise ops; length of the longer operand (scalars broadcast). */
int32_t lower_binary(lower_ctx *c, ir_block_kind bk, ir_op op, int32_t a, int32_t b);
/* A uniform scalar CONST. */
int32_t lower_const(lower_ctx *c, ir_block_kind bk, double v);
int lower_label(lower_ctx *c, ir_block_kind bk, int32_t i, const char *label);

/* lower_sampler.c */
double lower_coef(const lower_ctx *c, lower_table_kind k, uint32_t s);
/* A TABLE read of kind k (shift for point kinds, else 0) in the step block. */
int32_t lower_table_read(lower_ctx *c, lower_table_kind k, uint32_t shift);
int lower_blocks(lower_ctx *c);

/* lower_net.c: xhat (normal-normal, gamma-poisson) or p (categorical,
 * [L*K] per-position probabilities) at io's state and time. */
int32_t lower_network(lower_ctx *c, lower_inputs *io);
/* The graph's output layer itself, before the pair's mapping. */
int32_t lower_network_raw(lower_ctx *c, lower_inputs *io);

#endif
