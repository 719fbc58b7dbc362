/*
 * lower.c - checked model spec -> IR module: the entry point, the module
 * header (shapes, prior, schedule A_0..A_T, validity checks), the module
 * strings and weight hash, and the emit helpers the other parts share.
 * The network is lowered in lower_net.c, the sampler's blocks and tables in
 * lower_sampler.c (see lower_int.h).
 *
 * weight_hash is FNV-1a 64 over the module's tensors, mixtures and atom sets
 * (format at lower_weight_hash), so it names exactly the data a sampler
 * embeds.
 */
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "compiler/lower/lower_int.h"
#include "compiler/util/xalloc.h"

int lower_oom(lower_ctx *c) {
  if (!c->failed) diag_error(c->dl, c->spec->path, 0, 0, "out of memory while lowering the model");
  c->failed = 1;
  return -1;
}

int lower_error_at(lower_ctx *c, spec_loc loc, const char *fmt, ...) {
  char msg[768];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  diag_error(c->dl, c->spec->path, loc.line, loc.col, "%s", msg);
  c->failed = 1;
  return -1;
}

/* Emit op over args; the result is uniform iff every operand is (leaves
 * without operands: per-sample). */
int32_t lower_emit(lower_ctx *c, ir_block_kind bk, ir_op op, uint32_t nargs, const int32_t *args,
                   uint32_t len) {
  ir_block *b = &c->m->blocks[bk];
  int uniform = nargs > 0;
  for (uint32_t a = 0; a < nargs; a++)
    if (!b->insts[args[a]].uniform) uniform = 0;
  int32_t i = ir_emit(b, op, nargs, args, len, uniform);
  return i >= 0 ? i : lower_oom(c);
}

int32_t lower_emit_shaped(lower_ctx *c, ir_block_kind bk, ir_op op, uint32_t nargs,
                          const int32_t *args, const tshape *shape) {
  int32_t i = lower_emit(c, bk, op, nargs, args, (uint32_t)tshape_numel(shape));
  if (i >= 0) c->m->blocks[bk].insts[i].shape = *shape;
  return i;
}

int32_t lower_binary(lower_ctx *c, ir_block_kind bk, ir_op op, int32_t a, int32_t b) {
  const ir_inst *x = &c->m->blocks[bk].insts[a], *y = &c->m->blocks[bk].insts[b];
  int32_t args[2] = {a, b};
  return lower_emit(c, bk, op, 2, args, x->len > y->len ? x->len : y->len);
}

int32_t lower_const(lower_ctx *c, ir_block_kind bk, double v) {
  int32_t i = ir_emit(&c->m->blocks[bk], IR_OP_CONST, 0, NULL, 1, 1);
  if (i < 0) return lower_oom(c);
  c->m->blocks[bk].insts[i].fattr = (float)v;
  return i;
}

int lower_label(lower_ctx *c, ir_block_kind bk, int32_t i, const char *label) {
  ir_inst *in = &c->m->blocks[bk].insts[i];
  free(in->label);
  in->label = xstrdup(label);
  return in->label ? 0 : lower_oom(c);
}

/* ---- module strings -------------------------------------------------------- */

typedef struct fnv64 {
  uint64_t h;
} fnv64;

static void fnv_bytes(fnv64 *f, const void *p, size_t n) {
  const unsigned char *s = p;
  for (size_t i = 0; i < n; i++) {
    f->h ^= s[i];
    f->h *= 0x100000001b3ull;
  }
}

static void fnv_u64(fnv64 *f, uint64_t v) {
  unsigned char b[8];
  for (int i = 0; i < 8; i++) b[i] = (unsigned char)(v >> (8 * i));
  fnv_bytes(f, b, 8);
}

static void fnv_floats(fnv64 *f, const float *x, uint64_t n) {
  for (uint64_t i = 0; i < n; i++) {
    uint32_t u;
    memcpy(&u, &x[i], sizeof u);
    unsigned char b[4] = {(unsigned char)u, (unsigned char)(u >> 8), (unsigned char)(u >> 16),
                          (unsigned char)(u >> 24)};
    fnv_bytes(f, b, 4);
  }
}

/* FNV-1a 64 over every tensor (name and NUL, rank, dims, data as
 * little-endian floats), then every mixture (k, dim, weights, means, stds),
 * then every atom set (k, dim, vocab, values, log weights); "" when the
 * module has none of them. */
static char *lower_weight_hash(const ir_module *m) {
  char buf[17] = "";
  if (m->ntensors || m->nmixtures || m->natoms) {
    fnv64 f = {0xcbf29ce484222325ull};
    for (uint32_t i = 0; i < m->ntensors; i++) {
      const ir_tensor *t = &m->tensors[i];
      fnv_bytes(&f, t->name, strlen(t->name) + 1);
      fnv_u64(&f, t->rank);
      for (uint32_t d = 0; d < t->rank; d++) fnv_u64(&f, t->shape[d]);
      fnv_floats(&f, t->data, t->count);
    }
    for (uint32_t i = 0; i < m->nmixtures; i++) {
      const ir_mixture *g = &m->mixtures[i];
      fnv_u64(&f, g->k);
      fnv_u64(&f, g->dim);
      fnv_floats(&f, g->weight, g->k);
      fnv_floats(&f, g->mean, (uint64_t)g->k * g->dim);
      fnv_floats(&f, g->std, g->k);
    }
    for (uint32_t i = 0; i < m->natoms; i++) {
      const ir_atoms *a = &m->atoms[i];
      fnv_u64(&f, a->k);
      fnv_u64(&f, a->dim);
      fnv_u64(&f, a->vocab);
      fnv_floats(&f, a->value, (uint64_t)a->k * a->dim);
      fnv_floats(&f, a->log_weight, a->k);
    }
    snprintf(buf, sizeof buf, "%016" PRIx64, f.h);
  }
  return xstrdup(buf);
}

/* The vocabulary's symbols joined into one string (each is one UTF-8 code
 * point), or NULL with *oom clear when the pair has none. */
static char *lower_vocab(const model_spec *s, int *oom) {
  *oom = 0;
  if (s->pair != SPEC_PAIR_DIRICHLET_CATEGORICAL || !s->vocab) return NULL;
  size_t n = 1;
  for (uint32_t k = 0; k < s->vocab_size; k++) n += strlen(s->vocab[k]);
  char *v = malloc(n);
  if (!v) {
    *oom = 1;
    return NULL;
  }
  v[0] = '\0';
  for (uint32_t k = 0, at = 0; k < s->vocab_size; k++) {
    size_t len = strlen(s->vocab[k]);
    memcpy(v + at, s->vocab[k], len + 1);
    at += (uint32_t)len;
  }
  return v;
}

static int lower_strings(lower_ctx *c) {
  const model_spec *s = c->spec;
  ir_module *m = c->m;
  char sched[320];
  snprintf(sched, sizeof sched, "%s, %u steps, A_1=%g .. A_T=%g, %u network evaluations",
           spec_schedule_kind_name(s->schedule.kind), m->schedule_steps, c->A[1],
           c->A[m->schedule_steps], m->nfe);
  int oom;
  m->pair = xstrdup(spec_pair_name(s->pair));
  m->sampler = xstrdup(spec_sampler_kind_name(s->sampler));
  m->output = xstrdup(spec_output_name(s->output));
  m->schedule = xstrdup(sched);
  m->weight_hash = lower_weight_hash(m);
  m->vocab = lower_vocab(s, &oom);
  return m->pair && m->sampler && m->output && m->schedule && m->weight_hash && !oom ? 0
                                                                                     : lower_oom(c);
}

/* ---- entry point ------------------------------------------------------------ */

static int lower_positive(double x) { return x > 0 && isfinite(x); }

/* The prior and pair parameters: the front end has checked them, but a NaN
 * here would silently poison every table. */
static int lower_check_pair(lower_ctx *c) {
  const model_spec *s = c->spec;
  ir_module *m = c->m;
  switch (s->pair) {
  case SPEC_PAIR_NORMAL_NORMAL:
    if (!lower_positive(s->prior_precision) || !isfinite(s->prior_mean))
      return lower_error_at(c, s->prior_loc,
                            "internal error: prior precision %g is not positive (mean %g)",
                            s->prior_precision, s->prior_mean);
    return 0;
  case SPEC_PAIR_GAMMA_POISSON:
    if (!lower_positive(s->prior_shape) || !lower_positive(s->prior_rate))
      return lower_error_at(c, s->prior_loc,
                            "internal error: prior shape %g and rate %g must be positive",
                            s->prior_shape, s->prior_rate);
    return 0;
  case SPEC_PAIR_DIRICHLET_CATEGORICAL:
    if (!lower_positive(s->prior_concentration) ||
        !(s->prior_smoothing >= 0 && s->prior_smoothing < 1))
      return lower_error_at(c, s->prior_loc,
                            "internal error: concentration %g must be positive and smoothing "
                            "%g in [0, 1)",
                            s->prior_concentration, s->prior_smoothing);
    if (s->vocab_size == 0 || !s->vocab || (uint64_t)s->vocab_size * s->data_elems > UINT32_MAX ||
        s->pad_symbol >= (int)s->vocab_size)
      return lower_error_at(c, s->data_loc, "internal error: bad vocabulary (%u symbols)",
                            s->vocab_size);
    m->vocab_size = s->vocab_size;
    m->pad_symbol = s->pad_symbol < 0 ? -1 : s->pad_symbol;
    m->state_len = (uint32_t)(s->data_elems * s->vocab_size);
    m->state_shape = tshape_make(2, (uint32_t[]){(uint32_t)s->data_elems, s->vocab_size});
    return 0;
  }
  return lower_error_at(c, s->prior_loc, "internal error: unknown pair %d", (int)s->pair);
}

static int lower_header(lower_ctx *c, const lower_options *opts) {
  const model_spec *s = c->spec;
  ir_module *m = c->m;
  if (s->sampler != SPEC_SAMPLER_PMM && s->pair != SPEC_PAIR_NORMAL_NORMAL)
    return lower_error_at(c, s->sampler_loc,
                          "sampler '%s' needs the normal-normal pair; this model is '%s' "
                          "(use sampler 'pmm')",
                          spec_sampler_kind_name(s->sampler), spec_pair_name(s->pair));
  if (s->schedule.steps == 0 || s->data_elems == 0 || s->data_elems > UINT32_MAX || s->rank < 1 ||
      s->rank > 4)
    return lower_error_at(c, s->data_loc, "internal error: bad data shape or step count");
  uint32_t T = s->schedule.steps;
  m->schedule_steps = T;
  m->steps = s->sampler != SPEC_SAMPLER_HEUN ? T : T > 2 ? T - 2 : 0;
  m->rank = s->rank;
  for (uint32_t d = 0; d < s->rank; d++) m->shape[d] = s->shape[d];
  m->state_len = (uint32_t)s->data_elems;
  m->state_shape = tshape_make(s->rank, s->shape);
  m->out_len = (uint32_t)s->data_elems;
  m->prior_mean = s->prior_mean;
  m->prior_precision = s->prior_precision;
  m->prior_shape = s->prior_shape;
  m->prior_rate = s->prior_rate;
  m->prior_concentration = s->prior_concentration;
  m->prior_smoothing = s->prior_smoothing;
  m->range_lo = s->data_range[0];
  m->range_hi = s->data_range[1];
  m->block_size = opts && opts->block_size ? opts->block_size : LOWER_DEFAULT_BLOCK_SIZE;
  if (lower_check_pair(c) != 0) return -1;
  c->mu_shape = m->state_shape;
  c->A = xmalloc_array((size_t)T + 1, sizeof *c->A);
  if (!c->A) return lower_oom(c);
  c->A[0] = 0.0;
  spec_schedule_values(&s->schedule, c->A + 1);
  for (uint32_t t = 1; t <= T; t++)
    if (!(c->A[t] > c->A[t - 1] && isfinite(c->A[t])))
      return lower_error_at(c, s->schedule.loc,
                            "internal error: the schedule is not increasing at step %u "
                            "(A = %g after %g)",
                            t, c->A[t], c->A[t - 1]);
  return 0;
}

/* Every instruction's shape from its operands and attributes, in order:
 * lowering sets attributes after emitting, so shapes are decided here. */
static int lower_infer_shapes(ir_module *m, char *err, size_t errlen) {
  for (int b = 0; b < IR_BLOCK_COUNT; b++)
    for (uint32_t i = 0; i < m->blocks[b].count; i++)
      if (ir_set_shape(m, (ir_block_kind)b, (int32_t)i, err, errlen) != 0) return -1;
  return 0;
}

/* The network alone, for `pmmc predict`: the caller writes each sample's
 * mu (flattened) followed by its tau into the state, and the final block
 * returns the raw output of the output layer (flattened). */
static int lower_predict_blocks(lower_ctx *c) {
  const model_spec *s = c->spec;
  ir_module *m = c->m;
  if (s->network.kind != SPEC_NETWORK_GRAPH)
    return lower_error_at(c, s->network.loc,
                          "predict evaluates a graph network; this one is exact");
  tshape mu = m->state_shape;
  uint32_t n = m->state_len;
  ir_block_kind bk = IR_BLOCK_FINAL;
  m->state_in = 1;
  m->check_finite = 0;
  m->steps = 0;
  m->state_len = n + 1;
  m->state_shape = tshape_vec(n + 1);
  int32_t st = lower_emit_shaped(c, bk, IR_OP_STATE, 0, NULL, &m->state_shape);
  int32_t flat = st >= 0 ? lower_emit(c, bk, IR_OP_SLICE, 1, &st, 0) : -1;
  int32_t tau = st >= 0 ? lower_emit(c, bk, IR_OP_SLICE, 1, &st, 0) : -1;
  if (flat < 0 || tau < 0) return -1;
  m->blocks[bk].insts[flat].dim = n;
  m->blocks[bk].insts[tau].start = n;
  m->blocks[bk].insts[tau].dim = 1;
  int32_t x = lower_emit_shaped(c, bk, IR_OP_RESHAPE, 1, &flat, &mu);
  if (x < 0 || lower_label(c, bk, x, "mu") != 0 || lower_label(c, bk, tau, "time") != 0) return -1;
  lower_inputs io = {bk, x, x, 0, tau, -1};
  int32_t r = lower_network_raw(c, &io);
  if (r < 0) return -1;
  /* a copy: emitting the reshape may move the instructions */
  const tshape out = m->blocks[bk].insts[r].shape;
  uint64_t elems = tshape_numel(&out);
  tshape vec = tshape_vec((uint32_t)elems);
  if ((r = lower_emit_shaped(c, bk, IR_OP_RESHAPE, 1, &r, &vec)) < 0) return -1;
  m->blocks[bk].result = r;
  m->out_len = (uint32_t)elems;
  m->rank = out.rank;
  for (uint32_t d = 0; d < out.rank; d++) m->shape[d] = out.dim[d];
  m->nfe = 1;
  return 0;
}

int lower_model(const model_spec *spec, const lower_options *opts, ir_module *m, diag_list *dl) {
  lower_ctx c;
  memset(&c, 0, sizeof c);
  c.spec = spec;
  c.m = m;
  c.dl = dl;
  c.mixture = -1;
  c.atoms = -1;
  c.output = opts ? opts->output : NULL;
  for (int k = 0; k < LOWER_TABLE_COUNT; k++)
    for (int s = 0; s < LOWER_SHIFTS; s++) c.table[k][s] = -1;
  if (ir_module_init(m, spec->name) != 0) {
    ir_module_free(m);
    diag_error(dl, spec->path, 0, 0, "out of memory while lowering the model");
    return -1;
  }
  int rc = lower_header(&c, opts);
  if (rc == 0) rc = opts && opts->predict ? lower_predict_blocks(&c) : lower_blocks(&c);
  if (rc == 0) rc = lower_strings(&c);
  if (rc == 0) {
    char err[512];
    if (lower_infer_shapes(m, err, sizeof err) != 0 || ir_verify(m, err, sizeof err) != 0)
      rc = lower_error_at(&c, spec->name_loc, "internal error: the lowered IR is invalid: %s", err);
  }
  free(c.A);
  free(c.live);
  free(c.value);
  strmap_free(&c.tensors);
  if (rc != 0) ir_module_free(m);
  return rc;
}
