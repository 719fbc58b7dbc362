/*
 * fold.c - pass 'fold' (opt.h): constant folding.
 *
 * ## fold: constant folding
 *
 * A uniform value (one row shared by every sample) depends only on the step
 * counter t: TABLE, CONST, TENSOR, and anything computed from uniform
 * operands alone (the sinusoidal embedding of the time table, a dense layer
 * of it, a product of two coefficient tables).  The pass computes those at
 * compile time, so the loop over steps only does per-sample work:
 *
 * 1. Values.  In the step block every computed uniform value that a
 *    per-sample instruction needs is evaluated for t = 1..steps and becomes
 *    a TABLE of width len ("temb@t", from the instruction's label, or
 *    "mul%14@t" without one); a value that does not depend on t becomes a
 *    TENSOR ("temb@step").  In the init and final blocks (t = 0 and
 *    steps + 1) such values become TENSOR constants of rank 1 ("temb@init",
 *    "temb@final").  Scalars that do not depend on t become CONSTs, the
 *    IR's form for uniform scalars.  A chain of uniform instructions folds
 *    into the one value at its end: only values that a per-sample (or
 *    unfoldable) instruction reads survive, the rest are left for dce.
 *    TABLE, CONST and TENSOR are already constants and stay as they are.
 *    Instructions keep their index and label, so dumps stay readable.
 *
 * 2. Dense layers over a concatenation of per-sample and uniform parts, as
 *    in dense(concat(mu, temb)), split by columns of W:
 *        x W^T + b = x_ps W_ps^T + (u W_u^T + b)
 *    into a DENSE over the per-sample parts alone (still concatenated when
 *    there are several), with a new weight tensor of the per-sample columns
 *    of W in their order ("fc1.weight[mu]"), and an ADD of the bias
 *    u_t W_u^T + b, precomputed for every t as a table of width units
 *    ("fc1.bias@t"; a TENSOR in init and final), summed in double and
 *    rounded once, in a fixed order so that the tables do not depend on
 *    the compiling machine's BLAS.  The concatenation and the time
 *    embedding's share of the GEMM leave the loop.  This changes the
 *    order of the float sums, so a module run with and without this split
 *    differs in the last bits (within 1e-5 relative on bench-mlp); the
 *    interpreter and compiled code both run the folded module and still
 *    agree with each other.
 *
 * Every other fold is bit-exact: values are computed by the interpreter's
 * own evaluator (interp_eval) on a uniform value (one row), so folding does
 * not change a sample.  A folded value keeps its shape: the table or
 * tensor holds its floats, the instruction its shape.  EXACT_* kernels are never uniform
 * in lowered modules and are not folded.
 *
 * Size limit: the new table and tensor data of a module may not exceed
 * 64 MiB (FOLD_MAX_BYTES; steps * width floats a table).  A value or split
 * that would go beyond stays computed at run time, so the pass never fails
 * because a model is large; it fails only when memory runs out.
 *
 * The pass is idempotent: a folded module has no computed uniform value a
 * per-sample instruction reads, and no dense over a mixed concatenation.
 */
#include "compiler/opt/opt.h"

#include <stdlib.h>
#include <string.h>
#include <math.h>

#include "compiler/interp/interp.h"
#include "compiler/util/xalloc.h"

#define FOLD_MAX_BYTES ((uint64_t)64 << 20)

typedef struct fold_ctx {
  ir_module *m;
  ir_block_kind k;
  uint64_t budget;   /* bytes of new constant data still allowed */
  uint8_t *foldable; /* per instruction: computable at compile time */
  uint8_t *tdep;     /* per instruction: depends on the step counter */
  char *err;
  size_t errlen;
} fold_ctx;

static int fold_oom(fold_ctx *c) {
  snprintf(c->err, c->errlen, "%s block: out of memory while folding constants",
           ir_block_name(c->k));
  return -1;
}

static int fold_is_leaf(ir_op op) { return (ir_op_get(op)->flags & IR_OPF_UNIFORM) != 0; }

/* Which instructions of the block can be evaluated at compile time and
 * which of those read the step counter.  The arrays hold b->count entries. */
static void fold_analyse(fold_ctx *c) {
  const ir_block *b = &c->m->blocks[c->k];
  for (uint32_t i = 0; i < b->count; i++) {
    const ir_inst *in = &b->insts[i];
    int ok = in->uniform && (ir_op_get(in->op)->flags & IR_OPF_FOLD), dep = 0;
    if (in->op == IR_OP_TABLE) {
      /* with no steps there is no row to read */
      ok = c->k == IR_BLOCK_STEP && c->m->steps > 0;
      dep = 1;
    }
    for (uint32_t a = 0; a < in->nargs && ok; a++) {
      ok = c->foldable[in->args[a]];
      dep |= c->tdep[in->args[a]];
    }
    c->foldable[i] = (uint8_t)ok;
    c->tdep[i] = (uint8_t)(ok && dep);
  }
}

/* Rows of constant data a folded value needs: one a step when it reads the
 * step counter, else one. */
static uint32_t fold_rows(const fold_ctx *c, uint32_t i) { return c->tdep[i] ? c->m->steps : 1; }

/* Take rows * width floats from the budget: 1 when they fit, else 0. */
static int fold_take(fold_ctx *c, uint64_t rows, uint64_t width) {
  uint64_t bytes;
  if (__builtin_mul_overflow(rows, width, &bytes) || __builtin_mul_overflow(bytes, 4u, &bytes) ||
      bytes > c->budget)
    return 0;
  c->budget -= bytes;
  return 1;
}

/* ---- evaluation ------------------------------------------------------------
 *
 * A uniform value is one row, evaluated by the interpreter's own kernels
 * (interp_eval), so a folded constant has the bits the interpreter computed. */

typedef struct fold_eval {
  const ir_module *m;
  const ir_block *b;
  uint8_t *want; /* instructions to evaluate, closed under operands */
  float **val;   /* val[i]: len floats of wanted instruction i */
  float *store;
  float *work;     /* kernel workspace */
  const float **x; /* operand pointers of the instruction being evaluated */
} fold_eval;

static void fold_eval_free(fold_eval *e) {
  free(e->want);
  free(e->val);
  free(e->store);
  free(e->work);
  free(e->x);
  memset(e, 0, sizeof *e);
}

/* Ready to evaluate the instructions marked in roots (b->count flags) and
 * everything they read; -1 when out of memory. */
static int fold_eval_init(fold_eval *e, const ir_module *m, const ir_block *b,
                          const uint8_t *roots) {
  memset(e, 0, sizeof *e);
  e->m = m;
  e->b = b;
  uint32_t n = b->count ? b->count : 1;
  e->want = xcalloc_array(n, 1);
  e->val = xcalloc_array(n, sizeof *e->val);
  e->x = xcalloc_array(IR_MAX_ARGS, sizeof *e->x);
  if (!e->want || !e->val || !e->x) goto fail;
  memcpy(e->want, roots, b->count);
  size_t total = 0, work = 1;
  for (uint32_t i = b->count; i-- > 0;) {
    if (!e->want[i]) continue;
    const ir_inst *in = &b->insts[i];
    for (uint32_t a = 0; a < in->nargs; a++) e->want[in->args[a]] = 1;
    if (size_add_overflow(total, in->len, &total)) goto fail;
    ir_cost_fn scratch = ir_op_get(in->op)->scratch;
    if (scratch && scratch(m, b, in) > work) work = (size_t)scratch(m, b, in);
  }
  if (!(e->store = xmalloc_array(total ? total : 1, sizeof *e->store))) goto fail;
  if (!(e->work = xmalloc_array(work, sizeof *e->work))) goto fail;
  size_t off = 0;
  for (uint32_t i = 0; i < b->count; i++)
    if (e->want[i]) {
      e->val[i] = e->store + off;
      off += b->insts[i].len;
    }
  return 0;
fail:
  fold_eval_free(e);
  return -1;
}

/* Evaluate every wanted instruction at step counter t. */
static void fold_eval_run(const fold_eval *e, uint32_t t) {
  interp_env env = {e->m, e->b, NULL, NULL, NULL, NULL, e->work, 1, t};
  for (uint32_t i = 0; i < e->b->count; i++) {
    if (!e->want[i]) continue;
    const ir_inst *in = &e->b->insts[i];
    for (uint32_t a = 0; a < in->nargs; a++) e->x[a] = e->val[in->args[a]];
    interp_eval(&env, in, e->x, e->val[i]);
  }
}

/* The step counter of the block's single evaluation (init, final, and
 * values of the step block that do not read it). */
static uint32_t fold_fixed_t(const fold_ctx *c) {
  return c->k == IR_BLOCK_INIT ? 0 : c->k == IR_BLOCK_FINAL ? c->m->steps + 1 : 1;
}

/* ---- module data ------------------------------------------------------------ */

/* A name no table or tensor of the module has: base, or base#2, base#3... */
static void fold_unique_name(const ir_module *m, const char *base, char *out, size_t outlen) {
  snprintf(out, outlen, "%s", base);
  for (uint32_t n = 2;; n++) {
    int taken = 0;
    for (uint32_t i = 0; i < m->ntables && !taken; i++) taken = strcmp(m->tables[i].name, out) == 0;
    for (uint32_t i = 0; i < m->ntensors && !taken; i++)
      taken = strcmp(m->tensors[i].name, out) == 0;
    if (!taken || n == UINT32_MAX) return;
    snprintf(out, outlen, "%s#%u", base, n);
  }
}

/* The base of a value's data names: its label, else op%index. */
static void fold_value_name(const ir_inst *in, int32_t i, char *out, size_t outlen) {
  if (in->label)
    snprintf(out, outlen, "%s", in->label);
  else
    snprintf(out, outlen, "%s%%%d", ir_op_name(in->op), (int)i);
}

/* A constant of `rows` rows of `width` floats: a table (rows one a step) or
 * a rank-1 tensor.  Returns the table or tensor index, -1 when out of memory. */
static int32_t fold_add_data(fold_ctx *c, const char *base, int per_step, uint32_t width,
                             const float *data) {
  char name[256], full[256];
  snprintf(name, sizeof name, "%s@%s", base, per_step ? "t" : ir_block_name(c->k));
  fold_unique_name(c->m, name, full, sizeof full);
  if (per_step) return ir_add_table_rows(c->m, full, c->m->steps, width, data);
  uint64_t shape[1] = {width};
  return ir_add_tensor(c->m, full, 1, shape, data);
}

/* A tensor named name with this shape and data: an existing identical one
 * (Heun evaluates the network twice a step) or a new one; -1 when out of
 * memory. */
static int32_t fold_add_weight(fold_ctx *c, const char *name, const uint64_t shape[2],
                               const float *data) {
  for (uint32_t i = 0; i < c->m->ntensors; i++) {
    const ir_tensor *t = &c->m->tensors[i];
    if (strcmp(t->name, name) == 0 && t->rank == 2 && t->shape[0] == shape[0] &&
        t->shape[1] == shape[1] && memcmp(t->data, data, shape[0] * shape[1] * sizeof *data) == 0)
      return (int32_t)i;
  }
  char full[256];
  fold_unique_name(c->m, name, full, sizeof full);
  return ir_add_tensor(c->m, full, 2, shape, data);
}

/* Turn instruction in into a constant source (op CONST, TABLE or TENSOR),
 * keeping its length, label and uniformity. */
static void fold_make_source(ir_inst *in, ir_op op) {
  free(in->args);
  in->args = NULL;
  in->nargs = 0;
  in->op = op;
  in->act = PMM_ACT_NONE;
  in->weight = in->bias = in->table = in->mixture = in->atoms = in->prog = -1;
  in->stream = 0;
  in->dim = 0;
  in->fattr = 0.0f;
}

/* ---- 1. values ------------------------------------------------------------- */

/* Mark in fold[] the block's computed uniform values that something left at
 * run time reads, latest first so that a chain folds at its end and its
 * inner values are not kept.  1 when any, 0 when none, -1 when out of
 * memory. */
static int fold_pick_values(fold_ctx *c, uint8_t *fold) {
  const ir_block *b = &c->m->blocks[c->k];
  uint8_t *used = xcalloc_array(b->count ? b->count : 1, 1);
  if (!used) return -1;
  int any = 0;
  used[b->result] = 1;
  for (uint32_t i = b->count; i-- > 0;) {
    const ir_inst *in = &b->insts[i];
    if (!used[i]) continue;
    if (c->foldable[i] && !fold_is_leaf(in->op) && fold_take(c, fold_rows(c, i), in->len)) {
      fold[i] = 1;
      any = 1;
      continue;
    }
    for (uint32_t a = 0; a < in->nargs; a++) used[in->args[a]] = 1;
  }
  free(used);
  return any;
}

/* Replace folded instruction i by the constant in data (rows of its len). */
static int fold_commit(fold_ctx *c, uint32_t i, const float *data) {
  ir_inst *in = &c->m->blocks[c->k].insts[i];
  if (!c->tdep[i] && in->len == 1 && isfinite(data[0])) {
    fold_make_source(in, IR_OP_CONST);
    in->fattr = data[0];
    return 0;
  }
  char base[200];
  fold_value_name(in, (int32_t)i, base, sizeof base);
  int32_t d = fold_add_data(c, base, c->tdep[i], in->len, data);
  if (d < 0) return -1;
  in = &c->m->blocks[c->k].insts[i];
  fold_make_source(in, c->tdep[i] ? IR_OP_TABLE : IR_OP_TENSOR);
  if (c->tdep[i])
    in->table = d;
  else
    in->weight = d;
  return 0;
}

/* Fold the block's uniform values: evaluate them for every step (or once)
 * and turn each into a constant source. */
static int fold_values(fold_ctx *c) {
  ir_block *b = &c->m->blocks[c->k];
  uint32_t n = b->count ? b->count : 1;
  uint8_t *fold = xcalloc_array(n, 1);
  float **rows = xcalloc_array(n, sizeof *rows);
  fold_eval e = {0};
  int rc = -1, any = fold && rows ? fold_pick_values(c, fold) : -1;
  if (any <= 0) {
    rc = any;
    goto done;
  }
  if (fold_eval_init(&e, c->m, b, fold) != 0) goto done;
  int per_step = 0;
  for (uint32_t i = 0; i < b->count; i++) {
    if (!fold[i]) continue;
    per_step |= c->tdep[i];
    if (!(rows[i] = xmalloc_array(fold_rows(c, i), (size_t)b->insts[i].len * sizeof(float))))
      goto done;
  }
  uint32_t first = per_step ? 1 : fold_fixed_t(c), last = per_step ? c->m->steps : first;
  for (uint32_t t = first;; t++) {
    fold_eval_run(&e, t);
    for (uint32_t i = 0; i < b->count; i++) {
      if (!fold[i] || (!c->tdep[i] && t != first)) continue;
      size_t len = b->insts[i].len, row = c->tdep[i] ? t - 1 : 0;
      memcpy(rows[i] + row * len, e.val[i], len * sizeof(float));
    }
    if (t == last) break;
  }
  for (uint32_t i = 0; i < b->count; i++)
    if (fold[i] && fold_commit(c, i, rows[i]) != 0) goto done;
  rc = 1;
done:
  if (rc < 0) fold_oom(c);
  for (uint32_t i = 0; rows && i < b->count; i++) free(rows[i]);
  free(rows);
  free(fold);
  fold_eval_free(&e);
  return rc < 0 ? -1 : 0;
}

/* ---- 2. dense layers over mixed concatenations ------------------------------ */

/* Whether live instruction i is a dense layer over a per-sample CONCAT with
 * uniform parts that can all be folded. */
static int fold_is_split(const fold_ctx *c, const ir_block *b, uint32_t i) {
  const ir_inst *in = &b->insts[i];
  if (in->op != IR_OP_DENSE || in->uniform || in->prog >= 0 || in->nargs != 1) return 0;
  const ir_inst *x = &b->insts[in->args[0]];
  if (x->op != IR_OP_CONCAT || x->uniform || x->shape.rank != 1) return 0;
  int parts = 0;
  for (uint32_t a = 0; a < x->nargs; a++) {
    if (!b->insts[x->args[a]].uniform) continue;
    if (!c->foldable[x->args[a]]) return 0;
    parts++;
  }
  return parts > 0;
}

/* Append instruction (op, args already in nb's numbering) with a copy of
 * label; the index, or -1 when out of memory. */
static int32_t fold_emit(ir_block *nb, ir_op op, uint32_t nargs, const int32_t *args, uint32_t len,
                         int uniform, const char *label) {
  int32_t r = ir_emit(nb, op, nargs, args, len, uniform);
  if (r < 0 || !label) return r;
  return (nb->insts[r].label = xstrdup(label)) ? r : -1;
}

/* Copy instruction in into nb with its operands renumbered by map. */
static int32_t fold_copy(ir_block *nb, const int32_t *map, const ir_inst *in, int32_t *tmp) {
  for (uint32_t a = 0; a < in->nargs; a++) tmp[a] = map[in->args[a]];
  int32_t r = fold_emit(nb, in->op, in->nargs, tmp, in->len, in->uniform, in->label);
  if (r < 0) return -1;
  ir_inst *out = &nb->insts[r];
  int32_t *args = out->args;
  char *label = out->label;
  *out = *in;
  out->args = args;
  out->label = label;
  out->offset = 0;
  return r;
}

/* "fc1.weight[mu]": W's name and the per-sample parts it keeps. */
static void fold_weight_name(const ir_block *b, const ir_inst *x, const char *wname, char *out,
                             size_t outlen) {
  size_t n = (size_t)snprintf(out, outlen, "%s[", wname);
  for (uint32_t a = 0, k = 0; a < x->nargs && n < outlen; a++) {
    const ir_inst *p = &b->insts[x->args[a]];
    if (p->uniform) continue;
    if (p->label)
      n += (size_t)snprintf(out + n, outlen - n, "%s%s", k++ ? "," : "", p->label);
    else
      n += (size_t)snprintf(out + n, outlen - n, "%s%%%d", k++ ? "," : "", (int)x->args[a]);
  }
  if (n < outlen) snprintf(out + n, outlen - n, "]");
}

/* "fc1.bias" from "fc1.weight" (else W's name + ".bias"). */
static void fold_bias_name(const char *wname, char *out, size_t outlen) {
  size_t n = strlen(wname), s = strlen(".weight");
  if (n > s && strcmp(wname + n - s, ".weight") == 0)
    snprintf(out, outlen, "%.*s.bias", (int)(n - s), wname);
  else
    snprintf(out, outlen, "%s.bias", wname);
}

/* y = u W_u^T + b, summed in double in a fixed order and rounded once: the
 * tables must not depend on how the BLAS of the compiling machine splits a
 * GEMM (core type, threads). */
static void fold_bias_row(size_t in, size_t out, const float *u, const float *w, const float *b,
                          float *y) {
  for (size_t o = 0; o < out; o++) {
    double acc = b ? b[o] : 0.0;
    for (size_t j = 0; j < in; j++) acc += (double)u[j] * w[o * in + j];
    y[o] = (float)acc;
  }
}

/* The split of dense instruction i (fold_is_split) into nb: 1 when done,
 * 0 when its constants would exceed the budget (the caller copies it), -1
 * when out of memory. */
static int fold_split_one(fold_ctx *c, ir_block *nb, int32_t *map, uint32_t i, int32_t *tmp) {
  const ir_block *b = &c->m->blocks[c->k];
  const ir_inst *in = &b->insts[i], *x = &b->insts[in->args[0]];
  size_t units = in->len, cols = x->len, ps = 0, us = 0;
  int dep = 0;
  uint8_t *roots = xcalloc_array(b->count, 1);
  if (!roots) return -1;
  for (uint32_t a = 0; a < x->nargs; a++) {
    const ir_inst *p = &b->insts[x->args[a]];
    if (p->uniform) {
      us += p->len;
      dep |= c->tdep[x->args[a]];
      roots[x->args[a]] = 1;
    } else {
      ps += p->len;
    }
  }
  uint32_t nt = dep ? c->m->steps : 1;
  uint64_t saved = c->budget;
  if (!fold_take(c, units, ps) || !fold_take(c, nt, units)) {
    c->budget = saved;
    free(roots);
    return 0;
  }
  float *wps = xmalloc_array(units, ps * sizeof(float));
  float *wu = xmalloc_array(units, us * sizeof(float));
  float *u = xmalloc_array(us, sizeof(float));
  float *bias = xmalloc_array(nt, units * sizeof(float));
  fold_eval e = {0};
  int rc = -1;
  if (!wps || !wu || !u || !bias || fold_eval_init(&e, c->m, b, roots) != 0) goto done;
  /* W's columns, per-sample ones to wps and uniform ones to wu, in order */
  const ir_tensor *w = &c->m->tensors[in->weight];
  for (size_t o = 0; o < units; o++) {
    size_t col = 0, pc = 0, uc = 0;
    for (uint32_t a = 0; a < x->nargs; a++) {
      const ir_inst *p = &b->insts[x->args[a]];
      const float *src = w->data + o * cols + col;
      if (p->uniform) {
        memcpy(wu + o * us + uc, src, p->len * sizeof(float));
        uc += p->len;
      } else {
        memcpy(wps + o * ps + pc, src, p->len * sizeof(float));
        pc += p->len;
      }
      col += p->len;
    }
  }
  /* u_t, the uniform parts side by side, then its bias row, for every step
   * (or once) */
  for (uint32_t r = 0; r < nt; r++) {
    fold_eval_run(&e, dep ? r + 1 : fold_fixed_t(c));
    float *row = u;
    for (uint32_t a = 0; a < x->nargs; a++) {
      const ir_inst *p = &b->insts[x->args[a]];
      if (!p->uniform) continue;
      memcpy(row, e.val[x->args[a]], p->len * sizeof(float));
      row += p->len;
    }
    fold_bias_row(us, units, u, wu, in->bias >= 0 ? c->m->tensors[in->bias].data : NULL,
                  bias + (size_t)r * units);
  }
  char wname[256], bname[256];
  fold_weight_name(b, x, w->name, wname, sizeof wname);
  fold_bias_name(w->name, bname, sizeof bname);
  uint64_t shape[2] = {units, ps};
  int32_t wt = fold_add_weight(c, wname, shape, wps);
  int32_t bt = wt >= 0 ? fold_add_data(c, bname, dep, (uint32_t)units, bias) : -1;
  if (bt < 0) goto done;
  /* emit: [concat of the per-sample parts,] dense, bias source, add */
  int32_t xin;
  uint32_t k = 0;
  for (uint32_t a = 0; a < x->nargs; a++)
    if (!b->insts[x->args[a]].uniform) tmp[k++] = map[x->args[a]];
  xin = k == 1 ? tmp[0] : fold_emit(nb, IR_OP_CONCAT, k, tmp, (uint32_t)ps, 0, x->label);
  int32_t d = xin >= 0 ? fold_emit(nb, IR_OP_DENSE, 1, &xin, in->len, 0, in->label) : -1;
  if (d < 0) goto done;
  nb->insts[d].weight = wt;
  int32_t s = ir_emit(nb, dep ? IR_OP_TABLE : IR_OP_TENSOR, 0, NULL, in->len, 1);
  if (s < 0) goto done;
  if (dep)
    nb->insts[s].table = bt;
  else
    nb->insts[s].weight = bt;
  int32_t args[2] = {d, s};
  if ((map[i] = fold_emit(nb, IR_OP_ADD, 2, args, in->len, 0, in->label)) < 0) goto done;
  rc = 1;
done:
  fold_eval_free(&e);
  free(roots);
  free(wps);
  free(wu);
  free(u);
  free(bias);
  return rc;
}

/* Split every live dense layer over a mixed concatenation, rebuilding the
 * block; 1 when the block changed, 0 when not, -1 when out of memory. */
static int fold_splits(fold_ctx *c) {
  ir_block *b = &c->m->blocks[c->k];
  uint32_t n = b->count ? b->count : 1, maxargs = 1;
  uint8_t *live = xcalloc_array(n, 1);
  if (!live) return -1;
  int any = 0;
  live[b->result] = 1;
  for (uint32_t i = b->count; i-- > 0;) {
    if (!live[i]) continue;
    if (fold_is_split(c, b, i)) {
      any = 1;
      live[i] = 2;
    }
    for (uint32_t a = 0; a < b->insts[i].nargs; a++)
      if (!live[b->insts[i].args[a]]) live[b->insts[i].args[a]] = 1;
  }
  for (uint32_t i = 0; i < b->count; i++)
    if (b->insts[i].nargs > maxargs) maxargs = b->insts[i].nargs;
  if (!any) {
    free(live);
    return 0;
  }
  ir_block nb = {0};
  nb.result = -1;
  int32_t *map = xmalloc_array(n, sizeof *map), *tmp = xmalloc_array(maxargs, sizeof *tmp);
  int rc = map && tmp ? 1 : -1, changed = 0;
  for (uint32_t i = 0; i < b->count && rc > 0; i++) {
    int done = live[i] == 2 ? fold_split_one(c, &nb, map, i, tmp) : 0;
    if (done < 0 || (!done && (map[i] = fold_copy(&nb, map, &b->insts[i], tmp)) < 0)) rc = -1;
    changed |= done > 0;
  }
  if (rc > 0 && changed) {
    nb.result = map[b->result];
    ir_block_free(b);
    *b = nb;
  } else {
    ir_block_free(&nb);
  }
  free(live);
  free(map);
  free(tmp);
  return rc < 0 ? -1 : changed;
}

/* ---- the pass ----------------------------------------------------------------- */

/* (Re)size and fill the analysis arrays for the current block. */
static int fold_prepare(fold_ctx *c) {
  uint32_t n = c->m->blocks[c->k].count;
  free(c->foldable);
  free(c->tdep);
  c->foldable = xcalloc_array(n ? n : 1, 1);
  c->tdep = xcalloc_array(n ? n : 1, 1);
  if (!c->foldable || !c->tdep) return -1;
  fold_analyse(c);
  return 0;
}

int opt_fold_constants(ir_module *m, char *err, size_t errlen) {
  fold_ctx c = {m, IR_BLOCK_INIT, FOLD_MAX_BYTES, NULL, NULL, err, errlen};
  int rc = 0;
  for (int k = 0; k < IR_BLOCK_COUNT && rc == 0; k++) {
    c.k = (ir_block_kind)k;
    if (m->blocks[k].count == 0 || m->blocks[k].result < 0) continue;
    int split = 0;
    if (fold_prepare(&c) != 0 || (split = fold_splits(&c)) < 0 ||
        (split && fold_prepare(&c) != 0)) {
      rc = fold_oom(&c);
      break;
    }
    rc = fold_values(&c);
  }
  free(c.foldable);
  free(c.tdep);
  return rc;
}
