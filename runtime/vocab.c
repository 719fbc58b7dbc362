/*
 * vocab.c - a categorical model's vocabulary: UTF-8 code points as
 * symbols, and samples of symbol indices decoded to text (see vocab.h).
 */
#include <stdlib.h>

#include "runtime/vocab.h"

/* Bytes of the well-formed UTF-8 sequence at s (RFC 3629: no overlong
 * forms, no surrogates, nothing above U+10FFFF), or 0 if there is none. */
static size_t utf8_length(const unsigned char *s) {
  unsigned char b = s[0];
  if (b < 0x80) return b ? 1 : 0;
  size_t n;
  unsigned char lo = 0x80, hi = 0xBF; /* allowed range of the second byte */
  if (b >= 0xC2 && b <= 0xDF) {
    n = 2;
  } else if (b >= 0xE0 && b <= 0xEF) {
    n = 3;
    if (b == 0xE0)
      lo = 0xA0;
    else if (b == 0xED)
      hi = 0x9F;
  } else if (b >= 0xF0 && b <= 0xF4) {
    n = 4;
    if (b == 0xF0)
      lo = 0x90;
    else if (b == 0xF4)
      hi = 0x8F;
  } else {
    return 0;
  }
  if (s[1] < lo || s[1] > hi) return 0;
  for (size_t i = 2; i < n; i++) {
    if (s[i] < 0x80 || s[i] > 0xBF) return 0;
  }
  return n;
}

int vocab_init(cli_vocab *v, const pmm_model_desc *d, char *err, size_t errlen) {
  v->text = d->vocab;
  v->k = d->vocab_size;
  v->pad = d->pad_symbol;
  v->start = NULL;
  if (v->k == 0 || v->k > SIZE_MAX / sizeof(size_t) - 1) {
    snprintf(err, errlen, "vocabulary size %llu is invalid", (unsigned long long)v->k);
    return -1;
  }
  if (v->pad < -1 || (v->pad >= 0 && (uint64_t)v->pad >= v->k)) {
    snprintf(err, errlen, "padding symbol %lld is not in a vocabulary of %llu symbols",
             (long long)v->pad, (unsigned long long)v->k);
    return -1;
  }
  v->start = malloc(((size_t)v->k + 1) * sizeof *v->start);
  if (!v->start) {
    snprintf(err, errlen, "out of memory for a vocabulary of %llu symbols",
             (unsigned long long)v->k);
    return -1;
  }
  const unsigned char *s = (const unsigned char *)v->text;
  size_t at = 0;
  uint64_t i = 0;
  while (s[at]) {
    size_t len = utf8_length(s + at);
    if (len == 0) {
      snprintf(err, errlen, "vocabulary is not valid UTF-8 (byte %zu)", at);
      vocab_free(v);
      return -1;
    }
    if (i < v->k) v->start[i] = at;
    i++;
    at += len;
  }
  if (i != v->k) {
    snprintf(err, errlen, "vocabulary has %llu symbols, the descriptor says %llu",
             (unsigned long long)i, (unsigned long long)v->k);
    vocab_free(v);
    return -1;
  }
  v->start[v->k] = at;
  return 0;
}

void vocab_free(cli_vocab *v) {
  free(v->start);
  v->start = NULL;
}

int vocab_put(const cli_vocab *v, FILE *f, uint64_t i) {
  size_t len = v->start[i + 1] - v->start[i];
  return fwrite(v->text + v->start[i], 1, len, f) == len ? 0 : -1;
}

/* The symbol index x stands for, or -1. */
static int64_t symbol_of(const cli_vocab *v, float x) {
  if (!(x >= 0.0f) || (double)x >= (double)v->k || x != (float)(int64_t)x) return -1;
  return (int64_t)x;
}

int vocab_write_line(const cli_vocab *v, FILE *f, const float *x, size_t n, size_t *bad) {
  size_t end = 0;
  for (size_t i = 0; i < n; i++) {
    int64_t s = symbol_of(v, x[i]);
    if (s < 0) {
      *bad = i;
      return 1;
    }
    if (s != v->pad) end = i + 1;
  }
  for (size_t i = 0; i < end; i++) {
    if (vocab_put(v, f, (uint64_t)x[i]) != 0) return -1;
  }
  return fputc('\n', f) == EOF ? -1 : 0;
}
