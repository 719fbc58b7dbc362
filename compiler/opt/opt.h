/*
 * opt.h - pmmc's optimiser: passes over the IR (ir.h), each in its own file,
 * run in a fixed pipeline by opt_run_pipeline.
 *
 *     char err[512];
 *     opt_options o;
 *     opt_options_init(&o, OPT_PIPELINE_COMPILED);
 *     o.dump_after = "fuse";            // print the IR after this pass ("all": after each)
 *     o.dump = stderr;
 *     if (opt_run_pipeline(&module, &o, err, sizeof err) != 0) fprintf(stderr, "%s\n", err);
 *
 * Passes (name: file):
 *   shapes  shapes.c  infer every instruction's length and uniformity from its
 *                     operands and attributes, check them against the IR, verify
 *   fold    fold.c    constant folding: every uniform value becomes a per-step
 *                     table (step block) or a constant tensor (init, final);
 *                     a dense layer's uniform inputs fold into a per-step bias
 *   fuse    fuse.c    bias, activation, residual add and the conjugate update
 *                     into the producing GEMM's epilogue; elementwise chains
 *                     into one FUSED loop
 *   dce     dce.c     drop instructions no block result needs, then unused
 *                     tensors, tables, mixtures, atom sets and programs
 *   plan    plan.c    static memory plan: one scratch arena per worker, offsets
 *                     from liveness, no allocation inside the step loop
 *
 * The compiled pipeline is shapes, fold, dce, fuse, dce, plan; the
 * interpreter's is the same without fuse (an interpreter runs one kernel an
 * instruction: fusion is what code generation buys, docs/passes.md).  Every
 * pass leaves a module that ir_verify accepts; the pipeline verifies after
 * each one and names the pass that broke it.
 */
#ifndef PMMC_OPT_H
#define PMMC_OPT_H

#include <stddef.h>
#include <stdio.h>

#include "compiler/ir/ir.h"

typedef enum opt_pipeline {
  OPT_PIPELINE_COMPILED,    /* pmmc build */
  OPT_PIPELINE_INTERPRETED, /* pmmc run */
  OPT_PIPELINE_COUNT
} opt_pipeline;

/* One pass: transforms m in place; 0 on success, else -1 with a message. */
typedef int (*opt_pass_fn)(ir_module *m, char *err, size_t errlen);

typedef struct opt_pass {
  const char *name;    /* as in --dump-after and --passes */
  const char *summary; /* one line, for --help */
  opt_pass_fn run;
} opt_pass;

typedef struct opt_options {
  opt_pipeline pipeline;
  const char *passes;     /* NULL: the pipeline's; else a comma-separated list that
                           * replaces it (shapes first and plan last are implied) */
  const char *dump_after; /* NULL, a pass name, or "all" */
  FILE *dump;             /* where dumps go (default stderr) */
} opt_options;

void opt_options_init(opt_options *o, opt_pipeline pipeline);

/* All passes, in pipeline order; *count receives their number. */
const opt_pass *opt_list_passes(size_t *count);
/* The pipeline's pass list, comma-separated ("shapes,fold,..."), or NULL. */
const char *opt_pipeline_passes(opt_pipeline pipeline);
/* The pass of that name, or NULL. */
const opt_pass *opt_find_pass(const char *name);
/* The same for the first len characters of name. */
const opt_pass *opt_find_pass_n(const char *name, size_t len);

int opt_run_pipeline(ir_module *m, const opt_options *o, char *err, size_t errlen);

/* The passes themselves (one file each). */
int opt_infer_shapes(ir_module *m, char *err, size_t errlen);
int opt_fold_constants(ir_module *m, char *err, size_t errlen);
int opt_fuse_elementwise(ir_module *m, char *err, size_t errlen);
int opt_eliminate_dead_code(ir_module *m, char *err, size_t errlen);
int opt_plan_memory(ir_module *m, char *err, size_t errlen);

#endif
