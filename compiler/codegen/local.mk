compiler_libpmmc_a_SOURCES += compiler/codegen/codegen.c compiler/codegen/emit.c compiler/codegen/gemm.c compiler/codegen/link.c
noinst_HEADERS += compiler/codegen/codegen.h compiler/codegen/emit.h compiler/codegen/gemm.h
