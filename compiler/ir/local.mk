compiler_libpmmc_a_SOURCES += compiler/ir/ir.c compiler/ir/ir_verify.c compiler/ir/ir_print.c compiler/ir/ir_count.c
noinst_HEADERS += compiler/ir/ir.h
