/*
 * cg_util.c - small LLVM builders shared by the back end (cg.h): constants,
 * scratch addresses, loads and stores, counted loops, copies and calls.
 */
#include "compiler/codegen/cg.h"

#include <string.h>

LLVMValueRef cg_i64(cg *c, uint64_t v) { return LLVMConstInt(c->i64, v, 0); }
LLVMValueRef cg_isz(cg *c, uint64_t v) { return LLVMConstInt(c->isz, v, 0); }
LLVMValueRef cg_f32(cg *c, float v) { return LLVMConstReal(c->f32, (double)v); }

uint64_t cg_rows(const cg *c, const ir_inst *in) { return in->uniform ? 1 : c->m->block_size; }

/* &base[idx] for a float array. */
LLVMValueRef cg_elem(cg *c, LLVMValueRef base, LLVMValueRef idx) {
  return LLVMBuildInBoundsGEP2(c->b, c->f32, base, &idx, 1, "");
}

LLVMValueRef cg_value(cg *c, const ir_inst *in) {
  return cg_elem(c, c->scratch, cg_i64(c, in->offset));
}

LLVMValueRef cg_load(cg *c, LLVMValueRef p) {
  LLVMValueRef v = LLVMBuildLoad2(c->b, c->f32, p, "");
  LLVMSetAlignment(v, 4);
  return v;
}

void cg_store(cg *c, LLVMValueRef v, LLVMValueRef p) {
  LLVMSetAlignment(LLVMBuildStore(c->b, v, p), 4);
}

LLVMValueRef cg_call(cg *c, const cg_fn *f, LLVMValueRef *args, unsigned n) {
  return LLVMBuildCall2(c->b, f->type, f->fn, args, n, "");
}

void cg_fn_attr(cg *c, LLVMValueRef fn, LLVMAttributeIndex where, const char *name) {
  unsigned kind = LLVMGetEnumAttributeKindForName(name, strlen(name));
  LLVMAddAttributeAtIndex(fn, where, LLVMCreateEnumAttribute(c->ctx, kind, 0));
}

/* Record the target CPU and features on a defined function, as clang does,
 * so the printed LLVM module recompiles (llc, opt) for the same machine. */
void cg_target_attrs(cg *c, LLVMValueRef fn) {
  static const char *const keys[2] = {"target-cpu", "target-features"};
  const char *values[2] = {c->target->cpu, c->target->features};
  for (int i = 0; i < 2; i++)
    if (values[i][0])
      LLVMAddAttributeAtIndex(fn, LLVMAttributeFunctionIndex,
                              LLVMCreateStringAttribute(c->ctx, keys[i], (unsigned)strlen(keys[i]),
                                                        values[i], (unsigned)strlen(values[i])));
}

cg_fn cg_declare(cg *c, const char *name, LLVMTypeRef ret, LLVMTypeRef *params, unsigned n) {
  cg_fn f;
  f.type = LLVMFunctionType(ret, params, n, 0);
  f.fn = LLVMAddFunction(c->mod, name, f.type);
  return f;
}

LLVMValueRef cg_loop_begin(cg *c, cg_loop *l, uint64_t start, uint64_t end, const char *name) {
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

void cg_loop_end(cg *c, cg_loop *l) {
  LLVMValueRef next = LLVMBuildNUWAdd(c->b, l->iv, cg_i64(c, 1), "");
  LLVMBasicBlockRef latch = LLVMGetInsertBlock(c->b);
  LLVMAddIncoming(l->iv, &next, &latch, 1);
  LLVMValueRef more = LLVMBuildICmp(c->b, LLVMIntULT, next, cg_i64(c, l->end), "");
  LLVMBasicBlockRef exit = LLVMAppendBasicBlockInContext(c->ctx, c->fn, "");
  LLVMBuildCondBr(c->b, more, l->body, exit);
  LLVMPositionBuilderAtEnd(c->b, exit);
}

/* iv * k + add, folding the trivial cases so -O0 code stays readable. */
LLVMValueRef cg_index(cg *c, LLVMValueRef iv, uint64_t k, LLVMValueRef add) {
  LLVMValueRef v = NULL;
  if (k == 1)
    v = iv;
  else if (k != 0)
    v = LLVMBuildNUWMul(c->b, iv, cg_i64(c, k), "");
  if (!v) return add ? add : cg_i64(c, 0);
  return add ? LLVMBuildNUWAdd(c->b, v, add, "") : v;
}

/* dst[r * dst_stride + col + e] = src[r * src_stride + e] for r < rows,
 * e < cols (src_stride 0: one source row repeated). */
void cg_emit_copy(cg *c, LLVMValueRef dst, uint64_t dst_stride, uint64_t col, LLVMValueRef src,
                  uint64_t src_stride, uint64_t rows, uint64_t cols) {
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

LLVMValueRef cg_tensor_or_null(cg *c, int32_t t) {
  return t >= 0 ? c->tensors[t] : LLVMConstPointerNull(c->ptr);
}

void cg_call_runtime(cg *c, const char *name, LLVMValueRef *args, unsigned n) {
  LLVMTypeRef params[16];
  for (unsigned i = 0; i < n && i < 16; i++) params[i] = LLVMTypeOf(args[i]);
  LLVMTypeRef ty = LLVMFunctionType(c->void_t, params, n, 0);
  LLVMValueRef fn = LLVMGetNamedFunction(c->mod, name);
  if (!fn) {
    fn = LLVMAddFunction(c->mod, name, ty);
    for (unsigned i = 0; i < n; i++)
      if (params[i] == c->i32) cg_fn_attr(c, fn, i + 1, "signext");
  }
  LLVMBuildCall2(c->b, ty, fn, args, n, "");
}

int cg_kernel_begin(cg *c, cg_kernel *k, const char *name, unsigned nparams) {
  LLVMTypeRef params[16];
  for (unsigned i = 0; i < nparams && i < 16; i++) params[i] = c->ptr;
  k->type = LLVMFunctionType(c->void_t, params, nparams, 0);
  k->resume = LLVMGetInsertBlock(c->b);
  k->caller = c->fn;
  if ((k->fn = LLVMGetNamedFunction(c->mod, name)) != NULL) return 0;
  k->fn = LLVMAddFunction(c->mod, name, k->type);
  LLVMSetLinkage(k->fn, LLVMInternalLinkage);
  cg_fn_attr(c, k->fn, LLVMAttributeFunctionIndex, "nounwind");
  cg_fn_attr(c, k->fn, LLVMAttributeFunctionIndex, "noinline");
  cg_target_attrs(c, k->fn);
  c->fn = k->fn;
  LLVMPositionBuilderAtEnd(c->b, LLVMAppendBasicBlockInContext(c->ctx, k->fn, "entry"));
  return 1;
}

void cg_kernel_end(cg *c, cg_kernel *k) {
  LLVMBuildRetVoid(c->b);
  c->fn = k->caller;
  LLVMPositionBuilderAtEnd(c->b, k->resume);
}

void cg_kernel_call(cg *c, const cg_kernel *k, LLVMValueRef *args, unsigned n) {
  LLVMBuildCall2(c->b, k->type, k->fn, args, n, "");
}
