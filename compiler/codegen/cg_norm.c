/*
 * cg_norm.c - GroupNorm (with its fused FiLM and activation) as an LLVM
 * loop nest of constant shape, vectorised for the target, computing
 * exactly the operations of pmm_kernel_groupnorm_film in their order:
 *
 *   mean, var  pmm_lane_sum's interleaved double partial sums, added in
 *              lane order, divided by the group's length;
 *   inv        1 / sqrt(var + eps) in double;
 *   y          (float)(((x - mean) * inv) * gamma + beta), then * mul,
 *              + add in float, then the activation (cg_act: pmm_act_eval's
 *              operations).
 *
 * The runtime kernel is compiled for a generic CPU without vector units
 * beyond SSE2; this one runs at the target's width, with the same bits.
 */
#include "compiler/codegen/cg.h"

#include "compiler/codegen/gemm.h"

enum { NORM_LANES = PMM_SUM_LANES };

typedef struct norm_ctx {
  cg *c;
  gemm_emitter g;
  LLVMTypeRef f64, v8f64;
} norm_ctx;

static LLVMValueRef norm_splat(norm_ctx *n, LLVMValueRef v, unsigned lanes) {
  return gemm_splat(&n->g, v, lanes);
}

/* Lanes of x[i..i+8) - shift, squared when asked, as <8 x double>; lanes
 * past `valid` contribute 0. */
static LLVMValueRef norm_terms(norm_ctx *n, LLVMValueRef p, LLVMValueRef shift, int square,
                               unsigned valid) {
  cg *c = n->c;
  LLVMValueRef mask = gemm_mask(&n->g, NORM_LANES, valid);
  LLVMValueRef x = gemm_load(&n->g, p, NORM_LANES, mask);
  LLVMValueRef d = LLVMBuildFSub(c->b, LLVMBuildFPExt(c->b, x, n->v8f64, ""),
                                 norm_splat(n, shift, NORM_LANES), "");
  if (square) d = LLVMBuildFMul(c->b, d, d, "");
  if (mask) d = LLVMBuildSelect(c->b, mask, d, LLVMConstNull(n->v8f64), "");
  return d;
}

/* The sum of x[0..len) - shift (squared when asked) as the runtime forms
 * it: interleaved lanes, then lane 0 + lane 1 + ... from 0.0. */
static LLVMValueRef norm_sum(norm_ctx *n, LLVMValueRef x, uint64_t len, LLVMValueRef shift,
                             int square) {
  cg *c = n->c;
  LLVMValueRef acc = LLVMConstNull(n->v8f64);
  uint64_t full = len / NORM_LANES, tail = len % NORM_LANES;
  if (full) {
    LLVMBasicBlockRef pre = LLVMGetInsertBlock(c->b);
    cg_loop l;
    LLVMValueRef i = cg_loop_begin(c, &l, 0, full, "lane");
    LLVMValueRef phi = LLVMBuildPhi(c->b, n->v8f64, "acc");
    LLVMAddIncoming(phi, &acc, &pre, 1);
    LLVMValueRef p = cg_elem(c, x, cg_index(c, i, NORM_LANES, NULL));
    LLVMValueRef next = LLVMBuildFAdd(c->b, phi, norm_terms(n, p, shift, square, NORM_LANES), "");
    LLVMBasicBlockRef latch = LLVMGetInsertBlock(c->b);
    LLVMAddIncoming(phi, &next, &latch, 1);
    cg_loop_end(c, &l);
    acc = next;
  }
  if (tail)
    acc = LLVMBuildFAdd(
        c->b, acc,
        norm_terms(n, cg_elem(c, x, cg_i64(c, full * NORM_LANES)), shift, square, (unsigned)tail),
        "");
  LLVMValueRef sum = LLVMConstReal(n->f64, 0.0);
  for (unsigned k = 0; k < NORM_LANES; k++)
    sum = LLVMBuildFAdd(c->b, sum,
                        LLVMBuildExtractElement(c->b, acc, LLVMConstInt(c->i32, k, 0), ""), "");
  return sum;
}

/* Element ch of p widened to double, or the constant when there is no p. */
static LLVMValueRef norm_param(norm_ctx *n, LLVMValueRef p, LLVMValueRef ch, double none) {
  cg *c = n->c;
  if (!p) return LLVMConstReal(n->f64, none);
  return LLVMBuildFPExt(c->b, cg_load(c, cg_elem(c, p, ch)), n->f64, "");
}

/* One channel's n values at x, y: normalise, FiLM, activation, a vector of
 * the target's width at a time. */
static void norm_channel(norm_ctx *n, pmm_act act, LLVMValueRef x, LLVMValueRef y, uint64_t len,
                         LLVMValueRef mean, LLVMValueRef inv, LLVMValueRef ga, LLVMValueRef be,
                         LLVMValueRef mul, LLVMValueRef add) {
  cg *c = n->c;
  unsigned w = c->width;
  LLVMTypeRef vd = LLVMVectorType(n->f64, w);
  LLVMValueRef vmean = norm_splat(n, mean, w), vinv = norm_splat(n, inv, w);
  LLVMValueRef vga = norm_splat(n, ga, w), vbe = norm_splat(n, be, w);
  LLVMValueRef vmul = mul ? norm_splat(n, mul, w) : NULL, vadd = add ? norm_splat(n, add, w) : NULL;
  uint64_t chunks = (len + w - 1) / w;
  for (int last = 0; last < 2; last++) {
    uint64_t from = last ? chunks - 1 : 0, to = last ? chunks : chunks - (len % w != 0);
    if (from >= to) continue;
    unsigned valid = last ? (unsigned)(len - (chunks - 1) * w) : w;
    LLVMValueRef mask = gemm_mask(&n->g, w, valid);
    cg_loop l;
    LLVMValueRef i = cg_loop_begin(c, &l, from, to, "e");
    LLVMValueRef off = cg_index(c, i, w, NULL);
    LLVMValueRef v = LLVMBuildFPExt(c->b, gemm_load(&n->g, cg_elem(c, x, off), w, mask), vd, "");
    v = LLVMBuildFMul(c->b, LLVMBuildFSub(c->b, v, vmean, ""), vinv, "");
    v = LLVMBuildFAdd(c->b, LLVMBuildFMul(c->b, v, vga, ""), vbe, "");
    v = LLVMBuildFPTrunc(c->b, v, LLVMVectorType(c->f32, w), "");
    if (vmul) v = LLVMBuildFMul(c->b, v, vmul, "");
    if (vadd) v = LLVMBuildFAdd(c->b, v, vadd, "");
    if (act != PMM_ACT_NONE) v = cg_act(c, act, v);
    gemm_store(&n->g, v, cg_elem(c, y, off), mask);
    cg_loop_end(c, &l);
  }
}

/* What a GroupNorm kernel is specialised to; instructions that agree share
 * one kernel function. */
typedef struct norm_shape {
  uint64_t rows, ch, per, groups;
  float eps;
  pmm_act act;
  int gamma, beta, film, film_per_row;
} norm_shape;

/* The loops of the kernel: x, y, gamma, beta, mul, add are pointers (NULL
 * for the absent ones). */
static void norm_body(cg *c, const norm_shape *k, LLVMValueRef x, LLVMValueRef y,
                      LLVMValueRef gamma, LLVMValueRef beta, LLVMValueRef mulp, LLVMValueRef addp) {
  norm_ctx n = {c, {c->ctx, c->mod, c->b, c->fn, c->width, NULL, NULL}, NULL, NULL};
  n.f64 = c->f64;
  n.v8f64 = LLVMVectorType(c->f64, NORM_LANES);
  uint64_t cpg = k->ch / k->groups, glen = cpg * k->per;
  cg_loop lg, lc;
  LLVMValueRef g = cg_loop_begin(c, &lg, 0, k->rows * k->groups, "g");
  LLVMValueRef xg = cg_elem(c, x, cg_index(c, g, glen, NULL));
  LLVMValueRef yg = cg_elem(c, y, cg_index(c, g, glen, NULL));
  LLVMValueRef len = LLVMConstReal(c->f64, (double)glen);
  LLVMValueRef mean =
      LLVMBuildFDiv(c->b, norm_sum(&n, xg, glen, LLVMConstReal(c->f64, 0.0), 0), len, "mean");
  LLVMValueRef var = LLVMBuildFDiv(c->b, norm_sum(&n, xg, glen, mean, 1), len, "var");
  LLVMTypeRef sqt = c->f64;
  unsigned id = LLVMLookupIntrinsicID("llvm.sqrt", 9);
  LLVMValueRef sqrt_fn = LLVMGetIntrinsicDeclaration(c->mod, id, &sqt, 1);
  LLVMTypeRef ft = LLVMIntrinsicGetType(c->ctx, id, &sqt, 1);
  LLVMValueRef arg = LLVMBuildFAdd(c->b, var, LLVMConstReal(c->f64, (double)k->eps), "");
  LLVMValueRef inv = LLVMBuildFDiv(c->b, LLVMConstReal(c->f64, 1.0),
                                   LLVMBuildCall2(c->b, ft, sqrt_fn, &arg, 1, ""), "inv");
  LLVMValueRef groups = cg_i64(c, k->groups);
  LLVMValueRef ch0 = LLVMBuildNUWMul(c->b, LLVMBuildURem(c->b, g, groups, ""), cg_i64(c, cpg), "");
  LLVMValueRef film0 = k->film_per_row ? LLVMBuildNUWMul(c->b, LLVMBuildUDiv(c->b, g, groups, ""),
                                                         cg_i64(c, k->ch), "")
                                       : cg_i64(c, 0);
  LLVMValueRef cc = cg_loop_begin(c, &lc, 0, cpg, "c");
  LLVMValueRef chan = LLVMBuildNUWAdd(c->b, ch0, cc, "");
  LLVMValueRef mul = NULL, add = NULL;
  if (k->film) {
    LLVMValueRef at = LLVMBuildNUWAdd(c->b, film0, chan, "");
    mul = cg_load(c, cg_elem(c, mulp, at));
    add = cg_load(c, cg_elem(c, addp, at));
  }
  LLVMValueRef off = cg_index(c, cc, k->per, NULL);
  norm_channel(&n, k->act, cg_elem(c, xg, off), cg_elem(c, yg, off), k->per, mean, inv,
               norm_param(&n, gamma, chan, 1.0), norm_param(&n, beta, chan, 0.0), mul, add);
  cg_loop_end(c, &lc);
  cg_loop_end(c, &lg);
}

/* The kernel function of shape k: void (x, y, gamma, beta, mul, add). */
static void norm_kernel(cg *c, const norm_shape *k, cg_kernel *kern) {
  char name[512];
  snprintf(name, sizeof name, "%s.groupnorm.r%llu.c%llu.n%llu.g%llu.e%a.%s%s%s%s%s", c->m->name,
           (unsigned long long)k->rows, (unsigned long long)k->ch, (unsigned long long)k->per,
           (unsigned long long)k->groups, (double)k->eps, pmm_act_name(k->act),
           k->gamma ? ".w" : "", k->beta ? ".b" : "", k->film ? ".film" : "",
           k->film_per_row ? ".rows" : "");
  if (!cg_kernel_begin(c, kern, name, 6)) return;
  LLVMValueRef p[6];
  for (unsigned i = 0; i < 6; i++) p[i] = LLVMGetParam(kern->fn, i);
  norm_body(c, k, p[0], p[1], k->gamma ? p[2] : NULL, k->beta ? p[3] : NULL, p[4], p[5]);
  cg_kernel_end(c, kern);
}

void cg_emit_groupnorm(cg *c, const ir_block *blk, const ir_inst *in) {
  int film = in->nargs == 3;
  uint64_t ch = in->shape.dim[0];
  norm_shape k = {cg_rows(c, in),
                  ch,
                  in->len / ch,
                  in->groups,
                  in->fattr,
                  in->act,
                  in->weight >= 0,
                  in->bias >= 0,
                  film,
                  film && !blk->insts[in->args[1]].uniform};
  cg_kernel kern;
  norm_kernel(c, &k, &kern);
  LLVMValueRef none = LLVMConstPointerNull(c->ptr);
  LLVMValueRef a[6] = {cg_value(c, &blk->insts[in->args[0]]),
                       cg_value(c, in),
                       cg_tensor_or_null(c, in->weight),
                       cg_tensor_or_null(c, in->bias),
                       film ? cg_value(c, &blk->insts[in->args[1]]) : none,
                       film ? cg_value(c, &blk->insts[in->args[2]]) : none};
  cg_kernel_call(c, &kern, a, 6);
}
