# PMMC_CHECK_LLVM: find llvm-config (LLVM >= 15) and set LLVM_CFLAGS, LLVM_LIBS,
# LLVM_VERSION.  --with-llvm-config=PATH overrides the search, which tries
# llvm-config-19..15, llvm-config, and /usr/lib/llvm-*/bin/llvm-config.
AC_DEFUN([PMMC_CHECK_LLVM], [
  AC_ARG_WITH([llvm-config],
    [AS_HELP_STRING([--with-llvm-config=PATH], [llvm-config of the LLVM (>= 15) to use])],
    [LLVM_CONFIG="$withval"], [LLVM_CONFIG=""])
  AS_IF([test -z "$LLVM_CONFIG"], [
    AC_PATH_PROGS([LLVM_CONFIG],
      [llvm-config-19 llvm-config-18 llvm-config-17 llvm-config-16 llvm-config-15 llvm-config],
      [], [$PATH:/usr/lib/llvm-19/bin:/usr/lib/llvm-18/bin:/usr/lib/llvm-17/bin:/usr/lib/llvm-16/bin:/usr/lib/llvm-15/bin])
  ])
  AS_IF([test -z "$LLVM_CONFIG" || test ! -x "$LLVM_CONFIG"],
    [AC_MSG_ERROR([llvm-config not found: install the Debian package llvm-19-dev (or pass --with-llvm-config=PATH)])])
  AC_MSG_CHECKING([LLVM version])
  LLVM_VERSION=`$LLVM_CONFIG --version`
  AC_MSG_RESULT([$LLVM_VERSION])
  llvm_major=`echo "$LLVM_VERSION" | sed 's/\..*//'`
  AS_IF([test "$llvm_major" -lt 15 2>/dev/null],
    [AC_MSG_ERROR([LLVM $LLVM_VERSION is too old (need >= 15): install the Debian package llvm-19-dev])])
  LLVM_CFLAGS=`$LLVM_CONFIG --cflags`
  LLVM_LIBS="`$LLVM_CONFIG --ldflags` `$LLVM_CONFIG --libs` `$LLVM_CONFIG --system-libs`"
  pmmc_save_CPPFLAGS=$CPPFLAGS
  CPPFLAGS="$CPPFLAGS $LLVM_CFLAGS"
  AC_CHECK_HEADER([llvm-c/Core.h], [],
    [AC_MSG_ERROR([LLVM C API headers not found: install the Debian package llvm-19-dev])])
  CPPFLAGS=$pmmc_save_CPPFLAGS
  LLVM_BINDIR=`$LLVM_CONFIG --bindir`
  AC_SUBST([LLVM_CONFIG])
  AC_SUBST([LLVM_BINDIR])
  AC_SUBST([LLVM_CFLAGS])
  AC_SUBST([LLVM_LIBS])
  AC_DEFINE_UNQUOTED([PMMC_LLVM_VERSION], ["$LLVM_VERSION"], [LLVM version pmmc was built with])
])

# PMMC_CHECK_BLAS: OpenBLAS's cblas interface; sets BLAS_LIBS.
AC_DEFUN([PMMC_CHECK_BLAS], [
  AC_CHECK_HEADER([cblas.h], [],
    [AC_MSG_ERROR([cblas.h not found: install the Debian package libopenblas-dev])])
  pmmc_save_LIBS=$LIBS
  LIBS=""
  AC_SEARCH_LIBS([openblas_set_num_threads], [openblas], [],
    [AC_MSG_ERROR([OpenBLAS not found: install the Debian package libopenblas-dev])])
  BLAS_LIBS=$LIBS
  LIBS=$pmmc_save_LIBS
  AC_SUBST([BLAS_LIBS])
])

# PMMC_CHECK_EMBED_RUNTIME: the clang that compiles the runtime to LLVM
# bitcode for libraries (--emit=lib|shared): clang of LLVM's major version
# (a newer clang writes bitcode this LLVM cannot read).  Sets PMMC_CLANG,
# EMBED_HOST_ARCH and the conditional EMBED_AARCH64 (clang compiles the
# runtime for aarch64-linux-gnu, i.e. libc6-dev-arm64-cross is installed).
AC_DEFUN([PMMC_CHECK_EMBED_RUNTIME], [
  AC_ARG_VAR([PMMC_CLANG], [clang that compiles the runtime to LLVM bitcode])
  AC_PATH_PROGS([PMMC_CLANG], [clang-$llvm_major clang], [], [$LLVM_BINDIR:$PATH])
  AS_IF([test -z "$PMMC_CLANG"],
    [AC_MSG_ERROR([clang not found (it compiles the runtime into libraries made by pmmc build --emit=lib): install the Debian package clang-$llvm_major])])
  clang_major=`$PMMC_CLANG -dumpversion | sed 's/\..*//'`
  AS_IF([test "$clang_major" -gt "$llvm_major" 2>/dev/null],
    [AC_MSG_ERROR([$PMMC_CLANG is clang $clang_major, newer than LLVM $llvm_major, whose bitcode LLVM $llvm_major cannot read: install the Debian package clang-$llvm_major or set PMMC_CLANG])])
  EMBED_HOST_ARCH=`$LLVM_CONFIG --host-target | sed 's/-.*//'`
  AC_SUBST([EMBED_HOST_ARCH])
  AC_ARG_ENABLE([aarch64-runtime],
    [AS_HELP_STRING([--disable-aarch64-runtime],
      [do not build the runtime's bitcode for aarch64-linux-gnu libraries (default: build it when clang can)])],
    [], [enable_aarch64_runtime=auto])
  AC_MSG_CHECKING([whether $PMMC_CLANG compiles the runtime for aarch64-linux-gnu])
  cat > conftest.c <<PMMC_EOF
#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
int main(void) { return (int)expf(0.0f); }
PMMC_EOF
  dnl Without a cross GCC, clang does not look in the cross libc's headers.
  embed_aarch64=no
  AS_IF([test "x$enable_aarch64_runtime" != xno], [
    for flags in "" "-isystem /usr/aarch64-linux-gnu/include"; do
      AS_IF([$PMMC_CLANG --target=aarch64-linux-gnu $flags -c -emit-llvm -o conftest.bc conftest.c >/dev/null 2>&1],
        [embed_aarch64=yes; EMBED_AARCH64_CFLAGS=$flags; break])
    done])
  AC_SUBST([EMBED_AARCH64_CFLAGS])
  rm -f conftest.c conftest.bc
  AC_MSG_RESULT([$embed_aarch64 (libraries for aarch64 need the Debian package libc6-dev-arm64-cross)])
  AC_SUBST([embed_aarch64])
  AM_CONDITIONAL([EMBED_AARCH64], [test "$embed_aarch64" = yes])
])
