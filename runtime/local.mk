# runtime/: libpmmrt.a, linked into every generated sampler and into pmmc.
# Programs linking it also need $(BLAS_LIBS), $(PNG_LIBS) and -lm.
lib_LIBRARIES += runtime/libpmmrt.a
include_HEADERS += runtime/pmmrt.h
runtime_libpmmrt_a_CPPFLAGS = $(AM_CPPFLAGS) $(PNG_CFLAGS)
# -ffp-contract=off: activations must compute exactly the float operations
# generated code emits (runtime/fastmath.h), never a fused multiply-add
# (GCC would contract only on targets with FMA; this makes it explicit).
# -fno-trapping-math (the runtime never reads floating-point exception
# flags; no value changes) lets GCC if-convert the exponential's clamp, and
# the dynamic cost model lets -O2 vectorise loops of unknown length such as
# pmm_kernel_act's.
runtime_libpmmrt_a_CFLAGS = $(AM_CFLAGS) -fPIC -ffp-contract=off -fno-trapping-math \
	-fvect-cost-model=dynamic
runtime_libpmmrt_a_SOURCES = \
	runtime/status.c \
	runtime/philox.c \
	runtime/rng_normal.c \
	runtime/rng_poisson.c \
	runtime/kernels.c \
	runtime/dense_blas.c \
	runtime/nn_kernels.c \
	runtime/fastmath.c \
	runtime/fastmath.h \
	runtime/exact_gmm.c \
	runtime/exact_atoms.c \
	runtime/npy.c \
	runtime/png_grid.c \
	runtime/png_grid.h \
	runtime/vocab.c \
	runtime/vocab.h \
	runtime/sampler.c \
	runtime/sampler_cli.c
