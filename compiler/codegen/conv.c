/*
 * conv.c - 2-D convolutions of constant shape as register-blocked LLVM
 * loops (see conv.h; design and measurements in docs/conv.md).
 *
 * An implicit GEMM per sample and group: output pixels are the rows,
 * output channels the columns, k-index (ci, kh, kw) the reduction.
 *
 * - Packing: the weight is repacked at compile time as gemm.c packs W:
 *   per group, per panel of nv vectors of output channels,
 *   [k-index][nv * width], zero-padded to whole vectors.
 * - Tile: tr x tc output pixels (tc consecutive pixels of tr consecutive
 *   output rows) x nv vectors of channels in registers.  For each k-index
 *   the panel's nv vectors are loaded once and each pixel's input value is
 *   broadcast into llvm.fma.  Every input address of a tile is its base
 *   plus a constant, so the hot loop has no index arithmetic per pixel.
 * - Borders: each sample is first copied into a zero-padded
 *   [ci][h + 2 pad][w + 2 pad] buffer in the caller's scratch (one sample,
 *   not an im2col), so taps outside the image read zeros and the hot loop
 *   has no branches.
 * - Store: the tile is transposed in registers (shufflevector) from
 *   [pixel][channel] to [channel][pixel], so each output channel's row
 *   segment is one (masked) contiguous store into the CHW output, after
 *   bias and epilogue.
 * - A 1x1 convolution with stride 1 and no padding is a GEMM over all the
 *   plane's pixels: it is tiled as a single row of h * w pixels.
 * - Narrow kernel: with at most width / 4 output channels a group (a
 *   network's last layer, depthwise convolutions) and stride 1, vectors of
 *   channels would mostly multiply padding.  The lanes then hold `width`
 *   consecutive output pixels of a row instead, loaded from the padded
 *   input as one vector a tap, each channel's weight is broadcast, and the
 *   accumulators are stored as they are, with no transposition.
 *
 * Summation order: each output is acc = 0, then acc = fma(x, w, acc) for
 * ci = 0 .. ci/groups - 1, kh = 0 .. k - 1, kw = 0 .. k - 1 (padded taps
 * included, multiplying zeros), then acc + bias, then the epilogue - the
 * same sequence whatever tile or sample the output falls in.
 */
#include "compiler/codegen/conv.h"

#include <llvm-c/DebugInfo.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "compiler/codegen/gemm.h"
#include "compiler/util/xalloc.h"

/* Largest tile: pixels x channel vectors within the register file. */
#define CONV_MAX_PIXELS 32
#define CONV_MAX_VECS 4

/* State of one conv_emit call. */
typedef struct conv_ctx {
  conv_emitter *e;
  gemm_emitter g; /* the same builder, for gemm.c's vector helpers */
  const conv_shape *s;
  LLVMTypeRef f32, i64, vt;
  LLVMValueRef x, y, scratch, w, bias; /* bias NULL when the layer has none */
  unsigned width;
  uint64_t cin_g, cout_g, ho, wo;
  uint64_t gh, gw; /* the output grid tiled: ho x wo, or 1 x ho*wo (pointwise) */
  uint64_t xh, xw; /* the input plane read: padded, or x's own */
  uint64_t stride;
  uint64_t kidx, cpad; /* k-indices a group (cin_g k k), cout_g padded (wide kernel) */
  uint64_t pw;         /* channels a panel (nv vectors, or cout_g for the narrow kernel) */
  int narrow;          /* pixels in the lanes, channels broadcast (few channels) */
  unsigned nv, tr, tc; /* tile: nv channel vectors x tr rows x tc pixels */
} conv_ctx;

/* Where a tile sits: sample, group, panel and its first output pixel. */
typedef struct conv_pos {
  LLVMValueRef n, xs;   /* sample index; its input plane set (padded or not) */
  LLVMValueRef xg, yg;  /* first input channel's offset in xs; first output channel */
  LLVMValueRef wp, col; /* the panel's packed weight; its first channel in the group */
  uint64_t wrow;        /* floats of packed weight a k-index in the panel */
  unsigned nvp, valid;  /* the panel's vectors; real channels in its last vector */
  LLVMValueRef oh, ow;  /* the tile's first output row and column (grid) */
} conv_pos;

static LLVMValueRef conv_i64(conv_ctx *c, uint64_t v) { return LLVMConstInt(c->i64, v, 0); }

static LLVMValueRef conv_add(conv_ctx *c, LLVMValueRef a, LLVMValueRef b) {
  return LLVMBuildNUWAdd(c->e->b, a, b, "");
}

static LLVMValueRef conv_mul(conv_ctx *c, LLVMValueRef a, uint64_t k) {
  return LLVMBuildNUWMul(c->e->b, a, conv_i64(c, k), "");
}

static LLVMValueRef conv_elem(conv_ctx *c, LLVMValueRef base, LLVMValueRef idx) {
  return LLVMBuildInBoundsGEP2(c->e->b, c->f32, base, &idx, 1, "");
}

/* A loop over [0, n) when n > 1, else the constant 0 (no loop). */
static LLVMValueRef conv_loop_begin(conv_ctx *c, gemm_loop *l, uint64_t n, const char *name) {
  if (n <= 1) return conv_i64(c, 0);
  return gemm_loop_begin(&c->g, l, conv_i64(c, 0), conv_i64(c, n), name);
}

static void conv_loop_end(conv_ctx *c, gemm_loop *l, uint64_t n) {
  if (n > 1) gemm_loop_end(&c->g, l);
}

/* ---- shape ---------------------------------------------------------------- */

static int conv_mul_ok(uint64_t *acc, uint64_t k) {
  return !__builtin_mul_overflow(*acc, k, acc) && *acc <= INT64_MAX / 4;
}

int conv_check(const conv_shape *s, char *why, size_t whylen) {
  const char *bad = NULL;
  if (!s->ci || !s->h || !s->w || !s->co || !s->k || !s->stride || !s->groups)
    bad = "a size is zero";
  else if (s->ci % s->groups || s->co % s->groups)
    bad = "groups do not divide the channels";
  else if (s->pad > UINT32_MAX || s->h > UINT32_MAX || s->w > UINT32_MAX)
    bad = "the image is too large";
  else if (s->k > s->h + 2 * s->pad || s->k > s->w + 2 * s->pad)
    bad = "the kernel is larger than the padded input";
  uint64_t in = s->rows, out = s->rows, wsz = s->co, pad = s->ci;
  if (!bad) {
    uint64_t ho = (s->h + 2 * s->pad - s->k) / s->stride + 1;
    uint64_t wo = (s->w + 2 * s->pad - s->k) / s->stride + 1;
    if (!conv_mul_ok(&in, s->ci) || !conv_mul_ok(&in, s->h) || !conv_mul_ok(&in, s->w) ||
        !conv_mul_ok(&out, s->co) || !conv_mul_ok(&out, ho) || !conv_mul_ok(&out, wo) ||
        !conv_mul_ok(&wsz, s->ci / s->groups) || !conv_mul_ok(&wsz, s->k) ||
        !conv_mul_ok(&wsz, s->k) || !conv_mul_ok(&pad, s->h + 2 * s->pad) ||
        !conv_mul_ok(&pad, s->w + 2 * s->pad))
      bad = "the tensors are too large";
  }
  if (bad) snprintf(why, whylen, "conv2d '%s': %s", s->name ? s->name : "", bad);
  return bad ? -1 : 0;
}

uint64_t conv_scratch_floats(const conv_shape *s) {
  char why[8];
  if (conv_check(s, why, sizeof why) != 0) return UINT64_MAX;
  return s->pad ? s->ci * (s->h + 2 * s->pad) * (s->w + 2 * s->pad) : 0;
}

/* Wide tile: nv vectors of channels and up to CONV_MAX_PIXELS pixels, the
 * accumulators plus nv weights and a broadcast within the register file;
 * tc a balanced split of the grid's width into at most that many and
 * `width` pixels (one transposed vector a row), tr rows of them. */
static void conv_tile_shape(conv_ctx *c, unsigned regs) {
  uint64_t vecs = c->cpad / c->width;
  c->nv = vecs < 2 ? (unsigned)vecs : 2;
  unsigned most = (regs - c->nv - 1) / c->nv;
  if (most > CONV_MAX_PIXELS) most = CONV_MAX_PIXELS;
  unsigned wide = most < c->width ? most : c->width;
  uint64_t ntc = (c->gw + wide - 1) / wide;
  c->tc = (unsigned)((c->gw + ntc - 1) / ntc);
  uint64_t tr = most / c->tc;
  if (tr > c->gh) tr = c->gh;
  uint64_t ntr = (c->gh + tr - 1) / tr;
  c->tr = (unsigned)((c->gh + ntr - 1) / ntr);
}

/* Narrow tile: tr rows of tc pixels (whole vectors but for a row's last)
 * x cout_g channels of accumulators, with cout_g broadcast weights and an
 * input vector within the register file. */
static void conv_narrow_shape(conv_ctx *c, unsigned regs) {
  unsigned most = regs - (unsigned)c->cout_g - 2;
  uint64_t pv = (c->gw + c->width - 1) / c->width, tv = most / c->cout_g;
  uint64_t ntv = (pv + tv - 1) / tv;
  tv = (pv + ntv - 1) / ntv;
  c->tc = (unsigned)(tv * c->width);
  uint64_t tr = most / (tv * c->cout_g);
  if (tr > c->gh) tr = c->gh;
  uint64_t ntr = (c->gh + tr - 1) / tr;
  c->tr = (unsigned)((c->gh + ntr - 1) / ntr);
}

static void conv_geometry(conv_ctx *c) {
  const conv_shape *s = c->s;
  c->cin_g = s->ci / s->groups;
  c->cout_g = s->co / s->groups;
  c->ho = (s->h + 2 * s->pad - s->k) / s->stride + 1;
  c->wo = (s->w + 2 * s->pad - s->k) / s->stride + 1;
  c->stride = s->stride;
  c->kidx = c->cin_g * s->k * s->k;
  c->narrow = s->stride == 1 && c->cout_g <= c->width / 4;
  c->cpad = c->narrow ? c->cout_g : (c->cout_g + c->width - 1) / c->width * c->width;
  c->xh = s->h + 2 * s->pad;
  c->xw = s->w + 2 * s->pad;
  c->gh = c->ho;
  c->gw = c->wo;
  if (s->k == 1 && s->stride == 1 && s->pad == 0) {
    c->gh = 1;
    c->gw = c->xw = s->h * s->w;
    c->xh = 1;
  }
  unsigned regs = c->width == 16 ? 32 : 16;
  if (c->narrow)
    conv_narrow_shape(c, regs);
  else
    conv_tile_shape(c, regs);
  c->pw = c->narrow ? c->cout_g : (uint64_t)c->nv * c->width;
}

/* ---- packed constants ------------------------------------------------------ */

/* Per group, per panel of pw channels (the last one narrower):
 * [k-index][panel width], zero-padded to cpad channels. */
static int conv_pack(conv_ctx *c, char *err, size_t errlen) {
  const conv_shape *s = c->s;
  const uint64_t pw = c->pw, per = c->kidx * c->cpad;
  uint64_t n;
  if (__builtin_mul_overflow(per, s->groups, &n) || n > SIZE_MAX / sizeof(float)) {
    snprintf(err, errlen, "conv2d '%s' is too large", s->name);
    return -1;
  }
  float *p = xcalloc_array((size_t)n, sizeof *p);
  if (!p) {
    snprintf(err, errlen, "out of memory packing the weight of '%s'", s->name);
    return -1;
  }
  for (uint64_t g = 0; g < s->groups; g++)
    for (uint64_t o = 0; o < c->cout_g; o++) {
      uint64_t panel = o / pw, width = panel == c->cout_g / pw ? c->cpad - panel * pw : pw;
      float *dst = p + g * per + panel * pw * c->kidx + o % pw;
      const float *src = s->w_data + (g * c->cout_g + o) * c->kidx;
      for (uint64_t k = 0; k < c->kidx; k++) dst[k * width] = src[k];
    }
  c->w = gemm_global(&c->g, s->name, "packed", p, n, err, errlen);
  free(p);
  if (!c->w) return -1;
  c->bias = NULL;
  if (s->bias) c->bias = gemm_global(&c->g, s->name, "bias", s->bias, s->co, err, errlen);
  return s->bias && !c->bias ? -1 : 0;
}

/* ---- the padded copy ------------------------------------------------------ */

static LLVMValueRef conv_intrinsic(conv_ctx *c, const char *name, LLVMTypeRef *types, unsigned n,
                                   LLVMTypeRef *fn_type) {
  unsigned id = LLVMLookupIntrinsicID(name, strlen(name));
  *fn_type = LLVMIntrinsicGetType(c->e->ctx, id, types, n);
  return LLVMGetIntrinsicDeclaration(c->e->mod, id, types, n);
}

/* llvm.memcpy(dst, src, bytes), or llvm.memset(dst, 0, bytes) when src is
 * NULL. */
static void conv_mem(conv_ctx *c, LLVMValueRef dst, LLVMValueRef src, uint64_t bytes) {
  LLVMContextRef ctx = c->e->ctx;
  LLVMTypeRef ptr = LLVMTypeOf(dst), ft;
  LLVMTypeRef types[3] = {ptr, src ? ptr : c->i64, c->i64};
  LLVMValueRef fn = src ? conv_intrinsic(c, "llvm.memcpy", types, 3, &ft)
                        : conv_intrinsic(c, "llvm.memset", types, 2, &ft);
  LLVMValueRef a[4] = {dst, src ? src : LLVMConstInt(LLVMInt8TypeInContext(ctx), 0, 0),
                       conv_i64(c, bytes), LLVMConstInt(LLVMInt1TypeInContext(ctx), 0, 0)};
  LLVMBuildCall2(c->e->b, ft, fn, a, 4, "");
}

/* Copy sample n's input into the interior of the padded buffer, whose
 * border conv_emit zeroed once. */
static void conv_copy_padded(conv_ctx *c, LLVMValueRef n) {
  const conv_shape *s = c->s;
  gemm_loop lc, lr;
  LLVMValueRef ch = conv_loop_begin(c, &lc, s->ci, "ci");
  LLVMValueRef r = conv_loop_begin(c, &lr, s->h, "r");
  LLVMValueRef plane = conv_add(c, conv_mul(c, n, s->ci), ch);
  LLVMValueRef src = conv_mul(c, conv_add(c, conv_mul(c, plane, s->h), r), s->w);
  LLVMValueRef dst = conv_add(c, conv_mul(c, ch, c->xh * c->xw), conv_mul(c, r, c->xw));
  dst = conv_add(c, dst, conv_i64(c, s->pad * c->xw + s->pad));
  conv_mem(c, conv_elem(c, c->scratch, dst), conv_elem(c, c->x, src), s->w * sizeof(float));
  conv_loop_end(c, &lr, s->h);
  conv_loop_end(c, &lc, s->ci);
}

/* ---- one tile -------------------------------------------------------------- */

/* A loop over [0, n) whose body updates the accumulators acc[0..count-1]
 * (phis replace them inside); none when n <= 1, the body then inline with
 * index 0. */
static LLVMValueRef conv_acc_begin(conv_ctx *c, gemm_loop *l, uint64_t n, const char *name,
                                   LLVMValueRef *acc, LLVMValueRef *phi, unsigned count) {
  if (n <= 1) return conv_i64(c, 0);
  LLVMBasicBlockRef pre = LLVMGetInsertBlock(c->e->b);
  LLVMValueRef iv = gemm_loop_begin(&c->g, l, conv_i64(c, 0), conv_i64(c, n), name);
  for (unsigned j = 0; j < count; j++) {
    phi[j] = LLVMBuildPhi(c->e->b, c->vt, "acc");
    LLVMAddIncoming(phi[j], &acc[j], &pre, 1);
    acc[j] = phi[j];
  }
  return iv;
}

static void conv_acc_end(conv_ctx *c, gemm_loop *l, uint64_t n, LLVMValueRef *acc,
                         LLVMValueRef *phi, unsigned count) {
  if (n <= 1) return;
  LLVMBasicBlockRef latch = LLVMGetInsertBlock(c->e->b);
  for (unsigned j = 0; j < count; j++) LLVMAddIncoming(phi[j], &acc[j], &latch, 1);
  gemm_loop_end(&c->g, l);
}

/* Mark the loop whose latch branch is br as not to be unrolled.  Unrolled
 * over kw, LLVM merges the equal loads of neighbouring taps (pixel i at
 * kw + 1 reads what pixel i + 1 reads at kw), keeps them all live across
 * the taps and spills the accumulators. */
static void conv_keep_rolled(conv_ctx *c, LLVMValueRef br) {
  LLVMContextRef ctx = c->e->ctx;
  LLVMMetadataRef self = LLVMTemporaryMDNode(ctx, NULL, 0);
  LLVMMetadataRef opt = LLVMMDStringInContext2(ctx, "llvm.loop.unroll.disable", 24);
  LLVMMetadataRef ops[2] = {self, LLVMMDNodeInContext2(ctx, &opt, 1)};
  LLVMMetadataRef id = LLVMMDNodeInContext2(ctx, ops, 2);
  LLVMMetadataReplaceAllUsesWith(self, id);
  LLVMSetMetadata(br, LLVMGetMDKindIDInContext(ctx, "llvm.loop", 9), LLVMMetadataAsValue(ctx, id));
}

/* One k-index: the panel's nv weight vectors at wk, each pixel's input
 * (at xk plus its constant offset) broadcast into them. */
static void conv_tap(conv_ctx *c, LLVMValueRef xk, LLVMValueRef wk, unsigned nv, unsigned trr,
                     unsigned tcc, LLVMValueRef *acc) {
  LLVMBuilderRef b = c->e->b;
  LLVMValueRef wv[CONV_MAX_VECS];
  for (unsigned v = 0; v < nv; v++) {
    wv[v] = LLVMBuildLoad2(b, c->vt, conv_elem(c, wk, conv_i64(c, (uint64_t)v * c->width)), "w");
    LLVMSetAlignment(wv[v], c->width * sizeof(float));
  }
  for (unsigned i = 0; i < trr * tcc; i++) {
    uint64_t off = ((uint64_t)(i / tcc) * c->xw + i % tcc) * c->stride;
    LLVMValueRef xs = LLVMBuildLoad2(b, c->f32, conv_elem(c, xk, conv_i64(c, off)), "x");
    LLVMSetAlignment(xs, 4);
    LLVMValueRef xb = gemm_splat(&c->g, xs, c->width);
    for (unsigned v = 0; v < nv; v++) acc[i * nv + v] = gemm_fma(&c->g, xb, wv[v], acc[i * nv + v]);
  }
}

/* Vectors of a narrow tile row of tcc pixels, and the real pixels in the
 * last. */
static unsigned conv_row_vectors(const conv_ctx *c, unsigned tcc, unsigned *tail) {
  unsigned nvec = (tcc + c->width - 1) / c->width;
  *tail = tcc - (nvec - 1) * c->width;
  return nvec;
}

/* One k-index of a narrow tile: each channel's weight at wk broadcast,
 * each row's vectors of consecutive pixels loaded from xk on (stride 1;
 * only real pixels read), acc[(r * nvec + v) * cout_g + o]. */
static void conv_tap_narrow(conv_ctx *c, LLVMValueRef xk, LLVMValueRef wk, unsigned trr,
                            unsigned tcc, LLVMValueRef *acc) {
  LLVMBuilderRef b = c->e->b;
  const unsigned nch = (unsigned)c->cout_g;
  unsigned tail, nvec = conv_row_vectors(c, tcc, &tail);
  LLVMValueRef wb[CONV_MAX_VECS], mask = gemm_mask(&c->g, c->width, tail);
  for (unsigned o = 0; o < nch; o++) {
    LLVMValueRef ws = LLVMBuildLoad2(b, c->f32, conv_elem(c, wk, conv_i64(c, o)), "w");
    LLVMSetAlignment(ws, 4);
    wb[o] = gemm_splat(&c->g, ws, c->width);
  }
  for (unsigned r = 0; r < trr; r++)
    for (unsigned v = 0; v < nvec; v++) {
      LLVMValueRef at = conv_elem(c, xk, conv_i64(c, r * c->xw + (uint64_t)v * c->width));
      LLVMValueRef xv = gemm_load(&c->g, at, c->width, v + 1 == nvec ? mask : NULL);
      for (unsigned o = 0; o < nch; o++) {
        unsigned j = (r * nvec + v) * nch + o;
        acc[j] = gemm_fma(&c->g, xv, wb[o], acc[j]);
      }
    }
}

/* The tile's fma chains from 0 over the k-indices in the order (ci, kh,
 * kw), three nested loops: acc[i * nvp + v] for pixel i = (i / tcc,
 * i % tcc) and channel vector v (wide), or as conv_tap_narrow lays them
 * out. */
static void conv_accumulate(conv_ctx *c, const conv_pos *p, unsigned trr, unsigned tcc,
                            LLVMValueRef *acc) {
  unsigned tail, count = c->narrow ? trr * conv_row_vectors(c, tcc, &tail) * (unsigned)c->cout_g
                                   : trr * tcc * p->nvp;
  const uint64_t k = c->s->k;
  LLVMValueRef phi[3][CONV_MAX_PIXELS * CONV_MAX_VECS];
  for (unsigned j = 0; j < count; j++) acc[j] = LLVMConstNull(c->vt);
  /* the tile's first input element; pixel i reads at a constant offset */
  LLVMValueRef base =
      conv_add(c, conv_mul(c, p->oh, c->stride * c->xw), conv_mul(c, p->ow, c->stride));
  LLVMValueRef xt = conv_elem(c, p->xs, conv_add(c, p->xg, base));
  gemm_loop lc, lh, lw;
  LLVMValueRef ci = conv_acc_begin(c, &lc, c->cin_g, "ci", acc, phi[0], count);
  LLVMValueRef kh = conv_acc_begin(c, &lh, k, "kh", acc, phi[1], count);
  LLVMValueRef kw = conv_acc_begin(c, &lw, k, "kw", acc, phi[2], count);
  LLVMValueRef row = conv_add(c, conv_mul(c, ci, c->xh * c->xw), conv_mul(c, kh, c->xw));
  LLVMValueRef tap = conv_add(c, conv_mul(c, conv_add(c, conv_mul(c, ci, k), kh), k), kw);
  LLVMValueRef xk = conv_elem(c, xt, conv_add(c, row, kw));
  LLVMValueRef wk = conv_elem(c, p->wp, conv_mul(c, tap, p->wrow));
  if (c->narrow)
    conv_tap_narrow(c, xk, wk, trr, tcc, acc);
  else
    conv_tap(c, xk, wk, p->nvp, trr, tcc, acc);
  LLVMBasicBlockRef latch = LLVMGetInsertBlock(c->e->b);
  conv_acc_end(c, &lw, k, acc, phi[2], count);
  if (k > 1) conv_keep_rolled(c, LLVMGetBasicBlockTerminator(latch));
  conv_acc_end(c, &lh, k, acc, phi[1], count);
  conv_acc_end(c, &lc, c->cin_g, acc, phi[0], count);
}

/* v[0..width-1] (width lanes each) transposed in place, v[i][l] becoming
 * v[l][i]: log2(width) rounds, round b exchanging the off-diagonal b x b
 * blocks of each pair v[i], v[i + b]. */
static void conv_transpose(conv_ctx *c, LLVMValueRef *v) {
  const unsigned n = c->width;
  LLVMTypeRef i32 = LLVMInt32TypeInContext(c->e->ctx);
  for (unsigned b = n / 2; b >= 1; b /= 2) {
    LLVMValueRef lo[16], hi[16];
    for (unsigned l = 0; l < n; l++) {
      lo[l] = LLVMConstInt(i32, l & b ? n + l - b : l, 0);
      hi[l] = LLVMConstInt(i32, l & b ? n + l : l + b, 0);
    }
    LLVMValueRef mlo = LLVMConstVector(lo, n), mhi = LLVMConstVector(hi, n);
    for (unsigned i = 0; i < n; i++) {
      if (i & b) continue;
      LLVMValueRef a = v[i], d = v[i + b];
      v[i] = LLVMBuildShuffleVector(c->e->b, a, d, mlo, "");
      v[i + b] = LLVMBuildShuffleVector(c->e->b, a, d, mhi, "");
    }
  }
}

/* Lanes first .. first + len - 1 of the concatenation of chunks t[0..]
 * (width lanes each, len <= width) as lanes 0 .. len - 1 of a vector; the
 * others undefined. */
static LLVMValueRef conv_lanes(conv_ctx *c, LLVMValueRef *t, unsigned nchunks, unsigned first,
                               unsigned len) {
  const unsigned n = c->width, ca = first / n;
  LLVMTypeRef i32 = LLVMInt32TypeInContext(c->e->ctx);
  LLVMValueRef idx[16];
  for (unsigned j = 0; j < n; j++)
    idx[j] = j < len ? LLVMConstInt(i32, first + j - ca * n, 0) : LLVMGetUndef(i32);
  LLVMValueRef second = ca + 1 < nchunks ? t[ca + 1] : LLVMGetPoison(c->vt);
  return LLVMBuildShuffleVector(c->e->b, t[ca], second, LLVMConstVector(idx, n), "");
}

/* Bias, epilogue and store of one output channel's row segment. */
static void conv_finish(conv_ctx *c, const conv_pos *p, LLVMValueRef val, LLVMValueRef chan,
                        LLVMValueRef pixel, unsigned len) {
  conv_emitter *e = c->e;
  LLVMValueRef mask = gemm_mask(&c->g, c->width, len);
  if (c->bias) {
    LLVMValueRef bv = LLVMBuildLoad2(e->b, c->f32, conv_elem(c, c->bias, chan), "b");
    LLVMSetAlignment(bv, 4);
    val = LLVMBuildFAdd(e->b, val, gemm_splat(&c->g, bv, c->width), "");
  }
  if (e->epilogue) val = e->epilogue(e->user, val, p->n, chan, pixel, mask);
  LLVMValueRef plane = conv_add(c, conv_mul(c, p->n, c->s->co), chan);
  LLVMValueRef at = conv_add(c, conv_mul(c, plane, c->ho * c->wo), pixel);
  gemm_store(&c->g, val, conv_elem(c, c->y, at), mask);
}

/* The tile's accumulators [pixel][channel vector] transposed per chunk of
 * `width` pixels to [channel][pixel], then stored a channel and an output
 * row at a time. */
static void conv_store(conv_ctx *c, const conv_pos *p, unsigned trr, unsigned tcc,
                       LLVMValueRef *acc) {
  const unsigned n = c->width, mr = trr * tcc, nchunks = (mr + n - 1) / n;
  LLVMValueRef t[CONV_MAX_PIXELS / 4][16];
  for (unsigned v = 0; v < p->nvp; v++) {
    for (unsigned ch = 0; ch < nchunks; ch++) {
      for (unsigned l = 0; l < n; l++) {
        unsigned i = ch * n + l;
        t[ch][l] = i < mr ? acc[i * p->nvp + v] : LLVMGetPoison(c->vt);
      }
      conv_transpose(c, t[ch]);
    }
    unsigned chans = v + 1 == p->nvp ? p->valid : n;
    for (unsigned l = 0; l < chans; l++) {
      LLVMValueRef chan = conv_add(c, conv_add(c, p->yg, p->col), conv_i64(c, (uint64_t)v * n + l));
      for (unsigned r = 0; r < trr; r++) {
        LLVMValueRef row[CONV_MAX_PIXELS / 4];
        for (unsigned ch = 0; ch < nchunks; ch++) row[ch] = t[ch][l];
        LLVMValueRef val = conv_lanes(c, row, nchunks, r * tcc, tcc);
        LLVMValueRef pixel =
            conv_add(c, conv_mul(c, conv_add(c, p->oh, conv_i64(c, r)), c->gw), p->ow);
        conv_finish(c, p, val, chan, pixel, tcc);
      }
    }
  }
}

/* A narrow tile's accumulators are rows of output pixels already: each
 * is stored as it is. */
static void conv_store_narrow(conv_ctx *c, const conv_pos *p, unsigned trr, unsigned tcc,
                              LLVMValueRef *acc) {
  const unsigned nch = (unsigned)c->cout_g;
  unsigned tail, nvec = conv_row_vectors(c, tcc, &tail);
  for (unsigned r = 0; r < trr; r++) {
    LLVMValueRef row = conv_add(c, conv_mul(c, conv_add(c, p->oh, conv_i64(c, r)), c->gw), p->ow);
    for (unsigned v = 0; v < nvec; v++) {
      LLVMValueRef pixel = conv_add(c, row, conv_i64(c, (uint64_t)v * c->width));
      for (unsigned o = 0; o < nch; o++)
        conv_finish(c, p, acc[(r * nvec + v) * nch + o], conv_add(c, p->yg, conv_i64(c, o)), pixel,
                    v + 1 == nvec ? tail : c->width);
    }
  }
}

static void conv_tile(conv_ctx *c, const conv_pos *p, unsigned trr, unsigned tcc) {
  LLVMValueRef acc[CONV_MAX_PIXELS * CONV_MAX_VECS];
  conv_accumulate(c, p, trr, tcc, acc);
  if (c->narrow)
    conv_store_narrow(c, p, trr, tcc, acc);
  else
    conv_store(c, p, trr, tcc, acc);
}

/* ---- loops over tiles, panels, groups and samples -------------------------- */

/* Every tile of the grid for one panel: whole tiles, then the shorter last
 * row of tiles and the narrower last column. */
static void conv_tiles(conv_ctx *c, conv_pos *p) {
  const uint64_t nr = c->gh / c->tr, rr = c->gh % c->tr, nc = c->gw / c->tc, rc = c->gw % c->tc;
  for (int rl = 0; rl < 2; rl++) {
    if (rl ? rr == 0 : nr == 0) continue;
    gemm_loop lr, lc;
    LLVMValueRef rt = rl ? conv_i64(c, nr) : conv_loop_begin(c, &lr, nr, "rt");
    p->oh = conv_mul(c, rt, c->tr);
    for (int cl = 0; cl < 2; cl++) {
      if (cl ? rc == 0 : nc == 0) continue;
      LLVMValueRef ct = cl ? conv_i64(c, nc) : conv_loop_begin(c, &lc, nc, "ct");
      p->ow = conv_mul(c, ct, c->tc);
      conv_tile(c, p, rl ? (unsigned)rr : c->tr, cl ? (unsigned)rc : c->tc);
      if (!cl) conv_loop_end(c, &lc, nc);
    }
    if (!rl) conv_loop_end(c, &lr, nr);
  }
}

/* Every panel of one group, whose packed weight starts at wg. */
static void conv_panels(conv_ctx *c, conv_pos *p, LLVMValueRef wg) {
  const uint64_t pw = c->pw, full = c->cout_g / pw, rem = c->cout_g % pw;
  for (int last = 0; last < 2; last++) {
    if (last ? rem == 0 : full == 0) continue;
    p->nvp = last ? (unsigned)((rem + c->width - 1) / c->width) : c->nv;
    p->valid = last && rem % c->width ? (unsigned)(rem % c->width) : c->width;
    p->wrow = c->narrow ? pw : (uint64_t)p->nvp * c->width;
    gemm_loop l;
    LLVMValueRef panel = last ? conv_i64(c, full) : conv_loop_begin(c, &l, full, "panel");
    p->col = conv_mul(c, panel, pw);
    p->wp = conv_elem(c, wg, conv_mul(c, p->col, c->kidx));
    conv_tiles(c, p);
    if (!last) conv_loop_end(c, &l, full);
  }
}

static void conv_ctx_init(conv_ctx *c, conv_emitter *e, const conv_shape *s) {
  memset(c, 0, sizeof *c);
  c->e = e;
  c->s = s;
  c->width = e->width == 16 || e->width == 8 ? e->width : 4;
  gemm_emitter g = {e->ctx, e->mod, e->b, e->fn, c->width, NULL, NULL};
  c->g = g;
  c->f32 = LLVMFloatTypeInContext(e->ctx);
  c->i64 = LLVMInt64TypeInContext(e->ctx);
  c->vt = LLVMVectorType(c->f32, c->width);
}

int conv_pack_weights(conv_emitter *e, const conv_shape *s, LLVMValueRef *w, LLVMValueRef *bias,
                      char *err, size_t errlen) {
  if (conv_check(s, err, errlen) != 0) return -1;
  conv_ctx c;
  conv_ctx_init(&c, e, s);
  conv_geometry(&c);
  if (conv_pack(&c, err, errlen) != 0) return -1;
  *w = c.w;
  *bias = c.bias;
  return 0;
}

int conv_emit_packed(conv_emitter *e, const conv_shape *s, LLVMValueRef x, LLVMValueRef y,
                     LLVMValueRef scratch, LLVMValueRef w, LLVMValueRef bias, char *err,
                     size_t errlen) {
  if (conv_check(s, err, errlen) != 0) return -1;
  conv_ctx c;
  conv_ctx_init(&c, e, s);
  c.x = x;
  c.y = y;
  c.scratch = scratch;
  conv_geometry(&c);
  c.w = w;
  c.bias = s->bias ? bias : NULL;
  if (s->rows == 0) return 0;
  if (s->pad) conv_mem(&c, scratch, NULL, conv_scratch_floats(s) * sizeof(float));
  gemm_loop ln, lg;
  conv_pos p;
  p.n = conv_loop_begin(&c, &ln, s->rows, "n");
  if (s->pad) {
    conv_copy_padded(&c, p.n);
    p.xs = scratch;
  } else {
    p.xs = conv_elem(&c, x, conv_mul(&c, p.n, s->ci * s->h * s->w));
  }
  LLVMValueRef g = conv_loop_begin(&c, &lg, s->groups, "g");
  p.xg = conv_mul(&c, g, c.cin_g * c.xh * c.xw);
  p.yg = conv_mul(&c, g, c.cout_g);
  conv_panels(&c, &p, conv_elem(&c, c.w, conv_mul(&c, g, c.kidx * c.cpad)));
  conv_loop_end(&c, &lg, s->groups);
  conv_loop_end(&c, &ln, s->rows);
  return 0;
}

int conv_emit(conv_emitter *e, const conv_shape *s, LLVMValueRef x, LLVMValueRef y,
              LLVMValueRef scratch, char *err, size_t errlen) {
  LLVMValueRef w, bias;
  if (conv_pack_weights(e, s, &w, &bias, err, errlen) != 0) return -1;
  return conv_emit_packed(e, s, x, y, scratch, w, bias, err, errlen);
}
