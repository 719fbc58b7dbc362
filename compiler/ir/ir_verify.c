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

/* The tensor at index t, or NULL after reporting why it cannot be used. */
static const ir_tensor *verify_tensor(verifier *v, int b, int32_t i, const char *what, int32_t t) {
  if (t < 0 || (uint32_t)t >= v->m->ntensors) {
    verify_fail(v, b, i, "%s tensor index %d out of range (module has %u tensors)", what, (int)t,
                v->m->ntensors);
    return NULL;
  }
  return &v->m->tensors[t];
}

/* The atom set of instruction i, or NULL after reporting why it cannot be used. */
static const ir_atoms *verify_atoms(verifier *v, int b, int32_t i) {
  int32_t a = v->m->blocks[b].insts[i].atoms;
  if (a < 0 || (uint32_t)a >= v->m->natoms) {
    verify_fail(v, b, i, "atom set index %d out of range (module has %u atom sets)", (int)a,
                v->m->natoms);
    return NULL;
  }
  return &v->m->atoms[a];
}

/* Instruction i must have the length of its operand x. */
static int verify_same_len(verifier *v, int b, int32_t i, const ir_inst *x) {
  const ir_inst *in = &v->m->blocks[b].insts[i];
  if (in->len != x->len)
    return verify_fail(v, b, i, "length %u, operand %%%d has %u", in->len, (int)in->args[0],
                       x->len);
  return 0;
}

/* Operand count expected for op: exact value, or -1 for "at least one". */
static int verify_arity(ir_op op) {
  switch (op) {
  case IR_OP_STATE:
  case IR_OP_FILL:
  case IR_OP_CONST:
  case IR_OP_TABLE:
  case IR_OP_TENSOR:
  case IR_OP_RANDN: return 0;
  case IR_OP_ACT:
  case IR_OP_SINUSOIDAL:
  case IR_OP_LAYERNORM:
  case IR_OP_POISSON:
  case IR_OP_SOFTMAX:
  case IR_OP_ARGMAX:
  case IR_OP_DIRICHLET_MEAN:
  case IR_OP_EXACT_ATOMS_CATEGORICAL: return 1;
  case IR_OP_ADD:
  case IR_OP_SUB:
  case IR_OP_MUL:
  case IR_OP_EXACT_GMM:
  case IR_OP_EXACT_ATOMS_NORMAL:
  case IR_OP_EXACT_ATOMS_GAMMA: return 2;
  case IR_OP_DENSE: /* x, then the epilogue's extra inputs */
  case IR_OP_CONCAT:
  case IR_OP_FUSED:
  case IR_OP_COUNT: break;
  }
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
        return verify_fail(v, b, i, "program p%d, uop %u: constant is not finite", (int)in->prog, u);
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

/* Shape checks of one instruction whose operands are already known to be
 * valid earlier instructions. */
static int verify_shape(verifier *v, int b, int32_t i) {
  const ir_module *m = v->m;
  const ir_block *blk = &m->blocks[b];
  const ir_inst *in = &blk->insts[i];
  const ir_inst *x = in->nargs ? &blk->insts[in->args[0]] : NULL;
  const ir_inst *y = in->nargs > 1 ? &blk->insts[in->args[1]] : NULL;

  switch (in->op) {
  case IR_OP_STATE:
    if (b == IR_BLOCK_INIT) return verify_fail(v, b, i, "state read in the init block");
    if (in->len != m->state_len)
      return verify_fail(v, b, i, "length %u, but the state has %u floats", in->len, m->state_len);
    return 0;
  case IR_OP_FILL:
  case IR_OP_CONST:
    if (!isfinite(in->fattr)) return verify_fail(v, b, i, "value is not finite");
    if (in->op == IR_OP_CONST && in->len != 1)
      return verify_fail(v, b, i, "length %u, expected 1", in->len);
    return 0;
  case IR_OP_TABLE:
    if (b != IR_BLOCK_STEP) return verify_fail(v, b, i, "table read outside the step block");
    if (in->table < 0 || (uint32_t)in->table >= m->ntables)
      return verify_fail(v, b, i, "table index %d out of range (module has %u tables)",
                         (int)in->table, m->ntables);
    if (in->len != m->tables[in->table].width)
      return verify_fail(v, b, i, "length %u, table '%s' has width %u", in->len,
                         m->tables[in->table].name, m->tables[in->table].width);
    return 0;
  case IR_OP_TENSOR: {
    const ir_tensor *t = verify_tensor(v, b, i, "constant", in->weight);
    if (!t) return -1;
    if (t->count != in->len)
      return verify_fail(v, b, i, "length %u, tensor '%s' has %llu floats", in->len, t->name,
                         (unsigned long long)t->count);
    return 0;
  }
  case IR_OP_FUSED:
    return verify_prog(v, b, i, 0);
  case IR_OP_RANDN:
    if (b == IR_BLOCK_FINAL) return verify_fail(v, b, i, "noise drawn in the final block");
    return 0;
  case IR_OP_POISSON:
    if (b == IR_BLOCK_FINAL) return verify_fail(v, b, i, "noise drawn in the final block");
    if (x->uniform)
      return verify_fail(v, b, i, "rate operand %%%d must be per-sample", (int)in->args[0]);
    return verify_same_len(v, b, i, x);
  case IR_OP_SOFTMAX:
  case IR_OP_ARGMAX:
  case IR_OP_DIRICHLET_MEAN: {
    if (in->dim == 0 || x->len % in->dim)
      return verify_fail(v, b, i, "operand %%%d has length %u, not a multiple of groups of %u",
                         (int)in->args[0], x->len, in->dim);
    if (in->op == IR_OP_ARGMAX && in->len != x->len / in->dim)
      return verify_fail(v, b, i, "length %u, expected %u (one per group of %u)", in->len,
                         x->len / in->dim, in->dim);
    if (in->op == IR_OP_DIRICHLET_MEAN && (!(in->fattr > 0.0f) || !isfinite(in->fattr)))
      return verify_fail(v, b, i, "concentration %g must be positive and finite",
                         (double)in->fattr);
    return in->op == IR_OP_ARGMAX ? 0 : verify_same_len(v, b, i, x);
  }
  case IR_OP_DENSE: {
    const ir_tensor *w = verify_tensor(v, b, i, "weight", in->weight);
    if (!w) return -1;
    if (w->rank != 2)
      return verify_fail(v, b, i, "weight '%s' has rank %u, expected 2", w->name, w->rank);
    if (w->shape[1] != x->len)
      return verify_fail(v, b, i, "weight '%s' takes %llu inputs, operand %%%d has %u", w->name,
                         (unsigned long long)w->shape[1], (int)in->args[0], x->len);
    if (w->shape[0] != in->len)
      return verify_fail(v, b, i, "length %u, but weight '%s' has %llu rows", in->len, w->name,
                         (unsigned long long)w->shape[0]);
    if (in->bias != -1) {
      const ir_tensor *bt = verify_tensor(v, b, i, "bias", in->bias);
      if (!bt) return -1;
      if (bt->rank != 1 || bt->shape[0] != in->len)
        return verify_fail(v, b, i, "bias '%s' must have shape [%u]", bt->name, in->len);
    }
    if (in->prog >= 0) return verify_prog(v, b, i, 1);
    if (in->nargs != 1)
      return verify_fail(v, b, i, "%u operands, but only a dense with an epilogue takes extras",
                         in->nargs);
    return 0;
  }
  case IR_OP_ACT:
    if ((unsigned)in->act >= PMM_ACT_COUNT || in->act == PMM_ACT_NONE)
      return verify_fail(v, b, i, "invalid activation %d", (int)in->act);
    if (in->len != x->len)
      return verify_fail(v, b, i, "length %u, operand %%%d has %u", in->len, (int)in->args[0],
                         x->len);
    return 0;
  case IR_OP_ADD:
  case IR_OP_SUB:
  case IR_OP_MUL: {
    /* equal lengths (a uniform side broadcasts over rows), or a uniform
     * scalar that broadcasts over everything */
    int xs = x->uniform && x->len == 1, ys = y->uniform && y->len == 1;
    uint32_t want = x->len == y->len ? x->len : xs ? y->len : ys ? x->len : 0;
    if (!want)
      return verify_fail(v, b, i, "operand lengths %u (%%%d) and %u (%%%d) do not match", x->len,
                         (int)in->args[0], y->len, (int)in->args[1]);
    if (in->len != want) return verify_fail(v, b, i, "length %u, operands give %u", in->len, want);
    return 0;
  }
  case IR_OP_CONCAT: {
    uint64_t sum = 0;
    for (uint32_t a = 0; a < in->nargs; a++) sum += blk->insts[in->args[a]].len;
    if (sum != in->len)
      return verify_fail(v, b, i, "length %u, operands add up to %llu", in->len,
                         (unsigned long long)sum);
    return 0;
  }
  case IR_OP_SINUSOIDAL:
    if (x->len != 1)
      return verify_fail(v, b, i, "operand %%%d has length %u, expected a scalar", (int)in->args[0],
                         x->len);
    if (in->dim < 2 || in->dim % 2)
      return verify_fail(v, b, i, "dim %u must be even and at least 2", in->dim);
    if (in->len != in->dim)
      return verify_fail(v, b, i, "length %u, expected dim %u", in->len, in->dim);
    return 0;
  case IR_OP_LAYERNORM: {
    if (in->len != x->len)
      return verify_fail(v, b, i, "length %u, operand %%%d has %u", in->len, (int)in->args[0],
                         x->len);
    const ir_tensor *w = verify_tensor(v, b, i, "weight", in->weight);
    if (!w) return -1;
    if (w->rank != 1 || w->shape[0] != in->len)
      return verify_fail(v, b, i, "weight '%s' must have shape [%u]", w->name, in->len);
    if (in->bias != -1) {
      const ir_tensor *bt = verify_tensor(v, b, i, "bias", in->bias);
      if (!bt) return -1;
      if (bt->rank != 1 || bt->shape[0] != in->len)
        return verify_fail(v, b, i, "bias '%s' must have shape [%u]", bt->name, in->len);
    }
    if (!(in->fattr > 0.0f) || !isfinite(in->fattr))
      return verify_fail(v, b, i, "eps %g must be positive and finite", (double)in->fattr);
    return 0;
  }
  case IR_OP_EXACT_GMM: {
    if (in->mixture < 0 || (uint32_t)in->mixture >= m->nmixtures)
      return verify_fail(v, b, i, "mixture index %d out of range (module has %u mixtures)",
                         (int)in->mixture, m->nmixtures);
    const ir_mixture *g = &m->mixtures[in->mixture];
    if (g->k == 0) return verify_fail(v, b, i, "mixture m%d has no components", (int)in->mixture);
    if (x->len != g->dim || in->len != g->dim)
      return verify_fail(v, b, i, "mixture m%d has dim %u, operand %%%d and result have %u, %u",
                         (int)in->mixture, g->dim, (int)in->args[0], x->len, in->len);
    if (!y->uniform || y->len != 1)
      return verify_fail(v, b, i, "precision operand %%%d must be a uniform scalar",
                         (int)in->args[1]);
    return 0;
  }
  case IR_OP_EXACT_ATOMS_NORMAL:
  case IR_OP_EXACT_ATOMS_GAMMA:
  case IR_OP_EXACT_ATOMS_CATEGORICAL: {
    const ir_atoms *a = verify_atoms(v, b, i);
    if (!a) return -1;
    int categorical = in->op == IR_OP_EXACT_ATOMS_CATEGORICAL;
    if (categorical != (a->vocab > 0))
      return verify_fail(v, b, i, "atom set a%d %s symbols", (int)in->atoms,
                         categorical ? "does not hold" : "holds");
    uint64_t want = categorical ? (uint64_t)a->dim * a->vocab : a->dim;
    if (x->len != want || in->len != want)
      return verify_fail(v, b, i, "atom set a%d needs %llu floats, operand %%%d and result have "
                         "%u, %u", (int)in->atoms, (unsigned long long)want, (int)in->args[0],
                         x->len, in->len);
    if (!categorical && (!y->uniform || y->len != 1))
      return verify_fail(v, b, i, "precision operand %%%d must be a uniform scalar",
                         (int)in->args[1]);
    return 0;
  }
  case IR_OP_COUNT: break;
  }
  return verify_fail(v, b, i, "unknown opcode %d", (int)in->op);
}

/* Uniformity rule: ops without operands have a fixed kind; all others are
 * uniform iff all their operands are. */
static int verify_uniform(verifier *v, int b, int32_t i) {
  const ir_block *blk = &v->m->blocks[b];
  const ir_inst *in = &blk->insts[i];
  int want;
  switch (in->op) {
  case IR_OP_CONST:
  case IR_OP_TABLE:
  case IR_OP_TENSOR: want = 1; break;
  case IR_OP_STATE:
  case IR_OP_FILL:
  case IR_OP_RANDN:
  case IR_OP_POISSON: want = 0; break;
  default:
    want = 1;
    for (uint32_t a = 0; a < in->nargs; a++)
      if (!blk->insts[in->args[a]].uniform) want = 0;
    break;
  }
  if (in->uniform != want)
    return verify_fail(v, b, i, "marked %s, but its value is %s",
                       in->uniform ? "uniform" : "per-sample", want ? "uniform" : "per-sample");
  return 0;
}

static int verify_inst(verifier *v, int b, int32_t i) {
  const ir_block *blk = &v->m->blocks[b];
  const ir_inst *in = &blk->insts[i];
  if ((unsigned)in->op >= IR_OP_COUNT)
    return verify_fail(v, b, i, "unknown opcode %d", (int)in->op);
  int arity = verify_arity(in->op);
  if (arity >= 0 && in->nargs != (uint32_t)arity)
    return verify_fail(v, b, i, "%u operands, expected %d", in->nargs, arity);
  if (arity < 0 && in->nargs == 0) return verify_fail(v, b, i, "no operands");
  if (in->nargs && !in->args) return verify_fail(v, b, i, "operand list missing");
  for (uint32_t a = 0; a < in->nargs; a++) {
    int32_t x = in->args[a];
    if (x == i) return verify_fail(v, b, i, "operand %u refers to itself", a);
    if (x > i && (uint32_t)x < blk->count)
      return verify_fail(v, b, i, "operand %u is a forward reference to %%%d", a, (int)x);
    if (x < 0 || (uint32_t)x >= blk->count)
      return verify_fail(v, b, i, "operand %u: bad index %d (block has %u instructions)", a, (int)x,
                         blk->count);
  }
  if (in->len == 0) return verify_fail(v, b, i, "zero length");
  if (verify_shape(v, b, i) != 0) return -1;
  return verify_uniform(v, b, i);
}

static int verify_block(verifier *v, int b) {
  const ir_module *m = v->m;
  const ir_block *blk = &m->blocks[b];
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
                         (unsigned long long)(e / a->dim),
                         a->vocab ? "a symbol index" : "finite");
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
