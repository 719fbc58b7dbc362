# tests/opt: the optimiser's passes (compiler/opt), golden IR after each pass.
OPT_TEST_LIST =
check_PROGRAMS += $(OPT_TEST_LIST)
TESTS += $(OPT_TEST_LIST)
