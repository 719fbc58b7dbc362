/*
 * interp.c - runs a verified, memory-planned IR module over one block of
 * samples (see interp.h).
 *
 * Every value lives at its planned offset in the caller's scratch arena, so
 * a call allocates nothing and touches no shared mutable state: several
 * threads may run blocks of the same interp at once.  Each instruction runs
 * through interp_eval (exec.c), one kernel an instruction.
 *
 * Non-finite values (docs/samplers.md): a block run tests the values
 * ir_watched_values names; when one held NaN or infinity the block runs
 * again testing every value, and fails at the first non-finite one with
 * pmm_check_finite's message, as compiled code does.
 */
#include "config.h"

#include "compiler/interp/interp.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct interp {
  const ir_module *m;
  pmm_gmm *gmm;                     /* the module's mixtures in the kernel's layout */
  pmm_atoms *atoms;                 /* the module's atom sets in the kernel's layout */
  uint8_t *watched[IR_BLOCK_COUNT]; /* each block's ir_watched_values; NULL without
                                       check_finite */
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
  int short_of_memory = !ip || (m->nmixtures && !ip->gmm) || (m->natoms && !ip->atoms);
  for (int k = 0; k < IR_BLOCK_COUNT && !short_of_memory && m->check_finite; k++) {
    ip->watched[k] = malloc(m->blocks[k].count ? m->blocks[k].count : 1);
    if (ip->watched[k])
      ir_watched_values(m, (ir_block_kind)k, ip->watched[k]);
    else
      short_of_memory = 1;
  }
  if (short_of_memory) {
    interp_free(ip);
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
  for (int k = 0; k < IR_BLOCK_COUNT; k++) free(ip->watched[k]);
  free(ip);
}

/* How a block run treats non-finite values. */
typedef struct run_checks {
  int diagnose; /* 0: test the watched values, 1: test every value */
  int bad;      /* a watched value was not finite */
} run_checks;

/* Run block k over the block's rows; its result is copied to dst.  Returns
 * 0, or when diagnosing pmm_check_finite's code for the first non-finite
 * value. */
static int exec_block(const interp *ip, interp_env *e, ir_block_kind k, float *arena, float *dst,
                      run_checks *rc) {
  const ir_block *b = &e->m->blocks[k];
  const uint8_t *watched = ip->watched[k];
  const float *x[IR_MAX_ARGS];
  e->b = b;
  for (uint32_t i = 0; i < b->count; i++) {
    const ir_inst *in = &b->insts[i];
    for (uint32_t a = 0; a < in->nargs; a++) x[a] = arena + b->insts[in->args[a]].offset;
    float *y = arena + in->offset;
    interp_eval(e, in, x, y);
    if (!watched || !(rc->diagnose || watched[i])) continue;
    size_t n = (in->uniform ? 1 : e->rows) * in->len;
    if (!pmm_any_nonfinite(n, y)) continue;
    if (!rc->diagnose) {
      rc->bad = 1;
      continue;
    }
    char where[256];
    ir_inst_name(e->m, b, (int32_t)i, where, sizeof where);
    return pmm_check_finite(e->blk, e->t, e->m->steps, where, n, y);
  }
  const ir_inst *r = &b->insts[b->result];
  const float *src = arena + r->offset;
  if (src != dst) memcpy(dst, src, e->rows * r->len * sizeof *dst);
  return 0;
}

/* The whole chain for the block: init, the steps, final. */
static int run_chain(const interp *ip, const pmm_block *blk, run_checks *rc) {
  const ir_module *m = ip->m;
  float *arena = blk->scratch, *state = arena + m->state_offset;
  interp_env e = {m, NULL, ip->gmm, ip->atoms, blk, state, arena + m->work_offset, m->block_size,
                  0};
  int st = m->state_in ? 0 : exec_block(ip, &e, IR_BLOCK_INIT, arena, state, rc);
  for (e.t = 1; st == 0 && e.t <= m->steps; e.t++)
    st = exec_block(ip, &e, IR_BLOCK_STEP, arena, state, rc);
  return st != 0 ? st : exec_block(ip, &e, IR_BLOCK_FINAL, arena, blk->out, rc);
}

int interp_run_block(void *user, const pmm_block *blk) {
  run_checks rc = {0, 0};
  run_chain(user, blk, &rc);
  if (!rc.bad) return 0;
  /* Run again, testing every value, to say where the first non-finite one
   * appeared; that run meets it, since a run's bits are a function of the
   * block alone. */
  rc.diagnose = 1;
  int st = run_chain(user, blk, &rc);
  return st != 0 ? st : PMM_RUN_NONFINITE;
}

void interp_describe(const interp *ip, pmm_model_desc *d) {
  const ir_module *m = ip->m;
  ir_describe(m, "pmmc " PACKAGE_VERSION " interpreter", d);
  d->run_block = interp_run_block;
  d->user = (void *)ip;
  /* build stays NULL: only the caller knows how long reading and preparing
   * the module took (`pmmc run` points it at code_bytes 0 and that time). */
}
