/*
 * tshape.h - the per-sample shape of a value, shared by the front end (which
 * checks a model's layers) and the IR (which carries a shape on every
 * instruction).  Shapes are in PyTorch order without the batch axis: images
 * [C, H, W], sequences [L, E], vectors [n], the time input [1].
 *
 *     tshape a = tshape_make(3, (uint32_t[]){16, 28, 28}), b = tshape_make(3, (uint32_t[]){16, 1,
 * 1}), y; if (tshape_broadcast(&a, &b, &y) != 0) ...   // NumPy rules: y = [16, 28, 28] char
 * text[TSHAPE_TEXT]; printf("%s has %llu elements\n", tshape_format(&y, text, sizeof text),
 *            (unsigned long long)tshape_numel(&y));
 */
#ifndef PMMC_TSHAPE_H
#define PMMC_TSHAPE_H

#include <stddef.h>
#include <stdint.h>

#define TSHAPE_MAX_RANK 4
/* Room for "[4294967295, 4294967295, 4294967295, 4294967295]" */
#define TSHAPE_TEXT 56

typedef struct tshape {
  uint32_t rank; /* 1..TSHAPE_MAX_RANK; 0 only for "not known yet" */
  uint32_t dim[TSHAPE_MAX_RANK];
} tshape;

/* A shape of the given rank (<= TSHAPE_MAX_RANK) and dims. */
tshape tshape_make(uint32_t rank, const uint32_t *dim);
/* The rank-1 shape [n]. */
tshape tshape_vec(uint32_t n);
/* Product of the dims (1 for rank 0 is never used: rank 0 gives 0);
 * UINT64_MAX when it overflows. */
uint64_t tshape_numel(const tshape *s);
int tshape_equal(const tshape *a, const tshape *b);
/* Product of dims [from, to). */
uint64_t tshape_span(const tshape *s, uint32_t from, uint32_t to);
/* NumPy broadcasting of a and b into *out (right-aligned, a dim of 1
 * stretches); -1 when they do not broadcast. */
int tshape_broadcast(const tshape *a, const tshape *b, tshape *out);
/* Axis a (negative counts from the end) of a rank-r shape as 0..r-1 in
 * *out; -1 when out of range. */
int tshape_axis(uint32_t rank, int64_t a, uint32_t *out);
/* "[d0, d1, ...]" into buf; returns buf. */
const char *tshape_format(const tshape *s, char *buf, size_t len);

#endif
