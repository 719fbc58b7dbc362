/*
 * test_npy.c - the .npy header writer, the reader's dtypes and header
 * versions, and its errors on malformed files.
 *
 * Files are written byte by byte here (no numpy needed), following the
 * format description of numpy.lib.format.
 */
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tests/util/testutil.h"

static char tmpdir[4096];

static void setup(void) { tu_make_tmpdir(tmpdir, sizeof tmpdir); }

static void teardown(void) { tu_remove_tree(tmpdir); }

static void path_in_tmp(char *out, size_t len, const char *name) {
  int n = snprintf(out, len, "%s/%s", tmpdir, name);
  ck_assert(n > 0 && (size_t)n < len);
}

/* Write preamble (magic, version, header length of the right width), the
 * header text padded to a multiple of 64 as numpy does, then `data`. */
static void write_npy_raw(const char *path, int major, const char *dict, const void *data,
                          size_t data_len) {
  FILE *f = fopen(path, "wb");
  ck_assert_ptr_nonnull(f);
  size_t pre = major == 1 ? 10 : 12, len = strlen(dict);
  size_t total = (pre + len + 1 + 63) / 64 * 64, hlen = total - pre;
  unsigned char head[12] = {0x93, 'N', 'U', 'M', 'P', 'Y', (unsigned char)major, 0};
  for (size_t i = 0; i < pre - 8; i++) head[8 + i] = (unsigned char)(hlen >> (8 * i));
  ck_assert(fwrite(head, 1, pre, f) == pre);
  ck_assert(fwrite(dict, 1, len, f) == len);
  for (size_t i = pre + len; i + 1 < total; i++) fputc(' ', f);
  fputc('\n', f);
  if (data_len) ck_assert(fwrite(data, 1, data_len, f) == data_len);
  ck_assert_int_eq(fclose(f), 0);
}

/* The writer: exact header bytes, 64-byte alignment, and a round trip of
 * float bit patterns (including -0, subnormals, infinities). */
START_TEST(test_write_header_exact) {
  char path[4200];
  path_in_tmp(path, sizeof path, "w.npy");
  FILE *f = fopen(path, "wb");
  ck_assert_ptr_nonnull(f);
  uint64_t shape[2] = {3, 2};
  ck_assert_int_eq(pmm_npy_write_header(f, 2, shape), PMM_OK);
  float vals[6] = {1.5f, -0.0f, 1e-45f, INFINITY, -INFINITY, 3.4028235e38f};
  ck_assert(fwrite(vals, sizeof(float), 6, f) == 6);
  ck_assert_int_eq(fclose(f), 0);

  size_t len = 0;
  char *bytes = tu_read_file(path, &len);
  ck_assert_ptr_nonnull(bytes);
  const char *dict = "{'descr': '<f4', 'fortran_order': False, 'shape': (3, 2), }";
  ck_assert_uint_eq(len, 128 + 24); /* 10 + 60 + padding + '\n' = 128 */
  ck_assert(memcmp(bytes, "\x93NUMPY\x01\x00", 8) == 0);
  ck_assert_uint_eq((unsigned char)bytes[8] | (unsigned char)bytes[9] << 8, 118);
  ck_assert(memcmp(bytes + 10, dict, strlen(dict)) == 0);
  for (size_t i = 10 + strlen(dict); i < 127; i++) ck_assert_int_eq(bytes[i], ' ');
  ck_assert_int_eq(bytes[127], '\n');
  free(bytes);

  pmm_array a;
  tu_read_npy(path, &a);
  ck_assert_uint_eq(a.rank, 2);
  ck_assert_uint_eq(a.shape[0], 3);
  ck_assert_uint_eq(a.shape[1], 2);
  ck_assert_uint_eq(a.count, 6);
  ck_assert(memcmp(a.data, vals, sizeof vals) == 0);
  pmm_array_free(&a);
  ck_assert_ptr_null(a.data);
}
END_TEST

/* Ranks 0, 1 and 8 round-trip; the one-element tuple keeps its comma. */
START_TEST(test_write_header_ranks) {
  static const uint64_t shapes[][8] = {{0}, {5}, {1, 2, 1, 2, 1, 2, 1, 3}, {0, 4}};
  static const uint32_t ranks[] = {0, 1, 8, 2};
  static const uint64_t counts[] = {1, 5, 24, 0};
  for (int c = 0; c < 4; c++) {
    char path[4200];
    path_in_tmp(path, sizeof path, "r.npy");
    FILE *f = fopen(path, "wb");
    ck_assert_ptr_nonnull(f);
    ck_assert_int_eq(pmm_npy_write_header(f, ranks[c], shapes[c]), PMM_OK);
    long head = ftell(f);
    ck_assert_int_eq(head % 64, 0);
    for (uint64_t i = 0; i < counts[c]; i++) {
      float v = (float)i * 0.25f;
      ck_assert(fwrite(&v, sizeof v, 1, f) == 1);
    }
    ck_assert_int_eq(fclose(f), 0);
    char *text = tu_read_file(path, NULL); /* the preamble holds NUL bytes */
    ck_assert_ptr_nonnull(text);
    if (ranks[c] == 1) ck_assert_ptr_nonnull(strstr(text + 10, "'shape': (5,)"));
    if (ranks[c] == 0) ck_assert_ptr_nonnull(strstr(text + 10, "'shape': ()"));
    free(text);
    pmm_array a;
    tu_read_npy(path, &a);
    ck_assert_uint_eq(a.rank, ranks[c]);
    ck_assert_uint_eq(a.count, counts[c]);
    for (uint32_t i = 0; i < ranks[c]; i++) ck_assert_uint_eq(a.shape[i], shapes[c][i]);
    for (uint64_t i = 0; i < counts[c]; i++) ck_assert(a.data[i] == (float)i * 0.25f);
    pmm_array_free(&a);
  }
  uint64_t nine[9] = {1, 1, 1, 1, 1, 1, 1, 1, 1};
  FILE *f = tmpfile();
  ck_assert_ptr_nonnull(f);
  ck_assert_int_eq(pmm_npy_write_header(f, 9, nine), PMM_ERR_USAGE);
  fclose(f);
}
END_TEST

/* Every accepted dtype converts to float, in every header version. */
START_TEST(test_read_dtypes) {
  char path[4200];
  path_in_tmp(path, sizeof path, "d.npy");
  pmm_array a;

  unsigned char f8[16];
  double dv[2] = {-2.5, 1e10};
  memcpy(f8, dv, sizeof dv); /* the test host is little-endian, as .npy is */
  write_npy_raw(path, 1, "{'descr': '<f8', 'fortran_order': False, 'shape': (2,), }", f8, 16);
  tu_read_npy(path, &a);
  ck_assert(a.count == 2 && a.data[0] == -2.5f && a.data[1] == 1e10f);
  pmm_array_free(&a);

  int32_t i4[3] = {-7, 0, 2147483647};
  write_npy_raw(path, 2, "{'descr': '<i4', 'fortran_order': False, 'shape': (3,), }", i4,
                sizeof i4);
  tu_read_npy(path, &a);
  ck_assert(a.count == 3 && a.data[0] == -7.0f && a.data[1] == 0.0f && a.data[2] == 2147483648.0f);
  pmm_array_free(&a);

  int64_t i8[2] = {-3, 1LL << 40};
  write_npy_raw(path, 3, "{'descr': '<i8', 'fortran_order': False, 'shape': (1, 2), }", i8,
                sizeof i8);
  tu_read_npy(path, &a);
  ck_assert(a.rank == 2 && a.data[0] == -3.0f && a.data[1] == 1099511627776.0f);
  pmm_array_free(&a);

  unsigned char u1[4] = {0, 1, 128, 255};
  write_npy_raw(path, 1, "{'descr': '|u1', 'fortran_order': False, 'shape': (2, 2), }", u1, 4);
  tu_read_npy(path, &a);
  ck_assert(a.count == 4 && a.data[2] == 128.0f && a.data[3] == 255.0f);
  pmm_array_free(&a);

  uint16_t u2[2] = {65535, 300};
  /* Keys in another order and double quotes are valid Python too. */
  write_npy_raw(path, 1, "{\"shape\": (2,), \"fortran_order\": False, \"descr\": \"<u2\"}", u2,
                sizeof u2);
  tu_read_npy(path, &a);
  ck_assert(a.count == 2 && a.data[0] == 65535.0f && a.data[1] == 300.0f);
  pmm_array_free(&a);
}
END_TEST

typedef struct bad_case {
  const char *what;
  int major;
  const char *dict; /* NULL: raw bytes below */
  const char *raw;
  size_t raw_len;
  size_t data_len;
  pmm_status status;
  const char *message; /* expected substring */
} bad_case;

START_TEST(test_read_errors) {
  static const bad_case cases[] = {
      {"bad magic", 1, NULL, "\x93NUMPZ\x01\x00\x10\x00{}", 12, 0, PMM_ERR_FORMAT,
       "not a .npy file"},
      {"empty file", 1, NULL, "", 0, 0, PMM_ERR_FORMAT, "not a .npy file"},
      {"version 4", 1, NULL, "\x93NUMPY\x04\x00\x10\x00", 10, 0, PMM_ERR_FORMAT,
       "unsupported .npy version 4.0"},
      {"truncated header", 1, NULL, "\x93NUMPY\x01\x00\x76\x00{'descr'", 17, 0, PMM_ERR_FORMAT,
       "truncated header"},
      {"big-endian", 1, "{'descr': '>f4', 'fortran_order': False, 'shape': (2,), }", NULL, 0, 8,
       PMM_ERR_FORMAT, "unsupported dtype '>f4'"},
      {"complex", 1, "{'descr': '<c8', 'fortran_order': False, 'shape': (2,), }", NULL, 0, 16,
       PMM_ERR_FORMAT, "unsupported dtype '<c8'"},
      {"fortran order", 1, "{'descr': '<f4', 'fortran_order': True, 'shape': (2, 2), }", NULL, 0,
       16, PMM_ERR_FORMAT, "Fortran-order"},
      {"missing shape", 1, "{'descr': '<f4', 'fortran_order': False, }", NULL, 0, 0, PMM_ERR_FORMAT,
       "lacks the key 'shape'"},
      {"unknown key", 1, "{'descr': '<f4', 'fortran_order': False, 'shape': (1,), 'x': 1}", NULL, 0,
       4, PMM_ERR_FORMAT, "unknown header key 'x'"},
      {"bad shape entry", 1, "{'descr': '<f4', 'fortran_order': False, 'shape': (3, x), }", NULL, 0,
       12, PMM_ERR_FORMAT, "expected a non-negative integer"},
      {"negative dimension", 1, "{'descr': '<f4', 'fortran_order': False, 'shape': (-3,), }", NULL,
       0, 12, PMM_ERR_FORMAT, "expected a non-negative integer"},
      {"not a dict", 1, "['descr', '<f4']", NULL, 0, 0, PMM_ERR_FORMAT, "expected '{'"},
      {"truncated data", 1, "{'descr': '<f4', 'fortran_order': False, 'shape': (4,), }", NULL, 0,
       12, PMM_ERR_FORMAT, "truncated: header says 16 bytes of data, file has 12"},
      {"trailing bytes", 1, "{'descr': '<f4', 'fortran_order': False, 'shape': (2,), }", NULL, 0,
       12, PMM_ERR_FORMAT, "unexpected bytes after the 2 elements"},
      {"shape overflow", 1,
       "{'descr': '<f4', 'fortran_order': False, 'shape': (4294967296, 4294967296), }", NULL, 0, 0,
       PMM_ERR_FORMAT, "overflows"},
  };
  unsigned char zeros[64] = {0};
  for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
    const bad_case *b = &cases[c];
    char path[4200];
    path_in_tmp(path, sizeof path, "bad.npy");
    if (b->dict) {
      write_npy_raw(path, b->major, b->dict, zeros, b->data_len);
    } else {
      FILE *f = fopen(path, "wb");
      ck_assert_ptr_nonnull(f);
      if (b->raw_len) ck_assert(fwrite(b->raw, 1, b->raw_len, f) == b->raw_len);
      ck_assert_int_eq(fclose(f), 0);
    }
    pmm_array a;
    char err[512] = "";
    pmm_status st = pmm_npy_read(path, &a, err, sizeof err);
    fprintf(stderr, "npy error case '%s': %s\n", b->what, err);
    ck_assert_msg(st == b->status, "%s: status %d (%s), expected %d", b->what, st, err, b->status);
    const char *named = err[0] == '\'' ? err + 1 : err; /* 'PATH': truncated: ... */
    ck_assert_msg(strncmp(named, path, strlen(path)) == 0, "%s: message does not name the file: %s",
                  b->what, err);
    ck_assert_msg(strstr(err, b->message) != NULL, "%s: message '%s' lacks '%s'", b->what, err,
                  b->message);
    ck_assert_ptr_null(a.data);
  }

  pmm_array a;
  char err[512];
  char missing[4200];
  path_in_tmp(missing, sizeof missing, "no-such.npy");
  ck_assert_int_eq(pmm_npy_read(missing, &a, err, sizeof err), PMM_ERR_IO);
  ck_assert_ptr_nonnull(strstr(err, "no-such.npy: cannot open"));
  /* A too-small message buffer truncates, never overflows. */
  char tiny[8];
  ck_assert_int_eq(pmm_npy_read(missing, &a, tiny, sizeof tiny), PMM_ERR_IO);
  ck_assert_uint_eq(strlen(tiny), 7);
}
END_TEST

START_TEST(test_status_names) {
  ck_assert_str_eq(pmm_status_name(PMM_OK), "success");
  ck_assert_str_eq(pmm_status_name(PMM_ERR_IO), "I/O error");
  ck_assert_str_eq(pmm_status_name(PMM_ERR_FORMAT), "malformed input");
  ck_assert_str_eq(pmm_status_name((pmm_status)99), "unknown status");
}
END_TEST

int main(void) {
  Suite *s = suite_create("npy");
  TCase *tc = tcase_create("npy");
  tcase_add_checked_fixture(tc, setup, teardown);
  tcase_add_test(tc, test_write_header_exact);
  tcase_add_test(tc, test_write_header_ranks);
  tcase_add_test(tc, test_read_dtypes);
  tcase_add_test(tc, test_read_errors);
  tcase_add_test(tc, test_status_names);
  suite_add_tcase(s, tc);
  int failed = tu_run_suite(s);
  return failed == 0 ? 0 : 1;
}
