/*
 * test_formats.c - the sampler command line's txt and png formats, driven
 * by toy models written in C:
 *   "words": a categorical model whose sample i is one of four fixed symbol
 *            sequences (vocabulary "_aé€😀": one to four UTF-8 bytes each);
 *   "img":   an image model whose values are a fixed function of (i, e)
 *            spanning past both ends of the range [-1, 1], with NaNs.
 * PNG files are decoded with libpng here and every pixel is compared with
 * round(255 (v + 1) / 2) clamped, computed from pmm_sampler_generate's
 * values, and the 1-pixel gaps with grey 128.
 */
#include <check.h>
#include <dirent.h>
#include <fcntl.h>
#include <math.h>
#include <png.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "tests/util/testutil.h"

#define TOY_BLOCK 8u
#define NEVER UINT64_MAX

static char tmpdir[4096];

static void setup(void) { tu_make_tmpdir(tmpdir, sizeof tmpdir); }

static void teardown(void) { tu_remove_tree(tmpdir); }

static char *tmp_path(const char *name) {
  size_t len = strlen(tmpdir) + strlen(name) + 2;
  char *p = malloc(len);
  ck_assert_ptr_nonnull(p);
  snprintf(p, len, "%s/%s", tmpdir, name);
  return p;
}

/* pmm_sampler_main("toy", args..., NULL) with output captured. */
static int run_cli(const pmm_model_desc *d, char **out, char **err, const char *const *args) {
  char *argv[32];
  int argc = 0;
  argv[argc++] = "toy";
  for (; *args; args++) {
    ck_assert(argc < 31);
    argv[argc++] = (char *)*args;
  }
  argv[argc] = NULL;
  char *capdir = tmp_path("capture");
  int st = tu_sampler_main(d, capdir, out, err, argc, argv);
  free(capdir);
  return st;
}

#define RUN(d, out, err, ...) run_cli((d), (out), (err), (const char *const[]){__VA_ARGS__, NULL})

static int tmpdir_outputs(void) {
  DIR *dir = opendir(tmpdir);
  ck_assert_ptr_nonnull(dir);
  int n = 0;
  struct dirent *de;
  while ((de = readdir(dir)) != NULL) {
    if (strcmp(de->d_name, ".") && strcmp(de->d_name, "..") && strcmp(de->d_name, "capture")) {
      fprintf(stderr, "tmpdir holds %s\n", de->d_name);
      n++;
    }
  }
  closedir(dir);
  return n;
}

/* ---- the categorical toy ------------------------------------------------ */

#define WORD_LEN 6

typedef struct words_user {
  uint64_t bad_at; /* this sample gets an invalid value */
  float bad_value;
} words_user;

static const float word_table[4][WORD_LEN] = {
    {1, 2, 3, 4, 0, 0}, /* aé€😀 */
    {4, 4, 0, 0, 0, 0}, /* 😀😀 */
    {0, 0, 0, 0, 0, 0}, /* (empty) */
    {1, 0, 2, 0, 0, 0}, /* a_é: padding inside stays */
};
static const char *const word_text[4] = {"a\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80",
                                         "\xf0\x9f\x98\x80\xf0\x9f\x98\x80", "", "a_\xc3\xa9"};

static int words_run_block(void *user, const pmm_block *blk) {
  const words_user *u = user;
  for (uint64_t r = 0; r < TOY_BLOCK; r++) {
    uint64_t i = blk->first_index + r;
    memcpy(blk->out + r * WORD_LEN, word_table[i % 4], sizeof word_table[0]);
    if (i == u->bad_at) blk->out[r * WORD_LEN + 2] = u->bad_value;
  }
  return 0;
}

static words_user words_ok = {NEVER, 0.0f};

static pmm_model_desc words_desc(words_user *u) {
  return (pmm_model_desc){
      .abi = PMM_DESC_ABI,
      .name = "words",
      .pair = "dirichlet-categorical",
      .sampler = "pmm",
      .output = "posterior-mean",
      .schedule = "geometric",
      .engine = "test harness",
      .weight_hash = "",
      .vocab = "_a\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80",
      .steps = 3,
      .rank = 1,
      .shape = {WORD_LEN},
      .sample_elems = WORD_LEN,
      .block_size = TOY_BLOCK,
      .vocab_size = 5,
      .pad_symbol = 0,
      .run_block = words_run_block,
      .user = u,
  };
}

/* The expected text of samples [first, first + n). */
static char *words_expected(uint64_t first, uint64_t n) {
  size_t cap = (size_t)n * 32 + 1, at = 0;
  char *s = malloc(cap);
  ck_assert_ptr_nonnull(s);
  for (uint64_t i = first; i < first + n; i++)
    at += (size_t)snprintf(s + at, cap - at, "%s\n", word_text[i % 4]);
  return s;
}

START_TEST(test_txt_decodes) {
  pmm_model_desc d = words_desc(&words_ok);
  char *p = tmp_path("w.txt");
  ck_assert_int_eq(RUN(&d, NULL, NULL, "-n", "11", "--first-index", "3", "-s", "9", "-o", p), 0);
  char *text = tu_read_file(p, NULL), *want = words_expected(3, 11);
  ck_assert_ptr_nonnull(text);
  ck_assert_str_eq(text, want);
  /* the sidecar records what the text cannot */
  char *side = tmp_path("w.txt.json"), *json = tu_read_file(side, NULL);
  ck_assert_ptr_nonnull(json);
  ck_assert_ptr_nonnull(strstr(json, "\"model\": \"words\""));
  ck_assert_ptr_nonnull(strstr(json, "\"seed\": 9"));
  ck_assert_ptr_nonnull(strstr(json, "\"first_index\": 3"));
  ck_assert_ptr_nonnull(strstr(json, "\"count\": 11"));
  free(json);
  free(side);

  /* standard output with an explicit format, and shards add up */
  char *out = NULL;
  ck_assert_int_eq(RUN(&d, &out, NULL, "-n", "11", "--first-index", "3", "--format", "txt"), 0);
  ck_assert_str_eq(out, want);
  free(out);
  size_t at = 0;
  for (int k = 0; k < 3; k++) {
    char shard[8];
    snprintf(shard, sizeof shard, "%d/3", k);
    ck_assert_int_eq(
        RUN(&d, &out, NULL, "-n", "11", "--first-index", "3", "--format=txt", "--shard", shard), 0);
    ck_assert_msg(strncmp(want + at, out, strlen(out)) == 0, "shard %d: '%s'", k, out);
    at += strlen(out);
    free(out);
  }
  ck_assert_uint_eq(at, strlen(want));
  /* csv still gives the indices */
  ck_assert_int_eq(RUN(&d, &out, NULL, "-n", "1"), 0);
  ck_assert_str_eq(out, "# model=words seed=0 first_index=0 count=1\n1,2,3,4,0,0\n");
  free(out);
  free(text);
  free(want);
  free(p);
}
END_TEST

START_TEST(test_txt_no_padding_symbol) {
  pmm_model_desc d = words_desc(&words_ok);
  d.pad_symbol = -1;
  char *out = NULL;
  ck_assert_int_eq(RUN(&d, &out, NULL, "-n", "4", "--format", "txt"), 0);
  ck_assert_str_eq(out, "a\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80__\n"
                        "\xf0\x9f\x98\x80\xf0\x9f\x98\x80____\n"
                        "______\n"
                        "a_\xc3\xa9___\n");
  free(out);
}
END_TEST

START_TEST(test_txt_bad_values) {
  const float bad[] = {7.0f, 5.0f, -1.0f, 1.5f, NAN};
  for (size_t b = 0; b < sizeof bad / sizeof bad[0]; b++) {
    words_user u = {13, bad[b]};
    pmm_model_desc d = words_desc(&u);
    char *p = tmp_path("bad.txt"), *err = NULL;
    ck_assert_int_eq(RUN(&d, NULL, &err, "-n", "20", "-o", p), 1);
    ck_assert_msg(strstr(err, "toy: error: sample 13 holds ") != NULL, "%s", err);
    ck_assert_msg(strstr(err, "at position 2, which is not a symbol index (0 to 4)") != NULL, "%s",
                  err);
    free(err);
    ck_assert_int_eq(tmpdir_outputs(), 0);
    free(p);
  }
}
END_TEST

START_TEST(test_vocab_descriptor_checks) {
  struct {
    const char *vocab;
    uint64_t size;
    int64_t pad;
    const char *message;
  } cases[] = {
      {"_ab", 4, 0, "vocabulary has 3 symbols, the descriptor says 4"},
      {"_a\xff", 3, 0, "vocabulary is not valid UTF-8 (byte 2)"},
      {"_a\xc3", 3, 0, "not valid UTF-8"},
      {"_a\xc0\x80", 3, 0, "not valid UTF-8"},         /* overlong */
      {"_a\xed\xa0\x80", 3, 0, "not valid UTF-8"},     /* surrogate */
      {"_a\xf4\x90\x80\x80", 3, 0, "not valid UTF-8"}, /* above U+10FFFF */
      {"_ab", 3, 3, "padding symbol 3 is not in a vocabulary of 3 symbols"},
      {"_ab", 3, -2, "padding symbol -2"},
      {"", 0, -1, "vocabulary size 0 is invalid"},
  };
  for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
    pmm_model_desc d = words_desc(&words_ok);
    d.vocab = cases[c].vocab;
    d.vocab_size = cases[c].size;
    d.pad_symbol = cases[c].pad;
    char *err = NULL;
    ck_assert_int_eq(RUN(&d, NULL, &err, "-n", "1"), 1);
    ck_assert_msg(strstr(err, "toy: error: model descriptor is inconsistent: ") != NULL,
                  "case %zu: %s", c, err);
    ck_assert_msg(strstr(err, cases[c].message) != NULL, "case %zu: '%s' lacks '%s'", c, err,
                  cases[c].message);
    free(err);
  }
}
END_TEST

START_TEST(test_info_vocab_and_range) {
  pmm_model_desc d = words_desc(&words_ok);
  char *out = NULL;
  ck_assert_int_eq(RUN(&d, &out, NULL, "--info"), 0);
  ck_assert_ptr_nonnull(strstr(out, "vocabulary:       5 symbols \"_a\xc3\xa9\xe2\x82\xac"
                                    "\xf0\x9f\x98\x80\"\n"));
  ck_assert_ptr_nonnull(strstr(out, "padding symbol:   '_' (index 0)\n"));
  ck_assert_ptr_null(strstr(out, "value range"));
  free(out);
  d.pad_symbol = -1;
  ck_assert_int_eq(RUN(&d, &out, NULL, "--info"), 0);
  ck_assert_ptr_nonnull(strstr(out, "padding symbol:   none\n"));
  free(out);
  d.vocab = NULL;
  d.range_lo = -1.0;
  d.range_hi = 2.5;
  ck_assert_int_eq(RUN(&d, &out, NULL, "--info"), 0);
  ck_assert_ptr_nonnull(strstr(out, "value range:      [-1, 2.5]\n"));
  ck_assert_ptr_null(strstr(out, "vocabulary"));
  free(out);
  ck_assert_int_eq(RUN(&d, &out, NULL, "--help"), 0);
  ck_assert_ptr_nonnull(strstr(out, "npy, csv, txt or png"));
  free(out);
}
END_TEST

START_TEST(test_abi_mismatch) {
  pmm_model_desc d = words_desc(&words_ok);
  d.abi = 1;
  char *err = NULL;
  ck_assert_int_eq(RUN(&d, NULL, &err, "-n", "1"), 1);
  ck_assert_ptr_nonnull(
      strstr(err, "toy: error: model descriptor has ABI version 1, this runtime expects 3"));
  free(err);
  float out[WORD_LEN];
  char msg[256];
  ck_assert_int_eq(pmm_sampler_generate(&d, 0, 0, 1, 1, out, msg, sizeof msg), PMM_ERR_USAGE);
  ck_assert_ptr_nonnull(strstr(msg, "ABI version 1"));
}
END_TEST

/* ---- the image toy ------------------------------------------------------ */

typedef struct img_user {
  uint64_t fail_at; /* run_block fails on the block holding this index */
  uint64_t elems;   /* floats per sample, set by img_desc */
} img_user;

static float img_value(uint64_t i, uint64_t e) {
  if (e == 0 && i % 7 == 3) return NAN;
  return -1.0f + 2.0f * (float)((int)((i * 37 + e * 11) % 300) - 20) / 255.0f;
}

static int img_run_block(void *user, const pmm_block *blk) {
  const img_user *u = user;
  if (u->fail_at >= blk->first_index && u->fail_at < blk->first_index + TOY_BLOCK) return 4;
  for (uint64_t r = 0; r < TOY_BLOCK; r++) {
    for (uint64_t e = 0; e < u->elems; e++)
      blk->out[r * u->elems + e] = img_value(blk->first_index + r, e);
  }
  return 0;
}

static pmm_model_desc img_desc(img_user *u, uint64_t rank, uint64_t s0, uint64_t s1, uint64_t s2) {
  pmm_model_desc d = {
      .abi = PMM_DESC_ABI,
      .name = "img",
      .pair = "normal-normal",
      .sampler = "pmm",
      .output = "posterior-mean",
      .schedule = "geometric",
      .engine = "test harness",
      .weight_hash = "",
      .steps = 3,
      .rank = rank,
      .shape = {s0, s1, s2},
      .sample_elems = s0 * s1 * (rank == 3 ? s2 : 1),
      .block_size = TOY_BLOCK,
      .pad_symbol = -1,
      .range_lo = -1.0,
      .range_hi = 1.0,
      .run_block = img_run_block,
      .user = u,
  };
  u->elems = d.sample_elems;
  return d;
}

/* A decoded PNG. */
typedef struct test_png {
  uint32_t width, height;
  int channels;
  unsigned char *pixels; /* height * width * channels */
  char *title, *comment;
} test_png;

static char *dup_text(const char *s) {
  char *d = malloc(strlen(s) + 1);
  ck_assert_ptr_nonnull(d);
  strcpy(d, s);
  return d;
}

static void test_png_read(const char *path, test_png *img) {
  FILE *f = fopen(path, "rb");
  ck_assert_msg(f != NULL, "cannot open %s", path);
  png_structp png = png_create_read_struct(PNG_LIBPNG_VER_STRING, NULL, NULL, NULL);
  png_infop info = png_create_info_struct(png);
  ck_assert(png && info);
  if (setjmp(png_jmpbuf(png))) ck_abort_msg("libpng cannot decode %s", path);
  png_init_io(png, f);
  png_read_png(png, info, PNG_TRANSFORM_IDENTITY, NULL);
  ck_assert_int_eq(png_get_bit_depth(png, info), 8);
  int type = png_get_color_type(png, info);
  ck_assert(type == PNG_COLOR_TYPE_GRAY || type == PNG_COLOR_TYPE_RGB);
  img->width = png_get_image_width(png, info);
  img->height = png_get_image_height(png, info);
  img->channels = type == PNG_COLOR_TYPE_RGB ? 3 : 1;
  size_t row = (size_t)img->width * (size_t)img->channels;
  img->pixels = malloc(row * img->height);
  ck_assert_ptr_nonnull(img->pixels);
  png_bytepp rows = png_get_rows(png, info);
  for (uint32_t y = 0; y < img->height; y++) memcpy(img->pixels + y * row, rows[y], row);
  img->title = img->comment = NULL;
  png_textp text;
  int ntext = 0;
  png_get_text(png, info, &text, &ntext);
  for (int i = 0; i < ntext; i++) {
    if (strcmp(text[i].key, "Title") == 0)
      img->title = dup_text(text[i].text);
    else if (strcmp(text[i].key, "Comment") == 0)
      img->comment = dup_text(text[i].text);
  }
  png_destroy_read_struct(&png, &info, NULL);
  fclose(f);
}

static void test_png_free(test_png *img) {
  free(img->pixels);
  free(img->title);
  free(img->comment);
}

static unsigned char expected_pixel(float v) {
  double s = ((double)v + 1.0) * 255.0 / 2.0;
  if (isnan(s) || s <= 0.0) return 0;
  if (s >= 255.0) return 255;
  return (unsigned char)lround(s);
}

/* Every pixel of the grid of samples [first, first + n) of d. */
static void check_grid(const pmm_model_desc *d, const test_png *img, uint64_t seed, uint64_t first,
                       uint64_t n, uint64_t want_cols) {
  uint64_t chan = d->rank == 3 ? d->shape[0] : 1;
  uint64_t h = d->shape[d->rank - 2], w = d->shape[d->rank - 1];
  uint64_t cols = want_cols, rows = (n + cols - 1) / cols;
  ck_assert_uint_eq(img->width, cols * (w + 1) - 1);
  ck_assert_uint_eq(img->height, rows * (h + 1) - 1);
  ck_assert_int_eq(img->channels, (int)chan);
  float *v = malloc((size_t)(n * d->sample_elems) * sizeof(float));
  ck_assert_ptr_nonnull(v);
  char err[256];
  ck_assert_int_eq(pmm_sampler_generate(d, seed, first, n, 1, v, err, sizeof err), PMM_OK);
  size_t gaps = 0, clamped = 0;
  for (uint64_t y = 0; y < img->height; y++) {
    for (uint64_t x = 0; x < img->width; x++) {
      uint64_t cell = (y / (h + 1)) * cols + x / (w + 1);
      int gap = x % (w + 1) == w || y % (h + 1) == h || cell >= n;
      for (uint64_t c = 0; c < chan; c++) {
        unsigned char got = img->pixels[(y * img->width + x) * chan + c], want = 128;
        if (!gap) {
          float val = v[cell * d->sample_elems + c * h * w + (y % (h + 1)) * w + x % (w + 1)];
          want = expected_pixel(val);
          clamped += !(val >= -1.0f && val <= 1.0f);
        }
        gaps += gap;
        ck_assert_msg(got == want, "pixel (%llu, %llu) channel %llu: %u, want %u",
                      (unsigned long long)x, (unsigned long long)y, (unsigned long long)c, got,
                      want);
      }
    }
  }
  fprintf(stderr, "grid %llux%llu of [%llu, %llu, %llu]: %zu gap and %zu clamped values\n",
          (unsigned long long)cols, (unsigned long long)rows, (unsigned long long)chan,
          (unsigned long long)h, (unsigned long long)w, gaps, clamped);
  free(v);
}

START_TEST(test_png_gray) {
  img_user u = {NEVER, 0};
  pmm_model_desc d = img_desc(&u, 2, 2, 3, 0);
  char *p = tmp_path("g.png");
  ck_assert_int_eq(RUN(&d, NULL, NULL, "-n", "5", "-s", "4", "-o", p), 0);
  test_png img;
  test_png_read(p, &img);
  check_grid(&d, &img, 4, 0, 5, 3);
  ck_assert_str_eq(img.title, "img");
  ck_assert_str_eq(img.comment, "model=img seed=4 first_index=0 count=5");
  test_png_free(&img);
  ck_assert_int_eq(tmpdir_outputs(), 1); /* no sidecar, no temporary */

  /* [1, H, W] is grey too; one sample has no gaps */
  img_user u1 = {NEVER, 0};
  pmm_model_desc d1 = img_desc(&u1, 3, 1, 4, 5);
  ck_assert_int_eq(RUN(&d1, NULL, NULL, "-n", "1", "--first-index", "3", "-o", p), 0);
  test_png_read(p, &img);
  check_grid(&d1, &img, 0, 3, 1, 1);
  test_png_free(&img);
  free(p);
}
END_TEST

/* RGB, several blocks, an offset start, a partial last grid row; the bytes
 * do not depend on --threads. */
START_TEST(test_png_rgb_blocks) {
  img_user u = {NEVER, 0};
  pmm_model_desc d = img_desc(&u, 3, 3, 4, 5);
  char *p1 = tmp_path("c1.png"), *p2 = tmp_path("C2.PNG");
  ck_assert_int_eq(
      RUN(&d, NULL, NULL, "-n", "23", "--first-index", "3", "-s", "8", "--threads", "1", "-o", p1),
      0);
  ck_assert_int_eq(
      RUN(&d, NULL, NULL, "-n", "23", "--first-index", "3", "-s", "8", "--threads", "3", "-o", p2),
      0);
  size_t l1, l2;
  char *b1 = tu_read_file(p1, &l1), *b2 = tu_read_file(p2, &l2);
  ck_assert(b1 && b2 && l1 == l2 && memcmp(b1, b2, l1) == 0);
  test_png img;
  test_png_read(p1, &img);
  check_grid(&d, &img, 8, 3, 23, 5);
  ck_assert_str_eq(img.comment, "model=img seed=8 first_index=3 count=23");
  test_png_free(&img);

  /* standard output with --format png gives the same file */
  char *out = NULL;
  ck_assert_int_eq(
      RUN(&d, NULL, NULL, "-n", "23", "--first-index", "3", "-s", "8", "--format", "png"), 0);
  char *cap = tmp_path("capture/stdout");
  size_t lc;
  out = tu_read_file(cap, &lc);
  ck_assert(out && lc == l1 && memcmp(out, b1, l1) == 0);
  free(out);
  free(cap);
  free(b1);
  free(b2);
  free(p1);
  free(p2);
}
END_TEST

START_TEST(test_png_usage_errors) {
  img_user u = {NEVER, 0};
  pmm_model_desc two = img_desc(&u, 3, 2, 4, 4);
  pmm_model_desc flat = img_desc(&u, 2, 4, 4, 0);
  flat.range_hi = flat.range_lo;
  pmm_model_desc wide = img_desc(&u, 2, 2, 600000, 0);
  pmm_model_desc ok = img_desc(&u, 2, 4, 4, 0);
  struct {
    const pmm_model_desc *d;
    const char *n;
    const char *message;
  } cases[] = {
      {&two, "2",
       "--format png draws images of shape [H, W] or [C, H, W] with C = 1 or 3; "
       "the samples of model 'img' have shape [2, 4, 4]"},
      {&flat, "2", "--format png needs the model's value range, and model 'img' declares none"},
      {&wide, "4", "a grid of 4 samples of 600000 x 2 pixels exceeds 1000000 pixels a side"},
      {&ok, "0", "--format png needs at least one sample"},
  };
  char *p = tmp_path("e.png");
  for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
    char *err = NULL;
    ck_assert_int_eq(RUN(cases[c].d, NULL, &err, "-n", cases[c].n, "-o", p), 2);
    ck_assert_msg(strstr(err, cases[c].message) != NULL, "case %zu: '%s' lacks '%s'", c, err,
                  cases[c].message);
    ck_assert_ptr_nonnull(strstr(err, "Try 'toy --help'."));
    free(err);
  }
  ck_assert_int_eq(tmpdir_outputs(), 0);
  free(p);
}
END_TEST

/* A model failure or a full device: exit 1, and no file left behind. */
START_TEST(test_png_failures) {
  img_user u = {40, 0};
  pmm_model_desc d = img_desc(&u, 2, 3, 3, 0);
  char *p = tmp_path("f.png"), *err = NULL;
  ck_assert_int_eq(RUN(&d, NULL, &err, "-n", "100", "-o", p), 1);
  ck_assert_ptr_nonnull(strstr(err, "model img failed on samples [40, 48)"));
  free(err);
  ck_assert_int_eq(tmpdir_outputs(), 0);
  pmm_model_desc w = words_desc(&words_ok);
  ck_assert_int_eq(RUN(&w, NULL, &err, "-n", "5", "-o", "/nonexistent-dir/x.txt"), 1);
  ck_assert_ptr_nonnull(strstr(err, "cannot create '/nonexistent-dir/x.txt'"));
  free(err);
  free(p);

  if (access("/dev/full", W_OK) != 0) {
    fprintf(stderr, "png_failures: /dev/full unavailable, skipping the full-device case\n");
    return;
  }
  img_user ok = {NEVER, 0};
  pmm_model_desc big = img_desc(&ok, 2, 64, 64, 0);
  fflush(stdout);
  int save = dup(1), full = open("/dev/full", O_WRONLY);
  ck_assert(save >= 0 && full >= 0);
  dup2(full, 1);
  close(full);
  char *argv[] = {"toy", "-n", "400", "--format", "png", NULL};
  int st = pmm_sampler_main(5, argv, &big);
  clearerr(stdout);
  dup2(save, 1);
  close(save);
  ck_assert_int_eq(st, 1);
}
END_TEST

int main(void) {
  Suite *s = suite_create("formats");
  TCase *txt = tcase_create("txt");
  tcase_set_timeout(txt, 120);
  tcase_add_checked_fixture(txt, setup, teardown);
  tcase_add_test(txt, test_txt_decodes);
  tcase_add_test(txt, test_txt_no_padding_symbol);
  tcase_add_test(txt, test_txt_bad_values);
  tcase_add_test(txt, test_vocab_descriptor_checks);
  tcase_add_test(txt, test_info_vocab_and_range);
  tcase_add_test(txt, test_abi_mismatch);
  suite_add_tcase(s, txt);
  TCase *png = tcase_create("png");
  tcase_set_timeout(png, 120);
  tcase_add_checked_fixture(png, setup, teardown);
  tcase_add_test(png, test_png_gray);
  tcase_add_test(png, test_png_rgb_blocks);
  tcase_add_test(png, test_png_usage_errors);
  tcase_add_test(png, test_png_failures);
  suite_add_tcase(s, png);
  int failed = tu_run_suite(s);
  return failed == 0 ? 0 : 1;
}
