/*
 * emit.h - private to the back end: the LLVM target machine, the
 * optimisation pipeline and writing a module as object, assembly or LLVM
 * text.  codegen.c builds the module against the target's data layout, then
 * hands it here.
 *
 *     emit_target t;
 *     if (emit_target_init(&t, &opts, err, errlen) != 0) return -1;
 *     LLVMModuleRef mod = LLVMModuleCreateWithNameInContext("gmm8", ctx);
 *     emit_target_apply(&t, mod);       // triple + data layout, before building
 *     ...                               // build functions and globals
 *     if (emit_module_optimise(&t, mod, 3, err, errlen) != 0 ||
 *         emit_module_write(&t, mod, CODEGEN_EMIT_OBJ, f, "gmm8.o", err, errlen) != 0)
 *       ...
 *     emit_target_free(&t);
 */
#ifndef PMMC_CODEGEN_EMIT_H
#define PMMC_CODEGEN_EMIT_H

#include <stddef.h>
#include <stdio.h>
#include <stdint.h>

#include <llvm-c/Core.h>
#include <llvm-c/Target.h>
#include <llvm-c/TargetMachine.h>

#include "compiler/codegen/codegen.h"
#include "runtime/pmmrt.h"

typedef struct emit_target {
  LLVMTargetMachineRef machine;
  LLVMTargetDataRef layout;
  char *triple, *cpu, *features; /* malloc'd; what the machine was created with */
} emit_target;

/* Host triple/CPU/features unless o overrides them; PIC relocation model so
 * objects link into Debian's default PIE executables. */
int emit_target_init(emit_target *t, const codegen_options *o, char *err, size_t errlen);
void emit_target_free(emit_target *t);

void emit_target_apply(const emit_target *t, LLVMModuleRef mod);

/* Verify, then run the new pass manager's pipeline (text as `opt
 * -passes=` takes it) with the vectoriser settings of opt_level. */
int emit_module_passes(const emit_target *t, LLVMModuleRef mod, const char *pipeline, int opt_level,
                       char *err, size_t errlen);

/* Verify, then run the new pass manager's default<O0..O3> pipeline. */
int emit_module_optimise(const emit_target *t, LLVMModuleRef mod, int opt_level, char *err,
                         size_t errlen);

/* Write mod to f (an output opened by the caller: runtime/outfile.h) as
 * kind OBJ, ASM or LLVM; errors name the file `shown`. */
int emit_module_write(const emit_target *t, LLVMModuleRef mod, codegen_emit kind, FILE *f,
                      const char *shown, char *err, size_t errlen);

/* Write mod as an object file to f and count its machine code into
 * *code_bytes: the sizes of its code sections (ELF and COFF ".text",
 * ".text.*", ".text$*"; Mach-O "__text"), read back from the emitted bytes
 * with LLVM's object-file reader.  Errors name `shown`. */
int emit_object_measured(const emit_target *t, LLVMModuleRef mod, FILE *f, const char *shown,
                         uint64_t *code_bytes, char *err, size_t errlen);

/* Write an object file to f that defines only the hidden constant
 * `const pmm_build_info symbol = *info` (built in its own module of ctx). */
int emit_build_info_object(const emit_target *t, LLVMContextRef ctx, const char *symbol,
                           const pmm_build_info *info, FILE *f, const char *shown, char *err,
                           size_t errlen);

/* An internal constant global of n floats as one byte array (a single
 * LLVM constant however large, so embedding millions of weights costs
 * a memcpy, not a constant per float), `align`-byte aligned, unnamed_addr;
 * NULL with a message when n is 0 or too large. */
LLVMValueRef emit_float_global(LLVMModuleRef mod, const char *name, const float *data, uint64_t n,
                               unsigned align, char *err, size_t errlen);

/* One kernel JIT-compiled on its own, for the tools that time or test the
 * back end's kernels (bench/gemm, bench/conv, tests/codegen): a module with
 * `void kern(ptr, ..)` of nparams pointer parameters, with t's target
 * attributes, the builder in its entry block.  Emit the body, then
 * emit_kernel_jit_finish adds `ret void`, optimises at -O2 and JIT-compiles
 * it; *addr receives kern's address, valid until emit_kernel_jit_free. */
typedef struct emit_kernel_jit {
  void *tsc; /* LLVMOrcThreadSafeContextRef */
  LLVMContextRef ctx;
  LLVMModuleRef mod;
  LLVMBuilderRef b;
  LLVMValueRef fn;
  void *jit; /* LLVMOrcLLJITRef */
} emit_kernel_jit;

void emit_kernel_jit_begin(emit_kernel_jit *k, const emit_target *t, unsigned nparams);
int emit_kernel_jit_finish(emit_kernel_jit *k, const emit_target *t, void **addr, char *err,
                           size_t errlen);
void emit_kernel_jit_free(emit_kernel_jit *k);

#endif
