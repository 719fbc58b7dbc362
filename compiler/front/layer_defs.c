/*
 * layer_defs.c - the two tables of the graph vocabulary (layers.h): every
 * key a layer may hold, and every op with its keys, shape rule and tensors.
 * docs/model-yaml.md documents the same facts for users; keep them in step.
 */
#include <stddef.h>
#include <string.h>

#include "compiler/front/layers.h"

#define MAX FRONT_MAX_LEN
#define AT_LAYER(f) 0, offsetof(spec_layer, f)
#define AT_ARGS(f) 1, offsetof(layer_args, f)
#define POSITIVE "a positive integer of at most 16777216"

static const char *const order_names[] = {"sin-cos", "cos-sin", NULL};

/* Fields: name, kind, min, max, multiple, expect, default, where, choices,
 * minus_one.
 * `padding` defaults to (kernel - 1) / 2, which shape_conv2d works out
 * when it was not written; `axis` defaults per op (layer_ops[].axis). */
const layer_key layer_keys[LK_COUNT] = {
    [LK_NAME] = {"name", LKK_STRUCTURE},
    [LK_OP] = {"op", LKK_STRUCTURE},
    [LK_INPUT] = {"input", LKK_STRUCTURE},
    [LK_INPUTS] = {"inputs", LKK_STRUCTURE},
    [LK_SHIFT] = {"shift", LKK_STRUCTURE},
    [LK_SCALE] = {"scale", LKK_STRUCTURE},
    [LK_UNITS] = {"units", LKK_U32, 1, MAX, 1, POSITIVE, 0, AT_LAYER(units)},
    [LK_CHANNELS] = {"channels", LKK_U32, 1, MAX, 1, POSITIVE, 0, AT_LAYER(channels)},
    [LK_KERNEL] = {"kernel", LKK_U32, 1, MAX, 1, POSITIVE, 2, AT_LAYER(kernel)},
    [LK_STRIDE] = {"stride", LKK_U32, 1, MAX, 1, POSITIVE, 1, AT_LAYER(stride)},
    [LK_PADDING] = {"padding", LKK_U32, 0, MAX, 1, "an integer from 0 to 16777216", 0,
                    AT_LAYER(padding)},
    [LK_GROUPS] = {"groups", LKK_U32, 1, MAX, 1, POSITIVE, 1, AT_LAYER(groups)},
    [LK_HEADS] = {"heads", LKK_U32, 1, MAX, 1, POSITIVE, 0, AT_LAYER(heads)},
    [LK_FACTOR] = {"factor", LKK_U32, 1, MAX, 1, POSITIVE, 2, AT_LAYER(factor)},
    [LK_CHUNKS] = {"chunks", LKK_U32, 1, MAX, 1, POSITIVE, 0, AT_LAYER(chunks)},
    [LK_INDEX] = {"index", LKK_U32, 0, MAX - 1, 1, "an integer from 0 to 16777215", 0,
                  AT_LAYER(index)},
    [LK_AXIS] = {"axis", LKK_INT, -SPEC_MAX_RANK, SPEC_MAX_RANK - 1, 1, "an integer from -4 to 3",
                 0, AT_ARGS(axis)},
    [LK_DIM] = {"dim", LKK_U32, 2, MAX, 2, "an even integer >= 2", 0, AT_LAYER(dim)},
    [LK_ORDER] = {"order", LKK_CHOICE, 0, 0, 1, NULL, 0, AT_LAYER(cos_first), order_names},
    [LK_ACTIVATION] = {"activation", LKK_ACT, 0, 0, 1, NULL, PMM_ACT_NONE, AT_LAYER(activation)},
    [LK_EPS] = {"eps", LKK_POSITIVE, 0, 0, 1, "a finite number > 0", 1e-5, AT_LAYER(eps)},
    [LK_AFFINE] = {"affine", LKK_BOOL, 0, 1, 1, "true or false", 1, AT_LAYER(affine)},
    [LK_SHAPE] = {"shape", LKK_INT_LIST, 1, MAX, 1,
                  "a list of 1 to 4 integers, each -1 or from 1 to 16777216", 0, AT_ARGS(list),
                  NULL, 1},
    [LK_PERM] = {"perm", LKK_INT_LIST, 0, SPEC_MAX_RANK - 1, 1,
                 "a list of 1 to 4 axes, each from 0 to 3", 0, AT_ARGS(list)},
};

#define K(k) LK_BIT(LK_##k)
#define ACT_OP(name, act)                                                                          \
  { name, SPEC_LAYER_ACT, act, LA_ONE, 0, 0, 0, shape_same, NULL }

/* Fields: name, op, activation, arity, keys, required keys, axis default,
 * shape rule, tensor check.  The order is the order of error messages. */
const layer_op_def layer_ops[] = {
    {"dense", SPEC_LAYER_DENSE, PMM_ACT_NONE, LA_ONE, K(UNITS) | K(ACTIVATION), K(UNITS), 0,
     shape_units, tensors_dense},
    {"add", SPEC_LAYER_ADD, PMM_ACT_NONE, LA_MANY, 0, 0, 0, shape_broadcast, NULL},
    {"mul", SPEC_LAYER_MUL, PMM_ACT_NONE, LA_MANY, 0, 0, 0, shape_broadcast, NULL},
    {"concat", SPEC_LAYER_CONCAT, PMM_ACT_NONE, LA_MANY, K(AXIS), 0, 0, shape_concat, NULL},
    {"sinusoidal", SPEC_LAYER_SINUSOIDAL, PMM_ACT_NONE, LA_ONE, K(DIM) | K(ORDER), K(DIM), 0,
     shape_sinusoidal, NULL},
    {"layernorm", SPEC_LAYER_LAYERNORM, PMM_ACT_NONE, LA_ONE, K(EPS) | K(AFFINE), 0, 0, shape_same,
     tensors_layernorm},
    {"conv2d", SPEC_LAYER_CONV2D, PMM_ACT_NONE, LA_ONE,
     K(CHANNELS) | K(KERNEL) | K(STRIDE) | K(PADDING) | K(GROUPS) | K(ACTIVATION),
     K(CHANNELS) | K(KERNEL), 0, shape_conv2d, tensors_conv2d},
    {"groupnorm", SPEC_LAYER_GROUPNORM, PMM_ACT_NONE, LA_ONE, K(GROUPS) | K(EPS) | K(ACTIVATION),
     K(GROUPS), 0, shape_groupnorm, tensors_groupnorm},
    {"upsample", SPEC_LAYER_UPSAMPLE, PMM_ACT_NONE, LA_ONE, K(FACTOR), 0, 0, shape_upsample, NULL},
    {"avgpool", SPEC_LAYER_AVGPOOL, PMM_ACT_NONE, LA_ONE, K(KERNEL), 0, 0, shape_avgpool, NULL},
    {"attention", SPEC_LAYER_ATTENTION, PMM_ACT_NONE, LA_ONE, K(HEADS), K(HEADS), 0,
     shape_attention, tensors_attention},
    {"embed", SPEC_LAYER_EMBED, PMM_ACT_NONE, LA_ONE, K(UNITS), K(UNITS), 0, shape_units,
     tensors_embed},
    {"param", SPEC_LAYER_PARAM, PMM_ACT_NONE, LA_NONE, K(SHAPE), K(SHAPE), 0, shape_param,
     tensors_param},
    {"reshape", SPEC_LAYER_RESHAPE, PMM_ACT_NONE, LA_ONE, K(SHAPE), K(SHAPE), 0, shape_reshape,
     NULL},
    {"transpose", SPEC_LAYER_TRANSPOSE, PMM_ACT_NONE, LA_ONE, K(PERM), K(PERM), 0, shape_transpose,
     NULL},
    {"chunk", SPEC_LAYER_CHUNK, PMM_ACT_NONE, LA_ONE, K(CHUNKS) | K(INDEX) | K(AXIS),
     K(CHUNKS) | K(INDEX), -1, shape_chunk, NULL},
    {"modulate", SPEC_LAYER_MODULATE, PMM_ACT_NONE, LA_MODULATE, 0, 0, 0, shape_modulate, NULL},
    {"softmax", SPEC_LAYER_SOFTMAX, PMM_ACT_NONE, LA_ONE, K(AXIS), 0, -1, shape_softmax, NULL},
    ACT_OP("relu", PMM_ACT_RELU),
    ACT_OP("silu", PMM_ACT_SILU),
    ACT_OP("gelu", PMM_ACT_GELU),
    ACT_OP("gelu-tanh", PMM_ACT_GELU_TANH),
    ACT_OP("tanh", PMM_ACT_TANH),
    ACT_OP("sigmoid", PMM_ACT_SIGMOID),
    ACT_OP("softplus", PMM_ACT_SOFTPLUS),
};

const layer_op_def *layer_def(const spec_layer *l) {
  for (size_t i = 0; i < LAYER_NOPS; i++)
    if (layer_ops[i].op == l->op && (l->op != SPEC_LAYER_ACT || layer_ops[i].act == l->activation))
      return &layer_ops[i];
  return NULL;
}

/* Activation layers are written by the activation's name (op: silu); "act"
 * names the family. */
const char *spec_layer_op_name(spec_layer_op op) {
  if (op == SPEC_LAYER_ACT) return "act";
  for (size_t i = 0; i < LAYER_NOPS; i++)
    if (layer_ops[i].op == op) return layer_ops[i].name;
  return "?";
}

const char *layer_kind_name(const spec_layer *l) {
  const layer_op_def *d = layer_def(l);
  return d ? d->name : "?";
}

const char *layer_input_key(const spec_layer *l, size_t k) {
  static const char *const modulate[] = {"input", "shift", "scale"};
  const layer_op_def *d = layer_def(l);
  if (d && d->arity == LA_MANY) return "inputs";
  if (d && d->arity == LA_MODULATE && k < 3) return modulate[k];
  return "input";
}

int layer_has_tensors(const spec_layer *l) {
  const layer_op_def *d = layer_def(l);
  return d && d->tensors && (l->op != SPEC_LAYER_LAYERNORM || l->affine);
}
