# tests/runtime: the runtime library (RNG, Poisson draws, kernels,
# convolution and attention kernels, exact atom posteriors, .npy, sample
# loop, sampler command line and its txt/png formats).  See tests/local.mk.
RUNTIME_TEST_LIST = tests/runtime/test_rng tests/runtime/test_poisson \
	tests/runtime/test_kernels tests/runtime/test_atoms tests/runtime/test_npy \
	tests/runtime/test_sampler tests/runtime/test_formats tests/runtime/test_fastmath \
	tests/runtime/test_nn_kernels
check_PROGRAMS += $(RUNTIME_TEST_LIST)
TESTS += $(RUNTIME_TEST_LIST)

tests_runtime_test_rng_SOURCES = tests/runtime/test_rng.c
tests_runtime_test_rng_CPPFLAGS = $(TEST_CPPFLAGS)
tests_runtime_test_rng_LDADD = $(TEST_LIBS)

tests_runtime_test_poisson_SOURCES = tests/runtime/test_poisson.c
tests_runtime_test_poisson_CPPFLAGS = $(TEST_CPPFLAGS)
tests_runtime_test_poisson_LDADD = $(TEST_LIBS)

tests_runtime_test_kernels_SOURCES = tests/runtime/test_kernels.c
tests_runtime_test_kernels_CPPFLAGS = $(TEST_CPPFLAGS)
tests_runtime_test_kernels_LDADD = $(TEST_LIBS)

tests_runtime_test_atoms_SOURCES = tests/runtime/test_atoms.c
tests_runtime_test_atoms_CPPFLAGS = $(TEST_CPPFLAGS)
tests_runtime_test_atoms_LDADD = $(TEST_LIBS)

tests_runtime_test_npy_SOURCES = tests/runtime/test_npy.c
tests_runtime_test_npy_CPPFLAGS = $(TEST_CPPFLAGS)
tests_runtime_test_npy_LDADD = $(TEST_LIBS)

tests_runtime_test_sampler_SOURCES = tests/runtime/test_sampler.c
tests_runtime_test_sampler_CPPFLAGS = $(TEST_CPPFLAGS)
tests_runtime_test_sampler_LDADD = $(TEST_LIBS)

tests_runtime_test_formats_SOURCES = tests/runtime/test_formats.c
tests_runtime_test_formats_CPPFLAGS = $(TEST_CPPFLAGS) $(PNG_CFLAGS)
tests_runtime_test_formats_LDADD = $(TEST_LIBS)

tests_runtime_test_fastmath_SOURCES = tests/runtime/test_fastmath.c
tests_runtime_test_fastmath_CPPFLAGS = $(TEST_CPPFLAGS)
tests_runtime_test_fastmath_LDADD = $(TEST_LIBS)

tests_runtime_test_nn_kernels_SOURCES = tests/runtime/test_nn_kernels.c
tests_runtime_test_nn_kernels_CPPFLAGS = $(TEST_CPPFLAGS)
tests_runtime_test_nn_kernels_LDADD = $(TEST_LIBS)
