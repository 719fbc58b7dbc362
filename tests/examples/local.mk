# tests/examples: examples/ built from a make install DESTDIR=<temporary folder> through their
# own Makefiles and pkg-config, their samples compared with the executables' (examples/README.md).
# The directories and tools it uses are exported by tests/install/local.mk.
TESTS += tests/examples/test_examples.sh
EXTRA_DIST += tests/examples/test_examples.sh
