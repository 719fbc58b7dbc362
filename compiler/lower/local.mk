compiler_libpmmc_a_SOURCES += compiler/lower/lower.c
noinst_HEADERS += compiler/lower/lower.h
