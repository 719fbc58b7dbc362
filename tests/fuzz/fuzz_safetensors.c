/* fuzz_safetensors.c - libFuzzer target: the safetensors reader. */
#include <stddef.h>
#include <stdint.h>

#include "compiler/front/weights.h"
#include "tests/fuzz/fuzz_util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  fuzz_write("w.safetensors", data, size);
  weight_set ws;
  char err[512];
  weight_set_init(&ws);
  weights_load_safetensors("w.safetensors", &ws, err, sizeof err);
  weight_set_free(&ws);
  return 0;
}
