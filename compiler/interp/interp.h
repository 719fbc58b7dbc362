/*
 * interp.h - the IR interpreter behind `pmmc run`: the reference semantics
 * and the honest baseline for compiled code (it calls the same runtime
 * kernels; only dispatch and fusion differ).
 *
 *     interp *ip;
 *     if (interp_init(&ip, &module, err, sizeof err) != 0) ...
 *     pmm_model_desc d;
 *     interp_describe(ip, &d);          // d.run_block = interp_run_block, d.user = ip
 *     status = pmm_sampler_main(argc, argv, &d);
 *     interp_free(ip);
 *
 * The interpreter keeps a pointer to the module, which must outlive it.
 * run_block is thread-safe: all mutable state lives in the block's scratch.
 */
#ifndef PMMC_INTERP_H
#define PMMC_INTERP_H

#include <stddef.h>

#include "compiler/ir/ir.h"
#include "runtime/pmmrt.h"

typedef struct interp interp;

int interp_init(interp **out, const ir_module *m, char *err, size_t errlen);
void interp_free(interp *ip);

/* A pmm_run_block_fn; user is the interp.  With the module's check_finite it
 * fails with PMM_RUN_NONFINITE and a message in blk->msg when the block
 * meets NaN or infinity (docs/samplers.md), as compiled code does. */
int interp_run_block(void *user, const pmm_block *blk);

/* Fill a descriptor for the runtime (strings point into the module). */
void interp_describe(const interp *ip, pmm_model_desc *d);

/* ---- evaluating one instruction (exec.c) ----------------------------------
 *
 * The interpreter runs every instruction through interp_eval, and constant
 * folding evaluates uniform values through it too (rows 1, no noise), so a
 * folded constant has exactly the interpreter's bits. */

/* What an evaluation sees besides the operands. */
typedef struct interp_env {
  const ir_module *m;
  const ir_block *b;      /* the instruction's block (operand shapes) */
  const pmm_gmm *gmm;     /* the module's mixtures in the kernel's layout, or NULL */
  const pmm_atoms *atoms; /* the module's atom sets likewise, or NULL */
  const pmm_block *blk;   /* noise key and sample range; NULL when folding */
  const float *state;     /* the state entering the block */
  float *work;            /* kernel workspace of m->work_floats floats */
  size_t rows;            /* rows of a per-sample value */
  uint32_t t;             /* step counter: 0 init, 1..steps, steps + 1 final */
} interp_env;

/* Evaluate in: operand a's value is at x[a] (one row when uniform, rows
 * rows otherwise); the result goes to y (one row when in is uniform). */
void interp_eval(const interp_env *e, const ir_inst *in, const float *const *x, float *y);

#endif
