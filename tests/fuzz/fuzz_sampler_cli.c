/*
 * fuzz_sampler_cli.c - libFuzzer target: the sampler executable's command
 * line (pmm_sampler_main), on a tiny categorical model whose blocks are
 * cheap.  The input is split into arguments at NUL bytes.  Arguments that
 * contain '/' become "out" so that outputs stay in the private directory,
 * and the model fails after a budget of blocks so a huge -n ends quickly
 * (through the sampler's model-failure path, itself under test).
 */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "runtime/pmmrt.h"
#include "tests/fuzz/fuzz_util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

enum { MAX_ARGS = 64, BLOCK_BUDGET = 4096 };

static unsigned blocks_left;

static int run_block(void *user, const pmm_block *blk) {
  (void)user;
  if (blocks_left == 0) return 1;
  blocks_left--;
  for (int i = 0; i < 4 * 3; i++) blk->out[i] = (float)((blk->first_index + (uint64_t)i) % 4);
  return 0;
}

static const pmm_model_desc desc = {
    .abi = PMM_DESC_ABI,
    .name = "fuzz",
    .pair = "dirichlet-categorical",
    .sampler = "pmm",
    .output = "posterior-mean",
    .schedule = "linear, 1 step",
    .engine = "fuzz",
    .weight_hash = "",
    .vocab = "_ab\xc3\xa9",
    .steps = 1,
    .rank = 1,
    .shape = {3},
    .sample_elems = 3,
    .block_size = 4,
    .scratch_bytes = 64,
    .vocab_size = 4,
    .pad_symbol = 0,
    .range_lo = 0,
    .range_hi = 3,
    .run_block = run_block,
};

/* stdout is the sampler's default output: keep it away from the log */
void fuzz_setup(void) {
  if (!freopen("/dev/null", "w", stdout)) abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  char *buf = malloc(size + 1);
  if (!buf) return 0;
  memcpy(buf, data, size);
  buf[size] = '\0';
  char *argv[MAX_ARGS + 2] = {"fuzz"};
  int argc = 1;
  for (char *p = buf; p <= buf + size && argc <= MAX_ARGS; p += strlen(p) + 1)
    argv[argc++] = strchr(p, '/') ? "out" : p;
  argv[argc] = NULL;
  blocks_left = BLOCK_BUDGET;
  pmm_sampler_main(argc, argv, &desc);
  free(buf);
  return 0;
}
