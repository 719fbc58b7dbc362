/*
 * safetensors.c - weight sets and the safetensors file format.
 *
 * Loading trusts nothing in the file: the header length, every offset and
 * every shape is checked (with overflow-checked arithmetic) before a byte of
 * tensor data is touched, and the data section must be covered exactly by
 * the tensors, as the format requires (contiguous, no overlap, no holes).
 * json-c keeps only the last of two equal keys, so duplicate tensor names
 * are looked for in the header's text.
 * Saving writes F32 with the header padded by spaces to a multiple of 8 so
 * the data is aligned, as an output of runtime/outfile.h (a temporary file
 * renamed into place at the end).
 */
#include <errno.h>
#include <float.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <json-c/json.h>

#include "compiler/front/weights.h"
#include "compiler/util/xalloc.h"
#include "runtime/infile.h"
#include "runtime/outfile.h"

static void st_error(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void st_error(char *err, size_t errlen, const char *fmt, ...) {
  if (!err || errlen == 0) return;
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(err, errlen, fmt, ap);
  va_end(ap);
}

/* ---- weight sets -------------------------------------------------------- */

void weight_set_init(weight_set *ws) {
  memset(ws, 0, sizeof *ws);
  strmap_init(&ws->index);
}

void weight_set_free(weight_set *ws) {
  for (size_t i = 0; i < ws->count; i++) {
    free(ws->tensors[i].name);
    free(ws->tensors[i].data);
  }
  free(ws->tensors);
  strmap_free(&ws->index);
  memset(ws, 0, sizeof *ws);
}

const weight_tensor *weights_find(const weight_set *ws, const char *name) {
  size_t i;
  return strmap_get(&ws->index, name, &i) ? &ws->tensors[i] : NULL;
}

static int shape_count(uint32_t rank, const uint64_t *shape, uint64_t *count) {
  uint64_t n = 1;
  for (uint32_t i = 0; i < rank; i++)
    if (__builtin_mul_overflow(n, shape[i], &n)) return -1;
  *count = n;
  return 0;
}

/* Append a tensor taking ownership of data (count floats); on failure data
 * is freed.  Names are unique within a set. */
static int weight_set_push(weight_set *ws, const char *name, uint32_t rank, const uint64_t *shape,
                           float *data) {
  uint64_t count;
  if (rank > WEIGHT_MAX_RANK || weights_find(ws, name) || shape_count(rank, shape, &count) != 0)
    goto fail;
  if (ws->count == ws->cap) {
    size_t cap = ws->cap ? ws->cap * 2 : 8;
    weight_tensor *t = xmalloc_array(cap, sizeof *t);
    if (!t) goto fail;
    if (ws->count) memcpy(t, ws->tensors, ws->count * sizeof *t);
    free(ws->tensors);
    ws->tensors = t;
    ws->cap = cap;
  }
  weight_tensor *t = &ws->tensors[ws->count];
  memset(t, 0, sizeof *t);
  if (!(t->name = xstrdup(name))) goto fail;
  /* The index keys are the names the tensors own, which never move. */
  if (strmap_put(&ws->index, t->name, ws->count, NULL) != 1) {
    free(t->name);
    goto fail;
  }
  t->rank = rank;
  memcpy(t->shape, shape, rank * sizeof *shape);
  t->count = count;
  t->data = data;
  ws->count++;
  return 0;
fail:
  free(data);
  return -1;
}

int weight_set_add(weight_set *ws, const char *name, uint32_t rank, const uint64_t *shape,
                   const float *data) {
  uint64_t count;
  if (rank > WEIGHT_MAX_RANK || shape_count(rank, shape, &count) != 0 || count > SIZE_MAX)
    return -1;
  float *copy = xmalloc_array((size_t)count, sizeof *copy);
  if (!copy) return -1;
  if (count) memcpy(copy, data, (size_t)count * sizeof *copy);
  return weight_set_push(ws, name, rank, shape, copy);
}

/* ---- element conversion ------------------------------------------------- */

static float f32_from_bits(uint32_t b) {
  float f;
  memcpy(&f, &b, sizeof f);
  return f;
}

float weights_f16_to_f32(uint16_t h) {
  uint32_t sign = (uint32_t)(h >> 15) << 31, exp = (h >> 10) & 0x1f, mant = h & 0x3ff;
  if (exp == 0x1f) return f32_from_bits(sign | 0x7f800000u | (mant << 13));
  if (exp == 0) {
    if (mant == 0) return f32_from_bits(sign);
    /* Subnormal half: normalise into a (normal) float. */
    int e = -14;
    while (!(mant & 0x400)) {
      mant <<= 1;
      e--;
    }
    return f32_from_bits(sign | (uint32_t)(e + 127) << 23 | (mant & 0x3ff) << 13);
  }
  return f32_from_bits(sign | (exp - 15 + 127) << 23 | mant << 13);
}

float weights_bf16_to_f32(uint16_t h) { return f32_from_bits((uint32_t)h << 16); }

static uint64_t le64(const unsigned char *p) {
  uint64_t v = 0;
  for (int i = 7; i >= 0; i--) v = v << 8 | p[i];
  return v;
}

static double f64_from_bits(uint64_t b) {
  double d;
  memcpy(&d, &b, sizeof d);
  return d;
}

/* ---- loading ------------------------------------------------------------ */

typedef struct st_entry {
  const char *name;
  int elsize; /* 8 = F64, 4 = F32, 2 = F16 or BF16 */
  int bf16;
  uint32_t rank;
  uint64_t shape[WEIGHT_MAX_RANK];
  uint64_t count, begin, end;
} st_entry;

static int st_get_u64(json_object *v, uint64_t *out) {
  if (!json_object_is_type(v, json_type_int)) return -1;
  errno = 0;
  int64_t x = json_object_get_int64(v);
  if (x < 0 || errno != 0) return -1;
  *out = (uint64_t)x;
  return 0;
}

static int st_parse_entry(const char *path, const char *name, json_object *val, uint64_t data_size,
                          st_entry *e, char *err, size_t errlen) {
  json_object *dt, *sh, *off;
  memset(e, 0, sizeof *e);
  e->name = name;
  if (!json_object_is_type(val, json_type_object) ||
      !json_object_object_get_ex(val, "dtype", &dt) ||
      !json_object_object_get_ex(val, "shape", &sh) ||
      !json_object_object_get_ex(val, "data_offsets", &off)) {
    st_error(err, errlen, "%s: tensor '%s' is not an object with dtype, shape and data_offsets",
             path, name);
    return -1;
  }
  const char *dts = json_object_is_type(dt, json_type_string) ? json_object_get_string(dt) : "";
  if (!strcmp(dts, "F64"))
    e->elsize = 8;
  else if (!strcmp(dts, "F32"))
    e->elsize = 4;
  else if (!strcmp(dts, "F16"))
    e->elsize = 2;
  else if (!strcmp(dts, "BF16"))
    e->elsize = 2, e->bf16 = 1;
  else {
    st_error(err, errlen, "%s: tensor '%s' has dtype '%s', expected F64, F32, F16 or BF16", path,
             name, json_object_get_string(dt));
    return -1;
  }
  size_t rank = json_object_is_type(sh, json_type_array) ? json_object_array_length(sh) : SIZE_MAX;
  int ok = rank <= WEIGHT_MAX_RANK;
  for (size_t i = 0; ok && i < rank; i++)
    ok = st_get_u64(json_object_array_get_idx(sh, i), &e->shape[i]) == 0;
  if (!ok) {
    st_error(err, errlen,
             "%s: tensor '%s' has shape %s, expected a list of at most %d "
             "non-negative integers",
             path, name, json_object_to_json_string_ext(sh, JSON_C_TO_STRING_PLAIN),
             WEIGHT_MAX_RANK);
    return -1;
  }
  e->rank = (uint32_t)rank;
  if (!json_object_is_type(off, json_type_array) || json_object_array_length(off) != 2 ||
      st_get_u64(json_object_array_get_idx(off, 0), &e->begin) != 0 ||
      st_get_u64(json_object_array_get_idx(off, 1), &e->end) != 0 || e->begin > e->end ||
      e->end > data_size) {
    st_error(err, errlen,
             "%s: tensor '%s' has data_offsets %s, expected [begin, end] with "
             "begin <= end <= %llu (the size of the data)",
             path, name, json_object_to_json_string_ext(off, JSON_C_TO_STRING_PLAIN),
             (unsigned long long)data_size);
    return -1;
  }
  uint64_t bytes;
  if (shape_count(e->rank, e->shape, &e->count) != 0 ||
      __builtin_mul_overflow(e->count, (uint64_t)e->elsize, &bytes) || bytes != e->end - e->begin) {
    st_error(err, errlen,
             "%s: tensor '%s' (%s, shape %s) does not match its data_offsets, "
             "which span %llu bytes",
             path, name, dts, json_object_to_json_string_ext(sh, JSON_C_TO_STRING_PLAIN),
             (unsigned long long)(e->end - e->begin));
    return -1;
  }
  return 0;
}

static int st_cmp_entry(const void *a, const void *b) {
  const st_entry *x = a, *y = b;
  if (x->begin != y->begin) return x->begin < y->begin ? -1 : 1;
  return x->end < y->end ? -1 : x->end > y->end;
}

static int st_check_layout(const char *path, st_entry *e, size_t n, uint64_t data_size, char *err,
                           size_t errlen) {
  qsort(e, n, sizeof *e, st_cmp_entry);
  uint64_t at = 0;
  for (size_t i = 0; i < n; i++) {
    if (e[i].begin != at) {
      st_error(err, errlen,
               "%s: tensor '%s' starts at data byte %llu, expected %llu (tensors "
               "must cover the data contiguously, without overlap)",
               path, e[i].name, (unsigned long long)e[i].begin, (unsigned long long)at);
      return -1;
    }
    at = e[i].end;
  }
  if (at != data_size) {
    st_error(err, errlen, "%s: %llu bytes of data after the last tensor belong to no tensor", path,
             (unsigned long long)(data_size - at));
    return -1;
  }
  return 0;
}

/* One F64 value as float; -1 when it is finite but beyond float's range
 * (NaN and infinities carry over). */
static int st_f64_to_f32(const unsigned char *p, float *out) {
  double d = f64_from_bits(le64(p));
  if (isfinite(d) && fabs(d) > FLT_MAX) return -1;
  *out = (float)d;
  return 0;
}

/* The tensor's data as floats into *out (malloc'd), read from fd (whose
 * data section starts at data_at) a buffer at a time, so only what the
 * header describes is ever read; -1 with err set. */
static int st_convert(const char *path, int fd, uint64_t data_at, const st_entry *e, float **out,
                      char *err, size_t errlen) {
  float *f = e->count <= SIZE_MAX ? xmalloc_array((size_t)e->count, sizeof *f) : NULL;
  if (!f) {
    st_error(err, errlen, "%s: out of memory loading tensor '%s'", path, e->name);
    return -1;
  }
  unsigned char buf[1 << 16];
  size_t per = sizeof buf / (size_t)e->elsize;
  for (uint64_t i = 0; i < e->count;) {
    size_t n = e->count - i < per ? (size_t)(e->count - i) : per;
    if (pmm_infile_pread(fd, buf, n * (size_t)e->elsize, data_at + e->begin + i * e->elsize) != 0) {
      st_error(err, errlen, "%s: cannot read tensor '%s': %s", path, e->name,
               errno ? strerror(errno) : "the file is shorter than when it was opened");
      free(f);
      return -1;
    }
    for (size_t k = 0; k < n; k++, i++) {
      const unsigned char *p = buf + k * (size_t)e->elsize;
      if (e->elsize == 8) {
        if (st_f64_to_f32(p, &f[i]) != 0) {
          st_error(err, errlen,
                   "%s: tensor '%s' holds %.9g at index %llu, which overflows "
                   "float32 (F64 values must lie within +-3.40282347e+38)",
                   path, e->name, f64_from_bits(le64(p)), (unsigned long long)i);
          free(f);
          return -1;
        }
      } else if (e->elsize == 4) {
        uint32_t b =
            (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
        f[i] = f32_from_bits(b);
      } else {
        uint16_t h = (uint16_t)(p[0] | p[1] << 8);
        f[i] = e->bf16 ? weights_bf16_to_f32(h) : weights_f16_to_f32(h);
      }
    }
  }
  *out = f;
  return 0;
}

static json_object *st_parse_header(const char *path, const unsigned char *h, size_t n, char *err,
                                    size_t errlen) {
  json_tokener *tok = json_tokener_new();
  if (!tok) {
    st_error(err, errlen, "%s: out of memory", path);
    return NULL;
  }
  json_object *obj = json_tokener_parse_ex(tok, (const char *)h, (int)n);
  enum json_tokener_error jerr = json_tokener_get_error(tok);
  size_t end = json_tokener_get_parse_end(tok);
  json_tokener_free(tok);
  if (!obj || jerr != json_tokener_success) {
    st_error(err, errlen, "%s: the header is not valid JSON (%s)", path,
             jerr == json_tokener_continue ? "unexpected end of header"
                                           : json_tokener_error_desc(jerr));
    json_object_put(obj);
    return NULL;
  }
  /* Only padding may follow the JSON value. */
  for (size_t i = end; i < n; i++) {
    if (h[i] != ' ' && h[i] != '\t' && h[i] != '\n' && h[i] != '\r') {
      st_error(err, errlen, "%s: the header has text after its JSON object (at byte %zu)", path,
               8 + i);
      json_object_put(obj);
      return NULL;
    }
  }
  if (!json_object_is_type(obj, json_type_object)) {
    st_error(err, errlen, "%s: the header is %s, expected a JSON object", path,
             json_type_to_name(json_object_get_type(obj)));
    json_object_put(obj);
    return NULL;
  }
  return obj;
}

/* A top-level key of the header as written, quotes included. */
typedef struct st_key {
  const unsigned char *at;
  size_t len;
} st_key;

/* The top-level keys of the header h[0..n) (valid JSON: json-c parsed it)
 * into keys (when not NULL); returns their number. */
static size_t st_top_keys(const unsigned char *h, size_t n, st_key *keys) {
  size_t count = 0;
  int depth = 0;
  for (size_t i = 0; i < n; i++) {
    if (h[i] == '{' || h[i] == '[') {
      depth++;
    } else if (h[i] == '}' || h[i] == ']') {
      depth--;
    } else if (h[i] == '"') {
      size_t start = i++;
      while (i < n && h[i] != '"') i += h[i] == '\\' ? 2 : 1;
      size_t j = i + 1;
      while (j < n && (h[j] == ' ' || h[j] == '\t' || h[j] == '\n' || h[j] == '\r')) j++;
      if (depth == 1 && j < n && h[j] == ':') {
        if (keys) keys[count] = (st_key){h + start, i + 1 - start};
        count++;
      }
    }
  }
  return count;
}

/* The key's string with its escapes decoded (malloc'd) into *name; -1 when
 * out of memory, 1 when it holds a NUL character (json-c would cut the
 * name there, making two different names one). */
static int st_key_name(const st_key *k, char **name) {
  char *text = malloc(k->len + 1);
  if (!text) return -1;
  memcpy(text, k->at, k->len);
  text[k->len] = '\0';
  json_object *o = json_tokener_parse(text);
  free(text);
  int rc = -1;
  *name = NULL;
  if (json_object_is_type(o, json_type_string) && (*name = xstrdup(json_object_get_string(o))))
    rc = strlen(*name) != (size_t)json_object_get_string_len(o);
  json_object_put(o);
  return rc;
}

/* Every top-level name once: json-c keeps only the last of two equal keys,
 * so the names are read from the header's text (escapes decoded) and
 * looked up as they come. */
static int st_check_unique(const char *path, const unsigned char *h, size_t n, char *err,
                           size_t errlen) {
  size_t count = st_top_keys(h, n, NULL), named = 0;
  st_key *keys = xmalloc_array(count, sizeof *keys);
  char **names = xcalloc_array(count, sizeof *names);
  strmap seen;
  strmap_init(&seen);
  int rc = -1;
  if (!keys || !names) {
    st_error(err, errlen, "%s: out of memory reading the header", path);
    goto out;
  }
  st_top_keys(h, n, keys);
  for (; named < count; named++) {
    int nul = st_key_name(&keys[named], &names[named]);
    int added = nul == 0 ? strmap_put(&seen, names[named], named, NULL) : -1;
    if (nul > 0) {
      st_error(err, errlen, "%s: tensor name '%s\\u0000...' holds a NUL character", path,
               names[named]);
      named++;
      goto out;
    }
    if (nul < 0 || added < 0) {
      st_error(err, errlen, "%s: out of memory reading the header", path);
      named += nul == 0;
      goto out;
    }
    if (added == 0) {
      st_error(err, errlen, "%s: tensor '%s' is named twice in the header, expected unique names",
               path, names[named]);
      named++;
      goto out;
    }
  }
  rc = 0;
out:
  strmap_free(&seen);
  for (size_t i = 0; i < named; i++) free(names[i]);
  free(names);
  free(keys);
  return rc;
}

static int st_cmp_name(const void *a, const void *b) {
  return strcmp(((const st_entry *)a)->name, ((const st_entry *)b)->name);
}

/* The 8-byte length and the header's text (malloc'd, hlen bytes) of the file
 * open as fd with size bytes: nothing past the header is read, so a length
 * that does not fit the file costs nothing. */
static int st_read_header(const char *path, int fd, uint64_t size, unsigned char **text,
                          uint64_t *hlen, char *err, size_t errlen) {
  unsigned char len8[8];
  if (size < 8) {
    st_error(err, errlen, "%s: file of %llu bytes is too short, expected an 8-byte header length",
             path, (unsigned long long)size);
    return -1;
  }
  if (pmm_infile_pread(fd, len8, 8, 0) != 0) {
    st_error(err, errlen, "%s: cannot read: %s", path, errno ? strerror(errno) : "short read");
    return -1;
  }
  *hlen = le64(len8);
  if (*hlen > size - 8 || *hlen > PMM_INFILE_MAX_SAFETENSORS_HEADER || *hlen == 0) {
    st_error(err, errlen, "%s: header length %llu does not fit a file of %llu bytes%s", path,
             (unsigned long long)*hlen, (unsigned long long)size,
             *hlen > PMM_INFILE_MAX_SAFETENSORS_HEADER && *hlen <= size - 8
                 ? " (headers are limited to 100 MiB)"
                 : "");
    return -1;
  }
  if (!(*text = malloc((size_t)*hlen))) {
    st_error(err, errlen, "%s: out of memory reading the header", path);
    return -1;
  }
  if (pmm_infile_pread(fd, *text, (size_t)*hlen, 8) != 0) {
    st_error(err, errlen, "%s: cannot read: %s", path, errno ? strerror(errno) : "short read");
    free(*text);
    return -1;
  }
  return 0;
}

int weights_load_safetensors(const char *path, weight_set *ws, char *err, size_t errlen) {
  weight_set_init(ws);
  uint64_t size, hlen;
  int fd = pmm_infile_open(path, PMM_INFILE_NO_LIMIT, "a safetensors file", &size, err, errlen);
  if (fd < 0) return -1;
  unsigned char *h = NULL;
  int rc = -1;
  json_object *hdr = NULL;
  st_entry *entries = NULL;
  if (st_read_header(path, fd, size, &h, &hlen, err, errlen) != 0) goto out;
  if (!(hdr = st_parse_header(path, h, (size_t)hlen, err, errlen)) ||
      st_check_unique(path, h, (size_t)hlen, err, errlen) != 0)
    goto out;
  uint64_t data_at = 8 + hlen, data_size = size - data_at;
  size_t n = 0, cap = (size_t)json_object_object_length(hdr);
  entries = xcalloc_array(cap, sizeof *entries);
  if (!entries) {
    st_error(err, errlen, "%s: out of memory", path);
    goto out;
  }
  json_object_object_foreach(hdr, key, val) {
    if (!strcmp(key, "__metadata__")) continue;
    if (st_parse_entry(path, key, val, data_size, &entries[n], err, errlen) != 0) goto out;
    n++;
  }
  if (st_check_layout(path, entries, n, data_size, err, errlen) != 0) goto out;
  /* Keep the file's tensors in name order: the order of a JSON object is
   * not meaningful, and a stable order makes dumps and saves reproducible. */
  qsort(entries, n, sizeof *entries, st_cmp_name);
  for (size_t i = 0; i < n; i++) {
    float *f;
    if (st_convert(path, fd, data_at, &entries[i], &f, err, errlen) != 0) goto out;
    if (weight_set_push(ws, entries[i].name, entries[i].rank, entries[i].shape, f) != 0) {
      st_error(err, errlen, "%s: out of memory loading tensor '%s'", path, entries[i].name);
      goto out;
    }
  }
  rc = 0;
out:
  if (rc != 0) weight_set_free(ws);
  free(entries);
  json_object_put(hdr);
  free(h);
  close(fd);
  return rc;
}

/* ---- saving ------------------------------------------------------------- */

static json_object *st_build_header(const weight_set *ws) {
  json_object *root = json_object_new_object();
  uint64_t at = 0;
  for (size_t i = 0; root && i < ws->count; i++) {
    const weight_tensor *t = &ws->tensors[i];
    json_object *e = json_object_new_object(), *sh = json_object_new_array(),
                *off = json_object_new_array();
    int ok = e && sh && off && t->count <= INT64_MAX / 4;
    for (uint32_t d = 0; ok && d < t->rank; d++)
      ok = t->shape[d] <= INT64_MAX &&
           json_object_array_add(sh, json_object_new_int64((int64_t)t->shape[d])) == 0;
    ok = ok && json_object_array_add(off, json_object_new_int64((int64_t)at)) == 0 &&
         json_object_array_add(off, json_object_new_int64((int64_t)(at + 4 * t->count))) == 0 &&
         json_object_object_add(e, "dtype", json_object_new_string("F32")) == 0;
    if (ok) {
      ok = json_object_object_add(e, "shape", sh) == 0;
      sh = NULL;
    }
    if (ok) {
      ok = json_object_object_add(e, "data_offsets", off) == 0;
      off = NULL;
    }
    if (ok) {
      ok = json_object_object_add(root, t->name, e) == 0;
      e = NULL;
    }
    json_object_put(sh);
    json_object_put(off);
    json_object_put(e);
    if (!ok) {
      json_object_put(root);
      return NULL;
    }
    at += 4 * t->count;
  }
  return root;
}

static int st_write_all(FILE *f, const weight_set *ws, const char *hdr) {
  size_t hl = strlen(hdr), pad = (8 - (8 + hl) % 8) % 8;
  uint64_t total = hl + pad;
  unsigned char len8[8];
  for (int i = 0; i < 8; i++) len8[i] = (unsigned char)(total >> (8 * i));
  if (fwrite(len8, 1, 8, f) != 8 || fwrite(hdr, 1, hl, f) != hl) return -1;
  for (size_t i = 0; i < pad; i++)
    if (fputc(' ', f) == EOF) return -1;
  for (size_t i = 0; i < ws->count; i++) {
    const weight_tensor *t = &ws->tensors[i];
    for (uint64_t k = 0; k < t->count; k++) {
      uint32_t b;
      unsigned char le[4];
      memcpy(&b, &t->data[k], 4);
      for (int j = 0; j < 4; j++) le[j] = (unsigned char)(b >> (8 * j));
      if (fwrite(le, 1, 4, f) != 4) return -1;
    }
  }
  return 0;
}

int weights_save_safetensors(const char *path, const weight_set *ws, char *err, size_t errlen) {
  json_object *hdr = st_build_header(ws);
  if (!hdr) {
    st_error(err, errlen, "%s: out of memory building the header", path);
    return -1;
  }
  const char *text =
      json_object_to_json_string_ext(hdr, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE);
  int rc = -1;
  pmm_outfile f;
  if (!text) {
    st_error(err, errlen, "%s: out of memory", path);
  } else if (pmm_outfile_open(&f, path, err, errlen) == 0) {
    if (st_write_all(f.fp, ws, text) == 0) {
      rc = pmm_outfile_commit(&f, err, errlen);
    } else {
      st_error(err, errlen, "cannot write '%s': %s", path, strerror(errno));
      pmm_outfile_abort(&f);
    }
  }
  json_object_put(hdr);
  return rc;
}

/* ---- hash --------------------------------------------------------------- */

static uint64_t fnv_bytes(uint64_t h, const void *p, size_t n) {
  const unsigned char *b = p;
  for (size_t i = 0; i < n; i++) {
    h ^= b[i];
    h *= UINT64_C(0x100000001b3);
  }
  return h;
}

static uint64_t fnv_le(uint64_t h, uint64_t v, int bytes) {
  for (int i = 0; i < bytes; i++) {
    unsigned char b = (unsigned char)(v >> (8 * i));
    h = fnv_bytes(h, &b, 1);
  }
  return h;
}

void weights_hash(const weight_set *ws, char out[17]) {
  /* Tensors in name order (without allocating: repeated minimum search),
   * each as name + NUL, rank (4 bytes LE), dims (8 bytes LE), F32 data LE. */
  uint64_t h = UINT64_C(0xcbf29ce484222325);
  const char *last = NULL;
  for (size_t done = 0; done < ws->count; done++) {
    const weight_tensor *next = NULL;
    for (size_t i = 0; i < ws->count; i++) {
      const weight_tensor *t = &ws->tensors[i];
      if ((!last || strcmp(t->name, last) > 0) && (!next || strcmp(t->name, next->name) < 0))
        next = t;
    }
    h = fnv_bytes(h, next->name, strlen(next->name) + 1);
    h = fnv_le(h, next->rank, 4);
    for (uint32_t d = 0; d < next->rank; d++) h = fnv_le(h, next->shape[d], 8);
    for (uint64_t k = 0; k < next->count; k++) {
      uint32_t b;
      memcpy(&b, &next->data[k], 4);
      h = fnv_le(h, b, 4);
    }
    last = next->name;
  }
  snprintf(out, 17, "%016llx", (unsigned long long)h);
}
