/*
 * embed_nonfinite.c - a library whose model overflows float32 while
 * sampling (nf_normal, written by test_embed.c: its layer 'big' reaches inf
 * at step 5; docs/samplers.md, "Non-finite values") answers
 * NF_NORMAL_ERR_MODEL from _sample and _sample_mt, never NF_NORMAL_OK.
 * Exits 0 when both do, else 1 after saying what it got.
 */
#include <stdio.h>
#include <stdlib.h>

#include "nf_normal.h"

enum { N = 100 };

int main(void) {
  char err[256];
  nf_normal_model *m;
  if (nf_normal_open(NULL, &m, err, sizeof err) != NF_NORMAL_OK) {
    fprintf(stderr, "embed_nonfinite: %s\n", err);
    return 1;
  }
  size_t len = N * NF_NORMAL_SAMPLE_ELEMS;
  size_t ws_bytes = (NF_NORMAL_WORKSPACE_BYTES + 63) / 64 * 64;
  float *out = malloc(len * sizeof *out);
  void *ws = aligned_alloc(NF_NORMAL_WORKSPACE_ALIGN, ws_bytes);
  if (!out || !ws) {
    fprintf(stderr, "embed_nonfinite: out of memory\n");
    return 1;
  }
  nf_normal_status one = nf_normal_sample(m, ws, ws_bytes, 1, 0, N, out, len);
  nf_normal_status mt = nf_normal_sample_mt(m, 2, 1, 0, N, out, len);
  printf("nf_normal_sample: %s\nnf_normal_sample_mt: %s\n", nf_normal_status_string(one),
         nf_normal_status_string(mt));
  free(out);
  free(ws);
  nf_normal_close(m);
  return one == NF_NORMAL_ERR_MODEL && mt == NF_NORMAL_ERR_MODEL ? 0 : 1;
}
