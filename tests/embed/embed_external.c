/*
 * embed_external.c - two_moons built with --weights=external, driven by
 * test_embed.c:
 *   embed_external sample FILE N OUT    open with params.weights_path = FILE,
 *                                       write N samples (seed 7) to OUT (raw)
 *   embed_external memory FILE N OUT    the same with the file's bytes in memory
 *   embed_external open FILE            print the status name and message of
 *                                       opening with FILE ("-": no weights given)
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "two_moons.h"

static void *read_all(const char *path, size_t *len) {
  FILE *f = fopen(path, "rb");
  if (!f) return NULL;
  char *buf = NULL;
  size_t cap = 0, n = 0, got;
  do {
    if (n == cap && !(buf = realloc(buf, cap = cap ? 2 * cap : 1 << 20))) return NULL;
    got = fread(buf + n, 1, cap - n, f);
    n += got;
  } while (got > 0);
  fclose(f);
  *len = n;
  return buf;
}

int main(int argc, char **argv) {
  if (argc < 3) return 2;
  two_moons_params p;
  two_moons_params_init(&p);
  void *bytes = NULL;
  if (strcmp(argv[1], "memory") == 0) {
    size_t len;
    if (!(bytes = read_all(argv[2], &len))) return 2;
    p.weights_data = bytes;
    p.weights_size = len;
  } else if (strcmp(argv[2], "-") != 0) {
    p.weights_path = argv[2];
  }
  two_moons_model *m;
  char err[256];
  two_moons_status st = two_moons_open(&p, &m, err, sizeof err);
  if (strcmp(argv[1], "open") == 0) {
    printf("%d %s\n", st, st == TWO_MOONS_OK ? "ok" : err);
    return 0;
  }
  if (st != TWO_MOONS_OK || argc != 5) {
    fprintf(stderr, "embed_external: %s\n", err);
    return 1;
  }
  size_t n = strtoul(argv[3], NULL, 10), len = n * TWO_MOONS_SAMPLE_ELEMS;
  float *out = malloc(len * sizeof *out);
  if (!out || two_moons_sample_mt(m, 2, 7, 0, n, out, len) != TWO_MOONS_OK) return 1;
  FILE *f = fopen(argv[4], "wb");
  if (!f || fwrite(out, sizeof *out, len, f) != len || fclose(f) != 0) return 1;
  two_moons_close(m);
  free(out);
  free(bytes);
  return 0;
}
