/*
 * weights.h - named float tensors, read from and written to safetensors.
 *
 *     weight_set ws;
 *     char err[256];
 *     if (weights_load_safetensors("model.safetensors", &ws, err, sizeof err) != 0)
 *         fprintf(stderr, "%s\n", err);
 *     const weight_tensor *w = weights_find(&ws, "fc1.weight");
 *     ...
 *     weight_set_free(&ws);
 *
 * safetensors: 8-byte little-endian header length N, N bytes of JSON
 * ({"name": {"dtype": "F32", "shape": [..], "data_offsets": [begin, end]}, ...,
 * optional "__metadata__"}), then the raw little-endian data.  F64, F32, F16
 * and BF16 are accepted and converted to float on load (an F64 value beyond
 * float's range is an error); tensor names are unique.  F32 is written.
 */
#ifndef PMMC_WEIGHTS_H
#define PMMC_WEIGHTS_H

#include <stddef.h>
#include <stdint.h>

#include "compiler/util/strmap.h"

#define WEIGHT_MAX_RANK 8

typedef struct weight_tensor {
  char *name;
  uint32_t rank;
  uint64_t shape[WEIGHT_MAX_RANK];
  uint64_t count; /* product of shape */
  float *data;
} weight_tensor;

typedef struct weight_set {
  weight_tensor *tensors;
  size_t count, cap;
  strmap index; /* name -> index into tensors */
} weight_set;

void weight_set_init(weight_set *ws);
void weight_set_free(weight_set *ws);

/* Add a copy of data (count floats) under name; 0 on success. */
int weight_set_add(weight_set *ws, const char *name, uint32_t rank, const uint64_t *shape,
                   const float *data);

const weight_tensor *weights_find(const weight_set *ws, const char *name);

/* Errors name the file and what was wrong ("x.safetensors: tensor 'a' ...").
 * Return 0 on success. */
int weights_load_safetensors(const char *path, weight_set *ws, char *err, size_t errlen);
int weights_save_safetensors(const char *path, const weight_set *ws, char *err, size_t errlen);

/* FNV-1a 64 over names, shapes and data, as 16 hex digits + NUL in out[17]. */
void weights_hash(const weight_set *ws, char out[17]);

/* IEEE half and bfloat16 to float. */
float weights_f16_to_f32(uint16_t h);
float weights_bf16_to_f32(uint16_t h);

#endif
