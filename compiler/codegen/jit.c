/*
 * jit.c - compiling a module into the running process through ORC's
 * LLJIT (codegen_jit_compile, codegen.h).  The runtime functions the code
 * calls are looked up among the process's own symbols, which is why pmmc
 * is linked with its symbols exported.
 */
#include "compiler/codegen/cg.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <llvm-c/LLJIT.h>
#include <llvm-c/Orc.h>

struct codegen_jit {
  LLVMOrcLLJITRef jit;
};

static int jit_error(LLVMErrorRef e, char *err, size_t errlen) {
  char *msg = LLVMGetErrorMessage(e);
  snprintf(err, errlen, "JIT: %s", msg);
  LLVMDisposeErrorMessage(msg);
  return -1;
}

void codegen_jit_free(codegen_jit *j) {
  if (!j) return;
  if (j->jit) LLVMOrcDisposeLLJIT(j->jit);
  free(j);
}

int codegen_jit_compile(const ir_module *m, const codegen_options *o, codegen_jit **out,
                        pmm_run_block_fn *run, char *err, size_t errlen) {
  *out = NULL;
  codegen_options opts = *o;
  opts.emit = CODEGEN_EMIT_OBJ;
  emit_target target;
  if (emit_target_init(&target, &opts, err, errlen) != 0) return -1;
  codegen_jit *j = calloc(1, sizeof *j);
  LLVMOrcThreadSafeContextRef tsc = LLVMOrcCreateNewThreadSafeContext();
  LLVMModuleRef mod = NULL;
  codegen_report rep;
  int rc = -1;
  if (!j) {
    snprintf(err, errlen, "out of memory");
  } else if (cg_build_optimised(m, &opts, &target, LLVMOrcThreadSafeContextGetContext(tsc), &mod,
                                &rep, err, errlen) == 0) {
    LLVMOrcThreadSafeModuleRef tsm = LLVMOrcCreateNewThreadSafeModule(mod, tsc);
    LLVMErrorRef e = LLVMOrcCreateLLJIT(&j->jit, NULL);
    LLVMOrcDefinitionGeneratorRef gen = NULL;
    if (!e)
      e = LLVMOrcCreateDynamicLibrarySearchGeneratorForProcess(
          &gen, LLVMOrcLLJITGetGlobalPrefix(j->jit), NULL, NULL);
    if (!e) {
      LLVMOrcJITDylibAddGenerator(LLVMOrcLLJITGetMainJITDylib(j->jit), gen);
      e = LLVMOrcLLJITAddLLVMIRModule(j->jit, LLVMOrcLLJITGetMainJITDylib(j->jit), tsm);
    } else {
      LLVMOrcDisposeThreadSafeModule(tsm);
    }
    char name[512];
    snprintf(name, sizeof name, "%s_run_block", m->name);
    LLVMOrcExecutorAddress addr = 0;
    if (!e) e = LLVMOrcLLJITLookup(j->jit, &addr, name);
    if (e)
      jit_error(e, err, errlen);
    else
      rc = 0;
    *run = (pmm_run_block_fn)(uintptr_t)addr;
  }
  LLVMOrcDisposeThreadSafeContext(tsc);
  emit_target_free(&target);
  if (rc != 0) {
    codegen_jit_free(j);
    return -1;
  }
  *out = j;
  return 0;
}

void emit_kernel_jit_begin(emit_kernel_jit *k, const emit_target *t, unsigned nparams) {
  memset(k, 0, sizeof *k);
  LLVMOrcThreadSafeContextRef tsc = LLVMOrcCreateNewThreadSafeContext();
  k->tsc = tsc;
  k->ctx = LLVMOrcThreadSafeContextGetContext(tsc);
  k->mod = LLVMModuleCreateWithNameInContext("kernel", k->ctx);
  emit_target_apply(t, k->mod);
  k->b = LLVMCreateBuilderInContext(k->ctx);
  LLVMTypeRef ptr = LLVMPointerTypeInContext(k->ctx, 0), params[16];
  for (unsigned i = 0; i < nparams && i < 16; i++) params[i] = ptr;
  k->fn = LLVMAddFunction(k->mod, "kern",
                          LLVMFunctionType(LLVMVoidTypeInContext(k->ctx), params, nparams, 0));
  const char *keys[2] = {"target-cpu", "target-features"}, *vals[2] = {t->cpu, t->features};
  for (int i = 0; i < 2; i++)
    LLVMAddAttributeAtIndex(k->fn, LLVMAttributeFunctionIndex,
                            LLVMCreateStringAttribute(k->ctx, keys[i], (unsigned)strlen(keys[i]),
                                                      vals[i], (unsigned)strlen(vals[i])));
  LLVMPositionBuilderAtEnd(k->b, LLVMAppendBasicBlockInContext(k->ctx, k->fn, "entry"));
}

int emit_kernel_jit_finish(emit_kernel_jit *k, const emit_target *t, void **addr, char *err,
                           size_t errlen) {
  LLVMBuildRetVoid(k->b);
  LLVMDisposeBuilder(k->b);
  k->b = NULL;
  LLVMModuleRef mod = k->mod;
  k->mod = NULL;
  if (emit_module_optimise(t, mod, 2, err, errlen) != 0) {
    LLVMDisposeModule(mod);
    return -1;
  }
  LLVMOrcThreadSafeModuleRef tsm = LLVMOrcCreateNewThreadSafeModule(mod, k->tsc);
  LLVMOrcLLJITRef jit = NULL;
  LLVMErrorRef e = LLVMOrcCreateLLJIT(&jit, NULL);
  k->jit = jit;
  if (!e)
    e = LLVMOrcLLJITAddLLVMIRModule(jit, LLVMOrcLLJITGetMainJITDylib(jit), tsm);
  else
    LLVMOrcDisposeThreadSafeModule(tsm);
  LLVMOrcExecutorAddress a = 0;
  if (!e) e = LLVMOrcLLJITLookup(jit, &a, "kern");
  if (e) return jit_error(e, err, errlen);
  *addr = (void *)(uintptr_t)a;
  return 0;
}

void emit_kernel_jit_free(emit_kernel_jit *k) {
  if (k->b) LLVMDisposeBuilder(k->b);
  if (k->mod) LLVMDisposeModule(k->mod);
  if (k->jit) LLVMOrcDisposeLLJIT(k->jit);
  if (k->tsc) LLVMOrcDisposeThreadSafeContext(k->tsc);
  memset(k, 0, sizeof *k);
}
