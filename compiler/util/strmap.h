/*
 * strmap.h - a map from strings to indices: open addressing with linear
 * probing, so looking names up (layers, tensors, YAML anchors) costs the
 * same for the ten-thousandth as for the first.
 *
 *     strmap m;
 *     strmap_init(&m);
 *     size_t first;
 *     if (strmap_put(&m, name, i, &first) == 0) ... name was given before, at first ...
 *     size_t at;
 *     if (strmap_get(&m, "fc1", &at)) ...
 *     strmap_free(&m);
 *
 * Keys are not copied: each must outlive the map and stay unchanged.
 */
#ifndef PMMC_STRMAP_H
#define PMMC_STRMAP_H

#include <stddef.h>

typedef struct strmap_slot {
  const char *key; /* NULL: empty */
  size_t value;
} strmap_slot;

typedef struct strmap {
  strmap_slot *slots;
  size_t cap; /* 0 or a power of two */
  size_t count;
} strmap;

void strmap_init(strmap *m);
void strmap_free(strmap *m);

/* Map key to value unless key is present.  1 when added; 0 when present,
 * with its value in *old (when not NULL); -1 when out of memory. */
int strmap_put(strmap *m, const char *key, size_t value, size_t *old);
/* Map key to value, replacing its value when present; 0, or -1 when out of
 * memory. */
int strmap_set(strmap *m, const char *key, size_t value);
/* 1 with the value in *value (when not NULL) if key is present, else 0. */
int strmap_get(const strmap *m, const char *key, size_t *value);

#endif
