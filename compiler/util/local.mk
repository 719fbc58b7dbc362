compiler_libpmmc_a_SOURCES += compiler/util/diag.c compiler/util/xalloc.c
noinst_HEADERS += compiler/util/diag.h compiler/util/xalloc.h
