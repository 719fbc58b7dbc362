#!/bin/sh
# The bad-input corpus beyond the model YAML (whose cases are tests/frontend/bad):
# every tests/corpus/cases/NAME.cmd is a shell command, run in a scratch copy of
# tests/corpus/files with `pmmc` (the pmmc under test), ./gmm8 and ./words50 (samplers
# built from the shipped models), gmm8.yaml and moons/ (models/two-moons) at hand.  Its
# exit status and standard error must be exactly NAME.err ("exit N" on the first line),
# within 2 s and 1 GiB of address space (sanitizer builds: 20 s, no memory limit, as
# ASan reserves terabytes of address space it never uses).
#
#   PMMC_CORPUS_BLESS=1 make check TESTS=tests/corpus/test_corpus.sh   rewrites the .err
#   files from what pmmc prints now (review the diff before committing it).
set -u
: "${PMMC:?}" "${PMMC_SRCDIR:?}"
corpus=$PMMC_SRCDIR/tests/corpus
seconds=2
limit_kb=1048576
if [ "${PMMC_SANITIZED:-no}" = yes ]; then
  seconds=20
  limit_kb=unlimited
fi

tmp=$(mktemp -d "${TMPDIR:-/tmp}/pmmc-corpus.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
models=$tmp/models
mkdir -p "$models/moons"
cp "$PMMC_SRCDIR/models/gmm8/model.yaml" "$models/gmm8.yaml"
cp "$PMMC_SRCDIR/models/two-moons/model.yaml" "$PMMC_SRCDIR/models/two-moons/model.safetensors" \
  "$models/moons/"
for m in gmm8 words50; do
  if ! "$PMMC" build "$PMMC_SRCDIR/models/$m/model.yaml" -o "$models/$m"; then
    echo "FAIL: cannot build the $m sampler" >&2
    exit 1
  fi
done

failures=0
count=0
for cmd in "$corpus"/cases/*.cmd; do
  name=$(basename "$cmd" .cmd)
  count=$((count + 1))
  work=$tmp/work
  rm -rf "$work"
  cp -R "$corpus/files" "$work"
  cp -R "$models/." "$work/"
  got=$tmp/got
  (
    cd "$work" || exit 99
    ulimit -v "$limit_kb"
    # the case runs in a new shell (under timeout), with pmmc defined there
    timeout -k 1 "$seconds" sh -c "pmmc() { \"\$PMMC\" \"\$@\"; }; $(cat "$cmd")" \
      >/dev/null 2>"$got.err"
    echo "exit $?" >"$got"
    cat "$got.err" >>"$got"
  )
  if [ "${PMMC_CORPUS_BLESS:-0}" = 1 ]; then
    cp "$got" "$corpus/cases/$name.err"
  elif ! cmp -s "$got" "$corpus/cases/$name.err"; then
    echo "FAIL: $name ($(cat "$cmd"))" >&2
    diff "$corpus/cases/$name.err" "$got" >&2 || true
    failures=$((failures + 1))
  fi
done
echo "corpus: $count cases, $failures failed"
[ "$failures" -eq 0 ]
