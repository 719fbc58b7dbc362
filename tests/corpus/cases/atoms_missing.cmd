pmmc check atoms_missing.yaml
