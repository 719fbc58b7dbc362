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
 *
 * An executable's descriptor also points at `const pmm_build_info
 * <name>_build_info` (code bytes, compile time), which only exists once the
 * model's object has been emitted and measured: codegen writes it into a
 * second small object and links both.  Objects (--emit=obj) leave the
 * pointer NULL, so they link without it.
 */
#ifndef PMMC_CODEGEN_H
#define PMMC_CODEGEN_H

#include <stddef.h>
#include <time.h>

#include "compiler/ir/ir.h"
#include "runtime/pmmrt.h"

typedef enum codegen_emit {
  CODEGEN_EMIT_EXE,  /* object + link with the runtime */
  CODEGEN_EMIT_OBJ,  /* relocatable object, no main() */
  CODEGEN_EMIT_ASM,  /* target assembly, no main() */
  CODEGEN_EMIT_LLVM, /* textual LLVM IR after optimisation, no main() */
  /* Libraries for embedding (docs/embedding.md), written into the directory
   * o->output: the model with the runtime pieces it uses in one object whose
   * only global symbols are o->prefix's API, plus <prefix>.h and
   * <prefix>.pc. */
  CODEGEN_EMIT_LIB,    /* lib<prefix>.a */
  CODEGEN_EMIT_SHARED, /* lib<prefix>.so.<major> (SONAME) and lib<prefix>.so */
  CODEGEN_EMIT_HEADER  /* <prefix>.h alone, the bytes the other two write */
} codegen_emit;

#define codegen_emit_is_library(e)                                                                 \
  ((e) == CODEGEN_EMIT_LIB || (e) == CODEGEN_EMIT_SHARED || (e) == CODEGEN_EMIT_HEADER)

/* How DENSE layers are computed (docs/gemm.md); CONV2D always runs the
 * kernel specialised to its shape but under BLAS, which keeps the
 * interpreter's pmm_kernel_conv2d (docs/conv.md). */
typedef enum codegen_gemm {
  CODEGEN_GEMM_AUTO, /* per layer, whichever bench/gemm measured faster */
  CODEGEN_GEMM_BLAS, /* OpenBLAS's cblas_sgemm through pmm_kernel_dense */
  CODEGEN_GEMM_LLVM  /* a kernel specialised to the layer's constant shape */
} codegen_gemm;

/* What `pmmc build --info` prints: the descriptor as the generated code
 * records it (run_block and user NULL; strings point into the module and
 * into the report, so neither may move or die before it).  desc.build points
 * at build when the build wrote an object file (exe, obj), else is NULL. */
typedef struct codegen_report {
  pmm_model_desc desc;
  pmm_build_info build;
  char engine[512];
} codegen_report;

typedef struct codegen_options {
  int opt_level;        /* 0..3 */
  const char *triple;   /* NULL: host */
  const char *cpu;      /* NULL: host CPU */
  const char *features; /* NULL: host features */
  codegen_emit emit;
  const char *output;           /* file path; "-" = stdout for ASM/LLVM */
  const char *runtime_lib;      /* libpmmrt.a for linking (EXE) */
  const char *engine;           /* version string recorded in the descriptor */
  codegen_gemm gemm;            /* default CODEGEN_GEMM_AUTO */
  const struct timespec *start; /* CLOCK_MONOTONIC time the build began (before the
                                 * front end); NULL: when codegen_compile was called */
  codegen_report *report;       /* filled on success when not NULL */
  /* libraries only */
  const char *prefix;        /* C identifier of the exported names (default: the model's) */
  const ir_module *predict;  /* the network alone (lower.h, predict), or NULL */
  int weights_external;      /* --weights=external: <prefix>.weights beside the library */
  const char *embed_runtime; /* directory of pmmrt-embed-<arch>.bc (the runtime as LLVM
                              * bitcode, one file per target architecture) */
} codegen_options;

void codegen_options_init(codegen_options *o);

int codegen_compile(const ir_module *m, const codegen_options *o, char *err, size_t errlen);

/* In-process compilation (ORC JIT) for this machine, e.g. for `pmmc
 * predict --engine compiled`: *run receives <name>_run_block, valid until
 * codegen_jit_free.  The runtime functions generated code calls are
 * resolved in the running process. */
typedef struct codegen_jit codegen_jit;
int codegen_jit_compile(const ir_module *m, const codegen_options *o, codegen_jit **out,
                        pmm_run_block_fn *run, char *err, size_t errlen);
void codegen_jit_free(codegen_jit *j);

/* The programs that make executables and libraries write exactly the path
 * they are given, which should be a work file (runtime/outfile.h) that
 * the caller puts in place once it is complete; messages name `shown`,
 * the output it becomes.  Each returns 0 on success. */

/* Link the nobjs objects with the runtime library, BLAS, libm and pthreads
 * into exe (runs $CC, default the C compiler configure found). */
int codegen_link_executable(const char *const *objs, size_t nobjs, const char *exe,
                            const char *shown, const char *runtime_lib, char *err, size_t errlen);

/* obj as the shared library `so` with SONAME soname, exporting what
 * version_script (a linker script file) says, linked with libs (a
 * space-separated list). */
int codegen_link_shared(const char *obj, const char *so, const char *shown, const char *soname,
                        const char *version_script, const char *libs, char *err, size_t errlen);

/* obj as the only member of the static library lib (llvm-ar, deterministic). */
int codegen_archive(const char *obj, const char *lib, const char *shown, char *err, size_t errlen);

#endif
