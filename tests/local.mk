# tests/: Check suites (one program a concern) and golden files.
TEST_CPPFLAGS = $(AM_CPPFLAGS) $(CHECK_CFLAGS) $(GSL_CFLAGS) $(YAML_CFLAGS) $(JSONC_CFLAGS)
TEST_LIBS = tests/util/libtestutil.a $(PMMC_LIBS) $(CHECK_LIBS) $(GSL_LIBS)

check_LIBRARIES = tests/util/libtestutil.a
tests_util_libtestutil_a_CPPFLAGS = $(TEST_CPPFLAGS)
tests_util_libtestutil_a_SOURCES = tests/util/testutil.c tests/util/testutil.h

# Every test sees the binaries under test and the source tree; Check's
# per-test timeout is raised because some tests compile and run samplers.
AM_TESTS_ENVIRONMENT = \
	PMMC='$(abs_top_builddir)/pmmc'; export PMMC; \
	PMMC_SRCDIR='$(abs_top_srcdir)'; export PMMC_SRCDIR; \
	PMMC_RUNTIME_LIB='$(abs_top_builddir)/runtime/libpmmrt.a'; export PMMC_RUNTIME_LIB; \
	CK_DEFAULT_TIMEOUT=900; export CK_DEFAULT_TIMEOUT; \
	OPENBLAS_NUM_THREADS=1; export OPENBLAS_NUM_THREADS; \
	PMM_PYTHON='$(PMM_PYTHON)'; export PMM_PYTHON; \
	PMMC_TEST_CC='$(CC)'; export PMMC_TEST_CC; \
	PMMC_TEST_CXX='$(CXX)'; export PMMC_TEST_CXX; \
	PMMC_TEST_AARCH64='$(embed_aarch64)'; export PMMC_TEST_AARCH64; \
	PMMC_LLVM_BINDIR='$(LLVM_BINDIR)'; export PMMC_LLVM_BINDIR;

include tests/runtime/local.mk
include tests/frontend/local.mk
include tests/ir/local.mk
include tests/e2e/local.mk
include tests/codegen/local.mk
include tests/opt/local.mk
include tests/python/local.mk
include tests/embed/local.mk
include tests/fuzz/local.mk
include tests/corpus/local.mk
include tests/install/local.mk
include tests/examples/local.mk
