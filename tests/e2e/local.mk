# tests/e2e: end-to-end acceptance tests of issue 2.  They drive the real
# pmmc binary and the samplers it builds through their command lines (the
# environment of tests/local.mk says where pmmc and the runtime are).
E2E_TEST_LIST = \
	tests/e2e/test_gmm8 \
	tests/e2e/test_determinism \
	tests/e2e/test_interp_vs_compiled \
	tests/e2e/test_cli_errors
check_PROGRAMS += $(E2E_TEST_LIST)
TESTS += $(E2E_TEST_LIST)

E2E_COMMON = tests/e2e/e2e.c tests/e2e/e2e.h

tests_e2e_test_gmm8_SOURCES = tests/e2e/test_gmm8.c $(E2E_COMMON)
tests_e2e_test_gmm8_CPPFLAGS = $(TEST_CPPFLAGS)
tests_e2e_test_gmm8_LDADD = $(TEST_LIBS)

tests_e2e_test_determinism_SOURCES = tests/e2e/test_determinism.c $(E2E_COMMON)
tests_e2e_test_determinism_CPPFLAGS = $(TEST_CPPFLAGS)
tests_e2e_test_determinism_LDADD = $(TEST_LIBS)

tests_e2e_test_interp_vs_compiled_SOURCES = tests/e2e/test_interp_vs_compiled.c $(E2E_COMMON)
tests_e2e_test_interp_vs_compiled_CPPFLAGS = $(TEST_CPPFLAGS)
tests_e2e_test_interp_vs_compiled_LDADD = $(TEST_LIBS)

tests_e2e_test_cli_errors_SOURCES = tests/e2e/test_cli_errors.c $(E2E_COMMON)
tests_e2e_test_cli_errors_CPPFLAGS = $(TEST_CPPFLAGS)
tests_e2e_test_cli_errors_LDADD = $(TEST_LIBS)
