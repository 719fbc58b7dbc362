# tests/frontend: see tests/local.mk
