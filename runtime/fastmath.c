/*
 * fastmath.c - pmm_exp_f32 (pmmrt.h): the exported form of the inline
 * exponential in fastmath.h, for callers outside the runtime and tests.
 */
#include "runtime/fastmath.h"

#include "runtime/pmmrt.h"

float pmm_exp_f32(float x) { return pmm_fastmath_exp(x); }
