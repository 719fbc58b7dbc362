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
	$(RUNTIME_OPT_CFLAGS)
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
	runtime/finite.c \
	runtime/exact_gmm.c \
	runtime/exact_atoms.c \
	runtime/infile.c \
	runtime/infile.h \
	runtime/npy.c \
	runtime/outfile.c \
	runtime/outfile.h \
	runtime/png_grid.c \
	runtime/png_grid.h \
	runtime/vocab.c \
	runtime/vocab.h \
	runtime/generate.c \
	runtime/embed.c \
	runtime/embed.h \
	runtime/embed_weights.c \
	runtime/embed_status.def \
	runtime/sampler.c \
	runtime/sampler_cli.c

# The runtime as LLVM bitcode, which pmmc links into libraries it builds
# (compiler/codegen/library.c): the files an embedded model may use, one
# file for each target architecture, compiled with the same floating-point
# flags as libpmmrt.a so both give the same bits.  None calls OpenBLAS or
# libpng; the host's also has dense_blas.c for --gemm=blas (cross targets
# have no OpenBLAS header here, and their libraries use pmmc's GEMM).
EMBED_RUNTIME_FILES = runtime/philox.c runtime/rng_normal.c runtime/rng_poisson.c \
	runtime/kernels.c runtime/nn_kernels.c runtime/fastmath.c runtime/finite.c \
	runtime/exact_gmm.c runtime/exact_atoms.c runtime/generate.c runtime/embed.c \
	runtime/embed_weights.c
EMBED_RUNTIME_DEPS = $(EMBED_RUNTIME_FILES) runtime/dense_blas.c runtime/pmmrt.h runtime/embed.h \
	runtime/fastmath.h \
	runtime/embed_status.def
EMBED_BC_CFLAGS = -O2 -fPIC -ffp-contract=off -fno-trapping-math -I$(srcdir) -I$(builddir)
EMBED_RUNTIME_BC = runtime/pmmrt-embed-$(EMBED_HOST_ARCH).bc
if EMBED_AARCH64
EMBED_RUNTIME_BC += runtime/pmmrt-embed-aarch64.bc
endif
embeddir = $(pkglibdir)
embed_DATA = $(EMBED_RUNTIME_BC)
CLEANFILES += $(EMBED_RUNTIME_BC)

EMBED_BC = $(AM_V_GEN)$(SHELL) $(srcdir)/runtime/compile-bitcode "$(PMMC_CLANG)" \
	"$(LLVM_BINDIR)/llvm-link"
runtime/pmmrt-embed-$(EMBED_HOST_ARCH).bc: $(EMBED_RUNTIME_DEPS) runtime/compile-bitcode
	$(EMBED_BC) "$(EMBED_BC_CFLAGS)" $(srcdir) $@ $(EMBED_HOST_ARCH)-linux-gnu \
	  $(EMBED_RUNTIME_FILES) runtime/dense_blas.c
runtime/pmmrt-embed-aarch64.bc: $(EMBED_RUNTIME_DEPS) runtime/compile-bitcode
	$(EMBED_BC) "$(EMBED_BC_CFLAGS) $(EMBED_AARCH64_CFLAGS)" $(srcdir) $@ aarch64-linux-gnu \
	  $(EMBED_RUNTIME_FILES)
EXTRA_DIST += runtime/compile-bitcode

# configure writes runtime/pmmrt.pc (pkg-config: the flags and libraries above).
pkgconfig_DATA = runtime/pmmrt.pc
