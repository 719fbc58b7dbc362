/*
 * finite.c - the samplers' test for NaN and infinities (pmmrt.h,
 * "non-finite values"; docs/samplers.md says what is checked when).
 *
 * pmm_any_nonfinite runs on a few values every step, so it is a branch-free
 * OR over the exponent bits that compilers vectorise; pmm_check_finite runs
 * only after that test has failed, when the block is run again value by
 * value to find where the first non-finite value appeared.
 */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "runtime/pmmrt.h"

/* NaN and +-inf are exactly the floats whose exponent bits are all ones,
 * the floats for which adding 1 to the exponent field carries into the sign
 * bit: (bits & EXP) + EXP_LSB has bit 31 set for them alone.  One AND, one
 * add and one OR a float, which compilers vectorise. */
#define EXP 0x7f800000u
#define EXP_LSB 0x00800000u

int pmm_any_nonfinite(size_t n, const float *x) {
  uint32_t any = 0;
  for (size_t i = 0; i < n; i++) {
    uint32_t bits;
    memcpy(&bits, x + i, sizeof bits);
    any |= (bits & EXP) + EXP_LSB;
  }
  return (int)(any >> 31);
}

int pmm_check_finite(const pmm_block *blk, uint32_t t, uint32_t steps, const char *where, size_t n,
                     const float *x) {
  size_t i = 0;
  while (i < n && isfinite(x[i])) i++;
  if (i == n) return 0;
  if (blk->msg && blk->msg_len > 0) {
    const char *kind = isnan(x[i]) ? "nan" : x[i] > 0.0f ? "inf" : "-inf";
    size_t len = (size_t)blk->msg_len;
    if (t == 0)
      snprintf(blk->msg, len, "non-finite value (%s) in the init block in %s", kind, where);
    else if (t > steps)
      snprintf(blk->msg, len, "non-finite value (%s) in the final block in %s", kind, where);
    else
      snprintf(blk->msg, len, "non-finite value (%s) at step %u of %u in %s", kind, t, steps,
               where);
  }
  return PMM_RUN_NONFINITE;
}
