/*
 * atoms.c - the atom set of an exact network (`atoms: FILE`): the data
 * distribution sum_k w_k delta(x_k) whose posterior mean the sampler
 * computes in closed form (docs/samplers.md).
 *
 * normal-normal, gamma-poisson: a .npy array [k, D] or [k, *data.shape], one
 * atom a row, with optional `atom_weights: FILE.npy` [k].  Problems with
 * these files are reported at the YAML value that names them, since a .npy
 * file has no lines to point at.
 *
 * dirichlet-categorical: a UTF-8 text file, one sequence a line, each
 * character a symbol of data.vocab, optionally followed by a TAB and a
 * positive weight.  Problems are reported at FILE:LINE[:COL] (columns count
 * characters from 1), with a hint naming the YAML location of `atoms:`.
 */
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "compiler/front/front.h"
#include "compiler/util/xalloc.h"
#include "runtime/infile.h"

/* Errors reported from one text file before giving up on it. */
#define MAX_FILE_ERRORS 10

static void oom(front_ctx *c) { diag_error(c->dl, c->file, 0, 0, "out of memory"); }

static const char *shape_text(char *buf, size_t len, uint32_t rank, const uint64_t *dims,
                              const char *first) {
  size_t used = (size_t)snprintf(buf, len, "[%s", first ? first : "");
  for (uint32_t i = 0; i < rank && used < len; i++)
    used += (size_t)snprintf(buf + used, len - used, "%s%llu", i || first ? ", " : "",
                             (unsigned long long)dims[i]);
  if (used < len) snprintf(buf + used, len - used, "]");
  return buf;
}

/* Scale by the largest weight first so the sum cannot overflow. */
static void normalise(double *w, uint64_t k) {
  double max = 0, sum = 0;
  for (uint64_t i = 0; i < k; i++) max = w[i] > max ? w[i] : max;
  for (uint64_t i = 0; i < k; i++) sum += (w[i] /= max);
  for (uint64_t i = 0; i < k; i++) w[i] /= sum;
}

/* ---- .npy atoms (normal-normal, gamma-poisson) --------------------------- */

static int check_npy_shape(front_ctx *c, const model_spec *s, const pmm_array *a) {
  const spec_network *net = &s->network;
  int flat = a->rank == 2 && a->shape[1] == s->data_elems;
  int full = a->rank == s->rank + 1;
  for (uint32_t i = 0; full && i < s->rank; i++) full = a->shape[i + 1] == s->shape[i];
  char got[192], want[192], alt[96];
  shape_text(got, sizeof got, a->rank, a->shape, NULL);
  if (!flat && !full) {
    uint64_t d = s->data_elems, dims[SPEC_MAX_RANK];
    for (uint32_t i = 0; i < s->rank; i++) dims[i] = s->shape[i];
    shape_text(want, sizeof want, 1, &d, "k");
    if (s->rank > 1) {
      size_t n = strlen(want);
      snprintf(want + n, sizeof want - n, " or %s",
               shape_text(alt, sizeof alt, s->rank, dims, "k"));
    }
    front_error(c, net->atoms_loc,
                "found an array of shape %s in '%s', expected shape %s (k atoms, one a row)", got,
                net->atoms_path, want);
    return -1;
  }
  if (a->shape[0] == 0) {
    front_error(c, net->atoms_loc,
                "found an array of shape %s in '%s', expected at least one atom (row)", got,
                net->atoms_path);
    return -1;
  }
  return 0;
}

/* The first value that is not finite (or, for gamma-poisson, negative). */
static int check_npy_values(front_ctx *c, const model_spec *s, const pmm_array *a) {
  int gamma = s->pair == SPEC_PAIR_GAMMA_POISSON;
  for (uint64_t i = 0; i < a->count; i++) {
    float v = a->data[i];
    if (isfinite(v) && (!gamma || v >= 0)) continue;
    front_error(c, s->network.atoms_loc, "found %g at row %llu, element %llu of '%s', expected %s",
                (double)v, (unsigned long long)(i / s->data_elems),
                (unsigned long long)(i % s->data_elems), s->network.atoms_path,
                gamma ? "a finite number >= 0 (gamma-poisson data are non-negative)"
                      : "a finite number");
    diag_hint(c->dl, "rows and elements count from 0; elements are in C order");
    return -1;
  }
  return 0;
}

static int load_npy_weights(front_ctx *c, spec_network *net, const char *path, spec_loc loc) {
  pmm_array a;
  char err[512];
  if (pmm_npy_read(path, &a, err, sizeof err) != PMM_OK) {
    front_error(c, loc, "%s", err);
    return -1;
  }
  int rc = 0;
  if (a.rank != 1 || a.shape[0] != net->natoms) {
    char got[192];
    front_error(c, loc,
                "found an array of shape %s in '%s', expected shape [%llu] (one weight for each "
                "atom of '%s')",
                shape_text(got, sizeof got, a.rank, a.shape, NULL), path,
                (unsigned long long)net->natoms, net->atoms_path);
    rc = -1;
  }
  for (uint64_t i = 0; rc == 0 && i < a.count; i++) {
    if (isfinite(a.data[i]) && a.data[i] > 0) {
      net->atom_weights[i] = a.data[i];
      continue;
    }
    front_error(c, loc, "found %g at index %llu of '%s', expected a finite weight > 0",
                (double)a.data[i], (unsigned long long)i, path);
    rc = -1;
  }
  pmm_array_free(&a);
  return rc;
}

static int load_npy_atoms(front_ctx *c, model_spec *s, const char *wpath, spec_loc wloc) {
  spec_network *net = &s->network;
  pmm_array a;
  char err[512];
  if (pmm_npy_read(net->atoms_path, &a, err, sizeof err) != PMM_OK) {
    front_error(c, net->atoms_loc, "%s", err);
    return -1;
  }
  if (check_npy_shape(c, s, &a) != 0 || check_npy_values(c, s, &a) != 0) {
    pmm_array_free(&a);
    return -1;
  }
  net->natoms = a.shape[0];
  net->atoms = a.data;
  a.data = NULL;
  net->atom_weights = xmalloc_array((size_t)net->natoms, sizeof *net->atom_weights);
  if (!net->atom_weights) {
    oom(c);
    return -1;
  }
  for (uint64_t i = 0; i < net->natoms; i++) net->atom_weights[i] = 1.0;
  if (wpath && load_npy_weights(c, net, wpath, wloc) != 0) return -1;
  normalise(net->atom_weights, net->natoms);
  return 0;
}

/* ---- text atoms (dirichlet-categorical) --------------------------------- */

typedef struct vocab_entry {
  uint32_t cp, index;
} vocab_entry;

static int cmp_entry(const void *a, const void *b) {
  const vocab_entry *x = a, *y = b;
  return x->cp < y->cp ? -1 : x->cp > y->cp;
}

typedef struct text_atoms {
  front_ctx *c;
  model_spec *s;
  vocab_entry *vocab; /* sorted by code point */
  float *row;         /* the sequence being read, [L] */
  size_t cap;         /* atoms allocated */
  int errors;
  uint64_t weighted_line; /* the first line that settled whether lines carry weights */
  int weighted;
} text_atoms;

static void file_error(text_atoms *t, uint64_t line, int col, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static void file_error(text_atoms *t, uint64_t line, int col, const char *fmt, ...) {
  char msg[1024];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  const model_spec *s = t->s;
  diag_error(t->c->dl, s->network.atoms_path, (long long)line, col, "%s", msg);
  t->errors++;
  diag_hint(t->c->dl, "the atoms file of %s:%d:%d ('network.atoms')%s", t->c->file,
            s->network.atoms_loc.line, s->network.atoms_loc.col,
            t->errors == MAX_FILE_ERRORS ? "; stopped after this many errors" : "");
}

static int lookup(const text_atoms *t, uint32_t cp) {
  vocab_entry key = {cp, 0};
  const vocab_entry *e = bsearch(&key, t->vocab, t->s->vocab_size, sizeof key, cmp_entry);
  return e ? (int)e->index : -1;
}

/* Append the sequence in t->row with weight w. */
static int push_atom(text_atoms *t, double w) {
  spec_network *net = &t->s->network;
  uint32_t L = t->s->shape[0];
  if (net->natoms == t->cap) {
    size_t cap = t->cap ? 2 * t->cap : 64, bytes, wbytes;
    if (size_mul_overflow(cap, L, &bytes) || size_mul_overflow(bytes, sizeof(float), &bytes) ||
        size_mul_overflow(cap, sizeof(double), &wbytes))
      return -1;
    float *a = realloc(net->atoms, bytes);
    if (!a) return -1;
    net->atoms = a;
    double *ws = realloc(net->atom_weights, wbytes);
    if (!ws) return -1;
    net->atom_weights = ws;
    t->cap = cap;
  }
  memcpy(net->atoms + net->natoms * L, t->row, L * sizeof(float));
  net->atom_weights[net->natoms++] = w;
  return 0;
}

/* The weight text after the TAB of line `line` (starting at column col). */
static int parse_weight(text_atoms *t, const char *p, size_t n, uint64_t line, int col, double *w) {
  char buf[64];
  int ok = n > 0 && n < sizeof buf, fits = 1;
  if (ok) {
    memcpy(buf, p, n);
    buf[n] = '\0';
    char *end;
    errno = 0;
    *w = strtod(buf, &end);
    ok = end != buf && *end == '\0' && isfinite(*w) && *w > 0;
    /* Weights are normalised by the largest, which must not push the
     * smallest to zero: both stay within float32's range. */
    fits = !ok || front_fits_float(*w);
    ok = ok && fits;
  }
  if (!ok) {
    char shown[48];
    size_t k = 0;
    for (size_t i = 0; i < n && k < 40; i++) shown[k++] = (unsigned char)p[i] < 0x20 ? '?' : p[i];
    shown[k] = '\0';
    file_error(t, line, col, "found '%s%s' for the weight of the sequence, expected %s", shown,
               n > k ? "..." : "",
               fits ? "a finite number > 0"
                    : "a number from 1.17549435e-38 to 3.40282347e+38 (float32's range)");
  }
  return ok ? 0 : -1;
}

/* One non-empty line: the sequence, then optionally TAB and weight. */
static int parse_line(text_atoms *t, const char *p, size_t n, uint64_t line) {
  const model_spec *s = t->s;
  uint32_t L = s->shape[0];
  const char *tab = memchr(p, '\t', n);
  size_t seq = tab ? (size_t)(tab - p) : n, len = 0;
  int bad = 0, col = 1;
  for (size_t i = 0; i < seq; col++) {
    uint32_t cp;
    size_t m = front_utf8_decode((const unsigned char *)p + i, seq - i, &cp);
    if (!m) {
      file_error(t, line, col, "found invalid UTF-8, expected symbols of 'data.vocab'");
      return -1;
    }
    int sym = lookup(t, cp);
    if (sym < 0) {
      if (cp < 0x20 || (cp >= 0x7f && cp < 0xa0))
        file_error(t, line, col,
                   "found the control character U+%04X, expected a symbol of "
                   "'data.vocab'",
                   (unsigned)cp);
      else
        file_error(t, line, col,
                   "found symbol '%.*s' (U+%04X), expected a symbol of "
                   "'data.vocab'",
                   (int)m, p + i, (unsigned)cp);
      bad = 1;
      if (t->errors >= MAX_FILE_ERRORS) return -1;
    } else if (len < L) {
      t->row[len] = (float)sym;
    }
    len++;
    i += m;
  }
  if (len > L) {
    file_error(t, line, 0,
               "found a sequence of %zu symbols, expected at most %u (L, from "
               "'data.shape')",
               len, L);
    return -1;
  }
  if (len < L && s->pad_symbol < 0) {
    file_error(t, line, 0, "found a sequence of %zu symbol%s, expected %u (L, from 'data.shape')",
               len, len == 1 ? "" : "s", L);
    diag_hint(t->c->dl, "with 'padding: true' in 'data', shorter sequences are padded with the "
                        "first symbol of 'data.vocab'");
    return -1;
  }
  for (size_t i = len; i < L; i++) t->row[i] = (float)s->pad_symbol;
  double w = 1.0;
  if (tab && parse_weight(t, tab + 1, n - seq - 1, line, col + 1, &w) != 0) return -1;
  int weighted = tab != NULL;
  if (t->weighted_line == 0) {
    t->weighted_line = line;
    t->weighted = weighted;
  } else if (weighted != t->weighted) {
    file_error(t, line, weighted ? col : 0,
               weighted ? "found a weight, expected none (line %llu has no weight)"
                        : "found no weight, expected a TAB and a weight (line %llu has one)",
               (unsigned long long)t->weighted_line);
    diag_hint(t->c->dl, "give every sequence a weight, or none (equal weights)");
    return -1;
  }
  if (bad) return -1;
  if (push_atom(t, w) != 0) {
    oom(t->c);
    return -1;
  }
  return 0;
}

/* The whole file, NUL-terminated; NULL after an error. */
static char *read_text(front_ctx *c, const char *path, spec_loc loc, size_t *len) {
  char *text, err[512];
  if (pmm_infile_read_text(path, PMM_INFILE_MAX_ATOMS_TEXT, "an atoms file", &text, len, err,
                           sizeof err) != 0) {
    front_error(c, loc, "%s", err);
    return NULL;
  }
  return text;
}

static int build_vocab(text_atoms *t) {
  const model_spec *s = t->s;
  t->vocab = xmalloc_array(s->vocab_size, sizeof *t->vocab);
  t->row = xmalloc_array(s->shape[0], sizeof *t->row);
  if (!t->vocab || !t->row) return -1;
  for (uint32_t i = 0; i < s->vocab_size; i++) {
    const char *v = s->vocab[i];
    t->vocab[i].index = i;
    front_utf8_decode((const unsigned char *)v, strlen(v), &t->vocab[i].cp);
  }
  qsort(t->vocab, s->vocab_size, sizeof *t->vocab, cmp_entry);
  return 0;
}

static int load_text_atoms(front_ctx *c, model_spec *s) {
  spec_network *net = &s->network;
  size_t len;
  char *text = read_text(c, net->atoms_path, net->atoms_loc, &len);
  if (!text) return -1;
  text_atoms t = {.c = c, .s = s};
  if (build_vocab(&t) != 0) {
    oom(c);
    t.errors = 1;
  }
  const char *p = text, *end = text + len;
  if (len >= 3 && !memcmp(p, "\xef\xbb\xbf", 3)) p += 3; /* a byte-order mark some editors write */
  for (uint64_t line = 1; p < end && t.errors < MAX_FILE_ERRORS; line++) {
    const char *nl = memchr(p, '\n', (size_t)(end - p));
    size_t n = nl ? (size_t)(nl - p) : (size_t)(end - p);
    size_t body = n > 0 && p[n - 1] == '\r' ? n - 1 : n;
    if (body > 0) parse_line(&t, p, body, line);
    p += n + (nl != NULL);
  }
  free(text);
  free(t.vocab);
  free(t.row);
  if (t.errors) return -1;
  if (net->natoms == 0) {
    front_error(c, net->atoms_loc,
                "found no sequences in '%s', expected at least one (one sequence a line)",
                net->atoms_path);
    return -1;
  }
  normalise(net->atom_weights, net->natoms);
  return 0;
}

int front_load_atoms(front_ctx *c, model_spec *s, const char *weights_path, spec_loc weights_loc) {
  if (s->pair == SPEC_PAIR_DIRICHLET_CATEGORICAL) return load_text_atoms(c, s);
  return load_npy_atoms(c, s, weights_path, weights_loc);
}
