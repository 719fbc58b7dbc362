/*
 * embed_weights.c - NAME.weights files (pmmrt.h, "--weights=external"): the
 * checks that turn a missing, truncated, corrupted or foreign file into
 * NAME_ERR_WEIGHTS with a message, and the one-time copy into the library's
 * weight region.
 *
 * The region is the library's own (its code addresses it directly, as it
 * does embedded weights), so it is filled once a process: the first
 * successful open loads it under a lock, later opens only check that their
 * file has the same checksum.  Reading, not mapping: the code's addresses
 * are fixed, and a copy cannot change under the process if the file does.
 */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "runtime/embed.h"

uint64_t pmm_weights_checksum(const void *data, size_t n) {
  const unsigned char *p = data;
  uint64_t h = 14695981039346656037u;
  for (size_t i = 0; i < n; i++) h = (h ^ p[i]) * 1099511628211u;
  return h;
}

static uint32_t get_u32(const unsigned char *p) {
  return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint64_t get_u64(const unsigned char *p) {
  return (uint64_t)get_u32(p) | (uint64_t)get_u32(p + 4) << 32;
}

static int32_t weights_fail(char *err, size_t errlen, const char *what, const char *why) {
  if (err && errlen) snprintf(err, errlen, "weights %s: %s", what, why);
  return PMM_EMBED_ERR_WEIGHTS;
}

/* The header (the first 64 bytes) and table of a file of `size` bytes
 * against def; *data_offset receives where the data starts. */
static int32_t weights_check_header(const pmm_embed_def *def, const unsigned char *h, uint64_t size,
                                    const unsigned char *table, uint64_t *data_offset,
                                    const char *what, char *err, size_t errlen) {
  uint32_t bom = 0x01020304u;
  if (size < PMM_WEIGHTS_HEADER_BYTES || memcmp(h, PMM_WEIGHTS_MAGIC, 8) != 0)
    return weights_fail(err, errlen, what, "not a pmmc weights file");
  if (get_u32(h + 8) != PMM_WEIGHTS_VERSION)
    return weights_fail(err, errlen, what, "a weights file of another format version");
  if (memcmp(h + 12, &bom, 4) != 0)
    return weights_fail(err, errlen, what, "written for a target of the other byte order");
  if (memcmp(h + 40, def->build_id, 16) != 0)
    return weights_fail(err, errlen, what,
                        "from another build than this library (its build id differs)");
  uint64_t off = get_u64(h + 16), bytes = get_u64(h + 24), n = get_u32(h + 56);
  if (bytes != def->weights_bytes || get_u64(h + 32) != def->weights_checksum)
    return weights_fail(err, errlen, what, "its size or checksum is not this build's");
  if (off % 64 != 0 || n > (off - PMM_WEIGHTS_HEADER_BYTES) / PMM_WEIGHTS_ENTRY_BYTES ||
      off < PMM_WEIGHTS_HEADER_BYTES)
    return weights_fail(err, errlen, what, "its header does not hold together");
  if (off > size || bytes > size - off) return weights_fail(err, errlen, what, "truncated");
  for (uint64_t i = 0; table && i < n; i++) {
    const unsigned char *e = table + i * PMM_WEIGHTS_ENTRY_BYTES;
    if (get_u64(e) > bytes || get_u64(e + 8) > bytes - get_u64(e))
      return weights_fail(err, errlen, what, "its tensor table points outside the data");
  }
  *data_offset = off;
  return PMM_EMBED_OK;
}

/* A file's header checked, then (when copy) its data read into the region. */
static int32_t weights_from_fd(const pmm_embed_def *def, int fd, const char *path, int copy,
                               char *err, size_t errlen) {
  struct stat st;
  if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode))
    return weights_fail(err, errlen, path, "not a regular file");
  unsigned char h[PMM_WEIGHTS_HEADER_BYTES];
  uint64_t off;
  if (pread(fd, h, sizeof h, 0) != (ssize_t)sizeof h)
    return weights_fail(err, errlen, path, "truncated");
  int32_t rc = weights_check_header(def, h, (uint64_t)st.st_size, NULL, &off, path, err, errlen);
  size_t done = 0;
  while (rc == PMM_EMBED_OK && copy && done < def->weights_bytes) {
    ssize_t got = pread(fd, (char *)def->weights + done, (size_t)def->weights_bytes - done,
                        (off_t)(off + done));
    if (got == 0 || (got < 0 && errno != EINTR))
      return weights_fail(err, errlen, path, "read error");
    if (got > 0) done += (size_t)got;
  }
  return rc;
}

static int32_t weights_from_params(const pmm_embed_def *def, const pmm_embed_params *p, int copy,
                                   char *err, size_t errlen) {
  if (p->weights_data) {
    uint64_t off;
    const unsigned char *d = p->weights_data;
    if (p->weights_size < PMM_WEIGHTS_HEADER_BYTES)
      return weights_fail(err, errlen, "data", "truncated");
    int32_t rc = weights_check_header(def, d, p->weights_size, d + PMM_WEIGHTS_HEADER_BYTES, &off,
                                      "data", err, errlen);
    if (rc == PMM_EMBED_OK && copy) memcpy(def->weights, d + off, (size_t)def->weights_bytes);
    return rc;
  }
  int fd = open(p->weights_path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
  if (fd < 0) return weights_fail(err, errlen, p->weights_path, strerror(errno));
  int32_t rc = weights_from_fd(def, fd, p->weights_path, copy, err, errlen);
  close(fd);
  return rc;
}

static pthread_mutex_t weights_lock = PTHREAD_MUTEX_INITIALIZER;
static int weights_loaded;

int32_t pmm_embed_load_weights(const pmm_embed_def *def, const pmm_embed_params *p, char *err,
                               size_t errlen) {
  if (!p || (!p->weights_data && !p->weights_path))
    return weights_fail(err, errlen, "missing",
                        "this library was built with --weights=external: give "
                        "params.weights_path or params.weights_data");
  pthread_mutex_lock(&weights_lock);
  int copy = !weights_loaded;
  int32_t rc = weights_from_params(def, p, copy, err, errlen);
  if (rc == PMM_EMBED_OK && copy &&
      pmm_weights_checksum(def->weights, (size_t)def->weights_bytes) != def->weights_checksum)
    rc = weights_fail(err, errlen, p->weights_data ? "data" : p->weights_path,
                      "corrupted (the checksum of the data does not match)");
  if (copy) weights_loaded = rc == PMM_EMBED_OK;
  pthread_mutex_unlock(&weights_lock);
  return rc;
}
