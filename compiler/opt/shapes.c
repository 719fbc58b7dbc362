/*
 * shapes.c - pass 'shapes' (opt.h): shape inference and verification.
 *
 * Every other pass, the interpreter and code generation size their loops
 * from an instruction's `len` and `uniform`, so those two fields must be
 * exactly what the operands and attributes imply.  This pass recomputes
 * both from scratch (tensor shapes, table widths, dims, programs, operand
 * lengths) and reports the first instruction whose recorded shape differs,
 * naming what it found and what it expected.  Whatever it cannot infer
 * (a bad operand or attribute index, mismatched operands) it leaves to
 * ir_verify, which runs last and owns the structural checks.
 */
#include "compiler/opt/opt.h"

#include <stdarg.h>

/* What an instruction's shape should be, and where that comes from. */
typedef struct shape {
  int known;         /* 0: cannot be inferred here; ir_verify decides */
  uint32_t len;
  int uniform;
  char why[160];     /* e.g. "rows of weight 'fc1.weight'" */
} shape;

static void shape_set(shape *s, uint64_t len, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void shape_set(shape *s, uint64_t len, const char *fmt, ...) {
  if (len == 0 || len > UINT32_MAX) return; /* not a length; ir_verify rejects it */
  s->known = 1;
  s->len = (uint32_t)len;
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(s->why, sizeof s->why, fmt, ap);
  va_end(ap);
}

/* Operand a of in, or NULL when its index is not a valid earlier one. */
static const ir_inst *shape_operand(const ir_block *blk, int32_t i, const ir_inst *in, uint32_t a) {
  if (a >= in->nargs || !in->args) return NULL;
  int32_t x = in->args[a];
  return x >= 0 && x < i ? &blk->insts[x] : NULL;
}

static const ir_tensor *shape_tensor(const ir_module *m, int32_t t) {
  return t >= 0 && (uint32_t)t < m->ntensors ? &m->tensors[t] : NULL;
}

/* Elementwise operands (ADD, SUB, MUL, FUSED, epilogue extras) take the
 * length of any operand that is not a uniform scalar; all scalars give 1. */
static int is_scalar(const ir_inst *x) { return x->uniform && x->len == 1; }

/* The length of instruction i from its operands and attributes. */
static void shape_infer_len(const ir_module *m, const ir_block *blk, int32_t i, shape *s) {
  const ir_inst *in = &blk->insts[i];
  const ir_inst *x = shape_operand(blk, i, in, 0), *y = shape_operand(blk, i, in, 1);
  switch (in->op) {
  case IR_OP_STATE: shape_set(s, m->state_len, "the state has %u floats", m->state_len); return;
  case IR_OP_FILL:
  case IR_OP_RANDN: return; /* the length is the instruction's own attribute */
  case IR_OP_CONST: shape_set(s, 1, "a constant is a scalar"); return;
  case IR_OP_TABLE:
    if (in->table >= 0 && (uint32_t)in->table < m->ntables)
      shape_set(s, m->tables[in->table].width, "width of table '%s'", m->tables[in->table].name);
    return;
  case IR_OP_TENSOR: {
    const ir_tensor *t = shape_tensor(m, in->weight);
    if (t) shape_set(s, t->count, "size of tensor '%s'", t->name);
    return;
  }
  case IR_OP_DENSE: {
    const ir_tensor *w = shape_tensor(m, in->weight);
    if (w && w->rank == 2) shape_set(s, w->shape[0], "rows of weight '%s'", w->name);
    return;
  }
  case IR_OP_FUSED:
    for (uint32_t a = 0; a < in->nargs; a++) {
      const ir_inst *o = shape_operand(blk, i, in, a);
      if (!o) return;
      if (!is_scalar(o)) {
        shape_set(s, o->len, "length of operand %%%d", (int)in->args[a]);
        return;
      }
    }
    shape_set(s, 1, "all operands are uniform scalars");
    return;
  case IR_OP_ADD:
  case IR_OP_SUB:
  case IR_OP_MUL:
    if (!x || !y) return;
    if (x->len == y->len || is_scalar(y))
      shape_set(s, x->len, "length of operand %%%d", (int)in->args[0]);
    else if (is_scalar(x))
      shape_set(s, y->len, "length of operand %%%d", (int)in->args[1]);
    return;
  case IR_OP_CONCAT: {
    uint64_t sum = 0;
    for (uint32_t a = 0; a < in->nargs; a++) {
      const ir_inst *o = shape_operand(blk, i, in, a);
      if (!o) return;
      sum += o->len;
    }
    shape_set(s, sum, "sum of the operands' lengths");
    return;
  }
  case IR_OP_SINUSOIDAL: shape_set(s, in->dim, "dim=%u", in->dim); return;
  case IR_OP_ARGMAX:
    if (x && in->dim && x->len % in->dim == 0)
      shape_set(s, x->len / in->dim, "one per group of %u in operand %%%d", in->dim,
                (int)in->args[0]);
    return;
  case IR_OP_EXACT_GMM:
    if (in->mixture >= 0 && (uint32_t)in->mixture < m->nmixtures)
      shape_set(s, m->mixtures[in->mixture].dim, "dim of mixture m%d", (int)in->mixture);
    return;
  case IR_OP_EXACT_ATOMS_NORMAL:
  case IR_OP_EXACT_ATOMS_GAMMA:
  case IR_OP_EXACT_ATOMS_CATEGORICAL:
    if (in->atoms >= 0 && (uint32_t)in->atoms < m->natoms) {
      const ir_atoms *a = &m->atoms[in->atoms];
      uint64_t n = a->vocab ? (uint64_t)a->dim * a->vocab : a->dim;
      shape_set(s, n, "atom set a%d", (int)in->atoms);
    }
    return;
  case IR_OP_ACT:
  case IR_OP_POISSON:
  case IR_OP_LAYERNORM:
  case IR_OP_SOFTMAX:
  case IR_OP_DIRICHLET_MEAN:
    if (x) shape_set(s, x->len, "length of operand %%%d", (int)in->args[0]);
    return;
  case IR_OP_COUNT: break;
  }
}

/* Uniformity: sources have a fixed kind (noise, fills and the state are
 * per sample; constants, tables and tensors are not); everything else is
 * uniform iff all of its operands are, which is what lets fold evaluate it
 * once a step.  -1 when an operand index is bad (ir_verify reports it). */
static int shape_infer_uniform(const ir_block *blk, int32_t i, char *why, size_t whylen) {
  const ir_inst *in = &blk->insts[i];
  switch (in->op) {
  case IR_OP_CONST:
  case IR_OP_TABLE:
  case IR_OP_TENSOR:
    snprintf(why, whylen, "a %s is one value for all rows", ir_op_name(in->op));
    return 1;
  case IR_OP_STATE:
  case IR_OP_FILL:
  case IR_OP_RANDN:
  case IR_OP_POISSON:
    snprintf(why, whylen, "a %s has a row per sample", ir_op_name(in->op));
    return 0;
  default: break;
  }
  for (uint32_t a = 0; a < in->nargs; a++) {
    const ir_inst *o = shape_operand(blk, i, in, a);
    if (!o) return -1;
    if (!o->uniform) {
      snprintf(why, whylen, "operand %%%d is per-sample", (int)in->args[a]);
      return 0;
    }
  }
  snprintf(why, whylen, "all operands are uniform");
  return 1;
}

static int shape_fail(const ir_module *m, int b, int32_t i, char *err, size_t errlen,
                      const char *what) {
  const ir_inst *in = &m->blocks[b].insts[i];
  if (in->label)
    snprintf(err, errlen, "%s block, %%%d (%s '%s'): %s", ir_block_name((ir_block_kind)b), (int)i,
             ir_op_name(in->op), in->label, what);
  else
    snprintf(err, errlen, "%s block, %%%d (%s): %s", ir_block_name((ir_block_kind)b), (int)i,
             ir_op_name(in->op), what);
  return -1;
}

int opt_infer_shapes(ir_module *m, char *err, size_t errlen) {
  char what[256];
  for (int b = 0; b < IR_BLOCK_COUNT; b++) {
    const ir_block *blk = &m->blocks[b];
    for (uint32_t k = 0; blk->insts && k < blk->count; k++) {
      int32_t i = (int32_t)k;
      const ir_inst *in = &blk->insts[i];
      if ((unsigned)in->op >= IR_OP_COUNT) continue;
      shape s = {0};
      shape_infer_len(m, blk, i, &s);
      if (s.known && s.len != in->len) {
        snprintf(what, sizeof what, "length %u, expected %u (%s)", in->len, s.len, s.why);
        return shape_fail(m, b, i, err, errlen, what);
      }
      int u = shape_infer_uniform(blk, i, s.why, sizeof s.why);
      if (u >= 0 && u != (in->uniform != 0)) {
        snprintf(what, sizeof what, "marked %s, expected %s (%s)",
                 in->uniform ? "uniform" : "per-sample", u ? "uniform" : "per-sample", s.why);
        return shape_fail(m, b, i, err, errlen, what);
      }
    }
  }
  return ir_verify(m, err, errlen);
}
