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
 * Every op's operands, attributes, shape rule, cost and kernels are one
 * line of compiler/ir/ir_ops.def, which also states its semantics.  Every
 * value has a per-row shape (tshape, PyTorch order: [C, H, W], [L, E], [n]);
 * ir_set_shape infers it from the operands and attributes, and the 'shapes'
 * pass re-infers the whole module.
 */
#ifndef PMMC_IR_H
#define PMMC_IR_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "compiler/util/tshape.h"
#include "runtime/pmmrt.h"

/* Operand count of ops that take one or more (ir_ops.def). */
#define IR_ARGS_ANY (-1)
/* Most operands an instruction may have (consumers keep them on the stack). */
#define IR_MAX_ARGS 1024

/* Op flags (ir_ops.def). */
#define IR_OPF_UNIFORM 0x01u     /* a source whose value is always uniform */
#define IR_OPF_PER_SAMPLE 0x02u  /* always per-sample (sources, noise) */
#define IR_OPF_NOT_INIT 0x04u    /* not in the init block (no state yet) */
#define IR_OPF_STEP_ONLY 0x08u   /* only in the step block */
#define IR_OPF_NOT_FINAL 0x10u   /* not in the final block (no noise there) */
#define IR_OPF_FOLD 0x20u        /* folding may evaluate it when its operands are constant */
#define IR_OPF_ELEMENTWISE 0x40u /* one float of each operand in, one out: fusable */
#define IR_OPF_OUTLINE 0x80u     /* a large kernel: code generation gives it a function */
/* may turn a NaN or infinite operand into a number (a Poisson draw at a NaN
 * rate is 0): samplers check its operands (ir_watched_values) */
#define IR_OPF_HIDES_NONFINITE 0x100u

/* Attributes an op reads (ir_ops.def): printed by ir_print, checked by ir_verify. */
#define IR_ATTR_ACT 0x0001u
#define IR_ATTR_WEIGHT 0x0002u
#define IR_ATTR_BIAS 0x0004u
#define IR_ATTR_TABLE 0x0008u
#define IR_ATTR_MIXTURE 0x0010u
#define IR_ATTR_ATOMS 0x0020u
#define IR_ATTR_PROG 0x0040u
#define IR_ATTR_STREAM 0x0080u
#define IR_ATTR_DIM 0x0100u
#define IR_ATTR_AXIS 0x0200u
#define IR_ATTR_START 0x0400u
#define IR_ATTR_CONV 0x0800u /* stride, pad, groups */
#define IR_ATTR_GROUPS 0x1000u
#define IR_ATTR_FACTOR 0x2000u
#define IR_ATTR_HEADS 0x4000u
#define IR_ATTR_PERM 0x8000u
#define IR_ATTR_ORDER 0x10000u
#define IR_ATTR_VALUE 0x20000u /* fattr as a value */
#define IR_ATTR_EPS 0x40000u   /* fattr as eps */
#define IR_ATTR_BETA 0x80000u  /* fattr as a concentration */

typedef enum ir_op {
#define OP(id, name, args, flags, attrs, shape, cost, scratch, exec, emit) IR_OP_##id,
#include "compiler/ir/ir_ops.def"
#undef OP
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
  int32_t *args;   /* malloc'd, nargs entries; indices into the same block */
  tshape shape;    /* per-row shape, PyTorch order (ir_infer_shape) */
  uint32_t len;    /* floats per row (uniform: in total): the shape's element count */
  uint8_t uniform; /* 1: one value shared by all rows */
  /* attributes, by op (ir_ops.def says which op uses which; unused ones are 0 / -1) */
  pmm_act act;     /* ACT */
  int32_t weight;  /* DENSE, CONV2D, LAYERNORM, GROUPNORM, TENSOR: index into module tensors
                      (LAYERNORM: -1 without affine) */
  int32_t bias;    /* DENSE, CONV2D, LAYERNORM, GROUPNORM: index or -1 */
  int32_t table;   /* TABLE: index into module tables */
  int32_t mixture; /* EXACT_GMM: index into module mixtures */
  int32_t atoms;   /* EXACT_ATOMS_*: index into module atom sets */
  int32_t prog;    /* FUSED, DENSE epilogue: index into module progs, or -1 */
  uint32_t stream; /* RANDN, POISSON */
  uint32_t dim;    /* SINUSOIDAL; ARGMAX, DIRICHLET_MEAN: group size K */
  uint32_t axis;   /* CONCAT, SOFTMAX, SLICE: axis of the shape (0..rank-1) */
  uint32_t start;  /* SLICE: first index along axis */
  uint32_t stride, pad, groups;  /* CONV2D (groups also GROUPNORM) */
  uint32_t factor;               /* UPSAMPLE factor, AVGPOOL kernel */
  uint32_t heads;                /* ATTENTION */
  uint8_t perm[TSHAPE_MAX_RANK]; /* TRANSPOSE: result axis i is operand axis perm[i] */
  uint8_t cos_first;             /* SINUSOIDAL: cos before sin */
  float fattr;                   /* FILL, CONST, LAYERNORM/GROUPNORM eps, DIRICHLET_MEAN beta */
  char *label;                   /* source layer name or role ("xhat"), for dumps; may be NULL;
                                    malloc'd, freed by ir_module_free */
  /* memory plan (opt_plan_memory, compiler/opt/plan.c): offset in floats into
   * the scratch arena */
  uint64_t offset;
} ir_inst;

typedef struct ir_block {
  ir_inst *insts;
  uint32_t count, cap;
  int32_t result; /* -1 until set */
} ir_block;

typedef struct ir_tensor {
  char *name; /* safetensors name, e.g. "fc1.weight" */
  uint32_t rank;
  uint64_t shape[4];
  uint64_t count;
  float *data; /* owned */
} ir_tensor;

typedef struct ir_table {
  char *name;     /* e.g. "tau", "coef_mu" */
  uint32_t count; /* == module steps */
  uint32_t width; /* floats a step (>= 1); data holds count * width */
  float *data;    /* owned */
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
  ir_uop *uops; /* owned */
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
  uint32_t steps;          /* runs of the step block (t = 1..steps); may be 0 */
  uint32_t schedule_steps; /* the schedule's T (>= 1) */
  uint32_t nfe;            /* network evaluations per sample, whole chain */
  uint32_t rank;
  uint64_t shape[4];
  uint32_t state_len;                 /* floats of state per sample */
  uint8_t state_in;                   /* 1: the caller writes the state before a block run and the
                                         init block is empty (pmmc predict: the network's inputs) */
  uint8_t check_finite;               /* 1 (the default): a block run that meets NaN or infinity
                                         fails (docs/samplers.md); needs state_in 0, since the
                                         block then runs again from init to find the value.
                                         0 for pmmc predict, which returns the network's values
                                         as they are */
  tshape state_shape;                 /* the state's per-sample shape (data shape; [L, K] counts for
                                         dirichlet-categorical) */
  uint32_t out_len;                   /* floats of output per sample */
  double prior_mean, prior_precision; /* normal-normal: EXACT_GMM, EXACT_ATOMS_NORMAL */
  double prior_shape, prior_rate;     /* gamma-poisson: EXACT_ATOMS_GAMMA */
  double prior_concentration, prior_smoothing; /* dirichlet-categorical */
  uint32_t vocab_size;                         /* categorical: K symbols, else 0 */
  int32_t pad_symbol;                          /* categorical: padding symbol index, -1 for none */
  double range_lo, range_hi;                   /* data range for --format png */
  uint32_t block_size;                         /* samples per block, default 64 */

  ir_tensor *tensors;
  uint32_t ntensors, cap_tensors;
  ir_table *tables;
  uint32_t ntables, cap_tables;
  ir_mixture *mixtures;
  uint32_t nmixtures, cap_mixtures;
  ir_atoms *atoms;
  uint32_t natoms, cap_atoms;
  ir_prog *progs;
  uint32_t nprogs, cap_progs;
  ir_block blocks[IR_BLOCK_COUNT];

  /* memory plan: the state buffer and every instruction value live in one
   * per-worker arena of scratch_floats floats */
  uint64_t state_offset;
  uint64_t work_offset, work_floats; /* kernel workspace (attention), shared by all */
  uint64_t scratch_floats;
} ir_module;

/* An empty module: no blocks, steps 0, pad_symbol -1, block_size 64,
 * check_finite 1. */
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

/* An op's row of ir_ops.def. */
typedef int (*ir_shape_fn)(const ir_module *m, const ir_block *b, const ir_inst *in, tshape *out,
                           char *why, size_t whylen);
typedef uint64_t (*ir_cost_fn)(const ir_module *m, const ir_block *b, const ir_inst *in);

typedef struct ir_op_info {
  const char *name;
  int32_t args;       /* operand count, or IR_ARGS_ANY */
  uint32_t flags;     /* IR_OPF_* */
  uint32_t attrs;     /* IR_ATTR_* */
  ir_shape_fn shape;  /* checks operands and attributes; the result's per-row shape */
  ir_cost_fn cost;    /* FLOPs per row */
  ir_cost_fn scratch; /* floats of kernel workspace for a block run; NULL: none */
} ir_op_info;

/* The table row of op (op < IR_OP_COUNT). */
const ir_op_info *ir_op_get(ir_op op);

/* Instruction i of block k: check its operand indices and count, then
 * infer its per-row shape and uniformity from its operands and attributes
 * (the op's shape rule).  0, or -1 with the reason in why. */
int ir_infer_shape(const ir_module *m, ir_block_kind k, int32_t i, tshape *shape, int *uniform,
                   char *why, size_t whylen);
/* ir_infer_shape, then store shape, len and uniform in the instruction;
 * -1 with a message naming block and instruction. */
int ir_set_shape(ir_module *m, ir_block_kind k, int32_t i, char *err, size_t errlen);
/* Append an instruction whose shape is given (rank 0: to be inferred with
 * ir_set_shape once its attributes are set). */
int32_t ir_emit_shaped(ir_block *b, ir_op op, uint32_t nargs, const int32_t *args,
                       const tshape *shape, int uniform);
/* Output size of a window of k sliding by stride over n elements padded by
 * pad on both sides; 0 when no window fits. */
uint32_t ir_conv_out_dim(uint32_t n, uint32_t k, uint32_t stride, uint32_t pad);
/* "step %4 (dense 'fc1')": how messages name an instruction. */
void ir_inst_where(const ir_block *blk, ir_block_kind k, int32_t i, char *buf, size_t len);

/* What a sampler's run-time message calls instruction i (pmm_check_finite's
 * `where`): "layer 'fc2'" after its label (a layer's name or a role such as
 * 'rate'), "table 'coef_mu'" or "tensor 'w'" for unlabelled data, else
 * "%i (op)". */
void ir_inst_name(const ir_module *m, const ir_block *blk, int32_t i, char *buf, size_t len);

/* The values a sampler checks for NaN and infinities every time block k
 * runs (docs/samplers.md): the block's result and every operand of an op
 * flagged IR_OPF_HIDES_NONFINITE, the only places where a non-finite value
 * can leave the chain or turn back into a number unseen.  STATE values are
 * left out: the state entering a block was the previous block's result.
 * watched receives a flag for each instruction of the block. */
void ir_watched_values(const ir_module *m, ir_block_kind k, uint8_t *watched);

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
