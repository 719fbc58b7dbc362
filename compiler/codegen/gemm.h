/*
 * gemm.h - private to the back end: dense layers y = x W^T + b of
 * compile-time shape emitted as register-blocked LLVM loops, and the choice
 * between them and OpenBLAS (docs/gemm.md).
 *
 *     gemm_emitter g = {ctx, mod, builder, fn, gemm_target_width(features),
 *                       my_epilogue, my_state};
 *     gemm_shape s = {rows, in, out, w, bias, "model.fc1"};
 *     if (gemm_emit(&g, &s, x_ptr, y_ptr, err, errlen) != 0) ...
 *
 * The code is emitted at the builder's position inside g.fn.  W is packed
 * into a constant global laid out for the kernel.  Every output element is
 * computed by the same sequence of fused multiply-adds (fixed by the shape),
 * then + b, then the epilogue, whatever the tile it falls in, so a row's
 * result depends only on that row of x (docs/determinism.md).
 */
#ifndef PMMC_CODEGEN_GEMM_H
#define PMMC_CODEGEN_GEMM_H

#include <stddef.h>
#include <stdint.h>

#include <llvm-c/Core.h>

#include "compiler/codegen/codegen.h"

/* Called on every register of results before its store: acc holds
 * x W^T + b for row `row` (i64) and the lanes' columns col.. (i64); mask is
 * NULL when every lane is a real column, else a constant <n x i1> of the
 * lanes that are.  Returns the vector to store (of acc's type). */
typedef LLVMValueRef (*gemm_epilogue_fn)(void *user, LLVMValueRef acc, LLVMValueRef row,
                                         LLVMValueRef col, LLVMValueRef mask);

typedef struct gemm_emitter {
  LLVMContextRef ctx;
  LLVMModuleRef mod;
  LLVMBuilderRef b;
  LLVMValueRef fn;           /* the function being emitted into */
  unsigned width;            /* floats in a vector register: 16, 8 or 4 */
  gemm_epilogue_fn epilogue; /* NULL: store x W^T + b */
  void *user;
} gemm_emitter;

typedef struct gemm_shape {
  uint64_t rows, in, out;
  const float *w;    /* [out][in], the DENSE weight */
  const float *bias; /* [out] or NULL */
  const char *name;  /* prefix of the packed constants' names */
} gemm_shape;

/* Floats a vector register holds for an LLVM feature string: 16 with
 * +avx512f, 8 with +avx, else 4. */
unsigned gemm_target_width(const char *features);

/* The --gemm=auto policy: 1 when the LLVM kernel is expected to beat
 * OpenBLAS for this shape (measured by bench/gemm, docs/gemm.md). */
int gemm_prefer_llvm(uint64_t in, uint64_t out);

/* Emit y[rows][out] = epilogue(x[rows][in] W^T + b); x and y are float
 * pointers.  0 on success, -1 (message in err) when out of memory or a
 * shape exceeds what LLVM arrays hold. */
int gemm_emit(gemm_emitter *g, const gemm_shape *s, LLVMValueRef x, LLVMValueRef y, char *err,
              size_t errlen);

/* Emit, in place on rows row0 .. row0 + rows - 1 (row0 an i64 value) of
 * y[][out], y = epilogue(y) a vector at a time: the OpenBLAS path's
 * epilogue. */
void gemm_emit_apply(gemm_emitter *g, LLVMValueRef row0, uint64_t rows, uint64_t out,
                     LLVMValueRef y);

/* A <lanes x float> load from p (4-byte aligned), masked when mask is
 * non-NULL (masked-off lanes read as 0 and touch no memory). */
LLVMValueRef gemm_load(gemm_emitter *g, LLVMValueRef p, unsigned lanes, LLVMValueRef mask);

/* v splat to <lanes x float>. */
LLVMValueRef gemm_splat(gemm_emitter *g, LLVMValueRef v, unsigned lanes);

/* Helpers the convolution kernels (conv.c) share; they use g's context,
 * module, builder and function only. */

/* A store of v to p (4-byte aligned), masked when mask is non-NULL. */
void gemm_store(gemm_emitter *g, LLVMValueRef v, LLVMValueRef p, LLVMValueRef mask);

/* <lanes x i1> with the first `valid` lanes set; NULL when all are. */
LLVMValueRef gemm_mask(gemm_emitter *g, unsigned lanes, unsigned valid);

/* llvm.fma(a, b, acc). */
LLVMValueRef gemm_fma(gemm_emitter *g, LLVMValueRef a, LLVMValueRef b, LLVMValueRef acc);

/* An internal 64-byte aligned constant float array "<prefix>.<suffix>"
 * holding data[0..n-1]; NULL (message in err) when n is 0 or more than LLVM
 * arrays hold, or when out of memory. */
LLVMValueRef gemm_global(gemm_emitter *g, const char *prefix, const char *suffix, const float *data,
                         uint64_t n, char *err, size_t errlen);

/* A counted loop [start, end) with at least one trip, bottom-tested; end
 * may be a run-time value (i64).  The body is emitted between begin, which
 * returns the induction variable, and end. */
typedef struct gemm_loop {
  LLVMBasicBlockRef body;
  LLVMValueRef iv, end;
} gemm_loop;

LLVMValueRef gemm_loop_begin(gemm_emitter *g, gemm_loop *l, LLVMValueRef start, LLVMValueRef end,
                             const char *name);
void gemm_loop_end(gemm_emitter *g, gemm_loop *l);

#endif
