# The Python companion's pytest files, one test each in make check (configure
# --without-python leaves them out).
dist_noinst_SCRIPTS += tests/python/pytest-driver
TEST_EXTENSIONS = .py
PY_LOG_COMPILER = $(SHELL) $(srcdir)/tests/python/pytest-driver
if HAVE_PMM_PYTHON
TESTS += python/tests/test_fixtures.py python/tests/test_sample.py \
	python/tests/test_objective.py python/tests/test_parity.py python/tests/test_train.py \
	python/tests/test_export.py python/tests/test_embedded.py
endif
