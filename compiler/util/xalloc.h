/*
 * xalloc.h - overflow-checked size arithmetic.  Allocation failures are
 * reported by callers as errors; nothing here aborts.
 *
 *     size_t bytes;
 *     if (size_mul_overflow(rows, cols, &bytes) || size_mul_overflow(bytes, 4, &bytes))
 *         return error("too large");
 */
#ifndef PMMC_XALLOC_H
#define PMMC_XALLOC_H

#include <stddef.h>
#include <stdint.h>

/* Return nonzero when a * b overflows; otherwise store it in *out. */
static inline int size_mul_overflow(size_t a, size_t b, size_t *out) {
  return __builtin_mul_overflow(a, b, out);
}
static inline int size_add_overflow(size_t a, size_t b, size_t *out) {
  return __builtin_add_overflow(a, b, out);
}

/* malloc(a * b), NULL on overflow or failure. */
void *xmalloc_array(size_t a, size_t b);
/* calloc that also returns NULL for a zero-size request turned into 1 byte. */
void *xcalloc_array(size_t a, size_t b);
/* strdup that returns NULL on failure. */
char *xstrdup(const char *s);

#endif
