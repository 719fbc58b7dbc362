/*
 * fuzz_util.c - fuzz_util.h.  Failures here are the harness's, not the
 * code's under test: they abort, which libFuzzer reports loudly.
 */
#define _POSIX_C_SOURCE 200809L
#include "tests/fuzz/fuzz_util.h"

#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

void fuzz_enter_tmpdir(void) {
  const char *base = getenv("TMPDIR");
  char dir[4096];
  snprintf(dir, sizeof dir, "%s/pmmc-fuzz-XXXXXX", base && *base ? base : "/tmp");
  if (!mkdtemp(dir) || chdir(dir) != 0) {
    perror("fuzz: private directory");
    abort();
  }
}

void fuzz_write(const char *name, const uint8_t *data, size_t size) {
  FILE *f = fopen(name, "wb");
  if (!f || (size && fwrite(data, 1, size, f) != size) || fclose(f) != 0) {
    perror(name);
    abort();
  }
}
