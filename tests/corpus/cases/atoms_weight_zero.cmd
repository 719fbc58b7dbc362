pmmc check atoms_weight_zero.yaml
