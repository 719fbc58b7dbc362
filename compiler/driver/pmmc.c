/*
 * pmmc.c - the command-line driver: parses the subcommand and its options and
 * runs the pipeline  YAML -> spec -> IR -> passes -> { printer | interpreter | LLVM }.
 *
 *   pmmc build MODEL.yaml [-o OUT] [--emit=exe|obj|asm|llvm|ir|lib|shared|header] [-O0..-O3]
 *                         [--target TRIPLE] [--cpu CPU] [--features FEATS] [--block-size N]
 *                         [--dump-after=PASS|all] [--passes=LIST] [--info] [--name NAME]
 *   pmmc run MODEL.yaml [--block-size N] [--dump-after=PASS|all] [--passes=LIST]
 *                       [sampler options]
 *   pmmc check MODEL.yaml
 *   pmmc predict MODEL.yaml --mu MU.npy --time TAU.npy -o OUT.npy [...]   (predict.c)
 *
 * Exit status: 0 success, 1 bad input or failure, 2 usage error.
 */
#include "config.h"

#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "compiler/codegen/codegen.h"
#include "compiler/driver/driver.h"
#include "compiler/front/spec.h"
#include "compiler/interp/interp.h"
#include "compiler/ir/ir.h"
#include "compiler/lower/lower.h"
#include "compiler/opt/opt.h"
#include "compiler/util/diag.h"
#include "runtime/outfile.h"
#include "runtime/pmmrt.h"

enum { EXIT_BAD_INPUT = DRIVER_EXIT_BAD_INPUT, EXIT_USAGE = DRIVER_EXIT_USAGE };

static const char usage_text[] =
    "Usage: pmmc COMMAND MODEL.yaml [OPTIONS]\n"
    "\n"
    "pmmc compiles a Posterior Mean Matching model description into a native sampler.\n"
    "\n"
    "Commands:\n"
    "  build MODEL.yaml   compile the model (default: an executable named after the model)\n"
    "  run MODEL.yaml     run the model in the interpreter; takes the sampler options\n"
    "                     (-n, -s, -o, --format, --threads, --first-index, --shard, --info;\n"
    "                     see `pmmc run MODEL.yaml --help`)\n"
    "  check MODEL.yaml   validate the model and its weights as build would (everything\n"
    "                     short of code generation), print nothing on success\n"
    "  predict MODEL.yaml --mu MU.npy --time TAU.npy -o OUT.npy [--engine interp|compiled]\n"
    "                     evaluate the network alone (see `pmmc predict --help`)\n"
    "\n"
    "Build options:\n"
    "  -o, --output PATH      output file ('-' = stdout for --emit=ir|llvm|asm); for\n"
    "                         libraries the directory to write into (default .)\n"
    "      --emit KIND        exe (default), obj, asm, llvm (optimised LLVM IR), ir\n"
    "                         (pmmc's IR; written to stdout unless -o is given), or a\n"
    "                         library to embed (docs/embedding.md): lib (libNAME.a),\n"
    "                         shared (libNAME.so.1), each with NAME.h and NAME.pc, or\n"
    "                         header (NAME.h alone)\n"
    "      --name NAME        libraries: prefix of the API's names (default: the model's)\n"
    "      --weights WHERE    libraries: embedded (default) or external (NAME.weights, a\n"
    "                         file NAME_open reads)\n"
    "  -O0, -O1, -O2, -O3     LLVM optimisation level (default -O2)\n"
    "      --target TRIPLE    target triple (default: this machine)\n"
    "      --cpu CPU          target CPU (default: this machine's)\n"
    "      --features FEATS   target features, e.g. +avx2,-avx512f (default: this machine's)\n"
    "      --info             build as usual, then print the report the sampler's --info\n"
    "                         prints: FLOPs per sample, scratch, weight and code bytes,\n"
    "                         compile time (docs/info.md); run takes it too\n"
    "      --block-size N     samples per block (default 64); build and run also take it\n"
    "      --gemm KIND        dense layers: auto (default: per layer, the faster), blas\n"
    "                         (OpenBLAS) or llvm (kernels specialised to the shapes;\n"
    "                         the default for libraries)\n"
    "      --dump-after PASS  print the IR after PASS (or after every pass: all) to stderr\n"
    "                         and carry on; build and run take it\n"
    "      --passes LIST      run the comma-separated passes instead of the pipeline, e.g.\n"
    "                         shapes,plan for no optimisation (shapes first and plan last\n"
    "                         are implied); build and run take it\n"
    "\n"
    "  -h, --help             show this help\n"
    "  -V, --version          show the version\n"
    "\n"
    "Environment: CC (linker driver), PMMC_RUNTIME_LIB (the libpmmrt.a executables link;\n"
    "default: the build tree's next to pmmc, else the one installed with pmmc, also\n"
    "when staged with make install DESTDIR=ROOT; docs/install.md), PMMC_EMBED_RUNTIME\n"
    "(the runtime's bitcode pmmrt-embed-ARCH.bc libraries link, found likewise).\n";

/* The usage text, then the optimiser's passes (their list lives in opt.c). */
static void print_usage(FILE *out) {
  fputs(usage_text, out);
  size_t n;
  const opt_pass *p = opt_list_passes(&n);
  fprintf(out, "\nPasses (build: %s; run: %s):\n", opt_pipeline_passes(OPT_PIPELINE_COMPILED),
          opt_pipeline_passes(OPT_PIPELINE_INTERPRETED));
  for (size_t i = 0; i < n; i++) fprintf(out, "  %-8s %s\n", p[i].name, p[i].summary);
}

int driver_usage_error(const char *fmt, const char *arg) {
  fprintf(stderr, "pmmc: error: ");
  fprintf(stderr, fmt, arg);
  fprintf(stderr, "\nTry 'pmmc --help'.\n");
  return EXIT_USAGE;
}

static void print_version(void) {
  printf("pmmc %s (LLVM %s)\n", PACKAGE_VERSION, PMMC_LLVM_VERSION);
}

/* Parse a block size: a decimal integer in 1..65536. */
int driver_parse_block_size(const char *s, uint32_t *out) {
  char *end;
  errno = 0;
  long v = strtol(s, &end, 10);
  if (errno || end == s || *end || v < 1 || v > 65536) return -1;
  *out = (uint32_t)v;
  return 0;
}

/* The network alone (lower.h, predict), renamed "<model>_predict" so its
 * symbols do not meet the sampler's when both go into one library. */
static int lower_predict(const model_spec *spec, uint32_t block_size, ir_module *p, diag_list *dl) {
  lower_options lo = {.block_size = block_size, .predict = 1};
  if (lower_model(spec, &lo, p, dl) != 0) return -1;
  size_t len = strlen(p->name) + sizeof "_predict";
  char *name = malloc(len);
  if (!name) {
    ir_module_free(p);
    return -1;
  }
  snprintf(name, len, "%s_predict", p->name);
  free(p->name);
  p->name = name;
  return 0;
}

/* Load, check and lower MODEL; diagnostics go to stderr.  When predict is
 * not NULL and the model has a graph network, *predict receives the network
 * alone too (*has_predict says whether).  0 on success. */
static int load_module(const char *path, uint32_t block_size, ir_module *m, ir_module *predict,
                       int *has_predict) {
  model_spec spec;
  diag_list dl;
  diag_list_init(&dl);
  int rc = spec_load(path, &spec, &dl);
  if (has_predict) *has_predict = 0;
  if (rc == 0) {
    lower_options lo = {.block_size = block_size};
    rc = lower_model(&spec, &lo, m, &dl);
    if (rc == 0 && predict && spec.network.kind == SPEC_NETWORK_GRAPH) {
      rc = lower_predict(&spec, block_size, predict, &dl);
      if (rc == 0)
        *has_predict = 1;
      else
        ir_module_free(m);
    }
    spec_free(&spec);
  }
  diag_print(&dl, stderr);
  diag_list_free(&dl);
  return rc;
}

/* --dump-after and --passes, checked before any work is done: 0 when
 * valid, else the usage error's exit status. */
static int check_pass_options(const char *dump_after, const char *passes) {
  if (dump_after && strcmp(dump_after, "all") != 0 && !opt_find_pass(dump_after))
    return driver_usage_error(
        "--dump-after: unknown pass '%s' (expected shapes, fold, dce, fuse, plan "
        "or all)",
        dump_after);
  for (const char *s = passes; s && *s;) {
    size_t len = strcspn(s, ",");
    if (!opt_find_pass_n(s, len) || (s[len] == ',' && !s[len + 1]))
      return driver_usage_error(
          "--passes: '%s' is not a comma-separated list of shapes, fold, dce, "
          "fuse and plan",
          passes);
    s += len + (s[len] == ',');
  }
  return 0;
}

/* Optimise and memory-plan a lowered module (opt.h); 0 on success, else
 * the error is printed and the caller frees m. */
static int optimise_module(ir_module *m, opt_pipeline pipeline, const char *dump_after,
                           const char *passes) {
  opt_options o;
  opt_options_init(&o, pipeline);
  o.dump_after = dump_after;
  o.passes = passes;
  char err[1024];
  if (opt_run_pipeline(m, &o, err, sizeof err) != 0) {
    fprintf(stderr, "pmmc: error: %s\n", err);
    return EXIT_BAD_INPUT;
  }
  return 0;
}

/* The runtime's bitcode for the target's architecture (the triple's first
 * part), which libraries link (codegen.h, embed_runtime). */
static int find_embed_runtime(const char *triple, char *buf, size_t len, char *err, size_t errlen) {
  char file[128];
  const char *arch = triple ? triple : PMMC_HOST_ARCH;
  snprintf(file, sizeof file, "pmmrt-embed-%.*s.bc", (int)strcspn(arch, "-"), arch);
  return driver_find_installed("PMMC_EMBED_RUNTIME", "runtime", PMMC_PKGLIBDIR, file, buf, len, err,
                               errlen);
}

/* Write the IR dump to path ("-" = stdout) as runtime/outfile.h says, so a
 * failed write never leaves a file that looks complete. */
static int write_ir(const ir_module *m, const char *path) {
  char err[PATH_MAX + 128];
  pmm_outfile f;
  if (pmm_outfile_open(&f, path, err, sizeof err) != 0) {
    fprintf(stderr, "pmmc: error: %s\n", err);
    return EXIT_BAD_INPUT;
  }
  ir_print(m, f.fp);
  if (pmm_outfile_commit(&f, err, sizeof err) != 0) {
    fprintf(stderr, "pmmc: error: %s\n", err);
    return EXIT_BAD_INPUT;
  }
  return 0;
}

static int parse_emit(const char *s, int *is_ir, codegen_emit *emit) {
  static const struct {
    const char *name;
    codegen_emit emit;
  } kinds[] = {{"exe", CODEGEN_EMIT_EXE},      {"obj", CODEGEN_EMIT_OBJ},
               {"asm", CODEGEN_EMIT_ASM},      {"llvm", CODEGEN_EMIT_LLVM},
               {"lib", CODEGEN_EMIT_LIB},      {"shared", CODEGEN_EMIT_SHARED},
               {"header", CODEGEN_EMIT_HEADER}};
  *is_ir = strcmp(s, "ir") == 0;
  if (*is_ir) return 0;
  for (size_t i = 0; i < sizeof kinds / sizeof kinds[0]; i++)
    if (strcmp(s, kinds[i].name) == 0) {
      *emit = kinds[i].emit;
      return 0;
    }
  return -1;
}

/* Default output name when -o is not given: the model name plus the
 * conventional suffix, stdout for IR, the current directory for libraries. */
static const char *default_output(const ir_module *m, int is_ir, codegen_emit emit, char *buf,
                                  size_t len) {
  if (is_ir) return "-";
  if (codegen_emit_is_library(emit)) return ".";
  const char *suffix = emit == CODEGEN_EMIT_OBJ    ? ".o"
                       : emit == CODEGEN_EMIT_ASM  ? ".s"
                       : emit == CODEGEN_EMIT_LLVM ? ".ll"
                                                   : "";
  snprintf(buf, len, "%s%s", m->name, suffix);
  return buf;
}

/* Microseconds of CLOCK_MONOTONIC since start. */
static uint64_t elapsed_us(const struct timespec *start) {
  struct timespec now;
  clock_gettime(CLOCK_MONOTONIC, &now);
  int64_t us = ((int64_t)now.tv_sec - (int64_t)start->tv_sec) * 1000000 +
               ((int64_t)now.tv_nsec - (int64_t)start->tv_nsec) / 1000;
  return us > 0 ? (uint64_t)us : 0;
}

/* The compile time runs from here (front end included) to the emitted
 * object (codegen measures the end, before the final link). */
static int cmd_build(int argc, char **argv) {
  struct timespec start;
  clock_gettime(CLOCK_MONOTONIC, &start);
  enum {
    OPT_EMIT = 256,
    OPT_TARGET,
    OPT_CPU,
    OPT_FEATURES,
    OPT_BLOCK,
    OPT_DUMP,
    OPT_PASSES,
    OPT_GEMM,
    OPT_INFO,
    OPT_NAME,
    OPT_WEIGHTS
  };
  static const struct option opts[] = {{"output", required_argument, NULL, 'o'},
                                       {"emit", required_argument, NULL, OPT_EMIT},
                                       {"target", required_argument, NULL, OPT_TARGET},
                                       {"cpu", required_argument, NULL, OPT_CPU},
                                       {"features", required_argument, NULL, OPT_FEATURES},
                                       {"block-size", required_argument, NULL, OPT_BLOCK},
                                       {"dump-after", required_argument, NULL, OPT_DUMP},
                                       {"passes", required_argument, NULL, OPT_PASSES},
                                       {"gemm", required_argument, NULL, OPT_GEMM},
                                       {"info", no_argument, NULL, OPT_INFO},
                                       {"name", required_argument, NULL, OPT_NAME},
                                       {"weights", required_argument, NULL, OPT_WEIGHTS},
                                       {"help", no_argument, NULL, 'h'},
                                       {NULL, 0, NULL, 0}};
  codegen_options co;
  codegen_options_init(&co);
  codegen_report report;
  co.start = &start;
  co.report = &report;
  const char *output = NULL;
  int is_ir = 0, info = 0, gemm_given = 0;
  uint32_t block_size = 0;
  const char *dump_after = NULL, *passes = NULL;
  int c;
  optind = 0;
  opterr = 0;
  while ((c = getopt_long(argc, argv, ":o:O:h", opts, NULL)) != -1) {
    switch (c) {
    case 'o': output = optarg; break;
    case 'O':
      if (strlen(optarg) != 1 || optarg[0] < '0' || optarg[0] > '3')
        return driver_usage_error(
            "unknown optimisation level '-O%s' (expected -O0, -O1, -O2 or -O3)", optarg);
      co.opt_level = optarg[0] - '0';
      break;
    case OPT_EMIT:
      if (parse_emit(optarg, &is_ir, &co.emit) != 0)
        return driver_usage_error(
            "unknown --emit kind '%s' (expected exe, obj, asm, llvm, ir, lib, shared or header)",
            optarg);
      break;
    case OPT_TARGET: co.triple = optarg; break;
    case OPT_CPU: co.cpu = optarg; break;
    case OPT_FEATURES: co.features = optarg; break;
    case OPT_BLOCK:
      if (driver_parse_block_size(optarg, &block_size) != 0)
        return driver_usage_error("--block-size: expected an integer from 1 to 65536, found '%s'",
                                  optarg);
      break;
    case OPT_DUMP: dump_after = optarg; break;
    case OPT_PASSES: passes = optarg; break;
    case OPT_INFO: info = 1; break;
    case OPT_NAME: co.prefix = optarg; break;
    case OPT_WEIGHTS:
      if (strcmp(optarg, "embedded") != 0 && strcmp(optarg, "external") != 0)
        return driver_usage_error("unknown --weights '%s' (expected embedded or external)", optarg);
      co.weights_external = strcmp(optarg, "external") == 0;
      break;
    case OPT_GEMM:
      gemm_given = 1;
      if (strcmp(optarg, "auto") == 0)
        co.gemm = CODEGEN_GEMM_AUTO;
      else if (strcmp(optarg, "blas") == 0)
        co.gemm = CODEGEN_GEMM_BLAS;
      else if (strcmp(optarg, "llvm") == 0)
        co.gemm = CODEGEN_GEMM_LLVM;
      else
        return driver_usage_error("unknown --gemm kind '%s' (expected auto, blas or llvm)", optarg);
      break;
    case 'h': print_usage(stdout); return 0;
    case ':': return driver_usage_error("option '%s' needs a value", argv[optind - 1]);
    default: return driver_usage_error("unknown option '%s'", argv[optind - 1]);
    }
  }
  if (optind >= argc) return driver_usage_error("%s", "build: missing MODEL.yaml");
  if (optind + 1 < argc)
    return driver_usage_error("build: unexpected argument '%s'", argv[optind + 1]);
  if (info && (is_ir || (output && strcmp(output, "-") == 0)))
    return driver_usage_error("%s", "--info reports on generated code written to a file: not with "
                                    "--emit=ir or -o -");
  if ((c = check_pass_options(dump_after, passes)) != 0) return c;
  int library = !is_ir && codegen_emit_is_library(co.emit);
  if (co.prefix && !library)
    return driver_usage_error("%s", "--name names a library's API: only with --emit=lib, shared "
                                    "or header");
  if (co.weights_external && !library)
    return driver_usage_error("%s", "--weights=external is for libraries: only with --emit=lib, "
                                    "shared or header");
  if (info && library)
    return driver_usage_error("%s", "--info reports on a sampler: not with --emit=lib, shared or "
                                    "header (the header's NAME_get_info tells the same)");
  /* A library must not need OpenBLAS unless asked to. */
  if (library && !gemm_given) co.gemm = CODEGEN_GEMM_LLVM;

  ir_module m, predict;
  int has_predict = 0;
  if (load_module(argv[optind], block_size, &m, library ? &predict : NULL, &has_predict) != 0)
    return EXIT_BAD_INPUT;
  int bad = optimise_module(&m, OPT_PIPELINE_COMPILED, dump_after, passes);
  if (!bad && has_predict) bad = optimise_module(&predict, OPT_PIPELINE_COMPILED, NULL, NULL);
  if (has_predict) co.predict = &predict;
  if (bad) {
    ir_module_free(&m);
    if (has_predict) ir_module_free(&predict);
    return EXIT_BAD_INPUT;
  }
  char outbuf[PATH_MAX];
  if (!output) output = default_output(&m, is_ir, co.emit, outbuf, sizeof outbuf);
  int rc;
  if (is_ir) {
    rc = write_ir(&m, output);
  } else if (co.emit == CODEGEN_EMIT_EXE && strcmp(output, "-") == 0) {
    rc = driver_usage_error("%s", "an executable cannot be written to stdout; give -o PATH");
  } else {
    char libbuf[PATH_MAX], bcbuf[PATH_MAX], err[4096];
    co.output = output;
    co.runtime_lib = co.emit == CODEGEN_EMIT_EXE ? libbuf : NULL;
    co.embed_runtime = co.emit == CODEGEN_EMIT_LIB || co.emit == CODEGEN_EMIT_SHARED ? bcbuf : NULL;
    rc = 0;
    if (co.runtime_lib &&
        driver_find_installed("PMMC_RUNTIME_LIB", "runtime", PMMC_LIBDIR, "libpmmrt.a", libbuf,
                              sizeof libbuf, err, sizeof err) != 0) {
      fprintf(stderr, "pmmc: error: %s\n", err);
      rc = EXIT_BAD_INPUT;
    } else if (co.embed_runtime &&
               find_embed_runtime(co.triple, bcbuf, sizeof bcbuf, err, sizeof err) != 0) {
      fprintf(stderr, "pmmc: error: %s\n", err);
      rc = EXIT_BAD_INPUT;
    } else if (codegen_compile(&m, &co, err, sizeof err) != 0) {
      fprintf(stderr, "pmmc: error: %s\n", err);
      rc = EXIT_BAD_INPUT;
    } else if (info) {
      rc = pmm_sampler_print_info("pmmc build", &report.desc);
    }
  }
  ir_module_free(&m);
  if (has_predict) ir_module_free(&predict);
  return rc;
}

/* Whether argv[*i] is option `name` ("--name V" or "--name=V"); if so *v
 * receives its value (NULL when missing) and *i moves past it. */
static int run_option(const char *name, int argc, char **argv, int *i, const char **v) {
  size_t n = strlen(name);
  const char *a = argv[*i];
  if (strncmp(a, name, n) != 0 || (a[n] != '\0' && a[n] != '=')) return 0;
  *v = a[n] == '=' ? a + n + 1 : (*i + 1 < argc ? argv[++*i] : NULL);
  return 1;
}

/* `pmmc run MODEL.yaml [--block-size N] [--dump-after PASS] [--passes LIST]
 * [sampler options]`: the model path (always first, so option values are
 * never mistaken for it) and those three options are ours; everything else
 * goes to the sampler CLI. */
static int cmd_run(int argc, char **argv) {
  struct timespec start;
  clock_gettime(CLOCK_MONOTONIC, &start);
  if (argc < 2 || argv[1][0] == '-') {
    if (argc >= 2 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)) {
      print_usage(stdout);
      return 0;
    }
    return driver_usage_error("%s",
                              "run: missing MODEL.yaml (usage: pmmc run MODEL.yaml [OPTIONS])");
  }
  const char *model = argv[1];
  uint32_t block_size = 0;
  const char *dump_after = NULL, *passes = NULL, *missing = NULL, *v;
  char **rest = calloc((size_t)argc + 1, sizeof *rest);
  if (!rest) {
    fprintf(stderr, "pmmc: error: out of memory\n");
    return EXIT_BAD_INPUT;
  }
  int nrest = 0;
  rest[nrest++] = "pmmc run";
  for (int i = 2; i < argc; i++) {
    if (run_option("--block-size", argc, argv, &i, &v)) {
      if (!v || driver_parse_block_size(v, &block_size) != 0) {
        free(rest);
        return driver_usage_error("--block-size: expected an integer from 1 to 65536, found '%s'",
                                  v ? v : "");
      }
    } else if (run_option("--dump-after", argc, argv, &i, &v)) {
      if (!(dump_after = v)) missing = "--dump-after";
    } else if (run_option("--passes", argc, argv, &i, &v)) {
      if (!(passes = v)) missing = "--passes";
    } else {
      rest[nrest++] = argv[i];
    }
  }
  int bad = missing ? driver_usage_error("option '%s' needs a value", missing)
                    : check_pass_options(dump_after, passes);
  if (bad != 0) {
    free(rest);
    return bad;
  }
  ir_module m;
  if (load_module(model, block_size, &m, NULL, NULL) != 0) {
    free(rest);
    return EXIT_BAD_INPUT;
  }
  if (optimise_module(&m, OPT_PIPELINE_INTERPRETED, dump_after, passes) != 0) {
    ir_module_free(&m);
    free(rest);
    return EXIT_BAD_INPUT;
  }
  interp *ip;
  char err[512];
  int rc;
  if (interp_init(&ip, &m, err, sizeof err) != 0) {
    fprintf(stderr, "pmmc: error: %s\n", err);
    rc = EXIT_BAD_INPUT;
  } else {
    /* --info's compile time: reading the model to a ready interpreter */
    pmm_build_info build = {.code_bytes = 0, .compile_us = elapsed_us(&start)};
    pmm_model_desc d;
    interp_describe(ip, &d);
    d.build = &build;
    rc = pmm_sampler_main(nrest, rest, &d);
    interp_free(ip);
  }
  ir_module_free(&m);
  free(rest);
  return rc;
}

/* Everything `build` does short of generating code: load and check the
 * model, lower it (and, for a graph, the network alone, as libraries and
 * `predict` do) and run the optimiser's pipeline, whose passes check the
 * IR and plan memory, so a model `check` passes never fails in `build`. */
static int cmd_check(int argc, char **argv) {
  if (argc < 2) return driver_usage_error("%s", "check: missing MODEL.yaml");
  if (argc > 2) return driver_usage_error("check: unexpected argument '%s'", argv[2]);
  ir_module m, predict;
  int has_predict = 0;
  if (load_module(argv[1], 0, &m, &predict, &has_predict) != 0) return EXIT_BAD_INPUT;
  int bad = optimise_module(&m, OPT_PIPELINE_COMPILED, NULL, NULL);
  if (!bad && has_predict) bad = optimise_module(&predict, OPT_PIPELINE_COMPILED, NULL, NULL);
  ir_module_free(&m);
  if (has_predict) ir_module_free(&predict);
  return bad ? EXIT_BAD_INPUT : 0;
}

int main(int argc, char **argv) {
  /* a build or run cut short by a signal removes its temporary files */
  pmm_out_catch_signals();
  if (argc < 2) {
    print_usage(stderr);
    return EXIT_USAGE;
  }
  const char *cmd = argv[1];
  if (strcmp(cmd, "--help") == 0 || strcmp(cmd, "-h") == 0 || strcmp(cmd, "help") == 0) {
    print_usage(stdout);
    return 0;
  }
  if (strcmp(cmd, "--version") == 0 || strcmp(cmd, "-V") == 0 || strcmp(cmd, "version") == 0) {
    print_version();
    return 0;
  }
  if (strcmp(cmd, "build") == 0) return cmd_build(argc - 1, argv + 1);
  if (strcmp(cmd, "run") == 0) return cmd_run(argc - 1, argv + 1);
  if (strcmp(cmd, "check") == 0) return cmd_check(argc - 1, argv + 1);
  if (strcmp(cmd, "predict") == 0) return driver_predict(argc - 1, argv + 1);
  return driver_usage_error("unknown command '%s' (expected build, run, check or predict)", cmd);
}
