# tests/frontend: the front end in process (test_spec), the malformed-model
# corpus through `pmmc check` (test_golden) and inputs made at run time that
# are huge, deep or not files (test_limits).  See tests/local.mk.
check_PROGRAMS += tests/frontend/test_spec tests/frontend/test_safetensors tests/frontend/test_golden \
	tests/frontend/test_limits
TESTS += tests/frontend/test_spec tests/frontend/test_safetensors tests/frontend/test_golden \
	tests/frontend/test_limits

tests_frontend_test_spec_SOURCES = tests/frontend/test_spec.c
tests_frontend_test_spec_CPPFLAGS = $(TEST_CPPFLAGS)
tests_frontend_test_spec_LDADD = $(TEST_LIBS)

tests_frontend_test_safetensors_SOURCES = tests/frontend/test_safetensors.c
tests_frontend_test_safetensors_CPPFLAGS = $(TEST_CPPFLAGS)
tests_frontend_test_safetensors_LDADD = $(TEST_LIBS)

tests_frontend_test_golden_SOURCES = tests/frontend/test_golden.c
tests_frontend_test_golden_CPPFLAGS = $(TEST_CPPFLAGS)
tests_frontend_test_golden_LDADD = $(TEST_LIBS)

tests_frontend_test_limits_SOURCES = tests/frontend/test_limits.c
tests_frontend_test_limits_CPPFLAGS = $(TEST_CPPFLAGS)
tests_frontend_test_limits_LDADD = $(TEST_LIBS)

# The corpus (NAME.yaml + NAME.err, small .safetensors) and the script that
# made the .safetensors files.
EXTRA_DIST += tests/frontend/bad tests/frontend/good tests/frontend/gen_weights.py
