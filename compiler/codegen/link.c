/*
 * link.c - turn a sampler object into an executable by running the C
 * compiler as the linker driver: $CC (or the compiler configure found)
 * -o EXE OBJ... libpmmrt.a BLAS -lm -pthread; likewise a shared library
 * ($CC -shared) and a static one (llvm-ar).  The file made is a work file
 * (runtime/outfile.h) that the caller then puts in place.
 *
 * The compiler runs through posix_spawnp with an argv array (no shell), so
 * paths may contain spaces or quotes; its stdout and stderr go to an
 * unlinked temporary file that becomes the error message on failure.
 */
#define _POSIX_C_SOURCE 200809L

#include "compiler/codegen/codegen.h"

#include <errno.h>
#include <fcntl.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include "compiler/util/xalloc.h"

/* PMMC_CC, PMMC_LINK_LIBS and PMMC_LLVM_AR come from compiler/local.mk: the
 * compiler, libraries and LLVM's archiver configure found. */

extern char **environ;

/* A growable NULL-terminated argv whose strings are owned. */
typedef struct link_argv {
  char **v;
  size_t n, cap;
  int oom;
} link_argv;

static void link_argv_push(link_argv *a, const char *s, size_t len) {
  if (a->oom) return;
  if (a->n + 2 > a->cap) {
    size_t ncap = a->cap ? a->cap * 2 : 16;
    char **v = realloc(a->v, ncap * sizeof *v);
    if (!v) {
      a->oom = 1;
      return;
    }
    a->v = v;
    a->cap = ncap;
  }
  char *copy = malloc(len + 1);
  if (!copy) {
    a->oom = 1;
    return;
  }
  memcpy(copy, s, len);
  copy[len] = '\0';
  a->v[a->n++] = copy;
  a->v[a->n] = NULL;
}

/* Words of a space-separated list ($CC may be "ccache gcc -m64"). */
static void link_argv_push_words(link_argv *a, const char *s) {
  while (*s) {
    while (*s == ' ' || *s == '\t') s++;
    const char *start = s;
    while (*s && *s != ' ' && *s != '\t') s++;
    if (s > start) link_argv_push(a, start, (size_t)(s - start));
  }
}

static void link_argv_free(link_argv *a) {
  for (size_t i = 0; i < a->n; i++) free(a->v[i]);
  free(a->v);
}

/* An unlinked temporary file for the linker's output; -1 on failure. */
static int link_open_log(void) {
  const char *dir = getenv("TMPDIR");
  if (!dir || !*dir) dir = "/tmp";
  char path[4096];
  if ((size_t)snprintf(path, sizeof path, "%s/pmmc-link-XXXXXX", dir) >= sizeof path) return -1;
  int fd = mkstemp(path);
  if (fd >= 0) unlink(path);
  return fd;
}

/* Append the log's text (trimmed) to err after its current contents. */
static void link_append_log(int fd, char *err, size_t errlen) {
  size_t used = strlen(err);
  if (fd < 0 || used + 2 >= errlen || lseek(fd, 0, SEEK_SET) != 0) return;
  char *p = err + used;
  size_t room = errlen - used - 1;
  *p++ = '\n';
  room--;
  ssize_t n;
  size_t got = 0;
  while (got < room && (n = read(fd, p + got, room - got)) > 0) got += (size_t)n;
  while (got > 0 && (p[got - 1] == '\n' || p[got - 1] == ' ')) got--;
  if (got == 0) p--;
  p[got] = '\0';
}

/* Run argv, wait for it; returns the exit status, or -1 (with err set) when
 * it could not be started or did not exit normally. */
static int link_run(char *const *argv, int logfd, char *err, size_t errlen) {
  posix_spawn_file_actions_t fa;
  if (posix_spawn_file_actions_init(&fa) != 0) {
    snprintf(err, errlen, "out of memory");
    return -1;
  }
  if (logfd >= 0) {
    posix_spawn_file_actions_adddup2(&fa, logfd, STDOUT_FILENO);
    posix_spawn_file_actions_adddup2(&fa, logfd, STDERR_FILENO);
  }
  pid_t pid;
  int rc = posix_spawnp(&pid, argv[0], &fa, NULL, argv, environ);
  posix_spawn_file_actions_destroy(&fa);
  if (rc != 0) {
    snprintf(err, errlen, "cannot run the C compiler '%s' to link: %s (set CC to override)",
             argv[0], strerror(rc));
    return -1;
  }
  int status;
  while (waitpid(pid, &status, 0) < 0) {
    if (errno != EINTR) {
      snprintf(err, errlen, "waiting for the linker '%s': %s", argv[0], strerror(errno));
      return -1;
    }
  }
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  snprintf(err, errlen, "the linker '%s' was killed by signal %d", argv[0],
           WIFSIGNALED(status) ? WTERMSIG(status) : 0);
  return -1;
}

/* Run the command in a (its output kept in an unlinked log); 0 when it
 * exits with status 0, else -1 with a message naming `target`, the file it
 * was to make, and the tool's own output. */
static int link_exec(link_argv *a, const char *target, char *err, size_t errlen) {
  if (a->oom) {
    snprintf(err, errlen, "out of memory");
    return -1;
  }
  int logfd = link_open_log();
  int status = link_run(a->v, logfd, err, errlen);
  if (status > 0)
    snprintf(err, errlen, "making '%s' failed: '%s' exited with status %d:", target, a->v[0],
             status);
  if (status != 0) link_append_log(logfd, err, errlen);
  if (logfd >= 0) close(logfd);
  return status == 0 ? 0 : -1;
}

/* a starts with the words of $CC (or the configured compiler). */
static int link_push_cc(link_argv *a, char *err, size_t errlen) {
  const char *cc = getenv("CC");
  if (!cc || !*cc) cc = PMMC_CC;
  link_argv_push_words(a, cc);
  if (a->n == 0 && !a->oom) {
    snprintf(err, errlen, "the C compiler command (CC) is empty");
    return -1;
  }
  return 0;
}

static void link_push(link_argv *a, const char *s) { link_argv_push(a, s, strlen(s)); }

int codegen_link_executable(const char *const *objs, size_t nobjs, const char *exe,
                            const char *shown, const char *runtime_lib, char *err, size_t errlen) {
  if (!runtime_lib || !*runtime_lib) {
    snprintf(err, errlen, "no runtime library given to link '%s' against", shown);
    return -1;
  }
  link_argv a;
  memset(&a, 0, sizeof a);
  int rc = link_push_cc(&a, err, errlen);
  if (rc == 0) {
    link_push(&a, "-o");
    link_push(&a, exe);
    for (size_t i = 0; i < nobjs; i++) link_push(&a, objs[i]);
    link_push(&a, runtime_lib);
    link_argv_push_words(&a, PMMC_LINK_LIBS);
    rc = link_exec(&a, shown, err, errlen);
  }
  link_argv_free(&a);
  return rc;
}

int codegen_link_shared(const char *obj, const char *so, const char *shown, const char *soname,
                        const char *version_script, const char *libs, char *err, size_t errlen) {
  char opt[4096 + 32];
  link_argv a;
  memset(&a, 0, sizeof a);
  int rc = link_push_cc(&a, err, errlen);
  if (rc == 0) {
    /* -z defs: an unresolved symbol is an error now, not at the user's
     * dlopen; -z text: no text relocations. */
    link_argv_push_words(&a, "-shared -Wl,-z,defs -Wl,-z,text -Wl,-z,noexecstack");
    snprintf(opt, sizeof opt, "-Wl,-soname,%s", soname);
    link_push(&a, opt);
    snprintf(opt, sizeof opt, "-Wl,--version-script=%s", version_script);
    link_push(&a, opt);
    link_push(&a, "-o");
    link_push(&a, so);
    link_push(&a, obj);
    link_argv_push_words(&a, libs);
    rc = link_exec(&a, shown, err, errlen);
  }
  link_argv_free(&a);
  return rc;
}

int codegen_archive(const char *obj, const char *lib, const char *shown, char *err, size_t errlen) {
  link_argv a;
  memset(&a, 0, sizeof a);
  /* D: zero timestamps and ids, so the same build gives the same bytes */
  link_push(&a, PMMC_LLVM_AR);
  link_push(&a, "rcsD");
  link_push(&a, lib);
  link_push(&a, obj);
  int rc = link_exec(&a, shown, err, errlen);
  link_argv_free(&a);
  return rc;
}
