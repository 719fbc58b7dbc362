# tests/codegen: the LLVM back end on hand-built IR modules (compiled vs
# interpreted bit for bit, output kinds, targets, link errors).  See
# tests/local.mk.
CODEGEN_TEST_LIST = tests/codegen/test_codegen tests/codegen/test_gemm tests/codegen/test_conv
check_PROGRAMS += $(CODEGEN_TEST_LIST)
TESTS += $(CODEGEN_TEST_LIST)

tests_codegen_test_codegen_SOURCES = tests/codegen/test_codegen.c tests/ir/ir_spec.c tests/ir/ir_spec.h
tests_codegen_test_codegen_CPPFLAGS = $(TEST_CPPFLAGS)
tests_codegen_test_codegen_LDADD = $(TEST_LIBS)

tests_codegen_test_gemm_SOURCES = tests/codegen/test_gemm.c
tests_codegen_test_gemm_CPPFLAGS = $(TEST_CPPFLAGS)
tests_codegen_test_gemm_LDADD = $(TEST_LIBS)

tests_codegen_test_conv_SOURCES = tests/codegen/test_conv.c
tests_codegen_test_conv_CPPFLAGS = $(TEST_CPPFLAGS) $(LLVM_CFLAGS)
tests_codegen_test_conv_LDADD = $(TEST_LIBS)
