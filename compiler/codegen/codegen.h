/*
 * codegen.h - the LLVM back end: IR module -> LLVM module -> object code,
 * through the LLVM C API, and the link step that turns an object into a
 * sampler executable.
 *
 *     codegen_options o;
 *     codegen_options_init(&o);         // -O2, host triple/CPU/features, exe
 *     o.opt_level = 3;
 *     o.emit = CODEGEN_EMIT_EXE;
 *     o.output = "gmm8";
 *     if (codegen_compile(&module, &o, err, sizeof err) != 0) fprintf(stderr, "%s\n", err);
 *
 * The generated code defines, with the model name as prefix:
 *     int  <name>_run_block(void *user, const pmm_block *blk);  (pmm_run_block_fn)
 *     const pmm_model_desc <name>_desc;                          (runtime descriptor)
 * and, for executables, main() calling pmm_sampler_main(argc, argv, &<name>_desc).
 * Weights, tables and mixtures are embedded as constant globals.
 */
#ifndef PMMC_CODEGEN_H
#define PMMC_CODEGEN_H

#include <stddef.h>

#include "compiler/ir/ir.h"

typedef enum codegen_emit {
  CODEGEN_EMIT_EXE,  /* object + link with the runtime */
  CODEGEN_EMIT_OBJ,  /* relocatable object, no main() */
  CODEGEN_EMIT_ASM,  /* target assembly, no main() */
  CODEGEN_EMIT_LLVM  /* textual LLVM IR after optimisation, no main() */
} codegen_emit;

typedef struct codegen_options {
  int opt_level;          /* 0..3 */
  const char *triple;     /* NULL: host */
  const char *cpu;        /* NULL: host CPU */
  const char *features;   /* NULL: host features */
  codegen_emit emit;
  const char *output;     /* file path; "-" = stdout for ASM/LLVM */
  const char *runtime_lib;/* libpmmrt.a for linking (EXE) */
  const char *engine;     /* version string recorded in the descriptor */
} codegen_options;

void codegen_options_init(codegen_options *o);

int codegen_compile(const ir_module *m, const codegen_options *o, char *err, size_t errlen);

/* Link obj with the runtime library, BLAS, libm and pthreads into exe
 * (runs $CC, default the C compiler configure found).  0 on success. */
int codegen_link_executable(const char *obj, const char *exe, const char *runtime_lib,
                            char *err, size_t errlen);

#endif
