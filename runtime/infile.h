/*
 * infile.h - opening an input file: the one way pmmc's front end and the
 * runtime's .npy reader open what a user names (the model, its weights, its
 * atoms, `pmmc predict`'s arrays).  Internal to pmmc and the runtime.
 *
 *     char err[512];
 *     uint64_t size;
 *     int fd = pmm_infile_open(path, PMM_INFILE_MAX_MODEL, "a model file", &size, err, sizeof err);
 *     if (fd < 0) ... report err ...
 *
 * Opening never blocks (O_NONBLOCK, so a FIFO with no writer cannot hang
 * the open), and anything but a regular file is refused before a byte is
 * read: a FIFO or a device never ends (`/dev/zero`), and a directory has no
 * text.  Text inputs are read whole, so each kind has a size limit, all of
 * them here.
 */
#ifndef PMMRT_INFILE_H
#define PMMRT_INFILE_H

#include <stddef.h>
#include <stdint.h>

/* A model YAML file: far above any real model (a 10^6-step table is 20 MB). */
#define PMM_INFILE_MAX_MODEL (UINT64_C(64) << 20)
/* A dirichlet-categorical atoms text file (one sequence a line). */
#define PMM_INFILE_MAX_ATOMS_TEXT (UINT64_C(1) << 30)
/* A safetensors header: the reference implementation's limit. */
#define PMM_INFILE_MAX_SAFETENSORS_HEADER (UINT64_C(100) << 20)
/* A .npy header: far above anything numpy writes. */
#define PMM_INFILE_MAX_NPY_HEADER (UINT64_C(1) << 20)
/* No limit (binary files read piecewise, whose headers are checked against
 * the file's size). */
#define PMM_INFILE_NO_LIMIT UINT64_MAX

/* Open path read-only (close-on-exec) and return the descriptor, in
 * blocking mode, with the file's size in *size; or -1 with err set to
 * "PATH: cannot open: REASON", "'PATH' is not a regular file (a FIFO)" or,
 * when it has more than max_size bytes, "'PATH' is too large: N bytes, the
 * limit for WHAT is M" (what: "a model file", ...). */
int pmm_infile_open(const char *path, uint64_t max_size, const char *what, uint64_t *size,
                    char *err, size_t errlen);

/* The whole file (at most max_size bytes), NUL-terminated, into *text
 * (malloc'd) and its length into *len; 0, or -1 with err set. */
int pmm_infile_read_text(const char *path, uint64_t max_size, const char *what, char **text,
                         size_t *len, char *err, size_t errlen);

/* Exactly n bytes at offset off of fd into buf; 0, or -1 with errno set
 * (0 when the file ended first). */
int pmm_infile_pread(int fd, void *buf, size_t n, uint64_t off);

#endif
