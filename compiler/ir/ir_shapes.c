/*
 * ir_shapes.c - the shape rule of every op (the `shape` column of
 * ir_ops.def).  A rule sees an instruction whose operand indices are valid
 * earlier instructions with known shapes; it checks the operands and the
 * attributes it reads (indices of module data included) and gives the
 * result's per-row shape, or says in `why` what does not fit.  The verifier,
 * the 'shapes' pass and lowering all use these rules, so a shape is decided
 * in one place.
 */
#include "compiler/ir/ir_shapes.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>

static int fail(char *why, size_t whylen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int fail(char *why, size_t whylen, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  if (whylen) vsnprintf(why, whylen, fmt, ap);
  va_end(ap);
  return -1;
}

static const ir_inst *arg(const ir_block *b, const ir_inst *in, uint32_t a) {
  return &b->insts[in->args[a]];
}

static int is_scalar(const ir_inst *x) { return x->uniform && x->len == 1; }

/* The module tensor t, or NULL after saying why. */
static const ir_tensor *tensor(const ir_module *m, int32_t t, const char *what, char *why,
                               size_t whylen) {
  if (t < 0 || (uint32_t)t >= m->ntensors) {
    fail(why, whylen, "%s tensor index %d out of range (module has %u tensors)", what, (int)t,
         m->ntensors);
    return NULL;
  }
  return &m->tensors[t];
}

/* Tensor t must be [n] (bias, norm weights); -1 when absent is allowed. */
static int vector_tensor(const ir_module *m, int32_t t, const char *what, uint64_t n, char *why,
                         size_t whylen) {
  if (t == -1) return 0;
  const ir_tensor *x = tensor(m, t, what, why, whylen);
  if (!x) return -1;
  if (x->rank != 1 || x->shape[0] != n)
    return fail(why, whylen, "%s '%s' must have shape [%llu]", what, x->name,
                (unsigned long long)n);
  return 0;
}

static int set_dims(tshape *out, uint32_t rank, const uint64_t *dims, char *why, size_t whylen) {
  if (rank < 1 || rank > TSHAPE_MAX_RANK) return fail(why, whylen, "rank %u not in 1..4", rank);
  out->rank = rank;
  for (uint32_t d = 0; d < rank; d++) {
    if (dims[d] == 0 || dims[d] > UINT32_MAX)
      return fail(why, whylen, "dimension %u is %llu", d, (unsigned long long)dims[d]);
    out->dim[d] = (uint32_t)dims[d];
  }
  return 0;
}

static const char *fmt(const tshape *s, char *buf) { return tshape_format(s, buf, TSHAPE_TEXT); }

/* ---- sources ------------------------------------------------------------- */

int ir_shape_state(const ir_module *m, const ir_block *b, const ir_inst *in, tshape *out, char *why,
                   size_t whylen) {
  (void)b;
  (void)in;
  *out = m->state_shape.rank ? m->state_shape : tshape_vec(m->state_len);
  if (tshape_numel(out) != m->state_len)
    return fail(why, whylen, "the state shape does not hold %u floats", m->state_len);
  return 0;
}

int ir_shape_own(const ir_module *m, const ir_block *b, const ir_inst *in, tshape *out, char *why,
                 size_t whylen) {
  (void)m;
  (void)b;
  uint64_t n = tshape_numel(&in->shape);
  if (n == 0 || n > UINT32_MAX) return fail(why, whylen, "no valid shape of its own");
  if (in->op == IR_OP_FILL && !isfinite(in->fattr)) return fail(why, whylen, "value is not finite");
  *out = in->shape;
  return 0;
}

int ir_shape_scalar(const ir_module *m, const ir_block *b, const ir_inst *in, tshape *out,
                    char *why, size_t whylen) {
  (void)m;
  (void)b;
  if (!isfinite(in->fattr)) return fail(why, whylen, "value is not finite");
  *out = tshape_vec(1);
  return 0;
}

/* A table row or tensor may be read in any shape that holds its n floats
 * (a folded value keeps its own): the instruction's shape when it does,
 * else [n]. */
static int own_view(const ir_inst *in, uint64_t n, tshape *out, char *why, size_t whylen) {
  if (n == 0 || n > UINT32_MAX) return fail(why, whylen, "%llu floats", (unsigned long long)n);
  *out = tshape_numel(&in->shape) == n ? in->shape : tshape_vec((uint32_t)n);
  return 0;
}

int ir_shape_table(const ir_module *m, const ir_block *b, const ir_inst *in, tshape *out, char *why,
                   size_t whylen) {
  (void)b;
  if (in->table < 0 || (uint32_t)in->table >= m->ntables)
    return fail(why, whylen, "table index %d out of range (module has %u tables)", (int)in->table,
                m->ntables);
  return own_view(in, m->tables[in->table].width, out, why, whylen);
}

int ir_shape_tensor(const ir_module *m, const ir_block *b, const ir_inst *in, tshape *out,
                    char *why, size_t whylen) {
  (void)b;
  const ir_tensor *t = tensor(m, in->weight, "constant", why, whylen);
  if (!t) return -1;
  if (tshape_numel(&in->shape) == t->count) return own_view(in, t->count, out, why, whylen);
  return set_dims(out, t->rank, t->shape, why, whylen);
}

/* ---- network ------------------------------------------------------------- */

int ir_shape_dense(const ir_module *m, const ir_block *b, const ir_inst *in, tshape *out, char *why,
                   size_t whylen) {
  const ir_inst *x = arg(b, in, 0);
  const ir_tensor *w = tensor(m, in->weight, "weight", why, whylen);
  if (!w) return -1;
  if (w->rank != 2)
    return fail(why, whylen, "weight '%s' has rank %u, expected 2", w->name, w->rank);
  uint32_t last = x->shape.dim[x->shape.rank - 1];
  if (w->shape[1] != last)
    return fail(why, whylen, "weight '%s' takes %llu inputs, operand %%%d has %u on its last axis",
                w->name, (unsigned long long)w->shape[1], (int)in->args[0], last);
  if (w->shape[0] == 0 || w->shape[0] > UINT32_MAX)
    return fail(why, whylen, "weight '%s' has %llu rows", w->name, (unsigned long long)w->shape[0]);
  if (vector_tensor(m, in->bias, "bias", w->shape[0], why, whylen) != 0) return -1;
  if (in->prog < 0 && in->nargs != 1)
    return fail(why, whylen, "%u operands, but only a dense with an epilogue takes extras",
                in->nargs);
  *out = x->shape;
  out->dim[out->rank - 1] = (uint32_t)w->shape[0];
  return 0;
}

int ir_shape_act(const ir_module *m, const ir_block *b, const ir_inst *in, tshape *out, char *why,
                 size_t whylen) {
  (void)m;
  if ((unsigned)in->act >= PMM_ACT_COUNT || in->act == PMM_ACT_NONE)
    return fail(why, whylen, "invalid activation %d", (int)in->act);
  *out = arg(b, in, 0)->shape;
  return 0;
}

/* Operands of equal element count are read flat (the result takes the
 * first one's shape); otherwise NumPy broadcasting. */
int ir_shape_binary(const ir_module *m, const ir_block *b, const ir_inst *in, tshape *out,
                    char *why, size_t whylen) {
  (void)m;
  const ir_inst *x = arg(b, in, 0), *y = arg(b, in, 1);
  char bx[TSHAPE_TEXT], by[TSHAPE_TEXT];
  if (x->len == y->len) {
    *out = x->shape;
    return 0;
  }
  if (tshape_broadcast(&x->shape, &y->shape, out) != 0)
    return fail(why, whylen, "operand shapes %s (%%%d) and %s (%%%d) do not broadcast",
                fmt(&x->shape, bx), (int)in->args[0], fmt(&y->shape, by), (int)in->args[1]);
  return 0;
}

int ir_shape_concat(const ir_module *m, const ir_block *b, const ir_inst *in, tshape *out,
                    char *why, size_t whylen) {
  (void)m;
  const ir_inst *x = arg(b, in, 0);
  char bx[TSHAPE_TEXT], by[TSHAPE_TEXT];
  if (in->axis >= x->shape.rank)
    return fail(why, whylen, "axis %u out of range for %s", in->axis, fmt(&x->shape, bx));
  *out = x->shape;
  uint64_t sum = 0;
  for (uint32_t a = 0; a < in->nargs; a++) {
    const tshape *s = &arg(b, in, a)->shape;
    int same = s->rank == x->shape.rank;
    for (uint32_t d = 0; same && d < s->rank; d++)
      same = d == in->axis || s->dim[d] == x->shape.dim[d];
    if (!same)
      return fail(why, whylen, "operand %%%d has shape %s, expected %s but for axis %u",
                  (int)in->args[a], fmt(s, by), fmt(&x->shape, bx), in->axis);
    sum += s->dim[in->axis];
  }
  if (sum > UINT32_MAX) return fail(why, whylen, "too long along axis %u", in->axis);
  out->dim[in->axis] = (uint32_t)sum;
  return 0;
}

int ir_shape_sinusoidal(const ir_module *m, const ir_block *b, const ir_inst *in, tshape *out,
                        char *why, size_t whylen) {
  (void)m;
  const ir_inst *x = arg(b, in, 0);
  if (x->len != 1)
    return fail(why, whylen, "operand %%%d has length %u, expected a scalar", (int)in->args[0],
                x->len);
  if (in->dim < 2 || in->dim % 2)
    return fail(why, whylen, "dim %u must be even and at least 2", in->dim);
  *out = tshape_vec(in->dim);
  return 0;
}

static int check_eps(const ir_inst *in, char *why, size_t whylen) {
  if (!(in->fattr > 0.0f) || !isfinite(in->fattr))
    return fail(why, whylen, "eps %g must be positive and finite", (double)in->fattr);
  return 0;
}

int ir_shape_layernorm(const ir_module *m, const ir_block *b, const ir_inst *in, tshape *out,
                       char *why, size_t whylen) {
  const ir_inst *x = arg(b, in, 0);
  uint32_t e = x->shape.dim[x->shape.rank - 1];
  if (in->weight == -1 && in->bias != -1) return fail(why, whylen, "a bias without a weight");
  if (vector_tensor(m, in->weight, "weight", e, why, whylen) != 0 ||
      vector_tensor(m, in->bias, "bias", e, why, whylen) != 0 || check_eps(in, why, whylen) != 0)
    return -1;
  *out = x->shape;
  return 0;
}

int ir_shape_groupnorm(const ir_module *m, const ir_block *b, const ir_inst *in, tshape *out,
                       char *why, size_t whylen) {
  const ir_inst *x = arg(b, in, 0);
  char bx[TSHAPE_TEXT];
  if (x->shape.rank < 2)
    return fail(why, whylen, "operand shape %s has no channel axis", fmt(&x->shape, bx));
  uint32_t c = x->shape.dim[0];
  if (in->groups == 0 || c % in->groups)
    return fail(why, whylen, "%u groups do not divide %u channels", in->groups, c);
  if (vector_tensor(m, in->weight, "weight", c, why, whylen) != 0 ||
      vector_tensor(m, in->bias, "bias", c, why, whylen) != 0 || check_eps(in, why, whylen) != 0)
    return -1;
  if (in->nargs != 1 && in->nargs != 3)
    return fail(why, whylen, "%u operands, expected 1 (x) or 3 (x, mul, add)", in->nargs);
  for (uint32_t a = 1; a < in->nargs; a++)
    if (arg(b, in, a)->len != c)
      return fail(why, whylen, "operand %%%d has %u floats, expected one a channel (%u)",
                  (int)in->args[a], arg(b, in, a)->len, c);
  if ((unsigned)in->act >= PMM_ACT_COUNT)
    return fail(why, whylen, "invalid activation %d", (int)in->act);
  *out = x->shape;
  return 0;
}

/* [C, H, W] operand of an image op, or -1. */
static int image(const ir_block *b, const ir_inst *in, const tshape **s, char *why, size_t whylen) {
  char bx[TSHAPE_TEXT];
  *s = &arg(b, in, 0)->shape;
  if ((*s)->rank != 3) return fail(why, whylen, "operand shape %s is not [C, H, W]", fmt(*s, bx));
  return 0;
}

/* Output size of a window sliding over n (+ 2 pad) by stride; 0 when none fits. */
uint32_t ir_conv_out_dim(uint32_t n, uint32_t k, uint32_t stride, uint32_t pad) {
  uint64_t span = (uint64_t)n + 2u * (uint64_t)pad;
  if (stride == 0 || k == 0 || span < k) return 0;
  return (uint32_t)((span - k) / stride + 1);
}

int ir_shape_conv2d(const ir_module *m, const ir_block *b, const ir_inst *in, tshape *out,
                    char *why, size_t whylen) {
  const tshape *s;
  if (image(b, in, &s, why, whylen) != 0) return -1;
  const ir_tensor *w = tensor(m, in->weight, "weight", why, whylen);
  if (!w) return -1;
  if (w->rank != 4 || w->shape[2] != w->shape[3] || w->shape[2] == 0 || w->shape[0] == 0 ||
      w->shape[0] > UINT32_MAX || w->shape[2] > UINT32_MAX)
    return fail(why, whylen, "weight '%s' is not [out, in/groups, k, k]", w->name);
  uint32_t co = (uint32_t)w->shape[0], k = (uint32_t)w->shape[2];
  if (in->groups == 0 || s->dim[0] % in->groups || co % in->groups)
    return fail(why, whylen, "%u groups do not divide %u input and %u output channels", in->groups,
                s->dim[0], co);
  if (w->shape[1] != s->dim[0] / in->groups)
    return fail(why, whylen, "weight '%s' reads %llu channels a group, the operand has %u", w->name,
                (unsigned long long)w->shape[1], s->dim[0] / in->groups);
  uint32_t ho = ir_conv_out_dim(s->dim[1], k, in->stride, in->pad);
  uint32_t wo = ir_conv_out_dim(s->dim[2], k, in->stride, in->pad);
  if (!ho || !wo)
    return fail(why, whylen, "a %ux%u kernel (stride %u, padding %u) does not fit a %ux%u input", k,
                k, in->stride, in->pad, s->dim[1], s->dim[2]);
  if (vector_tensor(m, in->bias, "bias", co, why, whylen) != 0) return -1;
  if (in->prog < 0 && in->nargs != 1)
    return fail(why, whylen, "%u operands, but only a conv2d with an epilogue takes extras",
                in->nargs);
  *out = tshape_make(3, (uint32_t[]){co, ho, wo});
  return 0;
}

int ir_shape_upsample(const ir_module *m, const ir_block *b, const ir_inst *in, tshape *out,
                      char *why, size_t whylen) {
  (void)m;
  const tshape *s;
  if (image(b, in, &s, why, whylen) != 0) return -1;
  uint64_t h = (uint64_t)s->dim[1] * in->factor, w = (uint64_t)s->dim[2] * in->factor;
  if (in->factor == 0 || h > UINT32_MAX || w > UINT32_MAX)
    return fail(why, whylen, "factor %u out of range", in->factor);
  *out = tshape_make(3, (uint32_t[]){s->dim[0], (uint32_t)h, (uint32_t)w});
  return 0;
}

int ir_shape_avgpool(const ir_module *m, const ir_block *b, const ir_inst *in, tshape *out,
                     char *why, size_t whylen) {
  (void)m;
  const tshape *s;
  if (image(b, in, &s, why, whylen) != 0) return -1;
  if (in->factor == 0 || s->dim[1] < in->factor || s->dim[2] < in->factor)
    return fail(why, whylen, "a %u window does not fit %ux%u", in->factor, s->dim[1], s->dim[2]);
  *out = tshape_make(3, (uint32_t[]){s->dim[0], s->dim[1] / in->factor, s->dim[2] / in->factor});
  return 0;
}

int ir_shape_attention(const ir_module *m, const ir_block *b, const ir_inst *in, tshape *out,
                       char *why, size_t whylen) {
  (void)m;
  const tshape *s = &arg(b, in, 0)->shape;
  char bx[TSHAPE_TEXT];
  if (s->rank != 2 || s->dim[1] % 3)
    return fail(why, whylen, "operand shape %s is not [L, 3E]", fmt(s, bx));
  uint32_t e = s->dim[1] / 3;
  if (in->heads == 0 || e % in->heads)
    return fail(why, whylen, "%u heads do not divide E = %u", in->heads, e);
  *out = tshape_make(2, (uint32_t[]){s->dim[0], e});
  return 0;
}

int ir_shape_reshape(const ir_module *m, const ir_block *b, const ir_inst *in, tshape *out,
                     char *why, size_t whylen) {
  (void)m;
  const ir_inst *x = arg(b, in, 0);
  char bx[TSHAPE_TEXT], by[TSHAPE_TEXT];
  if (tshape_numel(&in->shape) != x->len)
    return fail(why, whylen, "shape %s does not hold the %u floats of %s", fmt(&in->shape, bx),
                x->len, fmt(&x->shape, by));
  *out = in->shape;
  return 0;
}

int ir_shape_transpose(const ir_module *m, const ir_block *b, const ir_inst *in, tshape *out,
                       char *why, size_t whylen) {
  (void)m;
  const tshape *s = &arg(b, in, 0)->shape;
  unsigned seen = 0;
  *out = *s;
  for (uint32_t d = 0; d < s->rank; d++) {
    if (in->perm[d] >= s->rank || (seen & (1u << in->perm[d])))
      return fail(why, whylen, "perm is not a permutation of %u axes", s->rank);
    seen |= 1u << in->perm[d];
    out->dim[d] = s->dim[in->perm[d]];
  }
  return 0;
}

int ir_shape_slice(const ir_module *m, const ir_block *b, const ir_inst *in, tshape *out, char *why,
                   size_t whylen) {
  (void)m;
  const tshape *s = &arg(b, in, 0)->shape;
  char bx[TSHAPE_TEXT];
  if (in->axis >= s->rank || in->dim == 0 || (uint64_t)in->start + in->dim > s->dim[in->axis])
    return fail(why, whylen, "slice %u..%u of axis %u is not inside %s", in->start,
                in->start + in->dim, in->axis, fmt(s, bx));
  *out = *s;
  out->dim[in->axis] = in->dim;
  return 0;
}

int ir_shape_same(const ir_module *m, const ir_block *b, const ir_inst *in, tshape *out, char *why,
                  size_t whylen) {
  (void)m;
  const tshape *s = &arg(b, in, 0)->shape;
  if (in->axis >= s->rank)
    return fail(why, whylen, "axis %u out of range for rank %u", in->axis, s->rank);
  *out = *s;
  return 0;
}

int ir_shape_fused(const ir_module *m, const ir_block *b, const ir_inst *in, tshape *out, char *why,
                   size_t whylen) {
  if (in->prog < 0 || (uint32_t)in->prog >= m->nprogs)
    return fail(why, whylen, "program index %d out of range (module has %u programs)",
                (int)in->prog, m->nprogs);
  const ir_inst *lead = NULL;
  for (uint32_t a = 0; a < in->nargs && !lead; a++)
    if (!is_scalar(arg(b, in, a))) lead = arg(b, in, a);
  *out = lead ? lead->shape : tshape_vec(1);
  return 0;
}

/* ---- the pairs and exact networks ------------------------------------------ */

int ir_shape_poisson(const ir_module *m, const ir_block *b, const ir_inst *in, tshape *out,
                     char *why, size_t whylen) {
  (void)m;
  const ir_inst *x = arg(b, in, 0);
  if (x->uniform)
    return fail(why, whylen, "rate operand %%%d must be per-sample", (int)in->args[0]);
  *out = x->shape;
  return 0;
}

static int check_groups(const ir_block *b, const ir_inst *in, char *why, size_t whylen) {
  const ir_inst *x = arg(b, in, 0);
  if (in->dim == 0 || x->len % in->dim)
    return fail(why, whylen, "operand %%%d has length %u, not a multiple of groups of %u",
                (int)in->args[0], x->len, in->dim);
  return 0;
}

int ir_shape_argmax(const ir_module *m, const ir_block *b, const ir_inst *in, tshape *out,
                    char *why, size_t whylen) {
  (void)m;
  if (check_groups(b, in, why, whylen) != 0) return -1;
  const tshape *s = &arg(b, in, 0)->shape;
  if (s->rank > 1 && s->dim[s->rank - 1] == in->dim) {
    *out = *s;
    out->rank--;
  } else {
    *out = tshape_vec(arg(b, in, 0)->len / in->dim);
  }
  return 0;
}

int ir_shape_dirichlet_mean(const ir_module *m, const ir_block *b, const ir_inst *in, tshape *out,
                            char *why, size_t whylen) {
  (void)m;
  if (check_groups(b, in, why, whylen) != 0) return -1;
  if (!(in->fattr > 0.0f) || !isfinite(in->fattr))
    return fail(why, whylen, "concentration %g must be positive and finite", (double)in->fattr);
  *out = arg(b, in, 0)->shape;
  return 0;
}

static int check_precision(const ir_block *b, const ir_inst *in, char *why, size_t whylen) {
  if (!is_scalar(arg(b, in, 1)))
    return fail(why, whylen, "precision operand %%%d must be a uniform scalar", (int)in->args[1]);
  return 0;
}

int ir_shape_exact_gmm(const ir_module *m, const ir_block *b, const ir_inst *in, tshape *out,
                       char *why, size_t whylen) {
  if (in->mixture < 0 || (uint32_t)in->mixture >= m->nmixtures)
    return fail(why, whylen, "mixture index %d out of range (module has %u mixtures)",
                (int)in->mixture, m->nmixtures);
  const ir_mixture *g = &m->mixtures[in->mixture];
  const ir_inst *x = arg(b, in, 0);
  if (g->k == 0) return fail(why, whylen, "mixture m%d has no components", (int)in->mixture);
  if (x->len != g->dim)
    return fail(why, whylen, "mixture m%d has dim %u, operand %%%d has %u", (int)in->mixture,
                g->dim, (int)in->args[0], x->len);
  if (check_precision(b, in, why, whylen) != 0) return -1;
  *out = x->shape;
  return 0;
}

int ir_shape_exact_atoms(const ir_module *m, const ir_block *b, const ir_inst *in, tshape *out,
                         char *why, size_t whylen) {
  if (in->atoms < 0 || (uint32_t)in->atoms >= m->natoms)
    return fail(why, whylen, "atom set index %d out of range (module has %u atom sets)",
                (int)in->atoms, m->natoms);
  const ir_atoms *a = &m->atoms[in->atoms];
  int categorical = in->op == IR_OP_EXACT_ATOMS_CATEGORICAL;
  if (categorical != (a->vocab > 0))
    return fail(why, whylen, "atom set a%d %s symbols", (int)in->atoms,
                categorical ? "does not hold" : "holds");
  uint64_t want = categorical ? (uint64_t)a->dim * a->vocab : a->dim;
  const ir_inst *x = arg(b, in, 0);
  if (x->len != want)
    return fail(why, whylen, "atom set a%d needs %llu floats, operand %%%d has %u", (int)in->atoms,
                (unsigned long long)want, (int)in->args[0], x->len);
  if (!categorical && check_precision(b, in, why, whylen) != 0) return -1;
  *out = x->shape;
  return 0;
}
