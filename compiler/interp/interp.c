/*
 * interp.c - runs a verified, memory-planned IR module over one block of
 * samples (see interp.h).
 *
 * Every value lives at its planned offset in the caller's scratch arena, so
 * a call allocates nothing and touches no shared mutable state: several
 * threads may run blocks of the same interp at once.  Each instruction runs
 * through interp_eval (exec.c), one kernel an instruction.
 */
#include "config.h"

#include "compiler/interp/interp.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct interp {
  const ir_module *m;
  pmm_gmm *gmm;     /* the module's mixtures in the kernel's layout */
  pmm_atoms *atoms; /* the module's atom sets in the kernel's layout */
};

int interp_init(interp **out, const ir_module *m, char *err, size_t errlen) {
  *out = NULL;
  if (ir_verify(m, err, errlen) != 0) return -1;
  if (m->scratch_floats == 0) {
    snprintf(err, errlen, "module '%s' has no memory plan (run opt_plan_memory first)", m->name);
    return -1;
  }
  interp *ip = calloc(1, sizeof *ip);
  if (ip && m->nmixtures) ip->gmm = calloc(m->nmixtures, sizeof *ip->gmm);
  if (ip && m->natoms) ip->atoms = calloc(m->natoms, sizeof *ip->atoms);
  if (!ip || (m->nmixtures && !ip->gmm) || (m->natoms && !ip->atoms)) {
    if (ip) {
      free(ip->gmm);
      free(ip->atoms);
    }
    free(ip);
    snprintf(err, errlen, "out of memory");
    return -1;
  }
  ip->m = m;
  for (uint32_t i = 0; i < m->nmixtures; i++) {
    const ir_mixture *x = &m->mixtures[i];
    ip->gmm[i] = (pmm_gmm){x->k, x->dim, x->weight, x->mean, x->std};
  }
  for (uint32_t i = 0; i < m->natoms; i++) {
    const ir_atoms *a = &m->atoms[i];
    ip->atoms[i] = (pmm_atoms){a->k, a->dim, a->vocab, a->value, a->log_weight};
  }
  *out = ip;
  return 0;
}

void interp_free(interp *ip) {
  if (!ip) return;
  free(ip->gmm);
  free(ip->atoms);
  free(ip);
}

/* Run block k over the block's rows; its result is copied to dst. */
static void exec_block(interp_env *e, ir_block_kind k, float *arena, float *dst) {
  const ir_block *b = &e->m->blocks[k];
  const float *x[IR_MAX_ARGS];
  e->b = b;
  for (uint32_t i = 0; i < b->count; i++) {
    const ir_inst *in = &b->insts[i];
    for (uint32_t a = 0; a < in->nargs; a++) x[a] = arena + b->insts[in->args[a]].offset;
    interp_eval(e, in, x, arena + in->offset);
  }
  const ir_inst *r = &b->insts[b->result];
  const float *src = arena + r->offset;
  if (src != dst) memcpy(dst, src, e->rows * r->len * sizeof *dst);
}

int interp_run_block(void *user, const pmm_block *blk) {
  const interp *ip = user;
  const ir_module *m = ip->m;
  float *arena = blk->scratch, *state = arena + m->state_offset;
  interp_env e = {m, NULL, ip->gmm, ip->atoms, blk, state, arena + m->work_offset, m->block_size,
                  0};
  if (!m->state_in) exec_block(&e, IR_BLOCK_INIT, arena, state);
  for (e.t = 1; e.t <= m->steps; e.t++) exec_block(&e, IR_BLOCK_STEP, arena, state);
  exec_block(&e, IR_BLOCK_FINAL, arena, blk->out);
  return 0;
}

void interp_describe(const interp *ip, pmm_model_desc *d) {
  const ir_module *m = ip->m;
  ir_describe(m, "pmmc " PACKAGE_VERSION " interpreter", d);
  d->run_block = interp_run_block;
  d->user = (void *)ip;
  /* build stays NULL: only the caller knows how long reading and preparing
   * the module took (`pmmc run` points it at code_bytes 0 and that time). */
}
