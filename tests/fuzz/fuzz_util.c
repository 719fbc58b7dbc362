/*
 * fuzz_util.c - fuzz_util.h.  Failures here are the harness's, not the
 * code's under test: they abort, which libFuzzer reports loudly.
 */
#define _POSIX_C_SOURCE 200809L
#include "tests/fuzz/fuzz_util.h"

#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "compiler/front/spec.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);

int LLVMFuzzerInitialize(int *argc, char ***argv) {
  (void)argc, (void)argv;
  const char *base = getenv("TMPDIR");
  char dir[4096];
  snprintf(dir, sizeof dir, "%s/pmmc-fuzz-XXXXXX", base && *base ? base : "/tmp");
  if (!mkdtemp(dir) || chdir(dir) != 0) {
    perror("fuzz: private directory");
    abort();
  }
  if (fuzz_setup) fuzz_setup();
  return 0;
}

void fuzz_check_model(const char *path) {
  model_spec spec;
  diag_list dl;
  diag_list_init(&dl);
  if (spec_load(path, &spec, &dl) == 0) spec_free(&spec);
  diag_list_free(&dl);
}

void fuzz_write(const char *name, const uint8_t *data, size_t size) {
  FILE *f = fopen(name, "wb");
  if (!f || (size && fwrite(data, 1, size, f) != size) || fclose(f) != 0) {
    perror(name);
    abort();
  }
}
