# tests/fuzz: libFuzzer targets for every input pmmc and its samplers read
# (configure --enable-fuzzing, with CC=clang-19), and `make fuzz-smoke`,
# which runs each for FUZZ_SECONDS on a copy of its seed corpus
# (tests/fuzz/corpus/TARGET); a crash, leak, timeout (> 2 s) or input that
# needs more than 1 GiB fails it, and its input is left in the build tree.
FUZZ_TARGETS = tests/fuzz/fuzz_model_yaml tests/fuzz/fuzz_atoms tests/fuzz/fuzz_safetensors \
	tests/fuzz/fuzz_npy tests/fuzz/fuzz_sampler_cli
FUZZ_COMMON = tests/fuzz/fuzz_util.c tests/fuzz/fuzz_util.h
FUZZ_SECONDS = 60
EXTRA_PROGRAMS = $(FUZZ_TARGETS)
CLEANFILES += $(FUZZ_TARGETS)
EXTRA_DIST += tests/fuzz/corpus tests/fuzz/smoke

tests_fuzz_fuzz_model_yaml_SOURCES = tests/fuzz/fuzz_model_yaml.c $(FUZZ_COMMON)
tests_fuzz_fuzz_atoms_SOURCES = tests/fuzz/fuzz_atoms.c $(FUZZ_COMMON)
tests_fuzz_fuzz_safetensors_SOURCES = tests/fuzz/fuzz_safetensors.c $(FUZZ_COMMON)
tests_fuzz_fuzz_npy_SOURCES = tests/fuzz/fuzz_npy.c $(FUZZ_COMMON)
tests_fuzz_fuzz_sampler_cli_SOURCES = tests/fuzz/fuzz_sampler_cli.c $(FUZZ_COMMON)
tests_fuzz_fuzz_model_yaml_CPPFLAGS = $(AM_CPPFLAGS) $(YAML_CFLAGS)
tests_fuzz_fuzz_atoms_CPPFLAGS = $(AM_CPPFLAGS) $(YAML_CFLAGS)
FUZZ_LDADD = $(PMMC_LIBS) $(YAML_LIBS)
tests_fuzz_fuzz_model_yaml_LDADD = $(FUZZ_LDADD)
tests_fuzz_fuzz_atoms_LDADD = $(FUZZ_LDADD)
tests_fuzz_fuzz_safetensors_LDADD = $(FUZZ_LDADD)
tests_fuzz_fuzz_npy_LDADD = $(FUZZ_LDADD)
tests_fuzz_fuzz_sampler_cli_LDADD = $(FUZZ_LDADD)
tests_fuzz_fuzz_model_yaml_LDFLAGS = $(AM_LDFLAGS) -fsanitize=fuzzer
tests_fuzz_fuzz_atoms_LDFLAGS = $(AM_LDFLAGS) -fsanitize=fuzzer
tests_fuzz_fuzz_safetensors_LDFLAGS = $(AM_LDFLAGS) -fsanitize=fuzzer
tests_fuzz_fuzz_npy_LDFLAGS = $(AM_LDFLAGS) -fsanitize=fuzzer
tests_fuzz_fuzz_sampler_cli_LDFLAGS = $(AM_LDFLAGS) -fsanitize=fuzzer

if FUZZING
fuzz-smoke: $(FUZZ_TARGETS)
	$(SHELL) $(srcdir)/tests/fuzz/smoke $(FUZZ_SECONDS) $(srcdir)/tests/fuzz/corpus $(FUZZ_TARGETS)
else
fuzz-smoke:
	@echo "make fuzz-smoke: configure with CC=clang-19 --enable-fuzzing first" >&2; exit 1
endif
.PHONY: fuzz-smoke
