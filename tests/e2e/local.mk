# tests/e2e: end-to-end acceptance tests of issues 2 and 3.  They drive the real
# pmmc binary and the samplers it builds through their command lines (the
# environment of tests/local.mk says where pmmc and the runtime are).
E2E_TEST_LIST = \
	tests/e2e/test_gmm8 \
	tests/e2e/test_determinism \
	tests/e2e/test_interp_vs_compiled \
	tests/e2e/test_cli_errors \
	tests/e2e/test_counts5 \
	tests/e2e/test_words50 \
	tests/e2e/test_energy \
	tests/e2e/test_interp_pairs \
	tests/e2e/test_value_errors \
	tests/e2e/test_nonfinite \
	tests/e2e/test_png \
	tests/e2e/test_predict \
	tests/e2e/test_tensor_models \
	tests/e2e/test_outputs
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

tests_e2e_test_counts5_SOURCES = tests/e2e/test_counts5.c $(E2E_COMMON)
tests_e2e_test_counts5_CPPFLAGS = $(TEST_CPPFLAGS)
tests_e2e_test_counts5_LDADD = $(TEST_LIBS)

tests_e2e_test_words50_SOURCES = tests/e2e/test_words50.c $(E2E_COMMON)
tests_e2e_test_words50_CPPFLAGS = $(TEST_CPPFLAGS)
tests_e2e_test_words50_LDADD = $(TEST_LIBS)

tests_e2e_test_energy_SOURCES = tests/e2e/test_energy.c bench/energy_distance.c bench/energy_distance.h $(E2E_COMMON)
tests_e2e_test_energy_CPPFLAGS = $(TEST_CPPFLAGS)
tests_e2e_test_energy_LDADD = $(TEST_LIBS)

tests_e2e_test_interp_pairs_SOURCES = tests/e2e/test_interp_pairs.c $(E2E_COMMON)
tests_e2e_test_interp_pairs_CPPFLAGS = $(TEST_CPPFLAGS)
tests_e2e_test_interp_pairs_LDADD = $(TEST_LIBS)

tests_e2e_test_value_errors_SOURCES = tests/e2e/test_value_errors.c $(E2E_COMMON)
tests_e2e_test_value_errors_CPPFLAGS = $(TEST_CPPFLAGS)
tests_e2e_test_value_errors_LDADD = $(TEST_LIBS)

tests_e2e_test_nonfinite_SOURCES = tests/e2e/test_nonfinite.c $(E2E_COMMON)
tests_e2e_test_nonfinite_CPPFLAGS = $(TEST_CPPFLAGS)
tests_e2e_test_nonfinite_LDADD = $(TEST_LIBS)

tests_e2e_test_png_SOURCES = tests/e2e/test_png.c $(E2E_COMMON)
tests_e2e_test_png_CPPFLAGS = $(TEST_CPPFLAGS) $(PNG_CFLAGS)
tests_e2e_test_png_LDADD = $(TEST_LIBS) $(PNG_LIBS)

tests_e2e_test_predict_SOURCES = tests/e2e/test_predict.c $(E2E_COMMON)
tests_e2e_test_predict_CPPFLAGS = $(TEST_CPPFLAGS)
tests_e2e_test_predict_LDADD = $(TEST_LIBS)
tests_e2e_test_tensor_models_SOURCES = tests/e2e/test_tensor_models.c $(E2E_COMMON)
tests_e2e_test_tensor_models_CPPFLAGS = $(TEST_CPPFLAGS)
tests_e2e_test_tensor_models_LDADD = $(TEST_LIBS)

tests_e2e_test_outputs_SOURCES = tests/e2e/test_outputs.c $(E2E_COMMON)
tests_e2e_test_outputs_CPPFLAGS = $(TEST_CPPFLAGS)
tests_e2e_test_outputs_LDADD = $(TEST_LIBS)

# PyTorch reference fixtures of every op and of the shipped networks
EXTRA_DIST += tests/fixtures
