# tests/install: make install DESTDIR=<temporary folder> from this build tree, then the
# staged pmmc, models, pkg-config file, man pages and documentation (docs/install.md).
TEST_EXTENSIONS += .sh
SH_LOG_COMPILER = $(SHELL)
TESTS += tests/install/test_install.sh
EXTRA_DIST += tests/install/test_install.sh
AM_TESTS_ENVIRONMENT += \
	PMMC_MAKE='$(MAKE)'; PMMC_BUILDDIR='$(abs_top_builddir)'; \
	PMMC_BINDIR='$(bindir)'; PMMC_LIBDIR='$(libdir)'; PMMC_INCLUDEDIR='$(includedir)'; \
	PMMC_PKGCONFIGDIR='$(pkgconfigdir)'; PMMC_PKGDATADIR='$(pkgdatadir)'; \
	PMMC_DOCDIR='$(docdir)'; PMMC_MANDIR='$(mandir)'; PMMC_PKG_CONFIG='$(PKG_CONFIG)'; \
	PMMC_TEST_CC='$(CC)'; \
	export PMMC_MAKE PMMC_BUILDDIR PMMC_BINDIR PMMC_LIBDIR PMMC_INCLUDEDIR PMMC_PKGCONFIGDIR \
	PMMC_PKGDATADIR PMMC_DOCDIR PMMC_MANDIR PMMC_PKG_CONFIG PMMC_TEST_CC;
