/*
 * layers.h - private to the front end: the graph vocabulary as data.
 *
 * Two tables say everything about a layer that is not code:
 *   layer_keys[]  every key a layer mapping may hold: its YAML name, the
 *                 kind of value, the allowed range, the `expected ...` text,
 *                 the default and where the value is stored;
 *   layer_ops[]   every `op:` spelling: the spec_layer_op (and activation)
 *                 it means, how it reads its inputs, which keys it takes and
 *                 requires, its shape rule and its tensor check.
 * layers.c parses a layer with them, graph_check.c infers shapes with the
 * shape rules (layer_shapes.c) and checks tensors with the tensor checks
 * (layer_tensors.c).
 */
#ifndef PMMC_FRONT_LAYERS_H
#define PMMC_FRONT_LAYERS_H

#include "compiler/front/front.h"

typedef enum layer_key_id {
  /* structure: read by layers.c itself */
  LK_NAME,
  LK_OP,
  LK_INPUT,
  LK_INPUTS,
  LK_SHIFT,
  LK_SCALE,
  /* attributes: read through the table */
  LK_UNITS,
  LK_CHANNELS,
  LK_KERNEL,
  LK_STRIDE,
  LK_PADDING,
  LK_GROUPS,
  LK_HEADS,
  LK_FACTOR,
  LK_CHUNKS,
  LK_INDEX,
  LK_AXIS,
  LK_DIM,
  LK_ORDER,
  LK_ACTIVATION,
  LK_EPS,
  LK_AFFINE,
  LK_SHAPE,
  LK_PERM,
  LK_COUNT
} layer_key_id;

#define LK_BIT(k) (UINT32_C(1) << (k))

typedef enum layer_key_kind {
  LKK_STRUCTURE, /* name, op, input names: not read through the table */
  LKK_U32,       /* integer in [min, max], a multiple of `multiple` -> uint32_t */
  LKK_INT,       /* signed integer in [min, max] -> int64_t */
  LKK_POSITIVE,  /* finite number > 0 -> double */
  LKK_BOOL,      /* true or false -> int */
  LKK_ACT,       /* an activation name -> pmm_act */
  LKK_CHOICE,    /* one of choices -> int (its index) */
  LKK_INT_LIST   /* 1..SPEC_MAX_RANK integers in [min, max] (or -1 when
                  * minus_one) -> layer_list */
} layer_key_kind;

/* `shape` or `perm` as written, resolved by the shape rules. */
typedef struct layer_list {
  uint32_t n;
  int64_t v[SPEC_MAX_RANK];
  spec_loc at[SPEC_MAX_RANK]; /* each entry */
} layer_list;

/* What a layer mapping said beyond spec_layer: which keys were written and
 * where (errors found by the shape rules point at the value), and values
 * that only the input shapes resolve.  Lives while spec_load runs. */
struct layer_args {
  uint32_t given;        /* LK_BIT of each key written */
  spec_loc at[LK_COUNT]; /* each written key's value */
  int64_t axis;          /* as written or defaulted; negative counts from the end */
  layer_list list;       /* `shape` (reshape, param) or `perm` (transpose) */
};

typedef struct layer_key {
  const char *name;
  layer_key_kind kind;
  int64_t min, max;           /* U32, INT, INT_LIST entries */
  uint32_t multiple;          /* U32: 0 or 1 when any value will do */
  const char *expect;         /* completes "expected ..." */
  double def;                 /* the default, applied before reading */
  int in_args;                /* stored in layer_args instead of spec_layer */
  size_t offset;              /* where: offsetof(spec_layer or layer_args, field) */
  const char *const *choices; /* CHOICE: the names, NULL-terminated */
  int minus_one;              /* INT_LIST: -1 ("infer it") is allowed too */
} layer_key;

extern const layer_key layer_keys[LK_COUNT];

/* How a layer names its inputs. */
typedef enum layer_arity {
  LA_ONE,      /* `input`, defaulting to the previous layer */
  LA_MANY,     /* `inputs`, at least 2 */
  LA_MODULATE, /* `input` (defaulting as LA_ONE), `shift`, `scale` */
  LA_NONE      /* no input */
} layer_arity;

/* A shape rule: x->l's inputs have shapes x->in[0..ninputs); fill x->l->out
 * and the attributes shape inference resolves; 0, or -1 after an error. */
typedef struct shape_ctx {
  front_ctx *c;
  spec_layer *l;
  const layer_args *a;
  const tshape *in;
} shape_ctx;
typedef int (*layer_shape_fn)(shape_ctx *x);

/* A tensor check: declare the layer's tensors through tensor_expect (below)
 * and set has_bias / has_out_bias; `in` is the shape of input 0 (NULL for
 * an op without inputs). */
typedef struct tensor_ctx tensor_ctx;
typedef void (*layer_tensor_fn)(tensor_ctx *t, spec_layer *l, const tshape *in);

typedef struct layer_op_def {
  const char *name; /* the YAML spelling */
  spec_layer_op op;
  pmm_act act; /* activation ops: which one */
  layer_arity arity;
  uint32_t keys;     /* attribute keys it takes (LK_BIT) */
  uint32_t required; /* ... of which these must be written */
  int axis;          /* the default of `axis`, when it takes one */
  layer_shape_fn shape;
  layer_tensor_fn tensors; /* NULL: no tensors */
} layer_op_def;

#define LAYER_NOPS 25
extern const layer_op_def layer_ops[LAYER_NOPS];

/* The definition a layer was parsed with. */
const layer_op_def *layer_def(const spec_layer *l);
/* The op as the YAML wrote it ("conv2d", "silu"), for messages. */
const char *layer_kind_name(const spec_layer *l);
/* The key naming input k ("input", "inputs", "shift", "scale"). */
const char *layer_input_key(const spec_layer *l, size_t k);
/* Whether the layer reads tensors from the weights file. */
int layer_has_tensors(const spec_layer *l);

/* ---- layers.c ----------------------------------------------------------- */

/* Nonzero when s is a layer name: segments of letters, digits and '_'
 * joined by single dots, starting with a letter or '_', at most
 * FRONT_MAX_LAYER_NAME characters. */
int front_is_layer_name(const char *s);

/* ---- layer_shapes.c: the shape rules ------------------------------------ */

int shape_units(shape_ctx *x);
int shape_broadcast(shape_ctx *x);
int shape_concat(shape_ctx *x);
int shape_sinusoidal(shape_ctx *x);
int shape_same(shape_ctx *x);
int shape_conv2d(shape_ctx *x);
int shape_groupnorm(shape_ctx *x);
int shape_upsample(shape_ctx *x);
int shape_avgpool(shape_ctx *x);
int shape_attention(shape_ctx *x);
int shape_param(shape_ctx *x);
int shape_reshape(shape_ctx *x);
int shape_transpose(shape_ctx *x);
int shape_chunk(shape_ctx *x);
int shape_modulate(shape_ctx *x);
int shape_softmax(shape_ctx *x);

/* ---- layer_tensors.c: the tensor checks --------------------------------- */

struct tensor_ctx {
  front_ctx *c;
  const model_spec *s;
  unsigned char *used; /* per tensor of s->weights */
};

#define TENSOR_REQUIRED 1u
#define TENSOR_OR_BATCH1 2u /* [1] + dims is accepted too */
/* Check "<layer>.<suffix>" (suffix NULL: "<layer>") against dims[0..rank);
 * context ("" or " (input [4, 9, 9])") ends the message.  1 if present. */
int tensor_expect(tensor_ctx *t, const spec_layer *l, const char *suffix, uint32_t rank,
                  const uint64_t *dims, unsigned flags, const char *context);

void tensors_dense(tensor_ctx *t, spec_layer *l, const tshape *in);
void tensors_layernorm(tensor_ctx *t, spec_layer *l, const tshape *in);
void tensors_conv2d(tensor_ctx *t, spec_layer *l, const tshape *in);
void tensors_groupnorm(tensor_ctx *t, spec_layer *l, const tshape *in);
void tensors_attention(tensor_ctx *t, spec_layer *l, const tshape *in);
void tensors_embed(tensor_ctx *t, spec_layer *l, const tshape *in);
void tensors_param(tensor_ctx *t, spec_layer *l, const tshape *in);

/* "[d0, d1, ...]" of 64-bit dims into buf; returns buf. */
const char *front_dims_text(char *buf, size_t len, uint32_t rank, const uint64_t *dims);

#endif
