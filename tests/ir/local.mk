# tests/ir: the IR core (verifier, memory plan, cost, printer), lowering from
# specs built in C, and the interpreter.  See tests/local.mk.
IR_TEST_LIST = tests/ir/test_ir tests/ir/test_lower tests/ir/test_interp tests/ir/test_samplers
check_PROGRAMS += $(IR_TEST_LIST)
TESTS += $(IR_TEST_LIST)

tests_ir_test_ir_SOURCES = tests/ir/test_ir.c
tests_ir_test_ir_CPPFLAGS = $(TEST_CPPFLAGS)
tests_ir_test_ir_LDADD = $(TEST_LIBS)

tests_ir_test_lower_SOURCES = tests/ir/test_lower.c tests/ir/ir_spec.c tests/ir/ir_spec.h
tests_ir_test_lower_CPPFLAGS = $(TEST_CPPFLAGS)
tests_ir_test_lower_LDADD = $(TEST_LIBS)

tests_ir_test_interp_SOURCES = tests/ir/test_interp.c tests/ir/ir_spec.c tests/ir/ir_spec.h
tests_ir_test_interp_CPPFLAGS = $(TEST_CPPFLAGS)
tests_ir_test_interp_LDADD = $(TEST_LIBS)

tests_ir_test_samplers_SOURCES = tests/ir/test_samplers.c tests/ir/ir_spec.c tests/ir/ir_spec.h
tests_ir_test_samplers_CPPFLAGS = $(TEST_CPPFLAGS)
tests_ir_test_samplers_LDADD = $(TEST_LIBS)
