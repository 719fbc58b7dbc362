compiler_libpmmc_a_SOURCES += compiler/opt/opt.c compiler/opt/shapes.c compiler/opt/fold.c \
	compiler/opt/dce.c compiler/opt/fuse.c compiler/opt/plan.c
noinst_HEADERS += compiler/opt/opt.h
