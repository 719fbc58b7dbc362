/*
 * test_fastmath.c - pmm_exp_f32 (runtime/fastmath.h): its documented
 * accuracy against libm's expf, its special values, and that the
 * activations built on it agree with the same formulas built on expf.
 *
 * Tolerances: pmm_exp_f32 is within 1 ulp of expf for every float in
 * [-104, 89] (fastmath.h; measured exhaustively when it was written).  This
 * test checks the bound on every 61st float of that range (about 37 million
 * values, every binade) plus every float with 1/4 <= |x| <= 1, where the
 * polynomial does most of the work.  Activations: SiLU and sigmoid are x / (1 + e) and
 * 1 / (1 + e); one ulp in e changes 1 + e by at most one ulp plus a rounding,
 * and the division adds one more, so 3 ulp against the expf formula.
 */
#include <check.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "runtime/pmmrt.h"
#include "tests/util/testutil.h"

static uint32_t bits(float x) {
  uint32_t u;
  memcpy(&u, &x, sizeof u);
  return u;
}

static float from_bits(uint32_t u) {
  float x;
  memcpy(&x, &u, sizeof x);
  return x;
}

/* Distance in ulps between two finite floats or equal infinities: their
 * places in the ordered sequence of floats. */
static int64_t ulp_distance(float a, float b) {
  uint32_t ua = bits(a), ub = bits(b);
  int64_t oa = ua & 0x80000000u ? -(int64_t)(ua & 0x7fffffffu) : (int64_t)ua;
  int64_t ob = ub & 0x80000000u ? -(int64_t)(ub & 0x7fffffffu) : (int64_t)ub;
  return oa > ob ? oa - ob : ob - oa;
}

typedef struct sweep_result {
  uint64_t count, exact;
  int64_t worst;
  float worst_x;
} sweep_result;

/* Compare with expf for the floats of one sign with bit patterns in
 * [from, to], every stride-th. */
static void sweep(uint32_t sign, uint32_t from, uint32_t to, uint32_t stride, sweep_result *r) {
  for (uint64_t u = from; u <= to; u += stride) {
    float x = from_bits((uint32_t)u | sign);
    float got = pmm_exp_f32(x), want = expf(x);
    int64_t d = ulp_distance(got, want);
    r->count++;
    r->exact += d == 0;
    if (d > r->worst) {
      r->worst = d;
      r->worst_x = x;
    }
  }
}

START_TEST(test_exp_accuracy) {
  sweep_result r = {0, 0, 0, 0.0f};
  sweep(0, 0, bits(89.0f), 61, &r);
  sweep(0x80000000u, 0, bits(104.0f), 61, &r);
  sweep(0, bits(0.25f), bits(1.0f), 1, &r);
  sweep(0x80000000u, bits(0.25f), bits(1.0f), 1, &r);
  printf("pmm_exp_f32 vs expf: %llu values, %.3f%% identical, max %lld ulp at %a\n",
         (unsigned long long)r.count, 100.0 * (double)r.exact / (double)r.count, (long long)r.worst,
         (double)r.worst_x);
  ck_assert_msg(r.worst <= 1, "max error %lld ulp at %a (pmm_exp_f32 %a, expf %a)",
                (long long)r.worst, (double)r.worst_x, (double)pmm_exp_f32(r.worst_x),
                (double)expf(r.worst_x));
  /* the sweep compares something: most values agree exactly, not all are 0 */
  ck_assert_uint_gt(r.exact, r.count * 9 / 10);
  ck_assert_uint_gt(r.count, 30000000u);
}
END_TEST

START_TEST(test_exp_special_values) {
  ck_assert(isnan(pmm_exp_f32(NAN)));
  ck_assert(isnan(pmm_exp_f32(-NAN)));
  ck_assert(isinf(pmm_exp_f32(INFINITY)) && pmm_exp_f32(INFINITY) > 0.0f);
  ck_assert_uint_eq(bits(pmm_exp_f32(-INFINITY)), bits(0.0f));
  ck_assert_uint_eq(bits(pmm_exp_f32(0.0f)), bits(1.0f));
  ck_assert_uint_eq(bits(pmm_exp_f32(-0.0f)), bits(1.0f));
  /* overflow: ln(FLT_MAX) = 88.7228391...; the float below stays finite */
  ck_assert(isinf(pmm_exp_f32(88.72284f)));
  ck_assert(isinf(pmm_exp_f32(1000.0f)));
  ck_assert(isinf(pmm_exp_f32(3.0e38f)));
  ck_assert(isfinite(pmm_exp_f32(88.72283f)));
  ck_assert_float_gt(pmm_exp_f32(88.72283f), 3.4e38f);
  /* gradual underflow: subnormal results, then 0 */
  float sub = pmm_exp_f32(-100.0f);
  ck_assert(sub > 0.0f && sub < 0x1p-126f);
  ck_assert_int_le(ulp_distance(sub, expf(-100.0f)), 1);
  ck_assert_uint_eq(bits(pmm_exp_f32(-104.0f)), bits(0.0f));
  ck_assert_uint_eq(bits(pmm_exp_f32(-1000.0f)), bits(0.0f));
  ck_assert_uint_eq(bits(pmm_exp_f32(-3.0e38f)), bits(0.0f));
  /* exact powers of two where e^x is one */
  ck_assert_int_le(ulp_distance(pmm_exp_f32(1.0f), 2.7182817f), 1);
  ck_assert_int_le(ulp_distance(pmm_exp_f32(logf(2.0f) * 10.0f), 1024.0f), 1);
}
END_TEST

static float silu_expf(float x) { return x / (1.0f + expf(-x)); }
static float sigmoid_expf(float x) { return 1.0f / (1.0f + expf(-x)); }

START_TEST(test_activations_use_it) {
  int64_t worst_silu = 0, worst_sig = 0;
  uint64_t n = 0;
  float xs[4096], ys[4096];
  /* x in [-90, 90] by 1/45.5, and the kernel loop against the scalar form */
  for (int i = 0; i < 4096; i++) xs[i] = -90.0f + (float)i * (180.0f / 4095.0f);
  pmm_kernel_act(PMM_ACT_SILU, 4096, xs, ys);
  for (int i = 0; i < 4096; i++) {
    float x = xs[i];
    ck_assert_uint_eq(bits(ys[i]), bits(pmm_act_eval(PMM_ACT_SILU, x)));
    ck_assert_uint_eq(bits(pmm_act_eval(PMM_ACT_SILU, x)), bits(x / (1.0f + pmm_exp_f32(-x))));
    ck_assert_uint_eq(bits(pmm_act_eval(PMM_ACT_SIGMOID, x)),
                      bits(1.0f / (1.0f + pmm_exp_f32(-x))));
    if (x <= 20.0f)
      ck_assert_uint_eq(bits(pmm_act_eval(PMM_ACT_SOFTPLUS, x)), bits(log1pf(pmm_exp_f32(x))));
    int64_t d = ulp_distance(pmm_act_eval(PMM_ACT_SILU, x), silu_expf(x));
    if (d > worst_silu) worst_silu = d;
    d = ulp_distance(pmm_act_eval(PMM_ACT_SIGMOID, x), sigmoid_expf(x));
    if (d > worst_sig) worst_sig = d;
    n++;
  }
  printf("silu, sigmoid vs expf formulas over %llu values: max %lld, %lld ulp\n",
         (unsigned long long)n, (long long)worst_silu, (long long)worst_sig);
  ck_assert_int_le(worst_silu, 3);
  ck_assert_int_le(worst_sig, 3);
  pmm_kernel_act(PMM_ACT_SIGMOID, 4096, xs, ys);
  for (int i = 0; i < 4096; i++)
    ck_assert_uint_eq(bits(ys[i]), bits(pmm_act_eval(PMM_ACT_SIGMOID, xs[i])));
  /* in place, and an odd length that leaves a scalar tail */
  memcpy(ys, xs, sizeof ys);
  pmm_kernel_act(PMM_ACT_SILU, 4093, ys, ys);
  for (int i = 0; i < 4093; i++)
    ck_assert_uint_eq(bits(ys[i]), bits(pmm_act_eval(PMM_ACT_SILU, xs[i])));
  ck_assert_uint_eq(bits(ys[4093]), bits(xs[4093]));
}
END_TEST

static Suite *fastmath_suite(void) {
  Suite *s = suite_create("fastmath");
  TCase *tc = tcase_create("exp");
  tcase_add_test(tc, test_exp_accuracy);
  tcase_add_test(tc, test_exp_special_values);
  tcase_add_test(tc, test_activations_use_it);
  suite_add_tcase(s, tc);
  return s;
}

int main(void) {
  SRunner *sr = srunner_create(fastmath_suite());
  srunner_run_all(sr, CK_NORMAL);
  int failed = srunner_ntests_failed(sr);
  srunner_free(sr);
  return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
