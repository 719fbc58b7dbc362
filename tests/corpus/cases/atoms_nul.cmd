pmmc check atoms_nul.yaml
