/*
 * gemm.c - dense layers of constant shape as register-blocked LLVM loops
 * (see gemm.h; measurements and the auto policy in docs/gemm.md).
 *
 * Two kernels; each computes every output of a layer by the same sequence
 * of fused multiply-adds (which one depends only on the shape), then + b:
 *
 * broadcast  (out > width / 4): one fma chain over k = 0..in-1 from 0 for
 *            each output.  W packed per panel of nv vectors of
 *            columns, [panel][k][nv * width], zero-padded.  A tile of mr rows
 *            x nv vectors lives in registers; for each k the panel's nv
 *            vectors are loaded once and every row's x[k] is broadcast into
 *            them.  Tiles are grouped so a group's rows of x stay in the L1
 *            cache while the panels of W stream past them.
 * dot        (out <= width / 4, e.g. a 2-D output layer): W packed
 *            [out][in rounded up to width]; each output is a dot product
 *            vectorised along k (lane l sums k = l mod width), the lanes
 *            then summed by a fixed halving tree.
 *
 * Only lanes that are real columns are stored (masked stores), and only
 * real elements of x are read (masked loads on a partial last k chunk).
 */
#include "compiler/codegen/gemm.h"

#include "compiler/codegen/emit.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "compiler/util/xalloc.h"

/* State of one gemm_emit call. */
typedef struct gemm_ctx {
  gemm_emitter *g;
  const gemm_shape *s;
  LLVMTypeRef f32, i32, i64;
  LLVMValueRef x, y, w, bias; /* bias NULL when the layer has none */
  unsigned width;
} gemm_ctx;

unsigned gemm_target_width(const char *features) {
  int avx = 0, avx512 = 0;
  const char *p = features ? features : "";
  while (*p) {
    const char *end = strchr(p, ',');
    size_t n = end ? (size_t)(end - p) : strlen(p);
    if (n == 8 && strncmp(p, "+avx512f", 8) == 0) avx512 = 1;
    if (n == 4 && strncmp(p, "+avx", 4) == 0) avx = 1;
    p += n;
    if (*p == ',') p++;
  }
  return avx512 ? 16 : avx ? 8 : 4;
}

int gemm_prefer_llvm(uint64_t in, uint64_t out) {
  /* bench/gemm (docs/gemm.md): the LLVM kernel is faster than or as fast as
   * OpenBLAS (Haswell and SkylakeX kernels) on every shape measured, up to
   * 1024 x 1024 layers.  Beyond that its W panels ([in][64] floats) and
   * its rows of x outgrow the L2 cache, which OpenBLAS's K blocking keeps,
   * and the packed copy of W makes the binary large. */
  return in <= 1024 && in * out <= (uint64_t)1024 * 1024;
}

static LLVMValueRef gemm_i64(gemm_ctx *c, uint64_t v) { return LLVMConstInt(c->i64, v, 0); }

static LLVMValueRef gemm_elem(LLVMBuilderRef b, LLVMTypeRef f32, LLVMValueRef base,
                              LLVMValueRef idx) {
  return LLVMBuildInBoundsGEP2(b, f32, base, &idx, 1, "");
}

LLVMValueRef gemm_loop_begin(gemm_emitter *g, gemm_loop *l, LLVMValueRef start, LLVMValueRef end,
                             const char *name) {
  LLVMBasicBlockRef pre = LLVMGetInsertBlock(g->b);
  l->body = LLVMAppendBasicBlockInContext(g->ctx, g->fn, name);
  l->end = end;
  LLVMBuildBr(g->b, l->body);
  LLVMPositionBuilderAtEnd(g->b, l->body);
  l->iv = LLVMBuildPhi(g->b, LLVMInt64TypeInContext(g->ctx), name);
  LLVMAddIncoming(l->iv, &start, &pre, 1);
  return l->iv;
}

void gemm_loop_end(gemm_emitter *g, gemm_loop *l) {
  LLVMValueRef next =
      LLVMBuildNUWAdd(g->b, l->iv, LLVMConstInt(LLVMInt64TypeInContext(g->ctx), 1, 0), "");
  LLVMBasicBlockRef latch = LLVMGetInsertBlock(g->b);
  LLVMAddIncoming(l->iv, &next, &latch, 1);
  LLVMValueRef more = LLVMBuildICmp(g->b, LLVMIntULT, next, l->end, "");
  LLVMBasicBlockRef exit = LLVMAppendBasicBlockInContext(g->ctx, g->fn, "");
  LLVMBuildCondBr(g->b, more, l->body, exit);
  LLVMPositionBuilderAtEnd(g->b, exit);
}

/* ---- vector helpers ------------------------------------------------------ */

static LLVMValueRef gemm_intrinsic(gemm_emitter *g, const char *name, LLVMTypeRef *types,
                                   unsigned n, LLVMTypeRef *fn_type) {
  unsigned id = LLVMLookupIntrinsicID(name, strlen(name));
  *fn_type = LLVMIntrinsicGetType(g->ctx, id, types, n);
  return LLVMGetIntrinsicDeclaration(g->mod, id, types, n);
}

LLVMValueRef gemm_splat(gemm_emitter *g, LLVMValueRef v, unsigned lanes) {
  LLVMTypeRef i32 = LLVMInt32TypeInContext(g->ctx);
  LLVMTypeRef vt = LLVMVectorType(LLVMTypeOf(v), lanes);
  LLVMValueRef one =
      LLVMBuildInsertElement(g->b, LLVMGetPoison(vt), v, LLVMConstInt(i32, 0, 0), "");
  return LLVMBuildShuffleVector(g->b, one, LLVMGetPoison(vt),
                                LLVMConstNull(LLVMVectorType(i32, lanes)), "");
}

LLVMValueRef gemm_load(gemm_emitter *g, LLVMValueRef p, unsigned lanes, LLVMValueRef mask) {
  LLVMTypeRef vt = LLVMVectorType(LLVMFloatTypeInContext(g->ctx), lanes);
  if (!mask) {
    LLVMValueRef v = LLVMBuildLoad2(g->b, vt, p, "");
    LLVMSetAlignment(v, 4);
    return v;
  }
  LLVMTypeRef types[2] = {vt, LLVMTypeOf(p)}, ft;
  LLVMValueRef fn = gemm_intrinsic(g, "llvm.masked.load", types, 2, &ft);
  LLVMValueRef a[4] = {p, LLVMConstInt(LLVMInt32TypeInContext(g->ctx), 4, 0), mask,
                       LLVMConstNull(vt)};
  return LLVMBuildCall2(g->b, ft, fn, a, 4, "");
}

void gemm_store(gemm_emitter *g, LLVMValueRef v, LLVMValueRef p, LLVMValueRef mask) {
  if (!mask) {
    LLVMSetAlignment(LLVMBuildStore(g->b, v, p), 4);
    return;
  }
  LLVMTypeRef types[2] = {LLVMTypeOf(v), LLVMTypeOf(p)}, ft;
  LLVMValueRef fn = gemm_intrinsic(g, "llvm.masked.store", types, 2, &ft);
  LLVMValueRef a[4] = {v, p, LLVMConstInt(LLVMInt32TypeInContext(g->ctx), 4, 0), mask};
  LLVMBuildCall2(g->b, ft, fn, a, 4, "");
}

LLVMValueRef gemm_mask(gemm_emitter *g, unsigned lanes, unsigned valid) {
  if (valid >= lanes) return NULL;
  LLVMTypeRef i1 = LLVMInt1TypeInContext(g->ctx);
  LLVMValueRef bits[16];
  for (unsigned i = 0; i < lanes; i++) bits[i] = LLVMConstInt(i1, i < valid, 0);
  return LLVMConstVector(bits, lanes);
}

LLVMValueRef gemm_fma(gemm_emitter *g, LLVMValueRef a, LLVMValueRef b, LLVMValueRef acc) {
  LLVMTypeRef t = LLVMTypeOf(acc), ft;
  LLVMValueRef fn = gemm_intrinsic(g, "llvm.fma", &t, 1, &ft);
  LLVMValueRef args[3] = {a, b, acc};
  return LLVMBuildCall2(g->b, ft, fn, args, 3, "");
}

/* Add the bias (if any), run the epilogue and store one register of row
 * `row`, columns col.. of y. */
static void gemm_finish(gemm_ctx *c, LLVMValueRef acc, LLVMValueRef row, LLVMValueRef col,
                        unsigned lanes, unsigned valid) {
  gemm_emitter *g = c->g;
  LLVMValueRef mask = gemm_mask(g, lanes, valid);
  if (c->bias)
    acc = LLVMBuildFAdd(g->b, acc, gemm_load(g, gemm_elem(g->b, c->f32, c->bias, col), lanes, NULL),
                        "");
  if (g->epilogue) acc = g->epilogue(g->user, acc, row, col, mask);
  LLVMValueRef idx =
      LLVMBuildNUWAdd(g->b, LLVMBuildNUWMul(g->b, row, gemm_i64(c, c->s->out), ""), col, "");
  gemm_store(g, acc, gemm_elem(g->b, c->f32, c->y, idx), mask);
}

/* ---- packed constants ---------------------------------------------------- */

LLVMValueRef gemm_global(gemm_emitter *g, const char *prefix, const char *suffix, const float *data,
                         uint64_t n, char *err, size_t errlen) {
  char name[512];
  snprintf(name, sizeof name, "%s.%s", prefix, suffix);
  if (n == 0) {
    snprintf(err, errlen, "packed weight '%s' is empty", name);
    return NULL;
  }
  return emit_float_global(g->mod, name, data, n, 64, err, errlen);
}

/* Round n up to a multiple of k, or 0 on overflow. */
static uint64_t gemm_round_up(uint64_t n, uint64_t k) {
  uint64_t q = n / k + (n % k != 0);
  return q > UINT64_MAX / k ? 0 : q * k;
}

/* The bias zero-padded to whole vectors. */
static int gemm_pack_bias(gemm_ctx *c, char *err, size_t errlen) {
  const gemm_shape *s = c->s;
  c->bias = NULL;
  if (!s->bias) return 0;
  uint64_t n = gemm_round_up(s->out, c->width);
  float *p = n ? xcalloc_array((size_t)n, sizeof *p) : NULL;
  if (!p) {
    snprintf(err, errlen, "out of memory packing the bias of '%s'", s->name);
    return -1;
  }
  memcpy(p, s->bias, (size_t)s->out * sizeof *p);
  c->bias = gemm_global(c->g, c->s->name, "bias", p, n, err, errlen);
  free(p);
  return c->bias ? 0 : -1;
}

/* ---- broadcast kernel ---------------------------------------------------- */

/* Tile shape: nv vectors of columns, mr rows, within the register file
 * (32 vector registers with AVX-512, else 16; nv + 2 are not accumulators). */
static void gemm_tile_shape(const gemm_ctx *c, unsigned *mr, unsigned *nv) {
  uint64_t vecs = (c->s->out + c->width - 1) / c->width;
  unsigned regs = c->width == 16 ? 32 : 16;
  unsigned cap = c->s->rows == 1 ? (regs == 32 ? 8 : 4) : (regs == 32 ? 4 : 2);
  *nv = vecs < cap ? (unsigned)vecs : cap;
  unsigned m = (regs - *nv - 2) / *nv;
  if (m > 8) m = 8;
  *mr = c->s->rows < m ? (unsigned)c->s->rows : m;
}

/* xrow[i] = &x[(row0 + i) * in] for i < mr: the input rows of a tile. */
static void gemm_x_rows(gemm_ctx *c, LLVMValueRef row0, unsigned mr, LLVMValueRef *xrow) {
  LLVMBuilderRef b = c->g->b;
  for (unsigned i = 0; i < mr; i++) {
    LLVMValueRef r = LLVMBuildNUWAdd(b, row0, gemm_i64(c, i), "");
    xrow[i] = gemm_elem(b, c->f32, c->x, LLVMBuildNUWMul(b, r, gemm_i64(c, c->s->in), ""));
  }
}

/* One tile: rows row0..row0+mr-1, panel columns col0.. (nv vectors, the
 * last with `valid` real lanes), W panel at wp ([in][nv * width]). */
static void gemm_tile(gemm_ctx *c, LLVMValueRef row0, unsigned mr, LLVMValueRef col0,
                      LLVMValueRef wp, unsigned nv, unsigned valid) {
  gemm_emitter *g = c->g;
  const uint64_t in = c->s->in, pw = (uint64_t)nv * c->width;
  LLVMTypeRef vt = LLVMVectorType(c->f32, c->width);
  LLVMValueRef acc[8][8], xrow[8];
  gemm_x_rows(c, row0, mr, xrow);
  for (unsigned i = 0; i < mr; i++)
    for (unsigned v = 0; v < nv; v++) acc[i][v] = LLVMConstNull(vt);
  if (in > 0) {
    LLVMBasicBlockRef pre = LLVMGetInsertBlock(g->b);
    gemm_loop lk;
    LLVMValueRef k = gemm_loop_begin(c->g, &lk, gemm_i64(c, 0), gemm_i64(c, in), "k");
    LLVMValueRef phi[8][8], wv[8];
    for (unsigned i = 0; i < mr; i++)
      for (unsigned v = 0; v < nv; v++) {
        phi[i][v] = LLVMBuildPhi(g->b, vt, "acc");
        LLVMAddIncoming(phi[i][v], &acc[i][v], &pre, 1);
      }
    LLVMValueRef kw = LLVMBuildNUWMul(g->b, k, gemm_i64(c, pw), "");
    for (unsigned v = 0; v < nv; v++) {
      LLVMValueRef idx = LLVMBuildNUWAdd(g->b, kw, gemm_i64(c, (uint64_t)v * c->width), "");
      wv[v] = LLVMBuildLoad2(g->b, vt, gemm_elem(g->b, c->f32, wp, idx), "w");
      LLVMSetAlignment(wv[v], 64);
    }
    for (unsigned i = 0; i < mr; i++) {
      LLVMValueRef xs = LLVMBuildLoad2(g->b, c->f32, gemm_elem(g->b, c->f32, xrow[i], k), "x");
      LLVMSetAlignment(xs, 4);
      LLVMValueRef xb = gemm_splat(g, xs, c->width);
      for (unsigned v = 0; v < nv; v++) acc[i][v] = gemm_fma(c->g, xb, wv[v], phi[i][v]);
    }
    LLVMBasicBlockRef latch = LLVMGetInsertBlock(g->b);
    for (unsigned i = 0; i < mr; i++)
      for (unsigned v = 0; v < nv; v++) LLVMAddIncoming(phi[i][v], &acc[i][v], &latch, 1);
    gemm_loop_end(c->g, &lk);
  }
  for (unsigned i = 0; i < mr; i++) {
    LLVMValueRef r = LLVMBuildNUWAdd(g->b, row0, gemm_i64(c, i), "");
    for (unsigned v = 0; v < nv; v++) {
      LLVMValueRef col = LLVMBuildNUWAdd(g->b, col0, gemm_i64(c, (uint64_t)v * c->width), "");
      gemm_finish(c, acc[i][v], r, col, c->width, v + 1 == nv ? valid : c->width);
    }
  }
}

/* Every panel for the tiles t_lo..t_hi-1 of `rows` rows at rows t * mr
 * (t_hi NULL: the single tile t_lo). */
static void gemm_panels(gemm_ctx *c, LLVMValueRef t_lo, LLVMValueRef t_hi, unsigned mr,
                        unsigned rows, unsigned nv) {
  gemm_emitter *g = c->g;
  const uint64_t in = c->s->in, out = c->s->out, pw = (uint64_t)nv * c->width;
  const uint64_t full = out / pw, rem = out % pw;
  for (int last = 0; last < 2; last++) {
    if (last ? rem == 0 : full == 0) continue;
    unsigned nvp = last ? (unsigned)((rem + c->width - 1) / c->width) : nv;
    unsigned valid = last && rem % c->width ? (unsigned)(rem % c->width) : c->width;
    gemm_loop lp, lt;
    LLVMValueRef p = gemm_i64(c, last ? full : 0);
    if (!last && full > 1) p = gemm_loop_begin(c->g, &lp, p, gemm_i64(c, full), "p");
    LLVMValueRef col0 = LLVMBuildNUWMul(g->b, p, gemm_i64(c, pw), "");
    LLVMValueRef wp =
        gemm_elem(g->b, c->f32, c->w, LLVMBuildNUWMul(g->b, col0, gemm_i64(c, in), ""));
    LLVMValueRef t = t_hi ? gemm_loop_begin(c->g, &lt, t_lo, t_hi, "t") : t_lo;
    gemm_tile(c, LLVMBuildNUWMul(g->b, t, gemm_i64(c, mr), ""), rows, col0, wp, nvp, valid);
    if (t_hi) gemm_loop_end(c->g, &lt);
    if (!last && full > 1) gemm_loop_end(c->g, &lp);
  }
}

static int gemm_emit_broadcast(gemm_ctx *c, char *err, size_t errlen) {
  gemm_emitter *g = c->g;
  const gemm_shape *s = c->s;
  unsigned mr, nv;
  gemm_tile_shape(c, &mr, &nv);
  const uint64_t pw = (uint64_t)nv * c->width, padded = gemm_round_up(s->out, c->width);
  /* Panels of pw columns, [k][pw] each; the last panel is narrower. */
  if (!padded || s->in > UINT64_MAX / padded) {
    snprintf(err, errlen, "dense layer '%s' is too large", s->name);
    return -1;
  }
  float *p = xcalloc_array((size_t)(padded * s->in), sizeof *p);
  if (!p) {
    snprintf(err, errlen, "out of memory packing the weight of '%s'", s->name);
    return -1;
  }
  for (uint64_t o = 0; o < s->out; o++) {
    uint64_t panel = o / pw, col = o % pw;
    uint64_t width = panel == s->out / pw ? padded - panel * pw : pw;
    for (uint64_t k = 0; k < s->in; k++)
      p[panel * pw * s->in + k * width + col] = s->w[o * s->in + k];
  }
  c->w = gemm_global(c->g, c->s->name, "packed", p, padded * s->in, err, errlen);
  free(p);
  if (!c->w) return -1;

  uint64_t tiles = s->rows / mr, tail = s->rows % mr;
  if (tiles > 0) {
    /* groups of tiles whose rows of x fill about 32 KiB */
    uint64_t per = s->in ? 8192 / ((uint64_t)mr * s->in) : tiles;
    if (per < 1) per = 1;
    if (per > tiles) per = tiles;
    uint64_t groups = (tiles + per - 1) / per;
    gemm_loop lg;
    LLVMValueRef grp = groups > 1
                           ? gemm_loop_begin(c->g, &lg, gemm_i64(c, 0), gemm_i64(c, groups), "grp")
                           : gemm_i64(c, 0);
    LLVMValueRef lo = LLVMBuildNUWMul(g->b, grp, gemm_i64(c, per), "");
    LLVMValueRef hi = LLVMBuildNUWAdd(g->b, lo, gemm_i64(c, per), "");
    LLVMValueRef over = LLVMBuildICmp(g->b, LLVMIntUGT, hi, gemm_i64(c, tiles), "");
    hi = LLVMBuildSelect(g->b, over, gemm_i64(c, tiles), hi, "");
    gemm_panels(c, lo, hi, mr, mr, nv);
    if (groups > 1) gemm_loop_end(c->g, &lg);
  }
  /* the last rows as one shorter tile */
  if (tail > 0) gemm_panels(c, gemm_i64(c, tiles), NULL, mr, (unsigned)tail, nv);
  return 0;
}

/* ---- dot kernel ---------------------------------------------------------- */

/* Sum of a vector's lanes by halving: lanes [0, n/2) + [n/2, n), repeated. */
static LLVMValueRef gemm_reduce(gemm_ctx *c, LLVMValueRef v, unsigned lanes) {
  gemm_emitter *g = c->g;
  while (lanes > 1) {
    unsigned h = lanes / 2;
    LLVMValueRef lo[8], hi[8];
    for (unsigned i = 0; i < h; i++) {
      lo[i] = LLVMConstInt(c->i32, i, 0);
      hi[i] = LLVMConstInt(c->i32, h + i, 0);
    }
    LLVMValueRef a =
        LLVMBuildShuffleVector(g->b, v, LLVMGetPoison(LLVMTypeOf(v)), LLVMConstVector(lo, h), "");
    LLVMValueRef b =
        LLVMBuildShuffleVector(g->b, v, LLVMGetPoison(LLVMTypeOf(v)), LLVMConstVector(hi, h), "");
    v = LLVMBuildFAdd(g->b, a, b, "");
    lanes = h;
  }
  return LLVMBuildExtractElement(g->b, v, LLVMConstInt(c->i32, 0, 0), "");
}

/* mr rows from row0: out dot products each, stored as one narrow vector. */
static void gemm_dot_rows(gemm_ctx *c, LLVMValueRef row0, unsigned mr) {
  gemm_emitter *g = c->g;
  const uint64_t in = c->s->in, out = c->s->out, kp = gemm_round_up(in, c->width);
  const uint64_t chunks = in / c->width, rem = in % c->width;
  LLVMTypeRef vt = LLVMVectorType(c->f32, c->width);
  LLVMValueRef acc[4][4], xrow[4];
  gemm_x_rows(c, row0, mr, xrow);
  for (unsigned i = 0; i < mr; i++)
    for (unsigned j = 0; j < out; j++) acc[i][j] = LLVMConstNull(vt);
  for (int tail = 0; tail < 2; tail++) {
    if (tail ? rem == 0 : chunks == 0) continue;
    LLVMBasicBlockRef pre = LLVMGetInsertBlock(g->b);
    gemm_loop lk;
    LLVMValueRef phi[4][4];
    LLVMValueRef ch = tail ? gemm_i64(c, chunks)
                           : gemm_loop_begin(c->g, &lk, gemm_i64(c, 0), gemm_i64(c, chunks), "kc");
    if (!tail)
      for (unsigned i = 0; i < mr; i++)
        for (unsigned j = 0; j < out; j++) {
          phi[i][j] = LLVMBuildPhi(g->b, vt, "acc");
          LLVMAddIncoming(phi[i][j], &acc[i][j], &pre, 1);
          acc[i][j] = phi[i][j];
        }
    LLVMValueRef k = LLVMBuildNUWMul(g->b, ch, gemm_i64(c, c->width), "");
    LLVMValueRef mask = tail ? gemm_mask(g, c->width, (unsigned)rem) : NULL;
    LLVMValueRef wv[4], xv[4];
    for (unsigned j = 0; j < out; j++) {
      LLVMValueRef idx = LLVMBuildNUWAdd(g->b, k, gemm_i64(c, j * kp), "");
      wv[j] = LLVMBuildLoad2(g->b, vt, gemm_elem(g->b, c->f32, c->w, idx), "w");
      LLVMSetAlignment(wv[j], 64);
    }
    for (unsigned i = 0; i < mr; i++) {
      xv[i] = gemm_load(g, gemm_elem(g->b, c->f32, xrow[i], k), c->width, mask);
      for (unsigned j = 0; j < out; j++) acc[i][j] = gemm_fma(c->g, xv[i], wv[j], acc[i][j]);
    }
    if (!tail) {
      LLVMBasicBlockRef latch = LLVMGetInsertBlock(g->b);
      for (unsigned i = 0; i < mr; i++)
        for (unsigned j = 0; j < out; j++) LLVMAddIncoming(phi[i][j], &acc[i][j], &latch, 1);
      gemm_loop_end(c->g, &lk);
    }
  }
  unsigned lanes = 1;
  while (lanes < out) lanes *= 2;
  LLVMTypeRef nt = LLVMVectorType(c->f32, lanes);
  for (unsigned i = 0; i < mr; i++) {
    LLVMValueRef v = LLVMConstNull(nt);
    for (unsigned j = 0; j < out; j++)
      v = LLVMBuildInsertElement(g->b, v, gemm_reduce(c, acc[i][j], c->width),
                                 LLVMConstInt(c->i32, j, 0), "");
    LLVMValueRef r = LLVMBuildNUWAdd(g->b, row0, gemm_i64(c, i), "");
    gemm_finish(c, v, r, gemm_i64(c, 0), lanes, (unsigned)out);
  }
}

static int gemm_emit_dot(gemm_ctx *c, char *err, size_t errlen) {
  gemm_emitter *g = c->g;
  const gemm_shape *s = c->s;
  const uint64_t kp = gemm_round_up(s->in ? s->in : 1, c->width);
  float *p = kp ? xcalloc_array((size_t)(kp * s->out), sizeof *p) : NULL;
  if (!p) {
    snprintf(err, errlen, "out of memory packing the weight of '%s'", s->name);
    return -1;
  }
  for (uint64_t o = 0; o < s->out; o++) memcpy(p + o * kp, s->w + o * s->in, s->in * sizeof *p);
  c->w = gemm_global(c->g, c->s->name, "packed", p, kp * s->out, err, errlen);
  free(p);
  if (!c->w) return -1;
  const unsigned mr = 4;
  uint64_t tiles = s->rows / mr, tail = s->rows % mr;
  if (tiles > 0) {
    gemm_loop lt;
    LLVMValueRef t = tiles > 1 ? gemm_loop_begin(c->g, &lt, gemm_i64(c, 0), gemm_i64(c, tiles), "t")
                               : gemm_i64(c, 0);
    gemm_dot_rows(c, LLVMBuildNUWMul(g->b, t, gemm_i64(c, mr), ""), mr);
    if (tiles > 1) gemm_loop_end(c->g, &lt);
  }
  if (tail > 0) gemm_dot_rows(c, gemm_i64(c, tiles * mr), (unsigned)tail);
  return 0;
}

/* ---- entry points -------------------------------------------------------- */

static void gemm_ctx_init(gemm_ctx *c, gemm_emitter *g, const gemm_shape *s) {
  memset(c, 0, sizeof *c);
  c->g = g;
  c->s = s;
  c->f32 = LLVMFloatTypeInContext(g->ctx);
  c->i32 = LLVMInt32TypeInContext(g->ctx);
  c->i64 = LLVMInt64TypeInContext(g->ctx);
  c->width = g->width == 16 || g->width == 8 ? g->width : 4;
}

int gemm_emit(gemm_emitter *g, const gemm_shape *s, LLVMValueRef x, LLVMValueRef y, char *err,
              size_t errlen) {
  gemm_ctx c;
  gemm_ctx_init(&c, g, s);
  c.x = x;
  c.y = y;
  if (s->rows == 0 || s->out == 0) return 0;
  if (gemm_pack_bias(&c, err, errlen) != 0) return -1;
  if (s->out <= c.width / 4) return gemm_emit_dot(&c, err, errlen);
  return gemm_emit_broadcast(&c, err, errlen);
}

void gemm_emit_apply(gemm_emitter *g, LLVMValueRef row0, uint64_t rows, uint64_t out,
                     LLVMValueRef y) {
  gemm_shape s = {rows, 0, out, NULL, NULL, ""};
  gemm_ctx c;
  gemm_ctx_init(&c, g, &s);
  c.y = y;
  if (rows == 0 || out == 0) return;
  const uint64_t full = out / c.width, rem = out % c.width;
  gemm_loop lr, lv;
  LLVMValueRef end = LLVMBuildNUWAdd(g->b, row0, gemm_i64(&c, rows), "");
  LLVMValueRef r = gemm_loop_begin(g, &lr, row0, end, "r");
  LLVMValueRef base = LLVMBuildNUWMul(g->b, r, gemm_i64(&c, out), "");
  for (int last = 0; last < 2; last++) {
    if (last ? rem == 0 : full == 0) continue;
    LLVMValueRef v = last ? gemm_i64(&c, full)
                          : gemm_loop_begin(g, &lv, gemm_i64(&c, 0), gemm_i64(&c, full), "v");
    LLVMValueRef col = LLVMBuildNUWMul(g->b, v, gemm_i64(&c, c.width), "");
    LLVMValueRef mask = gemm_mask(g, c.width, last ? (unsigned)rem : c.width);
    LLVMValueRef p = gemm_elem(g->b, c.f32, y, LLVMBuildNUWAdd(g->b, base, col, ""));
    LLVMValueRef val = g->epilogue(g->user, gemm_load(g, p, c.width, mask), r, col, mask);
    gemm_store(g, val, p, mask);
    if (!last) gemm_loop_end(g, &lv);
  }
  gemm_loop_end(g, &lr);
}
