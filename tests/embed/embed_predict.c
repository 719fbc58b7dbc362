/* embed_predict MU TAU N OUT: two_moons_predict over raw float32 files (mu
 * [N, IN], tau [N]) into OUT (raw [N, OUT_ELEMS]), driven by test_embed.c. */
#include <stdio.h>
#include <stdlib.h>

#include "two_moons.h"

static float *read_raw(const char *path, size_t n) {
  float *x = malloc(n * sizeof *x);
  FILE *f = fopen(path, "rb");
  if (!x || !f || fread(x, sizeof *x, n, f) != n) return NULL;
  fclose(f);
  return x;
}

int main(int argc, char **argv) {
  if (argc != 5) return 2;
  size_t n = strtoul(argv[3], NULL, 10), in = TWO_MOONS_PREDICT_IN_ELEMS;
  size_t out_len = n * TWO_MOONS_PREDICT_OUT_ELEMS;
  float *mu = read_raw(argv[1], n * in), *tau = read_raw(argv[2], n);
  float *out = malloc(out_len * sizeof *out);
  void *ws = aligned_alloc(TWO_MOONS_WORKSPACE_ALIGN, TWO_MOONS_WORKSPACE_BYTES);
  two_moons_model *m;
  char err[256];
  if (!mu || !tau || !out || !ws || two_moons_open(NULL, &m, err, sizeof err) != TWO_MOONS_OK)
    return 1;
  two_moons_status st =
      two_moons_predict(m, ws, TWO_MOONS_WORKSPACE_BYTES, mu, tau, n, out, out_len);
  if (st != TWO_MOONS_OK) {
    fprintf(stderr, "embed_predict: %s\n", two_moons_status_string(st));
    return 1;
  }
  FILE *f = fopen(argv[4], "wb");
  if (!f || fwrite(out, sizeof *out, out_len, f) != out_len || fclose(f) != 0) return 1;
  two_moons_close(m);
  return 0;
}
