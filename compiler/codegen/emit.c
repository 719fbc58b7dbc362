/*
 * emit.c - target machine, optimisation pipeline and output files for the
 * LLVM back end (see emit.h).
 *
 * Every string LLVM hands us (triples, CPU names, error messages, printed
 * modules) is copied or printed and then disposed at once, so no LLVM
 * allocation outlives the call that made it.
 *
 * Only C API calls present from LLVM 15 on are used (opaque pointers, the
 * new pass manager's LLVMRunPasses), so any LLVM configure accepts works.
 */
#include "compiler/codegen/emit.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <llvm-c/Analysis.h>
#include <llvm-c/Error.h>
#include <llvm-c/Object.h>
#include <llvm-c/Transforms/PassBuilder.h>

#include "compiler/util/xalloc.h"

/* Copy an LLVM message into err (prefixed) and dispose of it. */
static void emit_take_message(char *msg, const char *what, char *err, size_t errlen) {
  snprintf(err, errlen, "%s: %s", what, msg ? msg : "unknown LLVM error");
  if (msg) LLVMDisposeMessage(msg);
}

/* A malloc'd copy of an LLVM-allocated string, which is disposed. */
static char *emit_own_message(char *msg) {
  if (!msg) return NULL;
  char *copy = xstrdup(msg);
  LLVMDisposeMessage(msg);
  return copy;
}

static LLVMCodeGenOptLevel emit_codegen_level(int opt_level) {
  switch (opt_level) {
  case 0: return LLVMCodeGenLevelNone;
  case 1: return LLVMCodeGenLevelLess;
  case 2: return LLVMCodeGenLevelDefault;
  default: return LLVMCodeGenLevelAggressive;
  }
}

int emit_target_init(emit_target *t, const codegen_options *o, char *err, size_t errlen) {
  memset(t, 0, sizeof *t);
  if (o->opt_level < 0 || o->opt_level > 3) {
    snprintf(err, errlen, "optimisation level %d out of range (expected 0..3)", o->opt_level);
    return -1;
  }
  /* A foreign triple needs every target LLVM was built with; the host alone
   * needs only the native one. */
  if (o->triple) {
    LLVMInitializeAllTargetInfos();
    LLVMInitializeAllTargets();
    LLVMInitializeAllTargetMCs();
    LLVMInitializeAllAsmPrinters();
    t->triple = xstrdup(o->triple);
  } else {
    if (LLVMInitializeNativeTarget() || LLVMInitializeNativeAsmPrinter()) {
      snprintf(err, errlen, "this LLVM has no code generator for the host; use --target");
      return -1;
    }
    t->triple = emit_own_message(LLVMGetDefaultTargetTriple());
  }
  /* Host CPU and features only make sense for the host triple. */
  if (o->cpu)
    t->cpu = xstrdup(o->cpu);
  else if (o->triple)
    t->cpu = xstrdup("generic");
  else
    t->cpu = emit_own_message(LLVMGetHostCPUName());
  if (o->features)
    t->features = xstrdup(o->features);
  else if (o->triple)
    t->features = xstrdup("");
  else
    t->features = emit_own_message(LLVMGetHostCPUFeatures());
  if (!t->triple || !t->cpu || !t->features) {
    snprintf(err, errlen, "out of memory");
    emit_target_free(t);
    return -1;
  }

  LLVMTargetRef target;
  char *msg = NULL;
  if (LLVMGetTargetFromTriple(t->triple, &target, &msg)) {
    char what[256];
    snprintf(what, sizeof what, "unknown target '%s'", t->triple);
    emit_take_message(msg, what, err, errlen);
    emit_target_free(t);
    return -1;
  }
  if (msg) LLVMDisposeMessage(msg);
  if (!LLVMTargetHasTargetMachine(target) || !LLVMTargetHasAsmBackend(target)) {
    snprintf(err, errlen, "LLVM cannot emit code for target '%s'", t->triple);
    emit_target_free(t);
    return -1;
  }
  t->machine =
      LLVMCreateTargetMachine(target, t->triple, t->cpu, t->features,
                              emit_codegen_level(o->opt_level), LLVMRelocPIC, LLVMCodeModelDefault);
  if (!t->machine) {
    snprintf(err, errlen, "cannot create a target machine for '%s' (cpu '%s')", t->triple, t->cpu);
    emit_target_free(t);
    return -1;
  }
  t->layout = LLVMCreateTargetDataLayout(t->machine);
  return 0;
}

void emit_target_free(emit_target *t) {
  if (t->layout) LLVMDisposeTargetData(t->layout);
  if (t->machine) LLVMDisposeTargetMachine(t->machine);
  free(t->triple);
  free(t->cpu);
  free(t->features);
  memset(t, 0, sizeof *t);
}

void emit_target_apply(const emit_target *t, LLVMModuleRef mod) {
  LLVMSetTarget(mod, t->triple);
  LLVMSetModuleDataLayout(mod, t->layout);
}

int emit_module_passes(const emit_target *t, LLVMModuleRef mod, const char *pipeline, int opt_level,
                       char *err, size_t errlen) {
  char *msg = NULL;
  if (LLVMVerifyModule(mod, LLVMReturnStatusAction, &msg)) {
    emit_take_message(msg, "internal error: generated LLVM module is invalid", err, errlen);
    return -1;
  }
  if (msg) LLVMDisposeMessage(msg);

  /* The tuning clang uses: vectorisers, interleaving and unrolling from -O2
   * on.  None of them changes float results (no fast-math flags are set, so
   * nothing may be reassociated or contracted). */
  LLVMPassBuilderOptionsRef pbo = LLVMCreatePassBuilderOptions();
  LLVMPassBuilderOptionsSetLoopVectorization(pbo, opt_level >= 2);
  LLVMPassBuilderOptionsSetSLPVectorization(pbo, opt_level >= 2);
  LLVMPassBuilderOptionsSetLoopInterleaving(pbo, opt_level >= 2);
  LLVMPassBuilderOptionsSetLoopUnrolling(pbo, opt_level >= 2);
  LLVMErrorRef e = LLVMRunPasses(mod, pipeline, t->machine, pbo);
  LLVMDisposePassBuilderOptions(pbo);
  if (e) {
    char *emsg = LLVMGetErrorMessage(e);
    snprintf(err, errlen, "LLVM optimisation failed: %s", emsg);
    LLVMDisposeErrorMessage(emsg);
    return -1;
  }
  return 0;
}

int emit_module_optimise(const emit_target *t, LLVMModuleRef mod, int opt_level, char *err,
                         size_t errlen) {
  static const char *const pipelines[4] = {"default<O0>", "default<O1>", "default<O2>",
                                           "default<O3>"};
  if (opt_level < 0 || opt_level > 3) {
    snprintf(err, errlen, "optimisation level %d out of range (expected 0..3)", opt_level);
    return -1;
  }
  return emit_module_passes(t, mod, pipelines[opt_level], opt_level, err, errlen);
}

/* n bytes to f, which names `shown` in a message. */
static int emit_bytes(FILE *f, const char *shown, const char *bytes, size_t n, char *err,
                      size_t errlen) {
  if (fwrite(bytes, 1, n, f) == n) return 0;
  snprintf(err, errlen, "cannot write '%s': %s", shown, strerror(errno));
  return -1;
}

int emit_module_write(const emit_target *t, LLVMModuleRef mod, codegen_emit kind, FILE *f,
                      const char *shown, char *err, size_t errlen) {
  if (kind == CODEGEN_EMIT_EXE) {
    snprintf(err, errlen, "internal error: executables are written by the linker");
    return -1;
  }
  if (kind == CODEGEN_EMIT_LLVM) {
    char *text = LLVMPrintModuleToString(mod);
    int rc = emit_bytes(f, shown, text, strlen(text), err, errlen);
    LLVMDisposeMessage(text);
    return rc;
  }
  LLVMMemoryBufferRef buf = NULL;
  char *msg = NULL;
  LLVMCodeGenFileType ft = kind == CODEGEN_EMIT_ASM ? LLVMAssemblyFile : LLVMObjectFile;
  if (LLVMTargetMachineEmitToMemoryBuffer(t->machine, mod, ft, &msg, &buf)) {
    emit_take_message(msg, "LLVM code generation failed", err, errlen);
    return -1;
  }
  if (msg) LLVMDisposeMessage(msg);
  int rc = emit_bytes(f, shown, LLVMGetBufferStart(buf), LLVMGetBufferSize(buf), err, errlen);
  LLVMDisposeMemoryBuffer(buf);
  return rc;
}

/* Code sections by name: LLVM's C API exposes no section flags, and these
 * are the names its object writers give to code (function sections too). */
static int emit_is_code_section(const char *name) {
  return name && (strcmp(name, ".text") == 0 || strncmp(name, ".text.", 6) == 0 ||
                  strncmp(name, ".text$", 6) == 0 || strcmp(name, "__text") == 0);
}

static int emit_count_code(LLVMMemoryBufferRef obj, uint64_t *code_bytes, char *err,
                           size_t errlen) {
  char *msg = NULL;
  LLVMBinaryRef bin = LLVMCreateBinary(obj, NULL, &msg);
  if (!bin) {
    emit_take_message(msg, "cannot read back the emitted object", err, errlen);
    return -1;
  }
  LLVMSectionIteratorRef it = LLVMObjectFileCopySectionIterator(bin);
  if (!it) {
    snprintf(err, errlen, "cannot read back the emitted object: it has no sections");
    LLVMDisposeBinary(bin);
    return -1;
  }
  uint64_t total = 0;
  for (; !LLVMObjectFileIsSectionIteratorAtEnd(bin, it); LLVMMoveToNextSection(it))
    if (emit_is_code_section(LLVMGetSectionName(it))) total += LLVMGetSectionSize(it);
  LLVMDisposeSectionIterator(it);
  LLVMDisposeBinary(bin);
  *code_bytes = total;
  return 0;
}

int emit_object_measured(const emit_target *t, LLVMModuleRef mod, FILE *f, const char *shown,
                         uint64_t *code_bytes, char *err, size_t errlen) {
  LLVMMemoryBufferRef buf = NULL;
  char *msg = NULL;
  if (LLVMTargetMachineEmitToMemoryBuffer(t->machine, mod, LLVMObjectFile, &msg, &buf)) {
    emit_take_message(msg, "LLVM code generation failed", err, errlen);
    return -1;
  }
  if (msg) LLVMDisposeMessage(msg);
  int rc = emit_count_code(buf, code_bytes, err, errlen);
  if (rc == 0)
    rc = emit_bytes(f, shown, LLVMGetBufferStart(buf), LLVMGetBufferSize(buf), err, errlen);
  LLVMDisposeMemoryBuffer(buf);
  return rc;
}

int emit_build_info_object(const emit_target *t, LLVMContextRef ctx, const char *symbol,
                           const pmm_build_info *info, FILE *f, const char *shown, char *err,
                           size_t errlen) {
  LLVMModuleRef mod = LLVMModuleCreateWithNameInContext(symbol, ctx);
  emit_target_apply(t, mod);
  LLVMTypeRef i64 = LLVMInt64TypeInContext(ctx);
  LLVMValueRef fields[2] = {LLVMConstInt(i64, info->code_bytes, 0),
                            LLVMConstInt(i64, info->compile_us, 0)};
  LLVMValueRef init = LLVMConstStructInContext(ctx, fields, 2, 0);
  LLVMValueRef g = LLVMAddGlobal(mod, LLVMTypeOf(init), symbol);
  LLVMSetInitializer(g, init);
  LLVMSetGlobalConstant(g, 1);
  LLVMSetVisibility(g, LLVMHiddenVisibility);
  LLVMSetAlignment(g, 8);
  int rc = emit_module_write(t, mod, CODEGEN_EMIT_OBJ, f, shown, err, errlen);
  LLVMDisposeModule(mod);
  return rc;
}

LLVMValueRef emit_float_global(LLVMModuleRef mod, const char *name, const float *data, uint64_t n,
                               unsigned align, char *err, size_t errlen) {
  if (n > SIZE_MAX / sizeof *data) {
    snprintf(err, errlen, "constant '%s' has %llu floats, more than memory holds", name,
             (unsigned long long)n);
    return NULL;
  }
  /* the host's float bytes, swapped when the target's byte order differs */
  size_t bytes = (size_t)n * sizeof *data;
  LLVMTargetDataRef layout = LLVMCreateTargetData(LLVMGetDataLayoutStr(mod));
  const uint32_t probe = 1;
  int host_little = *(const unsigned char *)&probe == 1;
  int swap = (LLVMByteOrder(layout) == LLVMLittleEndian) != host_little;
  LLVMDisposeTargetData(layout);
  char *swapped = swap ? malloc(bytes ? bytes : 1) : NULL;
  if (swap && !swapped) {
    snprintf(err, errlen, "out of memory embedding '%s'", name);
    return NULL;
  }
  for (size_t i = 0; swap && i < bytes; i += 4)
    for (int k = 0; k < 4; k++) swapped[i + (size_t)k] = ((const char *)data)[i + 3 - (size_t)k];
  LLVMContextRef ctx = LLVMGetModuleContext(mod);
  LLVMValueRef init = LLVMConstStringInContext2(ctx, swap ? swapped : (const char *)data, bytes, 1);
  free(swapped);
  LLVMValueRef g = LLVMAddGlobal(mod, LLVMTypeOf(init), name);
  LLVMSetInitializer(g, init);
  LLVMSetGlobalConstant(g, 1);
  LLVMSetLinkage(g, LLVMInternalLinkage);
  LLVMSetUnnamedAddress(g, LLVMGlobalUnnamedAddr);
  LLVMSetAlignment(g, align);
  return g;
}
