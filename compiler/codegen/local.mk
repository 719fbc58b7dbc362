compiler_libpmmc_a_SOURCES += compiler/codegen/codegen.c compiler/codegen/cg_util.c compiler/codegen/cg_data.c compiler/codegen/cg_math.c compiler/codegen/cg_ops.c compiler/codegen/jit.c compiler/codegen/emit.c compiler/codegen/gemm.c compiler/codegen/link.c
noinst_HEADERS += compiler/codegen/cg.h compiler/codegen/codegen.h compiler/codegen/emit.h compiler/codegen/gemm.h
