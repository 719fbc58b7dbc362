/*
 * ir.h - pmmc's one intermediate representation: a typed static graph of the
 * whole PMM sampler (network, schedule coefficients, noise, conjugate update).
 *
 * A module has three blocks, run by every consumer (interpreter, LLVM codegen)
 * over a block of `block_size` samples at once:
 *
 *     init   -> state_0                               (no state; step counter 0)
 *     step   state -> state, run for t = 1..steps     (tables indexed by t-1)
 *     final  state -> output sample                   (step counter steps + 1)
 *
 * The state is what the sampler carries from step to step: mu for the
 * normal-normal and gamma-poisson PMM and Euler-Maruyama samplers, the count
 * matrix C [L, K] for dirichlet-categorical, z for Heun (docs/samplers.md).
 * `steps` counts runs of the step block and may be 0 (Heun with T <= 2);
 * `schedule_steps` is the schedule's T, what --info reports.
 *
 * Each block is a list of instructions in SSA form; operands are indices of
 * earlier instructions of the same block, and `result` names the instruction
 * whose value leaves the block.  A value is either per-sample (len floats for
 * each of the block's rows) or uniform (len floats shared by all rows: time
 * features, per-step coefficients).  Elementwise binary ops take operands of
 * equal length, a uniform one standing for every row, or a uniform scalar
 * (len 1) on either side, broadcast over rows and elements.
 *
 *     ir_module m;
 *     ir_module_init(&m, "gmm8");
 *     ir_block *b = &m.blocks[IR_BLOCK_STEP];
 *     int mu = ir_emit(b, IR_OP_STATE, 0, NULL, 2, 0);
 *     ...
 *     b->result = ...;
 *     if (ir_verify(&m, err, sizeof err) != 0) ...
 *     opt_run_pipeline(&m, &opts, err, sizeof err);  // optimise and plan memory (opt.h)
 *     ir_print(&m, stdout);        // pmmc build --emit=ir
 *     ir_module_free(&m);
 *
 * Instruction semantics (rows = block_size, "x" = first operand, K = dim):
 *   STATE              -> the state entering the block, per-sample [state_len]
 *   FILL      fattr    -> per-sample [len], every element fattr
 *   CONST     fattr    -> uniform [1]
 *   TABLE     table    -> uniform [w] = tables[table].data[(t - 1) w .. t w - 1], w the
 *                         table's width (step block only)
 *   TENSOR    weight   -> uniform [count]: the module tensor's data (constant folding
 *                         turns uniform values of the init and final blocks into these)
 *   RANDN     stream   -> per-sample [len] N(0,1): pmm_rng_normal_block with the key
 *                         of (seed, stream), first sample = block's first index,
 *                         step counter t (init: 0; not in the final block)
 *   POISSON   stream   -> per-sample [len] Poisson(x) for a per-sample rate x:
 *                         pmm_rng_poisson_block, keyed and counted like RANDN
 *                         (lowering uses stream 1)
 *   DENSE     weight, bias -> x[in] W^T + b, len = W's rows (bias may be -1).  With an
 *                         epilogue (prog >= 0) the value is prog applied elementwise,
 *                         its ARG 0 being x W^T + b and ARG k (k >= 1) operand k
 *                         (operands 1.. are the epilogue's extra inputs)
 *   FUSED     prog     -> prog applied elementwise over len, ARG k = operand k;
 *                         the fusion pass's elementwise chains
 *   ACT       act      -> act(x) elementwise
 *   ADD, SUB, MUL      -> elementwise, computed in float as `a OP b`
 *                         (uniform operands and uniform scalars broadcast)
 *   CONCAT             -> operands side by side; a uniform operand is repeated
 *                         on every row; result is per-sample unless all are uniform
 *   SINUSOIDAL dim     -> pmm_kernel_sinusoidal of the scalar x ([1]), len = dim
 *   LAYERNORM weight, bias, fattr = eps -> pmm_kernel_layernorm
 *   SOFTMAX   dim      -> pmm_kernel_softmax over each group of K consecutive
 *                         elements of x; len = x's
 *   ARGMAX    dim      -> pmm_kernel_argmax: index (as float) of the largest
 *                         element of each group of K; len = x's / K
 *   DIRICHLET_MEAN dim, fattr = beta -> per group of K counts c_0..c_{K-1}:
 *                         y_k = (beta + c_k) / (K beta + n), computed in float
 *                         as n = ((0 + c_0) + c_1) + ..., kb = (float)K * beta,
 *                         y_k = (beta + c_k) / (kb + n); len = x's
 *   EXACT_GMM mixture  -> (mu, A): pmm_kernel_exact_gmm with the module's prior,
 *                         A a uniform scalar (cumulative precision of mu)
 *   EXACT_ATOMS_NORMAL atoms -> (mu, A): pmm_kernel_exact_atoms_normal with
 *                         the module's prior mean and precision
 *   EXACT_ATOMS_GAMMA atoms  -> (mu, A): pmm_kernel_exact_atoms_gamma with the
 *                         module's prior shape and rate
 *   EXACT_ATOMS_CATEGORICAL atoms -> (counts [L*K]):
 *                         pmm_kernel_exact_atoms_categorical with the module's
 *                         smoothing; len = L*K (P(x_l = k | counts))
 */
#ifndef PMMC_IR_H
#define PMMC_IR_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "runtime/pmmrt.h"

typedef enum ir_op {
  IR_OP_STATE,
  IR_OP_FILL,
  IR_OP_CONST,
  IR_OP_TABLE,
  IR_OP_RANDN,
  IR_OP_DENSE,
  IR_OP_ACT,
  IR_OP_ADD,
  IR_OP_SUB,
  IR_OP_MUL,
  IR_OP_CONCAT,
  IR_OP_SINUSOIDAL,
  IR_OP_LAYERNORM,
  IR_OP_EXACT_GMM,
  IR_OP_POISSON,
  IR_OP_SOFTMAX,
  IR_OP_ARGMAX,
  IR_OP_DIRICHLET_MEAN,
  IR_OP_EXACT_ATOMS_NORMAL,
  IR_OP_EXACT_ATOMS_GAMMA,
  IR_OP_EXACT_ATOMS_CATEGORICAL,
  IR_OP_TENSOR,
  IR_OP_FUSED,
  IR_OP_COUNT
} ir_op;

typedef enum ir_block_kind {
  IR_BLOCK_INIT,
  IR_BLOCK_STEP,
  IR_BLOCK_FINAL,
  IR_BLOCK_COUNT
} ir_block_kind;

typedef struct ir_inst {
  ir_op op;
  uint32_t nargs;
  int32_t *args;      /* malloc'd, nargs entries; indices into the same block */
  uint32_t len;       /* floats per row (uniform: in total) */
  uint8_t uniform;    /* 1: one value shared by all rows */
  /* attributes, by op (unused ones are 0 / -1) */
  pmm_act act;        /* ACT */
  int32_t weight;     /* DENSE, LAYERNORM: index into module tensors */
  int32_t bias;       /* DENSE, LAYERNORM: index or -1 */
  int32_t table;      /* TABLE: index into module tables */
  int32_t mixture;    /* EXACT_GMM: index into module mixtures */
  int32_t atoms;      /* EXACT_ATOMS_*: index into module atom sets */
  int32_t prog;       /* FUSED, DENSE epilogue: index into module progs, or -1 */
  uint32_t stream;    /* RANDN, POISSON */
  uint32_t dim;       /* SINUSOIDAL; SOFTMAX, ARGMAX, DIRICHLET_MEAN: group size K */
  float fattr;        /* FILL, CONST, LAYERNORM eps, DIRICHLET_MEAN beta */
  char *label;        /* source layer name or role ("xhat"), for dumps; may be NULL;
                         malloc'd, freed by ir_module_free */
  /* memory plan (opt_plan_memory, compiler/opt/plan.c): offset in floats into
   * the scratch arena */
  uint64_t offset;
} ir_inst;

typedef struct ir_block {
  ir_inst *insts;
  uint32_t count, cap;
  int32_t result;     /* -1 until set */
} ir_block;

typedef struct ir_tensor {
  char *name;         /* safetensors name, e.g. "fc1.weight" */
  uint32_t rank;
  uint64_t shape[4];
  uint64_t count;
  float *data;        /* owned */
} ir_tensor;

typedef struct ir_table {
  char *name;         /* e.g. "tau", "coef_mu" */
  uint32_t count;     /* == module steps */
  uint32_t width;     /* floats a step (>= 1); data holds count * width */
  float *data;        /* owned */
} ir_table;

/* An elementwise program (FUSED, DENSE epilogues): a straight-line list of
 * micro-ops in SSA form, each producing one float from earlier micro-ops
 * (a, b are indices of earlier uops); the last one is the result.  Every
 * consumer evaluates it in float, in this order, without contraction, so a
 * fused chain gives the bits of the unfused instructions it replaced.
 *
 *   ARG    a = operand index: the operand's element (uniform scalars broadcast,
 *          uniform vectors repeat on every row)
 *   CONST  f
 *   ADD, SUB, MUL   uops a OP b
 *   ACT    act(uop a), pmm_act_eval's formula */
typedef enum ir_uop_kind {
  IR_UOP_ARG,
  IR_UOP_CONST,
  IR_UOP_ADD,
  IR_UOP_SUB,
  IR_UOP_MUL,
  IR_UOP_ACT,
  IR_UOP_COUNT
} ir_uop_kind;

/* Longest program a consumer must handle (registers live on the stack). */
#define IR_PROG_MAX_UOPS 64

typedef struct ir_uop {
  ir_uop_kind kind;
  uint32_t a, b;
  pmm_act act;
  float f;
} ir_uop;

typedef struct ir_prog {
  uint32_t count;
  ir_uop *uops;       /* owned */
} ir_prog;

typedef struct ir_mixture {
  uint32_t k, dim;
  float *weight, *mean, *std; /* owned: [k], [k*dim], [k] */
} ir_mixture;

/* A finite atom set (pmm_atoms): k rows of dim values (symbol indices in
 * 0..vocab-1 for dirichlet-categorical, vocab 0 otherwise). */
typedef struct ir_atoms {
  uint32_t k, dim, vocab;
  float *value, *log_weight; /* owned: [k*dim], [k] */
} ir_atoms;

typedef struct ir_module {
  char *name;
  /* what the sampler is, for --info and the generated descriptor */
  char *pair, *sampler, *output, *schedule, *weight_hash, *vocab; /* owned; vocab may be NULL */
  uint32_t steps;           /* runs of the step block (t = 1..steps); may be 0 */
  uint32_t schedule_steps;  /* the schedule's T (>= 1) */
  uint32_t nfe;             /* network evaluations per sample, whole chain */
  uint32_t rank;
  uint64_t shape[4];
  uint32_t state_len;       /* floats of state per sample */
  uint32_t out_len;         /* floats of output per sample */
  double prior_mean, prior_precision;  /* normal-normal: EXACT_GMM, EXACT_ATOMS_NORMAL */
  double prior_shape, prior_rate;      /* gamma-poisson: EXACT_ATOMS_GAMMA */
  double prior_concentration, prior_smoothing; /* dirichlet-categorical */
  uint32_t vocab_size;      /* categorical: K symbols, else 0 */
  int32_t pad_symbol;       /* categorical: padding symbol index, -1 for none */
  double range_lo, range_hi; /* data range for --format png */
  uint32_t block_size;      /* samples per block, default 64 */

  ir_tensor *tensors; uint32_t ntensors, cap_tensors;
  ir_table *tables;   uint32_t ntables, cap_tables;
  ir_mixture *mixtures; uint32_t nmixtures, cap_mixtures;
  ir_atoms *atoms;    uint32_t natoms, cap_atoms;
  ir_prog *progs;     uint32_t nprogs, cap_progs;
  ir_block blocks[IR_BLOCK_COUNT];

  /* memory plan: the state buffer and every instruction value live in one
   * per-worker arena of scratch_floats floats */
  uint64_t state_offset;
  uint64_t scratch_floats;
} ir_module;

/* An empty module: no blocks, steps 0, pad_symbol -1, block_size 64. */
int ir_module_init(ir_module *m, const char *name);
void ir_module_free(ir_module *m);
/* Free a block's instructions and leave it empty (result -1); for passes
 * that rebuild a block. */
void ir_block_free(ir_block *b);

/* Append an instruction; returns its index or -1 when out of memory.
 * args is copied.  Attributes are set on the returned instruction afterwards
 * (b->insts[i].act = ...), all defaulted to 0 / -1. */
int32_t ir_emit(ir_block *b, ir_op op, uint32_t nargs, const int32_t *args, uint32_t len,
                int uniform);

/* Add module-level data (copied); return the index or -1 when out of memory. */
int32_t ir_add_tensor(ir_module *m, const char *name, uint32_t rank, const uint64_t *shape,
                      const float *data);
int32_t ir_add_table(ir_module *m, const char *name, uint32_t count, const float *data);
/* A table of `width` floats a step: data holds count * width floats. */
int32_t ir_add_table_rows(ir_module *m, const char *name, uint32_t count, uint32_t width,
                          const float *data);
int32_t ir_add_prog(ir_module *m, uint32_t count, const ir_uop *uops);
int32_t ir_add_mixture(ir_module *m, uint32_t k, uint32_t dim, const float *weight,
                       const float *mean, const float *std);
int32_t ir_add_atoms(ir_module *m, uint32_t k, uint32_t dim, uint32_t vocab, const float *value,
                     const float *log_weight);

const char *ir_op_name(ir_op op);
const char *ir_uop_name(ir_uop_kind k);
const char *ir_block_name(ir_block_kind k);

/* Check operand indices, operand counts, lengths and uniformity, attribute
 * indices and atom sets, that STATE/TABLE/RANDN/POISSON appear only where
 * they mean something and that each block's result has the right length.
 * 0 when valid. */
int ir_verify(const ir_module *m, char *err, size_t errlen);

/* Floating-point operations per sample for the whole chain (init + steps *
 * step + final); uniform values are computed once per block, so they count
 * 1/block_size each.  The cost model is documented in ir_count.c. */
uint64_t ir_count_flops(const ir_module *m);
/* Bytes of tensor, table, mixture and atom data. */
uint64_t ir_count_weight_bytes(const ir_module *m);

/* The runtime descriptor's description of m (strings point into m and
 * engine; run_block, user and build are left NULL), shared by the
 * interpreter and the code generator so both report the same figures. */
void ir_describe(const ir_module *m, const char *engine, pmm_model_desc *d);

/* The value of a non-ARG uop given the earlier registers, in float as ir.h
 * spells it (the reference evaluation of a program). */
float ir_uop_apply(const ir_uop *op, const float *reg);

/* The textual form used by --emit=ir and golden tests. */
void ir_print(const ir_module *m, FILE *out);

#endif
