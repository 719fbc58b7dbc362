/*
 * outfile.h - how the samplers and pmmc write their outputs (README.md,
 * "Output files").  Internal to libpmmrt.a and pmmc, not installed.
 *
 * An output path names one of:
 *   "-"            standard output, written directly;
 *   a new path or an existing regular file
 *                  written to a temporary beside it and renamed over it once
 *                  complete (pmm_outfile_commit), so the path only ever holds
 *                  a complete file: a failed or interrupted run leaves what
 *                  was there before;
 *   a symbolic link
 *                  followed: the file it leads to is the one written (its
 *                  temporary in that file's directory), and the link stays;
 *   a device, FIFO or socket
 *                  opened and written directly, never replaced (-o /dev/null,
 *                  a named pipe read by another program);
 *   a directory    an error, reported by pmm_outfile_open before anything is
 *                  written.
 *
 * Temporaries are named ".NAME.tmp-XXXXXX" with NAME cut short so that the
 * whole name fits the directory's NAME_MAX: any name the file system takes
 * can be written.  Every temporary file and directory is entered in a
 * fixed-size registry while it exists; pmm_out_catch_signals makes SIGINT,
 * SIGTERM and SIGHUP remove them before the process dies.
 *
 *     pmm_outfile f;
 *     if (pmm_outfile_open(&f, "out.npy", err, sizeof err) != 0) return -1;
 *     fwrite(data, 4, n, f.fp);
 *     if (pmm_outfile_commit(&f, err, sizeof err) != 0) return -1;  // or pmm_outfile_abort(&f)
 *
 * Functions return 0, or -1 with errno set and a message naming the file
 * in err ("cannot create 'out.npy': Is a directory").
 */
#ifndef PMMRT_OUTFILE_H
#define PMMRT_OUTFILE_H

#include <limits.h>
#include <stddef.h>
#include <stdio.h>

typedef struct pmm_outfile {
  FILE *fp;              /* write the contents here */
  const char *path;      /* as given; names the file in messages */
  char target[PATH_MAX]; /* path with symbolic links followed: the file written */
  char tmp[PATH_MAX];    /* the temporary beside target; "" when written directly */
  int slot;              /* tmp's registry entry, -1 for none */
} pmm_outfile;

/* Open path for writing as above.  Checks what can be checked before any
 * work is done: the target is not a directory, its name fits, a temporary
 * can be made beside it (or the device opened; a FIFO's open waits for a
 * reader). */
int pmm_outfile_open(pmm_outfile *f, const char *path, char *err, size_t errlen);

/* Whether commit renames a temporary over the target (a regular file), as
 * opposed to a stream written in place (standard output, a device). */
static inline int pmm_outfile_renames(const pmm_outfile *f) { return f->tmp[0] != '\0'; }

/* Flush and close (standard output is flushed only), checking every error;
 * the contents stay under the temporary name until pmm_outfile_commit.  On
 * failure the temporary is removed. */
int pmm_outfile_close(pmm_outfile *f, char *err, size_t errlen);

/* Close if still open, then rename the temporary over the target.  On any
 * failure the temporary is removed and the target left as it was. */
int pmm_outfile_commit(pmm_outfile *f, char *err, size_t errlen);

/* Make the file `from`, written by another program (a linker), the
 * contents: renamed into the temporary's place (from must be in a
 * pmm_workdir made for f, hence on the same file system), or copied for a
 * file written directly.  pmm_outfile_commit completes the output. */
int pmm_outfile_adopt(pmm_outfile *f, const char *from, char *err, size_t errlen);

/* Give up: close, remove the temporary; the target is untouched.  Safe to
 * call again, and after a failed close or commit. */
void pmm_outfile_abort(pmm_outfile *f);

/* Commit f when its writer returned rc = 0, else abort it (err then holds
 * the writer's message).  0 or -1. */
int pmm_outfile_finish(pmm_outfile *f, int rc, char *err, size_t errlen);

/* ---- a private directory for intermediate files ----------------------------- */

#define PMM_WORKDIR_FILES 6

/* A directory of mode 0700 (no other user can plant files in it) for the
 * files that go into an output (objects a linker reads, the linker's own
 * output), removed with them, also on a signal. */
typedef struct pmm_workdir {
  char dir[PATH_MAX];
  int slot;
  int files[PMM_WORKDIR_FILES]; /* registry entries of the files in it */
  size_t nfiles;
} pmm_workdir;

/* Beside out's target when out renames a temporary (so files can be
 * renamed from here onto it), else in $TMPDIR (or /tmp). */
int pmm_workdir_make(pmm_workdir *w, const pmm_outfile *out, char *err, size_t errlen);

/* DIR/name into buf, registered for removal with the directory; the file
 * itself is made by the caller or by a program it runs. */
int pmm_workdir_file(pmm_workdir *w, const char *name, char *buf, size_t len, char *err,
                     size_t errlen);

/* Remove the registered files that still exist, then the directory. */
void pmm_workdir_remove(pmm_workdir *w);

/* ---- signals ----------------------------------------------------------------- */

/* Make SIGINT, SIGTERM and SIGHUP remove every registered temporary, then
 * kill the process as the signal's default action would.  Only for a
 * program's main (pmm_sampler_main, pmmc): a signal left ignored (nohup) or
 * handled by the program is not taken over. */
void pmm_out_catch_signals(void);

#endif
