compiler_libpmmc_a_SOURCES += compiler/util/diag.c compiler/util/xalloc.c compiler/util/tshape.c compiler/util/strmap.c
noinst_HEADERS += compiler/util/diag.h compiler/util/xalloc.h compiler/util/tshape.h compiler/util/strmap.h
