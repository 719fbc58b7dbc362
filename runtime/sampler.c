/*
 * sampler.c - pmm_sampler_generate, the sampler executable's entry to the
 * sample loop (generate.c).  OpenBLAS is limited to one thread here so that
 * it does not oversubscribe the cores the workers occupy; embedded models
 * never come here, since a library must not change a process-wide setting
 * behind its host program's back.
 */
#include <cblas.h>

#include "runtime/pmmrt.h"

pmm_status pmm_sampler_generate(const pmm_model_desc *desc, uint64_t seed, uint64_t first_index,
                                uint64_t count, unsigned threads, float *out, char *err,
                                size_t errlen) {
  openblas_set_num_threads(1);
  return pmm_generate(desc, seed, first_index, count, threads, NULL, out, err, errlen);
}
