/*
 * interp.c - runs a verified, memory-planned IR module over one block of
 * samples (see interp.h).
 *
 * Every value lives at its planned offset in the caller's scratch arena, so
 * a call allocates nothing and touches no shared mutable state: several
 * threads may run blocks of the same interp at once.  Network ops go through
 * the runtime kernels, exactly the calls compiled code makes; elementwise
 * ops are plain float loops computing `a OP b`, which the LLVM back end
 * reproduces bit for bit.
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

/* What one block run sees. */
typedef struct interp_frame {
  const interp *ip;
  const pmm_block *blk;
  float *arena;
  size_t rows; /* block_size */
  uint32_t t;  /* step number; 0 in init, steps + 1 in final */
} interp_frame;

static float *frame_value(const interp_frame *f, const ir_inst *in) {
  return f->arena + in->offset;
}

static size_t inst_rows(const interp_frame *f, const ir_inst *in) {
  return in->uniform ? 1 : f->rows;
}

/* y = a OP b over the result's rows; a uniform operand has one row, and a
 * uniform scalar also stands for every element of its row. */
static void exec_binary(const interp_frame *f, const ir_inst *in, const ir_inst *a,
                        const ir_inst *b) {
  const float *x = frame_value(f, a), *z = frame_value(f, b);
  float *y = frame_value(f, in);
  size_t rows = inst_rows(f, in), n = in->len;
  size_t xr = a->uniform ? 0 : a->len, zr = b->uniform ? 0 : b->len;
  size_t xe = a->len == n ? 1 : 0, ze = b->len == n ? 1 : 0;
  for (size_t r = 0; r < rows; r++) {
    const float *xp = x + r * xr, *zp = z + r * zr;
    float *yp = y + r * n;
    switch (in->op) {
    case IR_OP_ADD:
      for (size_t j = 0; j < n; j++) yp[j] = xp[j * xe] + zp[j * ze];
      break;
    case IR_OP_SUB:
      for (size_t j = 0; j < n; j++) yp[j] = xp[j * xe] - zp[j * ze];
      break;
    default:
      for (size_t j = 0; j < n; j++) yp[j] = xp[j * xe] * zp[j * ze];
      break;
    }
  }
}

static void exec_concat(const interp_frame *f, const ir_block *b, const ir_inst *in) {
  float *y = frame_value(f, in);
  size_t rows = inst_rows(f, in);
  for (size_t r = 0; r < rows; r++) {
    float *yp = y + r * in->len;
    for (uint32_t a = 0; a < in->nargs; a++) {
      const ir_inst *x = &b->insts[in->args[a]];
      const float *xp = frame_value(f, x) + (x->uniform ? 0 : r * x->len);
      memcpy(yp, xp, x->len * sizeof *yp);
      yp += x->len;
    }
  }
}

/* DIRICHLET_MEAN, in ir.h's operation order (the LLVM back end emits the
 * same float operations). */
static void exec_dirichlet_mean(const interp_frame *f, const ir_inst *in, const float *x) {
  float *y = frame_value(f, in);
  size_t k = in->dim, groups = inst_rows(f, in) * (in->len / k);
  float beta = in->fattr, kb = (float)in->dim * in->fattr;
  for (size_t g = 0; g < groups; g++) {
    const float *c = x + g * k;
    float n = 0.0f;
    for (size_t j = 0; j < k; j++) n = n + c[j];
    float den = kb + n;
    for (size_t j = 0; j < k; j++) y[g * k + j] = (beta + c[j]) / den;
  }
}

/* Element (r, e) of operand x of an elementwise program's instruction. */
static float prog_operand(const interp_frame *f, const ir_inst *x, size_t r, size_t e) {
  const float *p = frame_value(f, x);
  if (x->uniform) return x->len == 1 ? p[0] : p[e];
  return p[r * x->len + e];
}

/* FUSED, and a DENSE's epilogue applied in place to its GEMM result y:
 * the program evaluated element by element, uop by uop, in float. */
static void exec_prog(const interp_frame *f, const ir_block *b, const ir_inst *in, float *y) {
  const ir_prog *p = &f->ip->m->progs[in->prog];
  size_t rows = inst_rows(f, in);
  float reg[IR_PROG_MAX_UOPS];
  for (size_t r = 0; r < rows; r++) {
    for (size_t e = 0; e < in->len; e++) {
      for (uint32_t u = 0; u < p->count; u++) {
        const ir_uop *op = &p->uops[u];
        if (op->kind == IR_UOP_ARG)
          reg[u] = in->op == IR_OP_DENSE && op->a == 0
                       ? y[r * in->len + e]
                       : prog_operand(f, &b->insts[in->args[op->a]], r, e);
        else
          reg[u] = ir_uop_apply(op, reg);
      }
      y[r * in->len + e] = reg[p->count - 1];
    }
  }
}

/* The Philox key of a noise stream (stream 0's comes with the block). */
static void frame_key(const interp_frame *f, uint32_t stream, uint32_t key[2]) {
  key[0] = f->blk->key[0];
  key[1] = f->blk->key[1];
  if (stream != 0) pmm_rng_key(f->blk->seed, stream, key);
}

static void exec_inst(const interp_frame *f, const ir_block *b, const ir_inst *in) {
  const ir_module *m = f->ip->m;
  float *y = frame_value(f, in);
  const ir_inst *a = in->nargs ? &b->insts[in->args[0]] : NULL;
  const float *x = a ? frame_value(f, a) : NULL;
  size_t rows = inst_rows(f, in);
  switch (in->op) {
  case IR_OP_STATE: {
    const float *s = f->arena + m->state_offset;
    if (y != s) memcpy(y, s, f->rows * in->len * sizeof *y);
    break;
  }
  case IR_OP_FILL:
    for (size_t i = 0; i < rows * in->len; i++) y[i] = in->fattr;
    break;
  case IR_OP_CONST: y[0] = in->fattr; break;
  case IR_OP_TABLE:
    memcpy(y, m->tables[in->table].data + (size_t)(f->t - 1) * in->len, in->len * sizeof *y);
    break;
  case IR_OP_TENSOR: memcpy(y, m->tensors[in->weight].data, in->len * sizeof *y); break;
  case IR_OP_FUSED: exec_prog(f, b, in, y); break;
  case IR_OP_RANDN: {
    uint32_t key[2];
    frame_key(f, in->stream, key);
    pmm_rng_normal_block(key, f->blk->first_index, rows, f->t, in->len, y);
    break;
  }
  case IR_OP_POISSON: {
    uint32_t key[2];
    frame_key(f, in->stream, key);
    pmm_rng_poisson_block(key, f->blk->first_index, rows, f->t, in->len, x, y);
    break;
  }
  case IR_OP_DENSE:
    pmm_kernel_dense(rows, a->len, in->len, x, m->tensors[in->weight].data,
                     in->bias >= 0 ? m->tensors[in->bias].data : NULL, y);
    if (in->prog >= 0) exec_prog(f, b, in, y);
    break;
  case IR_OP_ACT: pmm_kernel_act(in->act, rows * in->len, x, y); break;
  case IR_OP_ADD:
  case IR_OP_SUB:
  case IR_OP_MUL: exec_binary(f, in, a, &b->insts[in->args[1]]); break;
  case IR_OP_CONCAT: exec_concat(f, b, in); break;
  case IR_OP_SINUSOIDAL: pmm_kernel_sinusoidal(rows, in->dim, x, a->uniform, y); break;
  case IR_OP_LAYERNORM:
    pmm_kernel_layernorm(rows, in->len, x, m->tensors[in->weight].data,
                         in->bias >= 0 ? m->tensors[in->bias].data : NULL, in->fattr, y);
    break;
  case IR_OP_EXACT_GMM: {
    double A = frame_value(f, &b->insts[in->args[1]])[0];
    pmm_kernel_exact_gmm(&f->ip->gmm[in->mixture], m->prior_mean, m->prior_precision, A, rows, x,
                         y);
    break;
  }
  case IR_OP_SOFTMAX: pmm_kernel_softmax(rows, a->len / in->dim, in->dim, x, y); break;
  case IR_OP_ARGMAX: pmm_kernel_argmax(rows, a->len / in->dim, in->dim, x, y); break;
  case IR_OP_DIRICHLET_MEAN: exec_dirichlet_mean(f, in, x); break;
  case IR_OP_EXACT_ATOMS_NORMAL: {
    double A = frame_value(f, &b->insts[in->args[1]])[0];
    pmm_kernel_exact_atoms_normal(&f->ip->atoms[in->atoms], m->prior_mean, m->prior_precision, A,
                                  rows, x, y);
    break;
  }
  case IR_OP_EXACT_ATOMS_GAMMA: {
    double A = frame_value(f, &b->insts[in->args[1]])[0];
    pmm_kernel_exact_atoms_gamma(&f->ip->atoms[in->atoms], m->prior_shape, m->prior_rate, A, rows,
                                 x, y);
    break;
  }
  case IR_OP_EXACT_ATOMS_CATEGORICAL:
    pmm_kernel_exact_atoms_categorical(&f->ip->atoms[in->atoms], m->prior_smoothing, rows, x, y);
    break;
  case IR_OP_COUNT: break;
  }
}

/* Run block kind k; its result is copied to dst (rows * len floats). */
static void exec_block(interp_frame *f, ir_block_kind k, float *dst) {
  const ir_block *b = &f->ip->m->blocks[k];
  for (uint32_t i = 0; i < b->count; i++) exec_inst(f, b, &b->insts[i]);
  const ir_inst *r = &b->insts[b->result];
  const float *src = frame_value(f, r);
  if (src != dst) memcpy(dst, src, f->rows * r->len * sizeof *dst);
}

int interp_run_block(void *user, const pmm_block *blk) {
  const interp *ip = user;
  const ir_module *m = ip->m;
  interp_frame f = {ip, blk, blk->scratch, m->block_size, 0};
  float *state = f.arena + m->state_offset;
  exec_block(&f, IR_BLOCK_INIT, state);
  for (f.t = 1; f.t <= m->steps; f.t++) exec_block(&f, IR_BLOCK_STEP, state);
  exec_block(&f, IR_BLOCK_FINAL, blk->out);
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
