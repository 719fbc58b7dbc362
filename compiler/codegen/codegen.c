/*
 * codegen.c - IR module -> LLVM module (see codegen.h), and the top-level
 * compile driver that hands the module to emit.c and link.c.
 *
 * The generated <name>_run_block mirrors the interpreter step by step: every
 * value lives at its planned offset in the caller's scratch arena, the init
 * block runs with t = 0, the step block in a real loop t = 1..steps, the
 * final block with t = steps + 1; each block's result is copied to the state
 * buffer (or to the output rows).  Network ops call the same runtime kernels
 * as the interpreter, except dense layers, which by default run kernels
 * specialised to their constant shapes (gemm.c; --gemm, docs/gemm.md) with
 * bias and epilogue applied in registers.  Elementwise ops (fill, const, table, act, add, sub,
 * mul, concat, dirichlet_mean) are emitted inline as loops over compile-time
 * trip counts, in float, with no fast-math flags, so LLVM may vectorise them
 * but never reassociate or contract them: they compute the interpreter's
 * bits.  A module whose step block never runs (steps = 0) has no step loop.
 * Activations emit pmm_act_eval's operations in its order: the exponential
 * inline (runtime/fastmath.h), erff, tanhf and log1pf as libm calls.
 */
#include "config.h"

#include "compiler/codegen/codegen.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <llvm-c/Core.h>
#include <llvm-c/Target.h>

#include "compiler/codegen/emit.h"
#include "compiler/codegen/gemm.h"
#include "compiler/util/xalloc.h"
#include "runtime/fastmath.h"

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
  cg_fn erff_fn, tanhf_fn, log1pf_fn;
  cg_fn dense, rng_key, rng_normal, rng_poisson, sinusoidal, layernorm, exact_gmm;
  cg_fn softmax, argmax, atoms_normal, atoms_gamma, atoms_categorical;

  /* while emitting run_block */
  LLVMValueRef fn, scratch, state, out, key0, seed, first_index;
  LLVMValueRef step32, step64; /* t of the block being emitted */
  cg_stream_key *keys;
  uint32_t nkeys;

  codegen_gemm gemm; /* how DENSE layers are computed */
  unsigned width;    /* floats a vector register holds */
  int failed;        /* an instruction could not be emitted (message in err) */

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

/* A float constant of type ty: a scalar, or splat over a <N x float>
 * (constants take the type of the value they meet, so cg_act and cg_prog
 * work on scalars and vectors alike). */
static LLVMValueRef cg_splat(cg *c, LLVMTypeRef ty, LLVMValueRef scalar) {
  if (LLVMGetTypeKind(ty) != LLVMVectorTypeKind) return scalar;
  /* insertelement + shufflevector of constants fold to a constant splat */
  LLVMTypeRef sty = LLVMTypeOf(scalar);
  LLVMValueRef one = LLVMBuildInsertElement(c->b, LLVMGetPoison(LLVMVectorType(sty, 1)), scalar,
                                            LLVMConstInt(c->i32, 0, 0), "");
  LLVMValueRef mask = LLVMConstNull(LLVMVectorType(c->i32, LLVMGetVectorSize(ty)));
  return LLVMBuildShuffleVector(c->b, one, LLVMGetPoison(LLVMTypeOf(one)), mask, "");
}

static LLVMValueRef cg_fconst(cg *c, LLVMTypeRef ty, float v) {
  return cg_splat(c, ty, cg_f32(c, v));
}

/* i32 (or <N x i32>) of the same shape as the float type ty. */
static LLVMTypeRef cg_int_like(cg *c, LLVMTypeRef ty) {
  if (LLVMGetTypeKind(ty) != LLVMVectorTypeKind) return c->i32;
  return LLVMVectorType(c->i32, LLVMGetVectorSize(ty));
}

static LLVMValueRef cg_iconst(cg *c, LLVMTypeRef ity, uint32_t v) {
  return cg_splat(c, ity, LLVMConstInt(c->i32, v, 0));
}

/* A libm float function on a scalar, or lane by lane on a vector. */
static LLVMValueRef cg_call_lanes(cg *c, const cg_fn *f, LLVMValueRef x) {
  LLVMTypeRef ty = LLVMTypeOf(x);
  if (LLVMGetTypeKind(ty) != LLVMVectorTypeKind) return cg_call(c, f, &x, 1);
  LLVMValueRef out = LLVMGetPoison(ty);
  for (unsigned l = 0; l < LLVMGetVectorSize(ty); l++) {
    LLVMValueRef lane = LLVMConstInt(c->i32, l, 0);
    LLVMValueRef e = LLVMBuildExtractElement(c->b, x, lane, "");
    out = LLVMBuildInsertElement(c->b, out, cg_call(c, f, &e, 1), lane, "");
  }
  return out;
}

/* pmm_fastmath_exp (runtime/fastmath.h), operation for operation: the
 * clamp, the rounding by 1.5 * 2^23, Cody-Waite reduction, the polynomial
 * and the two-factor scaling from exponent bits (wrapping i32 arithmetic). */
static LLVMValueRef cg_exp(cg *c, LLVMValueRef x) {
  LLVMBuilderRef b = c->b;
  LLVMTypeRef ty = LLVMTypeOf(x), ity = cg_int_like(c, ty);
  LLVMValueRef hi = cg_fconst(c, ty, PMM_EXP_HI), lo = cg_fconst(c, ty, PMM_EXP_LO);
  LLVMValueRef shift = cg_fconst(c, ty, PMM_EXP_SHIFT);
  x = LLVMBuildSelect(b, LLVMBuildFCmp(b, LLVMRealOGT, x, hi, ""), hi, x, "");
  x = LLVMBuildSelect(b, LLVMBuildFCmp(b, LLVMRealOLT, x, lo, ""), lo, x, "");
  LLVMValueRef k = LLVMBuildFMul(b, x, cg_fconst(c, ty, PMM_EXP_LOG2E), "");
  k = LLVMBuildFAdd(b, k, shift, "");
  LLVMValueRef n = LLVMBuildFSub(b, k, shift, "");
  LLVMValueRef nhi = LLVMBuildFMul(b, n, cg_fconst(c, ty, PMM_EXP_LN2_HI), "");
  LLVMValueRef nlo = LLVMBuildFMul(b, n, cg_fconst(c, ty, PMM_EXP_LN2_LO), "");
  LLVMValueRef r = LLVMBuildFSub(b, x, nhi, "");
  r = LLVMBuildFSub(b, r, nlo, "");
  static const float coef[4] = {PMM_EXP_C5, PMM_EXP_C4, PMM_EXP_C3, PMM_EXP_C2};
  LLVMValueRef p = LLVMBuildFMul(b, cg_fconst(c, ty, PMM_EXP_C6), r, "");
  for (int i = 0; i < 4; i++) {
    if (i) p = LLVMBuildFMul(b, p, r, "");
    p = LLVMBuildFAdd(b, p, cg_fconst(c, ty, coef[i]), "");
  }
  p = LLVMBuildFMul(b, LLVMBuildFMul(b, r, r, ""), p, "");
  p = LLVMBuildFAdd(b, p, r, "");
  p = LLVMBuildFAdd(b, p, cg_fconst(c, ty, 1.0f), "");
  LLVMValueRef ni = LLVMBuildSub(b, LLVMBuildBitCast(b, k, ity, ""),
                                 cg_iconst(c, ity, PMM_EXP_SHIFT_BITS), "");
  LLVMValueRef n1 = LLVMBuildAdd(b, ni, cg_iconst(c, ity, 256), "");
  n1 = LLVMBuildSub(b, LLVMBuildLShr(b, n1, cg_iconst(c, ity, 1), ""), cg_iconst(c, ity, 128), "");
  LLVMValueRef n2 = LLVMBuildSub(b, ni, n1, "");
  LLVMValueRef s1 = LLVMBuildShl(b, LLVMBuildAdd(b, n1, cg_iconst(c, ity, 127), ""),
                                 cg_iconst(c, ity, 23), "");
  LLVMValueRef s2 = LLVMBuildShl(b, LLVMBuildAdd(b, n2, cg_iconst(c, ity, 127), ""),
                                 cg_iconst(c, ity, 23), "");
  p = LLVMBuildFMul(b, p, LLVMBuildBitCast(b, s1, ty, ""), "");
  return LLVMBuildFMul(b, p, LLVMBuildBitCast(b, s2, ty, ""), "");
}

/* pmm_act_eval's formula, operation for operation, on a float or a vector
 * of floats. */
static LLVMValueRef cg_act(cg *c, pmm_act act, LLVMValueRef x) {
  LLVMTypeRef ty = LLVMTypeOf(x);
  LLVMValueRef one = cg_fconst(c, ty, 1.0f), zero = cg_fconst(c, ty, 0.0f), v;
  switch (act) {
  case PMM_ACT_RELU:
    v = LLVMBuildFCmp(c->b, LLVMRealOGT, x, zero, "");
    return LLVMBuildSelect(c->b, v, x, zero, "");
  case PMM_ACT_SILU:
    v = cg_exp(c, LLVMBuildFNeg(c->b, x, ""));
    v = LLVMBuildFAdd(c->b, one, v, "");
    return LLVMBuildFDiv(c->b, x, v, "");
  case PMM_ACT_GELU: {
    LLVMValueRef half = LLVMBuildFMul(c->b, cg_fconst(c, ty, 0.5f), x, "");
    v = LLVMBuildFMul(c->b, x, cg_fconst(c, ty, 0.70710678f), "");
    v = LLVMBuildFAdd(c->b, one, cg_call_lanes(c, &c->erff_fn, v), "");
    return LLVMBuildFMul(c->b, half, v, "");
  }
  case PMM_ACT_TANH: return cg_call_lanes(c, &c->tanhf_fn, x);
  case PMM_ACT_GELU_TANH: {
    LLVMValueRef half = LLVMBuildFMul(c->b, cg_fconst(c, ty, 0.5f), x, "");
    LLVMValueRef x3 = LLVMBuildFMul(c->b, LLVMBuildFMul(c->b, x, x, ""), x, "");
    v = LLVMBuildFMul(c->b, cg_fconst(c, ty, 0.044715f), x3, "");
    v = LLVMBuildFMul(c->b, cg_fconst(c, ty, 0.7978845608f), LLVMBuildFAdd(c->b, x, v, ""), "");
    v = LLVMBuildFAdd(c->b, one, cg_call_lanes(c, &c->tanhf_fn, v), "");
    return LLVMBuildFMul(c->b, half, v, "");
  }
  case PMM_ACT_SIGMOID:
    v = cg_exp(c, LLVMBuildFNeg(c->b, x, ""));
    v = LLVMBuildFAdd(c->b, one, v, "");
    return LLVMBuildFDiv(c->b, one, v, "");
  case PMM_ACT_SOFTPLUS: {
    LLVMValueRef big = LLVMBuildFCmp(c->b, LLVMRealOGT, x, cg_fconst(c, ty, 20.0f), "");
    v = cg_call_lanes(c, &c->log1pf_fn, cg_exp(c, x));
    return LLVMBuildSelect(c->b, big, x, v, "");
  }
  case PMM_ACT_NONE:
  case PMM_ACT_COUNT: break;
  }
  return x;
}

/* An elementwise program on loaded operands v (v[k] = ARG k), uop by uop as
 * ir.h orders them.  The operands are all floats or all vectors of one
 * width (v[0], which every caller provides, gives the type), and so is the
 * result. */
static LLVMValueRef cg_prog(cg *c, const ir_prog *p, LLVMValueRef *v) {
  LLVMTypeRef ty = LLVMTypeOf(v[0]);
  LLVMValueRef reg[IR_PROG_MAX_UOPS];
  for (uint32_t u = 0; u < p->count; u++) {
    const ir_uop *op = &p->uops[u];
    switch (op->kind) {
    case IR_UOP_ARG: reg[u] = v[op->a]; break;
    case IR_UOP_CONST: reg[u] = cg_fconst(c, ty, op->f); break;
    case IR_UOP_ADD: reg[u] = LLVMBuildFAdd(c->b, reg[op->a], reg[op->b], ""); break;
    case IR_UOP_SUB: reg[u] = LLVMBuildFSub(c->b, reg[op->a], reg[op->b], ""); break;
    case IR_UOP_MUL: reg[u] = LLVMBuildFMul(c->b, reg[op->a], reg[op->b], ""); break;
    case IR_UOP_ACT: reg[u] = cg_act(c, op->act, reg[op->a]); break;
    case IR_UOP_COUNT: reg[u] = cg_fconst(c, ty, 0.0f); break;
    }
  }
  return reg[p->count - 1];
}

/* The scalar result of an elementwise instruction from its loaded operands. */
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
static void cg_emit_map(cg *c, const ir_block *blk, const ir_inst *in) {
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

/* A DENSE's epilogue on one register of GEMM results (gemm_epilogue_fn). */
typedef struct cg_epilogue {
  cg *c;
  gemm_emitter *g;
  const ir_block *blk;
  const ir_inst *in;
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
    LLVMValueRef idx = s->uniform ? col : cg_index(c, row, s->len, col);
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
static void cg_emit_dense(cg *c, const ir_block *blk, const ir_inst *in, const ir_inst *x) {
  const ir_tensor *w = &c->m->tensors[in->weight];
  uint64_t rows = cg_rows(c, in);
  LLVMValueRef y = cg_value(c, in);
  gemm_emitter g = {c->ctx, c->mod, c->b, c->fn, c->width, cg_dense_epilogue, NULL};
  cg_epilogue e = {c, &g, blk, in};
  g.user = &e;
  if (cg_dense_is_llvm(c, x->len, in->len)) {
    char name[512];
    snprintf(name, sizeof name, "%s.gemm.%s", c->m->name, w->name ? w->name : "");
    gemm_shape s = {rows, x->len, in->len, w->data,
                    in->bias >= 0 ? c->m->tensors[in->bias].data : NULL, name};
    if (gemm_emit(&g, &s, cg_value(c, x), y, c->err, c->errlen) != 0) c->failed = 1;
    return;
  }
  uint64_t chunk = in->prog < 0 ? rows : CG_EPILOGUE_CHUNK_FLOATS / (in->len ? in->len : 1);
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
                         cg_isz(c, x->len),
                         cg_isz(c, in->len),
                         cg_elem(c, cg_value(c, x), cg_index(c, row0, x->len, NULL)),
                         c->tensors[in->weight],
                         cg_tensor_or_null(c, in->bias),
                         cg_elem(c, y, cg_index(c, row0, in->len, NULL))};
    cg_call(c, &c->dense, a, 7);
    if (in->prog >= 0) gemm_emit_apply(&g, row0, n, in->len, y);
    if (!last && full > 1) cg_loop_end(c, &l);
  }
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
  case IR_OP_DENSE: cg_emit_dense(c, blk, in, x); return;
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
  return c->failed ? -1 : 0;
}

/* ---- descriptor and main ------------------------------------------------- */

/* "<model>_build_info", the pmm_build_info an executable's second object
 * defines; -1 if it does not fit. */
static int cg_build_info_symbol(const char *model, char *buf, size_t len) {
  int n = snprintf(buf, len, "%s_build_info", model);
  return n < 0 || (size_t)n >= len ? -1 : 0;
}

/* A hidden declaration of the build info (defined by the second object). */
static LLVMValueRef cg_declare_build_info(cg *c) {
  char name[512];
  if (cg_build_info_symbol(c->m->name, name, sizeof name) != 0) {
    snprintf(c->err, c->errlen, "model name too long: %s", c->m->name);
    return NULL;
  }
  LLVMTypeRef f[2] = {c->i64, c->i64};
  LLVMValueRef g = LLVMAddGlobal(c->mod, LLVMStructTypeInContext(c->ctx, f, 2, 0), name);
  LLVMSetGlobalConstant(g, 1);
  LLVMSetVisibility(g, LLVMHiddenVisibility);
  return g;
}

/* <name>_desc from d, in pmm_model_desc's field order; build is the
 * pointer to record (a null constant when unknown). */
static LLVMValueRef cg_emit_desc(cg *c, const pmm_model_desc *d, LLVMValueRef build) {
  char name[512];
  LLVMValueRef shape[4];
  for (uint32_t i = 0; i < 4; i++) shape[i] = cg_i64(c, d->shape[i]);
  LLVMValueRef f[] = {
      cg_i64(c, d->abi),
      cg_string(c, d->name),
      cg_string(c, d->pair),
      cg_string(c, d->sampler),
      cg_string(c, d->output),
      cg_string(c, d->schedule),
      cg_string(c, d->engine),
      cg_string(c, d->weight_hash),
      d->vocab ? cg_string(c, d->vocab) : LLVMConstPointerNull(c->ptr),
      cg_i64(c, d->steps),
      cg_i64(c, d->rank),
      LLVMConstArray(c->i64, shape, 4),
      cg_i64(c, d->sample_elems),
      cg_i64(c, d->block_size),
      cg_i64(c, d->scratch_bytes),
      cg_i64(c, d->flops_per_sample),
      cg_i64(c, d->weight_bytes),
      cg_i64(c, d->vocab_size),
      LLVMConstInt(c->i64, (unsigned long long)d->pad_symbol, 1),
      LLVMConstReal(c->f64, d->range_lo),
      LLVMConstReal(c->f64, d->range_hi),
      c->fn,
      LLVMConstPointerNull(c->ptr),
      build,
  };
  snprintf(name, sizeof name, "%s_desc", d->name);
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
    snprintf(err, errlen, "module '%s' has no valid memory plan (run opt_plan_memory first)",
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

/* Build the whole LLVM module; rep receives the descriptor it records. */
static int cg_build_module(cg *c, const codegen_options *o, codegen_report *rep) {
  cg_types_init(c);
  cg_declare_runtime(c);
  if (cg_emit_data(c) != 0 || cg_emit_run_block(c) != 0) return -1;
  if (o->engine)
    snprintf(rep->engine, sizeof rep->engine, "%s", o->engine);
  else
    snprintf(rep->engine, sizeof rep->engine, "pmmc %s, LLVM %s, -O%d, %s", PACKAGE_VERSION,
             PMMC_LLVM_VERSION, o->opt_level, c->target->cpu);
  ir_describe(c->m, rep->engine, &rep->desc);
  LLVMValueRef build = LLVMConstPointerNull(c->ptr);
  if (o->emit == CODEGEN_EMIT_EXE && !(build = cg_declare_build_info(c))) return -1;
  LLVMValueRef desc = cg_emit_desc(c, &rep->desc, build);
  if (o->emit == CODEGEN_EMIT_EXE) cg_emit_main(c, desc);
  return 0;
}

void codegen_options_init(codegen_options *o) {
  memset(o, 0, sizeof *o);
  o->opt_level = 2;
  o->emit = CODEGEN_EMIT_EXE;
}

static uint64_t cg_elapsed_us(const struct timespec *start) {
  struct timespec now;
  clock_gettime(CLOCK_MONOTONIC, &now);
  int64_t us = ((int64_t)now.tv_sec - (int64_t)start->tv_sec) * 1000000 +
               ((int64_t)now.tv_nsec - (int64_t)start->tv_nsec) / 1000;
  return us > 0 ? (uint64_t)us : 0;
}

/* An executable: the model's object, measured (which ends the compile
 * time), then the second object defining <name>_build_info with what was
 * measured, then the linker over both.  Both objects are temporaries next
 * to the output. */
static int cg_write_executable(const emit_target *t, LLVMContextRef ctx, LLVMModuleRef mod,
                               const codegen_options *o, const struct timespec *start,
                               codegen_report *rep, char *err, size_t errlen) {
  char obj[4096], info_obj[4096], symbol[512];
  if (emit_temp_path(o->output, ".o", obj, sizeof obj) != 0 ||
      emit_temp_path(o->output, ".info.o", info_obj, sizeof info_obj) != 0) {
    snprintf(err, errlen, "output path too long: %s", o->output);
    return -1;
  }
  if (cg_build_info_symbol(rep->desc.name, symbol, sizeof symbol) != 0) {
    snprintf(err, errlen, "model name too long: %s", rep->desc.name);
    return -1;
  }
  int rc = emit_object_measured(t, mod, obj, o->output, &rep->build.code_bytes, err, errlen);
  if (rc == 0) {
    rep->build.compile_us = cg_elapsed_us(start);
    rc = emit_build_info_object(t, ctx, symbol, &rep->build, info_obj, o->output, err, errlen);
  }
  if (rc == 0) {
    const char *objs[2] = {obj, info_obj};
    rc = codegen_link_executable(objs, 2, o->output, o->runtime_lib, err, errlen);
  }
  remove(obj);
  remove(info_obj);
  return rc;
}

/* Write the optimised module where o asks: an executable as above, other
 * kinds through a temporary name next to the output (renamed on success),
 * objects measured on the way.  rep->desc.build is set when there was an
 * object to measure. */
static int cg_write_output(const emit_target *t, LLVMContextRef ctx, LLVMModuleRef mod,
                           const codegen_options *o, const struct timespec *start,
                           codegen_report *rep, char *err, size_t errlen) {
  char tmp[4096];
  if (o->emit == CODEGEN_EMIT_EXE) {
    if (cg_write_executable(t, ctx, mod, o, start, rep, err, errlen) != 0) return -1;
    rep->desc.build = &rep->build;
    return 0;
  }
  if (strcmp(o->output, "-") == 0)
    return emit_module_write(t, mod, o->emit, "-", "-", err, errlen);
  if (emit_temp_path(o->output, "", tmp, sizeof tmp) != 0) {
    snprintf(err, errlen, "output path too long: %s", o->output);
    return -1;
  }
  int rc;
  if (o->emit == CODEGEN_EMIT_OBJ) {
    rc = emit_object_measured(t, mod, tmp, o->output, &rep->build.code_bytes, err, errlen);
    rep->build.compile_us = cg_elapsed_us(start);
  } else {
    rc = emit_module_write(t, mod, o->emit, tmp, o->output, err, errlen);
  }
  if (rc != 0) {
    remove(tmp);
    return -1;
  }
  if (rename(tmp, o->output) != 0) {
    snprintf(err, errlen, "cannot write '%s': %s", o->output, strerror(errno));
    remove(tmp);
    return -1;
  }
  if (o->emit == CODEGEN_EMIT_OBJ) rep->desc.build = &rep->build;
  return 0;
}

int codegen_compile(const ir_module *m, const codegen_options *o, char *err, size_t errlen) {
  struct timespec now;
  const struct timespec *start = o->start;
  if (!start) {
    clock_gettime(CLOCK_MONOTONIC, &now);
    start = &now;
  }
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
  c.gemm = o->gemm;
  c.width = gemm_target_width(target.features);
  c.ctx = LLVMContextCreate();
  c.mod = LLVMModuleCreateWithNameInContext(m->name, c.ctx);
  c.b = LLVMCreateBuilderInContext(c.ctx);
  emit_target_apply(&target, c.mod);

  codegen_report local, *rep = o->report ? o->report : &local;
  memset(rep, 0, sizeof *rep);
  int rc = cg_build_module(&c, o, rep);
  if (rc == 0) rc = emit_module_optimise(&target, c.mod, o->opt_level, err, errlen);
  if (rc == 0) rc = cg_write_output(&target, c.ctx, c.mod, o, start, rep, err, errlen);

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
