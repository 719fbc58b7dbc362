# tests/embed: compiled models as libraries (docs/embedding.md).  The test
# compiles the programs embed_*.c against the libraries pmmc builds.
check_PROGRAMS += tests/embed/test_embed
TESTS += tests/embed/test_embed
tests_embed_test_embed_CPPFLAGS = $(TEST_CPPFLAGS)
tests_embed_test_embed_SOURCES = tests/embed/test_embed.c $(E2E_COMMON)
tests_embed_test_embed_LDADD = $(TEST_LIBS)
EXTRA_DIST += tests/embed/embed_prog.c tests/embed/embed_headers.c tests/embed/embed_predict.c \
	tests/embed/embed_external.c \
	tests/embed/embed_nonfinite.c
