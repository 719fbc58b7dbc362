/*
 * test_passes.c - the optimiser's passes (compiler/opt) and their wiring:
 *
 *   shapes  hand-built modules with one wrong length or uniformity each are
 *           rejected with a message naming block, instruction, op, label,
 *           found and expected; every shipped model passes;
 *   dce     dead instructions, tensors, tables, programs, mixtures and atom
 *           sets are removed and references renumbered; the interpreter's
 *           output is bit-identical before and after (small module, gmm8,
 *           bench-mlp);
 *   plan    a checker that simulates liveness validates the plan of every
 *           shipped model after each pipeline (and is shown to catch a
 *           broken plan); exact offsets of a small module; overflow; the
 *           bench-mlp arena against the old one-slot-per-instruction plan;
 *   golden  the IR after every pass of the compiled pipeline for gmm8,
 *           bench-mlp, counts5 and words50 equals tests/opt/golden/NAME.ir
 *           (PMMC_UPDATE_GOLDEN=1 rewrites them instead, docs/passes.md);
 *   driver  pmmc build/run --dump-after and --passes.
 *
 * Seeds are printed where noise is drawn; every comparison is exact.
 */
#define _GNU_SOURCE /* open_memstream */
#include <check.h>
#include <dirent.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "compiler/front/spec.h"
#include "compiler/interp/interp.h"
#include "compiler/ir/ir.h"
#include "compiler/lower/lower.h"
#include "compiler/opt/opt.h"
#include "compiler/util/diag.h"
#include "runtime/pmmrt.h"
#include "tests/util/testutil.h"

/* ---- helpers ---------------------------------------------------------------- */

static int32_t emit(ir_block *b, ir_op op, uint32_t nargs, const int32_t *args, uint32_t len,
                    int uniform) {
  int32_t i = ir_emit(b, op, nargs, args, len, uniform);
  ck_assert_int_ge(i, 0);
  return i;
}

static void set_label(ir_block *b, int32_t i, const char *label) {
  b->insts[i].label = strdup(label);
  ck_assert_ptr_nonnull(b->insts[i].label);
}

/* Lower models/NAME/model.yaml; with `passes` non-NULL also run the pipeline
 * (passes "" = the pipeline's own list). */
static void load_model(const char *name, opt_pipeline pipeline, const char *passes, ir_module *m) {
  char path[PATH_MAX];
  snprintf(path, sizeof path, "%s/models/%s/model.yaml", tu_srcdir(), name);
  model_spec spec;
  diag_list dl;
  diag_list_init(&dl);
  int rc = spec_load(path, &spec, &dl);
  if (rc == 0) {
    rc = lower_model(&spec, NULL, m, &dl);
    spec_free(&spec);
  }
  if (rc != 0) diag_print(&dl, stderr);
  diag_list_free(&dl);
  ck_assert_msg(rc == 0, "cannot load %s", path);
  if (!passes) return;
  opt_options o;
  opt_options_init(&o, pipeline);
  o.passes = *passes ? passes : NULL;
  char err[1024];
  ck_assert_msg(opt_run_pipeline(m, &o, err, sizeof err) == 0, "%s: %s", name, err);
}

/* Run one block of a planned module with the interpreter; out holds
 * block_size * out_len floats. */
static void run_block(const ir_module *m, uint64_t seed, float *out) {
  interp *ip;
  char err[512];
  ck_assert_msg(interp_init(&ip, m, err, sizeof err) == 0, "%s", err);
  float *scratch = aligned_alloc(64, (m->scratch_floats * 4 + 63) / 64 * 64);
  ck_assert_ptr_nonnull(scratch);
  for (uint64_t i = 0; i < m->scratch_floats; i++) scratch[i] = NAN; /* undefined on entry */
  pmm_block blk = {.seed = seed, .first_index = 7, .out = out, .scratch = scratch};
  pmm_rng_key(seed, 0, blk.key);
  ck_assert_int_eq(interp_run_block(ip, &blk), 0);
  interp_free(ip);
  free(scratch);
}

/* The shipped models: the folders under models/ holding a model.yaml. */
static size_t list_models(char names[][64], size_t cap) {
  char dir[PATH_MAX];
  snprintf(dir, sizeof dir, "%s/models", tu_srcdir());
  DIR *d = opendir(dir);
  ck_assert_msg(d != NULL, "cannot open %s", dir);
  size_t n = 0;
  struct dirent *e;
  while ((e = readdir(d))) {
    char yaml[PATH_MAX + 96];
    struct stat st;
    if (e->d_name[0] == '.' || strlen(e->d_name) >= 64) continue;
    snprintf(yaml, sizeof yaml, "%s/%s/model.yaml", dir, e->d_name);
    if (stat(yaml, &st) != 0) continue;
    ck_assert_uint_lt(n, cap);
    strcpy(names[n++], e->d_name);
  }
  closedir(d);
  return n;
}

/* ---- a small hand-built module ----------------------------------------------
 *
 * steps 2, state [2], block 3.  Instructions marked (dead) feed no result:
 *   init  { %0 = randn stream=5 (dead); %1 = fill 0.5; return %1 }
 *   step  { %0 = state; %1 = table dead (dead); %2 = table c; %3 = dense deadw (%0) (dead);
 *           %4 = mul (%2, %0); %5 = randn; %6 = dense w, b (%4) 'fc';
 *           %7 = fused p1 (%6, %5); %8 = add (%3, %7) (dead); %9 = add (%7, %4);
 *           return %9 }
 *   final { %0 = state; %1 = act relu (%0); %2 = act tanh (%0) (dead); return %1 }
 * Tensor deadw, table dead, program p0, the mixture and the atom set are
 * referenced only by dead instructions or not at all. */
static void build_small(ir_module *m) {
  ck_assert_int_eq(ir_module_init(m, "small"), 0);
  m->steps = m->schedule_steps = m->nfe = 2;
  m->rank = 1;
  m->shape[0] = 2;
  m->state_len = m->out_len = 2;
  m->block_size = 3;
  m->prior_precision = 1.0;
  static const float c[2] = {0.5f, 2.0f}, dead[2] = {1, 1};
  static const float w[4] = {1, 2, 3, 4}, dw[4] = {9, 9, 9, 9}, bias[2] = {-1, 1};
  static const uint64_t wshape[2] = {2, 2}, bshape[1] = {2};
  ck_assert_int_eq(ir_add_table(m, "dead", 2, dead), 0);
  ck_assert_int_eq(ir_add_table(m, "c", 2, c), 1);
  ck_assert_int_eq(ir_add_tensor(m, "deadw", 2, wshape, dw), 0);
  ck_assert_int_eq(ir_add_tensor(m, "w", 2, wshape, w), 1);
  ck_assert_int_eq(ir_add_tensor(m, "b", 1, bshape, bias), 2);
  const ir_uop p0[2] = {{.kind = IR_UOP_ARG}, {.kind = IR_UOP_ACT, .a = 0, .act = PMM_ACT_RELU}};
  const ir_uop p1[4] = {{.kind = IR_UOP_ARG, .a = 0},
                        {.kind = IR_UOP_ARG, .a = 1},
                        {.kind = IR_UOP_MUL, .a = 0, .b = 1},
                        {.kind = IR_UOP_ACT, .a = 2, .act = PMM_ACT_SILU}};
  ck_assert_int_eq(ir_add_prog(m, 2, p0), 0);
  ck_assert_int_eq(ir_add_prog(m, 4, p1), 1);
  static const float one = 1, zero = 0, val[2] = {0.5f, -0.5f};
  ck_assert_int_eq(ir_add_mixture(m, 1, 1, &one, &zero, &one), 0);
  ck_assert_int_eq(ir_add_atoms(m, 1, 2, 0, val, &zero), 0);

  ir_block *b = &m->blocks[IR_BLOCK_INIT];
  int32_t r = emit(b, IR_OP_RANDN, 0, NULL, 2, 0); /* emit may move b->insts */
  b->insts[r].stream = 5;
  b->result = emit(b, IR_OP_FILL, 0, NULL, 2, 0);
  b->insts[b->result].fattr = 0.5f;

  b = &m->blocks[IR_BLOCK_STEP];
  int32_t s = emit(b, IR_OP_STATE, 0, NULL, 2, 0);
  r = emit(b, IR_OP_TABLE, 0, NULL, 1, 1);
  b->insts[r].table = 0;
  int32_t t = emit(b, IR_OP_TABLE, 0, NULL, 1, 1);
  b->insts[t].table = 1;
  int32_t dd = emit(b, IR_OP_DENSE, 1, &s, 2, 0);
  b->insts[dd].weight = 0;
  int32_t x = emit(b, IR_OP_MUL, 2, (int32_t[]){t, s}, 2, 0);
  int32_t e = emit(b, IR_OP_RANDN, 0, NULL, 2, 0);
  int32_t d = emit(b, IR_OP_DENSE, 1, &x, 2, 0);
  b->insts[d].weight = 1;
  b->insts[d].bias = 2;
  set_label(b, d, "fc");
  int32_t f = emit(b, IR_OP_FUSED, 2, (int32_t[]){d, e}, 2, 0);
  b->insts[f].prog = 1;
  emit(b, IR_OP_ADD, 2, (int32_t[]){dd, f}, 2, 0);
  b->result = emit(b, IR_OP_ADD, 2, (int32_t[]){f, x}, 2, 0);

  b = &m->blocks[IR_BLOCK_FINAL];
  s = emit(b, IR_OP_STATE, 0, NULL, 2, 0);
  b->result = emit(b, IR_OP_ACT, 1, &s, 2, 0);
  b->insts[b->result].act = PMM_ACT_RELU;
  r = emit(b, IR_OP_ACT, 1, &s, 2, 0);
  b->insts[r].act = PMM_ACT_TANH;

  char err[512];
  ck_assert_msg(ir_verify(m, err, sizeof err) == 0, "%s", err);
}

/* ---- shapes --------------------------------------------------------------------- */

/* The pass infers every instruction's shape and uniformity, replacing
 * whatever the IR said, and rejects operands and attributes that no shape
 * fits, naming the instruction. */
START_TEST(test_shapes_infers) {
  ir_module m;
  build_small(&m);
  char err[512];
  ck_assert_msg(opt_infer_shapes(&m, err, sizeof err) == 0, "%s", err);
  ir_block *step = &m.blocks[IR_BLOCK_STEP], *fin = &m.blocks[IR_BLOCK_FINAL];

  step->insts[6].len = 3;
  step->insts[6].shape = tshape_vec(3);
  step->insts[4].uniform = 1;
  step->insts[2].uniform = 0;
  step->insts[7].len = 4;
  fin->insts[1].uniform = 1;
  ck_assert_msg(opt_infer_shapes(&m, err, sizeof err) == 0, "%s", err);
  ck_assert_uint_eq(step->insts[6].len, 2);
  ck_assert_uint_eq(step->insts[6].shape.rank, 1);
  ck_assert_uint_eq(step->insts[6].shape.dim[0], 2);
  ck_assert_uint_eq(step->insts[7].len, 2);
  ck_assert_int_eq(step->insts[4].uniform, 0);
  ck_assert_int_eq(step->insts[2].uniform, 1);
  ck_assert_int_eq(fin->insts[1].uniform, 0);

  step->insts[6].weight = step->insts[6].bias; /* a vector is no dense weight */
  ck_assert_int_ne(opt_infer_shapes(&m, err, sizeof err), 0);
  ck_assert_msg(strstr(err, "step block, %6 (dense 'fc'): weight") && strstr(err, "has rank 1, "
                                                                                  "expected 2"),
                "%s", err);
  ir_module_free(&m);

  build_small(&m);
  step = &m.blocks[IR_BLOCK_STEP];
  step->insts[4].args[1] = 12;
  ck_assert_int_ne(opt_infer_shapes(&m, err, sizeof err), 0);
  ck_assert_msg(strstr(err, "step block, %4 (mul): operand 1: bad index 12"), "%s", err);
  step->insts[4].args[1] = 0;
  ck_assert_msg(opt_infer_shapes(&m, err, sizeof err) == 0, "%s", err);
  ir_module_free(&m);
}
END_TEST

START_TEST(test_shapes_models) {
  char names[16][64];
  size_t n = list_models(names, 16);
  ck_assert_uint_ge(n, 5);
  for (size_t i = 0; i < n; i++) {
    ir_module m;
    load_model(names[i], OPT_PIPELINE_COMPILED, NULL, &m);
    char err[512];
    ck_assert_msg(opt_infer_shapes(&m, err, sizeof err) == 0, "%s: %s", names[i], err);
    ir_module_free(&m);
  }
}
END_TEST

/* ---- dce ------------------------------------------------------------------------ */

START_TEST(test_dce_small) {
  const uint64_t seed = 90210;
  printf("test_dce_small: seed %llu\n", (unsigned long long)seed);
  ir_module before, after;
  build_small(&before);
  build_small(&after);
  char err[512];
  ck_assert_msg(opt_eliminate_dead_code(&after, err, sizeof err) == 0, "%s", err);
  ck_assert_msg(ir_verify(&after, err, sizeof err) == 0, "%s", err);

  const ir_block *init = &after.blocks[IR_BLOCK_INIT], *step = &after.blocks[IR_BLOCK_STEP],
                 *fin = &after.blocks[IR_BLOCK_FINAL];
  ck_assert_uint_eq(init->count, 1);
  ck_assert_int_eq(init->insts[0].op, IR_OP_FILL);
  ck_assert_int_eq(init->result, 0);
  ck_assert_uint_eq(fin->count, 2);
  ck_assert_int_eq(fin->result, 1);
  /* step: state, table c, mul, randn, dense, fused, add */
  static const ir_op ops[7] = {IR_OP_STATE, IR_OP_TABLE, IR_OP_MUL, IR_OP_RANDN,
                               IR_OP_DENSE, IR_OP_FUSED, IR_OP_ADD};
  ck_assert_uint_eq(step->count, 7);
  for (int i = 0; i < 7; i++) ck_assert_int_eq(step->insts[i].op, ops[i]);
  ck_assert_int_eq(step->result, 6);
  ck_assert_int_eq(step->insts[2].args[0], 1);
  ck_assert_int_eq(step->insts[2].args[1], 0);
  ck_assert_int_eq(step->insts[4].args[0], 2);
  ck_assert_int_eq(step->insts[5].args[0], 4);
  ck_assert_int_eq(step->insts[5].args[1], 3);
  ck_assert_int_eq(step->insts[6].args[0], 5);
  ck_assert_int_eq(step->insts[6].args[1], 2);
  ck_assert_str_eq(step->insts[4].label, "fc");

  /* module data: only what live instructions read, renumbered */
  ck_assert_uint_eq(after.ntables, 1);
  ck_assert_str_eq(after.tables[0].name, "c");
  ck_assert_int_eq(step->insts[1].table, 0);
  ck_assert_uint_eq(after.ntensors, 2);
  ck_assert_str_eq(after.tensors[0].name, "w");
  ck_assert_str_eq(after.tensors[1].name, "b");
  ck_assert_int_eq(step->insts[4].weight, 0);
  ck_assert_int_eq(step->insts[4].bias, 1);
  ck_assert_uint_eq(after.nprogs, 1);
  ck_assert_uint_eq(after.progs[0].count, 4);
  ck_assert_int_eq(step->insts[5].prog, 0);
  ck_assert_uint_eq(after.nmixtures, 0);
  ck_assert_uint_eq(after.natoms, 0);
  ck_assert_uint_lt(ir_count_weight_bytes(&after), ir_count_weight_bytes(&before));

  /* a second run has nothing left to remove */
  ck_assert_msg(opt_eliminate_dead_code(&after, err, sizeof err) == 0, "%s", err);
  ck_assert_uint_eq(step->count, 7);
  ck_assert_uint_eq(after.ntensors, 2);

  /* the same samples, bit for bit */
  ck_assert_msg(opt_plan_memory(&before, err, sizeof err) == 0, "%s", err);
  ck_assert_msg(opt_plan_memory(&after, err, sizeof err) == 0, "%s", err);
  float a[3 * 2], b[3 * 2];
  run_block(&before, seed, a);
  run_block(&after, seed, b);
  for (int i = 0; i < 6; i++) {
    ck_assert_msg(isfinite(a[i]), "out[%d] = %g", i, a[i]);
    ck_assert_msg(memcmp(&a[i], &b[i], sizeof a[i]) == 0, "out[%d]: %.9g before dce, %.9g after", i,
                  a[i], b[i]);
  }
  ir_module_free(&before);
  ir_module_free(&after);
}
END_TEST

/* Shipped models with and without dce (nothing else): the same block. */
START_TEST(test_dce_models_same_samples) {
  static const char *const models[] = {"gmm8", "bench-mlp", "counts5"};
  const uint64_t seed = 31337;
  printf("test_dce_models_same_samples: seed %llu\n", (unsigned long long)seed);
  for (size_t k = 0; k < sizeof models / sizeof models[0]; k++) {
    ir_module a, b;
    load_model(models[k], OPT_PIPELINE_INTERPRETED, "shapes,plan", &a);
    load_model(models[k], OPT_PIPELINE_INTERPRETED, "shapes,dce,plan", &b);
    size_t n = (size_t)a.block_size * a.out_len;
    float *x = malloc(n * sizeof *x), *y = malloc(n * sizeof *y);
    ck_assert(x && y);
    run_block(&a, seed, x);
    run_block(&b, seed, y);
    ck_assert_msg(memcmp(x, y, n * sizeof *x) == 0, "%s: dce changed the samples", models[k]);
    free(x);
    free(y);
    ir_module_free(&a);
    ir_module_free(&b);
  }
}
END_TEST

/* ---- plan --------------------------------------------------------------------- */

/* Validate m's memory plan independently of plan.c: simulate each block's
 * liveness (a value from its definition to its last use, the result to the
 * block's end) and require that values live at the same time never share a
 * float, that no value but a STATE touches the state buffer, that STATE
 * instructions sit on it, and that everything is aligned and inside the
 * arena.  0 when valid, else -1 with the reason. */
static int plan_check(const ir_module *m, char *why, size_t len) {
  uint64_t rows = m->block_size, state_end = m->state_offset + rows * m->state_len;
  if (m->scratch_floats == 0 || m->scratch_floats % 16 || m->state_offset % 16 ||
      state_end > m->scratch_floats) {
    snprintf(why, len, "bad arena: state@%llu scratch=%llu", (unsigned long long)m->state_offset,
             (unsigned long long)m->scratch_floats);
    return -1;
  }
  for (int k = 0; k < IR_BLOCK_COUNT; k++) {
    const ir_block *b = &m->blocks[k];
    uint32_t *last = calloc(b->count ? b->count : 1, sizeof *last);
    ck_assert_ptr_nonnull(last);
    for (uint32_t i = 0; i < b->count; i++) {
      last[i] = i;
      for (uint32_t a = 0; a < b->insts[i].nargs; a++) last[b->insts[i].args[a]] = i;
    }
    last[b->result] = b->count - 1;
    int bad = 0;
    for (uint32_t i = 0; i < b->count && !bad; i++) {
      const ir_inst *x = &b->insts[i];
      uint64_t xe = x->offset + (x->uniform ? 1 : rows) * x->len;
      if (x->op == IR_OP_STATE) {
        if (x->offset != m->state_offset)
          bad = snprintf(why, len, "%s %%%u: state at %llu", ir_block_name(k), i,
                         (unsigned long long)x->offset);
        continue;
      }
      if (x->offset % 16 || xe > m->scratch_floats ||
          (x->offset < state_end && xe > m->state_offset))
        bad = snprintf(why, len,
                       "%s %%%u: [%llu, %llu) misaligned, outside the arena or on the "
                       "state",
                       ir_block_name(k), i, (unsigned long long)x->offset, (unsigned long long)xe);
      for (uint32_t j = 0; j < i && !bad; j++) {
        const ir_inst *y = &b->insts[j];
        uint64_t ye = y->offset + (y->uniform ? 1 : rows) * y->len;
        if (y->op == IR_OP_STATE || last[j] < i) continue; /* not live at i's definition */
        if (x->offset < ye && y->offset < xe)
          bad = snprintf(why, len, "%s %%%u [%llu, %llu) overlaps live %%%u [%llu, %llu)",
                         ir_block_name(k), i, (unsigned long long)x->offset, (unsigned long long)xe,
                         j, (unsigned long long)y->offset, (unsigned long long)ye);
      }
    }
    free(last);
    if (bad) return -1;
  }
  return 0;
}

/* The arena the old plan (no reuse: the state, then a 16-float aligned
 * slot for every value of every block) needed for m. */
static uint64_t plan_no_reuse_floats(const ir_module *m) {
  uint64_t off = ((uint64_t)m->block_size * m->state_len + 15) / 16 * 16;
  for (int k = 0; k < IR_BLOCK_COUNT; k++)
    for (uint32_t i = 0; i < m->blocks[k].count; i++) {
      const ir_inst *in = &m->blocks[k].insts[i];
      if (in->op != IR_OP_STATE)
        off += ((uint64_t)(in->uniform ? 1 : m->block_size) * in->len + 15) / 16 * 16;
    }
  return off;
}

START_TEST(test_plan_small_exact) {
  ir_module m;
  build_small(&m);
  m.block_size = 5; /* a value of 2 floats a row takes 10, padded to 16 */
  char err[512];
  ck_assert_msg(opt_eliminate_dead_code(&m, err, sizeof err) == 0, "%s", err);
  ck_assert_msg(opt_plan_memory(&m, err, sizeof err) == 0, "%s", err);
  ck_assert_msg(plan_check(&m, err, sizeof err) == 0, "%s", err);
  /* After dce the step is %0 state, %1 table [1,2], %2 mul [2,6], %3 randn
   * [3,5], %4 dense [4,5], %5 fused [5,6], %6 add [6,6] (live ranges,
   * inclusive).  The state takes [0, 10), values start at 16 and are placed
   * by size, then definition, each at the lowest free aligned offset. */
  const ir_block *s = &m.blocks[IR_BLOCK_STEP];
  ck_assert_uint_eq(m.state_offset, 0);
  ck_assert_uint_eq(s->insts[0].offset, 0);
  ck_assert_uint_eq(s->insts[2].offset, 16); /* mul, live to the end (operand of the result) */
  ck_assert_uint_eq(s->insts[3].offset, 32); /* randn */
  ck_assert_uint_eq(s->insts[4].offset, 48); /* dense, live with mul and randn */
  ck_assert_uint_eq(s->insts[5].offset, 64); /* fused reads randn and dense: clear of both */
  ck_assert_uint_eq(s->insts[6].offset, 32); /* add: randn is dead by now */
  ck_assert_uint_eq(s->insts[1].offset, 32); /* table, dead before randn is defined */
  ck_assert_uint_eq(m.blocks[IR_BLOCK_INIT].insts[0].offset, 16);
  ck_assert_uint_eq(m.blocks[IR_BLOCK_FINAL].insts[1].offset, 16);
  ck_assert_uint_eq(m.scratch_floats, 80);
  ck_assert_uint_eq(plan_no_reuse_floats(&m), 16 + 8 * 16);

  /* the checker is not a rubber stamp */
  ir_inst *fused = &m.blocks[IR_BLOCK_STEP].insts[5];
  fused->offset = 48; /* on its own operand */
  ck_assert_int_ne(plan_check(&m, err, sizeof err), 0);
  ck_assert_msg(strstr(err, "step %5 [48, 58) overlaps live %4 [48, 58)"), "%s", err);
  fused->offset = 0; /* on the state */
  ck_assert_int_ne(plan_check(&m, err, sizeof err), 0);
  fused->offset = 72; /* misaligned */
  ck_assert_int_ne(plan_check(&m, err, sizeof err), 0);
  fused->offset = 64;
  ck_assert_msg(plan_check(&m, err, sizeof err) == 0, "%s", err);
  ir_module_free(&m);
}
END_TEST

START_TEST(test_plan_overflow) {
  ir_module m;
  build_small(&m);
  m.block_size = UINT32_MAX;
  ir_block *b = &m.blocks[IR_BLOCK_FINAL];
  emit(b, IR_OP_FILL, 0, NULL, UINT32_MAX, 0);
  char err[512];
  ck_assert_int_ne(opt_plan_memory(&m, err, sizeof err), 0);
  ck_assert_msg(strstr(err, "overflows"), "%s", err);
  ir_module_free(&m);
}
END_TEST

/* Every shipped model, after each pipeline and with no optimisation. */
START_TEST(test_plan_models_valid) {
  static const struct {
    opt_pipeline pipeline;
    const char *passes;
  } runs[] = {{OPT_PIPELINE_COMPILED, ""},
              {OPT_PIPELINE_INTERPRETED, ""},
              {OPT_PIPELINE_COMPILED, "shapes,plan"}};
  char names[16][64];
  size_t n = list_models(names, 16);
  for (size_t i = 0; i < n; i++)
    for (size_t r = 0; r < sizeof runs / sizeof runs[0]; r++) {
      ir_module m;
      load_model(names[i], runs[r].pipeline, runs[r].passes, &m);
      char err[512];
      ck_assert_msg(plan_check(&m, err, sizeof err) == 0, "%s (run %zu): %s", names[i], r, err);
      ir_module_free(&m);
    }
}
END_TEST

START_TEST(test_plan_bench_mlp_smaller) {
  ir_module lowered, m;
  load_model("bench-mlp", OPT_PIPELINE_COMPILED, NULL, &lowered);
  load_model("bench-mlp", OPT_PIPELINE_COMPILED, "", &m);
  uint64_t old_lowered = plan_no_reuse_floats(&lowered), old_same = plan_no_reuse_floats(&m);
  printf("bench-mlp (block %u): one slot an instruction %llu bytes (lowered IR), %llu bytes "
         "(optimised IR); liveness plan %llu bytes\n",
         m.block_size, (unsigned long long)old_lowered * 4, (unsigned long long)old_same * 4,
         (unsigned long long)m.scratch_floats * 4);
  ck_assert_uint_lt(m.scratch_floats, old_same);
  ck_assert_uint_lt(m.scratch_floats, old_lowered);
  /* the floor: the state plus the two 256-wide activations a dense layer
   * reads and writes at once */
  ck_assert_uint_ge(m.scratch_floats, (uint64_t)m.block_size * (m.state_len + 2 * 256));
  ir_module_free(&lowered);
  ir_module_free(&m);
}
END_TEST

/* ---- golden IR --------------------------------------------------------------- */

/* 1-based number of the first line where a and b differ. */
static int first_diff_line(const char *a, const char *b, char *la, char *lb, size_t len) {
  int line = 1;
  const char *sa = a, *sb = b;
  while (*a && *a == *b) {
    if (*a == '\n') {
      line++;
      sa = a + 1;
      sb = b + 1;
    }
    a++, b++;
  }
  snprintf(la, len, "%.*s", (int)strcspn(sa, "\n"), sa);
  snprintf(lb, len, "%.*s", (int)strcspn(sb, "\n"), sb);
  return line;
}

static void check_golden(const char *name) {
  ir_module m;
  load_model(name, OPT_PIPELINE_COMPILED, NULL, &m);
  char *text = NULL;
  size_t len = 0;
  FILE *f = open_memstream(&text, &len);
  ck_assert_ptr_nonnull(f);
  opt_options o;
  opt_options_init(&o, OPT_PIPELINE_COMPILED);
  o.dump_after = "all";
  o.dump = f;
  char err[1024];
  int rc = opt_run_pipeline(&m, &o, err, sizeof err);
  fclose(f);
  ck_assert_msg(rc == 0, "%s: %s", name, err);
  ir_module_free(&m);

  char path[PATH_MAX];
  snprintf(path, sizeof path, "%s/tests/opt/golden/%s.ir", tu_srcdir(), name);
  const char *update = getenv("PMMC_UPDATE_GOLDEN");
  if (update && strcmp(update, "1") == 0) {
    FILE *g = fopen(path, "w");
    ck_assert_msg(g != NULL, "cannot write %s", path);
    ck_assert_uint_eq(fwrite(text, 1, len, g), len);
    ck_assert_int_eq(fclose(g), 0);
    printf("%s: golden file rewritten (%zu bytes)\n", path, len);
    free(text);
    return;
  }
  char *want = tu_read_file(path, NULL);
  ck_assert_msg(want != NULL, "cannot read %s (PMMC_UPDATE_GOLDEN=1 writes it)", path);
  if (strcmp(text, want) != 0) {
    char la[256], lb[256];
    int line = first_diff_line(text, want, la, lb, sizeof la);
    ck_abort_msg("%s: IR after the passes differs from %s at line %d:\n  got:      %s\n"
                 "  expected: %s\n(PMMC_UPDATE_GOLDEN=1 make check TESTS=tests/opt/test_passes "
                 "rewrites the golden files; review the diff)",
                 name, path, line, la, lb);
  }
  free(want);
  free(text);
}

START_TEST(test_golden_gmm8) { check_golden("gmm8"); }
END_TEST

START_TEST(test_golden_bench_mlp) { check_golden("bench-mlp"); }
END_TEST

START_TEST(test_golden_counts5) { check_golden("counts5"); }
END_TEST

START_TEST(test_golden_words50) { check_golden("words50"); }
END_TEST

/* GroupNorm + FiLM + SiLU fused, FiLM tables folded per step, attention */
START_TEST(test_golden_unet_tiny) { check_golden("unet-tiny"); }
END_TEST

START_TEST(test_golden_dit_tiny) { check_golden("dit-tiny"); }
END_TEST

/* ---- the driver: --dump-after and --passes ------------------------------------ */

/* What `pmmc build --emit=ir` should print: the model through the pipeline. */
static char *expected_ir(const char *name, opt_pipeline pipeline, const char *passes,
                         const char *dump_after, char **dump) {
  ir_module m;
  load_model(name, pipeline, NULL, &m);
  char *text = NULL, *dtext = NULL;
  size_t len = 0, dlen = 0;
  FILE *f = open_memstream(&text, &len), *d = open_memstream(&dtext, &dlen);
  ck_assert(f && d);
  opt_options o;
  opt_options_init(&o, pipeline);
  o.passes = passes;
  o.dump_after = dump_after;
  o.dump = d;
  char err[1024];
  ck_assert_msg(opt_run_pipeline(&m, &o, err, sizeof err) == 0, "%s", err);
  ir_print(&m, f);
  fclose(f);
  fclose(d);
  ir_module_free(&m);
  *dump = dtext;
  return text;
}

START_TEST(test_driver_build) {
  char yaml[PATH_MAX];
  snprintf(yaml, sizeof yaml, "%s/models/gmm8/model.yaml", tu_srcdir());
  char *out, *err, *dump;
  /* no optimisation: the lowered IR, planned */
  char *want = expected_ir("gmm8", OPT_PIPELINE_COMPILED, "shapes,plan", NULL, &dump);
  int st = tu_run_capture(&out, &err, "'%s' build '%s' --emit=ir -o - --passes=shapes,plan",
                          tu_pmmc(), yaml);
  ck_assert_msg(st == 0, "exit %d: %s", st, err);
  ck_assert_msg(strcmp(out, want) == 0, "--passes=shapes,plan:\n%s\nexpected:\n%s", out, want);
  ck_assert_str_eq(err, "");
  free(out), free(err), free(want), free(dump);

  /* the compiled pipeline, dumped after every pass; the build carries on */
  want = expected_ir("gmm8", OPT_PIPELINE_COMPILED, NULL, "all", &dump);
  st = tu_run_capture(&out, &err, "'%s' build '%s' --emit=ir -o - --dump-after=all", tu_pmmc(),
                      yaml);
  ck_assert_msg(st == 0, "exit %d: %s", st, err);
  ck_assert_str_eq(out, want);
  ck_assert_str_eq(err, dump);
  for (const char *p = "shapes\0fold\0dce\0fuse\0plan\0"; *p; p += strlen(p) + 1) {
    char head[64];
    snprintf(head, sizeof head, "; IR after pass '%s'\n", p);
    ck_assert_msg(strstr(err, head), "no '%s' in the dump", head);
  }
  free(out), free(err), free(want), free(dump);

  /* usage errors, before anything is built */
  st = tu_run_capture(&out, &err, "'%s' build '%s' --emit=ir --dump-after=nope", tu_pmmc(), yaml);
  ck_assert_int_eq(st, 2);
  ck_assert_msg(strstr(err, "--dump-after: unknown pass 'nope'"), "%s", err);
  ck_assert_str_eq(out, "");
  free(out), free(err);
  st = tu_run_capture(&out, &err, "'%s' build '%s' --emit=ir --passes=shapes,,plan", tu_pmmc(),
                      yaml);
  ck_assert_int_eq(st, 2);
  ck_assert_msg(strstr(err, "--passes: 'shapes,,plan' is not a comma-separated list"), "%s", err);
  free(out), free(err);
  st = tu_run_capture(&out, &err, "'%s' --help", tu_pmmc());
  ck_assert_int_eq(st, 0);
  ck_assert_msg(strstr(out, "  fuse     fuse elementwise chains and GEMM epilogues\n"), "%s", out);
  ck_assert_msg(strstr(out, "build: shapes,fold,dce,fuse,dce,plan"), "%s", out);
  free(out), free(err);
}
END_TEST

START_TEST(test_driver_run) {
  char yaml[PATH_MAX], dir[PATH_MAX];
  snprintf(yaml, sizeof yaml, "%s/models/gmm8/model.yaml", tu_srcdir());
  tu_make_tmpdir(dir, sizeof dir);
  char *out, *err, *dump;
  /* the interpreter's pipeline has no fuse; dumps go to stderr, samples on */
  char *want = expected_ir("gmm8", OPT_PIPELINE_INTERPRETED, NULL, "dce", &dump);
  free(want);
  int st = tu_run_capture(&out, &err, "'%s' run '%s' -n 3 -s 5 --dump-after dce -o '%s/a.npy'",
                          tu_pmmc(), yaml, dir);
  ck_assert_msg(st == 0, "exit %d: %s", st, err);
  ck_assert_str_eq(err, dump);
  free(out), free(err), free(dump);
  st = tu_run_capture(&out, &err,
                      "'%s' run '%s' -n 3 -s 5 --passes=dce --dump-after=plan -o '%s/b.npy'",
                      tu_pmmc(), yaml, dir);
  ck_assert_msg(st == 0, "exit %d: %s", st, err);
  ck_assert_msg(strncmp(err, "; IR after pass 'plan'\n", 23) == 0, "%s", err);
  ck_assert_ptr_null(strstr(err + 1, "; IR after"));
  free(out), free(err);
  /* gmm8 has no dense layer for fold to split, so every pass is bit-exact
   * and the samples must not change */
  char a[PATH_MAX + 8], b[PATH_MAX + 8];
  snprintf(a, sizeof a, "%s/a.npy", dir);
  snprintf(b, sizeof b, "%s/b.npy", dir);
  size_t la, lb;
  char *ta = tu_read_file(a, &la), *tb = tu_read_file(b, &lb);
  ck_assert(ta && tb);
  ck_assert_uint_eq(la, lb);
  ck_assert_int_eq(memcmp(ta, tb, la), 0);
  free(ta), free(tb);
  st = tu_run_capture(&out, &err, "'%s' run '%s' -n 3 --passes", tu_pmmc(), yaml);
  ck_assert_int_eq(st, 2);
  ck_assert_msg(strstr(err, "option '--passes' needs a value"), "%s", err);
  free(out), free(err);
  st = tu_run_capture(&out, &err, "'%s' run '%s' -n 3 --dump-after=nope", tu_pmmc(), yaml);
  ck_assert_int_eq(st, 2);
  ck_assert_msg(strstr(err, "unknown pass 'nope'"), "%s", err);
  free(out), free(err);
  tu_remove_tree(dir);
}
END_TEST

static Suite *passes_suite(void) {
  Suite *s = suite_create("passes");
  TCase *tc = tcase_create("shapes");
  tcase_add_test(tc, test_shapes_infers);
  tcase_add_test(tc, test_shapes_models);
  suite_add_tcase(s, tc);
  tc = tcase_create("dce");
  tcase_add_test(tc, test_dce_small);
  tcase_add_test(tc, test_dce_models_same_samples);
  suite_add_tcase(s, tc);
  tc = tcase_create("plan");
  tcase_add_test(tc, test_plan_small_exact);
  tcase_add_test(tc, test_plan_overflow);
  tcase_add_test(tc, test_plan_models_valid);
  tcase_add_test(tc, test_plan_bench_mlp_smaller);
  suite_add_tcase(s, tc);
  tc = tcase_create("golden");
  tcase_add_test(tc, test_golden_gmm8);
  tcase_add_test(tc, test_golden_bench_mlp);
  tcase_add_test(tc, test_golden_counts5);
  tcase_add_test(tc, test_golden_words50);
  tcase_add_test(tc, test_golden_unet_tiny);
  tcase_add_test(tc, test_golden_dit_tiny);
  suite_add_tcase(s, tc);
  tc = tcase_create("driver");
  tcase_add_test(tc, test_driver_build);
  tcase_add_test(tc, test_driver_run);
  suite_add_tcase(s, tc);
  return s;
}

int main(void) {
  SRunner *r = srunner_create(passes_suite());
  srunner_run_all(r, CK_NORMAL);
  int failed = srunner_ntests_failed(r);
  srunner_free(r);
  return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
