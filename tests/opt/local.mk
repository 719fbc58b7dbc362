# tests/opt: the optimiser's passes (compiler/opt), golden IR after each pass.
# PMMC_UPDATE_GOLDEN=1 make check TESTS=tests/opt/test_passes rewrites the
# golden files (docs/passes.md).
OPT_TEST_LIST = tests/opt/test_passes tests/opt/test_fold tests/opt/test_fuse
check_PROGRAMS += $(OPT_TEST_LIST)
TESTS += $(OPT_TEST_LIST)

tests_opt_test_passes_SOURCES = tests/opt/test_passes.c
tests_opt_test_passes_CPPFLAGS = $(TEST_CPPFLAGS)
tests_opt_test_passes_LDADD = $(TEST_LIBS)

tests_opt_test_fold_SOURCES = tests/opt/test_fold.c tests/ir/ir_spec.c tests/ir/ir_spec.h
tests_opt_test_fold_CPPFLAGS = $(TEST_CPPFLAGS)
tests_opt_test_fold_LDADD = $(TEST_LIBS)

tests_opt_test_fuse_SOURCES = tests/opt/test_fuse.c
tests_opt_test_fuse_CPPFLAGS = $(TEST_CPPFLAGS)
tests_opt_test_fuse_LDADD = $(TEST_LIBS)

EXTRA_DIST += tests/opt/golden/gmm8.ir tests/opt/golden/bench-mlp.ir \
	tests/opt/golden/counts5.ir tests/opt/golden/words50.ir \
	tests/opt/golden/unet-tiny.ir tests/opt/golden/dit-tiny.ir
