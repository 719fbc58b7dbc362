# compiler/: libpmmc.a (one folder a layer) and the pmmc driver.
noinst_LIBRARIES += compiler/libpmmc.a
compiler_libpmmc_a_CPPFLAGS = $(AM_CPPFLAGS) $(YAML_CFLAGS) $(JSONC_CFLAGS) $(LLVM_CFLAGS) \
	-DPMMC_CC='"$(CC)"' -DPMMC_LINK_LIBS='"$(BLAS_LIBS) $(PNG_LIBS) -lm -pthread $(SANITIZE_FLAGS)"' \
	-DPMMC_BLAS_LIBS='"$(BLAS_LIBS)"' -DPMMC_LLVM_AR='"$(LLVM_BINDIR)/llvm-ar"'
compiler_libpmmc_a_SOURCES =

include compiler/util/local.mk
include compiler/front/local.mk
include compiler/ir/local.mk
include compiler/lower/local.mk
include compiler/opt/local.mk
include compiler/interp/local.mk
include compiler/codegen/local.mk

# Everything a program using libpmmc links against.
PMMC_LIBS = compiler/libpmmc.a runtime/libpmmrt.a $(YAML_LIBS) $(JSONC_LIBS) $(LLVM_LIBS) $(BLAS_LIBS) $(PNG_LIBS) -lm

bin_PROGRAMS += pmmc
pmmc_SOURCES = compiler/driver/pmmc.c compiler/driver/predict.c compiler/driver/installed.c \
	compiler/driver/driver.h
pmmc_CPPFLAGS = $(AM_CPPFLAGS) -DPMMC_LIBDIR='"$(libdir)"' -DPMMC_BINDIR='"$(bindir)"' \
	-DPMMC_PKGLIBDIR='"$(pkglibdir)"' -DPMMC_HOST_ARCH='"$(EMBED_HOST_ARCH)"'
pmmc_LDADD = $(PMMC_LIBS)
# exported so that code JIT-compiled by `pmmc predict --engine compiled` finds the runtime
pmmc_LDFLAGS = $(AM_LDFLAGS) -rdynamic
