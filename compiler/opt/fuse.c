/*
 * fuse.c - pass 'fuse' (opt.h): elementwise chains become one FUSED
 * instruction, and a chain fed by a dense layer becomes that layer's
 * epilogue.
 *
 * A group grows from a root (the last per-sample ACT/ADD/SUB/MUL not yet
 * fused, walking the block backwards) through its operands: an operand
 * joins when it is itself a per-sample elementwise op of the root's length
 * whose every use lies inside the group (so no value that anything else
 * reads disappears) and the program stays within IR_PROG_MAX_UOPS.
 * Operands are visited from the highest index down, so all users of a
 * candidate have been decided when it is.  What stays outside becomes a
 * leaf: CONST instructions a CONST uop, anything else (state, noise, tables,
 * uniform values, dense results, kernels' outputs) an ARG.  A leaf that is
 * a dense layer without epilogue, read only by the group, is absorbed as
 * well: the root turns into that dense layer with the group as its
 * epilogue (ARG 0 the GEMM result), its extra leaves appended after x.
 *
 * Only the root is rewritten, in place, so every index stays valid and the
 * root keeps its value; the absorbed instructions are left unused for the
 * dce pass that follows.  A group of one instruction without a dense layer
 * is left alone (a FUSED of one op is the op).  Uniform roots are left
 * alone too: after fold there are none, and fusing one would gain nothing.
 *
 * The program lists leaves and members in instruction order, each member's
 * uop computing `a OP b` (or act(a)) on the registers of the instruction's
 * own operands in their order: the float operations of the chain, one for
 * one, hence the same bits.
 */
#include "compiler/opt/opt.h"

#include <stdlib.h>
#include <string.h>

#include "compiler/util/xalloc.h"

/* Who reads each instruction of a block: users of i are
 * list[start[i] .. start[i + 1]). */
typedef struct fuse_uses {
  uint32_t *start, *list;
} fuse_uses;

/* Per-block scratch: group stamps (the root's index + 1 marks membership
 * and leaves of the group being grown) and the uop register of each. */
typedef struct fuse_ctx {
  ir_module *m;
  ir_block *b;
  fuse_uses uses;
  uint32_t *member, *leaf; /* stamp of the group i belongs to / is a leaf of */
  uint8_t *taken;          /* absorbed by a rewritten group */
  uint32_t *reg;           /* uop index of i in the program being built */
  uint32_t *args;          /* the program's ARG operands, in ARG order */
  char *err;
  size_t errlen;
} fuse_ctx;

static int fuse_oom(fuse_ctx *c) {
  snprintf(c->err, c->errlen, "out of memory");
  return -1;
}

static int fuse_build_uses(fuse_ctx *c) {
  const ir_block *b = c->b;
  size_t total = 0;
  for (uint32_t i = 0; i < b->count; i++) total += b->insts[i].nargs;
  c->uses.start = xcalloc_array((size_t)b->count + 1, sizeof *c->uses.start);
  c->uses.list = xmalloc_array(total ? total : 1, sizeof *c->uses.list);
  if (!c->uses.start || !c->uses.list) return fuse_oom(c);
  for (uint32_t i = 0; i < b->count; i++)
    for (uint32_t a = 0; a < b->insts[i].nargs; a++) c->uses.start[b->insts[i].args[a] + 1]++;
  for (uint32_t i = 0; i < b->count; i++) c->uses.start[i + 1] += c->uses.start[i];
  uint32_t *fill = xmalloc_array((size_t)b->count + 1, sizeof *fill);
  if (!fill) return fuse_oom(c);
  memcpy(fill, c->uses.start, ((size_t)b->count + 1) * sizeof *fill);
  for (uint32_t i = 0; i < b->count; i++)
    for (uint32_t a = 0; a < b->insts[i].nargs; a++) c->uses.list[fill[b->insts[i].args[a]]++] = i;
  free(fill);
  return 0;
}

/* An elementwise op whose operands a program can read element by element:
 * each has the op's length or is a uniform scalar (a broadcast along
 * other axes stays a separate instruction). */
static int fuse_is_elementwise(const ir_block *b, const ir_inst *in) {
  if (!(ir_op_get(in->op)->flags & IR_OPF_ELEMENTWISE)) return 0;
  for (uint32_t a = 0; a < in->nargs; a++) {
    const ir_inst *x = &b->insts[in->args[a]];
    if (x->len != in->len && !(x->uniform && x->len == 1)) return 0;
  }
  return 1;
}

/* A group may become dense layer d's epilogue when the GEMM can read every
 * leaf by (row, column): per-sample leaves of the dense's length, uniform
 * scalars, and uniform vectors only when the dense has one row a sample. */
static int fuse_epilogue_fits(const fuse_ctx *c, const ir_inst *d, uint32_t g, uint32_t lo,
                              uint32_t r) {
  const ir_block *b = c->b;
  int one_row = b->insts[d->args[0]].shape.rank == 1;
  for (uint32_t j = lo; j <= r; j++) {
    const ir_inst *x = &b->insts[j];
    if (c->leaf[j] != g || x == d || (x->uniform && x->len == 1)) continue;
    if (x->uniform ? !one_row : x->len != d->len) return 0;
  }
  return 1;
}

/* Instruction i may disappear into group g: it is not the block's result,
 * not already fused elsewhere, and group g holds every instruction reading it. */
static int fuse_only_read_by(const fuse_ctx *c, uint32_t i, uint32_t g) {
  if ((int32_t)i == c->b->result || c->taken[i]) return 0;
  for (uint32_t u = c->uses.start[i]; u < c->uses.start[i + 1]; u++)
    if (c->member[c->uses.list[u]] != g) return 0;
  return 1;
}

/* Operands of i that would be new leaves of group g. */
static uint32_t fuse_new_leaves(const fuse_ctx *c, const ir_inst *in, uint32_t g) {
  uint32_t n = 0;
  for (uint32_t a = 0; a < in->nargs; a++) {
    uint32_t x = (uint32_t)in->args[a];
    int seen = c->leaf[x] == g;
    for (uint32_t k = 0; k < a && !seen; k++) seen = (uint32_t)in->args[k] == x;
    if (!seen) n++;
  }
  return n;
}

/* Grow the group rooted at r; returns its member count, sets *lo to its
 * lowest leaf and *dense to the dense layer it absorbs (or -1). */
static uint32_t fuse_grow(fuse_ctx *c, uint32_t r, uint32_t *lo, int32_t *dense) {
  const ir_block *b = c->b;
  const ir_inst *root = &b->insts[r];
  uint32_t g = r + 1, members = 1, leaves = fuse_new_leaves(c, root, g);
  c->member[r] = g;
  *lo = r;
  for (uint32_t a = 0; a < root->nargs; a++) {
    c->leaf[root->args[a]] = g;
    if ((uint32_t)root->args[a] < *lo) *lo = (uint32_t)root->args[a];
  }
  for (uint32_t j = r; j-- > *lo;) {
    const ir_inst *in = &b->insts[j];
    if (c->leaf[j] != g || !fuse_is_elementwise(b, in) || in->uniform || in->len != root->len ||
        !fuse_only_read_by(c, j, g))
      continue;
    /* j turns from a leaf into a member: one uop for it, its new leaves */
    uint32_t add = fuse_new_leaves(c, in, g);
    if (members + leaves + add > IR_PROG_MAX_UOPS) continue;
    c->member[j] = g;
    c->leaf[j] = 0;
    members++;
    leaves = leaves - 1 + add;
    for (uint32_t a = 0; a < in->nargs; a++) {
      c->leaf[in->args[a]] = g;
      if ((uint32_t)in->args[a] < *lo) *lo = (uint32_t)in->args[a];
    }
  }
  *dense = -1;
  for (uint32_t j = r; j-- > *lo && *dense < 0;) {
    const ir_inst *in = &b->insts[j];
    if (c->leaf[j] == g && (in->op == IR_OP_DENSE || in->op == IR_OP_CONV2D) && in->prog < 0 &&
        !in->uniform && in->len == root->len && fuse_only_read_by(c, j, g) &&
        fuse_epilogue_fits(c, in, g, *lo, r))
      *dense = (int32_t)j;
  }
  return members;
}

/* The program of group g (members and leaves in [lo, r]); its ARG operands
 * go to c->args, *nargs of them.  Returns the program's index or -1. */
static int32_t fuse_emit_prog(fuse_ctx *c, uint32_t r, uint32_t lo, int32_t dense,
                              uint32_t *nargs) {
  const ir_block *b = c->b;
  uint32_t g = r + 1, n = 0;
  ir_uop uops[IR_PROG_MAX_UOPS];
  *nargs = dense >= 0 ? 1 : 0;
  for (uint32_t j = lo; j <= r; j++) {
    const ir_inst *in = &b->insts[j];
    ir_uop *u = &uops[n];
    memset(u, 0, sizeof *u);
    if (c->member[j] == g) {
      u->a = c->reg[in->args[0]];
      if (in->op == IR_OP_ACT) {
        u->kind = IR_UOP_ACT;
        u->act = in->act;
      } else {
        u->kind = in->op == IR_OP_ADD ? IR_UOP_ADD : in->op == IR_OP_SUB ? IR_UOP_SUB : IR_UOP_MUL;
        u->b = c->reg[in->args[1]];
      }
    } else if (c->leaf[j] != g) {
      continue;
    } else if ((int32_t)j == dense) {
      u->kind = IR_UOP_ARG;
      u->a = 0;
    } else if (in->op == IR_OP_CONST) {
      u->kind = IR_UOP_CONST;
      u->f = in->fattr;
    } else {
      u->kind = IR_UOP_ARG;
      u->a = *nargs;
      c->args[(*nargs)++] = j;
    }
    c->reg[j] = n++;
  }
  int32_t p = ir_add_prog(c->m, n, uops);
  if (p < 0) fuse_oom(c);
  return p;
}

/* Turn root r into the FUSED instruction, or the dense layer with epilogue,
 * that computes group g. */
static int fuse_rewrite(fuse_ctx *c, uint32_t r, uint32_t lo, int32_t dense) {
  ir_block *b = c->b;
  uint32_t nargs;
  int32_t p = fuse_emit_prog(c, r, lo, dense, &nargs);
  if (p < 0) return -1;
  int32_t *args = xmalloc_array(nargs ? nargs : 1, sizeof *args);
  if (!args) return fuse_oom(c);
  for (uint32_t a = dense >= 0 ? 1 : 0; a < nargs; a++) args[a] = (int32_t)c->args[a];
  ir_inst *root = &b->insts[r];
  ir_inst out;
  if (dense >= 0) {
    const ir_inst *d = &b->insts[dense];
    out = *d;
    args[0] = d->args[0];
    out.label = d->label ? xstrdup(d->label) : NULL;
    if (d->label && !out.label) {
      free(args);
      return fuse_oom(c);
    }
    free(root->label);
    c->taken[dense] = 1;
  } else {
    memset(&out, 0, sizeof out);
    out.op = IR_OP_FUSED;
    out.len = root->len;
    out.shape = root->shape;
    out.act = PMM_ACT_NONE;
    out.weight = out.bias = out.table = out.mixture = out.atoms = -1;
    out.label = root->label;
  }
  out.nargs = nargs;
  out.args = args;
  out.prog = p;
  out.uniform = 0;
  out.offset = 0;
  free(root->args);
  *root = out;
  for (uint32_t j = lo; j < r; j++)
    if (c->member[j] == r + 1) c->taken[j] = 1;
  c->taken[r] = 1;
  return 0;
}

/* ---- GroupNorm + FiLM + activation ---------------------------------------- */

/* The one instruction that reads i, or -1 (none, several, or i is the
 * block's result). */
static int32_t fuse_sole_user(const fuse_ctx *c, uint32_t i) {
  if ((int32_t)i == c->b->result || c->uses.start[i + 1] - c->uses.start[i] != 1) return -1;
  return (int32_t)c->uses.list[c->uses.start[i]];
}

/* The other operand of binary instruction u (which reads i), when it holds
 * one float a channel of norm g broadcast over the rest ([C, 1, ..]). */
static int32_t fuse_channel_operand(const fuse_ctx *c, const ir_inst *u, uint32_t i,
                                    const ir_inst *g) {
  int32_t o = u->args[0] == (int32_t)i ? u->args[1] : u->args[0];
  if (o == (int32_t)i) return -1;
  const tshape *s = &c->b->insts[o].shape;
  return s->rank == g->shape.rank && s->dim[0] == g->shape.dim[0] &&
                 c->b->insts[o].len == g->shape.dim[0]
             ? o
             : -1;
}

/* GROUPNORM g whose only reader multiplies it by a channel vector, whose
 * only reader adds one (modulate), and/or whose only reader is an
 * activation: the last of them becomes one GROUPNORM with the vectors as
 * operands 1 and 2 and the activation (pmm_kernel_groupnorm_film, which
 * rounds each step as the separate instructions do).  1 when rewritten. */
static int fuse_norm(fuse_ctx *c, uint32_t gi) {
  ir_block *b = c->b;
  const ir_inst *g = &b->insts[gi];
  if (g->op != IR_OP_GROUPNORM || g->nargs != 1 || g->act != PMM_ACT_NONE || g->uniform) return 0;
  uint32_t root = gi;
  int32_t mul = -1, add = -1, u = fuse_sole_user(c, gi), v;
  if (u >= 0 && b->insts[u].op == IR_OP_MUL &&
      (mul = fuse_channel_operand(c, &b->insts[u], gi, g)) >= 0 &&
      (v = fuse_sole_user(c, (uint32_t)u)) >= 0 && b->insts[v].op == IR_OP_ADD &&
      (add = fuse_channel_operand(c, &b->insts[v], (uint32_t)u, g)) >= 0) {
    c->taken[u] = 1;
    root = (uint32_t)v;
    u = fuse_sole_user(c, root);
  } else {
    mul = add = -1;
  }
  pmm_act act = PMM_ACT_NONE;
  if (u >= 0 && b->insts[u].op == IR_OP_ACT && !c->taken[u]) {
    act = b->insts[u].act;
    if (root != gi) c->taken[root] = 1;
    root = (uint32_t)u;
  }
  if (root == gi) return 0;
  int32_t *args = xmalloc_array(3, sizeof *args);
  char *label = g->label ? xstrdup(g->label) : NULL;
  if (!args || (g->label && !label)) {
    free(args);
    free(label);
    return fuse_oom(c);
  }
  args[0] = g->args[0];
  args[1] = mul;
  args[2] = add;
  ir_inst out = *g;
  out.args = args;
  out.nargs = mul >= 0 ? 3 : 1;
  out.act = act;
  out.label = label;
  out.offset = 0;
  ir_inst *r = &b->insts[root];
  free(r->args);
  free(r->label);
  *r = out;
  c->taken[gi] = c->taken[root] = 1;
  return 1;
}

static int fuse_norms(fuse_ctx *c) {
  for (uint32_t i = 0; i < c->b->count; i++)
    if (fuse_norm(c, i) < 0) return -1;
  return 0;
}

static int fuse_block(fuse_ctx *c) {
  const ir_block *b = c->b;
  for (uint32_t r = b->count; r-- > 0;) {
    const ir_inst *in = &b->insts[r];
    if (c->taken[r] || !fuse_is_elementwise(c->b, in) || in->uniform) continue;
    uint32_t lo;
    int32_t dense;
    uint32_t members = fuse_grow(c, r, &lo, &dense);
    if (members < 2 && dense < 0) continue;
    if (fuse_rewrite(c, r, lo, dense) != 0) return -1;
  }
  return 0;
}

static void fuse_ctx_free(fuse_ctx *c) {
  free(c->uses.start);
  free(c->uses.list);
  free(c->member);
  free(c->leaf);
  free(c->taken);
  free(c->reg);
  free(c->args);
}

int opt_fuse_elementwise(ir_module *m, char *err, size_t errlen) {
  for (int k = 0; k < IR_BLOCK_COUNT; k++) {
    fuse_ctx c;
    memset(&c, 0, sizeof c);
    c.m = m;
    c.b = &m->blocks[k];
    c.err = err;
    c.errlen = errlen;
    size_t n = c.b->count ? c.b->count : 1;
    c.member = xcalloc_array(n, sizeof *c.member);
    c.leaf = xcalloc_array(n, sizeof *c.leaf);
    c.taken = xcalloc_array(n, sizeof *c.taken);
    c.reg = xcalloc_array(n, sizeof *c.reg);
    c.args = xcalloc_array(IR_PROG_MAX_UOPS, sizeof *c.args);
    int rc =
        !c.member || !c.leaf || !c.taken || !c.reg || !c.args ? fuse_oom(&c) : fuse_build_uses(&c);
    if (rc == 0) rc = fuse_norms(&c);
    if (rc == 0) rc = fuse_block(&c);
    fuse_ctx_free(&c);
    if (rc != 0) return -1;
  }
  return 0;
}
