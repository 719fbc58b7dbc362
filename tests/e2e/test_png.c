/*
 * test_png.c - `--format png` end to end: a compiled sampler for an image
 * shape writes a valid PNG whose pixels are its samples.
 *
 * Two normal-normal models with exact atom networks written by this test:
 * grey, data shape [H, W] = [6, 5] (default range [0, 1]), and RGB,
 * [3, 4, 7] with range [-1, 1].  For each, the same seed is sampled once as
 * .npy and once as .png, and the file is checked three ways:
 *  - structure, by hand: the 8-byte signature, IHDR first (13 bytes: width,
 *    height, bit depth 8, colour type 0 grey or 2 RGB, no interlace), every
 *    chunk's CRC-32, IEND last;
 *  - size: the runtime's documented grid (runtime/png_grid.c): cols =
 *    ceil(sqrt(n)) cells across, ceil(n / cols) down, W x H pixels a cell,
 *    1-pixel gaps between cells and no border, so width = cols (W + 1) - 1;
 *  - content, decoded with libpng: cell i at grid row i / cols, column
 *    i % cols holds sample i with value v drawn as round(255 (v - lo) /
 *    (hi - lo)) clamped to 0..255 (channel c of [3, H, W] as R, G, B);
 *    tolerance 1 grey level (float rounding at .5); gap pixels and empty
 *    cells are PNG_GRID_GAP = 128.
 * n = 10 (a 4 x 3 grid with two empty cells).  Seed SEED.
 */
#include <check.h>
#include <math.h>
#include <png.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tests/e2e/e2e.h"

#define SEED 2718ULL
#define N_SAMPLES 10
#define GAP 128

static e2e_env env;
static int setup_status = -1;
static char setup_error[512];

typedef struct image_case {
  const char *name;
  uint32_t channels, h, w;
  double lo, hi;
  const char *data_line;
} image_case;

static const image_case cases[] = {
    {"grey", 1, 6, 5, 0.0, 1.0, "data: {shape: [6, 5]}\n"},
    {"rgb", 3, 4, 7, -1.0, 1.0, "data: {shape: [3, 4, 7], range: [-1, 1]}\n"},
};
#define N_CASES (sizeof cases / sizeof cases[0])

static char bin[N_CASES][PATH_MAX];
static int build_st[N_CASES] = {-1, -1};

static uint32_t crc_table[256];

static void crc_init(void) {
  for (uint32_t n = 0; n < 256; n++) {
    uint32_t c = n;
    for (int k = 0; k < 8; k++) c = c & 1 ? 0xedb88320u ^ (c >> 1) : c >> 1;
    crc_table[n] = c;
  }
}

static uint32_t crc32_of(const unsigned char *p, size_t n) {
  uint32_t c = 0xffffffffu;
  for (size_t i = 0; i < n; i++) c = crc_table[(c ^ p[i]) & 0xff] ^ (c >> 8);
  return c ^ 0xffffffffu;
}

static uint32_t be32(const unsigned char *p) {
  return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* Check the chunk structure; returns IHDR's width and height. */
static void check_structure(const char *path, uint32_t channels, uint32_t *width,
                            uint32_t *height) {
  size_t len;
  unsigned char *b = (unsigned char *)tu_read_file(path, &len);
  ck_assert_msg(b != NULL, "cannot read %s", path);
  ck_assert_msg(len >= 8 + 25 + 12 && memcmp(b, "\x89PNG\r\n\x1a\n", 8) == 0,
                "%s: no PNG signature", path);
  size_t off = 8;
  int chunks = 0, saw_end = 0, saw_data = 0;
  while (off < len) {
    ck_assert_msg(!saw_end, "%s: data after IEND", path);
    ck_assert_msg(len - off >= 12, "%s: truncated chunk at byte %zu", path, off);
    uint32_t n = be32(b + off);
    ck_assert_msg(n <= len - off - 12, "%s: chunk at byte %zu overruns the file", path, off);
    const unsigned char *type = b + off + 4;
    uint32_t crc = be32(b + off + 8 + n);
    ck_assert_msg(crc == crc32_of(type, 4 + (size_t)n), "%s: bad CRC in chunk %.4s at byte %zu",
                  path, (const char *)type, off);
    if (chunks == 0) {
      ck_assert_msg(memcmp(type, "IHDR", 4) == 0 && n == 13, "%s: first chunk is not IHDR", path);
      const unsigned char *h = type + 4;
      *width = be32(h);
      *height = be32(h + 4);
      ck_assert_msg(h[8] == 8, "%s: bit depth %u, expected 8", path, h[8]);
      ck_assert_msg(h[9] == (channels == 3 ? 2 : 0), "%s: colour type %u, expected %u", path, h[9],
                    channels == 3 ? 2u : 0u);
      ck_assert_msg(h[10] == 0 && h[11] == 0 && h[12] == 0,
                    "%s: compression/filter/interlace %u/%u/%u, expected 0/0/0", path, h[10], h[11],
                    h[12]);
    }
    if (memcmp(type, "IDAT", 4) == 0) saw_data = 1;
    if (memcmp(type, "IEND", 4) == 0) saw_end = 1;
    chunks++;
    off += 12 + (size_t)n;
  }
  ck_assert_msg(saw_data && saw_end, "%s: IDAT %s, IEND %s", path, saw_data ? "present" : "missing",
                saw_end ? "present" : "missing");
  printf("%s: %d chunks, CRCs good, IHDR %u x %u\n", path, chunks, *width, *height);
  free(b);
}

static int expected_level(double v, double lo, double hi) {
  if (isnan(v)) return 0;
  double x = nearbyint(255.0 * (v - lo) / (hi - lo));
  return x < 0.0 ? 0 : x > 255.0 ? 255 : (int)x;
}

START_TEST(test_png) {
  const image_case *c = &cases[_i];
  ck_assert_msg(setup_status == 0, "setup failed: %s", setup_error);
  ck_assert_msg(build_st[_i] == 0, "%s: pmmc build failed with status %d", c->name, build_st[_i]);
  char npy[PATH_MAX], png[PATH_MAX];
  e2e_path(npy, sizeof npy, "%s.npy", bin[_i]);
  e2e_path(png, sizeof png, "%s.png", bin[_i]);
  printf("%s: seed %llu, %d samples\n", c->name, SEED, N_SAMPLES);
  int st = tu_run("'%s' -n %d -s %llu -o '%s'", bin[_i], N_SAMPLES, SEED, npy);
  ck_assert_msg(st == 0, "%s: sampler (npy) exited with %d", c->name, st);
  st = tu_run("'%s' -n %d -s %llu --format png -o '%s'", bin[_i], N_SAMPLES, SEED, png);
  ck_assert_msg(st == 0, "%s: sampler (--format png) exited with %d", c->name, st);

  const uint32_t elems = c->channels * c->h * c->w;
  e2e_npy s;
  uint64_t shape[3] = {c->channels, c->h, c->w};
  if (c->channels == 1)
    e2e_npy_load_shape(npy, N_SAMPLES, 2, shape + 1, &s);
  else
    e2e_npy_load_shape(npy, N_SAMPLES, 3, shape, &s);

  uint32_t cols = 1;
  while (cols * cols < N_SAMPLES) cols++;
  uint32_t rows = (N_SAMPLES + cols - 1) / cols;
  uint32_t want_w = cols * (c->w + 1) - 1, want_h = rows * (c->h + 1) - 1;
  uint32_t width = 0, height = 0;
  crc_init();
  check_structure(png, c->channels, &width, &height);
  ck_assert_msg(width == want_w && height == want_h,
                "%s: image is %u x %u, expected %u x %u (%u x %u cells of %u x %u)", c->name, width,
                height, want_w, want_h, cols, rows, c->w, c->h);

  png_image img;
  memset(&img, 0, sizeof img);
  img.version = PNG_IMAGE_VERSION;
  ck_assert_msg(png_image_begin_read_from_file(&img, png) != 0, "%s: libpng: %s", png, img.message);
  img.format = c->channels == 3 ? PNG_FORMAT_RGB : PNG_FORMAT_GRAY;
  size_t stride = (size_t)width * c->channels;
  unsigned char *pix = malloc(stride * height);
  ck_assert_msg(pix != NULL, "out of memory");
  ck_assert_msg(png_image_finish_read(&img, NULL, pix, (png_int_32)stride, NULL) != 0,
                "%s: libpng: %s", png, img.message);

  size_t checked = 0, gaps = 0;
  int worst = 0;
  for (uint32_t y = 0; y < height; y++) {
    for (uint32_t x = 0; x < width; x++) {
      uint32_t cx = x / (c->w + 1), cy = y / (c->h + 1), px = x % (c->w + 1), py = y % (c->h + 1);
      uint32_t cell = cy * cols + cx;
      int gap = px == c->w || py == c->h || cell >= N_SAMPLES;
      for (uint32_t ch = 0; ch < c->channels; ch++) {
        int got = pix[(size_t)y * stride + (size_t)x * c->channels + ch];
        int want = gap ? GAP
                       : expected_level(
                             s.a.data[(size_t)cell * elems + ((size_t)ch * c->h + py) * c->w + px],
                             c->lo, c->hi);
        int d = abs(got - want);
        ck_assert_msg(d <= (gap ? 0 : 1), "%s: pixel (%u, %u) channel %u is %d, expected %d (%s)",
                      c->name, x, y, ch, got, want, gap ? "gap" : "sample value");
        if (d > worst) worst = d;
        if (gap)
          gaps++;
        else
          checked++;
      }
    }
  }
  printf("%s: %zu sample pixel values match (largest difference %d), %zu gap values are %d\n",
         c->name, checked, worst, gaps, GAP);
  free(pix);
  png_image_free(&img);
  e2e_npy_free(&s);
}
END_TEST

/* Atoms: a few smooth patterns spanning the data range, so pixels vary. */
static int write_model(const image_case *c, char *yaml, size_t len) {
  enum { K = 3 };
  const uint32_t elems = c->channels * c->h * c->w;
  float *atoms = malloc((size_t)K * elems * sizeof *atoms);
  if (!atoms) {
    e2e_format(setup_error, sizeof setup_error, "out of memory");
    return -1;
  }
  for (uint32_t k = 0; k < K; k++)
    for (uint32_t e = 0; e < elems; e++)
      atoms[k * elems + e] =
          (float)(c->lo + (c->hi - c->lo) * (0.5 + 0.45 * sin(0.7 * e + 2.1 * k)));
  char path[PATH_MAX], text[1024];
  uint64_t shape[2] = {K, elems};
  int rc = -1;
  if (e2e_format(path, sizeof path, "%s/%s_atoms.npy", env.dir, c->name) == 0 &&
      e2e_write_npy(path, 2, shape, atoms, setup_error, sizeof setup_error) == 0 &&
      e2e_format(text, sizeof text,
                 "name: %s\n"
                 "pair: normal-normal\n"
                 "%s"
                 "prior: {mean: 0.0, precision: 1.0}\n"
                 "schedule: {kind: geometric, steps: 40, start: 0.01, end: 1000}\n"
                 "sampler: {kind: pmm, output: posterior-mean}\n"
                 "network: {kind: exact, atoms: %s_atoms.npy}\n",
                 c->name, c->data_line, c->name) == 0 &&
      e2e_format(yaml, len, "%s/%s.yaml", env.dir, c->name) == 0 &&
      e2e_write_text(yaml, text, setup_error, sizeof setup_error) == 0)
    rc = 0;
  free(atoms);
  return rc;
}

int main(void) {
  if (e2e_env_init(&env, "png") != 0) return EXIT_FAILURE;
  setup_status = 0;
  for (size_t i = 0; i < N_CASES && setup_status == 0; i++) {
    char yaml[PATH_MAX];
    setup_status = write_model(&cases[i], yaml, sizeof yaml);
    if (setup_status == 0)
      build_st[i] = e2e_build(yaml, "", env.dir, cases[i].name, bin[i], sizeof bin[i]);
  }
  if (setup_status != 0) fprintf(stderr, "setup failed: %s\n", setup_error);

  Suite *s = suite_create("e2e_png");
  TCase *tc = tcase_create("png");
  tcase_set_timeout(tc, 300);
  tcase_add_loop_test(tc, test_png, 0, (int)N_CASES);
  suite_add_tcase(s, tc);
  int failed = tu_run_suite(s);
  e2e_env_finish(&env, failed);
  return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
