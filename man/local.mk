# man/: pmmc(1) and pmm-sampler(1), help2man's rendering of pmmc --help and of
# a compiled sampler's --help (runtime/sampler_cli.c; gmm8's, with the
# sentence naming gmm8 made general).  The pages are distributed, and depend
# on the sources of the help texts rather than on the binaries (which are
# order-only prerequisites), so that a tarball build uses the shipped pages and
# never needs help2man.
dist_man1_MANS = man/pmmc.1 man/pmm-sampler.1
EXTRA_DIST += man/pmmc.h2m man/pmm-sampler.h2m
MAINTAINERCLEANFILES += $(dist_man1_MANS)

PMMC_HELP2MAN = $(HELP2MAN) --no-info --version-string='$(PACKAGE_VERSION)'

man/pmmc.1: $(srcdir)/compiler/driver/pmmc.c $(srcdir)/compiler/opt/opt.c \
		$(top_srcdir)/configure.ac $(srcdir)/man/pmmc.h2m | pmmc$(EXEEXT)
	$(AM_V_GEN)$(MKDIR_P) man && \
	$(PMMC_HELP2MAN) --name='compile Posterior Mean Matching models into native samplers' \
		--include=$(srcdir)/man/pmmc.h2m --output=$@.tmp ./pmmc$(EXEEXT) && \
	mv $@.tmp $@

# The sampler is named pmm-sampler so that its usage line reads so.
man/pmm-sampler.1: $(srcdir)/runtime/sampler_cli.c $(top_srcdir)/configure.ac \
		$(srcdir)/man/pmm-sampler.h2m | pmmc$(EXEEXT) runtime/libpmmrt.a
	$(AM_V_GEN)$(MKDIR_P) man && \
	PMMC_RUNTIME_LIB=runtime/libpmmrt.a ./pmmc$(EXEEXT) build \
		$(srcdir)/models/gmm8/model.yaml -o man/pmm-sampler && \
	$(PMMC_HELP2MAN) --name='draw samples from a model compiled by pmmc build' \
		--include=$(srcdir)/man/pmm-sampler.h2m --output=$@.tmp man/pmm-sampler && \
	rm -f man/pmm-sampler && \
	sed 's/^Draw samples from the PMM model .gmm8. .*/$(PMM_SAMPLER_INTRO)/' $@.tmp >$@.tmp2 && \
	rm -f $@.tmp && \
	if grep -q gmm8 $@.tmp2; then \
	  echo "man/local.mk: pmm-sampler.1 still names gmm8: update PMM_SAMPLER_INTRO's sed" >&2; \
	  rm -f $@.tmp2; exit 1; \
	fi && \
	mv $@.tmp2 $@
PMM_SAMPLER_INTRO = Draw samples from the PMM model the sampler was compiled from; its \
	\\fB\\-\\-help\\fR names the model, its conjugate pair and its number of steps.
