# runtime/: libpmmrt.a, linked into every generated sampler and into pmmc.
lib_LIBRARIES += runtime/libpmmrt.a
include_HEADERS += runtime/pmmrt.h
runtime_libpmmrt_a_CFLAGS = $(AM_CFLAGS) -fPIC
runtime_libpmmrt_a_SOURCES = \
	runtime/status.c \
	runtime/philox.c \
	runtime/rng_normal.c \
	runtime/kernels.c \
	runtime/exact_gmm.c \
	runtime/npy.c \
	runtime/sampler.c \
	runtime/sampler_cli.c
