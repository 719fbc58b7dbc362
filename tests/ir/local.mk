# tests/ir: see tests/local.mk
