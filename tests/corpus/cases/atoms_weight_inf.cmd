pmmc check atoms_weight_inf.yaml
