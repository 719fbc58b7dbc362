/*
 * test_cli_errors.c - command-line contracts of the gmm8 sampler, of
 * `pmmc run` (which takes the same sampler options) and of pmmc itself:
 * exit status 2 for usage errors, 1 for I/O errors, a message on stderr
 * that names the offending argument or path, and never an output file left
 * behind (samplers write to a temporary and rename).  Also the informational
 * options and every --emit form of `pmmc build`.
 *
 * Nothing here is random except the samples themselves (seed 11 where
 * sampling is needed); the checks are exact.
 */
#define _GNU_SOURCE /* memmem */
#include <check.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "compiler/front/spec.h"
#include "compiler/front/weights.h"
#include "compiler/ir/ir.h"
#include "compiler/lower/lower.h"
#include "compiler/opt/opt.h"
#include "compiler/util/diag.h"
#include "tests/e2e/e2e.h"

#define SEED 11ULL

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
static void make_subdir(const char *name, char *out, size_t len) {
  e2e_path(out, len, "%s/%s", env.dir, name);
  ck_assert_msg(mkdir(out, 0755) == 0, "mkdir %s: %s", out, strerror(errno));
}

typedef struct usage_case {
  const char *args;
  const char *needle; /* stderr must contain it; NULL: any message */
} usage_case;

static const usage_case usage_cases[] = {
    {"-n 10 --bogus-flag", "--bogus-flag"},
    {"-n -5", "-5"},
    {"-n abc", "abc"},
    {"-n 10 --shard 2/2", "2/2"},
    {"-n 10 --shard 1/0", "1/0"},
    {"-n 10 --shard half", "half"},
    {"-n 10 --format xyz", "xyz"},
    {"-n 10 --threads many", "many"},
    {"-n 10 -s notaseed", "notaseed"},
    {"-n 10 --first-index -1", "-1"},
    {"-n", NULL},
};

START_TEST(test_usage_errors) {
  char cmd[2 * PATH_MAX], name[32], outdir[PATH_MAX];
  sampler_command(_i, cmd, sizeof cmd);
  e2e_path(name, sizeof name, "usage%d", _i);
  make_subdir(name, outdir, sizeof outdir);
  for (size_t k = 0; k < sizeof usage_cases / sizeof usage_cases[0]; k++) {
    const usage_case *c = &usage_cases[k];
    char *out = NULL, *err = NULL;
    /* -o comes first so that "-n" stays the last argument (missing value). */
    int st = tu_run_capture(&out, &err, "%s -s %llu -o '%s/u.npy' %s", cmd, SEED, outdir, c->args);
    ck_assert_msg(st == 2, "%s %s: exit status %d, expected 2 (usage error)", engine_name(_i),
                  c->args, st);
    ck_assert_msg(err && *err, "%s %s: no message on stderr", engine_name(_i), c->args);
    if (c->needle)
      ck_assert_msg(e2e_contains(err, c->needle), "%s %s: message does not mention '%s': %s",
                    engine_name(_i), c->args, c->needle, err);
    ck_assert_msg(e2e_count_entries(outdir) == 0, "%s %s: a usage error left a file in %s",
                  engine_name(_i), c->args, outdir);
    free(out);
    free(err);
  }
}
END_TEST

START_TEST(test_missing_directory) {
  char cmd[2 * PATH_MAX], path[PATH_MAX];
  sampler_command(_i, cmd, sizeof cmd);
  e2e_path(path, sizeof path, "%s/no-such-dir-%d/x.npy", env.dir, _i);
  char *err = NULL;
  int st = tu_run_capture(NULL, &err, "%s -s %llu -n 10 -o '%s'", cmd, SEED, path);
  ck_assert_msg(st == 1, "%s -o %s: exit status %d, expected 1 (I/O error)", engine_name(_i), path,
                st);
  ck_assert_msg(e2e_contains(err, path), "%s: message does not name %s: %s", engine_name(_i), path,
                err ? err : "");
  ck_assert_msg(access(path, F_OK) != 0, "%s: %s exists after the failure", engine_name(_i), path);
  free(err);
}
END_TEST

/* An existing directory as the output path fails even for root (when the
 * output is opened, or at the final rename after the temporary has been
 * written); either way nothing may be left behind. */
START_TEST(test_directory_as_output) {
  char cmd[2 * PATH_MAX], name[32], outdir[PATH_MAX], target[PATH_MAX + 16];
  sampler_command(_i, cmd, sizeof cmd);
  e2e_path(name, sizeof name, "dirout%d", _i);
  make_subdir(name, outdir, sizeof outdir);
  e2e_path(target, sizeof target, "%s/adir.npy", outdir);
  ck_assert_msg(mkdir(target, 0755) == 0, "mkdir %s: %s", target, strerror(errno));
  char *err = NULL;
  int st = tu_run_capture(NULL, &err, "%s -s %llu -n 100 -o '%s'", cmd, SEED, target);
  ck_assert_msg(st == 1, "%s -o %s (a directory): exit status %d, expected 1", engine_name(_i),
                target, st);
  ck_assert_msg(e2e_contains(err, target), "%s: message does not name %s: %s", engine_name(_i),
                target, err ? err : "");
  ck_assert_msg(e2e_count_entries(outdir) == 1, "%s: a temporary or partial file was left in %s",
                engine_name(_i), outdir);
  ck_assert_msg(e2e_count_entries(target) == 0, "%s: something was written into %s",
                engine_name(_i), target);
  free(err);
}
END_TEST

/* A directory nobody may create files in.  /proc refuses new files even to
 * root; a chmod 555 directory is checked too when not running as root (root
 * ignores directory permissions). */
START_TEST(test_unwritable_directory) {
  char cmd[2 * PATH_MAX], name[32], outdir[PATH_MAX], path[PATH_MAX + 16];
  sampler_command(_i, cmd, sizeof cmd);
  char *err = NULL;
  const char *proc_path = "/proc/pmmc-e2e-unwritable.npy";
  int st = tu_run_capture(NULL, &err, "%s -s %llu -n 10 -o '%s'", cmd, SEED, proc_path);
  ck_assert_msg(st == 1, "%s -o %s: exit status %d, expected 1", engine_name(_i), proc_path, st);
  ck_assert_msg(e2e_contains(err, proc_path), "%s: message does not name %s: %s", engine_name(_i),
                proc_path, err ? err : "");
  free(err);

  if (geteuid() == 0) {
    printf("%s: running as root, which ignores directory permissions: chmod 555 check "
           "skipped (the /proc and directory-as-output checks cover the contract)\n",
           engine_name(_i));
    return;
  }
  e2e_path(name, sizeof name, "ro%d", _i);
  make_subdir(name, outdir, sizeof outdir);
  ck_assert_msg(chmod(outdir, 0555) == 0, "chmod %s: %s", outdir, strerror(errno));
  e2e_path(path, sizeof path, "%s/x.npy", outdir);
  st = tu_run_capture(NULL, &err, "%s -s %llu -n 10 -o '%s'", cmd, SEED, path);
  long entries = e2e_count_entries(outdir);
  chmod(outdir, 0755);
  ck_assert_msg(st == 1, "%s -o %s (read-only directory): exit status %d, expected 1",
                engine_name(_i), path, st);
  ck_assert_msg(e2e_contains(err, path), "%s: message does not name %s: %s", engine_name(_i), path,
                err ? err : "");
  ck_assert_msg(entries == 0, "%s: files were left in the read-only directory %s", engine_name(_i),
                outdir);
  free(err);
}
END_TEST

/* A write that fails half way: the shell caps the file size (ulimit -f, 8
 * blocks of at most 1 KiB) and ignores SIGXFSZ so the write returns EFBIG.
 * The sampler must exit 1, remove its temporary, and leave a file that
 * already existed at the output path untouched. */
START_TEST(test_write_fails_midway) {
  char cmd[2 * PATH_MAX], name[32], outdir[PATH_MAX], path[PATH_MAX + 16];
  sampler_command(_i, cmd, sizeof cmd);
  e2e_path(name, sizeof name, "fsize%d", _i);
  make_subdir(name, outdir, sizeof outdir);
  const char *exts[] = {"npy", "csv"};
  for (size_t k = 0; k < 2; k++) {
    e2e_path(path, sizeof path, "%s/old.%s", outdir, exts[k]);
    FILE *f = fopen(path, "w");
    ck_assert_msg(f != NULL, "cannot create %s", path);
    fputs("previous contents\n", f);
    ck_assert_msg(fclose(f) == 0, "cannot write %s", path);
    char *err = NULL;
    int st = tu_run_capture(NULL, &err, "trap '' XFSZ; ulimit -f 8; %s -s %llu -n 20000 -o '%s'",
                            cmd, SEED, path);
    ck_assert_msg(st == 1,
                  "%s: writing 20000 samples to %s under ulimit -f 8: exit status %d, "
                  "expected 1",
                  engine_name(_i), path, st);
    ck_assert_msg(e2e_contains(err, path), "%s: message does not name %s: %s", engine_name(_i),
                  path, err ? err : "");
    free(err);
    char *text = tu_read_file(path, NULL);
    ck_assert_msg(text && strcmp(text, "previous contents\n") == 0,
                  "%s: the failed write replaced or damaged the existing %s", engine_name(_i),
                  path);
    free(text);
  }
  ck_assert_msg(e2e_count_entries(outdir) == 2, "%s: a temporary or partial file was left in %s",
                engine_name(_i), outdir);
}
END_TEST

/* Standard output on a full device: the write (or its flush) fails, and
 * that must be an error, not a silent success. */
START_TEST(test_stdout_full) {
  char cmd[2 * PATH_MAX];
  sampler_command(_i, cmd, sizeof cmd);
  if (access("/dev/full", W_OK) != 0) {
    printf("no writable /dev/full: check skipped\n");
    return;
  }
  int st = tu_run("%s -s %llu -n 2000 -o - > /dev/full", cmd, SEED);
  ck_assert_msg(st == 1, "%s -o - > /dev/full (CSV): exit status %d, expected 1", engine_name(_i),
                st);
  st = tu_run("%s -s %llu -n 2000 --format npy -o - > /dev/full", cmd, SEED);
  ck_assert_msg(st == 1, "%s --format npy -o - > /dev/full: exit status %d, expected 1",
                engine_name(_i), st);
}
END_TEST

START_TEST(test_help_version_info) {
  char cmd[2 * PATH_MAX];
  sampler_command(_i, cmd, sizeof cmd);
  char *out = NULL;
  int st = tu_run_capture(&out, NULL, "%s --help", cmd);
  ck_assert_msg(st == 0, "%s --help: exit status %d", engine_name(_i), st);
  ck_assert_msg(e2e_contains(out, "gmm8"), "%s --help does not name the model: %s", engine_name(_i),
                out ? out : "");
  ck_assert_msg(e2e_contains(out, "--num-samples") && e2e_contains(out, "--shard"),
                "%s --help does not list the options: %s", engine_name(_i), out);
  free(out);

  st = tu_run_capture(&out, NULL, "%s --version", cmd);
  ck_assert_msg(st == 0, "%s --version: exit status %d", engine_name(_i), st);
  ck_assert_msg(e2e_contains(out, "gmm8"), "%s --version does not name the model: %s",
                engine_name(_i), out ? out : "");
  free(out);

  st = tu_run_capture(&out, NULL, "%s --info", cmd);
  ck_assert_msg(st == 0, "%s --info: exit status %d", engine_name(_i), st);
  const char *needles[] = {"gmm8", "steps", "flop", "pair", "normal-normal", "200"};
  for (size_t k = 0; k < sizeof needles / sizeof needles[0]; k++)
    ck_assert_msg(e2e_contains_nocase(out, needles[k]), "%s --info does not mention '%s': %s",
                  engine_name(_i), needles[k], out ? out : "");
  free(out);
}
END_TEST

START_TEST(test_pmmc_driver) {
  char *out = NULL, *err = NULL;
  int st = tu_run_capture(&out, &err, "'%s'", tu_pmmc());
  ck_assert_msg(st == 2, "pmmc with no arguments: exit status %d, expected 2", st);
  ck_assert_msg(e2e_contains_nocase(err, "usage") || e2e_contains_nocase(out, "usage"),
                "pmmc with no arguments prints no usage: %s", err ? err : "");
  free(out);
  free(err);

  st = tu_run_capture(&out, NULL, "'%s' --help", tu_pmmc());
  ck_assert_msg(st == 0, "pmmc --help: exit status %d", st);
  ck_assert_msg(e2e_contains(out, "build") && e2e_contains(out, "run"),
                "pmmc --help does not list the commands: %s", out ? out : "");
  free(out);

  st = tu_run_capture(&out, NULL, "'%s' --version", tu_pmmc());
  ck_assert_msg(st == 0, "pmmc --version: exit status %d", st);
  ck_assert_msg(e2e_contains(out, "pmmc"), "pmmc --version does not say pmmc: %s", out ? out : "");
  free(out);

  char missing[PATH_MAX], exe[PATH_MAX];
  e2e_path(missing, sizeof missing, "%s/no-such-model.yaml", env.dir);
  e2e_path(exe, sizeof exe, "%s/never-built", env.dir);
  st = tu_run_capture(NULL, &err, "'%s' build '%s' -o '%s'", tu_pmmc(), missing, exe);
  ck_assert_msg(st == 1, "pmmc build on a missing file: exit status %d, expected 1", st);
  ck_assert_msg(e2e_contains(err, "no-such-model.yaml"),
                "pmmc build on a missing file does not name it: %s", err ? err : "");
  ck_assert_msg(access(exe, F_OK) != 0, "pmmc build on a missing file created %s", exe);
  free(err);

  st = tu_run_capture(NULL, &err, "'%s' build '%s' --emit=bogus -o '%s'", tu_pmmc(), env.gmm8_yaml,
                      exe);
  ck_assert_msg(st == 2, "pmmc build --emit=bogus: exit status %d, expected 2", st);
  ck_assert_msg(e2e_contains(err, "bogus"),
                "pmmc build --emit=bogus: message does not say "
                "what was wrong: %s",
                err ? err : "");
  ck_assert_msg(access(exe, F_OK) != 0, "pmmc build --emit=bogus created %s", exe);
  free(err);

  /* More usage errors: pmmc COMMAND [gmm8.yaml] OPTION, all exit 2. */
  const struct {
    const char *command;
    int with_model;
    const char *option;
  } more[] = {
      {"frobnicate", 0, ""}, {"build", 0, ""},
      {"build", 1, "-O7"},   {"build", 1, "--no-such-option"},
      {"run", 0, ""},        {"check", 0, ""},
  };
  for (size_t k = 0; k < sizeof more / sizeof more[0]; k++) {
    char args[PATH_MAX + 64];
    e2e_path(args, sizeof args, "%s %s%s%s %s", more[k].command, more[k].with_model ? "'" : "",
             more[k].with_model ? env.gmm8_yaml : "", more[k].with_model ? "'" : "",
             more[k].option);
    st = tu_run_capture(NULL, &err, "'%s' %s", tu_pmmc(), args);
    ck_assert_msg(st == 2, "pmmc %s: exit status %d, expected 2", args, st);
    ck_assert_msg(err && *err, "pmmc %s: no message on stderr", args);
    free(err);
  }

  st = tu_run_capture(&out, NULL, "'%s' check '%s'", tu_pmmc(), env.gmm8_yaml);
  ck_assert_msg(st == 0, "pmmc check %s: exit status %d", env.gmm8_yaml, st);
  ck_assert_msg(out && *out == '\0', "pmmc check printed on stdout: %s", out ? out : "");
  free(out);
  st = tu_run_capture(NULL, &err, "'%s' check '%s'", tu_pmmc(), missing);
  ck_assert_msg(st == 1, "pmmc check on a missing file: exit status %d, expected 1", st);
  ck_assert_msg(e2e_contains(err, "no-such-model.yaml"),
                "pmmc check on a missing file does not name it: %s", err ? err : "");
  free(err);
  st = tu_run_capture(NULL, &err, "'%s' run '%s' -n 5", tu_pmmc(), missing);
  ck_assert_msg(st == 1, "pmmc run on a missing file: exit status %d, expected 1", st);
  free(err);
}
END_TEST

START_TEST(test_emit_forms) {
  char path[PATH_MAX];
  char *out = NULL;
  size_t len = 0;

  int st = tu_run_capture(&out, NULL, "'%s' build '%s' --emit=ir -o -", tu_pmmc(), env.gmm8_yaml);
  ck_assert_msg(st == 0, "--emit=ir -o -: exit status %d", st);
  ck_assert_msg(e2e_contains(out, "step"), "--emit=ir output has no 'step' block: %.400s",
                out ? out : "");
  e2e_path(path, sizeof path, "%s/gmm8.ir", env.dir);
  st = tu_run("'%s' build '%s' --emit=ir -o '%s'", tu_pmmc(), env.gmm8_yaml, path);
  ck_assert_msg(st == 0, "--emit=ir -o %s: exit status %d", path, st);
  char *file = tu_read_file(path, NULL);
  ck_assert_msg(file != NULL, "--emit=ir did not write %s", path);
  ck_assert_msg(strcmp(file, out) == 0, "--emit=ir to a file differs from --emit=ir -o -");
  free(file);
  free(out);

  e2e_path(path, sizeof path, "%s/gmm8.ll", env.dir);
  st = tu_run("'%s' build '%s' --emit=llvm -o '%s'", tu_pmmc(), env.gmm8_yaml, path);
  ck_assert_msg(st == 0, "--emit=llvm: exit status %d", st);
  file = tu_read_file(path, NULL);
  ck_assert_msg(file != NULL, "--emit=llvm did not write %s", path);
  ck_assert_msg(e2e_contains(file, "define") && e2e_contains(file, "gmm8_run_block"),
                "%s has no 'define' of gmm8_run_block", path);
  free(file);
  st = tu_run_capture(&out, NULL, "'%s' build '%s' --emit=llvm -o -", tu_pmmc(), env.gmm8_yaml);
  ck_assert_msg(st == 0, "--emit=llvm -o -: exit status %d", st);
  ck_assert_msg(e2e_contains(out, "define"), "--emit=llvm -o - printed no 'define'");
  free(out);

  e2e_path(path, sizeof path, "%s/gmm8.s", env.dir);
  st = tu_run("'%s' build '%s' --emit=asm -o '%s'", tu_pmmc(), env.gmm8_yaml, path);
  ck_assert_msg(st == 0, "--emit=asm: exit status %d", st);
  file = tu_read_file(path, NULL);
  ck_assert_msg(file != NULL, "--emit=asm did not write %s", path);
  ck_assert_msg(e2e_contains(file, "gmm8_run_block"), "%s does not mention gmm8_run_block", path);
  free(file);

  e2e_path(path, sizeof path, "%s/gmm8.o", env.dir);
  st = tu_run("'%s' build '%s' --emit=obj -o '%s'", tu_pmmc(), env.gmm8_yaml, path);
  ck_assert_msg(st == 0, "--emit=obj: exit status %d", st);
  file = tu_read_file(path, &len);
  ck_assert_msg(file != NULL, "--emit=obj did not write %s", path);
  ck_assert_msg(len > 64 && memcmp(file,
                                   "\x7f"
                                   "ELF",
                                   4) == 0,
                "%s is not an ELF object (%zu bytes)", path, len);
  ck_assert_msg(memmem(file, len, "gmm8_run_block", 14) != NULL,
                "%s has no gmm8_run_block symbol name", path);
  free(file);
}
END_TEST

/* ---- --info: what pmmc build and the samplers report -------------------- */

/* The module `pmmc build` (OPT_PIPELINE_COMPILED) or `pmmc run` compiles or
 * interprets from yaml; passes as for --passes (NULL: the pipeline's). */
static void load_optimised(const char *yaml, opt_pipeline pipeline, const char *passes,
                           ir_module *m) {
  model_spec spec;
  diag_list dl;
  diag_list_init(&dl);
  ck_assert_msg(spec_load(yaml, &spec, &dl) == 0, "cannot load %s", yaml);
  lower_options lo = {.block_size = 0};
  int rc = lower_model(&spec, &lo, m, &dl);
  spec_free(&spec);
  diag_print(&dl, stderr);
  diag_list_free(&dl);
  ck_assert_msg(rc == 0, "cannot lower %s", yaml);
  opt_options o;
  opt_options_init(&o, pipeline);
  o.passes = passes;
  char err[1024];
  ck_assert_msg(opt_run_pipeline(m, &o, err, sizeof err) == 0, "%s: %s", yaml, err);
}

/* The text after "LABEL:" and its padding on the report's line LABEL. */
static const char *info_value(const char *report, const char *label) {
  size_t n = strlen(label);
  for (const char *line = report; line && *line; line = strchr(line, '\n')) {
    if (*line == '\n') line++;
    if (strncmp(line, label, n) == 0 && line[n] == ':')
      return line + n + 1 + strspn(line + n + 1, " ");
  }
  ck_abort_msg("--info lacks '%s':\n%s", label, report);
  return NULL;
}

static uint64_t info_u64(const char *report, const char *label) {
  const char *v = info_value(report, label);
  char *end;
  unsigned long long x = strtoull(v, &end, 10);
  ck_assert_msg(end != v && *end == '\n', "--info's %s is not a number: %s", label, v);
  return x;
}

/* The compile time in milliseconds ("12.345 ms"). */
static double info_ms(const char *report) {
  const char *v = info_value(report, "compile time");
  char *end;
  double ms = strtod(v, &end);
  ck_assert_msg(end != v && strncmp(end, " ms\n", 4) == 0, "compile time is not in ms: %s", v);
  return ms;
}

/* `pmmc build --info` builds the sampler and prints exactly its --info;
 * the counts are those of the optimised module, the code size and compile
 * time plausible (a few KB of code, some milliseconds). */
START_TEST(test_build_info) {
  char exe[PATH_MAX];
  char *built = NULL, *own = NULL;
  e2e_path(exe, sizeof exe, "%s/gmm8-info", env.dir);
  int st =
      tu_run_capture(&built, NULL, "'%s' build '%s' -o '%s' --info", tu_pmmc(), env.gmm8_yaml, exe);
  ck_assert_msg(st == 0, "pmmc build --info: exit status %d", st);
  st = tu_run_capture(&own, NULL, "'%s' --info", exe);
  ck_assert_msg(st == 0, "%s --info: exit status %d", exe, st);
  ck_assert_str_eq(built, own);

  ir_module m;
  load_optimised(env.gmm8_yaml, OPT_PIPELINE_COMPILED, NULL, &m);
  ck_assert_uint_eq(info_u64(own, "FLOPs per sample"), ir_count_flops(&m));
  ck_assert_uint_eq(info_u64(own, "weight bytes"), ir_count_weight_bytes(&m));
  ck_assert_uint_eq(info_u64(own, "scratch bytes"), m.scratch_floats * sizeof(float));
  ir_module_free(&m);
  uint64_t code = info_u64(own, "code bytes");
  ck_assert_msg(code > 0 && code < 10u << 20, "code bytes %llu out of (0, 10 MB)",
                (unsigned long long)code);
  double ms = info_ms(own);
  ck_assert_msg(ms > 0 && ms < 600e3, "compile time %g ms out of (0, 10 min)", ms);
  free(built);
  free(own);

  /* the option is refused where there is no generated file to describe */
  st = tu_run_capture(NULL, &built, "'%s' build '%s' --emit=ir --info", tu_pmmc(), env.gmm8_yaml);
  ck_assert_msg(st == 2 && e2e_contains(built, "--info"), "--emit=ir --info: status %d, %s", st,
                built ? built : "");
  free(built);
}
END_TEST

/* `pmmc run --info`: the interpreter's module (its own pipeline), no code,
 * a positive preparation time. */
START_TEST(test_run_info) {
  char *out = NULL;
  int st = tu_run_capture(&out, NULL, "'%s' run '%s' --info", tu_pmmc(), env.gmm8_yaml);
  ck_assert_msg(st == 0, "pmmc run --info: exit status %d", st);
  ir_module m;
  load_optimised(env.gmm8_yaml, OPT_PIPELINE_INTERPRETED, NULL, &m);
  ck_assert_uint_eq(info_u64(out, "FLOPs per sample"), ir_count_flops(&m));
  ck_assert_uint_eq(info_u64(out, "scratch bytes"), m.scratch_floats * sizeof(float));
  ir_module_free(&m);
  ck_assert_msg(strncmp(info_value(out, "code bytes"), "n/a (interpreted)\n", 18) == 0,
                "code bytes of the interpreter:\n%s", out);
  double ms = info_ms(out);
  ck_assert_msg(ms > 0 && ms < 600e3, "compile time %g ms out of (0, 10 min)", ms);
  free(out);
}
END_TEST

/* bench-mlp unoptimised (--passes=shapes,plan): its weight bytes are the
 * bytes of the tensors in its safetensors file plus the schedule's
 * coefficient tables the lowering adds (count * width floats each). */
START_TEST(test_build_info_weights) {
  char yaml[PATH_MAX], st_path[PATH_MAX], obj[PATH_MAX];
  ck_assert_int_eq(e2e_model_yaml("bench-mlp", yaml, sizeof yaml), 0);
  e2e_path(st_path, sizeof st_path, "%s/models/bench-mlp/model.safetensors", tu_srcdir());
  e2e_path(obj, sizeof obj, "%s/bench-mlp-info.o", env.dir);
  char *out = NULL;
  int st = tu_run_capture(&out, NULL,
                          "'%s' build '%s' --passes=shapes,plan --emit=obj -o '%s' "
                          "--info",
                          tu_pmmc(), yaml, obj);
  ck_assert_msg(st == 0, "pmmc build bench-mlp --info: exit status %d", st);

  weight_set ws;
  weight_set_init(&ws);
  char err[512];
  ck_assert_msg(weights_load_safetensors(st_path, &ws, err, sizeof err) == 0, "%s", err);
  uint64_t tensor_bytes = 0;
  for (size_t i = 0; i < ws.count; i++) tensor_bytes += ws.tensors[i].count * sizeof(float);
  weight_set_free(&ws);
  ck_assert_uint_eq(tensor_bytes, 564232); /* 8 tensors: 141058 floats */
  ir_module m;
  load_optimised(yaml, OPT_PIPELINE_COMPILED, "shapes,plan", &m);
  uint64_t table_bytes = 0;
  for (uint32_t i = 0; i < m.ntables; i++)
    table_bytes += (uint64_t)m.tables[i].count * m.tables[i].width * sizeof(float);
  ir_module_free(&m);
  ck_assert_uint_eq(info_u64(out, "weight bytes"), tensor_bytes + table_bytes);
  uint64_t code = info_u64(out, "code bytes");
  ck_assert_msg(code > 0 && code < 10u << 20, "code bytes %llu out of (0, 10 MB)",
                (unsigned long long)code);
  ck_assert_msg(info_ms(out) > 0, "no compile time:\n%s", out);
  free(out);
}
END_TEST

int main(void) {
  if (e2e_env_init(&env, "cli") != 0) return EXIT_FAILURE;
  build_status = e2e_build(env.gmm8_yaml, "", env.dir, "gmm8", sampler, sizeof sampler);

  Suite *s = suite_create("e2e_cli_errors");
  TCase *tc = tcase_create("sampler_cli");
  tcase_set_timeout(tc, 900);
  /* Loop index 0: the compiled sampler; 1: `pmmc run`. */
  tcase_add_loop_test(tc, test_usage_errors, 0, 2);
  tcase_add_loop_test(tc, test_missing_directory, 0, 2);
  tcase_add_loop_test(tc, test_directory_as_output, 0, 2);
  tcase_add_loop_test(tc, test_unwritable_directory, 0, 2);
  tcase_add_loop_test(tc, test_write_fails_midway, 0, 2);
  tcase_add_loop_test(tc, test_stdout_full, 0, 2);
  tcase_add_loop_test(tc, test_help_version_info, 0, 2);
  suite_add_tcase(s, tc);
  TCase *tp = tcase_create("pmmc");
  tcase_set_timeout(tp, 900);
  tcase_add_test(tp, test_pmmc_driver);
  tcase_add_test(tp, test_emit_forms);
  tcase_add_test(tp, test_build_info);
  tcase_add_test(tp, test_run_info);
  tcase_add_test(tp, test_build_info_weights);
  suite_add_tcase(s, tp);
  int failed = tu_run_suite(s);
  e2e_env_finish(&env, failed);
  return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
