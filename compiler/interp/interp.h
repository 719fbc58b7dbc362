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

/* A pmm_run_block_fn; user is the interp. */
int interp_run_block(void *user, const pmm_block *blk);

/* Fill a descriptor for the runtime (strings point into the module). */
void interp_describe(const interp *ip, pmm_model_desc *d);

#endif
