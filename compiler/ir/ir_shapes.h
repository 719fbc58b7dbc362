/*
 * ir_shapes.h - the shape rules and cost functions named in ir_ops.def
 * (ir_shapes.c, ir_count.c); only the op table and its consumers inside
 * compiler/ir include this.
 */
#ifndef PMMC_IR_SHAPES_H
#define PMMC_IR_SHAPES_H

#include "compiler/ir/ir.h"

#define OP(id, name, args, flags, attrs, shape, cost, scratch, exec, emit)                         \
  int shape(const ir_module *m, const ir_block *b, const ir_inst *in, tshape *out, char *why,      \
            size_t whylen);                                                                        \
  uint64_t cost(const ir_module *m, const ir_block *b, const ir_inst *in);
#include "compiler/ir/ir_ops.def"
#undef OP
uint64_t ir_scratch_attention(const ir_module *m, const ir_block *b, const ir_inst *in);
uint64_t ir_scratch_conv2d(const ir_module *m, const ir_block *b, const ir_inst *in);

#endif
