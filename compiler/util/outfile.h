/*
 * outfile.h - an output file that appears complete or not at all: written
 * to a temporary name beside the target, renamed over it on success,
 * removed on failure.
 *
 *     outfile f;
 *     if (outfile_open(&f, "out.npy", err, sizeof err) != 0) return -1;
 *     fwrite(data, 4, n, f.fp);
 *     if (outfile_commit(&f, err, sizeof err) != 0) return -1;   // or outfile_abort(&f)
 */
#ifndef PMMC_OUTFILE_H
#define PMMC_OUTFILE_H

#include <limits.h>
#include <stddef.h>
#include <stdio.h>

typedef struct outfile {
  FILE *fp;
  const char *path;
  char tmp[PATH_MAX];
} outfile;

int outfile_open(outfile *f, const char *path, char *err, size_t errlen);
/* Flush, close and rename into place; on any failure the temporary file is
 * removed and -1 returned with a message. */
int outfile_commit(outfile *f, char *err, size_t errlen);
void outfile_abort(outfile *f);

#endif
