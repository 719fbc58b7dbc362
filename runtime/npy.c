/*
 * npy.c - NumPy .npy files: a reader for the dtypes data sets come in, and
 * the header writer the sampler's output uses.
 *
 * Format (numpy.lib.format): the magic "\x93NUMPY", major and minor version
 * bytes, the header length (uint16 little-endian in version 1, uint32 in
 * versions 2 and 3), then a Python dict literal
 *   {'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }
 * padded with spaces and ended by '\n', then the raw C-order data.  The
 * reader parses the dict strictly rather than pattern-matching it, so a
 * damaged header gives an error naming what was expected.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "runtime/infile.h"
#include "runtime/pmmrt.h"

#define NPY_MAX_RANK 8

void pmm_array_free(pmm_array *a) {
  if (!a) return;
  free(a->data);
  memset(a, 0, sizeof *a);
}

static pmm_status npy_fail(pmm_status st, char *err, size_t errlen, const char *path,
                           const char *fmt, ...) __attribute__((format(printf, 5, 6)));

static pmm_status npy_fail(pmm_status st, char *err, size_t errlen, const char *path,
                           const char *fmt, ...) {
  if (err && errlen > 0) {
    int n = snprintf(err, errlen, "%s: ", path);
    if (n >= 0 && (size_t)n < errlen) {
      va_list ap;
      va_start(ap, fmt);
      vsnprintf(err + n, errlen - (size_t)n, fmt, ap);
      va_end(ap);
    }
  }
  return st;
}

/* "'PATH': truncated: header says N bytes of data, file has M"; a byte count
 * beyond 64 bits is spelt as elements times element size. */
static pmm_status npy_truncated(char *err, size_t errlen, const char *path, uint64_t count,
                                size_t elsize, uint64_t have) {
  uint64_t bytes;
  if (err && errlen > 0) {
    if (__builtin_mul_overflow(count, (uint64_t)elsize, &bytes))
      snprintf(err, errlen,
               "'%s': truncated: header says %llu elements of %zu bytes of data, file has %llu",
               path, (unsigned long long)count, elsize, (unsigned long long)have);
    else
      snprintf(err, errlen, "'%s': truncated: header says %llu bytes of data, file has %llu", path,
               (unsigned long long)bytes, (unsigned long long)have);
  }
  return PMM_ERR_FORMAT;
}

/* ---- element types ------------------------------------------------------ */

static uint64_t load_le(const unsigned char *p, size_t n) {
  uint64_t v = 0;
  for (size_t i = n; i-- > 0;) v = (v << 8) | p[i];
  return v;
}

static float conv_f4(const unsigned char *p) {
  uint32_t bits = (uint32_t)load_le(p, 4);
  float f;
  memcpy(&f, &bits, sizeof f);
  return f;
}

static float conv_f8(const unsigned char *p) {
  uint64_t bits = load_le(p, 8);
  double d;
  memcpy(&d, &bits, sizeof d);
  return (float)d;
}

static float conv_i4(const unsigned char *p) { return (float)(int32_t)(uint32_t)load_le(p, 4); }

static float conv_i8(const unsigned char *p) { return (float)(int64_t)load_le(p, 8); }

static float conv_u1(const unsigned char *p) { return (float)p[0]; }

static float conv_u2(const unsigned char *p) { return (float)(uint16_t)load_le(p, 2); }

typedef struct npy_dtype {
  const char *descr;
  size_t size;
  float (*conv)(const unsigned char *p);
} npy_dtype;

static const npy_dtype npy_dtypes[] = {
    {"<f4", 4, conv_f4}, {"<f8", 8, conv_f8}, {"<i4", 4, conv_i4}, {"<i8", 8, conv_i8},
    {"|u1", 1, conv_u1}, {"<u1", 1, conv_u1}, {"<u2", 2, conv_u2},
};

static const npy_dtype *dtype_find(const char *descr) {
  for (size_t i = 0; i < sizeof npy_dtypes / sizeof npy_dtypes[0]; i++) {
    if (strcmp(npy_dtypes[i].descr, descr) == 0) return &npy_dtypes[i];
  }
  return NULL;
}

/* ---- header dict -------------------------------------------------------- */

typedef struct npy_header {
  char descr[32];
  int fortran_order;
  uint32_t rank;
  uint64_t shape[NPY_MAX_RANK];
} npy_header;

/* A cursor over the header text; `what` receives the parse error. */
typedef struct hdr_cursor {
  const char *s;
  size_t len, pos;
  char what[160];
} hdr_cursor;

static void cur_skip_space(hdr_cursor *c) {
  while (c->pos < c->len && (c->s[c->pos] == ' ' || c->s[c->pos] == '\t' || c->s[c->pos] == '\n' ||
                             c->s[c->pos] == '\r'))
    c->pos++;
}

static int cur_fail(hdr_cursor *c, const char *expected) {
  if (c->pos < c->len)
    snprintf(c->what, sizeof c->what, "expected %s at header offset %zu, found '%c'", expected,
             c->pos, c->s[c->pos]);
  else
    snprintf(c->what, sizeof c->what, "expected %s, found the end of the header", expected);
  return -1;
}

static int cur_expect(hdr_cursor *c, char ch, const char *expected) {
  cur_skip_space(c);
  if (c->pos >= c->len || c->s[c->pos] != ch) return cur_fail(c, expected);
  c->pos++;
  return 0;
}

static int cur_peek(hdr_cursor *c, char ch) {
  cur_skip_space(c);
  return c->pos < c->len && c->s[c->pos] == ch;
}

static int cur_string(hdr_cursor *c, char *out, size_t outlen) {
  cur_skip_space(c);
  if (c->pos >= c->len || (c->s[c->pos] != '\'' && c->s[c->pos] != '"'))
    return cur_fail(c, "a quoted string");
  char quote = c->s[c->pos++];
  size_t n = 0;
  while (c->pos < c->len && c->s[c->pos] != quote) {
    if (c->s[c->pos] == '\\' || n + 1 >= outlen)
      return cur_fail(c, "a short string without escapes");
    out[n++] = c->s[c->pos++];
  }
  if (c->pos >= c->len) return cur_fail(c, "a closing quote");
  c->pos++;
  out[n] = '\0';
  return 0;
}

static int cur_uint(hdr_cursor *c, uint64_t *out) {
  cur_skip_space(c);
  if (c->pos >= c->len || c->s[c->pos] < '0' || c->s[c->pos] > '9')
    return cur_fail(c, "a non-negative integer");
  uint64_t v = 0;
  while (c->pos < c->len && c->s[c->pos] >= '0' && c->s[c->pos] <= '9') {
    unsigned digit = (unsigned)(c->s[c->pos] - '0');
    if (v > (UINT64_MAX - digit) / 10) return cur_fail(c, "a dimension below 2^64");
    v = v * 10 + digit;
    c->pos++;
  }
  if (c->pos < c->len && c->s[c->pos] == 'L') /* Python 2 long literal */
    c->pos++;
  *out = v;
  return 0;
}

static int cur_bool(hdr_cursor *c, int *out) {
  cur_skip_space(c);
  if (c->len - c->pos >= 4 && memcmp(c->s + c->pos, "True", 4) == 0) {
    c->pos += 4;
    *out = 1;
    return 0;
  }
  if (c->len - c->pos >= 5 && memcmp(c->s + c->pos, "False", 5) == 0) {
    c->pos += 5;
    *out = 0;
    return 0;
  }
  return cur_fail(c, "True or False");
}

static int cur_shape(hdr_cursor *c, npy_header *h) {
  if (cur_expect(c, '(', "'(' opening the shape tuple") != 0) return -1;
  h->rank = 0;
  while (!cur_peek(c, ')')) {
    if (h->rank == NPY_MAX_RANK) {
      snprintf(c->what, sizeof c->what, "shape has more than %d dimensions", NPY_MAX_RANK);
      return -1;
    }
    if (cur_uint(c, &h->shape[h->rank]) != 0) return -1;
    h->rank++;
    if (cur_peek(c, ','))
      c->pos++;
    else if (!cur_peek(c, ')'))
      return cur_fail(c, "',' or ')' in the shape tuple");
  }
  c->pos++;
  return 0;
}

/* Parse the header dict; 0 on success, else c->what says why. */
static int header_parse(hdr_cursor *c, npy_header *h) {
  int have_descr = 0, have_order = 0, have_shape = 0;
  if (cur_expect(c, '{', "'{' opening the header dict") != 0) return -1;
  while (!cur_peek(c, '}')) {
    char key[32];
    if (cur_string(c, key, sizeof key) != 0 || cur_expect(c, ':', "':' after a key") != 0)
      return -1;
    if (strcmp(key, "descr") == 0) {
      if (cur_string(c, h->descr, sizeof h->descr) != 0) return -1;
      have_descr = 1;
    } else if (strcmp(key, "fortran_order") == 0) {
      if (cur_bool(c, &h->fortran_order) != 0) return -1;
      have_order = 1;
    } else if (strcmp(key, "shape") == 0) {
      if (cur_shape(c, h) != 0) return -1;
      have_shape = 1;
    } else {
      snprintf(c->what, sizeof c->what,
               "unknown header key '%s' (expected descr, fortran_order, shape)", key);
      return -1;
    }
    if (cur_peek(c, ','))
      c->pos++;
    else if (!cur_peek(c, '}'))
      return cur_fail(c, "',' or '}' in the header dict");
  }
  c->pos++;
  cur_skip_space(c);
  if (c->pos != c->len) return cur_fail(c, "only padding after the header dict");
  if (!have_descr || !have_order || !have_shape) {
    snprintf(c->what, sizeof c->what, "header lacks the key '%s'",
             !have_descr   ? "descr"
             : !have_order ? "fortran_order"
                           : "shape");
    return -1;
  }
  return 0;
}

/* ---- reader ------------------------------------------------------------- */

/* The header into *h and the offset of the data into *data_at. */
static pmm_status read_header(FILE *f, const char *path, npy_header *h, uint64_t *data_at,
                              char *err, size_t errlen) {
  unsigned char pre[12];
  size_t got = fread(pre, 1, 10, f);
  if (got < 8 || memcmp(pre, "\x93NUMPY", 6) != 0)
    return npy_fail(PMM_ERR_FORMAT, err, errlen, path,
                    "not a .npy file (expected the magic \\x93NUMPY)");
  unsigned major = pre[6], minor = pre[7];
  if (major < 1 || major > 3)
    return npy_fail(PMM_ERR_FORMAT, err, errlen, path,
                    "unsupported .npy version %u.%u (expected 1.0, 2.0 or 3.0)", major, minor);
  uint64_t hlen;
  if (major == 1) {
    if (got < 10) return npy_fail(PMM_ERR_FORMAT, err, errlen, path, "truncated .npy preamble");
    hlen = load_le(pre + 8, 2);
  } else {
    if (got < 10 || fread(pre + 10, 1, 2, f) != 2)
      return npy_fail(PMM_ERR_FORMAT, err, errlen, path, "truncated .npy preamble");
    hlen = load_le(pre + 8, 4);
  }
  if (hlen > PMM_INFILE_MAX_NPY_HEADER)
    return npy_fail(PMM_ERR_FORMAT, err, errlen, path, "header length %llu is implausibly large",
                    (unsigned long long)hlen);
  char *text = malloc((size_t)hlen + 1);
  if (!text) return npy_fail(PMM_ERR_NOMEM, err, errlen, path, "out of memory reading the header");
  if (fread(text, 1, (size_t)hlen, f) != (size_t)hlen) {
    free(text);
    return npy_fail(PMM_ERR_FORMAT, err, errlen, path, "truncated header (expected %llu bytes)",
                    (unsigned long long)hlen);
  }
  text[hlen] = '\0';
  hdr_cursor c = {text, (size_t)hlen, 0, ""};
  int bad = header_parse(&c, h);
  free(text);
  if (bad) return npy_fail(PMM_ERR_FORMAT, err, errlen, path, "bad header: %s", c.what);
  *data_at = (major == 1 ? 10 : 12) + hlen;
  return PMM_OK;
}

/* The file's size was checked against the header: a short read here means
 * the file changed while being read. */
static pmm_status read_data(FILE *f, const char *path, const npy_dtype *dt, pmm_array *a, char *err,
                            size_t errlen) {
  unsigned char buf[1 << 16];
  size_t per = sizeof buf / dt->size;
  uint64_t done = 0;
  while (done < a->count) {
    size_t want = a->count - done < per ? (size_t)(a->count - done) : per;
    size_t got = fread(buf, dt->size, want, f);
    for (size_t i = 0; i < got; i++) a->data[done + i] = dt->conv(buf + i * dt->size);
    done += got;
    if (got < want) {
      if (ferror(f))
        return npy_fail(PMM_ERR_IO, err, errlen, path, "read error: %s", strerror(errno));
      return npy_fail(PMM_ERR_FORMAT, err, errlen, path,
                      "truncated data: expected %llu elements of %s, found %llu",
                      (unsigned long long)a->count, dt->descr, (unsigned long long)done);
    }
  }
  return PMM_OK;
}

pmm_status pmm_npy_read(const char *path, pmm_array *out, char *err, size_t errlen) {
  memset(out, 0, sizeof *out);
  uint64_t size;
  char why[512];
  int fd = pmm_infile_open(path, PMM_INFILE_NO_LIMIT, "a .npy file", &size, why, sizeof why);
  if (fd < 0) {
    if (err && errlen > 0) snprintf(err, errlen, "%s", why);
    return PMM_ERR_IO;
  }
  FILE *f = fdopen(fd, "rb");
  if (!f) {
    close(fd);
    return npy_fail(PMM_ERR_NOMEM, err, errlen, path, "out of memory");
  }
  npy_header h;
  memset(&h, 0, sizeof h);
  uint64_t data_at = 0;
  pmm_status st = read_header(f, path, &h, &data_at, err, errlen);
  const npy_dtype *dt = NULL;
  if (st == PMM_OK) {
    dt = dtype_find(h.descr);
    if (!dt)
      st = npy_fail(PMM_ERR_FORMAT, err, errlen, path,
                    "unsupported dtype '%s' (expected <f4, <f8, <i4, <i8, |u1 or <u2)", h.descr);
    else if (h.fortran_order)
      st = npy_fail(PMM_ERR_FORMAT, err, errlen, path,
                    "Fortran-order arrays are not supported (save the array in C order)");
  }
  uint64_t count = 1, bytes = 0;
  for (uint32_t i = 0; st == PMM_OK && i < h.rank; i++) {
    if (h.shape[i] != 0 && count > UINT64_MAX / h.shape[i])
      st = npy_fail(PMM_ERR_FORMAT, err, errlen, path, "shape overflows 64 bits");
    else
      count *= h.shape[i];
  }
  /* The data's size against the file's before allocating for it, so a
   * damaged or cut-off file is reported as such, not as a lack of memory. */
  if (st == PMM_OK) {
    uint64_t have = size - data_at;
    if (__builtin_mul_overflow(count, (uint64_t)dt->size, &bytes) || bytes > have)
      st = npy_truncated(err, errlen, path, count, dt->size, have);
    else if (bytes < have)
      st = npy_fail(PMM_ERR_FORMAT, err, errlen, path,
                    "unexpected bytes after the %llu elements the header announces",
                    (unsigned long long)count);
  }
  if (st == PMM_OK && count > SIZE_MAX / sizeof(float))
    st = npy_fail(PMM_ERR_NOMEM, err, errlen, path, "array of %llu elements is too large",
                  (unsigned long long)count);
  if (st == PMM_OK) {
    out->rank = h.rank;
    memcpy(out->shape, h.shape, sizeof h.shape);
    out->count = count;
    out->data = malloc(count > 0 ? (size_t)count * sizeof(float) : 1);
    if (!out->data)
      st = npy_fail(PMM_ERR_NOMEM, err, errlen, path, "out of memory for %llu elements",
                    (unsigned long long)count);
  }
  if (st == PMM_OK) st = read_data(f, path, dt, out, err, errlen);
  fclose(f);
  if (st != PMM_OK) pmm_array_free(out);
  return st;
}

/* ---- writer ------------------------------------------------------------- */

pmm_status pmm_npy_write_header(void *file, uint32_t rank, const uint64_t *shape) {
  FILE *f = file;
  if (rank > NPY_MAX_RANK) return PMM_ERR_USAGE;
  /* 10-byte preamble + dict + padding + '\n' is a multiple of 64, so the
   * data that follows is aligned for memory-mapping readers. */
  char head[512];
  int n =
      snprintf(head + 10, sizeof head - 10, "{'descr': '<f4', 'fortran_order': False, 'shape': (");
  for (uint32_t i = 0; i < rank; i++)
    n += snprintf(head + 10 + n, sizeof head - 10 - (size_t)n, "%llu%s",
                  (unsigned long long)shape[i],
                  rank == 1      ? ","
                  : i + 1 < rank ? ", "
                                 : "");
  n += snprintf(head + 10 + n, sizeof head - 10 - (size_t)n, "), }");
  size_t total = 10 + (size_t)n + 1;
  size_t padded = (total + 63) / 64 * 64;
  memset(head + 10 + n, ' ', padded - total);
  head[padded - 1] = '\n';
  memcpy(head, "\x93NUMPY\x01\x00", 8);
  size_t hlen = padded - 10;
  head[8] = (char)(hlen & 0xff);
  head[9] = (char)(hlen >> 8);
  if (fwrite(head, 1, padded, f) != padded) return PMM_ERR_IO;
  return PMM_OK;
}
