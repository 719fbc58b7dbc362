/*
 * ir_print.c - the textual IR (pmmc build --emit=ir).
 *
 * The format is meant to be read by people and compared by golden tests, so
 * it is stable: numbers print with %.6g, tables show their first three and
 * last entries, and labels are trailing comments from column 48 on.
 *
 *     module NAME pair=P sampler=S output=O steps=T nfe=E block=B shape=[d0, ..]
 *            state=N out=M                    (one line)
 *     schedule "SUMMARY"                      (when set)
 *     prior mean=M0 precision=L0              (normal-normal, and modules without a pair)
 *     prior shape=A0 rate=B0                  (gamma-poisson)
 *     prior concentration=BETA smoothing=EPS  (dirichlet-categorical)
 *     weights HASH                            (when not empty)
 *     vocab "SYMBOLS" size=K pad=P            (when set; pad -1: none)
 *     range [LO, HI]                          (when not [0, 0])
 *     table NAME [S] = {v0, v1, v2, ..., vS-1}   (width 1)
 *     table NAME [S x W] = {v0, v1, v2, ..., vSW-1}  (W floats a step, flattened)
 *     tensor NAME [d0, d1] f32
 *     mixture mI k=K dim=D
 *     atoms aI k=K dim=D[ vocab=V]
 *     prog pI { u0 = arg 1; u1 = const 0.5; u2 = mul u0, u1; u3 = act silu u2 }
 *     memory state@OFFSET scratch=F floats    (once planned)
 *     init {  /  step t=1..S {  /  final {    (S = runs of the step block)
 *       %i = OP [ATTRS] [(%a, %b, ..)] : [uniform ][d0, d1, ..][ @OFFSET]   # label
 *       return %r
 *     }
 *
 * with ATTRS the attributes ir_ops.def lists for the op, in this order:
 * VALUE, table NAME, stream=S, activation NAME, weight NAME[, bias NAME],
 * pI (fused) or epilogue=pI, mI, aI, dim=D, cos-sin, axis=A, start=S,
 * stride=S pad=P groups=G, groups=G, factor=F, heads=H, perm=[..], eps=E,
 * beta=B.  The shape is the value's per-row shape.
 * @OFFSET is the value's place in the scratch arena, in floats, shown once
 * the module is memory-planned (scratch_floats > 0) so that plans can be
 * read and compared in golden files.
 */
#include "compiler/ir/ir.h"

#include <stdarg.h>
#include <string.h>

#define IR_PRINT_COMMENT_COLUMN 48

static const char *or_unknown(const char *s) { return s ? s : "?"; }

static void print_table(const ir_table *t, FILE *out) {
  uint64_t n = (uint64_t)t->count * t->width;
  if (t->width == 1)
    fprintf(out, "table %s [%u] = {", t->name, t->count);
  else
    fprintf(out, "table %s [%u x %u] = {", t->name, t->count, t->width);
  for (uint64_t i = 0; i < n; i++) {
    if (n > 4 && i == 3) {
      fputs(", ...", out);
      i = n - 1;
    }
    fprintf(out, "%s%.6g", i ? ", " : "", (double)t->data[i]);
  }
  fputs("}\n", out);
}

static void print_tensor(const ir_tensor *t, FILE *out) {
  fprintf(out, "tensor %s [", t->name);
  for (uint32_t d = 0; d < t->rank; d++)
    fprintf(out, "%s%llu", d ? ", " : "", (unsigned long long)t->shape[d]);
  fputs("] f32\n", out);
}

static void print_prog(uint32_t index, const ir_prog *p, FILE *out) {
  fprintf(out, "prog p%u {", index);
  for (uint32_t u = 0; u < p->count; u++) {
    const ir_uop *op = &p->uops[u];
    fprintf(out, "%s u%u = %s", u ? ";" : "", u, ir_uop_name(op->kind));
    switch (op->kind) {
    case IR_UOP_ARG: fprintf(out, " %u", op->a); break;
    case IR_UOP_CONST: fprintf(out, " %.9g", (double)op->f); break;
    case IR_UOP_ACT: fprintf(out, " %s u%u", or_unknown(pmm_act_name(op->act)), op->a); break;
    default: fprintf(out, " u%u, u%u", op->a, op->b); break;
    }
  }
  fputs(" }\n", out);
}

static const char *tensor_name(const ir_module *m, int32_t t) {
  return t >= 0 && (uint32_t)t < m->ntensors ? m->tensors[t].name : "?";
}

/* A fixed-size line being built; output past its end is dropped. */
typedef struct line_buf {
  char text[512];
  size_t n;
} line_buf;

static void line_put(line_buf *l, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void line_put(line_buf *l, const char *fmt, ...) {
  size_t room = sizeof l->text - l->n;
  va_list ap;
  va_start(ap, fmt);
  int w = vsnprintf(l->text + l->n, room, fmt, ap);
  va_end(ap);
  if (w > 0) l->n += (size_t)w < room ? (size_t)w : room - 1;
}

/* The attributes ir_ops.def says the op reads, in one fixed order. */
static void format_attrs(const ir_module *m, const ir_inst *in, line_buf *l) {
  uint32_t at = ir_op_get(in->op)->attrs;
  if (at & IR_ATTR_VALUE) line_put(l, " %.6g", (double)in->fattr);
  if (at & IR_ATTR_TABLE)
    line_put(l, " %s",
             in->table >= 0 && (uint32_t)in->table < m->ntables ? m->tables[in->table].name : "?");
  if (at & IR_ATTR_STREAM) line_put(l, " stream=%u", in->stream);
  if ((at & IR_ATTR_ACT) && (in->op == IR_OP_ACT || in->act != PMM_ACT_NONE))
    line_put(l, " %s", or_unknown(pmm_act_name(in->act)));
  if ((at & IR_ATTR_WEIGHT) && in->weight >= 0) line_put(l, " %s", tensor_name(m, in->weight));
  if ((at & IR_ATTR_BIAS) && in->bias >= 0) line_put(l, ", %s", tensor_name(m, in->bias));
  if ((at & IR_ATTR_PROG) && in->prog >= 0)
    line_put(l, in->op == IR_OP_FUSED ? " p%d" : " epilogue=p%d", (int)in->prog);
  if (at & IR_ATTR_MIXTURE) line_put(l, " m%d", (int)in->mixture);
  if (at & IR_ATTR_ATOMS) line_put(l, " a%d", (int)in->atoms);
  if (at & IR_ATTR_DIM) line_put(l, " dim=%u", in->dim);
  if ((at & IR_ATTR_ORDER) && in->cos_first) line_put(l, " cos-sin");
  if (at & IR_ATTR_AXIS) line_put(l, " axis=%u", in->axis);
  if (at & IR_ATTR_START) line_put(l, " start=%u", in->start);
  if (at & IR_ATTR_CONV)
    line_put(l, " stride=%u pad=%u groups=%u", in->stride, in->pad, in->groups);
  if (at & IR_ATTR_GROUPS) line_put(l, " groups=%u", in->groups);
  if (at & IR_ATTR_FACTOR) line_put(l, " factor=%u", in->factor);
  if (at & IR_ATTR_HEADS) line_put(l, " heads=%u", in->heads);
  if (at & IR_ATTR_PERM) {
    const tshape *s = &in->shape;
    for (uint32_t d = 0; d < s->rank; d++) line_put(l, "%s%u", d ? ", " : " perm=[", in->perm[d]);
    line_put(l, "]");
  }
  if (at & IR_ATTR_EPS) line_put(l, " eps=%.6g", (double)in->fattr);
  if (at & IR_ATTR_BETA) line_put(l, " beta=%.6g", (double)in->fattr);
}

/* The instruction's text up to the label comment. */
static void format_inst(const ir_module *m, int32_t i, const ir_inst *in, line_buf *l) {
  char shape[TSHAPE_TEXT];
  line_put(l, "  %%%d = %s", (int)i, ir_op_name(in->op));
  format_attrs(m, in, l);
  for (uint32_t a = 0; a < in->nargs; a++)
    line_put(l, "%s%%%d%s", a ? ", " : " (", (int)in->args[a], a + 1 == in->nargs ? ")" : "");
  line_put(l, " : %s%s", in->uniform ? "uniform " : "",
           tshape_format(&in->shape, shape, sizeof shape));
  if (m->scratch_floats) line_put(l, " @%llu", (unsigned long long)in->offset);
}

static void print_block(const ir_module *m, int b, FILE *out) {
  const ir_block *blk = &m->blocks[b];
  if (b == IR_BLOCK_STEP)
    fprintf(out, "step t=1..%u {\n", m->steps);
  else
    fprintf(out, "%s {\n", ir_block_name((ir_block_kind)b));
  for (uint32_t i = 0; i < blk->count; i++) {
    const ir_inst *in = &blk->insts[i];
    line_buf line = {.text = "", .n = 0};
    format_inst(m, (int32_t)i, in, &line);
    fputs(line.text, out);
    if (in->label) {
      size_t w = line.n;
      fprintf(out, "%*s# %s", w < IR_PRINT_COMMENT_COLUMN ? (int)(IR_PRINT_COMMENT_COLUMN - w) : 1,
              "", in->label);
    }
    fputc('\n', out);
  }
  fprintf(out, "  return %%%d\n}\n", (int)blk->result);
}

static void print_prior(const ir_module *m, FILE *out) {
  const char *pair = m->pair ? m->pair : "";
  if (strcmp(pair, "gamma-poisson") == 0)
    fprintf(out, "prior shape=%.6g rate=%.6g\n", m->prior_shape, m->prior_rate);
  else if (strcmp(pair, "dirichlet-categorical") == 0)
    fprintf(out, "prior concentration=%.6g smoothing=%.6g\n", m->prior_concentration,
            m->prior_smoothing);
  else
    fprintf(out, "prior mean=%.6g precision=%.6g\n", m->prior_mean, m->prior_precision);
}

void ir_print(const ir_module *m, FILE *out) {
  fprintf(out, "module %s pair=%s sampler=%s output=%s steps=%u nfe=%u block=%u shape=[",
          or_unknown(m->name), or_unknown(m->pair), or_unknown(m->sampler), or_unknown(m->output),
          m->schedule_steps, m->nfe, m->block_size);
  for (uint32_t d = 0; d < m->rank && d < 4; d++)
    fprintf(out, "%s%llu", d ? ", " : "", (unsigned long long)m->shape[d]);
  fprintf(out, "] state=%u out=%u\n", m->state_len, m->out_len);
  if (m->schedule) fprintf(out, "schedule \"%s\"\n", m->schedule);
  print_prior(m, out);
  if (m->weight_hash && m->weight_hash[0]) fprintf(out, "weights %s\n", m->weight_hash);
  if (m->vocab)
    fprintf(out, "vocab \"%s\" size=%u pad=%d\n", m->vocab, m->vocab_size, (int)m->pad_symbol);
  if (m->range_lo != 0.0 || m->range_hi != 0.0)
    fprintf(out, "range [%.6g, %.6g]\n", m->range_lo, m->range_hi);
  for (uint32_t i = 0; i < m->ntables; i++) print_table(&m->tables[i], out);
  for (uint32_t i = 0; i < m->ntensors; i++) print_tensor(&m->tensors[i], out);
  for (uint32_t i = 0; i < m->nmixtures; i++)
    fprintf(out, "mixture m%u k=%u dim=%u\n", i, m->mixtures[i].k, m->mixtures[i].dim);
  for (uint32_t i = 0; i < m->natoms; i++) {
    const ir_atoms *a = &m->atoms[i];
    fprintf(out, "atoms a%u k=%u dim=%u", i, a->k, a->dim);
    if (a->vocab) fprintf(out, " vocab=%u", a->vocab);
    fputc('\n', out);
  }
  for (uint32_t i = 0; i < m->nprogs; i++) print_prog(i, &m->progs[i], out);
  if (m->scratch_floats)
    fprintf(out, "memory state@%llu scratch=%llu floats\n", (unsigned long long)m->state_offset,
            (unsigned long long)m->scratch_floats);
  for (int b = 0; b < IR_BLOCK_COUNT; b++) print_block(m, b, out);
}
