/*
 * exec.c - the interpreter's kernel for every op (the `exec` column of
 * ir_ops.def), behind interp_eval.
 *
 * Network ops call the runtime kernels compiled code calls (or that
 * specialised compiled code reproduces); elementwise ops are plain float
 * loops computing `a OP b` in the order ir_ops.def states, which the LLVM
 * back end reproduces bit for bit.  Nothing here allocates.
 */
#include "compiler/interp/interp.h"

#include <string.h>

typedef void exec_fn(const interp_env *e, const ir_inst *in, const float *const *x, float *y);

static const ir_inst *operand(const interp_env *e, const ir_inst *in, uint32_t a) {
  return &e->b->insts[in->args[a]];
}

static size_t rows_of(const interp_env *e, const ir_inst *in) { return in->uniform ? 1 : e->rows; }

static const float *tensor_or_null(const ir_module *m, int32_t t) {
  return t >= 0 ? m->tensors[t].data : NULL;
}

/* ---- sources ------------------------------------------------------------- */

static void exec_state(const interp_env *e, const ir_inst *in, const float *const *x, float *y) {
  (void)x;
  if (y != e->state) memcpy(y, e->state, e->rows * in->len * sizeof *y);
}

static void exec_fill(const interp_env *e, const ir_inst *in, const float *const *x, float *y) {
  (void)x;
  size_t n = rows_of(e, in) * in->len;
  for (size_t i = 0; i < n; i++) y[i] = in->fattr;
}

static void exec_table(const interp_env *e, const ir_inst *in, const float *const *x, float *y) {
  (void)x;
  memcpy(y, e->m->tables[in->table].data + (size_t)(e->t - 1) * in->len, in->len * sizeof *y);
}

static void exec_tensor(const interp_env *e, const ir_inst *in, const float *const *x, float *y) {
  (void)x;
  memcpy(y, e->m->tensors[in->weight].data, in->len * sizeof *y);
}

/* The Philox key of a noise stream (stream 0's comes with the block). */
static void stream_key(const interp_env *e, uint32_t stream, uint32_t key[2]) {
  key[0] = e->blk->key[0];
  key[1] = e->blk->key[1];
  if (stream != 0) pmm_rng_key(e->blk->seed, stream, key);
}

static void exec_randn(const interp_env *e, const ir_inst *in, const float *const *x, float *y) {
  (void)x;
  uint32_t key[2];
  stream_key(e, in->stream, key);
  pmm_rng_normal_block(key, e->blk->first_index, e->rows, e->t, in->len, y);
}

static void exec_poisson(const interp_env *e, const ir_inst *in, const float *const *x, float *y) {
  uint32_t key[2];
  stream_key(e, in->stream, key);
  pmm_rng_poisson_block(key, e->blk->first_index, e->rows, e->t, in->len, x[0], y);
}

/* ---- elementwise ---------------------------------------------------------- */

/* Element (r, j) of operand a of an elementwise program: uniform scalars
 * broadcast, uniform vectors repeat on every row. */
static float prog_operand(const interp_env *e, const ir_inst *in, const float *const *x, uint32_t a,
                          size_t r, size_t j) {
  const ir_inst *o = operand(e, in, a);
  if (o->uniform) return o->len == 1 ? x[a][0] : x[a][j];
  return x[a][r * o->len + j];
}

/* A program over the instruction's elements, uop by uop in float; for a
 * dense or conv2d epilogue ARG 0 is y itself (the op's result), updated in
 * place. */
static void run_prog(const interp_env *e, const ir_inst *in, const float *const *x, float *y) {
  const ir_prog *p = &e->m->progs[in->prog];
  size_t rows = rows_of(e, in);
  float reg[IR_PROG_MAX_UOPS];
  for (size_t r = 0; r < rows; r++) {
    for (size_t j = 0; j < in->len; j++) {
      for (uint32_t u = 0; u < p->count; u++) {
        const ir_uop *op = &p->uops[u];
        if (op->kind != IR_UOP_ARG)
          reg[u] = ir_uop_apply(op, reg);
        else if (in->op != IR_OP_FUSED && op->a == 0)
          reg[u] = y[r * in->len + j];
        else
          reg[u] = prog_operand(e, in, x, op->a, r, j);
      }
      y[r * in->len + j] = reg[p->count - 1];
    }
  }
}

static void exec_fused(const interp_env *e, const ir_inst *in, const float *const *x, float *y) {
  run_prog(e, in, x, y);
}

static void exec_act(const interp_env *e, const ir_inst *in, const float *const *x, float *y) {
  pmm_kernel_act(in->act, rows_of(e, in) * in->len, x[0], y);
}

static float apply_binary(ir_op op, float a, float b) {
  return op == IR_OP_ADD ? a + b : op == IR_OP_SUB ? a - b : a * b;
}

/* Strides of operand shape s read as the result shape r (right-aligned,
 * 0 along axes s broadcasts). */
static void broadcast_strides(const tshape *s, const tshape *r, size_t stride[TSHAPE_MAX_RANK]) {
  size_t step = 1;
  for (uint32_t d = r->rank; d-- > 0;) {
    uint32_t sd = d + s->rank >= r->rank ? d + s->rank - r->rank : UINT32_MAX;
    uint32_t n = sd == UINT32_MAX ? 1 : s->dim[sd];
    stride[d] = n == 1 ? 0 : step;
    step *= n;
  }
}

/* Operands with the result's element count are read flat; a scalar
 * broadcasts; any other pair broadcasts by NumPy's rules. */
static void exec_binary(const interp_env *e, const ir_inst *in, const float *const *x, float *y) {
  const ir_inst *a = operand(e, in, 0), *b = operand(e, in, 1);
  size_t rows = rows_of(e, in), n = in->len;
  size_t ar = a->uniform ? 0 : a->len, br = b->uniform ? 0 : b->len;
  if ((a->len == n || a->len == 1) && (b->len == n || b->len == 1)) {
    size_t ae = a->len == n, be = b->len == n;
    for (size_t r = 0; r < rows; r++)
      for (size_t j = 0; j < n; j++)
        y[r * n + j] = apply_binary(in->op, x[0][r * ar + j * ae], x[1][r * br + j * be]);
    return;
  }
  size_t sa[TSHAPE_MAX_RANK], sb[TSHAPE_MAX_RANK];
  broadcast_strides(&a->shape, &in->shape, sa);
  broadcast_strides(&b->shape, &in->shape, sb);
  const tshape *s = &in->shape;
  for (size_t r = 0; r < rows; r++) {
    uint32_t idx[TSHAPE_MAX_RANK] = {0};
    size_t oa = 0, ob = 0;
    for (size_t j = 0; j < n; j++) {
      y[r * n + j] = apply_binary(in->op, x[0][r * ar + oa], x[1][r * br + ob]);
      /* next multi-index, last axis fastest */
      for (uint32_t d = s->rank; d-- > 0;) {
        oa += sa[d];
        ob += sb[d];
        if (++idx[d] < s->dim[d]) break;
        oa -= sa[d] * s->dim[d];
        ob -= sb[d] * s->dim[d];
        idx[d] = 0;
      }
    }
  }
}

static void exec_dirichlet_mean(const interp_env *e, const ir_inst *in, const float *const *x,
                                float *y) {
  size_t k = in->dim, groups = rows_of(e, in) * (in->len / k);
  float beta = in->fattr, kb = (float)in->dim * in->fattr;
  for (size_t g = 0; g < groups; g++) {
    const float *c = x[0] + g * k;
    float n = 0.0f;
    for (size_t j = 0; j < k; j++) n = n + c[j];
    float den = kb + n;
    for (size_t j = 0; j < k; j++) y[g * k + j] = (beta + c[j]) / den;
  }
}

/* ---- data movement ---------------------------------------------------------- */

static void exec_copy(const interp_env *e, const ir_inst *in, const float *const *x, float *y) {
  memcpy(y, x[0], rows_of(e, in) * in->len * sizeof *y);
}

/* Operands side by side along axis: each row is outer runs of the
 * operands' inner blocks (the axis and everything after it). */
static void exec_concat(const interp_env *e, const ir_inst *in, const float *const *x, float *y) {
  size_t rows = rows_of(e, in), outer = tshape_span(&in->shape, 0, in->axis);
  for (size_t r = 0; r < rows; r++)
    for (size_t o = 0; o < outer; o++)
      for (uint32_t a = 0; a < in->nargs; a++) {
        const ir_inst *s = operand(e, in, a);
        size_t inner = s->len / outer;
        memcpy(y, x[a] + (s->uniform ? 0 : r * s->len) + o * inner, inner * sizeof *y);
        y += inner;
      }
}

static void exec_slice(const interp_env *e, const ir_inst *in, const float *const *x, float *y) {
  const ir_inst *s = operand(e, in, 0);
  size_t rows = rows_of(e, in), outer = tshape_span(&in->shape, 0, in->axis);
  size_t rest = tshape_span(&in->shape, in->axis + 1, in->shape.rank);
  size_t from = s->shape.dim[in->axis] * rest, take = (size_t)in->dim * rest;
  for (size_t r = 0; r < rows; r++)
    for (size_t o = 0; o < outer; o++) {
      memcpy(y, x[0] + r * s->len + o * from + (size_t)in->start * rest, take * sizeof *y);
      y += take;
    }
}

static void exec_transpose(const interp_env *e, const ir_inst *in, const float *const *x,
                           float *y) {
  const tshape *s = &operand(e, in, 0)->shape;
  size_t dims[TSHAPE_MAX_RANK], perm[TSHAPE_MAX_RANK];
  for (uint32_t d = 0; d < s->rank; d++) {
    dims[d] = s->dim[d];
    perm[d] = in->perm[d];
  }
  pmm_kernel_transpose(rows_of(e, in), s->rank, dims, perm, x[0], y);
}

/* ---- network ----------------------------------------------------------------- */

static void exec_dense(const interp_env *e, const ir_inst *in, const float *const *x, float *y) {
  const ir_tensor *w = &e->m->tensors[in->weight];
  size_t k = (size_t)w->shape[1], n = (size_t)w->shape[0];
  size_t rows = rows_of(e, in) * (operand(e, in, 0)->len / k);
  pmm_kernel_dense(rows, k, n, x[0], w->data, tensor_or_null(e->m, in->bias), y);
  if (in->prog >= 0) run_prog(e, in, x, y);
}

static void exec_conv2d(const interp_env *e, const ir_inst *in, const float *const *x, float *y) {
  const tshape *s = &operand(e, in, 0)->shape;
  const ir_tensor *w = &e->m->tensors[in->weight];
  pmm_kernel_conv2d(rows_of(e, in), s->dim[0], s->dim[1], s->dim[2], in->shape.dim[0],
                    (size_t)w->shape[2], in->stride, in->pad, in->groups, x[0], w->data,
                    tensor_or_null(e->m, in->bias), y);
  if (in->prog >= 0) run_prog(e, in, x, y);
}

static void exec_sinusoidal(const interp_env *e, const ir_inst *in, const float *const *x,
                            float *y) {
  pmm_kernel_sinusoidal(rows_of(e, in), in->dim, x[0], operand(e, in, 0)->uniform, in->cos_first,
                        y);
}

static void exec_layernorm(const interp_env *e, const ir_inst *in, const float *const *x,
                           float *y) {
  size_t n = in->shape.dim[in->shape.rank - 1];
  pmm_kernel_layernorm(rows_of(e, in) * (in->len / n), n, x[0], tensor_or_null(e->m, in->weight),
                       tensor_or_null(e->m, in->bias), in->fattr, y);
}

static void exec_groupnorm(const interp_env *e, const ir_inst *in, const float *const *x,
                           float *y) {
  size_t c = in->shape.dim[0];
  int film = in->nargs == 3;
  size_t stride = film && !operand(e, in, 1)->uniform ? c : 0;
  pmm_kernel_groupnorm_film(rows_of(e, in), c, in->len / c, in->groups, x[0],
                            tensor_or_null(e->m, in->weight), tensor_or_null(e->m, in->bias),
                            in->fattr, film ? x[1] : NULL, film ? x[2] : NULL, stride, in->act, y);
}

static void exec_upsample(const interp_env *e, const ir_inst *in, const float *const *x, float *y) {
  const tshape *s = &operand(e, in, 0)->shape;
  pmm_kernel_upsample_nearest(rows_of(e, in), s->dim[0], s->dim[1], s->dim[2], in->factor, x[0], y);
}

static void exec_avgpool(const interp_env *e, const ir_inst *in, const float *const *x, float *y) {
  const tshape *s = &operand(e, in, 0)->shape;
  pmm_kernel_avgpool(rows_of(e, in), s->dim[0], s->dim[1], s->dim[2], in->factor, x[0], y);
}

static void exec_attention(const interp_env *e, const ir_inst *in, const float *const *x,
                           float *y) {
  pmm_kernel_attention(rows_of(e, in), in->shape.dim[0], in->shape.dim[1], in->heads, x[0], e->work,
                       y);
}

/* Along the last axis the group kernel (the pair's per-position softmax),
 * else the strided one. */
static void exec_softmax(const interp_env *e, const ir_inst *in, const float *const *x, float *y) {
  const tshape *s = &in->shape;
  size_t outer = rows_of(e, in) * tshape_span(s, 0, in->axis), n = s->dim[in->axis];
  size_t inner = tshape_span(s, in->axis + 1, s->rank);
  if (inner == 1)
    pmm_kernel_softmax(outer, 1, n, x[0], y);
  else
    pmm_kernel_softmax_axis(outer, n, inner, x[0], y);
}

static void exec_argmax(const interp_env *e, const ir_inst *in, const float *const *x, float *y) {
  pmm_kernel_argmax(rows_of(e, in), operand(e, in, 0)->len / in->dim, in->dim, x[0], y);
}

/* ---- exact networks ------------------------------------------------------------ */

static void exec_exact_gmm(const interp_env *e, const ir_inst *in, const float *const *x,
                           float *y) {
  pmm_kernel_exact_gmm(&e->gmm[in->mixture], e->m->prior_mean, e->m->prior_precision, x[1][0],
                       e->rows, x[0], y);
}

static void exec_exact_atoms_normal(const interp_env *e, const ir_inst *in, const float *const *x,
                                    float *y) {
  pmm_kernel_exact_atoms_normal(&e->atoms[in->atoms], e->m->prior_mean, e->m->prior_precision,
                                x[1][0], e->rows, x[0], y);
}

static void exec_exact_atoms_gamma(const interp_env *e, const ir_inst *in, const float *const *x,
                                   float *y) {
  pmm_kernel_exact_atoms_gamma(&e->atoms[in->atoms], e->m->prior_shape, e->m->prior_rate, x[1][0],
                               e->rows, x[0], y);
}

static void exec_exact_atoms_categorical(const interp_env *e, const ir_inst *in,
                                         const float *const *x, float *y) {
  pmm_kernel_exact_atoms_categorical(&e->atoms[in->atoms], e->m->prior_smoothing, e->rows, x[0], y);
}

static exec_fn *const kernels[IR_OP_COUNT] = {
#define OP(id, name, args, flags, attrs, shape, cost, scratch, exec, emit) [IR_OP_##id] = exec,
#include "compiler/ir/ir_ops.def"
#undef OP
};

void interp_eval(const interp_env *e, const ir_inst *in, const float *const *x, float *y) {
  kernels[in->op](e, in, x, y);
}
