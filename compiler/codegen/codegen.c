/*
 * codegen.c - IR module -> LLVM module (see codegen.h), and the top-level
 * compile driver that hands the module to emit.c and link.c.
 *
 * The generated <name>_run_block mirrors the interpreter step by step: every
 * value lives at its planned offset in the caller's scratch arena, the init
 * block runs with t = 0, the step block in a real loop t = 1..steps, the
 * final block with t = steps + 1; each block's result is copied to the state
 * buffer (or to the output rows).  Network ops call the same runtime kernels
 * as the interpreter.  Elementwise ops (fill, const, table, act, add, sub,
 * mul, concat, dirichlet_mean) are emitted inline as loops over compile-time
 * trip counts, in float, with no fast-math flags, so LLVM may vectorise them
 * but never reassociate or contract them: they compute the interpreter's
 * bits.  A module whose step block never runs (steps = 0) has no step loop.
 * Activations call the libm functions pmm_act_eval calls, in its order.
 */
#include "config.h"

#include "compiler/codegen/codegen.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <llvm-c/Core.h>
#include <llvm-c/Target.h>

#include "compiler/codegen/emit.h"
#include "compiler/util/xalloc.h"

/* A declared function and its type (calls need both with opaque pointers). */
typedef struct cg_fn {
  LLVMTypeRef type;
  LLVMValueRef fn;
} cg_fn;

/* The Philox key of one non-zero RANDN stream, computed once per call. */
typedef struct cg_stream_key {
  uint32_t stream;
  LLVMValueRef key;
} cg_stream_key;

typedef struct cg {
  const ir_module *m;
  const emit_target *target;
  LLVMContextRef ctx;
  LLVMModuleRef mod;
  LLVMBuilderRef b;
  LLVMTypeRef i32, i64, isz, f32, f64, ptr, void_t, block_t, gmm_t, atoms_t;

  LLVMValueRef *tensors, *tables, *gmms, *atoms; /* constant globals, by module index */
  cg_fn expf_fn, erff_fn, tanhf_fn, log1pf_fn;
  cg_fn dense, rng_key, rng_normal, rng_poisson, sinusoidal, layernorm, exact_gmm;
  cg_fn softmax, argmax, atoms_normal, atoms_gamma, atoms_categorical;

  /* while emitting run_block */
  LLVMValueRef fn, scratch, state, out, key0, seed, first_index;
  LLVMValueRef step32, step64; /* t of the block being emitted */
  cg_stream_key *keys;
  uint32_t nkeys;

  char *err;
  size_t errlen;
} cg;

/* ---- small helpers ------------------------------------------------------- */

static LLVMValueRef cg_i64(cg *c, uint64_t v) { return LLVMConstInt(c->i64, v, 0); }
static LLVMValueRef cg_isz(cg *c, uint64_t v) { return LLVMConstInt(c->isz, v, 0); }
static LLVMValueRef cg_f32(cg *c, float v) { return LLVMConstReal(c->f32, (double)v); }

static uint64_t cg_rows(const cg *c, const ir_inst *in) {
  return in->uniform ? 1 : c->m->block_size;
}

/* &base[idx] for a float array. */
static LLVMValueRef cg_elem(cg *c, LLVMValueRef base, LLVMValueRef idx) {
  return LLVMBuildInBoundsGEP2(c->b, c->f32, base, &idx, 1, "");
}

static LLVMValueRef cg_value(cg *c, const ir_inst *in) {
  return cg_elem(c, c->scratch, cg_i64(c, in->offset));
}

static LLVMValueRef cg_load(cg *c, LLVMValueRef p) {
  LLVMValueRef v = LLVMBuildLoad2(c->b, c->f32, p, "");
  LLVMSetAlignment(v, 4);
  return v;
}

static void cg_store(cg *c, LLVMValueRef v, LLVMValueRef p) {
  LLVMSetAlignment(LLVMBuildStore(c->b, v, p), 4);
}

static LLVMValueRef cg_call(cg *c, const cg_fn *f, LLVMValueRef *args, unsigned n) {
  return LLVMBuildCall2(c->b, f->type, f->fn, args, n, "");
}

static void cg_fn_attr(cg *c, LLVMValueRef fn, LLVMAttributeIndex where, const char *name) {
  unsigned kind = LLVMGetEnumAttributeKindForName(name, strlen(name));
  LLVMAddAttributeAtIndex(fn, where, LLVMCreateEnumAttribute(c->ctx, kind, 0));
}

/* Record the target CPU and features on a defined function, as clang does,
 * so the printed LLVM module recompiles (llc, opt) for the same machine. */
static void cg_target_attrs(cg *c, LLVMValueRef fn) {
  static const char *const keys[2] = {"target-cpu", "target-features"};
  const char *values[2] = {c->target->cpu, c->target->features};
  for (int i = 0; i < 2; i++)
    if (values[i][0])
      LLVMAddAttributeAtIndex(fn, LLVMAttributeFunctionIndex,
                              LLVMCreateStringAttribute(c->ctx, keys[i], (unsigned)strlen(keys[i]),
                                                        values[i], (unsigned)strlen(values[i])));
}

static cg_fn cg_declare(cg *c, const char *name, LLVMTypeRef ret, LLVMTypeRef *params,
                        unsigned n) {
  cg_fn f;
  f.type = LLVMFunctionType(ret, params, n, 0);
  f.fn = LLVMAddFunction(c->mod, name, f.type);
  return f;
}

/* A counted loop [start, end), start < end, bottom-tested; the body is
 * emitted between begin and end and may itself contain loops. */
typedef struct cg_loop {
  LLVMBasicBlockRef body;
  LLVMValueRef iv;
  uint64_t end;
} cg_loop;

static LLVMValueRef cg_loop_begin(cg *c, cg_loop *l, uint64_t start, uint64_t end,
                                  const char *name) {
  LLVMBasicBlockRef pre = LLVMGetInsertBlock(c->b);
  l->body = LLVMAppendBasicBlockInContext(c->ctx, c->fn, name);
  l->end = end;
  LLVMBuildBr(c->b, l->body);
  LLVMPositionBuilderAtEnd(c->b, l->body);
  l->iv = LLVMBuildPhi(c->b, c->i64, name);
  LLVMValueRef v0 = cg_i64(c, start);
  LLVMAddIncoming(l->iv, &v0, &pre, 1);
  return l->iv;
}

static void cg_loop_end(cg *c, cg_loop *l) {
  LLVMValueRef next = LLVMBuildNUWAdd(c->b, l->iv, cg_i64(c, 1), "");
  LLVMBasicBlockRef latch = LLVMGetInsertBlock(c->b);
  LLVMAddIncoming(l->iv, &next, &latch, 1);
  LLVMValueRef more = LLVMBuildICmp(c->b, LLVMIntULT, next, cg_i64(c, l->end), "");
  LLVMBasicBlockRef exit = LLVMAppendBasicBlockInContext(c->ctx, c->fn, "");
  LLVMBuildCondBr(c->b, more, l->body, exit);
  LLVMPositionBuilderAtEnd(c->b, exit);
}

/* iv * k + add, folding the trivial cases so -O0 code stays readable. */
static LLVMValueRef cg_index(cg *c, LLVMValueRef iv, uint64_t k, LLVMValueRef add) {
  LLVMValueRef v = NULL;
  if (k == 1)
    v = iv;
  else if (k != 0)
    v = LLVMBuildNUWMul(c->b, iv, cg_i64(c, k), "");
  if (!v) return add ? add : cg_i64(c, 0);
  return add ? LLVMBuildNUWAdd(c->b, v, add, "") : v;
}

/* ---- constant data ------------------------------------------------------- */

static LLVMValueRef cg_global(cg *c, LLVMValueRef init, const char *name, LLVMLinkage linkage,
                              unsigned align) {
  LLVMValueRef g = LLVMAddGlobal(c->mod, LLVMTypeOf(init), name);
  LLVMSetInitializer(g, init);
  LLVMSetGlobalConstant(g, 1);
  LLVMSetLinkage(g, linkage);
  LLVMSetAlignment(g, align);
  return g;
}

/* A 64-byte aligned internal [n x float] constant; NULL when out of memory. */
static LLVMValueRef cg_float_array(cg *c, const char *name, const float *data, uint64_t n) {
  if (n > UINT_MAX) {
    snprintf(c->err, c->errlen, "constant '%s' has %llu floats, more than LLVM arrays hold", name,
             (unsigned long long)n);
    return NULL;
  }
  LLVMValueRef *vals = xmalloc_array(n ? (size_t)n : 1, sizeof *vals);
  if (!vals) {
    snprintf(c->err, c->errlen, "out of memory embedding '%s'", name);
    return NULL;
  }
  for (uint64_t i = 0; i < n; i++) vals[i] = cg_f32(c, data[i]);
  LLVMValueRef init = LLVMConstArray(c->f32, vals, (unsigned)n);
  free(vals);
  LLVMValueRef g = cg_global(c, init, name, LLVMInternalLinkage, 64);
  LLVMSetUnnamedAddress(g, LLVMGlobalUnnamedAddr);
  return g;
}

/* A private NUL-terminated string constant. */
static LLVMValueRef cg_string(cg *c, const char *s) {
  char name[256];
  snprintf(name, sizeof name, "%s.str", c->m->name);
  LLVMValueRef init = LLVMConstStringInContext(c->ctx, s, (unsigned)strlen(s), 0);
  LLVMValueRef g = cg_global(c, init, name, LLVMPrivateLinkage, 1);
  LLVMSetUnnamedAddress(g, LLVMGlobalUnnamedAddr);
  return g;
}

/* Atom sets as pmm_atoms structs over two float arrays. */
static int cg_emit_atoms(cg *c) {
  const ir_module *m = c->m;
  char name[512];
  for (uint32_t i = 0; i < m->natoms; i++) {
    const ir_atoms *a = &m->atoms[i];
    LLVMValueRef f[5];
    f[0] = cg_i64(c, a->k);
    f[1] = cg_i64(c, a->dim);
    f[2] = cg_i64(c, a->vocab);
    snprintf(name, sizeof name, "%s.atoms%u.value", m->name, i);
    if (!(f[3] = cg_float_array(c, name, a->value, (uint64_t)a->k * a->dim))) return -1;
    snprintf(name, sizeof name, "%s.atoms%u.log_weight", m->name, i);
    if (!(f[4] = cg_float_array(c, name, a->log_weight, a->k))) return -1;
    snprintf(name, sizeof name, "%s.atoms%u", m->name, i);
    c->atoms[i] =
        cg_global(c, LLVMConstNamedStruct(c->atoms_t, f, 5), name, LLVMInternalLinkage, 8);
  }
  return 0;
}

/* Tensors, tables, mixtures and atom sets (with their pmm_gmm and
 * pmm_atoms structs) as globals. */
static int cg_emit_data(cg *c) {
  const ir_module *m = c->m;
  char name[512];
  c->tensors = xcalloc_array(m->ntensors, sizeof *c->tensors);
  c->tables = xcalloc_array(m->ntables, sizeof *c->tables);
  c->gmms = xcalloc_array(m->nmixtures, sizeof *c->gmms);
  c->atoms = xcalloc_array(m->natoms, sizeof *c->atoms);
  if (!c->tensors || !c->tables || !c->gmms || !c->atoms) {
    snprintf(c->err, c->errlen, "out of memory");
    return -1;
  }
  for (uint32_t i = 0; i < m->ntensors; i++) {
    const ir_tensor *t = &m->tensors[i];
    snprintf(name, sizeof name, "%s.tensor.%s", m->name, t->name ? t->name : "");
    if (!(c->tensors[i] = cg_float_array(c, name, t->data, t->count))) return -1;
  }
  for (uint32_t i = 0; i < m->ntables; i++) {
    const ir_table *t = &m->tables[i];
    snprintf(name, sizeof name, "%s.table.%s", m->name, t->name ? t->name : "");
    if (!(c->tables[i] = cg_float_array(c, name, t->data, (uint64_t)t->count * t->width))) return -1;
  }
  for (uint32_t i = 0; i < m->nmixtures; i++) {
    const ir_mixture *x = &m->mixtures[i];
    LLVMValueRef f[5];
    f[0] = cg_i64(c, x->k);
    f[1] = cg_i64(c, x->dim);
    snprintf(name, sizeof name, "%s.mixture%u.weight", m->name, i);
    if (!(f[2] = cg_float_array(c, name, x->weight, x->k))) return -1;
    snprintf(name, sizeof name, "%s.mixture%u.mean", m->name, i);
    if (!(f[3] = cg_float_array(c, name, x->mean, (uint64_t)x->k * x->dim))) return -1;
    snprintf(name, sizeof name, "%s.mixture%u.std", m->name, i);
    if (!(f[4] = cg_float_array(c, name, x->std, x->k))) return -1;
    snprintf(name, sizeof name, "%s.mixture%u", m->name, i);
    c->gmms[i] = cg_global(c, LLVMConstNamedStruct(c->gmm_t, f, 5), name, LLVMInternalLinkage, 8);
  }
  return cg_emit_atoms(c);
}

/* ---- runtime and libm declarations --------------------------------------- */

static void cg_declare_runtime(cg *c) {
  LLVMTypeRef f1[1] = {c->f32};
  c->expf_fn = cg_declare(c, "expf", c->f32, f1, 1);
  c->erff_fn = cg_declare(c, "erff", c->f32, f1, 1);
  c->tanhf_fn = cg_declare(c, "tanhf", c->f32, f1, 1);
  c->log1pf_fn = cg_declare(c, "log1pf", c->f32, f1, 1);

  LLVMTypeRef dense[7] = {c->isz, c->isz, c->isz, c->ptr, c->ptr, c->ptr, c->ptr};
  c->dense = cg_declare(c, "pmm_kernel_dense", c->void_t, dense, 7);

  /* 32-bit integer arguments carry their C signedness so targets that
   * extend them in registers (RISC-V, PowerPC) see the C ABI. */
  LLVMTypeRef key[3] = {c->i64, c->i32, c->ptr};
  c->rng_key = cg_declare(c, "pmm_rng_key", c->void_t, key, 3);
  cg_fn_attr(c, c->rng_key.fn, 2, "zeroext");

  LLVMTypeRef normal[6] = {c->ptr, c->i64, c->isz, c->i32, c->isz, c->ptr};
  c->rng_normal = cg_declare(c, "pmm_rng_normal_block", c->void_t, normal, 6);
  cg_fn_attr(c, c->rng_normal.fn, 4, "zeroext");

  LLVMTypeRef sin[5] = {c->isz, c->isz, c->ptr, c->i32, c->ptr};
  c->sinusoidal = cg_declare(c, "pmm_kernel_sinusoidal", c->void_t, sin, 5);
  cg_fn_attr(c, c->sinusoidal.fn, 4, "signext");

  LLVMTypeRef ln[7] = {c->isz, c->isz, c->ptr, c->ptr, c->ptr, c->f32, c->ptr};
  c->layernorm = cg_declare(c, "pmm_kernel_layernorm", c->void_t, ln, 7);

  LLVMTypeRef gmm[7] = {c->ptr, c->f64, c->f64, c->f64, c->isz, c->ptr, c->ptr};
  c->exact_gmm = cg_declare(c, "pmm_kernel_exact_gmm", c->void_t, gmm, 7);
  c->atoms_normal = cg_declare(c, "pmm_kernel_exact_atoms_normal", c->void_t, gmm, 7);
  c->atoms_gamma = cg_declare(c, "pmm_kernel_exact_atoms_gamma", c->void_t, gmm, 7);
  LLVMTypeRef cat[5] = {c->ptr, c->f64, c->isz, c->ptr, c->ptr};
  c->atoms_categorical = cg_declare(c, "pmm_kernel_exact_atoms_categorical", c->void_t, cat, 5);

  LLVMTypeRef poisson[7] = {c->ptr, c->i64, c->isz, c->i32, c->isz, c->ptr, c->ptr};
  c->rng_poisson = cg_declare(c, "pmm_rng_poisson_block", c->void_t, poisson, 7);
  cg_fn_attr(c, c->rng_poisson.fn, 4, "zeroext");

  LLVMTypeRef groups[5] = {c->isz, c->isz, c->isz, c->ptr, c->ptr};
  c->softmax = cg_declare(c, "pmm_kernel_softmax", c->void_t, groups, 5);
  c->argmax = cg_declare(c, "pmm_kernel_argmax", c->void_t, groups, 5);
}

/* ---- instructions -------------------------------------------------------- */

/* pmm_act_eval's formula, operation for operation. */
static LLVMValueRef cg_act(cg *c, pmm_act act, LLVMValueRef x) {
  LLVMValueRef one = cg_f32(c, 1.0f), v;
  switch (act) {
  case PMM_ACT_RELU:
    v = LLVMBuildFCmp(c->b, LLVMRealOGT, x, cg_f32(c, 0.0f), "");
    return LLVMBuildSelect(c->b, v, x, cg_f32(c, 0.0f), "");
  case PMM_ACT_SILU:
    v = LLVMBuildFNeg(c->b, x, "");
    v = LLVMBuildFAdd(c->b, one, cg_call(c, &c->expf_fn, &v, 1), "");
    return LLVMBuildFDiv(c->b, x, v, "");
  case PMM_ACT_GELU: {
    LLVMValueRef half = LLVMBuildFMul(c->b, cg_f32(c, 0.5f), x, "");
    v = LLVMBuildFMul(c->b, x, cg_f32(c, 0.70710678f), "");
    v = LLVMBuildFAdd(c->b, one, cg_call(c, &c->erff_fn, &v, 1), "");
    return LLVMBuildFMul(c->b, half, v, "");
  }
  case PMM_ACT_TANH: return cg_call(c, &c->tanhf_fn, &x, 1);
  case PMM_ACT_SIGMOID:
    v = LLVMBuildFNeg(c->b, x, "");
    v = LLVMBuildFAdd(c->b, one, cg_call(c, &c->expf_fn, &v, 1), "");
    return LLVMBuildFDiv(c->b, one, v, "");
  case PMM_ACT_SOFTPLUS: {
    LLVMValueRef big = LLVMBuildFCmp(c->b, LLVMRealOGT, x, cg_f32(c, 20.0f), "");
    v = cg_call(c, &c->expf_fn, &x, 1);
    v = cg_call(c, &c->log1pf_fn, &v, 1);
    return LLVMBuildSelect(c->b, big, x, v, "");
  }
  case PMM_ACT_NONE:
  case PMM_ACT_COUNT: break;
  }
  return x;
}

/* An elementwise program on loaded operands v (v[k] = ARG k), uop by uop as
 * ir.h orders them. */
static LLVMValueRef cg_prog(cg *c, const ir_prog *p, LLVMValueRef *v) {
  LLVMValueRef reg[IR_PROG_MAX_UOPS];
  for (uint32_t u = 0; u < p->count; u++) {
    const ir_uop *op = &p->uops[u];
    switch (op->kind) {
    case IR_UOP_ARG: reg[u] = v[op->a]; break;
    case IR_UOP_CONST: reg[u] = cg_f32(c, op->f); break;
    case IR_UOP_ADD: reg[u] = LLVMBuildFAdd(c->b, reg[op->a], reg[op->b], ""); break;
    case IR_UOP_SUB: reg[u] = LLVMBuildFSub(c->b, reg[op->a], reg[op->b], ""); break;
    case IR_UOP_MUL: reg[u] = LLVMBuildFMul(c->b, reg[op->a], reg[op->b], ""); break;
    case IR_UOP_ACT: reg[u] = cg_act(c, op->act, reg[op->a]); break;
    case IR_UOP_COUNT: reg[u] = cg_f32(c, 0.0f); break;
    }
  }
  return reg[p->count - 1];
}

/* The scalar result of an elementwise instruction from its loaded operands
 * (a DENSE here is its epilogue, v[0] being the GEMM result). */
static LLVMValueRef cg_scalar(cg *c, const ir_inst *in, LLVMValueRef *v) {
  switch (in->op) {
  case IR_OP_FUSED:
  case IR_OP_DENSE: return cg_prog(c, &c->m->progs[in->prog], v);
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
static void cg_emit_map(cg *c, const ir_block *blk, const ir_inst *in) {
  uint64_t rows = cg_rows(c, in), n = in->len;
  LLVMValueRef y = cg_value(c, in), base[IR_PROG_MAX_UOPS], v[IR_PROG_MAX_UOPS];
  const ir_inst *x[IR_PROG_MAX_UOPS];
  int same[IR_PROG_MAX_UOPS], flat = 1;
  for (uint32_t a = 0; a < in->nargs; a++) {
    /* a dense's operand 0 is its GEMM input; its epilogue reads the result */
    x[a] = in->op == IR_OP_DENSE && a == 0 ? in : &blk->insts[in->args[a]];
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

/* dst[r * dst_stride + col + e] = src[r * src_stride + e] for r < rows,
 * e < cols (src_stride 0: one source row repeated). */
static void cg_emit_copy(cg *c, LLVMValueRef dst, uint64_t dst_stride, uint64_t col,
                         LLVMValueRef src, uint64_t src_stride, uint64_t rows, uint64_t cols) {
  if (src_stride == cols && dst_stride == cols) {
    cols *= rows;
    rows = 1;
  }
  cg_loop lr, le;
  LLVMValueRef r = rows > 1 ? cg_loop_begin(c, &lr, 0, rows, "r") : NULL;
  LLVMValueRef e = cg_loop_begin(c, &le, 0, cols, "e");
  LLVMValueRef s = r ? cg_index(c, r, src_stride, e) : e;
  LLVMValueRef d = r ? cg_index(c, r, dst_stride, e) : e;
  if (col) d = LLVMBuildNUWAdd(c->b, d, cg_i64(c, col), "");
  cg_store(c, cg_load(c, cg_elem(c, src, s)), cg_elem(c, dst, d));
  cg_loop_end(c, &le);
  if (r) cg_loop_end(c, &lr);
}

/* DIRICHLET_MEAN as ir.h spells it: per group of K, a sequential float sum,
 * then (beta + c_k) / (kb + n). */
static void cg_emit_dirichlet_mean(cg *c, const ir_inst *in, const ir_inst *x) {
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

static LLVMValueRef cg_tensor_or_null(cg *c, int32_t t) {
  return t >= 0 ? c->tensors[t] : LLVMConstPointerNull(c->ptr);
}

/* The key of a non-zero stream, NULL before cg_emit_stream_keys made it. */
static LLVMValueRef cg_find_key(const cg *c, uint32_t stream) {
  for (uint32_t i = 0; i < c->nkeys; i++)
    if (c->keys[i].stream == stream) return c->keys[i].key;
  return NULL;
}

static void cg_emit_inst(cg *c, const ir_block *blk, const ir_inst *in) {
  const ir_module *m = c->m;
  const ir_inst *x = in->nargs ? &blk->insts[in->args[0]] : NULL;
  uint64_t rows = cg_rows(c, in);
  LLVMValueRef y = cg_value(c, in);
  switch (in->op) {
  case IR_OP_STATE:
    if (in->offset != m->state_offset)
      cg_emit_copy(c, y, in->len, 0, c->state, in->len, m->block_size, in->len);
    return;
  case IR_OP_FILL:
  case IR_OP_CONST:
  case IR_OP_ACT:
  case IR_OP_ADD:
  case IR_OP_SUB:
  case IR_OP_MUL:
  case IR_OP_FUSED: cg_emit_map(c, blk, in); return;
  case IR_OP_TABLE: {
    LLVMValueRef idx = LLVMBuildNUWSub(c->b, c->step64, cg_i64(c, 1), "");
    idx = LLVMBuildNUWMul(c->b, idx, cg_i64(c, in->len), "");
    cg_emit_copy(c, y, in->len, 0, cg_elem(c, c->tables[in->table], idx), in->len, 1, in->len);
    return;
  }
  case IR_OP_TENSOR:
    cg_emit_copy(c, y, in->len, 0, c->tensors[in->weight], in->len, 1, in->len);
    return;
  case IR_OP_RANDN: {
    LLVMValueRef key = in->stream ? cg_find_key(c, in->stream) : c->key0;
    LLVMValueRef a[6] = {key, c->first_index, cg_isz(c, rows),
                         c->step32, cg_isz(c, in->len), y};
    cg_call(c, &c->rng_normal, a, 6);
    return;
  }
  case IR_OP_POISSON: {
    LLVMValueRef key = in->stream ? cg_find_key(c, in->stream) : c->key0;
    LLVMValueRef a[7] = {key, c->first_index, cg_isz(c, rows), c->step32,
                         cg_isz(c, in->len), cg_value(c, x), y};
    cg_call(c, &c->rng_poisson, a, 7);
    return;
  }
  case IR_OP_SOFTMAX:
  case IR_OP_ARGMAX: {
    LLVMValueRef a[5] = {cg_isz(c, rows), cg_isz(c, x->len / in->dim), cg_isz(c, in->dim),
                         cg_value(c, x), y};
    cg_call(c, in->op == IR_OP_SOFTMAX ? &c->softmax : &c->argmax, a, 5);
    return;
  }
  case IR_OP_DIRICHLET_MEAN: cg_emit_dirichlet_mean(c, in, x); return;
  case IR_OP_EXACT_ATOMS_NORMAL:
  case IR_OP_EXACT_ATOMS_GAMMA: {
    int normal = in->op == IR_OP_EXACT_ATOMS_NORMAL;
    LLVMValueRef A = cg_load(c, cg_value(c, &blk->insts[in->args[1]]));
    LLVMValueRef a[7] = {c->atoms[in->atoms],
                         LLVMConstReal(c->f64, normal ? m->prior_mean : m->prior_shape),
                         LLVMConstReal(c->f64, normal ? m->prior_precision : m->prior_rate),
                         LLVMBuildFPExt(c->b, A, c->f64, ""), cg_isz(c, rows), cg_value(c, x), y};
    cg_call(c, normal ? &c->atoms_normal : &c->atoms_gamma, a, 7);
    return;
  }
  case IR_OP_EXACT_ATOMS_CATEGORICAL: {
    LLVMValueRef a[5] = {c->atoms[in->atoms], LLVMConstReal(c->f64, m->prior_smoothing),
                         cg_isz(c, rows), cg_value(c, x), y};
    cg_call(c, &c->atoms_categorical, a, 5);
    return;
  }
  case IR_OP_DENSE: {
    LLVMValueRef a[7] = {cg_isz(c, rows), cg_isz(c, x->len), cg_isz(c, in->len),
                         cg_value(c, x), c->tensors[in->weight],
                         cg_tensor_or_null(c, in->bias), y};
    cg_call(c, &c->dense, a, 7);
    if (in->prog >= 0) cg_emit_map(c, blk, in);
    return;
  }
  case IR_OP_CONCAT: {
    uint64_t col = 0;
    for (uint32_t i = 0; i < in->nargs; i++) {
      const ir_inst *s = &blk->insts[in->args[i]];
      cg_emit_copy(c, y, in->len, col, cg_value(c, s), s->uniform ? 0 : s->len, rows, s->len);
      col += s->len;
    }
    return;
  }
  case IR_OP_SINUSOIDAL: {
    LLVMValueRef a[5] = {cg_isz(c, rows), cg_isz(c, in->dim), cg_value(c, x),
                         LLVMConstInt(c->i32, x->uniform, 0), y};
    cg_call(c, &c->sinusoidal, a, 5);
    return;
  }
  case IR_OP_LAYERNORM: {
    LLVMValueRef a[7] = {cg_isz(c, rows), cg_isz(c, in->len), cg_value(c, x),
                         c->tensors[in->weight], cg_tensor_or_null(c, in->bias),
                         cg_f32(c, in->fattr), y};
    cg_call(c, &c->layernorm, a, 7);
    return;
  }
  case IR_OP_EXACT_GMM: {
    LLVMValueRef A = cg_load(c, cg_value(c, &blk->insts[in->args[1]]));
    LLVMValueRef a[7] = {c->gmms[in->mixture], LLVMConstReal(c->f64, m->prior_mean),
                         LLVMConstReal(c->f64, m->prior_precision),
                         LLVMBuildFPExt(c->b, A, c->f64, ""), cg_isz(c, rows), cg_value(c, x), y};
    cg_call(c, &c->exact_gmm, a, 7);
    return;
  }
  case IR_OP_COUNT: break;
  }
}

/* Run block k at the current step and copy its (per-sample) result to dst. */
static void cg_emit_block(cg *c, ir_block_kind k, LLVMValueRef dst) {
  const ir_block *blk = &c->m->blocks[k];
  for (uint32_t i = 0; i < blk->count; i++) cg_emit_inst(c, blk, &blk->insts[i]);
  const ir_inst *r = &blk->insts[blk->result];
  /* A STATE result copied onto the state buffer is already there. */
  if (dst == c->state && r->offset == c->m->state_offset) return;
  cg_emit_copy(c, dst, r->len, 0, cg_value(c, r), r->len, c->m->block_size, r->len);
}

/* Keys of the non-zero RANDN and POISSON streams, computed once at function
 * entry. */
static int cg_emit_stream_keys(cg *c) {
  size_t total = 0;
  for (int k = 0; k < IR_BLOCK_COUNT; k++) total += c->m->blocks[k].count;
  c->keys = xcalloc_array(total, sizeof *c->keys);
  if (!c->keys) {
    snprintf(c->err, c->errlen, "out of memory");
    return -1;
  }
  LLVMTypeRef key_t = LLVMArrayType(c->i32, 2);
  for (int k = 0; k < IR_BLOCK_COUNT; k++) {
    const ir_block *blk = &c->m->blocks[k];
    for (uint32_t i = 0; i < blk->count; i++) {
      const ir_inst *in = &blk->insts[i];
      if ((in->op != IR_OP_RANDN && in->op != IR_OP_POISSON) || in->stream == 0 ||
          cg_find_key(c, in->stream))
        continue;
      LLVMValueRef key = LLVMBuildAlloca(c->b, key_t, "key");
      LLVMSetAlignment(key, 4);
      LLVMValueRef a[3] = {c->seed, LLVMConstInt(c->i32, in->stream, 0), key};
      cg_call(c, &c->rng_key, a, 3);
      c->keys[c->nkeys].stream = in->stream;
      c->keys[c->nkeys].key = key;
      c->nkeys++;
    }
  }
  return 0;
}

static void cg_set_step(cg *c, uint64_t t) {
  c->step64 = cg_i64(c, t);
  c->step32 = LLVMConstInt(c->i32, (uint32_t)t, 0);
}

static int cg_emit_run_block(cg *c) {
  const ir_module *m = c->m;
  char name[512];
  snprintf(name, sizeof name, "%s_run_block", m->name);
  LLVMTypeRef params[2] = {c->ptr, c->ptr};
  c->fn = LLVMAddFunction(c->mod, name, LLVMFunctionType(c->i32, params, 2, 0));
  cg_fn_attr(c, c->fn, LLVMAttributeFunctionIndex, "nounwind");
  cg_target_attrs(c, c->fn);
  LLVMValueRef blk = LLVMGetParam(c->fn, 1);
  LLVMSetValueName2(LLVMGetParam(c->fn, 0), "user", 4);
  LLVMSetValueName2(blk, "blk", 3);

  LLVMPositionBuilderAtEnd(c->b, LLVMAppendBasicBlockInContext(c->ctx, c->fn, "entry"));
  c->key0 = LLVMBuildStructGEP2(c->b, c->block_t, blk, 0, "key");
  c->seed = LLVMBuildLoad2(c->b, c->i64, LLVMBuildStructGEP2(c->b, c->block_t, blk, 1, ""),
                           "seed");
  c->first_index = LLVMBuildLoad2(
      c->b, c->i64, LLVMBuildStructGEP2(c->b, c->block_t, blk, 2, ""), "first_index");
  c->out = LLVMBuildLoad2(c->b, c->ptr, LLVMBuildStructGEP2(c->b, c->block_t, blk, 3, ""),
                          "out");
  c->scratch = LLVMBuildLoad2(c->b, c->ptr, LLVMBuildStructGEP2(c->b, c->block_t, blk, 4, ""),
                              "scratch");
  c->state = cg_elem(c, c->scratch, cg_i64(c, m->state_offset));
  if (cg_emit_stream_keys(c) != 0) return -1;

  cg_set_step(c, 0);
  cg_emit_block(c, IR_BLOCK_INIT, c->state);

  if (m->steps > 0) {
    cg_loop steps;
    c->step64 = cg_loop_begin(c, &steps, 1, (uint64_t)m->steps + 1, "t");
    c->step32 = LLVMBuildTrunc(c->b, c->step64, c->i32, "t32");
    cg_emit_block(c, IR_BLOCK_STEP, c->state);
    cg_loop_end(c, &steps);
  }

  cg_set_step(c, (uint64_t)m->steps + 1);
  cg_emit_block(c, IR_BLOCK_FINAL, c->out);
  LLVMBuildRet(c->b, LLVMConstInt(c->i32, 0, 0));
  return 0;
}

/* ---- descriptor and main ------------------------------------------------- */

static LLVMValueRef cg_emit_desc(cg *c, const codegen_options *o) {
  const ir_module *m = c->m;
  char engine[512], name[512];
  if (o->engine)
    snprintf(engine, sizeof engine, "%s", o->engine);
  else
    snprintf(engine, sizeof engine, "pmmc %s, LLVM %s, -O%d, %s", PACKAGE_VERSION,
             PMMC_LLVM_VERSION, o->opt_level, c->target->cpu);
  LLVMValueRef shape[4];
  for (uint32_t i = 0; i < 4; i++) shape[i] = cg_i64(c, i < m->rank ? m->shape[i] : 0);
  LLVMValueRef f[] = {
      cg_i64(c, PMM_DESC_ABI),
      cg_string(c, m->name),
      cg_string(c, m->pair ? m->pair : ""),
      cg_string(c, m->sampler ? m->sampler : ""),
      cg_string(c, m->output ? m->output : ""),
      cg_string(c, m->schedule ? m->schedule : ""),
      cg_string(c, engine),
      cg_string(c, m->weight_hash ? m->weight_hash : ""),
      m->vocab ? cg_string(c, m->vocab) : LLVMConstPointerNull(c->ptr),
      cg_i64(c, m->schedule_steps),
      cg_i64(c, m->rank),
      LLVMConstArray(c->i64, shape, 4),
      cg_i64(c, m->out_len),
      cg_i64(c, m->block_size),
      cg_i64(c, m->scratch_floats * sizeof(float)),
      cg_i64(c, ir_count_flops(m)),
      cg_i64(c, ir_count_weight_bytes(m)),
      cg_i64(c, m->vocab_size),
      LLVMConstInt(c->i64, (unsigned long long)(int64_t)m->pad_symbol, 1),
      LLVMConstReal(c->f64, m->range_lo),
      LLVMConstReal(c->f64, m->range_hi),
      c->fn,
      LLVMConstPointerNull(c->ptr),
  };
  snprintf(name, sizeof name, "%s_desc", m->name);
  LLVMValueRef init = LLVMConstStructInContext(c->ctx, f, sizeof f / sizeof f[0], 0);
  return cg_global(c, init, name, LLVMExternalLinkage, 8);
}

static void cg_emit_main(cg *c, LLVMValueRef desc) {
  LLVMTypeRef sp[3] = {c->i32, c->ptr, c->ptr};
  cg_fn sampler_main = cg_declare(c, "pmm_sampler_main", c->i32, sp, 3);
  LLVMTypeRef mp[2] = {c->i32, c->ptr};
  LLVMValueRef fn = LLVMAddFunction(c->mod, "main", LLVMFunctionType(c->i32, mp, 2, 0));
  cg_target_attrs(c, fn);
  LLVMPositionBuilderAtEnd(c->b, LLVMAppendBasicBlockInContext(c->ctx, fn, "entry"));
  LLVMValueRef a[3] = {LLVMGetParam(fn, 0), LLVMGetParam(fn, 1), desc};
  LLVMBuildRet(c->b, cg_call(c, &sampler_main, a, 3));
}

/* ---- checks and the compile driver --------------------------------------- */

/* The generated code trusts the memory plan completely, so check that every
 * slot lies inside the arena the runtime allocates. */
static int cg_check_plan(const ir_module *m, char *err, size_t errlen) {
  if (m->scratch_floats == 0 || m->scratch_floats > UINT64_MAX / sizeof(float)) {
    snprintf(err, errlen, "module '%s' has no valid memory plan (run ir_plan_memory first)",
             m->name);
    return -1;
  }
  uint64_t end = m->state_offset + (uint64_t)m->block_size * m->state_len;
  if (end < m->state_offset || end > m->scratch_floats) {
    snprintf(err, errlen, "module '%s': state buffer lies outside the scratch arena", m->name);
    return -1;
  }
  for (int k = 0; k < IR_BLOCK_COUNT; k++) {
    const ir_block *b = &m->blocks[k];
    for (uint32_t i = 0; i < b->count; i++) {
      const ir_inst *in = &b->insts[i];
      uint64_t n = (in->uniform ? 1 : (uint64_t)m->block_size) * in->len;
      if (in->offset > m->scratch_floats || n > m->scratch_floats - in->offset) {
        snprintf(err, errlen, "module '%s': %s block, %%%u lies outside the scratch arena",
                 m->name, ir_block_name((ir_block_kind)k), i);
        return -1;
      }
    }
  }
  return 0;
}

static void cg_types_init(cg *c) {
  c->i32 = LLVMInt32TypeInContext(c->ctx);
  c->i64 = LLVMInt64TypeInContext(c->ctx);
  c->isz = LLVMIntPtrTypeInContext(c->ctx, c->target->layout);
  c->f32 = LLVMFloatTypeInContext(c->ctx);
  c->f64 = LLVMDoubleTypeInContext(c->ctx);
  c->ptr = LLVMPointerTypeInContext(c->ctx, 0);
  c->void_t = LLVMVoidTypeInContext(c->ctx);
  /* pmm_block: {uint32_t key[2]; uint64_t seed, first_index; float *out; void *scratch} */
  LLVMTypeRef bf[5] = {LLVMArrayType(c->i32, 2), c->i64, c->i64, c->ptr, c->ptr};
  c->block_t = LLVMStructTypeInContext(c->ctx, bf, 5, 0);
  /* pmm_gmm: {uint64_t k, dim; const float *weight, *mean, *std} */
  LLVMTypeRef gf[5] = {c->i64, c->i64, c->ptr, c->ptr, c->ptr};
  c->gmm_t = LLVMStructCreateNamed(c->ctx, "pmm_gmm");
  LLVMStructSetBody(c->gmm_t, gf, 5, 0);
  /* pmm_atoms: {uint64_t k, dim, vocab; const float *value, *log_weight} */
  LLVMTypeRef af[5] = {c->i64, c->i64, c->i64, c->ptr, c->ptr};
  c->atoms_t = LLVMStructCreateNamed(c->ctx, "pmm_atoms");
  LLVMStructSetBody(c->atoms_t, af, 5, 0);
}

static int cg_build_module(cg *c, const codegen_options *o) {
  cg_types_init(c);
  cg_declare_runtime(c);
  if (cg_emit_data(c) != 0 || cg_emit_run_block(c) != 0) return -1;
  LLVMValueRef desc = cg_emit_desc(c, o);
  if (o->emit == CODEGEN_EMIT_EXE) cg_emit_main(c, desc);
  return 0;
}

void codegen_options_init(codegen_options *o) {
  memset(o, 0, sizeof *o);
  o->opt_level = 2;
  o->emit = CODEGEN_EMIT_EXE;
}

/* Write the optimised module where o asks: through a temporary name next to
 * the output (renamed on success), or via a temporary object and the linker
 * for executables. */
static int cg_write_output(const emit_target *t, LLVMModuleRef mod, const codegen_options *o,
                           char *err, size_t errlen) {
  char tmp[4096];
  if (o->emit == CODEGEN_EMIT_EXE) {
    if (emit_temp_path(o->output, ".o", tmp, sizeof tmp) != 0) {
      snprintf(err, errlen, "output path too long: %s", o->output);
      return -1;
    }
    int rc = emit_module_write(t, mod, CODEGEN_EMIT_OBJ, tmp, o->output, err, errlen);
    if (rc == 0) rc = codegen_link_executable(tmp, o->output, o->runtime_lib, err, errlen);
    remove(tmp);
    return rc;
  }
  if (strcmp(o->output, "-") == 0)
    return emit_module_write(t, mod, o->emit, "-", "-", err, errlen);
  if (emit_temp_path(o->output, "", tmp, sizeof tmp) != 0) {
    snprintf(err, errlen, "output path too long: %s", o->output);
    return -1;
  }
  if (emit_module_write(t, mod, o->emit, tmp, o->output, err, errlen) != 0) {
    remove(tmp);
    return -1;
  }
  if (rename(tmp, o->output) != 0) {
    snprintf(err, errlen, "cannot write '%s': %s", o->output, strerror(errno));
    remove(tmp);
    return -1;
  }
  return 0;
}

int codegen_compile(const ir_module *m, const codegen_options *o, char *err, size_t errlen) {
  if (!o->output || !*o->output) {
    snprintf(err, errlen, "no output path given");
    return -1;
  }
  if (o->emit == CODEGEN_EMIT_EXE && strcmp(o->output, "-") == 0) {
    snprintf(err, errlen, "an executable cannot be written to standard output");
    return -1;
  }
  if (ir_verify(m, err, errlen) != 0 || cg_check_plan(m, err, errlen) != 0) return -1;

  emit_target target;
  if (emit_target_init(&target, o, err, errlen) != 0) return -1;
  cg c;
  memset(&c, 0, sizeof c);
  c.m = m;
  c.target = &target;
  c.err = err;
  c.errlen = errlen;
  c.ctx = LLVMContextCreate();
  c.mod = LLVMModuleCreateWithNameInContext(m->name, c.ctx);
  c.b = LLVMCreateBuilderInContext(c.ctx);
  emit_target_apply(&target, c.mod);

  int rc = cg_build_module(&c, o);
  if (rc == 0) rc = emit_module_optimise(&target, c.mod, o->opt_level, err, errlen);
  if (rc == 0) rc = cg_write_output(&target, c.mod, o, err, errlen);

  free(c.tensors);
  free(c.tables);
  free(c.gmms);
  free(c.atoms);
  free(c.keys);
  LLVMDisposeBuilder(c.b);
  LLVMDisposeModule(c.mod);
  LLVMContextDispose(c.ctx);
  emit_target_free(&target);
  return rc;
}
