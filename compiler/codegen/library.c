/*
 * library.c - `pmmc build --emit=lib|shared|header`: a compiled model as a
 * library for someone else's program (docs/embedding.md).
 *
 * One LLVM module holds the sampler, the network alone (for NAME_predict),
 * the runtime as LLVM bitcode (pmmrt-embed-<arch>.bc, built from the
 * runtime's sources for each target) and the API wrappers of embed_api.c.
 * Everything but the wrappers is then made internal, so the optimiser drops
 * the runtime functions the model does not use and the object's only global
 * symbols are NAME_*: two models link into one program without clashing,
 * and the library needs no libpmmrt, no OpenBLAS (unless --gemm=blas) and
 * no linker tricks, for any target LLVM can emit.
 */
#include "config.h"

#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <llvm-c/BitReader.h>
#include <llvm-c/Linker.h>

#include "compiler/codegen/cg.h"
#include "compiler/codegen/embed_api.h"
#include "runtime/outfile.h"

#define LIB_SOVERSION "1"

/* ---- facts --------------------------------------------------------------- */

/* Everything the header states, and the code options, into the build id:
 * the FNV-1a of their text (pmm_weights_checksum, the weights' own hash). */
static void lib_build_id(embed_facts *x, const codegen_options *o) {
  const pmm_model_desc *d = &x->desc;
  char buf[4096];
  int n =
      snprintf(buf, sizeof buf,
               "%s%s%s%s%s%s %s %s %" PRIu64 " %" PRIu64 " %" PRIu64 " %" PRIu64 " %" PRIu64
               " %" PRIu64 " %" PRIu64 " %" PRIu64 " %" PRIu64 " %d %d %d",
               x->prefix, x->target, d->engine, d->weight_hash, d->schedule, d->pair, d->sampler,
               d->output, d->steps, d->sample_elems, d->block_size, x->workspace_bytes,
               x->predict_in_elems, x->predict_out_elems, x->predict_state_offset,
               d->shape[0] ^ d->shape[1] << 16 ^ d->shape[2] << 32 ^ d->shape[3] << 48,
               d->vocab_size, (int)o->gemm, o->opt_level, o->weights_external);
  size_t len = n < 0 ? 0 : (size_t)n < sizeof buf ? (size_t)n : sizeof buf - 1;
  snprintf(x->build_id, sizeof x->build_id, "%016" PRIx64, pmm_weights_checksum(buf, len));
}

static int lib_facts(embed_facts *x, const ir_module *m, const codegen_options *o,
                     const emit_target *t, char *engine, size_t engine_len, char *err,
                     size_t errlen) {
  memset(x, 0, sizeof *x);
  snprintf(engine, engine_len, "pmmc %s, LLVM %s, -O%d, %s", PACKAGE_VERSION, PMMC_LLVM_VERSION,
           o->opt_level, t->cpu);
  ir_describe(m, o->engine ? o->engine : engine, &x->desc);
  x->prefix = o->prefix ? o->prefix : m->name;
  x->target = t->triple;
  x->weights_external = o->weights_external;
  const ir_module *p = o->predict;
  if (p) {
    if (p->block_size != m->block_size || p->state_len < 1) {
      snprintf(err, errlen, "the network's module does not match the sampler's blocks");
      return -1;
    }
    x->has_predict = 1;
    x->predict_in_elems = p->state_len - 1;
    x->predict_out_elems = p->out_len;
    x->predict_scratch_bytes = p->scratch_floats * sizeof(float);
    x->predict_state_offset = p->state_offset;
  }
  size_t ws = pmm_embed_workspace_bytes(&x->desc, x->predict_scratch_bytes, x->predict_out_elems);
  if (ws == SIZE_MAX) {
    snprintf(err, errlen, "model '%s': a block's workspace does not fit in memory", m->name);
    return -1;
  }
  x->workspace_bytes = ws;
  lib_build_id(x, o);
  return 0;
}

/* ---- the LLVM module ------------------------------------------------------ */

/* One array of the weight region, for the external file's table. */
typedef struct lib_array {
  char name[PMM_WEIGHTS_NAME_BYTES];
  uint64_t offset, bytes;
} lib_array;

typedef struct lib_ctx {
  LLVMContextRef ctx;
  LLVMModuleRef mod;
  const emit_target *t;
  const embed_facts *x;
  char *err;
  size_t errlen;
  int external;        /* --weights=external */
  LLVMValueRef region; /* the weights, NULL when the model has none */
  char *blob;          /* the region's bytes (malloc'd) */
  size_t blob_bytes;
  uint64_t checksum;
  lib_array *arrays;
  size_t narrays;
} lib_ctx;

static int lib_fail_llvm(lib_ctx *l, const char *what, char *msg) {
  snprintf(l->err, l->errlen, "%s: %s", what, msg ? msg : "unknown error");
  LLVMDisposeMessage(msg);
  return -1;
}

/* The runtime's bitcode (o->embed_runtime, the driver found it for the
 * target), linked into l->mod. */
static int lib_link_runtime(lib_ctx *l, const char *path) {
  if (!path) {
    snprintf(l->err, l->errlen, "no runtime bitcode given to link the library with");
    return -1;
  }
  LLVMMemoryBufferRef buf;
  char *msg = NULL;
  if (LLVMCreateMemoryBufferWithContentsOfFile(path, &buf, &msg))
    return lib_fail_llvm(l, path, msg);
  LLVMModuleRef rt;
  int bad = LLVMParseBitcodeInContext2(l->ctx, buf, &rt);
  LLVMDisposeMemoryBuffer(buf);
  if (bad) {
    snprintf(l->err, l->errlen, "'%s' is not LLVM bitcode this LLVM reads", path);
    return -1;
  }
  LLVMSetTarget(rt, LLVMGetTarget(l->mod));
  LLVMSetDataLayout(rt, LLVMGetDataLayoutStr(l->mod));
  if (LLVMLinkModules2(l->mod, rt)) {
    snprintf(l->err, l->errlen, "cannot link the runtime '%s' into the model", path);
    return -1;
  }
  return 0;
}

static LLVMValueRef lib_string(lib_ctx *l, const char *s) {
  LLVMValueRef init = LLVMConstStringInContext(l->ctx, s, (unsigned)strlen(s), 0);
  LLVMValueRef g = LLVMAddGlobal(l->mod, LLVMTypeOf(init), "embed.str");
  LLVMSetInitializer(g, init);
  LLVMSetGlobalConstant(g, 1);
  LLVMSetLinkage(g, LLVMPrivateLinkage);
  LLVMSetUnnamedAddress(g, LLVMGlobalUnnamedAddr);
  return g;
}

/* The pmm_embed_def constant, in its field order. */
static LLVMValueRef lib_emit_def(lib_ctx *l, const ir_module *m, const ir_module *p) {
  char name[512];
  LLVMTypeRef i64 = LLVMInt64TypeInContext(l->ctx), ptr = LLVMPointerTypeInContext(l->ctx, 0);
  snprintf(name, sizeof name, "%s_desc", m->name);
  LLVMValueRef desc = LLVMGetNamedGlobal(l->mod, name), predict = LLVMConstPointerNull(ptr);
  if (p) {
    snprintf(name, sizeof name, "%s_run_block", p->name);
    predict = LLVMGetNamedFunction(l->mod, name);
  }
  if (!desc || !predict) {
    snprintf(l->err, l->errlen, "internal error: the model's descriptor or network is missing");
    return NULL;
  }
  const embed_facts *x = l->x;
  LLVMValueRef f[] = {
      LLVMConstInt(i64, PMM_EMBED_API_VERSION, 0),
      desc,
      lib_string(l, x->build_id),
      lib_string(l, x->target),
      predict,
      LLVMConstInt(i64, x->predict_in_elems, 0),
      LLVMConstInt(i64, x->predict_out_elems, 0),
      LLVMConstInt(i64, x->predict_scratch_bytes, 0),
      LLVMConstInt(i64, x->predict_state_offset, 0),
      LLVMConstInt(i64, x->workspace_bytes, 0),
      l->region ? l->region : LLVMConstPointerNull(ptr),
      LLVMConstInt(i64, l->blob_bytes, 0),
      LLVMConstInt(i64, l->checksum, 0),
      LLVMConstInt(i64, (unsigned long long)l->external, 0),
  };
  LLVMValueRef init = LLVMConstStructInContext(l->ctx, f, sizeof f / sizeof f[0], 0);
  LLVMValueRef g = LLVMAddGlobal(l->mod, LLVMTypeOf(init), "embed.def");
  LLVMSetInitializer(g, init);
  LLVMSetGlobalConstant(g, 1);
  LLVMSetLinkage(g, LLVMInternalLinkage);
  LLVMSetAlignment(g, 8);
  return g;
}

static LLVMTypeRef lib_kind_type(lib_ctx *l, char k) {
  switch (k) {
  case 'v': return LLVMVoidTypeInContext(l->ctx);
  case 'p': return LLVMPointerTypeInContext(l->ctx, 0);
  case 'z': return LLVMIntPtrTypeInContext(l->ctx, l->t->layout);
  case 'l': return LLVMInt64TypeInContext(l->ctx);
  default: return LLVMInt32TypeInContext(l->ctx); /* 'i', 'u' */
  }
}

/* 32-bit integers carry their C signedness for targets that extend them
 * in registers. */
static void lib_ext_attr(lib_ctx *l, LLVMValueRef fn, unsigned idx, char k) {
  const char *name = k == 'i' ? "signext" : k == 'u' ? "zeroext" : NULL;
  if (!name) return;
  unsigned id = LLVMGetEnumAttributeKindForName(name, strlen(name));
  LLVMAddAttributeAtIndex(fn, idx, LLVMCreateEnumAttribute(l->ctx, id, 0));
}

/* NAME_<suffix>(args) { return pmm_embed_<suffix>(&def, args); } */
static int lib_emit_wrapper(lib_ctx *l, const embed_api_fn *api, LLVMValueRef def) {
  char name[512];
  snprintf(name, sizeof name, "pmm_embed_%s", api->suffix);
  LLVMValueRef callee = LLVMGetNamedFunction(l->mod, name);
  size_t np = strlen(api->kinds) - 1;
  LLVMTypeRef ps[16];
  for (size_t i = 0; i < np; i++) ps[i] = lib_kind_type(l, api->kinds[i + 1]);
  LLVMTypeRef fty = LLVMFunctionType(lib_kind_type(l, api->kinds[0]), ps, (unsigned)np, 0);
  if (!callee || LLVMCountParams(callee) != np + 1) {
    snprintf(l->err, l->errlen, "the runtime's bitcode lacks %s (a runtime of another version?)",
             name);
    return -1;
  }
  snprintf(name, sizeof name, "%s_%s", l->x->prefix, api->suffix);
  LLVMValueRef fn = LLVMAddFunction(l->mod, name, fty);
  for (size_t i = 0; i <= np; i++) lib_ext_attr(l, fn, (unsigned)i, api->kinds[i]);
  LLVMBuilderRef b = LLVMCreateBuilderInContext(l->ctx);
  LLVMPositionBuilderAtEnd(b, LLVMAppendBasicBlockInContext(l->ctx, fn, "entry"));
  LLVMValueRef args[17] = {def};
  for (size_t i = 0; i < np; i++) args[i + 1] = LLVMGetParam(fn, (unsigned)i);
  LLVMValueRef r =
      LLVMBuildCall2(b, LLVMGlobalGetValueType(callee), callee, args, (unsigned)np + 1, "");
  if (api->kinds[0] == 'v')
    LLVMBuildRetVoid(b);
  else
    LLVMBuildRet(b, r);
  LLVMDisposeBuilder(b);
  return 0;
}

static int lib_is_api(const char *name, const char *const *api, size_t n) {
  for (size_t i = 0; i < n; i++)
    if (strcmp(name, api[i]) == 0) return 1;
  return 0;
}

static void lib_make_internal(LLVMValueRef g, const char *const *api, size_t n) {
  size_t len;
  if (LLVMIsDeclaration(g) || lib_is_api(LLVMGetValueName2(g, &len), api, n)) return;
  LLVMSetLinkage(g, LLVMInternalLinkage);
  LLVMSetVisibility(g, LLVMDefaultVisibility);
}

/* Every definition but those named in keep becomes internal. */
static int lib_internalise(lib_ctx *l, const char *const *keep, size_t n) {
  for (LLVMValueRef f = LLVMGetFirstFunction(l->mod); f; f = LLVMGetNextFunction(f))
    lib_make_internal(f, keep, n);
  for (LLVMValueRef g = LLVMGetFirstGlobal(l->mod); g; g = LLVMGetNextGlobal(g))
    lib_make_internal(g, keep, n);
  if (LLVMGetFirstGlobalAlias(l->mod)) {
    snprintf(l->err, l->errlen, "the runtime's bitcode defines aliases, which pmmc cannot hide");
    return -1;
  }
  return 0;
}

/* The names a phase keeps global: before the weights are packed, the
 * runtime's API functions and what the descriptor will point at (so the
 * optimiser keeps them); at the end, the library's API. */
typedef struct lib_names {
  char v[16][200];
  const char *list[16];
  size_t n;
} lib_names;

static void lib_names_add(lib_names *k, const char *a, const char *b, const char *c) {
  if (k->n >= 16) return;
  snprintf(k->v[k->n], sizeof k->v[k->n], "%s%s%s", a, b, c);
  k->list[k->n] = k->v[k->n];
  k->n++;
}

/* Whether g is one of the module's float arrays (emit_float_global: an
 * internal, constant, 64-byte aligned byte array). */
static int lib_is_weight(LLVMValueRef g) {
  LLVMValueRef init = LLVMGetInitializer(g);
  return init && LLVMIsGlobalConstant(g) && LLVMGetLinkage(g) == LLVMInternalLinkage &&
         LLVMGetAlignment(g) == 64 && LLVMIsAConstantDataArray(init) && LLVMIsConstantString(init);
}

/* The float arrays that survived optimisation, one after another (each at
 * a multiple of 64 bytes) in one 64-byte aligned region, `<prefix>.weights`:
 * the weights sit together in the object, whatever order LLVM lays out its
 * globals in, and can as well live in a file (--weights=external; the
 * region is then zeros the first open fills).  Done once arrays no code
 * refers to are gone, and before optimisation, so that the runtime is
 * optimised knowing the region's size and checksum. */
static int lib_pack_weights(lib_ctx *l) {
  size_t total = 0, n = 0, len;
  for (LLVMValueRef g = LLVMGetFirstGlobal(l->mod); g; g = LLVMGetNextGlobal(g)) {
    if (!lib_is_weight(g)) continue;
    LLVMGetAsString(LLVMGetInitializer(g), &len);
    if (len > (size_t)INT32_MAX - 64 - total) {
      snprintf(l->err, l->errlen,
               "the model's weights exceed the 2 GiB one object can address with the default "
               "code model");
      return -1;
    }
    total += (len + 63) / 64 * 64;
    n++;
  }
  if (n == 0) return 0;
  LLVMValueRef *old = calloc(n, sizeof *old);
  l->blob = calloc(total, 1);
  l->arrays = calloc(n, sizeof *l->arrays);
  if (!l->blob || !old || !l->arrays) {
    free(old);
    snprintf(l->err, l->errlen, "out of memory");
    return -1;
  }
  size_t at = 0;
  for (LLVMValueRef g = LLVMGetFirstGlobal(l->mod); g; g = LLVMGetNextGlobal(g)) {
    if (!lib_is_weight(g)) continue;
    const char *data = LLVMGetAsString(LLVMGetInitializer(g), &len);
    memcpy(l->blob + at, data, len);
    lib_array *a = &l->arrays[l->narrays];
    snprintf(a->name, sizeof a->name, "%s", LLVMGetValueName2(g, &len));
    a->offset = at;
    LLVMGetAsString(LLVMGetInitializer(g), &len);
    a->bytes = len;
    old[l->narrays++] = g;
    at += (len + 63) / 64 * 64;
  }
  l->blob_bytes = total;
  l->checksum = pmm_weights_checksum(l->blob, total);
  char name[160];
  snprintf(name, sizeof name, "%s.weights", l->x->prefix);
  LLVMTypeRef i8 = LLVMInt8TypeInContext(l->ctx), i64 = LLVMInt64TypeInContext(l->ctx);
  LLVMValueRef init = l->external ? LLVMConstNull(LLVMArrayType2(i8, total))
                                  : LLVMConstStringInContext2(l->ctx, l->blob, total, 1);
  LLVMValueRef w = LLVMAddGlobal(l->mod, LLVMTypeOf(init), name);
  LLVMSetInitializer(w, init);
  LLVMSetGlobalConstant(w, !l->external);
  LLVMSetLinkage(w, LLVMInternalLinkage);
  LLVMSetAlignment(w, 64);
  for (size_t i = 0; i < n; i++) {
    LLVMValueRef idx = LLVMConstInt(i64, l->arrays[i].offset, 0);
    LLVMReplaceAllUsesWith(old[i], LLVMConstInBoundsGEP2(i8, w, &idx, 1));
    LLVMDeleteGlobal(old[i]);
  }
  free(old);
  l->region = w;
  return 0;
}

/* Sampler, network, runtime and wrappers in one optimised module: what
 * nothing refers to dropped (the runtime's API and the descriptor kept), the
 * weights packed, then the descriptor of the library and its wrappers,
 * everything else made internal and the optimisation, which specialises the
 * runtime to this library. */
static int lib_build_module(lib_ctx *l, const ir_module *m, const codegen_options *o) {
  codegen_report *rep = malloc(sizeof *rep);
  if (!rep) {
    snprintf(l->err, l->errlen, "out of memory");
    return -1;
  }
  int rc = cg_build_unoptimised(m, o, l->t, l->ctx, &l->mod, rep, l->err, l->errlen);
  if (rc == 0 && o->predict) {
    LLVMModuleRef pm;
    rc = cg_build_unoptimised(o->predict, o, l->t, l->ctx, &pm, rep, l->err, l->errlen);
    if (rc == 0 && LLVMLinkModules2(l->mod, pm)) {
      snprintf(l->err, l->errlen, "cannot link the network's module into the sampler's");
      rc = -1;
    }
  }
  free(rep);
  if (rc == 0) rc = lib_link_runtime(l, o->embed_runtime);
  size_t n;
  const embed_api_fn *api = embed_api_list(&n);
  lib_names keep = {.n = 0};
  for (size_t i = 0; i < n; i++) lib_names_add(&keep, "pmm_embed_", api[i].suffix, "");
  lib_names_add(&keep, m->name, "_desc", "");
  if (o->predict) lib_names_add(&keep, o->predict->name, "_run_block", "");
  /* Identical arrays of the sampler and the network merged, then arrays no
   * code refers to (a layer's raw weights when its kernel reads a packed
   * copy) and runtime functions the model does not call dropped. */
  if (rc == 0) rc = lib_internalise(l, keep.list, keep.n);
  if (rc == 0) rc = emit_module_passes(l->t, l->mod, "constmerge,globaldce", 0, l->err, l->errlen);
  if (rc == 0) rc = lib_pack_weights(l);
  LLVMValueRef def = rc == 0 ? lib_emit_def(l, m, o->predict) : NULL;
  for (size_t i = 0; def && i < n && rc == 0; i++) rc = lib_emit_wrapper(l, &api[i], def);
  if (rc == 0 && !def) rc = -1;
  lib_names exported = {.n = 0};
  for (size_t i = 0; i < n; i++) lib_names_add(&exported, l->x->prefix, "_", api[i].suffix);
  if (rc == 0) rc = lib_internalise(l, exported.list, exported.n);
  if (rc == 0) rc = emit_module_optimise(l->t, l->mod, o->opt_level, l->err, l->errlen);
  return rc;
}

/* ---- files ---------------------------------------------------------------- */

/* DIR/NAME. */
static int lib_path(char *buf, size_t len, const char *dir, const char *pre, const char *name,
                    const char *suf, char *err, size_t errlen) {
  if ((size_t)snprintf(buf, len, "%s/%s%s%s", dir, pre, name, suf) < len) return 0;
  snprintf(err, errlen, "output path too long: %s", dir);
  return -1;
}

typedef int (*lib_writer)(FILE *f, const void *arg);

static int lib_write_text(const char *path, lib_writer w, const void *arg, char *err,
                          size_t errlen) {
  pmm_outfile f;
  if (pmm_outfile_open(&f, path, err, errlen) != 0) return -1;
  int rc = w(f.fp, arg);
  if (rc != 0) snprintf(err, errlen, "cannot write '%s'", path);
  return pmm_outfile_finish(&f, rc, err, errlen);
}

static int lib_header_writer(FILE *f, const void *arg) { return embed_write_header(f, arg); }

typedef struct lib_pc {
  const embed_facts *x;
  const char *libs;
} lib_pc;

static int lib_pc_writer(FILE *f, const void *arg) {
  const lib_pc *p = arg;
  return embed_write_pc(f, p->x, PACKAGE_VERSION, p->libs);
}

static int lib_map_writer(FILE *f, const void *arg) {
  const embed_facts *x = arg;
  size_t n;
  const embed_api_fn *api = embed_api_list(&n);
  fputs("{\n  global:\n", f);
  for (size_t i = 0; i < n; i++) fprintf(f, "    %s_%s;\n", x->prefix, api[i].suffix);
  fputs("  local: *;\n};\n", f);
  return ferror(f) ? -1 : 0;
}

static void lib_put_u32(unsigned char *p, uint32_t v) {
  for (int i = 0; i < 4; i++) p[i] = (unsigned char)(v >> (8 * i));
}

static void lib_put_u64(unsigned char *p, uint64_t v) {
  lib_put_u32(p, (uint32_t)v);
  lib_put_u32(p + 4, (uint32_t)(v >> 32));
}

/* <prefix>.weights (runtime/embed.h gives the layout). */
static int lib_weights_writer(FILE *f, const void *arg) {
  const lib_ctx *l = arg;
  uint64_t table = (uint64_t)l->narrays * PMM_WEIGHTS_ENTRY_BYTES;
  uint64_t data_offset = (PMM_WEIGHTS_HEADER_BYTES + table + 63) / 64 * 64;
  unsigned char h[PMM_WEIGHTS_HEADER_BYTES] = {0}, e[PMM_WEIGHTS_ENTRY_BYTES];
  memcpy(h, PMM_WEIGHTS_MAGIC, sizeof PMM_WEIGHTS_MAGIC);
  lib_put_u32(h + 8, PMM_WEIGHTS_VERSION);
  /* the byte-order mark in the target's order, which is the data's */
  int little = LLVMByteOrder(l->t->layout) == LLVMLittleEndian;
  for (int i = 0; i < 4; i++) h[12 + i] = (unsigned char)(little ? 4 - i : 1 + i);
  lib_put_u64(h + 16, data_offset);
  lib_put_u64(h + 24, l->blob_bytes);
  lib_put_u64(h + 32, l->checksum);
  memcpy(h + 40, l->x->build_id, 16);
  lib_put_u32(h + 56, (uint32_t)l->narrays);
  fwrite(h, 1, sizeof h, f);
  for (size_t i = 0; i < l->narrays; i++) {
    memset(e, 0, sizeof e);
    lib_put_u64(e, l->arrays[i].offset);
    lib_put_u64(e + 8, l->arrays[i].bytes);
    memcpy(e + 16, l->arrays[i].name, strnlen(l->arrays[i].name, PMM_WEIGHTS_NAME_BYTES));
    fwrite(e, 1, sizeof e, f);
  }
  for (uint64_t at = PMM_WEIGHTS_HEADER_BYTES + table; at < data_offset; at++) fputc(0, f);
  fwrite(l->blob, 1, l->blob_bytes, f);
  return ferror(f) ? -1 : 0;
}

/* lib<p>.so -> soname (lib<p>.so.<major>), made in w and renamed into
 * place, so that an existing link is replaced at once. */
static int lib_symlink(pmm_workdir *w, const char *dir, const char *prefix, const char *soname,
                       char *err, size_t errlen) {
  char link[PATH_MAX], tmp[PATH_MAX];
  if (lib_path(link, sizeof link, dir, "lib", prefix, ".so", err, errlen) != 0 ||
      pmm_workdir_file(w, "link", tmp, sizeof tmp, err, errlen) != 0)
    return -1;
  if (symlink(soname, tmp) != 0 || rename(tmp, link) != 0) {
    snprintf(err, errlen, "cannot make the symbolic link '%s': %s", link, strerror(errno));
    return -1;
  }
  return 0;
}

/* The library's object in a work directory beside the library (so the
 * archive member is called <prefix>.o), then the library made from it there
 * by llvm-ar or the linker, put in place as lib<p>.a or lib<p>.so.<major>;
 * a shared one also gets the link lib<p>.so. */
static int lib_write_binary(lib_ctx *l, const codegen_options *o, const char *libs) {
  const char *prefix = l->x->prefix;
  char path[PATH_MAX], obj[PATH_MAX], built[PATH_MAX], map[PATH_MAX], soname[512], name[128];
  int shared = o->emit == CODEGEN_EMIT_SHARED;
  snprintf(soname, sizeof soname, "lib%s.so.%s", prefix, LIB_SOVERSION);
  if (lib_path(path, sizeof path, o->output, shared ? "" : "lib", shared ? soname : prefix,
               shared ? "" : ".a", l->err, l->errlen) != 0)
    return -1;
  pmm_outfile out, f;
  if (pmm_outfile_open(&out, path, l->err, l->errlen) != 0) return -1;
  pmm_workdir w;
  if (pmm_workdir_make(&w, &out, l->err, l->errlen) != 0) {
    pmm_outfile_abort(&out);
    return -1;
  }
  snprintf(name, sizeof name, "%s.o", prefix);
  int rc = pmm_workdir_file(&w, name, obj, sizeof obj, l->err, l->errlen);
  if (rc == 0) rc = pmm_workdir_file(&w, "lib.out", built, sizeof built, l->err, l->errlen);
  if (rc == 0 && shared)
    rc = pmm_workdir_file(&w, "exports.map", map, sizeof map, l->err, l->errlen);
  uint64_t code_bytes;
  if (rc == 0 && (rc = pmm_outfile_open(&f, obj, l->err, l->errlen)) == 0)
    rc = pmm_outfile_finish(
        &f, emit_object_measured(l->t, l->mod, f.fp, path, &code_bytes, l->err, l->errlen), l->err,
        l->errlen);
  if (rc == 0 && !shared) rc = codegen_archive(obj, built, path, l->err, l->errlen);
  if (rc == 0 && shared) rc = lib_write_text(map, lib_map_writer, l->x, l->err, l->errlen);
  if (rc == 0 && shared)
    rc = codegen_link_shared(obj, built, path, soname, map, libs, l->err, l->errlen);
  if (rc == 0) rc = pmm_outfile_adopt(&out, built, l->err, l->errlen);
  rc = pmm_outfile_finish(&out, rc, l->err, l->errlen);
  if (rc == 0 && shared) rc = lib_symlink(&w, o->output, prefix, soname, l->err, l->errlen);
  pmm_workdir_remove(&w);
  return rc;
}

static int lib_check_options(const codegen_options *o, const char *prefix, char *err,
                             size_t errlen) {
  int ok = prefix && (isalpha((unsigned char)prefix[0]) || prefix[0] == '_');
  for (const char *p = prefix; ok && *p; p++) ok = isalnum((unsigned char)*p) || *p == '_';
  if (!ok || strlen(prefix) > 64) {
    snprintf(err, errlen, "--name '%s' is not a C identifier of at most 64 characters",
             prefix ? prefix : "");
    return -1;
  }
  /* The directory is made if missing (not its parents: a typo in them
   * should not silently create a tree). */
  struct stat st;
  if (mkdir(o->output, 0777) != 0 && errno != EEXIST) {
    snprintf(err, errlen, "cannot make the directory '%s': %s", o->output, strerror(errno));
    return -1;
  }
  if (stat(o->output, &st) != 0 || !S_ISDIR(st.st_mode)) {
    snprintf(err, errlen, "-o '%s': a library is written into a directory, and this is not one",
             o->output);
    return -1;
  }
  return 0;
}

int cg_compile_library(const ir_module *m, const codegen_options *o, const struct timespec *start,
                       char *err, size_t errlen) {
  (void)start;
  if (lib_check_options(o, o->prefix ? o->prefix : m->name, err, errlen) != 0) return -1;
  emit_target t;
  if (emit_target_init(&t, o, err, errlen) != 0) return -1;
  embed_facts x;
  char engine[512], path[4096];
  int rc = lib_facts(&x, m, o, &t, engine, sizeof engine, err, errlen);
  if (rc == 0 && o->emit != CODEGEN_EMIT_HEADER) {
    lib_ctx l = {.ctx = LLVMContextCreate(),
                 .t = &t,
                 .x = &x,
                 .err = err,
                 .errlen = errlen,
                 .external = o->weights_external};
    rc = lib_build_module(&l, m, o);
    /* A library that calls OpenBLAS (--gemm=blas) must say so to its linker. */
    int blas = rc == 0 && LLVMGetNamedFunction(l.mod, "cblas_sgemm") != NULL;
    const char *libs = blas ? PMMC_BLAS_LIBS " -lm -pthread" : "-lm -pthread";
    if (rc == 0) rc = lib_write_binary(&l, o, libs);
    lib_pc pc = {&x, libs};
    if (rc == 0)
      rc = lib_path(path, sizeof path, o->output, "", x.prefix, ".pc", err, errlen) ||
           lib_write_text(path, lib_pc_writer, &pc, err, errlen);
    if (rc == 0 && l.external)
      rc = lib_path(path, sizeof path, o->output, "", x.prefix, ".weights", err, errlen) ||
           lib_write_text(path, lib_weights_writer, &l, err, errlen);
    free(l.blob);
    free(l.arrays);
    if (l.mod) LLVMDisposeModule(l.mod);
    LLVMContextDispose(l.ctx);
  }
  if (rc == 0)
    rc = lib_path(path, sizeof path, o->output, "", x.prefix, ".h", err, errlen) ||
         lib_write_text(path, lib_header_writer, &x, err, errlen);
  emit_target_free(&t);
  return rc ? -1 : 0;
}
