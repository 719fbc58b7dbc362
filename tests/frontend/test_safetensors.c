/*
 * test_safetensors.c - the safetensors reader and writer in process:
 * round trips, F16/BF16/F64 conversion, duplicate names, every malformed
 * header and layout the loader must refuse, write errors.
 */
#include <check.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "compiler/front/weights.h"
#include "tests/util/testutil.h"

static uint32_t bits_of(float f) {
  uint32_t b;
  memcpy(&b, &f, 4);
  return b;
}

static float float_of(uint32_t b) {
  float f;
  memcpy(&f, &b, 4);
  return f;
}

static char tmpdir[PATH_MAX];

static void setup_tmp(void) { tu_make_tmpdir(tmpdir, sizeof tmpdir); }
static void teardown_tmp(void) { tu_remove_tree(tmpdir); }

/* A safetensors file from a JSON header and raw data. */
static void write_st(const char *path, const char *json, const void *data, size_t n) {
  size_t hl = strlen(json);
  unsigned char *buf = malloc(8 + hl + n + 1);
  ck_assert_ptr_nonnull(buf);
  for (int i = 0; i < 8; i++) buf[i] = (unsigned char)((uint64_t)hl >> (8 * i));
  memcpy(buf + 8, json, hl);
  if (n) memcpy(buf + 8 + hl, data, n);
  tu_write_file(path, buf, 8 + hl + n);
  free(buf);
}

START_TEST(test_safetensors_round_trip) {
  weight_set ws, back;
  weight_set_init(&ws);
  float a[6] = {1.0f, -2.5f, 3.0e-39f /* subnormal */, INFINITY, -0.0f, 1e30f};
  float b[1] = {float_of(0x7fc00001u)}; /* a NaN payload survives */
  uint64_t sa[2] = {2, 3}, sb[1] = {1};
  ck_assert_int_eq(weight_set_add(&ws, "layer/a.weight", 2, sa, a), 0);
  ck_assert_int_eq(weight_set_add(&ws, "b\"quoted", 1, sb, b), 0);
  ck_assert_int_ne(weight_set_add(&ws, "b\"quoted", 1, sb, b), 0); /* names are unique */
  char path[PATH_MAX + 32], err[256];
  snprintf(path, sizeof path, "%s/w.safetensors", tmpdir);
  ck_assert_msg(weights_save_safetensors(path, &ws, err, sizeof err) == 0, "%s", err);

  size_t len;
  unsigned char *raw = (unsigned char *)tu_read_file(path, &len);
  ck_assert_ptr_nonnull(raw);
  uint64_t hl = 0;
  for (int i = 7; i >= 0; i--) hl = hl << 8 | raw[i];
  ck_assert_uint_eq((8 + hl) % 8, 0);     /* data is 8-byte aligned */
  ck_assert_uint_eq(len, 8 + hl + 7 * 4); /* F32 data follows */
  free(raw);

  ck_assert_msg(weights_load_safetensors(path, &back, err, sizeof err) == 0, "%s", err);
  ck_assert_uint_eq(back.count, 2);
  const weight_tensor *ta = weights_find(&back, "layer/a.weight");
  const weight_tensor *tb = weights_find(&back, "b\"quoted");
  ck_assert(ta && tb);
  ck_assert(ta->rank == 2 && ta->shape[0] == 2 && ta->shape[1] == 3 && ta->count == 6);
  for (int i = 0; i < 6; i++) ck_assert_uint_eq(bits_of(ta->data[i]), bits_of(a[i]));
  ck_assert_uint_eq(bits_of(tb->data[0]), 0x7fc00001u);

  char h1[17], h2[17], h3[17];
  weights_hash(&ws, h1);
  weights_hash(&back, h2);
  ck_assert_str_eq(h1, h2); /* load order (sorted by name) does not matter */
  ck_assert_uint_eq(strlen(h1), 16);
  size_t ia = back.tensors[0].name[0] == 'l' ? 0 : 1;
  ck_assert_str_eq(back.tensors[ia].name, "layer/a.weight");
  back.tensors[ia].data[0] += 1.0f;
  weights_hash(&back, h3);
  ck_assert_str_ne(h1, h3);
  weight_set_free(&back);

  weight_set empty;
  weight_set_init(&empty);
  weights_hash(&empty, h3);
  ck_assert_str_eq(h3, "cbf29ce484222325"); /* FNV-1a 64 offset basis */
  weight_set_free(&ws);
}
END_TEST

START_TEST(test_f16_bf16_bits) {
  ck_assert(weights_f16_to_f32(0x3c00) == 1.0f);
  ck_assert(weights_f16_to_f32(0xc000) == -2.0f);
  ck_assert(weights_f16_to_f32(0x7bff) == 65504.0f);
  ck_assert(weights_f16_to_f32(0x0001) == ldexpf(1.0f, -24));    /* smallest subnormal */
  ck_assert(weights_f16_to_f32(0x03ff) == ldexpf(1023.0f, -24)); /* largest subnormal */
  ck_assert(weights_f16_to_f32(0x0400) == ldexpf(1.0f, -14));    /* smallest normal */
  ck_assert(weights_f16_to_f32(0x7c00) == INFINITY);
  ck_assert(weights_f16_to_f32(0xfc00) == -INFINITY);
  ck_assert(isnan(weights_f16_to_f32(0x7e00)));
  ck_assert_uint_eq(bits_of(weights_f16_to_f32(0x8000)), 0x80000000u);
  ck_assert(weights_bf16_to_f32(0x3f80) == 1.0f);
  ck_assert(weights_bf16_to_f32(0xc000) == -2.0f);
  ck_assert(weights_bf16_to_f32(0x477f) == 65280.0f);
  ck_assert(weights_bf16_to_f32(0x0001) == ldexpf(1.0f, -133)); /* subnormal */
  ck_assert(weights_bf16_to_f32(0x7f80) == INFINITY);
  ck_assert(isnan(weights_bf16_to_f32(0x7fc0)));

  /* The same patterns through the loader. */
  const char *json = "{\"h\":{\"dtype\":\"F16\",\"shape\":[5],\"data_offsets\":[0,10]},"
                     "\"b\":{\"dtype\":\"BF16\",\"shape\":[5],\"data_offsets\":[10,20]},"
                     "\"__metadata__\":{\"format\":\"pt\"}}";
  unsigned char data[20] = {0x00, 0x3c, 0x00, 0xc0, 0xff, 0x7b, 0x01, 0x00, 0x00, 0x7c,
                            0x80, 0x3f, 0x00, 0xc0, 0x7f, 0x47, 0x01, 0x00, 0x80, 0x7f};
  char path[PATH_MAX + 32], err[256];
  snprintf(path, sizeof path, "%s/half.safetensors", tmpdir);
  write_st(path, json, data, sizeof data);
  weight_set ws;
  ck_assert_msg(weights_load_safetensors(path, &ws, err, sizeof err) == 0, "%s", err);
  const weight_tensor *h = weights_find(&ws, "h"), *b = weights_find(&ws, "b");
  ck_assert(h && b && ws.count == 2);
  const float hw[5] = {1.0f, -2.0f, 65504.0f, ldexpf(1.0f, -24), INFINITY};
  const float bw[5] = {1.0f, -2.0f, 65280.0f, ldexpf(1.0f, -133), INFINITY};
  for (int i = 0; i < 5; i++) {
    ck_assert_msg(h->data[i] == hw[i], "F16[%d] = %g, expected %g", i, h->data[i], hw[i]);
    ck_assert_msg(b->data[i] == bw[i], "BF16[%d] = %g, expected %g", i, b->data[i], bw[i]);
  }
  weight_set_free(&ws);
}
END_TEST

/* n doubles as little-endian F64 bytes into out[8 n]. */
static void f64_bytes(const double *v, size_t n, unsigned char *out) {
  for (size_t i = 0; i < n; i++) {
    uint64_t b;
    memcpy(&b, &v[i], 8);
    for (int k = 0; k < 8; k++) out[8 * i + k] = (unsigned char)(b >> (8 * k));
  }
}

/* F64 rounds to float; a finite value beyond float's range is an error
 * naming the tensor and the index.  A name given twice is an error naming
 * it, also when the two spellings differ only in JSON escapes. */
START_TEST(test_safetensors_f64_and_duplicates) {
  const char *json = "{\"d\":{\"dtype\":\"F64\",\"shape\":[2,2],\"data_offsets\":[0,32]}}";
  double v[4] = {1.5, -0.1, 3.4028234663852886e38 /* FLT_MAX */, -INFINITY};
  unsigned char data[32];
  f64_bytes(v, 4, data);
  char path[PATH_MAX + 32], err[512];
  snprintf(path, sizeof path, "%s/f64.safetensors", tmpdir);
  write_st(path, json, data, sizeof data);
  weight_set ws;
  ck_assert_msg(weights_load_safetensors(path, &ws, err, sizeof err) == 0, "%s", err);
  const weight_tensor *d = weights_find(&ws, "d");
  ck_assert(d && d->rank == 2 && d->count == 4);
  for (int i = 0; i < 4; i++)
    ck_assert_msg(d->data[i] == (float)v[i], "F64[%d] = %g, expected %g", i, d->data[i], v[i]);
  weight_set_free(&ws);

  v[1] = -1e39;
  f64_bytes(v, 4, data);
  write_st(path, json, data, sizeof data);
  ck_assert_int_ne(weights_load_safetensors(path, &ws, err, sizeof err), 0);
  ck_assert_msg(strstr(err, "tensor 'd' holds -1e+39 at index 1, which overflows float32"), "%s",
                err);

  static const char *const twice[] = {
      "{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},"
      "\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}}",
      "{\"b\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},"
      "\"\\u0062\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}}"};
  static const char *const named[] = {"tensor 'a' is named twice", "tensor 'b' is named twice"};
  for (int i = 0; i < 2; i++) {
    write_st(path, twice[i], data, 8);
    ck_assert_int_ne(weights_load_safetensors(path, &ws, err, sizeof err), 0);
    ck_assert_msg(strstr(err, named[i]), "%s", err);
    ck_assert_uint_eq(ws.count, 0);
  }
}
END_TEST

typedef struct bad_file {
  const char *what; /* also the file name */
  const char *json; /* NULL: raw bytes below */
  size_t ndata;     /* bytes of data after the header */
  const char *raw;
  size_t nraw;
  const char *expect; /* a phrase the error must contain */
} bad_file;

START_TEST(test_safetensors_malformed) {
  static const bad_file cases[] = {
      {"empty", NULL, 0, "", 0, "too short"},
      {"short", NULL, 0, "\x10\x00\x00", 3, "too short"},
      {"huge_header", NULL, 0, "\xff\xff\xff\xff\xff\xff\xff\x7f{}", 10, "header length"},
      {"truncated", NULL, 0, "\x40\x00\x00\x00\x00\x00\x00\x00{\"a\":", 13, "header length"},
      {"bad_json", "{\"a\": {\"dtype\": \"F32\",", 0, NULL, 0, "not valid JSON"},
      {"garbage_json", "{]                     ", 0, NULL, 0, "not valid JSON"},
      {"not_object", "[1, 2]  ", 0, NULL, 0, "expected a JSON object"},
      {"trailing", "{} x", 0, NULL, 0, "text after its JSON object"},
      {"past_end", "{\"a\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[0,16]}}", 8, NULL, 0,
       "data_offsets"},
      {"reversed", "{\"a\":{\"dtype\":\"F32\",\"shape\":[0],\"data_offsets\":[4,0]}}", 4, NULL, 0,
       "data_offsets"},
      {"size_mismatch", "{\"a\":{\"dtype\":\"F32\",\"shape\":[3],\"data_offsets\":[0,8]}}", 8, NULL,
       0, "does not match"},
      {"shape_overflow",
       "{\"a\":{\"dtype\":\"F32\",\"shape\":[4294967296,4294967296],\"data_offsets\":[0,4]}}", 4,
       NULL, 0, "does not match"},
      {"negative_dim", "{\"a\":{\"dtype\":\"F32\",\"shape\":[-1],\"data_offsets\":[0,4]}}", 4, NULL,
       0, "shape"},
      {"overlap",
       "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
       "\"b\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}}",
       8, NULL, 0, "contiguously"},
      {"gap", "{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}}", 8, NULL, 0,
       "contiguously"},
      {"unused_tail", "{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}", 8, NULL,
       0, "belong to no tensor"},
      {"dtype", "{\"a\":{\"dtype\":\"I64\",\"shape\":[1],\"data_offsets\":[0,8]}}", 8, NULL, 0,
       "dtype 'I64'"},
      {"no_offsets", "{\"a\":{\"dtype\":\"F32\",\"shape\":[1]}}", 4, NULL, 0,
       "dtype, shape and data_offsets"},
  };
  static const unsigned char zeros[16];
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    const bad_file *c = &cases[i];
    char path[PATH_MAX + 64], err[512];
    snprintf(path, sizeof path, "%s/%s.safetensors", tmpdir, c->what);
    if (c->json)
      write_st(path, c->json, zeros, c->ndata);
    else
      tu_write_file(path, c->raw, c->nraw);
    weight_set ws;
    err[0] = '\0';
    int rc = weights_load_safetensors(path, &ws, err, sizeof err);
    ck_assert_msg(rc != 0, "%s: loaded a malformed file", c->what);
    ck_assert_msg(strncmp(err, path, strlen(path)) == 0, "%s: error does not name the file: %s",
                  c->what, err);
    ck_assert_msg(strstr(err, c->expect) != NULL, "%s: error '%s' lacks '%s'", c->what, err,
                  c->expect);
    ck_assert_uint_eq(ws.count, 0);
    ck_assert_ptr_null(ws.tensors);
  }
  weight_set ws;
  char err[512];
  ck_assert_int_ne(weights_load_safetensors("/nonexistent.safetensors", &ws, err, sizeof err), 0);
  ck_assert_str_eq(err, "/nonexistent.safetensors: cannot open: No such file or directory");
  ck_assert_int_ne(weights_load_safetensors(tmpdir, &ws, err, sizeof err), 0);
  ck_assert_ptr_nonnull(strstr(err, "directory"));
}
END_TEST

START_TEST(test_safetensors_save_error) {
  weight_set ws;
  weight_set_init(&ws);
  float x = 1;
  uint64_t one = 1;
  ck_assert_int_eq(weight_set_add(&ws, "x", 1, &one, &x), 0);
  char path[PATH_MAX + 32], err[512];
  snprintf(path, sizeof path, "%s/no/such/dir/w.safetensors", tmpdir);
  ck_assert_int_ne(weights_save_safetensors(path, &ws, err, sizeof err), 0);
  ck_assert_ptr_nonnull(strstr(err, "cannot create"));
  weight_set_free(&ws);
}
END_TEST

int main(void) {
  Suite *s = suite_create("frontend-safetensors");
  TCase *st = tcase_create("safetensors");
  tcase_add_checked_fixture(st, setup_tmp, teardown_tmp);
  tcase_add_test(st, test_safetensors_round_trip);
  tcase_add_test(st, test_f16_bf16_bits);
  tcase_add_test(st, test_safetensors_malformed);
  tcase_add_test(st, test_safetensors_f64_and_duplicates);
  tcase_add_test(st, test_safetensors_save_error);
  suite_add_tcase(s, st);
  int failed = tu_run_suite(s);
  return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
