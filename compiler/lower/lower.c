/*
 * lower.c - checked model spec -> IR module (DESIGN.md section 1).
 *
 * Normal-Normal pair, PMM sampler.  With A_0 = 0, lambda_t = lambda0 + A_t
 * and alpha_t = A_t - A_{t-1}, one step is
 *
 *     xhat = network(mu_{t-1}, tau_{t-1})          tau_s = ln(1 + A_s)
 *     mu_t = coef_mu * mu_{t-1} + coef_xhat * xhat + coef_noise * eps
 *     coef_mu = lambda_{t-1} / lambda_t,  coef_xhat = alpha_t / lambda_t,
 *     coef_noise = sqrt(alpha_t) / lambda_t,  eps ~ N(0, I) (RANDN stream 0)
 *
 * which is mu_t = (lambda_{t-1} mu_{t-1} + alpha_t y_t) / lambda_t with
 * y_t = xhat + eps / sqrt(alpha_t) ~ N(xhat, 1/alpha_t).  The schedule is
 * folded into per-step tables (computed in double, stored as float, entry
 * t-1 used at step t); only the tables a model uses are emitted.
 *
 * The network is lowered by one function for the step block (time inputs
 * from tables) and for the final block of output: prediction (time inputs
 * as constants at t = T), sharing tensors and mixtures.  Only layers the
 * output depends on are lowered.
 *
 * weight_hash is FNV-1a 64 over the module's tensors and mixtures (format at
 * lower_weight_hash), so it names exactly the data a sampler embeds.
 */
#include "compiler/lower/lower.h"

#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "compiler/util/xalloc.h"

/* The per-step tables lowering may emit. */
typedef enum lower_table_kind {
  LOWER_TABLE_TAU,        /* ln(1 + A_{t-1}): the network's time input */
  LOWER_TABLE_A,          /* A_{t-1}: precision input of exact networks */
  LOWER_TABLE_COEF_MU,    /* lambda_{t-1} / lambda_t */
  LOWER_TABLE_COEF_XHAT,  /* alpha_t / lambda_t */
  LOWER_TABLE_COEF_NOISE, /* sqrt(alpha_t) / lambda_t */
  LOWER_TABLE_COUNT
} lower_table_kind;

static const char *const lower_table_names[LOWER_TABLE_COUNT] = {"tau", "A", "coef_mu", "coef_xhat",
                                                                 "coef_noise"};

typedef struct lower_ctx {
  const model_spec *spec;
  ir_module *m;
  diag_list *dl;
  double *A;                        /* A_0..A_T (steps + 1 entries) */
  int32_t table[LOWER_TABLE_COUNT]; /* module table index, -1 until used */
  int32_t mixture;                  /* module mixture index, -1 until used */
  int32_t *value;                   /* graph: a layer's instruction in the current block */
  uint8_t *live;                    /* graph: layer reachable from the output */
  int failed;                       /* an error is already in dl */
} lower_ctx;

/* Where the network's inputs come from in the block being built. */
typedef struct lower_inputs {
  ir_block_kind block;
  int32_t mu;  /* the state instruction */
  int32_t tau; /* time feature, emitted on first use (-1 before) */
  int32_t A;   /* cumulative precision, emitted on first use (-1 before) */
} lower_inputs;

static int lower_oom(lower_ctx *c) {
  if (!c->failed) diag_error(c->dl, c->spec->path, 0, 0, "out of memory while lowering the model");
  c->failed = 1;
  return -1;
}

/* An error at a place in the YAML; always -1. */
static int lower_error_at(lower_ctx *c, spec_loc loc, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int lower_error_at(lower_ctx *c, spec_loc loc, const char *fmt, ...) {
  char msg[768];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  diag_error(c->dl, c->spec->path, loc.line, loc.col, "%s", msg);
  c->failed = 1;
  return -1;
}

static double lower_lambda(const lower_ctx *c, uint32_t s) {
  return c->spec->prior_precision + c->A[s];
}

/* Entry t-1 of a table, for t = 1..T. */
static double lower_table_value(const lower_ctx *c, lower_table_kind k, uint32_t t) {
  double alpha = c->A[t] - c->A[t - 1];
  switch (k) {
  case LOWER_TABLE_TAU: return log1p(c->A[t - 1]);
  case LOWER_TABLE_A: return c->A[t - 1];
  case LOWER_TABLE_COEF_MU: return lower_lambda(c, t - 1) / lower_lambda(c, t);
  case LOWER_TABLE_COEF_XHAT: return alpha / lower_lambda(c, t);
  case LOWER_TABLE_COEF_NOISE: return sqrt(alpha) / lower_lambda(c, t);
  case LOWER_TABLE_COUNT: break;
  }
  return 0.0;
}

static int32_t lower_table(lower_ctx *c, lower_table_kind k) {
  if (c->table[k] >= 0) return c->table[k];
  uint32_t steps = c->m->steps;
  float *data = xmalloc_array(steps, sizeof *data);
  if (!data) return lower_oom(c);
  for (uint32_t t = 1; t <= steps; t++) data[t - 1] = (float)lower_table_value(c, k, t);
  c->table[k] = ir_add_table(c->m, lower_table_names[k], steps, data);
  free(data);
  return c->table[k] >= 0 ? c->table[k] : lower_oom(c);
}

/* Emit op over args; the result is uniform iff every operand is (leaves
 * without operands: per-sample). */
static int32_t lower_emit(lower_ctx *c, ir_block_kind bk, ir_op op, uint32_t nargs,
                          const int32_t *args, uint32_t len) {
  ir_block *b = &c->m->blocks[bk];
  int uniform = nargs > 0;
  for (uint32_t a = 0; a < nargs; a++)
    if (!b->insts[args[a]].uniform) uniform = 0;
  int32_t i = ir_emit(b, op, nargs, args, len, uniform);
  return i >= 0 ? i : lower_oom(c);
}

/* A uniform scalar leaf (TABLE or CONST); its attribute is set by the caller. */
static int32_t lower_scalar(lower_ctx *c, ir_block_kind bk, ir_op op) {
  int32_t i = ir_emit(&c->m->blocks[bk], op, 0, NULL, 1, 1);
  return i >= 0 ? i : lower_oom(c);
}

static int lower_label(lower_ctx *c, ir_block_kind bk, int32_t i, const char *label) {
  ir_inst *in = &c->m->blocks[bk].insts[i];
  free(in->label);
  in->label = xstrdup(label);
  return in->label ? 0 : lower_oom(c);
}

/* The network's time input (tau) or exact precision (A) in this block: a
 * TABLE read in the step block, the constant tau_T or A_T in the final one;
 * emitted once per block. */
static int32_t lower_time_value(lower_ctx *c, lower_inputs *io, lower_table_kind k) {
  int32_t *slot = k == LOWER_TABLE_TAU ? &io->tau : &io->A;
  if (*slot >= 0) return *slot;
  int32_t i;
  if (io->block == IR_BLOCK_STEP) {
    int32_t t = lower_table(c, k);
    if (t < 0) return -1;
    if ((i = lower_scalar(c, io->block, IR_OP_TABLE)) < 0) return -1;
    c->m->blocks[io->block].insts[i].table = t;
  } else {
    double a = c->A[c->m->steps];
    if ((i = lower_scalar(c, io->block, IR_OP_CONST)) < 0) return -1;
    c->m->blocks[io->block].insts[i].fattr = (float)(k == LOWER_TABLE_TAU ? log1p(a) : a);
  }
  *slot = i;
  return lower_label(c, io->block, i, k == LOWER_TABLE_TAU ? "time" : "A") == 0 ? i : -1;
}

/* The module tensor called name, added from the spec's weights on first
 * use; -1 with an error naming the layer when it does not exist. */
static int32_t lower_tensor(lower_ctx *c, const spec_layer *l, const char *suffix) {
  char name[512];
  if ((size_t)snprintf(name, sizeof name, "%s.%s", l->name, suffix) >= sizeof name)
    return lower_error_at(c, l->loc, "layer name '%s' is too long", l->name);
  for (uint32_t i = 0; i < c->m->ntensors; i++)
    if (strcmp(c->m->tensors[i].name, name) == 0) return (int32_t)i;
  const weight_tensor *w = weights_find(&c->spec->weights, name);
  if (!w) return lower_error_at(c, l->loc, "internal error: weight tensor '%s' is missing", name);
  if (w->rank > 4)
    return lower_error_at(c, l->loc, "internal error: weight tensor '%s' has rank above 4", name);
  int32_t t = ir_add_tensor(c->m, name, w->rank, w->shape, w->data);
  return t >= 0 ? t : lower_oom(c);
}

/* ---- graph networks ---------------------------------------------------- */

enum { LOWER_SRC_MU = -2, LOWER_SRC_TIME = -3, LOWER_SRC_NONE = -4 };

/* Input a of layer i: a layer index, LOWER_SRC_MU / _TIME, or _NONE.  The
 * front end has already resolved a missing `input:` to the previous layer. */
static int lower_layer_source(const spec_network *net, size_t i, size_t a) {
  const char *name = net->layers[i].inputs[a];
  if (strcmp(name, "mu") == 0) return LOWER_SRC_MU;
  if (strcmp(name, "time") == 0) return LOWER_SRC_TIME;
  for (size_t j = i; j-- > 0;)
    if (strcmp(net->layers[j].name, name) == 0) return (int)j;
  return LOWER_SRC_NONE;
}

/* Mark the layers the output depends on; the rest are dead and not lowered. */
static int lower_mark_live(lower_ctx *c, size_t *out) {
  const spec_network *net = &c->spec->network;
  if (net->nlayers == 0 || net->nlayers > INT32_MAX)
    return lower_error_at(c, net->loc, "internal error: network has %s layers",
                          net->nlayers ? "too many" : "no");
  size_t o = net->nlayers - 1;
  if (net->output) {
    for (o = net->nlayers; o-- > 0;)
      if (strcmp(net->layers[o].name, net->output) == 0) break;
    if (o == (size_t)-1)
      return lower_error_at(c, net->output_loc, "internal error: output layer '%s' not found",
                            net->output);
  }
  c->live[o] = 1;
  for (size_t i = o + 1; i-- > 0;) {
    if (!c->live[i]) continue;
    if (net->layers[i].ninputs == 0)
      return lower_error_at(c, net->layers[i].loc, "internal error: layer '%s' has no inputs",
                            net->layers[i].name);
    for (size_t a = 0; a < net->layers[i].ninputs; a++) {
      int s = lower_layer_source(net, i, a);
      if (s == LOWER_SRC_NONE)
        return lower_error_at(c, net->layers[i].loc,
                              "internal error: an input of layer '%s' is not defined",
                              net->layers[i].name);
      if (s >= 0) c->live[s] = 1;
    }
  }
  *out = o;
  return 0;
}

/* dense: DENSE (+ ACT); both carry the layer's name. */
static int32_t lower_dense(lower_ctx *c, ir_block_kind bk, const spec_layer *l, int32_t x) {
  int32_t w = lower_tensor(c, l, "weight");
  int32_t bias = w >= 0 && l->has_bias ? lower_tensor(c, l, "bias") : -1;
  if (w < 0 || (l->has_bias && bias < 0)) return -1;
  const ir_tensor *wt = &c->m->tensors[w];
  uint32_t units = wt->rank == 2 && wt->shape[0] <= UINT32_MAX ? (uint32_t)wt->shape[0] : 0;
  int32_t r = lower_emit(c, bk, IR_OP_DENSE, 1, &x, units);
  if (r < 0) return -1;
  c->m->blocks[bk].insts[r].weight = w;
  c->m->blocks[bk].insts[r].bias = bias;
  if (l->activation == PMM_ACT_NONE) return r;
  if (lower_label(c, bk, r, l->name) != 0) return -1;
  int32_t d = r;
  if ((r = lower_emit(c, bk, IR_OP_ACT, 1, &d, units)) < 0) return -1;
  c->m->blocks[bk].insts[r].act = l->activation;
  return r;
}

/* add / mul of n >= 2 inputs: a left-to-right chain of binary ops. */
static int32_t lower_chain(lower_ctx *c, ir_block_kind bk, const spec_layer *l, const int32_t *args,
                           size_t n) {
  if (n < 2) return lower_error_at(c, l->loc, "internal error: layer '%s' has one input", l->name);
  ir_op op = l->op == SPEC_LAYER_ADD ? IR_OP_ADD : IR_OP_MUL;
  int32_t r = args[0];
  for (size_t a = 1; a < n; a++) {
    int32_t pair[2] = {r, args[a]};
    const ir_inst *x = &c->m->blocks[bk].insts[r], *y = &c->m->blocks[bk].insts[args[a]];
    if ((r = lower_emit(c, bk, op, 2, pair, x->len > y->len ? x->len : y->len)) < 0 ||
        lower_label(c, bk, r, l->name) != 0)
      return -1;
  }
  return r;
}

static int32_t lower_layernorm(lower_ctx *c, ir_block_kind bk, const spec_layer *l, int32_t x) {
  int32_t w = lower_tensor(c, l, "weight");
  if (w < 0) return -1;
  /* PyTorch's LayerNorm(bias=False) has no "<name>.bias" */
  char bname[512];
  snprintf(bname, sizeof bname, "%s.bias", l->name);
  int32_t bias = -1;
  if (weights_find(&c->spec->weights, bname) && (bias = lower_tensor(c, l, "bias")) < 0) return -1;
  int32_t r = lower_emit(c, bk, IR_OP_LAYERNORM, 1, &x, c->m->blocks[bk].insts[x].len);
  if (r < 0) return -1;
  c->m->blocks[bk].insts[r].weight = w;
  c->m->blocks[bk].insts[r].bias = bias;
  c->m->blocks[bk].insts[r].fattr = (float)l->eps;
  return r;
}

/* One layer over its resolved inputs; returns its (last) instruction. */
static int32_t lower_layer_op(lower_ctx *c, ir_block_kind bk, const spec_layer *l,
                              const int32_t *args, size_t n, uint64_t total) {
  int32_t r = -1;
  switch (l->op) {
  case SPEC_LAYER_DENSE: return lower_dense(c, bk, l, args[0]);
  case SPEC_LAYER_ADD:
  case SPEC_LAYER_MUL: return lower_chain(c, bk, l, args, n);
  case SPEC_LAYER_CONCAT:
    if (total > UINT32_MAX) return lower_error_at(c, l->loc, "layer '%s' is too wide", l->name);
    return lower_emit(c, bk, IR_OP_CONCAT, (uint32_t)n, args, (uint32_t)total);
  case SPEC_LAYER_SINUSOIDAL:
    if ((r = lower_emit(c, bk, IR_OP_SINUSOIDAL, 1, args, l->dim)) >= 0)
      c->m->blocks[bk].insts[r].dim = l->dim;
    return r;
  case SPEC_LAYER_LAYERNORM: return lower_layernorm(c, bk, l, args[0]);
  }
  return lower_error_at(c, l->loc, "internal error: layer '%s' has an unknown op", l->name);
}

/* Layer i: resolve its inputs, lower it, record it in c->value[i]. */
static int lower_layer(lower_ctx *c, lower_inputs *io, size_t i) {
  const spec_network *net = &c->spec->network;
  const spec_layer *l = &net->layers[i];
  size_t n = l->ninputs;
  if (n > UINT32_MAX) return lower_oom(c);
  int32_t *args = xmalloc_array(n, sizeof *args);
  if (!args) return lower_oom(c);
  uint64_t total = 0;
  int32_t r = 0;
  for (size_t a = 0; a < n && r >= 0; a++) {
    int s = lower_layer_source(net, i, a);
    r = args[a] = s == LOWER_SRC_MU     ? io->mu
                  : s == LOWER_SRC_TIME ? lower_time_value(c, io, LOWER_TABLE_TAU)
                                        : c->value[s];
    if (r >= 0) total += c->m->blocks[io->block].insts[r].len;
  }
  if (r >= 0) r = lower_layer_op(c, io->block, l, args, n, total);
  free(args);
  if (r < 0 || lower_label(c, io->block, r, l->name) != 0) return -1;
  c->value[i] = r;
  return 0;
}

static int32_t lower_graph(lower_ctx *c, lower_inputs *io) {
  const spec_network *net = &c->spec->network;
  size_t out = 0;
  if (!c->live) {
    c->live = xcalloc_array(net->nlayers ? net->nlayers : 1, 1);
    c->value = xmalloc_array(net->nlayers ? net->nlayers : 1, sizeof *c->value);
    if (!c->live || !c->value) return lower_oom(c);
  }
  memset(c->live, 0, net->nlayers);
  if (lower_mark_live(c, &out) != 0) return -1;
  for (size_t i = 0; i < net->nlayers; i++) c->value[i] = -1;
  for (size_t i = 0; i <= out; i++)
    if (c->live[i] && lower_layer(c, io, i) != 0) return -1;
  return c->value[out];
}

/* ---- exact networks -------------------------------------------------------- */

static int32_t lower_mixture(lower_ctx *c) {
  if (c->mixture >= 0) return c->mixture;
  const spec_network *net = &c->spec->network;
  uint32_t k = (uint32_t)net->ncomponents, dim = c->m->state_len;
  if (net->ncomponents == 0 || net->ncomponents > UINT32_MAX)
    return lower_error_at(c, net->loc, "internal error: mixture has %s components",
                          k ? "too many" : "no");
  float *w = xmalloc_array(k, sizeof *w), *s = xmalloc_array(k, sizeof *s);
  float *mean = xmalloc_array((size_t)k, (size_t)dim * sizeof *mean);
  int32_t g = -1;
  if (w && s && mean) {
    for (uint32_t j = 0; j < k; j++) {
      w[j] = (float)net->mixture[j].weight;
      s[j] = (float)net->mixture[j].std;
      for (uint32_t d = 0; d < dim; d++) mean[(size_t)j * dim + d] = (float)net->mixture[j].mean[d];
    }
    g = ir_add_mixture(c->m, k, dim, w, mean, s);
  }
  free(w);
  free(s);
  free(mean);
  if (g < 0) return lower_oom(c);
  return c->mixture = g;
}

static int32_t lower_exact(lower_ctx *c, lower_inputs *io) {
  int32_t g = lower_mixture(c);
  int32_t a = g >= 0 ? lower_time_value(c, io, LOWER_TABLE_A) : -1;
  if (a < 0) return -1;
  int32_t args[2] = {io->mu, a};
  int32_t r = lower_emit(c, io->block, IR_OP_EXACT_GMM, 2, args, c->m->state_len);
  if (r < 0) return -1;
  c->m->blocks[io->block].insts[r].mixture = g;
  return lower_label(c, io->block, r, "xhat") == 0 ? r : -1;
}

/* xhat = network(mu, time) in block bk. */
static int32_t lower_network(lower_ctx *c, ir_block_kind bk, int32_t mu) {
  lower_inputs io = {bk, mu, -1, -1};
  return c->spec->network.kind == SPEC_NETWORK_EXACT ? lower_exact(c, &io) : lower_graph(c, &io);
}

/* ---- blocks ---------------------------------------------------------------- */

static int lower_init_block(lower_ctx *c) {
  int32_t r = lower_emit(c, IR_BLOCK_INIT, IR_OP_FILL, 0, NULL, c->m->state_len);
  if (r < 0) return -1;
  c->m->blocks[IR_BLOCK_INIT].insts[r].fattr = (float)c->spec->prior_mean;
  c->m->blocks[IR_BLOCK_INIT].result = r;
  return lower_label(c, IR_BLOCK_INIT, r, "prior mean");
}

/* coef * x with coef a per-step table: one term of the update. */
static int32_t lower_term(lower_ctx *c, lower_table_kind k, int32_t x) {
  int32_t t = lower_table(c, k);
  if (t < 0) return -1;
  int32_t coef = lower_scalar(c, IR_BLOCK_STEP, IR_OP_TABLE);
  if (coef < 0) return -1;
  c->m->blocks[IR_BLOCK_STEP].insts[coef].table = t;
  int32_t args[2] = {coef, x};
  return lower_emit(c, IR_BLOCK_STEP, IR_OP_MUL, 2, args, c->m->state_len);
}

static int lower_step_block(lower_ctx *c) {
  uint32_t d = c->m->state_len;
  int32_t mu = lower_emit(c, IR_BLOCK_STEP, IR_OP_STATE, 0, NULL, d);
  if (mu < 0 || lower_label(c, IR_BLOCK_STEP, mu, "mu") != 0) return -1;
  int32_t xhat = lower_network(c, IR_BLOCK_STEP, mu);
  if (xhat < 0) return -1;
  int32_t eps = lower_emit(c, IR_BLOCK_STEP, IR_OP_RANDN, 0, NULL, d);
  if (eps < 0 || lower_label(c, IR_BLOCK_STEP, eps, "eps") != 0) return -1;
  int32_t a = lower_term(c, LOWER_TABLE_COEF_MU, mu);
  int32_t b = a >= 0 ? lower_term(c, LOWER_TABLE_COEF_XHAT, xhat) : -1;
  if (b < 0) return -1;
  int32_t ab[2] = {a, b};
  int32_t s = lower_emit(c, IR_BLOCK_STEP, IR_OP_ADD, 2, ab, d);
  int32_t n = s >= 0 ? lower_term(c, LOWER_TABLE_COEF_NOISE, eps) : -1;
  if (n < 0) return -1;
  int32_t sn[2] = {s, n};
  int32_t r = lower_emit(c, IR_BLOCK_STEP, IR_OP_ADD, 2, sn, d);
  if (r < 0) return -1;
  c->m->blocks[IR_BLOCK_STEP].result = r;
  return lower_label(c, IR_BLOCK_STEP, r, "mu_t");
}

static int lower_final_block(lower_ctx *c) {
  int32_t mu = lower_emit(c, IR_BLOCK_FINAL, IR_OP_STATE, 0, NULL, c->m->state_len);
  if (mu < 0 || lower_label(c, IR_BLOCK_FINAL, mu, "mu") != 0) return -1;
  int32_t r = mu;
  if (c->spec->output == SPEC_OUTPUT_PREDICTION && (r = lower_network(c, IR_BLOCK_FINAL, mu)) < 0)
    return -1;
  if (c->m->blocks[IR_BLOCK_FINAL].insts[r].uniform) {
    /* a network that ignores mu: every sample gets the same row, x + 0 */
    int32_t zero = lower_emit(c, IR_BLOCK_FINAL, IR_OP_FILL, 0, NULL, c->m->out_len);
    int32_t args[2] = {r, zero};
    if (zero < 0 || (r = lower_emit(c, IR_BLOCK_FINAL, IR_OP_ADD, 2, args, c->m->out_len)) < 0 ||
        lower_label(c, IR_BLOCK_FINAL, r, "broadcast") != 0)
      return -1;
  }
  c->m->blocks[IR_BLOCK_FINAL].result = r;
  return 0;
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
 * little-endian floats) then every mixture (k, dim, weights, means, stds);
 * "" when the module has neither. */
static char *lower_weight_hash(const ir_module *m) {
  char buf[17] = "";
  if (m->ntensors || m->nmixtures) {
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
    snprintf(buf, sizeof buf, "%016" PRIx64, f.h);
  }
  return xstrdup(buf);
}

static int lower_strings(lower_ctx *c) {
  const model_spec *s = c->spec;
  ir_module *m = c->m;
  char sched[256];
  snprintf(sched, sizeof sched, "%s, %u steps, A_1=%g .. A_T=%g",
           spec_schedule_kind_name(s->schedule.kind), m->steps, c->A[1], c->A[m->steps]);
  m->pair = xstrdup(spec_pair_name(s->pair));
  m->sampler = xstrdup(spec_sampler_kind_name(s->sampler));
  m->output = xstrdup(spec_output_name(s->output));
  m->schedule = xstrdup(sched);
  m->weight_hash = lower_weight_hash(m);
  return m->pair && m->sampler && m->output && m->schedule && m->weight_hash ? 0 : lower_oom(c);
}

/* ---- entry point ------------------------------------------------------------ */

static int lower_header(lower_ctx *c, const lower_options *opts) {
  const model_spec *s = c->spec;
  ir_module *m = c->m;
  if (s->pair != SPEC_PAIR_NORMAL_NORMAL)
    return lower_error_at(c, s->prior_loc, "pair '%s' cannot be compiled yet (only normal-normal)",
                          spec_pair_name(s->pair));
  if (s->sampler != SPEC_SAMPLER_PMM)
    return lower_error_at(c, s->sampler_loc, "sampler '%s' cannot be compiled yet (only pmm)",
                          spec_sampler_kind_name(s->sampler));
  if (s->schedule.steps == 0 || s->data_elems == 0 || s->data_elems > UINT32_MAX || s->rank < 1 ||
      s->rank > 4)
    return lower_error_at(c, s->data_loc, "internal error: bad data shape or step count");
  m->steps = s->schedule.steps;
  m->rank = s->rank;
  for (uint32_t d = 0; d < s->rank; d++) m->shape[d] = s->shape[d];
  m->state_len = (uint32_t)s->data_elems;
  m->out_len = (uint32_t)s->data_elems;
  m->prior_mean = s->prior_mean;
  m->prior_precision = s->prior_precision;
  m->block_size = opts && opts->block_size ? opts->block_size : LOWER_DEFAULT_BLOCK_SIZE;
  c->A = xmalloc_array((size_t)m->steps + 1, sizeof *c->A);
  if (!c->A) return lower_oom(c);
  c->A[0] = 0.0;
  spec_schedule_values(&s->schedule, c->A + 1);
  /* the front end has checked these; the tables would be NaN otherwise */
  if (!(s->prior_precision > 0 && isfinite(s->prior_precision)))
    return lower_error_at(c, s->prior_loc, "internal error: prior precision %g is not positive",
                          s->prior_precision);
  for (uint32_t t = 1; t <= m->steps; t++)
    if (!(c->A[t] > c->A[t - 1] && isfinite(c->A[t])))
      return lower_error_at(c, s->schedule.loc,
                            "internal error: the schedule is not increasing at step %u "
                            "(A = %g after %g)",
                            t, c->A[t], c->A[t - 1]);
  return 0;
}

int lower_model(const model_spec *spec, const lower_options *opts, ir_module *m, diag_list *dl) {
  lower_ctx c;
  memset(&c, 0, sizeof c);
  c.spec = spec;
  c.m = m;
  c.dl = dl;
  c.mixture = -1;
  for (int k = 0; k < LOWER_TABLE_COUNT; k++) c.table[k] = -1;
  if (ir_module_init(m, spec->name) != 0) {
    ir_module_free(m);
    diag_error(dl, spec->path, 0, 0, "out of memory while lowering the model");
    return -1;
  }
  int rc = lower_header(&c, opts);
  if (rc == 0) rc = lower_init_block(&c);
  if (rc == 0) rc = lower_step_block(&c);
  if (rc == 0) rc = lower_final_block(&c);
  if (rc == 0) rc = lower_strings(&c);
  if (rc == 0) {
    char err[512];
    if (ir_verify(m, err, sizeof err) != 0)
      rc = lower_error_at(&c, spec->name_loc, "internal error: the lowered IR is invalid: %s", err);
    else if (ir_plan_memory(m) != 0)
      rc = lower_error_at(&c, spec->data_loc,
                          "model too large: the scratch memory for a block of %u samples "
                          "overflows",
                          m->block_size);
  }
  free(c.A);
  free(c.live);
  free(c.value);
  if (rc != 0) ir_module_free(m);
  return rc;
}
