/*
 * plan.c - pass 'plan' (opt.h): the static memory plan.
 *
 * Each worker owns one scratch arena of scratch_floats floats, allocated
 * once before its first block, so the step loop allocates nothing.  The
 * arena holds:
 *
 *   [state_offset, +block_size*state_len)  the state buffer, carried from
 *       block to block; STATE instructions read it in place (their offset
 *       is state_offset), and a block's result is copied into it only after
 *       the block has finished;
 *   [work_offset, +work_floats)  kernel workspace (attention's scores),
 *       the most any one instruction asks for (the `scratch` column of
 *       ir_ops.def); instructions run one at a time, so they share it;
 *   [base, scratch_floats)  the values of one block at a time.  Blocks run
 *       init, step x T, final, and a block's values die at its end, so all
 *       three blocks share this region.
 *
 * Within a block a value lives from its definition to its last use,
 * inclusive (the block's result to the end of the block).  Inclusive ends
 * keep a value clear of every operand of the instruction that defines it,
 * which consumers rely on: a DENSE with an epilogue reads its extra operands
 * after writing its output, and a FUSED loop reads all operands element by
 * element while it writes.  Values that are never live at the same time may
 * share floats.
 *
 * Placement is greedy by size: values in decreasing size (ties: earlier
 * definition first), each at the lowest 16-float (64-byte) aligned offset
 * that is free for its whole lifetime (first fit).  Big activations go
 * first, so the small ones fill the gaps between them.  A per-sample value
 * takes block_size*len floats, a uniform one len.  Every size and offset is
 * overflow-checked, and the arena's size in bytes must fit a size_t.
 * The pass expects a verified module (operands are earlier instructions),
 * which the pipeline guarantees.
 */
#include "compiler/opt/opt.h"

#include <stdlib.h>
#include <string.h>

#include "compiler/util/xalloc.h"

#define PLAN_ALIGN 16u /* floats: 64 bytes */

/* One value of the block being planned. */
typedef struct plan_value {
  uint32_t inst;        /* its instruction */
  uint32_t first, last; /* live range, instruction indices, inclusive */
  uint64_t size;        /* floats */
  uint64_t offset;      /* from the region's base, once placed */
} plan_value;

/* x rounded up to the alignment; -1 on overflow. */
static int plan_align(uint64_t x, uint64_t *out) {
  if (__builtin_add_overflow(x, PLAN_ALIGN - 1, out)) return -1;
  *out -= *out % PLAN_ALIGN;
  return 0;
}

static int plan_by_size(const void *pa, const void *pb) {
  const plan_value *a = pa, *b = pb;
  if (a->size != b->size) return a->size > b->size ? -1 : 1;
  return a->first < b->first ? -1 : a->first > b->first;
}

static int plan_by_offset(const void *pa, const void *pb) {
  const plan_value *a = *(const plan_value *const *)pa, *b = *(const plan_value *const *)pb;
  return a->offset < b->offset ? -1 : a->offset > b->offset;
}

/* The values placed so far, found by live range: a segment tree over
 * instruction indices (a value's first instruction is its own, so each
 * index holds at most one value) keeping the latest `last` below each
 * node.  The values live during [a, b] are those placed at an index <= b
 * whose last >= a; each is found in O(log n), so planning a block of n
 * values costs O((n + overlaps) log n) rather than n^2. */
typedef struct plan_tree {
  int64_t *last;   /* [2 * size]: leaves at size + index; -1: nothing placed */
  uint32_t size;   /* a power of two >= the block's instruction count */
  uint32_t *value; /* instruction -> its value's index in the sorted v */
} plan_tree;

static void plan_tree_reset(plan_tree *t, uint32_t count) {
  t->size = 1;
  while (t->size < count) t->size *= 2;
  for (uint32_t i = 0; i < 2 * t->size; i++) t->last[i] = -1;
}

static void plan_tree_add(plan_tree *t, const plan_value *x) {
  uint32_t i = t->size + x->first;
  t->last[i] = x->last;
  for (i /= 2; i >= 1; i /= 2)
    t->last[i] = t->last[2 * i] > t->last[2 * i + 1] ? t->last[2 * i] : t->last[2 * i + 1];
}

/* Append the placed values of node (covering indices lo..hi) with an index
 * <= b and a last >= a to busy. */
static void plan_tree_find(const plan_tree *t, const plan_value *v, uint32_t node, uint32_t lo,
                           uint32_t hi, uint32_t a, uint32_t b, const plan_value **busy,
                           uint32_t *n) {
  if (lo > b || t->last[node] < (int64_t)a) return;
  if (lo == hi) {
    busy[(*n)++] = &v[t->value[lo]];
    return;
  }
  uint32_t mid = lo + (hi - lo) / 2;
  plan_tree_find(t, v, 2 * node, lo, mid, a, b, busy, n);
  plan_tree_find(t, v, 2 * node + 1, mid + 1, hi, a, b, busy, n);
}

/* Place v[k]: the lowest aligned offset whose floats no value placed
 * before it and live at the same time uses.  busy has room for k
 * pointers.  -1 on overflow. */
static int plan_place(plan_value *v, uint32_t k, plan_tree *t, const plan_value **busy) {
  uint32_t n = 0;
  plan_tree_find(t, v, 1, 0, t->size - 1, v[k].first, v[k].last, busy, &n);
  qsort(busy, n, sizeof *busy, plan_by_offset);
  uint64_t at = 0, end;
  for (uint32_t j = 0; j < n; j++) {
    if (__builtin_add_overflow(at, v[k].size, &end)) return -1;
    if (end <= busy[j]->offset) break;
    uint64_t past;
    if (__builtin_add_overflow(busy[j]->offset, busy[j]->size, &past)) return -1;
    if (past > at && plan_align(past, &at) != 0) return -1;
  }
  v[k].offset = at;
  plan_tree_add(t, &v[k]);
  return 0;
}

/* Scratch space for planning one block, sized for the longest. */
typedef struct plan_work {
  plan_value *v;           /* the block's values */
  const plan_value **busy; /* values live alongside the one being placed */
  uint32_t *slot;          /* instruction -> its value in v (UINT32_MAX: none) */
  plan_tree tree;
} plan_work;

/* Plan block blk from offset base; *top receives the end of its region.
 * -1 on overflow. */
static int plan_block(const ir_module *m, ir_block *blk, uint64_t base, plan_work *w,
                      uint64_t *top) {
  plan_value *v = w->v;
  uint32_t *slot = w->slot, nv = 0;
  *top = base;
  for (uint32_t i = 0; i < blk->count; i++) {
    const ir_inst *in = &blk->insts[i];
    slot[i] = UINT32_MAX;
    for (uint32_t a = 0; a < in->nargs; a++) {
      uint32_t s = slot[in->args[a]];
      if (s != UINT32_MAX) v[s].last = i;
    }
    if (in->op == IR_OP_STATE) continue;
    uint64_t rows = in->uniform ? 1 : m->block_size;
    if (__builtin_mul_overflow(rows, (uint64_t)in->len, &v[nv].size)) return -1;
    v[nv].inst = i;
    v[nv].first = v[nv].last = i;
    slot[i] = nv++;
  }
  if (blk->result >= 0 && (uint32_t)blk->result < blk->count && slot[blk->result] != UINT32_MAX)
    v[slot[blk->result]].last = blk->count - 1;
  qsort(v, nv, sizeof *v, plan_by_size);
  plan_tree_reset(&w->tree, blk->count);
  for (uint32_t k = 0; k < nv; k++) w->tree.value[v[k].first] = k;
  for (uint32_t k = 0; k < nv; k++) {
    if (plan_place(v, k, &w->tree, w->busy) != 0) return -1;
    uint64_t off, end;
    if (__builtin_add_overflow(base, v[k].offset, &off) ||
        __builtin_add_overflow(off, v[k].size, &end))
      return -1;
    blk->insts[v[k].inst].offset = off;
    if (end > *top) *top = end;
  }
  for (uint32_t i = 0; i < blk->count; i++)
    if (blk->insts[i].op == IR_OP_STATE) blk->insts[i].offset = m->state_offset;
  return 0;
}

/* The most kernel workspace any instruction needs (floats). */
static uint64_t plan_work_floats(const ir_module *m) {
  uint64_t most = 0;
  for (int b = 0; b < IR_BLOCK_COUNT; b++)
    for (uint32_t i = 0; i < m->blocks[b].count; i++) {
      const ir_inst *in = &m->blocks[b].insts[i];
      ir_cost_fn scratch = ir_op_get(in->op)->scratch;
      uint64_t n = scratch ? scratch(m, &m->blocks[b], in) : 0;
      if (n > most) most = n;
    }
  return most;
}

int opt_plan_memory(ir_module *m, char *err, size_t errlen) {
  uint32_t most = 1;
  for (int b = 0; b < IR_BLOCK_COUNT; b++)
    if (m->blocks[b].count > most) most = m->blocks[b].count;
  size_t leaves = 1;
  while (leaves < most) leaves *= 2;
  plan_work w = {xmalloc_array(most, sizeof *w.v),
                 xmalloc_array(most, sizeof *w.busy),
                 xmalloc_array(most, sizeof *w.slot),
                 {xmalloc_array(leaves, 2 * sizeof *w.tree.last), 0,
                  xmalloc_array(most, sizeof *w.tree.value)}};
  uint64_t state, base, top, arena = 0, bytes;
  int rc = -1;
  if (!w.v || !w.busy || !w.slot || !w.tree.last || !w.tree.value) {
    snprintf(err, errlen, "out of memory");
    goto done;
  }
  m->state_offset = 0;
  m->work_floats = plan_work_floats(m);
  if (!__builtin_mul_overflow((uint64_t)m->block_size, (uint64_t)m->state_len, &state) &&
      plan_align(state, &m->work_offset) == 0 &&
      !__builtin_add_overflow(m->work_offset, m->work_floats, &base) &&
      plan_align(base, &base) == 0) {
    arena = base;
    rc = 0;
    for (int b = 0; b < IR_BLOCK_COUNT && rc == 0; b++) {
      rc = plan_block(m, &m->blocks[b], base, &w, &top);
      if (top > arena) arena = top;
    }
  }
  if (rc != 0 || plan_align(arena, &arena) != 0 || __builtin_mul_overflow(arena, 4u, &bytes) ||
      bytes > (uint64_t)SIZE_MAX) {
    snprintf(err, errlen, "the scratch memory for a block of %u samples overflows", m->block_size);
    rc = -1;
    goto done;
  }
  m->scratch_floats = arena;
done:
  free(w.v);
  free(w.busy);
  free(w.slot);
  free(w.tree.last);
  free(w.tree.value);
  return rc;
}
