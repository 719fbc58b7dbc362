compiler_libpmmc_a_SOURCES += compiler/lower/lower.c compiler/lower/lower_net.c compiler/lower/lower_sampler.c
noinst_HEADERS += compiler/lower/lower.h compiler/lower/lower_int.h
