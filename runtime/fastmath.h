/*
 * fastmath.h - private to the runtime and the code generator: the
 * single-precision exponential that activations use, as an inline function
 * the compiler can vectorise, and its constants.
 *
 *     float e = pmm_fastmath_exp(x);       // inside the runtime
 *     float e = pmm_exp_f32(x);            // anywhere (pmmrt.h)
 *
 * The operation sequence is a contract: compiler/codegen/codegen.c
 * (cg_exp) emits the same float operations on the same constants in the
 * same order, without contraction, so compiled and interpreted activations
 * agree bit for bit.  Change both or neither.
 *
 *   1. clamp x to [PMM_EXP_LO, PMM_EXP_HI] with two selects that keep NaN
 *      (x > hi ? hi : x, then x < lo ? lo : x);
 *   2. k = x * log2(e) + 1.5 * 2^23: the float sum rounds x / ln 2 to the
 *      nearest integer n (ties to even), held in k's low mantissa bits;
 *      n = k - 1.5 * 2^23 exactly;
 *   3. r = (x - n ln2_hi) - n ln2_lo (Cody-Waite: ln2_hi has 16 significant
 *      bits, so n ln2_hi is exact for |n| <= 150), |r| <= ~ln 2 / 2;
 *   4. p = (((c6 r + c5) r + c4) r + c3) r + c2, e^r ~ ((r * r) p + r) + 1
 *      (degree 6; the coefficients are a weighted least-squares fit of
 *      e^r on [-ln 2 / 2, ln 2 / 2] at Chebyshev nodes, rounded to float;
 *      the polynomial alone is within 0.04 ulp of e^r);
 *   5. 2^n as two factors 2^n1 2^n2 built from exponent bits, with
 *      n1 = floor((n + 256) / 2) - 128 and n2 = n - n1 in 32-bit unsigned
 *      arithmetic, and the result (e^r 2^n1) 2^n2: e^r 2^n1 is exact, so
 *      the one rounding of the last product gives correct overflow to inf
 *      above ln(FLT_MAX) and gradual underflow to subnormals and 0.
 *
 * The clamp keeps n in [-150, 129] so both factors are normal floats:
 * exp(89) is already inf and exp(-104) already rounds to 0, so clamping
 * changes no result.  NaN passes the clamp and the polynomial keeps it NaN.
 * Accuracy: at most 1 ulp from glibc's expf over every float in [-104, 89]
 * (measured exhaustively, 99.2% of them identical); outside that range both
 * give inf or 0.  tests/runtime/test_fastmath.c checks the 1-ulp bound on
 * a strided sweep of every binade and the special values.
 */
#ifndef PMM_FASTMATH_H
#define PMM_FASTMATH_H

#include <stdint.h>
#include <string.h>

#define PMM_EXP_HI 89.0f
#define PMM_EXP_LO (-104.0f)
#define PMM_EXP_LOG2E 0x1.715476p+0f /* 1 / ln 2 rounded to float */
#define PMM_EXP_SHIFT 0x1.8p+23f     /* 1.5 * 2^23: rounds to an integer */
#define PMM_EXP_SHIFT_BITS 0x4b400000u
#define PMM_EXP_LN2_HI 0x1.62e400p-1f  /* ln 2, 16 significant bits */
#define PMM_EXP_LN2_LO 0x1.7f7d1cp-20f /* ln 2 - PMM_EXP_LN2_HI */
#define PMM_EXP_C2 0x1.fffff8p-2f
#define PMM_EXP_C3 0x1.55548ep-3f
#define PMM_EXP_C4 0x1.555b58p-5f
#define PMM_EXP_C5 0x1.123b8ep-7f
#define PMM_EXP_C6 0x1.687c22p-10f

static inline uint32_t pmm_fastmath_bits(float x) {
  uint32_t u;
  memcpy(&u, &x, sizeof u);
  return u;
}

static inline float pmm_fastmath_float(uint32_t u) {
  float x;
  memcpy(&x, &u, sizeof x);
  return x;
}

static inline float pmm_fastmath_exp(float x) {
  x = x > PMM_EXP_HI ? PMM_EXP_HI : x;
  x = x < PMM_EXP_LO ? PMM_EXP_LO : x;
  float k = x * PMM_EXP_LOG2E;
  k = k + PMM_EXP_SHIFT;
  float n = k - PMM_EXP_SHIFT;
  float hi = n * PMM_EXP_LN2_HI, lo = n * PMM_EXP_LN2_LO;
  float r = x - hi;
  r = r - lo;
  float p = PMM_EXP_C6 * r;
  p = p + PMM_EXP_C5;
  p = p * r;
  p = p + PMM_EXP_C4;
  p = p * r;
  p = p + PMM_EXP_C3;
  p = p * r;
  p = p + PMM_EXP_C2;
  float r2 = r * r;
  p = r2 * p;
  p = p + r;
  p = p + 1.0f;
  uint32_t ni = pmm_fastmath_bits(k) - PMM_EXP_SHIFT_BITS;
  uint32_t n1 = ((ni + 256u) >> 1) - 128u, n2 = ni - n1;
  float s1 = pmm_fastmath_float((n1 + 127u) << 23), s2 = pmm_fastmath_float((n2 + 127u) << 23);
  return (p * s1) * s2;
}

#endif
