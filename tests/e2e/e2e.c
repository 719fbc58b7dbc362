/*
 * e2e.c - helpers shared by the end-to-end suites (see e2e.h).
 */
#define _GNU_SOURCE /* mkdtemp, strcasestr */
#include "tests/e2e/e2e.h"

#include <check.h>
#include <dirent.h>
#include <errno.h>
#include <gsl/gsl_randist.h>
#include <gsl/gsl_rng.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "compiler/front/weights.h"

int e2e_env_init(e2e_env *env, const char *suite) {
  const char *base = getenv("TMPDIR");
  if (!base || !*base) base = "/tmp";
  int n = snprintf(env->dir, sizeof env->dir, "%s/pmmc-e2e-%s-XXXXXX", base, suite);
  if (n < 0 || (size_t)n >= sizeof env->dir) {
    fprintf(stderr, "e2e: scratch path under %s is too long\n", base);
    return -1;
  }
  if (!mkdtemp(env->dir)) {
    fprintf(stderr, "e2e: mkdtemp(%s): %s\n", env->dir, strerror(errno));
    return -1;
  }
  n = snprintf(env->gmm8_yaml, sizeof env->gmm8_yaml, "%s/models/gmm8/model.yaml", tu_srcdir());
  if (n < 0 || (size_t)n >= sizeof env->gmm8_yaml) {
    fprintf(stderr, "e2e: source directory path is too long\n");
    return -1;
  }
  printf("%s: scratch directory %s, pmmc %s\n", suite, env->dir, tu_pmmc());
  fflush(stdout);
  return 0;
}

void e2e_env_finish(const e2e_env *env, int failed) {
  if (failed)
    printf("keeping %s for inspection (%d failure(s))\n", env->dir, failed);
  else
    tu_remove_tree(env->dir);
}

static int format_va(char *out, size_t len, const char *fmt, va_list ap) {
  int n = vsnprintf(out, len, fmt, ap);
  return n < 0 || (size_t)n >= len ? -1 : 0;
}

int e2e_format(char *out, size_t len, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  int rc = format_va(out, len, fmt, ap);
  va_end(ap);
  if (rc != 0) fprintf(stderr, "e2e: '%s...' does not fit %zu bytes\n", out, len);
  return rc;
}

void e2e_path(char *out, size_t len, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  int rc = format_va(out, len, fmt, ap);
  va_end(ap);
  if (rc != 0) ck_abort_msg("e2e_path: '%s...' does not fit %zu bytes", out, len);
}

int e2e_build(const char *model, const char *flags, const char *dir, const char *name, char *out,
              size_t outlen) {
  if (e2e_format(out, outlen, "%s/%s", dir, name) != 0) return -1;
  return tu_run("'%s' build '%s' %s -o '%s'", tu_pmmc(), model, flags, out);
}

/* Offset of the data in an .npy file (versions 1, 2 and 3), 0 if the
 * preamble is malformed. */
static size_t npy_payload_offset(const unsigned char *b, size_t len) {
  if (len < 10 || memcmp(b, "\x93NUMPY", 6) != 0) return 0;
  size_t off;
  if (b[6] == 1) {
    off = 10 + ((size_t)b[8] | (size_t)b[9] << 8);
  } else if (b[6] == 2 || b[6] == 3) {
    if (len < 12) return 0;
    off = 12 + ((size_t)b[8] | (size_t)b[9] << 8 | (size_t)b[10] << 16 | (size_t)b[11] << 24);
  } else {
    return 0;
  }
  return off <= len ? off : 0;
}

void e2e_npy_load_shape(const char *path, uint64_t rows, uint32_t rank, const uint64_t *shape,
                        e2e_npy *out) {
  memset(out, 0, sizeof *out);
  out->bytes = tu_read_file(path, &out->len);
  ck_assert_msg(out->bytes != NULL, "cannot read sampler output %s", path);
  out->payload = npy_payload_offset((const unsigned char *)out->bytes, out->len);
  ck_assert_msg(out->payload != 0, "%s: not an .npy file (bad magic or header length)", path);
  /* The header is a Python dict literal; the contract is float32, C order. */
  /* The preamble holds NUL bytes (version, length): blank them so the
   * header can be searched as a string. */
  char *header = malloc(out->payload + 1);
  ck_assert_msg(header != NULL, "out of memory");
  for (size_t i = 0; i < out->payload; i++) header[i] = out->bytes[i] ? out->bytes[i] : ' ';
  header[out->payload] = '\0';
  ck_assert_msg(strstr(header, "'descr': '<f4'") != NULL,
                "%s: dtype is not little-endian float32 ('<f4'); header: %s", path, header + 10);
  ck_assert_msg(strstr(header, "'fortran_order': False") != NULL, "%s: not C order; header: %s",
                path, header + 10);
  free(header);
  tu_read_npy(path, &out->a);
  char want[256], got[256];
  uint64_t count = rows;
  int w = snprintf(want, sizeof want, "[%llu", (unsigned long long)rows);
  for (uint32_t i = 0; i < rank && w > 0 && (size_t)w < sizeof want; i++) {
    w += snprintf(want + w, sizeof want - (size_t)w, ", %llu", (unsigned long long)shape[i]);
    count *= shape[i];
  }
  int g = snprintf(got, sizeof got, "[");
  for (uint32_t i = 0; i < out->a.rank && g > 0 && (size_t)g < sizeof got; i++)
    g += snprintf(got + g, sizeof got - (size_t)g, "%s%llu", i ? ", " : "",
                  (unsigned long long)out->a.shape[i]);
  int same = out->a.rank == rank + 1 && out->a.shape[0] == rows;
  for (uint32_t i = 0; same && i < rank; i++) same = out->a.shape[i + 1] == shape[i];
  ck_assert_msg(same, "%s: shape is %s], expected %s]", path, got, want);
  out->payload_len = out->len - out->payload;
  ck_assert_msg(out->payload_len == count * sizeof(float),
                "%s: payload is %zu bytes, expected %llu for %s] float32", path, out->payload_len,
                (unsigned long long)(count * sizeof(float)), want);
}

void e2e_npy_load(const char *path, uint64_t rows, uint64_t cols, e2e_npy *out) {
  e2e_npy_load_shape(path, rows, 1, &cols, out);
}

void e2e_npy_free(e2e_npy *n) {
  free(n->bytes);
  pmm_array_free(&n->a);
  memset(n, 0, sizeof *n);
}

int e2e_model_yaml(const char *name, char *out, size_t len) {
  return e2e_format(out, len, "%s/models/%s/model.yaml", tu_srcdir(), name);
}

int e2e_write_text(const char *path, const char *text, char *err, size_t errlen) {
  FILE *f = fopen(path, "w");
  if (!f) {
    snprintf(err, errlen, "cannot create %s: %s", path, strerror(errno));
    return -1;
  }
  int bad = fputs(text, f) == EOF;
  if (fclose(f) != 0 || bad) {
    snprintf(err, errlen, "cannot write %s", path);
    return -1;
  }
  return 0;
}

int e2e_write_npy(const char *path, uint32_t rank, const uint64_t *shape, const float *data,
                  char *err, size_t errlen) {
  uint64_t count = 1;
  for (uint32_t i = 0; i < rank; i++) count *= shape[i];
  FILE *f = fopen(path, "wb");
  if (!f) {
    snprintf(err, errlen, "cannot create %s: %s", path, strerror(errno));
    return -1;
  }
  int bad = pmm_npy_write_header(f, rank, shape) != PMM_OK ||
            fwrite(data, sizeof *data, count, f) != count;
  if (fclose(f) != 0 || bad) {
    snprintf(err, errlen, "cannot write %s", path);
    return -1;
  }
  return 0;
}

int e2e_write_dense_weights(const char *path, const e2e_dense *layers, size_t n, unsigned long seed,
                            double scale, char *err, size_t errlen) {
  gsl_rng *r = gsl_rng_alloc(gsl_rng_mt19937);
  if (!r) {
    snprintf(err, errlen, "gsl_rng_alloc failed");
    return -1;
  }
  gsl_rng_set(r, seed);
  weight_set ws;
  weight_set_init(&ws);
  int rc = 0;
  for (size_t l = 0; rc == 0 && l < n; l++) {
    const e2e_dense *p = &layers[l];
    double sd = scale / sqrt((double)p->in);
    if (p->in == 0 || p->units == 0 || p->units > SIZE_MAX / sizeof(float) / p->in) {
      snprintf(err, errlen, "layer %s: bad size [%llu, %llu]", p->name,
               (unsigned long long)p->units, (unsigned long long)p->in);
      rc = -1;
      break;
    }
    float *buf = malloc(p->units * p->in * sizeof *buf);
    if (!buf) {
      snprintf(err, errlen, "out of memory");
      rc = -1;
      break;
    }
    char name[128];
    uint64_t wshape[2] = {p->units, p->in}, bshape[1] = {p->units};
    for (uint64_t i = 0; i < p->units * p->in; i++) buf[i] = (float)gsl_ran_gaussian(r, sd);
    snprintf(name, sizeof name, "%s.weight", p->name);
    rc = weight_set_add(&ws, name, 2, wshape, buf);
    if (rc == 0 && p->bias) {
      for (uint64_t i = 0; i < p->units; i++) buf[i] = (float)gsl_ran_gaussian(r, sd);
      snprintf(name, sizeof name, "%s.bias", p->name);
      rc = weight_set_add(&ws, name, 1, bshape, buf);
    }
    if (rc != 0) snprintf(err, errlen, "weight_set_add(%s) failed", name);
    free(buf);
  }
  if (rc == 0 && weights_save_safetensors(path, &ws, err, errlen) != 0) rc = -1;
  weight_set_free(&ws);
  gsl_rng_free(r);
  return rc;
}

int e2e_write_tensors(const char *path, const e2e_tensor *t, size_t n, char *err, size_t errlen) {
  weight_set ws;
  weight_set_init(&ws);
  int rc = 0;
  for (size_t i = 0; rc == 0 && i < n; i++)
    if (weight_set_add(&ws, t[i].name, t[i].rank, t[i].shape, t[i].data) != 0) {
      snprintf(err, errlen, "weight_set_add(%s) failed", t[i].name);
      rc = -1;
    }
  if (rc == 0 && weights_save_safetensors(path, &ws, err, errlen) != 0) rc = -1;
  weight_set_free(&ws);
  return rc;
}

long e2e_count_entries(const char *dir) {
  DIR *d = opendir(dir);
  if (!d) return -1;
  long n = 0;
  struct dirent *e;
  while ((e = readdir(d)) != NULL) {
    if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0) {
      printf("  entry in %s: %s\n", dir, e->d_name);
      n++;
    }
  }
  closedir(d);
  return n;
}

int e2e_contains(const char *hay, const char *needle) { return hay && strstr(hay, needle) != NULL; }

int e2e_contains_nocase(const char *hay, const char *needle) {
  return hay && strcasestr(hay, needle) != NULL;
}

double e2e_max_scaled_diff(const float *a, const float *b, size_t n, size_t *where) {
  double worst = 0.0;
  size_t at = 0;
  for (size_t i = 0; i < n; i++) {
    double d = fabs((double)a[i] - (double)b[i]) / (1.0 + fabs((double)b[i]));
    if (isnan(d)) d = INFINITY;
    if (d > worst) {
      worst = d;
      at = i;
    }
  }
  if (where) *where = at;
  return worst;
}
