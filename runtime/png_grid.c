/*
 * png_grid.c - samples as one PNG image grid (see png_grid.h), via libpng.
 *
 * Layout: cols = ceil(sqrt(count)) cells across, ceil(count / cols) down,
 * cell i at grid row i / cols, column i % cols; cells are W x H pixels with
 * a 1-pixel PNG_GRID_GAP line between neighbours and no outer border;
 * cells past the last sample are gap-coloured.  A value v becomes
 * round(255 (v - lo) / (hi - lo)) clamped to 0..255 (NaN -> 0).
 *
 * Only one grid row of samples (a "strip") is held at a time: it is drawn
 * and written as soon as it is full, so memory stays at cols samples plus
 * one line of pixels whatever the image size.
 *
 * libpng reports errors by longjmp; every libpng call happens inside
 * grid_guard, whose setjmp turns that back into a status, with the message
 * (or the errno of a failed write) kept in the grid.
 */
#include <errno.h>
#include <math.h>
#include <png.h>
#include <setjmp.h>
#include <stdlib.h>
#include <string.h>

#include "runtime/png_grid.h"

struct png_grid {
  FILE *f;
  png_structp png;
  png_infop info;
  uint64_t count, added;
  uint64_t chan, h, w, elems; /* one sample: [chan, h, w] */
  uint64_t cols, rows;        /* the grid, in cells */
  uint32_t width, height;     /* the image, in pixels */
  double lo, scale;           /* pixel = (v - lo) * scale */
  float *strip;               /* cols samples */
  uint64_t in_strip, strips_done;
  unsigned char *line; /* width * chan bytes */
  int io_errno;
  char msg[200];
};

/* The geometry of a sample, or -1 for shapes that are not images. */
static int grid_shape(const pmm_model_desc *d, uint64_t *chan, uint64_t *h, uint64_t *w) {
  if (d->rank == 2) {
    *chan = 1;
    *h = d->shape[0];
    *w = d->shape[1];
    return 0;
  }
  if (d->rank == 3 && (d->shape[0] == 1 || d->shape[0] == 3)) {
    *chan = d->shape[0];
    *h = d->shape[1];
    *w = d->shape[2];
    return 0;
  }
  return -1;
}

/* Smallest s with s * s >= n, for 1 <= n <= PNG_GRID_MAX_SIDE^2. */
static uint64_t ceil_sqrt(uint64_t n) {
  uint64_t s = (uint64_t)sqrt((double)n);
  while (s * s < n) s++;
  while (s > 1 && (s - 1) * (s - 1) >= n) s--;
  return s;
}

/* Cells of `cell` pixels with 1-pixel gaps: n cell - 1 + ... pixels, or 0
 * when that exceeds PNG_GRID_MAX_SIDE. */
static uint64_t grid_side(uint64_t n, uint64_t cell) {
  if (cell >= PNG_GRID_MAX_SIDE || n > (PNG_GRID_MAX_SIDE + 1) / (cell + 1)) return 0;
  return n * (cell + 1) - 1;
}

int png_grid_check(const pmm_model_desc *d, uint64_t count, char *why, size_t whylen) {
  uint64_t chan, h, w;
  if (grid_shape(d, &chan, &h, &w) != 0) {
    char shape[128];
    int at = snprintf(shape, sizeof shape, "[");
    for (uint64_t i = 0; i < d->rank && at > 0 && (size_t)at < sizeof shape; i++)
      at += snprintf(shape + at, sizeof shape - (size_t)at, "%s%llu", i ? ", " : "",
                     (unsigned long long)d->shape[i]);
    snprintf(why, whylen,
             "--format png draws images of shape [H, W] or [C, H, W] with C = 1 or 3; "
             "the samples of model '%s' have shape %s]",
             d->name, shape);
    return -1;
  }
  if (!isfinite(d->range_lo) || !isfinite(d->range_hi) || !(d->range_hi > d->range_lo)) {
    snprintf(why, whylen,
             "--format png needs the model's value range, and model '%s' declares none "
             "(range %g to %g)",
             d->name, d->range_lo, d->range_hi);
    return -1;
  }
  if (count == 0) {
    snprintf(why, whylen, "--format png needs at least one sample");
    return -1;
  }
  uint64_t max_cells = (uint64_t)PNG_GRID_MAX_SIDE * PNG_GRID_MAX_SIDE;
  uint64_t cols = count <= max_cells ? ceil_sqrt(count) : 0;
  uint64_t rows = cols ? (count + cols - 1) / cols : 0;
  if (!cols || !grid_side(cols, w) || !grid_side(rows, h)) {
    snprintf(why, whylen,
             "a grid of %llu samples of %llu x %llu pixels exceeds %u pixels a side: "
             "draw fewer samples (-n) per image",
             (unsigned long long)count, (unsigned long long)w, (unsigned long long)h,
             PNG_GRID_MAX_SIDE);
    return -1;
  }
  return 0;
}

/* ---- libpng plumbing ------------------------------------------------------ */

static void grid_error(png_structp png, png_const_charp msg) {
  png_grid *g = png_get_error_ptr(png);
  snprintf(g->msg, sizeof g->msg, "libpng: %s", msg);
  png_longjmp(png, 1);
}

/* Warnings concern ancillary details of the file (e.g. text chunks) and
 * never invalidate it; a sampler's stderr is no place for them. */
static void grid_warning(png_structp png, png_const_charp msg) {
  (void)png;
  (void)msg;
}

static void grid_write(png_structp png, png_bytep data, png_size_t len) {
  png_grid *g = png_get_io_ptr(png);
  if (fwrite(data, 1, len, g->f) != len) {
    g->io_errno = errno ? errno : EIO;
    png_error(png, "write failed");
  }
}

static void grid_flush(png_structp png) {
  png_grid *g = png_get_io_ptr(png);
  if (fflush(g->f) != 0) {
    g->io_errno = errno ? errno : EIO;
    png_error(png, "write failed");
  }
}

typedef void (*grid_step_fn)(png_grid *g, const void *arg);

/* Run one step with libpng's longjmp caught.  The step gets all its state
 * through g and arg, so nothing on this frame changes after setjmp. */
static int grid_guard(png_grid *g, grid_step_fn step, const void *arg, char *err, size_t errlen) {
  if (setjmp(png_jmpbuf(g->png))) {
    snprintf(err, errlen, "%s", g->io_errno ? strerror(g->io_errno) : g->msg);
    return -1;
  }
  step(g, arg);
  return 0;
}

/* ---- drawing ---------------------------------------------------------- */

static unsigned char grid_pixel(const png_grid *g, float v) {
  double s = ((double)v - g->lo) * g->scale;
  if (!(s > 0.0)) return 0;
  if (s >= 255.0) return 255;
  return (unsigned char)(s + 0.5);
}

static void grid_gap_line(png_grid *g) {
  memset(g->line, PNG_GRID_GAP, (size_t)(g->width * g->chan));
  png_write_row(g->png, g->line);
}

/* Draw and write the strip's h pixel rows, then the gap below it unless it
 * is the grid's last row. */
static void grid_emit_strip(png_grid *g) {
  size_t plane = (size_t)(g->h * g->w);
  for (uint64_t y = 0; y < g->h; y++) {
    memset(g->line, PNG_GRID_GAP, (size_t)(g->width * g->chan));
    for (uint64_t cell = 0; cell < g->in_strip; cell++) {
      const float *s = g->strip + cell * g->elems + y * g->w;
      unsigned char *px = g->line + cell * (g->w + 1) * g->chan;
      for (uint64_t x = 0; x < g->w; x++) {
        for (uint64_t c = 0; c < g->chan; c++)
          px[x * g->chan + c] = grid_pixel(g, s[c * plane + x]);
      }
    }
    png_write_row(g->png, g->line);
  }
  g->in_strip = 0;
  if (++g->strips_done < g->rows) grid_gap_line(g);
}

typedef struct grid_header {
  const pmm_model_desc *d;
  const char *comment;
} grid_header;

static void grid_start(png_grid *g, const void *arg) {
  const grid_header *hd = arg;
  png_set_write_fn(g->png, g, grid_write, grid_flush);
  png_set_IHDR(g->png, g->info, g->width, g->height, 8,
               g->chan == 3 ? PNG_COLOR_TYPE_RGB : PNG_COLOR_TYPE_GRAY, PNG_INTERLACE_NONE,
               PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
  png_text text[3];
  memset(text, 0, sizeof text);
  const char *keys[3] = {"Title", "Comment", "Software"};
  const char *values[3] = {hd->d->name, hd->comment, hd->d->engine};
  for (int i = 0; i < 3; i++) {
    text[i].compression = PNG_TEXT_COMPRESSION_NONE;
    text[i].key = (png_charp)keys[i];
    text[i].text = (png_charp)values[i];
  }
  png_set_text(g->png, g->info, text, 3);
  png_write_info(g->png, g->info);
}

png_grid *png_grid_open(FILE *f, const pmm_model_desc *d, uint64_t count, const char *comment,
                        char *err, size_t errlen) {
  if (png_grid_check(d, count, err, errlen) != 0) return NULL;
  png_grid *g = calloc(1, sizeof *g);
  if (!g) {
    snprintf(err, errlen, "out of memory");
    return NULL;
  }
  g->f = f;
  g->count = count;
  grid_shape(d, &g->chan, &g->h, &g->w);
  g->elems = (uint64_t)d->sample_elems;
  g->cols = ceil_sqrt(count);
  g->rows = (count + g->cols - 1) / g->cols;
  g->width = (uint32_t)grid_side(g->cols, g->w);
  g->height = (uint32_t)grid_side(g->rows, g->h);
  g->lo = d->range_lo;
  g->scale = 255.0 / (d->range_hi - d->range_lo);
  /* cols * elems floats: cols <= 10^6 and elems <= sample_elems, which the
   * sampler already holds in blocks, so only the product needs checking. */
  if (g->elems > SIZE_MAX / sizeof(float) / g->cols) {
    snprintf(err, errlen, "a row of %llu samples is too large", (unsigned long long)g->cols);
    free(g);
    return NULL;
  }
  g->strip = malloc((size_t)(g->cols * g->elems) * sizeof(float));
  g->line = malloc((size_t)(g->width * g->chan));
  g->png = png_create_write_struct(PNG_LIBPNG_VER_STRING, g, grid_error, grid_warning);
  g->info = g->png ? png_create_info_struct(g->png) : NULL;
  if (!g->strip || !g->line || !g->info) {
    snprintf(err, errlen, "out of memory for a PNG of %u x %u pixels", g->width, g->height);
    png_grid_free(g);
    return NULL;
  }
  grid_header hd = {d, comment};
  if (grid_guard(g, grid_start, &hd, err, errlen) != 0) {
    png_grid_free(g);
    return NULL;
  }
  return g;
}

typedef struct grid_batch {
  const float *samples;
  uint64_t n;
} grid_batch;

static void grid_take(png_grid *g, const void *arg) {
  const grid_batch *b = arg;
  for (uint64_t i = 0; i < b->n; i++) {
    memcpy(g->strip + g->in_strip * g->elems, b->samples + i * g->elems,
           (size_t)g->elems * sizeof(float));
    g->added++;
    if (++g->in_strip == g->cols) grid_emit_strip(g);
  }
}

int png_grid_add(png_grid *g, const float *samples, uint64_t n, char *err, size_t errlen) {
  if (n > g->count - g->added) {
    snprintf(err, errlen, "more samples than the %llu the image was laid out for",
             (unsigned long long)g->count);
    return -1;
  }
  grid_batch b = {samples, n};
  return grid_guard(g, grid_take, &b, err, errlen);
}

static void grid_end(png_grid *g, const void *arg) {
  (void)arg;
  if (g->in_strip > 0) grid_emit_strip(g);
  png_write_end(g->png, NULL);
}

int png_grid_finish(png_grid *g, char *err, size_t errlen) {
  if (g->added != g->count) {
    snprintf(err, errlen, "the image got %llu of its %llu samples", (unsigned long long)g->added,
             (unsigned long long)g->count);
    return -1;
  }
  return grid_guard(g, grid_end, NULL, err, errlen);
}

void png_grid_free(png_grid *g) {
  if (!g) return;
  if (g->png) png_destroy_write_struct(&g->png, g->info ? &g->info : NULL);
  free(g->strip);
  free(g->line);
  free(g);
}
