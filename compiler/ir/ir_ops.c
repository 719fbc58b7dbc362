/*
 * ir_ops.c - the op table (ir_ops.def) and what is decided from it alone:
 * names, operand counts and uniformity, and shape inference.
 */
#include "compiler/ir/ir_shapes.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static const ir_op_info ops[IR_OP_COUNT] = {
#define OP(id, name, args, flags, attrs, shape, cost, scratch, exec, emit)                         \
  [IR_OP_##id] = {name, args, flags, attrs, shape, cost, scratch},
#include "compiler/ir/ir_ops.def"
#undef OP
};

const ir_op_info *ir_op_get(ir_op op) { return &ops[op]; }

const char *ir_op_name(ir_op op) { return (unsigned)op < IR_OP_COUNT ? ops[op].name : "?"; }

void ir_inst_where(const ir_block *blk, ir_block_kind k, int32_t i, char *buf, size_t len) {
  const ir_inst *in = &blk->insts[i];
  if (in->label)
    snprintf(buf, len, "%s block, %%%d (%s '%s')", ir_block_name(k), (int)i, ir_op_name(in->op),
             in->label);
  else
    snprintf(buf, len, "%s block, %%%d (%s)", ir_block_name(k), (int)i, ir_op_name(in->op));
}

void ir_inst_name(const ir_module *m, const ir_block *blk, int32_t i, char *buf, size_t len) {
  const ir_inst *in = &blk->insts[i];
  if (in->label)
    snprintf(buf, len, "layer '%s'", in->label);
  else if (in->op == IR_OP_TABLE)
    snprintf(buf, len, "table '%s'", m->tables[in->table].name);
  else if (in->op == IR_OP_TENSOR)
    snprintf(buf, len, "tensor '%s'", m->tensors[in->weight].name);
  else
    snprintf(buf, len, "%%%d (%s)", (int)i, ir_op_name(in->op));
}

void ir_watched_values(const ir_module *m, ir_block_kind k, uint8_t *watched) {
  const ir_block *b = &m->blocks[k];
  memset(watched, 0, b->count);
  if (b->result >= 0) watched[b->result] = 1;
  for (uint32_t i = 0; i < b->count; i++) {
    const ir_inst *in = &b->insts[i];
    if (ops[in->op].flags & IR_OPF_HIDES_NONFINITE)
      for (uint32_t a = 0; a < in->nargs; a++) watched[in->args[a]] = 1;
  }
  for (uint32_t i = 0; i < b->count; i++)
    if (b->insts[i].op == IR_OP_STATE) watched[i] = 0;
}

static int why_fail(char *why, size_t whylen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int why_fail(char *why, size_t whylen, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  if (whylen) vsnprintf(why, whylen, fmt, ap);
  va_end(ap);
  return -1;
}

/* Operand count and indices: each must name an earlier instruction. */
static int check_operands(const ir_block *blk, int32_t i, char *why, size_t whylen) {
  const ir_inst *in = &blk->insts[i];
  int32_t want = ops[in->op].args;
  if (want >= 0 && in->nargs != (uint32_t)want)
    return why_fail(why, whylen, "%u operands, expected %d", in->nargs, (int)want);
  if (want < 0 && in->nargs == 0) return why_fail(why, whylen, "no operands");
  if (in->nargs && !in->args) return why_fail(why, whylen, "operand list missing");
  if (in->nargs > IR_MAX_ARGS)
    return why_fail(why, whylen, "%u operands, more than %d", in->nargs, IR_MAX_ARGS);
  for (uint32_t a = 0; a < in->nargs; a++) {
    int32_t x = in->args[a];
    if (x == i) return why_fail(why, whylen, "operand %u refers to itself", a);
    if (x > i && (uint32_t)x < blk->count)
      return why_fail(why, whylen, "operand %u is a forward reference to %%%d", a, (int)x);
    if (x < 0 || (uint32_t)x >= blk->count)
      return why_fail(why, whylen, "operand %u: bad index %d (block has %u instructions)", a,
                      (int)x, blk->count);
    if (blk->insts[x].shape.rank == 0 || blk->insts[x].len == 0)
      return why_fail(why, whylen, "operand %%%d has no shape", (int)x);
  }
  return 0;
}

/* Sources have a fixed kind; everything else is uniform iff all of its
 * operands are, which is what lets folding evaluate it once a step. */
static int infer_uniform(const ir_block *blk, const ir_inst *in) {
  uint32_t f = ops[in->op].flags;
  if (f & IR_OPF_UNIFORM) return 1;
  if (f & IR_OPF_PER_SAMPLE) return 0;
  for (uint32_t a = 0; a < in->nargs; a++)
    if (!blk->insts[in->args[a]].uniform) return 0;
  return 1;
}

int ir_infer_shape(const ir_module *m, ir_block_kind k, int32_t i, tshape *shape, int *uniform,
                   char *why, size_t whylen) {
  const ir_block *blk = &m->blocks[k];
  const ir_inst *in = &blk->insts[i];
  if ((unsigned)in->op >= IR_OP_COUNT)
    return why_fail(why, whylen, "unknown opcode %d", (int)in->op);
  uint32_t f = ops[in->op].flags;
  if ((f & IR_OPF_NOT_INIT) && k == IR_BLOCK_INIT)
    return why_fail(why, whylen, "%s in the init block", ops[in->op].name);
  if ((f & IR_OPF_STEP_ONLY) && k != IR_BLOCK_STEP)
    return why_fail(why, whylen, "%s outside the step block", ops[in->op].name);
  if ((f & IR_OPF_NOT_FINAL) && k == IR_BLOCK_FINAL)
    return why_fail(why, whylen, "noise drawn in the final block");
  if (check_operands(blk, i, why, whylen) != 0 ||
      ops[in->op].shape(m, blk, in, shape, why, whylen) != 0)
    return -1;
  uint64_t n = tshape_numel(shape);
  if (n == 0 || n > UINT32_MAX)
    return why_fail(why, whylen, "%llu floats a row", (unsigned long long)n);
  *uniform = infer_uniform(blk, in);
  return 0;
}

int ir_set_shape(ir_module *m, ir_block_kind k, int32_t i, char *err, size_t errlen) {
  char why[256], where[192];
  tshape s;
  int u;
  if (ir_infer_shape(m, k, i, &s, &u, why, sizeof why) != 0) {
    ir_inst_where(&m->blocks[k], k, i, where, sizeof where);
    snprintf(err, errlen, "%s: %s", where, why);
    return -1;
  }
  ir_inst *in = &m->blocks[k].insts[i];
  in->shape = s;
  in->len = (uint32_t)tshape_numel(&s);
  in->uniform = (uint8_t)u;
  return 0;
}
