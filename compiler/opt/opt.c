/*
 * opt.c - the pass pipeline (see opt.h): which passes run, in which order,
 * with a verification after each and the dumps --dump-after asks for.
 */
#include "compiler/opt/opt.h"

#include <string.h>

static const opt_pass opt_passes[] = {
    {"shapes", "infer and check every value's length and uniformity", opt_infer_shapes},
    {"fold", "fold uniform values into per-step tables and constant tensors", opt_fold_constants},
    {"dce", "drop instructions and module data no result needs", opt_eliminate_dead_code},
    {"fuse", "fuse elementwise chains and GEMM epilogues", opt_fuse_elementwise},
    {"plan", "assign arena offsets from liveness", opt_plan_memory},
};
#define OPT_NPASSES (sizeof opt_passes / sizeof opt_passes[0])

/* Pipelines by name list; "dce" runs again after fusion to drop the
 * instructions fusion absorbed. */
static const char *const opt_pipelines[OPT_PIPELINE_COUNT] = {
    [OPT_PIPELINE_COMPILED] = "shapes,fold,dce,fuse,dce,plan",
    [OPT_PIPELINE_INTERPRETED] = "shapes,fold,dce,plan",
};

void opt_options_init(opt_options *o, opt_pipeline pipeline) {
  memset(o, 0, sizeof *o);
  o->pipeline = pipeline;
  o->dump = stderr;
}

const opt_pass *opt_list_passes(size_t *count) {
  *count = OPT_NPASSES;
  return opt_passes;
}

const char *opt_pipeline_passes(opt_pipeline pipeline) {
  return (unsigned)pipeline < OPT_PIPELINE_COUNT ? opt_pipelines[pipeline] : NULL;
}

const opt_pass *opt_find_pass(const char *name) { return opt_find_pass_n(name, strlen(name)); }

const opt_pass *opt_find_pass_n(const char *name, size_t len) {
  for (size_t i = 0; i < OPT_NPASSES; i++)
    if (strlen(opt_passes[i].name) == len && strncmp(opt_passes[i].name, name, len) == 0)
      return &opt_passes[i];
  return NULL;
}

/* Run one pass, verify, and dump when asked. */
static int opt_run_pass(ir_module *m, const opt_options *o, const opt_pass *p, char *err,
                        size_t errlen) {
  char why[512];
  if (p->run(m, why, sizeof why) != 0) {
    snprintf(err, errlen, "pass '%s': %s", p->name, why);
    return -1;
  }
  if (ir_verify(m, why, sizeof why) != 0) {
    snprintf(err, errlen, "internal error: pass '%s' left invalid IR: %s", p->name, why);
    return -1;
  }
  if (o->dump_after && (strcmp(o->dump_after, "all") == 0 || strcmp(o->dump_after, p->name) == 0)) {
    FILE *out = o->dump ? o->dump : stderr;
    fprintf(out, "; IR after pass '%s'\n", p->name);
    ir_print(m, out);
  }
  return 0;
}

/* The passes of a comma-separated list, checked before anything runs. */
static int opt_parse_list(const char *list, const opt_pass **out, size_t *n, size_t cap, char *err,
                          size_t errlen) {
  *n = 0;
  const char *s = list;
  while (*s) {
    size_t len = strcspn(s, ",");
    const opt_pass *p = opt_find_pass_n(s, len);
    if (!p) {
      snprintf(err, errlen, "unknown pass '%.*s' (passes: shapes, fold, dce, fuse, plan)", (int)len,
               s);
      return -1;
    }
    if (*n == cap) {
      snprintf(err, errlen, "pass list '%s' is too long", list);
      return -1;
    }
    out[(*n)++] = p;
    s += len;
    if (*s == ',') s++;
  }
  return 0;
}

int opt_run_pipeline(ir_module *m, const opt_options *o, char *err, size_t errlen) {
  enum { OPT_MAX_RUN = 32 };
  const opt_pass *run[OPT_MAX_RUN + 2];
  size_t n = 0;
  if ((unsigned)o->pipeline >= OPT_PIPELINE_COUNT) {
    snprintf(err, errlen, "unknown pipeline %d", (int)o->pipeline);
    return -1;
  }
  if (o->dump_after && strcmp(o->dump_after, "all") != 0 && !opt_find_pass(o->dump_after)) {
    snprintf(err, errlen,
             "--dump-after: unknown pass '%s' (passes: shapes, fold, dce, fuse, "
             "plan, or all)",
             o->dump_after);
    return -1;
  }
  const char *list = o->passes ? o->passes : opt_pipelines[o->pipeline];
  if (opt_parse_list(list, run + 1, &n, OPT_MAX_RUN, err, errlen) != 0) return -1;
  /* a user's list gets the passes every consumer relies on */
  const opt_pass *shapes = opt_find_pass("shapes"), *plan = opt_find_pass("plan");
  const opt_pass **first = run + 1;
  if (n == 0 || first[0] != shapes) {
    run[0] = shapes;
    first = run;
    n++;
  }
  if (first[n - 1] != plan) first[n++] = plan;
  for (size_t i = 0; i < n; i++)
    if (opt_run_pass(m, o, first[i], err, errlen) != 0) return -1;
  return 0;
}
