/*
 * test_outputs.c - where the gmm8 sampler, `pmmc run` and `pmmc build`
 * write (runtime/outfile.h, README.md "Output files"):
 *   - a device (-o /dev/null, /dev/full) or a FIFO is written directly and
 *     stays what it was; a regular file is replaced by rename, also one
 *     reached through a symbolic link, which stays a link;
 *   - file names up to the file system's limit (255 bytes) work, the
 *     temporary names made beside them never exceed it;
 *   - a directory where the .npy sidecar goes is an error that leaves the
 *     previous complete output as it was;
 *   - SIGINT and SIGTERM leave neither temporary files nor the output;
 *   - a full disk is reported at once, not after the first chunk of samples
 *     has been computed.
 *
 * Running as root (CI), the replace-a-device checks first use a private
 * device node (mknod) with the numbers of /dev/null or /dev/full: a sampler
 * that replaced it would replace that copy, not the system's.  Only once it
 * has passed are the real /dev/null and /dev/full used.  The "non-root
 * user" case runs the sampler as nobody through setpriv.  A 64 KiB tmpfs
 * (mount(2), root only) is the small disk; without it /dev/full stands in.
 */
#define _GNU_SOURCE
#include <check.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "tests/e2e/e2e.h"

#define SEED 11ULL
/* More samples than any of these runs may compute: a run that does not stop
 * at its first failed write would take hours. */
#define HUGE_N "100000000"
/* Seconds within which a run must report a full disk.  A correctness bound,
 * generous for a loaded machine: a sampler that computes its first chunk
 * of samples (16 MB) before its first write takes over a minute. */
#define FULL_LIMIT 10.0

static e2e_env env;
static char sampler[PATH_MAX];
static int build_status = -1;

/* Loop index 0: the compiled sampler; 1: `pmmc run`. */
static void sampler_command(int which, char *out, size_t len) {
  if (which == 0) {
    ck_assert_msg(build_status == 0, "pmmc build of %s failed with status %d", env.gmm8_yaml,
                  build_status);
    e2e_path(out, len, "'%s'", sampler);
  } else {
    e2e_path(out, len, "'%s' run '%s'", tu_pmmc(), env.gmm8_yaml);
  }
}

static const char *engine_name(int which) { return which == 0 ? "compiled sampler" : "pmmc run"; }

/* A fresh empty directory under the scratch directory. */
static void make_subdir(const char *name, int which, char *out, size_t len) {
  e2e_path(out, len, "%s/%s%d", env.dir, name, which);
  ck_assert_msg(mkdir(out, 0755) == 0, "mkdir %s: %s", out, strerror(errno));
}

static double now_s(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

/* Whether path is a character device with the numbers major:minor. */
static int is_chr(const char *path, unsigned major_no, unsigned minor_no) {
  struct stat st;
  return lstat(path, &st) == 0 && S_ISCHR(st.st_mode) && major(st.st_rdev) == major_no &&
         minor(st.st_rdev) == minor_no;
}

/* A private device node major:minor at path; 0, or -1 when this process
 * may not make one (not root, or a container without CAP_MKNOD). */
static int private_node(const char *path, unsigned major_no, unsigned minor_no) {
  if (geteuid() != 0) return -1;
  if (mknod(path, S_IFCHR | 0666, makedev(major_no, minor_no)) == 0) return 0;
  printf("mknod %s: %s: private device node checks skipped\n", path, strerror(errno));
  return -1;
}

/* Run cmd through sh as a new process group with the default actions for
 * the signals (a test runner may have left SIGINT ignored, and an ignored
 * signal is inherited and rightly kept by the sampler).  cmd should start
 * with exec so that the pid is the sampler's. */
static pid_t spawn_group(const char *cmd) {
  fprintf(stderr, "+ %s &\n", cmd);
  fflush(NULL);
  pid_t pid = fork();
  ck_assert_msg(pid >= 0, "fork: %s", strerror(errno));
  if (pid == 0) {
    setpgid(0, 0);
    const int sigs[] = {SIGINT, SIGTERM, SIGHUP};
    for (size_t i = 0; i < 3; i++) signal(sigs[i], SIG_DFL);
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
    execl("/bin/sh", "sh", "-c", cmd, (char *)NULL);
    _exit(127);
  }
  setpgid(pid, pid); /* also here, so the group exists before any kill */
  return pid;
}

/* Wait up to `seconds` for path to exist (any name in dir when path is
 * NULL); 1 when it did. */
static int wait_for(const char *dir, const char *path, double seconds) {
  for (double end = now_s() + seconds; now_s() < end; usleep(20000)) {
    if (path) {
      if (access(path, F_OK) == 0) return 1;
      continue;
    }
    DIR *d = opendir(dir);
    if (!d) return 0;
    struct dirent *e;
    int found = 0;
    while (!found && (e = readdir(d)) != NULL)
      found = strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0;
    closedir(d);
    if (found) return 1;
  }
  return 0;
}

/* ---- devices and FIFOs ------------------------------------------------------ */

/* -o NODE, NODE a character device: exit 0, NODE still that device. */
static void check_node_output(int which, const char *cmd, const char *node, unsigned mj,
                              unsigned mn) {
  int st = tu_run("%s -s %llu -n 1000 --format npy -o '%s'", cmd, SEED, node);
  ck_assert_msg(is_chr(node, mj, mn), "%s -o %s replaced the device with another kind of file",
                engine_name(which), node);
  ck_assert_msg(st == 0, "%s -o %s: exit status %d, expected 0", engine_name(which), node, st);
}

START_TEST(test_dev_null) {
  char cmd[2 * PATH_MAX], dir[PATH_MAX], node[PATH_MAX + 16];
  sampler_command(_i, cmd, sizeof cmd);
  make_subdir("devnull", _i, dir, sizeof dir);
  e2e_path(node, sizeof node, "%s/null", dir);
  int safe = geteuid() != 0; /* whether a broken sampler could not replace /dev/null */
  if (private_node(node, 1, 3) == 0) {
    check_node_output(_i, cmd, node, 1, 3);
    ck_assert_msg(e2e_count_entries(dir) == 1, "%s: a temporary was left beside %s",
                  engine_name(_i), node);
    safe = 1;
  }
  if (!is_chr("/dev/null", 1, 3)) {
    printf("/dev/null is not the null device before the test (something else replaced it): "
           "-o /dev/null skipped\n");
    return;
  }
  /* A user who may not create files in /dev. */
  if (geteuid() == 0 && access("/usr/bin/setpriv", X_OK) == 0) {
    ck_assert_msg(chmod(env.dir, 0755) == 0, "chmod %s: %s", env.dir, strerror(errno));
    int st = tu_run("/usr/bin/setpriv --reuid=65534 --regid=65534 --clear-groups %s -s %llu "
                    "-n 1000 --format npy -o /dev/null",
                    cmd, SEED);
    ck_assert_msg(st == 0, "%s -o /dev/null as user 65534: exit status %d, expected 0",
                  engine_name(_i), st);
  } else if (geteuid() == 0) {
    printf("no setpriv: the non-root run is skipped\n");
  }
  if (safe)
    check_node_output(_i, cmd, "/dev/null", 1, 3);
  else
    printf("root without a private device node: -o /dev/null itself is not risked\n");
}
END_TEST

/* A FIFO read by another process gets the stream; it stays a FIFO, and no
 * sidecar appears beside it. */
START_TEST(test_fifo) {
  char cmd[2 * PATH_MAX], dir[PATH_MAX], fifo[PATH_MAX + 16], copy[PATH_MAX + 16],
      ref[PATH_MAX + 16];
  sampler_command(_i, cmd, sizeof cmd);
  make_subdir("fifo", _i, dir, sizeof dir);
  e2e_path(fifo, sizeof fifo, "%s/stream.npy", dir);
  e2e_path(copy, sizeof copy, "%s/copy", dir);
  e2e_path(ref, sizeof ref, "%s/ref.npy", dir);
  ck_assert_msg(mkfifo(fifo, 0644) == 0, "mkfifo %s: %s", fifo, strerror(errno));
  /* The reader gives up after a while, in case the FIFO is never opened. */
  int st = tu_run("(timeout 60 cat '%s' > '%s') & %s -s %llu -n 500 -o '%s'; st=$?; wait; "
                  "exit $st",
                  fifo, copy, cmd, SEED, fifo);
  struct stat sb;
  ck_assert_msg(lstat(fifo, &sb) == 0 && S_ISFIFO(sb.st_mode), "%s: %s is no longer a FIFO",
                engine_name(_i), fifo);
  ck_assert_msg(st == 0, "%s -o FIFO: exit status %d", engine_name(_i), st);
  st = tu_run("%s -s %llu -n 500 -o '%s'", cmd, SEED, ref);
  ck_assert_msg(st == 0, "%s -o %s: exit status %d", engine_name(_i), ref, st);
  size_t n_copy, n_ref;
  char *a = tu_read_file(copy, &n_copy), *b = tu_read_file(ref, &n_ref);
  ck_assert_msg(a && b && n_copy == n_ref && memcmp(a, b, n_ref) == 0,
                "%s: what the FIFO's reader got (%zu bytes) differs from the file (%zu bytes)",
                engine_name(_i), a ? n_copy : 0, n_ref);
  free(a);
  free(b);
  /* stream.npy, copy, ref.npy and ref.npy.json: no stream.npy.json */
  ck_assert_msg(e2e_count_entries(dir) == 4, "%s: unexpected files beside the FIFO in %s",
                engine_name(_i), dir);
}
END_TEST

/* -o LINK, LINK a symbolic link to a file in another directory: that file
 * is replaced, and LINK stays the link it was. */
START_TEST(test_symlink) {
  char cmd[2 * PATH_MAX], dir[PATH_MAX], real[PATH_MAX + 16], link[PATH_MAX + 16], target[PATH_MAX];
  sampler_command(_i, cmd, sizeof cmd);
  make_subdir("symlink", _i, dir, sizeof dir);
  e2e_path(real, sizeof real, "%s/data", dir);
  ck_assert_msg(mkdir(real, 0755) == 0, "mkdir %s: %s", real, strerror(errno));
  e2e_path(real, sizeof real, "%s/data/real.csv", dir);
  e2e_path(link, sizeof link, "%s/link.csv", dir);
  tu_write_file(real, "old\n", 4);
  ck_assert_msg(symlink("data/real.csv", link) == 0, "symlink %s: %s", link, strerror(errno));
  int st = tu_run("%s -s %llu -n 30 -o '%s'", cmd, SEED, link);
  ck_assert_msg(st == 0, "%s -o %s: exit status %d", engine_name(_i), link, st);
  ssize_t n = readlink(link, target, sizeof target - 1);
  ck_assert_msg(n == 13 && memcmp(target, "data/real.csv", 13) == 0,
                "%s -o %s: the symbolic link was replaced", engine_name(_i), link);
  char *text = tu_read_file(real, NULL);
  size_t lines = 0;
  for (const char *p = text; p && *p; p++) lines += *p == '\n';
  ck_assert_msg(lines == 31, "%s: %s, the link's target, has %zu lines, expected 31",
                engine_name(_i), real, lines);
  free(text);
  e2e_path(real, sizeof real, "%s/data", dir);
  ck_assert_msg(e2e_count_entries(real) == 1 && e2e_count_entries(dir) == 2,
                "%s: temporaries were left in %s", engine_name(_i), dir);
}
END_TEST

/* ---- long names ----------------------------------------------------------- */

/* dir/NAME with NAME `len` bytes long, ending in ext. */
static void long_name(char *out, size_t outlen, const char *dir, size_t len, const char *ext) {
  char name[256];
  size_t stem = len - strlen(ext);
  memset(name, 'x', stem);
  memcpy(name + stem, ext, strlen(ext) + 1);
  e2e_path(out, outlen, "%s/%s", dir, name);
}

START_TEST(test_long_names) {
  char cmd[2 * PATH_MAX], dir[PATH_MAX], path[2 * PATH_MAX], side[2 * PATH_MAX + 8];
  sampler_command(_i, cmd, sizeof cmd);
  make_subdir("names", _i, dir, sizeof dir);

  /* 255 bytes, the limit: .csv has no sidecar */
  long_name(path, sizeof path, dir, 255, ".csv");
  int st = tu_run("%s -s %llu -n 20 -o '%s'", cmd, SEED, path);
  ck_assert_msg(st == 0, "%s -o <255-byte name>.csv: exit status %d", engine_name(_i), st);
  char *text = tu_read_file(path, NULL);
  size_t lines = 0;
  for (const char *p = text; p && *p; p++) lines += *p == '\n';
  ck_assert_msg(lines == 21, "%s: <255-byte name>.csv has %zu lines, expected 21", engine_name(_i),
                lines);
  free(text);

  /* 252 bytes: the data is written, its sidecar's name would be too long */
  long_name(path, sizeof path, dir, 252, ".npy");
  char *err = NULL;
  st = tu_run_capture(NULL, &err, "%s -s %llu -n 20 -o '%s'", cmd, SEED, path);
  ck_assert_msg(st == 0, "%s -o <252-byte name>.npy: exit status %d: %s", engine_name(_i), st,
                err ? err : "");
  ck_assert_msg(e2e_contains(err, "warning") && e2e_contains(err, "sidecar"),
                "%s: no warning that the sidecar was left out: %s", engine_name(_i),
                err ? err : "");
  free(err);
  e2e_npy npy;
  e2e_npy_load(path, 20, 2, &npy);
  e2e_npy_free(&npy);

  /* 250 bytes: the sidecar's name is 255 bytes and fits */
  long_name(path, sizeof path, dir, 250, ".npy");
  st = tu_run("%s -s %llu -n 20 -o '%s'", cmd, SEED, path);
  ck_assert_msg(st == 0, "%s -o <250-byte name>.npy: exit status %d", engine_name(_i), st);
  e2e_path(side, sizeof side, "%s.json", path);
  ck_assert_msg(access(side, F_OK) == 0, "%s: no sidecar for <250-byte name>.npy", engine_name(_i));
  ck_assert_msg(e2e_count_entries(dir) == 4, "%s: temporaries were left in %s", engine_name(_i),
                dir);
}
END_TEST

/* ---- the sidecar ---------------------------------------------------------- */

START_TEST(test_sidecar_directory) {
  char cmd[2 * PATH_MAX], dir[PATH_MAX], path[PATH_MAX + 16], side[PATH_MAX + 32];
  sampler_command(_i, cmd, sizeof cmd);
  make_subdir("sidecar", _i, dir, sizeof dir);
  e2e_path(path, sizeof path, "%s/old.npy", dir);
  e2e_path(side, sizeof side, "%s.json", path);
  int st = tu_run("%s -s %llu -n 50 -o '%s'", cmd, SEED, path);
  ck_assert_msg(st == 0, "%s -o %s: exit status %d", engine_name(_i), path, st);
  size_t n_old;
  char *old = tu_read_file(path, &n_old);
  ck_assert_msg(old != NULL, "cannot read %s", path);
  ck_assert_msg(unlink(side) == 0 && mkdir(side, 0755) == 0, "cannot put a directory at %s: %s",
                side, strerror(errno));

  char *err = NULL;
  st = tu_run_capture(NULL, &err, "%s -s %llu -n 70 -o '%s'", cmd, SEED + 1, path);
  ck_assert_msg(st == 1, "%s with a directory at %s: exit status %d, expected 1", engine_name(_i),
                side, st);
  ck_assert_msg(e2e_contains(err, side), "%s: the message does not name %s: %s", engine_name(_i),
                side, err ? err : "");
  free(err);
  size_t n_now;
  char *now = tu_read_file(path, &n_now);
  ck_assert_msg(now && n_now == n_old && memcmp(now, old, n_old) == 0,
                "%s: the failed run deleted or changed the previous output %s", engine_name(_i),
                path);
  free(now);
  free(old);
  ck_assert_msg(e2e_count_entries(side) == 0, "%s: something was written into %s", engine_name(_i),
                side);
  ck_assert_msg(e2e_count_entries(dir) == 2, "%s: temporaries were left in %s", engine_name(_i),
                dir);
}
END_TEST

/* ---- signals --------------------------------------------------------------- */

/* Loop index: bit 0 the engine, bit 1 SIGTERM instead of SIGINT. */
START_TEST(test_signal) {
  int which = _i & 1, sig = _i & 2 ? SIGTERM : SIGINT;
  char cmd[2 * PATH_MAX], dir[PATH_MAX], path[PATH_MAX + 16], line[4 * PATH_MAX], name[32];
  sampler_command(which, cmd, sizeof cmd);
  e2e_path(name, sizeof name, "signal%d-", sig);
  make_subdir(name, which, dir, sizeof dir);
  e2e_path(path, sizeof path, "%s/big.npy", dir);
  e2e_path(line, sizeof line, "exec %s -s %llu -n " HUGE_N " -o '%s'", cmd, SEED, path);
  pid_t pid = spawn_group(line);
  int started = wait_for(dir, NULL, 120);
  if (started) usleep(300000); /* well into the samples */
  kill(pid, started ? sig : SIGKILL);
  int ws;
  ck_assert_msg(waitpid(pid, &ws, 0) == pid, "waitpid: %s", strerror(errno));
  ck_assert_msg(started, "%s never created its output file in %s", engine_name(which), dir);
  ck_assert_msg(WIFSIGNALED(ws) && WTERMSIG(ws) == sig,
                "%s: after signal %d the wait status is %#x, not death by that signal",
                engine_name(which), sig, (unsigned)ws);
  ck_assert_msg(e2e_count_entries(dir) == 0, "%s: signal %d left files in %s", engine_name(which),
                sig, dir);
}
END_TEST

/* ---- full disks ------------------------------------------------------------ */

/* A run of HUGE_N samples into path that must fail with "No space left"
 * within `limit` seconds (timeout stops one that would not). */
static void check_full(int which, const char *cmd, const char *path, double limit) {
  char *err = NULL;
  double t0 = now_s();
  int st = tu_run_capture(NULL, &err, "timeout 60 %s -s %llu -n " HUGE_N " --format npy -o '%s'",
                          cmd, SEED, path);
  double took = now_s() - t0;
  ck_assert_msg(st == 1, "%s -o %s (no space): exit status %d, expected 1", engine_name(which),
                path, st);
  ck_assert_msg(e2e_contains(err, "No space left"), "%s -o %s: no 'No space left' in: %s",
                engine_name(which), path, err ? err : "");
  ck_assert_msg(took < limit,
                "%s -o %s: the full disk was reported after %.1f s (limit %.0f s): samples "
                "were computed before the first write",
                engine_name(which), path, took, limit);
  free(err);
}

START_TEST(test_dev_full) {
  char cmd[2 * PATH_MAX], dir[PATH_MAX], node[PATH_MAX + 16];
  sampler_command(_i, cmd, sizeof cmd);
  make_subdir("devfull", _i, dir, sizeof dir);
  e2e_path(node, sizeof node, "%s/full", dir);
  int safe = geteuid() != 0; /* as for /dev/null */
  if (private_node(node, 1, 7) == 0) {
    check_full(_i, cmd, node, FULL_LIMIT);
    ck_assert_msg(is_chr(node, 1, 7), "%s replaced the device %s", engine_name(_i), node);
    ck_assert_msg(e2e_count_entries(dir) == 1, "%s: a temporary was left beside %s",
                  engine_name(_i), node);
    safe = 1;
  }
  if (!safe || !is_chr("/dev/full", 1, 7)) {
    printf("-o /dev/full itself skipped (no /dev/full, or root without a private node)\n");
    return;
  }
  check_full(_i, cmd, "/dev/full", FULL_LIMIT);
  ck_assert_msg(is_chr("/dev/full", 1, 7), "%s replaced /dev/full", engine_name(_i));
}
END_TEST

/* Fill the file system of dir: a file written until ENOSPC, which is
 * returned (other errno values are failures to fill it). */
static int fill_up(const char *dir) {
  char path[PATH_MAX + 16];
  e2e_path(path, sizeof path, "%s/filler", dir);
  int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
  if (fd < 0) return errno;
  char block[4096] = {0};
  while (write(fd, block, sizeof block) > 0) continue;
  int e = errno;
  close(fd);
  return e;
}

/* A 64 KiB tmpfs, first with room for the header and a few samples, then
 * full.  Both runs must stop at once: in the first, writing a chunk fails
 * long before the 16 MB a chunk grows to; in the second the header's own
 * write fails. */
START_TEST(test_small_disk) {
  char cmd[2 * PATH_MAX], dir[PATH_MAX], path[PATH_MAX + 16];
  sampler_command(_i, cmd, sizeof cmd);
  make_subdir("small", _i, dir, sizeof dir);
  if (geteuid() != 0 || mount("tmpfs", dir, "tmpfs", 0, "size=64k") != 0) {
    printf("cannot mount a tmpfs on %s (%s): small-disk check skipped (test_dev_full covers a "
           "full device)\n",
           dir, geteuid() != 0 ? "not root" : strerror(errno));
    return;
  }
  e2e_path(path, sizeof path, "%s/x.npy", dir);
  char *err = NULL;
  double t0 = now_s();
  int st =
      tu_run_capture(NULL, &err, "timeout 60 %s -s %llu -n " HUGE_N " -o '%s'", cmd, SEED, path);
  double took = now_s() - t0;
  long left = e2e_count_entries(dir);
  int filled = fill_up(dir);
  char *err_full = NULL;
  t0 = now_s();
  int st_full = tu_run_capture(NULL, &err_full, "timeout 60 %s -s %llu -n " HUGE_N " -o '%s'", cmd,
                               SEED, path);
  double took_full = now_s() - t0;
  long left_full = e2e_count_entries(dir);
  umount2(dir, MNT_DETACH);

  ck_assert_msg(filled == ENOSPC, "filling %s did not end with ENOSPC: %s", dir, strerror(filled));
  ck_assert_msg(st == 1 && e2e_contains(err, "No space left"),
                "%s on a 64 KiB disk: exit status %d, expected 1 with 'No space left': %s",
                engine_name(_i), st, err ? err : "");
  ck_assert_msg(took < 2 * FULL_LIMIT, "%s on a 64 KiB disk: the failure took %.1f s",
                engine_name(_i), took);
  ck_assert_msg(left == 0, "%s on a 64 KiB disk: files were left", engine_name(_i));
  ck_assert_msg(st_full == 1 && e2e_contains(err_full, "No space left"),
                "%s on a full disk: exit status %d, expected 1 with 'No space left': %s",
                engine_name(_i), st_full, err_full ? err_full : "");
  ck_assert_msg(took_full < FULL_LIMIT, "%s on a full disk: the failure took %.1f s",
                engine_name(_i), took_full);
  ck_assert_msg(left_full == 1, "%s on a full disk: files besides the filler were left",
                engine_name(_i));
  free(err);
  free(err_full);
}
END_TEST

/* ---- pmmc build ------------------------------------------------------------ */

/* Every kind of output pmmc writes, to a device node and under a 255-byte
 * name. */
START_TEST(test_pmmc_outputs) {
  char dir[PATH_MAX], node[PATH_MAX + 16], path[2 * PATH_MAX], exe[2 * PATH_MAX];
  make_subdir("pmmc", 0, dir, sizeof dir);
  const char *kinds[] = {"exe", "obj", "ir", "llvm"};
  e2e_path(node, sizeof node, "%s/null", dir);
  for (size_t k = 0; k < 4; k++) {
    if (private_node(node, 1, 3) != 0) break;
    int st = tu_run("'%s' build '%s' --emit=%s -o '%s'", tu_pmmc(), env.gmm8_yaml, kinds[k], node);
    ck_assert_msg(is_chr(node, 1, 3), "pmmc build --emit=%s replaced the device %s", kinds[k],
                  node);
    ck_assert_msg(st == 0, "pmmc build --emit=%s -o %s: exit status %d", kinds[k], node, st);
    ck_assert_msg(e2e_count_entries(dir) == 1, "--emit=%s: a temporary was left beside %s",
                  kinds[k], node);
    ck_assert_int_eq(unlink(node), 0);
  }
  for (size_t k = 0; k < 4; k++) {
    long_name(path, sizeof path, dir, 255, kinds[k]);
    int st = tu_run("'%s' build '%s' --emit=%s -o '%s'", tu_pmmc(), env.gmm8_yaml, kinds[k], path);
    ck_assert_msg(st == 0, "pmmc build --emit=%s -o <255-byte name>: exit status %d", kinds[k], st);
    ck_assert_msg(access(path, F_OK) == 0, "pmmc build --emit=%s did not write the 255-byte name",
                  kinds[k]);
  }
  long_name(exe, sizeof exe, dir, 255, "exe");
  int st = tu_run("'%s' -n 3 > /dev/null", exe);
  ck_assert_msg(st == 0, "the sampler built under a 255-byte name does not run (status %d)", st);
  ck_assert_msg(e2e_count_entries(dir) == 4, "temporaries were left in %s", dir);
}
END_TEST

/* SIGINT to pmmc build's process group while it links (CC is a script that
 * marks the moment and waits): the objects and the work directory go. */
START_TEST(test_pmmc_signal) {
  char dir[PATH_MAX], out[PATH_MAX], cc[PATH_MAX], mark[PATH_MAX], line[4 * PATH_MAX],
      script[2 * PATH_MAX];
  make_subdir("pmmcsig", 0, dir, sizeof dir);
  e2e_path(out, sizeof out, "%s/out", dir);
  e2e_path(cc, sizeof cc, "%s/slowcc", dir);
  e2e_path(mark, sizeof mark, "%s/linking", dir);
  ck_assert_msg(mkdir(out, 0755) == 0, "mkdir %s: %s", out, strerror(errno));
  e2e_path(script, sizeof script, "#!/bin/sh\n: > '%s'\nexec sleep 120\n", mark);
  tu_write_file(cc, script, strlen(script));
  ck_assert_int_eq(chmod(cc, 0755), 0);
  e2e_path(line, sizeof line, "CC='%s' exec '%s' build '%s' -o '%s/gmm8'", cc, tu_pmmc(),
           env.gmm8_yaml, out);
  pid_t pid = spawn_group(line);
  int linking = wait_for(NULL, mark, 300);
  kill(-pid, linking ? SIGINT : SIGKILL);
  int ws;
  ck_assert_msg(waitpid(pid, &ws, 0) == pid, "waitpid: %s", strerror(errno));
  ck_assert_msg(linking, "pmmc build never ran the linker");
  ck_assert_msg(WIFSIGNALED(ws) && WTERMSIG(ws) == SIGINT,
                "pmmc build: after SIGINT the wait status is %#x", (unsigned)ws);
  ck_assert_msg(e2e_count_entries(out) == 0, "pmmc build: SIGINT left files in %s", out);
}
END_TEST

int main(void) {
  if (e2e_env_init(&env, "outputs") != 0) return EXIT_FAILURE;
  build_status = e2e_build(env.gmm8_yaml, "", env.dir, "gmm8", sampler, sizeof sampler);

  Suite *s = suite_create("e2e_outputs");
  TCase *tc = tcase_create("sampler");
  tcase_set_timeout(tc, 900);
  /* Loop index 0: the compiled sampler; 1: `pmmc run`. */
  tcase_add_loop_test(tc, test_dev_null, 0, 2);
  tcase_add_loop_test(tc, test_fifo, 0, 2);
  tcase_add_loop_test(tc, test_symlink, 0, 2);
  tcase_add_loop_test(tc, test_long_names, 0, 2);
  tcase_add_loop_test(tc, test_sidecar_directory, 0, 2);
  tcase_add_loop_test(tc, test_signal, 0, 4);
  tcase_add_loop_test(tc, test_dev_full, 0, 2);
  tcase_add_loop_test(tc, test_small_disk, 0, 2);
  suite_add_tcase(s, tc);
  TCase *tp = tcase_create("pmmc");
  tcase_set_timeout(tp, 900);
  tcase_add_test(tp, test_pmmc_outputs);
  tcase_add_test(tp, test_pmmc_signal);
  suite_add_tcase(s, tp);
  int failed = tu_run_suite(s);
  e2e_env_finish(&env, failed);
  return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
