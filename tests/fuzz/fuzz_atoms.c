/* fuzz_atoms.c - libFuzzer target: a text atoms file (one sequence a line,
 * TAB, a weight) read through a fixed dirichlet-categorical model, as
 * models/words50 reads words.txt. */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "tests/fuzz/fuzz_util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char model[] =
    "name: atoms\n"
    "pair: dirichlet-categorical\n"
    "data: {shape: [8], vocab: \"_abcdefghijklmnopqrstuvwxyz\", padding: true}\n"
    "prior: {concentration: 0.5, smoothing: 0.0}\n"
    "schedule: {kind: geometric, steps: 10, start: 0.001, end: 1000}\n"
    "sampler: {kind: pmm, output: posterior-mean}\n"
    "network: {kind: exact, atoms: atoms.txt}\n";

void fuzz_setup(void) { fuzz_write("model.yaml", (const uint8_t *)model, strlen(model)); }

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  fuzz_write("atoms.txt", data, size);
  fuzz_check_model("model.yaml");
  return 0;
}
