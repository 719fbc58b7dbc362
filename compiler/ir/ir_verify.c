/*
 * ir_verify.c - the IR's structural checker.
 *
 * Every consumer (printer, interpreter, LLVM codegen) assumes a verified
 * module, so anything that could make one of them index out of bounds or
 * disagree with another about a value's shape is rejected here, with a
 * message naming the block and instruction ("step %4 (dense 'fc1'): ...").
 */
#include "compiler/ir/ir.h"

#include <math.h>
#include <stdarg.h>

typedef struct verifier {
  const ir_module *m;
  char *err;
  size_t errlen;
} verifier;

/* Report a problem in instruction i of block b (i < 0: the block itself);
 * always returns -1. */
static int verify_fail(verifier *v, int b, int32_t i, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static int verify_fail(verifier *v, int b, int32_t i, const char *fmt, ...) {
  if (!v->errlen) return -1;
  size_t n = 0;
  int w;
  if (b < 0) {
    w = snprintf(v->err, v->errlen, "module '%s': ", v->m->name ? v->m->name : "");
  } else if (i < 0) {
    w = snprintf(v->err, v->errlen, "%s block: ", ir_block_name((ir_block_kind)b));
  } else {
    const ir_inst *in = &v->m->blocks[b].insts[i];
    if (in->label)
      w = snprintf(v->err, v->errlen, "%s block, %%%d (%s '%s'): ", ir_block_name((ir_block_kind)b),
                   (int)i, ir_op_name(in->op), in->label);
    else
      w = snprintf(v->err, v->errlen, "%s block, %%%d (%s): ", ir_block_name((ir_block_kind)b),
                   (int)i, ir_op_name(in->op));
  }
  if (w > 0) n = (size_t)w < v->errlen ? (size_t)w : v->errlen - 1;
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(v->err + n, v->errlen - n, fmt, ap);
  va_end(ap);
  return -1;
}

/* Program p run elementwise over instruction i's len: its ARGs must name
 * operands (first_arg.. for FUSED, 0.. for DENSE where ARG 0 is the GEMM),
 * every extra operand must match the length or be a uniform scalar, and
 * each uop may only use earlier ones. */
static int verify_prog(verifier *v, int b, int32_t i, uint32_t first_arg) {
  const ir_module *m = v->m;
  const ir_block *blk = &m->blocks[b];
  const ir_inst *in = &blk->insts[i];
  if (in->prog < 0 || (uint32_t)in->prog >= m->nprogs)
    return verify_fail(v, b, i, "program index %d out of range (module has %u programs)",
                       (int)in->prog, m->nprogs);
  const ir_prog *p = &m->progs[in->prog];
  if (p->count == 0 || !p->uops) return verify_fail(v, b, i, "program p%d is empty", (int)in->prog);
  if (p->count > IR_PROG_MAX_UOPS)
    return verify_fail(v, b, i, "program p%d has %u uops, more than %d", (int)in->prog, p->count,
                       IR_PROG_MAX_UOPS);
  if (in->nargs > IR_PROG_MAX_UOPS)
    return verify_fail(v, b, i, "%u operands, more than %d", in->nargs, IR_PROG_MAX_UOPS);
  for (uint32_t a = first_arg; a < in->nargs; a++) {
    const ir_inst *x = &blk->insts[in->args[a]];
    if (x->len != in->len && !(x->uniform && x->len == 1))
      return verify_fail(v, b, i, "operand %%%d has length %u, expected %u or a uniform scalar",
                         (int)in->args[a], x->len, in->len);
  }
  for (uint32_t u = 0; u < p->count; u++) {
    const ir_uop *op = &p->uops[u];
    switch (op->kind) {
    case IR_UOP_ARG:
      if (op->a >= in->nargs)
        return verify_fail(v, b, i, "program p%d, uop %u: argument %u out of range", (int)in->prog,
                           u, op->a);
      break;
    case IR_UOP_CONST:
      if (!isfinite(op->f))
        return verify_fail(v, b, i, "program p%d, uop %u: constant is not finite", (int)in->prog,
                           u);
      break;
    case IR_UOP_ADD:
    case IR_UOP_SUB:
    case IR_UOP_MUL:
      if (op->b >= u)
        return verify_fail(v, b, i, "program p%d, uop %u: operand %u is not earlier", (int)in->prog,
                           u, op->b);
      /* fall through */
    case IR_UOP_ACT:
      if (op->a >= u)
        return verify_fail(v, b, i, "program p%d, uop %u: operand %u is not earlier", (int)in->prog,
                           u, op->a);
      if (op->kind == IR_UOP_ACT && ((unsigned)op->act >= PMM_ACT_COUNT || op->act == PMM_ACT_NONE))
        return verify_fail(v, b, i, "program p%d, uop %u: invalid activation %d", (int)in->prog, u,
                           (int)op->act);
      break;
    case IR_UOP_COUNT:
    default:
      return verify_fail(v, b, i, "program p%d, uop %u: unknown kind %d", (int)in->prog, u,
                         (int)op->kind);
    }
  }
  return 0;
}

/* Instruction i must have the shape and uniformity its op's rule gives
 * (ir_ops.def), and a program that fits its operands. */
static int verify_inst(verifier *v, int b, int32_t i) {
  const ir_module *m = v->m;
  const ir_inst *in = &m->blocks[b].insts[i];
  char why[256], have[TSHAPE_TEXT], want[TSHAPE_TEXT];
  tshape s;
  int u;
  if (ir_infer_shape(m, (ir_block_kind)b, i, &s, &u, why, sizeof why) != 0)
    return verify_fail(v, b, i, "%s", why);
  if (!tshape_equal(&s, &in->shape) || in->len != tshape_numel(&s))
    return verify_fail(v, b, i, "shape %s (%u floats), expected %s",
                       tshape_format(&in->shape, have, sizeof have), in->len,
                       tshape_format(&s, want, sizeof want));
  if (in->uniform != u)
    return verify_fail(v, b, i, "marked %s, but its value is %s",
                       in->uniform ? "uniform" : "per-sample", u ? "uniform" : "per-sample");
  if (in->op == IR_OP_FUSED) return verify_prog(v, b, i, 0);
  /* dense and conv2d epilogues: ARG 0 is the op's own result */
  if (in->op != IR_OP_FUSED && in->prog >= 0) return verify_prog(v, b, i, 1);
  return 0;
}

static int verify_block(verifier *v, int b) {
  const ir_module *m = v->m;
  const ir_block *blk = &m->blocks[b];
  if (b == IR_BLOCK_INIT && m->state_in) {
    if (blk->count) return verify_fail(v, b, -1, "not empty, but the caller gives the state");
    /* a block that met a non-finite value runs again from its init block */
    if (m->check_finite)
      return verify_fail(v, b, -1, "must make the state for the non-finite checks (check_finite)");
    return 0;
  }
  if (b == IR_BLOCK_STEP && m->steps == 0 && blk->count == 0) return 0; /* never runs */
  if (blk->count && !blk->insts) return verify_fail(v, b, -1, "instruction list missing");
  for (uint32_t i = 0; i < blk->count; i++)
    if (verify_inst(v, b, (int32_t)i) != 0) return -1;
  if (blk->result < 0 || (uint32_t)blk->result >= blk->count)
    return verify_fail(v, b, -1, "missing result (result is %d, block has %u instructions)",
                       (int)blk->result, blk->count);
  const ir_inst *r = &blk->insts[blk->result];
  uint32_t want = b == IR_BLOCK_FINAL ? m->out_len : m->state_len;
  if (r->uniform)
    return verify_fail(v, b, -1, "result %%%d is uniform; a block returns one row per sample",
                       (int)blk->result);
  if (r->len != want)
    return verify_fail(v, b, -1, "result %%%d has length %u, expected %u (%s)", (int)blk->result,
                       r->len, want, b == IR_BLOCK_FINAL ? "output" : "state");
  return 0;
}

/* Kernels index with atom values of categorical sets, so they must be
 * symbol indices; every value and log weight must be finite. */
static int verify_atom_data(verifier *v, uint32_t g) {
  const ir_atoms *a = &v->m->atoms[g];
  if (!a->value || !a->log_weight || a->k == 0 || a->dim == 0)
    return verify_fail(v, -1, -1, "atom set a%u is empty", g);
  for (uint32_t j = 0; j < a->k; j++)
    if (!isfinite(a->log_weight[j]))
      return verify_fail(v, -1, -1, "atom set a%u: log weight of atom %u is not finite", g, j);
  uint64_t n = (uint64_t)a->k * a->dim;
  for (uint64_t e = 0; e < n; e++) {
    float x = a->value[e];
    if (!isfinite(x) || (a->vocab && !(x >= 0 && x < (float)a->vocab && x == floorf(x))))
      return verify_fail(v, -1, -1, "atom set a%u: value %g of atom %llu is not %s", g, (double)x,
                         (unsigned long long)(e / a->dim), a->vocab ? "a symbol index" : "finite");
  }
  return 0;
}

static int verify_module_data(verifier *v) {
  const ir_module *m = v->m;
  if (!m->name || !m->name[0]) return verify_fail(v, -1, -1, "no name");
  if (m->schedule_steps == 0) return verify_fail(v, -1, -1, "zero schedule steps");
  if (m->steps > m->schedule_steps)
    return verify_fail(v, -1, -1, "step block runs %u times, more than the schedule's %u steps",
                       m->steps, m->schedule_steps);
  if (m->state_len == 0) return verify_fail(v, -1, -1, "zero state length");
  if (m->out_len == 0) return verify_fail(v, -1, -1, "zero output length");
  if (m->block_size == 0) return verify_fail(v, -1, -1, "zero block size");
  if (m->rank < 1 || m->rank > 4) return verify_fail(v, -1, -1, "rank %u not in 1..4", m->rank);
  uint64_t elems = 1;
  for (uint32_t d = 0; d < m->rank; d++)
    if (__builtin_mul_overflow(elems, m->shape[d], &elems)) elems = 0;
  if (elems != m->out_len)
    return verify_fail(v, -1, -1, "sample shape has %llu elements, output length is %u",
                       (unsigned long long)elems, m->out_len);
  for (uint32_t t = 0; t < m->ntables; t++) {
    const ir_table *tb = &m->tables[t];
    if (tb->count != m->steps || !tb->data)
      return verify_fail(v, -1, -1, "table '%s' has %u entries, expected one a step (%u)",
                         tb->name ? tb->name : "?", tb->count, m->steps);
    if (tb->width == 0)
      return verify_fail(v, -1, -1, "table '%s' has width 0", tb->name ? tb->name : "?");
  }
  for (uint32_t t = 0; t < m->ntensors; t++) {
    const ir_tensor *ts = &m->tensors[t];
    uint64_t n = 1;
    for (uint32_t d = 0; d < ts->rank && d < 4; d++)
      if (__builtin_mul_overflow(n, ts->shape[d], &n)) n = 0;
    if (!ts->data || ts->rank > 4 || n != ts->count)
      return verify_fail(v, -1, -1, "tensor '%s' is malformed", ts->name ? ts->name : "?");
  }
  for (uint32_t g = 0; g < m->nmixtures; g++) {
    const ir_mixture *x = &m->mixtures[g];
    if (!x->weight || !x->mean || !x->std)
      return verify_fail(v, -1, -1, "mixture m%u has no data", g);
  }
  for (uint32_t g = 0; g < m->natoms; g++)
    if (verify_atom_data(v, g) != 0) return -1;
  return 0;
}

int ir_verify(const ir_module *m, char *err, size_t errlen) {
  verifier v = {m, err, errlen};
  if (errlen) err[0] = '\0';
  if (verify_module_data(&v) != 0) return -1;
  for (int b = 0; b < IR_BLOCK_COUNT; b++)
    if (verify_block(&v, b) != 0) return -1;
  return 0;
}
