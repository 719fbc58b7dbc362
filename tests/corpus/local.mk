# tests/corpus: bad inputs on every surface but the model YAML (tests/frontend/bad has
# those): .npy, text atoms, safetensors, special files, the command lines of pmmc and of
# the samplers, each with its golden message, exit status, 2 s and 1 GiB.
TESTS += tests/corpus/test_corpus.sh
EXTRA_DIST += tests/corpus/test_corpus.sh tests/corpus/cases tests/corpus/files
AM_TESTS_ENVIRONMENT += PMMC_SANITIZED='$(enable_sanitizers)'; export PMMC_SANITIZED;
