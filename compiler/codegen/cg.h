/*
 * cg.h - private to the back end: the state of one IR -> LLVM translation
 * and the helpers its parts share.
 *
 *   codegen.c  the compile driver: run_block (blocks, the step loop), the
 *              descriptor, main, writing the output
 *   cg_util.c  small builders: constants, loads, stores, counted loops, calls
 *   cg_data.c  module data as globals; runtime and libm declarations
 *   cg_math.c  pmm_act_eval's formulas, the inline exp, elementwise programs
 *   cg_ops.c   one emitter an op (the `emit` column of ir_ops.def)
 *   cg_norm.c  GroupNorm as a vectorised loop nest
 */
#ifndef PMMC_CODEGEN_CG_H
#define PMMC_CODEGEN_CG_H

#include <stdint.h>

#include <llvm-c/Core.h>
#include <llvm-c/Target.h>

#include "compiler/codegen/codegen.h"
#include "compiler/codegen/emit.h"
#include "compiler/ir/ir.h"

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
  cg_fn dense, rng_key, rng_normal, rng_poisson, exact_gmm;
  cg_fn atoms_normal, atoms_gamma, atoms_categorical;
  cg_fn check_finite;

  /* while emitting run_block */
  LLVMValueRef fn, blk, scratch, state, out, key0, seed, first_index, work;
  LLVMValueRef step32, step64; /* t of the block being emitted */
  cg_stream_key *keys;
  uint32_t nkeys;
  /* the non-finite checks (module check_finite; docs/samplers.md) */
  uint8_t *watched[IR_BLOCK_COUNT]; /* each block's ir_watched_values */
  LLVMValueRef bad;                 /* i32 slot: a watched value was not finite */
  LLVMValueRef diagnose;            /* i32 slot: this run tests every value */

  codegen_gemm gemm; /* how DENSE layers are computed */
  unsigned width;    /* floats a vector register holds */
  int failed;        /* an instruction could not be emitted (message in err) */

  char *err;
  size_t errlen;
} cg;

/* cg_util.c */
LLVMValueRef cg_i64(cg *c, uint64_t v);
LLVMValueRef cg_isz(cg *c, uint64_t v);
LLVMValueRef cg_f32(cg *c, float v);
uint64_t cg_rows(const cg *c, const ir_inst *in);
/* &base[idx] for a float array. */
LLVMValueRef cg_elem(cg *c, LLVMValueRef base, LLVMValueRef idx);
/* The address of an instruction's value in the scratch arena. */
LLVMValueRef cg_value(cg *c, const ir_inst *in);
LLVMValueRef cg_load(cg *c, LLVMValueRef p);
void cg_store(cg *c, LLVMValueRef v, LLVMValueRef p);
LLVMValueRef cg_call(cg *c, const cg_fn *f, LLVMValueRef *args, unsigned n);
/* A call of the void runtime function `name`, declared on first use with
 * the types of args (32-bit integer arguments are C ints, sign-extended). */
void cg_call_runtime(cg *c, const char *name, LLVMValueRef *args, unsigned n);
void cg_fn_attr(cg *c, LLVMValueRef fn, LLVMAttributeIndex where, const char *name);
void cg_target_attrs(cg *c, LLVMValueRef fn);
cg_fn cg_declare(cg *c, const char *name, LLVMTypeRef ret, LLVMTypeRef *params, unsigned n);

/* A counted loop [start, end), start < end, bottom-tested; the body is
 * emitted between begin and end and may itself contain loops. */
typedef struct cg_loop {
  LLVMBasicBlockRef body;
  LLVMValueRef iv;
  uint64_t end;
} cg_loop;

LLVMValueRef cg_loop_begin(cg *c, cg_loop *l, uint64_t start, uint64_t end, const char *name);
void cg_loop_end(cg *c, cg_loop *l);
/* iv * k + add, folding the trivial cases so -O0 code stays readable. */
LLVMValueRef cg_index(cg *c, LLVMValueRef iv, uint64_t k, LLVMValueRef add);
/* dst[r * dst_stride + col + e] = src[r * src_stride + e] for r < rows,
 * e < cols (src_stride 0: one source row repeated). */
void cg_emit_copy(cg *c, LLVMValueRef dst, uint64_t dst_stride, uint64_t col, LLVMValueRef src,
                  uint64_t src_stride, uint64_t rows, uint64_t cols);
LLVMValueRef cg_tensor_or_null(cg *c, int32_t t);

/* A kernel in a function of its own: internal, noinline, void name(ptr x
 * nparams), shared by every caller that asks for the same name.
 * cg_kernel_begin returns 1 when the function is new and the builder has
 * moved into its body (c->fn is the kernel; emit it, then cg_kernel_end),
 * 0 when it already exists. */
typedef struct cg_kernel {
  LLVMValueRef fn;
  LLVMTypeRef type;
  LLVMBasicBlockRef resume; /* where the caller's code goes on */
  LLVMValueRef caller;      /* c->fn before */
} cg_kernel;

int cg_kernel_begin(cg *c, cg_kernel *k, const char *name, unsigned nparams);
void cg_kernel_end(cg *c, cg_kernel *k);
/* A call of the kernel from the caller's position. */
void cg_kernel_call(cg *c, const cg_kernel *k, LLVMValueRef *args, unsigned n);

/* cg_data.c */
LLVMValueRef cg_global(cg *c, LLVMValueRef init, const char *name, LLVMLinkage linkage,
                       unsigned align);
LLVMValueRef cg_string(cg *c, const char *s);
int cg_emit_data(cg *c);
void cg_declare_runtime(cg *c);

/* cg_math.c */
LLVMValueRef cg_splat(cg *c, LLVMTypeRef ty, LLVMValueRef scalar);
LLVMValueRef cg_act(cg *c, pmm_act act, LLVMValueRef x);
LLVMValueRef cg_prog(cg *c, const ir_prog *p, LLVMValueRef *v);

/* codegen.c: m as an LLVM module in ctx, before or after optimisation
 * (*mod, the caller's to dispose of); rep receives the descriptor it
 * records. */
int cg_build_unoptimised(const ir_module *m, const codegen_options *o, const emit_target *target,
                         LLVMContextRef ctx, LLVMModuleRef *mod, codegen_report *rep, char *err,
                         size_t errlen);
int cg_build_optimised(const ir_module *m, const codegen_options *o, const emit_target *target,
                       LLVMContextRef ctx, LLVMModuleRef *mod, codegen_report *rep, char *err,
                       size_t errlen);

/* library.c: --emit=lib|shared|header (codegen.h). */
int cg_compile_library(const ir_module *m, const codegen_options *o, const struct timespec *start,
                       char *err, size_t errlen);

/* cg_norm.c: GROUPNORM (with FiLM and activation) vectorised for the target,
 * with pmm_kernel_groupnorm_film's bits. */
void cg_emit_groupnorm(cg *c, const ir_block *blk, const ir_inst *in);

/* cg_ops.c */
void cg_emit_inst(cg *c, const ir_block *blk, const ir_inst *in);
/* The key of a non-zero stream, NULL before the entry block made it. */
LLVMValueRef cg_find_key(const cg *c, uint32_t stream);

#endif
