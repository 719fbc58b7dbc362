compiler_libpmmc_a_SOURCES += compiler/interp/interp.c compiler/interp/exec.c
noinst_HEADERS += compiler/interp/interp.h
