/*
 * strmap.c - string -> index hash map (strmap.h).
 */
#include "compiler/util/strmap.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "compiler/util/xalloc.h"

/* FNV-1a: names differ in their last characters ("layer.12.weight"), which
 * it mixes as well as the first. */
static size_t strmap_hash(const char *s) {
  uint64_t h = UINT64_C(0xcbf29ce484222325);
  for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
    h ^= *p;
    h *= UINT64_C(0x100000001b3);
  }
  return (size_t)(h ^ (h >> 32));
}

void strmap_init(strmap *m) { memset(m, 0, sizeof *m); }

void strmap_free(strmap *m) {
  free(m->slots);
  memset(m, 0, sizeof *m);
}

/* The slot holding key, or the empty slot where it belongs (cap > 0). */
static strmap_slot *strmap_find(const strmap *m, const char *key) {
  size_t mask = m->cap - 1;
  for (size_t i = strmap_hash(key) & mask;; i = (i + 1) & mask) {
    strmap_slot *s = &m->slots[i];
    if (!s->key || strcmp(s->key, key) == 0) return s;
  }
}

static int strmap_grow(strmap *m) {
  if (m->cap > SIZE_MAX / 2) return -1;
  size_t cap = m->cap ? m->cap * 2 : 16;
  strmap_slot *slots = xcalloc_array(cap, sizeof *slots); /* checks cap * size */
  if (!slots) return -1;
  strmap old = *m;
  m->slots = slots;
  m->cap = cap;
  for (size_t i = 0; i < old.cap; i++)
    if (old.slots[i].key) *strmap_find(m, old.slots[i].key) = old.slots[i];
  free(old.slots);
  return 0;
}

int strmap_put(strmap *m, const char *key, size_t value, size_t *old) {
  /* At most half full, so probe sequences stay short. */
  if (m->count >= m->cap / 2 && strmap_grow(m) != 0) return -1;
  strmap_slot *s = strmap_find(m, key);
  if (s->key) {
    if (old) *old = s->value;
    return 0;
  }
  s->key = key;
  s->value = value;
  m->count++;
  return 1;
}

int strmap_set(strmap *m, const char *key, size_t value) {
  size_t old;
  int added = strmap_put(m, key, value, &old);
  if (added == 0) strmap_find(m, key)->value = value;
  return added < 0 ? -1 : 0;
}

int strmap_get(const strmap *m, const char *key, size_t *value) {
  if (m->cap == 0) return 0;
  const strmap_slot *s = strmap_find(m, key);
  if (!s->key) return 0;
  if (value) *value = s->value;
  return 1;
}
