pmmc check atoms_devzero.yaml
