pmmc check atoms_empty.yaml
