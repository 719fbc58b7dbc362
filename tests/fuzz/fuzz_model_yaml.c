/* fuzz_model_yaml.c - libFuzzer target: the model YAML front end (what
 * `pmmc check MODEL.yaml` runs) on arbitrary text. */
#include <stddef.h>
#include <stdint.h>

#include "compiler/front/spec.h"
#include "tests/fuzz/fuzz_util.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerInitialize(int *argc, char ***argv) {
  (void)argc, (void)argv;
  fuzz_enter_tmpdir();
  return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  fuzz_write("model.yaml", data, size);
  model_spec spec;
  diag_list dl;
  diag_list_init(&dl);
  if (spec_load("model.yaml", &spec, &dl) == 0) spec_free(&spec);
  diag_list_free(&dl);
  return 0;
}
