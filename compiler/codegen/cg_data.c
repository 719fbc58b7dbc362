/*
 * cg_data.c - the module's data as LLVM globals (tensors, tables, mixtures,
 * atom sets, strings) and the declarations of the runtime functions
 * generated code calls.
 */
#include "compiler/codegen/cg.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "compiler/util/xalloc.h"

LLVMValueRef cg_global(cg *c, LLVMValueRef init, const char *name, LLVMLinkage linkage,
                       unsigned align) {
  LLVMValueRef g = LLVMAddGlobal(c->mod, LLVMTypeOf(init), name);
  LLVMSetInitializer(g, init);
  LLVMSetGlobalConstant(g, 1);
  LLVMSetLinkage(g, linkage);
  LLVMSetAlignment(g, align);
  return g;
}

/* A 64-byte aligned internal constant of n floats; NULL (message in err)
 * when it cannot be made. */
static LLVMValueRef cg_float_array(cg *c, const char *name, const float *data, uint64_t n) {
  return emit_float_global(c->mod, name, data, n, 64, c->err, c->errlen);
}

/* A private NUL-terminated string constant. */
LLVMValueRef cg_string(cg *c, const char *s) {
  char name[256];
  snprintf(name, sizeof name, "%s.str", c->m->name);
  LLVMValueRef init = LLVMConstStringInContext(c->ctx, s, (unsigned)strlen(s), 0);
  LLVMValueRef g = cg_global(c, init, name, LLVMPrivateLinkage, 1);
  LLVMSetUnnamedAddress(g, LLVMGlobalUnnamedAddr);
  return g;
}

/* Atom sets as pmm_atoms structs over two float arrays. */
static int cg_emit_atoms(cg *c) {
  const ir_module *m = c->m;
  char name[512];
  for (uint32_t i = 0; i < m->natoms; i++) {
    const ir_atoms *a = &m->atoms[i];
    LLVMValueRef f[5];
    f[0] = cg_i64(c, a->k);
    f[1] = cg_i64(c, a->dim);
    f[2] = cg_i64(c, a->vocab);
    snprintf(name, sizeof name, "%s.atoms%u.value", m->name, i);
    if (!(f[3] = cg_float_array(c, name, a->value, (uint64_t)a->k * a->dim))) return -1;
    snprintf(name, sizeof name, "%s.atoms%u.log_weight", m->name, i);
    if (!(f[4] = cg_float_array(c, name, a->log_weight, a->k))) return -1;
    snprintf(name, sizeof name, "%s.atoms%u", m->name, i);
    c->atoms[i] =
        cg_global(c, LLVMConstNamedStruct(c->atoms_t, f, 5), name, LLVMInternalLinkage, 8);
  }
  return 0;
}

/* Tensors, tables, mixtures and atom sets (with their pmm_gmm and
 * pmm_atoms structs) as globals. */
int cg_emit_data(cg *c) {
  const ir_module *m = c->m;
  char name[512];
  c->tensors = xcalloc_array(m->ntensors, sizeof *c->tensors);
  c->tables = xcalloc_array(m->ntables, sizeof *c->tables);
  c->gmms = xcalloc_array(m->nmixtures, sizeof *c->gmms);
  c->atoms = xcalloc_array(m->natoms, sizeof *c->atoms);
  if (!c->tensors || !c->tables || !c->gmms || !c->atoms) {
    snprintf(c->err, c->errlen, "out of memory");
    return -1;
  }
  for (uint32_t i = 0; i < m->ntensors; i++) {
    const ir_tensor *t = &m->tensors[i];
    snprintf(name, sizeof name, "%s.tensor.%s", m->name, t->name ? t->name : "");
    if (!(c->tensors[i] = cg_float_array(c, name, t->data, t->count))) return -1;
  }
  for (uint32_t i = 0; i < m->ntables; i++) {
    const ir_table *t = &m->tables[i];
    snprintf(name, sizeof name, "%s.table.%s", m->name, t->name ? t->name : "");
    if (!(c->tables[i] = cg_float_array(c, name, t->data, (uint64_t)t->count * t->width)))
      return -1;
  }
  for (uint32_t i = 0; i < m->nmixtures; i++) {
    const ir_mixture *x = &m->mixtures[i];
    LLVMValueRef f[5];
    f[0] = cg_i64(c, x->k);
    f[1] = cg_i64(c, x->dim);
    snprintf(name, sizeof name, "%s.mixture%u.weight", m->name, i);
    if (!(f[2] = cg_float_array(c, name, x->weight, x->k))) return -1;
    snprintf(name, sizeof name, "%s.mixture%u.mean", m->name, i);
    if (!(f[3] = cg_float_array(c, name, x->mean, (uint64_t)x->k * x->dim))) return -1;
    snprintf(name, sizeof name, "%s.mixture%u.std", m->name, i);
    if (!(f[4] = cg_float_array(c, name, x->std, x->k))) return -1;
    snprintf(name, sizeof name, "%s.mixture%u", m->name, i);
    c->gmms[i] = cg_global(c, LLVMConstNamedStruct(c->gmm_t, f, 5), name, LLVMInternalLinkage, 8);
  }
  return cg_emit_atoms(c);
}

/* Runtime and libm functions whose calls carry ABI attributes; the
 * kernels of network ops are declared as they are called
 * (cg_call_runtime). */
void cg_declare_runtime(cg *c) {
  LLVMTypeRef f1[1] = {c->f32};
  c->erff_fn = cg_declare(c, "erff", c->f32, f1, 1);
  c->tanhf_fn = cg_declare(c, "tanhf", c->f32, f1, 1);
  c->log1pf_fn = cg_declare(c, "log1pf", c->f32, f1, 1);

  LLVMTypeRef dense[7] = {c->isz, c->isz, c->isz, c->ptr, c->ptr, c->ptr, c->ptr};
  c->dense = cg_declare(c, "pmm_kernel_dense", c->void_t, dense, 7);

  /* 32-bit integer arguments carry their C signedness so targets that
   * extend them in registers (RISC-V, PowerPC) see the C ABI. */
  LLVMTypeRef key[3] = {c->i64, c->i32, c->ptr};
  c->rng_key = cg_declare(c, "pmm_rng_key", c->void_t, key, 3);
  cg_fn_attr(c, c->rng_key.fn, 2, "zeroext");

  LLVMTypeRef normal[6] = {c->ptr, c->i64, c->isz, c->i32, c->isz, c->ptr};
  c->rng_normal = cg_declare(c, "pmm_rng_normal_block", c->void_t, normal, 6);
  cg_fn_attr(c, c->rng_normal.fn, 4, "zeroext");

  LLVMTypeRef gmm[7] = {c->ptr, c->f64, c->f64, c->f64, c->isz, c->ptr, c->ptr};
  c->exact_gmm = cg_declare(c, "pmm_kernel_exact_gmm", c->void_t, gmm, 7);
  c->atoms_normal = cg_declare(c, "pmm_kernel_exact_atoms_normal", c->void_t, gmm, 7);
  c->atoms_gamma = cg_declare(c, "pmm_kernel_exact_atoms_gamma", c->void_t, gmm, 7);
  LLVMTypeRef cat[5] = {c->ptr, c->f64, c->isz, c->ptr, c->ptr};
  c->atoms_categorical = cg_declare(c, "pmm_kernel_exact_atoms_categorical", c->void_t, cat, 5);

  LLVMTypeRef poisson[7] = {c->ptr, c->i64, c->isz, c->i32, c->isz, c->ptr, c->ptr};
  c->rng_poisson = cg_declare(c, "pmm_rng_poisson_block", c->void_t, poisson, 7);
  cg_fn_attr(c, c->rng_poisson.fn, 4, "zeroext");

  LLVMTypeRef check[6] = {c->ptr, c->i32, c->i32, c->ptr, c->isz, c->ptr};
  c->check_finite = cg_declare(c, "pmm_check_finite", c->i32, check, 6);
  cg_fn_attr(c, c->check_finite.fn, 2, "zeroext");
  cg_fn_attr(c, c->check_finite.fn, 3, "zeroext");
}
