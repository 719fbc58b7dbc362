/* fuzz_model_yaml.c - libFuzzer target: the model YAML front end (what
 * `pmmc check MODEL.yaml` runs) on arbitrary text. */
#include <stddef.h>
#include <stdint.h>

#include "tests/fuzz/fuzz_util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  fuzz_write("model.yaml", data, size);
  fuzz_check_model("model.yaml");
  return 0;
}
