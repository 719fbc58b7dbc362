#!/bin/sh
# examples/ as a user builds them (examples/README.md), from the installed files alone:
# make install DESTDIR=<temporary folder>; the staged pmmc, with no variable pointing it at
# the build tree, compiles the staged gmm8 and words50 as static and as shared libraries and as
# sampler executables (--gemm=llvm, the libraries' GEMM); the staged examples/embed-c and
# examples/embed-cpp are built by their own Makefiles with pkg-config alone, into another
# folder; they and examples/python/sample.py (when configure found a Python, PMM_PYTHON; with
# the source tree's pmm package) print, and sample.py writes, exactly what the executables
# print and write for the same seed, first index and count.
set -eu
: "${PMMC_MAKE:?}" "${PMMC_BUILDDIR:?}" "${PMMC_SRCDIR:?}" "${PMMC_BINDIR:?}"
: "${PMMC_PKGDATADIR:?}" "${PMMC_DOCDIR:?}" "${PMMC_TEST_CC:?}" "${PMMC_TEST_CXX:?}"

tmp=$(mktemp -d "${TMPDIR:-/tmp}/pmmc-examples.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
stage=$tmp/stage
N=150 SEED=7 FIRST=37 # crosses blocks of 64 samples; first is not a block's
failures=0
fail() {
  echo "FAIL: $*" >&2
  failures=$((failures + 1))
}
# Run a command with its output in $tmp/log; on failure show the log and stop.
run() {
  if ! "$@" >"$tmp/log" 2>&1; then
    tail -n 30 "$tmp/log" >&2
    echo "FAIL: $*" >&2
    exit 1
  fi
}

# A fresh make: the jobserver of the make check running this test is not ours to use.
export MAKEFLAGS='' MFLAGS=''
run sh -c "cd '$PMMC_BUILDDIR' && $PMMC_MAKE install DESTDIR='$stage'"

unset PMMC_RUNTIME_LIB PMMC_EMBED_RUNTIME
pmmc=$stage$PMMC_BINDIR/pmmc
models=$stage$PMMC_PKGDATADIR/models
examples=$stage$PMMC_DOCDIR/examples
cd "$tmp"
for m in gmm8 words50; do
  run "$pmmc" build "$models/$m/model.yaml" --emit=lib -o static
  run "$pmmc" build "$models/$m/model.yaml" --emit=shared -o shared
  run "$pmmc" build "$models/$m/model.yaml" --gemm=llvm -o "exe-$m"
  run "./exe-$m" -n $N -s $SEED --first-index $FIRST -o "exe-$m.npy"
done

# What the examples print: each model's '#' line, then the executable's CSV (without its own
# '#' line) for gmm8 and its text for words50.
{
  echo "# gmm8: $N samples, seed $SEED, first index $FIRST"
  ./exe-gmm8 -n $N -s $SEED --first-index $FIRST --format csv | grep -v '^#'
  echo "# words50: $N samples, seed $SEED, first index $FIRST"
  ./exe-words50 -n $N -s $SEED --first-index $FIRST --format txt
} >expected.txt
[ "$(wc -l <expected.txt)" = $((2 * N + 2)) ] || fail "the executables printed $(wc -l <expected.txt) lines"

# The installed pmmrt.pc stays out of it: PKG_CONFIG_PATH names the models' folders only.
example() { # NAME LIBDIR COMPILER=PROGRAM FLAGS-VARIABLE
  run $PMMC_MAKE -f "$examples/$1/Makefile" OUT="$tmp/$1" \
    PKG_CONFIG_PATH="$tmp/$2" PKG_CONFIG="${PMMC_PKG_CONFIG:-pkg-config}" \
    "$3" "$4=-O2 -Wall -Wextra -Werror"
  if "$tmp/$1/$1" $N $SEED $FIRST >"$1.txt" 2>"$1.err"; then
    cmp -s expected.txt "$1.txt" || fail "examples/$1 printed other samples than the executables \
($(diff expected.txt "$1.txt" | head -n 3 | tr '\n' ' '))"
  else
    cat "$1.err" >&2
    fail "examples/$1 failed"
  fi
}
example embed-c static CC="$PMMC_TEST_CC" CFLAGS
example embed-cpp shared CXX="$PMMC_TEST_CXX" CXXFLAGS
# The libraries went in as asked: the C program holds the models, the C++ program loads them.
if readelf -d embed-c/embed-c | grep -q 'libgmm8'; then fail "embed-c links libgmm8.so"; fi
readelf -d embed-cpp/embed-cpp | grep -q 'Shared library: \[libwords50.so.1\]' ||
  fail "embed-cpp does not load libwords50.so.1"

if [ -n "${PMM_PYTHON:-}" ]; then
  export PYTHONPATH="$PMMC_SRCDIR/python" PYTHONDONTWRITEBYTECODE=1
  py=$examples/python/sample.py
  for m in gmm8 words50; do
    run "$PMM_PYTHON" "$py" "shared/lib$m.so" -n $N -s $SEED --first-index $FIRST -o "py-$m.npy"
    if ! "$PMM_PYTHON" -c 'import sys, numpy as np
a, b = np.load(sys.argv[1]), np.load(sys.argv[2])
sys.exit(not (a.dtype == b.dtype == np.float32 and np.array_equal(a, b)))' "exe-$m.npy" "py-$m.npy"
    then
      fail "examples/python/sample.py wrote other samples of $m than the executable"
    fi
  done
  {
    echo "# gmm8: $N samples, seed $SEED, first index $FIRST"
    "$PMM_PYTHON" "$py" shared/libgmm8.so.1 -n $N -s $SEED --first-index $FIRST --threads 3
    echo "# words50: $N samples, seed $SEED, first index $FIRST"
    "$PMM_PYTHON" "$py" shared/libwords50.so.1 -n $N -s $SEED --first-index $FIRST
  } >python.txt || fail "examples/python/sample.py failed to print"
  cmp -s expected.txt python.txt || fail "examples/python/sample.py printed other samples"
else
  echo "examples/python left out: configure found no Python with NumPy (PMM_PYTHON)"
fi

[ "$failures" = 0 ] || exit 1
echo "PASS: examples/ built from the staged install reproduce the executables"
