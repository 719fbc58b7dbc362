# tests/runtime: the runtime library (RNG, kernels, .npy, sample loop and
# sampler command line).  See tests/local.mk.
RUNTIME_TEST_LIST = tests/runtime/test_rng tests/runtime/test_kernels \
	tests/runtime/test_npy tests/runtime/test_sampler
check_PROGRAMS += $(RUNTIME_TEST_LIST)
TESTS += $(RUNTIME_TEST_LIST)

tests_runtime_test_rng_SOURCES = tests/runtime/test_rng.c
tests_runtime_test_rng_CPPFLAGS = $(TEST_CPPFLAGS)
tests_runtime_test_rng_LDADD = $(TEST_LIBS)

tests_runtime_test_kernels_SOURCES = tests/runtime/test_kernels.c
tests_runtime_test_kernels_CPPFLAGS = $(TEST_CPPFLAGS)
tests_runtime_test_kernels_LDADD = $(TEST_LIBS)

tests_runtime_test_npy_SOURCES = tests/runtime/test_npy.c
tests_runtime_test_npy_CPPFLAGS = $(TEST_CPPFLAGS)
tests_runtime_test_npy_LDADD = $(TEST_LIBS)

tests_runtime_test_sampler_SOURCES = tests/runtime/test_sampler.c
tests_runtime_test_sampler_CPPFLAGS = $(TEST_CPPFLAGS)
tests_runtime_test_sampler_LDADD = $(TEST_LIBS)
