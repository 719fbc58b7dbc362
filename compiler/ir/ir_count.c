/*
 * ir_count.c - what a verified module costs: floating-point operations per
 * sample and bytes of constant data (pmmc build --info, ./sampler --info).
 * The memory plan is the optimiser's 'plan' pass (compiler/opt/plan.c).
 */
#include "compiler/ir/ir_shapes.h"

#include <string.h>

#include "compiler/codegen/conv.h"

/* ---- cost model ------------------------------------------------------------
 *
 * Counted per evaluated element: add/sub/mul 1; dense 2*in*out (+out for the
 * bias); activations relu 1, sigmoid/softplus 3, silu/tanh 4, gelu 5, gelu-tanh 8 (their
 * transcendental counts as one); randn 4 (Box-Muller's log, sqrt, sin/cos and
 * scale; the Philox integer work is not counted); sinusoidal 2*dim; layernorm
 * and groupnorm 8n; conv2d 2*k*k*in/groups (+1 bias) per output; avgpool
 * k*k per output; attention 4 L^2 E + 5 heads L^2 (two GEMMs, a softmax); exact_gmm k*(6*dim + 10);
 * poisson 10 per element (a uniform, a log and a few compares for inversion, a handful of
 * transcendentals for the rejection method: an average); softmax 5n (max, subtract, exp, sum,
 * divide); argmax n (compares over the input); dirichlet_mean 3n (sum, add,
 * divide); exact_atoms_normal k*(5*dim + 5) (squared distance 3, weighted
 * mean 2 per coordinate, log-sum-exp 5 per atom); exact_atoms_gamma
 * k*(6*dim + 5) (S log(A x) - A x 4, weighted mean 2); exact_atoms_categorical
 * k*(6*L + 5) + L*K (log-likelihood 4 and accumulation 2 per position, then
 * the output).  state, fill, const, table, tensor and concat move data and
 * count 0, and so do reshape, transpose, slice and upsample.  fused and a dense's epilogue cost
 * their program per element: 1 a add/sub/mul uop, an activation as above.
 *
 * A per-sample instruction costs the above for every sample.  A uniform one
 * is computed once per block and shared by block_size samples, so its cost
 * is divided by block_size.  The total is init + steps * step + final, the
 * uniform part rounded down once at the end.  Saturates at UINT64_MAX.
 */

static uint64_t sat_add(uint64_t a, uint64_t b) {
  uint64_t r;
  return __builtin_add_overflow(a, b, &r) ? UINT64_MAX : r;
}

static uint64_t sat_mul(uint64_t a, uint64_t b) {
  uint64_t r;
  return __builtin_mul_overflow(a, b, &r) ? UINT64_MAX : r;
}

static uint64_t act_cost(pmm_act act) {
  switch (act) {
  case PMM_ACT_NONE: return 0;
  case PMM_ACT_RELU: return 1;
  case PMM_ACT_SIGMOID:
  case PMM_ACT_SOFTPLUS: return 3;
  case PMM_ACT_SILU:
  case PMM_ACT_TANH: return 4;
  case PMM_ACT_GELU: return 5;
  case PMM_ACT_GELU_TANH: return 8;
  case PMM_ACT_COUNT: break;
  }
  return 0;
}

/* An elementwise program's cost per element: its arithmetic and activations. */
static uint64_t prog_cost(const ir_module *m, int32_t p) {
  if (p < 0) return 0;
  uint64_t c = 0;
  for (uint32_t u = 0; u < m->progs[p].count; u++) {
    const ir_uop *op = &m->progs[p].uops[u];
    if (op->kind == IR_UOP_ACT)
      c = sat_add(c, act_cost(op->act));
    else if (op->kind != IR_UOP_ARG && op->kind != IR_UOP_CONST)
      c = sat_add(c, 1);
  }
  return c;
}

/* ---- the cost column of ir_ops.def: FLOPs per row ------------------------ */

static const ir_inst *op0(const ir_block *b, const ir_inst *in) { return &b->insts[in->args[0]]; }

uint64_t ir_cost_zero(const ir_module *m, const ir_block *b, const ir_inst *in) {
  (void)m;
  (void)b;
  (void)in;
  return 0;
}

uint64_t ir_cost_elems(const ir_module *m, const ir_block *b, const ir_inst *in) {
  (void)m;
  (void)b;
  return in->len;
}

uint64_t ir_cost_randn(const ir_module *m, const ir_block *b, const ir_inst *in) {
  (void)m;
  (void)b;
  return sat_mul(4, in->len);
}

uint64_t ir_cost_prog(const ir_module *m, const ir_block *b, const ir_inst *in) {
  (void)b;
  return sat_mul(prog_cost(m, in->prog), in->len);
}

uint64_t ir_cost_dense(const ir_module *m, const ir_block *b, const ir_inst *in) {
  uint64_t c = sat_mul(sat_mul(2, op0(b, in)->len), m->tensors[in->weight].shape[0]);
  if (in->bias >= 0) c = sat_add(c, in->len);
  return sat_add(c, sat_mul(prog_cost(m, in->prog), in->len));
}

uint64_t ir_cost_conv2d(const ir_module *m, const ir_block *b, const ir_inst *in) {
  const ir_tensor *w = &m->tensors[in->weight];
  uint64_t per_out = sat_mul(2, sat_mul(w->shape[1], sat_mul(w->shape[2], w->shape[3])));
  (void)b;
  return sat_mul(in->len, sat_add(per_out, in->bias >= 0 ? 1 : 0));
}

uint64_t ir_cost_act(const ir_module *m, const ir_block *b, const ir_inst *in) {
  (void)m;
  (void)b;
  return sat_mul(act_cost(in->act), in->len);
}

uint64_t ir_cost_sinusoidal(const ir_module *m, const ir_block *b, const ir_inst *in) {
  (void)m;
  (void)b;
  return sat_mul(2, in->dim);
}

uint64_t ir_cost_norm(const ir_module *m, const ir_block *b, const ir_inst *in) {
  (void)m;
  (void)b;
  return sat_mul(8, in->len);
}

uint64_t ir_cost_avgpool(const ir_module *m, const ir_block *b, const ir_inst *in) {
  (void)m;
  (void)b;
  return sat_mul(in->len, (uint64_t)in->factor * in->factor);
}

/* q k^T and p v: 2 L^2 E each, plus the softmax's 5 per score. */
uint64_t ir_cost_attention(const ir_module *m, const ir_block *b, const ir_inst *in) {
  (void)m;
  (void)b;
  uint64_t l = in->shape.dim[0], e = in->shape.dim[1];
  return sat_add(sat_mul(4, sat_mul(sat_mul(l, l), e)),
                 sat_mul(5, sat_mul(in->heads, sat_mul(l, l))));
}

uint64_t ir_scratch_attention(const ir_module *m, const ir_block *b, const ir_inst *in) {
  (void)m;
  (void)b;
  return pmm_attention_scratch_floats(in->shape.dim[0], in->shape.dim[1]);
}

/* The compiled kernel's zero-padded copy of one sample (compiler/codegen/conv.h). */
uint64_t ir_scratch_conv2d(const ir_module *m, const ir_block *b, const ir_inst *in) {
  const tshape *x = &op0(b, in)->shape;
  const ir_tensor *w = &m->tensors[in->weight];
  conv_shape s = {1,          x->dim[0], x->dim[1],  x->dim[2], w->shape[0], w->shape[2],
                  in->stride, in->pad,   in->groups, NULL,      NULL,        w->name};
  return conv_scratch_floats(&s);
}

uint64_t ir_cost_exact_gmm(const ir_module *m, const ir_block *b, const ir_inst *in) {
  (void)b;
  const ir_mixture *g = &m->mixtures[in->mixture];
  return sat_mul(g->k, sat_add(sat_mul(6, g->dim), 10));
}

uint64_t ir_cost_poisson(const ir_module *m, const ir_block *b, const ir_inst *in) {
  (void)m;
  (void)b;
  return sat_mul(10, in->len);
}

uint64_t ir_cost_softmax(const ir_module *m, const ir_block *b, const ir_inst *in) {
  (void)m;
  (void)b;
  return sat_mul(5, in->len);
}

uint64_t ir_cost_argmax(const ir_module *m, const ir_block *b, const ir_inst *in) {
  (void)m;
  return op0(b, in)->len;
}

uint64_t ir_cost_dirichlet_mean(const ir_module *m, const ir_block *b, const ir_inst *in) {
  (void)m;
  (void)b;
  return sat_mul(3, in->len);
}

/* squared distance 3 and weighted mean 2 per coordinate, log-sum-exp 5 per atom */
uint64_t ir_cost_exact_atoms_normal(const ir_module *m, const ir_block *b, const ir_inst *in) {
  (void)b;
  const ir_atoms *a = &m->atoms[in->atoms];
  return sat_mul(a->k, sat_add(sat_mul(5, a->dim), 5));
}

/* S log(A x) - A x 4 and weighted mean 2 per coordinate */
uint64_t ir_cost_exact_atoms_gamma(const ir_module *m, const ir_block *b, const ir_inst *in) {
  (void)b;
  const ir_atoms *a = &m->atoms[in->atoms];
  return sat_mul(a->k, sat_add(sat_mul(6, a->dim), 5));
}

uint64_t ir_cost_exact_atoms_categorical(const ir_module *m, const ir_block *b, const ir_inst *in) {
  (void)b;
  const ir_atoms *a = &m->atoms[in->atoms];
  return sat_add(sat_mul(a->k, sat_add(sat_mul(6, a->dim), 5)), in->len);
}

uint64_t ir_count_flops(const ir_module *m) {
  uint64_t per_sample = 0, uniform = 0;
  for (int b = 0; b < IR_BLOCK_COUNT; b++) {
    const ir_block *blk = &m->blocks[b];
    uint64_t ps = 0, un = 0;
    for (uint32_t i = 0; i < blk->count; i++) {
      const ir_inst *in = &blk->insts[i];
      uint64_t c = ir_op_get(in->op)->cost(m, blk, in);
      if (in->uniform)
        un = sat_add(un, c);
      else
        ps = sat_add(ps, c);
    }
    uint64_t times = b == IR_BLOCK_STEP ? m->steps : 1;
    per_sample = sat_add(per_sample, sat_mul(ps, times));
    uniform = sat_add(uniform, sat_mul(un, times));
  }
  return sat_add(per_sample, uniform / (m->block_size ? m->block_size : 1));
}

uint64_t ir_count_weight_bytes(const ir_module *m) {
  uint64_t floats = 0;
  for (uint32_t i = 0; i < m->ntensors; i++) floats = sat_add(floats, m->tensors[i].count);
  for (uint32_t i = 0; i < m->ntables; i++)
    floats = sat_add(floats, sat_mul(m->tables[i].count, m->tables[i].width));
  for (uint32_t i = 0; i < m->nmixtures; i++) {
    const ir_mixture *g = &m->mixtures[i];
    floats = sat_add(floats, sat_add(sat_mul(2, g->k), sat_mul(g->k, g->dim)));
  }
  for (uint32_t i = 0; i < m->natoms; i++) {
    const ir_atoms *a = &m->atoms[i];
    floats = sat_add(floats, sat_add(a->k, sat_mul(a->k, a->dim)));
  }
  return sat_mul(floats, sizeof(float));
}

void ir_describe(const ir_module *m, const char *engine, pmm_model_desc *d) {
  memset(d, 0, sizeof *d);
  d->abi = PMM_DESC_ABI;
  d->name = m->name;
  d->pair = m->pair ? m->pair : "";
  d->sampler = m->sampler ? m->sampler : "";
  d->output = m->output ? m->output : "";
  d->schedule = m->schedule ? m->schedule : "";
  d->engine = engine;
  d->weight_hash = m->weight_hash ? m->weight_hash : "";
  d->vocab = m->vocab;
  d->steps = m->schedule_steps;
  d->rank = m->rank;
  for (uint32_t i = 0; i < m->rank && i < 4; i++) d->shape[i] = m->shape[i];
  d->sample_elems = m->out_len;
  d->block_size = m->block_size;
  d->scratch_bytes = m->scratch_floats * sizeof(float);
  d->flops_per_sample = ir_count_flops(m);
  d->weight_bytes = ir_count_weight_bytes(m);
  d->vocab_size = m->vocab_size;
  d->pad_symbol = m->pad_symbol;
  d->range_lo = m->range_lo;
  d->range_hi = m->range_hi;
}

float ir_uop_apply(const ir_uop *op, const float *reg) {
  switch (op->kind) {
  case IR_UOP_CONST: return op->f;
  case IR_UOP_ADD: return reg[op->a] + reg[op->b];
  case IR_UOP_SUB: return reg[op->a] - reg[op->b];
  case IR_UOP_MUL: return reg[op->a] * reg[op->b];
  case IR_UOP_ACT: return pmm_act_eval(op->act, reg[op->a]);
  case IR_UOP_ARG:
  case IR_UOP_COUNT: break;
  }
  return 0.0f;
}
