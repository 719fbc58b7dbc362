#!/usr/bin/env bash
# build.sh - one-command set-up on Debian: install dependencies, build, and
# either draw samples from the shipped gmm8 model or run the whole test suite.
#
#   ./build.sh demo    # deps + build + compile models/gmm8 + draw samples
#   ./build.sh check   # deps + build + make check (every test must pass)
#   ./build.sh build   # deps + build only
#   ./build.sh sanitize # deps + a clang-19 ASan/UBSan build in ./build-sanitize: make check,
#                       # then make fuzz-smoke (each libFuzzer target FUZZ_SECONDS, default 60)
#
# The build goes to ./build (out of tree).  Set PMMC_SKIP_DEPS=1 to skip apt-get.
set -euo pipefail

cd "$(dirname "$0")"
top=$PWD
mode=${1:-demo}
case "$mode" in
  demo|check|build|distcheck|sanitize) ;;
  -h|--help) sed -n '2,10p' "$0"; exit 0 ;;
  *) echo "build.sh: unknown mode '$mode' (expected demo, check, build, distcheck or sanitize)" >&2; exit 2 ;;
esac

# The Python companion (python/pmm, its tests in make check) uses Debian's PyTorch; the
# trained models' data come from dataset-fashion-mnist and wamerican (models/train-all);
# help2man writes the man pages (man/local.mk); clang-19 compiles the runtime into the
# libraries pmmc builds (--emit=lib), for the host and, with libc6-dev-arm64-cross's
# headers, for AArch64.
packages=(build-essential autoconf automake libtool pkg-config llvm-19-dev clang-19
          libclang-rt-19-dev libc6-dev-arm64-cross libopenblas-dev
          libyaml-dev libjson-c-dev check libgsl-dev zlib1g-dev libpng-dev help2man
          python3-torch python3-numpy python3-yaml python3-tqdm python3-pytest
          dataset-fashion-mnist wamerican)

install_deps() {
  [ "${PMMC_SKIP_DEPS:-0}" = 1 ] && return 0
  local missing=()
  for p in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  local sudo=()
  [ "$(id -u)" -eq 0 ] || sudo=(sudo)
  echo "build.sh: installing ${missing[*]}"
  "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -q
  "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}"
}

build() {
  if [ ! -x configure ] || [ configure.ac -nt configure ]; then autoreconf -fi; fi
  local dir=build flags=(--enable-werror)
  [ "$mode" = sanitize ] && dir=build-sanitize flags+=(CC=clang-19 CXX=clang++-19 --enable-fuzzing)
  mkdir -p "$dir"
  cd "$dir"
  [ -f Makefile ] || ../configure "${flags[@]}"
  make -j"$(nproc)"
}

install_deps
build

case "$mode" in
  demo)
    ./pmmc build "$top/models/gmm8/model.yaml" -o gmm8
    ./gmm8 -n 10000 --seed 7 -o gmm8-samples.npy
    echo "build.sh: wrote build/gmm8-samples.npy (10000 samples of models/gmm8); first five:"
    ./gmm8 -n 5 --seed 7
    ;;
  check|distcheck|sanitize)
    status=0
    make -j"$(nproc)" "${mode/sanitize/check}" || status=$?
    log=test-suite.log
    if [ -f "$log" ]; then
      pass=$(sed -n 's/^# PASS: *//p' "$log" | head -n1)
      fail=$(sed -n 's/^# FAIL: *//p' "$log" | head -n1)
      errs=$(sed -n 's/^# ERROR: *//p' "$log" | head -n1)
      echo "tests: ${pass:-0} passed, $(( ${fail:-0} + ${errs:-0} )) failed"
    fi
    if [ "$mode" = sanitize ] && [ $status -eq 0 ]; then
      make fuzz-smoke FUZZ_SECONDS="${FUZZ_SECONDS:-60}" || status=$?
    fi
    exit $status
    ;;
esac
