/*
 * data.c - the `data:` section: the shape of one sample, the value range
 * that --format png maps to grey levels, and for dirichlet-categorical the
 * vocabulary (one symbol per UTF-8 code point) and its padding symbol.
 *
 * Keys that belong to another pair are errors, but they never make the
 * shape invalid: later sections are still checked against it.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "compiler/front/front.h"
#include "compiler/util/xalloc.h"

#define COUNT(a) (sizeof(a) / sizeof((a)[0]))

static const char *const data_keys[] = {"shape", "range", "vocab", "padding"};
static const char *const sequence_keys[] = {"shape", "vocab", "padding"}; /* categorical */
static const char *const value_keys[] = {"shape", "range"};               /* other pairs */

#define VOCAB_EXPECT "a string of at least 2 distinct symbols (one per UTF-8 code point)"

static size_t seq_len(const yaml_node_t *n) {
  return (size_t)(n->data.sequence.items.top - n->data.sequence.items.start);
}

static yaml_node_t *seq_item(const front_ctx *c, const yaml_node_t *n, size_t i) {
  return front_node(c, n->data.sequence.items.start[i]);
}

size_t front_utf8_decode(const unsigned char *s, size_t n, uint32_t *cp) {
  unsigned char b = s[0];
  size_t len;
  uint32_t v, min;
  if (b < 0x80) {
    *cp = b;
    return 1;
  }
  if (b >= 0xc2 && b <= 0xdf) {
    len = 2, v = b & 0x1fu, min = 0x80;
  } else if ((b & 0xf0) == 0xe0) {
    len = 3, v = b & 0x0fu, min = 0x800;
  } else if (b >= 0xf0 && b <= 0xf4) {
    len = 4, v = b & 0x07u, min = 0x10000;
  } else {
    return 0;
  }
  if (n < len) return 0;
  for (size_t i = 1; i < len; i++) {
    if ((s[i] & 0xc0) != 0x80) return 0;
    v = v << 6 | (s[i] & 0x3fu);
  }
  if (v < min || v > 0x10ffff || (v >= 0xd800 && v <= 0xdfff)) return 0;
  *cp = v;
  return len;
}

/* 0 when shape and data_elems are valid. */
static int parse_shape(front_ctx *c, const yaml_node_t *n, model_spec *s) {
  static const char *const expect = "a sequence of 1 to 4 positive integers";
  yaml_node_t *shape = front_map_get(c, n, "shape");
  if (!shape) {
    front_missing(c, n, "shape", "in 'data'");
    return -1;
  }
  if (shape->type != YAML_SEQUENCE_NODE || seq_len(shape) == 0) {
    front_expected(c, shape, "'data.shape'", expect);
    return -1;
  }
  size_t rank = seq_len(shape);
  if (rank > SPEC_MAX_RANK) {
    front_error(c, front_loc(shape),
                "found a shape of rank %zu for 'data.shape', expected rank 1 to %d", rank,
                SPEC_MAX_RANK);
    return -1;
  }
  int bad = 0;
  uint64_t elems = 1;
  for (size_t i = 0; i < rank; i++) {
    char what[48];
    snprintf(what, sizeof what, "'data.shape[%zu]'", i);
    uint32_t d;
    if (front_read_u32(c, seq_item(c, shape, i), what, "a positive integer", 1, FRONT_MAX_LEN,
                       &d) != 0) {
      bad = 1;
      continue;
    }
    s->shape[i] = d;
    elems *= d; /* each factor <= 2^24 and the product is capped below: no overflow */
    if (elems > FRONT_MAX_LEN) elems = (uint64_t)FRONT_MAX_LEN + 1;
  }
  if (bad) return -1;
  if (elems > FRONT_MAX_LEN) {
    front_error(c, front_loc(shape),
                "found more than %u elements for 'data.shape', expected at most %u",
                (unsigned)FRONT_MAX_LEN, (unsigned)FRONT_MAX_LEN);
    return -1;
  }
  s->rank = (uint32_t)rank;
  s->data_elems = elems;
  return 0;
}

static int parse_range(front_ctx *c, const yaml_node_t *n, model_spec *s) {
  if (n->type != YAML_SEQUENCE_NODE) {
    front_expected(c, n, "'data.range'", "a sequence of two finite numbers [lo, hi], lo < hi");
    return -1;
  }
  if (seq_len(n) != 2) {
    front_error(c, front_loc(n),
                "found %zu numbers for 'data.range', expected 2 ([lo, hi] with lo < hi)",
                seq_len(n));
    return -1;
  }
  double v[2];
  int bad = 0;
  for (size_t i = 0; i < 2; i++) {
    char what[32];
    snprintf(what, sizeof what, "'data.range[%zu]'", i);
    yaml_node_t *it = seq_item(c, n, i);
    if (front_read_double(c, it, what, "a finite number", &v[i]) != 0)
      bad = 1;
    else if (!isfinite(v[i])) {
      front_expected(c, it, what, "a finite number");
      bad = 1;
    }
  }
  if (bad) return -1;
  if (!(v[1] > v[0])) {
    char expect[96];
    snprintf(expect, sizeof expect, "a number greater than 'data.range[0]' (%s)",
             (const char *)seq_item(c, n, 0)->data.scalar.value);
    front_expected(c, seq_item(c, n, 1), "'data.range[1]'", expect);
    return -1;
  }
  s->data_range[0] = v[0];
  s->data_range[1] = v[1];
  return 0;
}

typedef struct vocab_sym {
  uint32_t cp, pos;
} vocab_sym;

static int cmp_sym(const void *a, const void *b) {
  const vocab_sym *x = a, *y = b;
  if (x->cp != y->cp) return x->cp < y->cp ? -1 : 1;
  return x->pos < y->pos ? -1 : x->pos > y->pos;
}

/* A symbol seen more than once: its first two positions and how often. */
typedef struct vocab_dup {
  uint32_t first, second, times;
} vocab_dup;

static int cmp_dup(const void *a, const void *b) {
  const vocab_dup *x = a, *y = b;
  return x->second < y->second ? -1 : x->second > y->second;
}

/* Report every symbol given twice, in the order the second copies appear. */
static int check_duplicates(front_ctx *c, const yaml_node_t *n, const model_spec *s,
                            vocab_sym *syms) {
  uint32_t k = s->vocab_size;
  qsort(syms, k, sizeof *syms, cmp_sym);
  vocab_dup *dups = xmalloc_array(k, sizeof *dups);
  if (!dups) {
    diag_error(c->dl, c->file, 0, 0, "out of memory");
    return -1;
  }
  size_t ndups = 0;
  for (uint32_t i = 0; i < k;) {
    uint32_t j = i + 1;
    while (j < k && syms[j].cp == syms[i].cp) j++;
    if (j - i > 1) dups[ndups++] = (vocab_dup){syms[i].pos, syms[i + 1].pos, j - i};
    i = j;
  }
  qsort(dups, ndups, sizeof *dups, cmp_dup);
  for (size_t d = 0; d < ndups; d++) {
    const char *sym = s->vocab[dups[d].first];
    if (dups[d].times == 2)
      front_error(c, front_loc(n),
                  "found symbol '%s' twice in 'data.vocab' (positions %u and %u), expected "
                  "distinct symbols",
                  sym, dups[d].first + 1, dups[d].second + 1);
    else
      front_error(c, front_loc(n),
                  "found symbol '%s' %u times in 'data.vocab' (first at positions %u and %u), "
                  "expected distinct symbols",
                  sym, dups[d].times, dups[d].first + 1, dups[d].second + 1);
  }
  free(dups);
  return ndups ? -1 : 0;
}

/* Split the vocab string into code points; 0 when it is a valid alphabet. */
static int parse_vocab(front_ctx *c, const yaml_node_t *n, model_spec *s) {
  const char *v = front_scalar(c, n, "'data.vocab'", VOCAB_EXPECT);
  if (!v) return -1;
  const unsigned char *u = (const unsigned char *)v;
  size_t len = strlen(v), k = 0;
  int bad = 0;
  for (size_t i = 0; i < len; k++) {
    uint32_t cp;
    size_t m = front_utf8_decode(u + i, len - i, &cp);
    if (!m) {
      front_error(c, front_loc(n), "found invalid UTF-8 at byte %zu of 'data.vocab', expected %s",
                  i + 1, VOCAB_EXPECT);
      return -1;
    }
    if (cp < 0x20 || (cp >= 0x7f && cp < 0xa0)) {
      front_error(c, front_loc(n),
                  "found the control character U+%04X at position %zu of 'data.vocab', expected "
                  "printable symbols",
                  (unsigned)cp, k + 1);
      diag_hint(c->dl, "atoms files hold one sequence per line with a TAB before the weight, so "
                       "control characters cannot be symbols");
      bad = 1;
    }
    i += m;
  }
  if (bad) return -1;
  if (k < 2) {
    front_expected(c, n, "'data.vocab'", VOCAB_EXPECT);
    return -1;
  }
  if (k > FRONT_MAX_LEN) {
    front_error(c, front_loc(n), "found %zu symbols in 'data.vocab', expected at most %u", k,
                (unsigned)FRONT_MAX_LEN);
    return -1;
  }
  s->vocab = xcalloc_array(k, sizeof *s->vocab);
  vocab_sym *syms = xmalloc_array(k, sizeof *syms);
  if (!s->vocab || !syms) {
    free(syms);
    diag_error(c->dl, c->file, 0, 0, "out of memory");
    return -1;
  }
  s->vocab_size = (uint32_t)k;
  size_t at = 0;
  for (uint32_t j = 0; j < k; j++) {
    size_t m = front_utf8_decode(u + at, len - at, &syms[j].cp);
    syms[j].pos = j;
    char *sym = malloc(m + 1);
    if (!sym) {
      free(syms);
      diag_error(c->dl, c->file, 0, 0, "out of memory");
      return -1;
    }
    memcpy(sym, v + at, m);
    sym[m] = '\0';
    s->vocab[j] = sym;
    at += m;
  }
  int rc = check_duplicates(c, n, s, syms);
  free(syms);
  return rc;
}

/* A key that belongs to the data of another pair. */
static void other_pair_key(front_ctx *c, const yaml_node_t *map, const char *key,
                           const model_spec *s) {
  yaml_node_t *k = front_map_key(c, map, key);
  if (!k) return;
  int categorical = s->pair == SPEC_PAIR_DIRICHLET_CATEGORICAL;
  front_error(c, front_loc(k), "found key '%s' in 'data', expected %s (the data keys of pair '%s')",
              key, categorical ? "shape, vocab or padding" : "shape or range",
              spec_pair_name(s->pair));
  if (categorical)
    diag_hint(c->dl, "'range' sets the grey levels of --format png; dirichlet-categorical "
                     "samples are sequences (--format txt)");
  else
    diag_hint(c->dl, "'vocab' and 'padding' describe the symbols of pair dirichlet-categorical");
}

int front_parse_data(front_ctx *c, const yaml_node_t *root, model_spec *s, int pair_known) {
  s->data_range[0] = 0.0;
  s->data_range[1] = 1.0;
  s->pad_symbol = -1;
  yaml_node_t *n = front_map_get(c, root, "data");
  if (!n) {
    front_missing(c, root, "data", "at the top level");
    return -1;
  }
  s->data_loc = front_loc(n);
  int categorical = pair_known && s->pair == SPEC_PAIR_DIRICHLET_CATEGORICAL;
  const char *const *mine = !pair_known ? data_keys : categorical ? sequence_keys : value_keys;
  size_t nmine = !pair_known   ? COUNT(data_keys)
                 : categorical ? COUNT(sequence_keys)
                               : COUNT(value_keys);
  front_check_keys_known(c, n, "'data'", "in 'data'", mine, nmine, data_keys, COUNT(data_keys));
  if (n->type != YAML_MAPPING_NODE) return -1;
  int ok = parse_shape(c, n, s) == 0;
  /* With the pair unknown every key is read for its own sake. */
  int want_range = !categorical, want_vocab = categorical || !pair_known;
  if (pair_known && categorical) {
    other_pair_key(c, n, "range", s);
  } else if (pair_known) {
    other_pair_key(c, n, "vocab", s);
    other_pair_key(c, n, "padding", s);
  }
  yaml_node_t *range = front_map_get(c, n, "range");
  if (range && want_range) parse_range(c, range, s);
  yaml_node_t *vocab = front_map_get(c, n, "vocab");
  if (vocab && want_vocab && parse_vocab(c, vocab, s) != 0 && categorical) ok = 0;
  yaml_node_t *pad = front_map_get(c, n, "padding");
  int padding = 0;
  if (pad && want_vocab) {
    if (front_read_bool(c, pad, "'data.padding'", &padding) == 0)
      s->pad_symbol = padding ? 0 : -1;
    else if (categorical)
      ok = 0; /* the atoms file would be judged without knowing about padding */
  }
  if (!categorical) return ok ? 0 : -1;
  if (!vocab) {
    size_t before = c->dl->errors;
    front_missing(c, n, "vocab", "in 'data'");
    if (c->dl->errors > before)
      diag_hint(c->dl, "pair dirichlet-categorical needs its symbols, e.g. vocab: \"abc\"");
    ok = 0;
  }
  if (ok && s->rank != 1) {
    front_error(c, front_loc(front_map_get(c, n, "shape")),
                "found a shape of rank %u for 'data.shape', expected [L] (rank 1, the sequence "
                "length) for pair 'dirichlet-categorical'",
                s->rank);
    ok = 0;
  }
  if (ok && s->data_elems * s->vocab_size > FRONT_MAX_LEN) {
    front_error(c, s->data_loc,
                "found L*K = %llu (L = %u positions, K = %u symbols), expected at most %u (the "
                "network's input and output have L*K elements)",
                (unsigned long long)(s->data_elems * s->vocab_size), s->shape[0], s->vocab_size,
                (unsigned)FRONT_MAX_LEN);
    ok = 0;
  }
  return ok ? 0 : -1;
}
