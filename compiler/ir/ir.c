/*
 * ir.c - building and freeing IR modules (see ir.h).
 *
 * Arrays grow by doubling; every size product is overflow-checked so that a
 * hostile model description can only ever produce an out-of-memory error.
 */
#include "compiler/ir/ir.h"

#include <stdlib.h>
#include <string.h>

#include "compiler/util/xalloc.h"

/* Make room for one more element in *items (count, *cap, elem bytes). */
static int ir_grow(void **items, uint32_t count, uint32_t *cap, size_t elem) {
  if (count < *cap) return 0;
  if (*cap >= UINT32_MAX / 2) return -1;
  uint32_t ncap = *cap ? *cap * 2 : 8;
  size_t bytes;
  if (size_mul_overflow(ncap, elem, &bytes)) return -1;
  void *p = realloc(*items, bytes);
  if (!p) return -1;
  *items = p;
  *cap = ncap;
  return 0;
}

/* malloc'd copy of n floats, NULL on failure (n == 0 gives a 1-byte block). */
static float *ir_copy_floats(const float *src, uint64_t n) {
  if (n > SIZE_MAX) return NULL;
  float *p = xmalloc_array(n ? (size_t)n : 1, sizeof *p);
  if (p && n) memcpy(p, src, (size_t)n * sizeof *p);
  return p;
}

int ir_module_init(ir_module *m, const char *name) {
  memset(m, 0, sizeof *m);
  for (int b = 0; b < IR_BLOCK_COUNT; b++) m->blocks[b].result = -1;
  m->block_size = 64;
  m->pad_symbol = -1;
  m->check_finite = 1;
  m->name = xstrdup(name ? name : "");
  return m->name ? 0 : -1;
}

void ir_block_free(ir_block *b) {
  for (uint32_t i = 0; i < b->count; i++) {
    free(b->insts[i].args);
    free(b->insts[i].label);
  }
  free(b->insts);
  memset(b, 0, sizeof *b);
  b->result = -1;
}

void ir_module_free(ir_module *m) {
  free(m->name);
  free(m->pair);
  free(m->sampler);
  free(m->output);
  free(m->schedule);
  free(m->weight_hash);
  free(m->vocab);
  for (uint32_t i = 0; i < m->ntensors; i++) {
    free(m->tensors[i].name);
    free(m->tensors[i].data);
  }
  free(m->tensors);
  for (uint32_t i = 0; i < m->ntables; i++) {
    free(m->tables[i].name);
    free(m->tables[i].data);
  }
  free(m->tables);
  for (uint32_t i = 0; i < m->nmixtures; i++) {
    free(m->mixtures[i].weight);
    free(m->mixtures[i].mean);
    free(m->mixtures[i].std);
  }
  free(m->mixtures);
  for (uint32_t i = 0; i < m->natoms; i++) {
    free(m->atoms[i].value);
    free(m->atoms[i].log_weight);
  }
  free(m->atoms);
  for (uint32_t i = 0; i < m->nprogs; i++) free(m->progs[i].uops);
  free(m->progs);
  for (int b = 0; b < IR_BLOCK_COUNT; b++) ir_block_free(&m->blocks[b]);
  memset(m, 0, sizeof *m);
  for (int b = 0; b < IR_BLOCK_COUNT; b++) m->blocks[b].result = -1;
}

int32_t ir_emit(ir_block *b, ir_op op, uint32_t nargs, const int32_t *args, uint32_t len,
                int uniform) {
  if (b->count >= INT32_MAX) return -1;
  if (ir_grow((void **)&b->insts, b->count, &b->cap, sizeof *b->insts) != 0) return -1;
  int32_t *copy = NULL;
  if (nargs) {
    copy = xmalloc_array(nargs, sizeof *copy);
    if (!copy) return -1;
    memcpy(copy, args, nargs * sizeof *copy);
  }
  ir_inst *in = &b->insts[b->count];
  memset(in, 0, sizeof *in);
  in->op = op;
  in->nargs = nargs;
  in->args = copy;
  in->len = len;
  in->shape = tshape_vec(len);
  in->uniform = uniform ? 1 : 0;
  in->act = PMM_ACT_NONE;
  in->weight = -1;
  in->bias = -1;
  in->table = -1;
  in->mixture = -1;
  in->atoms = -1;
  in->prog = -1;
  return (int32_t)b->count++;
}

int32_t ir_add_tensor(ir_module *m, const char *name, uint32_t rank, const uint64_t *shape,
                      const float *data) {
  if (rank > 4 || m->ntensors >= INT32_MAX) return -1;
  uint64_t count = 1;
  for (uint32_t i = 0; i < rank; i++)
    if (__builtin_mul_overflow(count, shape[i], &count)) return -1;
  if (ir_grow((void **)&m->tensors, m->ntensors, &m->cap_tensors, sizeof *m->tensors) != 0)
    return -1;
  ir_tensor t;
  memset(&t, 0, sizeof t);
  t.name = xstrdup(name);
  t.data = ir_copy_floats(data, count);
  if (!t.name || !t.data) {
    free(t.name);
    free(t.data);
    return -1;
  }
  t.rank = rank;
  for (uint32_t i = 0; i < rank; i++) t.shape[i] = shape[i];
  t.count = count;
  m->tensors[m->ntensors] = t;
  return (int32_t)m->ntensors++;
}

int32_t ir_add_table(ir_module *m, const char *name, uint32_t count, const float *data) {
  return ir_add_table_rows(m, name, count, 1, data);
}

int32_t ir_add_table_rows(ir_module *m, const char *name, uint32_t count, uint32_t width,
                          const float *data) {
  if (m->ntables >= INT32_MAX || width == 0) return -1;
  if (ir_grow((void **)&m->tables, m->ntables, &m->cap_tables, sizeof *m->tables) != 0) return -1;
  ir_table t;
  t.name = xstrdup(name);
  t.count = count;
  t.width = width;
  t.data = ir_copy_floats(data, (uint64_t)count * width);
  if (!t.name || !t.data) {
    free(t.name);
    free(t.data);
    return -1;
  }
  m->tables[m->ntables] = t;
  return (int32_t)m->ntables++;
}

int32_t ir_add_mixture(ir_module *m, uint32_t k, uint32_t dim, const float *weight,
                       const float *mean, const float *std) {
  uint64_t kd = (uint64_t)k * dim; /* 32 x 32 bits cannot overflow 64 */
  if (m->nmixtures >= INT32_MAX) return -1;
  if (ir_grow((void **)&m->mixtures, m->nmixtures, &m->cap_mixtures, sizeof *m->mixtures) != 0)
    return -1;
  ir_mixture x;
  x.k = k;
  x.dim = dim;
  x.weight = ir_copy_floats(weight, k);
  x.mean = ir_copy_floats(mean, kd);
  x.std = ir_copy_floats(std, k);
  if (!x.weight || !x.mean || !x.std) {
    free(x.weight);
    free(x.mean);
    free(x.std);
    return -1;
  }
  m->mixtures[m->nmixtures] = x;
  return (int32_t)m->nmixtures++;
}

int32_t ir_add_atoms(ir_module *m, uint32_t k, uint32_t dim, uint32_t vocab, const float *value,
                     const float *log_weight) {
  if (m->natoms >= INT32_MAX) return -1;
  if (ir_grow((void **)&m->atoms, m->natoms, &m->cap_atoms, sizeof *m->atoms) != 0) return -1;
  ir_atoms a;
  a.k = k;
  a.dim = dim;
  a.vocab = vocab;
  a.value = ir_copy_floats(value, (uint64_t)k * dim);
  a.log_weight = ir_copy_floats(log_weight, k);
  if (!a.value || !a.log_weight) {
    free(a.value);
    free(a.log_weight);
    return -1;
  }
  m->atoms[m->natoms] = a;
  return (int32_t)m->natoms++;
}

int32_t ir_add_prog(ir_module *m, uint32_t count, const ir_uop *uops) {
  if (m->nprogs >= INT32_MAX || count == 0) return -1;
  if (ir_grow((void **)&m->progs, m->nprogs, &m->cap_progs, sizeof *m->progs) != 0) return -1;
  ir_uop *copy = xmalloc_array(count, sizeof *copy);
  if (!copy) return -1;
  memcpy(copy, uops, count * sizeof *copy);
  m->progs[m->nprogs].count = count;
  m->progs[m->nprogs].uops = copy;
  return (int32_t)m->nprogs++;
}

const char *ir_uop_name(ir_uop_kind k) {
  static const char *const names[IR_UOP_COUNT] = {
      [IR_UOP_ARG] = "arg", [IR_UOP_CONST] = "const", [IR_UOP_ADD] = "add",
      [IR_UOP_SUB] = "sub", [IR_UOP_MUL] = "mul",     [IR_UOP_ACT] = "act"};
  return (unsigned)k < IR_UOP_COUNT ? names[k] : "?";
}

const char *ir_block_name(ir_block_kind k) {
  static const char *const names[IR_BLOCK_COUNT] = {
      [IR_BLOCK_INIT] = "init", [IR_BLOCK_STEP] = "step", [IR_BLOCK_FINAL] = "final"};
  return (unsigned)k < IR_BLOCK_COUNT ? names[k] : "?";
}

int32_t ir_emit_shaped(ir_block *b, ir_op op, uint32_t nargs, const int32_t *args,
                       const tshape *shape, int uniform) {
  uint64_t n = tshape_numel(shape);
  int32_t i = ir_emit(b, op, nargs, args, n > UINT32_MAX ? 0 : (uint32_t)n, uniform);
  if (i >= 0) b->insts[i].shape = *shape;
  return i;
}
