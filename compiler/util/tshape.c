/*
 * tshape.c - per-sample shapes (tshape.h).
 */
#include "compiler/util/tshape.h"

#include <stdio.h>
#include <string.h>

tshape tshape_make(uint32_t rank, const uint32_t *dim) {
  tshape s;
  memset(&s, 0, sizeof s);
  s.rank = rank > TSHAPE_MAX_RANK ? TSHAPE_MAX_RANK : rank;
  for (uint32_t i = 0; i < s.rank; i++) s.dim[i] = dim[i];
  return s;
}

tshape tshape_vec(uint32_t n) { return tshape_make(1, &n); }

uint64_t tshape_span(const tshape *s, uint32_t from, uint32_t to) {
  uint64_t n = 1;
  for (uint32_t i = from; i < to && i < s->rank; i++)
    if (__builtin_mul_overflow(n, (uint64_t)s->dim[i], &n)) return UINT64_MAX;
  return n;
}

uint64_t tshape_numel(const tshape *s) { return s->rank ? tshape_span(s, 0, s->rank) : 0; }

int tshape_equal(const tshape *a, const tshape *b) {
  if (a->rank != b->rank) return 0;
  for (uint32_t i = 0; i < a->rank; i++)
    if (a->dim[i] != b->dim[i]) return 0;
  return 1;
}

int tshape_broadcast(const tshape *a, const tshape *b, tshape *out) {
  tshape r;
  memset(&r, 0, sizeof r);
  r.rank = a->rank > b->rank ? a->rank : b->rank;
  for (uint32_t i = 0; i < r.rank; i++) {
    /* right-aligned: dim i of the result is dim i - (r - rank) of each */
    uint32_t da = i + a->rank >= r.rank ? a->dim[i + a->rank - r.rank] : 1;
    uint32_t db = i + b->rank >= r.rank ? b->dim[i + b->rank - r.rank] : 1;
    if (da != db && da != 1 && db != 1) return -1;
    r.dim[i] = da == 1 ? db : da;
  }
  *out = r;
  return 0;
}

int tshape_axis(uint32_t rank, int64_t a, uint32_t *out) {
  if (a < 0) a += rank;
  if (a < 0 || a >= (int64_t)rank) return -1;
  *out = (uint32_t)a;
  return 0;
}

const char *tshape_format(const tshape *s, char *buf, size_t len) {
  size_t n = 0;
  if (!len) return buf;
  buf[0] = '\0';
  n += (size_t)snprintf(buf, len, "[");
  for (uint32_t i = 0; i < s->rank && n < len; i++)
    n += (size_t)snprintf(buf + n, len - n, "%s%u", i ? ", " : "", s->dim[i]);
  if (n < len) snprintf(buf + n, len - n, "]");
  return buf;
}
