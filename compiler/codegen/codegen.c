/*
 * codegen.c - IR module -> LLVM module (see codegen.h), and the top-level
 * compile driver that hands the module to emit.c and link.c.
 *
 * The generated <name>_run_block mirrors the interpreter step by step: every
 * value lives at its planned offset in the caller's scratch arena, the init
 * block runs with t = 0, the step block in a real loop t = 1..steps, the
 * final block with t = steps + 1; each block's result is copied to the state
 * buffer (or to the output rows).  Each instruction is emitted by its op's
 * emitter (cg_ops.c, the `emit` column of ir_ops.def).  A module whose step
 * block never runs (steps = 0) has no step loop; one whose init block is
 * empty takes its state from the caller (pmmc predict).
 *
 * Non-finite values (check_finite, docs/samplers.md), as the interpreter
 * treats them: the chain tests the values ir_watched_values names with
 * pmm_any_nonfinite's test (inlined, so it vectorises for the target) and
 * ORs the answers into a flag, tested once the block is done; when it is
 * set the chain runs again with `diagnose` set, in which every value is
 * tested after its instruction, and returns at the first non-finite one
 * with pmm_check_finite's code.  Normal runs pay for that mode with one
 * never-taken branch per instruction.
 */
#include "config.h"

#include "compiler/codegen/codegen.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "compiler/codegen/cg.h"
#include "compiler/codegen/gemm.h"
#include "compiler/util/xalloc.h"
#include "runtime/outfile.h"

/* pmm_any_nonfinite(n, y) as an inline loop, which the vectorisers turn
 * into the target's widest compares: 1 when some float of y[0..n-1] has
 * all exponent bits set (NaN or infinite), else 0 (i32). */
static LLVMValueRef cg_emit_any_nonfinite(cg *c, LLVMValueRef y, uint64_t n) {
  LLVMValueRef zero = LLVMConstInt(c->i32, 0, 0), exp = LLVMConstInt(c->i32, 0x7f800000u, 0);
  LLVMBasicBlockRef pre = LLVMGetInsertBlock(c->b);
  cg_loop l;
  LLVMValueRef i = cg_loop_begin(c, &l, 0, n, "nf");
  LLVMValueRef any = LLVMBuildPhi(c->b, c->i32, "any");
  LLVMAddIncoming(any, &zero, &pre, 1);
  LLVMValueRef bits = LLVMBuildLoad2(c->b, c->i32, cg_elem(c, y, i), "");
  LLVMSetAlignment(bits, 4);
  LLVMValueRef all = LLVMBuildICmp(c->b, LLVMIntEQ, LLVMBuildAnd(c->b, bits, exp, ""), exp, "");
  LLVMValueRef next = LLVMBuildOr(c->b, any, LLVMBuildZExt(c->b, all, c->i32, ""), "");
  LLVMBasicBlockRef latch = LLVMGetInsertBlock(c->b);
  LLVMAddIncoming(any, &next, &latch, 1);
  cg_loop_end(c, &l);
  return next;
}

/* After instruction i of block k: OR its watched value's test into the
 * flag, and when diagnosing, fail if it is not finite. */
static void cg_emit_check(cg *c, ir_block_kind k, uint32_t i) {
  const ir_block *blk = &c->m->blocks[k];
  const ir_inst *in = &blk->insts[i];
  uint64_t count = cg_rows(c, in) * in->len;
  LLVMValueRef y = cg_value(c, in), n = cg_isz(c, count);
  LLVMValueRef zero = LLVMConstInt(c->i32, 0, 0);
  if (c->watched[k][i]) {
    LLVMValueRef nf = cg_emit_any_nonfinite(c, y, count);
    LLVMValueRef bad = LLVMBuildLoad2(c->b, c->i32, c->bad, "bad");
    LLVMBuildStore(c->b, LLVMBuildOr(c->b, bad, nf, ""), c->bad);
  }
  LLVMBasicBlockRef test = LLVMAppendBasicBlockInContext(c->ctx, c->fn, "diagnose");
  LLVMBasicBlockRef fail = LLVMAppendBasicBlockInContext(c->ctx, c->fn, "nonfinite");
  LLVMBasicBlockRef next = LLVMAppendBasicBlockInContext(c->ctx, c->fn, "");
  LLVMValueRef d = LLVMBuildLoad2(c->b, c->i32, c->diagnose, "diagnosing");
  LLVMBuildCondBr(c->b, LLVMBuildICmp(c->b, LLVMIntNE, d, zero, ""), test, next);
  LLVMPositionBuilderAtEnd(c->b, test);
  char where[256];
  ir_inst_name(c->m, blk, (int32_t)i, where, sizeof where);
  LLVMValueRef a[6] = {c->blk, c->step32, LLVMConstInt(c->i32, c->m->steps, 0), cg_string(c, where),
                       n,      y};
  LLVMValueRef rc = cg_call(c, &c->check_finite, a, 6);
  LLVMBuildCondBr(c->b, LLVMBuildICmp(c->b, LLVMIntNE, rc, zero, ""), fail, next);
  LLVMPositionBuilderAtEnd(c->b, fail);
  LLVMBuildRet(c->b, rc);
  LLVMPositionBuilderAtEnd(c->b, next);
}

/* Run block k at the current step and copy its (per-sample) result to dst. */
static void cg_emit_block(cg *c, ir_block_kind k, LLVMValueRef dst) {
  const ir_block *blk = &c->m->blocks[k];
  for (uint32_t i = 0; i < blk->count; i++) {
    cg_emit_inst(c, blk, &blk->insts[i]);
    if (c->m->check_finite) cg_emit_check(c, k, i);
  }
  const ir_inst *r = &blk->insts[blk->result];
  /* A STATE result copied onto the state buffer is already there. */
  if (dst == c->state && r->offset == c->m->state_offset) return;
  cg_emit_copy(c, dst, r->len, 0, cg_value(c, r), r->len, c->m->block_size, r->len);
}

/* Keys of the non-zero RANDN and POISSON streams, computed once at function
 * entry. */
static int cg_emit_stream_keys(cg *c) {
  size_t total = 0;
  for (int k = 0; k < IR_BLOCK_COUNT; k++) total += c->m->blocks[k].count;
  c->keys = xcalloc_array(total, sizeof *c->keys);
  if (!c->keys) {
    snprintf(c->err, c->errlen, "out of memory");
    return -1;
  }
  LLVMTypeRef key_t = LLVMArrayType(c->i32, 2);
  for (int k = 0; k < IR_BLOCK_COUNT; k++) {
    const ir_block *blk = &c->m->blocks[k];
    for (uint32_t i = 0; i < blk->count; i++) {
      const ir_inst *in = &blk->insts[i];
      if ((in->op != IR_OP_RANDN && in->op != IR_OP_POISSON) || in->stream == 0 ||
          cg_find_key(c, in->stream))
        continue;
      LLVMValueRef key = LLVMBuildAlloca(c->b, key_t, "key");
      LLVMSetAlignment(key, 4);
      LLVMValueRef a[3] = {c->seed, LLVMConstInt(c->i32, in->stream, 0), key};
      cg_call(c, &c->rng_key, a, 3);
      c->keys[c->nkeys].stream = in->stream;
      c->keys[c->nkeys].key = key;
      c->nkeys++;
    }
  }
  return 0;
}

static void cg_set_step(cg *c, uint64_t t) {
  c->step64 = cg_i64(c, t);
  c->step32 = LLVMConstInt(c->i32, (uint32_t)t, 0);
}

/* The checks' flags, cleared at function entry, and each block's watched
 * values; -1 when out of memory. */
static int cg_checks_begin(cg *c) {
  for (int k = 0; k < IR_BLOCK_COUNT; k++) {
    const ir_block *blk = &c->m->blocks[k];
    c->watched[k] = xcalloc_array(blk->count ? blk->count : 1, 1);
    if (!c->watched[k]) {
      snprintf(c->err, c->errlen, "out of memory");
      return -1;
    }
    ir_watched_values(c->m, (ir_block_kind)k, c->watched[k]);
  }
  LLVMValueRef zero = LLVMConstInt(c->i32, 0, 0);
  c->bad = LLVMBuildAlloca(c->b, c->i32, "bad.slot");
  c->diagnose = LLVMBuildAlloca(c->b, c->i32, "diagnose.slot");
  LLVMBuildStore(c->b, zero, c->bad);
  LLVMBuildStore(c->b, zero, c->diagnose);
  return 0;
}

/* After the final block: return 0 when every watched value was finite, else
 * run the chain again from `chain` diagnosing.  A diagnosing run that gets
 * here found nothing, which a run's determinism rules out; it still fails. */
static void cg_checks_end(cg *c, LLVMBasicBlockRef chain) {
  LLVMValueRef zero = LLVMConstInt(c->i32, 0, 0);
  LLVMBasicBlockRef done = LLVMAppendBasicBlockInContext(c->ctx, c->fn, "finite");
  LLVMBasicBlockRef again = LLVMAppendBasicBlockInContext(c->ctx, c->fn, "again");
  LLVMBasicBlockRef rerun = LLVMAppendBasicBlockInContext(c->ctx, c->fn, "rerun");
  LLVMBasicBlockRef fail = LLVMAppendBasicBlockInContext(c->ctx, c->fn, "unexplained");
  LLVMValueRef bad = LLVMBuildLoad2(c->b, c->i32, c->bad, "bad");
  LLVMBuildCondBr(c->b, LLVMBuildICmp(c->b, LLVMIntNE, bad, zero, ""), again, done);
  LLVMPositionBuilderAtEnd(c->b, done);
  LLVMBuildRet(c->b, zero);
  LLVMPositionBuilderAtEnd(c->b, again);
  LLVMValueRef d = LLVMBuildLoad2(c->b, c->i32, c->diagnose, "diagnosing");
  LLVMBuildCondBr(c->b, LLVMBuildICmp(c->b, LLVMIntNE, d, zero, ""), fail, rerun);
  LLVMPositionBuilderAtEnd(c->b, fail);
  LLVMBuildRet(c->b, LLVMConstInt(c->i32, PMM_RUN_NONFINITE, 0));
  LLVMPositionBuilderAtEnd(c->b, rerun);
  LLVMBuildStore(c->b, LLVMConstInt(c->i32, 1, 0), c->diagnose);
  LLVMBuildStore(c->b, zero, c->bad);
  LLVMBuildBr(c->b, chain);
}

static int cg_emit_run_block(cg *c) {
  const ir_module *m = c->m;
  char name[512];
  snprintf(name, sizeof name, "%s_run_block", m->name);
  LLVMTypeRef params[2] = {c->ptr, c->ptr};
  c->fn = LLVMAddFunction(c->mod, name, LLVMFunctionType(c->i32, params, 2, 0));
  cg_fn_attr(c, c->fn, LLVMAttributeFunctionIndex, "nounwind");
  cg_target_attrs(c, c->fn);
  LLVMValueRef blk = c->blk = LLVMGetParam(c->fn, 1);
  LLVMSetValueName2(LLVMGetParam(c->fn, 0), "user", 4);
  LLVMSetValueName2(blk, "blk", 3);

  LLVMPositionBuilderAtEnd(c->b, LLVMAppendBasicBlockInContext(c->ctx, c->fn, "entry"));
  c->key0 = LLVMBuildStructGEP2(c->b, c->block_t, blk, 0, "key");
  c->seed = LLVMBuildLoad2(c->b, c->i64, LLVMBuildStructGEP2(c->b, c->block_t, blk, 1, ""), "seed");
  c->first_index = LLVMBuildLoad2(c->b, c->i64, LLVMBuildStructGEP2(c->b, c->block_t, blk, 2, ""),
                                  "first_index");
  c->out = LLVMBuildLoad2(c->b, c->ptr, LLVMBuildStructGEP2(c->b, c->block_t, blk, 3, ""), "out");
  c->scratch =
      LLVMBuildLoad2(c->b, c->ptr, LLVMBuildStructGEP2(c->b, c->block_t, blk, 4, ""), "scratch");
  c->state = cg_elem(c, c->scratch, cg_i64(c, m->state_offset));
  c->work = cg_elem(c, c->scratch, cg_i64(c, m->work_offset));
  if (cg_emit_stream_keys(c) != 0) return -1;
  if (m->check_finite && cg_checks_begin(c) != 0) return -1;
  /* the chain: init, steps, final (run twice after a non-finite value) */
  LLVMBasicBlockRef chain = LLVMAppendBasicBlockInContext(c->ctx, c->fn, "chain");
  LLVMBuildBr(c->b, chain);
  LLVMPositionBuilderAtEnd(c->b, chain);

  cg_set_step(c, 0);
  if (!m->state_in) cg_emit_block(c, IR_BLOCK_INIT, c->state);

  if (m->steps > 0) {
    cg_loop steps;
    c->step64 = cg_loop_begin(c, &steps, 1, (uint64_t)m->steps + 1, "t");
    c->step32 = LLVMBuildTrunc(c->b, c->step64, c->i32, "t32");
    cg_emit_block(c, IR_BLOCK_STEP, c->state);
    cg_loop_end(c, &steps);
  }

  cg_set_step(c, (uint64_t)m->steps + 1);
  cg_emit_block(c, IR_BLOCK_FINAL, c->out);
  if (m->check_finite)
    cg_checks_end(c, chain);
  else
    LLVMBuildRet(c->b, LLVMConstInt(c->i32, 0, 0));
  return c->failed ? -1 : 0;
}

/* ---- descriptor and main ------------------------------------------------- */

/* "<model>_build_info", the pmm_build_info an executable's second object
 * defines; -1 if it does not fit. */
static int cg_build_info_symbol(const char *model, char *buf, size_t len) {
  int n = snprintf(buf, len, "%s_build_info", model);
  return n < 0 || (size_t)n >= len ? -1 : 0;
}

/* A hidden declaration of the build info (defined by the second object). */
static LLVMValueRef cg_declare_build_info(cg *c) {
  char name[512];
  if (cg_build_info_symbol(c->m->name, name, sizeof name) != 0) {
    snprintf(c->err, c->errlen, "model name too long: %s", c->m->name);
    return NULL;
  }
  LLVMTypeRef f[2] = {c->i64, c->i64};
  LLVMValueRef g = LLVMAddGlobal(c->mod, LLVMStructTypeInContext(c->ctx, f, 2, 0), name);
  LLVMSetGlobalConstant(g, 1);
  LLVMSetVisibility(g, LLVMHiddenVisibility);
  return g;
}

/* <name>_desc from d, in pmm_model_desc's field order; build is the
 * pointer to record (a null constant when unknown). */
static LLVMValueRef cg_emit_desc(cg *c, const pmm_model_desc *d, LLVMValueRef build) {
  char name[512];
  LLVMValueRef shape[4];
  for (uint32_t i = 0; i < 4; i++) shape[i] = cg_i64(c, d->shape[i]);
  LLVMValueRef f[] = {
      cg_i64(c, d->abi),
      cg_string(c, d->name),
      cg_string(c, d->pair),
      cg_string(c, d->sampler),
      cg_string(c, d->output),
      cg_string(c, d->schedule),
      cg_string(c, d->engine),
      cg_string(c, d->weight_hash),
      d->vocab ? cg_string(c, d->vocab) : LLVMConstPointerNull(c->ptr),
      cg_i64(c, d->steps),
      cg_i64(c, d->rank),
      LLVMConstArray(c->i64, shape, 4),
      cg_i64(c, d->sample_elems),
      cg_i64(c, d->block_size),
      cg_i64(c, d->scratch_bytes),
      cg_i64(c, d->flops_per_sample),
      cg_i64(c, d->weight_bytes),
      cg_i64(c, d->vocab_size),
      LLVMConstInt(c->i64, (unsigned long long)d->pad_symbol, 1),
      LLVMConstReal(c->f64, d->range_lo),
      LLVMConstReal(c->f64, d->range_hi),
      c->fn,
      LLVMConstPointerNull(c->ptr),
      build,
  };
  snprintf(name, sizeof name, "%s_desc", d->name);
  LLVMValueRef init = LLVMConstStructInContext(c->ctx, f, sizeof f / sizeof f[0], 0);
  return cg_global(c, init, name, LLVMExternalLinkage, 8);
}

static void cg_emit_main(cg *c, LLVMValueRef desc) {
  LLVMTypeRef sp[3] = {c->i32, c->ptr, c->ptr};
  cg_fn sampler_main = cg_declare(c, "pmm_sampler_main", c->i32, sp, 3);
  LLVMTypeRef mp[2] = {c->i32, c->ptr};
  LLVMValueRef fn = LLVMAddFunction(c->mod, "main", LLVMFunctionType(c->i32, mp, 2, 0));
  cg_target_attrs(c, fn);
  LLVMPositionBuilderAtEnd(c->b, LLVMAppendBasicBlockInContext(c->ctx, fn, "entry"));
  LLVMValueRef a[3] = {LLVMGetParam(fn, 0), LLVMGetParam(fn, 1), desc};
  LLVMBuildRet(c->b, cg_call(c, &sampler_main, a, 3));
}

/* ---- checks and the compile driver --------------------------------------- */

/* The generated code trusts the memory plan completely, so check that every
 * slot lies inside the arena the runtime allocates. */
static int cg_check_plan(const ir_module *m, char *err, size_t errlen) {
  if (m->scratch_floats == 0 || m->scratch_floats > UINT64_MAX / sizeof(float)) {
    snprintf(err, errlen, "module '%s' has no valid memory plan (run opt_plan_memory first)",
             m->name);
    return -1;
  }
  uint64_t end = m->state_offset + (uint64_t)m->block_size * m->state_len;
  if (end < m->state_offset || end > m->scratch_floats) {
    snprintf(err, errlen, "module '%s': state buffer lies outside the scratch arena", m->name);
    return -1;
  }
  for (int k = 0; k < IR_BLOCK_COUNT; k++) {
    const ir_block *b = &m->blocks[k];
    for (uint32_t i = 0; i < b->count; i++) {
      const ir_inst *in = &b->insts[i];
      uint64_t n = (in->uniform ? 1 : (uint64_t)m->block_size) * in->len;
      if (in->offset > m->scratch_floats || n > m->scratch_floats - in->offset) {
        snprintf(err, errlen, "module '%s': %s block, %%%u lies outside the scratch arena", m->name,
                 ir_block_name((ir_block_kind)k), i);
        return -1;
      }
    }
  }
  return 0;
}

static void cg_types_init(cg *c) {
  c->i32 = LLVMInt32TypeInContext(c->ctx);
  c->i64 = LLVMInt64TypeInContext(c->ctx);
  c->isz = LLVMIntPtrTypeInContext(c->ctx, c->target->layout);
  c->f32 = LLVMFloatTypeInContext(c->ctx);
  c->f64 = LLVMDoubleTypeInContext(c->ctx);
  c->ptr = LLVMPointerTypeInContext(c->ctx, 0);
  c->void_t = LLVMVoidTypeInContext(c->ctx);
  /* pmm_block: {uint32_t key[2]; uint64_t seed, first_index; float *out; void *scratch;
   * char *msg; uint64_t msg_len} */
  LLVMTypeRef bf[7] = {LLVMArrayType(c->i32, 2), c->i64, c->i64, c->ptr, c->ptr, c->ptr, c->i64};
  c->block_t = LLVMStructTypeInContext(c->ctx, bf, 7, 0);
  /* pmm_gmm: {uint64_t k, dim; const float *weight, *mean, *std} */
  LLVMTypeRef gf[5] = {c->i64, c->i64, c->ptr, c->ptr, c->ptr};
  c->gmm_t = LLVMStructCreateNamed(c->ctx, "pmm_gmm");
  LLVMStructSetBody(c->gmm_t, gf, 5, 0);
  /* pmm_atoms: {uint64_t k, dim, vocab; const float *value, *log_weight} */
  LLVMTypeRef af[5] = {c->i64, c->i64, c->i64, c->ptr, c->ptr};
  c->atoms_t = LLVMStructCreateNamed(c->ctx, "pmm_atoms");
  LLVMStructSetBody(c->atoms_t, af, 5, 0);
}

/* Build the whole LLVM module; rep receives the descriptor it records. */
static int cg_build_module(cg *c, const codegen_options *o, codegen_report *rep) {
  cg_types_init(c);
  cg_declare_runtime(c);
  if (cg_emit_data(c) != 0 || cg_emit_run_block(c) != 0) return -1;
  if (o->engine)
    snprintf(rep->engine, sizeof rep->engine, "%s", o->engine);
  else
    snprintf(rep->engine, sizeof rep->engine, "pmmc %s, LLVM %s, -O%d, %s", PACKAGE_VERSION,
             PMMC_LLVM_VERSION, o->opt_level, c->target->cpu);
  ir_describe(c->m, rep->engine, &rep->desc);
  LLVMValueRef build = LLVMConstPointerNull(c->ptr);
  if (o->emit == CODEGEN_EMIT_EXE && !(build = cg_declare_build_info(c))) return -1;
  LLVMValueRef desc = cg_emit_desc(c, &rep->desc, build);
  if (o->emit == CODEGEN_EMIT_EXE) cg_emit_main(c, desc);
  return 0;
}

void codegen_options_init(codegen_options *o) {
  memset(o, 0, sizeof *o);
  o->opt_level = 2;
  o->emit = CODEGEN_EMIT_EXE;
}

static uint64_t cg_elapsed_us(const struct timespec *start) {
  struct timespec now;
  clock_gettime(CLOCK_MONOTONIC, &now);
  int64_t us = ((int64_t)now.tv_sec - (int64_t)start->tv_sec) * 1000000 +
               ((int64_t)now.tv_nsec - (int64_t)start->tv_nsec) / 1000;
  return us > 0 ? (uint64_t)us : 0;
}

/* An executable: the model's object, measured (which ends the compile
 * time), then the second object defining <name>_build_info with what was
 * measured, then the linker over both; all three in a work directory, the
 * linker's output becoming out's contents. */
static int cg_write_executable(const emit_target *t, LLVMContextRef ctx, LLVMModuleRef mod,
                               const codegen_options *o, const struct timespec *start,
                               codegen_report *rep, pmm_outfile *out, char *err, size_t errlen) {
  char obj[PATH_MAX], info_obj[PATH_MAX], exe[PATH_MAX], symbol[512];
  if (cg_build_info_symbol(rep->desc.name, symbol, sizeof symbol) != 0) {
    snprintf(err, errlen, "model name too long: %s", rep->desc.name);
    return -1;
  }
  pmm_workdir w;
  if (pmm_workdir_make(&w, out, err, errlen) != 0) return -1;
  int rc = pmm_workdir_file(&w, "model.o", obj, sizeof obj, err, errlen);
  if (rc == 0) rc = pmm_workdir_file(&w, "info.o", info_obj, sizeof info_obj, err, errlen);
  if (rc == 0) rc = pmm_workdir_file(&w, "a.out", exe, sizeof exe, err, errlen);
  pmm_outfile f;
  if (rc == 0 && (rc = pmm_outfile_open(&f, obj, err, errlen)) == 0)
    rc = pmm_outfile_finish(
        &f, emit_object_measured(t, mod, f.fp, o->output, &rep->build.code_bytes, err, errlen), err,
        errlen);
  if (rc == 0) rep->build.compile_us = cg_elapsed_us(start);
  if (rc == 0 && (rc = pmm_outfile_open(&f, info_obj, err, errlen)) == 0)
    rc = pmm_outfile_finish(
        &f, emit_build_info_object(t, ctx, symbol, &rep->build, f.fp, o->output, err, errlen), err,
        errlen);
  if (rc == 0) {
    const char *objs[2] = {obj, info_obj};
    rc = codegen_link_executable(objs, 2, exe, o->output, o->runtime_lib, err, errlen);
  }
  if (rc == 0) rc = pmm_outfile_adopt(out, exe, err, errlen);
  pmm_workdir_remove(&w);
  return rc;
}

/* Write the optimised module to out as o asks: an executable as above,
 * other kinds directly, objects measured on the way.  rep->desc.build is
 * set when there was an object to measure. */
static int cg_write_output(const emit_target *t, LLVMContextRef ctx, LLVMModuleRef mod,
                           const codegen_options *o, const struct timespec *start,
                           codegen_report *rep, pmm_outfile *out, char *err, size_t errlen) {
  const char *shown = strcmp(o->output, "-") == 0 ? "standard output" : o->output;
  if (o->emit == CODEGEN_EMIT_EXE) {
    if (cg_write_executable(t, ctx, mod, o, start, rep, out, err, errlen) != 0) return -1;
  } else if (o->emit == CODEGEN_EMIT_OBJ) {
    if (emit_object_measured(t, mod, out->fp, shown, &rep->build.code_bytes, err, errlen) != 0)
      return -1;
    rep->build.compile_us = cg_elapsed_us(start);
  } else {
    return emit_module_write(t, mod, o->emit, out->fp, shown, err, errlen);
  }
  rep->desc.build = &rep->build;
  return 0;
}

/* The LLVM module of m in ctx before optimisation (*mod; the caller
 * disposes of it). */
int cg_build_unoptimised(const ir_module *m, const codegen_options *o, const emit_target *target,
                         LLVMContextRef ctx, LLVMModuleRef *mod, codegen_report *rep, char *err,
                         size_t errlen) {
  if (ir_verify(m, err, errlen) != 0 || cg_check_plan(m, err, errlen) != 0) return -1;
  cg c;
  memset(&c, 0, sizeof c);
  c.m = m;
  c.target = target;
  c.err = err;
  c.errlen = errlen;
  c.gemm = o->gemm;
  c.width = gemm_target_width(target->features);
  c.ctx = ctx;
  c.mod = LLVMModuleCreateWithNameInContext(m->name, ctx);
  c.b = LLVMCreateBuilderInContext(ctx);
  emit_target_apply(target, c.mod);
  memset(rep, 0, sizeof *rep);
  int rc = cg_build_module(&c, o, rep);
  free(c.tensors);
  free(c.tables);
  free(c.gmms);
  free(c.atoms);
  free(c.keys);
  for (int k = 0; k < IR_BLOCK_COUNT; k++) free(c.watched[k]);
  LLVMDisposeBuilder(c.b);
  if (rc != 0) {
    LLVMDisposeModule(c.mod);
    return -1;
  }
  *mod = c.mod;
  return 0;
}

int cg_build_optimised(const ir_module *m, const codegen_options *o, const emit_target *target,
                       LLVMContextRef ctx, LLVMModuleRef *mod, codegen_report *rep, char *err,
                       size_t errlen) {
  if (cg_build_unoptimised(m, o, target, ctx, mod, rep, err, errlen) != 0) return -1;
  if (emit_module_optimise(target, *mod, o->opt_level, err, errlen) != 0) {
    LLVMDisposeModule(*mod);
    *mod = NULL;
    return -1;
  }
  return 0;
}

int codegen_compile(const ir_module *m, const codegen_options *o, char *err, size_t errlen) {
  struct timespec now;
  const struct timespec *start = o->start;
  if (!start) {
    clock_gettime(CLOCK_MONOTONIC, &now);
    start = &now;
  }
  if (!o->output || !*o->output) {
    snprintf(err, errlen, "no output path given");
    return -1;
  }
  if (o->emit == CODEGEN_EMIT_EXE && strcmp(o->output, "-") == 0) {
    snprintf(err, errlen, "an executable cannot be written to standard output");
    return -1;
  }
  if (codegen_emit_is_library(o->emit)) return cg_compile_library(m, o, start, err, errlen);
  /* The output first: one that cannot be written fails before the work. */
  pmm_outfile out;
  if (pmm_outfile_open(&out, o->output, err, errlen) != 0) return -1;
  emit_target target;
  if (emit_target_init(&target, o, err, errlen) != 0) {
    pmm_outfile_abort(&out);
    return -1;
  }
  codegen_report local, *rep = o->report ? o->report : &local;
  LLVMContextRef ctx = LLVMContextCreate();
  LLVMModuleRef mod = NULL;
  int rc = cg_build_optimised(m, o, &target, ctx, &mod, rep, err, errlen);
  if (rc == 0) rc = cg_write_output(&target, ctx, mod, o, start, rep, &out, err, errlen);
  rc = pmm_outfile_finish(&out, rc, err, errlen);
  if (mod) LLVMDisposeModule(mod);
  LLVMContextDispose(ctx);
  emit_target_free(&target);
  return rc;
}
