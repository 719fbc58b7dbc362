# runtime/: libpmmrt.a, linked into every generated sampler and into pmmc.
# Programs linking it also need $(BLAS_LIBS), $(PNG_LIBS) and -lm.
lib_LIBRARIES += runtime/libpmmrt.a
include_HEADERS += runtime/pmmrt.h
runtime_libpmmrt_a_CPPFLAGS = $(AM_CPPFLAGS) $(PNG_CFLAGS)
runtime_libpmmrt_a_CFLAGS = $(AM_CFLAGS) -fPIC
runtime_libpmmrt_a_SOURCES = \
	runtime/status.c \
	runtime/philox.c \
	runtime/rng_normal.c \
	runtime/rng_poisson.c \
	runtime/kernels.c \
	runtime/exact_gmm.c \
	runtime/exact_atoms.c \
	runtime/npy.c \
	runtime/png_grid.c \
	runtime/png_grid.h \
	runtime/vocab.c \
	runtime/vocab.h \
	runtime/sampler.c \
	runtime/sampler_cli.c
