compiler_libpmmc_a_SOURCES += compiler/ir/ir.c compiler/ir/ir_ops.c compiler/ir/ir_shapes.c compiler/ir/ir_verify.c compiler/ir/ir_print.c compiler/ir/ir_count.c
noinst_HEADERS += compiler/ir/ir.h compiler/ir/ir_shapes.h compiler/ir/ir_ops.def
