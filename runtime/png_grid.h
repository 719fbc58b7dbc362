/*
 * png_grid.h - internal to the runtime: the `--format png` writer behind
 * pmm_sampler_main.  Samples of shape [H, W] (grey) or [C, H, W] with C = 1
 * (grey) or 3 (RGB) are drawn as one near-square grid of cells separated by
 * 1-pixel grey gaps, values mapped linearly from [range_lo, range_hi] to
 * 0..255 and clamped.  Samples arrive in order, in chunks of any size; the
 * image is streamed one grid row at a time.
 *
 *     char why[256];
 *     if (png_grid_check(desc, count, why, sizeof why) != 0) ... usage error
 *     png_grid *g = png_grid_open(f, desc, count, "model=... seed=...", err, n);
 *     while (...) png_grid_add(g, samples, rows, err, n);
 *     png_grid_finish(g, err, n);
 *     png_grid_free(g);
 */
#ifndef PMMRT_PNG_GRID_H
#define PMMRT_PNG_GRID_H

#include <stdio.h>

#include "runtime/pmmrt.h"

/* Gap colour between cells (mid grey, visible on dark and light images). */
#define PNG_GRID_GAP 128
/* Largest image side: libpng's default limit for readers. */
#define PNG_GRID_MAX_SIDE 1000000u

typedef struct png_grid png_grid;

/* 0 if `count` samples of desc can be drawn as a grid; otherwise -1 and a
 * one-line reason (for a usage error) in why. */
int png_grid_check(const pmm_model_desc *d, uint64_t count, char *why, size_t whylen);

/* Write the PNG header for `count` samples to f (comment goes into a tEXt
 * chunk next to the model name and engine).  NULL on failure, with err set. */
png_grid *png_grid_open(FILE *f, const pmm_model_desc *d, uint64_t count, const char *comment,
                        char *err, size_t errlen);

/* The next n samples (n * sample_elems floats).  0 or -1 with err set. */
int png_grid_add(png_grid *g, const float *samples, uint64_t n, char *err, size_t errlen);

/* After all `count` samples: the last rows and the PNG end. */
int png_grid_finish(png_grid *g, char *err, size_t errlen);

void png_grid_free(png_grid *g);

#endif
