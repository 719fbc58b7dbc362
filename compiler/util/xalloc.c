/*
 * xalloc.c - allocation helpers that turn size overflow into a NULL return,
 * so callers have a single failure path to report.
 */
#include "compiler/util/xalloc.h"

#include <stdlib.h>
#include <string.h>

void *xmalloc_array(size_t a, size_t b) {
  size_t bytes;
  if (size_mul_overflow(a, b, &bytes)) return NULL;
  /* malloc(0) may legitimately return NULL; callers treat NULL as failure. */
  return malloc(bytes ? bytes : 1);
}

void *xcalloc_array(size_t a, size_t b) {
  size_t bytes;
  if (size_mul_overflow(a, b, &bytes)) return NULL;
  return bytes ? calloc(a, b) : calloc(1, 1);
}

char *xstrdup(const char *s) {
  size_t n = strlen(s) + 1;
  char *p = malloc(n);
  if (p) memcpy(p, s, n);
  return p;
}
