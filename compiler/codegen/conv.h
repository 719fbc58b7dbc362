/*
 * conv.h - private to the back end: 2-D convolutions of compile-time shape
 * emitted as register-blocked LLVM loops (docs/conv.md).
 *
 *     conv_emitter e = {ctx, mod, builder, fn, gemm_target_width(features),
 *                       my_epilogue, my_state};
 *     conv_shape s = {rows, ci, h, w, co, k, stride, pad, groups, wt, bias,
 *                     "model.conv1"};
 *     if (conv_emit(&e, &s, x_ptr, y_ptr, scratch_ptr, err, errlen) != 0) ...
 *
 * x is rows samples of [ci][h][w] floats and y rows samples of
 * [co][ho][wo] (PyTorch's layout, one sample after another), with
 * ho = (h + 2 pad - k) / stride + 1 and wo likewise; scratch holds
 * conv_scratch_floats(&s) floats (may be NULL when that is 0).  The code is
 * emitted at the builder's position inside e.fn; the weights are repacked
 * into a constant global.  Every output element is computed by the same
 * sequence of float operations whatever tile it falls in, so a sample's
 * result depends only on that sample (docs/determinism.md).
 */
#ifndef PMMC_CODEGEN_CONV_H
#define PMMC_CODEGEN_CONV_H

#include <stddef.h>
#include <stdint.h>

#include <llvm-c/Core.h>

/* Called on every register of results before its store: acc holds the
 * convolution plus bias of output channel `channel` (i64) of sample
 * `sample` (i64) at the output pixels pixel.. (i64, an index into the
 * [ho][wo] plane, consecutive pixels of one output row); mask is NULL when
 * every lane is a real pixel, else a constant <n x i1> of the lanes that
 * are.  Returns the vector to store (of acc's type). */
typedef LLVMValueRef (*conv_epilogue_fn)(void *user, LLVMValueRef acc, LLVMValueRef sample,
                                         LLVMValueRef channel, LLVMValueRef pixel,
                                         LLVMValueRef mask);

typedef struct conv_emitter {
  LLVMContextRef ctx;
  LLVMModuleRef mod;
  LLVMBuilderRef b;
  LLVMValueRef fn;           /* the function being emitted into */
  unsigned width;            /* floats in a vector register: 16, 8 or 4 */
  conv_epilogue_fn epilogue; /* NULL: store the convolution plus bias */
  void *user;
} conv_emitter;

typedef struct conv_shape {
  uint64_t rows, ci, h, w, co, k, stride, pad, groups;
  const float *w_data; /* [co][ci / groups][k][k], nn.Conv2d's weight */
  const float *bias;   /* [co] or NULL */
  const char *name;    /* prefix of the packed constants' names */
} conv_shape;

/* Whether conv_emit accepts the shape: positive sizes, k <= h + 2 pad and
 * w + 2 pad, groups dividing ci and co.  On failure a message in why. */
int conv_check(const conv_shape *s, char *why, size_t whylen);

/* Floats of scratch conv_emit's code needs (a zero-padded copy of one
 * sample's input; 0 without padding), or UINT64_MAX when that overflows. */
uint64_t conv_scratch_floats(const conv_shape *s);

/* Emit y = epilogue(conv(x) + bias) for s; x, y and scratch are float
 * pointers.  0 on success, -1 (message in err) for a shape conv_check
 * rejects, when out of memory, or when the packed weight exceeds what LLVM
 * arrays hold. */
int conv_emit(conv_emitter *e, const conv_shape *s, LLVMValueRef x, LLVMValueRef y,
              LLVMValueRef scratch, char *err, size_t errlen);

/* conv_emit in two parts, so that convolutions of one shape can share one
 * kernel: the weights packed into constant globals (*bias NULL without a
 * bias), then the loops reading them through w and bias, which may be any
 * pointer values (a kernel function's parameters). */
int conv_pack_weights(conv_emitter *e, const conv_shape *s, LLVMValueRef *w, LLVMValueRef *bias,
                      char *err, size_t errlen);
int conv_emit_packed(conv_emitter *e, const conv_shape *s, LLVMValueRef x, LLVMValueRef y,
                     LLVMValueRef scratch, LLVMValueRef w, LLVMValueRef bias, char *err,
                     size_t errlen);

#endif
