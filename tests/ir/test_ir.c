/*
 * test_ir.c - the IR core on hand-built modules: the verifier rejects each
 * kind of malformation with a message naming block and instruction, the
 * FLOP count matches a hand count, and the printer's output (with a memory
 * plan, tests/opt has the plan's own tests) matches a golden text.
 *
 * Nothing here is random or approximate: every assertion is exact.
 */
#define _GNU_SOURCE /* open_memstream */
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "compiler/ir/ir.h"
#include "compiler/opt/opt.h"

/* Emit and abort the test when out of memory. */
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

/* A valid module used by most tests (steps 3, state [2], block 4):
 *   init  { %0 = fill 0.5 ; return %0 }
 *   step  { %0 = state; %1 = table c; %2 = mul(%1, %0); %3 = dense w, b (%2);
 *           %4 = randn; %5 = add(%3, %4); return %5 }
 *   final { %0 = state; %1 = act relu (%0); return %1 } */
static void build_small(ir_module *m) {
  ck_assert_int_eq(ir_module_init(m, "small"), 0);
  m->steps = 3;
  m->schedule_steps = 3;
  m->nfe = 3;
  m->rank = 1;
  m->shape[0] = 2;
  m->state_len = 2;
  m->out_len = 2;
  m->block_size = 4;
  m->pair = strdup("normal-normal");
  m->sampler = strdup("pmm");
  m->output = strdup("posterior-mean");
  m->schedule = strdup("table, 3 steps");
  m->prior_precision = 1.0;
  static const float c[3] = {0.25f, 0.5f, 1.0f};
  static const float w[4] = {1, 2, 3, 4}, bias[2] = {-1, 1};
  static const uint64_t wshape[2] = {2, 2}, bshape[1] = {2};
  ck_assert_int_eq(ir_add_table(m, "c", 3, c), 0);
  ck_assert_int_eq(ir_add_tensor(m, "w", 2, wshape, w), 0);
  ck_assert_int_eq(ir_add_tensor(m, "b", 1, bshape, bias), 1);

  ir_block *b = &m->blocks[IR_BLOCK_INIT];
  b->result = emit(b, IR_OP_FILL, 0, NULL, 2, 0);
  b->insts[0].fattr = 0.5f;

  b = &m->blocks[IR_BLOCK_STEP];
  int32_t mu = emit(b, IR_OP_STATE, 0, NULL, 2, 0);
  int32_t t = emit(b, IR_OP_TABLE, 0, NULL, 1, 1);
  b->insts[t].table = 0;
  int32_t a1[2] = {t, mu};
  int32_t x = emit(b, IR_OP_MUL, 2, a1, 2, 0);
  int32_t d = emit(b, IR_OP_DENSE, 1, &x, 2, 0);
  b->insts[d].weight = 0;
  b->insts[d].bias = 1;
  set_label(b, d, "fc");
  int32_t e = emit(b, IR_OP_RANDN, 0, NULL, 2, 0);
  int32_t a2[2] = {d, e};
  b->result = emit(b, IR_OP_ADD, 2, a2, 2, 0);

  b = &m->blocks[IR_BLOCK_FINAL];
  int32_t s = emit(b, IR_OP_STATE, 0, NULL, 2, 0);
  b->result = emit(b, IR_OP_ACT, 1, &s, 2, 0);
  b->insts[b->result].act = PMM_ACT_RELU;
}

/* Give an instruction the shape [n] (and its length). */
static void set_vec(ir_inst *in, uint32_t n) {
  in->shape = tshape_vec(n);
  in->len = n;
}

/* The module must fail verification with a message containing both
 * fragments (where, what). */
static void assert_rejected(const ir_module *m, const char *where, const char *what) {
  char err[512];
  ck_assert_int_ne(ir_verify(m, err, sizeof err), 0);
  ck_assert_msg(strstr(err, where) != NULL, "message '%s' does not name '%s'", err, where);
  ck_assert_msg(strstr(err, what) != NULL, "message '%s' does not say '%s'", err, what);
}

START_TEST(test_verify_valid) {
  ir_module m;
  build_small(&m);
  char err[512];
  ck_assert_msg(ir_verify(&m, err, sizeof err) == 0, "%s", err);
  ck_assert_str_eq(err, "");
  ir_module_free(&m);
}
END_TEST

START_TEST(test_verify_bad_operand) {
  ir_module m;
  build_small(&m);
  m.blocks[IR_BLOCK_STEP].insts[2].args[1] = 99;
  assert_rejected(&m, "step block, %2 (mul)", "operand 1: bad index 99");
  m.blocks[IR_BLOCK_STEP].insts[2].args[1] = -1;
  assert_rejected(&m, "step block, %2 (mul)", "bad index -1");
  ir_module_free(&m);
}
END_TEST

START_TEST(test_verify_forward_reference) {
  ir_module m;
  build_small(&m);
  m.blocks[IR_BLOCK_STEP].insts[3].args[0] = 4;
  assert_rejected(&m, "step block, %3 (dense 'fc')", "forward reference to %4");
  m.blocks[IR_BLOCK_STEP].insts[3].args[0] = 3;
  assert_rejected(&m, "step block, %3 (dense 'fc')", "refers to itself");
  ir_module_free(&m);
}
END_TEST

START_TEST(test_verify_length_mismatch) {
  ir_module m;
  build_small(&m);
  set_vec(&m.blocks[IR_BLOCK_STEP].insts[4], 3); /* randn [3] + dense [2] */
  assert_rejected(&m, "step block, %5 (add)",
                  "operand shapes [2] (%3) and [3] (%4) do not broadcast");
  set_vec(&m.blocks[IR_BLOCK_STEP].insts[4], 2);
  set_vec(&m.blocks[IR_BLOCK_STEP].insts[3], 3);
  assert_rejected(&m, "step block, %3 (dense 'fc')", "shape [3] (3 floats), expected [2]");
  ir_module_free(&m);

  build_small(&m);
  m.blocks[IR_BLOCK_STEP].insts[0].len = 3;
  assert_rejected(&m, "step block, %0 (state)", "shape [2] (3 floats), expected [2]");
  ir_module_free(&m);
}
END_TEST

START_TEST(test_verify_table_outside_step) {
  ir_module m;
  build_small(&m);
  ir_block *b = &m.blocks[IR_BLOCK_FINAL];
  int32_t t = emit(b, IR_OP_TABLE, 0, NULL, 1, 1);
  b->insts[t].table = 0;
  assert_rejected(&m, "final block, %2 (table)", "table outside the step block");
  ir_module_free(&m);

  build_small(&m);
  m.blocks[IR_BLOCK_STEP].insts[1].table = 5;
  assert_rejected(&m, "step block, %1 (table)", "table index 5 out of range (module has 1 tables)");
  ir_module_free(&m);
}
END_TEST

START_TEST(test_verify_missing_result) {
  ir_module m;
  build_small(&m);
  m.blocks[IR_BLOCK_STEP].result = -1;
  assert_rejected(&m, "step block: ", "missing result");
  m.blocks[IR_BLOCK_STEP].result = 6;
  assert_rejected(&m, "step block: ", "missing result (result is 6, block has 6 instructions)");
  ir_module_free(&m);

  build_small(&m); /* a block returning a uniform or wrong-length value */
  m.blocks[IR_BLOCK_STEP].result = 1;
  assert_rejected(&m, "step block: ", "result %1 is uniform");
  ir_module_free(&m);

  build_small(&m);
  m.out_len = 3;
  m.shape[0] = 3;
  assert_rejected(&m, "final block: ", "result %1 has length 2, expected 3 (output)");
  ir_module_free(&m);
}
END_TEST

START_TEST(test_verify_bad_tensor) {
  ir_module m;
  build_small(&m);
  m.blocks[IR_BLOCK_STEP].insts[3].weight = 7;
  assert_rejected(&m, "step block, %3 (dense 'fc')",
                  "weight tensor index 7 out of range (module has 2 tensors)");
  m.blocks[IR_BLOCK_STEP].insts[3].weight = 1; /* the bias: rank 1 */
  assert_rejected(&m, "step block, %3 (dense 'fc')", "weight 'b' has rank 1, expected 2");
  m.blocks[IR_BLOCK_STEP].insts[3].weight = 0;
  m.blocks[IR_BLOCK_STEP].insts[3].bias = 0;
  assert_rejected(&m, "step block, %3 (dense 'fc')", "bias 'w' must have shape [2]");
  ir_module_free(&m);
}
END_TEST

START_TEST(test_verify_misc) {
  ir_module m;
  build_small(&m); /* uniformity must follow the operands */
  m.blocks[IR_BLOCK_STEP].insts[2].uniform = 1;
  assert_rejected(&m, "step block, %2 (mul)", "marked uniform, but its value is per-sample");
  ir_module_free(&m);

  build_small(&m); /* operand count */
  m.blocks[IR_BLOCK_STEP].insts[2].nargs = 1;
  assert_rejected(&m, "step block, %2 (mul)", "1 operands, expected 2");
  ir_module_free(&m);

  build_small(&m); /* noise in init is Heun's start; in final it has no step */
  ir_block *b = &m.blocks[IR_BLOCK_INIT];
  emit(b, IR_OP_RANDN, 0, NULL, 2, 0);
  char err[256];
  ck_assert_msg(ir_verify(&m, err, sizeof err) == 0, "%s", err);
  b = &m.blocks[IR_BLOCK_FINAL];
  emit(b, IR_OP_RANDN, 0, NULL, 2, 0);
  assert_rejected(&m, "final block, %2 (randn)", "noise drawn in the final block");
  ir_module_free(&m);

  build_small(&m);
  b = &m.blocks[IR_BLOCK_INIT];
  emit(b, IR_OP_STATE, 0, NULL, 2, 0);
  assert_rejected(&m, "init block, %1 (state)", "state in the init block");
  ir_module_free(&m);

  build_small(&m); /* tables hold one entry a step */
  m.steps = 4;
  m.schedule_steps = 4;
  assert_rejected(&m, "module 'small': ", "table 'c' has 3 entries, expected one a step (4)");
  m.schedule_steps = 3; /* the step block never runs more often than the schedule has steps */
  assert_rejected(&m, "module 'small': ", "step block runs 4 times, more than the schedule's 3");
  m.schedule_steps = 0;
  assert_rejected(&m, "module 'small': ", "zero schedule steps");
  ir_module_free(&m);

  build_small(&m); /* a step block that never runs (Heun, T <= 2) is valid */
  m.steps = 0;
  m.tables[0].count = 0;
  ck_assert_msg(ir_verify(&m, err, sizeof err) == 0, "%s", err);
  ir_module_free(&m);

  build_small(&m); /* exact_gmm needs a mixture and a uniform scalar precision */
  b = &m.blocks[IR_BLOCK_FINAL];
  int32_t args[2] = {0, 0};
  int32_t g = emit(b, IR_OP_EXACT_GMM, 2, args, 2, 0);
  b->insts[g].mixture = 0;
  assert_rejected(&m, "final block, %2 (exact_gmm)", "mixture index 0 out of range");
  static const float w[1] = {1}, mean[2] = {0, 0}, sd[1] = {1};
  ck_assert_int_eq(ir_add_mixture(&m, 1, 2, w, mean, sd), 0);
  assert_rejected(&m, "final block, %2 (exact_gmm)", "precision operand %0 must be a uniform");
  ir_module_free(&m);
}
END_TEST

/* The discrete ops (steps 2, state [6] = L 2 x K 3, out [2], block 4):
 *   init  { %0 = fill 0 ; return %0 }
 *   step  { %0 = state; %1 = dirichlet_mean k=3 beta=0.5 (%0); %2 = softmax k=3 (%1);
 *           %3 = table alpha; %4 = mul (%3, %2); %5 = poisson stream=1 (%4);
 *           %6 = exact_atoms_categorical a0 (%0); %7 = const 2;
 *           %8 = exact_atoms_normal a1 (%6, %7); %9 = exact_atoms_gamma a1 (%8, %7);
 *           %10 = add (%5, %9); return %10 }
 *   final { %0 = state; %1 = argmax k=3 (%0); return %1 }
 * a0: two words of L = 2 over K = 3 symbols; a1: two rows of 6 values. */
static void build_discrete(ir_module *m) {
  ck_assert_int_eq(ir_module_init(m, "disc"), 0);
  m->steps = 2;
  m->schedule_steps = 2;
  m->nfe = 2;
  m->rank = 1;
  m->shape[0] = 2;
  m->state_len = 6;
  m->out_len = 2;
  m->block_size = 4;
  m->pair = strdup("dirichlet-categorical");
  m->sampler = strdup("pmm");
  m->output = strdup("posterior-mean");
  m->vocab = strdup("_ab");
  m->vocab_size = 3;
  m->pad_symbol = 0;
  m->prior_concentration = 0.5;
  m->prior_smoothing = 0.25;
  m->range_lo = -1;
  m->range_hi = 2;
  static const float alpha[2] = {0.5f, 1.5f};
  static const float words[4] = {1, 2, 2, 0}, lw0[2] = {-0.5f, -1.0f};
  static const float rows[12] = {1, 2, 3, 4, 5, 6, 0.5f, 0, 1, 2, 3, 4}, lw1[2] = {0, 0};
  ck_assert_int_eq(ir_add_table(m, "alpha", 2, alpha), 0);
  ck_assert_int_eq(ir_add_atoms(m, 2, 2, 3, words, lw0), 0);
  ck_assert_int_eq(ir_add_atoms(m, 2, 6, 0, rows, lw1), 1);

  ir_block *b = &m->blocks[IR_BLOCK_INIT];
  b->result = emit(b, IR_OP_FILL, 0, NULL, 6, 0);

  b = &m->blocks[IR_BLOCK_STEP];
  int32_t c = emit(b, IR_OP_STATE, 0, NULL, 6, 0);
  int32_t mu = emit(b, IR_OP_DIRICHLET_MEAN, 1, &c, 6, 0);
  b->insts[mu].dim = 3;
  b->insts[mu].fattr = 0.5f;
  int32_t p = emit(b, IR_OP_SOFTMAX, 1, &mu, 6, 0);
  b->insts[p].axis = 1;
  int32_t t = emit(b, IR_OP_TABLE, 0, NULL, 1, 1);
  b->insts[t].table = 0;
  int32_t rate = emit(b, IR_OP_MUL, 2, (int32_t[]){t, p}, 6, 0);
  int32_t y = emit(b, IR_OP_POISSON, 1, &rate, 6, 0);
  b->insts[y].stream = 1;
  set_label(b, y, "y");
  int32_t ec = emit(b, IR_OP_EXACT_ATOMS_CATEGORICAL, 1, &c, 6, 0);
  b->insts[ec].atoms = 0;
  int32_t A = emit(b, IR_OP_CONST, 0, NULL, 1, 1);
  b->insts[A].fattr = 2.0f;
  int32_t en = emit(b, IR_OP_EXACT_ATOMS_NORMAL, 2, (int32_t[]){ec, A}, 6, 0);
  b->insts[en].atoms = 1;
  int32_t eg = emit(b, IR_OP_EXACT_ATOMS_GAMMA, 2, (int32_t[]){en, A}, 6, 0);
  b->insts[eg].atoms = 1;
  b->result = emit(b, IR_OP_ADD, 2, (int32_t[]){y, eg}, 6, 0);

  b = &m->blocks[IR_BLOCK_FINAL];
  int32_t s = emit(b, IR_OP_STATE, 0, NULL, 6, 0);
  b->result = emit(b, IR_OP_ARGMAX, 1, &s, 2, 0);
  b->insts[b->result].dim = 3;
  /* the counts are [L, K] = [2, 3]; every other shape follows from it */
  m->state_shape = tshape_make(2, (uint32_t[]){2, 3});
  m->blocks[IR_BLOCK_INIT].insts[0].shape = m->state_shape;
  char err[256];
  for (int k = 0; k < IR_BLOCK_COUNT; k++)
    for (uint32_t i = 0; i < m->blocks[k].count; i++)
      ck_assert_msg(ir_set_shape(m, (ir_block_kind)k, (int32_t)i, err, sizeof err) == 0, "%s", err);
}

START_TEST(test_verify_discrete_valid) {
  ir_module m;
  build_discrete(&m);
  char err[512];
  ck_assert_msg(ir_verify(&m, err, sizeof err) == 0, "%s", err);
  ir_module_free(&m);
}
END_TEST

/* The values samplers test for NaN and infinities: block results and the
 * operands of softmax, poisson, argmax and the exact posteriors, never a
 * STATE value (the previous block's result). */
START_TEST(test_watched_values) {
  ir_module m;
  build_discrete(&m);
  static const uint8_t want_init[1] = {1};
  static const uint8_t want_step[11] = {0, 1, 0, 0, 1, 0, 1, 1, 1, 0, 1};
  static const uint8_t want_final[2] = {0, 1};
  const uint8_t *want[IR_BLOCK_COUNT] = {want_init, want_step, want_final};
  for (int k = 0; k < IR_BLOCK_COUNT; k++) {
    uint8_t got[16];
    ck_assert_uint_le(m.blocks[k].count, sizeof got);
    ir_watched_values(&m, (ir_block_kind)k, got);
    for (uint32_t i = 0; i < m.blocks[k].count; i++)
      ck_assert_msg(got[i] == want[k][i], "%s block, %%%u: watched %d, expected %d",
                    ir_block_name((ir_block_kind)k), i, got[i], want[k][i]);
  }
  char buf[64];
  ir_inst_name(&m, &m.blocks[IR_BLOCK_STEP], 5, buf, sizeof buf);
  ck_assert_str_eq(buf, "layer 'y'");
  ir_inst_name(&m, &m.blocks[IR_BLOCK_STEP], 3, buf, sizeof buf);
  ck_assert_str_eq(buf, "table 'alpha'");
  ir_inst_name(&m, &m.blocks[IR_BLOCK_STEP], 4, buf, sizeof buf);
  ck_assert_str_eq(buf, "%4 (mul)");
  /* a run that failed starts again from init, which a given state rules out */
  m.state_in = 1;
  ir_block_free(&m.blocks[IR_BLOCK_INIT]);
  char err[256];
  ck_assert_int_ne(ir_verify(&m, err, sizeof err), 0);
  ck_assert_msg(strstr(err, "check_finite") != NULL, "%s", err);
  m.check_finite = 0;
  ck_assert_msg(ir_verify(&m, err, sizeof err) == 0, "%s", err);
  ir_module_free(&m);
}
END_TEST

START_TEST(test_verify_discrete_ops) {
  ir_module m;
  build_discrete(&m); /* poisson: per-sample rate of its own length, not in final */
  ir_block *b = &m.blocks[IR_BLOCK_STEP];
  b->insts[5].args[0] = 3;
  assert_rejected(&m, "step block, %5 (poisson 'y')", "rate operand %3 must be per-sample");
  b->insts[5].args[0] = 4;
  b->insts[5].uniform = 1;
  assert_rejected(&m, "step block, %5 (poisson 'y')",
                  "marked uniform, but its value is per-sample");
  b->insts[5].uniform = 0;
  set_vec(&b->insts[5], 5);
  assert_rejected(&m, "step block, %5 (poisson 'y')", "shape [5] (5 floats), expected [2, 3]");
  ir_module_free(&m);

  build_discrete(&m);
  b = &m.blocks[IR_BLOCK_FINAL];
  int32_t r = emit(b, IR_OP_POISSON, 1, (int32_t[]){0}, 6, 0);
  assert_rejected(&m, "final block, %2 (poisson)", "noise drawn in the final block");
  b->insts[r].op = IR_OP_SOFTMAX; /* the axis must exist */
  b->insts[r].axis = 2;
  assert_rejected(&m, "final block, %2 (softmax)", "axis 2 out of range for rank 2");
  ir_module_free(&m);

  build_discrete(&m);
  b = &m.blocks[IR_BLOCK_FINAL];
  b->insts[1].dim = 4; /* groups must divide the operand */
  assert_rejected(&m, "final block, %1 (argmax)", "length 6, not a multiple of groups of 4");
  b->insts[1].dim = 0;
  assert_rejected(&m, "final block, %1 (argmax)", "not a multiple of groups of 0");
  b->insts[1].dim = 3;
  set_vec(&b->insts[1], 3);
  assert_rejected(&m, "final block, %1 (argmax)", "shape [3] (3 floats), expected [2]");
  ir_module_free(&m);

  build_discrete(&m);
  b = &m.blocks[IR_BLOCK_STEP];
  b->insts[1].fattr = 0.0f;
  assert_rejected(&m, "step block, %1 (dirichlet_mean)", "concentration 0 must be positive");
  b->insts[1].fattr = 0.5f;
  set_vec(&b->insts[1], 3);
  assert_rejected(&m, "step block, %1 (dirichlet_mean)", "shape [3] (3 floats), expected [2, 3]");
  ir_module_free(&m);
}
END_TEST

START_TEST(test_verify_atoms) {
  ir_module m;
  build_discrete(&m); /* index, kind of set, lengths, precision operand */
  ir_block *b = &m.blocks[IR_BLOCK_STEP];
  b->insts[6].atoms = 2;
  assert_rejected(&m, "step block, %6 (exact_atoms_categorical)",
                  "atom set index 2 out of range (module has 2 atom sets)");
  b->insts[6].atoms = 1;
  assert_rejected(&m, "step block, %6 (exact_atoms_categorical)",
                  "atom set a1 does not hold symbols");
  b->insts[6].atoms = 0;
  b->insts[8].atoms = 0;
  assert_rejected(&m, "step block, %8 (exact_atoms_normal)", "atom set a0 holds symbols");
  b->insts[8].atoms = 1;
  b->insts[9].args[1] = 8;
  assert_rejected(&m, "step block, %9 (exact_atoms_gamma)",
                  "precision operand %8 must be a uniform scalar");
  ir_module_free(&m);

  build_discrete(&m);
  m.atoms[0].dim = 3; /* 3 x 3 = 9 counts, the operand has 6 */
  m.atoms[0].k = 1;
  assert_rejected(&m, "step block, %6 (exact_atoms_categorical)",
                  "atom set a0 needs 9 floats, operand %0 has 6");
  ir_module_free(&m);

  build_discrete(&m); /* categorical values must be symbol indices */
  m.atoms[0].value[3] = 3;
  assert_rejected(&m, "module 'disc': ", "atom set a0: value 3 of atom 1 is not a symbol index");
  m.atoms[0].value[3] = 0.5f;
  assert_rejected(&m, "module 'disc': ", "value 0.5 of atom 1 is not a symbol index");
  m.atoms[0].value[3] = 0;
  m.atoms[1].value[7] = INFINITY;
  assert_rejected(&m, "module 'disc': ", "atom set a1: value inf of atom 1 is not finite");
  m.atoms[1].value[7] = 0;
  m.atoms[1].log_weight[0] = NAN;
  assert_rejected(&m, "module 'disc': ", "atom set a1: log weight of atom 0 is not finite");
  m.atoms[1].log_weight[0] = 0;
  m.atoms[1].k = 0;
  assert_rejected(&m, "module 'disc': ", "atom set a1 is empty");
  ir_module_free(&m);
}
END_TEST

/* ---- cost ------------------------------------------------------------------- */

START_TEST(test_count_flops) {
  ir_module m;
  build_small(&m);
  /* step: mul 2 + dense 2*2*2+2 + randn 4*2 + add 2 = 22; final: relu 2 */
  ck_assert_uint_eq(ir_count_flops(&m), 3 * 22 + 2);
  /* weights: 4 + 2 tensor floats, 3 table floats */
  ck_assert_uint_eq(ir_count_weight_bytes(&m), 9 * 4);

  /* uniform work is shared by a block: a sinusoidal of dim 16 (32 flops) in
   * the step block adds 3 * 32 / block_size = 24 with block 4 */
  ir_block *b = &m.blocks[IR_BLOCK_STEP];
  int32_t s = emit(b, IR_OP_SINUSOIDAL, 1, (int32_t[]){1}, 16, 1);
  b->insts[s].dim = 16;
  /* a layernorm [2] (16) and an exact_gmm k=3 dim=2 (3*(12+10) = 66) in final */
  static const float g[2] = {1, 1}, w[3] = {0.2f, 0.3f, 0.5f}, mean[6] = {0}, sd[3] = {1, 1, 1};
  ck_assert_int_eq(ir_add_tensor(&m, "g", 1, (uint64_t[]){2}, g), 2);
  ck_assert_int_eq(ir_add_mixture(&m, 3, 2, w, mean, sd), 0);
  b = &m.blocks[IR_BLOCK_FINAL];
  int32_t ln = emit(b, IR_OP_LAYERNORM, 1, (int32_t[]){1}, 2, 0);
  b->insts[ln].weight = 2;
  b->insts[ln].fattr = 1e-5f;
  int32_t a = emit(b, IR_OP_CONST, 0, NULL, 1, 1);
  int32_t x = emit(b, IR_OP_EXACT_GMM, 2, (int32_t[]){ln, a}, 2, 0);
  b->insts[x].mixture = 0;
  b->result = x;
  char err[256];
  ck_assert_msg(ir_verify(&m, err, sizeof err) == 0, "%s", err);
  ck_assert_uint_eq(ir_count_flops(&m), 3 * 22 + 2 + 16 + 66 + 3 * 32 / 4);
  ck_assert_uint_eq(ir_count_weight_bytes(&m), (9 + 2 + 3 + 6 + 3) * 4);
  ir_module_free(&m);
}
END_TEST

START_TEST(test_count_flops_discrete) {
  ir_module m;
  build_discrete(&m);
  /* step: dirichlet_mean 3*6 + softmax 5*6 + mul 6 + poisson 10*6
   *       + exact_atoms_categorical 2*(6*2 + 5) + 6 + exact_atoms_normal 2*(5*6 + 5)
   *       + exact_atoms_gamma 2*(6*6 + 5) + add 6 = 312; final: argmax over 6 */
  ck_assert_uint_eq(ir_count_flops(&m), 2 * 312 + 6);
  /* table 2, atoms 2*2 + 2 and 2*6 + 2 floats */
  ck_assert_uint_eq(ir_count_weight_bytes(&m), (2 + 6 + 14) * 4);
  ir_module_free(&m);
}
END_TEST

/* ---- printer ----------------------------------------------------------------- */

static const char small_golden[] =
    "module small pair=normal-normal sampler=pmm output=posterior-mean steps=3 nfe=3 block=4 "
    "shape=[2] state=2 out=2\n"
    "schedule \"table, 3 steps\"\n"
    "prior mean=0 precision=1\n"
    "table c [3] = {0.25, 0.5, 1}\n"
    "table long [6] = {0, 0.1, 0.2, ..., 0.5}\n"
    "tensor w [2, 2] f32\n"
    "tensor b [2] f32\n"
    "memory state@0 scratch=64 floats\n"
    "init {\n"
    "  %0 = fill 0.5 : [2] @16\n"
    "  return %0\n"
    "}\n"
    "step t=1..3 {\n"
    "  %0 = state : [2] @0\n"
    "  %1 = table c : uniform [1] @32\n"
    "  %2 = mul (%1, %0) : [2] @16\n"
    "  %3 = dense w, b (%2) : [2] @32                # fc\n"
    "  %4 = randn stream=0 : [2] @16\n"
    "  %5 = add (%3, %4) : [2] @48\n"
    "  return %5\n"
    "}\n"
    "final {\n"
    "  %0 = state : [2] @0\n"
    "  %1 = act relu (%0) : [2] @16\n"
    "  return %1\n"
    "}\n";

START_TEST(test_print_golden) {
  ir_module m;
  build_small(&m);
  static const float longt[6] = {0, 0.1f, 0.2f, 0.3f, 0.4f, 0.5f};
  ck_assert_int_eq(ir_add_table(&m, "long", 6, longt), 1);
  char err[256];
  ck_assert_msg(opt_plan_memory(&m, err, sizeof err) == 0, "%s", err);
  char *text = NULL;
  size_t len = 0;
  FILE *f = open_memstream(&text, &len);
  ck_assert_ptr_nonnull(f);
  ir_print(&m, f);
  fclose(f);
  ck_assert_msg(strcmp(text, small_golden) == 0, "got:\n%s\nexpected:\n%s", text, small_golden);
  free(text);
  ir_module_free(&m);
}
END_TEST

static const char discrete_golden[] =
    "module disc pair=dirichlet-categorical sampler=pmm output=posterior-mean steps=2 nfe=2 "
    "block=4 shape=[2] state=6 out=2\n"
    "prior concentration=0.5 smoothing=0.25\n"
    "vocab \"_ab\" size=3 pad=0\n"
    "range [-1, 2]\n"
    "table alpha [2] = {0.5, 1.5}\n"
    "atoms a0 k=2 dim=2 vocab=3\n"
    "atoms a1 k=2 dim=6\n"
    "memory state@0 scratch=144 floats\n"
    "init {\n"
    "  %0 = fill 0 : [2, 3] @32\n"
    "  return %0\n"
    "}\n"
    "step t=1..2 {\n"
    "  %0 = state : [2, 3] @0\n"
    "  %1 = dirichlet_mean dim=3 beta=0.5 (%0) : [2, 3] @32\n"
    "  %2 = softmax axis=1 (%1) : [2, 3] @64\n"
    "  %3 = table alpha : uniform [1] @96\n"
    "  %4 = mul (%3, %2) : [2, 3] @32\n"
    "  %5 = poisson stream=1 (%4) : [2, 3] @64       # y\n"
    "  %6 = exact_atoms_categorical a0 (%0) : [2, 3] @32\n"
    "  %7 = const 2 : uniform [1] @128\n"
    "  %8 = exact_atoms_normal a1 (%6, %7) : [2, 3] @96\n"
    "  %9 = exact_atoms_gamma a1 (%8, %7) : [2, 3] @32\n"
    "  %10 = add (%5, %9) : [2, 3] @96\n"
    "  return %10\n"
    "}\n"
    "final {\n"
    "  %0 = state : [2, 3] @0\n"
    "  %1 = argmax dim=3 (%0) : [2] @32\n"
    "  return %1\n"
    "}\n";

START_TEST(test_print_golden_discrete) {
  ir_module m;
  build_discrete(&m);
  char err[256];
  ck_assert_msg(opt_plan_memory(&m, err, sizeof err) == 0, "%s", err);
  char *text = NULL;
  size_t len = 0;
  FILE *f = open_memstream(&text, &len);
  ck_assert_ptr_nonnull(f);
  ir_print(&m, f);
  fclose(f);
  ck_assert_msg(strcmp(text, discrete_golden) == 0, "got:\n%s\nexpected:\n%s", text,
                discrete_golden);
  free(text);
  ir_module_free(&m);
}
END_TEST

static Suite *ir_suite(void) {
  Suite *s = suite_create("ir");
  TCase *tc = tcase_create("verify");
  tcase_add_test(tc, test_verify_valid);
  tcase_add_test(tc, test_verify_bad_operand);
  tcase_add_test(tc, test_verify_forward_reference);
  tcase_add_test(tc, test_verify_length_mismatch);
  tcase_add_test(tc, test_verify_table_outside_step);
  tcase_add_test(tc, test_verify_missing_result);
  tcase_add_test(tc, test_verify_bad_tensor);
  tcase_add_test(tc, test_verify_misc);
  tcase_add_test(tc, test_verify_discrete_valid);
  tcase_add_test(tc, test_verify_discrete_ops);
  tcase_add_test(tc, test_watched_values);
  tcase_add_test(tc, test_verify_atoms);
  suite_add_tcase(s, tc);
  tc = tcase_create("count_print");
  tcase_add_test(tc, test_count_flops);
  tcase_add_test(tc, test_count_flops_discrete);
  tcase_add_test(tc, test_print_golden);
  tcase_add_test(tc, test_print_golden_discrete);
  suite_add_tcase(s, tc);
  return s;
}

int main(void) {
  SRunner *sr = srunner_create(ir_suite());
  srunner_run_all(sr, CK_NORMAL);
  int failed = srunner_ntests_failed(sr);
  srunner_free(sr);
  return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
