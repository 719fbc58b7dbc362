/*
 * fuzz_util.h - what the libFuzzer targets share: each input is written to a
 * file in the target's private directory (the readers under test take
 * paths, as pmmc does), and the process works inside that directory, so a
 * fuzzed path can only ever name a file there.
 */
#ifndef PMMC_FUZZ_UTIL_H
#define PMMC_FUZZ_UTIL_H

#include <stddef.h>
#include <stdint.h>

/* fuzz_util.c defines LLVMFuzzerInitialize: it makes the private directory,
 * moves into it, then calls the target's fuzz_setup if it defines one. */
void fuzz_setup(void) __attribute__((weak));

/* Load the model at path as `pmmc check` does, and free what it built. */
void fuzz_check_model(const char *path);

/* Write data to `name` in the private directory, replacing it. */
void fuzz_write(const char *name, const uint8_t *data, size_t size);

#endif
