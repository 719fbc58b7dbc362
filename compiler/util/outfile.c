/*
 * outfile.c - outputs that appear complete or not at all (outfile.h).
 */
#include "compiler/util/outfile.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int outfile_open(outfile *f, const char *path, char *err, size_t errlen) {
  f->fp = NULL;
  f->path = path;
  if ((size_t)snprintf(f->tmp, sizeof f->tmp, "%s.tmp-XXXXXX", path) >= sizeof f->tmp) {
    snprintf(err, errlen, "output path too long: %s", path);
    return -1;
  }
  int fd = mkstemp(f->tmp);
  if (fd < 0 || !(f->fp = fdopen(fd, "wb"))) {
    snprintf(err, errlen, "cannot write '%s': %s", path, strerror(errno));
    if (fd >= 0) {
      close(fd);
      remove(f->tmp);
    }
    return -1;
  }
  /* mkstemp makes the file private; the result gets the usual mode */
  mode_t mask = umask(0);
  umask(mask);
  fchmod(fd, 0666 & ~mask);
  return 0;
}

int outfile_commit(outfile *f, char *err, size_t errlen) {
  int bad = ferror(f->fp) != 0;
  if (fclose(f->fp) != 0) bad = 1;
  f->fp = NULL;
  if (bad || rename(f->tmp, f->path) != 0) {
    snprintf(err, errlen, "cannot write '%s': %s", f->path, strerror(errno ? errno : EIO));
    remove(f->tmp);
    return -1;
  }
  return 0;
}

void outfile_abort(outfile *f) {
  if (f->fp) fclose(f->fp);
  f->fp = NULL;
  remove(f->tmp);
}
