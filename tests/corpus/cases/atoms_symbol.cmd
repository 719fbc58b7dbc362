pmmc check atoms_symbol.yaml
