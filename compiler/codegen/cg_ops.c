/*
 * cg_ops.c - one LLVM emitter an op (the `emit` column of ir_ops.def).
 *
 * Elementwise ops (fill, const, act, add, sub, mul, fused, dirichlet_mean)
 * are inline loops over compile-time trip counts, in float, with no
 * fast-math flags, so LLVM may vectorise them but never reassociate or
 * contract them: they compute the interpreter's bits.  Dense layers run
 * kernels specialised to their constant shapes (gemm.c; --gemm,
 * docs/gemm.md) with bias and epilogue applied in registers, and so do
 * convolutions (conv.c, docs/conv.md).  The other network ops call the
 * runtime kernels the interpreter calls.
 */
#include "compiler/codegen/cg.h"

#include <stdio.h>

#include "compiler/codegen/conv.h"
#include "compiler/codegen/gemm.h"

static LLVMValueRef cg_scalar(cg *c, const ir_inst *in, LLVMValueRef *v) {
  switch (in->op) {
  case IR_OP_FUSED: return cg_prog(c, &c->m->progs[in->prog], v);
  case IR_OP_ACT: return cg_act(c, in->act, v[0]);
  case IR_OP_ADD: return LLVMBuildFAdd(c->b, v[0], v[1], "");
  case IR_OP_SUB: return LLVMBuildFSub(c->b, v[0], v[1], "");
  case IR_OP_MUL: return LLVMBuildFMul(c->b, v[0], v[1], "");
  default: return cg_f32(c, in->fattr); /* FILL, CONST */
  }
}

/* y[r, e] = f(operands) over the result's rows and length.  An operand of
 * the result's length is indexed by element, a scalar one broadcast; a
 * uniform operand has a single row.  When every operand is laid out like
 * the result or is a uniform scalar, one flat loop covers the block. */
static void emit_map(cg *c, const ir_block *blk, const ir_inst *in) {
  uint64_t rows = cg_rows(c, in), n = in->len;
  LLVMValueRef y = cg_value(c, in), base[IR_PROG_MAX_UOPS], v[IR_PROG_MAX_UOPS];
  const ir_inst *x[IR_PROG_MAX_UOPS];
  int same[IR_PROG_MAX_UOPS], flat = 1;
  for (uint32_t a = 0; a < in->nargs; a++) {
    x[a] = &blk->insts[in->args[a]];
    base[a] = cg_value(c, x[a]);
    same[a] = x[a]->uniform == in->uniform && x[a]->len == n;
    if (!same[a] && !(x[a]->uniform && x[a]->len == 1)) flat = 0;
  }
  if (flat) {
    cg_loop l;
    LLVMValueRef i = cg_loop_begin(c, &l, 0, rows * n, "i");
    for (uint32_t a = 0; a < in->nargs; a++)
      v[a] = cg_load(c, cg_elem(c, base[a], same[a] ? i : cg_i64(c, 0)));
    cg_store(c, cg_scalar(c, in, v), cg_elem(c, y, i));
    cg_loop_end(c, &l);
    return;
  }
  cg_loop lr, le;
  LLVMValueRef r = cg_loop_begin(c, &lr, 0, rows, "r");
  LLVMValueRef e = cg_loop_begin(c, &le, 0, n, "e");
  for (uint32_t a = 0; a < in->nargs; a++) {
    LLVMValueRef idx = cg_index(c, r, x[a]->uniform ? 0 : x[a]->len, x[a]->len == n ? e : NULL);
    v[a] = cg_load(c, cg_elem(c, base[a], idx));
  }
  cg_store(c, cg_scalar(c, in, v), cg_elem(c, y, cg_index(c, r, n, e)));
  cg_loop_end(c, &le);
  cg_loop_end(c, &lr);
}

/* DIRICHLET_MEAN as ir_ops.def spells it: per group of K, a sequential float sum,
 * then (beta + c_k) / (kb + n). */
static void emit_dirichlet_mean(cg *c, const ir_block *blk, const ir_inst *in) {
  const ir_inst *x = &blk->insts[in->args[0]];
  uint64_t k = in->dim, groups = cg_rows(c, in) * (in->len / k);
  LLVMValueRef src = cg_value(c, x), dst = cg_value(c, in);
  LLVMValueRef beta = cg_f32(c, in->fattr), kb = cg_f32(c, (float)in->dim * in->fattr);
  cg_loop lg, ls, ld;
  LLVMValueRef g = cg_loop_begin(c, &lg, 0, groups, "g");
  LLVMValueRef base = cg_index(c, g, k, NULL);
  LLVMBasicBlockRef pre = LLVMGetInsertBlock(c->b);
  LLVMValueRef j = cg_loop_begin(c, &ls, 0, k, "j");
  LLVMValueRef n = LLVMBuildPhi(c->b, c->f32, "n");
  LLVMValueRef zero = cg_f32(c, 0.0f);
  LLVMAddIncoming(n, &zero, &pre, 1);
  LLVMValueRef sum =
      LLVMBuildFAdd(c->b, n, cg_load(c, cg_elem(c, src, LLVMBuildNUWAdd(c->b, base, j, ""))), "");
  LLVMBasicBlockRef latch = LLVMGetInsertBlock(c->b);
  LLVMAddIncoming(n, &sum, &latch, 1);
  cg_loop_end(c, &ls);
  LLVMValueRef den = LLVMBuildFAdd(c->b, kb, sum, "den");
  j = cg_loop_begin(c, &ld, 0, k, "j");
  LLVMValueRef idx = LLVMBuildNUWAdd(c->b, base, j, "");
  LLVMValueRef num = LLVMBuildFAdd(c->b, beta, cg_load(c, cg_elem(c, src, idx)), "");
  cg_store(c, LLVMBuildFDiv(c->b, num, den, ""), cg_elem(c, dst, idx));
  cg_loop_end(c, &ld);
  cg_loop_end(c, &lg);
}

LLVMValueRef cg_find_key(const cg *c, uint32_t stream) {
  for (uint32_t i = 0; i < c->nkeys; i++)
    if (c->keys[i].stream == stream) return c->keys[i].key;
  return NULL;
}

/* A DENSE's epilogue on one register of GEMM results (gemm_epilogue_fn). */
typedef struct cg_epilogue {
  cg *c;
  gemm_emitter *g;
  const ir_block *blk;
  const ir_inst *in;
  uint64_t units; /* the GEMM's columns */
} cg_epilogue;

static LLVMValueRef cg_dense_epilogue(void *user, LLVMValueRef acc, LLVMValueRef row,
                                      LLVMValueRef col, LLVMValueRef mask) {
  cg_epilogue *e = user;
  cg *c = e->c;
  const ir_inst *in = e->in;
  if (in->prog < 0) return acc;
  unsigned lanes = LLVMGetVectorSize(LLVMTypeOf(acc));
  LLVMValueRef v[IR_PROG_MAX_UOPS];
  v[0] = acc;
  for (uint32_t a = 1; a < in->nargs; a++) {
    const ir_inst *s = &e->blk->insts[in->args[a]];
    if (s->uniform && s->len == 1) {
      v[a] = gemm_splat(e->g, cg_load(c, cg_value(c, s)), lanes);
      continue;
    }
    /* per-sample extras have the dense's length: rows of `units` */
    LLVMValueRef idx = s->uniform ? col : cg_index(c, row, e->units, col);
    v[a] = gemm_load(e->g, cg_elem(c, cg_value(c, s), idx), lanes, mask);
  }
  return cg_prog(c, &c->m->progs[in->prog], v);
}

/* Whether a DENSE of this shape runs the LLVM kernel (docs/gemm.md). */
static int cg_dense_is_llvm(const cg *c, uint64_t in, uint64_t out) {
  switch (c->gemm) {
  case CODEGEN_GEMM_BLAS: return 0;
  case CODEGEN_GEMM_LLVM: return 1;
  case CODEGEN_GEMM_AUTO: break;
  }
  return gemm_prefer_llvm(in, out);
}

/* Floats of OpenBLAS output (64 KiB, at least 16 rows) computed before the
 * epilogue runs over them, so that it finds them in cache. */
#define CG_EPILOGUE_CHUNK_FLOATS 16384

/* DENSE: the LLVM kernel with bias and epilogue on its registers, or
 * OpenBLAS (pmm_kernel_dense) over chunks of rows each followed by the
 * epilogue while the chunk is in cache. */
static void emit_dense(cg *c, const ir_block *blk, const ir_inst *in) {
  const ir_inst *x = &blk->insts[in->args[0]];
  const ir_tensor *w = &c->m->tensors[in->weight];
  uint64_t k = w->shape[1], units = w->shape[0], rows = cg_rows(c, in) * (x->len / k);
  LLVMValueRef y = cg_value(c, in);
  gemm_emitter g = {c->ctx, c->mod, c->b, c->fn, c->width, cg_dense_epilogue, NULL};
  cg_epilogue e = {c, &g, blk, in, units};
  g.user = &e;
  if (cg_dense_is_llvm(c, k, units)) {
    char name[512];
    snprintf(name, sizeof name, "%s.gemm.%s", c->m->name, w->name ? w->name : "");
    gemm_shape s = {rows, k, units, w->data, in->bias >= 0 ? c->m->tensors[in->bias].data : NULL,
                    name};
    if (gemm_emit(&g, &s, cg_value(c, x), y, c->err, c->errlen) != 0) c->failed = 1;
    return;
  }
  uint64_t chunk = in->prog < 0 ? rows : CG_EPILOGUE_CHUNK_FLOATS / (units ? units : 1);
  if (chunk < 16) chunk = 16;
  if (chunk > rows) chunk = rows;
  uint64_t full = rows / chunk, tail = rows % chunk;
  for (int last = 0; last < 2; last++) {
    uint64_t n = last ? tail : chunk;
    if (last ? tail == 0 : full == 0) continue;
    cg_loop l;
    LLVMValueRef ch = cg_i64(c, last ? full : 0);
    if (!last && full > 1) ch = cg_loop_begin(c, &l, 0, full, "chunk");
    LLVMValueRef row0 = cg_index(c, ch, chunk, NULL);
    LLVMValueRef a[7] = {cg_isz(c, n),
                         cg_isz(c, k),
                         cg_isz(c, units),
                         cg_elem(c, cg_value(c, x), cg_index(c, row0, k, NULL)),
                         c->tensors[in->weight],
                         cg_tensor_or_null(c, in->bias),
                         cg_elem(c, y, cg_index(c, row0, units, NULL))};
    cg_call(c, &c->dense, a, 7);
    if (in->prog >= 0) gemm_emit_apply(&g, row0, n, units, y);
    if (!last && full > 1) cg_loop_end(c, &l);
  }
}

/* ---- sources -------------------------------------------------------------- */

static void emit_state(cg *c, const ir_block *blk, const ir_inst *in) {
  (void)blk;
  if (in->offset != c->m->state_offset)
    cg_emit_copy(c, cg_value(c, in), in->len, 0, c->state, in->len, c->m->block_size, in->len);
}

static void emit_table(cg *c, const ir_block *blk, const ir_inst *in) {
  (void)blk;
  LLVMValueRef idx = LLVMBuildNUWSub(c->b, c->step64, cg_i64(c, 1), "");
  idx = LLVMBuildNUWMul(c->b, idx, cg_i64(c, in->len), "");
  cg_emit_copy(c, cg_value(c, in), in->len, 0, cg_elem(c, c->tables[in->table], idx), in->len, 1,
               in->len);
}

static void emit_tensor(cg *c, const ir_block *blk, const ir_inst *in) {
  (void)blk;
  cg_emit_copy(c, cg_value(c, in), in->len, 0, c->tensors[in->weight], in->len, 1, in->len);
}

static void emit_randn(cg *c, const ir_block *blk, const ir_inst *in) {
  (void)blk;
  LLVMValueRef key = in->stream ? cg_find_key(c, in->stream) : c->key0;
  LLVMValueRef a[6] = {key,       c->first_index,     cg_isz(c, cg_rows(c, in)),
                       c->step32, cg_isz(c, in->len), cg_value(c, in)};
  cg_call(c, &c->rng_normal, a, 6);
}

static void emit_poisson(cg *c, const ir_block *blk, const ir_inst *in) {
  LLVMValueRef key = in->stream ? cg_find_key(c, in->stream) : c->key0;
  LLVMValueRef a[7] = {key,
                       c->first_index,
                       cg_isz(c, cg_rows(c, in)),
                       c->step32,
                       cg_isz(c, in->len),
                       cg_value(c, &blk->insts[in->args[0]]),
                       cg_value(c, in)};
  cg_call(c, &c->rng_poisson, a, 7);
}

/* ---- elementwise and data movement ------------------------------------------ */

/* Strides of operand shape s read as result shape r (right-aligned, 0 along
 * broadcast axes). */
static void cg_broadcast_strides(const tshape *s, const tshape *r,
                                 uint64_t stride[TSHAPE_MAX_RANK]) {
  uint64_t step = 1;
  for (uint32_t d = r->rank; d-- > 0;) {
    uint32_t n = d + s->rank >= r->rank ? s->dim[d + s->rank - r->rank] : 1;
    stride[d] = n == 1 ? 0 : step;
    step *= n;
  }
}

/* add, sub, mul: the map loops when operands are read flat or as scalars,
 * else a loop nest over the result's axes with each operand's strides. */
static void emit_binary(cg *c, const ir_block *blk, const ir_inst *in) {
  const ir_inst *x[2] = {&blk->insts[in->args[0]], &blk->insts[in->args[1]]};
  if ((x[0]->len == in->len || x[0]->len == 1) && (x[1]->len == in->len || x[1]->len == 1)) {
    emit_map(c, blk, in);
    return;
  }
  const tshape *s = &in->shape;
  uint64_t st[2][TSHAPE_MAX_RANK];
  cg_loop lr, ld[TSHAPE_MAX_RANK];
  LLVMValueRef r = cg_loop_begin(c, &lr, 0, cg_rows(c, in), "r"), iv[TSHAPE_MAX_RANK], v[2];
  for (uint32_t d = 0; d < s->rank; d++) iv[d] = cg_loop_begin(c, &ld[d], 0, s->dim[d], "d");
  for (int a = 0; a < 2; a++) {
    cg_broadcast_strides(&x[a]->shape, s, st[a]);
    LLVMValueRef idx = cg_index(c, r, x[a]->uniform ? 0 : x[a]->len, NULL);
    for (uint32_t d = 0; d < s->rank; d++) idx = cg_index(c, iv[d], st[a][d], idx);
    v[a] = cg_load(c, cg_elem(c, cg_value(c, x[a]), idx));
  }
  LLVMValueRef out = cg_index(c, r, in->len, NULL);
  for (uint32_t d = 0; d < s->rank; d++)
    out = cg_index(c, iv[d], tshape_span(s, d + 1, s->rank), out);
  cg_store(c, cg_scalar(c, in, v), cg_elem(c, cg_value(c, in), out));
  for (uint32_t d = s->rank; d-- > 0;) cg_loop_end(c, &ld[d]);
  cg_loop_end(c, &lr);
}

static void emit_copy(cg *c, const ir_block *blk, const ir_inst *in) {
  const ir_inst *x = &blk->insts[in->args[0]];
  uint64_t n = (uint64_t)cg_rows(c, in) * in->len;
  cg_emit_copy(c, cg_value(c, in), n, 0, cg_value(c, x), n, 1, n);
}

/* Each operand's inner blocks (its axis and after) into their columns of
 * the result's rows of outer blocks; a uniform operand repeats per sample. */
static void emit_concat(cg *c, const ir_block *blk, const ir_inst *in) {
  uint64_t rows = cg_rows(c, in), outer = tshape_span(&in->shape, 0, in->axis);
  uint64_t width = in->len / outer, col = 0;
  LLVMValueRef y = cg_value(c, in);
  for (uint32_t a = 0; a < in->nargs; a++) {
    const ir_inst *s = &blk->insts[in->args[a]];
    uint64_t inner = s->len / outer;
    if (!s->uniform || outer == 1) {
      cg_emit_copy(c, y, width, col, cg_value(c, s), s->uniform ? 0 : inner, rows * outer, inner);
    } else {
      cg_loop l;
      LLVMValueRef r = cg_loop_begin(c, &l, 0, rows, "r");
      LLVMValueRef yr = cg_elem(c, y, cg_index(c, r, in->len, NULL));
      cg_emit_copy(c, yr, width, col, cg_value(c, s), inner, outer, inner);
      cg_loop_end(c, &l);
    }
    col += inner;
  }
}

static void emit_slice(cg *c, const ir_block *blk, const ir_inst *in) {
  const ir_inst *x = &blk->insts[in->args[0]];
  uint64_t outer = tshape_span(&in->shape, 0, in->axis);
  uint64_t rest = tshape_span(&in->shape, in->axis + 1, in->shape.rank);
  uint64_t from = x->shape.dim[in->axis] * rest, take = (uint64_t)in->dim * rest;
  LLVMValueRef src = cg_elem(c, cg_value(c, x), cg_i64(c, (uint64_t)in->start * rest));
  cg_emit_copy(c, cg_value(c, in), take, 0, src, from, cg_rows(c, in) * outer, take);
}

/* ---- runtime kernels -------------------------------------------------------- */

static LLVMValueRef cg_operand(cg *c, const ir_block *blk, const ir_inst *in, uint32_t a) {
  return cg_value(c, &blk->insts[in->args[a]]);
}

static void emit_transpose(cg *c, const ir_block *blk, const ir_inst *in) {
  const tshape *s = &blk->insts[in->args[0]].shape;
  LLVMValueRef dims[TSHAPE_MAX_RANK], perm[TSHAPE_MAX_RANK];
  for (uint32_t d = 0; d < TSHAPE_MAX_RANK; d++) {
    dims[d] = cg_isz(c, d < s->rank ? s->dim[d] : 1);
    perm[d] = cg_isz(c, d < s->rank ? in->perm[d] : d);
  }
  char name[512];
  snprintf(name, sizeof name, "%s.transpose.dims", c->m->name);
  LLVMValueRef gd =
      cg_global(c, LLVMConstArray(c->isz, dims, TSHAPE_MAX_RANK), name, LLVMPrivateLinkage, 8);
  snprintf(name, sizeof name, "%s.transpose.perm", c->m->name);
  LLVMValueRef gp =
      cg_global(c, LLVMConstArray(c->isz, perm, TSHAPE_MAX_RANK), name, LLVMPrivateLinkage, 8);
  LLVMValueRef a[6] = {cg_isz(c, cg_rows(c, in)), cg_isz(c, s->rank), gd, gp,
                       cg_operand(c, blk, in, 0), cg_value(c, in)};
  cg_call_runtime(c, "pmm_kernel_transpose", a, 6);
}

/* CONV2D: the kernel specialised to its shape (conv.c), its padded input
 * in the kernel workspace (ir_scratch_conv2d); bench/conv measured it
 * faster than pmm_kernel_conv2d on every shape, grouped ones included
 * (docs/conv.md).  --gemm=blas keeps pmm_kernel_conv2d, the interpreter's
 * kernel and bits. */
/* The kernel function of a convolution shape, shared by every CONV2D of that
 * shape: void <model>.conv.<shape>(x, y, work, packed weight, packed bias).
 * Kernels are the bulk of the code LLVM optimises, so sharing them divides
 * a U-Net's compile time by how often its blocks repeat a shape. */
static void cg_conv_kernel(cg *c, const conv_shape *cs, cg_kernel *k) {
  char name[512];
  snprintf(name, sizeof name, "%s.conv.r%llu.c%llux%llux%llu.o%llu.k%llu.s%llu.p%llu.g%llu%s",
           c->m->name, (unsigned long long)cs->rows, (unsigned long long)cs->ci,
           (unsigned long long)cs->h, (unsigned long long)cs->w, (unsigned long long)cs->co,
           (unsigned long long)cs->k, (unsigned long long)cs->stride, (unsigned long long)cs->pad,
           (unsigned long long)cs->groups, cs->bias ? ".b" : "");
  if (!cg_kernel_begin(c, k, name, 5)) return;
  conv_emitter e = {c->ctx, c->mod, c->b, k->fn, c->width, NULL, NULL};
  LLVMValueRef p[5];
  for (unsigned i = 0; i < 5; i++) p[i] = LLVMGetParam(k->fn, i);
  if (conv_emit_packed(&e, cs, p[0], p[1], p[2], p[3], p[4], c->err, c->errlen) != 0) c->failed = 1;
  cg_kernel_end(c, k);
}

/* "<model>.<what>.<block>.<index>": a symbol naming one instruction, unique
 * across the blocks (a network evaluated in the step and final blocks has
 * instructions of equal index in both). */
static void cg_inst_symbol(const cg *c, const ir_block *blk, const ir_inst *in, const char *what,
                           char *name, size_t len) {
  int k = 0;
  while (k < IR_BLOCK_COUNT - 1 && blk != &c->m->blocks[k]) k++;
  snprintf(name, len, "%s.%s.%s.%u", c->m->name, what, ir_block_name((ir_block_kind)k),
           (unsigned)(in - blk->insts));
}

/* A conv2d's epilogue on one register of results (conv_epilogue_fn):
 * per-sample extras (of the conv's length) are read at the register's
 * sample, channel and pixels, uniform scalars broadcast. */
typedef struct cg_conv_epilogue {
  cg *c;
  gemm_emitter *g;
  const ir_block *blk;
  const ir_inst *in;
} cg_conv_epilogue;

static LLVMValueRef cg_conv_apply(void *user, LLVMValueRef acc, LLVMValueRef sample,
                                  LLVMValueRef channel, LLVMValueRef pixel, LLVMValueRef mask) {
  cg_conv_epilogue *e = user;
  cg *c = e->c;
  const ir_inst *in = e->in;
  unsigned lanes = LLVMGetVectorSize(LLVMTypeOf(acc));
  uint64_t plane = (uint64_t)in->shape.dim[1] * in->shape.dim[2];
  LLVMValueRef v[IR_PROG_MAX_UOPS];
  v[0] = acc;
  for (uint32_t a = 1; a < in->nargs; a++) {
    const ir_inst *s = &e->blk->insts[in->args[a]];
    if (s->uniform) {
      v[a] = gemm_splat(e->g, cg_load(c, cg_value(c, s)), lanes);
      continue;
    }
    LLVMValueRef idx = cg_index(c, sample, in->len, cg_index(c, channel, plane, pixel));
    v[a] = gemm_load(e->g, cg_elem(c, cg_value(c, s), idx), lanes, mask);
  }
  return cg_prog(c, &c->m->progs[in->prog], v);
}

/* The epilogue over the runtime kernel's output in place, a vector of
 * pixels at a time (the --gemm=blas path). */
static void cg_conv_apply_loop(cg *c, const ir_block *blk, const ir_inst *in) {
  gemm_emitter g = {c->ctx, c->mod, c->b, c->fn, c->width, NULL, NULL};
  cg_conv_epilogue ep = {c, &g, blk, in};
  uint64_t plane = (uint64_t)in->shape.dim[1] * in->shape.dim[2], w = c->width;
  uint64_t full = plane / w, tail = plane % w;
  LLVMValueRef y = cg_value(c, in);
  cg_loop ln, lc;
  LLVMValueRef n = cg_loop_begin(c, &ln, 0, cg_rows(c, in), "n");
  LLVMValueRef ch = cg_loop_begin(c, &lc, 0, in->shape.dim[0], "c");
  for (int last = 0; last < 2; last++) {
    if (last ? tail == 0 : full == 0) continue;
    LLVMValueRef mask = last ? gemm_mask(&g, (unsigned)w, (unsigned)tail) : NULL;
    cg_loop lp;
    LLVMValueRef chunk = last ? cg_i64(c, full) : cg_loop_begin(c, &lp, 0, full, "p");
    LLVMValueRef px = cg_index(c, chunk, w, NULL);
    LLVMValueRef at = cg_elem(c, y, cg_index(c, n, in->len, cg_index(c, ch, plane, px)));
    LLVMValueRef v = cg_conv_apply(&ep, gemm_load(&g, at, (unsigned)w, mask), n, ch, px, mask);
    gemm_store(&g, v, at, mask);
    if (!last) cg_loop_end(c, &lp);
  }
  cg_loop_end(c, &lc);
  cg_loop_end(c, &ln);
}

/* Emit body(c, blk, in, user) inside a function of its own for instruction
 * in, `void <model>.<what>.<block>.<i>(scratch, work)`, called from here:
 * the body sees the kernel's scratch and workspace pointers as c->scratch
 * and c->work (no step counter: no op emitted this way reads one). */
typedef void cg_body_fn(cg *c, const ir_block *blk, const ir_inst *in, void *user);

static void cg_in_kernel(cg *c, const ir_block *blk, const ir_inst *in, const char *what,
                         cg_body_fn *body, void *user) {
  char name[512];
  cg_inst_symbol(c, blk, in, what, name, sizeof name);
  cg_kernel k;
  LLVMValueRef args[2] = {c->scratch, c->work};
  if (cg_kernel_begin(c, &k, name, 2)) {
    LLVMValueRef scratch = c->scratch, work = c->work;
    c->scratch = LLVMGetParam(k.fn, 0);
    c->work = LLVMGetParam(k.fn, 1);
    body(c, blk, in, user);
    c->scratch = scratch;
    c->work = work;
    cg_kernel_end(c, &k);
  }
  cg_kernel_call(c, &k, args, 2);
}

/* The packed weights of a conv with an epilogue. */
typedef struct cg_conv_packed {
  const conv_shape *cs;
  LLVMValueRef w, bias;
} cg_conv_packed;

static void cg_conv_epilogue_body(cg *c, const ir_block *blk, const ir_inst *in, void *user) {
  const cg_conv_packed *p = user;
  gemm_emitter g = {c->ctx, c->mod, c->b, c->fn, c->width, NULL, NULL};
  cg_conv_epilogue ep = {c, &g, blk, in};
  conv_emitter e = {c->ctx, c->mod, c->b, c->fn, c->width, cg_conv_apply, &ep};
  if (conv_emit_packed(&e, p->cs, cg_operand(c, blk, in, 0), cg_value(c, in), c->work, p->w,
                       p->bias ? p->bias : LLVMConstPointerNull(c->ptr), c->err, c->errlen) != 0)
    c->failed = 1;
}

/* A conv2d with an epilogue reads its instruction's extra operands, so it
 * gets a kernel of its own rather than its shape's shared one. */
static void cg_conv_with_epilogue(cg *c, const ir_block *blk, const ir_inst *in,
                                  const conv_shape *cs, LLVMValueRef pw, LLVMValueRef pb) {
  cg_conv_packed p = {cs, pw, pb};
  cg_in_kernel(c, blk, in, "conv", cg_conv_epilogue_body, &p);
}

/* conv2d: the LLVM kernel of its shape on its packed weights, or with
 * --gemm=blas the runtime's reference kernel (the interpreter's bits). */
static void emit_conv2d(cg *c, const ir_block *blk, const ir_inst *in) {
  const tshape *s = &blk->insts[in->args[0]].shape;
  const ir_tensor *w = &c->m->tensors[in->weight];
  char name[512];
  snprintf(name, sizeof name, "%s.conv.%s", c->m->name, w->name ? w->name : "");
  const float *bias = in->bias >= 0 ? c->m->tensors[in->bias].data : NULL;
  conv_shape cs = {cg_rows(c, in), s->dim[0], s->dim[1],  s->dim[2], w->shape[0], w->shape[2],
                   in->stride,     in->pad,   in->groups, w->data,   bias,        name};
  if (c->gemm != CODEGEN_GEMM_BLAS) {
    conv_emitter e = {c->ctx, c->mod, c->b, c->fn, c->width, NULL, NULL};
    LLVMValueRef pw, pb;
    if (conv_pack_weights(&e, &cs, &pw, &pb, c->err, c->errlen) != 0) {
      c->failed = 1;
      return;
    }
    if (in->prog >= 0) {
      cg_conv_with_epilogue(c, blk, in, &cs, pw, pb);
      return;
    }
    cg_kernel k;
    cg_conv_kernel(c, &cs, &k);
    LLVMValueRef a[5] = {cg_operand(c, blk, in, 0), cg_value(c, in), c->work, pw,
                         pb ? pb : LLVMConstPointerNull(c->ptr)};
    cg_kernel_call(c, &k, a, 5);
    return;
  }
  LLVMValueRef a[13] = {cg_isz(c, cg_rows(c, in)),
                        cg_isz(c, s->dim[0]),
                        cg_isz(c, s->dim[1]),
                        cg_isz(c, s->dim[2]),
                        cg_isz(c, in->shape.dim[0]),
                        cg_isz(c, w->shape[2]),
                        cg_isz(c, in->stride),
                        cg_isz(c, in->pad),
                        cg_isz(c, in->groups),
                        cg_operand(c, blk, in, 0),
                        c->tensors[in->weight],
                        cg_tensor_or_null(c, in->bias),
                        cg_value(c, in)};
  cg_call_runtime(c, "pmm_kernel_conv2d", a, 13);
  if (in->prog >= 0) cg_conv_apply_loop(c, blk, in);
}

static void emit_sinusoidal(cg *c, const ir_block *blk, const ir_inst *in) {
  LLVMValueRef a[6] = {cg_isz(c, cg_rows(c, in)),
                       cg_isz(c, in->dim),
                       cg_operand(c, blk, in, 0),
                       LLVMConstInt(c->i32, blk->insts[in->args[0]].uniform, 0),
                       LLVMConstInt(c->i32, in->cos_first, 0),
                       cg_value(c, in)};
  cg_call_runtime(c, "pmm_kernel_sinusoidal", a, 6);
}

static void emit_layernorm(cg *c, const ir_block *blk, const ir_inst *in) {
  uint64_t n = in->shape.dim[in->shape.rank - 1];
  LLVMValueRef a[7] = {cg_isz(c, cg_rows(c, in) * (in->len / n)),
                       cg_isz(c, n),
                       cg_operand(c, blk, in, 0),
                       cg_tensor_or_null(c, in->weight),
                       cg_tensor_or_null(c, in->bias),
                       cg_f32(c, in->fattr),
                       cg_value(c, in)};
  cg_call_runtime(c, "pmm_kernel_layernorm", a, 7);
}

/* upsample and avgpool: (rows, c, h, w, factor, x, y). */
static void emit_resample(cg *c, const ir_block *blk, const ir_inst *in, const char *kernel) {
  const tshape *s = &blk->insts[in->args[0]].shape;
  LLVMValueRef a[7] = {cg_isz(c, cg_rows(c, in)),
                       cg_isz(c, s->dim[0]),
                       cg_isz(c, s->dim[1]),
                       cg_isz(c, s->dim[2]),
                       cg_isz(c, in->factor),
                       cg_operand(c, blk, in, 0),
                       cg_value(c, in)};
  cg_call_runtime(c, kernel, a, 7);
}

static void emit_upsample(cg *c, const ir_block *blk, const ir_inst *in) {
  emit_resample(c, blk, in, "pmm_kernel_upsample_nearest");
}

static void emit_avgpool(cg *c, const ir_block *blk, const ir_inst *in) {
  emit_resample(c, blk, in, "pmm_kernel_avgpool");
}

static void emit_attention(cg *c, const ir_block *blk, const ir_inst *in) {
  LLVMValueRef a[7] = {cg_isz(c, cg_rows(c, in)),
                       cg_isz(c, in->shape.dim[0]),
                       cg_isz(c, in->shape.dim[1]),
                       cg_isz(c, in->heads),
                       cg_operand(c, blk, in, 0),
                       c->work,
                       cg_value(c, in)};
  cg_call_runtime(c, "pmm_kernel_attention", a, 7);
}

/* Along the last axis the group kernel, else the strided one (as exec.c). */
static void emit_softmax(cg *c, const ir_block *blk, const ir_inst *in) {
  const tshape *s = &in->shape;
  uint64_t outer = cg_rows(c, in) * tshape_span(s, 0, in->axis), n = s->dim[in->axis];
  uint64_t inner = tshape_span(s, in->axis + 1, s->rank);
  LLVMValueRef x = cg_operand(c, blk, in, 0), y = cg_value(c, in);
  if (inner == 1) {
    LLVMValueRef a[5] = {cg_isz(c, outer), cg_isz(c, 1), cg_isz(c, n), x, y};
    cg_call_runtime(c, "pmm_kernel_softmax", a, 5);
  } else {
    LLVMValueRef a[5] = {cg_isz(c, outer), cg_isz(c, n), cg_isz(c, inner), x, y};
    cg_call_runtime(c, "pmm_kernel_softmax_axis", a, 5);
  }
}

static void emit_argmax(cg *c, const ir_block *blk, const ir_inst *in) {
  const ir_inst *x = &blk->insts[in->args[0]];
  LLVMValueRef a[5] = {cg_isz(c, cg_rows(c, in)), cg_isz(c, x->len / in->dim), cg_isz(c, in->dim),
                       cg_value(c, x), cg_value(c, in)};
  cg_call_runtime(c, "pmm_kernel_argmax", a, 5);
}

/* ---- exact networks ------------------------------------------------------------ */

static LLVMValueRef cg_precision(cg *c, const ir_block *blk, const ir_inst *in) {
  return LLVMBuildFPExt(c->b, cg_load(c, cg_operand(c, blk, in, 1)), c->f64, "");
}

static void emit_exact_gmm(cg *c, const ir_block *blk, const ir_inst *in) {
  const ir_module *m = c->m;
  LLVMValueRef a[7] = {c->gmms[in->mixture],
                       LLVMConstReal(c->f64, m->prior_mean),
                       LLVMConstReal(c->f64, m->prior_precision),
                       cg_precision(c, blk, in),
                       cg_isz(c, cg_rows(c, in)),
                       cg_operand(c, blk, in, 0),
                       cg_value(c, in)};
  cg_call(c, &c->exact_gmm, a, 7);
}

static void emit_exact_atoms_categorical(cg *c, const ir_block *blk, const ir_inst *in) {
  LLVMValueRef a[5] = {c->atoms[in->atoms], LLVMConstReal(c->f64, c->m->prior_smoothing),
                       cg_isz(c, cg_rows(c, in)), cg_operand(c, blk, in, 0), cg_value(c, in)};
  cg_call(c, &c->atoms_categorical, a, 5);
}

/* The normal and gamma atom kernels: (atoms, prior p0, p1, A, rows, x, y). */
static void emit_exact_atoms_prior(cg *c, const ir_block *blk, const ir_inst *in, const cg_fn *f,
                                   double p0, double p1) {
  LLVMValueRef a[7] = {
      c->atoms[in->atoms],      LLVMConstReal(c->f64, p0), LLVMConstReal(c->f64, p1),
      cg_precision(c, blk, in), cg_isz(c, cg_rows(c, in)), cg_operand(c, blk, in, 0),
      cg_value(c, in)};
  cg_call(c, f, a, 7);
}

static void emit_exact_atoms_normal(cg *c, const ir_block *blk, const ir_inst *in) {
  emit_exact_atoms_prior(c, blk, in, &c->atoms_normal, c->m->prior_mean, c->m->prior_precision);
}

static void emit_exact_atoms_gamma(cg *c, const ir_block *blk, const ir_inst *in) {
  emit_exact_atoms_prior(c, blk, in, &c->atoms_gamma, c->m->prior_shape, c->m->prior_rate);
}

typedef void cg_emit_fn(cg *c, const ir_block *blk, const ir_inst *in);

static cg_emit_fn *const emitters[IR_OP_COUNT] = {
#define OP(id, name, args, flags, attrs, shape, cost, scratch, exec, emit) [IR_OP_##id] = emit,
#include "compiler/ir/ir_ops.def"
#undef OP
};

static void cg_outlined_body(cg *c, const ir_block *blk, const ir_inst *in, void *user) {
  (void)user;
  emitters[in->op](c, blk, in);
}

/* A large kernel (IR_OPF_OUTLINE) in a function of its own: LLVM's
 * optimiser grows faster than linearly with a function's size, so one
 * function a kernel keeps compile time proportional to the layer count. */
static void cg_emit_outlined(cg *c, const ir_block *blk, const ir_inst *in) {
  cg_in_kernel(c, blk, in, "op", cg_outlined_body, NULL);
}

void cg_emit_inst(cg *c, const ir_block *blk, const ir_inst *in) {
  if (ir_op_get(in->op)->flags & IR_OPF_OUTLINE)
    cg_emit_outlined(c, blk, in);
  else
    emitters[in->op](c, blk, in);
}
