/*
 * infile.c - opening input files without blocking, regular files only
 * (infile.h).
 */
#include "runtime/infile.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static const char *file_kind(mode_t m) {
  if (S_ISDIR(m)) return "a directory";
  if (S_ISFIFO(m)) return "a FIFO";
  if (S_ISCHR(m)) return "a character device";
  if (S_ISBLK(m)) return "a block device";
  if (S_ISSOCK(m)) return "a socket";
  return "not a file";
}

int pmm_infile_open(const char *path, uint64_t max_size, const char *what, uint64_t *size,
                    char *err, size_t errlen) {
  /* O_NONBLOCK: opening a FIFO for reading otherwise waits for a writer. */
  int fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
  if (fd < 0) {
    snprintf(err, errlen, "%s: cannot open: %s", path, strerror(errno));
    return -1;
  }
  struct stat sb;
  if (fstat(fd, &sb) != 0) {
    snprintf(err, errlen, "%s: cannot read: %s", path, strerror(errno));
    close(fd);
    return -1;
  }
  if (!S_ISREG(sb.st_mode)) {
    snprintf(err, errlen, "'%s' is not a regular file (%s)", path, file_kind(sb.st_mode));
    close(fd);
    return -1;
  }
  if ((uint64_t)sb.st_size > max_size) {
    snprintf(err, errlen, "'%s' is too large: %llu bytes, the limit for %s is %llu", path,
             (unsigned long long)sb.st_size, what, (unsigned long long)max_size);
    close(fd);
    return -1;
  }
  /* Regular files never block, but the descriptor may be handed to stdio. */
  int fl = fcntl(fd, F_GETFL);
  if (fl < 0 || fcntl(fd, F_SETFL, fl & ~O_NONBLOCK) != 0) {
    snprintf(err, errlen, "%s: cannot read: %s", path, strerror(errno));
    close(fd);
    return -1;
  }
  *size = (uint64_t)sb.st_size;
  return fd;
}

int pmm_infile_pread(int fd, void *buf, size_t n, uint64_t off) {
  unsigned char *p = buf;
  while (n > 0) {
    ssize_t got = pread(fd, p, n, (off_t)off);
    if (got < 0 && errno == EINTR) continue;
    if (got <= 0) {
      if (got == 0) errno = 0;
      return -1;
    }
    p += got;
    n -= (size_t)got;
    off += (uint64_t)got;
  }
  return 0;
}

int pmm_infile_read_text(const char *path, uint64_t max_size, const char *what, char **text,
                         size_t *len, char *err, size_t errlen) {
  uint64_t size;
  int fd = pmm_infile_open(path, max_size, what, &size, err, errlen);
  if (fd < 0) return -1;
  char *buf = size < SIZE_MAX ? malloc((size_t)size + 1) : NULL;
  if (!buf) {
    snprintf(err, errlen, "%s: out of memory reading %llu bytes", path, (unsigned long long)size);
    close(fd);
    return -1;
  }
  /* A file that shrank since fstat ends early; one that grew is read up to
   * its size then. */
  size_t n = 0;
  while (n < size) {
    ssize_t got = read(fd, buf + n, (size_t)size - n);
    if (got < 0 && errno == EINTR) continue;
    if (got < 0) {
      snprintf(err, errlen, "%s: cannot read: %s", path, strerror(errno));
      free(buf);
      close(fd);
      return -1;
    }
    if (got == 0) break;
    n += (size_t)got;
  }
  close(fd);
  buf[n] = '\0';
  *text = buf;
  *len = n;
  return 0;
}
