/*
 * shapes.c - pass 'shapes' (opt.h): shape inference.
 *
 * Every other pass, the interpreter and code generation size their loops
 * from an instruction's shape, `len` and `uniform`, so the pass recomputes
 * all three for every instruction, in order, from its operands and
 * attributes with the op's rule (ir_ops.def, ir_shapes.c), and stores them.
 * Sources whose shape is their own (fill, randn, reshape) keep it once it
 * is checked.  What no rule accepts (a bad operand or attribute, operands
 * that do not fit) is reported naming the instruction; ir_verify then
 * checks the module's structure.
 */
#include "compiler/opt/opt.h"

int opt_infer_shapes(ir_module *m, char *err, size_t errlen) {
  for (int b = 0; b < IR_BLOCK_COUNT; b++) {
    const ir_block *blk = &m->blocks[b];
    for (uint32_t i = 0; blk->insts && i < blk->count; i++)
      if (ir_set_shape(m, (ir_block_kind)b, (int32_t)i, err, errlen) != 0) return -1;
  }
  return ir_verify(m, err, errlen);
}
