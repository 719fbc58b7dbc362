/*
 * dce.c - pass 'dce' (opt.h): dead code elimination.
 *
 * Nothing in the IR has a side effect: noise is counter-based (Philox keyed
 * by seed, stream, sample index and step), so dropping a RANDN changes no
 * other draw.  An instruction is therefore needed exactly when its block's
 * result depends on it, and everything else goes, operands renumbered.
 * Folding and fusion leave tables, tensors and programs behind that no
 * instruction reads any more; those are dropped next (with their data, so
 * the sampler does not carry them) and references renumbered.  The pass
 * expects a verified module (the pipeline runs 'shapes' first).
 */
#include "compiler/opt/opt.h"

#include <stdlib.h>
#include <string.h>

#include "compiler/util/xalloc.h"

/* Drop the instructions of blk that its result does not need; map is
 * scratch space for blk->count entries. */
static void dce_block(ir_block *blk, int32_t *map) {
  if (blk->count == 0) return;
  memset(map, 0, blk->count * sizeof *map);
  map[blk->result] = 1;
  for (uint32_t k = blk->count; k-- > 0;) {
    if (!map[k]) continue;
    const ir_inst *in = &blk->insts[k];
    for (uint32_t a = 0; a < in->nargs; a++) map[in->args[a]] = 1;
  }
  uint32_t n = 0;
  for (uint32_t k = 0; k < blk->count; k++) {
    ir_inst *in = &blk->insts[k];
    if (!map[k]) {
      free(in->args);
      free(in->label);
      map[k] = -1;
      continue;
    }
    for (uint32_t a = 0; a < in->nargs; a++) in->args[a] = map[in->args[a]];
    map[k] = (int32_t)n;
    blk->insts[n++] = *in;
  }
  blk->count = n;
  blk->result = map[blk->result];
}

/* Kinds of module data that instructions refer to by index. */
typedef enum dce_kind {
  DCE_TENSOR,
  DCE_TABLE,
  DCE_MIXTURE,
  DCE_ATOMS,
  DCE_PROG,
  DCE_KIND_COUNT
} dce_kind;

/* The fields of in that refer to data of kind k (by what the op reads);
 * returns their number (at most 2). */
static int dce_refs(ir_inst *in, dce_kind k, int32_t *ref[2]) {
  static const uint32_t attr[DCE_KIND_COUNT][2] = {[DCE_TENSOR] = {IR_ATTR_WEIGHT, IR_ATTR_BIAS},
                                                   [DCE_TABLE] = {IR_ATTR_TABLE, 0},
                                                   [DCE_MIXTURE] = {IR_ATTR_MIXTURE, 0},
                                                   [DCE_ATOMS] = {IR_ATTR_ATOMS, 0},
                                                   [DCE_PROG] = {IR_ATTR_PROG, 0}};
  int32_t *field[DCE_KIND_COUNT][2] = {[DCE_TENSOR] = {&in->weight, &in->bias},
                                       [DCE_TABLE] = {&in->table, NULL},
                                       [DCE_MIXTURE] = {&in->mixture, NULL},
                                       [DCE_ATOMS] = {&in->atoms, NULL},
                                       [DCE_PROG] = {&in->prog, NULL}};
  uint32_t has = ir_op_get(in->op)->attrs;
  int n = 0;
  for (int j = 0; j < 2 && k < DCE_KIND_COUNT; j++)
    if ((has & attr[k][j]) && *field[k][j] >= 0) ref[n++] = field[k][j];
  return n;
}

/* The module's array of kind k: its base, element size and count. */
static void dce_array(ir_module *m, dce_kind k, char **base, size_t *elem, uint32_t **count) {
  switch (k) {
  case DCE_TENSOR:
    *base = (char *)m->tensors, *elem = sizeof *m->tensors, *count = &m->ntensors;
    return;
  case DCE_TABLE:
    *base = (char *)m->tables, *elem = sizeof *m->tables, *count = &m->ntables;
    return;
  case DCE_MIXTURE:
    *base = (char *)m->mixtures, *elem = sizeof *m->mixtures, *count = &m->nmixtures;
    return;
  case DCE_ATOMS: *base = (char *)m->atoms, *elem = sizeof *m->atoms, *count = &m->natoms; return;
  case DCE_PROG:
  case DCE_KIND_COUNT: break;
  }
  *base = (char *)m->progs, *elem = sizeof *m->progs, *count = &m->nprogs;
}

static void dce_free_item(ir_module *m, dce_kind k, uint32_t j) {
  switch (k) {
  case DCE_TENSOR:
    free(m->tensors[j].name);
    free(m->tensors[j].data);
    return;
  case DCE_TABLE:
    free(m->tables[j].name);
    free(m->tables[j].data);
    return;
  case DCE_MIXTURE:
    free(m->mixtures[j].weight);
    free(m->mixtures[j].mean);
    free(m->mixtures[j].std);
    return;
  case DCE_ATOMS:
    free(m->atoms[j].value);
    free(m->atoms[j].log_weight);
    return;
  case DCE_PROG: free(m->progs[j].uops); return;
  case DCE_KIND_COUNT: return;
  }
}

/* Drop the data of kind k that no instruction refers to; map is scratch
 * space for the array's count entries. */
static void dce_data(ir_module *m, dce_kind k, int32_t *map) {
  char *base;
  size_t elem;
  uint32_t *count;
  dce_array(m, k, &base, &elem, &count);
  if (*count == 0) return;
  memset(map, 0, *count * sizeof *map);
  int32_t *ref[2];
  for (int b = 0; b < IR_BLOCK_COUNT; b++)
    for (uint32_t i = 0; i < m->blocks[b].count; i++) {
      int n = dce_refs(&m->blocks[b].insts[i], k, ref);
      for (int r = 0; r < n; r++) map[*ref[r]] = 1;
    }
  uint32_t n = 0;
  for (uint32_t j = 0; j < *count; j++) {
    if (!map[j]) {
      dce_free_item(m, k, j);
      map[j] = -1;
      continue;
    }
    if (n != j) memcpy(base + n * elem, base + j * elem, elem);
    map[j] = (int32_t)n++;
  }
  *count = n;
  for (int b = 0; b < IR_BLOCK_COUNT; b++)
    for (uint32_t i = 0; i < m->blocks[b].count; i++) {
      int nr = dce_refs(&m->blocks[b].insts[i], k, ref);
      for (int r = 0; r < nr; r++) *ref[r] = map[*ref[r]];
    }
}

int opt_eliminate_dead_code(ir_module *m, char *err, size_t errlen) {
  /* one map, as long as the longest list it will index */
  uint32_t most = 1;
  for (int b = 0; b < IR_BLOCK_COUNT; b++)
    if (m->blocks[b].count > most) most = m->blocks[b].count;
  const uint32_t counts[] = {m->ntensors, m->ntables, m->nmixtures, m->natoms, m->nprogs};
  for (size_t k = 0; k < sizeof counts / sizeof counts[0]; k++)
    if (counts[k] > most) most = counts[k];
  int32_t *map = xmalloc_array(most, sizeof *map);
  if (!map) {
    snprintf(err, errlen, "out of memory");
    return -1;
  }
  for (int b = 0; b < IR_BLOCK_COUNT; b++) dce_block(&m->blocks[b], map);
  for (int k = 0; k < DCE_KIND_COUNT; k++) dce_data(m, (dce_kind)k, map);
  free(map);
  return 0;
}
