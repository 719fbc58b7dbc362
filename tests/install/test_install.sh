#!/bin/sh
# make install DESTDIR=<temporary folder> from the build tree, then check the staged tree as
# docs/install.md describes it: the staged pmmc finds the staged runtime (and says which file
# it looked for when that is missing), builds a staged model into a sampler that runs,
# pkg-config reports the staged paths and links, and every shipped model, man page and
# document is there.  tests/install/local.mk passes the configured directories.
set -eu
: "${PMMC_MAKE:?}" "${PMMC_BUILDDIR:?}" "${PMMC_SRCDIR:?}" "${PMMC_BINDIR:?}" "${PMMC_LIBDIR:?}"
: "${PMMC_INCLUDEDIR:?}" "${PMMC_PKGCONFIGDIR:?}" "${PMMC_PKGDATADIR:?}" "${PMMC_DOCDIR:?}"
: "${PMMC_MANDIR:?}" "${PMMC_TEST_CC:?}"

tmp=$(mktemp -d "${TMPDIR:-/tmp}/pmmc-install.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
stage=$tmp/stage
failures=0
fail() {
  echo "FAIL: $*" >&2
  failures=$((failures + 1))
}

# A fresh make: the jobserver of the make check running this test is not ours to use.
if ! (cd "$PMMC_BUILDDIR" && MAKEFLAGS='' MFLAGS='' $PMMC_MAKE install DESTDIR="$stage") \
    >"$tmp/install.log" 2>&1; then
  tail -n 30 "$tmp/install.log" >&2
  echo "FAIL: make install DESTDIR=$stage" >&2
  exit 1
fi

# The staged tree alone: the build tree's runtime must not be found through the environment.
unset PMMC_RUNTIME_LIB
pmmc=$stage$PMMC_BINDIR/pmmc
lib=$stage$PMMC_LIBDIR/libpmmrt.a
models=$stage$PMMC_PKGDATADIR/models
for f in "$pmmc" "$lib" "$stage$PMMC_INCLUDEDIR/pmmrt.h" "$stage$PMMC_PKGCONFIGDIR/pmmrt.pc"; do
  [ -f "$f" ] || fail "not installed: $f"
done
[ -x "$pmmc" ] || fail "not executable: $pmmc"

# Built from another folder, so the YAML's relative weight paths must resolve against it.
cd "$tmp"
if "$pmmc" build "$models/gmm8/model.yaml" -o "$tmp/gmm8" 2>"$tmp/build.err"; then
  n=$("$tmp/gmm8" -n 4 --format csv | grep -vc '^#') || true
  [ "$n" = 4 ] || fail "the staged gmm8 sampler printed $n samples, not 4"
else
  cat "$tmp/build.err" >&2
  fail "the staged pmmc cannot build $models/gmm8/model.yaml"
fi

# Every shipped model, with every file its YAML names; nothing else (training scripts).
for yaml in "$PMMC_SRCDIR"/models/*/model.yaml; do
  name=$(basename "$(dirname "$yaml")")
  if [ ! -f "$models/$name/model.yaml" ]; then
    fail "model not installed: $models/$name/model.yaml (models/local.mk)"
  elif ! "$pmmc" check "$models/$name/model.yaml"; then
    fail "the installed $name does not check out: a file it names is not installed"
  fi
done
extra=$(find "$models" -type f ! -name model.yaml ! -name '*.safetensors' ! -name '*.npy' \
  ! -name '*.txt')
[ -z "$extra" ] || fail "installed with the models: $extra"

# pkg-config, as for a staged package: the sysroot goes in front of the paths.
pkgconf() {
  PKG_CONFIG_PATH=$stage$PMMC_PKGCONFIGDIR PKG_CONFIG_SYSROOT_DIR=$stage \
    PKG_CONFIG_ALLOW_SYSTEM_CFLAGS=1 PKG_CONFIG_ALLOW_SYSTEM_LIBS=1 \
    "${PMMC_PKG_CONFIG:-pkg-config}" "$@" pmmrt
}
got=$(pkgconf --cflags --libs) || fail "pkg-config --cflags --libs pmmrt failed"
got=$(printf '%s' "$got" | sed 's/ *$//')
want="-I$stage$PMMC_INCLUDEDIR -L$stage$PMMC_LIBDIR -lpmmrt"
[ "$got" = "$want" ] || fail "pkg-config --cflags --libs pmmrt: '$got', expected '$want'"
# Libs.private must hold everything the static library needs: link a program using the
# sampler (libpng, threads) and the dense kernel (OpenBLAS).
cat >"$tmp/use.c" <<'EOF'
#include <pmmrt.h>
#include <stdio.h>
int main(int argc, char **argv) {
  float x[2] = {1, 2}, w[2] = {3, 4}, y[1];
  pmm_kernel_dense(1, 2, 1, x, w, NULL, y);
  if (argc > 1) return pmm_sampler_main(argc, argv, NULL);
  printf("%g %s\n", y[0], pmm_status_name(PMM_OK));
  return 0;
}
EOF
# shellcheck disable=SC2046 # pkg-config's flags are words
if $PMMC_TEST_CC -o "$tmp/use" "$tmp/use.c" $(pkgconf --cflags) $(pkgconf --static --libs) \
  2>"$tmp/use.err"; then
  out=$("$tmp/use") || fail "the program linked through pkg-config fails"
  case $out in 11\ *) ;; *) fail "the program linked through pkg-config printed '$out'" ;; esac
else
  cat "$tmp/use.err" >&2
  fail "cannot link a program with pkg-config --static --libs pmmrt"
fi

# Man pages and documents.
man1=$stage$PMMC_MANDIR/man1
grep -q 'PMMC_RUNTIME_LIB' "$man1/pmmc.1" || fail "pmmc.1 missing or without its Environment"
grep -q 'num\\-samples' "$man1/pmm-sampler.1" || fail "pmm-sampler.1 missing or without options"
! grep -q gmm8 "$man1/pmm-sampler.1" || fail "pmm-sampler.1 names the model it was made from"
grep -q 'MIT License' "$stage$PMMC_DOCDIR/LICENSE" || fail "LICENSE not installed"
cmp -s "$PMMC_SRCDIR/README.md" "$stage$PMMC_DOCDIR/README.md" || fail "README.md not installed"
for f in "$PMMC_SRCDIR"/docs/*; do
  cmp -s "$f" "$stage$PMMC_DOCDIR/docs/${f##*/}" || fail "not installed: docs/${f##*/} (Makefile.am)"
done

# Without its runtime, pmmc stops before compiling and says what it looked for.
mv "$lib" "$tmp/libpmmrt.a"
status=0
"$pmmc" build "$models/gmm8/model.yaml" -o "$tmp/none" 2>"$tmp/missing.err" || status=$?
want="pmmc: error: cannot find libpmmrt.a at $lib (No such file or directory); set PMMC_RUNTIME_LIB to its path"
[ "$status" = 1 ] || fail "pmmc build without a runtime: exit status $status, expected 1"
[ "$(cat "$tmp/missing.err")" = "$want" ] ||
  fail "pmmc build without a runtime said '$(cat "$tmp/missing.err")', expected '$want'"
# The variable overrides, and must name a file.
PMMC_RUNTIME_LIB=$tmp/libpmmrt.a "$pmmc" build "$models/gmm8/model.yaml" -o "$tmp/gmm8-env" ||
  fail "pmmc build with PMMC_RUNTIME_LIB=$tmp/libpmmrt.a failed"
status=0
PMMC_RUNTIME_LIB=$tmp/nowhere.a "$pmmc" build "$models/gmm8/model.yaml" -o "$tmp/none" \
  2>"$tmp/env.err" || status=$?
want="pmmc: error: cannot read PMMC_RUNTIME_LIB=$tmp/nowhere.a: No such file or directory"
[ "$status" = 1 ] || fail "pmmc build with PMMC_RUNTIME_LIB naming no file: exit status $status"
[ "$(cat "$tmp/env.err")" = "$want" ] ||
  fail "pmmc build with PMMC_RUNTIME_LIB naming no file said '$(cat "$tmp/env.err")'"

[ "$failures" = 0 ] || exit 1
echo "PASS: the install staged under DESTDIR works"
