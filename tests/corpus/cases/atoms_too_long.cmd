pmmc check atoms_too_long.yaml
