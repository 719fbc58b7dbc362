/*
 * header.c - the C header and the pkg-config file of a library built with
 * --emit=lib|shared|header.  The header depends only on the build's facts
 * (embed_facts), never on when or how fast it was built, so every mode
 * writes the same bytes.
 */
#include "compiler/codegen/embed_api.h"

#include <ctype.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

/* Print template t expanded for x's prefix; -1 when out of memory. */
static int hdr_put(FILE *f, const embed_facts *x, const char *t) {
  char *s = embed_expand(t, x->prefix);
  if (!s) return -1;
  fputs(s, f);
  free(s);
  return 0;
}

/* A C string literal of s (escaped; non-ASCII bytes as octal escapes). */
static void hdr_string(FILE *f, const char *s) {
  fputc('"', f);
  for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
    if (*p == '"' || *p == '\\')
      fprintf(f, "\\%c", *p);
    else if (*p < 0x20 || *p >= 0x7f)
      fprintf(f, "\\%03o", *p);
    else
      fputc(*p, f);
  }
  fputc('"', f);
}

/* A comment block from text whose lines are separated by \n. */
static void hdr_comment(FILE *f, const char *text) {
  fputs("/* ", f);
  for (const char *p = text; *p; p++) {
    fputc(*p, f);
    if (*p == '\n') fputs(" * ", f);
  }
  fputs(" */\n", f);
}

static const char hdr_usage[] =
    "/*\n"
    " * {p}.h - the PMM model '{p}' compiled by pmmc, as a C library.\n"
    " *\n"
    " *     #include \"{p}.h\"\n"
    " *\n"
    " *     {p}_model *model;\n"
    " *     char err[256];\n"
    " *     {p}_params params;\n"
    " *     {p}_params_init(&params);             // checks this header against the library\n"
    " *     if ({p}_open(&params, &model, err, sizeof err) != {P}_OK) { puts(err); return 1; }\n"
    " *     static float out[16 * {P}_SAMPLE_ELEMS];\n"
    " *     void *ws = aligned_alloc({P}_WORKSPACE_ALIGN, {P}_WORKSPACE_BYTES);\n"
    " *     {p}_status st = {p}_sample(model, ws, {P}_WORKSPACE_BYTES, 42, 0, 16, out, 16 * "
    "{P}_SAMPLE_ELEMS);\n"
    " *     if (st != {P}_OK) puts({p}_status_string(st));\n"
    " *     free(ws);\n"
    " *     {p}_close(model);\n"
    " *\n"
    " * Link with -l{p} (pkg-config {p}).  Every function returns a status and\n"
    " * checks its arguments; none aborts, exits or changes process-wide state.\n"
    " * For dirichlet-categorical models a sample holds symbol indices as floats\n"
    " * ({p}_info.vocab lists the symbols).\n"
    " */\n"
    "#ifndef {P}_H\n"
    "#define {P}_H\n"
    "\n"
    "#include <stddef.h>\n"
    "#include <stdint.h>\n"
    "#include <string.h>\n"
    "\n"
    "#ifdef __cplusplus\n"
    "extern \"C\" {\n"
    "#endif\n"
    "\n";

static const char hdr_types[] =
    "\n"
    "typedef int32_t {p}_status;\n"
    "typedef struct {p}_model {p}_model; /* opaque */\n"
    "\n"
    "/* Options of {p}_open; start from {p}_params_init. */\n"
    "typedef struct {p}_params {\n"
    "  uint32_t struct_size; /* sizeof({p}_params) */\n"
    "  uint32_t api_version; /* {P}_API_VERSION */\n"
    "  const char *build_id; /* {P}_BUILD_ID: this header's build */\n"
    "  void *(*alloc)(void *ctx, size_t bytes, size_t align); /* NULL: the C library's */\n"
    "  void (*free)(void *ctx, void *p);                      /* given with alloc */\n"
    "  void *alloc_ctx;\n"
    "  /* {P}_WEIGHTS_EXTERNAL: the {p}.weights file pmmc wrote, as its bytes\n"
    "   * (weights_data, weights_size) or its path; ignored otherwise */\n"
    "  const void *weights_data;\n"
    "  uint64_t weights_size;\n"
    "  const char *weights_path;\n"
    "} {p}_params;\n"
    "\n"
    "static inline void {p}_params_init({p}_params *params) {\n"
    "  memset(params, 0, sizeof *params);\n"
    "  params->struct_size = (uint32_t)sizeof *params;\n"
    "  params->api_version = {P}_API_VERSION;\n"
    "  params->build_id = {P}_BUILD_ID;\n"
    "}\n"
    "\n"
    "typedef struct {p}_info {\n"
    "  const char *name, *pair, *sampler, *output, *schedule, *engine, *target, *weight_hash;\n"
    "  const char *vocab; /* dirichlet-categorical: the symbols (UTF-8), else NULL */\n"
    "  const char *build_id;\n"
    "  uint64_t steps, rank, shape[4], sample_elems, block_size;\n"
    "  uint64_t workspace_bytes, workspace_align, weight_bytes, flops_per_sample, vocab_size;\n"
    "  int64_t pad_symbol; /* dirichlet-categorical: the padding symbol, else -1 */\n"
    "  uint64_t predict_in_elems, predict_out_elems; /* 0 without a network */\n"
    "  double range_lo, range_hi;\n"
    "} {p}_info;\n";

static void hdr_macro_u64(FILE *f, const char *prefix_uc, const char *name, uint64_t v,
                          const char *doc) {
  fprintf(f, "#define %s_%s UINT64_C(%" PRIu64 ")", prefix_uc, name, v);
  if (doc) fprintf(f, " /* %s */", doc);
  fputc('\n', f);
}

static void hdr_macros(FILE *f, const embed_facts *x, const char *uc) {
  const pmm_model_desc *d = &x->desc;
  fprintf(f, "#define %s_API_VERSION %uu\n", uc, PMM_EMBED_API_VERSION);
  fprintf(f, "#define %s_BUILD_ID ", uc);
  hdr_string(f, x->build_id);
  fprintf(f, "\n#define %s_WEIGHT_HASH ", uc);
  hdr_string(f, d->weight_hash);
  fprintf(f, "\n#define %s_PAIR ", uc);
  hdr_string(f, d->pair);
  fputc('\n', f);
  hdr_macro_u64(f, uc, "STEPS", d->steps, NULL);
  hdr_macro_u64(f, uc, "BLOCK_SIZE", d->block_size, "samples computed together");
  hdr_macro_u64(f, uc, "SAMPLE_RANK", d->rank, NULL);
  for (uint64_t i = 0; i < d->rank && i < 4; i++) {
    char name[32];
    snprintf(name, sizeof name, "SAMPLE_SHAPE_%" PRIu64, i);
    hdr_macro_u64(f, uc, name, d->shape[i], NULL);
  }
  hdr_macro_u64(f, uc, "SAMPLE_ELEMS", d->sample_elems, "floats a sample");
  hdr_macro_u64(f, uc, "WORKSPACE_BYTES", x->workspace_bytes, NULL);
  fprintf(f, "#define %s_WORKSPACE_ALIGN %uu\n", uc, PMM_EMBED_WORKSPACE_ALIGN);
  hdr_macro_u64(f, uc, "WEIGHT_BYTES", d->weight_bytes, NULL);
  fprintf(f, "#define %s_WEIGHTS_EXTERNAL %d /* 1: %s_open needs the %s.weights file */\n", uc,
          x->weights_external, x->prefix, x->prefix);
  hdr_macro_u64(f, uc, "FLOPS_PER_SAMPLE", d->flops_per_sample, NULL);
  hdr_macro_u64(f, uc, "VOCAB_SIZE", d->vocab_size, "dirichlet-categorical: symbols, else 0");
  hdr_macro_u64(f, uc, "PREDICT_IN_ELEMS", x->has_predict ? x->predict_in_elems : 0,
                "floats of mu a row for _predict, 0 without a network");
  hdr_macro_u64(f, uc, "PREDICT_OUT_ELEMS", x->has_predict ? x->predict_out_elems : 0, NULL);
  fputc('\n', f);
#define PMM_EMBED_STATUS(suffix, value, message)                                                   \
  fprintf(f, "#define %s_%s %d /* %s */\n", uc, #suffix, value, message);
#include "runtime/embed_status.def"
#undef PMM_EMBED_STATUS
}

static int hdr_prototypes(FILE *f, const embed_facts *x) {
  size_t n;
  const embed_api_fn *api = embed_api_list(&n);
  for (size_t i = 0; i < n; i++) {
    char *doc = embed_expand(api[i].doc, x->prefix);
    if (!doc) return -1;
    fputc('\n', f);
    hdr_comment(f, doc);
    free(doc);
    if (hdr_put(f, x, api[i].ret) != 0) return -1;
    fprintf(f, "%s%s_%s(", api[i].ret[strlen(api[i].ret) - 1] == '*' ? "" : " ", x->prefix,
            api[i].suffix);
    if (hdr_put(f, x, api[i].params) != 0) return -1;
    fputs(");\n", f);
  }
  return 0;
}

int embed_write_header(FILE *f, const embed_facts *x) {
  size_t len = strlen(x->prefix);
  char *uc = malloc(len + 1);
  if (!uc) return -1;
  for (size_t i = 0; i <= len; i++) uc[i] = (char)toupper((unsigned char)x->prefix[i]);
  int rc = hdr_put(f, x, hdr_usage);
  if (rc == 0) {
    hdr_macros(f, x, uc);
    rc = hdr_put(f, x, hdr_types);
  }
  if (rc == 0) rc = hdr_prototypes(f, x);
  fprintf(f, "\n#ifdef __cplusplus\n}\n#endif\n#endif /* %s_H */\n", uc);
  free(uc);
  return rc == 0 && !ferror(f) ? 0 : -1;
}

int embed_write_pc(FILE *f, const embed_facts *x, const char *version, const char *libs_private) {
  fprintf(f,
          "# pkg-config file of the PMM model library '%s' (pmmc --emit=lib|shared).\n"
          "# Paths are relative to this file: keep it beside lib%s and %s.h.\n"
          "libdir=${pcfiledir}\n"
          "includedir=${pcfiledir}\n"
          "\n"
          "Name: %s\n"
          "Description: PMM model %s (%s) compiled by pmmc\n"
          "Version: %s\n"
          "Cflags: -I${includedir}\n"
          "Libs: -L${libdir} -l%s\n"
          "Libs.private: %s\n",
          x->prefix, x->prefix, x->prefix, x->prefix, x->desc.name, x->desc.pair, version,
          x->prefix, libs_private);
  return ferror(f) ? -1 : 0;
}
