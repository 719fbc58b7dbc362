# tests/runtime: see tests/local.mk
