/*
 * cg_math.c - elementwise arithmetic as LLVM IR on floats or float vectors:
 * pmm_act_eval's formulas operation for operation (the exponential inline,
 * erff, tanhf and log1pf as libm calls) and elementwise programs, in float
 * without fast-math flags, so compiled code keeps the interpreter's bits.
 */
#include "compiler/codegen/cg.h"

#include "runtime/fastmath.h"

/* A float constant of type ty: a scalar, or splat over a <N x float>
 * (constants take the type of the value they meet, so cg_act and cg_prog
 * work on scalars and vectors alike). */
LLVMValueRef cg_splat(cg *c, LLVMTypeRef ty, LLVMValueRef scalar) {
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
  LLVMValueRef ni =
      LLVMBuildSub(b, LLVMBuildBitCast(b, k, ity, ""), cg_iconst(c, ity, PMM_EXP_SHIFT_BITS), "");
  LLVMValueRef n1 = LLVMBuildAdd(b, ni, cg_iconst(c, ity, 256), "");
  n1 = LLVMBuildSub(b, LLVMBuildLShr(b, n1, cg_iconst(c, ity, 1), ""), cg_iconst(c, ity, 128), "");
  LLVMValueRef n2 = LLVMBuildSub(b, ni, n1, "");
  LLVMValueRef s1 =
      LLVMBuildShl(b, LLVMBuildAdd(b, n1, cg_iconst(c, ity, 127), ""), cg_iconst(c, ity, 23), "");
  LLVMValueRef s2 =
      LLVMBuildShl(b, LLVMBuildAdd(b, n2, cg_iconst(c, ity, 127), ""), cg_iconst(c, ity, 23), "");
  p = LLVMBuildFMul(b, p, LLVMBuildBitCast(b, s1, ty, ""), "");
  return LLVMBuildFMul(b, p, LLVMBuildBitCast(b, s2, ty, ""), "");
}

/* pmm_act_eval's formula, operation for operation, on a float or a vector
 * of floats. */
LLVMValueRef cg_act(cg *c, pmm_act act, LLVMValueRef x) {
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
    LLVMValueRef x3 = LLVMBuildFMul(c->b, LLVMBuildFMul(c->b, x, x, ""), x, "");
    v = LLVMBuildFMul(c->b, cg_fconst(c, ty, 0.044715f), x3, "");
    v = LLVMBuildFMul(c->b, cg_fconst(c, ty, 1.5957691216f), LLVMBuildFAdd(c->b, x, v, ""), "");
    v = LLVMBuildFAdd(c->b, one, cg_exp(c, LLVMBuildFNeg(c->b, v, "")), "");
    return LLVMBuildFDiv(c->b, x, v, "");
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
LLVMValueRef cg_prog(cg *c, const ir_prog *p, LLVMValueRef *v) {
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
