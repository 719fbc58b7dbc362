/* fuzz_npy.c - libFuzzer target: the runtime's .npy reader (pmmc predict's
 * inputs). */
#include <stddef.h>
#include <stdint.h>

#include "runtime/pmmrt.h"
#include "tests/fuzz/fuzz_util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  fuzz_write("x.npy", data, size);
  pmm_array a;
  char err[512];
  if (pmm_npy_read("x.npy", &a, err, sizeof err) == PMM_OK) pmm_array_free(&a);
  return 0;
}
