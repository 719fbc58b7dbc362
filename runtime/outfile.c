/*
 * outfile.c - output files, their temporaries and the signal handler that
 * removes them (outfile.h).
 */
#define _GNU_SOURCE /* mkostemp */
#include "runtime/outfile.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* ---- the registry of temporaries -------------------------------------------- */

/* Far more than are ever alive at once (a shared library's build has
 * seven), so running out means a temporary is not being released. */
#define TMP_SLOTS 32

enum { SLOT_FREE, SLOT_CLAIMED, SLOT_LIVE };

/* Static storage, because the signal handler may use nothing it would have
 * to allocate: a slot's path is complete before the slot becomes live. */
static char tmp_paths[TMP_SLOTS][PATH_MAX];
static atomic_int tmp_state[TMP_SLOTS];

static const int tmp_signals[] = {SIGINT, SIGTERM, SIGHUP};
#define TMP_NSIGNALS (sizeof tmp_signals / sizeof tmp_signals[0])

/* Creating a temporary and registering it, or renaming it away and
 * forgetting it, happen with the signals blocked, so the handler never
 * misses a file nor removes a name that has just become the output. */
static void tmp_block(sigset_t *old) {
  sigset_t set;
  sigemptyset(&set);
  for (size_t i = 0; i < TMP_NSIGNALS; i++) sigaddset(&set, tmp_signals[i]);
  pthread_sigmask(SIG_BLOCK, &set, old);
}

static void tmp_unblock(const sigset_t *old) { pthread_sigmask(SIG_SETMASK, old, NULL); }

static int tmp_register(const char *path) {
  size_t n = strlen(path);
  if (n >= PATH_MAX) {
    errno = ENAMETOOLONG;
    return -1;
  }
  for (int i = 0; i < TMP_SLOTS; i++) {
    int expect = SLOT_FREE;
    if (atomic_compare_exchange_strong(&tmp_state[i], &expect, SLOT_CLAIMED)) {
      memcpy(tmp_paths[i], path, n + 1);
      atomic_store(&tmp_state[i], SLOT_LIVE);
      return i;
    }
  }
  errno = EMFILE;
  return -1;
}

static void tmp_forget(int slot) {
  if (slot >= 0) atomic_store(&tmp_state[slot], SLOT_FREE);
}

/* Only async-signal-safe calls: unlink, rmdir, raise. */
static void tmp_on_signal(int sig) {
  int saved = errno;
  for (int i = 0; i < TMP_SLOTS; i++)
    if (atomic_load(&tmp_state[i]) == SLOT_LIVE) unlink(tmp_paths[i]);
  /* directories second: their files are gone by now */
  for (int i = 0; i < TMP_SLOTS; i++)
    if (atomic_load(&tmp_state[i]) == SLOT_LIVE) rmdir(tmp_paths[i]);
  errno = saved;
  /* SA_RESETHAND has restored the default action; the signal, blocked
   * while this handler runs, is delivered as it returns. */
  raise(sig);
}

void pmm_out_catch_signals(void) {
  for (size_t i = 0; i < TMP_NSIGNALS; i++) {
    struct sigaction old, sa;
    if (sigaction(tmp_signals[i], NULL, &old) != 0 || old.sa_handler != SIG_DFL) continue;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = tmp_on_signal;
    sigemptyset(&sa.sa_mask);
    for (size_t k = 0; k < TMP_NSIGNALS; k++) sigaddset(&sa.sa_mask, tmp_signals[k]);
    sa.sa_flags = SA_RESETHAND;
    sigaction(tmp_signals[i], &sa, NULL);
  }
}

/* ---- names --------------------------------------------------------------------- */

static int out_fail(int e, char *err, size_t errlen, const char *what, const char *path) {
  snprintf(err, errlen, "cannot %s '%s': %s", what, path, strerror(e));
  errno = e;
  return -1;
}

/* "DIR/.NAME.tmp-XXXXXX" for target DIR/NAME, NAME cut (at a UTF-8
 * character boundary) so that the name fits the directory's NAME_MAX. */
static int tmp_template(char *buf, size_t len, const char *target) {
  static const char tag[] = ".tmp-XXXXXX";
  const char *slash = strrchr(target, '/');
  size_t dirlen = slash ? (size_t)(slash - target) + 1 : 0;
  const char *name = target + dirlen;
  if (dirlen >= len) {
    errno = ENAMETOOLONG;
    return -1;
  }
  memcpy(buf, target, dirlen);
  buf[dirlen] = '\0';
  long name_max = pathconf(dirlen ? buf : ".", _PC_NAME_MAX);
  if (name_max <= 0) name_max = NAME_MAX;
  long room = name_max - 1 - (long)(sizeof tag - 1);
  size_t keep = strlen(name);
  if (room < 0) room = 0;
  if (keep > (size_t)room) {
    keep = (size_t)room;
    while (keep > 0 && ((unsigned char)name[keep] & 0xc0) == 0x80) keep--;
  }
  int n = snprintf(buf + dirlen, len - dirlen, ".%.*s%s", (int)keep, name, tag);
  if (n < 0 || (size_t)n >= len - dirlen) {
    errno = ENAMETOOLONG;
    return -1;
  }
  return 0;
}

/* path with symbolic links in its last component followed (at most 40, as
 * Linux does) into target; st is the target's lstat, zeroed when it does
 * not exist yet. */
static int out_resolve(const char *path, char *target, size_t len, struct stat *st) {
  size_t n = strlen(path);
  if (n >= len) {
    errno = ENAMETOOLONG;
    return -1;
  }
  memcpy(target, path, n + 1);
  for (int hops = 0;; hops++) {
    if (lstat(target, st) != 0) {
      if (errno != ENOENT) return -1;
      memset(st, 0, sizeof *st);
      return 0;
    }
    if (!S_ISLNK(st->st_mode)) return 0;
    if (hops == 40) {
      errno = ELOOP;
      return -1;
    }
    char link[PATH_MAX];
    ssize_t got = readlink(target, link, sizeof link);
    if (got < 0) return -1;
    const char *slash = strrchr(target, '/');
    size_t keep = link[0] == '/' || !slash ? 0 : (size_t)(slash - target) + 1;
    if ((size_t)got >= sizeof link || keep + (size_t)got >= len) {
      errno = ENAMETOOLONG;
      return -1;
    }
    memcpy(target + keep, link, (size_t)got);
    target[keep + (size_t)got] = '\0';
  }
}

/* ---- output files -------------------------------------------------------------- */

int pmm_outfile_open(pmm_outfile *f, const char *path, char *err, size_t errlen) {
  f->fp = NULL;
  f->path = path;
  f->target[0] = f->tmp[0] = '\0';
  f->slot = -1;
  if (strcmp(path, "-") == 0) {
    f->fp = stdout;
    return 0;
  }
  struct stat st;
  if (out_resolve(path, f->target, sizeof f->target, &st) != 0)
    return out_fail(errno, err, errlen, "create", path);
  if (S_ISDIR(st.st_mode)) return out_fail(EISDIR, err, errlen, "create", path);
  int fd;
  if (st.st_mode != 0 && !S_ISREG(st.st_mode)) {
    fd = open(f->target, O_WRONLY | O_NOCTTY | O_CLOEXEC);
  } else {
    if (tmp_template(f->tmp, sizeof f->tmp, f->target) != 0) {
      f->tmp[0] = '\0';
      return out_fail(errno, err, errlen, "create", path);
    }
    sigset_t old;
    tmp_block(&old);
    fd = mkostemp(f->tmp, O_CLOEXEC);
    if (fd >= 0 && (f->slot = tmp_register(f->tmp)) < 0) {
      int e = errno;
      unlink(f->tmp);
      close(fd);
      fd = -1;
      errno = e;
    }
    tmp_unblock(&old);
    if (fd < 0) {
      f->tmp[0] = '\0';
      return out_fail(errno, err, errlen, "create", path);
    }
    /* mkostemp makes the file private; the output gets the usual mode */
    mode_t mask = umask(0);
    umask(mask);
    if (fchmod(fd, 0666 & ~mask) != 0) {
      int e = errno;
      close(fd);
      pmm_outfile_abort(f);
      return out_fail(e, err, errlen, "create", path);
    }
  }
  if (fd < 0 || !(f->fp = fdopen(fd, "wb"))) {
    int e = errno;
    if (fd >= 0) close(fd);
    pmm_outfile_abort(f);
    return out_fail(e, err, errlen, "create", path);
  }
  return 0;
}

int pmm_outfile_close(pmm_outfile *f, char *err, size_t errlen) {
  if (!f->fp) return 0;
  errno = 0;
  int e = fflush(f->fp) != 0 || ferror(f->fp) ? (errno ? errno : EIO) : 0;
  if (f->fp != stdout && fclose(f->fp) != 0 && !e) e = errno;
  f->fp = NULL;
  if (!e) return 0;
  pmm_outfile_abort(f);
  return out_fail(e, err, errlen, "write", f->target[0] ? f->path : "standard output");
}

int pmm_outfile_commit(pmm_outfile *f, char *err, size_t errlen) {
  if (pmm_outfile_close(f, err, errlen) != 0) return -1;
  if (!f->tmp[0]) return 0;
  sigset_t old;
  tmp_block(&old);
  int rc = rename(f->tmp, f->target), e = errno;
  if (rc == 0) {
    tmp_forget(f->slot);
    f->slot = -1;
    f->tmp[0] = '\0';
  }
  tmp_unblock(&old);
  if (rc == 0) return 0;
  pmm_outfile_abort(f);
  return out_fail(e, err, errlen, "create", f->path);
}

/* Copy the file from into f->fp. */
static int out_copy(pmm_outfile *f, const char *from) {
  FILE *in = fopen(from, "rb");
  if (!in) return -1;
  char buf[1 << 16];
  size_t n;
  int bad = 0;
  while (!bad && (n = fread(buf, 1, sizeof buf, in)) > 0) bad = fwrite(buf, 1, n, f->fp) != n;
  if (ferror(in)) bad = 1;
  int e = errno;
  fclose(in);
  errno = e;
  return bad ? -1 : 0;
}

int pmm_outfile_adopt(pmm_outfile *f, const char *from, char *err, size_t errlen) {
  int rc;
  if (pmm_outfile_renames(f)) {
    /* The empty temporary is replaced; the slot keeps its name registered. */
    rc = fclose(f->fp);
    f->fp = NULL;
    if (rc == 0) rc = rename(from, f->tmp);
  } else {
    rc = out_copy(f, from);
  }
  if (rc == 0) return 0;
  int e = errno;
  pmm_outfile_abort(f);
  return out_fail(e, err, errlen, "write", f->target[0] ? f->path : "standard output");
}

void pmm_outfile_abort(pmm_outfile *f) {
  if (f->fp && f->fp != stdout) fclose(f->fp);
  f->fp = NULL;
  if (f->tmp[0]) {
    unlink(f->tmp);
    tmp_forget(f->slot);
    f->slot = -1;
    f->tmp[0] = '\0';
  }
}

int pmm_outfile_finish(pmm_outfile *f, int rc, char *err, size_t errlen) {
  if (rc == 0) return pmm_outfile_commit(f, err, errlen);
  pmm_outfile_abort(f);
  return -1;
}

/* ---- work directories ----------------------------------------------------------- */

int pmm_workdir_make(pmm_workdir *w, const pmm_outfile *out, char *err, size_t errlen) {
  w->slot = -1;
  w->nfiles = 0;
  int rc;
  if (pmm_outfile_renames(out)) {
    rc = tmp_template(w->dir, sizeof w->dir, out->target);
  } else {
    const char *base = getenv("TMPDIR");
    if (!base || !*base) base = "/tmp";
    int n = snprintf(w->dir, sizeof w->dir, "%s/pmmc-XXXXXX", base);
    rc = n < 0 || (size_t)n >= sizeof w->dir ? (errno = ENAMETOOLONG, -1) : 0;
  }
  if (rc == 0) {
    sigset_t old;
    tmp_block(&old);
    if (!mkdtemp(w->dir)) {
      rc = -1;
    } else if ((w->slot = tmp_register(w->dir)) < 0) {
      int e = errno;
      rmdir(w->dir);
      errno = e;
      rc = -1;
    }
    tmp_unblock(&old);
  }
  if (rc == 0) return 0;
  return out_fail(errno, err, errlen, "make a work directory for", out->path);
}

int pmm_workdir_file(pmm_workdir *w, const char *name, char *buf, size_t len, char *err,
                     size_t errlen) {
  if (w->nfiles == PMM_WORKDIR_FILES)
    return out_fail(EMFILE, err, errlen, "make a file in", w->dir);
  int n = snprintf(buf, len, "%s/%s", w->dir, name);
  if (n < 0 || (size_t)n >= len)
    return out_fail(ENAMETOOLONG, err, errlen, "make a file in", w->dir);
  int slot = tmp_register(buf);
  if (slot < 0) return out_fail(errno, err, errlen, "make a file in", w->dir);
  w->files[w->nfiles++] = slot;
  return 0;
}

void pmm_workdir_remove(pmm_workdir *w) {
  for (size_t i = 0; i < w->nfiles; i++) {
    unlink(tmp_paths[w->files[i]]);
    tmp_forget(w->files[i]);
  }
  w->nfiles = 0;
  if (w->slot >= 0) {
    rmdir(w->dir);
    tmp_forget(w->slot);
    w->slot = -1;
  }
}
