/*
 * plan.c - pass 'plan' (opt.h).  Being rewritten with liveness; for now the
 * IR core's one-slot-per-instruction plan.
 */
#include "compiler/opt/opt.h"

int opt_plan_memory(ir_module *m, char *err, size_t errlen) {
  if (ir_plan_memory(m) != 0) {
    snprintf(err, errlen, "the scratch memory for a block of %u samples overflows", m->block_size);
    return -1;
  }
  return 0;
}
