/*
 * predict.c - `pmmc predict`: the network alone on given inputs, so that
 * every op can be checked against any framework.
 *
 *   pmmc predict MODEL.yaml --mu MU.npy --time TAU.npy -o OUT.npy
 *                [--engine interp|compiled] [--layer NAME] [--block-size N]
 *
 * MU.npy is float32 [N, *mu shape] (the data shape; [L, K] probability rows
 * for dirichlet-categorical), TAU.npy [N] values of tau; OUT.npy receives
 * [N, *output shape], the raw output of the network's output layer (or of
 * --layer) before the pair's softmax or softplus.  The model is lowered to
 * a module whose state is each sample's mu followed by its tau (lower.h,
 * `predict`); blocks of block_size rows run through the interpreter or the
 * JIT-compiled code, the last one padded with zeros.
 */
#include "config.h"

#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "compiler/codegen/codegen.h"
#include "compiler/driver/driver.h"
#include "compiler/interp/interp.h"
#include "compiler/lower/lower.h"
#include "compiler/opt/opt.h"
#include "runtime/outfile.h"
#include "compiler/util/xalloc.h"

typedef struct predict_args {
  const char *model, *mu, *tau, *output, *layer;
  int compiled;
  uint32_t block_size;
} predict_args;

static const char predict_usage[] =
    "Usage: pmmc predict MODEL.yaml --mu MU.npy --time TAU.npy -o OUT.npy [OPTIONS]\n"
    "\n"
    "Evaluate the model's network alone: OUT[i] = network(MU[i], TAU[i]), the raw output of\n"
    "the output layer (before the pair's softmax or softplus).\n"
    "\n"
    "  --mu PATH            float32 .npy [N, *mu shape] (the data shape; [L, K] rows for\n"
    "                       dirichlet-categorical)\n"
    "  --time PATH          .npy [N] of tau values\n"
    "  -o, --output PATH    .npy [N, *output shape] to write\n"
    "  --engine KIND        interp (default) or compiled (LLVM, in process)\n"
    "  --layer NAME         return this layer instead of network.output\n"
    "  --block-size N       rows a block (default 64)\n"
    "  -h, --help           show this help\n";

static int predict_parse(int argc, char **argv, predict_args *a) {
  enum { OPT_MU = 256, OPT_TIME, OPT_ENGINE, OPT_LAYER, OPT_BLOCK };
  static const struct option opts[] = {{"mu", required_argument, NULL, OPT_MU},
                                       {"time", required_argument, NULL, OPT_TIME},
                                       {"output", required_argument, NULL, 'o'},
                                       {"engine", required_argument, NULL, OPT_ENGINE},
                                       {"layer", required_argument, NULL, OPT_LAYER},
                                       {"block-size", required_argument, NULL, OPT_BLOCK},
                                       {"help", no_argument, NULL, 'h'},
                                       {NULL, 0, NULL, 0}};
  memset(a, 0, sizeof *a);
  int c;
  optind = 0;
  opterr = 0;
  while ((c = getopt_long(argc, argv, ":o:h", opts, NULL)) != -1) {
    switch (c) {
    case OPT_MU: a->mu = optarg; break;
    case OPT_TIME: a->tau = optarg; break;
    case 'o': a->output = optarg; break;
    case OPT_LAYER: a->layer = optarg; break;
    case OPT_ENGINE:
      if (strcmp(optarg, "interp") != 0 && strcmp(optarg, "compiled") != 0)
        return driver_usage_error("unknown --engine '%s' (expected interp or compiled)", optarg);
      a->compiled = strcmp(optarg, "compiled") == 0;
      break;
    case OPT_BLOCK:
      if (driver_parse_block_size(optarg, &a->block_size) != 0)
        return driver_usage_error("--block-size: expected an integer from 1 to 65536, found '%s'",
                                  optarg);
      break;
    case 'h': fputs(predict_usage, stdout); return -1;
    case ':': return driver_usage_error("option '%s' needs a value", argv[optind - 1]);
    default: return driver_usage_error("unknown option '%s'", argv[optind - 1]);
    }
  }
  if (optind >= argc) return driver_usage_error("%s", "predict: missing MODEL.yaml");
  if (optind + 1 < argc)
    return driver_usage_error("predict: unexpected argument '%s'", argv[optind + 1]);
  a->model = argv[optind];
  if (!a->mu) return driver_usage_error("%s", "predict: missing --mu MU.npy");
  if (!a->tau) return driver_usage_error("%s", "predict: missing --time TAU.npy");
  if (!a->output) return driver_usage_error("%s", "predict: missing -o OUT.npy");
  return 0;
}

/* The network-only module of the model, optimised for the engine. */
static int predict_module(const predict_args *a, ir_module *m, tshape *mu) {
  model_spec spec;
  diag_list dl;
  diag_list_init(&dl);
  int rc = spec_load_flags(a->model, SPEC_LOAD_ANY_OUTPUT, &spec, &dl);
  if (rc == 0) {
    lower_options lo = {.block_size = a->block_size, .predict = 1, .output = a->layer};
    *mu = spec.pair == SPEC_PAIR_DIRICHLET_CATEGORICAL
              ? tshape_make(2, (uint32_t[]){spec.shape[0], spec.vocab_size})
              : tshape_make(spec.rank, spec.shape);
    rc = lower_model(&spec, &lo, m, &dl);
    spec_free(&spec);
  }
  diag_print(&dl, stderr);
  diag_list_free(&dl);
  if (rc != 0) return -1;
  char err[1024];
  opt_options o;
  opt_options_init(&o, a->compiled ? OPT_PIPELINE_COMPILED : OPT_PIPELINE_INTERPRETED);
  if (opt_run_pipeline(m, &o, err, sizeof err) != 0) {
    fprintf(stderr, "pmmc: error: %s\n", err);
    ir_module_free(m);
    return -1;
  }
  return 0;
}

/* The inputs, checked against the model: mu [N, *mu], tau [N] (or [N, 1]). */
static int predict_inputs(const predict_args *a, const tshape *mu, pmm_array *x, pmm_array *t) {
  char err[1024], want[TSHAPE_TEXT];
  memset(x, 0, sizeof *x);
  memset(t, 0, sizeof *t);
  if (pmm_npy_read(a->mu, x, err, sizeof err) != PMM_OK ||
      pmm_npy_read(a->tau, t, err, sizeof err) != PMM_OK) {
    fprintf(stderr, "pmmc: error: %s\n", err);
    return -1;
  }
  int ok = x->rank == mu->rank + 1 && x->shape[0] > 0;
  for (uint32_t d = 0; ok && d < mu->rank; d++) ok = x->shape[d + 1] == mu->dim[d];
  if (!ok) {
    fprintf(stderr, "pmmc: error: '%s' must have shape [N, %s for this model\n", a->mu,
            tshape_format(mu, want, sizeof want) + 1);
    return -1;
  }
  if (!(t->rank == 1 || (t->rank == 2 && t->shape[1] == 1)) || t->shape[0] != x->shape[0]) {
    fprintf(stderr, "pmmc: error: '%s' must have shape [%llu] (one tau per row of '%s')\n", a->tau,
            (unsigned long long)x->shape[0], a->mu);
    return -1;
  }
  return 0;
}

/* Run the module over all rows; out receives n * m->out_len floats. */
static int predict_run(const ir_module *m, pmm_run_block_fn run, void *user, const pmm_array *x,
                       const pmm_array *t, float *out) {
  size_t rows = m->block_size, n = (size_t)x->shape[0];
  float *arena = xmalloc_array((size_t)m->scratch_floats, sizeof *arena);
  float *res = xmalloc_array(rows, (size_t)m->out_len * sizeof *res);
  if (!arena || !res) {
    free(arena);
    free(res);
    fprintf(stderr, "pmmc: error: out of memory\n");
    return -1;
  }
  memset(arena, 0, (size_t)m->scratch_floats * sizeof *arena);
  int rc = pmm_predict_rows(run, user, rows, (size_t)m->state_offset, m->state_len - 1, m->out_len,
                            arena, res, x->data, t->data, n, out);
  if (rc != 0) fprintf(stderr, "pmmc: error: the network failed on a block (code %d)\n", rc);
  free(arena);
  free(res);
  return rc == 0 ? 0 : -1;
}

static int predict_write(const char *path, const ir_module *m, size_t n, const float *out) {
  uint64_t shape[5] = {n};
  for (uint32_t d = 0; d < m->rank; d++) shape[d + 1] = m->shape[d];
  char err[PATH_MAX + 128];
  pmm_outfile f;
  if (pmm_outfile_open(&f, path, err, sizeof err) != 0) {
    fprintf(stderr, "pmmc: error: %s\n", err);
    return -1;
  }
  size_t count = n * (size_t)m->out_len;
  if (pmm_npy_write_header(f.fp, m->rank + 1, shape) != PMM_OK ||
      fwrite(out, sizeof *out, count, f.fp) != count) {
    pmm_outfile_abort(&f);
    fprintf(stderr, "pmmc: error: cannot write '%s': %s\n", path, strerror(errno));
    return -1;
  }
  if (pmm_outfile_commit(&f, err, sizeof err) != 0) {
    fprintf(stderr, "pmmc: error: %s\n", err);
    return -1;
  }
  return 0;
}

/* Evaluate with the chosen engine; out holds n * out_len floats. */
static int predict_evaluate(const predict_args *a, const ir_module *m, const pmm_array *x,
                            const pmm_array *t, float *out) {
  char err[4096];
  if (!a->compiled) {
    interp *ip;
    if (interp_init(&ip, m, err, sizeof err) != 0) {
      fprintf(stderr, "pmmc: error: %s\n", err);
      return -1;
    }
    int rc = predict_run(m, interp_run_block, ip, x, t, out);
    interp_free(ip);
    return rc;
  }
  codegen_options co;
  codegen_options_init(&co);
  codegen_jit *jit;
  pmm_run_block_fn run;
  if (codegen_jit_compile(m, &co, &jit, &run, err, sizeof err) != 0) {
    fprintf(stderr, "pmmc: error: %s\n", err);
    return -1;
  }
  int rc = predict_run(m, run, NULL, x, t, out);
  codegen_jit_free(jit);
  return rc;
}

int driver_predict(int argc, char **argv) {
  predict_args a;
  int rc = predict_parse(argc, argv, &a);
  if (rc != 0) return rc < 0 ? 0 : rc;
  ir_module m;
  tshape mu;
  if (predict_module(&a, &m, &mu) != 0) return DRIVER_EXIT_BAD_INPUT;
  pmm_array x, t;
  float *out = NULL;
  rc = DRIVER_EXIT_BAD_INPUT;
  if (predict_inputs(&a, &mu, &x, &t) == 0) {
    size_t n = (size_t)x.shape[0];
    out = xmalloc_array(n, (size_t)m.out_len * sizeof *out);
    if (!out)
      fprintf(stderr, "pmmc: error: out of memory\n");
    else if (predict_evaluate(&a, &m, &x, &t, out) == 0 && predict_write(a.output, &m, n, out) == 0)
      rc = 0;
  }
  free(out);
  pmm_array_free(&x);
  pmm_array_free(&t);
  ir_module_free(&m);
  return rc;
}
