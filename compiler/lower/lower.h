/*
 * lower.h - lowering a checked model spec into the IR.
 *
 *     ir_module m;
 *     if (lower_model(&spec, &opts, &m, &dl) != 0) { diag_print(&dl, stderr); ... }
 *
 * Lowering folds the schedule into per-step coefficient tables, binds weight
 * tensors to layers (checking names and shapes; errors point at the layer in
 * the YAML) and builds the init, step and final blocks of docs/pmm.md and docs/samplers.md
 * for every pair and sampler (derivations in docs/samplers.md).
 * On success the module is verified but not optimised or memory-planned:
 * that is the optimiser's job (compiler/opt/opt.h, opt_run_pipeline).
 */
#ifndef PMMC_LOWER_H
#define PMMC_LOWER_H

#include "compiler/front/spec.h"
#include "compiler/ir/ir.h"
#include "compiler/util/diag.h"

#define LOWER_DEFAULT_BLOCK_SIZE 64

typedef struct lower_options {
  uint32_t block_size; /* 0 = LOWER_DEFAULT_BLOCK_SIZE */
  int predict;         /* the network alone (pmmc predict): the caller writes
                        * each sample's mu and then tau as its state; the
                        * final block returns the raw output, flattened */
  const char *output;  /* with predict: the layer to return (NULL: network.output) */
} lower_options;

/* 0 on success (m initialised, caller frees); nonzero with errors in dl
 * (m left freed). */
int lower_model(const model_spec *spec, const lower_options *opts, ir_module *m, diag_list *dl);

#endif
